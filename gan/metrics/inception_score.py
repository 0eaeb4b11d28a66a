"""Inception Score from classifier logits, as torch-fidelity computes it.

IS = exp( E_x KL(p(y|x) || p(y)) ),   p(y) = E_x p(y|x),

estimated on each of `splits` consecutive chunks of the (shuffled) samples and
reported as mean and standard deviation over the chunks.

torch-fidelity's procedure, reproduced here: rows are first permuted with
`np.random.RandomState(2020).permutation(N)` (its `samples_shuffle=True`,
`rng_seed=2020`); chunk i holds rows [i N // splits, (i + 1) N // splits); p(y|x) is
the softmax of the logits in float64; the std is `np.std` (ddof=0).

One deliberate difference: torch-fidelity takes log p(y) = log(mean_x p(y|x)), which
is -inf (and the score NaN) when a class's probability underflows to zero in every
sample of a chunk. Here log p(y) = logsumexp_x log p(y|x) - log n, which is finite
and equal to it whenever torch-fidelity's value is finite.

What runs where: everything runs on the host in numpy float64 (an (N, C) softmax
needs no accelerator); JAX is not used, so its x64 flag is untouched.

References:
  Salimans et al. 2016, Improved Techniques for Training GANs.
  Barratt & Sharma 2018, A Note on the Inception Score.
  toshas/torch-fidelity, torch_fidelity/metric_isc.py.
"""

import numpy as np
from scipy.special import log_softmax, logsumexp

from gan.errors import UserError
from gan.metrics.frechet import ArrayLike, _as_feature_matrix
from gan.metrics.kernel import TORCH_FIDELITY_SEED


def _split_score(log_p: np.ndarray) -> float:
  """exp(E_x KL(p(y|x) || p(y))) on one chunk, from log p(y|x) of shape (n, C)."""
  log_marginal = logsumexp(log_p, axis=0) - np.log(log_p.shape[0])
  return float(np.exp(np.mean(np.sum(np.exp(log_p) * (log_p - log_marginal), axis=1))))


def inception_score(logits: ArrayLike, *, splits: int = 10, shuffle: bool = True,
                    seed: int = TORCH_FIDELITY_SEED) -> tuple[float, float]:
  """Inception Score: mean and std of exp(E_x KL(p(y|x) || p(y))) over splits.

  IS_s = exp( 1/n_s sum_{x in s} sum_c p(c|x) [log p(c|x) - log p_s(c)] ),
  p_s(c) = 1/n_s sum_{x in s} p(c|x),   p(.|x) = softmax(logits_x).

  1 <= IS <= C: uniform predictions give 1; confident predictions spread evenly
  over C classes give C. To score probabilities instead of logits, pass their
  logarithm, softmax(log p) = p (clip p above 0 first: non-finite values are
  rejected).

  Args:
    logits: (N, C) unnormalised classifier outputs, N >= splits. For the standard
      score, the 1008-way logits of the TF Inception network ("logits_unbiased" in
      torch-fidelity).
    splits: number of consecutive chunks (torch-fidelity's `isc_splits`).
    shuffle: permute rows first, as torch-fidelity does by default.
    seed: seed of the `np.random.RandomState` permutation; 2020 is torch-fidelity's.

  Returns:
    (mean, std) of the per-split scores as Python floats, std with ddof=0.

  References:
    Salimans et al. 2016, Improved Techniques for Training GANs.
  """
  if not isinstance(splits, (int, np.integer)) or splits < 1:
    raise UserError(f"splits must be a positive integer, got {splits!r}.")
  logits = _as_feature_matrix(logits, name="logits", min_samples=int(splits))
  num_samples = logits.shape[0]
  if shuffle:
    logits = logits[np.random.RandomState(seed).permutation(num_samples)]
  log_p = log_softmax(logits, axis=1)
  bounds = [i * num_samples // splits for i in range(splits + 1)]
  scores = [_split_score(log_p[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:])]
  return float(np.mean(scores)), float(np.std(scores))
