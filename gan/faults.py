"""Faults of long runs: non-finite steps, and SIGTERM / SIGINT.

A non-finite loss, gradient or parameter is caught inside the jitted step
(`guard_nonfinite`), decided on the device with no host round trip:
`run.on_nonfinite=stop` makes the program raise `NonFiniteError` before anything
non-finite is saved, keeping the last good checkpoint; `skip_step` keeps the previous
state for that step and counts it in the logs. SIGTERM and SIGINT become a flag the
program reads between calls (`StopRequests`): it saves a checkpoint at the current
step and raises `RunInterrupted`. (A run killed at any moment, SIGKILL included,
resumes from its newest complete checkpoint: see `gan.checkpointing`.)
"""

import os
import signal
import threading
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from gan.errors import UserError
from gan.images import to_float

Step = Callable[..., tuple[Any, dict]]


class NonFiniteError(UserError):
  """A loss, gradient or parameter became NaN or Inf under `run.on_nonfinite=stop`."""


class RunInterrupted(Exception):
  """SIGTERM or SIGINT stopped the run after saving a checkpoint at `step`."""

  def __init__(self, message: str, *, signum: int, step: int):
    super().__init__(message)
    self.signum = signum
    self.step = step


def all_finite(tree: Any) -> jax.Array:
  """True when every floating-point leaf of `tree` is finite (no NaN, no +-Inf).

  all_finite(T) = isfinite(sum over float leaves x of T, over entries i: x_i - x_i).

  x - x is 0 for a finite x and NaN for NaN and +-Inf, and a NaN term makes the sum
  NaN, so this is exactly AND_i |x_i| < inf, with no overflow. It is one float sum
  per leaf, which XLA:CPU fuses and vectorises; a boolean AND-reduction of
  `isfinite` is 2-3x slower there, and a max-reduction of |x| misses NaNs.
  Integer leaves (the step, Adam's count) are always finite and are skipped.
  """
  sums = [jnp.sum(x - x) for x in jax.tree.leaves(tree)
          if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
  return jnp.isfinite(sum(sums)) if sums else jnp.array(True)


def guard_nonfinite(step: Step, *, skip: bool, debug_nan_step: int = -1) -> Step:
  """Wraps a task's step with a finiteness check decided on device (no host sync).

  finite = all_finite(metrics) AND all_finite(new state): the losses and gradient
  norms (a NaN or Inf gradient makes its norm non-finite) and every parameter,
  statistic, optimizer moment and EMA after the update. The wrapped step adds the
  metric `nonfinite` = 1 - finite (0 or 1).

  Args:
    step: a pure `(state, batch, key) -> (state, metrics)`; the state has `step`.
    skip: if True, a non-finite update is skipped: the returned state is the input
      state with only `step` advanced (so the next step draws the next batch and
      keys, as an uninterrupted run would); if False the state is returned as
      computed and the caller stops before saving it.
    debug_nan_step: fault injection for tests; when >= 0, the batch's `image` of that
      step is replaced by NaN (so the losses, gradients and then every parameter
      become NaN). It changes the run, so it is part of the config a resume checks.

  Returns:
    `guarded(state, batch, key) -> (state, metrics)`, pure, to be jitted.
  """

  def guarded(state, batch: dict, key: jax.Array):
    if debug_nan_step >= 0:
      poisoned = jnp.where(state.step == debug_nan_step, jnp.nan, to_float(batch["image"]))
      batch = {**batch, "image": poisoned}
    new_state, metrics = step(state, batch, key)
    finite = all_finite(metrics) & all_finite(new_state)
    if skip:
      kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
      new_state = kept.replace(step=new_state.step)
    return new_state, {**metrics, "nonfinite": 1.0 - finite.astype(jnp.float32)}

  return guarded


@jax.jit
def first_nonfinite(first: jax.Array, nonfinite: jax.Array, step: jax.Array) -> jax.Array:
  """The first step whose update was non-finite, or -1: one device op, no host sync.

  `nonfinite` is one step's flag, or the flags of a block of steps from `step` on.
  """
  flags = jnp.atleast_1d(nonfinite) > 0
  found = jnp.where(jnp.any(flags), step + jnp.argmax(flags), -1)
  return jnp.where(first < 0, found, first)


class StopRequests:
  """Turns SIGTERM and SIGINT into a flag that the program reads between calls.

  A second SIGINT (Ctrl-C twice) aborts at once with `KeyboardInterrupt`. With
  several processes, a signal is local to the process it reached, but every
  process must save the same step: SIGTERM is left to JAX's preemption service,
  which agrees on a step (`multihost_utils.reached_preemption_sync_point`), and a
  SIGINT is forwarded to it as a SIGTERM. Handlers can only be set from the main
  thread; elsewhere (a notebook's worker thread) signals keep their defaults.
  """

  SIGNALS = (signal.SIGTERM, signal.SIGINT)

  def __init__(self, multiprocess: bool):
    self.multiprocess = multiprocess
    self.signum: Optional[int] = None
    self._previous = {}

  def _handle(self, signum, frame):
    del frame
    if self.multiprocess:  # Let the preemption service agree on the step.
      self.signum = signum
      os.kill(os.getpid(), signal.SIGTERM)
      return
    if self.signum == signal.SIGINT and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.signum = signum

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      signals = (signal.SIGINT,) if self.multiprocess else self.SIGNALS
      for signum in signals:
        self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc):
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    self._previous = {}

  def reached(self, step: int) -> bool:
    """Whether the program should save and stop after `step` (the same on every process)."""
    if self.multiprocess:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      if multihost_utils.reached_preemption_sync_point(step):
        self.signum = self.signum or signal.SIGTERM
        return True
      return False
    return self.signum is not None
