"""The batch of every step, a pure function of (seed, step): on the host or on the device.

A batch is a dict of named arrays (`image`, `label`, `source`, ...), each of shape
(sub_batches, B, ...): a step that updates its discriminator d times takes d
sub-batches. Two kinds of source fill them:

* `HostBatches`, for data sets held or streamed on the host (`gan.data.datasets`):
  batch t holds the examples `batch_indices(N, sub_batches * B, seed, t)`, one
  permutation per epoch drawn from (seed, epoch); every named array (the images and
  their labels, or a translation's sources and targets) is indexed with the same rows.
  The position of the data iterator is therefore the step, which the checkpoint
  holds: a resumed run reads exactly the batches the uninterrupted one would. Each
  process reads only the rows its devices hold.
* `UnpairedBatches`, for two unpaired image domains (`gan.data.pairs`): domain a
  takes exactly the rows `HostBatches` would, domain b rows of its own permutation
  stream, so the two orders are independent.
* Sources drawn on the device inside the jitted step from (data key, step): the
  2-D Gaussian mixtures and Stacked MNIST (`MixtureData`, `StackedMNISTData`), whose
  data set is the whole distribution rather than a fixed sample. Their `arrays`
  (e.g. the MNIST digits) stay on the device and are passed to every call.

`DataSpec` is what the builder needs to know of the data: the shape of one sample,
its kind and its classes; `data.json` in a workdir records it, so a run can be
restored without its data.
"""

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan.data import datasets, mixtures, pairs
from gan.errors import ConfigError, UserError

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class DataSpec:
  """What a task needs to know about its data.

  Attributes:
    name: the data set's name.
    shape: the shape of one sample: (H, W, C) images, (D,) points.
    num_classes: label classes (max label + 1: 1 for a data set without labels, whose
      labels are all 0; 0 when there are none at all).
    kind: `images`, `points`, `pairs` (a `PairedDataset`: `shape` is a target's) or
      `unpaired` (an `UnpairedDataset`: `shape` is an image of domain b).
    drawn_on_device: the batches are drawn inside the step (`DeviceBatches`).
    source_shape: the shape of a translation's input (a pair's source, an image of
      domain a); () for other data.
    label_frequencies: the share of each label in the training data where a
      conditional generator should draw labels at those rates rather than uniformly
      (k-means cluster labels, `gan.data.clusters`); () otherwise.
  """

  name: str
  shape: tuple[int, ...]
  num_classes: int = 0
  kind: str = "images"
  drawn_on_device: bool = False
  source_shape: tuple[int, ...] = ()
  label_frequencies: tuple[float, ...] = ()

  def to_json(self) -> dict[str, Any]:
    """The fields as JSON values, as data.json holds them.

    `source_shape` and `label_frequencies` are written only where there are some, so
    the data.json of other data is what it always was.
    """
    values = {"dataset": self.name, "image_shape": list(self.shape),
              "num_classes": self.num_classes, "kind": self.kind,
              "drawn_on_device": self.drawn_on_device}
    if self.source_shape:
      values["source_shape"] = list(self.source_shape)
    if self.label_frequencies:
      values["label_frequencies"] = list(self.label_frequencies)
    return values

  @classmethod
  def from_json(cls, values: dict[str, Any]) -> "DataSpec":
    return cls(name=values["dataset"], shape=tuple(values["image_shape"]),
               num_classes=int(values.get("num_classes", 0)),
               kind=values.get("kind", "images"),
               drawn_on_device=bool(values.get("drawn_on_device", False)),
               source_shape=tuple(values.get("source_shape", ())),
               label_frequencies=tuple(values.get("label_frequencies", ())))


# ------------------------------------------------------------------- host data


def batch_indices(num_examples: int, batch_size: int, seed: int, step: int,
                  stream: int = 0) -> np.ndarray:
  """The example indices of batch `step`: a pure function of its arguments.

  Epoch e is the permutation drawn by numpy's PCG64 from the seed sequence
  (seed, e), or (seed, e, stream) for a stream > 0 (the second domain of unpaired
  data draws its own order); an epoch holds floor(N / batch_size) batches (the
  remainder is dropped and reshuffled into the next epoch). Raises if the data set
  is smaller than a batch.
  """
  per_epoch = num_examples // batch_size
  if per_epoch == 0:
    raise ConfigError("batch_size", batch_size, f"is more than the data set's "
                      f"{num_examples} images can fill; lower it")
  epoch, position = divmod(int(step), per_epoch)
  order = _permutation(num_examples, seed, epoch, stream)
  return order[position * batch_size:(position + 1) * batch_size]


_PERMUTATION_CACHE: dict[tuple[int, int, int, int], np.ndarray] = {}


def _permutation(n: int, seed: int, epoch: int, stream: int = 0) -> np.ndarray:
  cache_key = (n, seed, epoch, stream)
  if cache_key not in _PERMUTATION_CACHE:
    for old in [k for k in _PERMUTATION_CACHE if k[3] == stream]:
      del _PERMUTATION_CACHE[old]  # One epoch at a time, per stream.
    entropy = [seed, epoch] if stream == 0 else [seed, epoch, stream]
    _PERMUTATION_CACHE[cache_key] = np.random.default_rng(entropy).permutation(n)
  return _PERMUTATION_CACHE[cache_key]


class HostBatches:
  """Batch `step` of a run: {field: (sub_batches, local batch, ...)} for this process.

  The global batch of a step is `sub_batches * batch_size` examples drawn by
  `batch_indices`; process p of P takes rows [p*B/P, (p+1)*B/P) of each sub-batch,
  the rows that its devices hold in the global array.
  """

  on_device = False

  def __init__(self, arrays: dict[str, Any], *, batch_size: int, sub_batches: int, seed: int,
               process_index: int = 0, process_count: int = 1, stream: int = 0):
    self.arrays = arrays
    self.batch_size = batch_size
    self.sub_batches = sub_batches
    self.seed = seed
    self.stream = stream  # The permutation stream of `batch_indices` (0: every data set's).
    self.num_examples = len(next(iter(arrays.values())))
    local = batch_size // process_count
    self._rows = slice(process_index * local, (process_index + 1) * local)

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    idx = batch_indices(self.num_examples, self.batch_size * self.sub_batches, self.seed, step,
                        stream=self.stream)
    idx = idx.reshape(self.sub_batches, self.batch_size)[:, self._rows]
    return {name: array[idx] for name, array in self.arrays.items()}


class UnpairedBatches:
  """Batch `step` of two unpaired domains: {field: (sub_batches, local batch, ...)}.

  Fields `a` and `a_label` take domain a's rows, exactly those of `HostBatches`
  (`batch_indices(N_a, sub_batches * batch_size, seed, step)`, stream 0); fields `b`
  and `b_label` take domain b's, drawn the same way from its own stream
  (`batch_indices(N_b, ..., seed, step, stream=1)`), so the two orders are
  independent and the domains may differ in size. Process p of P takes rows
  [p*B/P, (p+1)*B/P) of each sub-batch, as in `HostBatches`.
  """

  on_device = False
  STREAMS = {"a": 0, "b": 1}

  def __init__(self, arrays: dict[str, Any], *, batch_size: int, sub_batches: int, seed: int,
               process_index: int = 0, process_count: int = 1):
    self.arrays = arrays
    domain_of = {name: name.split("_")[0] for name in arrays}
    unknown = sorted(name for name, domain in domain_of.items() if domain not in self.STREAMS)
    if unknown:
      raise ValueError(f"UnpairedBatches has fields a, a_label, b, b_label, not {unknown}")
    self._domains = {}  # One `HostBatches` per domain, each on its own stream.
    for domain in sorted(set(domain_of.values())):
      fields = {name: array for name, array in arrays.items() if domain_of[name] == domain}
      if len({len(array) for array in fields.values()}) > 1:
        raise ValueError(f"the fields of domain {domain} differ in length")
      self._domains[domain] = HostBatches(
          fields, batch_size=batch_size, sub_batches=sub_batches, seed=seed,
          process_index=process_index, process_count=process_count,
          stream=self.STREAMS[domain])
    self.num_examples = {d: b.num_examples for d, b in self._domains.items()}

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    drawn = {name: array for batches in self._domains.values()
             for name, array in batches(step).items()}
    return {name: drawn[name] for name in self.arrays}


# ---------------------------------------------------------------- device data


@dataclasses.dataclass(frozen=True)
class MixtureData:
  """A 2-D Gaussian mixture (`gan.data.mixtures`) as a data set drawn on the device."""

  mixture: mixtures.GaussianMixture

  @property
  def spec(self) -> DataSpec:
    return DataSpec(f"mixture:{self.mixture.name}", (self.mixture.dim,),
                    self.mixture.num_modes, kind="points", drawn_on_device=True)


@dataclasses.dataclass(frozen=True)
class StackedMNISTData:
  """Stacked MNIST: three MNIST digits as the channels of one image, drawn on the device.

  Attributes:
    digits: (N, H, W) uint8 MNIST training digits.
    name: the source's name.
  """

  digits: np.ndarray
  name: str = "stacked_mnist"

  @property
  def spec(self) -> DataSpec:
    return DataSpec(self.name, tuple(self.digits.shape[1:3]) + (3,), 1000,
                    drawn_on_device=True)


class DeviceBatches:
  """A source drawn inside the step: `draw(arrays, key, step)` -> the step's batch.

  Attributes:
    arrays: device-resident arrays passed to every call (not baked into the program).
    draw: the pure draw, (arrays, data key, step) -> {field: (sub_batches, B, ...)}.
  """

  on_device = True

  def __init__(self, arrays: dict[str, Array], draw):
    self.arrays = arrays
    self.draw = draw


def device_batches(data, *, batch_size: int, sub_batches: int) -> DeviceBatches:
  """The `DeviceBatches` of a mixture or Stacked MNIST: batch field `image`."""
  if isinstance(data, MixtureData):
    mixture = data.mixture
    return DeviceBatches({}, lambda arrays, key, step: {"image": mixtures.mixture_batch(
        mixture, key, step, batch_size=batch_size, d_steps=sub_batches)})
  digits = jnp.asarray(data.digits)
  return DeviceBatches({"digits": digits}, lambda arrays, key, step: {
      "image": mixtures.stacked_mnist_batch(key, step, arrays["digits"], batch_size=batch_size,
                                            d_steps=sub_batches)})


# ------------------------------------------------------------------------ open


def load(spec: str, *, tfds_data_dir: Optional[str] = None):
  """The data named by `config.dataset`: image, device-drawn or translation data.

  An `ImageDataset`, `MixtureData`, `StackedMNISTData`, `PairedDataset` or
  `UnpairedDataset`. Forms beside those of `gan.data.datasets.load_dataset`: `mixture:grid`,
  `mixture:ring` (PacGAN's 2-D mixtures), `stacked_mnist:SPEC` (three digits of
  the MNIST data set SPEC, e.g. `stacked_mnist:../shared/data/mnist.npz`), and the
  translation data of `gan.data.pairs`: `paired:edges:SPEC`, `paired:grey:SPEC`,
  `paired:downN:SPEC`, `unpaired:mnist_m:MNIST_SPEC:BACKGROUND_SPEC`, or an `.npz`
  with x_source/x_target (paired) or x_a/x_b (unpaired).
  """
  if pairs.is_translation_spec(spec):
    return pairs.load_translation(spec, tfds_data_dir=tfds_data_dir)
  if spec.startswith("mixture:"):
    return MixtureData(mixtures.get_mixture(spec[len("mixture:"):]))
  if spec.startswith("stacked_mnist:"):
    mnist = datasets.load_dataset(spec[len("stacked_mnist:"):], tfds_data_dir=tfds_data_dir)
    if mnist.image_shape != (28, 28, 1):
      raise ConfigError("dataset", spec, f"holds {mnist.image_shape} images; Stacked MNIST "
                        f"needs MNIST's 28x28 grey digits (stacked_mnist:PATH/mnist.npz)")
    return StackedMNISTData(np.asarray(mnist.train_images)[..., 0])
  return datasets.load_dataset(spec, tfds_data_dir=tfds_data_dir)


def spec_of(data) -> DataSpec:
  """The `DataSpec` of loaded data."""
  if isinstance(data, datasets.ImageDataset):
    return DataSpec(data.name, data.image_shape, data.num_classes)
  if isinstance(data, (pairs.PairedDataset, pairs.UnpairedDataset)):
    kind = "pairs" if isinstance(data, pairs.PairedDataset) else "unpaired"
    return DataSpec(data.name, data.image_shape, data.num_classes, kind=kind,
                    source_shape=data.source_shape)
  return data.spec


def batches_for(data, *, fields: tuple[str, ...], batch_size: int, sub_batches: int, seed: int,
                process_index: int = 0, process_count: int = 1):
  """The batch source of a run: `HostBatches` of the data set's fields, or `DeviceBatches`.

  Fields: `image`, `label` of an `ImageDataset`; `source`, `target`, `label` of a
  `PairedDataset` (`HostBatches`, one row of each per pair); `a`, `b`, `a_label`,
  `b_label` of an `UnpairedDataset` (`UnpairedBatches`).
  """
  if isinstance(data, (pairs.PairedDataset, pairs.UnpairedDataset)):
    return _translation_batches(data, fields=fields, batch_size=batch_size,
                                sub_batches=sub_batches, seed=seed, process_index=process_index,
                                process_count=process_count)
  if not isinstance(data, datasets.ImageDataset):
    unknown = sorted(set(fields) - {"image"})
    if unknown:
      raise UserError(f"{spec_of(data).name} gives batches of `image` only; this task also "
                      f"needs {unknown}")
    return device_batches(data, batch_size=batch_size, sub_batches=sub_batches)
  needed = batch_size * sub_batches
  if data.num_train < needed:
    raise ConfigError("batch_size", batch_size, f"needs {needed} images per step; the data set "
                      f"has {data.num_train}; lower it")
  columns = {"image": data.train_images, "label": data.train_labels}
  unknown = sorted(set(fields) - set(columns))
  if unknown:
    raise UserError(f"the data set {data.name} has no {unknown} for this task")
  return HostBatches({f: columns[f] for f in fields}, batch_size=batch_size,
                     sub_batches=sub_batches, seed=seed, process_index=process_index,
                     process_count=process_count)


def _translation_batches(data, *, fields: tuple[str, ...], batch_size: int, sub_batches: int,
                         seed: int, process_index: int, process_count: int):
  """The `HostBatches` of a `PairedDataset`, or the `UnpairedBatches` of an `UnpairedDataset`."""
  paired = isinstance(data, pairs.PairedDataset)
  if paired:
    columns = {"source": data.train_source, "target": data.train_target,
               "label": data.train_labels}
  else:
    columns = {"a": data.train_a, "b": data.train_b, "a_label": data.train_a_labels,
               "b_label": data.train_b_labels}
  unknown = sorted(set(fields) - set(columns))
  if unknown:
    raise UserError(f"the data set {data.name} has no {unknown} for this task (it gives "
                    f"{sorted(columns)}); use the data of the task's kind")
  needed = batch_size * sub_batches
  if data.num_train < needed:
    smaller = "pairs" if paired else "images in its smaller domain"
    raise ConfigError("batch_size", batch_size, f"needs {needed} images per step; the data set "
                      f"has {data.num_train} {smaller}; lower it")
  source = HostBatches if paired else UnpairedBatches
  return source({f: columns[f] for f in fields}, batch_size=batch_size, sub_batches=sub_batches,
                seed=seed, process_index=process_index, process_count=process_count)
