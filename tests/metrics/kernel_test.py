"""Tests for gan.metrics.kernel: KID against a direct O(n^2) MMD^2."""

import numpy as np
import pytest

from gan import metrics


def _direct_unbiased_mmd2(x, y):
  """MMD^2_u term by term: pairs i != j within sets, all pairs across them."""
  d = x.shape[1]
  m = len(x)

  def k(a, b):
    return (np.dot(a, b) / d + 1.0) ** 3

  within = sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
  across = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
  return within / (m * (m - 1)) - 2 * across / (m * m)


def _features(seed, n, d, shift=0.0):
  return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_single_full_subset_equals_direct_mmd2():
  # With subset_size = N each subset is a permutation of the whole set, and MMD^2_u
  # does not depend on the order of samples.
  x = _features(0, 25, 4)
  y = _features(1, 25, 4, shift=0.5)
  mean, std = metrics.kid(x, y, num_subsets=1, subset_size=25)
  assert mean == pytest.approx(_direct_unbiased_mmd2(x, y), rel=1e-12)
  assert std == 0.0


def test_subsets_are_drawn_as_torch_fidelity_draws_them():
  # torch-fidelity's calculate_metrics(input1=generated, input2=real): per subset the
  # generated (fake) indices are drawn first, then the real ones.
  x = _features(2, 40, 3)  # real
  y = _features(3, 30, 3, shift=0.3)  # fake
  rng = np.random.RandomState(2020)  # torch-fidelity's default rng_seed
  values = []
  for _ in range(4):
    ys = y[rng.choice(30, 12, replace=False)]
    xs = x[rng.choice(40, 12, replace=False)]
    values.append(_direct_unbiased_mmd2(xs, ys))
  mean, std = metrics.kid(x, y, num_subsets=4, subset_size=12)
  assert mean == pytest.approx(np.mean(values), rel=1e-12)
  assert std == pytest.approx(np.std(values, ddof=0), rel=1e-10)


def test_the_fake_draw_comes_first():
  # The real-first order (gan before issue 16) gives other subsets, and other values.
  x = _features(14, 40, 3)
  y = _features(15, 40, 3, shift=0.3)
  rng = np.random.RandomState(2020)
  real_first = []
  for _ in range(3):
    xs = x[rng.choice(40, 10, replace=False)]
    ys = y[rng.choice(40, 10, replace=False)]
    real_first.append(_direct_unbiased_mmd2(xs, ys))
  mean, _ = metrics.kid(x, y, num_subsets=3, subset_size=10)
  assert mean != pytest.approx(np.mean(real_first), rel=1e-6)
  # Swapping the roles of the two sets swaps which one is drawn first: MMD^2_u is
  # symmetric, so kid(y, x) is the real-first value.
  assert metrics.kid(y, x, num_subsets=3, subset_size=10)[0] == pytest.approx(
      np.mean(real_first), rel=1e-12)


def test_seed_changes_the_subsets():
  x = _features(4, 40, 3)
  y = _features(5, 40, 3, shift=0.3)
  assert (metrics.kid(x, y, num_subsets=3, subset_size=10, seed=0)
          != metrics.kid(x, y, num_subsets=3, subset_size=10, seed=1))


def test_identical_sets_give_near_zero():
  x = _features(6, 200, 8)
  shifted_mean, _ = metrics.kid(x, x + 1.0, num_subsets=50, subset_size=100)
  same_mean, _ = metrics.kid(x, x, num_subsets=50, subset_size=100)
  # Not exactly 0: the cross term keeps k(x_i, x_i), of order 2 (k(x,x) - k(x,y)) / m.
  assert abs(same_mean) < 0.02 * shifted_mean


def test_independent_sets_from_one_distribution_give_zero_within_noise():
  x = _features(12, 300, 8)
  y = _features(13, 300, 8)
  mean, std = metrics.kid(x, y, num_subsets=50, subset_size=100)
  assert abs(mean) < 3 * std


def test_subset_size_larger_than_samples_names_the_fix():
  x = _features(7, 50, 3)
  y = _features(8, 60, 3)
  with pytest.raises(ValueError, match=r"subset_size=1000 .*subset_size <= 50"):
    metrics.kid(x, y)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_subsets=0), "num_subsets"),
    (dict(subset_size=1), "subset_size"),
])
def test_bad_arguments_raise_value_error(kwargs, match):
  x = _features(9, 20, 3)
  with pytest.raises(ValueError, match=match):
    metrics.kid(x, x, **{"subset_size": 10, **kwargs})


def test_bad_features_raise_value_error():
  x = _features(10, 20, 3)
  with pytest.raises(ValueError, match="feature_dim"):
    metrics.kid(x, _features(11, 20, 4), subset_size=10)
  with pytest.raises(ValueError, match="NaN or inf"):
    metrics.kid(x, np.where(x > 1, np.nan, x), subset_size=10)
  with pytest.raises(ValueError, match="2-D"):
    metrics.kid(x[:, 0], x, subset_size=10)
