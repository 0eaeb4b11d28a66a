r"""Scores a run's generator: FID, KID, IS, precision/recall, density/coverage.

`evaluate_run(workdir)` (the command `python -m gan.cli.evaluate --workdir=W`) draws
`num_samples` images from the newest (or a chosen) checkpoint with a fixed
evaluation key (`jax.random.key(sample_seed)`, exactly the images `python -m
gan.cli.sample --seed=sample_seed --num=num_samples` gives), quantises them to uint8
like the real images, embeds both sets with a feature extractor
(`gan.eval.features`), and returns one JSON-able dict:

  {"workdir", "step", "fid", "kid", "kid_std", "inception_score",
   "inception_score_std", "precision", "recall", "density", "coverage",
   "protocol": {extractor {name, checksum, ...}, n_real, n_fake, real_split,
                real_data, sample_seed, sample_key, kid_subsets, kid_subset_size, ...}}

Everything is a function of (checkpoint, data, extractor, protocol), so the same
command prints the same numbers. The real images are the first `num_real` of the
split (`train[:10000]`), in the data set's stored order.

The extractor (`choose_extractor`) is a saved one (written by `python -m
experiments.train_classifier`), or one of two kinds, by default chosen by the data:
`inception` for RGB data (CIFAR-10: the standard FID Inception-v3 of
`gan.eval.inception`, 2048-d pool3 features), `lenet` for grey MNIST-like data (the
cached LeNet of the real data set, trained on first use and checked on its test
split: `reference_extractor`, at least 98% accuracy, so a data set without a test
split, such as the offline `mnist_5k`, is refused with the fix). The Inception
network has no classifier: with it the Inception Score and the classifier
confidences are null (IS stays on the project's own classifiers), and the real
images' features, with their mean and covariance, are computed once and cached
(`reference_statistics`), keyed by the images' fingerprint and the extractor's
checksum.
The protocol refuses fewer real images than samples rather than scoring against a
smaller set. Progress goes to stderr. During training, `evaluation_hook` computes
the same scores every `config.eval.every` steps (`config.eval.num_samples` samples,
the same key), and the program logs them beside the losses.
"""

import dataclasses
import hashlib
import json
import os
import sys
import time
from typing import Any, Optional

import jax
import ml_collections
import numpy as np

from gan import checkpointing, rundir
from gan.backends import machine_kind
from gan import data as data_lib
from gan import images as images_lib
from gan.errors import UserError
from gan.eval import conditional as conditional_lib
from gan.eval import features as features_lib
from gan.program import Hook
from gan.metrics.confidence import classifier_confidence
from gan.metrics.frechet import feature_statistics, fid as fid_fn
from gan.metrics.inception_score import inception_score
from gan.metrics.kernel import TORCH_FIDELITY_SEED, kid as kid_fn
from gan.metrics.manifold import density_coverage, precision_recall

SPLITS = ("train", "test")
# The least test accuracy of a cached extractor that scores are computed with.
MIN_TEST_ACCURACY = 0.98
METRICS = ("fid", "kid", "kid_std", "inception_score", "inception_score_std", "precision",
           "recall", "density", "coverage", "mean_confidence", "confident_share",
           "class_entropy")
# The metrics of an extractor's logits: None for one without a classifier (Inception).
CLASSIFIER_METRICS = ("inception_score", "inception_score_std", "mean_confidence",
                      "confident_share", "class_entropy")
# The extractor kinds `choose_extractor` makes (besides a saved extractor's directory).
EXTRACTOR_CHOICES = ("lenet", "inception")
NO_CLASSIFIER_NOTE = ("inception_score and the classifier confidences are null: the "
                      "Inception network has no classifier here; IS stays on the project's "
                      "own classifiers (extractor=lenet)")


@dataclasses.dataclass(frozen=True)
class EvalProtocol:
  """How a score was computed; recorded with it.

  Attributes:
    num_fake: generated samples, drawn from `jax.random.key(sample_seed)`.
    num_real: real images, the first `num_real` of `real_split`.
    real_split: `train` or `test`.
    sample_seed: seed of the evaluation key.
    kid_subsets: KID's number of subset pairs.
    kid_subset_size: KID's subset size (at most min(num_real, num_fake)).
    kid_seed: seed of KID's subset draws (torch-fidelity's 2020).
    is_splits: Inception Score splits.
    is_seed: seed of the Inception Score's shuffle (torch-fidelity's 2020).
    pr_k: k of precision/recall.
    dc_k: k of density/coverage.
  """

  num_fake: int
  num_real: int
  real_split: str = "train"
  sample_seed: int = 0
  kid_subsets: int = 100
  kid_subset_size: int = 1000
  kid_seed: int = TORCH_FIDELITY_SEED
  is_splits: int = 10
  is_seed: int = TORCH_FIDELITY_SEED
  pr_k: int = 3
  dc_k: int = 5

  def describe(self) -> dict[str, Any]:
    """The protocol's fields as they go into the JSON."""
    return {
        "n_real": self.num_real,
        "n_fake": self.num_fake,
        "real_split": f"{self.real_split}[:{self.num_real}]",
        "sample_seed": self.sample_seed,
        "sample_key": (f"jax.random.key({self.sample_seed}); samples [1000 i, 1000 (i + 1)) "
                       f"from noise N(0, I) drawn with fold_in(key, i) (gan.build.Run.sample)"),
        "fake_images": "uint8, round((G(z) + 1) * 127.5) clipped, as the real images",
        "generator_weights": "EMA when the run keeps one, else the generator's params",
        "kid_subsets": self.kid_subsets,
        "kid_subset_size": self.kid_subset_size,
        "kid_seed": self.kid_seed,
        "is_splits": self.is_splits,
        "is_seed": self.is_seed,
        "pr_k": self.pr_k,
        "dc_k": self.dc_k,
    }


def make_protocol(*, num_fake: int, num_real: Optional[int], split_size: int,
                  real_split: str = "train", sample_seed: int = 0, kid_subsets: int = 100,
                  kid_subset_size: int = 1000, is_splits: int = 10, pr_k: int = 3,
                  dc_k: int = 5) -> EvalProtocol:
  """An `EvalProtocol`, checked: num_real defaults to num_fake (the split must hold
  as many: scores against fewer real images are not comparable), and the KID subset
  size is capped at min(num_real, num_fake)."""
  def positive(name, value):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
      raise UserError(f"{name}={value!r} must be a positive integer")

  if real_split not in SPLITS:
    raise UserError(f"real_split={real_split!r}; choose one of {list(SPLITS)}")
  if split_size == 0:
    raise UserError(f"the data set has no {real_split} split; use real_split=train")
  positive("num_samples", num_fake)
  if num_real is None and num_fake > split_size:
    raise UserError(f"the {real_split} split holds {split_size} images, fewer than the "
                    f"{num_fake} samples to compare with; score against the full data set "
                    f"(dataset=PATH), or set num_real={split_size} knowing that the scores "
                    f"are not comparable with those of {num_fake} real images")
  num_real = num_fake if num_real is None else num_real
  positive("num_real", num_real)
  if num_real > split_size:
    raise UserError(f"num_real={num_real} exceeds the {split_size} images of the "
                    f"{real_split} split; use at most {split_size}")
  for name, value in (("kid_subsets", kid_subsets), ("kid_subset_size", kid_subset_size),
                      ("is_splits", is_splits), ("pr_k", pr_k), ("dc_k", dc_k)):
    positive(name, value)
  smallest = min(num_real, num_fake)
  if smallest < max(pr_k, dc_k) + 1 or smallest < is_splits or smallest < 2:
    raise UserError(f"{smallest} samples are too few for k={max(pr_k, dc_k)} neighbours and "
                    f"{is_splits} IS splits; use num_samples and num_real of at least "
                    f"{max(pr_k + 1, dc_k + 1, is_splits, 2)}")
  return EvalProtocol(num_fake=int(num_fake), num_real=int(num_real), real_split=real_split,
                      sample_seed=int(sample_seed), kid_subsets=int(kid_subsets),
                      kid_subset_size=int(min(kid_subset_size, smallest)),
                      is_splits=int(is_splits), pr_k=int(pr_k), dc_k=int(dc_k))


def real_images(dataset: data_lib.ImageDataset, protocol: EvalProtocol) -> np.ndarray:
  """The real images of `protocol`: the first `num_real` of its split, uint8 NHWC."""
  split = dataset.train_images if protocol.real_split == "train" else dataset.test_images
  return split[:protocol.num_real]


def score(real_features: np.ndarray, fake_features: np.ndarray, fake_logits: np.ndarray,
          protocol: EvalProtocol, *, progress: bool = False) -> dict[str, float]:
  """Every metric of `gan.metrics` from the two feature sets and the fakes' logits.

  fid                             `gan.metrics.fid` (covariances / (N - 1))
  kid, kid_std                    `gan.metrics.kid`, mean and std of the subsets' MMD^2_u
  inception_score(_std)           `gan.metrics.inception_score` of the fakes' logits
  precision, recall               `gan.metrics.precision_recall`, k = pr_k
  density, coverage               `gan.metrics.density_coverage`, k = dc_k
  mean_confidence, confident_share, class_entropy
                                  `gan.metrics.confidence` of the fakes' logits (at 0.9)

  The last five (`CLASSIFIER_METRICS`) are None when the logits have no columns (an
  extractor without a classifier, such as the FID Inception network).

  Args:
    real_features: (N_r, d) features of the real images.
    fake_features: (N_f, d) features of the generated images.
    fake_logits: (N_f, C) the extractor's logits of the generated images; C may be 0.
    protocol: the `EvalProtocol` (KID subsets, IS splits, the k's).
    progress: show which metric is being computed on stderr.

  Returns:
    {metric name: float or None} with the names of `METRICS`.
  """
  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
  has_classifier = np.shape(fake_logits)[-1] > 0
  out = dict.fromkeys(CLASSIFIER_METRICS)
  steps = ("fid", "kid", "inception_score", "precision/recall", "density/coverage")
  with tqdm(total=len(steps), desc="metrics", leave=False, disable=not progress,
            file=sys.stderr, dynamic_ncols=True) as bar:
    def advance(name):
      bar.set_postfix_str(name, refresh=True)

    advance("fid")
    out["fid"] = fid_fn(real_features, fake_features)
    bar.update(1)
    advance("kid")
    out["kid"], out["kid_std"] = kid_fn(real_features, fake_features,
                                        num_subsets=protocol.kid_subsets,
                                        subset_size=protocol.kid_subset_size,
                                        seed=protocol.kid_seed)
    bar.update(1)
    advance("inception_score")
    if has_classifier:
      out["inception_score"], out["inception_score_std"] = inception_score(
          fake_logits, splits=protocol.is_splits, seed=protocol.is_seed)
    bar.update(1)
    advance("precision/recall")
    out["precision"], out["recall"] = precision_recall(real_features, fake_features,
                                                       k=protocol.pr_k)
    bar.update(1)
    advance("density/coverage")
    out["density"], out["coverage"] = density_coverage(real_features, fake_features,
                                                       k=protocol.dc_k)
    bar.update(1)
  if has_classifier:
    out.update(classifier_confidence(fake_logits))
  return {name: None if out[name] is None else float(out[name]) for name in METRICS}


def evaluate_images(extractor: features_lib.FeatureExtractor, real: np.ndarray,
                    fake: np.ndarray, protocol: EvalProtocol, *,
                    progress: bool = False) -> dict[str, float]:
  """`score` of two sets of uint8 NHWC images, e.g. a test split against the training
  split (the floor a perfect generator reaches) or samples saved by gan.cli.sample.

  Args:
    extractor: the `FeatureExtractor`.
    real: (N_r, H, W, C) uint8 real images.
    fake: (N_f, H, W, C) uint8 images to score.
    protocol: the `EvalProtocol` (its num_real/num_fake must be N_r/N_f).
    progress: progress bars on stderr.

  Returns:
    {metric name: float}, see `score`.
  """
  if (len(real), len(fake)) != (protocol.num_real, protocol.num_fake):
    raise UserError(f"got {len(real)} real and {len(fake)} fake images but the protocol "
                    f"says {protocol.num_real} and {protocol.num_fake}")
  real_features = reference_statistics(extractor, real, progress=progress)["features"]
  fake_features, fake_logits = features_lib.extract(extractor, fake, progress=progress,
                                                    desc="fake features")
  return score(real_features, fake_features, fake_logits, protocol, progress=progress)


def generated_images(run, state, protocol: EvalProtocol) -> np.ndarray:
  """`protocol.num_fake` samples of the generator as uint8 NHWC, from the fixed key."""
  samples = run.sample(state, protocol.num_fake, jax.random.key(protocol.sample_seed))
  return images_lib.to_uint8(samples)


def evaluate_generator(run, state, extractor: features_lib.FeatureExtractor,
                       real_features: np.ndarray, protocol: EvalProtocol, *,
                       progress: bool = False) -> dict[str, float]:
  """The scores of `state`'s generator: samples -> uint8 -> features -> `score`.

  Args:
    run: the run (`gan.build.Run`: its task's sampler and `generate`).
    state: the state to evaluate (EMA weights when it has them).
    extractor: the `FeatureExtractor`.
    real_features: features of `real_images(dataset, protocol)` by `extractor`.
    protocol: the `EvalProtocol`.
    progress: progress bars on stderr.

  Returns:
    {metric name: float}, see `score`.
  """
  fake = generated_images(run, state, protocol)
  fake_features, fake_logits = features_lib.extract(extractor, fake, progress=progress,
                                                    desc="fake features")
  return score(real_features, fake_features, fake_logits, protocol, progress=progress)


def reference_statistics_dir() -> str:
  """`$GAN_CACHE_DIR/reference_statistics`, else `~/.cache/gan/reference_statistics`."""
  return os.path.join(features_lib.cache_root(), "reference_statistics")


def reference_statistics(extractor: features_lib.FeatureExtractor, images: np.ndarray, *,
                         fingerprint: Optional[str] = None, name: str = "images",
                         cache_dir: Optional[str] = None,
                         progress: bool = False) -> dict[str, Any]:
  """Features of real `images`, with their mean and covariance, cached where worth it.

  mu = 1/N sum_n f(x_n),  S = 1/(N - 1) sum_n (f(x_n) - mu)(f(x_n) - mu)^T
  (`gan.metrics.feature_statistics`, float64), and the features f(x_n) themselves
  (float32, N x d), which KID, precision/recall and density/coverage need.

  An extractor with `cache_real_features` (the Inception network: minutes per
  thousand images on CPU) computes them once per (images, extractor): the entry
  `<name>-<N>-<16 hex>.npz` in `cache_dir` (default `reference_statistics_dir()`),
  the hex the sha256 of the images' fingerprint and the extractor's checksum. Other
  extractors compute the features every time and cache nothing.

  Args:
    extractor: the `FeatureExtractor`.
    images: (N, H, W, C) uint8 real images.
    fingerprint: `gan.eval.features.dataset_fingerprint` of the images (and labels);
      default: of the images alone.
    name: the data set's name, for the entry's file name (e.g. `cifar10.npz`).
    cache_dir: where the entries live.
    progress: progress bar on stderr.

  Returns:
    {"features": (N, d) float32, "mean" and "covariance": float64 or None when not
    cached, "entry": the cache entry's file name or None}.
  """
  if not getattr(extractor, "cache_real_features", False):
    real_features, _ = features_lib.extract(extractor, images, progress=progress,
                                            desc="real features")
    return {"features": real_features, "mean": None, "covariance": None, "entry": None}
  fingerprint = fingerprint or features_lib.dataset_fingerprint(
      images, np.zeros((0,), np.int32))
  key = hashlib.sha256(f"{fingerprint}|{extractor.checksum}".encode()).hexdigest()[:16]
  stem = name[:-4] if name.endswith(".npz") else name
  entry = f"{stem}-{len(images)}-{key}.npz"
  path = os.path.join(cache_dir or reference_statistics_dir(), entry)
  if os.path.isfile(path):
    try:
      with np.load(path, allow_pickle=False) as cached:
        stats = {k: cached[k] for k in ("features", "mean", "covariance")}
        stored = (str(cached["fingerprint"]), str(cached["extractor_checksum"]))
    except (OSError, ValueError, KeyError, EOFError) as error:
      raise UserError(f"cannot read the cached reference statistics {path} "
                      f"({type(error).__name__}); delete the file to compute them again"
                      ) from error
    if stored != (fingerprint, extractor.checksum) or stats["features"].shape != (
        len(images), extractor.feature_dim):
      raise UserError(f"the cached reference statistics {path} are not those of these images "
                      f"and this extractor; delete the file to compute them again")
    return {**stats, "entry": entry}
  real_features, _ = features_lib.extract(extractor, images, progress=progress,
                                          desc="real features")
  mean, covariance = feature_statistics(real_features)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = f"{path}.tmp-{os.getpid()}.npz"
  np.savez(tmp, features=real_features, mean=mean, covariance=covariance,
           fingerprint=fingerprint, extractor_checksum=extractor.checksum,
           extractor=json.dumps(extractor.describe(), sort_keys=True))
  os.replace(tmp, path)
  return {"features": real_features, "mean": mean, "covariance": covariance, "entry": entry}


def default_extractor_kind(image_shape) -> str:
  """`inception` for RGB images (C = 3), `lenet` for grey ones."""
  return "inception" if tuple(image_shape)[-1] == 3 else "lenet"


def choose_extractor(dataset: data_lib.ImageDataset, *, kind: Optional[str] = None,
                     extractor_dir: Optional[str] = None,
                     recipe: Optional[ml_collections.ConfigDict] = None,
                     progress: bool = True) -> features_lib.FeatureExtractor:
  """The extractor to score `dataset`'s images with.

  A saved extractor (`extractor_dir`) when given; else `kind`: `inception` (the FID
  Inception-v3, `gan.eval.inception.inception_extractor`: weights fetched once and
  checked) or `lenet` (`reference_extractor`: the data set's cached LeNet); None
  picks `default_extractor_kind(dataset.image_shape)`.
  """
  if extractor_dir is not None:
    return features_lib.load_extractor(extractor_dir)
  kind = kind or default_extractor_kind(dataset.image_shape)
  if kind not in EXTRACTOR_CHOICES:
    raise UserError(f"extractor={kind!r} is not a kind; choose one of "
                    f"{list(EXTRACTOR_CHOICES)} or give a saved extractor's directory")
  if kind == "inception":
    from gan.eval import inception  # pylint: disable=g-import-not-at-top
    return inception.inception_extractor()
  return reference_extractor(dataset, recipe=recipe, progress=progress)


def reference_extractor(dataset: data_lib.ImageDataset, *,
                        recipe: Optional[ml_collections.ConfigDict] = None,
                        min_accuracy: float = MIN_TEST_ACCURACY,
                        progress: bool = True) -> features_lib.FeatureExtractor:
  """The cached LeNet of `dataset` (trained on first use), checked on its test split.

  Scores are comparable only between equal extractors, so the extractor must be
  a good classifier of the data: its test accuracy must reach `min_accuracy`. A data
  set without a test split (the offline `mnist_5k`) cannot show that, and is refused
  with the fix: score against the full data set.
  """
  if dataset.test_images.shape[0] == 0:
    raise UserError(f"the data set {dataset.name} has no test split, so its extractor's "
                    f"accuracy cannot be checked, and scores on it are not comparable with "
                    f"the docs'; score against the full data set (dataset=PATH, e.g. "
                    f"../shared/data/mnist.npz), or give a trained extractor=DIR")
  recipe = ml_collections.ConfigDict(recipe or features_lib.classifier_config())
  recipe.progress_bar = bool(recipe.progress_bar and progress)
  extractor = features_lib.cached_extractor(dataset, recipe)
  accuracy = extractor.describe().get("test_accuracy")
  if accuracy is None or accuracy < min_accuracy:
    raise UserError(f"the extractor {extractor.name} classifies {accuracy} of {dataset.name}'s "
                    f"test images correctly, below {min_accuracy}; its features would make "
                    f"poor scores: train it longer (extractor_config.num_epochs=8) or on more "
                    f"data")
  return extractor


def evaluation_hook(run, *, extractor: Optional[features_lib.FeatureExtractor] = None,
                    progress: Optional[bool] = None) -> Hook:
  """A hook that scores the generator every `config.eval.every` steps.

  Uses `config.eval.num_samples` samples from the fixed evaluation key
  (`jax.random.key(0)`) against the first as many training images, with the
  default KID/IS/PR/DC settings: what `python -m gan.cli.evaluate --workdir=W
  --step=S --dataset=D` prints for the checkpoint of step S on the same data. The
  real features are computed once, here.

  Args:
    run: the run (its config, data set and sampler).
    extractor: default: `choose_extractor(run.data)` (grey data: the cached LeNet,
      trained on first use; RGB: the FID Inception, whose real features are cached).
    progress: progress bars on stderr (default: `config.run.progress_bar`).

  Returns:
    A `gan.program.Hook` returning {metric name: float}.
  """
  config, dataset = run.config, run.data
  if conditional_lib.has_cluster_labels(config):
    # Scored as any run on this data set: its own labels choose (and train) the
    # extractor, not the clusters the run was trained on.
    dataset = _load_real_data(config.dataset, config, from_flag=False)
  progress = bool(config.run.progress_bar) if progress is None else progress
  if extractor is None:
    extractor = choose_extractor(dataset, progress=progress)
  protocol = make_protocol(num_fake=config.eval.num_samples, num_real=None,
                           split_size=dataset.num_train)
  reals = real_images(dataset, protocol)
  real_features = reference_statistics(
      extractor, reals, name=dataset.name, progress=progress,
      fingerprint=features_lib.dataset_fingerprint(
          reals, dataset.train_labels[:len(reals)]))["features"]
  if jax.process_index() == 0:
    print(f"Evaluating every {config.eval.every} steps: {protocol.num_fake} samples vs "
          f"train[:{protocol.num_real}], extractor {extractor.name} "
          f"(checksum {extractor.checksum[:16]}).", file=sys.stderr, flush=True)

  def evaluate_step(step: int, state) -> dict[str, float]:
    del step
    metrics = evaluate_generator(run, state, extractor, real_features, protocol,
                                 progress=progress)
    return {name: value for name, value in metrics.items() if value is not None}

  return Hook(every=config.eval.every, fn=evaluate_step, name="evaluation")


def _load_real_data(spec: str, config, from_flag: bool) -> data_lib.ImageDataset:
  try:
    data = data_lib.load(spec, tfds_data_dir=config.data.tfds_data_dir or None)
  except UserError as error:
    if from_flag:
      raise
    raise UserError(f"cannot load the run's data set {spec!r} from here ({error}); pass "
                    f"--dataset=PATH.npz or the TFDS name it was trained on") from error
  if not isinstance(data, data_lib.ImageDataset):
    raise UserError(f"{spec!r} is drawn on the device, not a data set of images to score "
                    f"against; pass --dataset=PATH.npz")
  return data


def evaluate_run(workdir: str, *, step: Optional[int] = None, num_samples: Optional[int] = None,
                 num_real: Optional[int] = None, real_split: str = "train", sample_seed: int = 0,
                 extractor_dir: Optional[str] = None, dataset: Optional[str] = None,
                 kid_subsets: int = 100, kid_subset_size: int = 1000, is_splits: int = 10,
                 pr_k: int = 3, dc_k: int = 5,
                 extractor_config: Optional[ml_collections.ConfigDict] = None,
                 extractor: Optional[str] = None, per_class: int = 0, per_code: int = 0,
                 progress: bool = True) -> dict[str, Any]:
  """The JSON-able evaluation of checkpoint `step` (default newest) of the run in `workdir`.

  Args:
    workdir: a training run's directory.
    step: the checkpoint's step; None = newest.
    num_samples: generated samples; None = the run's `eval.num_samples`.
    num_real: real images; None = num_samples (the split must hold as many).
    real_split: `train` or `test`.
    sample_seed: seed of the evaluation key.
    extractor_dir: a saved extractor; None = the kind `extractor`.
    dataset: the real data; None = the run's `config.dataset`.
    kid_subsets, kid_subset_size, is_splits, pr_k, dc_k: see `EvalProtocol`.
    extractor_config: the recipe when the cached extractor must be trained.
    extractor: `inception`, `lenet` or None (by the data: `default_extractor_kind`);
      see `choose_extractor`.
    per_class: > 0, for a conditional run: also the classifier's accuracy on, and the
      FID of, this many samples of each class (`gan.eval.conditional`), as "per_class".
    per_code: > 0, for a run with discrete latent codes (InfoGAN): the classifier's
      reading of this many samples of each code (`gan.eval.conditional`), as "per_code".
    progress: progress on stderr.

  Returns:
    {"workdir", "step", every metric (the classifier's None without one), "protocol":
    {...}} (with `reference_statistics`, the cache entry, when the real features
    were cached), and "per_class" and "per_code" when asked for.
  """
  if not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist; give a training run's workdir")
  config = rundir.load_run_config(workdir)
  if per_class and conditional_lib.has_cluster_labels(config):
    raise UserError(f"the run in {workdir!r} was trained on k-means clusters, not the data "
                    f"set's classes, so per-class scores do not apply; use per_code to read "
                    f"what each cluster draws")
  if extractor_dir is not None and not os.path.isfile(
      os.path.join(extractor_dir, features_lib.EXTRACTOR_FILE)):
    features_lib.load_extractor(extractor_dir)  # Raises the one-line error.
  if extractor is not None and extractor not in EXTRACTOR_CHOICES:
    raise UserError(f"extractor={extractor!r} is not a kind; choose one of "
                    f"{list(EXTRACTOR_CHOICES)} or give a saved extractor's directory")
  checkpointer = checkpointing.Checkpointer(workdir, create=False)
  steps = checkpointer.all_steps()
  checkpointer.close()
  if not steps:
    raise UserError(f"no checkpoint in {checkpointing.checkpoint_dir(workdir)}; train first, "
                    f"or give the workdir of a run that saved one")
  if step is not None and step not in steps:
    raise UserError(f"no checkpoint at step {step} in {workdir!r}; available: {steps}")
  real = _load_real_data(dataset or config.dataset, config, from_flag=dataset is not None)
  run, state = rundir.restore(workdir, step)
  if run.generate is None:
    raise UserError(f"the run in {workdir!r} (task {config.task}) does not generate samples; "
                    f"there is nothing to score")
  if tuple(real.image_shape) != tuple(run.spec.shape):
    raise UserError(f"the real images are {real.image_shape} but the run generates "
                    f"{tuple(run.spec.shape)}; pass --dataset= the data set it was trained on")
  split_size = (real.num_train if real_split == "train" else real.test_images.shape[0])
  protocol = make_protocol(
      num_fake=config.eval.num_samples if num_samples is None else num_samples,
      num_real=num_real,
      split_size=split_size, real_split=real_split, sample_seed=sample_seed,
      kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, is_splits=is_splits,
      pr_k=pr_k, dc_k=dc_k)
  if per_class and not run.task.parts.get("num_classes"):
    raise UserError(f"per-class scores need a class-conditional run, and the run in "
                    f"{workdir!r} (task {config.task}) takes no label; drop per_class")
  if per_code and not conditional_lib.has_codes(config):
    raise UserError(f"per-code readings need a GAN with discrete codes or cluster labels, "
                    f"and the run in {workdir!r} has neither config.model.latent_codes nor "
                    f"config.data.cluster_labels; drop per_code")
  network = choose_extractor(real, kind=extractor, extractor_dir=extractor_dir,
                             recipe=extractor_config, progress=progress)
  if (per_class or per_code) and not network.num_classes:
    raise UserError(f"per-class and per-code readings need an extractor that classifies; "
                    f"{network.name} has no classifier: use extractor=lenet or a saved one")
  reals = real_images(real, protocol)
  real_labels = (real.train_labels if real_split == "train" else real.test_labels)[:len(reals)]
  fingerprint = features_lib.dataset_fingerprint(reals, real_labels)
  stats = reference_statistics(network, reals, fingerprint=fingerprint, name=real.name,
                               progress=progress)
  metrics = evaluate_generator(run, state, network, stats["features"], protocol,
                               progress=progress)
  if per_class:
    metrics["per_class"] = conditional_lib.per_class_scores(
        run, state, network, real.train_images, real.train_labels, per_class=per_class,
        seed=sample_seed, progress=progress)
  if per_code:
    metrics["per_code"] = conditional_lib.per_code_readings(
        run, state, network, per_code=per_code, seed=sample_seed, progress=progress)
  return {
      "workdir": os.path.abspath(workdir),
      "step": int(state.step),
      **metrics,
      "protocol": {
          "extractor": network.describe(),
          **protocol.describe(),
          # sha256 of the n_real images (and labels) compared with.
          "real_data": {"dataset": real.name, "fingerprint": fingerprint},
          **_statistics_note(stats, network),
          "model": config.model.get("name", config.task),
          "machine": machine_kind(),
      },
  }


def _statistics_note(stats: dict[str, Any], extractor) -> dict[str, Any]:
  """The protocol's entries on cached real statistics and on missing classifier metrics."""
  note = {}
  if stats["entry"] is not None:
    note["reference_statistics"] = (f"{stats['entry']} in the reference_statistics cache "
                                    f"(features, mean, covariance of real_data)")
  if not extractor.num_classes:
    note["classifier_metrics"] = NO_CLASSIFIER_NOTE
  return note


def evaluate_floor(dataset: str, *, num_samples: int = 10000,
                   extractor_dir: Optional[str] = None,
                   extractor_config: Optional[ml_collections.ConfigDict] = None,
                   extractor: Optional[str] = None, progress: bool = True,
                   **protocol_args) -> dict[str, Any]:
  """The floor of the scores: the test split scored as if generated, against the training split.

  What a perfect generator that does not copy its training set would reach, under the
  protocol `evaluate_run` uses (test[:num_samples] in place of the samples,
  train[:num_samples] as the real images), so a run's score can be read against it.
  """
  real = _load_real_data(dataset, ml_collections.ConfigDict({"data": {"tfds_data_dir": ""}}),
                         from_flag=True)
  protocol = make_protocol(num_fake=num_samples, num_real=None, split_size=real.num_train,
                           **protocol_args)
  if real.test_images.shape[0] == 0:
    raise UserError(f"{real.name} has no test split to stand in for a perfect generator; give "
                    f"the full data set (dataset=PATH, e.g. ../shared/data/mnist.npz)")
  if real.test_images.shape[0] < num_samples:
    raise UserError(f"the test split of {real.name} holds {real.test_images.shape[0]} images, "
                    f"fewer than num_samples={num_samples}; lower num_samples")
  network = choose_extractor(real, kind=extractor, extractor_dir=extractor_dir,
                             recipe=extractor_config, progress=progress)
  reals, fakes = real_images(real, protocol), real.test_images[:num_samples]
  fingerprint = features_lib.dataset_fingerprint(reals, real.train_labels[:len(reals)])
  stats = reference_statistics(network, reals, fingerprint=fingerprint, name=real.name,
                               progress=progress)
  fake_features, fake_logits = features_lib.extract(network, fakes, progress=progress,
                                                    desc="fake features")
  metrics = score(stats["features"], fake_features, fake_logits, protocol, progress=progress)
  return {
      "floor": f"{real.name} test[:{num_samples}] scored against train[:{protocol.num_real}]",
      **metrics,
      "protocol": {"extractor": network.describe(), **protocol.describe(),
                   "real_data": {"dataset": real.name, "fingerprint": fingerprint},
                   **_statistics_note(stats, network),
                   "machine": machine_kind()},
  }
