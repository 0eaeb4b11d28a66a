r"""Runs the multi-device command of the reliability page many times, quiet and with the cores busy.

  python -m experiments.multidevice_trials --tries=10 --out=docs/reliability_multidevice.json
  python -m experiments.multidevice_trials --tries=3 --baseline_dir=/tmp/gan_683d2bf \
      --out=docs/reliability_multidevice_baseline.json

Each try is, in a fresh workdir (the command from the issue tracker that aborted before
the program bounded its calls in flight, `gan.program`),

  XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m experiments.dcgan_mnist \
      --config.dataset=DATA --config.batch_size=32 --config.num_steps=30 --config.seed=3

with, since the experiment's default networks became smaller, the networks it had then
(`OLD_DEFAULT_NETWORK`: the TensorFlow tutorial's).

`--busy` tries run it while two other processes spin on both cores. With
`--baseline_dir` (a checkout of another commit) the tries run that commit's code, with
its own flag names. Prints and writes one JSON record: every try's exit status, wall
time, whether XLA's rendezvous abort appears in its stderr, the load average before
it, and the machine kind.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

from experiments import records

_TRIES = flags.DEFINE_integer("tries", 10, "Tries of each kind (quiet, busy).")
_DATA = flags.DEFINE_string("dataset", "../shared/data/mnist.npz", "The MNIST .npz.")
_OUT = flags.DEFINE_string("out", "", "Also write the JSON record here.")
_BASELINE = flags.DEFINE_string("baseline_dir", "", "Run this checkout's code instead.")
_KINDS = flags.DEFINE_list("kinds", ["quiet", "busy"], "Which tries: quiet, busy.")


# experiments.dcgan_mnist's networks when the command deadlocked; its default is now a
# smaller, faster pair (docs/quality.md), on which the queue fills more slowly.
OLD_DEFAULT_NETWORK = ("--config.model.g_widths=(256,128,64)", "--config.model.d_widths=(64,128)",
                       "--config.model.dropout_rate=0.3")


def _try(root: str, data: str, busy: bool, pre_redesign: bool) -> dict:
  workdir = tempfile.mkdtemp(prefix="gan_multidevice_")
  env = dict(os.environ, PYTHONPATH=root,
             XLA_FLAGS="--xla_force_host_platform_device_count=4")
  bar = "--config.progress_bar=False" if pre_redesign else "--config.run.progress_bar=False"
  command = [sys.executable, "-m", "experiments.dcgan_mnist", f"--config.dataset={data}",
             "--config.batch_size=32", "--config.num_steps=30", "--config.seed=3",
             f"--workdir={workdir}", bar]
  if not pre_redesign:  # The networks the command had then (the tutorial's, ~1 s a step).
    command += list(OLD_DEFAULT_NETWORK)
  spinners = ([subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
              if busy else [])
  load = os.getloadavg()
  start = time.perf_counter()
  try:
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                            timeout=1800)
  finally:
    for process in spinners:
      process.kill()
      process.wait()
  wall = time.perf_counter() - start
  checkpoints = sorted(os.listdir(os.path.join(workdir, "checkpoints"))) if os.path.isdir(
      os.path.join(workdir, "checkpoints")) else []
  return {"busy": busy, "returncode": result.returncode, "wall_s": round(wall, 1),
          "rendezvous_abort": "rendezvous" in result.stderr or
                              "Termination timeout" in result.stderr,
          "checkpoints": checkpoints, "load_average_before": list(load),
          "stderr_tail": result.stderr.strip().splitlines()[-1:]}


def main(argv):
  del argv
  root = os.path.abspath(_BASELINE.value or os.path.dirname(os.path.dirname(__file__)))
  data = os.path.abspath(_DATA.value)
  pre_redesign = bool(_BASELINE.value) and not os.path.isdir(os.path.join(root, "gan", "cli"))
  commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                          capture_output=True, text=True).stdout.strip()
  tries = []
  for kind in _KINDS.value:
    for i in range(_TRIES.value):
      outcome = _try(root, data, kind == "busy", pre_redesign)
      tries.append(outcome)
      print(json.dumps({"kind": kind, "try": i, **outcome}), file=sys.stderr, flush=True)
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  record = {
      "what": "the issue's 4-fake-device DCGAN command (batch 32, 30 steps), repeated",
      "command": ("XLA_FLAGS=--xla_force_host_platform_device_count=4 python -m "
                  "experiments.dcgan_mnist --config.dataset=DATA --config.batch_size=32 "
                  "--config.num_steps=30 --config.seed=3 --workdir=FRESH"),
      "code": {"dir": root, "commit": commit},
      "machine": machine_kind(),
      "summary": {kind: {"tries": sum(t["busy"] == (kind == "busy") for t in tries),
                         "finished": sum(t["busy"] == (kind == "busy") and t["returncode"] == 0
                                         for t in tries),
                         "rendezvous_aborts": sum(t["busy"] == (kind == "busy") and
                                                  t["rendezvous_abort"] for t in tries)}
                  for kind in _KINDS.value},
      "tries": tries,
  }
  records.write_record(record, _OUT.value)


if __name__ == "__main__":
  app.run(main)
