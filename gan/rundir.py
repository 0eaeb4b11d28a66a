"""A run's directory: the files besides its checkpoints, and restoring a run from it.

  config.json          the resolved config (every field); it marks the directory as a run
  data.json            what the data are (`gan.data.DataSpec`), so the run restores without them
  config_changes.jsonl config changes made on resume (`allow_config_change`)
  metrics.jsonl        the logs (`gan.writers`)
  checkpoints/<step>/  Orbax checkpoints (`gan.checkpointing`)
  log_state/<step>.json what checkpoint <step> needs to resume the logs exactly: the metrics
                       of the log window under way and the training clock
  RUNNING              present while a run trains: left behind, it says the last run died

Every JSON file is written through a temporary file and a rename, so a run killed
mid-write leaves the old file or the new one, never half.
"""

import json
import os
from typing import Any, Iterable, Optional

import ml_collections
import numpy as np

from gan import checkpointing
from gan import config as config_lib
from gan import writers
from gan.data import DataSpec
from gan.errors import UserError

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
CHANGES_FILE = "config_changes.jsonl"
METRICS_FILE = "metrics.jsonl"
LOG_STATE_DIR = "log_state"
RUNNING_FILE = "RUNNING"


def write_json_atomically(path: str, value: Any) -> None:
  """Writes `value` as JSON to `path` through a temporary file and a rename."""
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def holds_run(workdir: str) -> bool:
  """Whether `workdir` holds a run (a config.json)."""
  return os.path.isfile(os.path.join(workdir, CONFIG_FILE))


def saved_config_values(workdir: str) -> dict:
  """The raw values of `workdir/config.json`."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise UserError(f"{workdir!r} holds no run (no {CONFIG_FILE}); give the workdir a "
                    f"training run wrote")
  try:
    with open(path, encoding="utf-8") as f:
      values = json.load(f)
    if not isinstance(values, dict):
      raise ValueError("not a JSON object")
  except (OSError, ValueError) as error:
    raise UserError(f"cannot read {path} ({type(error).__name__}); restore it or start a "
                    f"fresh workdir") from error
  if "model" in values and not isinstance(values["model"], dict):
    raise UserError(f"{path} was written by gan before 0.2 (flat config); its checkpoints "
                    f"cannot be resumed by this version: start a fresh workdir")
  return values


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in `workdir/config.json`, on today's config of its
  task (`gan.tasks.config_template`)."""
  from gan import tasks  # pylint: disable=g-import-not-at-top
  values = saved_config_values(workdir)
  return config_lib.from_json_dict(values, tasks.config_template(values.get("task", "gan")))


def load_data_spec(workdir: str) -> DataSpec:
  """What the run's data were (`data.json`)."""
  try:
    with open(os.path.join(workdir, DATA_FILE), encoding="utf-8") as f:
      return DataSpec.from_json(json.load(f))
  except (OSError, KeyError, TypeError, ValueError) as error:
    raise UserError(f"{workdir!r} has no readable {DATA_FILE}; it was not written by "
                    f"gan.program, or is damaged") from error


def config_changes(saved: ml_collections.ConfigDict, config: ml_collections.ConfigDict, *,
                   everything: bool = False) -> dict[str, list]:
  """{field: [saved, new]} for every field that differs and changes the run.

  With `everything`, also the fields that may change freely on resume
  (`gan.config.resumable_fields`).
  """
  old = config_lib.flatten(config_lib.to_json_dict(saved))
  new = config_lib.flatten(config_lib.to_json_dict(config))
  free = frozenset() if everything else config_lib.resumable_fields(saved)
  return {k: [old.get(k), new.get(k)] for k in sorted(set(old) | set(new))
          if k not in free and old.get(k) != new.get(k)}


def prepare(workdir: str, config: ml_collections.ConfigDict,
            allow_config_change: Iterable[str] = ()) -> tuple[bool, dict]:
  """Checks that `workdir` can hold this run, writing nothing.

  A workdir that is a file, is not writable, or holds a run whose config differs in
  a field that changes the model, the data or the update (any field outside
  `gan.config.RESUMABLE_FIELDS`) is refused, unless every such field is named in
  `allow_config_change`.

  Returns:
    (resuming, changes): whether `workdir` already holds a run, and the allowed
    changes `{field: [saved value, new value]}` that resuming it makes.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} is a file; give a directory path")
  allowed = set(allow_config_change)
  known = set(config_lib.flatten(config_lib.to_json_dict(config)))
  unknown = sorted(allowed - known)
  if unknown:
    raise UserError(f"allow_config_change names unknown config fields {unknown}; name fields "
                    f"of the config, e.g. loss.name,optim.d_lr")
  resuming = holds_run(workdir)
  changes = {}
  if resuming:
    changes = config_changes(load_run_config(workdir), config)
    refused = [k for k in changes if k not in allowed]
    if refused:
      details = ", ".join(f"{k}: {changes[k][0]!r} -> {changes[k][1]!r}" for k in refused)
      raise UserError(f"{workdir!r} holds a run with a different config ({details}); use a "
                      f"fresh workdir, set those fields back, or change them from the newest "
                      f"checkpoint on with allow_config_change={','.join(refused)}")
  probe = os.path.abspath(workdir)  # The nearest existing directory; the rest is created.
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise UserError(f"workdir {workdir!r} lies under {probe!r}, which is a file; give a "
                    f"directory path")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise UserError(f"workdir {workdir!r} is not writable; choose a directory you can write")
  return resuming, changes


def write_new_run(workdir: str, config: ml_collections.ConfigDict, spec: DataSpec) -> None:
  """data.json, then config.json (which marks the workdir as holding a run)."""
  write_json_atomically(os.path.join(workdir, DATA_FILE), spec.to_json())
  write_json_atomically(os.path.join(workdir, CONFIG_FILE), config_lib.to_json_dict(config))


def record_changes(workdir: str, config: ml_collections.ConfigDict, step: int,
                   changes: dict) -> None:
  """Updates config.json to `config`; appends the allowed `changes` to config_changes.jsonl.

  config.json is what a bare re-run resumes with, so it always holds the config the
  run trains with now (a new num_steps or log period too).
  """
  if changes:
    with open(os.path.join(workdir, CHANGES_FILE), "a", encoding="utf-8") as f:
      f.write(json.dumps({"step": step, "changes": changes}) + "\n")
  write_json_atomically(os.path.join(workdir, CONFIG_FILE), config_lib.to_json_dict(config))


def mark_running(workdir: str) -> None:
  """Writes the `RUNNING` marker: this process (pid, host, time) trains the run."""
  import socket  # pylint: disable=g-import-not-at-top
  import time  # pylint: disable=g-import-not-at-top
  write_json_atomically(os.path.join(workdir, RUNNING_FILE), {
      "pid": os.getpid(), "host": socket.gethostname(),
      "started": time.strftime("%Y-%m-%d %H:%M:%S")})


def mark_stopped(workdir: str) -> None:
  """Removes the `RUNNING` marker: the run ended with its state saved or a message."""
  try:
    os.remove(os.path.join(workdir, RUNNING_FILE))
  except FileNotFoundError:
    pass


def unfinished_run(workdir: str) -> str:
  """'' unless a run left its `RUNNING` marker behind; else who it was ("pid P on H, started T")."""
  path = os.path.join(workdir, RUNNING_FILE)
  if not os.path.exists(path):
    return ""
  try:
    with open(path, encoding="utf-8") as f:
      marker = json.load(f)
    return f"pid {marker['pid']} on {marker['host']}, started {marker['started']}"
  except (OSError, ValueError, KeyError, TypeError):
    return "its marker is unreadable"


def last_train_times(workdir: str) -> tuple[float, float]:
  """(train_seconds, train_cpu_seconds) of the last log record that has them, else zeros."""
  timed = [r for r in writers.read_metrics(workdir) if "train_seconds" in r]
  return ((float(timed[-1]["train_seconds"]), float(timed[-1].get("train_cpu_seconds", 0.0)))
          if timed else (0.0, 0.0))


def _log_state_path(workdir: str, step: int) -> str:
  return os.path.join(workdir, LOG_STATE_DIR, f"{step}.json")


def save_log_state(workdir: str, step: int, window: dict, times: dict) -> None:
  """Writes what checkpoint `step` needs to go on logging as an unbroken run would.

  A run stopped between two log records (SIGTERM, a time budget, a checkpoint that is
  not on a log step) has trained steps whose metrics no record holds yet: `window`
  holds them ({metric: 1-D array, one entry per step since the last record}), and
  `times` the training clock (`train_seconds`, `train_cpu_seconds`). The resumed run
  starts its window and clock from them, so its records equal an uninterrupted run's.
  Written before the checkpoint (whose rename commits the step): a kill in between
  leaves a file that the next save of that step overwrites.
  """
  os.makedirs(os.path.join(workdir, LOG_STATE_DIR), exist_ok=True)
  # JSON floats round-trip float64 exactly, and so every float32 value.
  encoded = {name: {"dtype": np.asarray(values).dtype.str,
                    "values": np.asarray(values).ravel().tolist()}
             for name, values in window.items()}
  write_json_atomically(_log_state_path(workdir, step),
                        {"step": step, "window": encoded, **times})


def load_log_state(workdir: str, step: int) -> Optional[dict]:
  """`save_log_state`'s record for checkpoint `step`, the window's arrays decoded; None
  when there is none (a run written before log states existed, or another process's)."""
  try:
    with open(_log_state_path(workdir, step), encoding="utf-8") as f:
      record = json.load(f)
    record["window"] = {name: np.asarray(v["values"], np.dtype(v["dtype"]))
                        for name, v in record["window"].items()}
  except (OSError, ValueError, KeyError, TypeError):
    return None
  return record if record.get("step") == step else None


def prune_log_states(workdir: str, steps: Iterable[int]) -> None:
  """Deletes the log states of checkpoints that are gone (not among `steps`)."""
  directory = os.path.join(workdir, LOG_STATE_DIR)
  keep = {f"{step}.json" for step in steps}
  for name in os.listdir(directory) if os.path.isdir(directory) else ():
    if name not in keep:
      try:
        os.remove(os.path.join(directory, name))
      except OSError:
        pass


def truncate_metrics(workdir: str, step: int) -> None:
  """Drops log records past `step` (and a half-written last line) left by a crash."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return
  with open(path, encoding="utf-8") as f:
    lines = f.readlines()
  kept = []
  for line in lines:
    try:
      record = json.loads(line)
    except ValueError:  # The line a SIGKILL cut short.
      continue
    if isinstance(record, dict) and record.get("step", 0) <= step:
      kept.append(json.dumps(record) + "\n")
  if kept != lines:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      f.writelines(kept)
    os.replace(tmp, path)


def restore(workdir: str, step: Optional[int] = None, *, data: Any = None):
  """(run, state) of checkpoint `step` (default newest) of the run in `workdir`.

  The run is built from the saved config and `data.json` (no data are loaded unless
  `data` is given), so sampling and scoring need only the workdir.
  """
  from gan import build  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist; give a training run's workdir")
  config = load_run_config(workdir)
  run = build.build(config, load_data_spec(workdir) if data is None else data)
  checkpointer = checkpointing.Checkpointer(workdir, create=False)
  try:
    state = checkpointer.restore(step, target=run.abstract_state())
  finally:
    checkpointer.close()
  return run, state


# ------------------------------------------------------------- digests and exports


def flatten_with_paths(tree) -> dict[str, Any]:
  """`{'a/b/c': array}` for every array leaf of a nested-dict pytree, sorted by path."""
  import jax  # pylint: disable=g-import-not-at-top
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  flat = {}
  for path, leaf in leaves:
    name = "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                    for k in path)
    flat[name] = np.asarray(leaf)
  return dict(sorted(flat.items()))


def state_digest(tree) -> str:
  """sha256 over (path, dtype, shape, bytes) of every array of `tree`, in path order."""
  import hashlib  # pylint: disable=g-import-not-at-top
  digest = hashlib.sha256()
  for name, array in flatten_with_paths(tree).items():
    array = np.ascontiguousarray(array)
    digest.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
    digest.update(array.tobytes())
  return digest.hexdigest()


def raw_step(raw: dict) -> int:
  """The step of a checkpoint restored as nested dicts (one seed's, for several seeds)."""
  return int(np.ravel(np.asarray(raw["step"]))[0])


_EXPORTED_PARTS = ("params", "batch_stats")


def export_generator(workdir: str, raw_state: dict, path: str) -> None:
  """Writes what sampling needs to `path` (.npz): generator params, statistics, EMA, config.

  Arrays `generator/params/...`, `generator/batch_stats/...` and (when kept)
  `ema_params/...`, plus `__config__` and `__data__`, the run's config.json and
  data.json as JSON strings: `load_export(path)` samples from this file alone.
  """
  if "generator" not in raw_state:
    raise UserError(f"the run in {workdir!r} has no generator to export")
  arrays = {}
  for part in _EXPORTED_PARTS:
    for name, value in flatten_with_paths(raw_state["generator"].get(part) or {}).items():
      arrays[f"generator/{part}/{name}"] = value
  for name, value in flatten_with_paths(raw_state.get("ema_params") or {}).items():
    arrays[f"ema_params/{name}"] = value
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise UserError(f"cannot write {path!r}: directory {directory!r} does not exist")
  arrays["__config__"] = np.array(json.dumps(saved_config_values(workdir)))
  arrays["__data__"] = np.array(json.dumps(load_data_spec(workdir).to_json()))
  np.savez(path, **arrays)


def load_export(path: str):
  """(run, state) to sample from an `export_generator` file: no workdir, no data needed.

  The state is the run's initial state with the exported generator arrays in place
  (the discriminator and optimizers stay at their initial values: unused by sampling).
  """
  import flax  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from gan import build  # pylint: disable=g-import-not-at-top
  from gan.data import DataSpec  # pylint: disable=g-import-not-at-top
  try:
    with np.load(path, allow_pickle=False) as npz:
      arrays = {k: npz[k] for k in npz.files}
    values = json.loads(str(arrays.pop("__config__")))
    spec = DataSpec.from_json(json.loads(str(arrays.pop("__data__"))))
  except (OSError, KeyError, ValueError) as error:
    raise UserError(f"cannot read {path!r} as a generator export ({type(error).__name__}); "
                    f"write one with python -m gan.cli.info WORKDIR --export=FILE.npz") from error
  config = config_lib.from_json_dict(values, config_lib.base_config())
  run = build.build(config, spec)
  state = run.init_state()
  nested = flax.traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in arrays.items()})

  def put(target, source):
    return jax.tree.map(lambda t, s: jax.numpy.asarray(s, t.dtype).reshape(t.shape),
                        target, flax.core.unfreeze(source))

  generator = state.generator.replace(
      **{part: put(getattr(state.generator, part), nested["generator"][part])
         for part in _EXPORTED_PARTS if part in nested.get("generator", {})})
  ema = state.ema_params
  if ema is not None:
    ema = put(ema, nested["ema_params"])
  return run, state.replace(generator=generator, ema_params=ema)
