"""Tests for gan.metrics.similarity: PSNR and SSIM by hand and against skimage."""

import numpy as np
import pytest

from gan import metrics
from gan.errors import UserError


def _images(seed, shape):
  return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _noisy(images, seed, std):
  noise = np.random.default_rng(seed).normal(scale=std, size=images.shape)
  return np.clip(np.round(images + noise), 0, 255).astype(np.uint8)


def _smooth_images(seed, shape):
  # Low-frequency content, so SSIM is well away from 0 and noise lowers it.
  n, h, w, c = shape
  rng = np.random.default_rng(seed)
  yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
  phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1, c))
  images = 128 + 100 * np.sin(3 * xx[None, :, :, None] + 2 * yy[None, :, :, None]
                              + phase)
  return np.round(images).astype(np.uint8)


# ------------------------------------------------------------------------- PSNR


def test_psnr_constant_error_of_one_grey_level():
  # MSE = 1, so PSNR = 10 log10(255^2) = 20 log10(255) = 48.1308 dB.
  target = np.full((2, 8, 8, 3), 100, np.uint8)
  prediction = target + np.uint8(1)
  got = metrics.psnr(prediction, target)
  assert got.shape == (2,)
  np.testing.assert_allclose(got, 20 * np.log10(255.0), rtol=1e-12)
  assert got[0] == pytest.approx(48.1308, abs=1e-4)


def test_psnr_uint8_differences_do_not_wrap_around():
  # 3 - 5 in uint8 would be 254; in float64 it is -2, MSE = 4, PSNR = 10 log10(255^2 / 4).
  target = np.full((1, 4, 4, 1), 5, np.uint8)
  prediction = np.full((1, 4, 4, 1), 3, np.uint8)
  assert metrics.psnr(prediction, target)[0] == pytest.approx(
      10 * np.log10(255.0 ** 2 / 4), rel=1e-12)


def test_psnr_per_image_values_and_data_range():
  # Image 0: error 0.1 on a quarter of the pixels, MSE = 0.0025, PSNR = 10 log10(1 / 0.0025)
  # = 26.0206 dB with data_range 1. Image 1: error 0.5 everywhere, MSE = 0.25, 6.0206 dB.
  target = np.zeros((2, 4, 4, 1))
  prediction = target.copy()
  prediction[0, :2, :2] = 0.1
  prediction[1] = 0.5
  got = metrics.psnr(prediction, target, data_range=1.0)
  np.testing.assert_allclose(got, [10 * np.log10(400.0), 10 * np.log10(4.0)], rtol=1e-12)


def test_identical_images_give_infinite_psnr():
  images = _images(0, (3, 6, 5, 3))
  got = metrics.psnr(images, images)
  assert got.shape == (3,) and np.all(np.isposinf(got))


# ------------------------------------------------------------------------- SSIM


def test_identical_images_give_ssim_one():
  images = _images(1, (2, 16, 13, 3))
  np.testing.assert_allclose(metrics.ssim(images, images), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_matches_skimage_wang_configuration(channels):
  skimage_metrics = pytest.importorskip("skimage.metrics")
  target = _smooth_images(2, (3, 24, 19, channels))
  target[1] = _images(3, (24, 19, channels))  # texture as well as smooth content
  prediction = _noisy(target, 4, std=12.0)
  got = metrics.ssim(prediction, target)
  expected = [
      skimage_metrics.structural_similarity(
          prediction[i], target[i], data_range=255, gaussian_weights=True, sigma=1.5,
          use_sample_covariance=False, channel_axis=-1)
      for i in range(len(target))
  ]
  assert got.shape == (3,)
  np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_ssim_matches_skimage_on_float_images():
  skimage_metrics = pytest.importorskip("skimage.metrics")
  rng = np.random.default_rng(5)
  target = rng.uniform(size=(1, 12, 11, 3))
  prediction = np.clip(target + rng.normal(scale=0.1, size=target.shape), 0, 1)
  expected = skimage_metrics.structural_similarity(
      prediction[0], target[0], data_range=1.0, gaussian_weights=True, sigma=1.5,
      use_sample_covariance=False, channel_axis=-1)
  got = metrics.ssim(prediction, target, data_range=1.0)
  assert got[0] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("channels", [1, 3])
def test_ssim_is_symmetric_and_below_one_for_noisy_images(channels):
  target = _smooth_images(6, (2, 20, 20, channels))
  prediction = _noisy(target, 7, std=20.0)
  forward = metrics.ssim(prediction, target)
  np.testing.assert_allclose(forward, metrics.ssim(target, prediction), rtol=1e-12)
  assert np.all(forward < 0.99) and np.all(forward > 0.0)


def test_ssim_drops_as_noise_grows():
  target = _smooth_images(8, (1, 20, 20, 3))
  values = [metrics.ssim(_noisy(target, 9, std), target)[0] for std in (2.0, 10.0, 40.0)]
  assert values[0] > values[1] > values[2]


def test_ssim_of_constant_images_is_the_luminance_term():
  # Constant images have zero variance and covariance, so
  # SSIM = (2 a b + C1) / (a^2 + b^2 + C1) with C1 = (0.01 * 255)^2.
  a, b = 100.0, 120.0
  c1 = (0.01 * 255) ** 2
  prediction = np.full((1, 11, 11, 1), a)
  target = np.full((1, 11, 11, 1), b)
  assert metrics.ssim(prediction, target)[0] == pytest.approx(
      (2 * a * b + c1) / (a * a + b * b + c1), rel=1e-12)


def test_ssim_rejects_images_smaller_than_the_window():
  images = _images(10, (1, 7, 7, 3))
  with pytest.raises(ValueError, match="at least 11x11"):
    metrics.ssim(images, images)


def test_mismatched_shapes_are_rejected():
  with pytest.raises(UserError, match="same size"):
    metrics.psnr(_images(11, (1, 12, 12, 3)), _images(11, (1, 12, 13, 3)))


# --------------------------------------------------------------------- upsample

# One input shape and scale throughout, so each method compiles once.
_SHAPE = (2, 5, 8, 3)


def _rows(row):
  """(2, 5, 8, 3) uint8 images whose every row is `row`."""
  return np.broadcast_to(np.asarray(row, np.uint8)[None, None, :, None], _SHAPE).copy()


@pytest.mark.parametrize("method", ["bicubic", "bilinear", "nearest"])
def test_upsample_shape_dtype_and_constant_images(method):
  images = np.full(_SHAPE, 173, np.uint8)
  images[1] = 4
  got = metrics.upsample(images, 2, method)
  assert got.shape == (2, 10, 16, 3) and got.dtype == np.uint8
  np.testing.assert_array_equal(got[0], 173)
  np.testing.assert_array_equal(got[1], 4)


def test_nearest_upsampling_replicates_pixels():
  images = _images(12, _SHAPE)
  expected = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)
  np.testing.assert_array_equal(metrics.upsample(images, 2, "nearest"), expected)


def test_bilinear_upsampling_by_hand():
  # Output i samples x = (i + 1/2) / 2 - 1/2 = (2 i - 1) / 4 of the ramp f(p) = 20 p,
  # so f(x) = 10 i - 5; outputs 0 and 15 (x = -0.25, 7.25) have one pixel in reach
  # and take its value.
  got = metrics.upsample(_rows(20 * np.arange(8)), 2, "bilinear")
  expected = [0] + [10 * i - 5 for i in range(1, 15)] + [140]
  np.testing.assert_array_equal(got, np.broadcast_to(
      np.array(expected)[None, None, :, None], got.shape))


def test_bicubic_upsampling_reproduces_quadratics_in_the_interior():
  # Keys' a = -0.5 kernel interpolates quadratics exactly (torch's a = -0.75 misses
  # by up to 2.25 grey levels here). Pixels f(p) = 16 (p - 3.5)^2, p = 0..7; output
  # i samples x = (2 i - 1) / 4, where f = (2 i - 15)^2. Outputs 3..10 have all four
  # taps inside the image.
  got = metrics.upsample(_rows(16 * (np.arange(8) - 3.5) ** 2), 2, "bicubic")
  interior = np.arange(3, 11)
  np.testing.assert_array_equal(got[:, :, interior], np.broadcast_to(
      ((2 * interior - 15) ** 2)[None, None, :, None], (2, 10, 8, 3)))


def test_upsample_rejects_float_images_and_bad_arguments():
  with pytest.raises(UserError, match="uint8"):
    metrics.upsample(np.zeros((1, 4, 4, 3)), 2)
  with pytest.raises(UserError, match="scale"):
    metrics.upsample(np.zeros((1, 4, 4, 3), np.uint8), 0)
  with pytest.raises(UserError, match="method"):
    metrics.upsample(np.zeros((1, 4, 4, 3), np.uint8), 2, "lanczos")
