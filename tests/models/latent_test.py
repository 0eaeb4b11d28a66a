"""The discrete-code generator wrapper (gan.models.latent)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import models
from gan.errors import UserError
from gan.models.latent import DiscreteLatentGenerator, code_from_noise


def test_codes_are_uniform_and_in_range():
  z0 = jax.random.normal(jax.random.key(0), (200_000,))
  codes = np.asarray(code_from_noise(z0, 7))
  assert codes.min() == 0 and codes.max() == 6
  freq = np.bincount(codes, minlength=7) / codes.size
  np.testing.assert_allclose(freq, 1 / 7, atol=0.004)  # 5 binomial standard errors.


def test_codes_split_z0_at_the_normal_quantiles():
  # Phi(z) = k / K at the boundaries: for K = 2 the split is at 0, for K = 4 at 0 and
  # +-0.6745 (the quartiles of N(0, 1)).
  z0 = jnp.array([-5.0, -0.7, -0.65, -1e-3, 1e-3, 0.65, 0.7, 5.0, 40.0])
  np.testing.assert_array_equal(code_from_noise(z0, 4), [0, 0, 1, 1, 2, 2, 3, 3, 3])
  np.testing.assert_array_equal(code_from_noise(z0, 2), [0, 0, 0, 0, 1, 1, 1, 1, 1])


class _Record(nn.Module):
  """A linear 'generator' whose output shows the latent it saw."""

  @nn.compact
  def __call__(self, latent, *, train=True):
    del train
    return nn.Dense(3, use_bias=False, kernel_init=nn.initializers.ones)(latent), latent


def test_inner_generator_sees_one_hot_code_and_the_rest_of_z():
  wrapped = DiscreteLatentGenerator(_Record(), num_codes=5)
  z = jax.random.normal(jax.random.key(1), (64, 3))
  params = wrapped.init(jax.random.key(2), z)
  assert params["params"]["inner"]["Dense_0"]["kernel"].shape == (5 + 2, 3)
  _, latent = wrapped.apply(params, z)
  codes = code_from_noise(z[:, 0], 5)
  np.testing.assert_array_equal(latent[:, :5], jax.nn.one_hot(codes, 5))
  np.testing.assert_array_equal(latent[:, 5:], z[:, 1:])


def test_build_wraps_the_toy_generator_and_it_trains_like_any_other():
  generator, _ = models.build("toy", image_shape=(2,), g_widths=(8, 8), d_widths=(8,),
                              latent_codes=25)
  assert isinstance(generator, DiscreteLatentGenerator)
  z = jax.random.normal(jax.random.key(3), (32, 3))
  variables = jax.jit(generator.init)(jax.random.key(4), z)
  out, _ = jax.jit(lambda v, z: generator.apply(v, z, mutable=["batch_stats"]))(variables, z)
  assert out.shape == (32, 2) and bool(jnp.all(jnp.isfinite(out)))
  # In eval mode the point depends on z_0 only through its code.
  infer = jax.jit(lambda v, z: generator.apply(v, z, train=False))
  eval_out = infer(variables, z)
  z_same = z.at[:, 0].set(z[0, 0])
  same = infer(variables, z_same)
  np.testing.assert_allclose(same[0], eval_out[0], rtol=1e-6)


@pytest.mark.parametrize("bad", [1, -2, True, 2.5])
def test_build_rejects_bad_code_counts(bad):
  with pytest.raises(UserError, match="latent_codes"):
    models.build("toy", image_shape=(2,), g_widths=(8,), d_widths=(8,), latent_codes=bad)
