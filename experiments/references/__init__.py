"""Timing workers: the same GAN step in JAX (ours), PyTorch and TensorFlow, timed alike.

`experiments.benchmark` runs every implementation in a process of its own (a
*worker*) and drives them in interleaved rounds, so that a burst of load from
elsewhere on the machine hits all of them, not one. This module is the protocol
they share; it imports neither JAX nor PyTorch nor TensorFlow.

A worker builds its step, then calls `serve(step, sync, ...)`:

1. times the first call (tracing and compiling, where there is any) and a few
   warm-up steps, and picks `steps_per_repeat` so that one timed repeat lasts at
   least `min_repeat_seconds`;
2. prints one JSON line `{"event": "ready", ...}`;
3. answers each stdin line `run K` with one JSON line `{"event": "round",
   "seconds": [...]}`: the wall time of K repeats of `steps_per_repeat` steps, each
   ending in `sync()` (everything dispatched has finished);
4. answers `quit` with `{"event": "done", "peak_rss_mb": ...}`: the process's peak
   resident memory (`getrusage` maxrss), and exits.

Run alone (no `--serve`), a worker does the rounds itself and prints one JSON
summary: `reference_main` below.

The references, `torch_gan` and `tf_gan` (the DCGAN and the MLP GAN) and
`torch_sngan` (SNGAN's ResNet on CIFAR-10), are optional: `pip install -r
tools/benchmark_requirements.txt`.
"""

import argparse
import json
import math
import resource
import statistics
import sys
import time
from typing import Any, Callable

# The two benchmarked models, as in experiments/dcgan_mnist.py and mlp_gan_mnist.py.
IMAGE_SHAPE = (28, 28, 1)
NOISE_DIM = 100
DROPOUT = {"dcgan": 0.3, "mlp": 0.0}
WIDTHS = {"dcgan": ((256, 128, 64), (64, 128)), "mlp": ((128, 128), (128, 128))}
LEARNING_RATE, BETA1, BETA2, EPSILON = 2e-4, 0.5, 0.999, 1e-8
LEAKY_SLOPE = {"dcgan": 0.3, "mlp": 0.2}
BATCHNORM_MOMENTUM, BATCHNORM_EPSILON = 0.99, 1e-5  # Flax's convention: new = m*old + (1-m)*batch.
TRUNCATED_NORMAL_STD = 0.87962566103423978  # std of N(0, 1) truncated to [-2, 2].

# SNGAN's ResNet at the CPU config of experiments/sngan_cifar10.py, which the torch
# worker cannot import (it needs JAX); tests/benchmarks/benchmark_test.py checks that
# they agree.
SNGAN_IMAGE_SHAPE = (32, 32, 3)
SNGAN_NOISE_DIM = 128
SNGAN_WIDTH = 64  # ch_G = ch_D.
SNGAN_G_LR, SNGAN_D_LR, SNGAN_BETA1, SNGAN_BETA2 = 1e-4, 4e-4, 0.0, 0.9
SNGAN_EMA_DECAY = 0.999  # With the warm-up d_t = min(0.999, (1 + t) / (10 + t)).
SNGAN_AUGMENT = "color,translation,cutout"


def scaled_widths(model: str, width_scale: float) -> tuple[tuple[int, ...], tuple[int, ...]]:
  """(g_widths, d_widths) of `model` with every width times `width_scale` (at least 1)."""
  return tuple(tuple(max(1, round(w * width_scale)) for w in ws) for ws in WIDTHS[model])


def image_shape(model: str) -> tuple[int, int, int]:
  """(H, W, C) of one image of `model`: 32x32x3 for SNGAN (CIFAR-10), else 28x28x1 (MNIST)."""
  return SNGAN_IMAGE_SHAPE if model == "sngan" else IMAGE_SHAPE


def sngan_width(width_scale: float) -> int:
  """ch_G = ch_D of the SNGAN ResNet, times `width_scale` (at least 1)."""
  return max(1, round(SNGAN_WIDTH * width_scale))


def lecun_normal_std(fan_in: int) -> float:
  """The std of the normal that, truncated to +-2 std, has variance 1 / fan_in.

  Flax's default kernel initialiser (`lecun_normal`) draws from that truncated
  normal; the references use the same std with their own truncated normal.
  """
  return 1.0 / math.sqrt(fan_in) / TRUNCATED_NORMAL_STD


def peak_rss_mb() -> float:
  """This process's peak resident set size in MiB (Linux reports KiB)."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _emit(record: dict[str, Any]) -> None:
  print(json.dumps(record), flush=True)


def time_repeats(step: Callable[[], None], sync: Callable[[], None], steps: int,
                 repeats: int) -> list[float]:
  """Wall seconds of each of `repeats` repeats of `steps` calls of `step`, then `sync`."""
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    for _ in range(steps):
      step()
    sync()
    seconds.append(time.perf_counter() - start)
  return seconds


def calibrate(step: Callable[[], None], sync: Callable[[], None], *,
              min_repeat_seconds: float, warmup_steps: int = 2) -> dict[str, float]:
  """Times the first step (compilation included), warms up, picks steps per repeat.

  Returns `first_step_s`, `warmup_step_s` (median of the warm-up steps) and
  `steps_per_repeat` = ceil(min_repeat_seconds / warmup_step_s).
  """
  start = time.perf_counter()
  step()
  sync()
  first = time.perf_counter() - start
  warm = time_repeats(step, sync, 1, max(1, warmup_steps))
  per_step = statistics.median(warm)
  # A second, longer look for fast steps, whose first few calls are not yet steady.
  if per_step * 10 < min_repeat_seconds:
    n = max(1, int(min_repeat_seconds / 4 / per_step))
    per_step = time_repeats(step, sync, n, 1)[0] / n
  return {"first_step_s": first, "warmup_step_s": per_step,
          "steps_per_repeat": max(1, math.ceil(min_repeat_seconds / per_step))}


def serve(step: Callable[[], None], sync: Callable[[], None], info: dict[str, Any], *,
          min_repeat_seconds: float, images_per_step: int, stream=None) -> None:
  """Calibrates, prints `ready`, then answers `run K` / `quit` lines from `stream`.

  Args:
    step: runs one training step (or one dispatch of several; `info` says how many
      in `steps_per_call`, default 1), possibly asynchronously.
    sync: waits until everything `step` dispatched has finished.
    info: what the `ready` line reports besides the timing (implementation, ...).
    min_repeat_seconds: the least wall time of one timed repeat.
    images_per_step: batch size, for images/s.
    stream: where commands come from (default stdin).
  """
  stream = sys.stdin if stream is None else stream
  timing = calibrate(step, sync, min_repeat_seconds=min_repeat_seconds)
  steps_per_call = int(info.get("steps_per_call", 1))
  _emit({"event": "ready", **info, **timing, "images_per_step": images_per_step,
         "peak_rss_mb": peak_rss_mb()})
  for line in stream:
    command = line.split()
    if not command:
      continue
    if command[0] == "run":
      repeats = int(command[1])
      seconds = time_repeats(step, sync, int(timing["steps_per_repeat"]), repeats)
      _emit({"event": "round", "seconds": seconds,
             "steps_per_repeat": int(timing["steps_per_repeat"]) * steps_per_call})
    elif command[0] == "quit":
      break
    else:
      raise ValueError(f"unknown worker command {line!r}; expected 'run K' or 'quit'")
  _emit({"event": "done", "peak_rss_mb": peak_rss_mb()})


def summarize(rounds: list[list[float]], steps_per_repeat: int,
              images_per_step: int) -> dict[str, Any]:
  """Steps/s and images/s over all repeats of all rounds: median, spread, per round.

  steps/s of one repeat = steps_per_repeat / its seconds. `spread` is (min, max)
  and `iqr` the 25th-75th percentile range of the repeats' steps/s.
  """
  rates = [steps_per_repeat / s for r in rounds for s in r]
  quartiles = statistics.quantiles(rates, n=4) if len(rates) > 1 else [rates[0]] * 3
  median = statistics.median(rates)
  return {
      "steps_per_s": median,
      "steps_per_s_spread": [min(rates), max(rates)],
      "steps_per_s_iqr": [quartiles[0], quartiles[2]],
      "steps_per_s_per_round": [statistics.median(steps_per_repeat / s for s in r)
                                for r in rounds],
      "images_per_s": median * images_per_step,
      "images_per_s_spread": [min(rates) * images_per_step, max(rates) * images_per_step],
      "repeats": len(rates),
  }


def reference_arguments(description: str, impls: tuple[str, ...],
                        models: tuple[str, ...] = ("dcgan", "mlp")) -> argparse.ArgumentParser:
  """The command line every worker takes (argparse: workers never define absl flags).

  `models` are those the worker builds (`--model`, default the first).
  """
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--model", choices=models, default=models[0])
  parser.add_argument("--impl", choices=impls, default=impls[0])
  parser.add_argument("--batch_size", type=int, default=0, help="0: the model's default")
  parser.add_argument("--width_scale", type=float, default=1.0,
                      help="every layer width times this")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--threads", type=int, default=0, help="0: the library's default")
  parser.add_argument("--min_repeat_seconds", type=float, default=1.0)
  parser.add_argument("--serve", action="store_true",
                      help="answer 'run K' / 'quit' on stdin (driven by experiments.benchmark)")
  parser.add_argument("--rounds", type=int, default=3, help="alone: timed rounds")
  parser.add_argument("--repeats", type=int, default=5, help="alone: repeats per round")
  return parser


def default_batch_size(model: str) -> int:
  """Batch 256 for the DCGAN, 64 for the MLP GAN and SNGAN (the experiments' configs)."""
  return {"dcgan": 256, "mlp": 64, "sngan": 64}[model]


def run_worker(args: argparse.Namespace, step: Callable[[], None], sync: Callable[[], None],
               info: dict[str, Any]) -> None:
  """Serves the benchmark (`--serve`), or times `--rounds` rounds alone and prints a summary."""
  batch = args.batch_size or default_batch_size(args.model)
  if args.serve:
    serve(step, sync, info, min_repeat_seconds=args.min_repeat_seconds, images_per_step=batch)
    return
  timing = calibrate(step, sync, min_repeat_seconds=args.min_repeat_seconds)
  steps = int(timing["steps_per_repeat"])
  rounds = [time_repeats(step, sync, steps, args.repeats) for _ in range(args.rounds)]
  steps_per_call = int(info.get("steps_per_call", 1))
  _emit({**info, "model": args.model, "batch_size": batch, "width_scale": args.width_scale,
         **timing, **summarize(rounds, steps * steps_per_call, batch),
         "peak_rss_mb": peak_rss_mb()})
