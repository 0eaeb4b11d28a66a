"""SNGAN's ResNets (Miyato et al. 2018, Table 4 "ResNet"), 32x32 and 28x28 images.

The CIFAR-10 networks of the spectral normalisation paper and of the projection
discriminator paper (their chainer code, pfnet-research/sngan_projection
`gen_models/resnet_32.py`, `dis_models/snresnet_32.py` and the `resblocks.py` beside
them; Mimicry's `sngan_32` is the same in PyTorch). ch_G = 256, ch_D = 128 in the papers.

Generator, z -> 32x32xC (28x28: start at 7x7 and use two up blocks):

  z (128) -> Dense(4 * 4 * ch_G) -> reshape 4x4xch_G
  -> GBlock up -> GBlock up -> GBlock up                      8x8, 16x16, 32x32
  -> BN -> ReLU -> Conv3x3(C) -> tanh

  GBlock(x) = Conv3x3(ReLU(BN(Conv3x3(Up(ReLU(BN(x))))))) + Conv1x1(Up(x)),

Up the nearest-neighbour 2x upsampling. With `num_classes` every BN of the blocks is
conditional (de Vries et al. 2017; Miyato & Koyama 2018): the batch-normalised x_hat is
scaled and shifted per class, gamma[y] * x_hat + beta[y], gamma and beta class
embeddings initialised to 1 and 0 (so at initialisation it is the plain BN); the BN
before the output stays unconditional, as in the reference.

Discriminator, every convolution and dense layer spectrally normalised
(`gan.models.spectral`), x (HxWxC) -> logit:

  OptimizedBlock down -> DBlock down -> DBlock -> DBlock      H/2, H/4, H/4, H/4
  -> ReLU -> global SUM pool -> phi(x) (ch_D) -> Dense(1)

  OptimizedBlock(x) = Down(Conv3x3(ReLU(Conv3x3(x)))) + Conv1x1(Down(x))
  DBlock(x)         = [Down](Conv3x3(ReLU(Conv3x3(ReLU(x))))) + shortcut(x)
  shortcut(x)       = [Down](Conv1x1(x)) if it downsamples or changes width, else x

Down is 2x2 average pooling. The class-conditional heads (projection, auxiliary
classifier) act on phi(x) (`gan.models.conditional.discriminator_output`).

Initialisation as the reference: Glorot-uniform with gain sqrt(2) on the blocks' 3x3
convolutions (Flax `variance_scaling(2, 'fan_avg', 'uniform')`), gain 1 on the
shortcuts, the dense layers and G's output convolution; biases 0. BatchNorm: momentum
0.9 and epsilon 1e-5, PyTorch's (Mimicry's); the logit layer has a bias, as Mimicry's.

References:
  Miyato, Kataoka, Koyama & Yoshida 2018, Spectral Normalization for Generative
    Adversarial Networks (ICLR), appendix B.4, Table 4.
  Miyato & Koyama 2018, cGANs with Projection Discriminator (ICLR).
  de Vries et al. 2017, Modulating early visual processing by language (NeurIPS):
    conditional batch normalisation.
  Gulrajani et al. 2017, Improved Training of Wasserstein GANs: the ResNet blocks.
"""

from typing import Any, Optional

import flax.linen as nn
import jax.numpy as jnp

from gan.errors import ConfigError, UserError
from gan.models.conditional import check_head, discriminator_output, embed_labels
from gan.models.spectral import spectral_normalizer

# chainer's GlorotUniform(scale) multiplies the Glorot limit by `scale`, i.e. the
# variance by scale^2: GlorotUniform(sqrt(2)) is variance_scaling(2, fan_avg, uniform).
_BLOCK_INIT = nn.initializers.variance_scaling(2.0, "fan_avg", "uniform")
_GLOROT = nn.initializers.xavier_uniform()
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def upsample(x: jnp.ndarray) -> jnp.ndarray:
  """Nearest-neighbour 2x upsampling of NHWC maps (chainer's unpooling_2d(x, 2))."""
  return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def downsample(x: jnp.ndarray) -> jnp.ndarray:
  """2x2 average pooling, stride 2, of NHWC maps."""
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def generator_start(image_side: int) -> tuple[int, int]:
  """(bottom side, number of up blocks) of the generator for square images of `image_side`.

  Three up blocks when the side is a multiple of 8 (32 -> 4x4, the paper's), two when it
  is only a multiple of 4 (28 -> 7x7).
  """
  if image_side % 8 == 0:
    return image_side // 8, 3
  if image_side % 4 == 0:
    return image_side // 4, 2
  raise ConfigError("model.name", "resnet", f"needs square images with side divisible by 4 "
                    f"(28 or 32), got side {image_side}")


class ConditionalBatchNorm(nn.Module):
  """gamma[y] * BN(x) + beta[y]: batch normalisation with a scale and shift per class.

  BN(x) normalises by the batch's statistics in training and by the running averages
  otherwise (those are shared by all classes, as in the reference). gamma and beta are
  (C, channels) embeddings initialised to 1 and 0; soft labels w (B, C) take w @ gamma
  and w @ beta (`gan.models.conditional.embed_labels`).

  Attributes:
    num_classes: C.
    dtype: computation dtype.
  """

  num_classes: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, labels: jnp.ndarray, *, train: bool) -> jnp.ndarray:
    channels = x.shape[-1]
    x_hat = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False,
                         momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, dtype=self.dtype,
                         name="norm")(x)
    gamma = embed_labels(nn.Embed(self.num_classes, channels, embedding_init=nn.initializers.ones,
                                  dtype=self.dtype, name="gamma"), labels)
    beta = embed_labels(nn.Embed(self.num_classes, channels, embedding_init=nn.initializers.zeros,
                                 dtype=self.dtype, name="beta"), labels)
    return x_hat * gamma[:, None, None, :] + beta[:, None, None, :]


def _norm(num_classes: int, dtype: Any, name: str):
  """`norm(x, labels, train=...)`: BN, or conditional BN when there are classes."""
  if num_classes:
    return ConditionalBatchNorm(num_classes, dtype=dtype, name=name)
  bn = nn.BatchNorm(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, dtype=dtype, name=name)
  return lambda x, labels, *, train: bn(x, use_running_average=not train)


class GeneratorBlock(nn.Module):
  """Conv3x3(ReLU(BN(Conv3x3(Up(ReLU(BN(x))))))) + Conv1x1(Up(x)); BN conditional with classes.

  Attributes:
    features: output channels (and hidden channels).
    num_classes: C > 0 for conditional BN (then `labels` are needed).
    dtype: computation dtype.
  """

  features: int
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, labels: Optional[jnp.ndarray] = None, *,
               train: bool = True) -> jnp.ndarray:
    conv = lambda k, init, name: nn.Conv(self.features, (k, k), padding="SAME",
                                         kernel_init=init, dtype=self.dtype, name=name)
    h = nn.relu(_norm(self.num_classes, self.dtype, "bn1")(x, labels, train=train))
    h = conv(3, _BLOCK_INIT, "conv1")(upsample(h))
    h = nn.relu(_norm(self.num_classes, self.dtype, "bn2")(h, labels, train=train))
    h = conv(3, _BLOCK_INIT, "conv2")(h)
    return h + conv(1, _GLOROT, "shortcut")(upsample(x))


class ResNetGenerator(nn.Module):
  """SNGAN's ResNet generator: noise (B, noise_dim) [and labels (B,)] -> (B, H, W, C) in [-1, 1].

  Attributes:
    image_shape: (H, W, C), H = W a multiple of 4 (28 and 32: `generator_start`).
    width: ch_G, the channels of every block (256 in the paper).
    num_classes: C > 0 makes the blocks' BatchNorms conditional: call G(z, labels).
    dtype: computation dtype; parameters, BatchNorm statistics and images stay float32.
  """

  image_shape: tuple[int, int, int]
  width: int = 256
  num_classes: int = 0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: jnp.ndarray, labels: Optional[jnp.ndarray] = None, *,
               train: bool = True) -> jnp.ndarray:
    height, width, channels = self.image_shape
    if self.num_classes and labels is None:
      raise UserError("the class-conditional ResNet generator needs the labels: call "
                      "G(z, labels)")
    bottom, num_blocks = generator_start(height)
    x = nn.Dense(bottom * bottom * self.width, kernel_init=_GLOROT, dtype=self.dtype,
                 name="project")(z)
    x = x.reshape((z.shape[0], bottom, bottom, self.width))
    for i in range(num_blocks):
      x = GeneratorBlock(self.width, num_classes=self.num_classes, dtype=self.dtype,
                         name=f"block{i + 1}")(x, labels, train=train)
    x = nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                     epsilon=_BN_EPSILON, dtype=self.dtype, name="bn_out")(x)
    x = nn.Conv(channels, (3, 3), padding="SAME", kernel_init=_GLOROT, dtype=self.dtype,
                name="conv_out")(nn.relu(x))
    x = jnp.tanh(x.astype(jnp.float32))
    assert x.shape[1:] == (height, width, channels), x.shape
    return x


class DiscriminatorBlock(nn.Module):
  """SNGAN's D block; `optimized` is the first block (no ReLU on the image, pool first
  in the shortcut).

    optimized: Down(Conv3x3(ReLU(Conv3x3(x)))) + Conv1x1(Down(x))
    otherwise: [Down](Conv3x3(ReLU(Conv3x3(ReLU(x))))) + shortcut(x),
               shortcut(x) = [Down](Conv1x1(x)) if `down` or the width changes, else x.

  Attributes:
    features: output (and hidden) channels.
    down: end with 2x2 average pooling.
    optimized: the first block's form.
    spectral_norm: normalise the convolutions' kernels.
    dtype: computation dtype.
  """

  features: int
  down: bool = False
  optimized: bool = False
  spectral_norm: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    sn = spectral_normalizer(self, enabled=self.spectral_norm, train=train)
    conv = lambda k, init, name: sn(nn.Conv(self.features, (k, k), padding="SAME",
                                            kernel_init=init, dtype=self.dtype, name=name))
    h = x if self.optimized else nn.relu(x)
    h = conv(3, _BLOCK_INIT, "conv1")(h)
    h = conv(3, _BLOCK_INIT, "conv2")(nn.relu(h))
    if self.down:
      h = downsample(h)
    if self.optimized:
      return h + conv(1, _GLOROT, "shortcut")(downsample(x))
    if self.down or x.shape[-1] != self.features:
      shortcut = conv(1, _GLOROT, "shortcut")(x)
      return h + (downsample(shortcut) if self.down else shortcut)
    return h + x


class ResNetDiscriminator(nn.Module):
  """SNGAN's ResNet discriminator: images (B, H, W, C) -> logits (B,) (module docstring).

  D(x) = Dense(1)(phi(x)), phi(x) the global sum of ReLU(features); `conditioning`
  adds a class head (`gan.models.conditional`): 'projection', D(x, y) = Dense(1)(phi) +
  <V[y], phi> with V spectrally normalised too (the cGAN of Miyato & Koyama 2018), or
  'acgan', D(x) = (logits (B,), class_logits (B, C)).

  State: with `spectral_norm` (the default: SNGAN), the power-iteration vectors of every
  layer are in the `batch_stats` collection; they advance one step iff D is called with
  `train=True` and `batch_stats` mutable (`gan.models.spectral`).

  Attributes:
    width: ch_D, the channels of every block (128 in the paper).
    spectral_norm: normalise every layer's weight by its spectral norm.
    num_classes: C, for the 'projection' and 'acgan' heads.
    conditioning: one of `gan.models.conditional.HEADS`.
    dtype: computation dtype; parameters and logits stay float32.
  """

  width: int = 128
  spectral_norm: bool = True
  num_classes: int = 0
  conditioning: str = "none"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, labels: Optional[jnp.ndarray] = None, *,
               train: bool = True):
    check_head(self.conditioning, self.num_classes)
    block = lambda name, **kw: DiscriminatorBlock(self.width, spectral_norm=self.spectral_norm,
                                                  dtype=self.dtype, name=name, **kw)
    h = block("block1", down=True, optimized=True)(x, train=train)
    h = block("block2", down=True)(h, train=train)
    h = block("block3")(h, train=train)
    h = block("block4")(h, train=train)
    phi = jnp.sum(nn.relu(h).astype(jnp.float32), axis=(1, 2))  # Global sum pooling.
    sn = spectral_normalizer(self, enabled=self.spectral_norm, train=train)
    return discriminator_output(phi, labels, conditioning=self.conditioning,
                                num_classes=self.num_classes, wrap=sn, dtype=self.dtype,
                                logit_layer=nn.Dense(1, kernel_init=_GLOROT,
                                                     dtype=self.dtype, name="logit"))
