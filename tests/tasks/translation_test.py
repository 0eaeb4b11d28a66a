"""pix2pix, SRGAN and CycleGAN as tasks of the one program, and the tools around them.

Each task trains through `gan.program.train` on pairs or domains made from the first
2,048 MNIST digits (`paired:edges:`, `paired:down4:`, `unpaired:mnist_m:` with 64
CIFAR-10 backgrounds): 2 + 2 resumed steps equal 4 bit for bit (CycleGAN's history
pools included), and 4 fake devices equal 1 within float tolerance. The history pool
is checked as a function; `gan.cli.translate` applies a trained model to a PNG, a
folder and an `.npz`; `gan.eval.translation` scores the runs.
"""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

import conftest
from gan import apply, program, rundir
from gan.cli import info
from gan.errors import ConfigError, UserError
from gan.eval import translation as translation_eval
from gan.tasks import cyclegan

# Tiny networks, XLA's own lowering (compiles fastest; the properties do not depend on it).
RUN_FIELDS = {"batch_size": 8, "run.checkpoint_every": 2, "run.sample_every": 2,
              "run.num_sample_images": 6, "run.log_every": 2, "run.max_train_seconds": 0.0,
              "run.progress_bar": False, "run.backend": "plain"}
TINY = {
    "pix2pix": {"model.g_width": 4, "model.d_width": 4, "model.d_layers": 1,
                "model.unet_depth": 2},
    "srgan": {"model.g_width": 4, "model.g_blocks": 1, "model.d_width": 4, "model.d_layers": 1,
              "model.srgan_dense": 8, "loss.feature_weight": 0.0},
    "cyclegan": {"model.g_width": 4, "model.g_blocks": 1, "model.d_width": 4,
                 "model.d_layers": 1, "optim.pool_size": 6,
                 # Constant: a decay's horizon is num_steps, which the resumed run changes.
                 "optim.lr_schedule": "constant"},
}


@pytest.fixture(scope="module")
def backgrounds(tmp_path_factory):
  path = tmp_path_factory.mktemp("cifar") / "cifar_64.npz"
  with np.load(conftest.shared_data("cifar10.npz")) as full:
    np.savez(path, x_train=full["x_train"][:64], y_train=full["y_train"][:64])
  return str(path)


def _config(task, dataset, num_steps, **fields):
  # pylint: disable-next=g-import-not-at-top
  from experiments import cyclegan_mnist_m, pix2pix_edges, srgan_mnist
  module = {"pix2pix": pix2pix_edges, "srgan": srgan_mnist, "cyclegan": cyclegan_mnist_m}[task]
  return conftest.set_fields(module.get_config(), dataset=dataset, num_steps=num_steps,
                             **{**RUN_FIELDS, **TINY[task], **fields})


def _datasets(digits, backgrounds):
  return {"pix2pix": f"paired:edges:{digits}", "srgan": f"paired:down4:{digits}",
          "cyclegan": f"unpaired:mnist_m:{digits}:{backgrounds}"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits, backgrounds):
  """Each task: 4 steps in one go, and 2 resumed to 4."""
  root = tmp_path_factory.mktemp("translation")
  no_grids = {"run.sample_every": 0, "run.num_sample_images": 0}  # Grids: "whole" only.
  conftest.train_in_subprocess([
      run for task, dataset in _datasets(digits, backgrounds).items()
      for run in ((_config(task, dataset, 4), root / task / "whole"),
                  (_config(task, dataset, 2, **no_grids), root / task / "resumed"),
                  (_config(task, dataset, 4, **no_grids), root / task / "resumed"))])
  return root


@pytest.mark.slow
@pytest.mark.parametrize("task", ["pix2pix", "srgan", "cyclegan"])
def test_resumed_runs_equal_uninterrupted_ones_bit_for_bit(runs, task):
  whole, resumed = (info.workdir_info(str(runs / task / name)) for name in ("whole", "resumed"))
  assert whole[0]["digest"] == resumed[0]["digest"]
  chex.assert_trees_all_equal(whole[1], resumed[1])
  assert os.path.isfile(runs / task / "whole" / "samples" / "step_000004.png")
  if task == "cyclegan":  # The history pools are state: full, and resumed as they were.
    for pool in ("pool_a", "pool_b"):
      assert int(whole[1][pool]["count"]) == 6
      assert np.any(whole[1][pool]["images"] != 0)


@pytest.mark.slow
def test_four_fake_devices_equal_one(runs, digits, backgrounds, tmp_path):
  """The three tasks trained on 4 fake devices, in one process, equal the 1-device runs."""
  configs = {task: _config(task, dataset, 4, **{"run.sample_every": 0})
             for task, dataset in _datasets(digits, backgrounds).items()}
  conftest.train_in_subprocess([(config, tmp_path / task) for task, config in configs.items()],
                               devices=4)
  for task in configs:
    one = rundir.flatten_with_paths(info.workdir_info(str(runs / task / "whole"))[1])
    four = rundir.flatten_with_paths(info.workdir_info(str(tmp_path / task))[1])
    assert sorted(one) == sorted(four)
    for name in one:
      np.testing.assert_allclose(np.asarray(four[name], np.float64),
                                 np.asarray(one[name], np.float64), rtol=1e-3, atol=2e-3,
                                 err_msg=f"{task}: {name}")


# ------------------------------------------------------------------- the history pool


def test_pool_stores_until_full_then_swaps_half_the_time():
  pool = cyclegan.empty_pool(4, (1, 1, 1))
  images = jnp.arange(1.0, 5.0).reshape(4, 1, 1, 1)
  pool, out = cyclegan.pool_query(pool, images, jax.random.key(0))
  np.testing.assert_array_equal(out, images)  # Filling: each new image is returned...
  np.testing.assert_array_equal(pool.images, images)  # ...and stored.
  assert int(pool.count) == 4
  new = jnp.arange(100.0, 500.0).reshape(400, 1, 1, 1)
  full, out = cyclegan.pool_query(pool, new, jax.random.key(1))
  values, fresh = np.asarray(out).ravel(), np.asarray(new).ravel()
  swapped = values != fresh
  assert 0.4 < swapped.mean() < 0.6  # An earlier image with probability 1/2.
  # What a swap returns is an earlier image: one stored first, or an earlier new one.
  assert all(v in (1.0, 2.0, 3.0, 4.0) or v < f for v, f in zip(values[swapped],
                                                                 fresh[swapped]))
  # The pool then holds 4 distinct images, each the last one swapped into its slot.
  assert int(full.count) == 4 and len(set(np.asarray(full.images).ravel())) == 4
  # Pure: the same key gives the same answer; size 0 passes the images through.
  _, again = cyclegan.pool_query(pool, new, jax.random.key(1))
  np.testing.assert_array_equal(out, again)
  none, passed = cyclegan.pool_query(cyclegan.empty_pool(0, (1, 1, 1)), images,
                                     jax.random.key(2))
  np.testing.assert_array_equal(passed, images)


# ------------------------------------------------------------------------ the steps


@pytest.mark.slow  # Reads the runs of the `runs` fixture.
def test_srresnet_leaves_d_untouched_and_srgan_moves_it(runs, digits, tmp_path):
  whole = info.workdir_info(str(runs / "srgan" / "whole"))[1]
  config = _config("srgan", f"paired:down4:{digits}", 2, **{"loss.adv_weight": 0.0})
  program.train(config, str(tmp_path / "srresnet"))
  plain = info.workdir_info(str(tmp_path / "srresnet"))[1]
  first = lambda tree: np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])
  from gan import build  # pylint: disable=g-import-not-at-top
  init = build.build(config).init_state()
  np.testing.assert_array_equal(first(plain["discriminator"]["params"]),
                                first(init.discriminator.params))
  assert not np.array_equal(first(whole["discriminator"]["params"]),
                            first(init.discriminator.params))


def test_translation_configs_refuse_what_they_cannot_train(digits, backgrounds):
  from gan import build  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match="srresnet"):  # A U-Net keeps the size.
    build.build(_config("pix2pix", f"paired:down4:{digits}", 2))
  with pytest.raises(ConfigError, match="paired"):
    build.build(_config("pix2pix", digits, 2))
  with pytest.raises(ConfigError, match="identity_weight"):  # 1 vs 3 channels.
    build.build(_config("cyclegan", f"unpaired:mnist_m:{digits}:{backgrounds}", 2,
                        **{"loss.identity_weight": 0.5}))
  with pytest.raises(ConfigError, match="feature_extractor"):
    build.build(_config("srgan", f"paired:down4:{digits}", 2,
                        **{"loss.feature_weight": 1.0, "loss.feature_extractor": "/nowhere"}))


def test_unpaired_domains_of_different_sizes_are_refused(tmp_path):
  path = tmp_path / "domains.npz"
  np.savez(path, x_a=np.zeros((16, 28, 28), np.uint8), x_b=np.zeros((16, 32, 32, 3), np.uint8))
  from gan import build  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match="resize one domain"):
    build.build(_config("cyclegan", str(path), 2))


# ------------------------------------------------------------ using a trained model


def _png(path, image):
  Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


@pytest.mark.slow
def test_translate_command_on_a_png_a_folder_and_an_npz(runs, tmp_path):
  workdir = str(runs / "srgan" / "whole")
  small = np.random.default_rng(0).integers(0, 256, (3, 7, 7, 1), dtype=np.uint8)
  _png(tmp_path / "one.png", small[0])
  folder = tmp_path / "folder"
  folder.mkdir()
  for i, image in enumerate(small):
    _png(folder / f"digit_{i}.png", image)
  np.savez(tmp_path / "many.npz", x=small)
  expected = apply.Translator.load(workdir)(small)
  assert expected.shape == (3, 28, 28, 1) and expected.dtype == np.uint8
  for source, out in (("one.png", "big.png"), ("folder", "big"), ("many.npz", "big.npz")):
    result = conftest.run_module("gan.cli.translate", f"--workdir={workdir}",
                                 f"--input={tmp_path / source}", f"--out={tmp_path / out}")
    assert result.returncode == 0, result.stderr[-2000:]
  np.testing.assert_array_equal(apply.read_images(str(tmp_path / "big.png")), expected[:1])
  assert sorted(os.listdir(tmp_path / "big")) == [f"digit_{i}.png" for i in range(3)]
  np.testing.assert_array_equal(apply.read_images(str(tmp_path / "big")), expected)
  np.testing.assert_array_equal(np.load(tmp_path / "big.npz")["x"], expected)
  # Bad input: one line, status 2, nothing written over (images of the wrong shape:
  # `Translator.check`, below).
  before = (tmp_path / "big.npz").read_bytes()
  exists = conftest.run_module("gan.cli.translate", f"--workdir={workdir}",
                               f"--input={tmp_path / 'many.npz'}", f"--out={tmp_path / 'big.npz'}")
  assert exists.returncode == 2 and "--overwrite" in exists.stderr
  assert len(exists.stderr.strip().splitlines()) == 1
  assert (tmp_path / "big.npz").read_bytes() == before


@pytest.mark.slow  # Reads the runs of the `runs` fixture.
def test_read_images_refuses_an_empty_folder_and_translator_checks_shapes(runs, tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(UserError, match="holds no .png"):
    apply.read_images(str(tmp_path / "empty"))
  translator = apply.Translator.load(str(runs / "cyclegan" / "whole"), direction="b_to_a")
  assert translator.field == "b" and translator.input_shape == (28, 28, 3)
  with pytest.raises(UserError, match=r"takes \(28, 28, 3\)"):
    translator(np.zeros((2, 28, 28, 1), np.uint8))
  out = translator(np.zeros((2, 28, 28, 3), np.uint8))
  assert out.shape == (2, 28, 28, 1)


# -------------------------------------------------------------------------- scores


@pytest.mark.slow  # Reads the runs of the `runs` fixture.
def test_paired_scores_and_the_bicubic_baseline(runs, digits):
  from gan import data as data_lib  # pylint: disable=g-import-not-at-top
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  data = data_lib.load(f"paired:down4:{digits}")
  run, state = rundir.restore(str(runs / "srgan" / "whole"), data=data)
  targets = data_lib.from_arrays("digits", data.train_target, data.train_labels,
                                 data.test_target, data.test_labels)
  extractor = features.train_classifier(targets, conftest.tiny_extractor_config(),
                                        log=lambda line: None)
  result = translation_eval.evaluate_paired(run, state, data, num=64, extractor=extractor)
  assert set(result["model"]) == set(result["bicubic"]) == {"psnr", "ssim", "l1", "fid"}
  assert result["num_images"] == 64
  # Bicubic of a 4x block mean is a fair guess: well above a random image's PSNR.
  assert result["bicubic"]["psnr"] > 12 and 0 < result["bicubic"]["ssim"] <= 1
  # The 4-step model is not: its outputs are far from the targets.
  assert result["model"]["psnr"] < result["bicubic"]["psnr"]


def test_each_cycle_has_its_own_weight(digits, backgrounds):
  """lambda_A (`loss.cycle_weight`) and lambda_B (`loss.cycle_weight_b`) weigh the two
  cycles apart: g_loss = g_adv + lambda_A * |F(G(a)) - a| + lambda_B * |G(F(b)) - b|."""
  from gan import build  # pylint: disable=g-import-not-at-top
  dataset = f"unpaired:mnist_m:{digits}:{backgrounds}"
  weight_a, weight_b = 7.0, 0.5  # Apart, so that a swapped or shared weight shows.
  run = build.build(_config("cyclegan", dataset, 1, **{"loss.cycle_weight": weight_a,
                                                       "loss.cycle_weight_b": weight_b}))
  _, metrics = run.step(run.init_state(), run.batch(0))
  metrics = {name: float(np.asarray(value).ravel()[-1]) for name, value in metrics.items()}
  assert abs(metrics["cycle_a"] - metrics["cycle_b"]) > 1e-3 * metrics["cycle"]
  assert metrics["cycle"] == pytest.approx(metrics["cycle_a"] + metrics["cycle_b"], rel=1e-6)
  assert metrics["g_loss"] == pytest.approx(
      metrics["g_adv"] + weight_a * metrics["cycle_a"] + weight_b * metrics["cycle_b"], rel=1e-5)
