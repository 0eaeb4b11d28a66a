"""Full-reference image similarity (PSNR, SSIM) and the bicubic baseline.

The metrics of super-resolution and paired image-to-image translation compare
each generated image with its ground truth:

  psnr      peak signal-to-noise ratio, 10 log10(L^2 / MSE), per image
  ssim      structural similarity of Wang et al. 2004, per image; equal to
            `skimage.metrics.structural_similarity(..., gaussian_weights=True,
            sigma=1.5, use_sample_covariance=False, channel_axis=-1)`, the
            configuration of Wang et al.'s reference MATLAB code
  upsample  the interpolation baseline every super-resolution model must beat

Images are batches in NHWC layout (grey images have C = 1), uint8 in [0, 255] or
float in [0, data_range]. Both metrics cast to float64 on the host before any
arithmetic, so uint8 differences never wrap around, and return one value per image
as a float64 numpy array of shape (N,); report the mean over a test set. Published
super-resolution numbers are often computed on the Y channel of YCbCr with a
border of `scale` pixels cropped; do that conversion before calling these
functions if a comparison needs it.

References:
  Wang, Bovik, Sheikh & Simoncelli 2004, Image Quality Assessment: From Error
    Visibility to Structural Similarity (SSIM, and its reference code ssim.m).
  Keys 1981, Cubic Convolution Interpolation for Digital Image Processing.
  scikit-image, skimage/metrics/_structural_similarity.py (the values `ssim`
    reproduces).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan.errors import UserError

ArrayLike = Any  # a numpy array, a JAX array, or anything `np.asarray` takes.

# Wang et al. 2004: an 11x11 circular-symmetric Gaussian window, sigma 1.5, and the
# stabilising constants C1 = (K1 L)^2, C2 = (K2 L)^2.
_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # int(3.5 * sigma + 0.5), scipy.ndimage's radius for truncate=3.5.
_SSIM_WINDOW = 2 * _SSIM_RADIUS + 1
_SSIM_K1 = 0.01
_SSIM_K2 = 0.03

_UPSAMPLE_METHODS = ("bicubic", "bilinear", "nearest")


# ------------------------------------------------------------------ input checks


def _as_image_batch(x: ArrayLike, *, name: str) -> np.ndarray:
  """`x` as a numeric (N, H, W, C) host array, dtype kept, or a UserError."""
  array = np.asarray(x)
  if not (np.issubdtype(array.dtype, np.integer)
          or np.issubdtype(array.dtype, np.floating)):
    raise UserError(f"{name} must be an integer or float array of images, got dtype "
                    f"{array.dtype}.")
  if array.ndim != 4:
    raise UserError(
        f"{name} must be a 4-D batch of NHWC images, got shape {array.shape}; add the "
        f"missing axes, e.g. {name}[None] for one image or {name}[..., None] for grey.")
  if array.size == 0:
    raise UserError(f"{name} has shape {array.shape}: every axis must be at least 1.")
  if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
    raise UserError(f"{name} has NaN or inf pixels; fix the images (check the "
                    f"generator's output) before computing the metric.")
  return array


def _as_image_pair(prediction: ArrayLike, target: ArrayLike,
                   data_range: float) -> tuple[np.ndarray, np.ndarray]:
  """Both batches as float64 (N, H, W, C) arrays of one shape, or a UserError."""
  prediction = _as_image_batch(prediction, name="prediction")
  target = _as_image_batch(target, name="target")
  if prediction.shape != target.shape:
    raise UserError(
        f"prediction has shape {prediction.shape} but target has {target.shape}; "
        f"compare each generated image with its own ground truth, at the same size.")
  if not (np.isscalar(data_range) and np.isfinite(data_range) and data_range > 0):
    raise UserError(f"data_range must be a positive number (255 for uint8 images, "
                    f"1 for floats in [0, 1]), got {data_range!r}.")
  return prediction.astype(np.float64), target.astype(np.float64)


# ------------------------------------------------------------------------- PSNR


def psnr(prediction: ArrayLike, target: ArrayLike, *,
         data_range: float = 255.0) -> np.ndarray:
  """Peak signal-to-noise ratio of each image, in decibels.

  PSNR = 10 log10(L^2 / MSE),   MSE = 1/(H W C) sum_{h,w,c} (x_hwc - y_hwc)^2,

  with L = `data_range`, per image of the batch. The difference is taken in float64
  (uint8 inputs are cast first, so 3 - 5 is -2, not 254). Identical images have
  MSE = 0 and PSNR = +inf (no warning); average finite values only, or report the
  count of exact reconstructions separately. A constant error of 1 grey level on
  uint8 images gives 10 log10(255^2) = 48.13 dB.

  Args:
    prediction: (N, H, W, C) generated images, uint8 or float.
    target: (N, H, W, C) ground-truth images, same shape.
    data_range: L, the largest possible pixel value minus the smallest: 255 for
      uint8, 1 for floats in [0, 1], 2 for floats in [-1, 1].

  Returns:
    (N,) float64 numpy array of per-image PSNR in dB (+inf where MSE = 0).

  References:
    The standard definition; e.g. Wang et al. 2004, Sec. I.
  """
  prediction, target = _as_image_pair(prediction, target, data_range)
  mse = np.mean((prediction - target) ** 2, axis=(1, 2, 3))
  with np.errstate(divide="ignore"):
    return 10.0 * np.log10(float(data_range) ** 2 / mse)


# ------------------------------------------------------------------------- SSIM


def _gaussian_window() -> np.ndarray:
  """The normalised 11-tap Gaussian, sigma 1.5; its outer product is Wang's window."""
  offsets = np.arange(-_SSIM_RADIUS, _SSIM_RADIUS + 1, dtype=np.float64)
  weights = np.exp(-0.5 * (offsets / _SSIM_SIGMA) ** 2)
  return weights / weights.sum()


def _filter_valid(images: np.ndarray, weights: np.ndarray) -> np.ndarray:
  """Separable 'valid' correlation of (N, H, W, C) images with weights x weights."""
  size = weights.shape[0]
  height = images.shape[1] - size + 1
  rows = sum(w * images[:, k:k + height] for k, w in enumerate(weights))
  width = images.shape[2] - size + 1
  return sum(w * rows[:, :, k:k + width] for k, w in enumerate(weights))


def ssim(prediction: ArrayLike, target: ArrayLike, *,
         data_range: float = 255.0) -> np.ndarray:
  """Structural similarity (SSIM) of each image, Wang et al. 2004.

  At each pixel, with local statistics under an 11x11 Gaussian window w
  (sigma = 1.5, weights summing to 1):

    mu_x = sum w x,  sigma_x^2 = sum w x^2 - mu_x^2,  sigma_xy = sum w x y - mu_x mu_y,

    SSIM(x, y) = (2 mu_x mu_y + C1)(2 sigma_xy + C2)
                 / ((mu_x^2 + mu_y^2 + C1)(sigma_x^2 + sigma_y^2 + C2)),

  C1 = (0.01 L)^2, C2 = (0.03 L)^2, L = `data_range`. The moments are the weighted
  population ones (no N / (N - 1) factor), as in Wang et al.'s ssim.m. The SSIM map
  is kept only where the window lies inside the image ((H - 10) x (W - 10)
  positions), averaged there, and the per-channel means are averaged over channels.
  This equals `skimage.metrics.structural_similarity(x, y, data_range=L,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, channel_axis=-1)`
  (to ~1e-12); skimage's defaults (7x7 uniform window, sample covariance) give
  different numbers. SSIM is symmetric, at most 1, and exactly 1 for identical
  images. Computed in float64 numpy, vectorised over the batch and channels.

  Args:
    prediction: (N, H, W, C) generated images, uint8 or float, H and W >= 11.
    target: (N, H, W, C) ground-truth images, same shape.
    data_range: L, the largest possible pixel value minus the smallest: 255 for
      uint8, 1 for floats in [0, 1], 2 for floats in [-1, 1].

  Returns:
    (N,) float64 numpy array of per-image mean SSIM, in [-1, 1].

  Raises:
    UserError (a ValueError): images smaller than the 11x11 window, or shapes that
      differ.

  References:
    Wang, Bovik, Sheikh & Simoncelli 2004, IEEE Trans. Image Processing 13(4),
      eq. (13) and Sec. III-C (the Gaussian window and K1, K2).
    scikit-image, skimage/metrics/_structural_similarity.py.
  """
  x, y = _as_image_pair(prediction, target, data_range)
  height, width = x.shape[1:3]
  if height < _SSIM_WINDOW or width < _SSIM_WINDOW:
    raise UserError(
        f"ssim needs images of at least {_SSIM_WINDOW}x{_SSIM_WINDOW} pixels (the "
        f"Gaussian window of Wang et al. 2004), got {height}x{width} from shape "
        f"{x.shape}; the layout must be NHWC, and small images need upsampling or "
        f"a different metric.")
  weights = _gaussian_window()
  mu_x = _filter_valid(x, weights)
  mu_y = _filter_valid(y, weights)
  var_x = _filter_valid(x * x, weights) - mu_x * mu_x
  var_y = _filter_valid(y * y, weights) - mu_y * mu_y
  cov_xy = _filter_valid(x * y, weights) - mu_x * mu_y
  c1 = (_SSIM_K1 * data_range) ** 2
  c2 = (_SSIM_K2 * data_range) ** 2
  ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
              / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2)))
  # Every channel has the same number of valid positions, so the mean over
  # (H', W', C) is the mean over channels of the per-channel means.
  return np.mean(ssim_map, axis=(1, 2, 3))


# -------------------------------------------------------------------- upsample


def _resize(images: jax.Array, shape: tuple[int, ...], method: str) -> jax.Array:
  """uint8 -> float32 -> jax.image.resize -> rounded, clipped uint8."""
  resized = jax.image.resize(images.astype(jnp.float32), shape, method=method)
  return jnp.clip(jnp.round(resized), 0, 255).astype(jnp.uint8)


_resize_jit = jax.jit(_resize, static_argnames=("shape", "method"))


def upsample(images: ArrayLike, scale: int, method: str = "bicubic") -> np.ndarray:
  """Interpolation upsampling by an integer factor: the super-resolution baseline.

  Output pixel (i, j) samples the input at ((i + 1/2) / s - 1/2, (j + 1/2) / s - 1/2)
  (half-pixel centres, s = `scale`) through `jax.image.resize`:

    "bicubic"   the Keys (1981) cubic convolution kernel with a = -0.5,
                W(t) = 1.5|t|^3 - 2.5|t|^2 + 1 for |t| <= 1,
                W(t) = -0.5|t|^3 + 2.5|t|^2 - 4|t| + 2 for 1 < |t| < 2,
                which reproduces polynomials up to degree 2 exactly;
    "bilinear"  the triangle kernel max(0, 1 - |t|);
    "nearest"   pixel replication (each pixel becomes an s x s block).

  Taps that fall outside the image are dropped and the remaining weights
  renormalised to sum to 1. Other "bicubic" baselines differ slightly: PIL's
  `Image.BICUBIC` uses the same a = -0.5 kernel and borders but rounds and clips
  to 8 bits between its horizontal and vertical passes (within 1 grey level on
  smooth images, more where the kernel overshoots, e.g. on noise); MATLAB's
  `imresize` (the usual SR benchmark baseline) uses a = -0.5 with mirrored
  borders and antialiasing (the latter only matters when downsampling); torch
  `F.interpolate(mode="bicubic")` uses a = -0.75 with replicated borders
  (`jax.image.resize(..., "bicubic-pytorch", antialias=False)` follows it).
  Interpolation runs in float32, with no rounding between the axes; the result is
  rounded to the nearest integer (ties to even) and clipped to [0, 255], since
  bicubic overshoots near edges.

  Args:
    images: (N, H, W, C) uint8 images.
    scale: the integer upsampling factor s >= 1; the output is (N, s H, s W, C).
    method: "bicubic" (default), "bilinear" or "nearest".

  Returns:
    (N, s H, s W, C) uint8 numpy array.

  References:
    Keys 1981, Cubic Convolution Interpolation for Digital Image Processing.
  """
  array = _as_image_batch(images, name="images")
  if array.dtype != np.uint8:
    raise UserError(f"images must be uint8, got {array.dtype}; convert with "
                    f"np.clip(np.round(images), 0, 255).astype(np.uint8).")
  if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
    raise UserError(f"scale must be a positive integer, got {scale!r}.")
  if method not in _UPSAMPLE_METHODS:
    raise UserError(f"method must be one of {_UPSAMPLE_METHODS}, got {method!r}.")
  n, height, width, channels = array.shape
  shape = (n, int(scale) * height, int(scale) * width, channels)
  return np.asarray(_resize_jit(jnp.asarray(array), shape=shape, method=method))
