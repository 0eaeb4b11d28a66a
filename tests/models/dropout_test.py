"""Tests for gan.models.dropout: the stored-mask dropout equals flax.linen.Dropout."""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan.models import dropout
from gan.models.dcgan import DCGANDiscriminator


def _normal(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


class _Stack(nn.Module):
  """Two dropouts of one class in a row, as a discriminator has them."""
  cls: type
  rate: float

  @nn.compact
  def __call__(self, x):
    for _ in range(2):
      x = jnp.sin(self.cls(self.rate, deterministic=False)(x))
    return x


@pytest.mark.parametrize('rate', [0.0, 0.3, 0.5, 0.9, 1.0])
def test_outputs_and_gradients_equal_flax_dropout(rate):
  x = _normal(0, (4, 7, 7, 16))
  rngs = {'dropout': jax.random.key(3)}

  def run(cls):
    f = lambda x: _Stack(cls, rate).apply({}, x, rngs=rngs)
    return jax.jit(lambda x: (f(x), jax.grad(lambda x: jnp.sum(f(x) ** 2))(x)))(x)

  expected, actual = run(nn.Dropout), run(dropout.Dropout)
  for a, e in zip(actual, expected):
    np.testing.assert_array_equal(a, e)  # Bit for bit.
  if 0 < rate < 1:
    # Zero after either of the two layers (sin(0) = 0).
    assert abs(float(jnp.mean(actual[0] == 0)) - (1 - (1 - rate) ** 2)) < 0.05


def test_mask_equals_jax_bernoulli_also_under_vmap():
  keys = jax.random.split(jax.random.key(0), 3)
  expected = jax.vmap(lambda k: jax.random.bernoulli(k, 0.7, (5, 6)))(keys)
  actual = jax.jit(jax.vmap(lambda k: dropout.bernoulli_mask(k, 0.7, (5, 6))))(keys)
  np.testing.assert_array_equal(actual, expected)


def test_deterministic_is_the_identity():
  x = _normal(0, (2, 3))
  np.testing.assert_array_equal(dropout.Dropout(0.5).apply({}, x, deterministic=True), x)


def test_discriminator_output_is_unchanged_by_the_swap():
  # Same module names (Dropout_0, Dropout_1), so the same keys as with nn.Dropout.
  x = _normal(0, (3, 28, 28, 1))
  model = DCGANDiscriminator(conv_impl='native')
  params = model.init(jax.random.key(0), x, train=False)
  rngs = {'dropout': jax.random.key(7)}
  actual = model.apply(params, x, train=True, rngs=rngs)
  with pytest.MonkeyPatch.context() as patch:
    patch.setattr('gan.models.dcgan.Dropout', nn.Dropout)
    expected = model.apply(params, x, train=True, rngs=rngs)
  np.testing.assert_array_equal(actual, expected)


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='the conditional is CPU-only')
def test_the_mask_is_drawn_behind_a_conditional_on_cpu():
  # The key is an argument, as in the train step (a constant one folds the predicate).
  x = _normal(0, (4, 8))
  f = jax.jit(lambda x, key: dropout.Dropout(0.3).apply({}, x, deterministic=False,
                                                        rngs={'dropout': key}))
  hlo = f.lower(x, jax.random.key(1)).compile().as_text()
  assert re.search(r'= \(?pred\[4,8\].* conditional\(', hlo), 'no conditional draws the mask'
