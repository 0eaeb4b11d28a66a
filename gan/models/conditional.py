"""Label-conditional players: any family's generator and discriminator, told the class.

Concatenation (Mirza & Osindero 2014, "Conditional Generative Adversarial Nets"): the
label enters each player as an input beside its own.

  G(z, y) = G_0(concat(z, E_g[y]))        E_g: a learned embedding of width 50
  D(x, y) = D_0(concat(x, P_d[y]))        P_d[y]: a learned embedding reshaped to one
                                          plane of x's shape (H x W x 1 for images,
                                          1 value for points), joined as a channel

as the Keras conditional GAN tutorial conditions its convolutional discriminator. Both
wrappers take any family's modules (`gan.models.build`), so every family becomes
conditional the same way.
"""

import math

import flax.linen as nn
import jax.numpy as jnp

EMBEDDING_DIM = 50


class LabelConcatGenerator(nn.Module):
  """G(z, y) = inner(concat(z, embed(y)), train=...).

  Attributes:
    inner: the family's generator, taking a (B, noise_dim + 50) latent.
    num_classes: C.
  """

  inner: nn.Module
  num_classes: int

  @nn.compact
  def __call__(self, z: jnp.ndarray, labels: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    embedding = nn.Embed(self.num_classes, EMBEDDING_DIM, name="label_embedding")(labels)
    return self.inner(jnp.concatenate([z, embedding.astype(z.dtype)], axis=-1), train=train)


class LabelConcatDiscriminator(nn.Module):
  """D(x, y) = inner(concat(x, plane(y)), train=...), plane(y) one channel of x's shape.

  Attributes:
    inner: the family's discriminator.
    num_classes: C.
  """

  inner: nn.Module
  num_classes: int

  @nn.compact
  def __call__(self, x: jnp.ndarray, labels: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    plane_shape = x.shape[1:-1] + (1,)
    plane = nn.Embed(self.num_classes, math.prod(plane_shape), name="label_plane")(labels)
    plane = plane.reshape((x.shape[0],) + plane_shape).astype(x.dtype)
    return self.inner(jnp.concatenate([x, plane], axis=-1), train=train)
