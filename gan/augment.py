"""DiffAugment (Zhao et al. 2020): differentiable augmentations of D's input.

Every image the discriminator sees, real and generated, in both players' updates, is
augmented by a random T drawn per image: D(T(x)) and D(T(G(z))). T is differentiable in
the image, so G's gradient flows through it; D never sees un-augmented images, and with
little data it overfits far less (Zhao et al., sections 3-4).

The ops of the official code (mit-han-lab/data-efficient-gans, `DiffAugment_pytorch.py`
of DiffAugment-stylegan2-pytorch, the version with ratios), one draw per image,
u ~ U[0, 1):

  color        brightness  x <- x + (u - 0.5)
               saturation  x <- (x - mean_c x) * 2u + mean_c x       (mean over channels;
                                                                   identity for C = 1)
               contrast    x <- (x - mean_chw x) * (u + 0.5) + mean_chw x
  translation  x <- x shifted by (t_h, t_w), t uniform on the integers of
               [-s, s], s = int(0.125 * side + 0.5), zeros shifted in:
               out[i, j] = x[i + t_h, j + t_w], 0 outside the image
  cutout       x <- 0 on a square of size = int(0.5 * side + 0.5) pixels a side:
               rows [o - size // 2, o - size // 2 + size), o uniform on the integers
               of [0, side + (1 - size % 2)), columns alike; the part inside the image
               (the reference clamps its indices to the border)

A policy is a comma-separated list of these names, applied in its order; the paper's
for CIFAR-10 and the default is 'color,translation,cutout'. Images are NHWC floats in
[-1, 1] (the ops do not clip, as the reference does not). The first release of the
official code (its top-level `DiffAugment_pytorch.py`) floors instead, s = side // 8
and size = side // 2: the same for 32x32 and 64x64 images, but shifts of up to 3
pixels where this (rounded) version shifts 28x28 images by up to 4.

References:
  Zhao, Liu, Lin, Zhu & Han 2020, Differentiable Augmentation for Data-Efficient GAN
    Training (NeurIPS).
"""

from typing import Callable

import jax
import jax.numpy as jnp

from gan.errors import ConfigError

Array = jax.Array

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


def _uniform_per_image(key: Array, images: Array) -> Array:
  """u ~ U[0, 1), one per image, shaped (B, 1, 1, 1) in the images' dtype."""
  return jax.random.uniform(key, (images.shape[0], 1, 1, 1), dtype=images.dtype)


def brightness(key: Array, images: Array) -> Array:
  """x + (u - 0.5), u ~ U[0, 1) per image."""
  return images + (_uniform_per_image(key, images) - 0.5)


def saturation(key: Array, images: Array) -> Array:
  """(x - m) * 2u + m, m the mean over channels at each pixel, u ~ U[0, 1) per image."""
  mean = jnp.mean(images, axis=-1, keepdims=True)
  return (images - mean) * (_uniform_per_image(key, images) * 2) + mean


def contrast(key: Array, images: Array) -> Array:
  """(x - m) * (u + 0.5) + m, m the mean of each image, u ~ U[0, 1) per image."""
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * (_uniform_per_image(key, images) + 0.5) + mean


def _ratio_of(side: int, ratio: float) -> int:
  return int(side * ratio + 0.5)


def translate(images: Array, shifts: Array) -> Array:
  """out[b, i, j] = images[b, i + shifts[b, 0], j + shifts[b, 1]], 0 outside the image.

  Args:
    images: (B, H, W, C).
    shifts: (B, 2) ints, |shift| <= the side it shifts.
  """
  _, height, width, _ = images.shape
  pad_h, pad_w = height, width
  padded = jnp.pad(images, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)))

  def one(image, shift):
    return jax.lax.dynamic_slice(image, (pad_h + shift[0], pad_w + shift[1], 0),
                                 (height, width, image.shape[-1]))

  return jax.vmap(one)(padded, shifts)


def translation(key: Array, images: Array, ratio: float = TRANSLATION_RATIO) -> Array:
  """Shifts each image by integers t_h, t_w uniform on [-s, s], s = int(ratio * side + 0.5),
  filling with zeros (`translate`)."""
  _, height, width, _ = images.shape
  key_h, key_w = jax.random.split(key)
  s_h, s_w = _ratio_of(height, ratio), _ratio_of(width, ratio)
  shifts = jnp.stack([jax.random.randint(key_h, (images.shape[0],), -s_h, s_h + 1),
                      jax.random.randint(key_w, (images.shape[0],), -s_w, s_w + 1)], axis=1)
  return translate(images, shifts)


def cutout_mask(height: int, width: int, size: tuple[int, int], offsets: Array) -> Array:
  """(B, H, W, 1): 0 on the square of `size` starting at `offsets - size // 2`, else 1.

  Args:
    height, width: the image's sides.
    size: (rows, columns) of the square.
    offsets: (B, 2) ints, the square's centre (row, column) as the reference defines it.
  """
  start = offsets - jnp.array([size[0] // 2, size[1] // 2])
  rows = jnp.arange(height)[None, :]
  cols = jnp.arange(width)[None, :]
  in_rows = (rows >= start[:, :1]) & (rows < start[:, :1] + size[0])  # (B, H)
  in_cols = (cols >= start[:, 1:]) & (cols < start[:, 1:] + size[1])  # (B, W)
  inside = in_rows[:, :, None] & in_cols[:, None, :]
  return (~inside)[..., None]


def cutout(key: Array, images: Array, ratio: float = CUTOUT_RATIO) -> Array:
  """Sets a square of int(ratio * side + 0.5) pixels a side of each image to 0 (`cutout_mask`)."""
  batch, height, width, _ = images.shape
  size = (_ratio_of(height, ratio), _ratio_of(width, ratio))
  key_h, key_w = jax.random.split(key)
  offsets = jnp.stack([
      jax.random.randint(key_h, (batch,), 0, height + (1 - size[0] % 2)),
      jax.random.randint(key_w, (batch,), 0, width + (1 - size[1] % 2))], axis=1)
  return images * cutout_mask(height, width, size, offsets).astype(images.dtype)


AUGMENTATIONS: dict[str, tuple[Callable[[Array, Array], Array], ...]] = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}

DEFAULT_POLICY = "color,translation,cutout"


def parse_policy(policy: str, *, field: str = "loss.augment") -> tuple[str, ...]:
  """The names of a comma-separated policy, in order; '' is no augmentation.

  Raises:
    ConfigError: naming `field` (the config path the policy came from) for a name
      that is not in `AUGMENTATIONS`.
  """
  names = tuple(name.strip() for name in policy.split(",") if name.strip())
  unknown = [name for name in names if name not in AUGMENTATIONS]
  if unknown:
    raise ConfigError(field, policy, f"names unknown augmentations {unknown}; use a "
                      f"comma-separated list of {', '.join(AUGMENTATIONS)} (e.g. "
                      f"'{DEFAULT_POLICY}'), or '' for none")
  return names


def diff_augment(key: Array, images: Array, policy: str = DEFAULT_POLICY, *,
                 field: str = "loss.augment") -> Array:
  """T(images): the DiffAugment ops of `policy` (module docstring), one draw per image.

  A pure function of (key, images), differentiable in the images: the same key gives
  the same T. The reference draws afresh for every batch D judges (reals and fakes
  alike), so give each call its own key, as every key of the train step.

  Args:
    key: a typed PRNG key (`jax.random.key`).
    images: (B, H, W, C) floats in [-1, 1]; any H, W (28x28 included) and C (1 or 3).
    policy: comma-separated names of `AUGMENTATIONS`, applied in order.
    field: the config path named by the `ConfigError` of an unknown policy.

  Returns:
    The augmented images, same shape and dtype.
  """
  ops = [op for name in parse_policy(policy, field=field) for op in AUGMENTATIONS[name]]
  if not ops:
    return images
  for op, op_key in zip(ops, jax.random.split(key, len(ops))):
    images = op(op_key, images)
  return images
