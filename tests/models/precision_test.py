"""bfloat16 mixed precision (`--config.compute_dtype=bfloat16`) for the dcgan and mlp families."""

import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import models, train

_SHAPES = {"dcgan": dict(image_shape=(28, 28, 1), g_widths=(16, 8, 4), d_widths=(4, 8)),
           "mlp": dict(image_shape=(28, 28, 1), g_widths=(32,), d_widths=(32,))}


def _dot_and_conv_dtypes(fn, *args) -> set:
  """Operand dtypes of every dot_general and convolution in fn's jaxpr (nested too)."""
  found = set()

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name in ("dot_general", "conv_general_dilated"):
        found.update(str(v.aval.dtype) for v in eqn.invars)
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        visit(sub)

  visit(jax.make_jaxpr(fn)(*args).jaxpr)
  return found


@pytest.mark.parametrize("family", ["dcgan", "mlp"])
def test_bfloat16_computes_in_bfloat16_and_keeps_float32_interfaces(family):
  pairs = {dtype: models.build(family, dropout_rate=0.0, conv_impl="fast",
                               compute_dtype=dtype, **_SHAPES[family])
           for dtype in ("float32", "bfloat16")}
  z = jax.random.normal(jax.random.key(0), (4, 100))
  g32, d32 = pairs["float32"]
  g16, d16 = pairs["bfloat16"]
  g_vars = g32.init(jax.random.key(1), z, train=False)
  d_vars = d32.init(jax.random.key(2), jnp.zeros((4, 28, 28, 1)), train=False)
  # The same parameters (float32, same tree) serve both precisions.
  chex.assert_trees_all_equal_structs(g_vars, g16.init(jax.random.key(1), z, train=False))
  assert {x.dtype for x in jax.tree.leaves(g_vars)} == {jnp.dtype(jnp.float32)}

  def chain(g, d):
    return lambda gv, dv, z: d.apply(dv, g.apply(gv, z, train=False), train=False)

  assert _dot_and_conv_dtypes(chain(g32, d32), g_vars, d_vars, z) == {"float32"}
  assert _dot_and_conv_dtypes(chain(g16, d16), g_vars, d_vars, z) == {"bfloat16"}
  images32 = g32.apply(g_vars, z, train=False)
  images16 = g16.apply(g_vars, z, train=False)
  logits16 = d16.apply(d_vars, images16, train=False)
  assert images16.dtype == logits16.dtype == jnp.float32
  # bfloat16 keeps 8 mantissa bits: close to float32, not equal.
  np.testing.assert_allclose(images16, images32, atol=0.05)
  assert float(jnp.max(jnp.abs(images16 - images32))) > 0
  np.testing.assert_allclose(logits16, d32.apply(d_vars, images32, train=False),
                             atol=0.05, rtol=0.05)


def test_bfloat16_train_step_updates_float32_state():
  setups = {dtype: train.setup(conftest.tiny_mlp_config("mnist_5k", compute_dtype=dtype),
                               (28, 28, 1)) for dtype in ("float32", "bfloat16")}
  results = {}
  for dtype, gan in setups.items():
    state = gan.init_state()
    batch = gan.shard_batch(np.random.default_rng(0).integers(0, 256, (1, 8, 28, 28, 1),
                                                              dtype=np.uint8))
    for _ in range(3):
      state, metrics = gan.train_step(state, batch, gan.train_key)
    assert float(metrics["nonfinite"]) == 0.0
    assert {x.dtype for x in jax.tree.leaves(state.generator.params)} == {
        jnp.dtype(jnp.float32)}
    results[dtype] = (state, metrics)
  (s32, m32), (s16, m16) = results["float32"], results["bfloat16"]
  np.testing.assert_allclose(m16["d_loss"], m32["d_loss"], rtol=0.05)
  chex.assert_trees_all_close(s16.generator.params, s32.generator.params, atol=2e-3)
