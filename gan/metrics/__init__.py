"""Evaluation metrics as pure functions of feature (or logit) arrays.

Each metric takes numpy or JAX arrays of shape (num_samples, feature_dim), checks
them (a `gan.errors.UserError`, a ValueError, names the fix), and returns Python
floats computed in float64. Values match the reference implementations given the
same features:

  fid, frechet_distance, feature_statistics   pytorch-fid / torch-fidelity FID
  kid                                          torch-fidelity KID (same subsets)
  inception_score                              torch-fidelity Inception Score
  precision_recall                             torch-fidelity precision/recall
  density_coverage                             the `prdc` package

Feature extraction (an Inception network) is not part of these functions. The
heavy linear algebra runs in JAX under a scoped `jax.enable_x64(True)` on JAX's
default device; the global x64 flag is never changed.
"""

from gan.metrics.frechet import feature_statistics, fid, frechet_distance
from gan.metrics.inception_score import inception_score
from gan.metrics.kernel import kid
from gan.metrics.manifold import density_coverage, precision_recall
from gan.metrics.similarity import psnr, ssim, upsample

__all__ = [
    "density_coverage",
    "feature_statistics",
    "fid",
    "frechet_distance",
    "inception_score",
    "kid",
    "precision_recall",
    "psnr",
    "ssim",
    "upsample",
]
