"""experiments.ema_batchnorm: the BatchNorm statistics it recovers are the batch's own."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from experiments import ema_batchnorm


def _norm_and_stats():
  module = nn.BatchNorm(use_running_average=False)
  x = jax.random.normal(jax.random.key(0), (64, 3)) * jnp.array([1.0, 2.0, 0.5]) + 3.0
  variables = module.init(jax.random.key(1), x)
  old = jax.tree.map(lambda a: a + 0.25, variables["batch_stats"])  # Not the init values.

  def apply_fn(v, z, train, mutable):
    del train
    return module.apply(v, z, mutable=mutable)
  return apply_fn, variables["params"], old, x


def test_batch_statistics_are_the_batch_mean_and_biased_variance():
  apply_fn, params, old, x = _norm_and_stats()
  stats = ema_batchnorm.batch_statistics(apply_fn, params, old, x)
  np.testing.assert_allclose(stats["mean"], np.mean(np.asarray(x), 0), rtol=1e-4)
  np.testing.assert_allclose(stats["var"], np.var(np.asarray(x), 0), rtol=1e-3)


def test_standing_statistics_average_the_batches():
  apply_fn, params, old, _ = _norm_and_stats()
  standing = ema_batchnorm.standing_statistics(apply_fn, params, old, 3, batches=3, size=8,
                                               seed=5)
  zs = [jax.random.normal(jax.random.fold_in(jax.random.key(5), i), (8, 3)) for i in range(3)]
  np.testing.assert_allclose(standing["mean"], np.mean([np.mean(z, 0) for z in zs], 0),
                             atol=1e-5)
  np.testing.assert_allclose(standing["var"], np.mean([np.var(z, 0) for z in zs], 0),
                             rtol=1e-3)
