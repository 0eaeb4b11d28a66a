"""A generator fed a discrete code as well as continuous noise: disconnected supports.

A generator G is continuous, so it maps the connected support of z ~ N(0, I) onto a
connected set: fitting K separated modes, it must draw bridges between them, and the
mass on those bridges is lost to every mode (the lines in the mixture scatter plots).
Giving G a discrete latent c ~ Uniform{0, ..., K_c - 1} as well removes the need: G(c, u)
can send each code to its own mode, and the supports of different codes need not touch
(as in InfoGAN's categorical codes, Chen et al. 2016, and DeLiGAN's mixture prior,
Gurumurthy et al. 2017, here without InfoGAN's mutual-information term).

The train step draws z ~ N(0, I_n) only, so the code comes from z itself:

  c = min(floor(K_c * Phi(z_0)), K_c - 1),   u = (z_1, ..., z_{n-1}),

where Phi is the standard normal CDF. Phi(z_0) is uniform on (0, 1), so c is uniform over
the K_c codes and independent of u. The inner generator sees concat(one_hot(c), u), of
width K_c + n - 1. Everything else (keys, sampling, checkpoints, resume) is unchanged.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def code_from_noise(z0: jnp.ndarray, num_codes: int) -> jnp.ndarray:
  """c = min(floor(num_codes * Phi(z0)), num_codes - 1), int32: uniform over the codes."""
  u = jax.scipy.stats.norm.cdf(z0)
  return jnp.minimum(jnp.floor(u * num_codes).astype(jnp.int32), num_codes - 1)


class DiscreteLatentGenerator(nn.Module):
  """Wraps a generator: z (B, n) -> inner(concat(one_hot(code(z_0)), z_1:), train=...).

  Attributes:
    inner: the generator that maps the (B, num_codes + n - 1) latent to samples.
    num_codes: K_c, the number of discrete codes (>= 2).

  Labels given after z (a generator that takes them itself, `gan.models.resnet`) pass
  through to the inner generator.
  """

  inner: nn.Module
  num_codes: int

  @nn.compact
  def __call__(self, z: jnp.ndarray, *labels: jnp.ndarray, train: bool = True) -> jnp.ndarray:
    code = code_from_noise(z[:, 0], self.num_codes)
    latent = jnp.concatenate([jax.nn.one_hot(code, self.num_codes, dtype=z.dtype), z[:, 1:]],
                             axis=-1)
    return self.inner(latent, *labels, train=train)
