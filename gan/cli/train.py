r"""What every training experiment shares: its flags, multi-process start-up and `main`.

An experiment module defines `get_config()` and ends with

  if __name__ == "__main__":
    gan.cli.train.main(get_config, __doc__)

which gives it these flags:

  --workdir=DIR                  checkpoints, samples, logs; the same DIR resumes.
  --config.SECTION.FIELD=VALUE   any field of `get_config()` (`--help` lists them all).
  --allow_config_change=F1,F2    resume although these fields differ from the saved
                                 config (they change the run from the newest
                                 checkpoint on; the change is recorded in the workdir).
  --coordinator_address=HOST:PORT --num_processes=N --process_id=I
                                 start JAX's multi-process runtime (`jax.distributed`);
  --distributed                  or start it from the cluster's environment (SLURM,
                                 Open MPI, TPU pod slices, or JAX_COORDINATOR_ADDRESS,
                                 JAX_NUM_PROCESSES, JAX_PROCESS_ID).

Resuming. When --workdir already holds a run, the run's own saved config is the
config, and only the `--config.*` flags given on this command line change it: the
same command, or a bare `--workdir=DIR`, continues the run as it was started.

Exit status: 0 when the run reached `num_steps`; 2 with one `error: ...` line for a
mistake in the input (or a non-finite step under `run.on_nonfinite=stop`); 128 + the
signal number (143 for SIGTERM, 130 for SIGINT) after a signal stopped the run and
its checkpoint was saved.
"""

import difflib
import os
import sys
from typing import Callable, Optional

import ml_collections
from absl import flags
from ml_collections import config_flags

from gan import config as config_lib
from gan.cli import exit_with, run_cli
from gan.errors import UserError

# The library (and JAX) is imported inside the functions that need it, so that --help
# and the one-line errors of a mistyped command answer at once, not after JAX loads.

_ENVIRONMENT = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")
_FLAGS_HELP = """flags:
  --workdir=DIR   checkpoints, samples and logs; running again with it resumes the run
                  (with its saved config: flags given again only change it).
  --allow_config_change=F1,F2
                  resume although these config fields differ from the saved run's.
  --coordinator_address=HOST:PORT --num_processes=N --process_id=I | --distributed
                  start jax.distributed for a multi-process run.
"""


def start_distributed(coordinator_address, num_processes, process_id, from_environment) -> None:
  """`jax.distributed.initialize` when the flags or the environment ask for it."""
  from gan import parallel  # pylint: disable=g-import-not-at-top
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


def config_overrides(args: list[str]) -> list[str]:
  """The dotted fields that `--config.FIELD=...` arguments set, in order."""
  paths = []
  for arg in args:
    if arg.startswith("--config."):
      paths.append(arg[len("--config."):].split("=", 1)[0])
  return paths


def _check_arguments(args: list[str], config: ml_collections.ConfigDict) -> None:
  """Exits with one line for a `--config.NAME` that names no field, or a bare field flag.

  (ml_collections would raise a traceback while the flag is being defined; absl would
  say only that `--num_steps` is unknown.)
  """
  fields = config_lib.flatten(config.to_dict())
  for arg in args:
    if arg.startswith("--config."):
      path = arg[len("--config."):].split("=", 1)[0]
      if path not in fields:
        close = difflib.get_close_matches(path, list(fields), n=1)
        suffix = [f for f in fields if f.rsplit(".", 1)[-1] == path.rsplit(".", 1)[-1]]
        guess = close or suffix
        hint = (f"did you mean --config.{guess[0]}?" if guess else "see --help for the fields")
        exit_with(UserError(f"--config.{path}: no such config field; {hint}"))
    elif arg.startswith("--") and not arg.startswith("--config"):
      name = arg[2:].split("=", 1)[0]
      matches = [f for f in fields if f == name or f.rsplit(".", 1)[-1] == name]
      if matches:
        exit_with(UserError(f"--{name} is a config field: write --config.{matches[0]}=..."))


def _resumed_config(workdir: str, parsed: ml_collections.ConfigDict,
                    overrides: list[str]) -> ml_collections.ConfigDict:
  """The saved config of the run in `workdir`, with the command line's overrides set."""
  from gan import rundir  # pylint: disable=g-import-not-at-top
  config = rundir.load_run_config(workdir)
  for path in overrides:
    parent, _, name = path.rpartition(".")
    node = config_lib.get(config, parent) if parent else config
    value = config_lib.get(parsed, path)
    with node.unlocked():
      node[name] = value
  return config


def main(get_config: Callable[[], ml_collections.ConfigDict], doc: Optional[str] = None) -> None:
  """Defines the flags, parses them, and trains the config in `--workdir`.

  The flags are defined here, not at import, so that tests and notebooks can import
  an experiment's `get_config` beside other modules' flags.
  """
  config = get_config()
  args = sys.argv[1:]
  _check_arguments(args, config)
  workdir = flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and "
                                "logs; running again with it resumes the run.")
  config_flag = config_flags.DEFINE_config_dict("config", config)
  allow_config_change = flags.DEFINE_list(
      "allow_config_change", [], "Config fields that may differ from the saved config of the "
      "run being resumed, e.g. loss.name,optim.d_lr.")
  coordinator = flags.DEFINE_string(
      "coordinator_address", None, "HOST:PORT of process 0, for multi-process runs.")
  num_processes = flags.DEFINE_integer("num_processes", None, "Number of processes.")
  process_id = flags.DEFINE_integer("process_id", None, "This process's index, 0-based.")
  distributed = flags.DEFINE_bool(
      "distributed", False, "Start jax.distributed from the cluster environment (SLURM, "
      "Open MPI, TPU pod slice, JAX_COORDINATOR_ADDRESS).")

  def help_text() -> str:
    module = sys.modules.get("__main__")
    text = (doc or getattr(module, "__doc__", "") or "").strip()
    return (f"{text}\n\n{_FLAGS_HELP}\nconfig fields (this experiment's defaults):\n"
            f"{config_lib.describe(config)}")

  def run_main(argv):
    if len(argv) > 1:
      raise UserError(f"unexpected arguments {argv[1:]}; flags are --workdir=... and "
                      f"--config.SECTION.FIELD=VALUE (see --help)")
    if not workdir.value:
      raise UserError("--workdir is required: the directory for the run's checkpoints, "
                      "samples and logs (e.g. --workdir=runs/quickstart)")
    from gan import build, faults, program, rundir  # pylint: disable=g-import-not-at-top
    from gan.eval import hooks  # pylint: disable=g-import-not-at-top
    start_distributed(coordinator.value, num_processes.value, process_id.value,
                      distributed.value)
    run_config = config_flag.value
    if rundir.holds_run(workdir.value):
      run_config = _resumed_config(workdir.value, run_config, config_overrides(sys.argv[1:]))
    run = build.build(run_config)
    try:
      program.train(run, workdir.value, hooks=hooks.default_hooks(run),
                    allow_config_change=allow_config_change.value)
    except faults.RunInterrupted as interrupted:
      print(str(interrupted), file=sys.stderr, flush=True)
      sys.exit(128 + interrupted.signum)

  run_cli(run_main, arguments=("allow_config_change",), help_text=help_text)

