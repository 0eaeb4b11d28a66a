"""gan.eval.synthetic: few-label subsets, class-balanced samples, the mixture, the studies
(augmentation, CAS, the real row) and their command lines."""

import json

import jax
import numpy as np
import pytest

import conftest
from gan import build, data, program
from gan.cli import as_flags
from gan.errors import UserError
from gan.eval import synthetic

# Class counts 5, 5, 8: class c's images sit at known indices.
LABELS = np.array([0, 1, 2] * 5 + [2] * 3)



def tiny_classifier():
  """The study's recipe with the evaluation tests' tiny LeNet (4 steps of 32: compiled once
  per session, shared with tests/eval/features_test.py)."""
  config = synthetic.classifier_config()
  for key in ("conv_widths", "feature_dim", "batch_size", "num_steps", "learning_rate"):
    config[key] = conftest.TINY_EXTRACTOR_RECIPE[key]
  return config


def constant_sampler(shape, calls=None):
  """A fake conditional generator: class c gives constant images of intensity c / 10,
  i.e. 2 c / 10 - 1 in [-1, 1]; `calls` records (label, num, key)."""
  def sample(label, num, key):
    if calls is not None:
      calls.append((label, num, key))
    return np.full((num,) + tuple(shape), 2 * label / 10 - 1, np.float32)
  return sample


def decoded_labels(images):
  """The class a constant image of `constant_sampler` encodes: round(pixel / 25.5)."""
  pixels = images.reshape(len(images), -1)
  assert (pixels == pixels[:, :1]).all()  # Constant images.
  return np.round(pixels[:, 0] / 25.5).astype(int)


# ------------------------------------------------------------------ labelled_subset


def test_labelled_subset_takes_a_seeded_prefix_of_each_class():
  index = synthetic.labelled_subset(LABELS, 3, seed=7)
  assert index.dtype == np.int64 and (np.diff(index) > 0).all()  # Increasing, distinct.
  assert np.bincount(LABELS[index]).tolist() == [3, 3, 3]
  # Class c: the first 3 of the permutation that PCG64 draws from (seed, c).
  expected = []
  for c in range(3):
    members = np.flatnonzero(LABELS == c)
    expected += members[np.random.default_rng([7, c]).permutation(members.size)[:3]].tolist()
  assert index.tolist() == sorted(expected)
  # Deterministic; a smaller budget is a prefix within each class; the budget of a whole
  # class is the class.
  assert synthetic.labelled_subset(LABELS, 3, seed=7).tolist() == index.tolist()
  smaller = synthetic.labelled_subset(LABELS, 2, seed=7)
  assert set(smaller) <= set(index)
  everything = synthetic.labelled_subset(LABELS, 5, seed=7)
  assert np.bincount(LABELS[everything]).tolist() == [5, 5, 5]
  assert set(everything[LABELS[everything] < 2]) == set(np.flatnonzero(LABELS < 2))
  # Another seed draws another subset (the 8 images of class 2 have 56 subsets of 3).
  others = [tuple(synthetic.labelled_subset(LABELS, 3, seed=s)) for s in range(8)]
  assert len(set(others)) > 1


def test_labelled_subset_classes_are_disjoint_and_pure(digits):
  labels = data.load_dataset(digits).train_labels
  index = synthetic.labelled_subset(labels, 10, seed=0)
  assert len(index) == 100 and len(set(index.tolist())) == 100
  per_class = [set(index[labels[index] == c].tolist()) for c in range(10)]
  assert all(len(s) == 10 for s in per_class)
  assert all(labels[list(s)].tolist() == [c] * 10 for c, s in enumerate(per_class))


def test_a_label_budget_larger_than_a_class_is_one_line_naming_the_fix():
  with pytest.raises(UserError) as error:
    synthetic.labelled_subset(LABELS, 6, seed=0)
  message = str(error.value)
  assert message == ("per_class=6 is more than the 5 training images of class 0; choose at "
                     "most per_class=5, the count of the data set's smallest class")
  with pytest.raises(UserError, match=r"^num_per_class=9 is more than the 5 .*num_per_class=5,"):
    synthetic.check_label_budget(LABELS, 9, argument="num_per_class")
  with pytest.raises(UserError, match="per_class=0 must be a positive number"):
    synthetic.labelled_subset(LABELS, 0, seed=0)
  # A class with no image at all (labels 0 and 2 only): its count is 0.
  with pytest.raises(UserError, match="than the 0 training images of class 1"):
    synthetic.labelled_subset(np.array([0, 2, 2, 0]), 1, seed=0)


# ------------------------------------------------------------- samples and mixing


def test_class_balanced_samples_are_uint8_of_the_class_asked_for():
  calls = []
  key = jax.random.key(5)
  images, labels = synthetic.class_balanced_samples(constant_sampler((4, 4, 1), calls),
                                                    num_classes=10, per_class=3, key=key)
  assert images.shape == (30, 4, 4, 1) and images.dtype == np.uint8
  assert labels.dtype == np.int32 and labels.tolist() == [c for c in range(10) for _ in range(3)]
  assert decoded_labels(images).tolist() == labels.tolist()
  # Quantised like the data: round((x + 1) * 127.5), so class 0 is 0 and class 10 would be 255.
  assert images[labels == 0].max() == 0 and images[labels == 2].min() == 51
  # Class c drew num=per_class from fold_in(key, c).
  assert [(c, n) for c, n, _ in calls] == [(c, 3) for c in range(10)]
  for c, _, k in calls:
    assert (jax.random.key_data(k) == jax.random.key_data(jax.random.fold_in(key, c))).all()


def test_mix_adds_or_balances_the_generated_images():
  real = np.arange(3 * 2 * 2, dtype=np.uint8).reshape(3, 2, 2, 1)
  real_labels = np.array([0, 1, 2])
  fake, fake_labels = synthetic.class_balanced_samples(
      constant_sampler((2, 2, 1)), num_classes=5, per_class=2, key=jax.random.key(0))
  images, labels = synthetic.mix(real, real_labels, fake, fake_labels)  # add
  assert images.shape == (13, 2, 2, 1) and images.dtype == np.uint8 and labels.dtype == np.int32
  np.testing.assert_array_equal(images[:3], real)
  np.testing.assert_array_equal(images[3:], fake)
  assert labels.tolist() == [0, 1, 2] + [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
  assert decoded_labels(images[3:]).tolist() == labels[3:].tolist()
  # balanced: the 3 real images repeated round(10 / 3) = 3 times, then the 10 generated.
  images, labels = synthetic.mix(real, real_labels, fake, fake_labels, mixing="balanced")
  assert images.shape == (19, 2, 2, 1)
  np.testing.assert_array_equal(images[:9], np.concatenate([real] * 3))
  assert labels[:9].tolist() == [0, 1, 2] * 3 and labels[9:].tolist() == fake_labels.tolist()
  with pytest.raises(UserError, match=r"^mixing='half' is not a mixing; choose one of"):
    synthetic.mix(real, real_labels, fake, fake_labels, mixing="half")
  with pytest.raises(UserError, match=r"generated images are \(2, 2, 1\) but the real ones "
                                      r"\(2, 2, 3\)"):
    synthetic.mix(np.zeros((1, 2, 2, 3), np.uint8), [0], fake, fake_labels)


def test_mean_std_is_the_sample_spread():
  assert synthetic.mean_std([0.5, 0.7, 0.9]) == pytest.approx({"mean": 0.7, "std": 0.2})
  assert synthetic.mean_std([0.25]) == {"mean": 0.25, "std": 0.0}


# ------------------------------------------------------------ runs as generators


@pytest.fixture(scope="module")
def digits_set(digits):
  return data.load_dataset(digits)


def test_an_unconditional_run_is_refused_in_one_line(digits, digits_set):
  run = build.build(conftest.tiny_mlp_config(digits), digits_set)
  with pytest.raises(UserError) as error:
    synthetic.conditional_sampler(run, None, digits_set)
  message = str(error.value)
  assert "\n" not in message
  assert message.startswith("the run (task gan) is unconditional: its generator takes no label")
  assert "train a class-conditional one (task conditional_gan" in message


def test_a_run_of_another_image_shape_is_refused(digits, digits_set):
  run = build.build(conftest.tiny_mlp_config(digits, task="conditional_gan"), digits_set)
  small = data.from_arrays("small", np.zeros((20, 8, 8), np.uint8), np.arange(20) % 10,
                           np.zeros((4, 8, 8), np.uint8), np.arange(4))
  with pytest.raises(UserError, match=r"^the run generates \(28, 28, 1\) images but small holds "
                                      r"\(8, 8, 1\); give dataset= the data set the run was "
                                      r"trained on \(mnist_2k.npz\)$"):
    synthetic.conditional_sampler(run, None, small)


@pytest.mark.slow
def test_the_studies_end_to_end_with_a_fake_generator(digits_set):
  config = tiny_classifier()
  sample = constant_sampler((28, 28, 1))
  logs = []
  record = synthetic.augmentation_study(digits_set, sample, per_class=(10,), seeds=(0, 1),
                                        synthetic_per_class=4, config=config, log=logs.append)
  assert record["protocol"]["num_test"] == 256 and record["protocol"]["mixing"] == "add"
  assert record["protocol"]["classifier"]["num_steps"] == 4
  entry = record["per_class"]["10"]
  assert entry["num_train"] == {"real": 100, "real+generated": 140}
  for arm in ("real", "real+generated"):
    values = [entry[arm]["per_seed"][s] for s in ("0", "1")]
    assert all(0 <= v <= 1 for v in values)
    # Accuracies are counts out of the 256 test digits.
    assert all(abs(v * 256 - round(v * 256)) < 1e-6 for v in values)
    assert entry[arm]["mean"] == pytest.approx(np.mean(values))
    assert entry[arm]["std"] == pytest.approx(np.std(values, ddof=1))
  gains = [entry["real+generated"]["per_seed"][s] - entry["real"]["per_seed"][s]
           for s in ("0", "1")]
  assert entry["gain"]["mean"] == pytest.approx(np.mean(gains))
  assert len(logs) == 4
  # The real row with the same budget and seed is the augmentation's real arm, exactly:
  # the same subset, classifier seed and steps.
  real = synthetic.real_data_baseline(digits_set, num_per_class=10, seeds=(0,), config=config,
                                      log=logs.append)
  assert real["per_seed"] == {"0": entry["real"]["per_seed"]["0"]}
  assert real["num_train"] == 100 and real["std"] == 0.0
  cas = synthetic.classification_accuracy_score(digits_set, sample, num_per_class=4,
                                                seeds=(0,), config=config, log=logs.append)
  assert 0 <= cas["mean"] <= 1 and cas["num_train"] == 40
  assert cas["protocol"]["num_per_class"] == 4


# ------------------------------------------------------------------ command lines


@pytest.fixture(scope="module")
def conditional_workdir(tmp_path_factory, digits):
  """A tiny conditional MLP GAN's workdir with its step-0 checkpoint (the commands only
  sample from it: training it would cost a compilation and test nothing more)."""
  workdir = str(tmp_path_factory.mktemp("cgan") / "run")
  program.train(conftest.tiny_mlp_config(digits, task="conditional_gan", num_steps=0),
                workdir, log=lambda line: None)
  return workdir


# tiny_classifier() as flags: the programs the in-process test compiled are read back.
_TINY_FLAGS = ("--steps=4", "--config.conv_widths=(4,8)", "--config.feature_dim=16",
               "--config.batch_size=32")


@pytest.mark.slow
def test_the_command_lines_write_their_records(tmp_path, digits, conditional_workdir):
  out = tmp_path / "augmentation.json"
  result = conftest.run_module(
      "experiments.augmentation", f"--workdir={conditional_workdir}", f"--dataset={digits}",
      "--per_class=10", "--seeds=0", "--synthetic_per_class=3", *_TINY_FLAGS, f"--out={out}")
  assert result.returncode == 0, result.stderr[-3000:]
  record = json.loads(out.read_text())
  assert json.loads(result.stdout) == record
  assert record["generator"]["task"] == "conditional_gan" and record["generator"]["step"] == 0
  entry = record["per_class"]["10"]
  assert entry["num_train"] == {"real": 100, "real+generated": 130}
  assert all(0 <= entry[arm]["mean"] <= 1 for arm in ("real", "real+generated"))
  assert record["protocol"]["classifier"]["num_steps"] == 4

  out = tmp_path / "cas.json"
  result = conftest.run_module(
      "experiments.cas", f"--workdirs={conditional_workdir}", "--num_per_class=4", "--seeds=0",
      *_TINY_FLAGS, f"--out={out}")  # The data set: the run's own.
  assert result.returncode == 0, result.stderr[-3000:]
  record = json.loads(out.read_text())
  assert record["protocol"]["num_per_class"] == 4 and record["real"]["num_train"] == 40
  (run,) = record["runs"]
  assert run["generator"]["workdir"] == conditional_workdir and 0 <= run["mean"] <= 1
  assert 0 <= record["real"]["mean"] <= 1


def test_the_command_lines_name_their_flags_in_the_budget_error():
  with pytest.raises(UserError) as error:
    synthetic.check_label_budget(LABELS, 500)
  assert as_flags(str(error.value), ("per_class", "synthetic_per_class")).startswith(
      "--per_class=500 is more than the 5 training images of class 0; choose at most "
      "--per_class=5,")
  with pytest.raises(UserError) as error:
    synthetic.check_label_budget(LABELS, 500, argument="num_per_class")
  assert as_flags(str(error.value), ("num_per_class",)).count("--num_per_class=") == 2
