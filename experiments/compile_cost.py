"""Compile time of a run's init and step under each Threefry lowering and XLA level.

The CPU backend registers an unrolled Threefry lowering (`gan.backends.threefry`):
the same bits, a faster step. This measures what it costs in compile time, at XLA's
default level (a user's run) and with most optimisations off
(`jax_disable_most_optimizations` and `--xla_cpu_use_fusion_emitters=false`, as the
test suite compiles), for the test suite's two heaviest models: the narrow DCGAN of
tests/program_test.py and the tiny conditional SN-ResNet of tests/tasks/sngan_test.py.
Each measurement runs in a fresh process (the lowering is registered for the life of
a process; nothing is read from a compilation cache); the rounds alternate the
settings, and the record keeps every round and the medians:

    python -m experiments.compile_cost --rounds=3 --out=docs/compile_cost.json

Run it alone: a second CPU-heavy job on 2 cores slows each by up to 3x.
"""

import itertools
import json
import os
import statistics
import subprocess
import sys

from absl import app
from absl import flags

from experiments import records

_ROUNDS = flags.DEFINE_integer("rounds", 3, "Fresh processes per setting.")
_OUT = flags.DEFINE_string("out", None, "Where to write the JSON record (it is printed too).")
_DATASET = flags.DEFINE_string("dataset", "../shared/data/mnist.npz", "MNIST .npz.")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The configs of the tests named above (tests/conftest.py SMALL_DCGAN_FLAGS,
# tests/tasks/sngan_test.py RESNET_FIELDS).
CASES = {
    "dcgan_narrow": ("experiments.dcgan_mnist",
                     {"batch_size": 16, "model.g_widths": (32, 16, 8), "model.d_widths": (8, 16)}),
    "sn_resnet_tiny": ("experiments.cgan_cifar10",
                       {"batch_size": 8, "model.g_widths": (8,), "model.d_widths": (8,),
                        "model.noise_dim": 16, "run.backend": "plain"}),
}

_CHILD = """
import json, sys, time, importlib
import jax
jax.config.update("jax_disable_most_optimizations", {fast})
from gan import build, config as config_lib
from gan.backends import threefry
if not {unrolled}:  # The rolled loop even where the CPU backend would register it.
  threefry.register_unrolled_cpu_lowering = lambda: None
else:
  threefry.register_unrolled_cpu_lowering()
c = importlib.import_module({module!r}).get_config()
c.dataset = {dataset!r}
for path, value in {fields!r}.items():
  parent, _, name = path.rpartition(".")
  (config_lib.get(c, parent) if parent else c)[name] = value
run = build.build(c)
start = time.perf_counter()
run.init.lower(run.keys["init"]).compile()
init_s = time.perf_counter() - start
args = build._abstract_step_args(run)  # pylint: disable=protected-access
start = time.perf_counter()
run.compiled_step.lower(*args).compile()
step_s = time.perf_counter() - start
print(json.dumps({{"init_s": init_s, "step_s": step_s}}))
"""


def _measure(case: str, fast: bool, unrolled: bool) -> dict:
  module, fields = CASES[case]
  code = _CHILD.format(fast=fast, unrolled=unrolled, module=module, fields=fields,
                       dataset=os.path.abspath(_DATASET.value))
  env = {k: v for k, v in os.environ.items()
         if k not in ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR")}
  if fast:
    env["XLA_FLAGS"] = "--xla_cpu_use_fusion_emitters=false"
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900, check=False)
  if out.returncode:
    raise SystemExit(f"{case} fast={fast} unrolled={unrolled} failed: {out.stderr[-2000:]}")
  return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv):
  del argv
  settings = list(itertools.product(CASES, (True, False), (False, True)))
  rounds = []
  for r in range(_ROUNDS.value):
    for case, fast, unrolled in settings:
      result = _measure(case, fast, unrolled)
      rounds.append({"round": r, "case": case, "level": "fast" if fast else "default",
                     "threefry": "unrolled" if unrolled else "rolled", **result})
      print(json.dumps(rounds[-1]), file=sys.stderr, flush=True)
  medians = []
  for case, fast, unrolled in settings:
    level, lowering = "fast" if fast else "default", "unrolled" if unrolled else "rolled"
    mine = [x for x in rounds if (x["case"], x["level"], x["threefry"]) == (case, level, lowering)]
    medians.append({"case": case, "level": level, "threefry": lowering,
                    "init_s": round(statistics.median(x["init_s"] for x in mine), 2),
                    "step_s": round(statistics.median(x["step_s"] for x in mine), 2)})
  from gan import backends  # pylint: disable=g-import-not-at-top
  record = {"command": "python -m experiments.compile_cost " + " ".join(sys.argv[1:]),
            "machine": backends.machine_kind(), "cores": os.cpu_count(),
            "medians": medians, "rounds": rounds}
  records.write_record(record, _OUT.value)


if __name__ == "__main__":
  app.run(main)
