r"""The benchmark's GAN step in PyTorch: eager, and `torch.compile`.

  python -m experiments.references.torch_gan --model=dcgan --impl=eager
  python -m experiments.references.torch_gan --model=mlp --impl=compile --batch_size=64

prints one JSON line: steps/s and images/s (median and spread over `--rounds` x
`--repeats`), first-step (compile) time, peak RSS and the step's FLOPs as counted
by `torch.utils.flop_counter.FlopCounterMode`. `experiments.benchmark` runs it with
`--serve` (see `experiments.references`).

The step is `gan.train_step`'s, operation for operation, for the non-saturating
loss with one D update per G update:

  D update: z ~ N(0, I); x_fake = G(z) (train mode, no gradient);
            l_D = mean softplus(-D(x_real)) + mean softplus(D(x_fake)), D called
            twice (two dropout masks); Adam step on D.
  G update: fresh z; l_G = mean softplus(-D'(G(z))) with the updated D'; Adam
            step on G.

Same architectures (the TF DCGAN tutorial's; the MLP of experiments/mlp_gan_mnist),
initialisation scale (weights from a normal truncated at +-2 std with variance
1 / fan_in, Flax's `lecun_normal`, fan_in = k*k*C_in for both convolutions; biases
zero; BatchNorm scale 1, offset 0), Adam(2e-4, 0.5, 0.999, eps 1e-8), batch and
input (float32 images in [-1, 1], made once; no data loading is timed).

Where it differs from ours:
* Layout NCHW (PyTorch's native one; channels-last was not faster here) and
  PyTorch's padding: a 5x5 stride-2 convolution pads 2 on both sides (SAME pads 1
  before and 2 after); the transposed ones use `output_padding=1`. Same shapes and
  FLOPs, outputs shifted by a pixel.
* BatchNorm running statistics are updated by the generator's no-gradient call in
  the D update too (ours keeps only the G update's); the batch statistics that the
  step uses are the same.
* The step's metrics are the two losses only (ours also reports D(x), accuracies
  and gradient norms: a few reductions).
* Random numbers come from torch's generator (different values, same
  distributions).
* Adam is `torch.optim.Adam(fused=True)` where available (the fastest of the
  for-loop, foreach and fused versions on this CPU).
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from experiments import references as ref


def _init_(module: nn.Module) -> None:
  """Flax's default init: truncated-normal weights, variance 1 / fan_in; zero biases."""
  for m in module.modules():
    if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
      if isinstance(m, nn.Linear):
        fan_in = m.in_features
      elif isinstance(m, nn.Conv2d):
        fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
      else:  # ConvTranspose2d: Flax's kernel is (k, k, C_in, C_out), fan_in = k*k*C_in.
        fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
      std = ref.lecun_normal_std(fan_in)
      nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
      if m.bias is not None:
        nn.init.zeros_(m.bias)


def _batchnorm(kind, features):
  return kind(features, eps=ref.BATCHNORM_EPSILON, momentum=1 - ref.BATCHNORM_MOMENTUM)


class DCGANGenerator(nn.Module):
  """z -> Dense(7*7*w0) BN LReLU -> ConvT(w1, s1) BN LReLU -> ConvT(w2, s2) BN LReLU -> ConvT(C, s2) tanh."""

  def __init__(self, widths, channels=1, start=7):
    super().__init__()
    self.start, self.widths = start, widths
    self.project = nn.Linear(ref.NOISE_DIM, start * start * widths[0], bias=False)
    self.project_norm = _batchnorm(nn.BatchNorm1d, start * start * widths[0])
    features = list(widths[1:]) + [channels]
    layers, norms = [], []
    for i, f in enumerate(features):
      stride = 2 if i >= len(features) - 2 else 1
      last = i == len(features) - 1
      in_f = widths[i]
      layers.append(nn.ConvTranspose2d(in_f, f, 5, stride=stride, padding=2,
                                       output_padding=stride - 1, bias=last))
      if not last:
        norms.append(_batchnorm(nn.BatchNorm2d, f))
    self.layers, self.norms = nn.ModuleList(layers), nn.ModuleList(norms)
    _init_(self)

  def forward(self, z):
    slope = ref.LEAKY_SLOPE["dcgan"]
    x = F.leaky_relu(self.project_norm(self.project(z)), slope)
    x = x.view(z.shape[0], self.widths[0], self.start, self.start)
    for i, layer in enumerate(self.layers):
      x = layer(x)
      x = torch.tanh(x) if i == len(self.layers) - 1 else F.leaky_relu(self.norms[i](x), slope)
    return x


class DCGANDiscriminator(nn.Module):
  """x -> [Conv(w, 5x5, s2) LReLU Dropout] per width -> Flatten -> Dense(1)."""

  def __init__(self, widths, channels=1, side=28, dropout=0.3):
    super().__init__()
    convs, c = [], channels
    for w in widths:
      convs.append(nn.Conv2d(c, w, 5, stride=2, padding=2))
      c, side = w, (side + 1) // 2
    self.convs = nn.ModuleList(convs)
    self.dropout = dropout
    self.logit = nn.Linear(c * side * side, 1)
    _init_(self)

  def forward(self, x):
    for conv in self.convs:
      x = F.leaky_relu(conv(x), ref.LEAKY_SLOPE["dcgan"])
      if self.dropout > 0:
        x = F.dropout(x, self.dropout, self.training)
    return self.logit(x.flatten(1))[:, 0]


class MLPGenerator(nn.Module):
  """z -> [Dense ReLU] per width -> Dense(H*W*C) tanh."""

  def __init__(self, widths, pixels=784):
    super().__init__()
    dims = [ref.NOISE_DIM] + list(widths)
    self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
    self.out = nn.Linear(dims[-1], pixels)
    _init_(self)

  def forward(self, z):
    for layer in self.hidden:
      z = F.relu(layer(z))
    return torch.tanh(self.out(z)).view(z.shape[0], 1, 28, 28)


class MLPDiscriminator(nn.Module):
  """x -> Flatten -> [Dense LReLU(0.2)] per width -> Dense(1)."""

  def __init__(self, widths, pixels=784):
    super().__init__()
    dims = [pixels] + list(widths)
    self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
    self.out = nn.Linear(dims[-1], 1)
    _init_(self)

  def forward(self, x):
    x = x.flatten(1)
    for layer in self.hidden:
      x = F.leaky_relu(layer(x), ref.LEAKY_SLOPE["mlp"])
    return self.out(x)[:, 0]


def build_models(model: str, width_scale: float = 1.0):
  """(generator, discriminator) of `model`, widths scaled by `width_scale`."""
  g_widths, d_widths = ref.scaled_widths(model, width_scale)
  if model == "dcgan":
    return (DCGANGenerator(g_widths),
            DCGANDiscriminator(d_widths, dropout=ref.DROPOUT["dcgan"]))
  return MLPGenerator(g_widths), MLPDiscriminator(d_widths)


def adam(params, lr: float = ref.LEARNING_RATE,
         betas: tuple[float, float] = (ref.BETA1, ref.BETA2)) -> torch.optim.Adam:
  """Adam(lr, betas, eps 1e-8) over `params`, fused where this torch has it (the fastest)."""
  params, kwargs = list(params), dict(lr=lr, betas=betas, eps=ref.EPSILON)
  try:
    return torch.optim.Adam(params, fused=True, **kwargs)
  except (RuntimeError, TypeError):
    return torch.optim.Adam(params, **kwargs)


def make_step(generator: nn.Module, discriminator: nn.Module, batch_size: int,
              compiled: bool = False):
  """One D update then one G update, as `gan.train_step` (see the module docstring).

  Returns `step(real) -> (d_loss, g_loss)`.
  """
  g_opt, d_opt = adam(generator.parameters()), adam(discriminator.parameters())
  g_fn = torch.compile(generator) if compiled else generator
  d_fn = torch.compile(discriminator) if compiled else discriminator

  def step(real):
    with torch.no_grad():
      fake = g_fn(torch.randn(batch_size, ref.NOISE_DIM))
    d_loss = F.softplus(-d_fn(real)).mean() + F.softplus(d_fn(fake)).mean()
    d_opt.zero_grad(set_to_none=True)
    d_loss.backward()
    d_opt.step()
    # D's parameters get no gradient in the G update (as jax.grad w.r.t. G only).
    for p in discriminator.parameters():
      p.requires_grad_(False)
    g_loss = F.softplus(-d_fn(g_fn(torch.randn(batch_size, ref.NOISE_DIM)))).mean()
    g_opt.zero_grad(set_to_none=True)
    g_loss.backward()
    g_opt.step()
    for p in discriminator.parameters():
      p.requires_grad_(True)
    return d_loss.detach(), g_loss.detach()

  return step


def count_flops(model: str, width_scale: float, batch_size: int) -> float:
  """FLOPs of one step, by `FlopCounterMode` (matmuls and convolutions, forward and backward)."""
  from torch.utils.flop_counter import FlopCounterMode  # pylint: disable=g-import-not-at-top
  generator, discriminator = build_models(model, width_scale)
  step = make_step(generator, discriminator, batch_size)
  real = torch.zeros(batch_size, 1, 28, 28)
  with FlopCounterMode(display=False) as counter:
    step(real)
  return float(counter.get_total_flops())


def main():
  args = ref.reference_arguments(__doc__.splitlines()[0], ("eager", "compile")).parse_args()
  if args.threads:
    torch.set_num_threads(args.threads)
  torch.manual_seed(args.seed)
  batch = args.batch_size or ref.default_batch_size(args.model)
  flops = count_flops(args.model, args.width_scale, batch)
  generator, discriminator = build_models(args.model, args.width_scale)
  generator.train()
  discriminator.train()
  step_fn = make_step(generator, discriminator, batch, compiled=args.impl == "compile")
  real = torch.rand(batch, 1, 28, 28) * 2 - 1
  info = {"impl": f"torch_{args.impl}", "framework": f"torch {torch.__version__}",
          "threads": torch.get_num_threads(), "flops_per_step": flops,
          "flops_counter": "torch FlopCounterMode",
          "params": sum(p.numel() for m in (generator, discriminator) for p in m.parameters())}
  ref.run_worker(args, lambda: step_fn(real), lambda: None, info)


if __name__ == "__main__":
  main()
