r"""Times the DCGAN convolutions: native lowering vs `gan.backends.cpu_conv` 'fast'.

  python -m experiments.benchmark_layers
  python -m experiments.benchmark_layers --config.candidates=True --config.repeats=7
  python -m experiments.benchmark_layers --config.image_size=32 --config.channels=3

Prints one JSON line per (case, pass): the median milliseconds per call of each
variant over `repeats` samples, and its speedup over 'native'. A sample averages
back-to-back calls lasting about 50 ms, after warm-up; variants take turns
sample by sample, so load from other processes hits them alike.
Cases: every layer of the TF-tutorial DCGAN at `batch_size`, and the whole
G -> D chain (no normalisation, leaky ReLU between layers).
Passes: 'fwd' (outputs) and 'fwd+bwd' (value_and_grad wrt input and kernels).

Variants: 'native' is Flax's math differentiated by XLA; 'fast' is the default
fast path; 'fast[adjoint=native,kernel_grad=native]' is the plain
transpose-of-strided-conv custom VJP (XLA's convolutions for every piece). With
candidates=True also every other 'fast[adjoint=..,kernel_grad=..]' combination.
"""

import itertools
import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app
from ml_collections import config_flags

from gan.backends import cpu, cpu_conv


def get_config():
  """Batch 256, f32, the 28x28x1 DCGAN of the TensorFlow tutorial."""
  config = ml_collections.ConfigDict()
  config.batch_size = 256
  config.image_size = 28  # 28 (MNIST, G starts at 7x7) or 32 (CIFAR, starts at 8x8).
  config.channels = 1
  config.g_widths = (256, 128, 64)
  config.d_widths = (64, 128)
  config.kernel_size = 5
  config.repeats = 5  # Timed samples per variant; the median is reported.
  config.candidates = False  # Also time every adjoint / kernel-gradient combination.
  config.cases = ''  # Comma-separated subset of case names; empty: all.
  config.seed = 0
  return config


_CONFIG = config_flags.DEFINE_config_dict('config', get_config())


def _layer_specs(config):
  """(name, 'conv' | 'conv_transpose', input shape, out features, stride) per layer."""
  n = config.batch_size
  side = config.image_size // 4
  g_out = list(config.g_widths[1:]) + [config.channels]
  specs, channels = [], config.g_widths[0]
  for i, features in enumerate(g_out):
    stride = 2 if i >= len(g_out) - 2 else 1
    specs.append((f'G{i + 1}', 'conv_transpose', (n, side, side, channels), features, stride))
    side, channels = side * stride, features
  for i, features in enumerate(config.d_widths):
    specs.append((f'D{i + 1}', 'conv', (n, side, side, channels), features, 2))
    side, channels = -(-side // 2), features
  return specs


def _variants(candidates: bool) -> dict[str, dict]:
  """Options of cpu_conv.conv2d / conv2d_transpose per variant name."""
  variants = {'native': dict(impl='native'), 'fast': dict(impl='fast')}
  combinations = itertools.product(('native', 'subpixel'), ('native', 'im2col'))
  for adjoint, kernel_grad in combinations if candidates else [('native', 'native')]:
    variants[f'fast[adjoint={adjoint},kernel_grad={kernel_grad}]'] = dict(
      impl='fast', adjoint_impl=adjoint, kernel_grad_impl=kernel_grad
    )
  return variants


def _layer_fn(kind, stride, options):
  op = cpu_conv.conv2d if kind == 'conv' else cpu_conv.conv2d_transpose
  return lambda x, kernel: op(x, kernel, stride, **options)


def _chain_fn(specs, options):
  """G layers then D layers, leaky ReLU (tanh after G's last) in between."""
  last_generator_layer = max(i for i, spec in enumerate(specs) if spec[1] == 'conv_transpose')

  def chain(x, kernels):
    for i, ((_, kind, _, _, stride), kernel) in enumerate(zip(specs, kernels)):
      x = _layer_fn(kind, stride, options)(x, kernel)
      x = jnp.tanh(x) if i == last_generator_layer else jax.nn.leaky_relu(x, 0.3)
    return x

  return chain


def _timed(fns: dict, args, repeats: int, min_ms: float = 50.0) -> dict[str, float]:
  """Median wall-clock ms per call of each function.

  Each of the `repeats` samples averages enough back-to-back calls to last about
  `min_ms`; samples are interleaved across functions.
  """
  calls = {}
  for name, fn in fns.items():
    jax.block_until_ready(fn(*args))  # Compiles.
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    calls[name] = max(1, int(min_ms / (1e3 * (time.perf_counter() - start))))
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      for _ in range(calls[name]):
        jax.block_until_ready(fn(*args))
      times[name].append(1e3 * (time.perf_counter() - start) / calls[name])
  return {name: float(np.median(t)) for name, t in times.items()}


def _report(case, gflop, mode, ms):
  speedup = {name: round(ms['native'] / t, 2) for name, t in ms.items() if name != 'native'}
  line = dict(case=case, mode=mode, gflop=round(gflop, 2),
              ms={name: round(t, 1) for name, t in ms.items()}, speedup_vs_native=speedup)
  print(json.dumps(line), flush=True)


def _fwd_and_bwd(fn):
  """jit(f) and jit(value_and_grad(<f(x, k), r>)) wrt x and every kernel."""
  options = cpu.CPUBackend().compiler_options()  # As the builder compiles the step on CPU.
  forward = jax.jit(fn, compiler_options=options)
  loss = lambda x, kernel, cotangent: jnp.vdot(fn(x, kernel), cotangent)
  backward = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)), compiler_options=options)
  return forward, backward


def main(argv):
  del argv
  config = _CONFIG.value
  keys = iter(jax.random.split(jax.random.key(config.seed), 64))
  specs = _layer_specs(config)
  variants = _variants(config.candidates)
  wanted = set(filter(None, config.cases.split(',')))
  k = config.kernel_size
  print(json.dumps(dict(backend=jax.default_backend(), devices=str(jax.devices()),
                        jax=jax.__version__, batch_size=config.batch_size)), flush=True)

  kernels = []
  for name, kind, in_shape, features, stride in specs:
    x = jax.random.normal(next(keys), in_shape)
    kernel = 0.05 * jax.random.normal(next(keys), (k, k, in_shape[-1], features))
    kernels.append(kernel)
    if wanted and name not in wanted:
      continue
    fns = {v: _fwd_and_bwd(_layer_fn(kind, stride, opts)) for v, opts in variants.items()}
    y = fns['native'][0](x, kernel)
    cotangent = jax.random.normal(next(keys), y.shape)
    out_pixels = y.shape[0] * y.shape[1] * y.shape[2]
    in_pixels = in_shape[0] * in_shape[1] * in_shape[2]
    macs = (in_pixels if kind == 'conv_transpose' else out_pixels) * k * k * in_shape[-1] * features
    case = f'{name} {kind} {in_shape[1]}x{in_shape[2]}x{in_shape[3]}->{y.shape[1]}x{y.shape[2]}x{features} s{stride}'
    _report(case, 2 * macs / 1e9, 'fwd',
            _timed({v: f for v, (f, _) in fns.items()}, (x, kernel), config.repeats))
    _report(case, 6 * macs / 1e9, 'fwd+bwd',
            _timed({v: b for v, (_, b) in fns.items()}, (x, kernel, cotangent), config.repeats))

  if not wanted or 'chain' in wanted:
    x = jax.random.normal(next(keys), specs[0][2])
    chain_variants = {v: o for v, o in variants.items()
                      if v in ('native', 'fast', 'fast[adjoint=native,kernel_grad=native]')}
    fns = {v: _fwd_and_bwd(_chain_fn(specs, opts)) for v, opts in chain_variants.items()}
    cotangent = jax.random.normal(next(keys), fns['native'][0](x, kernels).shape)
    case = 'chain G1..D' + str(len(config.d_widths))
    _report(case, 0.0, 'fwd',
            _timed({v: f for v, (f, _) in fns.items()}, (x, kernels), config.repeats))
    _report(case, 0.0, 'fwd+bwd',
            _timed({v: b for v, (_, b) in fns.items()}, (x, kernels, cotangent), config.repeats))


if __name__ == '__main__':
  app.run(main)
