r"""Prints what a workdir holds: latest step, config, and a digest of the saved state.

  python -m gan.cli.info WORKDIR [--step=N] [--export=generator.npz]

`digest` is a sha256 over every array of the checkpoint (the players' params,
statistics and optimizer states, the EMA, the step), each hashed with its path,
dtype and shape, in sorted path order: two runs have equal digests exactly when
their saved states are bit for bit equal. `--export` writes what sampling needs
(`gan.rundir.export_generator`): the generator's params, BatchNorm statistics and
EMA as flat named arrays, with the run's config and data description;
`gan.rundir.load_export` samples from that file alone.
"""

import json
import os
import sys

from absl import flags

from gan.cli import run_cli
from gan.errors import UserError

_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
_EXPORT = flags.DEFINE_string("export", None, "Write the generator (what sampling needs) to "
                              "this .npz.")


def workdir_info(workdir: str, step=None) -> tuple[dict, dict]:
  """(the JSON-able summary, the restored raw state) of the run in `workdir`."""
  from gan import checkpointing, rundir  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist; give the --workdir of a training run")
  values = rundir.saved_config_values(workdir)
  checkpointer = checkpointing.Checkpointer(workdir, create=False)
  steps = checkpointer.all_steps()
  if not steps:
    raise UserError(f"no checkpoint in {checkpointer.directory}; train first")
  if step is not None and step not in steps:
    raise UserError(f"no checkpoint at step {step} in {workdir!r}; available: {steps}")
  raw = checkpointer.restore(step)
  checkpointer.close()
  summary = {
      "workdir": os.path.abspath(workdir),
      "latest_step": steps[-1],
      "step": int(rundir.raw_step(raw)),
      "checkpoints": steps,
      "digest": rundir.state_digest(raw),
      "num_arrays": len(rundir.flatten_with_paths(raw)),
      "config": values,
  }
  return summary, raw


def main(argv):
  if len(argv) != 2:
    raise UserError("usage: python -m gan.cli.info WORKDIR [--step=N] [--export=FILE.npz]")
  summary, raw = workdir_info(argv[1], _STEP.value)
  if _EXPORT.value:
    from gan import rundir  # pylint: disable=g-import-not-at-top
    rundir.export_generator(argv[1], raw, _EXPORT.value)
    summary["exported"] = os.path.abspath(_EXPORT.value)
  json.dump(summary, sys.stdout, indent=2)
  print()


if __name__ == "__main__":
  run_cli(main)
