r"""The benchmark's SNGAN step in PyTorch eager: SNGAN's ResNet on CIFAR-10, hinge, DiffAugment.

  python -m experiments.references.torch_sngan                 # batch 64, 64 channels
  python -m experiments.references.torch_sngan --batch_size=16 --width_scale=0.5
  python -m experiments.benchmark --cases=sngan --torch_python=/tmp/torchenv/bin/python

prints one JSON line, as `experiments.references.torch_gan` does: steps/s and
images/s (median and spread over `--rounds` x `--repeats`), first-step time, peak
RSS and the step's FLOPs by `torch.utils.flop_counter.FlopCounterMode`.
`experiments.benchmark` runs it with `--serve` (see `experiments.references`) as
the `torch` implementation of its `sngan` case. It needs torch and nothing else of
this project's dependencies (no JAX), so it may run in a Python of its own.

The step is `gan.tasks.gan`'s at the CPU config of experiments/sngan_cifar10.py,
operation for operation (one D update per G update):

  D update: z ~ N(0, I_128); x_fake = G(z) (train mode, no gradient);
            l_D = mean max(0, 1 - D(T1(x_real))) + mean max(0, 1 + D(T2(x_fake))),
            the real pass taking D's one power iteration of this update (D in train
            mode), the fake pass normalising by its vectors (eval mode); Adam on D.
  G update: fresh z; l_G = -mean D'(T3(G(z))), D' the updated D in eval mode (its
            parameters take no gradient); Adam on G.
  EMA:      G_ema <- G_ema + (1 - d_t)(G - G_ema), d_t = min(0.999, (1 + t) / (10 + t)),
            t the step (the parameters only, as ours).

T1, T2, T3 are independent draws of DiffAugment 'color,translation,cutout', one draw
per image, the ops of the official DiffAugment_pytorch.py (mit-han-lab/
data-efficient-gans, DiffAugment-stylegan2-pytorch, the version with ratios), whose
formulas `gan.augment` gives: brightness, saturation and contrast by broadcast
arithmetic; translation by up to int(0.125 * 32 + 0.5) = 4 pixels as a gather from
the image padded with one zero pixel, indices clamped onto that border; cutout of a
16x16 square as a mask made by scattering zeros at clamped indices.

Networks (`gan.models.resnet`, channels ch = 64 times `--width_scale`):

  G: z -> Linear(4*4*ch) -> 4x4xch -> 3 x GBlock -> BN -> ReLU -> Conv3x3(3) -> tanh
     GBlock(x) = Conv3x3(ReLU(BN(Conv3x3(Up(ReLU(BN(x))))))) + Conv1x1(Up(x))
  D: OptimizedBlock down -> DBlock down -> DBlock -> DBlock -> ReLU -> sum over HxW
     -> Linear(1), every convolution and the linear layer spectrally normalised
     OptimizedBlock(x) = Down(Conv3x3(ReLU(Conv3x3(x)))) + Conv1x1(Down(x))
     DBlock(x) = [Down](Conv3x3(ReLU(Conv3x3(ReLU(x))))) + shortcut(x), shortcut the
     identity when the block neither downsamples nor changes width, else
     [Down](Conv1x1(x))

Up is nearest-neighbour 2x upsampling, Down 2x2 average pooling. Initialisation as
ours: Glorot-uniform with gain sqrt(2) on the blocks' 3x3 convolutions, gain 1
elsewhere, biases 0; BatchNorm momentum 0.1 in PyTorch's convention (Flax's 0.9),
epsilon 1e-5. Adam(beta1 0, beta2 0.9, eps 1e-8), G 1e-4, D 4e-4. Batch 64 of float32
images in [-1, 1], made once (no data loading is timed).

Where it differs from ours:
* Layout NCHW (PyTorch's native one).
* Spectral normalisation is `torch.nn.utils.parametrizations.spectral_norm` (one
  power iteration): its vectors start from 15 iterations at construction (ours from
  a random u); its iteration goes v -> u -> v (ours u -> v -> u); in eval mode it
  divides by u^T W v of the stored vectors, where ours takes one iteration that it
  does not store. Both store exactly one iteration per D update; the difference in
  work is a few matrix-vector products per layer and call.
* BatchNorm running statistics are updated by G's no-gradient call in the D update
  too (ours keeps only the G update's); the batch statistics the step uses are the
  same.
* The step's metrics are the two losses only (ours also reports D(x), accuracies and
  gradient norms: a few reductions).
* Random numbers come from torch's generator (different values, same distributions).
* Adam is `torch.optim.Adam(fused=True)` where available.
"""

import math
import sys

import torch
from torch import nn
from torch.nn import functional as F

from experiments import references as ref
from experiments.references import torch_gan

TRANSLATION_RATIO = 0.125
CUTOUT_RATIO = 0.5


# ----------------------------------------------------------------------- DiffAugment


def _uniform_per_image(x: torch.Tensor) -> torch.Tensor:
  return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)


def brightness(x: torch.Tensor) -> torch.Tensor:
  """x + (u - 0.5), u ~ U[0, 1) per image."""
  return x + (_uniform_per_image(x) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
  """(x - m) * 2u + m, m the mean over channels at each pixel."""
  mean = x.mean(dim=1, keepdim=True)
  return (x - mean) * (_uniform_per_image(x) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
  """(x - m) * (u + 0.5) + m, m the mean of each image."""
  mean = x.mean(dim=(1, 2, 3), keepdim=True)
  return (x - mean) * (_uniform_per_image(x) + 0.5) + mean


def translate(x: torch.Tensor, shift_h: torch.Tensor, shift_w: torch.Tensor) -> torch.Tensor:
  """out[b, :, i, j] = x[b, :, i + shift_h[b], j + shift_w[b]], 0 outside the image.

  As the official code: a gather from x padded with one zero pixel, the indices
  clamped onto that zero border. `shift_h`, `shift_w` are (B, 1, 1) integers.
  """
  batch, _, height, width = x.shape
  rows = (torch.arange(height).view(1, height, 1) + shift_h + 1).clamp(0, height + 1)
  cols = (torch.arange(width).view(1, 1, width) + shift_w + 1).clamp(0, width + 1)
  padded = F.pad(x, (1, 1, 1, 1)).permute(0, 2, 3, 1).contiguous()  # (B, H + 2, W + 2, C)
  return padded[torch.arange(batch).view(batch, 1, 1), rows, cols].permute(0, 3, 1, 2)


def translation(x: torch.Tensor, ratio: float = TRANSLATION_RATIO) -> torch.Tensor:
  """Shifts each image by integers uniform on [-s, s], s = int(ratio * side + 0.5)."""
  batch, _, height, width = x.shape
  s_h, s_w = int(height * ratio + 0.5), int(width * ratio + 0.5)
  return translate(x, torch.randint(-s_h, s_h + 1, (batch, 1, 1)),
                   torch.randint(-s_w, s_w + 1, (batch, 1, 1)))


def cutout_mask(batch: int, height: int, width: int, size: tuple[int, int],
                offset_h: torch.Tensor, offset_w: torch.Tensor) -> torch.Tensor:
  """(B, H, W): 0 on rows [o_h - size_h // 2, o_h - size_h // 2 + size_h) x the columns
  alike, clamped to the image (so only the part inside it), else 1.

  Made as the official code makes it: zeros scattered at the clamped indices.
  `offset_h`, `offset_w` are (B, 1, 1) integers.
  """
  rows = (torch.arange(size[0]).view(1, size[0], 1) + offset_h - size[0] // 2).clamp(0, height - 1)
  cols = (torch.arange(size[1]).view(1, 1, size[1]) + offset_w - size[1] // 2).clamp(0, width - 1)
  mask = torch.ones(batch, height, width)
  mask[torch.arange(batch).view(batch, 1, 1), rows, cols] = 0
  return mask


def cutout(x: torch.Tensor, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
  """Zeroes a square of int(ratio * side + 0.5) pixels a side of each image (`cutout_mask`),
  its centre o uniform on the integers of [0, side + 1 - size % 2)."""
  batch, _, height, width = x.shape
  size = (int(height * ratio + 0.5), int(width * ratio + 0.5))
  offset_h = torch.randint(0, height + (1 - size[0] % 2), (batch, 1, 1))
  offset_w = torch.randint(0, width + (1 - size[1] % 2), (batch, 1, 1))
  mask = cutout_mask(batch, height, width, size, offset_h, offset_w)
  return x * mask.to(x.dtype).unsqueeze(1)


AUGMENTATIONS = {"color": (brightness, saturation, contrast), "translation": (translation,),
                 "cutout": (cutout,)}


def diff_augment(x: torch.Tensor, policy: str = ref.SNGAN_AUGMENT) -> torch.Tensor:
  """T(x): the ops of the comma-separated `policy`, in order, on NCHW images."""
  names = [name for name in policy.split(",") if name]
  for name in names:
    for op in AUGMENTATIONS[name]:
      x = op(x)
  return x.contiguous() if names else x


# -------------------------------------------------------------------------- networks


def _glorot_(layer: nn.Module, gain: float = 1.0) -> nn.Module:
  """Glorot-uniform weights times `gain` (variance gain^2 * 2 / (fan_in + fan_out)), zero bias."""
  nn.init.xavier_uniform_(layer.weight, gain=gain)
  nn.init.zeros_(layer.bias)
  return layer


def _conv(c_in: int, c_out: int, kernel: int, gain: float = 1.0) -> nn.Conv2d:
  return _glorot_(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2), gain)


def _sn(layer: nn.Module) -> nn.Module:
  return nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=1)


_BLOCK_GAIN = math.sqrt(2.0)  # chainer's GlorotUniform(sqrt(2)) on the blocks' 3x3 convolutions.


def _up(x: torch.Tensor) -> torch.Tensor:
  return F.interpolate(x, scale_factor=2, mode="nearest")


def _down(x: torch.Tensor) -> torch.Tensor:
  return F.avg_pool2d(x, 2)


class GeneratorBlock(nn.Module):
  """Conv3x3(ReLU(BN(Conv3x3(Up(ReLU(BN(x))))))) + Conv1x1(Up(x))."""

  def __init__(self, channels: int):
    super().__init__()
    self.bn1, self.bn2 = nn.BatchNorm2d(channels), nn.BatchNorm2d(channels)
    self.conv1 = _conv(channels, channels, 3, _BLOCK_GAIN)
    self.conv2 = _conv(channels, channels, 3, _BLOCK_GAIN)
    self.shortcut = _conv(channels, channels, 1)

  def forward(self, x):
    h = self.conv1(_up(F.relu(self.bn1(x))))
    h = self.conv2(F.relu(self.bn2(h)))
    return h + self.shortcut(_up(x))


class Generator(nn.Module):
  """z (B, 128) -> Linear -> 4x4xch -> 3 up GBlocks -> BN -> ReLU -> Conv3x3(3) -> tanh, NCHW."""

  def __init__(self, width: int, channels: int = 3, bottom: int = 4, num_blocks: int = 3):
    super().__init__()
    self.width, self.bottom = width, bottom
    self.project = _glorot_(nn.Linear(ref.SNGAN_NOISE_DIM, bottom * bottom * width))
    self.blocks = nn.Sequential(*(GeneratorBlock(width) for _ in range(num_blocks)))
    self.bn_out = nn.BatchNorm2d(width)
    self.conv_out = _conv(width, channels, 3)

  def forward(self, z):
    x = self.project(z).view(z.shape[0], self.width, self.bottom, self.bottom)
    x = self.blocks(x)
    return torch.tanh(self.conv_out(F.relu(self.bn_out(x))))


class DiscriminatorBlock(nn.Module):
  """SNGAN's D block; `optimized` is the first (no ReLU on the image, pool first in the shortcut).

    optimized: Down(Conv3x3(ReLU(Conv3x3(x)))) + Conv1x1(Down(x))
    otherwise: [Down](Conv3x3(ReLU(Conv3x3(ReLU(x))))) + shortcut(x),
               shortcut(x) = [Down](Conv1x1(x)) if it downsamples or changes width, else x.
  """

  def __init__(self, c_in: int, c_out: int, down: bool = False, optimized: bool = False):
    super().__init__()
    self.down, self.optimized = down, optimized
    self.conv1 = _sn(_conv(c_in, c_out, 3, _BLOCK_GAIN))
    self.conv2 = _sn(_conv(c_out, c_out, 3, _BLOCK_GAIN))
    self.shortcut = (_sn(_conv(c_in, c_out, 1)) if optimized or down or c_in != c_out
                     else None)

  def forward(self, x):
    h = self.conv1(x if self.optimized else F.relu(x))
    h = self.conv2(F.relu(h))
    if self.down:
      h = _down(h)
    if self.optimized:
      return h + self.shortcut(_down(x))
    if self.shortcut is None:
      return h + x
    shortcut = self.shortcut(x)
    return h + (_down(shortcut) if self.down else shortcut)


class Discriminator(nn.Module):
  """NCHW images -> logits (B,): 4 spectrally normalised blocks, ReLU, sum pool, SN Linear(1)."""

  def __init__(self, width: int, channels: int = 3):
    super().__init__()
    self.blocks = nn.Sequential(
        DiscriminatorBlock(channels, width, down=True, optimized=True),
        DiscriminatorBlock(width, width, down=True),
        DiscriminatorBlock(width, width),
        DiscriminatorBlock(width, width))
    self.logit = _sn(_glorot_(nn.Linear(width, 1)))

  def forward(self, x):
    phi = F.relu(self.blocks(x)).sum(dim=(2, 3))  # Global sum pooling.
    return self.logit(phi)[:, 0]


def build_models(width_scale: float = 1.0) -> tuple[Generator, Discriminator]:
  """(G, D) with ch_G = ch_D = 64 * `width_scale`, in train mode."""
  width = ref.sngan_width(width_scale)
  return Generator(width).train(), Discriminator(width).train()


# ------------------------------------------------------------------------------ step


def make_step(generator: Generator, discriminator: Discriminator, batch_size: int,
              policy: str = ref.SNGAN_AUGMENT):
  """One D update, one G update and the EMA update, as `gan.tasks.gan` (module docstring).

  Returns `step(real) -> (d_loss, g_loss)`; `step.ema` holds the EMA of G's parameters,
  in `generator.parameters()` order.
  """
  betas = (ref.SNGAN_BETA1, ref.SNGAN_BETA2)
  g_params, d_params = list(generator.parameters()), list(discriminator.parameters())
  g_opt = torch_gan.adam(g_params, lr=ref.SNGAN_G_LR, betas=betas)
  d_opt = torch_gan.adam(d_params, lr=ref.SNGAN_D_LR, betas=betas)
  ema = [p.detach().clone() for p in g_params]
  noise = lambda: torch.randn(batch_size, ref.SNGAN_NOISE_DIM)
  t = 0  # The step, for the EMA's warm-up.

  def step(real):
    nonlocal t
    with torch.no_grad():
      fake = generator(noise())
    discriminator.train()  # This update's one power iteration, on the real batch,
    real_logits = discriminator(diff_augment(real, policy))
    discriminator.eval()  # and its vectors for every other call until the next update.
    fake_logits = discriminator(diff_augment(fake, policy))
    d_loss = F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    # D's parameters get no gradient in the G update (as jax.grad w.r.t. G only).
    for p in d_params:
      p.requires_grad_(False)
    g_loss = -discriminator(diff_augment(generator(noise()), policy)).mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    for p in d_params:
      p.requires_grad_(True)
    decay = min(ref.SNGAN_EMA_DECAY, (1.0 + t) / (10.0 + t))
    with torch.no_grad():
      torch._foreach_lerp_(ema, g_params, 1.0 - decay)  # pylint: disable=protected-access
    t += 1
    return d_loss.detach(), g_loss.detach()

  step.ema = ema
  return step


def count_flops(width_scale: float, batch_size: int) -> float:
  """FLOPs of one step, by `FlopCounterMode` (matmuls and convolutions, forward and backward)."""
  from torch.utils.flop_counter import FlopCounterMode  # pylint: disable=g-import-not-at-top
  generator, discriminator = build_models(width_scale)
  step = make_step(generator, discriminator, batch_size)
  real = torch.zeros((batch_size, ref.SNGAN_IMAGE_SHAPE[2]) + ref.SNGAN_IMAGE_SHAPE[:2])
  with FlopCounterMode(display=False) as counter:
    step(real)
  return float(counter.get_total_flops())


def main():
  args = ref.reference_arguments(__doc__.splitlines()[0], ("eager",), ("sngan",)).parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  batch = args.batch_size or ref.default_batch_size(args.model)
  flops = count_flops(args.width_scale, batch)
  width = ref.sngan_width(args.width_scale)
  generator, discriminator = build_models(args.width_scale)
  step_fn = make_step(generator, discriminator, batch)
  real = torch.rand((batch, ref.SNGAN_IMAGE_SHAPE[2]) + ref.SNGAN_IMAGE_SHAPE[:2]) * 2 - 1
  info = {"impl": "torch_eager", "framework": f"torch {torch.__version__}",
          "python": sys.executable, "threads": torch.get_num_threads(),
          "flops_per_step": flops, "flops_counter": "torch FlopCounterMode",
          "g_widths": [width], "d_widths": [width],
          "params": sum(p.numel() for m in (generator, discriminator) for p in m.parameters())}
  ref.run_worker(args, lambda: step_fn(real), lambda: None, info)


if __name__ == "__main__":
  main()
