"""PacGAN packing and minibatch std: shapes, identities, and penalties per pack."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import build, data, losses, models
from gan import config as config_lib
from gan.errors import ConfigError, UserError
from gan.models import packing
from gan.models.toy import LinearMaxout, ToyDiscriminator, ToyGenerator


def test_pack_concatenates_consecutive_rows_along_the_last_axis():
  points = jnp.arange(12.0).reshape(6, 2)
  packed = packing.pack(points, 2)
  np.testing.assert_array_equal(packed, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
  np.testing.assert_array_equal(packing.pack(points, 3)[1], [6, 7, 8, 9, 10, 11])
  images = jax.random.normal(jax.random.key(0), (4, 5, 5, 3))
  packed = packing.pack(images, 2)
  chex.assert_shape(packed, (2, 5, 5, 6))
  np.testing.assert_array_equal(packed[1, ..., :3], images[2])
  np.testing.assert_array_equal(packed[1, ..., 3:], images[3])
  np.testing.assert_array_equal(packing.unpack(packed, 2), images)
  np.testing.assert_array_equal(packing.pack(images, 1), images)
  with pytest.raises(UserError, match="multiple of config.model.pack=4"):
    packing.pack(images[:3], 4)


def test_pack_one_is_the_identity():
  _, d = models.build("toy", image_shape=(2,), g_widths=(8,), d_widths=(8,), pack=1)
  assert isinstance(d, ToyDiscriminator)  # The bare module, same parameters.
  x = jax.random.normal(jax.random.key(1), (6, 2))
  params = d.init(jax.random.key(2), x)
  wrapped = packing.PackedDiscriminator(d, pack=1)
  np.testing.assert_array_equal(wrapped.apply({"params": {"discriminator": params["params"]}}, x),
                                d.apply(params, x))


def test_packed_discriminator_judges_the_concatenated_samples():
  _, d = models.build("toy", image_shape=(2,), g_widths=(8,), d_widths=(16, 16), pack=2)
  assert isinstance(d, packing.PackedDiscriminator)
  variables = d.init(jax.random.key(0), jnp.zeros((1, 2)))  # Init with a single sample works.
  first = variables["params"]["discriminator"]["LinearMaxout_0"]["Dense_0"]["kernel"]
  chex.assert_shape(first, (4, 16 * 5))  # D's input is 2 samples x 2 coordinates.
  x = jax.random.normal(jax.random.key(1), (8, 2))
  logits = d.apply(variables, x)
  chex.assert_shape(logits, (4,))
  inner = ToyDiscriminator(hidden_widths=(16, 16))
  manual = inner.apply({"params": variables["params"]["discriminator"]},
                       jnp.concatenate([x[0::2], x[1::2]], axis=1))
  np.testing.assert_allclose(logits, manual, rtol=1e-6)


def test_packing_images_with_dcgan():
  _, d = models.build("dcgan", image_shape=(28, 28, 1), g_widths=(8, 8, 4), d_widths=(4, 8),
                      pack=2)
  rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
  variables = jax.eval_shape(lambda: d.init(rngs, jnp.zeros((1, 28, 28, 1)), train=False))
  kernel = variables["params"]["discriminator"]["Conv_0"]["kernel"]
  assert kernel.shape[2] == 2  # Two grey images stacked as channels.
  logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros((6, 28, 28, 1)), train=False), variables)
  assert logits.shape == (3,)


class _Linear(nn.Module):
  """D(x) = <w, flatten(x)>: input gradient w, the same at every x."""

  @nn.compact
  def __call__(self, x, *, train=True):
    del train
    x = x.reshape((x.shape[0], -1))
    w = self.param("w", lambda k, s: jnp.arange(1.0, s[0] + 1.0) / 4, (x.shape[1],))
    return x @ w


@pytest.mark.parametrize("name", ["wgan_gp", "r1", "r2"])
def test_penalties_take_the_gradient_of_a_whole_pack(name):
  d = packing.PackedDiscriminator(_Linear(), pack=2)
  params = d.init(jax.random.key(0), jnp.zeros((2, 2)))
  fn = lambda x: d.apply(params, x)
  real = jax.random.normal(jax.random.key(1), (8, 2))
  fake = jax.random.normal(jax.random.key(2), (8, 2))
  value = losses.get_penalty(name)(discriminator_fn=fn, real_images=real, fake_images=fake,
                                   key=jax.random.key(3))
  w = np.arange(1.0, 5.0) / 4  # The gradient of one pack; per sample it would be half of it.
  expected = {"wgan_gp": (np.linalg.norm(w) - 1) ** 2, "r1": 0.5 * w @ w, "r2": 0.5 * w @ w}
  assert float(value) == pytest.approx(expected[name], rel=1e-5)


def test_wgan_gp_interpolates_whole_packs():
  seen = []

  def fn(x):
    jax.debug.callback(lambda v: seen.append(np.asarray(v)), x)
    return jnp.sum(packing.pack(x, 2), axis=1)

  real, fake = jnp.ones((6, 2)), jnp.zeros((6, 2))
  losses.wgan_gradient_penalty(discriminator_fn=fn, real_images=real, fake_images=fake,
                               key=jax.random.key(0))
  eps = seen[-1][:, 0]  # The interpolate of ones and zeros is eps itself.
  np.testing.assert_array_equal(eps[0::2], eps[1::2])
  assert len(set(eps[0::2].tolist())) == 3


def test_minibatch_std_by_hand():
  x = jnp.array([[0.0, 1.0], [2.0, 3.0], [1.0, 1.0], [1.0, 1.0]])
  out = packing.minibatch_std(x, group_size=2)
  chex.assert_shape(out, (4, 3))
  # Group 1: per-feature std (1/G) = (1, 1); group 2: (0, 0) -> sqrt(1e-8).
  np.testing.assert_allclose(out[:, 2], [1.0, 1.0, 1e-4, 1e-4], rtol=1e-3)
  np.testing.assert_array_equal(out[:, :2], x)
  images = jnp.arange(2 * 3 * 3 * 1, dtype=jnp.float32).reshape(2, 3, 3, 1)
  out = packing.minibatch_std(images, group_size=4)  # One group of 2; every pixel differs by 9.
  chex.assert_shape(out, (2, 3, 3, 2))
  np.testing.assert_allclose(out[..., 1], 4.5, rtol=1e-6)
  chex.assert_shape(packing.minibatch_std(jnp.ones((1, 2))), (1, 3))
  with pytest.raises(UserError, match="groups of 4"):
    packing.minibatch_std(jnp.ones((6, 2)), group_size=4)


def test_minibatch_std_option_builds_for_every_family():
  for name, shape in (("toy", (2,)), ("mlp", (28, 28, 1))):
    _, d = models.build(name, image_shape=shape, g_widths=(8,), d_widths=(8,), pack=2,
                        minibatch_std=True)
    rngs = {"params": jax.random.key(0), "dropout": jax.random.key(1)}
    variables = jax.eval_shape(lambda: d.init(rngs, jnp.zeros((1,) + shape), train=False))
    logits = jax.eval_shape(lambda v: d.apply(v, jnp.zeros((16,) + shape), train=False),
                            variables)
    assert logits.shape == (8,)
    params = variables["params"]["discriminator"]
    if name == "toy":  # In front of the output layer: 8 hidden units + 1.
      assert params["Dense_0"]["kernel"].shape == (9, 1)
    else:  # On D's input: a pack of 2 grey images + 1 channel.
      assert params["discriminator"]["Dense_0"]["kernel"].shape == (28 * 28 * 3, 8)


def test_toy_networks():
  g = ToyGenerator(data_shape=(2,), hidden_widths=(16, 16))
  z = jax.random.normal(jax.random.key(0), (10, 2))
  variables = jax.jit(g.init)(jax.random.key(1), z)
  chex.assert_shape(jax.jit(lambda v, z: g.apply(v, z, train=False))(variables, z), (10, 2))
  assert "bias" not in variables["params"]["Dense_0"]  # BatchNorm follows.
  maxout = LinearMaxout(features=3, pieces=2)
  x = jax.random.normal(jax.random.key(2), (4, 5))
  p = maxout.init(jax.random.key(3), x)
  dense = x @ p["params"]["Dense_0"]["kernel"] + p["params"]["Dense_0"]["bias"]
  np.testing.assert_allclose(maxout.apply(p, x),
                             np.maximum(dense[:, 0::2], dense[:, 1::2]), rtol=1e-6)


def test_config_rejects_a_batch_that_does_not_split_into_packs():
  c = config_lib.base_config()
  c.model.pack, c.batch_size = 3, 64
  # The builder checks the config before it touches data or devices.
  with pytest.raises(ConfigError, match=r"config\.batch_size=64 is not a multiple of "
                     r"config\.model\.pack=3") as error:
    build.build(c, data.DataSpec("images", (28, 28, 1)))
  assert error.value.field == "batch_size"
