"""gan.evaluate end to end on a tiny DCGAN run with a tiny extractor: JSON, determinism,
the cache, the training hook, and bad input."""

import json
import math
import os
import shutil

import pytest

from conftest import run_module
from gan import data
from gan.errors import UserError
from gan.evaluate import METRICS, evaluation_hook, make_protocol
from gan.metrics import features
from gan.train import load_run_config, restore_run

SMALL_DCGAN = ("--config.batch_size=16", "--config.g_widths=(32,16,8)",
               "--config.d_widths=(8,16)", "--config.progress_bar=False")
# A LeNet trained for 10 steps on 512 digits: seconds, and enough to test the plumbing.
TINY_RECIPE = ("conv_widths=(4,8)", "feature_dim=16", "batch_size=32", "num_steps=10",
               "num_train_examples=512", "num_test_examples=500", "progress_bar=False")
NUM_SAMPLES = 200


def _ok(result):
  assert result.returncode == 0, result.stderr[-3000:]
  return result


@pytest.fixture(scope="module")
def run(tmp_path_factory, mnist_npz):
  """A DCGAN trained for 3 steps on the real MNIST, and a tiny extractor for it."""
  root = tmp_path_factory.mktemp("evaluate")
  _ok(run_module("experiments.dcgan_mnist", f"--workdir={root / 'run'}",
                 f"--config.dataset={mnist_npz}", "--config.num_steps=3", *SMALL_DCGAN))
  trained = _ok(run_module("experiments.train_classifier", f"--workdir={root / 'extractor'}",
                           f"--config.dataset={mnist_npz}",
                           *(f"--config.{field}" for field in TINY_RECIPE)))
  return root, json.loads(trained.stdout)


@pytest.fixture(scope="module")
def evaluations(run):
  """The same evaluation twice, the extractor from an empty cache: trained, then loaded."""
  root, _ = run
  cache = root / "cache"
  args = (f"--workdir={root / 'run'}", f"--num_samples={NUM_SAMPLES}", "--progress_bar=False",
          *(f"--extractor_config.{field}" for field in TINY_RECIPE))
  first = _ok(run_module("gan.evaluate", *args, env={"GAN_CACHE_DIR": str(cache)}))
  second = _ok(run_module("gan.evaluate", *args, env={"GAN_CACHE_DIR": str(cache)}))
  return first, second, cache


def test_train_classifier_writes_an_extractor(run):
  root, printed = run
  assert printed["name"] == "lenet-mnist" and len(printed["checksum"]) == 64
  assert printed["num_steps"] == 10 and printed["num_test"] == 500
  assert 0.0 <= printed["test_accuracy"] <= 1.0
  info = json.load(open(root / "extractor" / features.EXTRACTOR_FILE))
  assert info["checksum"] == printed["checksum"]


def test_evaluate_prints_every_metric_and_the_protocol(run, evaluations):
  root, _ = run
  result = json.loads(evaluations[0].stdout)
  assert result["step"] == 3 and result["workdir"] == str(root / "run")
  for name in METRICS:
    assert math.isfinite(result[name]), name
  assert result["fid"] > 0 and 0 <= result["precision"] <= 1 and 0 <= result["coverage"] <= 1
  assert 1 <= result["inception_score"] <= 10
  protocol = result["protocol"]
  assert protocol["n_real"] == protocol["n_fake"] == NUM_SAMPLES
  assert protocol["real_split"] == f"train[:{NUM_SAMPLES}]"
  assert protocol["sample_seed"] == 0 and "jax.random.key(0)" in protocol["sample_key"]
  assert protocol["kid_subsets"] == 100 and protocol["kid_subset_size"] == NUM_SAMPLES
  assert (protocol["is_splits"], protocol["pr_k"], protocol["dc_k"]) == (10, 3, 5)
  assert protocol["extractor"]["name"] == "lenet-mnist"
  assert protocol["real_data"]["dataset"] == "mnist.npz"


def test_the_same_command_prints_the_same_numbers(evaluations):
  first, second, _ = evaluations
  assert first.stdout == second.stdout


def test_the_cache_trains_once_what_the_experiment_trains(run, evaluations):
  _, printed = run
  first, second, cache = evaluations
  assert "training one" in first.stderr and "training one" not in second.stderr
  assert len(os.listdir(cache / "extractors")) == 1
  # Same recipe, same data: the cached extractor is the experiment's, bit for bit.
  assert json.loads(first.stdout)["protocol"]["extractor"]["checksum"] == printed["checksum"]


def test_the_training_hook_scores_like_the_command(run, evaluations, mnist_npz):
  root, _ = run
  expected = json.loads(evaluations[0].stdout)
  config = load_run_config(str(root / "run"))
  config.eval_every, config.eval_num_samples = 1, NUM_SAMPLES
  gan, state = restore_run(str(root / "run"))
  hook = evaluation_hook(config, data.load_dataset(mnist_npz), gan,
                         extractor=features.load_extractor(str(root / "extractor")),
                         progress=False)
  assert hook.every == 1
  assert hook(3, state) == {name: expected[name] for name in METRICS}


def test_protocol_defaults_and_limits():
  protocol = make_protocol(num_fake=500, num_real=None, split_size=60000)
  assert (protocol.num_real, protocol.kid_subset_size) == (500, 500)  # Both capped.
  assert protocol.describe()["real_split"] == "train[:500]"
  assert make_protocol(num_fake=10000, num_real=None, split_size=5000).num_real == 5000
  with pytest.raises(UserError, match="--num_real=20000 exceeds the 10000 images of the test"):
    make_protocol(num_fake=100, num_real=20000, split_size=10000, real_split="test")
  with pytest.raises(UserError, match="no test split"):
    make_protocol(num_fake=100, num_real=None, split_size=0, real_split="test")
  with pytest.raises(UserError, match="too few"):
    make_protocol(num_fake=5, num_real=None, split_size=100)


def _assert_one_line_error(result, message):
  assert result.returncode == 2, result.stderr[-2000:]
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith("error: ") and message in lines[0], lines[0]
  assert not result.stdout


def test_missing_workdir(tmp_path):
  result = run_module("gan.evaluate", f"--workdir={tmp_path / 'nothing'}")
  _assert_one_line_error(result, "does not exist")


def test_workdir_without_checkpoint(run, tmp_path):
  root, _ = run
  empty = tmp_path / "empty"
  empty.mkdir()
  for name in ("config.json", "data.json"):
    shutil.copy(root / "run" / name, empty / name)
  result = run_module("gan.evaluate", f"--workdir={empty}")
  _assert_one_line_error(result, "no checkpoint")


def test_unknown_extractor(run, tmp_path):
  root, _ = run
  result = run_module("gan.evaluate", f"--workdir={root / 'run'}",
                      f"--extractor={tmp_path / 'no-such-extractor'}")
  _assert_one_line_error(result, "no extractor in")
