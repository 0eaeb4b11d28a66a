r"""What every training experiment shares: its flags, multi-process start-up and `main`.

An experiment module defines `get_config()` and ends with

  if __name__ == "__main__":
    runner.run(get_config)

which gives it these flags:

  --workdir=DIR                  checkpoints, samples, logs; the same DIR resumes.
  --config.FIELD=VALUE           any field of `get_config()` (see gan/config.py).
  --allow_config_change=F1,F2    resume although these fields differ from the saved
                                 config (they change the run from the newest
                                 checkpoint on; the change is recorded in the workdir).
  --coordinator_address=HOST:PORT --num_processes=N --process_id=I
                                 start JAX's multi-process runtime (`jax.distributed`);
  --distributed                  or start it from the cluster's environment (SLURM,
                                 Open MPI, TPU pod slices, or JAX_COORDINATOR_ADDRESS,
                                 JAX_NUM_PROCESSES, JAX_PROCESS_ID).

Exit status: 0 when the run reached `num_steps`; 2 with one `error: ...` line for a
mistake in the input (or a non-finite step under `on_nonfinite=stop`); 128 + the
signal number (143 for SIGTERM, 130 for SIGINT) after a signal stopped the run and
its checkpoint was saved.
"""

import difflib
import os
import sys
from typing import Callable

import ml_collections
from absl import flags
from ml_collections import config_flags

from gan import parallel, train
from gan.errors import UserError, exit_with, run_cli

_ENVIRONMENT = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def start_distributed(coordinator_address, num_processes, process_id, from_environment) -> None:
  """`jax.distributed.initialize` when the flags or the environment ask for it."""
  from_flags = (coordinator_address, num_processes, process_id)
  if any(v is not None for v in from_flags):
    if any(v is None for v in from_flags):
      raise UserError("give all of --coordinator_address, --num_processes and --process_id, "
                      "or none of them (and --distributed to read the cluster environment)")
    if not 0 <= process_id < num_processes:
      raise UserError(f"--process_id={process_id} must be in [0, --num_processes="
                      f"{num_processes})")
    parallel.initialize_distributed(*from_flags)
  elif from_environment or any(os.environ.get(name) for name in _ENVIRONMENT):
    parallel.initialize_distributed()


def run(get_config: Callable[[], ml_collections.ConfigDict]) -> None:
  """Defines the flags, parses them, and trains the config in `--workdir`.

  The flags are defined here, not at import, so that tests and notebooks can import
  an experiment's `get_config` beside other modules' flags.
  """
  workdir = flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and "
                                "logs; running again with it resumes the run.", required=True)
  config = get_config()
  _check_config_overrides(sys.argv[1:], config)
  config_flag = config_flags.DEFINE_config_dict("config", config)
  allow_config_change = flags.DEFINE_list(
      "allow_config_change", [], "Config fields that may differ from the saved config of the "
      "run being resumed, e.g. loss,d_lr.")
  coordinator = flags.DEFINE_string(
      "coordinator_address", None, "HOST:PORT of process 0, for multi-process runs.")
  num_processes = flags.DEFINE_integer("num_processes", None, "Number of processes.")
  process_id = flags.DEFINE_integer("process_id", None, "This process's index, 0-based.")
  distributed = flags.DEFINE_bool(
      "distributed", False, "Start jax.distributed from the cluster environment (SLURM, "
      "Open MPI, TPU pod slice, JAX_COORDINATOR_ADDRESS).")

  def main(argv):
    if len(argv) > 1:
      raise UserError(f"unexpected arguments {argv[1:]}; flags are --workdir=... and "
                      f"--config.FIELD=VALUE")
    start_distributed(coordinator.value, num_processes.value, process_id.value,
                      distributed.value)
    try:
      train.train_and_evaluate(config_flag.value, workdir.value,
                               allow_config_change=allow_config_change.value)
    except train.RunInterrupted as interrupted:
      print(str(interrupted), file=sys.stderr, flush=True)
      sys.exit(128 + interrupted.signum)

  run_cli(main)


def _check_config_overrides(args: list[str], config: ml_collections.ConfigDict) -> None:
  """Exits with one line when `--config.NAME=` names no field of `config`.

  (ml_collections would raise a traceback while the flag is being defined.)
  """
  for arg in args:
    if not arg.startswith("--config."):
      continue
    path = arg[len("--config."):].split("=", 1)[0].split(".")
    node = config
    for depth, name in enumerate(path):
      if not isinstance(node, ml_collections.ConfigDict) or name not in node:
        fields = sorted(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        close = difflib.get_close_matches(name, fields, n=1)
        hint = f"did you mean --config.{'.'.join(path[:depth] + close)}?" if close else (
            f"the fields are {fields}")
        exit_with(UserError(f"--config.{'.'.join(path)}: no such config field; {hint}"))
      node = node[name]


def check_seed_table_config(config: ml_collections.ConfigDict, positive_fields) -> None:
  """Checks what the several-seeds table experiments share (mixtures, Stacked MNIST).

  Raises a one-line `UserError` unless every field in `positive_fields` is a positive
  integer, `packs` is a non-empty sequence of packing degrees >= 1, and `loss` and
  `penalty` name entries of `gan.losses`.
  """
  from gan import losses  # pylint: disable=g-import-not-at-top
  for field in positive_fields:
    if not isinstance(config[field], int) or config[field] <= 0:
      raise UserError(f"--config.{field}={config[field]!r} must be a positive integer")
  if not config.packs or any(not isinstance(m, int) or m < 1 for m in config.packs):
    raise UserError(f"--config.packs={tuple(config.packs)!r} must be packing degrees >= 1, "
                    f"e.g. '(1,2)'")
  losses.get_loss(config.loss)
  losses.get_penalty(config.penalty)
