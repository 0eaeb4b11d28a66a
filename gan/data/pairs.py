"""Paired and unpaired image data sets for image-to-image translation and super-resolution.

pix2pix (Isola et al. 2017) learns from pairs (source image, target image);
CycleGAN (Zhu et al. 2017) from two unpaired domains a and b; SRGAN (Ledig et al.
2017) from pairs (low-resolution image, image). The data sets here are made from the
image data sets of `gan.data.datasets`, offline and deterministically, every time they
are loaded (nothing is stored):

- `edge_map`: the Sobel edges of each image (pix2pix's edges -> image),
- `greyscale`: ITU-R BT.601 luminance (grey -> colour),
- `downsample`: f x f area averages (super-resolution),
- `mnist_m`: MNIST-M (Ganin et al. 2016), digits blended with colour patches.

Sources (the `dataset` config field; SRC is any source of `load_dataset`):
- `paired:edges:SRC`: source = edge_map(x), target = x.
- `paired:grey:SRC`: source = greyscale(x), target = x; SRC must hold RGB images.
- `paired:downN:SRC` (e.g. `paired:down4:../shared/data/mnist.npz`): source =
  downsample(x, N), target = x.
- `unpaired:mnist_m:MNIST_SRC:BACKGROUND_SRC`, e.g.
  `unpaired:mnist_m:../shared/data/mnist.npz:../shared/data/cifar10.npz`: domain a is
  the even-indexed MNIST digits, domain b MNIST-M made of the odd-indexed ones (see
  `load_mnist_m`), so no digit is in both domains.
- an `.npz` with `x_source` and `x_target` (paired; optional `y_train`,
  `x_test_source`, `x_test_target`, `y_test`), or with `x_a` and `x_b` (unpaired;
  optional `x_test_a`, `x_test_b`, `y_a`, `y_b`, `y_test_a`, `y_test_b`). Images are
  (N,H,W) or (N,H,W,C) uint8 with C in (1, 3), as in `load_dataset`.

Labels (the classes of the images the data were made from) are kept for evaluation,
e.g. a classifier checks that a translated digit keeps its class; without labels they
are all 0.

References:
  Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional
    Adversarial Networks (CVPR).
  Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using
    Cycle-Consistent Adversarial Networks (ICCV).
  Ledig et al. 2017, Photo-Realistic Single Image Super-Resolution Using a Generative
    Adversarial Network (CVPR).
  Ganin et al. 2016, Domain-Adversarial Training of Neural Networks (JMLR), section 5.2.
  ITU-R Recommendation BT.601.
"""

import dataclasses
import os
import re
from typing import Optional

import numpy as np

from gan.data import datasets
from gan.errors import ConfigError, UserError

# An edge is a pixel whose Sobel gradient magnitude exceeds this fraction of the
# largest magnitude in its image.
EDGE_THRESHOLD = 0.3
# BT.601 luma weights, in thousandths: Y = (299 R + 587 G + 114 B) / 1000.
LUMA_WEIGHTS = (299, 587, 114)
# The seeds of the MNIST-M patches of `unpaired:mnist_m`: training and test split.
MNIST_M_SEEDS = (0, 1)

_CHUNK = 4096  # Images made at a time, to bound the memory of the temporaries.


def _images(images, what: str) -> np.ndarray:
  """`images` as (N, H, W, C) uint8; (N, H, W) gains a channel axis."""
  images = np.asarray(images)
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4 or images.dtype != np.uint8:
    raise UserError(f"{what} takes uint8 images of shape (N,H,W) or (N,H,W,C), got "
                    f"{images.dtype} {images.shape}")
  return images


def _luma_thousandths(images: np.ndarray) -> np.ndarray:
  """1000 x the BT.601 luminance of (N, H, W, C) uint8 images: (N, H, W) int32, exact."""
  if images.shape[-1] == 1:
    return images[..., 0] * np.int32(1000)
  luma = images[..., 0] * np.int32(LUMA_WEIGHTS[0])
  luma += images[..., 1] * np.int32(LUMA_WEIGHTS[1])
  luma += images[..., 2] * np.int32(LUMA_WEIGHTS[2])
  return luma


# ---------------------------------------------------------------------- makers


def greyscale(images) -> np.ndarray:
  """The BT.601 luminance of RGB images, rounded: (N, H, W, 3) -> (N, H, W, 1) uint8.

  Y = 0.299 R + 0.587 G + 0.114 B, computed exactly in integers
  ((299 R + 587 G + 114 B + 500) // 1000: halves round up).

  Args:
    images: (N, H, W, 3) uint8.

  Returns:
    (N, H, W, 1) uint8.
  """
  images = _images(images, "greyscale")
  if images.shape[-1] != 3:
    raise UserError(f"greyscale needs RGB images (N,H,W,3), got {images.shape}")
  out = np.empty(images.shape[:3] + (1,), np.uint8)
  for start in range(0, images.shape[0], _CHUNK):
    luma = _luma_thousandths(images[start:start + _CHUNK])
    out[start:start + _CHUNK, ..., 0] = (luma + 500) // 1000
  return out


def downsample(images, factor: int) -> np.ndarray:
  """Area averages over factor x factor blocks, rounded: (N, H, W, C) -> (N, H/f, W/f, C).

  out[n, i, j, c] = round(mean(x[n, f i : f (i + 1), f j : f (j + 1), c])), computed
  exactly in integers (halves round up). H and W must be multiples of f.

  Args:
    images: (N, H, W) or (N, H, W, C) uint8.
    factor: f, a positive integer.

  Returns:
    (N, H / f, W / f, C) uint8.
  """
  images = _images(images, "downsample")
  if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
    raise UserError(f"downsample takes a positive integer factor, got {factor!r}")
  n, h, w, c = images.shape
  if h % factor or w % factor:
    raise UserError(f"downsample by {factor} needs H and W divisible by {factor}, got "
                    f"{h}x{w}; use a factor that divides both")
  area = factor * factor
  out = np.empty((n, h // factor, w // factor, c), np.uint8)
  for start in range(0, n, _CHUNK):
    part = images[start:start + _CHUNK]
    sums = np.full(part[:, ::factor, ::factor].shape, area // 2, np.int32)
    for i in range(factor):  # One strided view per pixel of a block: fast in numpy.
      for j in range(factor):
        sums += part[:, i::factor, j::factor]
    out[start:start + _CHUNK] = sums // area
  return out


def edge_map(images) -> np.ndarray:
  """The edges of each image: 255 where its luminance's Sobel gradient is large, else 0.

  With Y the luminance (the image itself if grey, BT.601's weights if RGB) padded by
  repeating its border pixels (so the frame of an image is no edge),
    G_x = Y * [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  G_y = Y * G_x's kernel transposed,
    edge(p) = |G(p)| > EDGE_THRESHOLD * max_q |G(q)|   (max over the image's pixels),
  i.e. a fixed fraction (0.3) of each image's largest gradient, so faint and bright
  images alike keep their main edges; a flat image has none. Computed exactly, in
  integers, so every machine makes the same map.

  Args:
    images: (N, H, W) or (N, H, W, C) uint8, C in (1, 3).

  Returns:
    (N, H, W, 1) uint8 with values in {0, 255}.
  """
  images = _images(images, "edge_map")
  if images.shape[-1] not in (1, 3):
    raise UserError(f"edge_map needs grey or RGB images (N,H,W,1) or (N,H,W,3), got "
                    f"{images.shape}")
  out = np.empty(images.shape[:3] + (1,), np.uint8)
  for start in range(0, images.shape[0], _CHUNK):
    luma = _luma_thousandths(images[start:start + _CHUNK])
    y = np.pad(luma, ((0, 0), (1, 1), (1, 1)), mode="edge")
    # Sobel as a derivative along one axis and a [1, 2, 1] smoothing along the other.
    dx = y[:, :, 2:] - y[:, :, :-2]
    dy = y[:, 2:, :] - y[:, :-2, :]
    gx = dx[:, :-2] + 2 * dx[:, 1:-1] + dx[:, 2:]
    gy = dy[:, :, :-2] + 2 * dy[:, :, 1:-1] + dy[:, :, 2:]
    squared = gx.astype(np.int64) ** 2 + gy.astype(np.int64) ** 2
    largest = squared.max(axis=(1, 2), keepdims=True)
    # |G| > t max|G|  <=>  |G|^2 > t^2 max|G|^2 (both sides are non-negative).
    edges = (squared > EDGE_THRESHOLD**2 * largest) & (largest > 0)
    out[start:start + _CHUNK, ..., 0] = edges * np.uint8(255)
  return out


def mnist_m(digits, backgrounds, seed: int) -> np.ndarray:
  """MNIST-M (Ganin et al. 2016): each digit blended with a random colour patch.

  For digit i, a background image k_i and a patch of the digit's size at (top_i,
  left_i) in it are drawn; the output is |patch - digit| per channel, the grey digit
  broadcast to the three channels, so strokes invert the colours beneath them.
  Ganin et al. cut the patches from BSDS500 photographs; any RGB images at least as
  large as the digits serve. The draws come from numpy's PCG64
  (`np.random.default_rng(seed)`), in this order, each one array of N:
    k = rng.integers(0, M, N); top = rng.integers(0, Hb - H + 1, N);
    left = rng.integers(0, Wb - W + 1, N).

  Args:
    digits: (N, H, W) or (N, H, W, 1) uint8 grey digits.
    backgrounds: (M, Hb, Wb, 3) uint8 colour images, Hb >= H, Wb >= W, M >= 1.
    seed: the seed of the draws.

  Returns:
    (N, H, W, 3) uint8.
  """
  digits = _images(digits, "mnist_m digits")
  if digits.shape[-1] != 1:
    raise UserError(f"mnist_m needs grey digits (N,H,W) or (N,H,W,1), got {digits.shape}")
  if not (hasattr(backgrounds, "shape") and len(backgrounds.shape) == 4 and
          backgrounds.shape[-1] == 3 and backgrounds.dtype == np.uint8):
    raise UserError(f"mnist_m needs RGB backgrounds (M,Hb,Wb,3) uint8, got "
                    f"{getattr(backgrounds, 'dtype', None)} {getattr(backgrounds, 'shape', None)}")
  n, h, w, _ = digits.shape
  m, hb, wb, _ = backgrounds.shape
  if m == 0 or hb < h or wb < w:
    raise UserError(f"mnist_m needs at least one background image of {h}x{w} pixels or more, "
                    f"got {m} of {hb}x{wb}")
  rng = np.random.default_rng(seed)
  pick = rng.integers(0, m, n)
  top = rng.integers(0, hb - h + 1, n)
  left = rng.integers(0, wb - w + 1, n)
  out = np.empty((n, h, w, 3), np.uint8)
  rows, cols = np.arange(h)[None, :, None], np.arange(w)[None, None, :]
  for start in range(0, n, _CHUNK):
    part = slice(start, start + _CHUNK)
    chosen = np.asarray(backgrounds[pick[part]])  # A RowArray reads only these rows.
    patch = chosen[np.arange(len(chosen))[:, None, None], top[part, None, None] + rows,
                   left[part, None, None] + cols]
    digit = digits[part]
    out[part] = np.maximum(patch, digit) - np.minimum(patch, digit)  # |patch - digit|, in uint8.
  return out


# --------------------------------------------------------------------- records


def _num_classes(*labels: np.ndarray) -> int:
  """max label + 1 over `labels` (1 without labels, whose labels are all 0; 0 if empty)."""
  sizes = [np.asarray(y) for y in labels if np.asarray(y).size]
  return max(int(y.max()) for y in sizes) + 1 if sizes else 0


@dataclasses.dataclass(frozen=True)
class PairedDataset:
  """Pairs (source image, target image) with the target's class; `test_*` may be empty.

  Row i of `*_source` is the input whose translation is row i of `*_target`.
  Sources and targets are uint8 NHWC; a target is the size of its source or an
  integer multiple of it (super-resolution).
  """

  name: str
  train_source: np.ndarray
  train_target: np.ndarray
  train_labels: np.ndarray
  test_source: np.ndarray
  test_target: np.ndarray
  test_labels: np.ndarray
  # The name of the targets' own data set where they are one (its cached extractor
  # scores them); "" = `name`.
  target_name: str = ""

  @property
  def source_shape(self) -> tuple[int, int, int]:
    """The shape of one source (the translation's input)."""
    return tuple(self.train_source.shape[1:])

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """The shape of one target (the image the generator makes)."""
    return tuple(self.train_target.shape[1:])

  @property
  def num_train(self) -> int:
    return self.train_target.shape[0]

  @property
  def num_classes(self) -> int:
    """Classes of the training labels (max label + 1); 1 for a data set without labels."""
    return _num_classes(self.train_labels)


@dataclasses.dataclass(frozen=True)
class UnpairedDataset:
  """Two image domains a and b with no correspondence between their rows.

  The domains may differ in size, in channels and in height and width (whether a
  model can translate between them is its task's to check); `test_*` may be empty.
  """

  name: str
  train_a: np.ndarray
  train_b: np.ndarray
  test_a: np.ndarray
  test_b: np.ndarray
  train_a_labels: np.ndarray
  train_b_labels: np.ndarray
  test_a_labels: np.ndarray
  test_b_labels: np.ndarray

  @property
  def source_shape(self) -> tuple[int, int, int]:
    """The shape of one image of domain a."""
    return tuple(self.train_a.shape[1:])

  @property
  def image_shape(self) -> tuple[int, int, int]:
    """The shape of one image of domain b."""
    return tuple(self.train_b.shape[1:])

  @property
  def num_train(self) -> int:
    """Training images of the smaller domain: the most one batch can draw from each."""
    return min(self.train_a.shape[0], self.train_b.shape[0])

  @property
  def num_classes(self) -> int:
    """Classes of both domains' training labels (max label + 1); 1 without labels."""
    return _num_classes(self.train_a_labels, self.train_b_labels)


def _labels(name: str, y, count: int, field: str) -> np.ndarray:
  """Integer class labels `y` as (count,) int32; zeros when `y` is None."""
  y = datasets.class_labels(name, y, count, field)
  if y.shape[0] != count:
    raise UserError(f"{name}: {field} holds {y.shape[0]} labels for {count} images; give one "
                    f"label per image")
  return y


def _split(name: str, train_key: str, test_key: str, train, test):
  """A domain's (train, test) images as NHWC uint8, checked; an absent test split is empty."""
  train = datasets._as_nhwc_uint8(train, f"{name}: {train_key}")  # pylint: disable=protected-access
  if train.shape[0] == 0:
    raise UserError(f"{name}: {train_key} is empty; give at least one image")
  if test is None:
    return train, np.zeros((0,) + train.shape[1:], np.uint8)
  test = datasets._as_nhwc_uint8(test, f"{name}: {test_key}")  # pylint: disable=protected-access
  if test.shape[1:] != train.shape[1:]:
    raise UserError(f"{name}: {test_key} images are {test.shape[1:]} but {train_key} are "
                    f"{train.shape[1:]}; both splits must have the same shape")
  return train, test


def from_pairs(name: str, x_source, x_target, y_train=None, x_test_source=None,
               x_test_target=None, y_test=None) -> PairedDataset:
  """A `PairedDataset` from arrays, checked: one target per source, sizes that scale.

  Args:
    name: the data set's name.
    x_source, x_target: (N, H, W[, C]) uint8 training sources and their targets, C
      in (1, 3) for each (e.g. grey edges and colour targets); a target's height and
      width are the source's times one integer k >= 1.
    y_train: optional (N,) integer labels.
    x_test_source, x_test_target: optional test pairs (both or neither).
    y_test: optional test labels.

  Returns:
    The `PairedDataset`.
  """
  if (x_test_source is None) != (x_test_target is None):
    raise UserError(f"{name}: give both x_test_source and x_test_target, or neither")
  source, test_source = _split(name, "x_source", "x_test_source", x_source, x_test_source)
  target, test_target = _split(name, "x_target", "x_test_target", x_target, x_test_target)
  for what, s, t in (("x_source/x_target", source, target),
                     ("x_test_source/x_test_target", test_source, test_target)):
    if s.shape[0] != t.shape[0]:
      raise UserError(f"{name}: {what} hold {s.shape[0]} and {t.shape[0]} images; a paired "
                      f"data set needs one target per source")
  (hs, ws), (ht, wt) = source.shape[1:3], target.shape[1:3]
  if ht % hs or wt % ws or ht // hs != wt // ws:
    raise UserError(f"{name}: x_target images are {ht}x{wt} and x_source {hs}x{ws}; a target "
                    f"must be its source's size or an integer multiple of it "
                    f"(super-resolution)")
  return PairedDataset(name, source, target, _labels(name, y_train, source.shape[0], "y_train"),
                       test_source, test_target,
                       _labels(name, y_test, test_source.shape[0], "y_test"))


def from_domains(name: str, x_a, x_b, x_test_a=None, x_test_b=None, y_a=None, y_b=None,
                 y_test_a=None, y_test_b=None) -> UnpairedDataset:
  """An `UnpairedDataset` from arrays, checked; each domain has its own size and shape.

  Args:
    name: the data set's name.
    x_a, x_b: (N_a, ...) and (N_b, ...) uint8 training images of domains a and b.
    x_test_a, x_test_b: optional test images of each domain.
    y_a, y_b, y_test_a, y_test_b: optional integer labels of each.

  Returns:
    The `UnpairedDataset`.
  """
  a, test_a = _split(name, "x_a", "x_test_a", x_a, x_test_a)
  b, test_b = _split(name, "x_b", "x_test_b", x_b, x_test_b)
  return UnpairedDataset(name, a, b, test_a, test_b, _labels(name, y_a, a.shape[0], "y_a"),
                         _labels(name, y_b, b.shape[0], "y_b"),
                         _labels(name, y_test_a, test_a.shape[0], "y_test_a"),
                         _labels(name, y_test_b, test_b.shape[0], "y_test_b"))


# ------------------------------------------------------------------------ load

_PAIRED_KEYS = ("x_source", "x_target", "x_test_source", "x_test_target")
_UNPAIRED_KEYS = ("x_a", "x_b", "x_test_a", "x_test_b")


def _npz_keys(path: str) -> tuple[str, ...]:
  """The array names of an `.npz` (its zip directory only); () when unreadable."""
  try:
    with np.load(path, allow_pickle=False) as npz:
      return tuple(npz.files)
  except Exception:  # pylint: disable=broad-except  # load_dataset reports unreadable files.
    return ()


def is_translation_spec(spec: str) -> bool:
  """Whether `config.dataset=spec` names paired or unpaired data (see the module docstring)."""
  if spec.startswith(("paired:", "unpaired:")):
    return True
  if not (spec.endswith(".npz") and os.path.isfile(spec)):
    return False
  return bool(set(_npz_keys(spec)) & set(_PAIRED_KEYS + _UNPAIRED_KEYS))


def _stem(name: str) -> str:
  return name[:-4] if name.endswith(".npz") else name


def _load_source(source: str, spec: str, tfds_data_dir: Optional[str]) -> datasets.ImageDataset:
  if not source:
    raise ConfigError("dataset", spec, "names no source data set; give one after the last "
                      "colon, e.g. paired:edges:../shared/data/fashion_mnist.npz")
  return datasets.load_dataset(source, tfds_data_dir=tfds_data_dir)


def _load_paired(spec: str, tfds_data_dir: Optional[str]) -> PairedDataset:
  kind, _, source = spec[len("paired:"):].partition(":")
  factor = None
  if kind.startswith("down"):
    match = re.fullmatch(r"down([1-9][0-9]*)", kind)
    if not match:
      raise ConfigError("dataset", spec, f"has the downsampling kind {kind!r}; give a factor "
                        f"N >= 1 as downN, e.g. paired:down4:../shared/data/mnist.npz")
    factor = int(match.group(1))
  elif kind not in ("edges", "grey"):
    raise ConfigError("dataset", spec, f"has an unknown paired kind {kind!r}; use "
                      f"paired:edges:SRC, paired:grey:SRC or paired:downN:SRC (e.g. "
                      f"paired:down4:../shared/data/mnist.npz)")
  data = _load_source(source, spec, tfds_data_dir)
  shape = data.image_shape
  if kind == "grey" and shape[-1] != 3:
    raise ConfigError("dataset", spec, f"holds grey images {shape}; paired:grey needs RGB "
                      f"images, e.g. paired:grey:../shared/data/cifar10.npz")
  if factor is not None and (shape[0] % factor or shape[1] % factor):
    divisors = [f for f in range(2, min(shape[:2]) + 1) if not shape[0] % f and not shape[1] % f]
    raise ConfigError("dataset", spec, f"holds {shape[0]}x{shape[1]} images, which "
                      f"{factor}x{factor} blocks do not tile; use downN with N in {divisors}")
  make = {"edges": edge_map, "grey": greyscale}.get(kind) or (lambda x: downsample(x, factor))
  train, test = np.asarray(data.train_images), np.asarray(data.test_images)
  return PairedDataset(f"{_stem(data.name)}_{kind}", make(train), train,
                       np.asarray(data.train_labels), make(test), test,
                       np.asarray(data.test_labels), target_name=data.name)


def _sources(text: str) -> list[str]:
  """`A:B` split into sources; a `tfds_source:NAME` source keeps its colon."""
  parts, out = text.split(":"), []
  while parts:
    part = parts.pop(0)
    if part + ":" == datasets.TFDS_SOURCE_PREFIX and parts:
      part += ":" + parts.pop(0)
    out.append(part)
  return out


def load_mnist_m(mnist: datasets.ImageDataset, backgrounds: datasets.ImageDataset,
                 name: str = "mnist_m") -> UnpairedDataset:
  """MNIST (domain a) and MNIST-M (domain b) made of different digits: CycleGAN's two domains.

  Domain a holds the even-indexed digits of each split (rows 0, 2, 4, ...), domain b
  `mnist_m` of the odd-indexed ones (rows 1, 3, ...), so no digit is in both domains
  and the two are unpaired. The patches are cut from `backgrounds`' training images
  for both splits, drawn with seed `MNIST_M_SEEDS[0]` (0) for the training split and
  `MNIST_M_SEEDS[1]` (1) for the test split: the data are the same in every run.

  Args:
    mnist: grey digits (H, W, 1).
    backgrounds: RGB images at least H x W (e.g. CIFAR-10).
    name: the data set's name.

  Returns:
    The `UnpairedDataset`: a (H, W, 1), b (H, W, 3), with each digit's class.
  """
  bg = backgrounds.train_images
  def split(images, labels, seed):
    images, labels = np.asarray(images), np.asarray(labels)
    return images[0::2], mnist_m(images[1::2], bg, seed), labels[0::2], labels[1::2]

  a, b, y_a, y_b = split(mnist.train_images, mnist.train_labels, MNIST_M_SEEDS[0])
  test_a, test_b, y_test_a, y_test_b = split(mnist.test_images, mnist.test_labels,
                                             MNIST_M_SEEDS[1])
  return UnpairedDataset(name, a, b, test_a, test_b, y_a, y_b, y_test_a, y_test_b)


def _load_unpaired(spec: str, tfds_data_dir: Optional[str]) -> UnpairedDataset:
  kind, _, rest = spec[len("unpaired:"):].partition(":")
  usage = "unpaired:mnist_m:MNIST_SRC:BACKGROUND_SRC (e.g. unpaired:mnist_m:" \
          "../shared/data/mnist.npz:../shared/data/cifar10.npz)"
  if kind != "mnist_m":
    raise ConfigError("dataset", spec, f"has an unknown unpaired kind {kind!r}; use {usage}")
  sources = _sources(rest)
  if len(sources) != 2 or not all(sources):
    raise ConfigError("dataset", spec, f"names {len([s for s in sources if s])} source(s); "
                      f"give two: {usage}")
  mnist = datasets.load_dataset(sources[0], tfds_data_dir=tfds_data_dir)
  if mnist.image_shape[-1] != 1:
    raise ConfigError("dataset", spec, f"has digits {mnist.image_shape}; MNIST-M needs grey "
                      f"digits (H,W,1) first: {usage}")
  backgrounds = datasets.load_dataset(sources[1], tfds_data_dir=tfds_data_dir)
  (h, w), (hb, wb, c) = mnist.image_shape[:2], backgrounds.image_shape
  if c != 3 or hb < h or wb < w:
    raise ConfigError("dataset", spec, f"has backgrounds {backgrounds.image_shape}; MNIST-M "
                      f"needs RGB backgrounds of at least {h}x{w} second: {usage}")
  return load_mnist_m(mnist, backgrounds, f"{_stem(mnist.name)}_mnist_m")


def _load_npz(path: str) -> "PairedDataset | UnpairedDataset":
  with np.load(path, allow_pickle=False) as npz:
    arrays = {k: npz[k] for k in npz.files}
  name = os.path.basename(path)
  paired = sorted(set(arrays) & set(_PAIRED_KEYS))
  unpaired = sorted(set(arrays) & set(_UNPAIRED_KEYS))
  if paired and unpaired:
    raise UserError(f"{path!r} holds paired {paired} and unpaired {unpaired} arrays; keep "
                    f"x_source/x_target or x_a/x_b, not both")
  if paired:
    if "x_source" not in arrays or "x_target" not in arrays:
      raise UserError(f"{path!r} has {paired} but a paired data set needs both x_source and "
                      f"x_target; save the inputs as x_source and their targets as x_target")
    return from_pairs(name, arrays["x_source"], arrays["x_target"], arrays.get("y_train"),
                      arrays.get("x_test_source"), arrays.get("x_test_target"),
                      arrays.get("y_test"))
  if "x_a" not in arrays or "x_b" not in arrays:
    raise UserError(f"{path!r} has {unpaired} but an unpaired data set needs both x_a and "
                    f"x_b; save the images of the two domains as x_a and x_b")
  return from_domains(name, arrays["x_a"], arrays["x_b"], arrays.get("x_test_a"),
                      arrays.get("x_test_b"), arrays.get("y_a"), arrays.get("y_b"),
                      arrays.get("y_test_a"), arrays.get("y_test_b"))


def load_translation(spec: str, *,
                     tfds_data_dir: Optional[str] = None) -> "PairedDataset | UnpairedDataset":
  """The paired or unpaired data named by `spec` (`is_translation_spec`), made in memory.

  Args:
    spec: `paired:KIND:SRC`, `unpaired:mnist_m:MNIST_SRC:BACKGROUND_SRC` or an `.npz`
      with x_source/x_target or x_a/x_b (see the module docstring).
    tfds_data_dir: where TFDS sources live, as for `load_dataset`.

  Returns:
    A `PairedDataset` or an `UnpairedDataset`.
  """
  if spec.startswith("paired:"):
    return _load_paired(spec, tfds_data_dir)
  if spec.startswith("unpaired:"):
    return _load_unpaired(spec, tfds_data_dir)
  return _load_npz(spec)
