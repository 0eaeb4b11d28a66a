"""A thin Orbax wrapper: save and restore the `GANState` pytree of a workdir.

Checkpoints live in `WORKDIR/checkpoints/<step>`. Saves are synchronous, and Orbax
writes each into a temporary directory (`<step>.orbax-checkpoint-tmp-*`) that it
renames to `<step>` when complete, so a run killed mid-write leaves the previous
checkpoints intact; the partial one is never listed, and a training run's
`Checkpointer` deletes such leftovers when it opens the directory. Readers
(`create=False`: gan.cli.info, gan.cli.sample) change nothing on disk.
"""

import logging
import os
import sys
import threading
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp

from gan.errors import UserError


def checkpoint_dir(workdir: str) -> str:
  """Where the checkpoints of `workdir` live."""
  return os.path.join(os.path.abspath(workdir), "checkpoints")


# Set once a restore has failed: the process is about to stop with a one-line
# `UserError`, and the reads of the damaged checkpoint still in flight report their own
# failures late, as tracebacks, which would bury that line.
_RESTORE_FAILED = threading.Event()


def _is_closed_loop_noise(error: BaseException) -> bool:
  if _RESTORE_FAILED.is_set():
    return True
  return isinstance(error, RuntimeError) and "Event loop is closed" in str(error)


def _silence_late_read_callbacks() -> None:
  """Drops the 'Event loop is closed' tracebacks that follow a failed restore.

  Orbax closes its event loop when the first read of a damaged checkpoint fails;
  reads still in flight finish later, and their callbacks, finding the loop closed,
  print tracebacks on stderr (through whichever of Python's exception hooks their
  thread reaches). Only that RuntimeError is dropped, and, once a restore has failed
  (`_RESTORE_FAILED`), every late exception; installed once per process.
  """
  if getattr(sys.unraisablehook, "drops_closed_loop_noise", False):
    return
  previous_unraisable, previous_except = sys.unraisablehook, sys.excepthook
  previous_thread = threading.excepthook

  def unraisable_hook(unraisable):
    if not _is_closed_loop_noise(unraisable.exc_value):
      previous_unraisable(unraisable)

  def except_hook(kind, value, traceback):
    if not _is_closed_loop_noise(value):
      previous_except(kind, value, traceback)

  def thread_hook(args):
    if not _is_closed_loop_noise(args.exc_value):
      previous_thread(args)

  unraisable_hook.drops_closed_loop_noise = True
  sys.unraisablehook, sys.excepthook, threading.excepthook = (
      unraisable_hook, except_hook, thread_hook)


class Checkpointer:
  """Saves and restores a pytree by step; keeps the newest `keep` checkpoints.

  `create=True` (a training run) creates the directory and deletes the temporary
  directories of writes that a crash cut short; `create=False` only reads.
  """

  def __init__(self, workdir: str, *, keep: int = 3, create: bool = True):
    options = ocp.CheckpointManagerOptions(
        preservation_policy=ocp.checkpoint_managers.LatestN(keep),
        create=create,
        cleanup_tmp_directories=create,
        enable_async_checkpointing=False,
    )
    self.directory = checkpoint_dir(workdir)
    self._manager = ocp.CheckpointManager(
        self.directory, item_handlers=ocp.StandardCheckpointHandler(), options=options)

  def latest_step(self) -> Optional[int]:
    """The newest complete checkpoint's step, or None."""
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """The steps of every complete checkpoint, oldest first."""
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any) -> None:
    """Saves `state` as checkpoint `step` (blocking until it is complete on disk)."""
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    self._manager.wait_until_finished()

  def restore(self, step: Optional[int] = None, target: Any = None) -> Any:
    """Restores checkpoint `step` (default newest) into the structure of `target`.

    `target` is a pytree of arrays or `jax.ShapeDtypeStruct`s with shardings; without
    it the checkpoint comes back as saved (nested dicts of arrays) on this process's
    first device, whatever the device layout it was saved from.
    """
    _silence_late_read_callbacks()
    step = self.latest_step() if step is None else step
    if step is None:
      raise UserError(f"no checkpoint in {self.directory}; train first (python -m "
                      f"experiments.dcgan_mnist --workdir=...)")
    try:
      if target is None:
        device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                              self._manager.item_metadata(step).tree)
      else:
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
      return self._manager.restore(step, args=ocp.args.StandardRestore(target))
    except Exception as error:  # Orbax raises many types for unreadable data.
      _RESTORE_FAILED.set()
      # asyncio logs the other reads' exceptions ("Task exception was never retrieved").
      logging.getLogger("asyncio").setLevel(logging.CRITICAL)
      raise UserError(f"cannot restore checkpoint {step} in {self.directory} "
                      f"({type(error).__name__}); it is corrupted or from another model — "
                      f"delete that step's directory to fall back to an older one") from error

  def close(self) -> None:
    self._manager.close()
