r"""Generated samples as training data: augmentation of few labels, and the Classification
Accuracy Score.

A class-conditional generator G(z, y) (the conditional GAN, the conditional VAE: any run
whose `generate(state, {"z", "label"})` takes labels) is judged by what a classifier
learns from its samples, tested on real images:

  augmentation  a LeNet trained on n real labelled images per class (`labelled_subset`),
                against the same LeNet trained on those images plus S generated images
                per class, labelled with the class they were asked for (`mix`). Both arms
                take the same number of steps; the gain is acc(real + G) - acc(real),
                paired by seed (the same real subset in both arms).
  CAS           (Ravuri & Vinyals 2019) a LeNet trained only on N generated images per
                class, balanced over the classes,

                  CAS = 1/|test| sum_{(x, y) in test} 1[argmax_c f_G(x)_c = y],

                beside the same LeNet trained on N real training images per class (the
                "real data" row). A generator whose class-conditional distributions match
                the data's scores as the real row does; one that drops modes or mixes
                classes scores lower, whatever its FID.

Every classifier trains through the one training program (task `classifier`, by
`gan.eval.features.train_classifier`, `gan.program.train` with no workdir) on an in-memory
`gan.data.ImageDataset` whose test split is the data set's, so its accuracy is on real
test images (MNIST: all 10,000; CIFAR-10 in ../shared/data: the first 1,000). Real and
generated images meet as uint8 in [0, 255]: samples in [-1, 1] are quantised by
`gan.images.to_uint8`, the real images' own form, and the classifier scales both by
`gan.images.to_float`.

Seeds. Seed s fixes the real subset (`labelled_subset(labels, n, s)`), the generated
samples (class c's z from `fold_in(key(s), c)`, as `gan.eval.conditional` draws them)
and the classifier's initialisation and batch order (its `seed`). Spread is the sample
standard deviation (ddof=1) over seeds.

References:
  Ravuri & Vinyals 2019, Classification Accuracy Score for Conditional Generative Models.
  Antoniou et al. 2017, Data Augmentation Generative Adversarial Networks.
  Shmelkov et al. 2018, How good is my GAN? (GAN-train / GAN-test).
"""

import sys
from typing import Any, Callable, Optional, Sequence

import jax
import ml_collections
import numpy as np

from gan import data as data_lib
from gan import images as images_lib
from gan.errors import UserError
from gan.eval import features as features_lib

# sample(label, num, key) -> float images in [-1, 1], (num, H, W, C): num samples of class
# `label` (a conditional generator asked for one class).
Sampler = Callable[[int, int, jax.Array], np.ndarray]

# The classifier recipe's fields a study record names (its seed is the study's seed).
_RECIPE_FIELDS = ("conv_widths", "kernel_size", "feature_dim", "batch_size", "learning_rate",
                  "num_steps")

# How generated images join the real ones (`mix`).
MIXINGS = ("add", "balanced")


def classifier_config() -> ml_collections.ConfigDict:
  """The LeNet recipe of the studies: `gan.eval.features.classifier_config` made small.

  Two convolutions of 8 and 16 channels, a 64-d feature layer, batch 64, Adam(3e-3)
  cosine-decayed over exactly `num_steps` = 1,000 steps (whatever the training set's
  size, so every arm of a study takes as many steps): well under a minute on 2 idle CPU
  cores for MNIST. `seed` is set per study seed.
  """
  c = features_lib.classifier_config()
  c.conv_widths = (8, 16)
  c.feature_dim = 64
  c.batch_size = 64
  c.learning_rate = 3e-3
  c.num_epochs = 0
  c.num_steps = 1000
  c.progress_bar = False
  return c


# ------------------------------------------------------------------- real labels


def check_label_budget(labels: np.ndarray, per_class: int, *,
                       argument: str = "per_class") -> np.ndarray:
  """Raises unless every class of `labels` holds at least `per_class` images.

  Args:
    labels: (N,) integer class labels 0..C-1 (C = max + 1).
    per_class: the images wanted of each class, > 0.
    argument: the name the message gives the budget (the caller's argument).

  Returns:
    The (C,) class counts.
  """
  labels = np.asarray(labels).reshape(-1)
  if not isinstance(per_class, (int, np.integer)) or isinstance(per_class, bool) or per_class < 1:
    raise UserError(f"{argument}={per_class!r} must be a positive number of images per class")
  if labels.size == 0:
    raise UserError(f"the data set has no labelled training images to take {argument}="
                    f"{per_class} per class from; give a labelled data set")
  counts = np.bincount(labels, minlength=int(labels.max()) + 1)
  short = int(np.argmin(counts))
  if counts[short] < per_class:
    raise UserError(f"{argument}={per_class} is more than the {counts[short]} training images "
                    f"of class {short}; choose at most {argument}={counts[short]}, the count of "
                    f"the data set's smallest class")
  return counts


def labelled_subset(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
  """Indices of `per_class` images of each class: a seeded draw without replacement.

  For class c with images at indices I_c (increasing), the subset takes I_c[pi_c[:n]],
  pi_c the permutation of |I_c| that numpy's PCG64 draws from the seed sequence
  (seed, c); the subset of n is a prefix of the subset of n' > n for the same seed,
  and classes are drawn independently.

  Args:
    labels: (N,) integer class labels 0..C-1.
    per_class: n, images of each class; at most the smallest class's count.
    seed: a non-negative int.

  Returns:
    (C * n,) int64 indices into `labels`, increasing.
  """
  labels = np.asarray(labels).reshape(-1)
  counts = check_label_budget(labels, per_class)
  if not isinstance(seed, (int, np.integer)) or seed < 0:
    raise UserError(f"seed={seed!r} must be a non-negative int")
  chosen = []
  for c in range(len(counts)):
    members = np.flatnonzero(labels == c)
    order = np.random.default_rng([int(seed), c]).permutation(members.size)
    chosen.append(members[order[:per_class]])
  return np.sort(np.concatenate(chosen)).astype(np.int64)


# ------------------------------------------------------------- generated images


def conditional_sampler(run, state, dataset: data_lib.ImageDataset) -> Sampler:
  """The `Sampler` of a class-conditional run, checked against the real data set.

  `sample(label, num, key)` is `run.sample(state, num, key, label=label)`: inputs from
  `run.task.sample_inputs`, with every "label" set to `label` (EMA weights where the
  run kept them).

  Args:
    run: a `gan.build.Run` (e.g. `gan.rundir.restore(workdir)[0]`).
    state: its state.
    dataset: the real data set its samples will join or be tested on.

  Raises:
    UserError: the run does not generate, takes no label, or generates images of
      another shape or another number of classes than `dataset` holds.
  """
  task = run.config.task
  if run.generate is None or run.task.sample_inputs is None:
    raise UserError(f"the run (task {task}) does not generate images; give the workdir of a "
                    f"class-conditional generator (task conditional_gan, or vae with "
                    f"model.conditional=True)")
  if "label" not in run.task.sample_inputs(jax.random.key(0), 1):
    raise UserError(f"the run (task {task}) is unconditional: its generator takes no label, so "
                    f"its samples have no class; train a class-conditional one (task "
                    f"conditional_gan, or vae with model.conditional=True) and give its workdir")
  shape, wanted = tuple(run.spec.shape), tuple(dataset.image_shape)
  if shape != wanted:
    raise UserError(f"the run generates {shape} images but {dataset.name} holds {wanted}; "
                    f"give dataset= the data set the run was trained on ({run.spec.name})")
  if run.spec.num_classes != dataset.num_classes:
    raise UserError(f"the run generates {run.spec.num_classes} classes but {dataset.name} "
                    f"holds {dataset.num_classes}; give dataset= the data set the run was "
                    f"trained on ({run.spec.name})")

  def sample(label: int, num: int, key: jax.Array) -> np.ndarray:
    return run.sample(state, num, key, label=int(label))

  return sample


def class_balanced_samples(sample: Sampler, *, num_classes: int, per_class: int,
                           key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
  """`per_class` generated images of each class, labelled with the class asked for.

  Class c's images are `sample(c, per_class, fold_in(key, c))`, quantised to uint8 by
  `gan.images.to_uint8` (round((x + 1) * 127.5), clipped to [0, 255]), the form of the
  real images.

  Args:
    sample: a `Sampler` (`conditional_sampler`).
    num_classes: C.
    per_class: images of each class, > 0.
    key: the key the classes' keys are folded from.

  Returns:
    (images (C * per_class, H, W, C) uint8, labels (C * per_class,) int32), class by class.
  """
  if per_class < 1:
    raise UserError(f"per_class={per_class} must be a positive number of generated images "
                    f"per class")
  images = []
  for c in range(num_classes):
    batch = np.asarray(sample(c, per_class, jax.random.fold_in(key, c)))
    if batch.ndim != 4 or batch.shape[0] != per_class:
      raise ValueError(f"the sampler gave {batch.shape} for {per_class} images of class {c}; "
                       f"it must give (num, H, W, C)")
    images.append(images_lib.to_uint8(batch))
  labels = np.repeat(np.arange(num_classes, dtype=np.int32), per_class)
  return np.concatenate(images), labels


def mix(real_images: np.ndarray, real_labels: np.ndarray, generated_images: np.ndarray,
        generated_labels: np.ndarray, *, mixing: str = "add") -> tuple[np.ndarray, np.ndarray]:
  """The training set of real and generated images, uint8 NHWC, with int32 labels.

  `add`: the union, [real; generated]: a batch drawn from it holds real images in the
  share n_r / (n_r + n_g) (with 10 real and 1,000 generated images per class, 1%).
  `balanced`: the real images repeated r = max(1, round(n_g / n_r)) times, then the
  generated ones: real images make about half of every batch, r n_r / (r n_r + n_g).

  Args:
    real_images, real_labels: (n_r, H, W, C) uint8 and (n_r,) labels.
    generated_images, generated_labels: (n_g, H, W, C) uint8 and (n_g,) labels.
    mixing: `add` or `balanced`.

  Returns:
    (images (n, H, W, C) uint8, labels (n,) int32), the real rows first.
  """
  if mixing not in MIXINGS:
    raise UserError(f"mixing={mixing!r} is not a mixing; choose one of {list(MIXINGS)}")
  real_images, generated_images = np.asarray(real_images), np.asarray(generated_images)
  for name, array in (("real", real_images), ("generated", generated_images)):
    if array.dtype != np.uint8 or array.ndim != 4:
      raise ValueError(f"the {name} images are {array.dtype} {array.shape}; mix takes uint8 "
                       f"(N, H, W, C) images (gan.images.to_uint8 for [-1, 1] samples)")
  if real_images.shape[1:] != generated_images.shape[1:]:
    raise UserError(f"the generated images are {generated_images.shape[1:]} but the real ones "
                    f"{real_images.shape[1:]}; give the generator of this data set")
  real_labels = np.asarray(real_labels, np.int32).reshape(-1)
  generated_labels = np.asarray(generated_labels, np.int32).reshape(-1)
  repeats = 1
  if mixing == "balanced" and len(real_images):
    repeats = max(1, int(round(len(generated_images) / len(real_images))))
  images = np.concatenate([np.tile(real_images, (repeats, 1, 1, 1)), generated_images])
  labels = np.concatenate([np.tile(real_labels, repeats), generated_labels])
  return images, labels


# ---------------------------------------------------------------- the classifier


def train_and_test(images: np.ndarray, labels: np.ndarray, dataset: data_lib.ImageDataset,
                  config: ml_collections.ConfigDict, *, seed: int, name: str = "train",
                  log: Optional[Callable[[str], None]] = None) -> float:
  """Trains the LeNet of `config` on (images, labels); its accuracy on `dataset`'s test split.

  The training set is an in-memory `ImageDataset` (test split: `dataset`'s), trained by
  `gan.eval.features.train_classifier` through the program (task `classifier`) with
  `config.seed = seed`; accuracy = 1/|test| sum 1[argmax_c logits_c = y] on the first
  `config.num_test_examples` test images (0: all).

  Args:
    images, labels: the training set, uint8 (N, H, W, C) and (N,) labels.
    dataset: the real data set (its test split is tested on).
    config: a `classifier_config()`; its `seed` is replaced by `seed`.
    seed: the classifier's initialisation and batch order.
    name: the training set's name (in the log line).
    log: where the classifier's own line goes (default: nowhere; the studies print theirs).

  Returns:
    The test accuracy in [0, 1].
  """
  if dataset.test_images.shape[0] == 0:
    raise UserError(f"{dataset.name} has no test split to measure accuracy on; give a data "
                    f"set with x_test and y_test")
  recipe = config.copy_and_resolve_references()
  recipe.seed = int(seed)
  recipe.num_train_examples = 0
  train = data_lib.ImageDataset(name, images, np.asarray(labels, np.int32),
                                dataset.test_images, dataset.test_labels)
  extractor = features_lib.train_classifier(train, recipe, log=log or (lambda line: None))
  return float(extractor.info["test_accuracy"])


def mean_std(values: Sequence[float]) -> dict[str, float]:
  """{"mean", "std"}: the mean and sample standard deviation (ddof=1; 0 for one value)."""
  values = np.asarray(values, np.float64)
  return {"mean": float(values.mean()),
          "std": float(values.std(ddof=1)) if values.size > 1 else 0.0}


def _summary(per_seed: dict[int, float]) -> dict[str, Any]:
  return {**mean_std(list(per_seed.values())),
          "per_seed": {str(seed): value for seed, value in per_seed.items()}}


def _check_seeds(seeds: Sequence[int]) -> list[int]:
  seeds = [int(s) for s in seeds]
  if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
    raise UserError(f"seeds={seeds} must be distinct non-negative ints, at least one")
  return seeds


def _protocol(dataset, config, seeds) -> dict[str, Any]:
  return {"dataset": dataset.name, "num_classes": dataset.num_classes,
          "image_shape": list(dataset.image_shape),
          "num_test": int(config.num_test_examples or dataset.test_images.shape[0]),
          "seeds": list(seeds),
          "classifier": {k: v for k, v in features_lib.recipe(config).items()
                         if k in _RECIPE_FIELDS}}


def _stderr(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the studies


def augmentation_study(dataset: data_lib.ImageDataset, sample: Sampler, *,
                       per_class: Sequence[int] = (10, 100), seeds: Sequence[int] = (0, 1, 2),
                       synthetic_per_class: int = 1000, mixing: str = "add",
                       config: Optional[ml_collections.ConfigDict] = None,
                       log: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
  """Test accuracy with few real labels, without and with generated images (module docstring).

  For every budget n in `per_class` and seed s: arm `real` trains on
  `labelled_subset(train_labels, n, s)`; arm `real+generated` on that subset mixed
  (`mix`, `mixing`) with `synthetic_per_class` generated images of each class (drawn
  once per seed, from `fold_in(key(s), c)`). Both arms take `config.num_steps` steps.

  Args:
    dataset: the real data set (train split: the labels; test split: the accuracy).
    sample: a `Sampler` of a conditional generator of `dataset`'s classes.
    per_class: the real label budgets n (each at most the smallest class's count).
    seeds: the seeds.
    synthetic_per_class: generated images per class.
    mixing: `add` or `balanced` (`mix`).
    config: the LeNet recipe (default `classifier_config()`).
    log: where progress lines go (default: stderr).

  Returns:
    {"protocol": {...}, "per_class": {"n": {"real": {"mean", "std", "per_seed"},
    "real+generated": {...}, "gain": {...} (per-seed differences), "num_train":
    {"real", "real+generated"}}}}.
  """
  config = classifier_config() if config is None else config
  log = log or _stderr
  seeds = _check_seeds(seeds)
  budgets = [int(n) for n in per_class]
  if not budgets:
    raise UserError("per_class is empty; give at least one label budget, e.g. 10")
  for n in budgets:
    check_label_budget(dataset.train_labels, n)
  if mixing not in MIXINGS:
    raise UserError(f"mixing={mixing!r} is not a mixing; choose one of {list(MIXINGS)}")
  if not isinstance(synthetic_per_class, (int, np.integer)) or synthetic_per_class < 1:
    raise UserError(f"synthetic_per_class={synthetic_per_class!r} must be a positive number of "
                    f"generated images per class")
  num_classes = dataset.num_classes
  labels = np.asarray(dataset.train_labels)
  results = {n: {"real": {}, "real+generated": {}, "num_train": {}} for n in budgets}
  for seed in seeds:
    generated = class_balanced_samples(sample, num_classes=num_classes,
                                       per_class=synthetic_per_class,
                                       key=jax.random.key(seed))
    for n in budgets:
      index = labelled_subset(labels, n, seed)
      real = (np.asarray(dataset.train_images[index]), labels[index])
      arms = {"real": real, "real+generated": mix(*real, *generated, mixing=mixing)}
      for arm, (images, arm_labels) in arms.items():
        accuracy = train_and_test(images, arm_labels, dataset, config, seed=seed,
                                  name=f"{dataset.name}:{arm}:{n}")
        results[n][arm][seed] = accuracy
        results[n]["num_train"][arm] = int(len(images))
        log(f"per_class {n}, seed {seed}, {arm} ({len(images)} images): test accuracy "
            f"{accuracy:.4f}")
  return {
      "protocol": {**_protocol(dataset, config, seeds), "per_class": budgets,
                   "synthetic_per_class": int(synthetic_per_class), "mixing": mixing},
      "per_class": {str(n): {
          "real": _summary(r["real"]),
          "real+generated": _summary(r["real+generated"]),
          "gain": _summary({s: r["real+generated"][s] - r["real"][s] for s in seeds}),
          "num_train": r["num_train"]} for n, r in results.items()},
  }


def classification_accuracy_score(dataset: data_lib.ImageDataset, sample: Sampler, *,
                                  num_per_class: int = 1000, seeds: Sequence[int] = (0, 1, 2),
                                  config: Optional[ml_collections.ConfigDict] = None,
                                  log: Optional[Callable[[str], None]] = None
                                  ) -> dict[str, Any]:
  """CAS: the real test accuracy of a LeNet trained only on generated images.

  For each seed s: `num_per_class` images of each class from `sample`
  (`class_balanced_samples`, key `key(s)`), a LeNet of `config` trained on them
  (seed s), its accuracy on `dataset`'s test split.

  Returns:
    {"mean", "std", "per_seed", "num_train", "protocol"}.
  """
  config = classifier_config() if config is None else config
  log = log or _stderr
  seeds = _check_seeds(seeds)
  per_seed = {}
  for seed in seeds:
    images, labels = class_balanced_samples(sample, num_classes=dataset.num_classes,
                                            per_class=num_per_class, key=jax.random.key(seed))
    per_seed[seed] = train_and_test(images, labels, dataset, config, seed=seed,
                                    name=f"{dataset.name}:generated")
    log(f"CAS seed {seed} ({len(images)} generated images): test accuracy {per_seed[seed]:.4f}")
  return {**_summary(per_seed), "num_train": int(num_per_class * dataset.num_classes),
          "protocol": {**_protocol(dataset, config, seeds), "num_per_class": int(num_per_class)}}


def real_data_baseline(dataset: data_lib.ImageDataset, *, num_per_class: int = 1000,
                       seeds: Sequence[int] = (0, 1, 2),
                       config: Optional[ml_collections.ConfigDict] = None,
                       log: Optional[Callable[[str], None]] = None) -> dict[str, Any]:
  """CAS's "real data" row: the same LeNet trained on `num_per_class` real images per class.

  For each seed s: `labelled_subset(train_labels, num_per_class, s)`, a LeNet of
  `config` trained on it (seed s), its accuracy on `dataset`'s test split.

  Returns:
    {"mean", "std", "per_seed", "num_train", "protocol"}.
  """
  config = classifier_config() if config is None else config
  log = log or _stderr
  seeds = _check_seeds(seeds)
  labels = np.asarray(dataset.train_labels)
  check_label_budget(labels, num_per_class, argument="num_per_class")
  per_seed = {}
  for seed in seeds:
    index = labelled_subset(labels, num_per_class, seed)
    per_seed[seed] = train_and_test(np.asarray(dataset.train_images[index]), labels[index],
                                    dataset, config, seed=seed, name=f"{dataset.name}:real")
    log(f"real data seed {seed} ({len(index)} real images): test accuracy "
        f"{per_seed[seed]:.4f}")
  return {**_summary(per_seed), "num_train": int(num_per_class * dataset.num_classes),
          "protocol": {**_protocol(dataset, config, seeds), "num_per_class": int(num_per_class)}}
