"""Tests for gan.metrics.frechet: FID against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from gan import metrics


def _features(seed, n, d, shift=0.0, scale=1.0):
  rng = np.random.default_rng(seed)
  return rng.normal(size=(n, d)) * scale + shift


def test_identical_sets_give_zero():
  x = _features(0, 200, 16)
  assert abs(metrics.fid(x, x)) < 1e-8


def test_identical_sets_with_fewer_samples_than_dimensions_give_zero():
  x = _features(1, 20, 64)  # rank-19 covariance
  assert abs(metrics.fid(x, x)) < 1e-8


def test_diagonal_gaussians_match_closed_form():
  # d^2 = |mu1 - mu2|^2 + sum_j (s1_j + s2_j - 2 sqrt(s1_j s2_j)).
  mu1 = np.array([0.0, 1.0, -2.0, 0.5])
  mu2 = np.array([1.0, 1.0, 0.0, 0.0])
  s1 = np.array([1.0, 4.0, 0.25, 9.0])
  s2 = np.array([4.0, 1.0, 0.25, 1.0])
  # |mu1 - mu2|^2 = 1 + 0 + 4 + 0.25 = 5.25; the traces: (1+4-4) + (4+1-4)
  # + (0.25+0.25-0.5) + (9+1-6) = 1 + 1 + 0 + 4 = 6.
  expected = 5.25 + 6.0
  got = metrics.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
  assert got == pytest.approx(expected, rel=1e-12)


def test_one_dimensional_gaussians_are_squared_wasserstein():
  # In 1-D, W2^2(N(m1, a^2), N(m2, b^2)) = (m1 - m2)^2 + (a - b)^2.
  got = metrics.frechet_distance(np.array([3.0]), np.array([[4.0]]),
                                 np.array([1.0]), np.array([[9.0]]))
  assert got == pytest.approx((3.0 - 1.0) ** 2 + (2.0 - 3.0) ** 2, rel=1e-12)


def test_full_covariances_match_scipy_sqrtm():
  rng = np.random.default_rng(2)
  a = rng.normal(size=(6, 6))
  b = rng.normal(size=(6, 6))
  sigma1 = a @ a.T + 0.1 * np.eye(6)
  sigma2 = b @ b.T + 0.1 * np.eye(6)
  mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
  covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
  expected = (np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
              - 2 * np.trace(covmean))
  got = metrics.frechet_distance(mu1, sigma1, mu2, sigma2)
  assert got == pytest.approx(expected, rel=1e-10)


def test_equal_covariances_leave_the_mean_term():
  rng = np.random.default_rng(3)
  a = rng.normal(size=(5, 5))
  sigma = a @ a.T
  mu1, mu2 = np.zeros(5), np.arange(5.0)
  got = metrics.frechet_distance(mu1, sigma, mu2, sigma)
  assert got == pytest.approx(np.sum(mu2 ** 2), rel=1e-9)


def test_fid_is_symmetric():
  x = _features(4, 150, 12)
  y = _features(5, 90, 12, shift=0.5, scale=1.5)
  assert metrics.fid(x, y) == pytest.approx(metrics.fid(y, x), rel=1e-12)


def test_fid_is_invariant_to_rotations_and_translations():
  x = _features(6, 120, 8)
  y = _features(7, 100, 8, shift=0.3, scale=0.8)
  q, _ = np.linalg.qr(np.random.default_rng(8).normal(size=(8, 8)))
  assert metrics.fid(x @ q + 5.0, y @ q + 5.0) == pytest.approx(metrics.fid(x, y), rel=1e-10)


def test_fewer_samples_than_dimensions_match_reduced_basis():
  # S1 = W W^T with W = (X - mu1)^T / sqrt(N - 1), so the nonzero eigenvalues of
  # S1 S2 are those of the small, well-conditioned N x N matrix W^T S2 W.
  x = _features(9, 30, 64)
  y = _features(10, 40, 64, shift=0.2)
  mu1, sigma1 = np.mean(x, 0), np.cov(x, rowvar=False)
  mu2, sigma2 = np.mean(y, 0), np.cov(y, rowvar=False)
  w = (x - mu1).T / np.sqrt(len(x) - 1)
  eigenvalues = np.linalg.eigvalsh(w.T @ sigma2 @ w)
  tr_covmean = np.sum(np.sqrt(eigenvalues[eigenvalues > 1e-10 * eigenvalues.max()]))
  expected = (np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2)
              - 2 * tr_covmean)
  assert metrics.fid(x, y) == pytest.approx(expected, rel=1e-12)


def test_feature_statistics_divide_by_n_minus_one():
  x = _features(11, 50, 7)
  mu, sigma = metrics.feature_statistics(x)
  assert mu.dtype == np.float64 and sigma.dtype == np.float64
  np.testing.assert_allclose(mu, x.mean(axis=0), rtol=1e-12)
  np.testing.assert_allclose(sigma, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-14)


def test_jax_float32_inputs_are_accepted_and_x64_stays_off():
  x = _features(12, 64, 6)
  y = _features(13, 64, 6, shift=1.0)
  got = metrics.fid(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))
  expected = metrics.fid(x.astype(np.float32), y.astype(np.float32))
  assert isinstance(got, float)
  assert got == expected
  assert not jax.config.jax_enable_x64
  assert jnp.ones(1).dtype == jnp.float32


@pytest.mark.parametrize("real, fake, match", [
    (np.zeros(10), np.zeros((10, 2)), "2-D"),
    (np.zeros((4, 2, 2)), np.zeros((4, 4)), "2-D"),
    (np.ones((10, 3)), np.ones((10, 4)), "feature_dim"),
    (np.full((10, 3), np.nan), np.ones((10, 3)), "NaN or inf"),
    (np.ones((10, 3)), np.full((10, 3), np.inf), "NaN or inf"),
    (np.ones((1, 3)), np.ones((10, 3)), "at least 2"),
    (np.ones((10, 0)), np.ones((10, 0)), "feature_dim"),
])
def test_bad_features_raise_value_error(real, fake, match):
  with pytest.raises(ValueError, match=match):
    metrics.fid(real, fake)


def test_bad_statistics_raise_value_error():
  with pytest.raises(ValueError, match="shape"):
    metrics.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))
  with pytest.raises(ValueError, match="1-D"):
    metrics.frechet_distance(np.eye(3), np.eye(3), np.zeros(3), np.eye(3))
