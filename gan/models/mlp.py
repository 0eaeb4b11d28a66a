"""The MLP GAN of Goodfellow et al. (2014), as in most tutorials.

G: z (100) -> 128 -> 128 -> H*W*C, ReLU hidden, tanh out, reshaped to NHWC.
D: flattened image -> 128 -> 128 -> 1 logit, LeakyReLU(0.2) hidden.
"""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan.models.conditional import check_head, discriminator_output
from gan.models.spectral import spectral_normalizer


class MLPGenerator(nn.Module):
  """Maps noise `z` of shape (B, noise_dim) to images (B, H, W, C) in [-1, 1]."""

  image_shape: tuple[int, int, int]
  hidden_widths: Sequence[int] = (128, 128)
  dtype: Any = jnp.float32  # Computation dtype; parameters stay float32, images are float32.

  @nn.compact
  def __call__(self, z: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    del train  # No BatchNorm or dropout: same function in train and eval.
    x = z
    for width in self.hidden_widths:
      x = nn.relu(nn.Dense(width, dtype=self.dtype)(x))
    num_pixels = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
    x = jnp.tanh(nn.Dense(num_pixels, dtype=self.dtype)(x).astype(jnp.float32))
    return x.reshape((z.shape[0],) + tuple(self.image_shape))


class MLPDiscriminator(nn.Module):
  """Maps images (B, H, W, C) to one real-vs-fake logit each, shape (B,).

  The last hidden layer is phi(x); the logit is Dense(1)(phi). Options (off by
  default, leaving the parameter tree and outputs as above): `spectral_norm`, every
  dense layer with W / sigma(W) (`gan.models.spectral`); `conditioning='acgan'` (with
  `num_classes`), D(x) returns (logits (B,), class_logits (B, C))
  (`gan.models.conditional`).

  Attributes:
    hidden_widths: widths of the LeakyReLU(0.2) hidden layers.
    dropout_rate: dropout after each hidden layer (0 = none).
    dtype: computation dtype; parameters and logits stay float32.
    spectral_norm: normalise every layer's weight by its spectral norm.
    num_classes: C, for the 'acgan' head.
    conditioning: 'none' or 'acgan' (`gan.models.conditional.HEADS`).
  """

  hidden_widths: Sequence[int] = (128, 128)
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  spectral_norm: bool = False
  num_classes: int = 0
  conditioning: str = "none"

  @nn.compact
  def __call__(self, x: jnp.ndarray, labels: Optional[jnp.ndarray] = None, *,
               train: bool = True):
    check_head(self.conditioning, self.num_classes)
    sn = spectral_normalizer(self, enabled=self.spectral_norm, train=train)
    x = x.reshape((x.shape[0], -1))
    for width in self.hidden_widths:
      x = nn.leaky_relu(sn(nn.Dense(width, dtype=self.dtype))(x), negative_slope=0.2)
      if self.dropout_rate > 0:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return discriminator_output(x, labels, conditioning=self.conditioning,
                                num_classes=self.num_classes, wrap=sn, dtype=self.dtype)
