"""Image-to-image networks (gan.models.translation): shapes, pixel shuffle, skips, fields.

Most tests need a network's variable shapes and some random values, not its
initialisers: `_variables` traces Flax's init abstractly and draws the values with
NumPy, and `_apply` compiles with XLA's backend optimisations off. Compiling each small
network's real init, and optimising every program, would cost most of this file's time
on 2 cores; `test_initialisers_follow_the_reference` runs the real init on tiny inputs.
"""

import functools
import itertools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan.models.translation import (NORMS, PatchDiscriminator, ResnetGenerator, SRDiscriminator,
                                    SRResNet, UNetGenerator, normalization,
                                    patch_receptive_field, pixel_shuffle, unet_depth)

BATCH = 2
WIDTH = 4


def _images(shape, seed=0, batch=BATCH):
  """(batch,) + shape uniform in [-1, 1)."""
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.uniform(-1.0, 1.0, (batch,) + shape), jnp.float32)


def _variables(module, x, seed=0):
  """`module.init(key, x)`'s tree, with random values drawn by NumPy (module docstring).

  Kernels N(0, 1 / fan_in), biases and BatchNorm shifts N(0, 0.1^2), BatchNorm scales
  1 + N(0, 0.1^2), running means 0 and variances 1, PReLU slopes 0.25.
  """
  shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), x, train=False))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = path[-1].key
    if name == "kernel":
      values = rng.normal(0.0, 1.0 / np.sqrt(np.prod(leaf.shape[:-1])), leaf.shape)
    elif name in ("mean", "var"):
      values = np.full(leaf.shape, float(name == "var"))
    elif name == "scale":
      values = 1.0 + rng.normal(0.0, 0.1, leaf.shape)
    elif name == "negative_slope":
      values = np.full(leaf.shape, 0.25)
    else:
      values = rng.normal(0.0, 0.1, leaf.shape)
    return jnp.asarray(values, leaf.dtype)

  return jax.tree_util.tree_map_with_path(draw, shapes)


@functools.partial(jax.jit, static_argnames=("module", "train"))
def _apply(module, variables, x, key=None, *, train=False):
  """(module(x, train), the updated batch_stats in training with BatchNorm, else {})."""
  rngs = {} if key is None else {"dropout": key}
  if train and "batch_stats" in variables:
    return module.apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
  return module.apply(variables, x, train=train, rngs=rngs), {}


# ------------------------------------------------------------------- pixel shuffle


@pytest.mark.parametrize("scale, channels", [(2, 3), (3, 2), (1, 4)])
def test_pixel_shuffle_matches_pytorchs_order_by_loop(scale, channels):
  x = np.random.default_rng(0).normal(size=(2, 3, 4, channels * scale * scale))
  x = x.astype(np.float32)
  expected = np.zeros((2, 3 * scale, 4 * scale, channels), np.float32)
  for b, h, w, c, i, j in itertools.product(range(2), range(3), range(4), range(channels),
                                            range(scale), range(scale)):
    expected[b, h * scale + i, w * scale + j, c] = x[b, h, w, c * scale * scale + i * scale + j]
  np.testing.assert_array_equal(pixel_shuffle(jnp.asarray(x), scale), expected)


def test_pixel_shuffle_rejects_channels_not_divisible_by_scale_squared():
  with pytest.raises(ValueError, match="divisible"):
    pixel_shuffle(jnp.zeros((1, 2, 2, 6)), 2)


def test_unknown_norm_is_a_value_error():
  assert NORMS == ("batch", "instance", "none")
  with pytest.raises(ValueError, match="layer"):
    normalization("layer", train=True)
  with pytest.raises(ValueError, match="layer"):
    _variables(PatchDiscriminator(width=WIDTH, norm="layer"), jnp.zeros((1, 32, 32, 1)))


def test_initialisers_follow_the_reference():
  """pix2pix/CycleGAN: kernels N(0, 0.02^2), BN scales N(1, 0.02^2), biases 0; PReLU 0.25."""
  init = lambda module, shape: jax.jit(lambda key: module.init(key, jnp.zeros(shape)))(
      jax.random.key(0))
  params = init(UNetGenerator(1, width=8, depth=2), (1, 4, 4, 1))["params"]
  kernels = np.concatenate([np.ravel(p["kernel"]) for p in params.values() if "kernel" in p])
  assert kernels.size > 4000
  np.testing.assert_allclose(np.std(kernels), 0.02, rtol=0.05)
  scales = np.concatenate([np.ravel(p["scale"]) for p in params.values() if "scale" in p])
  assert 0 < np.std(scales) < 0.04 and np.max(np.abs(scales - 1)) < 0.1
  assert all(np.all(p["bias"] == 0) for p in params.values() if "bias" in p)
  params = init(SRResNet(1, scale=2, width=2, num_blocks=1), (1, 2, 2, 1))["params"]
  slopes = [float(leaf) for path, leaf in jax.tree_util.tree_leaves_with_path(params)
            if path[-1].key == "negative_slope"]
  assert slopes == [0.25] * 3  # prelu_in, the block's, the upsampling block's.


# -------------------------------------------------------------------------- U-Net


def test_unet_depth_reaches_one_pixel():
  assert unet_depth(32, 32) == 5 and unet_depth(28, 28) == 5  # 28 is padded to 32.
  assert unet_depth(256, 256) == 8  # pix2pix's unet_256.
  assert unet_depth(7, 7) == 3 and unet_depth(1, 1) == 1


@pytest.fixture(scope="module")
def unet28():
  """U-Net with BatchNorm on 28x28x1 -> 28x28x2 (padded to 32x32 inside)."""
  module = UNetGenerator(2, width=WIDTH, norm="batch")
  return module, _variables(module, _images((28, 28, 1)))


@pytest.fixture(scope="module")
def unet32():
  """U-Net with instance norm on 32x32x3 -> 32x32x3 (no batch statistics)."""
  module = UNetGenerator(3, width=WIDTH, norm="instance")
  return module, _variables(module, _images((32, 32, 3)))


def test_unet_layers_and_widths(unet28, unet32):
  _, variables = unet28
  params = variables["params"]
  # depth 5: widths 4, 8, 16, 32, 32 (width * min(2^i, 8)); the bottleneck has no norm.
  assert {k for k in params if k.startswith("down")} == {
      "down0", "down1", "down2", "down3", "down4", "down_norm1", "down_norm2", "down_norm3"}
  chex.assert_shape(params["down0"]["kernel"], (4, 4, 1, WIDTH))
  chex.assert_shape(params["down4"]["kernel"], (4, 4, 8 * WIDTH, 8 * WIDTH))
  assert "bias" not in params["down1"] and "bias" in params["down4"]
  # Decoder: the innermost layer reads the bottleneck alone, the others a concatenation.
  chex.assert_shape(params["up4"]["kernel"], (4, 4, 8 * WIDTH, 8 * WIDTH))
  chex.assert_shape(params["up3"]["kernel"], (4, 4, 16 * WIDTH, 4 * WIDTH))
  chex.assert_shape(params["up0"]["kernel"], (4, 4, 2 * WIDTH, 2))
  assert set(variables["batch_stats"]) == {f"down_norm{i}" for i in (1, 2, 3)} | {
      f"up_norm{i}" for i in (1, 2, 3, 4)}
  assert "batch_stats" not in unet32[1]  # Instance norm keeps no statistics.


@pytest.mark.parametrize("which, in_shape, out_shape", [
    ("unet28", (28, 28, 1), (28, 28, 2)), ("unet32", (32, 32, 3), (32, 32, 3))])
def test_unet_output_shape_and_range(request, which, in_shape, out_shape):
  module, variables = request.getfixturevalue(which)
  out, mutated = _apply(module, variables, _images(in_shape), jax.random.key(3), train=True)
  chex.assert_shape(out, (BATCH,) + out_shape)
  assert out.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(out))) <= 1.0
  chex.assert_tree_all_finite((out, mutated))
  if module.norm == "batch":  # Training updates the running averages.
    assert not np.allclose(mutated["batch_stats"]["down_norm1"]["mean"],
                           variables["batch_stats"]["down_norm1"]["mean"])


def test_unet_output_near_a_changed_pixel_comes_through_the_skip(unet28):
  module, variables = unet28
  x = _images((28, 28, 1), batch=1)
  x_changed = x.at[0, 14, 14, 0].add(1.0)
  window = np.zeros((28, 28), bool)
  # e_0 = Conv4x4/2(pad(x)) at the padded pixel (16, 16) is e_0[7:9, 7:9]; up0's output
  # reads e_0[i] at padded rows 2i - 1 .. 2i + 2, so 13..18 padded, 11..16 in the image.
  window[11:17, 11:17] = True
  change = lambda v: np.abs(np.asarray(_apply(module, v, x_changed)[0] -
                                       _apply(module, v, x)[0]))[0].max(axis=-1)

  assert change(variables)[window].max() > 1e-3  # The whole network: it shows nearby.
  # Cut the path through the bottleneck: up0 reads only the skip e_0, its first WIDTH
  # input channels. The change still shows near the pixel, and only there (which also
  # says the padding and the crop line the skip up with the image).
  params = dict(variables["params"])
  params["up0"] = {**params["up0"], "kernel": params["up0"]["kernel"].at[:, :, WIDTH:].set(0)}
  skip_only = change({**variables, "params": params})
  assert skip_only[window].max() > 1e-3
  assert skip_only[~window].max() == 0


def test_unet_dropout_only_in_training_and_deterministic_given_the_key(unet32):
  module, variables = unet32
  x = _images((32, 32, 3))
  train = lambda seed: _apply(module, variables, x, jax.random.key(seed), train=True)[0]
  a, a_again, b = train(5), train(5), train(6)
  np.testing.assert_array_equal(a, a_again)
  assert not np.allclose(a, b)
  evaluation = _apply(module, variables, x, train=False)[0]  # No dropout rng needed.
  assert not np.allclose(a, evaluation)
  # Instance norm is the same in training and evaluation, so without dropout the
  # training output is the evaluation output (and needs no rng).
  no_dropout = _apply(module.clone(dropout_rate=0.0), variables, x, train=True)[0]
  np.testing.assert_allclose(no_dropout, evaluation, atol=1e-6)


# --------------------------------------------------------------- ResNet generator


@pytest.fixture(scope="module", params=[((28, 28, 1), 3), ((32, 32, 3), 2)],
                ids=["28x28x1-3down", "32x32x3-2down"])
def resnet_generator(request):
  """CycleGAN's generator; on 28x28 with 3 downsamples (28 -> 14 -> 7 -> 4: a crop)."""
  shape, downsamples = request.param
  module = ResnetGenerator(3, width=WIDTH, num_blocks=2, num_downsamples=downsamples)
  return module, _variables(module, _images(shape)), shape


def test_resnet_generator_shape_range_and_layers(resnet_generator):
  module, variables, shape = resnet_generator
  out, _ = _apply(module, variables, _images(shape), train=True)
  chex.assert_shape(out, (BATCH,) + shape[:2] + (3,))
  assert float(jnp.max(jnp.abs(out))) <= 1.0
  params = variables["params"]
  chex.assert_shape(params["conv_in"]["kernel"], (7, 7, shape[-1], WIDTH))
  bottom = WIDTH * 2 ** module.num_downsamples
  chex.assert_shape(params["block1"]["conv2"]["kernel"], (3, 3, bottom, bottom))
  chex.assert_shape(params["up0"]["kernel"], (3, 3, 2 * WIDTH, WIDTH))
  chex.assert_shape(params["conv_out"]["kernel"], (7, 7, WIDTH, 3))
  assert "batch_stats" not in variables


def test_instance_norm_statistics_are_per_sample(resnet_generator, unet28):
  module, variables, shape = resnet_generator
  x = _images(shape, seed=0)
  x_other = x.at[1].set(_images(shape, seed=7)[1])  # Sample 0 beside another sample 1.
  out, out_other = (_apply(module, variables, x, train=True)[0],
                    _apply(module, variables, x_other, train=True)[0])
  np.testing.assert_allclose(out[0], out_other[0], atol=1e-6)
  assert not np.allclose(out[1], out_other[1])
  # BatchNorm in training, by contrast, mixes the samples (same dropout key for both).
  unet, unet_vars = unet28
  x28 = _images((28, 28, 1))
  run = lambda x: _apply(unet, unet_vars, x, jax.random.key(3), train=True)[0]
  assert not np.allclose(run(x28)[0], run(x28.at[1].set(-x28[1]))[0], atol=1e-4)


# ------------------------------------------------------------------------ PatchGAN


def test_patch_receptive_field_formula():
  assert [patch_receptive_field(n) for n in (1, 2, 3, 4)] == [16, 34, 70, 142]
  assert all(patch_receptive_field(n) == 9 * 2 ** n - 2 for n in range(1, 8))
  with pytest.raises(ValueError):
    patch_receptive_field(0)


@pytest.mark.parametrize("shape, patches", [((28, 28, 1), 1), ((32, 32, 3), 2)])
def test_patch_discriminator_shape(shape, patches):
  module = PatchDiscriminator(width=WIDTH, num_layers=3)
  variables = _variables(module, _images(shape))
  logits, mutated = _apply(module, variables, _images(shape), train=True)
  # 4x4 convolutions of padding 1: 32 -> 16 -> 8 -> 4 -> 3 -> 2; 28 -> 14 -> 7 -> 3 -> 2 -> 1.
  chex.assert_shape(logits, (BATCH, patches, patches, 1))
  assert logits.dtype == jnp.float32
  assert set(mutated["batch_stats"]) == {"norm1", "norm2", "norm3"}  # None on the first.
  chex.assert_shape(variables["params"]["conv3"]["kernel"], (4, 4, 4 * WIDTH, 8 * WIDTH))
  chex.assert_shape(variables["params"]["logits"]["kernel"], (4, 4, 8 * WIDTH, 1))
  with pytest.raises(ValueError, match="too small"):
    _variables(PatchDiscriminator(width=WIDTH, num_layers=4), _images(shape))


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_patch_receptive_field_is_the_support_of_a_logits_input_gradient(num_layers):
  """The input pixels one central logit depends on form a square of the formula's side.

  Evaluation mode, so BatchNorm is pointwise and the support is the convolutions'. The
  input is big enough that the field of the central logit lies inside it, clear of the
  padding; padding changes only what sits near the border, not the field's size.
  """
  field = patch_receptive_field(num_layers)
  module = PatchDiscriminator(width=WIDTH, num_layers=num_layers)
  side = field + 2 ** (num_layers + 2)
  x = _images((side, side, 1), batch=1)
  variables = _variables(module, x)
  centre = jax.eval_shape(module.apply, variables, x).shape[1] // 2
  logit = lambda x: module.apply(variables, x)[0, centre, centre, 0]
  grad = jax.jit(jax.grad(logit))(x)
  support = np.abs(np.asarray(grad[0, :, :, 0])) > 0
  for axis in (0, 1):
    where = np.nonzero(support.any(axis=1 - axis))[0]
    assert where.min() > 0 and where.max() < side - 1  # Clear of the border.
    assert where.max() - where.min() + 1 == field
  assert support.sum() == field * field  # All of the square.


# -------------------------------------------------------------------------- SRGAN


@pytest.mark.parametrize("low, channels", [(7, 1), (8, 3)])
def test_srresnet_upsamples_by_four(low, channels):
  module = SRResNet(channels, scale=4, width=WIDTH, num_blocks=2)
  x = _images((low, low, channels))
  variables = _variables(module, x)
  out, _ = _apply(module, variables, x, train=True)
  chex.assert_shape(out, (BATCH, 4 * low, 4 * low, channels))  # 7 -> 28, 8 -> 32.
  assert float(jnp.max(jnp.abs(out))) <= 1.0
  params = variables["params"]
  # Two upsampling blocks: conv to 4 * width, then pixel shuffle by 2.
  assert {k for k in params if k.startswith("upsample")} == {
      "upsample0", "upsample1", "upsample_prelu0", "upsample_prelu1"}
  chex.assert_shape(params["upsample1"]["kernel"], (3, 3, WIDTH, 4 * WIDTH))
  chex.assert_shape(params["conv_in"]["kernel"], (9, 9, channels, WIDTH))
  chex.assert_shape(params["conv_out"]["kernel"], (9, 9, WIDTH, channels))
  assert set(params) >= {"block0", "block1", "conv_mid", "norm_mid"}


@pytest.mark.parametrize("scale", [3, 6, 0])
def test_srresnet_scale_must_be_a_power_of_two(scale):
  with pytest.raises(ValueError, match="power of two"):
    _variables(SRResNet(1, scale=scale, width=WIDTH, num_blocks=1), jnp.zeros((1, 4, 4, 1)))


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_sr_discriminator_gives_one_logit_per_image(shape):
  module = SRDiscriminator(width=WIDTH, num_blocks=2, dense_width=8)
  variables = _variables(module, _images(shape))
  logits, mutated = _apply(module, variables, _images(shape), train=True)
  chex.assert_shape(logits, (BATCH,))
  assert logits.dtype == jnp.float32
  chex.assert_tree_all_finite(mutated)
  params = variables["params"]
  # Widths 4 | 4 s2, 8, 8 s2, 16, 16 s2: three halvings, 28 -> 4 and 32 -> 4.
  assert [params[f"conv{i}"]["kernel"].shape[-1] for i in range(6)] == [4, 4, 8, 8, 16, 16]
  chex.assert_shape(params["dense"]["kernel"], (4 * 4 * 16, 8))
  chex.assert_shape(params["logit"]["kernel"], (8, 1))
