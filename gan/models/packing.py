"""Discriminators that see several samples at once: PacGAN packing, minibatch std.

Packing (Lin et al. 2018). The packed discriminator D_m judges m samples together,
D_m(x_1, ..., x_m), all real or all generated. Rows 0..m-1 of a batch form the first
pack, rows m..2m-1 the second, and so on; a pack is the m samples concatenated along
the last axis (channels for NHWC images, features for points):

  pack(x)[j] = concat(x[m j], x[m j + 1], ..., x[m j + m - 1], axis=-1),   B -> B / m rows.

`PackedDiscriminator` wraps any discriminator, so packing works with every loss (they
take whatever logits D returns, now B / m of them) and every gradient penalty (the
penalties in `gan.losses` take one gradient row per logit: one per pack). m = 1 is
the identity; `gan.models.build` then returns the bare discriminator.

Minibatch standard deviation (Karras et al. 2018, section 3). Split the batch into
groups of G consecutive rows; for each group, the standard deviation of every feature
over the group, averaged over features, is one scalar s; every row of the group gets
s appended as one more feature (points) or as one more constant channel (images):

  s_g = mean_f sqrt(Var_{i in g}(x_{i f}) + 1e-8).

A collapsed generator gives small s, which D can see.

References:
  Lin, Khetan, Fanti & Oh 2018, PacGAN: The power of two samples in generative
    adversarial networks (NeurIPS).
  Karras, Aila, Laine & Lehtinen 2018, Progressive Growing of GANs for Improved
    Quality, Stability, and Variation (ICLR).
"""

import flax.linen as nn
import jax.numpy as jnp

from gan.errors import UserError


def pack(x: jnp.ndarray, m: int) -> jnp.ndarray:
  """Concatenates each m consecutive rows of `x` along the last axis.

  Args:
    x: (B, ..., C) samples, B divisible by m.
    m: packing degree.

  Returns:
    (B / m, ..., m * C): row j holds samples m j .. m j + m - 1, sample m j + i in
    channels [i C, (i + 1) C).
  """
  if x.shape[0] % m:
    raise UserError(f"a batch of {x.shape[0]} samples does not split into packs of {m}; "
                    f"use a batch size that is a multiple of config.model.pack={m}")
  grouped = x.reshape((x.shape[0] // m, m) + x.shape[1:])
  grouped = jnp.moveaxis(grouped, 1, -2)  # (B/m, ..., m, C)
  return grouped.reshape(grouped.shape[:-2] + (m * x.shape[-1],))


def unpack(x: jnp.ndarray, m: int) -> jnp.ndarray:
  """The inverse of `pack`: (B / m, ..., m * C) -> (B, ..., C)."""
  channels = x.shape[-1] // m
  grouped = x.reshape(x.shape[:-1] + (m, channels))
  grouped = jnp.moveaxis(grouped, -2, 1)
  return grouped.reshape((x.shape[0] * m,) + grouped.shape[2:])


class PackedDiscriminator(nn.Module):
  """D_m(x_1..x_m) = discriminator(pack(x, m)): B samples in, B / m logits out.

  Attributes:
    discriminator: the wrapped module, built for inputs with m times the channels.
    pack: m, the packing degree.
  """

  discriminator: nn.Module
  pack: int = 2

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    if x.shape[0] % self.pack and self.is_initializing():
      # Initialisation only needs shapes: tile the example batch into whole packs.
      x = jnp.repeat(x, self.pack, axis=0)
    return self.discriminator(pack(x, self.pack), train=train)


def minibatch_std(x: jnp.ndarray, group_size: int = 4) -> jnp.ndarray:
  """Appends the group's mean feature standard deviation to every row.

  s_g = mean over features f of sqrt(Var_{i in g} x_{i f} + 1e-8), groups g of
  `min(group_size, B)` consecutive rows (variance with 1/G, as in Karras et al.).

  Args:
    x: (B, F) features or (B, H, W, C) feature maps.
    group_size: G; B must be divisible by min(G, B).

  Returns:
    (B, F + 1), or (B, H, W, C + 1) with s_g as a constant channel.
  """
  batch = x.shape[0]
  group = min(group_size, batch)
  if batch % group:
    raise UserError(f"minibatch std: a batch of {batch} does not split into groups of "
                    f"{group}; use a batch size divisible by {group}")
  grouped = x.reshape((batch // group, group) + x.shape[1:]).astype(jnp.float32)
  std = jnp.sqrt(jnp.var(grouped, axis=1) + 1e-8)  # (B/G, ...)
  s = jnp.mean(std.reshape((std.shape[0], -1)), axis=1)  # (B/G,)
  s = jnp.repeat(s, group, axis=0).astype(x.dtype)  # (B,)
  feature = jnp.broadcast_to(s.reshape((batch,) + (1,) * (x.ndim - 1)), x.shape[:-1] + (1,))
  return jnp.concatenate([x, feature], axis=-1)


class MinibatchStdDev(nn.Module):
  """The minibatch standard deviation layer (`minibatch_std`) as a Flax module."""

  group_size: int = 4

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    return minibatch_std(x, self.group_size)


class MinibatchStdDiscriminator(nn.Module):
  """discriminator(minibatch_std(x)): the statistic of D's input as one more channel.

  For discriminator families that do not place the layer inside (the toy MLP places
  it before its output layer, as Karras et al. do). Further positional arguments (a
  conditional discriminator's labels) pass through to the wrapped discriminator.
  """

  discriminator: nn.Module
  group_size: int = 4

  @nn.compact
  def __call__(self, x: jnp.ndarray, *labels: jnp.ndarray, train: bool = True):
    return self.discriminator(minibatch_std(x, self.group_size), *labels, train=train)
