"""gan.eval.evaluate end to end on a tiny MLP run with a tiny extractor: the scores and their
protocol, determinism, the training hook, the refusals, and the command line.

The tests that need the trained run or extractor (module fixtures, about 15 s on 2 cores)
are marked slow; the protocol's and the extractor's refusals run without them.
"""

import json
import math
import os
import shutil

import jax
import numpy as np
import pytest

import conftest
from gan import data, program, rundir
from gan.backends import machine_kind
from gan.cli import as_flags
from gan.errors import UserError
from gan.eval import evaluate, features
from gan.eval.evaluate import METRICS, make_protocol
from gan.images import to_uint8

# The tiny extractor of tests/eval/features_test.py (the same programs, compiled once per
# session): 4 steps of 32 on 256 digits, test accuracy on 100.
TINY_RECIPE = conftest.TINY_EXTRACTOR_RECIPE
NUM_SAMPLES = 200
# The CLI's own arguments, written as flags in its messages (gan.cli.evaluate).
CLI_ARGUMENTS = ("workdir", "step", "num_samples", "num_real", "real_split", "sample_seed",
                 "extractor", "dataset")


_recipe = conftest.tiny_extractor_config


@pytest.fixture(scope="module")
def mnist(mnist_npz):
  return data.load_dataset(mnist_npz)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
  return tmp_path_factory.mktemp("evaluate")


@pytest.fixture(scope="module")
def run_dir(root, mnist_npz, mnist):
  """The tiny MLP GAN trained 3 steps on the real MNIST, in its workdir."""
  workdir = str(root / "run")
  program.train(conftest.tiny_mlp_config(mnist_npz, num_steps=3), workdir, hooks=[],
                log=lambda line: None)
  return workdir


@pytest.fixture(scope="module")
def extractor_dir(root, mnist):
  extractor = features.train_classifier(mnist, _recipe(), log=lambda line: None)
  return features.save_extractor(extractor, str(root / "extractor"))


@pytest.fixture(scope="module")
def evaluation(run_dir, extractor_dir):
  return evaluate.evaluate_run(run_dir, num_samples=NUM_SAMPLES, extractor_dir=extractor_dir,
                               progress=False)


@pytest.fixture(scope="module")
def train_only_npz(root, mnist):
  """The first 256 MNIST training digits with their labels, and no test split."""
  path = str(root / "train_only.npz")
  np.savez(path, x_train=mnist.train_images[:256, ..., 0], y_train=mnist.train_labels[:256])
  return path


# ------------------------------------------------------------------------- the scores


@pytest.mark.slow
def test_evaluate_run_returns_every_metric_and_the_protocol(run_dir, extractor_dir, mnist,
                                                            evaluation):
  result = evaluation
  assert result["step"] == 3 and result["workdir"] == os.path.abspath(run_dir)
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
  extractor = features.load_extractor(extractor_dir)
  assert protocol["extractor"] == extractor.describe()
  assert protocol["extractor"]["name"] == "lenet-mnist"
  assert protocol["real_data"] == {
      "dataset": "mnist.npz",
      "fingerprint": features.dataset_fingerprint(mnist.train_images[:NUM_SAMPLES],
                                                  mnist.train_labels[:NUM_SAMPLES])}
  assert protocol["model"] == "mlp" and protocol["machine"] == machine_kind()
  json.dumps(result)  # JSON-able as it is.


@pytest.mark.slow
def test_the_scores_are_those_of_the_samples_of_the_evaluation_key(run_dir, extractor_dir,
                                                                   mnist, evaluation):
  run, state = rundir.restore(run_dir)
  extractor = features.load_extractor(extractor_dir)
  protocol = make_protocol(num_fake=NUM_SAMPLES, num_real=None, split_size=mnist.num_train)
  fake = to_uint8(run.sample(state, NUM_SAMPLES, jax.random.key(0)))
  assert fake.shape == (NUM_SAMPLES, 28, 28, 1) and fake.dtype == np.uint8
  np.testing.assert_array_equal(fake, evaluate.generated_images(run, state, protocol))
  expected = evaluate.evaluate_images(extractor, mnist.train_images[:NUM_SAMPLES], fake,
                                      protocol)
  assert {name: evaluation[name] for name in METRICS} == expected
  # Another sample seed: other samples, other scores.
  other = evaluate.evaluate_run(run_dir, num_samples=NUM_SAMPLES, extractor_dir=extractor_dir,
                                sample_seed=1, progress=False)
  assert other["protocol"]["sample_seed"] == 1 and other["fid"] != evaluation["fid"]


@pytest.mark.slow
def test_the_same_evaluation_gives_the_same_numbers(run_dir, extractor_dir, evaluation):
  again = evaluate.evaluate_run(run_dir, num_samples=NUM_SAMPLES, extractor_dir=extractor_dir,
                                progress=False)
  assert again == evaluation


@pytest.mark.slow
def test_the_training_hook_scores_like_evaluate_run(run_dir, extractor_dir, mnist, evaluation):
  run, state = rundir.restore(run_dir, data=mnist)
  run.config.eval.every, run.config.eval.num_samples = 1, NUM_SAMPLES
  hook = evaluate.evaluation_hook(run, extractor=features.load_extractor(extractor_dir),
                                  progress=False)
  assert hook.every == 1 and hook.name == "evaluation"
  assert hook(3, state) == {name: evaluation[name] for name in METRICS}


# ----------------------------------------------------------------------- the protocol


def test_protocol_defaults_and_limits():
  protocol = make_protocol(num_fake=500, num_real=None, split_size=60000)
  assert (protocol.num_real, protocol.kid_subset_size) == (500, 500)  # Both capped.
  assert protocol.describe()["real_split"] == "train[:500]"
  # Fewer real images than samples only when asked for, by name.
  asked = make_protocol(num_fake=10000, num_real=5000, split_size=5000)
  assert (asked.num_real, asked.num_fake, asked.kid_subset_size) == (5000, 10000, 1000)
  with pytest.raises(UserError, match=r"^num_real=20000 exceeds the 10000 images of the test "
                                      r"split; use at most 10000$"):
    make_protocol(num_fake=100, num_real=20000, split_size=10000, real_split="test")
  with pytest.raises(UserError, match="no test split"):
    make_protocol(num_fake=100, num_real=None, split_size=0, real_split="test")
  with pytest.raises(UserError, match="too few"):
    make_protocol(num_fake=5, num_real=None, split_size=100)
  with pytest.raises(UserError, match=r"real_split='valid'; choose one of \['train', 'test'\]"):
    make_protocol(num_fake=100, num_real=None, split_size=100, real_split="valid")


def test_a_split_smaller_than_the_samples_is_refused_with_the_fix():
  with pytest.raises(UserError) as error:
    make_protocol(num_fake=10000, num_real=None, split_size=5000)
  message = str(error.value)
  assert message.startswith("the train split holds 5000 images, fewer than the 10000 samples")
  assert "score against the full data set (dataset=PATH)" in message
  assert "num_real=5000" in message  # The other fix, knowing what it costs.
  # The command line names its own flags.
  cli = as_flags(message, CLI_ARGUMENTS)
  assert "(--dataset=PATH)" in cli and "set --num_real=5000 knowing" in cli


@pytest.mark.slow
def test_evaluate_run_refuses_a_smaller_real_split(run_dir, extractor_dir, train_only_npz):
  with pytest.raises(UserError, match=r"the train split holds 256 images, fewer than the 300 "
                                      r"samples.*dataset=PATH"):
    evaluate.evaluate_run(run_dir, num_samples=300, dataset=train_only_npz,
                          extractor_dir=extractor_dir, progress=False)


# ------------------------------------------------------------------ the extractor


def test_the_reference_extractor_needs_a_test_split(train_only_npz, monkeypatch, tmp_path):
  monkeypatch.setenv(features.CACHE_ENV, str(tmp_path))
  train_only = data.load_dataset(train_only_npz)
  assert train_only.num_train == 256 and train_only.test_images.shape[0] == 0
  with pytest.raises(UserError, match=r"the data set train_only\.npz has no test split.*"
                                      r"score against the full data set \((--)?dataset=PATH"):
    evaluate.reference_extractor(train_only, recipe=_recipe())
  assert not os.listdir(tmp_path)  # Refused before anything was trained or cached.


@pytest.mark.slow
def test_the_reference_extractor_needs_98_percent_test_accuracy(mnist, extractor_dir,
                                                                monkeypatch, tmp_path):
  # The tiny extractor, cached for its recipe: found there, and refused for its accuracy.
  monkeypatch.setenv(features.CACHE_ENV, str(tmp_path))
  tiny = features.load_extractor(extractor_dir)
  accuracy = tiny.describe()["test_accuracy"]
  assert accuracy < evaluate.MIN_TEST_ACCURACY == 0.98
  shutil.copytree(extractor_dir, os.path.join(features.default_cache_dir(),
                                              features.cache_entry(mnist, _recipe())))
  with pytest.raises(UserError, match=rf"classifies {accuracy} of mnist\.npz's test images "
                                      rf"correctly, below 0\.98"):
    evaluate.reference_extractor(mnist, recipe=_recipe())
  accepted = evaluate.reference_extractor(mnist, recipe=_recipe(), min_accuracy=0.0)
  assert accepted.checksum == tiny.checksum


# ------------------------------------------------------------------------ the floor


@pytest.mark.slow
def test_the_floor_scores_the_test_split_against_the_training_split(mnist_npz, mnist,
                                                                    extractor_dir):
  floor = evaluate.evaluate_floor(mnist_npz, num_samples=NUM_SAMPLES,
                                  extractor_dir=extractor_dir, progress=False)
  assert floor["floor"] == f"mnist.npz test[:{NUM_SAMPLES}] scored against train[:{NUM_SAMPLES}]"
  protocol = make_protocol(num_fake=NUM_SAMPLES, num_real=None, split_size=mnist.num_train)
  expected = evaluate.evaluate_images(features.load_extractor(extractor_dir),
                                      mnist.train_images[:NUM_SAMPLES],
                                      mnist.test_images[:NUM_SAMPLES], protocol)
  assert {name: floor[name] for name in METRICS} == expected
  assert floor["protocol"]["n_real"] == floor["protocol"]["n_fake"] == NUM_SAMPLES
  assert floor["protocol"]["real_data"]["fingerprint"] == features.dataset_fingerprint(
      mnist.train_images[:NUM_SAMPLES], mnist.train_labels[:NUM_SAMPLES])


def test_the_floor_needs_as_many_test_images_as_samples(train_only_npz, monkeypatch, tmp_path):
  monkeypatch.setenv(features.CACHE_ENV, str(tmp_path))
  with pytest.raises(UserError, match=r"train_only\.npz has no test split to stand in for a "
                                      r"perfect generator; give the full data set \(dataset="):
    evaluate.evaluate_floor(train_only_npz, num_samples=100, progress=False)
  with pytest.raises(UserError, match=r"the train split holds 256 images, fewer than the 300"):
    evaluate.evaluate_floor(train_only_npz, num_samples=300, progress=False)
  assert not os.listdir(tmp_path)


# -------------------------------------------------------------------- bad input


def test_evaluate_run_refusals(mnist_npz, tmp_path):
  with pytest.raises(UserError, match=r"workdir '.*nothing' does not exist"):
    evaluate.evaluate_run(str(tmp_path / "nothing"))
  # A workdir that a run was started in, and no checkpoint saved yet.
  config = conftest.tiny_mlp_config(mnist_npz, num_steps=3)
  empty = tmp_path / "empty"
  empty.mkdir()
  rundir.write_new_run(str(empty), config, data.DataSpec("mnist.npz", (28, 28, 1), 10))
  with pytest.raises(UserError, match=r"no extractor in '.*no-such-extractor'"):
    evaluate.evaluate_run(str(empty), extractor_dir=str(tmp_path / "no-such-extractor"))
  with pytest.raises(UserError, match="no checkpoint in .*; train first"):
    evaluate.evaluate_run(str(empty))


@pytest.mark.slow
def test_evaluate_run_refuses_a_step_or_data_it_cannot_score(run_dir):
  with pytest.raises(UserError, match=r"no checkpoint at step 2 .*available: \[3\]"):
    evaluate.evaluate_run(run_dir, step=2)
  with pytest.raises(UserError, match="drawn on the device, not a data set of images"):
    evaluate.evaluate_run(run_dir, dataset="mixture:grid")


# ------------------------------------------------------------------ the command line


def _assert_one_line_error(result, *messages):
  assert result.returncode == 2, result.stderr[-2000:]
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith("error: "), lines[0]
  for message in messages:
    assert message in lines[0], lines[0]
  assert not result.stdout


@pytest.mark.slow
def test_the_command_prints_what_evaluate_run_returns(run_dir, extractor_dir, evaluation):
  result = conftest.run_module("gan.cli.evaluate", f"--workdir={run_dir}",
                               f"--num_samples={NUM_SAMPLES}", f"--extractor={extractor_dir}",
                               "--progress_bar=False")
  assert result.returncode == 0, result.stderr[-3000:]
  assert json.loads(result.stdout) == json.loads(json.dumps(evaluation))
  assert "evaluated step 3 in" in result.stderr


@pytest.mark.slow
def test_the_command_on_a_run_without_a_test_split_names_the_dataset_flag(train_only_npz,
                                                                          root, tmp_path):
  workdir = str(root / "train_only_run")
  program.train(conftest.tiny_mlp_config(train_only_npz, num_steps=1), workdir, hooks=[],
                log=lambda line: None)
  result = conftest.run_module("gan.cli.evaluate", f"--workdir={workdir}", "--num_samples=100",
                               "--progress_bar=False", env={features.CACHE_ENV: str(tmp_path)})
  _assert_one_line_error(result, "has no test split", "--dataset=PATH")
  assert not os.path.exists(tmp_path / "extractors")  # Nothing trained for it.


@pytest.mark.slow
def test_the_command_reports_a_missing_workdir_in_one_line(tmp_path):
  result = conftest.run_module("gan.cli.evaluate", f"--workdir={tmp_path / 'nothing'}")
  _assert_one_line_error(result, "does not exist")


@pytest.mark.slow
def test_train_classifier_writes_the_extractor_the_recipe_trains(extractor_dir, mnist_npz,
                                                                 tmp_path):
  flags = [f"--config.{k}={v}" for k, v in TINY_RECIPE.items()]
  result = conftest.run_module("experiments.train_classifier", f"--workdir={tmp_path / 'ext'}",
                               f"--config.dataset={mnist_npz}",
                               *(f.replace(" ", "") for f in flags))
  assert result.returncode == 0, result.stderr[-3000:]
  printed = json.loads(result.stdout)
  expected = features.load_extractor(extractor_dir)
  assert printed["name"] == "lenet-mnist" and printed["num_steps"] == 4
  assert printed["num_test"] == 100
  # The same recipe on the same data and machine: the same weights, bit for bit.
  assert printed["checksum"] == expected.checksum
  assert printed["test_accuracy"] == expected.describe()["test_accuracy"]
  info = json.load(open(tmp_path / "ext" / features.EXTRACTOR_FILE, encoding="utf-8"))
  assert info["checksum"] == printed["checksum"] and info["format_version"] == 2


# ------------------------------------------------------------ a conditional run, by class


@pytest.mark.slow
def test_per_class_scores_read_each_class_of_a_conditional_run(root, digits, extractor_dir,
                                                               run_dir):
  workdir = str(root / "conditional")
  program.train(conftest.tiny_mlp_config(digits, task="conditional_gan", num_steps=2),
                workdir, hooks=[], log=lambda line: None)
  result = evaluate.evaluate_run(workdir, num_samples=200, extractor_dir=extractor_dir,
                                 dataset=digits, per_class=20, progress=False)
  per_class = result["per_class"]
  assert [row["label"] for row in per_class["per_class"]] == list(range(10))
  # By hand: the extractor's argmax on class 3's samples (z from fold_in(key(0), 3)).
  run, state = rundir.restore(workdir)
  network = features.load_extractor(extractor_dir)
  from gan.eval import conditional  # pylint: disable=g-import-not-at-top
  threes = conditional.class_samples(run, state, 3, 20,
                                     jax.random.fold_in(jax.random.key(0), 3))
  _, logits = features.extract(network, threes)
  row = per_class["per_class"][3]
  assert row["accuracy"] == pytest.approx(float(np.mean(np.argmax(logits, -1) == 3)))
  assert row["n_real"] == int(np.sum(data.load_dataset(digits).train_labels == 3))
  assert per_class["accuracy"] == pytest.approx(
      np.mean([r["accuracy"] for r in per_class["per_class"]]))
  assert all(math.isfinite(r["fid"]) and r["fid"] > 0 for r in per_class["per_class"])
  # An unconditional run has no classes to score.
  with pytest.raises(UserError, match="class-conditional"):
    evaluate.evaluate_run(run_dir, num_samples=200, extractor_dir=extractor_dir,
                          per_class=20, progress=False)
  # Nor a run without discrete latent codes any codes (InfoGAN's per-code readings).
  with pytest.raises(UserError, match="discrete codes"):
    evaluate.evaluate_run(run_dir, num_samples=200, extractor_dir=extractor_dir,
                          per_code=20, progress=False)
