"""Dropout that draws its mask once, equal bit for bit to `flax.linen.Dropout`.

`flax.linen.Dropout` draws its mask with `jax.random.bernoulli`. XLA fuses those
random bits into every consumer of the mask and draws them again there: in a GAN
step that is the discriminator's forward pass and both backward passes, each time
inside a loop body that vectorises Threefry poorly. On the TF-tutorial DCGAN at
batch 256 on 2 CPU cores this made dropout about a tenth of the whole step.

Here, on CPU, the mask is drawn inside a `lax.cond` whose two branches are the
same draw: a conditional is a boundary XLA does not fuse across, so the mask is
computed once, by a kernel of its own, and stored. (`lax.optimization_barrier`
would say this directly, but XLA:CPU removes barriers before fusion.) Elsewhere
the plain draw is kept, since a conditional on GPU waits on its predicate. The
key, the bits, the mask and so the outputs and gradients are those of
`nn.Dropout` in every case (tests/models/dropout_test.py).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax


def bernoulli_mask(key: jax.Array, keep: float, shape: tuple[int, ...]) -> jax.Array:
  """`jax.random.bernoulli(key, keep, shape)`, computed once on CPU (see module doc).

  Args:
    key: a typed PRNG key.
    keep: the probability of True.
    shape: the mask's shape.

  Returns:
    A bool array of `shape`, equal to `jax.random.bernoulli(key, keep, shape)`.
  """
  draw = lambda key: jax.random.bernoulli(key, keep, shape)
  if jax.default_backend() != "cpu":
    return draw(key)
  # Any predicate XLA cannot evaluate at compile time; both branches agree.
  unknown = jax.random.key_data(key).ravel()[0] % 2 == 0
  return lax.cond(unknown, draw, draw, key)


class Dropout(nn.Module):
  """`flax.linen.Dropout` (inverted dropout), with the mask of `bernoulli_mask`.

  Attributes:
    rate: the probability of zeroing an element.
    deterministic: if True, the identity (evaluation); may also be given at call time.
    rng_collection: the PRNG stream the mask is drawn from.
  """

  rate: float
  deterministic: bool | None = None
  rng_collection: str = "dropout"

  @nn.compact
  def __call__(self, inputs: jax.Array, deterministic: bool | None = None) -> jax.Array:
    deterministic = nn.merge_param("deterministic", self.deterministic, deterministic)
    if self.rate == 0.0 or deterministic:
      return inputs
    if self.rate == 1.0:
      return jnp.zeros_like(inputs)
    keep = 1.0 - self.rate
    mask = bernoulli_mask(self.make_rng(self.rng_collection), keep, inputs.shape)
    return lax.select(mask, inputs / keep, jnp.zeros_like(inputs))
