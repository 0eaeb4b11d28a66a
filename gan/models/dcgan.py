"""DCGAN (Radford et al. 2016) as in the TensorFlow DCGAN tutorial.

28x28 (MNIST-shaped), with `g_widths=(256, 128, 64)`:
  G: Dense(7*7*256, no bias), BN, LeakyReLU, reshape 7x7x256,
     ConvTranspose(128, 5x5, stride 1), BN, LeakyReLU,
     ConvTranspose(64, 5x5, stride 2), BN, LeakyReLU,        -> 14x14
     ConvTranspose(C, 5x5, stride 2), tanh                    -> 28x28xC
  D: Conv(64, 5x5, s2), LeakyReLU, Dropout(0.3),
     Conv(128, 5x5, s2), LeakyReLU, Dropout(0.3), Flatten, Dense(1) logit.
32x32 (CIFAR-shaped): the same family started from 8x8.

The generator's first width is the projection; every later width is a stride-1
transposed convolution except the last, and the two final layers upsample by 2.
The layers are Flax's own; on CPU the builder lowers them faster (`gan.backends.cpu`).
"""

from typing import Any, Optional, Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan.models.conditional import check_head, discriminator_output
from gan.models.spectral import spectral_normalizer


_KERNEL = 5


class DCGANGenerator(nn.Module):
  """Maps noise (B, noise_dim) to images (B, H, W, C) in [-1, 1], H = W in {28, 32}."""

  image_shape: tuple[int, int, int]
  widths: Sequence[int] = (256, 128, 64)
  dtype: Any = jnp.float32  # Computation dtype; parameters stay float32, images are float32.

  @nn.compact
  def __call__(self, z: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    height, width, channels = self.image_shape
    start = height // 4  # Two stride-2 layers: 7 -> 28, 8 -> 32.
    norm = lambda: nn.BatchNorm(use_running_average=not train, dtype=self.dtype)
    x = nn.Dense(start * start * self.widths[0], use_bias=False, dtype=self.dtype)(z)
    x = nn.leaky_relu(norm()(x), negative_slope=0.3)
    x = x.reshape((z.shape[0], start, start, self.widths[0]))
    features = list(self.widths[1:]) + [channels]
    for i, f in enumerate(features):
      stride = 2 if i >= len(features) - 2 else 1
      last = i == len(features) - 1
      x = nn.ConvTranspose(f, (_KERNEL, _KERNEL), strides=(stride, stride), padding="SAME",
                           use_bias=last, dtype=self.dtype)(x)
      if last:
        x = jnp.tanh(x.astype(jnp.float32))
      else:
        x = nn.leaky_relu(norm()(x), negative_slope=0.3)
    assert x.shape[1:] == (height, width, channels), x.shape
    return x


class DCGANDiscriminator(nn.Module):
  """Maps images (B, H, W, C) to one real-vs-fake logit each, shape (B,).

  The flattened output of the last convolution is phi(x); the logit is Dense(1)(phi).
  Options (all off by default, leaving the parameter tree and outputs as above):

  * `spectral_norm`: every convolution and dense layer computes with W / sigma(W)
    (Miyato et al. 2018, `gan.models.spectral`); the power-iteration vectors are in
    `batch_stats`, updated iff `train` and `batch_stats` is mutable.
  * `conditioning='projection'` (with `num_classes`): D(x, y) = Dense(1)(phi) +
    <V[y], phi> (Miyato & Koyama 2018); 'acgan': D(x) returns (logits (B,),
    class_logits (B, C)) (Odena et al. 2017); see `gan.models.conditional`.

  Attributes:
    widths: output channels of the stride-2 convolutions.
    dropout_rate: dropout after each convolution's activation (0 = none).
    dtype: computation dtype; parameters and logits stay float32.
    spectral_norm: normalise every layer's weight by its spectral norm.
    num_classes: C, for the 'projection' and 'acgan' heads.
    conditioning: one of `gan.models.conditional.HEADS`.
  """

  widths: Sequence[int] = (64, 128)
  dropout_rate: float = 0.3
  dtype: Any = jnp.float32
  spectral_norm: bool = False
  num_classes: int = 0
  conditioning: str = "none"

  @nn.compact
  def __call__(self, x: jnp.ndarray, labels: Optional[jnp.ndarray] = None, *,
               train: bool = True):
    check_head(self.conditioning, self.num_classes)
    sn = spectral_normalizer(self, enabled=self.spectral_norm, train=train)
    for i, f in enumerate(self.widths):
      x = sn(nn.Conv(f, (_KERNEL, _KERNEL), strides=(2, 2), padding="SAME",
                     dtype=self.dtype))(x)
      x = nn.leaky_relu(x, negative_slope=0.3)
      if self.dropout_rate > 0:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = x.reshape((x.shape[0], -1))
    return discriminator_output(x, labels, conditioning=self.conditioning,
                                num_classes=self.num_classes, wrap=sn, dtype=self.dtype)
