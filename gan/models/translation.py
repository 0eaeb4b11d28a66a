"""Image-to-image networks: pix2pix, CycleGAN and SRGAN building blocks.

What it holds:

  pixel_shuffle          depth-to-space, (B, H, W, C r^2) -> (B, H r, W r, C), torch's order.
  normalization          the norm every module here takes: 'batch', 'instance' or 'none'.
  UNetGenerator          pix2pix's U-Net (Isola et al. 2017), image -> image in [-1, 1].
  ResnetGenerator        CycleGAN's generator (Zhu et al. 2017), after Johnson et al. 2016.
  PatchDiscriminator     pix2pix's PatchGAN ("NLayerDiscriminator"): one logit per patch;
                         `patch_receptive_field` gives the patch side (70 for 3 layers).
  SRResNet               SRGAN's generator (Ledig et al. 2017): x (h, w) -> (h s, w s).
  SRDiscriminator        SRGAN's discriminator, shrinkable: one logit per image.

The modules are the reference code's (junyanz/pytorch-CycleGAN-and-pix2pix
`models/networks.py` for pix2pix and CycleGAN) written with Flax's layers, NHWC. Every
module is called as `module(x, train)`: `train` selects batch statistics (and updates
the running averages when `batch_stats` is mutable) and turns dropout on (rng
`"dropout"`). Conditional pix2pix discriminators judge concat(input, output) along the
channels; building that pair is the caller's business.

Normalisation (`norm`):
  batch     `nn.BatchNorm`, momentum 0.9 and epsilon 1e-5 (PyTorch's), statistics in
            `batch_stats`; running averages when not `train`.
  instance  `nn.InstanceNorm`, epsilon 1e-5, no scale or shift (PyTorch's
            InstanceNorm2d(affine=False), the reference's): every sample and channel is
            normalised over its own H x W, so a sample's output never depends on the
            rest of the batch, in training or not (Ulyanov et al. 2016).
  none      the identity.
A convolution followed by a norm has no bias (the norm's shift, or its mean
subtraction, absorbs it); every other one has.

Initialisation: pix2pix and CycleGAN draw every convolution kernel from N(0, 0.02^2)
and BatchNorm scales from N(1, 0.02^2) (the reference's `init_weights('normal')`);
biases 0. The SRGAN modules keep Flax's default initialisers.

Padding and sizes (all modules take 28x28 and 32x32, and other sizes where noted):
  U-Net: 4x4 stride-2 convolutions with padding 1 and 4x4 stride-2 transposed
    convolutions with padding 1 (PyTorch's semantics), which halve and double exactly
    when the side is even. An input whose sides are not multiples of 2^depth is
    reflect-padded (as evenly as possible on both sides) up to the next multiple, and
    the output is cropped back to the input's region: 28x28 runs as 32x32 and returns
    28x28. depth=None is the smallest depth that brings the shorter padded side to 1.
  ResNet generator: reflection padding before the 7x7 and the blocks' 3x3
    convolutions; 3x3 stride-2 convolutions with padding 1 (side -> ceil(side / 2));
    3x3 stride-2 transposed convolutions with padding 1 and output padding 1 (side ->
    2 side), whose output is cropped at the end to the side before the matching
    downsample (odd sides, e.g. 7 -> 4 -> 8 -> 7), so the output has the input's size.
  PatchGAN: 4x4 convolutions with padding 1 (pix2pix's): stride 2 maps s to
    floor(s / 2), stride 1 maps s to s - 1. The receptive field of one output logit is
    `patch_receptive_field(num_layers)` pixels square (padding changes only which
    pixels near the border are zeros, not the field's extent).
  SRGAN: 'SAME' padding throughout (stride 2 maps s to ceil(s / 2)).

References:
  Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional
    Adversarial Networks (CVPR): pix2pix, the U-Net and the PatchGAN, section 3.2 and
    appendix 6.1.
  Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using
    Cycle-Consistent Adversarial Networks (ICCV): CycleGAN, appendix 7.2.
  Johnson, Alahi & Fei-Fei 2016, Perceptual Losses for Real-Time Style Transfer and
    Super-Resolution (ECCV): the residual transformation network.
  Ulyanov, Vedaldi & Lempitsky 2016, Instance Normalization: The Missing Ingredient
    for Fast Stylization (arXiv:1607.08022).
  Shi et al. 2016, Real-Time Single Image and Video Super-Resolution Using an
    Efficient Sub-Pixel Convolutional Neural Network (CVPR): the pixel shuffle.
  Ledig et al. 2017, Photo-Realistic Single Image Super-Resolution Using a Generative
    Adversarial Network (CVPR): SRResNet and SRGAN's discriminator, figure 4.
  He, Zhang, Ren & Sun 2015, Delving Deep into Rectifiers (ICCV): PReLU.
"""

import math
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from gan.errors import UserError

Array = jax.Array

NORMS = ("batch", "instance", "none")

_BN_MOMENTUM = 0.9  # PyTorch's momentum 0.1: running = 0.9 running + 0.1 batch.
_NORM_EPSILON = 1e-5
_LEAKY_SLOPE = 0.2
_PIX2PIX_INIT = nn.initializers.normal(stddev=0.02)


def _pix2pix_bn_scale_init(key, shape, dtype=jnp.float32):
  """BatchNorm scales ~ N(1, 0.02^2), the reference's `init_weights('normal')`."""
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


def _check_norm(norm: str) -> None:
  if norm not in NORMS:
    raise UserError(f"norm={norm!r} is not a normalisation; choose one of {NORMS}")


def normalization(norm: str, *, train: bool, dtype: Any = jnp.float32,
                  name: Optional[str] = None,
                  scale_init: Callable[..., Array] = nn.initializers.ones
                  ) -> Callable[[Array], Array]:
  """The normalisation layer called `norm`, as a function of NHWC features.

  Call it inside a module's `nn.compact` method (the layer becomes that module's child).

    batch:    (x - mu_B) / sqrt(var_B + eps) * gamma + beta, mu_B and var_B over
              (B, H, W) when `train` (updating the running averages in `batch_stats`
              when that collection is mutable), the running averages otherwise.
    instance: (x - mu_bc) / sqrt(var_bc + eps), mu_bc and var_bc over (H, W) of each
              sample b and channel c, in training and evaluation alike.
    none:     x.

  Args:
    norm: one of `NORMS`.
    train: batch statistics (BatchNorm) or running averages.
    dtype: computation dtype.
    name: the layer's name in the parameter tree (unused for 'none').
    scale_init: BatchNorm's gamma initialiser.

  Returns:
    x -> normalised x, same shape.

  Raises:
    UserError (a ValueError): `norm` is not one of `NORMS`.
  """
  _check_norm(norm)
  if norm == "batch":
    return nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                        epsilon=_NORM_EPSILON, scale_init=scale_init, dtype=dtype, name=name)
  if norm == "instance":
    return nn.InstanceNorm(epsilon=_NORM_EPSILON, use_scale=False, use_bias=False,
                           dtype=dtype, name=name)
  return lambda x: x


def pixel_shuffle(x: Array, scale: int) -> Array:
  """Depth-to-space (Shi et al. 2016): (B, H, W, C r^2) -> (B, H r, W r, C), r = scale.

  PyTorch's `nn.PixelShuffle` order, in NHWC:

    out[b, h r + i, w r + j, c] = x[b, h, w, c r^2 + i r + j],   0 <= i, j < r.

  Args:
    x: (B, H, W, C r^2) features.
    scale: r >= 1.

  Returns:
    (B, H r, W r, C).

  Raises:
    UserError (a ValueError): the channels are not a multiple of r^2.
  """
  batch, height, width, channels = x.shape
  if scale < 1 or channels % (scale * scale):
    raise UserError(f"pixel_shuffle by {scale} needs channels divisible by {scale}^2, "
                    f"got {channels}")
  c = channels // (scale * scale)
  x = x.reshape((batch, height, width, c, scale, scale))  # [..., c, i, j]
  x = x.transpose((0, 1, 4, 2, 5, 3))  # (B, H, i, W, j, C)
  return x.reshape((batch, height * scale, width * scale, c))


def _reflect_pad(x: Array, pad: int) -> Array:
  """Reflection padding of H and W by `pad` (PyTorch's ReflectionPad2d, no edge repeat)."""
  return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")


# ------------------------------------------------------------------------- pix2pix


def unet_depth(height: int, width: int) -> int:
  """The U-Net's default depth: the fewest halvings that take the shorter side to 1.

  depth = max(1, ceil(log2(min(H, W)))): 32 -> 5, 28 -> 5 (padded to 32), 256 -> 8
  (pix2pix's unet_256).
  """
  return max(1, math.ceil(math.log2(min(height, width))))


class UNetGenerator(nn.Module):
  """pix2pix's U-Net generator: x (B, H, W, C_in) in [-1, 1] -> (B, H, W, out) in [-1, 1].

  With d = depth and n_i = width * min(2^i, 8) (64-128-256-512-512-... for width 64),
  the encoder is d 4x4 stride-2 convolutions,

    e_0 = Conv_{n_0}(x),  e_i = Norm(Conv_{n_i}(LReLU_0.2(e_{i-1}))) for 0 < i < d - 1,
    e_{d-1} = Conv_{n_{d-1}}(LReLU_0.2(e_{d-2}))     (the bottleneck: no norm),

  and the decoder mirrors it with 4x4 stride-2 transposed convolutions, each layer's
  output concatenated with the encoder's features of the same size (the skips):

    u_{d-1} = e_{d-1},
    u_{i-1} = concat(e_{i-1}, Dropout(Norm(ConvT_{n_{i-1}}(ReLU(u_i)))))  for i = d-1 .. 1,
    G(x) = tanh(ConvT_out(ReLU(u_0))).

  Dropout (rate `dropout_rate`, rng "dropout", only when `train` and the rate is > 0)
  follows the innermost three decoder layers (i = d-1, d-2, d-3; never the output
  layer), the paper's CD512-CD512-CD512 (appendix 6.1.1); it is pix2pix's noise z.
  The reference code instead puts it on the num_downs - 5 blocks next to the innermost,
  which is none at all below 64x64.

  Sizes: the input is reflect-padded up to multiples of 2^d and the output cropped
  back (module docstring), so every skip matches its decoder layer exactly.

  Attributes:
    out_channels: channels of the output image.
    width: n_0, the first layer's channels (ngf, 64 in the paper).
    depth: d, the number of stride-2 layers; None: `unet_depth` of the input (5 for
      28x28 and 32x32, a 1x1 bottleneck; 8 is pix2pix's 256x256 U-Net).
    dropout_rate: rate of the decoder's dropout (0.5 in pix2pix; 0 for none).
    norm: one of `NORMS`.
    dtype: computation dtype; parameters and images stay float32.
  """

  out_channels: int
  width: int = 64
  depth: Optional[int] = None
  dropout_rate: float = 0.5
  norm: str = "batch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    _check_norm(self.norm)
    _, height, width = x.shape[:3]
    depth = unet_depth(height, width) if self.depth is None else self.depth
    if depth < 1:
      raise UserError(f"the U-Net needs depth >= 1, got {depth}")
    multiple = 2 ** depth
    pad_h, pad_w = -height % multiple, -width % multiple
    top, left = pad_h // 2, pad_w // 2
    h = jnp.pad(x, ((0, 0), (top, pad_h - top), (left, pad_w - left), (0, 0)), mode="reflect")

    features = lambda i: self.width * min(2 ** i, 8)
    has_norm = self.norm != "none"
    norm = lambda name: normalization(self.norm, train=train, dtype=self.dtype, name=name,
                                      scale_init=_pix2pix_bn_scale_init)
    # PyTorch's Conv2d(k=4, s=2, p=1) and ConvTranspose2d(k=4, s=2, p=1); a transposed
    # convolution's explicit padding here pads the stride-dilated input: k - 1 - p = 2.
    down = lambda f, bias, name: nn.Conv(f, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)),
                                         use_bias=bias, kernel_init=_PIX2PIX_INIT,
                                         dtype=self.dtype, name=name)
    up = lambda f, bias, name: nn.ConvTranspose(f, (4, 4), strides=(2, 2),
                                                padding=((2, 2), (2, 2)), use_bias=bias,
                                                kernel_init=_PIX2PIX_INIT, dtype=self.dtype,
                                                name=name)

    skips = []
    for i in range(depth):
      normed = 0 < i < depth - 1
      if i > 0:
        h = nn.leaky_relu(h, negative_slope=_LEAKY_SLOPE)
      h = down(features(i), not (normed and has_norm), f"down{i}")(h)
      if normed:
        h = norm(f"down_norm{i}")(h)
      skips.append(h)

    for i in reversed(range(1, depth)):
      h = up(features(i - 1), not has_norm, f"up{i}")(nn.relu(h))
      h = norm(f"up_norm{i}")(h)
      if i >= depth - 3 and self.dropout_rate > 0:
        h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
      h = jnp.concatenate([skips[i - 1], h], axis=-1)
    h = up(self.out_channels, True, "up0")(nn.relu(h))

    h = jnp.tanh(h.astype(jnp.float32))[:, top:top + height, left:left + width, :]
    assert h.shape == x.shape[:3] + (self.out_channels,), h.shape
    return h


class PatchDiscriminator(nn.Module):
  """pix2pix's PatchGAN discriminator: x (B, H, W, C) -> patch logits (B, h, w, 1).

  With n = num_layers and 4x4 convolutions of padding 1 (module docstring), n_i =
  width * min(2^i, 8):

    LReLU_0.2(Conv_{n_0}, stride 2)
    -> [LReLU_0.2(Norm(Conv_{n_i}, stride 2))]  for i = 1 .. n - 1
    -> LReLU_0.2(Norm(Conv_{n_n}, stride 1))
    -> Conv_1, stride 1: one logit per patch.

  Each logit sees a `patch_receptive_field(n)`-pixel square of the input (70x70 for the
  paper's n = 3); the loss is averaged over patches. For conditional pix2pix, call it on
  concat(input, output) along the channels.

  Attributes:
    width: n_0 (ndf, 64 in the paper).
    num_layers: n >= 1, the number of stride-2 convolutions.
    norm: one of `NORMS`.
    dtype: computation dtype; parameters and logits stay float32.
  """

  width: int = 64
  num_layers: int = 3
  norm: str = "batch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    _check_norm(self.norm)
    if self.num_layers < 1:
      raise UserError(f"the PatchGAN needs num_layers >= 1, got {self.num_layers}")
    side = min(x.shape[1:3])
    for stride in [2] * self.num_layers + [1, 1]:
      side = (side + 2 - 4) // stride + 1
    if side < 1:
      raise UserError(f"a {x.shape[1]}x{x.shape[2]} input is too small for a PatchGAN of "
                      f"{self.num_layers} layers; use fewer layers")
    has_norm = self.norm != "none"
    conv = lambda f, stride, bias, name: nn.Conv(
        f, (4, 4), strides=(stride, stride), padding=((1, 1), (1, 1)), use_bias=bias,
        kernel_init=_PIX2PIX_INIT, dtype=self.dtype, name=name)
    features = lambda i: self.width * min(2 ** i, 8)

    h = nn.leaky_relu(conv(features(0), 2, True, "conv0")(x), negative_slope=_LEAKY_SLOPE)
    for i in range(1, self.num_layers + 1):
      stride = 2 if i < self.num_layers else 1
      h = conv(features(i), stride, not has_norm, f"conv{i}")(h)
      h = normalization(self.norm, train=train, dtype=self.dtype, name=f"norm{i}",
                        scale_init=_pix2pix_bn_scale_init)(h)
      h = nn.leaky_relu(h, negative_slope=_LEAKY_SLOPE)
    h = conv(1, 1, True, "logits")(h)
    return h.astype(jnp.float32)


def patch_receptive_field(num_layers: int) -> int:
  """The side of the input square one `PatchDiscriminator` logit sees.

  Back from one output pixel through the 4x4 convolutions (n of stride 2, then two of
  stride 1), each layer of kernel k and stride s maps a field of r pixels to
  (r - 1) s + k; starting at r = 1 this gives 9 * 2^n - 2: 16, 34, 70 for n = 1, 2, 3
  (the paper's 16x16, 34x34 and 70x70 PatchGANs), 142 for n = 4.
  """
  if num_layers < 1:
    raise UserError(f"the PatchGAN needs num_layers >= 1, got {num_layers}")
  field = 1
  for stride in reversed([2] * num_layers + [1, 1]):
    field = (field - 1) * stride + 4
  return field


# ------------------------------------------------------------------------ CycleGAN


class ResnetBlock(nn.Module):
  """x + Norm(Conv3(Pad(ReLU(Norm(Conv3(Pad(x))))))), Pad the 1-pixel reflection padding.

  Attributes:
    features: channels of x (kept).
    norm: one of `NORMS`.
    dtype: computation dtype.
  """

  features: int
  norm: str = "instance"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    conv = lambda name: nn.Conv(self.features, (3, 3), padding="VALID",
                                use_bias=self.norm == "none", kernel_init=_PIX2PIX_INIT,
                                dtype=self.dtype, name=name)
    norm = lambda name: normalization(self.norm, train=train, dtype=self.dtype, name=name,
                                      scale_init=_pix2pix_bn_scale_init)
    h = nn.relu(norm("norm1")(conv("conv1")(_reflect_pad(x, 1))))
    h = norm("norm2")(conv("conv2")(_reflect_pad(h, 1)))
    return x + h


class ResnetGenerator(nn.Module):
  """CycleGAN's generator (Johnson et al. 2016): x (B, H, W, C_in) -> (B, H, W, out) in [-1, 1].

  In the CycleGAN paper's notation (appendix 7.2; c7s1-k a 7x7 stride-1 conv-norm-ReLU
  of k filters, dk a 3x3 stride-2 one, Rk a residual block, uk a 3x3 stride-1/2
  transposed one), for width 64, two downsamples and six blocks:

    c7s1-64, d128, d256, R256 x 6, u128, u64, c7s1-out (no norm; tanh).

  The 7x7 and the blocks' 3x3 convolutions read reflection-padded maps; the
  transposed convolutions' outputs are cropped to the size before the matching
  downsample, so any H x W comes back at its size (module docstring).

  Attributes:
    out_channels: channels of the output image.
    width: channels of the first layer (ngf, 64); downsample i doubles them.
    num_blocks: residual blocks (6 for 128x128 images, 9 for 256x256 in CycleGAN).
    num_downsamples: stride-2 convolutions before the blocks (and transposed ones after).
    norm: one of `NORMS` ('instance' in CycleGAN).
    dtype: computation dtype; parameters and images stay float32.
  """

  out_channels: int
  width: int = 64
  num_blocks: int = 6
  num_downsamples: int = 2
  norm: str = "instance"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    _check_norm(self.norm)
    has_norm = self.norm != "none"
    norm = lambda name: normalization(self.norm, train=train, dtype=self.dtype, name=name,
                                      scale_init=_pix2pix_bn_scale_init)
    conv = lambda f, k, stride, padding, bias, name: nn.Conv(
        f, (k, k), strides=(stride, stride), padding=padding, use_bias=bias,
        kernel_init=_PIX2PIX_INIT, dtype=self.dtype, name=name)

    h = conv(self.width, 7, 1, "VALID", not has_norm, "conv_in")(_reflect_pad(x, 3))
    h = nn.relu(norm("norm_in")(h))
    sizes = []
    for i in range(self.num_downsamples):
      sizes.append(h.shape[1:3])
      h = conv(self.width * 2 ** (i + 1), 3, 2, ((1, 1), (1, 1)), not has_norm, f"down{i}")(h)
      h = nn.relu(norm(f"down_norm{i}")(h))
    for i in range(self.num_blocks):
      h = ResnetBlock(h.shape[-1], norm=self.norm, dtype=self.dtype, name=f"block{i}")(
          h, train)
    for i in reversed(range(self.num_downsamples)):
      # PyTorch's ConvTranspose2d(k=3, s=2, p=1, output_padding=1): 2x the side.
      h = nn.ConvTranspose(self.width * 2 ** i, (3, 3), strides=(2, 2),
                           padding=((1, 2), (1, 2)), use_bias=not has_norm,
                           kernel_init=_PIX2PIX_INIT, dtype=self.dtype, name=f"up{i}")(h)
      height, width = sizes[i]
      h = nn.relu(norm(f"up_norm{i}")(h[:, :height, :width, :]))
    h = conv(self.out_channels, 7, 1, "VALID", True, "conv_out")(_reflect_pad(h, 3))
    h = jnp.tanh(h.astype(jnp.float32))
    assert h.shape == x.shape[:3] + (self.out_channels,), h.shape
    return h


# -------------------------------------------------------------------------- SRGAN


class SRResidualBlock(nn.Module):
  """x + Norm(Conv3(PReLU(Norm(Conv3(x))))): SRResNet's residual block (k3n64s1 twice).

  Attributes:
    features: channels of x (kept).
    norm: one of `NORMS`.
    dtype: computation dtype.
  """

  features: int
  norm: str = "batch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    conv = lambda name: nn.Conv(self.features, (3, 3), padding="SAME",
                                use_bias=self.norm == "none", dtype=self.dtype, name=name)
    h = conv("conv1")(x)
    h = normalization(self.norm, train=train, dtype=self.dtype, name="norm1")(h)
    h = nn.PReLU(negative_slope_init=0.25, name="prelu")(h)
    h = conv("conv2")(h)
    return x + normalization(self.norm, train=train, dtype=self.dtype, name="norm2")(h)


class SRResNet(nn.Module):
  """SRGAN's generator (Ledig et al. 2017, figure 4): (B, h, w, C) -> (B, h s, w s, out).

    h_0 = PReLU(Conv9_n(x))
    h_B = R_B(... R_1(h_0)),  R(h) = h + Norm(Conv3_n(PReLU(Norm(Conv3_n(h)))))
    u_0 = h_0 + Norm(Conv3_n(h_B))                           (the long skip)
    u_k = PReLU(PixelShuffle_2(Conv3_{4n}(u_{k-1})))  for k = 1 .. log2(s)
    G(x) = tanh(Conv9_out(u_{log2 s}))

  n = width. PReLU has one learned slope per layer, initialised to 0.25 (He et al.
  2015's channel-shared variant, PyTorch's nn.PReLU() default). Convolutions 'SAME'.

  Attributes:
    out_channels: channels of the output image.
    scale: s, a power of two (4 in SRGAN).
    width: n, channels of the residual trunk (64 in SRGAN).
    num_blocks: residual blocks (16 in SRGAN).
    norm: one of `NORMS`.
    dtype: computation dtype; parameters and images stay float32.
  """

  out_channels: int
  scale: int = 4
  width: int = 64
  num_blocks: int = 16
  norm: str = "batch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    _check_norm(self.norm)
    if self.scale < 1 or self.scale & (self.scale - 1):
      raise UserError(f"SRResNet upsamples by 2 per block, so scale must be a power of two "
                      f"(2, 4, 8, ...), got {self.scale}")
    conv = lambda f, k, bias, name: nn.Conv(f, (k, k), padding="SAME", use_bias=bias,
                                            dtype=self.dtype, name=name)
    h = nn.PReLU(negative_slope_init=0.25, name="prelu_in")(conv(self.width, 9, True,
                                                                 "conv_in")(x))
    skip = h
    for i in range(self.num_blocks):
      h = SRResidualBlock(self.width, norm=self.norm, dtype=self.dtype, name=f"block{i}")(
          h, train)
    h = conv(self.width, 3, self.norm == "none", "conv_mid")(h)
    h = skip + normalization(self.norm, train=train, dtype=self.dtype, name="norm_mid")(h)
    for i in range(int(math.log2(self.scale))):
      h = pixel_shuffle(conv(4 * self.width, 3, True, f"upsample{i}")(h), 2)
      h = nn.PReLU(negative_slope_init=0.25, name=f"upsample_prelu{i}")(h)
    h = jnp.tanh(conv(self.out_channels, 9, True, "conv_out")(h).astype(jnp.float32))
    assert h.shape == (x.shape[0], x.shape[1] * self.scale, x.shape[2] * self.scale,
                       self.out_channels), h.shape
    return h


class SRDiscriminator(nn.Module):
  """SRGAN's discriminator (Ledig et al. 2017, figure 4): x (B, H, W, C) -> logits (B,).

  3x3 'SAME' convolutions, LReLU_0.2 = leaky ReLU of slope 0.2, n = width:

    LReLU(Conv_n, stride 1)                                   (no norm)
    -> [LReLU(Norm(Conv_{n 2^i}, stride 2)), LReLU(Norm(Conv_{n 2^(i+1)}, stride 1))]
         for i = 0 .. num_blocks - 1
    -> LReLU(Norm(Conv_{n 2^num_blocks}, stride 2))
    -> flatten -> LReLU(Dense(dense_width)) -> Dense(1)

  With the defaults (64, 3, 1024) this is the paper's k3n64s1, k3n64s2, k3n128s1,
  k3n128s2, k3n256s1, k3n256s2, k3n512s1, k3n512s2, Dense 1024, Dense 1. The paper's
  final sigmoid is left to the loss: the output is the logit, one per image, shape
  (B,), as every discriminator of `gan.models` returns (so the logit losses and the
  gradient penalties of `gan.losses` take it as it is). The flatten makes the first
  dense layer's shape depend on H x W (num_blocks + 1 halvings: 28 -> 2, 32 -> 2 for
  the defaults).

  Attributes:
    width: n, the first convolution's channels (64 in SRGAN).
    num_blocks: the (stride 2, stride 1) pairs between the first and last convolutions.
    dense_width: the hidden dense layer's units (1024 in SRGAN).
    norm: one of `NORMS`.
    dtype: computation dtype; parameters and logits stay float32.
  """

  width: int = 64
  num_blocks: int = 3
  dense_width: int = 1024
  norm: str = "batch"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: Array, train: bool = False) -> Array:
    _check_norm(self.norm)
    has_norm = self.norm != "none"
    lrelu = lambda h: nn.leaky_relu(h, negative_slope=_LEAKY_SLOPE)
    h = lrelu(nn.Conv(self.width, (3, 3), padding="SAME", dtype=self.dtype, name="conv0")(x))
    layers = [(self.width, 2)]
    for i in range(1, self.num_blocks + 1):
      layers += [(self.width * 2 ** i, 1), (self.width * 2 ** i, 2)]
    for i, (features, stride) in enumerate(layers, start=1):
      h = nn.Conv(features, (3, 3), strides=(stride, stride), padding="SAME",
                  use_bias=not has_norm, dtype=self.dtype, name=f"conv{i}")(h)
      h = lrelu(normalization(self.norm, train=train, dtype=self.dtype, name=f"norm{i}")(h))
    h = h.reshape((h.shape[0], -1))
    h = lrelu(nn.Dense(self.dense_width, dtype=self.dtype, name="dense")(h))
    return nn.Dense(1, dtype=self.dtype, name="logit")(h)[:, 0].astype(jnp.float32)
