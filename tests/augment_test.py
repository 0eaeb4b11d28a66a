"""DiffAugment (gan.augment): the official code's ops, by hand and against its index arithmetic."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import augment
from gan.errors import ConfigError

SHAPES = [(6, 28, 28, 1), (6, 32, 32, 3)]


def _images(shape, seed=0):
  return jax.random.uniform(jax.random.key(seed), shape, minval=-1.0, maxval=1.0)


def _reference_translation(x: np.ndarray, t_h: int, t_w: int) -> np.ndarray:
  """The official code's translation of one (H, W, C) image: pad 1, clamp, gather."""
  height, width, _ = x.shape
  padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
  rows = np.clip(np.arange(height) + t_h + 1, 0, height + 1)
  cols = np.clip(np.arange(width) + t_w + 1, 0, width + 1)
  return padded[rows[:, None], cols[None, :]]


def _reference_cutout_mask(height, width, size, offset_h, offset_w) -> np.ndarray:
  """The official code's cutout mask: clamped indices of the square, scattered to 0."""
  mask = np.ones((height, width))
  rows = np.clip(np.arange(size[0]) + offset_h - size[0] // 2, 0, height - 1)
  cols = np.clip(np.arange(size[1]) + offset_w - size[1] // 2, 0, width - 1)
  mask[rows[:, None], cols[None, :]] = 0
  return mask


@pytest.mark.parametrize("shape", SHAPES, ids=["28x28x1", "32x32x3"])
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_shape_dtype_determinism_and_keys(shape, policy):
  x = _images(shape)
  augment_fn = jax.jit(lambda key, x: augment.diff_augment(key, x, policy))
  out = augment_fn(jax.random.key(1), x)
  chex.assert_shape(out, shape)
  assert out.dtype == x.dtype
  chex.assert_tree_all_finite(out)
  np.testing.assert_array_equal(out, augment_fn(jax.random.key(1), x))
  assert np.any(np.asarray(out) != np.asarray(augment_fn(jax.random.key(2), x)))
  assert np.any(np.asarray(out) != np.asarray(x))


@pytest.mark.parametrize("shape", SHAPES, ids=["28x28x1", "32x32x3"])
def test_gradient_flows_through_every_op(shape):
  x = _images(shape)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(augment.diff_augment(jax.random.key(3), x))))(x)
  chex.assert_tree_all_finite(grad)
  assert float(jnp.sum(jnp.abs(grad))) > 0
  # Translation and cutout are linear: d sum / dx counts where each pixel lands (0 or 1).
  grad = jax.jit(jax.grad(lambda x: jnp.sum(augment.diff_augment(jax.random.key(3), x,
                                                                 "translation,cutout"))))(x)
  assert set(np.unique(np.asarray(grad)).tolist()) == {0.0, 1.0}


def test_color_gradients_match_finite_differences():
  x = _images((2, 5, 5, 3))
  jax.test_util.check_grads(jax.jit(lambda x: augment.diff_augment(jax.random.key(4), x,
                                                                   "color")),
                            (x,), order=1, modes=["rev"], atol=1e-2, rtol=1e-2)


@pytest.mark.parametrize("side", [28, 32, 7])
def test_translate_matches_the_reference_for_every_shift(side):
  x = np.asarray(_images((1, side, side, 2)))[0]
  shifts = [(t_h, t_w) for t_h in range(-4, 5) for t_w in range(-4, 5)]
  batch = jnp.broadcast_to(x, (len(shifts),) + x.shape)
  out = np.asarray(jax.jit(augment.translate)(batch, jnp.array(shifts)))
  for i, (t_h, t_w) in enumerate(shifts):
    np.testing.assert_array_equal(out[i], _reference_translation(x, t_h, t_w))
  # By hand: a shift of (1, -2) reads row i + 1, column j - 2, and zeros past the edge.
  i = shifts.index((1, -2))
  np.testing.assert_array_equal(out[i][:-1, 2:], x[1:, :-2])
  assert np.all(out[i][-1] == 0) and np.all(out[i][:, :2] == 0)


@pytest.mark.parametrize("side,max_shift", [(28, 4), (32, 4), (64, 8)])
def test_translation_draws_integer_shifts_up_to_the_ratio(side, max_shift):
  # Image b holds distinct positive values; find where pixel (h0, w0) went.
  batch = 64
  x = jnp.broadcast_to(1.0 + jnp.arange(side * side, dtype=jnp.float32).reshape(1, side, side, 1),
                       (batch, side, side, 1))
  out = np.asarray(jax.jit(augment.translation)(jax.random.key(5), x))
  shifts = set()
  for b in range(batch):
    (rows, cols) = np.nonzero(out[b, :, :, 0] == x[0, side // 2, side // 2, 0])
    t_h, t_w = side // 2 - int(rows[0]), side // 2 - int(cols[0])
    shifts.add((t_h, t_w))
    np.testing.assert_array_equal(out[b], _reference_translation(np.asarray(x[b]), t_h, t_w))
  values = {t for shift in shifts for t in shift}
  assert max(abs(t) for t in values) == max_shift  # int(0.125 * side + 0.5), both ends drawn.
  assert min(values) == -max_shift
  assert len(shifts) > 10


def test_cutout_mask_matches_the_reference_for_every_offset():
  for height, width in [(28, 28), (32, 32), (7, 9)]:
    size = (int(height * 0.5 + 0.5), int(width * 0.5 + 0.5))
    offsets = [(o_h, o_w) for o_h in range(height + 1 - size[0] % 2)
               for o_w in range(width + 1 - size[1] % 2)]
    masks = np.asarray(augment.cutout_mask(height, width, size, jnp.array(offsets)))
    chex.assert_shape(masks, (len(offsets), height, width, 1))
    for i, (o_h, o_w) in enumerate(offsets):
      np.testing.assert_array_equal(masks[i, ..., 0],
                                    _reference_cutout_mask(height, width, size, o_h, o_w))


@pytest.mark.parametrize("shape,size", [((64, 28, 28, 1), 14), ((64, 32, 32, 3), 16)])
def test_cutout_sets_a_square_to_zero(shape, size):
  x = _images(shape) * 0.5 + 0.75  # In [0.25, 1.25): no zeros before the cutout.
  out = np.asarray(jax.jit(augment.cutout)(jax.random.key(6), x))
  zeros = np.all(out == 0, axis=-1)
  np.testing.assert_array_equal(out[~zeros], np.asarray(x)[~zeros])  # The rest unchanged.
  full = 0
  for b in range(shape[0]):
    rows, cols = np.nonzero(zeros[b])
    r0, r1, c0, c1 = rows.min(), rows.max(), cols.min(), cols.max()
    assert len(rows) == (r1 - r0 + 1) * (c1 - c0 + 1)  # One axis-aligned rectangle.
    for lo, hi, side in ((r0, r1, shape[1]), (c0, c1, shape[2])):
      extent = hi - lo + 1
      assert extent == size or (extent < size and (lo == 0 or hi == side - 1))
    full += (r1 - r0 + 1, c1 - c0 + 1) == (size, size)
  assert full > 0  # The whole square, where it falls inside the image.


def test_color_ops_by_hand():
  x = _images((6, 8, 8, 3))
  key = jax.random.key(7)
  # Brightness: one offset per image, in [-0.5, 0.5).
  delta = np.asarray(augment.brightness(key, x) - x)
  np.testing.assert_allclose(delta, delta[:, :1, :1, :1] * np.ones_like(delta), atol=1e-6)
  assert np.all(delta[:, 0, 0, 0] >= -0.5) and np.all(delta[:, 0, 0, 0] < 0.5)
  u = jax.random.uniform(key, (6, 1, 1, 1))
  np.testing.assert_allclose(delta[:, 0, 0, 0], u[:, 0, 0, 0] - 0.5, rtol=1e-6, atol=1e-6)
  # Saturation: (x - m) * 2u + m, m the channel mean; keeps m; identity on grey.
  m = jnp.mean(x, axis=-1, keepdims=True)
  np.testing.assert_allclose(augment.saturation(key, x), (x - m) * 2 * u + m, rtol=1e-5,
                             atol=1e-6)
  grey = x[..., :1]
  np.testing.assert_array_equal(augment.saturation(key, grey), grey)
  # Contrast: (x - m) * (u + 0.5) + m, m the image mean; keeps m.
  m = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
  out = augment.contrast(key, x)
  np.testing.assert_allclose(out, (x - m) * (u + 0.5) + m, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(jnp.mean(out, axis=(1, 2, 3)), m[:, 0, 0, 0], atol=1e-6)


def test_policy_parsing():
  assert augment.parse_policy("color,translation,cutout") == ("color", "translation", "cutout")
  assert augment.parse_policy(" translation , color ") == ("translation", "color")
  assert augment.parse_policy("") == ()
  x = _images((2, 28, 28, 1))
  np.testing.assert_array_equal(augment.diff_augment(jax.random.key(0), x, ""), x)
  with pytest.raises(ConfigError, match=r"config.loss.augment=.*'colour'"):
    augment.diff_augment(jax.random.key(0), x, "colour,cutout")
  with pytest.raises(ConfigError, match="config.model.augment"):
    augment.parse_policy("flip", field="model.augment")
