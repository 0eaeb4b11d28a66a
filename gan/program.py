"""The training program: config -> data + state -> jitted step -> metrics and checkpoints.

`train(config, workdir)` is what every experiment runs, for every task: it builds the
run (`gan.build`), resumes from the newest checkpoint in `workdir`, and steps to
`config.num_steps`, logging, sampling, checkpointing and calling hooks between calls.
The state holds everything that changes while keys and batches are pure functions of
(seed, step), so a resumed run is bit for bit the run that was never interrupted.
With `workdir=None` the same loop runs without files (notebooks, the extractors).

Faults (`gan.faults`): a run killed at any moment resumes from its newest complete
checkpoint; SIGTERM and SIGINT save a checkpoint at the current step and raise
`RunInterrupted`; a non-finite step raises `NonFiniteError` before anything
non-finite is saved (`run.on_nonfinite=stop`) or is skipped (`skip_step`).

Calls in flight. JAX dispatches a call before the previous one has finished; the
loop lets at most `MAX_CALLS_IN_FLIGHT` be queued, then waits for the oldest, so the
progress bar counts finished steps. It also keeps multi-device runs on CPU alive:
XLA:CPU's client admits 32 queued computations per device and runs each device's
part of a multi-device program on one of max(cores, devices) launch threads; a
launch waiting for a queue slot holds such a thread, so with the host far ahead
(4 fake devices on 2 cores, a step of ~1 s, two programs per step, 16 steps queued)
the last device never starts the step's all-reduce, and XLA aborts the process after
its 40 s collective timeout ("only 3 of them arrived on time"). Raising that timeout
only delays the abort; a bounded queue removes the deadlock (docs/reliability.md).

A run that dies anyway (SIGKILL, out of memory, an abort in XLA) leaves its
checkpoints intact and its `RUNNING` marker in the workdir; the next run of the same
workdir says so and resumes from the newest checkpoint.
"""

import collections
import dataclasses
import itertools
import os
import signal
import sys
import time
from typing import Any, Callable, Iterable, Optional, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan import build as build_lib
from gan import checkpointing, faults, images, parallel, rundir
from gan.errors import ConfigError
from gan.writers import MetricWriter

MAX_CALLS_IN_FLIGHT = 2
_BARRIERS = itertools.count()


@dataclasses.dataclass
class Hook:
  """Periodic work in the program: `fn(step, state) -> metrics`, every `every` steps.

  What `fn` returns is logged beside the losses. `name` says what it is; the
  program checks that the config's `eval` section is served (`evaluation`,
  `diagnostics`: `gan.eval.hooks.default_hooks(run)` builds them).
  """

  every: int
  fn: Callable[[int, Any], dict[str, float]]
  name: str = ""

  def __call__(self, step: int, state: Any) -> dict[str, float]:
    return self.fn(step, state)


def _check_hooks(config, hooks: Sequence[Hook]) -> None:
  """A one-line error when the config asks for evaluation that no hook does."""
  names = {hook.name for hook in hooks}
  for field, name in (("every", "evaluation"), ("diagnostics_every", "diagnostics")):
    if config.eval[field] and name not in names:
      raise ConfigError(f"eval.{field}", config.eval[field], f"asks for {name} during training: "
                        f"pass its hook, program.train(run, workdir, "
                        f"hooks=gan.eval.hooks.default_hooks(run)) (the experiments' command "
                        f"line does), or set it to 0")


def _mean_metrics(buffer: list[dict]) -> dict[str, float]:
  """Means over the steps of a log window, skipped (non-finite) steps left out.

  Each entry of `buffer` holds one call's scalar metrics, or a block's, stacked.
  `skipped_steps` is the number of skipped steps in the window.
  """
  values = _window_values(buffer)
  bad = values.pop("nonfinite") > 0
  means = {k: float(np.mean(v[~bad])) if not bad.all() else float("nan")
           for k, v in values.items()}
  means["skipped_steps"] = int(bad.sum())
  return means


def _window_values(buffer: list[dict]) -> dict[str, np.ndarray]:
  """The metrics of a log window's steps: {metric: 1-D array, one entry per step}."""
  fetched = jax.device_get(buffer)
  return {k: np.concatenate([np.ravel(m[k]) for m in fetched]) for k in fetched[0]}


class _TrainClock:
  """Wall and CPU seconds spent training, scoring hooks left out, across resumes.

  Every log record holds `train_seconds` and `train_cpu_seconds` (this process's CPU
  time, all threads): recipes compare at equal time by these. A resumed run starts
  from the values of the last record it kept.
  """

  def __init__(self, wall: float = 0.0, cpu: float = 0.0):
    self._wall0, self._cpu0 = time.perf_counter() - wall, time.process_time() - cpu
    self._paused = None

  def pause(self) -> None:
    self._paused = (time.perf_counter(), time.process_time())

  def resume(self) -> float:
    """Starts the clock again; returns the wall seconds it was paused."""
    wall, cpu = self._paused
    paused = time.perf_counter() - wall
    self._wall0 += paused
    self._cpu0 += time.process_time() - cpu
    self._paused = None
    return paused

  def read(self) -> dict[str, float]:
    """The time trained so far; while paused, the time at the pause."""
    wall, cpu = self._paused or (time.perf_counter(), time.process_time())
    return {"train_seconds": round(wall - self._wall0, 3),
            "train_cpu_seconds": round(cpu - self._cpu0, 3)}


def _nonfinite_message(step: int, checkpointer) -> str:
  last = checkpointer.latest_step() if checkpointer else None
  where = checkpointer.directory if checkpointer else ""
  kept = (f"the last good checkpoint, step {last} in {where}, is kept" if last is not None
          else "no checkpoint was saved before it")
  return (f"non-finite loss or parameters at step {step}; the run stopped and {kept}; lower "
          f"the learning rates, or rerun with config.run.on_nonfinite='skip_step' to skip "
          f"such steps")


def train(what: Any, workdir: Optional[str] = None, *, hooks: Sequence[Hook] = (),
          allow_config_change: Iterable[str] = (), log=None) -> Any:
  """Trains (or resumes) a run up to `config.num_steps`; returns the final state.

  Args:
    what: a config (`gan.config.base_config()` and derived), or a `gan.build.Run`
      built from one (to train a run already built, e.g. in a notebook).
    workdir: where the run lives: `config.json`, `data.json`, Orbax checkpoints under
      `checkpoints/`, sample grids under `samples/`, `metrics.jsonl` and TensorBoard
      events; running again with it resumes. None: no files, no checkpoints (the loop
      alone, from step 0).
    hooks: called every `hook.every` steps with (step, state); what they return is
      logged with the losses. The config's `eval` section is served by
      `gan.eval.hooks.default_hooks(run)` (the command line passes them); the program
      itself knows nothing of evaluation.
    allow_config_change: fields that may differ from the saved config of a resumed
      run (see `gan.rundir.prepare`); the change is recorded in the workdir.
    log: where to print what happens (default: stderr).

  With several processes (`jax.distributed`), each loads its rows of every global
  batch; all of them save and restore the checkpoints together; process 0 alone
  writes config, logs and samples.

  Raises:
    UserError: a config, data set or workdir that cannot make this run.
    NonFiniteError: `run.on_nonfinite=stop` and a step was not finite; nothing from
      that step on was saved.
    RunInterrupted: SIGTERM or SIGINT arrived; a checkpoint of the current step was
      saved first.
  """
  log = log or (lambda line: print(line, file=sys.stderr, flush=True))
  run = what if isinstance(what, build_lib.Run) else build_lib.build(what)
  config = run.config
  hooks = list(hooks)
  _check_hooks(config, hooks)
  is_main = jax.process_index() == 0
  checkpointer = None
  if workdir is not None:
    resuming, changes = rundir.prepare(workdir, config, allow_config_change)
    os.makedirs(workdir, exist_ok=True)
    checkpointer = checkpointing.Checkpointer(workdir, keep=config.run.keep_checkpoints)
  try:
    if checkpointer is not None and checkpointer.latest_step() is not None:
      state = checkpointer.restore(target=run.abstract_state())
    else:
      state = run.init_state()
    start = int(run.first_seed(state).step)
    if workdir is not None and is_main:
      previous = rundir.unfinished_run(workdir)
      if previous:
        log(f"The previous run in {workdir} ({previous}) stopped without finishing: killed, "
            f"out of memory, or aborted inside XLA. Its checkpoints are intact; resuming "
            f"from step {start}.")
      rundir.mark_running(workdir)
      if not resuming:
        rundir.write_new_run(workdir, config, run.spec)
      else:
        rundir.truncate_metrics(workdir, start)
        if rundir.config_changes(rundir.load_run_config(workdir), config, everything=True):
          rundir.record_changes(workdir, config, start, changes)
        if changes:
          log(f"Changing {sorted(changes)} from step {start} on (allow_config_change).")
      if start:
        log(f"Resuming {workdir} from step {start}.")
    state = _loop(run, workdir, state, checkpointer, hooks, is_main, log)
  except (faults.RunInterrupted, faults.UserError):  # Stopped with a message: not a crash.
    if workdir is not None and is_main:
      rundir.mark_stopped(workdir)
    raise
  finally:
    if checkpointer is not None:
      checkpointer.close()
  if workdir is not None and is_main:
    rundir.mark_stopped(workdir)
  return state


def _loop(run: build_lib.Run, workdir, state, checkpointer, hooks, is_main, log):
  """The steps of `train`, from `state.step` to `config.num_steps`."""
  config = run.config
  num_steps, k = config.num_steps, run.steps_per_call
  start = int(run.first_seed(state).step)
  if start % k:
    raise faults.UserError(f"the checkpoint is at step {start}, not a multiple of "
                           f"config.run.steps_per_call={k}; resume with the run's own "
                           f"steps_per_call")
  writer = MetricWriter(workdir) if (workdir is not None and is_main) else None
  # The first step whose update was not finite (-1: none), kept on device so that
  # checking it costs a host round trip only where the loop syncs anyway.
  first_nonfinite = parallel.replicate(jnp.array(-1, jnp.int32), run.mesh)
  grid = config.run.num_sample_images if (run.generate is not None and
                                          run.spec.kind != "points") else 0
  grid_inputs = run.grid_inputs(grid) if grid else None
  stop_on_nonfinite = config.run.on_nonfinite == "stop"

  def check_finite() -> None:
    if stop_on_nonfinite:
      bad_step = int(first_nonfinite)
      if bad_step >= 0:
        raise faults.NonFiniteError(_nonfinite_message(bad_step, checkpointer))

  def save_checkpoint(step: int) -> None:
    check_finite()  # Never save a non-finite state.
    if checkpointer is not None and checkpointer.latest_step() != step:
      if writer is not None:  # The log window under way and the clock, for the resume.
        rundir.save_log_state(workdir, step, _window_values(buffer) if buffer else {},
                              clock.read())
      checkpointer.save(step, state)
      if writer is not None:
        rundir.prune_log_states(workdir, checkpointer.all_steps())

  def save_samples(step: int) -> None:
    if not grid or workdir is None:
      return
    check_finite()
    # Every process runs the computation; process 0 writes.
    samples = run.grid_images(state, grid_inputs)
    if not is_main:
      return
    samples = np.asarray(jax.device_get(samples))
    images.save_grid(samples, os.path.join(workdir, "samples", f"step_{step:06d}.png"),
                     num_cols=run.task.grid_columns)
    writer.write_image(step, "samples", images.make_grid(samples,
                                                         num_cols=run.task.grid_columns))

  step_fn = run.compiled_step
  if start < num_steps:
    compile_start = time.perf_counter()
    step_fn = step_fn.lower(state, run.batch(start), run.step_keys).compile()
    if is_main and config.run.progress_bar:
      log(f"Compiled the step in {time.perf_counter() - compile_start:.1f} s.")
    if jax.process_count() > 1:
      # Then meet: every process reaches the first collective within moments of the others.
      parallel.barrier(f"gan.program:compiled:{next(_BARRIERS)}")

  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
  progress = tqdm(total=num_steps, initial=start, unit="step", dynamic_ncols=True,
                  disable=not (is_main and config.run.progress_bar), file=sys.stderr)
  # A resumed run goes on with the log window and clock its checkpoint saved (else, for a
  # run saved before log states existed, the clock of its last record).
  resumed = rundir.load_log_state(workdir, start) if workdir and start else None
  if resumed is not None:
    clock = _TrainClock(resumed["train_seconds"], resumed["train_cpu_seconds"])
  else:
    clock = _TrainClock(*(rundir.last_train_times(workdir) if workdir and start else (0, 0)))
  # The window's earlier steps, trained before the resume, count in its means (not in its
  # steps/s); they join the first step's metrics when they are the same metrics (a resume
  # that changed what the step reports starts a new window).
  carried = resumed["window"] if resumed is not None and resumed["window"] else None
  budgets = {"train_seconds": ("max_train_seconds", config.run.max_train_seconds),
             "train_cpu_seconds": ("max_train_cpu_seconds",
                                   config.run.get("max_train_cpu_seconds", 0.0))}

  def spent_budget() -> Optional[str]:
    """The budget this run has used up (its clock's reading and field), or None."""
    times = clock.read()
    for reading, (field, budget) in budgets.items():
      if budget and times[reading] >= budget:
        return f"{times[reading]:.0f} {reading.replace('_', ' ')} reached " \
               f"config.run.{field}={budget}"
    return None
  hooked_step = None

  def run_hooks(step: int, last: bool = False) -> None:
    """The hooks due at `step`; every hook at the run's last step."""
    nonlocal hooked_step, tick
    jax.block_until_ready(state)  # Steps still in flight are training time.
    clock.pause()  # Scoring is not training: the clock stops (and steps/s leaves it out).
    for hook in hooks:
      if hook.every and (last or step % hook.every == 0):
        check_finite()
        values = hook(step, state)
        if writer is not None and values:
          writer.write(step, {**values, **clock.read()})
    hooked_step = step
    tick += clock.resume()

  in_flight: collections.deque = collections.deque()
  buffer, buffered_steps, tick = [], 0, time.perf_counter()
  stop_requests = faults.StopRequests(multiprocess=jax.process_count() > 1)

  def finish_oldest() -> None:
    steps, metrics = in_flight.popleft()
    jax.block_until_ready(metrics)
    progress.update(steps)

  try:
    with stop_requests:
      for step in range(start, num_steps, k):
        state, metrics = step_fn(state, run.batch(step), run.step_keys)
        first_nonfinite = faults.first_nonfinite(first_nonfinite, metrics["nonfinite"], step)
        done = step + k
        in_flight.append((k, metrics))
        while len(in_flight) > MAX_CALLS_IN_FLIGHT:
          finish_oldest()
        if config.run.log_every:
          if carried is not None:
            buffer = [carried] if carried.keys() == metrics.keys() else []
            carried = None
          buffer.append(metrics)
          buffered_steps += k
          if done % config.run.log_every == 0 or done == num_steps:
            check_finite()
            means = _mean_metrics(buffer)
            now = time.perf_counter()
            means["steps_per_sec"] = buffered_steps / (now - tick)
            means.update(clock.read())
            buffer, buffered_steps, tick = [], 0, now
            if writer is not None:
              writer.write(done, means)
              if means["skipped_steps"]:
                progress.write(f"Skipped {means['skipped_steps']} non-finite step(s) of the "
                               f"last log window, up to step {done} "
                               f"(config.run.on_nonfinite='skip_step').")
            progress.set_postfix({name: f"{means[name]:.3f}" for name in run.task.progress
                                  if name in means}, refresh=False)
        spent = spent_budget()
        over_budget = spent is not None
        if any(hook.every and (done % hook.every == 0 or over_budget) for hook in hooks):
          run_hooks(done, last=over_budget or done == num_steps)
        if config.run.sample_every and done % config.run.sample_every == 0:
          save_samples(done)
        if config.run.checkpoint_every and done % config.run.checkpoint_every == 0:
          save_checkpoint(done)
        if stop_requests.reached(done):
          save_checkpoint(done)
          name = signal.Signals(stop_requests.signum).name
          where = (f"saved checkpoint {done} in {checkpointer.directory}; run the same command "
                   f"again to resume" if checkpointer is not None else "no workdir to save to")
          raise faults.RunInterrupted(f"{name} at step {done}: {where}",
                                      signum=stop_requests.signum, step=done)
        if over_budget:
          log(f"Stopped at step {done}: {spent}.")
          break
      while in_flight:
        finish_oldest()
      final = int(run.first_seed(state).step)
      if hooks and hooked_step != final and final > start:
        run_hooks(final, last=True)  # The last point of the curve: the state the run ends with.
      save_checkpoint(final)
      if not (config.run.sample_every and final % config.run.sample_every == 0 and
              final > start):
        save_samples(final)
  finally:
    progress.close()
    if writer is not None:
      writer.close()
  if workdir is not None and is_main and config.run.progress_bar:
    _report(run, workdir, final, grid, log)
  return state


def _report(run, workdir: str, step: int, grid: int, log) -> None:
  """Where the run's outputs went, and the commands to look at them."""
  from gan.data import ImageDataset  # pylint: disable=g-import-not-at-top
  lines = [f"Done: step {step} in {workdir}.",
           f"  checkpoint  {os.path.join(workdir, 'checkpoints', str(step))}"]
  if grid:
    lines.append(f"  samples     {os.path.join(workdir, 'samples', f'step_{step:06d}.png')}")
  lines += [f"  logs        {os.path.join(workdir, rundir.METRICS_FILE)}",
            f"  look at them: tensorboard --logdir {workdir}"]
  if grid and isinstance(run.data, ImageDataset):
    small = run.data.test_images.shape[0] == 0  # e.g. mnist_5k: score against full data.
    lines.append(f"  score it:     python -m gan.cli.evaluate --workdir={workdir}"
                 + (" --dataset=FULL_DATA.npz (e.g. ../shared/data/mnist.npz)" if small else ""))
  log("\n".join(lines))
