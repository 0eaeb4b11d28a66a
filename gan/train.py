"""The training loop: config -> data + state -> jitted step -> logs, samples, checkpoints.

`train_and_evaluate(config, workdir)` is what every experiment module calls. It
resumes from the newest checkpoint in `workdir`, and because the state holds
everything that changes (step, both players' params, BatchNorm statistics and Adam
states, EMA) while keys and batches are pure functions of (seed, step), a resumed
run is bit for bit the run that was never interrupted.

`GANSetup` is the same machinery without a workdir, for notebooks and tests.

Faults. A run killed at any moment (SIGKILL included, even mid-checkpoint) resumes
from its newest complete checkpoint: Orbax writes each checkpoint into a temporary
directory and renames it when complete, and the temporary leftovers of a killed
write are deleted on resume. SIGTERM and SIGINT save a checkpoint at the current
step and raise `RunInterrupted`. A non-finite loss, gradient or parameter is caught
inside the jitted step (`guard_nonfinite`): `on_nonfinite=stop` raises
`NonFiniteError` before anything non-finite is saved, keeping the last good
checkpoint; `on_nonfinite=skip_step` keeps the previous state for that step and
counts it in the logs (`skipped_steps`).
"""

import collections
import dataclasses
import functools
import itertools
import json
import os
import signal
import threading
import time
from typing import Any, Callable, Iterable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan import checkpointing, config as config_lib, data, hooks as hooks_lib, images, losses
from gan import models, parallel
from gan.errors import UserError
from gan.models import layers
from gan.state import GANState, create_state, generate, make_optimizer
from gan.train_step import StepConfig, images_to_float, make_multi_step, make_train_step
from gan.writers import MetricWriter


@dataclasses.dataclass
class GANSetup:
  """Models, the jitted update and the run's keys, built from a config.

  Attributes:
    config: the (validated) config.
    image_shape: (H, W, C) of the data.
    generator, discriminator: the Flax modules.
    mesh: the data-parallel device mesh.
    train_key: the run's key; step s uses `fold_in(train_key, s)`.
    sample_noise: the fixed noise of the sample grids.
    update: the pure, unjitted `(state, batch, train_key) -> (state, metrics)`, guarded
      against non-finite updates (`guard_nonfinite`, metric `nonfinite`): for
      composing into a larger program (`gan.train_step.make_multi_step`, `jax.vmap`).
    train_step: `update` jitted, state donated, with `gan.models.layers.compiler_options`
      (so it must be called at the top level, not inside another jit).
    multi_step: with `config.steps_per_call` k > 1, k updates per call, jitted likewise:
      `(state, batches, train_key) -> (state, metrics stacked over the k steps)`, for
      batches of shape (k, d_steps, B, H, W, C) (`shard_block`); None when k = 1.
    generate: jitted `(state, z) -> images`, inference mode, EMA weights if any.
    initialize: jitted `init_key -> state`: both players and their optimizers.
  """

  config: ml_collections.ConfigDict
  image_shape: tuple[int, int, int]
  generator: Any
  discriminator: Any
  mesh: jax.sharding.Mesh
  init_key: jax.Array
  train_key: jax.Array
  sample_noise: jax.Array
  update: Callable[..., Any]
  train_step: Callable[..., Any]
  multi_step: Optional[Callable[..., Any]]
  generate: Callable[..., Any]
  initialize: Callable[[jax.Array], GANState]

  def init_state(self) -> GANState:
    """The step-0 state, replicated over the mesh."""
    return self.initialize(self.init_key)

  def shard_batch(self, local_batch: np.ndarray) -> jax.Array:
    """This process's rows of a (d_steps, B, H, W, C) batch -> the global batch."""
    return parallel.global_batch(local_batch, self.mesh)

  def shard_block(self, local_batches: np.ndarray) -> jax.Array:
    """This process's rows of a (k, d_steps, B, H, W, C) block -> the global block."""
    return parallel.global_batch(local_batches, self.mesh, batch_axis=2)


# ---------------------------------------------------------------------------- faults


class NonFiniteError(UserError):
  """A loss, gradient or parameter became NaN or Inf under `on_nonfinite=stop`."""


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


def guard_nonfinite(train_step: Callable[..., tuple[GANState, dict]], *, skip: bool,
                    debug_nan_step: int = -1) -> Callable[..., tuple[GANState, dict]]:
  """Wraps a train step with a finiteness check decided on device (no host sync).

  finite = all_finite(metrics) AND all_finite(new state): the losses and gradient
  norms (a NaN or Inf gradient makes its norm non-finite) and every parameter,
  BatchNorm statistic, optimizer moment and EMA after the update. The wrapped step
  adds the metric `nonfinite` = 1 - finite (0 or 1).

  Args:
    train_step: a pure `(state, batch, key) -> (state, metrics)`.
    skip: if True, a non-finite update is skipped: the returned state is the input
      state with only `step` advanced (so the next step draws the next batch and
      keys, as an uninterrupted run would); if False the state is returned as
      computed and the caller stops before saving it.
    debug_nan_step: fault injection for tests; when >= 0, the batch of that step is
      replaced by NaN (so D's loss, its gradients and then every parameter become
      NaN). It changes the run, so it is part of the config that a resume checks.

  Returns:
    `guarded(state, batch, key) -> (state, metrics)`, pure, to be jitted.
  """

  def guarded(state: GANState, batch: jax.Array, key: jax.Array):
    if debug_nan_step >= 0:
      batch = images_to_float(batch)
      batch = jnp.where(state.step == debug_nan_step, jnp.nan, batch)
    new_state, metrics = train_step(state, batch, key)
    finite = all_finite(metrics) & all_finite(new_state)
    if skip:
      kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
      new_state = kept.replace(step=new_state.step)
    return new_state, {**metrics, "nonfinite": 1.0 - finite.astype(jnp.float32)}

  return guarded


@jax.jit
def _first_nonfinite(first: jax.Array, nonfinite: jax.Array, step: jax.Array) -> jax.Array:
  """The first step whose update was non-finite, or -1: one device op, no host sync.

  `nonfinite` is one step's flag, or the flags of a block of steps from `step` on.
  """
  flags = jnp.atleast_1d(nonfinite) > 0
  found = jnp.where(jnp.any(flags), step + jnp.argmax(flags), -1)
  return jnp.where(first < 0, found, first)


class _StopRequests:
  """Turns SIGTERM and SIGINT into a flag that the loop reads after each step.

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
    """Whether the loop should save and stop after `step` (the same step on every process)."""
    if self.multiprocess:
      from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
      if multihost_utils.reached_preemption_sync_point(step):
        self.signum = self.signum or signal.SIGTERM
        return True
      return False
    return self.signum is not None


# Config fields that the jitted programs of `setup` do not depend on: the seed (keys
# are arguments) and the loop's schedule. Every other field, including any added
# later, keys the cache of models and compiled programs below.
_NOT_IN_PROGRAMS = frozenset({
    "seed", "dataset", "tfds_data_dir", "num_steps", "checkpoint_every", "keep_checkpoints",
    "sample_every", "num_sample_images", "log_every", "eval_every", "eval_num_samples",
    "diagnostics_every", "progress_bar",
})
# Fields that only the update depends on, not the players' modules or optimizers.
_ONLY_IN_UPDATE = frozenset({
    "loss", "penalty", "penalty_weight", "d_steps", "on_nonfinite", "debug_nan_step",
    "steps_per_call",
})
_PROGRAMS: "collections.OrderedDict[Any, Any]" = collections.OrderedDict()
_MAX_PROGRAMS = 16


def _cached(key: Any, build: Callable[[], Any]) -> Any:
  """`build()`, remembered under `key` (the newest `_MAX_PROGRAMS` entries)."""
  if key in _PROGRAMS:
    _PROGRAMS.move_to_end(key)
  else:
    _PROGRAMS[key] = build()
    while len(_PROGRAMS) > _MAX_PROGRAMS:
      _PROGRAMS.popitem(last=False)
  return _PROGRAMS[key]


def _build_players(config: ml_collections.ConfigDict, image_shape: tuple[int, ...],
                   mesh: jax.sharding.Mesh) -> tuple:
  """(generator, discriminator, jitted `init_key -> state`)."""
  generator, discriminator = models.build(
      config.model, image_shape=image_shape, g_widths=config.g_widths,
      d_widths=config.d_widths, dropout_rate=config.dropout_rate, conv_impl=config.conv_impl,
      pack=config.pack, minibatch_std=config.minibatch_std,
      compute_dtype=config.get("compute_dtype", "float32"))
  g_optimizer = make_optimizer(config.g_lr, config.beta1, config.beta2)
  d_optimizer = make_optimizer(config.d_lr, config.beta1, config.beta2)
  noise_dim, use_ema = config.noise_dim, config.ema_decay > 0  # Not the mutable config.

  def init(key):
    state = create_state(generator=generator, discriminator=discriminator, key=key,
                         noise_dim=noise_dim, image_shape=image_shape,
                         g_optimizer=g_optimizer, d_optimizer=d_optimizer, use_ema=use_ema)
    # Strong types, as a restored checkpoint has: the same step program serves both.
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.result_type(x)), state)

  # Under jit: one program instead of hundreds of op-by-op dispatches.
  return generator, discriminator, jax.jit(init, out_shardings=parallel.replicated(mesh))


def _compiler_options(mesh: jax.sharding.Mesh) -> dict[str, str]:
  """`gan.models.layers.compiler_options` for the mesh's platform."""
  return layers.compiler_options(mesh.devices.flat[0].platform)


def _build_train_step(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
  """(guarded update, it jitted, its k-step block jitted or None); state donated."""
  step_config = StepConfig(
      loss=losses.get_loss(config.loss), penalty=losses.get_penalty(config.penalty),
      penalty_weight=float(config.penalty_weight), d_steps=config.d_steps,
      noise_dim=config.noise_dim, ema_decay=float(config.ema_decay),
      simultaneous=bool(config.get("simultaneous", False)))
  guarded_step = guard_nonfinite(make_train_step(step_config),
                                 skip=config.on_nonfinite == "skip_step",
                                 debug_nan_step=config.get("debug_nan_step", -1))
  replicated = parallel.replicated(mesh)
  jit = functools.partial(
      jax.jit, donate_argnums=0, out_shardings=(replicated, replicated),
      compiler_options=_compiler_options(mesh))
  steps_per_call = config.get("steps_per_call", 1)
  # A rolled loop is faster without convolutions; XLA:CPU runs convolution gradients
  # inside a rolled loop 35-150x slower (jax-ml/jax#12868), so dcgan's is unrolled.
  unroll = True if config.model == "dcgan" else 1
  multi_step = (jit(make_multi_step(guarded_step, steps_per_call, unroll=unroll))
                if steps_per_call > 1 else None)
  return guarded_step, jit(guarded_step), multi_step


def setup(config: ml_collections.ConfigDict, image_shape: tuple[int, int, int],
          mesh: Optional[jax.sharding.Mesh] = None) -> GANSetup:
  """Builds models, keys and the jitted step for `config` (validated here).

  Models and jitted functions are shared by every call whose config differs only
  in fields they do not depend on (the seed, the schedule; and for the models and
  optimizers, the loss and the update's options), so a process that trains,
  resumes or samples several times compiles once, and states of such setups have
  the same structure.
  """
  config_lib.validate(config)
  mesh = parallel.create_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  image_shape = tuple(image_shape)
  fields = {k: v for k, v in _config_to_json(config).items() if k not in _NOT_IN_PROGRAMS}
  players_fields = {k: v for k, v in fields.items() if k not in _ONLY_IN_UPDATE}
  generator, discriminator, initialize = _cached(
      ("players", json.dumps(players_fields, sort_keys=True), image_shape, mesh),
      lambda: _build_players(config, image_shape, mesh))
  update, train_step, multi_step = _cached(
      ("update", json.dumps(fields, sort_keys=True), image_shape, mesh),
      lambda: _build_train_step(config, mesh))
  generate_fn = _cached(("generate", mesh), lambda: jax.jit(
      generate, out_shardings=parallel.replicated(mesh),
      compiler_options=_compiler_options(mesh)))
  init_key, train_key, sample_key = jax.random.split(jax.random.key(config.seed), 3)
  sample_noise = jax.random.normal(sample_key, (config.num_sample_images, config.noise_dim))
  return GANSetup(config=config, image_shape=image_shape, generator=generator,
                  discriminator=discriminator, mesh=mesh, init_key=init_key,
                  train_key=train_key, sample_noise=parallel.replicate(sample_noise, mesh),
                  update=update, train_step=train_step, multi_step=multi_step,
                  generate=generate_fn, initialize=initialize)


# ---------------------------------------------------------------------------- workdir


def _config_to_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def _write_json_atomically(path: str, value: Any) -> None:
  """Writes `value` as JSON to `path` through a temporary file and a rename.

  A run killed mid-write leaves either the old file or the new one, never half.
  """
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in `workdir/config.json`."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise UserError(f"{workdir!r} holds no run (no config.json); point --workdir at a "
                    f"directory a training run wrote")
  try:
    with open(path, encoding="utf-8") as f:
      values = json.load(f)
    if not isinstance(values, dict):
      raise ValueError("not a JSON object")
  except (OSError, ValueError) as error:
    raise UserError(f"cannot read {path} ({type(error).__name__}); restore it or start a "
                    f"fresh workdir") from error
  merged = config_lib.base_config()
  for key, value in values.items():
    if key in merged:
      merged[key] = tuple(value) if isinstance(value, list) else value
  return merged


def _changed_fields(saved: dict, current: dict) -> list[str]:
  return sorted(k for k in set(saved) | set(current)
                if k not in config_lib.RESUMABLE_FIELDS and saved.get(k) != current.get(k))


def prepare_workdir(workdir: str, config: ml_collections.ConfigDict,
                    allow_config_change: Iterable[str] = ()) -> tuple[bool, dict]:
  """Checks that `workdir` can hold this run, writing nothing.

  A workdir that is a file, is not writable, or holds a run whose config differs
  in a field that changes the model, the data or the update (any field outside
  `gan.config.RESUMABLE_FIELDS`) is refused, unless every such field is named in
  `allow_config_change`.

  Returns:
    (resuming, changes): whether `workdir` already holds a run, and the allowed
    changes `{field: [saved value, new value]}` that resuming it makes.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"--workdir={workdir!r} is a file; give a directory path")
  allowed = set(allow_config_change)
  current = _config_to_json(config)
  unknown = sorted(allowed - set(current))
  if unknown:
    raise UserError(f"--allow_config_change names unknown config fields {unknown}; name "
                    f"fields of the config, e.g. --allow_config_change=loss,d_lr")
  config_path = os.path.join(workdir, "config.json")
  resuming = os.path.isfile(config_path)
  changes = {}
  if resuming:
    saved = _config_to_json(load_run_config(workdir))
    changed = _changed_fields(saved, current)
    refused = [k for k in changed if k not in allowed]
    if refused:
      details = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in refused)
      raise UserError(f"{workdir!r} holds a run with a different config ({details}); use a "
                      f"fresh --workdir, set those fields back, or pass "
                      f"--allow_config_change={','.join(refused)} to change them from the "
                      f"newest checkpoint on")
    changes = {k: [saved.get(k), current.get(k)] for k in changed}
  probe = os.path.abspath(workdir)  # The nearest existing directory; the rest is created.
  while not os.path.exists(probe):
    probe = os.path.dirname(probe)
  if not os.path.isdir(probe):
    raise UserError(f"--workdir={workdir!r} lies under {probe!r}, which is a file; give a "
                    f"directory path")
  if not os.access(probe, os.W_OK | os.X_OK):
    raise UserError(f"--workdir={workdir!r} is not writable; choose a directory you can write")
  return resuming, changes


def _truncate_metrics(workdir: str, step: int) -> None:
  """Drops records past `step` (and a half-written last line) left by a crash."""
  path = os.path.join(workdir, "metrics.jsonl")
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


def restore_run(workdir: str, step: Optional[int] = None) -> tuple[GANSetup, GANState]:
  """The setup and the state of checkpoint `step` (default newest) of the run in `workdir`."""
  config = load_run_config(workdir)
  try:
    with open(os.path.join(workdir, "data.json"), encoding="utf-8") as f:
      image_shape = tuple(json.load(f)["image_shape"])
  except (OSError, KeyError, TypeError, ValueError) as error:
    raise UserError(f"{workdir!r} has no readable data.json; it was not written by "
                    f"gan.train, or is damaged") from error
  gan = setup(config, image_shape)
  checkpointer = checkpointing.Checkpointer(workdir, create=False)
  try:
    state = checkpointer.restore(step, target=gan.init_state())
  finally:
    checkpointer.close()
  return gan, state


# ------------------------------------------------------------------------- the loop


def _mean_metrics(buffer: list[dict]) -> dict[str, float]:
  """Means over the steps of a log window, skipped (non-finite) steps left out.

  Each entry of `buffer` holds one step's scalar metrics, or a block's, stacked.
  `skipped_steps` is the number of skipped steps in the window.
  """
  fetched = jax.device_get(buffer)
  values = {k: np.concatenate([np.ravel(m[k]) for m in fetched]) for k in fetched[0]}
  bad = values.pop("nonfinite", np.zeros_like(next(iter(values.values())))) > 0
  means = {k: float(np.mean(v[~bad])) if not bad.all() else float("nan")
           for k, v in values.items()}
  means["skipped_steps"] = int(bad.sum())
  return means


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       hooks: Optional[list[hooks_lib.Hook]] = None, *,
                       allow_config_change: Iterable[str] = ()) -> GANState:
  """Trains (or resumes) the run in `workdir` up to `config.num_steps`; returns the state.

  Writes `config.json`, Orbax checkpoints under `checkpoints/`, PNG sample grids
  from a fixed noise batch under `samples/`, `metrics.jsonl` and TensorBoard events.
  `hooks` (default: `gan.hooks.default_hooks`, from the config's `eval_every` and
  `diagnostics_every`) are called every `hook.every` steps; what they return is
  logged with the losses. `allow_config_change` names fields that may differ from
  the saved config of a resumed run (see `prepare_workdir`); the change is recorded
  in `config_changes.jsonl` and `config.json` is updated.

  With several processes (`jax.distributed`), each loads its rows of every global
  batch; all of them save and restore the checkpoints together; process 0 alone
  writes config, logs and samples.

  Raises:
    UserError: a config, data set or workdir that cannot make this run.
    NonFiniteError: `on_nonfinite=stop` and a step was not finite; nothing from
      that step on was saved.
    RunInterrupted: SIGTERM or SIGINT arrived; a checkpoint of the current step
      was saved first.
  """
  config_lib.validate(config)
  dataset = data.load_dataset(config.dataset, tfds_data_dir=config.tfds_data_dir or None)
  if dataset.num_train < config.batch_size * config.d_steps:
    raise UserError(f"the data set has {dataset.num_train} images, fewer than one step's "
                    f"{config.batch_size * config.d_steps}; lower --config.batch_size")
  gan = setup(config, dataset.image_shape)
  resuming, changes = prepare_workdir(workdir, config, allow_config_change)
  is_main = jax.process_index() == 0

  os.makedirs(workdir, exist_ok=True)
  checkpointer = checkpointing.Checkpointer(workdir, keep=config.keep_checkpoints)
  try:
    state = gan.init_state()
    if checkpointer.latest_step() is not None:
      state = checkpointer.restore(target=state)
    start = int(state.step)
    if is_main:
      if not resuming:  # data.json first: config.json marks a workdir as holding a run.
        _write_json_atomically(os.path.join(workdir, "data.json"), {
            "dataset": dataset.name, "image_shape": list(dataset.image_shape),
            "num_train": dataset.num_train, "num_test": int(dataset.test_images.shape[0])})
        _write_json_atomically(os.path.join(workdir, "config.json"), _config_to_json(config))
      else:
        _truncate_metrics(workdir, start)
        if changes:
          with open(os.path.join(workdir, "config_changes.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": start, "changes": changes}) + "\n")
          _write_json_atomically(os.path.join(workdir, "config.json"), _config_to_json(config))
          print(f"Changing {sorted(changes)} from step {start} on (--allow_config_change).",
                flush=True)
      if start:
        print(f"Resuming {workdir} from step {start}.", flush=True)
    return _train_loop(config, workdir, gan, dataset, state, checkpointer, hooks, is_main)
  finally:
    checkpointer.close()


_BARRIERS = itertools.count()


def _train_loop(config, workdir, gan, dataset, state, checkpointer, hooks, is_main):
  """The steps of `train_and_evaluate`, from `state.step` to `config.num_steps`."""
  start = int(state.step)
  batches = data.BatchSource(dataset.train_images, batch_size=config.batch_size,
                             d_steps=config.d_steps, seed=config.seed,
                             process_index=jax.process_index(),
                             process_count=jax.process_count())
  writer = MetricWriter(workdir) if is_main else None
  if hooks is None:
    hooks = hooks_lib.default_hooks(config, dataset, gan)
  # The first step whose update was not finite (-1: none), kept on device so that
  # checking it costs a host round trip only where the loop syncs anyway.
  first_nonfinite = parallel.replicate(jnp.array(-1, jnp.int32), gan.mesh)

  def check_finite() -> None:
    if config.on_nonfinite != "stop":
      return
    bad_step = int(first_nonfinite)
    if bad_step >= 0:
      last = checkpointer.latest_step()
      kept = (f"the last good checkpoint, step {last} in {checkpointer.directory}, is kept"
              if last is not None else "no checkpoint was saved before it")
      raise NonFiniteError(
          f"non-finite loss or parameters at step {bad_step}; the run stopped and {kept}; "
          f"lower the learning rates, or rerun with --config.on_nonfinite=skip_step to skip "
          f"such steps")

  def save_checkpoint(step: int) -> None:
    check_finite()  # Never save a non-finite state.
    if checkpointer.latest_step() != step:
      checkpointer.save(step, state)

  def save_samples(step: int) -> None:
    check_finite()
    # Every process runs the computation; process 0 writes.
    samples = gan.generate(state, gan.sample_noise)
    if not is_main:
      return
    samples = np.asarray(jax.device_get(samples))
    images.save_grid(samples, os.path.join(workdir, "samples", f"step_{step:06d}.png"))
    writer.write_image(step, "samples", images.make_grid(samples))

  steps_per_call = config.get("steps_per_call", 1)
  if start % steps_per_call:
    raise UserError(f"the checkpoint is at step {start}, not a multiple of "
                    f"--config.steps_per_call={steps_per_call}; resume with the run's own "
                    f"steps_per_call")

  def global_batch(step: int) -> jax.Array:
    """The batch of `step`, or with steps_per_call k > 1 the block of steps [step, step + k)."""
    if steps_per_call == 1:
      return gan.shard_batch(batches(step))
    return gan.shard_block(np.stack([batches(s) for s in range(step, step + steps_per_call)]))

  train_step = gan.train_step if steps_per_call == 1 else gan.multi_step
  if jax.process_count() > 1 and start < config.num_steps:
    # Compile before the first step, then meet: every process then reaches the first
    # collective of the step within moments of the others.
    train_step = train_step.lower(state, global_batch(start), gan.train_key).compile()
    parallel.barrier(f"gan.train:compiled:{next(_BARRIERS)}")

  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
  progress = tqdm(total=config.num_steps, initial=start, unit="step", dynamic_ncols=True,
                  disable=not (is_main and config.progress_bar))
  buffer, buffered_steps, tick = [], 0, time.perf_counter()
  stop_requests = _StopRequests(multiprocess=jax.process_count() > 1)
  try:
    with stop_requests:
      for step in range(start, config.num_steps, steps_per_call):
        state, metrics = train_step(state, global_batch(step), gan.train_key)
        first_nonfinite = _first_nonfinite(first_nonfinite, metrics["nonfinite"], step)
        done = step + steps_per_call
        progress.update(steps_per_call)
        if config.log_every:
          buffer.append(metrics)
          buffered_steps += steps_per_call
          if done % config.log_every == 0 or done == config.num_steps:
            check_finite()
            means = _mean_metrics(buffer)
            now = time.perf_counter()
            means["steps_per_sec"] = buffered_steps / (now - tick)
            buffer, buffered_steps, tick = [], 0, now
            if is_main:
              writer.write(done, means)
              if means["skipped_steps"]:
                progress.write(f"Skipped {means['skipped_steps']} non-finite step(s) of the "
                               f"last log window, up to step {done} "
                               f"(--config.on_nonfinite=skip_step).")
            progress.set_postfix(d_loss=f"{means['d_loss']:.3f}",
                                 g_loss=f"{means['g_loss']:.3f}", refresh=False)
        for hook in hooks:
          if hook.every and done % hook.every == 0:
            check_finite()
            values = hook(done, state)
            if is_main and values:
              writer.write(done, values)
        if config.sample_every and done % config.sample_every == 0:
          save_samples(done)
        if config.checkpoint_every and done % config.checkpoint_every == 0:
          save_checkpoint(done)
        if stop_requests.reached(done):
          save_checkpoint(done)
          name = signal.Signals(stop_requests.signum).name
          raise RunInterrupted(
              f"{name} at step {done}: saved checkpoint {done} in {checkpointer.directory}; "
              f"run the same command again to resume", signum=stop_requests.signum, step=done)

      final = int(state.step)
      save_checkpoint(final)
      if not (config.sample_every and final % config.sample_every == 0 and final > start):
        save_samples(final)
  finally:
    progress.close()
    if writer is not None:
      writer.close()
  return state
