"""Kernel Inception Distance (KID): unbiased MMD^2 with a cubic polynomial kernel.

k(x, y) = (x . y / d + 1)^3,

MMD^2_u(X, Y) = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)]
                - 2/m^2 sum_{i, j} k(x_i, y_j),

averaged over `num_subsets` random subsets of `subset_size` samples from each set.
(The cross term keeps i = j: this is the "unbiased" estimator of Binkowski et al.'s
MMD-GAN code and of torch-fidelity, not the U-statistic.)

Subsets are drawn exactly as torch-fidelity draws them in its documented use,
`calculate_metrics(input1=generated, input2=real)`: one `np.random.RandomState(seed)`
(default seed 2020, torch-fidelity's `rng_seed`), and per subset first
`rng.choice(N_fake, m, replace=False)` (its input1, the generated samples) then
`rng.choice(N_real, m, replace=False)`; with the same features and seed the values
match torch-fidelity's `kid_features_to_metric(fake_features, real_features)`.
(MMD^2_u is symmetric in its two sets, so only the draw order matters.)

What runs where: validation, the float64 cast and the index draws run on the host in
numpy; the kernel sums run in JAX, in float64 inside a scoped `jax.enable_x64(True)`,
on JAX's default device, one subset at a time (`jax.lax.map`), so memory is three
m x m matrices. The global `jax_enable_x64` flag is never changed.

References:
  Binkowski et al. 2018, Demystifying MMD GANs.
  Gretton et al. 2012, A Kernel Two-Sample Test.
  toshas/torch-fidelity, torch_fidelity/metric_kid.py.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan.errors import UserError
from gan.metrics.frechet import ArrayLike, _as_feature_matrix, _check_same_feature_dim

# torch-fidelity's default `rng_seed`: KID subsets and the Inception Score shuffle.
TORCH_FIDELITY_SEED = 2020


def _polynomial_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
  # Same order of operations as torch-fidelity: (X Y^T * gamma + coef0) ** degree.
  return (x @ y.T * (1.0 / x.shape[1]) + 1.0) ** 3


def _unbiased_mmd2(x: jax.Array, y: jax.Array) -> jax.Array:
  m = x.shape[0]
  k_xx = _polynomial_kernel(x, x)
  k_yy = _polynomial_kernel(y, y)
  k_xy = _polynomial_kernel(x, y)
  off_diagonal_xx = jnp.sum(k_xx) - jnp.trace(k_xx)
  off_diagonal_yy = jnp.sum(k_yy) - jnp.trace(k_yy)
  return (off_diagonal_xx + off_diagonal_yy) / (m * (m - 1)) - 2 * jnp.sum(k_xy) / (m * m)


@jax.jit
def _subset_mmd2s(real, fake, real_indices, fake_indices) -> jax.Array:
  return jax.lax.map(lambda idx: _unbiased_mmd2(real[idx[0]], fake[idx[1]]),
                     (real_indices, fake_indices))


def _subset_indices(*, num_real: int, num_fake: int, num_subsets: int, subset_size: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
  """torch-fidelity's draws with input1 = generated: per subset, fake then real, without
  replacement. Returns (real_indices, fake_indices), each (num_subsets, subset_size)."""
  rng = np.random.RandomState(seed)
  real_indices = np.empty((num_subsets, subset_size), dtype=np.int64)
  fake_indices = np.empty((num_subsets, subset_size), dtype=np.int64)
  for i in range(num_subsets):
    fake_indices[i] = rng.choice(num_fake, subset_size, replace=False)
    real_indices[i] = rng.choice(num_real, subset_size, replace=False)
  return real_indices, fake_indices


def kid(real_features: ArrayLike, fake_features: ArrayLike, *, num_subsets: int = 100,
        subset_size: int = 1000, seed: int = TORCH_FIDELITY_SEED) -> tuple[float, float]:
  """Kernel Inception Distance: mean and std of unbiased MMD^2 over random subsets.

  KID = 1/S sum_s MMD^2_u(X_s, Y_s),   k(x, y) = (x . y / d + 1)^3,

  X_s, Y_s each `subset_size` samples drawn without replacement from the real and
  fake features, as torch-fidelity draws them when given the generated samples as
  input1 (per subset the fake indices first, then the real ones). KID is an unbiased
  estimate, so it can be slightly negative when the two sets come from one
  distribution.

  Args:
    real_features: (N_r, d) features of real samples.
    fake_features: (N_f, d) features of generated samples.
    num_subsets: S, the number of subset pairs (torch-fidelity's `kid_subsets`).
    subset_size: m, samples per subset, 2 <= m <= min(N_r, N_f)
      (torch-fidelity's `kid_subset_size`).
    seed: seed of the `np.random.RandomState` that draws the subsets; the default
      2020 is torch-fidelity's. With it, the result equals torch-fidelity's
      `kid_features_to_metric(fake_features, real_features)`.

  Returns:
    (mean, std) over the S subsets as Python floats; std is the population standard
    deviation (ddof=0, `np.std`), as in torch-fidelity.

  References:
    Binkowski et al. 2018, Demystifying MMD GANs.
  """
  if not isinstance(num_subsets, (int, np.integer)) or num_subsets < 1:
    raise UserError(f"num_subsets must be a positive integer, got {num_subsets!r}.")
  if not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
    raise UserError(f"subset_size must be an integer >= 2 (MMD^2_u divides by m - 1), "
                    f"got {subset_size!r}.")
  real = _as_feature_matrix(real_features, name="real_features", min_samples=2)
  fake = _as_feature_matrix(fake_features, name="fake_features", min_samples=2)
  _check_same_feature_dim(real, fake)
  if subset_size > min(len(real), len(fake)):
    raise UserError(
        f"subset_size={subset_size} exceeds the number of samples (real: {len(real)}, "
        f"fake: {len(fake)}); pass subset_size <= {min(len(real), len(fake))} or more "
        f"samples (torch-fidelity raises here too).")
  real_indices, fake_indices = _subset_indices(
      num_real=len(real), num_fake=len(fake), num_subsets=int(num_subsets),
      subset_size=int(subset_size), seed=seed)
  with jax.enable_x64(True):
    mmd2s = np.asarray(_subset_mmd2s(jnp.asarray(real), jnp.asarray(fake),
                                     jnp.asarray(real_indices), jnp.asarray(fake_indices)))
  return float(np.mean(mmd2s)), float(np.std(mmd2s))
