"""Tests for gan.metrics.manifold: precision/recall and density/coverage."""

import numpy as np
import pytest

from gan import metrics


def _features(seed, n, d, shift=0.0):
  return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_hand_computed_one_dimensional_example():
  # k = 1. Real points 0, 1, 3, 10: radii (distance to nearest other real point)
  # 1, 1, 2, 7. Fake points 0.5, 2.5, 20: radii 2, 2, 17.5.
  real = np.array([[0.0], [1.0], [3.0], [10.0]])
  fake = np.array([[0.5], [2.5], [20.0]])
  precision, recall = metrics.precision_recall(real, fake, k=1)
  # Fakes in a real ball: 0.5 (ball of 0), 2.5 (ball of 3); 20 is 10 from 10 > 7.
  assert precision == pytest.approx(2 / 3)
  # Reals in a fake ball: 0, 1 (ball of 0.5, radius 2), 3 (ball of 2.5);
  # 10 is 10 from 20, within its radius 17.5. All four.
  assert recall == pytest.approx(1.0)
  density, coverage = metrics.density_coverage(real, fake, k=1)
  # Real balls holding each fake: 0.5 -> {0, 1}; 2.5 -> {3}; 20 -> {} : 3 / (1 * 3).
  assert density == pytest.approx(1.0)
  # Reals whose nearest fake lies inside their ball: 0 (0.5 < 1), 1 (0.5 < 1),
  # 3 (0.5 < 2); not 10 (7.5 > 7).
  assert coverage == pytest.approx(3 / 4)


def test_precision_recall_balls_are_closed_and_density_balls_open():
  # Real 0 and 2 (radii 2 with k = 1); the fake at 4 lies exactly on the sphere of 2.
  real = np.array([[0.0], [2.0]])
  fake = np.array([[4.0], [100.0]])
  precision, _ = metrics.precision_recall(real, fake, k=1)
  density, coverage = metrics.density_coverage(real, fake, k=1)
  assert precision == 0.5  # torch-fidelity: <=
  assert density == 0.0  # prdc: <
  assert coverage == 0.0


def test_identical_sets():
  x = _features(0, 120, 5)
  assert metrics.precision_recall(x, x.copy()) == (1.0, 1.0)
  density, coverage = metrics.density_coverage(x, x.copy())
  assert coverage == 1.0
  # Each real ball (open, radius = k-th neighbour) holds itself and k - 1 others,
  # so the counts add up to N k and density is 1, up to ties at the boundary.
  assert density == pytest.approx(1.0, abs=2 / (5 * 120))


def test_disjoint_sets_give_zeros():
  x = _features(1, 50, 3)
  y = _features(2, 50, 3, shift=100.0)
  assert metrics.precision_recall(x, y) == (0.0, 0.0)
  assert metrics.density_coverage(x, y) == (0.0, 0.0)


def test_blocks_do_not_change_the_result():
  # 7 divides neither 60 nor 45: the last block of each matrix is padded.
  x = _features(3, 60, 4)
  y = _features(4, 45, 4, shift=0.5)
  assert metrics.precision_recall(x, y, block_rows=7) == metrics.precision_recall(x, y)
  assert metrics.density_coverage(x, y, block_rows=7) == metrics.density_coverage(x, y)


def test_matches_brute_force_numpy():
  x = _features(5, 80, 6)
  y = _features(6, 70, 6, shift=0.4)
  k = 3
  d_xx = np.linalg.norm(x[:, None] - x[None], axis=-1)
  d_yy = np.linalg.norm(y[:, None] - y[None], axis=-1)
  d_xy = np.linalg.norm(x[:, None] - y[None], axis=-1)
  r_x = np.sort(d_xx, axis=1)[:, k]
  r_y = np.sort(d_yy, axis=1)[:, k]
  precision = np.mean(np.any(d_xy <= r_x[:, None], axis=0))
  recall = np.mean(np.any(d_xy <= r_y[None, :], axis=1))
  assert metrics.precision_recall(x, y, k=k) == pytest.approx((precision, recall))
  density = np.sum(d_xy < r_x[:, None]) / (k * len(y))
  coverage = np.mean(d_xy.min(axis=1) < r_x)
  assert metrics.density_coverage(x, y, k=k) == pytest.approx((density, coverage))


@pytest.mark.parametrize("fn", [metrics.precision_recall, metrics.density_coverage])
def test_bad_inputs_raise_value_error(fn):
  x = _features(7, 10, 3)
  with pytest.raises(ValueError, match="k "):
    fn(x, x, k=0)
  with pytest.raises(ValueError, match="at least 11"):
    fn(x, x, k=10)
  with pytest.raises(ValueError, match="feature_dim"):
    fn(x, _features(8, 10, 4))
  with pytest.raises(ValueError, match="NaN or inf"):
    fn(np.where(x > 0, np.inf, x), x)
  with pytest.raises(ValueError, match="2-D"):
    fn(x[None], x)
