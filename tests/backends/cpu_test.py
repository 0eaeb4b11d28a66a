"""gan.backends.cpu: the XLA:CPU backend's dropout, compiler options and scan unrolling.

Inside `CPUBackend().lowering()`, `nn.Dropout` draws its mask once behind a
conditional (`bernoulli_mask`); it must equal `nn.Dropout` outside, bit for bit.
"""

import functools
import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import backends
from gan.backends import cpu_conv
from gan.backends.cpu import CPUBackend, bernoulli_mask
from gan.models.dcgan import DCGANDiscriminator


def _normal(seed, shape):
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


class _Stack(nn.Module):
  """Two dropouts in a row, as a discriminator has them."""
  rate: float

  @nn.compact
  def __call__(self, x):
    for _ in range(2):
      x = jnp.sin(nn.Dropout(self.rate, deterministic=False)(x))
    return x


def _stack_outputs_and_grads(rate, x, key, lowered):
  f = lambda x, key: _Stack(rate).apply({}, x, rngs={'dropout': key})
  run = lambda x, key: (f(x, key), jax.grad(lambda x: jnp.sum(f(x, key) ** 2))(x))
  return conftest.lowered_jit(run, lowered)(x, key)


@pytest.mark.parametrize('rate', [0.0, 0.3, 0.5, 0.9, 1.0])
def test_lowered_dropout_equals_flax_dropout_bit_for_bit(rate):
  x = _normal(0, (4, 7, 7, 16))
  key = jax.random.key(3)  # An argument, as in the train step.
  expected = _stack_outputs_and_grads(rate, x, key, lowered=False)
  actual = _stack_outputs_and_grads(rate, x, key, lowered=True)
  for a, e in zip(actual, expected):
    np.testing.assert_array_equal(a, e)  # Bit for bit.
  if 0 < rate < 1:
    # Zero after either of the two layers (sin(0) = 0).
    assert abs(float(jnp.mean(actual[0] == 0)) - (1 - (1 - rate) ** 2)) < 0.05


def test_mask_equals_jax_bernoulli_also_under_vmap():
  keys = jax.random.split(jax.random.key(0), 3)
  expected = jax.vmap(lambda k: jax.random.bernoulli(k, 0.7, (5, 6)))(keys)
  actual = jax.jit(jax.vmap(lambda k: bernoulli_mask(k, 0.7, (5, 6))))(keys)
  np.testing.assert_array_equal(actual, expected)
  np.testing.assert_array_equal(bernoulli_mask(keys[1], 0.3, (40,)),
                                jax.random.bernoulli(keys[1], 0.3, (40,)))


def test_deterministic_and_explicit_rng_as_flax():
  x = _normal(0, (2, 3))
  module = nn.Dropout(0.5)
  with CPUBackend().lowering():
    np.testing.assert_array_equal(module.apply({}, x, deterministic=True), x)
    lowered = module.apply({}, x, False, jax.random.key(4))  # rng passed positionally.
  np.testing.assert_array_equal(lowered, module.apply({}, x, False, jax.random.key(4)))


def test_broadcast_dims_keep_flax_own_dropout():
  module = nn.Dropout(0.5, broadcast_dims=(1,), deterministic=False)
  x = _normal(0, (4, 6))
  f = lambda x, key: module.apply({}, x, rngs={'dropout': key})
  key = jax.random.key(5)
  with CPUBackend().lowering():
    lowered_jaxpr = str(jax.make_jaxpr(lambda x, key: f(x, key))(x, key))
  assert lowered_jaxpr == str(jax.make_jaxpr(lambda x, key: f(x, key))(x, key))
  assert ' cond[' not in lowered_jaxpr


@pytest.mark.slow
def test_discriminator_is_unchanged_by_the_lowering():
  # Same module names (Dropout_0, Dropout_1), so the same keys and masks as with
  # nn.Dropout. The convolutions' forward pass is XLA's own convolution either way:
  # the logits agree bit for bit, and so do the gradients of the layers after the
  # convolutions; the convolution kernels' gradients (another algorithm on the CPU
  # path) agree to float32 rounding.
  x = _normal(0, (3, 28, 28, 1))
  model = DCGANDiscriminator(widths=(4, 8), dropout_rate=0.3)
  variables = jax.jit(lambda key, x: model.init(key, x, train=False))(jax.random.key(0), x[:1])

  def logits_and_grads(params, x, key):
    f = lambda p: model.apply({'params': p}, x, train=True, rngs={'dropout': key})
    return f(params), jax.grad(lambda p: jnp.sum(f(p) ** 2))(params)

  key = jax.random.key(7)
  expected, expected_grads = conftest.lowered_jit(logits_and_grads, False)(variables['params'], x, key)
  actual, actual_grads = conftest.lowered_jit(logits_and_grads, True)(variables['params'], x, key)
  np.testing.assert_array_equal(actual, expected)
  np.testing.assert_array_equal(actual_grads['Dense_0']['kernel'],
                                expected_grads['Dense_0']['kernel'])
  np.testing.assert_array_equal(actual_grads['Dense_0']['bias'], expected_grads['Dense_0']['bias'])
  for a, e in zip(jax.tree.leaves(actual_grads), jax.tree.leaves(expected_grads)):
    np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-5 * float(np.max(np.abs(e))))
  # And dropout did act: the train-mode output differs from the inference one.
  inference = jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, x)
  assert not np.array_equal(actual, inference)


@pytest.mark.skipif(jax.default_backend() != 'cpu', reason='the conditional is CPU-only')
def test_the_mask_is_drawn_behind_a_conditional_inside_the_lowering_only():
  # The key is an argument, as in the train step (a constant one folds the predicate).
  x = _normal(0, (4, 8))
  f = lambda x, key: nn.Dropout(0.3).apply({}, x, deterministic=False, rngs={'dropout': key})
  pattern = r'= \(?pred\[4,8\].* conditional\('

  def hlo(lowered):
    jitted = jax.jit(lambda x, key: f(x, key))
    if lowered:
      with CPUBackend().lowering():
        return jitted.lower(x, jax.random.key(1)).compile().as_text()
    return jitted.lower(x, jax.random.key(1)).compile().as_text()

  assert re.search(pattern, hlo(True)), 'no conditional draws the mask'
  assert not re.search(pattern, hlo(False))


# --------------------------------------------------------------------- backend


def _entry_computation(hlo: str) -> str:
  return hlo[hlo.index('ENTRY'):]


def test_compiler_options_keep_convolutions_out_of_ynnpack():
  assert backends.PlainBackend().compiler_options() == {}
  options = CPUBackend().compiler_options()
  assert options == {'xla_cpu_experimental_ynn_fusion_type':
                     'LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE'}
  # The DCGAN's widest layer (compiled, not run): XLA's default hands it to YNNPACK as a
  # library fusion; with the options it is XLA's own convolution in the entry computation.
  conv = functools.partial(cpu_conv.conv2d, stride=1, impl='native')
  args = (jax.ShapeDtypeStruct((256, 7, 7, 256), jnp.float32),
          jax.ShapeDtypeStruct((5, 5, 256, 128), jnp.float32))
  default = _entry_computation(jax.jit(conv).lower(*args).compile().as_text())
  chosen = _entry_computation(
    jax.jit(conv, compiler_options=options).lower(*args).compile().as_text())
  assert '__ynn_fusion' in default and ' convolution(' not in default
  assert '__ynn_fusion' not in chosen and ' convolution(' in chosen


def test_scan_unroll_only_with_convolutions():
  cpu = CPUBackend()
  assert cpu.scan_unroll(True) is True  # XLA:CPU: convolution gradients in a loop are slow.
  assert cpu.scan_unroll(False) == 1  # Without them the rolled loop is faster.
  assert backends.PlainBackend().scan_unroll(True) == backends.PlainBackend().scan_unroll(
    False) == 1


def test_for_platform_picks_the_cpu_backend_on_cpu_only():
  assert isinstance(backends.for_platform('cpu'), CPUBackend)
  assert isinstance(backends.for_platform('cpu', 'plain'), backends.PlainBackend)
  assert isinstance(backends.for_platform('gpu'), backends.PlainBackend)
  assert isinstance(backends.for_platform('tpu', 'auto'), backends.PlainBackend)
  from gan.errors import ConfigError  # pylint: disable=g-import-not-at-top
  with pytest.raises(ConfigError, match='run.backend'):
    backends.for_platform('cpu', 'fast')


def test_plain_backend_lowering_reroutes_nothing():
  x = _normal(0, (2, 8, 8, 3))
  module = nn.Conv(4, (5, 5), (2, 2), padding='SAME')
  params = jax.eval_shape(module.init, jax.random.key(0), x)
  with backends.PlainBackend().lowering():
    plain = str(jax.make_jaxpr(lambda p, x: module.apply(p, x))(params, x))
  assert plain == str(jax.make_jaxpr(lambda p, x: module.apply(p, x))(params, x))
