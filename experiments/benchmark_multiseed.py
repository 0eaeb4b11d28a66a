r"""Several seeds in one program (jax.vmap) against the same seeds one after another.

  python -m experiments.benchmark_multiseed --out=docs/benchmark_multiseed.json
  python -m experiments.benchmark_multiseed --config.run.num_seeds=3 --config.bench.repeats=5

Both ways run the library's own step (`gan.build`: the task's update, `lax.scan` over
`run.steps_per_call` steps per call, batches drawn on the device from (data key,
step)) on the same seeds seed .. seed + S - 1:

  vmapped     `gan.build.build(config)` with `config.run.num_seeds = S`: one program
              over a leading seed axis of the state and the keys;
  sequential  `gan.build.build` of each seed alone (`num_seeds = 1`, `seed = seed + i`),
              each seed holding its own state, stepped one after another. The seeds
              share one compiled step (the first seed's; a step is a function of
              (state, batch, keys), so each seed passes its own keys), as a loop over
              seeds in one process would.

Timings are wall clock after a warm-up call that compiles (compile time reported
separately); the median of `bench.repeats` timed calls is reported with every call's
time. The final generator parameters of both ways are checked to agree (same seeds,
same updates, up to float rounding). The JSON also records the device, the load
average of the machine (others' processes slow a shared machine) and the config.
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

from experiments import records
from gan import build
from gan import config as config_lib
from gan.backends import machine_kind
from gan.cli import run_cli
from gan.errors import UserError


def get_config() -> ml_collections.ConfigDict:
  """The mixture lab's networks on the ring, 5 seeds, 1,000 steps per timed call."""
  c = config_lib.base_config()
  c.dataset = "mixture:ring"  # Drawn on the device, as several seeds need.
  c.model.name = "toy"
  c.model.g_widths = (128, 128, 128, 128)
  c.model.d_widths = (64, 64, 64)
  c.model.noise_dim = 2
  c.model.dropout_rate = 0.0
  c.batch_size = 100  # D inputs (packs) per update times config.model.pack.
  c.optim.g_lr = 1e-3
  c.optim.d_lr = 1e-3
  c.run.num_seeds = 5
  c.run.steps_per_call = 1000  # Updates per seed in one timed call.
  for period in config_lib.PERIODS:  # No program loop: nothing periodic.
    parent, name = period.split(".")
    c[parent][name] = 0
  c.run.num_sample_images = 0
  c.run.progress_bar = False
  c.bench = ml_collections.ConfigDict()
  c.bench.repeats = 3  # Timed calls of each way; the median is reported.
  return c


_OUT = flags.DEFINE_string("out", "", "Write the JSON here too (it is always printed).")
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def _single_seed_config(config, seed: int) -> ml_collections.ConfigDict:
  single = ml_collections.ConfigDict(config.to_dict())
  single.run.num_seeds = 1
  single.seed = seed
  return single


def _time_calls(call, states, repeats):
  start = time.perf_counter()
  states = jax.block_until_ready(call(states))
  first = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    states = jax.block_until_ready(call(states))
    times.append(time.perf_counter() - start)
  return states, first, times


def main(argv):
  del argv
  c = _CONFIG.value
  config_lib.positive_int(c, "bench.repeats")
  if _OUT.value and not os.path.isdir(os.path.dirname(os.path.abspath(_OUT.value))):
    raise UserError(f"out={_OUT.value!r}: its directory does not exist; create it first")
  bench = c.bench
  run_config = ml_collections.ConfigDict(c.to_dict())
  del run_config.bench
  run_config.num_steps = run_config.run.steps_per_call  # One call's worth; nothing is resumed.
  num_seeds, steps = run_config.run.num_seeds, run_config.run.steps_per_call

  vmapped = build.build(run_config)  # Validates the config (several seeds: device data).
  singles = [build.build(_single_seed_config(run_config, run_config.seed + i))
             for i in range(num_seeds)]
  shared_step = singles[0].compiled_step  # One program for every seed (see the docstring).
  batch = singles[0].batch(0)  # Device data: the source's arrays; the step draws its batch.

  def sequential(states):
    return [shared_step(state, batch, run.step_keys)[0] for run, state in zip(singles, states)]

  calls = {
      "vmapped": lambda states: vmapped.step(states, vmapped.batch(0))[0],
      "sequential": sequential,
  }
  load_before = os.getloadavg()
  results, final = {}, {}
  for name, call in calls.items():
    if name == "vmapped":
      states = vmapped.init_state()
    else:  # One state per seed, as separate runs would hold; one init program.
      states = [singles[0].init(run.keys["init"]) for run in singles]
    states, first, times = _time_calls(call, states, bench.repeats)
    median = statistics.median(times)
    results[name] = {
        "first_call_seconds": round(first, 3),
        "compile_seconds_estimate": round(max(first - median, 0.0), 3),
        "timed_call_seconds": [round(t, 3) for t in times],
        "median_call_seconds": round(median, 3),
        "seed_steps_per_second": round(num_seeds * steps / median, 1),
    }
    if name == "sequential":
      params = jax.tree.map(lambda *xs: np.stack(xs), *[s.generator.params for s in states])
    else:
      params = states.generator.params
    final[name] = jax.tree.leaves(jax.device_get(params))
    print(f"{name}: {results[name]}", flush=True)
  max_difference = max(float(np.max(np.abs(a - b)))
                       for a, b in zip(final["vmapped"], final["sequential"]))
  report = {
      "what": (f"{num_seeds} seeds x {steps} steps of the {run_config.model.name} GAN on "
               f"{run_config.dataset}: one vmapped program vs the same seeds one after "
               f"another"),
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
      "machine": machine_kind(),
      "config": {**json.loads(run_config.to_json_best_effort()), "bench": bench.to_dict()},
  }
  records.write_record(report, _OUT.value, indent=2)


if __name__ == "__main__":
  run_cli(main, arguments=("out",))
