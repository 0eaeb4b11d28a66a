"""bfloat16 mixed precision (`--config.compute_dtype=bfloat16`) for the dcgan and mlp families."""

import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import build, data, models
from gan.backends.cpu import CPUBackend

_SHAPES = {"dcgan": dict(image_shape=(28, 28, 1), g_widths=(16, 8, 4), d_widths=(4, 8)),
           "mlp": dict(image_shape=(28, 28, 1), g_widths=(32,), d_widths=(32,))}



def _dot_and_conv_dtypes(fn, *args, lowered=False) -> set:
  """Operand dtypes of every dot_general and convolution in fn's jaxpr (nested too),
  traced inside `CPUBackend().lowering()` when `lowered` (the CPU convolutions)."""
  found = set()

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name in ("dot_general", "conv_general_dilated"):
        found.update(str(v.aval.dtype) for v in eqn.invars)
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        visit(sub)

  fresh = lambda *args: fn(*args)  # JAX caches traces by function, not by interceptor.
  if lowered:
    with CPUBackend().lowering():
      visit(jax.make_jaxpr(fresh)(*args).jaxpr)
  else:
    visit(jax.make_jaxpr(fresh)(*args).jaxpr)
  return found


@pytest.mark.parametrize("family", ["dcgan", "mlp"])
def test_bfloat16_computes_in_bfloat16_and_keeps_float32_interfaces(family):
  pairs = {dtype: models.build(family, dropout_rate=0.0, compute_dtype=dtype,
                               **_SHAPES[family])
           for dtype in ("float32", "bfloat16")}
  z = jax.random.normal(jax.random.key(0), (4, 100))
  g32, d32 = pairs["float32"]
  g16, d16 = pairs["bfloat16"]
  init = lambda module, key, x: jax.jit(lambda k, x: module.init(k, x, train=False))(key, x)
  g_vars = init(g32, jax.random.key(1), z)
  d_vars = init(d32, jax.random.key(2), jnp.zeros((4, 28, 28, 1)))
  # The same parameters (float32, same tree) serve both precisions.
  chex.assert_trees_all_equal_structs(
      g_vars, jax.eval_shape(lambda k, z: g16.init(k, z, train=False), jax.random.key(1), z))
  assert {x.dtype for x in jax.tree.leaves(g_vars)} == {jnp.dtype(jnp.float32)}

  def chain(g, d):
    return lambda gv, dv, z: d.apply(dv, g.apply(gv, z, train=False), train=False)

  for lowered in (False, True):  # Flax's layers, and the CPU backend's lowering of them.
    assert _dot_and_conv_dtypes(chain(g32, d32), g_vars, d_vars, z,
                                lowered=lowered) == {"float32"}
    assert _dot_and_conv_dtypes(chain(g16, d16), g_vars, d_vars, z,
                                lowered=lowered) == {"bfloat16"}
  def images_and_logits(g, d):
    images = lambda gv, z: g.apply(gv, z, train=False)
    return jax.jit(lambda gv, dv, z: (images(gv, z), chain(g, d)(gv, dv, z)))(g_vars, d_vars, z)

  images32, logits32 = images_and_logits(g32, d32)
  images16, logits16 = images_and_logits(g16, d16)
  assert images16.dtype == logits16.dtype == jnp.float32
  # bfloat16 keeps 8 mantissa bits: close to float32, not equal.
  np.testing.assert_allclose(images16, images32, atol=0.05)
  assert float(jnp.max(jnp.abs(images16 - images32))) > 0
  np.testing.assert_allclose(logits16, logits32, atol=0.05, rtol=0.05)


@pytest.mark.slow  # Compiles the MLP step in both precisions.
def test_bfloat16_train_step_updates_float32_state():
  spec = data.DataSpec("mnist", (28, 28, 1))  # The data's shape; the batch is made here.
  runs = {dtype: build.build(conftest.tiny_mlp_config("mnist", **{"model.compute_dtype": dtype}),
                             spec) for dtype in ("float32", "bfloat16")}
  results = {}
  for dtype, run in runs.items():
    state = run.init_state()
    batch = run.shard({"image": np.random.default_rng(0).integers(0, 256, (1, 8, 28, 28, 1),
                                                                  dtype=np.uint8)})
    for _ in range(3):
      state, metrics = run.step(state, batch)
    assert float(metrics["nonfinite"]) == 0.0
    assert {x.dtype for x in jax.tree.leaves(state.generator.params)} == {
        jnp.dtype(jnp.float32)}
    results[dtype] = (state, metrics)
  (s32, m32), (s16, m16) = results["float32"], results["bfloat16"]
  np.testing.assert_allclose(m16["d_loss"], m32["d_loss"], rtol=0.05)
  chex.assert_trees_all_close(s16.generator.params, s32.generator.params, atol=2e-3)
