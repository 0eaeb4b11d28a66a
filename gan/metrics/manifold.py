"""k-nearest-neighbour manifold metrics: precision/recall and density/coverage.

Each sample x of a set X gets a ball B(x, r_k(x)), r_k(x) the distance from x to
its k-th nearest neighbour in X (x itself not counted; Euclidean distance). Then,
with real set R, fake set F and 1[.] the indicator,

  precision = 1/|F| sum_{f in F} 1[ exists r in R: |f - r| <= r_k(r) ]
  recall    = 1/|R| sum_{r in R} 1[ exists f in F: |r - f| <= r_k(f) ]
  density   = 1/(k |F|) sum_{f in F} sum_{r in R} 1[ |f - r| < r_k(r) ]
  coverage  = 1/|R| sum_{r in R} 1[ min_{f in F} |r - f| < r_k(r) ]

Precision/recall follow torch-fidelity (`metric_prc.py`, default k = 3, balls closed:
<=); density/coverage follow the `prdc` package (default k = 5, balls open: <).

What runs where: validation and the float64 cast run on the host in numpy; the
distances run in JAX, in float64 inside a scoped `jax.enable_x64(True)`, on JAX's
default device. The global `jax_enable_x64` flag is never changed. Distances are
never held whole: rows are taken in blocks of at most `_BLOCK_ELEMENTS` distances
(16M, 128 MB of float64) under `jax.lax.map`, so 10k x 10k features (100M
distances) go in 6 blocks (peak process memory seen on CPU: 0.6 GB).

References:
  Kynkaanniemi et al. 2019, Improved Precision and Recall Metric for Assessing
    Generative Models.
  Naeem et al. 2020, Reliable Fidelity and Diversity Metrics for Generative Models.
  toshas/torch-fidelity, torch_fidelity/metric_prc.py;
  clovaai/generative-evaluation-prdc, prdc/prdc.py.
"""

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan.errors import UserError
from gan.metrics.frechet import ArrayLike, _as_feature_matrix, _check_same_feature_dim

# Most distances held at once per block: 2**24 float64 values = 128 MB.
_BLOCK_ELEMENTS = 2**24


def _euclidean_distances(x: jax.Array, y: jax.Array) -> jax.Array:
  # sqrt(|x|^2 + |y|^2 - 2 x.y), clipped at 0: the matmul form that torch.cdist and
  # sklearn's euclidean_distances use for large inputs.
  squared = (jnp.sum(x * x, axis=1)[:, None] + jnp.sum(y * y, axis=1)[None, :]
             - 2 * (x @ y.T))
  return jnp.sqrt(jnp.maximum(squared, 0.0))


def _rows_per_block(num_rows: int, num_cols: int, block_rows: Optional[int]) -> int:
  if block_rows is not None and (not isinstance(block_rows, (int, np.integer))
                                 or block_rows < 1):
    raise UserError(f"block_rows must be a positive integer or None, got {block_rows!r}.")
  return min(num_rows, block_rows or max(1, _BLOCK_ELEMENTS // num_cols))


def _blocks(x: jax.Array, block_rows: int, fill: float) -> jax.Array:
  """(N, ...) -> (ceil(N / block_rows), block_rows, ...), padded with `fill`."""
  num_blocks = -(-x.shape[0] // block_rows)
  padding = [(0, num_blocks * block_rows - x.shape[0])] + [(0, 0)] * (x.ndim - 1)
  return jnp.pad(x, padding, constant_values=fill).reshape(
      num_blocks, block_rows, *x.shape[1:])


def _kth_neighbour_radii(features: jax.Array, *, k: int, block_rows: int) -> jax.Array:
  """r_k(x) for every row x: distance to its k-th nearest other row."""

  def block_radii(block):
    distances = _euclidean_distances(block, features)
    # The (k+1)-th smallest, since the nearest is the sample itself (distance ~0):
    # strike out the row minimum k times, then take the minimum. Ties count with
    # their multiplicity, as in a sort; for small k this is ~8x faster than
    # lax.top_k on CPU.
    rows = jnp.arange(distances.shape[0])
    for _ in range(k):
      distances = distances.at[rows, jnp.argmin(distances, axis=1)].set(jnp.inf)
    return jnp.min(distances, axis=1)

  radii = jax.lax.map(block_radii, _blocks(features, block_rows, 0.0))
  return radii.reshape(-1)[:features.shape[0]]


@functools.partial(jax.jit, static_argnames=("k", "real_block_rows", "fake_block_rows",
                                              "cross_block_rows"))
def _precision_recall_counts(real, fake, *, k, real_block_rows, fake_block_rows,
                             cross_block_rows):
  """(#fakes inside some real ball, #reals inside some fake ball); closed balls."""
  real_radii = _kth_neighbour_radii(real, k=k, block_rows=real_block_rows)
  fake_radii = _kth_neighbour_radii(fake, k=k, block_rows=fake_block_rows)

  def block_counts(block):
    real_block, real_radii_block = block  # padded rows have radius -inf
    distances = _euclidean_distances(real_block, fake)  # (block, N_fake)
    fake_inside_real_balls = jnp.any(distances <= real_radii_block[:, None], axis=0)
    real_inside_fake_balls = jnp.any(distances <= fake_radii[None, :], axis=1)
    return fake_inside_real_balls, real_inside_fake_balls

  fake_inside, real_inside = jax.lax.map(
      block_counts, (_blocks(real, cross_block_rows, 0.0),
                     _blocks(real_radii, cross_block_rows, -jnp.inf)))
  real_inside = real_inside.reshape(-1)[:real.shape[0]]
  return jnp.sum(jnp.any(fake_inside, axis=0)), jnp.sum(real_inside)


@functools.partial(jax.jit, static_argnames=("k", "real_block_rows", "cross_block_rows"))
def _density_coverage_counts(real, fake, *, k, real_block_rows, cross_block_rows):
  """(sum over fakes of #real open balls holding it, #reals whose nearest fake is inside)."""
  real_radii = _kth_neighbour_radii(real, k=k, block_rows=real_block_rows)

  def block_counts(block):
    real_block, real_radii_block = block  # padded rows have radius -inf
    distances = _euclidean_distances(real_block, fake)  # (block, N_fake)
    balls_holding_fakes = jnp.sum(distances < real_radii_block[:, None])
    covered = jnp.min(distances, axis=1) < real_radii_block
    return balls_holding_fakes, covered

  balls_holding_fakes, covered = jax.lax.map(
      block_counts, (_blocks(real, cross_block_rows, 0.0),
                     _blocks(real_radii, cross_block_rows, -jnp.inf)))
  return jnp.sum(balls_holding_fakes), jnp.sum(covered.reshape(-1)[:real.shape[0]])


def _check_k(k) -> int:
  if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
    raise UserError(f"k (the nearest-neighbour count) must be a positive integer, got {k!r}.")
  return int(k)


def precision_recall(real_features: ArrayLike, fake_features: ArrayLike, *, k: int = 3,
                     block_rows: Optional[int] = None) -> tuple[float, float]:
  """Improved precision and recall (Kynkaanniemi et al. 2019), as torch-fidelity.

  precision = 1/|F| sum_{f in F} 1[ exists r in R: |f - r| <= r_k(r) ],
  recall    = 1/|R| sum_{r in R} 1[ exists f in F: |r - f| <= r_k(f) ],

  r_k(x) the distance from x to its k-th nearest neighbour within its own set.
  Precision is the share of fakes on the real manifold (fidelity), recall the share
  of reals on the fake manifold (diversity). Identical sets give (1, 1).

  Args:
    real_features: (N_r, d) features of real samples, N_r >= k + 1.
    fake_features: (N_f, d) features of generated samples, N_f >= k + 1.
    k: neighbourhood size (torch-fidelity's `prc_neighborhood`, default 3).
    block_rows: rows per block of the distance matrices; None picks blocks of at
      most 16M distances.

  Returns:
    (precision, recall) as Python floats in [0, 1].

  References:
    Kynkaanniemi et al. 2019, Improved Precision and Recall Metric for Assessing
      Generative Models.
  """
  k = _check_k(k)
  real = _as_feature_matrix(real_features, name="real_features", min_samples=k + 1)
  fake = _as_feature_matrix(fake_features, name="fake_features", min_samples=k + 1)
  _check_same_feature_dim(real, fake)
  num_real, num_fake = len(real), len(fake)
  with jax.enable_x64(True):
    fakes_inside, reals_inside = _precision_recall_counts(
        jnp.asarray(real), jnp.asarray(fake), k=k,
        real_block_rows=_rows_per_block(num_real, num_real, block_rows),
        fake_block_rows=_rows_per_block(num_fake, num_fake, block_rows),
        cross_block_rows=_rows_per_block(num_real, num_fake, block_rows))
    # Integer counts divided on the host: exact, where jnp.mean of booleans is float32.
    precision = int(fakes_inside) / num_fake
    recall = int(reals_inside) / num_real
  return precision, recall


def density_coverage(real_features: ArrayLike, fake_features: ArrayLike, *, k: int = 5,
                     block_rows: Optional[int] = None) -> tuple[float, float]:
  """Density and coverage (Naeem et al. 2020), as the `prdc` package computes them.

  density  = 1/(k |F|) sum_{f in F} sum_{r in R} 1[ |f - r| < r_k(r) ],
  coverage = 1/|R| sum_{r in R} 1[ min_{f in F} |r - f| < r_k(r) ],

  r_k(r) the distance from r to its k-th nearest other real sample. Only real balls
  are used, so outlying reals do not inflate the score. Density is unbounded above
  (about 1 when F matches R); coverage lies in [0, 1] and is 1 for identical sets.

  Args:
    real_features: (N_r, d) features of real samples, N_r >= k + 1.
    fake_features: (N_f, d) features of generated samples, N_f >= 1.
    k: neighbourhood size (prdc's `nearest_k`; 5 is the paper's choice).
    block_rows: rows per block of the distance matrices; None picks blocks of at
      most 16M distances.

  Returns:
    (density, coverage) as Python floats.

  References:
    Naeem et al. 2020, Reliable Fidelity and Diversity Metrics for Generative Models.
  """
  k = _check_k(k)
  real = _as_feature_matrix(real_features, name="real_features", min_samples=k + 1)
  fake = _as_feature_matrix(fake_features, name="fake_features", min_samples=1)
  _check_same_feature_dim(real, fake)
  num_real, num_fake = len(real), len(fake)
  with jax.enable_x64(True):
    balls_holding_fakes, covered = _density_coverage_counts(
        jnp.asarray(real), jnp.asarray(fake), k=k,
        real_block_rows=_rows_per_block(num_real, num_real, block_rows),
        cross_block_rows=_rows_per_block(num_real, num_fake, block_rows))
    density = int(balls_holding_fakes) / (k * num_fake)
    coverage = int(covered) / num_real
  return density, coverage
