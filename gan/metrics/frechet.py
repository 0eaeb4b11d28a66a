"""Frechet distance between Gaussian fits of two feature sets (FID).

FID = |mu_1 - mu_2|^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^{1/2}),

with (mu_i, S_i) the sample mean and covariance (divided by N - 1, as numpy's
`np.cov`, pytorch-fid and torch-fidelity divide) of each set of features.

What runs where: inputs (numpy or JAX arrays) are validated and cast to float64 on
the host; the statistics and the matrix square-root trace then run in JAX, in
float64 inside a scoped `jax.enable_x64(True)`, on JAX's default device (CPU, GPU or
TPU). The global `jax_enable_x64` flag is never changed.

The trace term avoids `scipy.linalg.sqrtm`, which has no accelerator version:
S_1 S_2 is similar to the symmetric positive semi-definite matrix
A = S_1^{1/2} S_2 S_1^{1/2}, so tr((S_1 S_2)^{1/2}) = sum_i sqrt(lambda_i(A)), with
S_1^{1/2} and lambda(A) both from `eigh`. Eigenvalues at rounding level
(|lambda| <= d eps max|lambda|, negative ones included) are set to zero: with
singular covariances (N < d) this keeps FID exact to ~1e-15 relative where the
eigvals(S_1 S_2) formula of pytorch-fid / torch-fidelity drifts by ~1e-8 (sqrt of
each of the d - N noise eigenvalues adds ~1e-7).

This module also holds the input checks shared by the other metric modules.

References:
  Heusel et al. 2017, GANs Trained by a Two Time-Scale Update Rule Converge to a
    Local Nash Equilibrium (FID).
  Dowson & Landau 1982, The Frechet distance between multivariate normal
    distributions.
  mseitzer/pytorch-fid, src/pytorch_fid/fid_score.py; toshas/torch-fidelity,
    torch_fidelity/metric_fid.py (the values this module reproduces).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan.errors import UserError

ArrayLike = Any  # a numpy array, a JAX array, or anything `np.asarray` takes.


# ------------------------------------------------------------------ input checks


def _as_feature_matrix(x: ArrayLike, *, name: str, min_samples: int) -> np.ndarray:
  """`x` as a float64 (num_samples, feature_dim) host array, or a UserError."""
  try:
    array = np.asarray(x, dtype=np.float64)
  except (TypeError, ValueError) as error:
    raise UserError(
        f"{name} must be a numeric array of shape (num_samples, feature_dim); "
        f"np.asarray could not read it as float64 ({error}).") from None
  if array.ndim != 2:
    raise UserError(
        f"{name} must be 2-D (num_samples, feature_dim), got shape {array.shape}; "
        f"flatten each sample first, e.g. {name}.reshape(len({name}), -1).")
  if array.shape[1] == 0:
    raise UserError(f"{name} has shape {array.shape}: feature_dim must be at least 1.")
  if array.shape[0] < min_samples:
    raise UserError(
        f"{name} has {array.shape[0]} samples but this metric needs at least "
        f"{min_samples}; pass more samples.")
  if not np.all(np.isfinite(array)):
    bad_rows = int(np.sum(~np.all(np.isfinite(array), axis=1)))
    raise UserError(
        f"{name} has {bad_rows} samples with NaN or inf values; drop or fix those "
        f"samples (check the feature extractor's input) before computing the metric.")
  return array


def _check_same_feature_dim(real: np.ndarray, fake: np.ndarray) -> None:
  """UserError unless both (num_samples, feature_dim) arrays share feature_dim."""
  if real.shape[1] != fake.shape[1]:
    raise UserError(
        f"real_features has feature_dim {real.shape[1]} but fake_features has "
        f"{fake.shape[1]}; extract both with the same network and layer.")


# ---------------------------------------------------------------------- the math


@jax.jit
def _mean_and_covariance(features: jax.Array) -> tuple[jax.Array, jax.Array]:
  num_samples = features.shape[0]
  mu = jnp.mean(features, axis=0)
  centred = features - mu
  sigma = centred.T @ centred / (num_samples - 1)
  return mu, sigma


def _drop_rounding_noise(eigenvalues: jax.Array) -> jax.Array:
  # Eigenvalues of a PSD matrix below d * eps * max|lambda| are rounding noise (the
  # rank cut-off of np.linalg.matrix_rank). Zeroing them, not just the negative ones,
  # matters when N < d: sqrt turns each ~1e-15 noise eigenvalue into ~3e-8, and there
  # are d - N + 1 of them.
  tolerance = (eigenvalues.shape[0] * jnp.finfo(eigenvalues.dtype).eps
               * jnp.max(jnp.abs(eigenvalues)))
  return jnp.where(eigenvalues > tolerance, eigenvalues, 0.0)


@jax.jit
def _frechet_distance(mu1, sigma1, mu2, sigma2) -> jax.Array:
  # Symmetrise first: eigh reads one triangle only, and rounding in a covariance
  # product can leave the two triangles unequal in the last bits.
  sigma1 = (sigma1 + sigma1.T) / 2
  sigma2 = (sigma2 + sigma2.T) / 2
  eigenvalues, eigenvectors = jnp.linalg.eigh(sigma1)
  sqrt_sigma1 = (eigenvectors * jnp.sqrt(_drop_rounding_noise(eigenvalues))) @ eigenvectors.T
  a = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
  a = (a + a.T) / 2
  trace_sqrt_product = jnp.sum(jnp.sqrt(_drop_rounding_noise(jnp.linalg.eigvalsh(a))))
  diff = mu1 - mu2
  return diff @ diff + jnp.trace(sigma1) + jnp.trace(sigma2) - 2 * trace_sqrt_product


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
  """Sample mean and unbiased covariance of a set of features, in float64.

  mu = 1/N sum_n x_n,   S = 1/(N - 1) sum_n (x_n - mu)(x_n - mu)^T,

  the same as `np.mean(x, 0), np.cov(x, rowvar=False)`. Store these to compare many
  generators against one reference set with `frechet_distance`.

  Args:
    features: (N, d) array, N >= 2, one feature vector per sample.

  Returns:
    (mu, sigma): float64 numpy arrays of shapes (d,) and (d, d).

  References:
    Heusel et al. 2017 (FID); pytorch-fid and torch-fidelity divide by N - 1.
  """
  features = _as_feature_matrix(features, name="features", min_samples=2)
  with jax.enable_x64(True):
    mu, sigma = _mean_and_covariance(jnp.asarray(features))
    return np.asarray(mu), np.asarray(sigma)


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike,
                     sigma2: ArrayLike) -> float:
  """Frechet (2-Wasserstein) distance squared between N(mu1, S1) and N(mu2, S2).

  d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}),

  with tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i(S1^{1/2} S2 S1^{1/2})), computed with
  `eigh` in float64 on JAX's default device; eigenvalues at rounding level
  (<= d eps max|lambda|, negative ones included) are set to zero, so singular
  covariances (fewer samples than dimensions) work.
  For diagonal S1 = diag(s1), S2 = diag(s2) it is
  |mu1 - mu2|^2 + sum_j (s1_j + s2_j - 2 sqrt(s1_j s2_j)).

  Args:
    mu1: (d,) mean of the first Gaussian.
    sigma1: (d, d) symmetric positive semi-definite covariance of the first.
    mu2: (d,) mean of the second Gaussian.
    sigma2: (d, d) covariance of the second.

  Returns:
    The squared distance as a Python float (>= 0 up to rounding).

  References:
    Dowson & Landau 1982; Heusel et al. 2017.
  """
  arrays = {}
  for name, value, ndim in (("mu1", mu1, 1), ("sigma1", sigma1, 2), ("mu2", mu2, 1),
                            ("sigma2", sigma2, 2)):
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != ndim:
      raise UserError(f"{name} must be {ndim}-D, got shape {array.shape}; pass the mean "
                      f"(d,) and covariance (d, d) from feature_statistics.")
    if not np.all(np.isfinite(array)):
      raise UserError(f"{name} has NaN or inf entries; recompute it from finite features.")
    arrays[name] = array
  d = arrays["mu1"].shape[0]
  for name in ("sigma1", "mu2", "sigma2"):
    expected = (d, d) if name.startswith("sigma") else (d,)
    if arrays[name].shape != expected:
      raise UserError(f"{name} has shape {arrays[name].shape} but mu1 has dimension {d}, "
                      f"so {name} must have shape {expected}; use statistics of the same "
                      f"feature layer.")
  with jax.enable_x64(True):
    distance = _frechet_distance(*(jnp.asarray(arrays[name])
                                   for name in ("mu1", "sigma1", "mu2", "sigma2")))
    return float(distance)


def fid(real_features: ArrayLike, fake_features: ArrayLike) -> float:
  """Frechet Inception Distance between two sets of features.

  FID = |mu_r - mu_f|^2 + tr(S_r) + tr(S_f) - 2 tr((S_r S_f)^{1/2}),

  with (mu, S) from `feature_statistics` (covariance divided by N - 1). It is
  symmetric in its arguments and 0 for identical sets. Values agree with pytorch-fid
  and torch-fidelity given the same float64 features.

  Args:
    real_features: (N_r, d) features of real samples, N_r >= 2.
    fake_features: (N_f, d) features of generated samples, N_f >= 2. N < d is
      allowed (singular covariances), though FID is then strongly biased upwards.

  Returns:
    FID as a Python float.

  References:
    Heusel et al. 2017, GANs Trained by a Two Time-Scale Update Rule Converge to a
      Local Nash Equilibrium.
  """
  real = _as_feature_matrix(real_features, name="real_features", min_samples=2)
  fake = _as_feature_matrix(fake_features, name="fake_features", min_samples=2)
  _check_same_feature_dim(real, fake)
  mu_r, sigma_r = feature_statistics(real)
  mu_f, sigma_f = feature_statistics(fake)
  return frechet_distance(mu_r, sigma_r, mu_f, sigma_f)
