"""InfoGAN's head and mutual-information term (`loss.info_weight`, `gan.tasks.gan`).

The tiny MLP GAN with K = 10 discrete codes: D grows the head Q that reads the code of
a generated image back, both players add Q's cross-entropy, and Q learns to read the
codes (chance is 1 / K). The term is off by default, leaving D and the step as they were.
"""

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import conftest
from gan import build, data, losses
from gan.errors import ConfigError, UserError
from gan.models import latent

SPEC = data.DataSpec("images", (28, 28, 1))
K = 10


def _config(dataset="images", **fields):
  return conftest.tiny_mlp_config(dataset, **{
      "model.latent_codes": K, "loss.info_weight": 1.0, "optim.g_lr": 3e-3,
      "optim.d_lr": 3e-3, "batch_size": 32, **fields})


def _batch(run, seed):
  rng = np.random.default_rng(seed)
  return run.shard({"image": rng.integers(0, 256, (1, 32, 28, 28, 1), dtype=np.uint8)})


def test_mutual_information_loss_is_the_codes_cross_entropy():
  logits = jnp.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0], [0.0, 0.0, 0.0]])
  codes = jnp.array([0, 2, 1])
  expected = np.mean(optax.softmax_cross_entropy_with_integer_labels(logits, codes))
  np.testing.assert_allclose(losses.mutual_information_loss(code_logits=logits, codes=codes),
                             expected, rtol=1e-6)
  # No information (uniform logits): log K, the entropy of the code.
  np.testing.assert_allclose(losses.mutual_information_loss(
      code_logits=jnp.zeros((4, K)), codes=jnp.arange(4)), np.log(K), rtol=1e-6)


@pytest.fixture(scope="module")
def info_run():
  return build.build(_config(), SPEC)


def test_d_has_a_code_head_only_with_the_term(info_run):
  params = info_run.init_state().discriminator.params
  assert params["class_logits"]["kernel"].shape == (32, K)
  plain = build.build(_config(**{"loss.info_weight": 0.0}), SPEC).init_state()
  assert "class_logits" not in plain.discriminator.params


@pytest.mark.slow  # 100 steps, and a second program (another weight).
def test_q_learns_to_read_the_codes_and_both_players_feel_the_term(info_run):
  run = info_run
  state = run.init_state()
  history = []
  for step in range(100):
    state, metrics = run.step(state, _batch(run, step))
    history.append(jax.device_get(metrics))
  for name in ("d_info_loss", "g_info_loss", "d_info_acc"):
    assert all(np.isfinite(m[name]) for m in history), name
  first = np.mean([m["d_info_loss"] for m in history[:5]])
  last = np.mean([m["d_info_loss"] for m in history[-10:]])
  assert first > 0.8 * np.log(K) and last < 0.5 * np.log(K), (first, last)
  assert np.mean([m["d_info_acc"] for m in history[-10:]]) > 0.6  # Chance: 1 / K.
  # The weight reaches G's update: the same state and batch, another weight.
  heavier = build.build(_config(**{"loss.info_weight": 2.0}), SPEC)
  start = run.init_state()
  g_one = jax.device_get(run.step(start, _batch(run, 0))[0].generator.params)
  g_two = jax.device_get(heavier.step(heavier.init_state(), _batch(run, 0))[0].generator.params)
  flat = lambda tree: np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])
  assert not np.array_equal(flat(g_one), flat(g_two))


def test_the_code_is_read_from_z0_as_the_generator_reads_it():
  z0 = jnp.array([-3.0, -0.2, 0.0, 0.2, 3.0])
  codes = latent.code_from_noise(z0, K)
  np.testing.assert_array_equal(codes, [0, 4, 5, 5, 9])


@pytest.mark.parametrize("fields,names", [
    ({"model.latent_codes": 0}, "latent_codes >= 2"),
    ({"task": "conditional_gan"}, "unconditional GAN"),
    ({"loss.info_weight": -1.0}, "must be >= 0"),
])
def test_bad_settings_name_the_field(fields, names):
  from gan.tasks import gan as gan_task  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match=names):
    gan_task.check_config(_config(**fields))


def test_families_without_the_head_and_packs_are_refused():
  with pytest.raises(ConfigError, match="model.name"):
    build.build(_config(**{"model.name": "toy", "model.g_widths": (8,),
                           "model.d_widths": (8,)}), data.DataSpec("points", (2,)))
  with pytest.raises(ConfigError, match="model.pack"):
    build.build(_config(**{"model.pack": 2}), SPEC)


# -------------------------------------------- which class each code draws (per_code)


class _BrightnessReader:
  """A fake classifier: class k for an image of grey level 20 k (logits one-hot)."""

  name, checksum, image_shape, feature_dim, num_classes = "reader", "0", (4, 4, 1), 1, K

  def __call__(self, images):
    level = np.round(images[:, 0, 0, 0] / 20.0).astype(np.int32)
    return (jnp.asarray(images.reshape(len(images), -1)[:, :1], jnp.float32),
            10.0 * jax.nn.one_hot(level, K))

  def describe(self):
    return {"name": self.name}


def _code_run(class_of_code):
  """A stand-in run whose generator draws an image of grey level 20 * class_of_code(c, z)."""
  config = conftest.tiny_mlp_config("images", **{"model.latent_codes": K})

  def generate(state, inputs):
    del state
    z = np.asarray(inputs["z"])
    codes = np.asarray(latent.code_from_noise(jnp.asarray(z[:, 0]), K))
    level = 20 * np.asarray([class_of_code(c, row) for c, row in zip(codes, z)])
    return np.broadcast_to((level / 127.5 - 1.0)[:, None, None, None], (len(z), 4, 4, 1))

  return SimpleNamespace(config=config, generate=generate)


def test_code_inputs_draw_exactly_the_asked_code():
  from gan.eval import conditional  # pylint: disable=g-import-not-at-top
  for code in (0, 3, K - 1):
    z = conditional.code_inputs(16, K, code, 500, jax.random.key(code))["z"]
    assert z.shape == (500, 16)
    np.testing.assert_array_equal(latent.code_from_noise(z[:, 0], K), code)
    assert abs(float(np.std(z[:, 1:])) - 1.0) < 0.05  # The rest is N(0, 1).


def test_per_code_readings_find_each_codes_class_and_its_purity():
  from gan.eval import conditional  # pylint: disable=g-import-not-at-top
  reader = _BrightnessReader()
  shuffled = _code_run(lambda c, z: (3 * c) % K)  # A permutation of the classes.
  result = conditional.per_code_readings(shuffled, None, reader, per_code=200)
  assert [r["class"] for r in result["per_code"]] == [(3 * c) % K for c in range(K)]
  assert result["purity"] == 1.0 and result["classes_drawn"] == list(range(K))
  # Code 0 draws class 0 or 9 by the sign of z_1; codes 8 and 9 both draw class 8.
  mixed = _code_run(lambda c, z: ((0 if z[1] > 0 else 9) if c == 0 else min(c, 8)))
  result = conditional.per_code_readings(mixed, None, reader, per_code=400)
  first = result["per_code"][0]
  assert 0.4 < first["purity"] < 0.6 and first["class"] in (0, 9)
  assert abs(first["histogram"][0] + first["histogram"][9] - 1.0) < 1e-6
  assert [r["class"] for r in result["per_code"][1:]] == [1, 2, 3, 4, 5, 6, 7, 8, 8]
  assert len(result["classes_drawn"]) == 9  # One class is drawn by no code.
  plain = SimpleNamespace(config=conftest.tiny_mlp_config("images"), generate=None)
  with pytest.raises(UserError, match="latent_codes"):
    conditional.per_code_readings(plain, None, reader)


# ------------------------------------------------- through the program, and the recipe


@pytest.mark.slow
def test_resumed_runs_equal_uninterrupted_ones_bit_for_bit_the_head_included(tmp_path, digits):
  from gan import program  # pylint: disable=g-import-not-at-top
  from gan.cli import info  # pylint: disable=g-import-not-at-top
  fields = {"run.checkpoint_every": 2, "run.log_every": 2}
  for steps, name in ((4, "whole"), (2, "resumed"), (4, "resumed")):
    program.train(_config(digits, num_steps=steps, **fields), str(tmp_path / name), hooks=[],
                  log=lambda line: None)
  whole, resumed = (info.workdir_info(str(tmp_path / name)) for name in ("whole", "resumed"))
  assert whole[0]["digest"] == resumed[0]["digest"]
  assert whole[1]["discriminator"]["params"]["class_logits"]["kernel"].shape == (32, K)
  flat = lambda tree: np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])
  np.testing.assert_array_equal(flat(whole[1]), flat(resumed[1]))


def test_the_recipe_is_the_unconditional_one_with_ten_codes_and_q():
  from experiments import dcgan_mnist, dcgan_mnist_infogan  # pylint: disable=g-import-not-at-top
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  default = config_lib.flatten(dcgan_mnist.unconditional_config().to_dict())
  recipe = config_lib.flatten(dcgan_mnist_infogan.get_config().to_dict())
  changed = {k: (default[k], recipe[k]) for k in default if default[k] != recipe[k]}
  assert changed == {"model.latent_codes": (0, 10), "loss.info_weight": (0.0, 1.0)}
