"""The latent-space commands on one tiny conditional run: interpolate, truncation,
neighbours, reconstruct. Each command writes its files, and they hold what the library
computes (the same grid, the evaluation's scores at t = inf, the brute-force nearest
training images); bad input is one `error:` line, exit status 2, nothing written.

The shared run (a tiny conditional MLP GAN, 4 steps on 2,048 digits, checkpoints at
steps 2 and 4), a step-0 run of a narrower model and a tiny extractor are made once per
module (about 10 s of CPU). The commands that succeed run in this process, their flags
parsed by absl on a fresh `FlagValues` (no process start, programs compiled once); the
refusals run as real processes, for their exit status and the one line on stderr.
"""

import json
import os

import jax
import numpy as np
import pytest
from PIL import Image

import conftest
from conftest import run_module
from absl import flags

from gan import data, images, latent, program
from gan.cli import interpolate, neighbours, truncation
from gan.errors import UserError
from gan.eval import evaluate, features

pytestmark = pytest.mark.slow


def _config(digits, **overrides):
  return conftest.tiny_mlp_config(digits, task="conditional_gan", **{
      "run.checkpoint_every": 2, "run.log_every": 2, "run.num_sample_images": 0, **overrides})


@pytest.fixture(scope="module")
def world(tmp_path_factory, digits):
  """{root, run, other (a narrower model), extractor, digits}."""
  root = tmp_path_factory.mktemp("latent")
  program.train(_config(digits, num_steps=4), str(root / "run"), hooks=[],
                log=lambda line: None)
  # The same task with a narrower generator, saved at step 0 (nothing to compile).
  program.train(_config(digits, num_steps=0, **{"model.g_widths": (16,)}),
                str(root / "other"), hooks=[], log=lambda line: None)
  extractor = features.train_classifier(data.load_dataset(digits),
                                        conftest.tiny_extractor_config(), log=lambda line: None)
  features.save_extractor(extractor, str(root / "extractor"))
  (root / "out").mkdir()
  return {"root": root, "run": str(root / "run"), "other": str(root / "other"),
          "extractor": str(root / "extractor"), "digits": digits}


@pytest.fixture(scope="module")
def restored(world):
  return latent.restore_generator(world["run"])


def _command(module, *args: str) -> None:
  """`python -m module args...`, in this process: absl parses the flags, then `main`."""
  flag_values = flags.FlagValues()
  defined = module._define_flags(flag_values)  # pylint: disable=protected-access
  flag_values([module.__name__, *args])
  module.main([module.__name__], defined)


def _grid_size(rows: int, cols: int, side: int = 28) -> tuple[int, int]:
  """(width, height) of a `gan.images.save_grid` PNG: padding 2, scale 2."""
  return (2 * (cols * (side + 2) + 2), 2 * (rows * (side + 2) + 2))


def test_interpolate_writes_the_grids_the_library_computes(world, restored, tmp_path):
  run, state = restored
  out = world["root"] / "out"
  _command(interpolate, f"--workdir={world['run']}", "--classes=3,8", "--num=4", "--rows=2",
           "--seed=1", f"--out={out}/classes.png")
  _command(interpolate, f"--workdir={world['run']}", "--step=2", "--step_b=4", "--num=3",
           "--rows=2", f"--out={out}/weights.png")
  key = jax.random.key(1)
  images.save_grid(latent.interpolate(run, state, key, num=4, rows=2, classes=(3, 8)),
                   str(tmp_path / "classes.png"), num_cols=4)
  with open(out / "classes.png", "rb") as a, open(tmp_path / "classes.png", "rb") as b:
    assert a.read() == b.read()
  assert Image.open(out / "weights.png").size == _grid_size(2, 3)
  # Its columns: step 2's samples, the mean of the weights, step 4's samples.
  _, state_2 = latent.restore_generator(world["run"], 2)
  inputs = run.task.sample_inputs(jax.random.key(0), 2)
  pixels = np.asarray(Image.open(out / "weights.png"))
  for column, step_state in ((0, state_2), (2, state)):
    want = images.make_grid(np.asarray(run.generate(step_state, inputs)), num_cols=1)
    got = pixels[::2, ::2][:, 2 + 30 * column - 2: 2 + 30 * column + 30]
    np.testing.assert_array_equal(got, want[..., 0])


def test_truncation_writes_the_curve_whose_last_point_is_the_evaluation(world):
  out = world["root"] / "out"
  _command(truncation, f"--workdir={world['run']}", f"--dataset={world['digits']}",
           "--thresholds=0.5,inf", "--num_samples=40", f"--extractor={world['extractor']}",
           "--progress_bar=false", f"--out={out}/curve.json", f"--plot={out}/curve.png",
           f"--grid={out}/trunc.png", "--grid_num=4")
  with open(out / "curve.json", encoding="utf-8") as f:
    result = json.load(f)
  curve = result["curve"]
  assert [p["threshold"] for p in curve] == [0.5, "inf"] and result["step"] == 4
  assert curve[0]["truncated_mass"] == pytest.approx(0.617075, abs=1e-6)
  assert result["protocol"]["n_fake"] == 40
  scores = evaluate.evaluate_run(world["run"], num_samples=40, dataset=world["digits"],
                                 extractor_dir=world["extractor"], progress=False)
  for name in ("fid", "kid", "precision", "recall", "density", "coverage"):
    assert curve[1][name] == scores[name], name
  assert curve[0]["fid"] != curve[1]["fid"]
  assert Image.open(out / "trunc.png").size == _grid_size(2, 4)
  assert Image.open(out / "curve.png").size[0] > 100


def test_neighbours_writes_the_brute_force_nearest_training_images(world, restored):
  run, state = restored
  out = world["root"] / "out"
  _command(neighbours, f"--workdir={world['run']}", f"--dataset={world['digits']}",
           "--space=pixels", "--num=3", "--k=2", "--num_samples=50", "--progress_bar=false",
           f"--out={out}/nn.png", f"--json={out}/nn.json")
  with open(out / "nn.json", encoding="utf-8") as f:
    result = json.load(f)
  digits = data.load_dataset(world["digits"])
  samples = images.to_uint8(run.sample(state, 50, jax.random.key(0)))
  pixels = lambda x: x.reshape(len(x), -1).astype(np.float64) / 127.5 - 1
  squared = ((pixels(samples[:3])[:, None] - pixels(digits.train_images)[None]) ** 2).sum(-1)
  want = np.argsort(squared, axis=1, kind="stable")[:, :2]
  assert [row["train_indices"] for row in result["neighbours"]] == want.tolist()
  np.testing.assert_allclose([row["distances"] for row in result["neighbours"]],
                             np.sqrt(np.take_along_axis(squared, want, 1)), rtol=1e-7)
  memorisation = result["memorisation"]
  assert memorisation["ratio"] == pytest.approx(
      memorisation["sample_median"] / memorisation["test_median"])
  assert result["protocol"]["n_test"] == 50 and result["protocol"]["n_train"] == 2048
  assert Image.open(out / "nn.png").size == _grid_size(3, 3)


BAD_INPUT = [
    # (id, module, args ({run}, {other}, {out}), text of the one error line)
    ("threshold_zero", "gan.cli.truncation", ["--workdir={run}", "--thresholds=0,1",
                                              "--out={out}/bad.json"],
     "truncation threshold 0 must be in (0, inf]"),
    ("different_models", "gan.cli.interpolate", ["--workdir={run}", "--workdir_b={other}",
                                                 "--out={out}/bad.png"],
     "are different models"),
    ("reconstruct_a_gan", "gan.cli.reconstruct", ["--workdir={run}", "--out={out}/bad.png"],
     "(task conditional_gan) has no encoder to reconstruct with"),
]


def test_bad_input_in_process_is_one_line(world):
  out = world["root"] / "out"
  before = sorted(os.listdir(out))
  for module, args, expected in (
      (truncation, ["--thresholds=-0.5,1"], "truncation threshold -0.5 must be in (0, inf]"),
      (truncation, ["--thresholds=1,nan"], "truncation threshold nan must be in (0, inf]"),
      (interpolate, ["--classes=3,10"], "trained on classes 0..9"),
      (interpolate, ["--classes=3,8", "--step_b=2"], "give one"),
      (interpolate, ["--num=1"], "--num=1 points cannot make a path")):
    with pytest.raises(UserError) as error:
      _command(module, f"--workdir={world['run']}", f"--out={out}/bad.png", *args)
    assert "\n" not in str(error.value) and expected in str(error.value), str(error.value)
  assert sorted(os.listdir(out)) == before


@pytest.mark.parametrize("case_id,module,args,expected", BAD_INPUT,
                         ids=[case[0] for case in BAD_INPUT])
def test_bad_input_is_one_line(world, case_id, module, args, expected):
  out = world["root"] / "out"
  before = sorted(os.listdir(out))
  result = run_module(module, *[a.format(run=world["run"], other=world["other"], out=out)
                                for a in args])
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert result.returncode == 2, (case_id, result.stderr[-2000:])
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
  assert expected in lines[0] and "Traceback" not in result.stderr, lines[0]
  assert sorted(os.listdir(out)) == before
