"""Mode metrics on constructed samples: values worked out by hand."""

import numpy as np
import pytest

from gan.data import mixtures
from gan.errors import UserError
from gan.metrics import modes


def _at_centres(mixture, per_mode):
  return np.repeat(mixture.means, per_mode, axis=0)


@pytest.mark.parametrize("name", ["ring", "grid"])
def test_samples_at_every_centre_capture_all_modes_with_zero_kl(name):
  mixture = mixtures.get_mixture(name)
  result = modes.mixture_mode_metrics(_at_centres(mixture, 100), mixture.means, mixture.std)
  assert result["modes"] == mixture.num_modes
  assert result["high_quality"] == 100.0
  assert result["reverse_kl"] == pytest.approx(0.0, abs=1e-12)
  np.testing.assert_array_equal(result["counts"], 100)


def test_a_collapsed_generator_has_one_mode_and_kl_log_k():
  ring = mixtures.get_mixture("ring")
  samples = np.tile(ring.means[3], (2500, 1)) + 0.005  # 0.7 sigma away: high quality.
  result = modes.mixture_mode_metrics(samples, ring.means, ring.std)
  assert result["modes"] == 1 and result["high_quality"] == 100.0
  assert result["reverse_kl"] == pytest.approx(np.log(8))
  assert result["counts"][3] == 2500


def test_high_quality_is_within_three_sigma_of_the_nearest_mode():
  grid = mixtures.get_mixture("grid")  # sigma = 0.05, threshold 0.15.
  samples = np.array([[0.0, 0.149], [0.0, 0.151], [2.0, 2.0], [1.0, 1.0], [4.1, 4.1]])
  result = modes.mixture_mode_metrics(samples, grid.means, grid.std)
  # Inside: 0.149 from (0,0); (2,2) exactly; (4.1,4.1) is 0.1414 from (4,4).
  assert result["high_quality"] == pytest.approx(100 * 3 / 5)
  assert result["modes"] == 3
  assert result["reverse_kl"] == pytest.approx(np.log(25 / 3))  # q = 1/3 on 3 of 25 modes.
  index, distance = modes.nearest_mode(samples, grid.means)
  np.testing.assert_allclose(distance[:2], [0.149, 0.151])
  np.testing.assert_array_equal(grid.means[index[4]], [4.0, 4.0])


def test_reverse_kl_by_hand():
  # q = (1/2, 1/4, 1/4, 0), u = 1/4: 1/2 log 2 + 1/4 log 1 + 1/4 log 1 + 0.
  assert modes.reverse_kl_to_uniform([2, 1, 1, 0]) == pytest.approx(0.5 * np.log(2))
  assert modes.reverse_kl_to_uniform([5, 0, 0]) == pytest.approx(np.log(3))
  assert np.isnan(modes.reverse_kl_to_uniform([0, 0]))


def test_no_high_quality_sample_gives_no_modes_and_nan_kl():
  ring = mixtures.get_mixture("ring")
  result = modes.mixture_mode_metrics(np.zeros((10, 2)), ring.means, ring.std)
  assert result["modes"] == 0 and result["high_quality"] == 0.0
  assert np.isnan(result["reverse_kl"])


def test_stacked_mnist_modes_and_kl():
  every = np.array([[a, b, c] for a in range(10) for b in range(10) for c in range(10)])
  assert modes.stacked_mnist_mode_ids(every[[0, 1, 10, 100, 999]]).tolist() == [0, 1, 10, 100,
                                                                                999]
  result = modes.stacked_mnist_metrics(np.repeat(every, 26, axis=0))
  assert result["modes"] == 1000 and result["kl"] == pytest.approx(0.0, abs=1e-12)
  collapsed = modes.stacked_mnist_metrics(np.tile([[7, 0, 3]], (26000, 1)))
  assert collapsed["modes"] == 1 and collapsed["kl"] == pytest.approx(np.log(1000))
  assert collapsed["counts"][703] == 26000
  half = modes.stacked_mnist_metrics(np.repeat(every[:500], 2, axis=0))
  assert half["modes"] == 500 and half["kl"] == pytest.approx(np.log(2))
  with pytest.raises(UserError):
    modes.stacked_mnist_mode_ids(np.array([[10, 0, 0]]))


def test_classify_channels_keeps_the_channel_order():
  # A "classifier" that reads the digit off the mean intensity of a grey image.
  def classify(grey):
    digit = np.round(grey.mean(axis=(1, 2, 3))).astype(int)
    return np.eye(10)[digit]
  digits = np.array([[1, 2, 3], [9, 0, 5], [4, 4, 8]])
  images = np.broadcast_to(digits[:, None, None, :], (3, 28, 28, 3)).astype(np.float32)
  np.testing.assert_array_equal(modes.classify_channels(images, classify, batch_size=2), digits)


def test_mean_and_standard_error():
  mean, error = modes.mean_and_standard_error([1.0, 2.0, 3.0])
  assert mean == 2.0 and error == pytest.approx(1.0 / np.sqrt(3))
  assert modes.mean_and_standard_error([4.0]) == (4.0, 0.0)
