"""SNGAN's ResNets (gan.models.resnet): shapes, blocks by hand, conditional BatchNorm."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import models
from gan.errors import ConfigError
from gan.models.conditional import LabelConcatDiscriminator
from gan.models.resnet import (ConditionalBatchNorm, DiscriminatorBlock, GeneratorBlock,
                               ResNetDiscriminator, ResNetGenerator, downsample,
                               generator_start, upsample)

NUM_CLASSES = 10
NOISE_DIM = 8
BATCH = 4
G_WIDTH, D_WIDTH = 8, 8


def _init(module, key, *args):
  return module.init(key, *args, train=False)


@pytest.fixture(scope="module", params=[(28, 28, 1), (32, 32, 3)], ids=["28x28x1", "32x32x3"])
def shape(request):
  return request.param


@pytest.fixture(scope="module", params=[0, NUM_CLASSES], ids=["unconditional", "conditional"])
def players(request, shape):
  """(G, D, G variables, D variables, z, labels or ()) of `models.build('resnet', ...)`."""
  num_classes = request.param
  g, d = models.build("resnet", image_shape=shape, g_widths=(G_WIDTH,), d_widths=(D_WIDTH,),
                      dropout_rate=0.0, num_classes=num_classes, conditioning="projection")
  z = jax.random.normal(jax.random.key(0), (BATCH, NOISE_DIM))
  labels = (jnp.arange(BATCH) % NUM_CLASSES,) if num_classes else ()
  x = jnp.zeros((BATCH,) + shape)
  return g, d, _init(g, jax.random.key(1), z, *labels), _init(d, jax.random.key(2), x, *labels), \
      z, labels


def test_build_gives_the_resnets_with_the_first_widths(players, shape):
  g, d, g_vars, d_vars, *_ = players
  assert isinstance(g, ResNetGenerator) and g.width == G_WIDTH
  assert isinstance(d, ResNetDiscriminator) and d.width == D_WIDTH and d.spectral_norm
  bottom, blocks = generator_start(shape[0])
  assert (bottom, blocks) == {28: (7, 2), 32: (4, 3)}[shape[0]]
  chex.assert_shape(g_vars["params"]["project"]["kernel"], (NOISE_DIM, bottom * bottom * G_WIDTH))
  assert {k for k in g_vars["params"] if k.startswith("block")} == {
      f"block{i + 1}" for i in range(blocks)}
  chex.assert_shape(g_vars["params"]["conv_out"]["kernel"], (3, 3, G_WIDTH, shape[-1]))
  # D: the optimized block reads the image; blocks 3 and 4 keep the width (no shortcut conv).
  chex.assert_shape(d_vars["params"]["block1"]["conv1"]["kernel"], (3, 3, shape[-1], D_WIDTH))
  chex.assert_shape(d_vars["params"]["block1"]["shortcut"]["kernel"], (1, 1, shape[-1], D_WIDTH))
  assert "shortcut" in d_vars["params"]["block2"]
  assert "shortcut" not in d_vars["params"]["block3"]
  assert "shortcut" not in d_vars["params"]["block4"]
  chex.assert_shape(d_vars["params"]["logit"]["kernel"], (D_WIDTH, 1))


def test_output_shapes_and_dtypes(players, shape):
  g, d, g_vars, d_vars, z, labels = players
  images, mutated = jax.jit(lambda v: g.apply(v, z, *labels, train=True,
                                              mutable=["batch_stats"]))(g_vars)
  chex.assert_shape(images, (BATCH,) + shape)
  assert images.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  chex.assert_tree_all_finite(mutated)
  logits = jax.jit(lambda v: d.apply(v, images, *labels, train=False))(d_vars)
  chex.assert_shape(logits, (BATCH,))
  assert logits.dtype == jnp.float32


def test_bfloat16_computes_in_bfloat16_with_float32_interfaces():
  g, d = models.build("resnet", image_shape=(28, 28, 1), g_widths=(G_WIDTH,),
                      d_widths=(D_WIDTH,), dropout_rate=0.0, compute_dtype="bfloat16")
  g32, d32 = models.build("resnet", image_shape=(28, 28, 1), g_widths=(G_WIDTH,),
                          d_widths=(D_WIDTH,), dropout_rate=0.0)
  z = jax.random.normal(jax.random.key(0), (BATCH, NOISE_DIM))
  g_vars = _init(g32, jax.random.key(1), z)
  d_vars = _init(d32, jax.random.key(2), jnp.zeros((BATCH, 28, 28, 1)))
  assert {x.dtype for x in jax.tree.leaves(g_vars)} == {jnp.dtype(jnp.float32)}

  def chain(g, d):
    return jax.jit(lambda gv, dv: (lambda x: (x, d.apply(dv, x, train=False)))(
        g.apply(gv, z, train=False)))

  images16, logits16 = chain(g, d)(g_vars, d_vars)
  images32, logits32 = chain(g32, d32)(g_vars, d_vars)
  assert images16.dtype == logits16.dtype == jnp.float32
  np.testing.assert_allclose(images16, images32, atol=0.05)
  assert float(jnp.max(jnp.abs(images16 - images32))) > 0  # Really computed in bfloat16.
  np.testing.assert_allclose(logits16, logits32, rtol=0.05, atol=0.05)


def test_upsample_and_downsample_by_hand():
  x = jnp.arange(2 * 2 * 2, dtype=jnp.float32).reshape(1, 2, 2, 2)
  up = upsample(x)
  chex.assert_shape(up, (1, 4, 4, 2))
  for i in range(4):
    for j in range(4):
      np.testing.assert_array_equal(up[0, i, j], x[0, i // 2, j // 2])
  np.testing.assert_array_equal(downsample(up), x)  # Average of four equal values.
  y = jnp.array([[1.0, 2.0], [3.0, 6.0]]).reshape(1, 2, 2, 1)
  np.testing.assert_allclose(downsample(y), jnp.full((1, 1, 1, 1), 3.0))


def _zero(tree, names):
  """`tree` with every leaf under one of `names` set to zero."""
  return jax.tree_util.tree_map_with_path(
      lambda path, a: jnp.zeros_like(a) if any(getattr(k, "key", None) in names for k in path)
      else a, tree)


def test_blocks_are_residual_with_the_reference_shortcuts():
  x = jax.random.normal(jax.random.key(5), (2, 8, 8, 4))
  # With the residual branch's last convolution at zero a block is its shortcut alone.
  same = DiscriminatorBlock(4, spectral_norm=False)
  v = _zero(same.init(jax.random.key(0), x), {"conv2"})
  np.testing.assert_allclose(same.apply(v, x), x, rtol=1e-6)  # Identity shortcut.
  down = DiscriminatorBlock(6, down=True, spectral_norm=False)
  v = _zero(down.init(jax.random.key(0), x), {"conv2"})
  sc = v["params"]["shortcut"]
  expected = downsample(jnp.einsum("bhwc,cf->bhwf", x, sc["kernel"][0, 0]) + sc["bias"])
  np.testing.assert_allclose(down.apply(v, x), expected, rtol=1e-5, atol=1e-6)
  first = DiscriminatorBlock(6, down=True, optimized=True, spectral_norm=False)
  v = _zero(first.init(jax.random.key(0), x), {"conv2"})
  sc = v["params"]["shortcut"]
  expected = jnp.einsum("bhwc,cf->bhwf", downsample(x), sc["kernel"][0, 0]) + sc["bias"]
  np.testing.assert_allclose(first.apply(v, x), expected, rtol=1e-5, atol=1e-6)
  up = GeneratorBlock(6)
  v = up.init(jax.random.key(0), x, train=False)
  v = {**v, "params": _zero(v["params"], {"conv2"})}
  sc = v["params"]["shortcut"]
  expected = jnp.einsum("bhwc,cf->bhwf", upsample(x), sc["kernel"][0, 0]) + sc["bias"]
  np.testing.assert_allclose(up.apply(v, x, train=False), expected, rtol=1e-5, atol=1e-6)


def test_initialisation_is_the_reference_glorot_uniform():
  # chainer's GlorotUniform(sqrt(2)) on the 3x3 convolutions: U(-l, l), l^2 = 2 * 6 /
  # (fan_in + fan_out), variance l^2 / 3; GlorotUniform(1) on the shortcuts.
  block = DiscriminatorBlock(32, down=True, spectral_norm=False)
  params = block.init(jax.random.key(0), jnp.zeros((1, 8, 8, 32)))["params"]
  kernel = np.asarray(params["conv1"]["kernel"])
  limit = np.sqrt(2 * 6 / (9 * 32 + 9 * 32))
  assert np.max(np.abs(kernel)) <= limit
  np.testing.assert_allclose(np.var(kernel), limit ** 2 / 3, rtol=0.1)
  shortcut = np.asarray(params["shortcut"]["kernel"])
  np.testing.assert_allclose(np.var(shortcut), 6 / (32 + 32) / 3, rtol=0.15)


def test_conditional_batch_norm_by_hand_and_plain_at_init():
  x = jax.random.normal(jax.random.key(0), (6, 3, 3, 4)) * 3.0 + 1.0
  labels = jnp.array([0, 1, 2, 0, 1, 2])
  cbn = ConditionalBatchNorm(num_classes=3)
  v = cbn.init(jax.random.key(1), x, labels, train=False)
  out, _ = cbn.apply(v, x, labels, train=True, mutable=["batch_stats"])
  plain = nn.BatchNorm(momentum=0.9, epsilon=1e-5)
  pv = plain.init(jax.random.key(1), x, use_running_average=True)
  plain_out, _ = plain.apply(pv, x, use_running_average=False, mutable=["batch_stats"])
  np.testing.assert_allclose(out, plain_out, rtol=1e-5, atol=1e-6)  # gamma = 1, beta = 0.
  # Per-class scale and shift, by hand.
  gamma = jax.random.normal(jax.random.key(2), (3, 4))
  beta = jax.random.normal(jax.random.key(3), (3, 4))
  v = {**v, "params": {"gamma": {"embedding": gamma}, "beta": {"embedding": beta}}}
  out, _ = cbn.apply(v, x, labels, train=True, mutable=["batch_stats"])
  mean, var = jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))
  x_hat = (x - mean) / jnp.sqrt(var + 1e-5)
  expected = x_hat * gamma[labels][:, None, None, :] + beta[labels][:, None, None, :]
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)


def test_conditional_generator_at_init_is_the_unconditional_one():
  z = jax.random.normal(jax.random.key(0), (BATCH, NOISE_DIM))
  g = ResNetGenerator(image_shape=(28, 28, 1), width=G_WIDTH, num_classes=NUM_CLASSES)
  plain = ResNetGenerator(image_shape=(28, 28, 1), width=G_WIDTH)
  labels = jnp.array([0, 3, 3, 9])
  g_vars = _init(g, jax.random.key(1), z, labels)
  # The plain generator with the same weights: its BatchNorms scale 1 and shift 0.
  plain_vars = _init(plain, jax.random.key(1), z)
  params = dict(plain_vars["params"])
  for name in g_vars["params"]:
    if name.startswith("block"):
      block = dict(plain_vars["params"][name])
      block.update({k: v for k, v in g_vars["params"][name].items() if k.startswith("conv")
                    or k == "shortcut"})
      params[name] = block
    elif name != "bn_out":
      params[name] = g_vars["params"][name]
  apply = jax.jit(lambda gv, pv: (g.apply(gv, z, labels, train=True, mutable=["batch_stats"])[0],
                                  plain.apply(pv, z, train=True, mutable=["batch_stats"])[0]))
  conditional, unconditional = apply(g_vars, {**plain_vars, "params": params})
  np.testing.assert_allclose(conditional, unconditional, rtol=1e-5, atol=1e-6)


def test_different_labels_give_different_images():
  z = jax.random.normal(jax.random.key(0), (1, NOISE_DIM))
  g = ResNetGenerator(image_shape=(32, 32, 3), width=G_WIDTH, num_classes=NUM_CLASSES)
  g_vars = _init(g, jax.random.key(1), z, jnp.zeros((1,), jnp.int32))
  # Trained class embeddings differ between classes; at init they are all (1, 0).
  def perturb(path, leaf):
    names = {getattr(k, "key", None) for k in path}
    if names & {"gamma", "beta"}:
      return leaf + 0.3 * jax.random.normal(jax.random.key(len(str(path))), leaf.shape)
    return leaf
  g_vars = {**g_vars, "params": jax.tree_util.tree_map_with_path(perturb, g_vars["params"])}
  same_z = jnp.repeat(z, NUM_CLASSES, axis=0)
  generate = jax.jit(lambda v, y: g.apply(v, same_z, y, train=False))
  images = np.asarray(generate(g_vars, jnp.arange(NUM_CLASSES)))
  flat = images.reshape(NUM_CLASSES, -1)
  for i in range(NUM_CLASSES):
    for j in range(i + 1, NUM_CLASSES):
      assert np.max(np.abs(flat[i] - flat[j])) > 1e-4, (i, j)
  np.testing.assert_array_equal(images, generate(g_vars, jnp.arange(NUM_CLASSES)))


def test_concat_conditioning_keeps_the_conditional_batch_norm_generator():
  g, d = models.build("resnet", image_shape=(32, 32, 3), g_widths=(G_WIDTH,),
                      d_widths=(D_WIDTH,), dropout_rate=0.0, num_classes=NUM_CLASSES)
  assert isinstance(g, ResNetGenerator) and g.num_classes == NUM_CLASSES
  assert isinstance(d, LabelConcatDiscriminator)
  assert isinstance(d.inner, ResNetDiscriminator) and d.inner.conditioning == "none"


def test_build_errors():
  kwargs = dict(g_widths=(G_WIDTH,), d_widths=(D_WIDTH,))
  with pytest.raises(ConfigError, match="model.name"):
    models.build("resnet", image_shape=(30, 30, 1), dropout_rate=0.0, **kwargs)
  with pytest.raises(ConfigError, match="model.dropout_rate"):
    models.build("resnet", image_shape=(32, 32, 3), dropout_rate=0.3, **kwargs)
