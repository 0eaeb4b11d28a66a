r"""Prints what a workdir holds: latest step, config, and a digest of the saved state.

  python -m gan.info WORKDIR [--step=N] [--export=generator.npz]

`digest` is a sha256 over every array of the checkpoint (both players' params,
batch_stats and optimizer states, the EMA, the step), each hashed with its path,
dtype and shape, in sorted path order: two runs have equal digests exactly when
their saved states are bit for bit equal. `--export` writes the generator's
params as flat named arrays (`Dense_0/kernel`, ...) to an .npz.
"""

import hashlib
import json
import os
import sys

import jax
import numpy as np
from absl import flags

from gan import checkpointing
from gan.errors import UserError, run_cli
from gan.train import load_run_config

_STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
_EXPORT = flags.DEFINE_string("export", None, "Write the generator's params to this .npz.")


def flatten_with_paths(tree) -> dict[str, np.ndarray]:
  """`{'a/b/c': array}` for every array leaf of a nested-dict pytree, sorted by path."""
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  flat = {}
  for path, leaf in leaves:
    name = "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                    for k in path)
    flat[name] = np.asarray(leaf)
  return dict(sorted(flat.items()))


def state_digest(tree) -> str:
  """sha256 over (path, dtype, shape, bytes) of every array of `tree`, in path order."""
  digest = hashlib.sha256()
  for name, array in flatten_with_paths(tree).items():
    array = np.ascontiguousarray(array)
    digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def workdir_info(workdir: str, step=None) -> tuple[dict, dict]:
  """(the JSON-able summary, the restored raw state) of the run in `workdir`."""
  if not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist; give the --workdir of a training run")
  config = load_run_config(workdir)
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
      "step": int(np.asarray(raw["step"])),
      "checkpoints": steps,
      "digest": state_digest(raw),
      "num_arrays": len(flatten_with_paths(raw)),
      "config": json.loads(config.to_json_best_effort(sort_keys=True)),
  }
  return summary, raw


def export_generator(raw_state: dict, path: str) -> None:
  """Writes the generator's params (and EMA params, if any) as flat named arrays."""
  arrays = flatten_with_paths(raw_state["generator"]["params"])
  if raw_state.get("ema_params"):
    arrays.update({f"ema/{k}": v for k, v in flatten_with_paths(raw_state["ema_params"]).items()})
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise UserError(f"cannot write {path!r}: directory {directory!r} does not exist")
  np.savez(path, **arrays)


def main(argv):
  if len(argv) != 2:
    raise UserError("usage: python -m gan.info WORKDIR [--step=N] [--export=FILE.npz]")
  summary, raw = workdir_info(argv[1], _STEP.value)
  if _EXPORT.value:
    export_generator(raw, _EXPORT.value)
    summary["exported"] = os.path.abspath(_EXPORT.value)
  json.dump(summary, sys.stdout, indent=2)
  print()


if __name__ == "__main__":
  run_cli(main)
