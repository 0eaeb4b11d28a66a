r"""Several seeds in one program (jax.vmap) against the same seeds one after another.

  python -m experiments.benchmark_multiseed --out=docs/benchmark_multiseed.json

Both ways run the same per-seed program (`gan.multiseed.make_run_steps`: the
library's update under `lax.scan`, batches drawn from (key, step)) on the same
seeds: once vmapped over a seed axis (`make_multiseed_run`), once jitted for one
seed and called for each seed in turn, each seed holding its own state. Timings are wall
clock after a warm-up call that compiles (compile time reported separately); the
median of `repeats` timed calls is reported with every call's time. The final
states of both ways are checked to agree (same seeds, same updates). The JSON also
records the device, the load average of the machine (others' processes slow a
shared machine) and the config.
"""

import json
import os
import platform
import statistics
import time

import jax
import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from gan import losses, mixtures, models, multiseed
from gan.errors import UserError, run_cli
from gan.state import create_state, make_optimizer
from gan.train_step import StepConfig, make_train_step


def get_config() -> ml_collections.ConfigDict:
  """The mixture experiment's networks on the ring, 5 seeds, 1,000 steps per timed call."""
  c = ml_collections.ConfigDict()
  c.mixture = "ring"
  c.num_seeds = 5
  c.pack = 1
  c.model = "toy"
  c.g_widths = (128, 128, 128, 128)
  c.d_widths = (64, 64, 64)
  c.noise_dim = 2
  c.batch_size = 100  # D inputs (packs) per update.
  c.num_steps = 1000  # Updates per seed in one timed call.
  c.repeats = 3  # Timed calls of each way; the median is reported.
  return c


_OUT = flags.DEFINE_string("out", "", "Write the JSON here too (it is always printed).")
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def _time_calls(run, states, repeats):
  start = time.perf_counter()
  states = jax.block_until_ready(run(states))
  first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    states = jax.block_until_ready(run(states))
    times.append(time.perf_counter() - start)
  return states, first, times


def main(argv):
  del argv
  c = _CONFIG.value
  for field in ("num_seeds", "num_steps", "repeats", "batch_size", "pack"):
    if not isinstance(c[field], int) or c[field] <= 0:
      raise UserError(f"--config.{field}={c[field]!r} must be a positive integer")
  if _OUT.value and not os.path.isdir(os.path.dirname(os.path.abspath(_OUT.value))):
    raise UserError(f"--out={_OUT.value!r}: its directory does not exist; create it first")
  mixture = mixtures.get_mixture(c.mixture)
  generator, discriminator = models.build(c.model, image_shape=(mixture.dim,),
                                          g_widths=c.g_widths, d_widths=c.d_widths,
                                          pack=c.pack)
  step_config = StepConfig(loss=losses.get_loss("non_saturating"),
                           penalty=losses.get_penalty("none"), penalty_weight=0.0, d_steps=1,
                           noise_dim=c.noise_dim)

  def create(key):
    return create_state(generator=generator, discriminator=discriminator, key=key,
                        noise_dim=c.noise_dim, image_shape=(mixture.dim,),
                        g_optimizer=make_optimizer(1e-3, 0.5, 0.999),
                        d_optimizer=make_optimizer(1e-3, 0.5, 0.999))

  def batch_fn(data_key, step):
    return mixtures.mixture_batch(mixture, data_key, step, batch_size=c.batch_size * c.pack)

  train_step = make_train_step(step_config)
  keys = multiseed.seed_keys(range(c.num_seeds))
  load_before = os.getloadavg()
  results = {}
  final = {}
  vmapped = multiseed.make_multiseed_run(train_step, batch_fn, c.num_steps)
  single = jax.jit(multiseed.make_run_steps(train_step, batch_fn, c.num_steps),
                   donate_argnums=0)
  runs = {
      "vmapped": lambda states: vmapped(states, keys["train"], keys["data"])[0],
      "sequential": lambda states: [single(s, keys["train"][i], keys["data"][i])[0]
                                    for i, s in enumerate(states)],
  }
  for name, run in runs.items():
    states = multiseed.init_states(create, keys["init"])
    if name == "sequential":  # One state per seed, as separate runs would hold.
      states = [jax.tree.map(jax.numpy.copy, multiseed.take_seed(states, i))
                for i in range(c.num_seeds)]
    states, first, times = _time_calls(run, states, c.repeats)
    median = statistics.median(times)
    results[name] = {
        "first_call_seconds": round(first, 3),
        "compile_seconds_estimate": round(max(first - median, 0.0), 3),
        "timed_call_seconds": [round(t, 3) for t in times],
        "median_call_seconds": round(median, 3),
        "seed_steps_per_second": round(c.num_seeds * c.num_steps / median, 1),
    }
    if name == "sequential":
      states = jax.tree.map(lambda *xs: np.stack(xs), *[s.generator.params for s in states])
    else:
      states = states.generator.params
    final[name] = jax.tree.leaves(jax.device_get(states))
    print(f"{name}: {results[name]}", flush=True)
  max_difference = max(float(np.max(np.abs(a - b)))
                       for a, b in zip(final["vmapped"], final["sequential"]))
  report = {
      "what": (f"{c.num_seeds} seeds x {c.num_steps} steps of the {c.model} GAN on the "
               f"{c.mixture}: one vmapped program vs the same seeds one after another"),
      "speedup_vmapped_over_sequential": round(
          results["sequential"]["median_call_seconds"] /
          results["vmapped"]["median_call_seconds"], 2),
      "speedup_including_compile": round(
          (results["sequential"]["first_call_seconds"] +
           sum(results["sequential"]["timed_call_seconds"])) /
          (results["vmapped"]["first_call_seconds"] +
           sum(results["vmapped"]["timed_call_seconds"])), 2),
      **results,
      "max_abs_difference_of_final_generator_params": max_difference,
      "device": str(jax.devices()[0]),
      "device_count": jax.device_count(),
      "cpu_count": os.cpu_count(),
      "load_average_before": [round(x, 2) for x in load_before],
      "load_average_after": [round(x, 2) for x in os.getloadavg()],
      "jax_version": jax.__version__,
      "python": platform.python_version(),
      "config": json.loads(c.to_json_best_effort()),
  }
  text = json.dumps(report, indent=2)
  print(text)
  if _OUT.value:
    with open(_OUT.value, "w", encoding="utf-8") as f:
      f.write(text + "\n")


if __name__ == "__main__":
  run_cli(main)
