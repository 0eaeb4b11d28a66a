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

Soft labels (class interpolation, `gan.latent`): a generator's label may also be a float
(B, C) array of class weights w, whose embedding is the weighted sum of the class rows,

  E_g[w] = sum_c w_c E_g[c] = w @ E_g        (`embed_labels`),

so w = one_hot(y) gives E_g[y] and w = (1 - t) e_i + t e_j walks from class i to class
j, as BigGAN interpolates its linear class embeddings (Brock et al. 2019). Integer
labels take the lookup they always took.

Discriminator heads that a family builds on its own features phi(x) (the layer before
its real-vs-fake logit, `discriminator_output`), `conditioning` of the family's D:

  none        D(x) = psi(phi(x)),  psi = Dense(1).
  projection  D(x, y) = psi(phi(x)) + <V[y], phi(x)>        (Miyato & Koyama 2018)
              V: a learned class embedding, one row per class, of phi's width; with
              spectral normalisation on, V is normalised too (their SNEmbedID). D
              models log q(x, y) / p(x, y) = log q(y|x) / p(y|x) + log q(x) / p(x)
              (q data, p model); with log-linear class conditionals the first term is
              <V[y], phi(x)> up to terms in x alone, which psi absorbs.
  acgan       D(x, y) = (psi(phi(x)), W phi(x) + b)          (Odena et al. 2017)
              the auxiliary classifier: D returns a TUPLE (logits (B,), class_logits
              (B, C)); it takes y, as every conditional D does, and ignores it (it is
              what the classifier predicts). Both players minimise the cross-entropy of
              class_logits (`gan.losses.auxiliary_classifier_loss`): D on real and
              generated images, G on generated ones.

References:
  Mirza & Osindero 2014, Conditional Generative Adversarial Nets.
  Miyato & Koyama 2018, cGANs with Projection Discriminator (ICLR); code:
    pfnet-research/sngan_projection, dis_models/snresnet_32.py.
  Odena, Olah & Shlens 2017, Conditional Image Synthesis with Auxiliary Classifier GANs
    (ICML).
"""

import math
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan.errors import ConfigError, UserError

EMBEDDING_DIM = 50

# The heads a family's discriminator builds itself (its `conditioning` field).
HEADS = ("none", "projection", "acgan")


def embed_labels(embed: nn.Embed, labels: jnp.ndarray) -> jnp.ndarray:
  """The embedding of integer labels, E[y], or of soft labels, w @ E.

  Call inside a compact `__call__` with the `nn.Embed` holding E (C, F). Integer
  labels y (B,) take `embed(y)`, the lookup; float labels are class weights w (B, C)
  and give sum_c w_c E[c] (matmul at the highest precision, so a one-hot w gives the
  rows of E on every platform).

  Args:
    embed: the `nn.Embed` of C rows.
    labels: (B,) ints in [0, C), or (B, C) floats.

  Returns:
    (B, F) in the embed's dtype (E's dtype when it has none).
  """
  if not jnp.issubdtype(labels.dtype, jnp.floating):
    return embed(labels)
  if labels.ndim != 2 or labels.shape[-1] != embed.num_embeddings:
    raise UserError(f"soft labels must be class weights of shape (B, {embed.num_embeddings}), "
                    f"got shape {labels.shape}; pass integer labels (B,) or weights (B, C)")
  table = embed.embedding
  dtype = embed.dtype or table.dtype
  return jnp.matmul(labels.astype(dtype), table.astype(dtype),
                    precision=jax.lax.Precision.HIGHEST)


class LabelConcatGenerator(nn.Module):
  """G(z, y) = inner(concat(z, embed(y)), train=...); y may be soft (`embed_labels`).

  Attributes:
    inner: the family's generator, taking a (B, noise_dim + 50) latent.
    num_classes: C.
  """

  inner: nn.Module
  num_classes: int

  @nn.compact
  def __call__(self, z: jnp.ndarray, labels: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    embedding = embed_labels(nn.Embed(self.num_classes, EMBEDDING_DIM, name="label_embedding"),
                             labels)
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


def check_head(conditioning: str, num_classes: int) -> None:
  """A `ConfigError` unless (conditioning, num_classes) names a discriminator head."""
  if conditioning not in HEADS:
    raise ConfigError("model.conditioning", conditioning,
                      f"is not a discriminator head; choose one of {list(HEADS)}")
  if conditioning != "none" and num_classes < 2:
    raise ConfigError("model.conditioning", conditioning,
                      f"needs labelled data with at least 2 classes, got {num_classes}")


def projection(features: jnp.ndarray, labels: jnp.ndarray, *, num_classes: int,
               wrap: Callable[[nn.Module], Callable], dtype: Any = jnp.float32) -> jnp.ndarray:
  """<V[y], phi(x)> per row: the label's term of the projection discriminator.

  Call inside the discriminator's compact `__call__`: V is its parameter
  `class_embedding` (C, F), initialised Glorot-uniform as in sngan_projection.

  Args:
    features: phi(x), (B, F).
    labels: y, (B,) ints in [0, C).
    num_classes: C.
    wrap: the discriminator's `gan.models.spectral.spectral_normalizer` (normalises V
      when spectral normalisation is on).
    dtype: computation dtype of the lookup.

  Returns:
    (B,) float32.
  """
  embed = nn.Embed(num_classes, features.shape[-1], dtype=dtype,
                   embedding_init=nn.initializers.xavier_uniform(), name="class_embedding")
  v_y = wrap(embed)(labels)
  return jnp.sum(v_y.astype(jnp.float32) * features.astype(jnp.float32), axis=-1)


def discriminator_output(features: jnp.ndarray, labels: Optional[jnp.ndarray], *,
                         conditioning: str, num_classes: int,
                         wrap: Callable[[nn.Module], Callable], dtype: Any = jnp.float32,
                         logit_layer: Optional[nn.Module] = None):
  """D's output from its features phi(x) for `conditioning` in `HEADS` (module docstring).

  Call inside the discriminator's compact `__call__`, after its feature layers: the
  logit layer psi is the next auto-named `Dense` of that module (so the unconditional
  parameter tree is the one the family always had) unless `logit_layer` is given; the
  classifier is its parameter `class_logits`.

  Args:
    features: phi(x), (B, F).
    labels: y, (B,) ints; needed by 'projection', unused by 'none' and 'acgan'.
    conditioning: one of `HEADS`.
    num_classes: C (0 for 'none').
    wrap: the discriminator's `spectral_normalizer`.
    dtype: computation dtype of the layers.
    logit_layer: psi, if not `Dense(1)`.

  Returns:
    logits (B,) float32; for 'acgan' the tuple (logits (B,), class_logits (B, C)), both
    float32.
  """
  psi = logit_layer if logit_layer is not None else nn.Dense(1, dtype=dtype)
  logits = wrap(psi)(features)[:, 0].astype(jnp.float32)
  if conditioning == "projection":
    if labels is None:
      raise UserError("the projection discriminator needs the labels: call D(x, labels)")
    return logits + projection(features, labels, num_classes=num_classes, wrap=wrap,
                               dtype=dtype)
  if conditioning == "acgan":
    classifier = nn.Dense(num_classes, dtype=dtype, name="class_logits")
    return logits, wrap(classifier)(features).astype(jnp.float32)
  return logits
