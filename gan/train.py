"""The training loop: config -> data + state -> jitted step -> logs, samples, checkpoints.

`train_and_evaluate(config, workdir)` is what every experiment module calls. It
resumes from the newest checkpoint in `workdir`, and because the state holds
everything that changes (step, both players' params, BatchNorm statistics and Adam
states, EMA) while keys and batches are pure functions of (seed, step), a resumed
run is bit for bit the run that was never interrupted.

`GANSetup` is the same machinery without a workdir, for notebooks and tests.
"""

import dataclasses
import json
import os
import time
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan import checkpointing, config as config_lib, data, hooks as hooks_lib, images, losses
from gan import models, parallel
from gan.errors import UserError
from gan.state import GANState, create_state, generate, make_optimizer
from gan.train_step import StepConfig, make_train_step
from gan.writers import MetricWriter, read_metrics


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
    train_step: jitted `(state, batch, train_key) -> (state, metrics)`, state donated.
    generate: jitted `(state, z) -> images`, inference mode, EMA weights if any.
  """

  config: ml_collections.ConfigDict
  image_shape: tuple[int, int, int]
  generator: Any
  discriminator: Any
  mesh: jax.sharding.Mesh
  init_key: jax.Array
  train_key: jax.Array
  sample_noise: jax.Array
  train_step: Callable[..., Any]
  generate: Callable[..., Any]

  def init_state(self) -> GANState:
    """The step-0 state, replicated over the mesh."""
    c = self.config
    state = create_state(
        generator=self.generator, discriminator=self.discriminator, key=self.init_key,
        noise_dim=c.noise_dim, image_shape=self.image_shape,
        g_optimizer=make_optimizer(c.g_lr, c.beta1, c.beta2),
        d_optimizer=make_optimizer(c.d_lr, c.beta1, c.beta2),
        use_ema=c.ema_decay > 0)
    return parallel.replicate(state, self.mesh)

  def shard_batch(self, local_batch: np.ndarray) -> jax.Array:
    """This process's rows of a (d_steps, B, H, W, C) batch -> the global batch."""
    return parallel.global_batch(local_batch, self.mesh)


def setup(config: ml_collections.ConfigDict, image_shape: tuple[int, int, int],
          mesh: Optional[jax.sharding.Mesh] = None) -> GANSetup:
  """Builds models, keys and the jitted step for `config` (validated here)."""
  config_lib.validate(config)
  mesh = parallel.create_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  generator, discriminator = models.build(
      config.model, image_shape=image_shape, g_widths=config.g_widths,
      d_widths=config.d_widths, dropout_rate=config.dropout_rate, conv_impl=config.conv_impl)
  step_config = StepConfig(
      loss=losses.get_loss(config.loss), penalty=losses.get_penalty(config.penalty),
      penalty_weight=float(config.penalty_weight), d_steps=config.d_steps,
      noise_dim=config.noise_dim, ema_decay=float(config.ema_decay))
  init_key, train_key, sample_key = jax.random.split(jax.random.key(config.seed), 3)
  sample_noise = jax.random.normal(sample_key, (config.num_sample_images, config.noise_dim))
  replicated = parallel.replicated(mesh)
  train_step = jax.jit(make_train_step(step_config), donate_argnums=0,
                       out_shardings=(replicated, replicated))
  return GANSetup(config=config, image_shape=tuple(image_shape), generator=generator,
                  discriminator=discriminator, mesh=mesh, init_key=init_key,
                  train_key=train_key, sample_noise=parallel.replicate(sample_noise, mesh),
                  train_step=train_step,
                  generate=jax.jit(generate, out_shardings=replicated))


# ---------------------------------------------------------------------------- workdir


def _config_to_json(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort(sort_keys=True))


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in `workdir/config.json`."""
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise UserError(f"{workdir!r} holds no run (no config.json); point --workdir at a "
                    f"directory a training run wrote")
  try:
    with open(path, encoding="utf-8") as f:
      values = json.load(f)
  except (OSError, json.JSONDecodeError) as error:
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


def prepare_workdir(workdir: str, config: ml_collections.ConfigDict) -> bool:
  """Checks that `workdir` can hold this run; returns True when it resumes one.

  Nothing is written here when the run cannot go on: a workdir that is a file, is
  not writable, or holds a run with another model, data or loss is refused.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"--workdir={workdir!r} is a file; give a directory path")
  config_path = os.path.join(workdir, "config.json")
  resuming = os.path.isfile(config_path)
  if resuming:
    saved = _config_to_json(load_run_config(workdir))
    changed = _changed_fields(saved, _config_to_json(config))
    if changed:
      details = ", ".join(f"{k}: {saved.get(k)!r} -> {_config_to_json(config).get(k)!r}"
                          for k in changed)
      raise UserError(f"{workdir!r} holds a run with a different config ({details}); use a "
                      f"fresh --workdir, or set those fields back to resume")
  parent = os.path.dirname(os.path.abspath(workdir))
  probe = workdir if os.path.isdir(workdir) else parent
  if not os.access(probe, os.W_OK | os.X_OK):
    raise UserError(f"--workdir={workdir!r} is not writable; choose a directory you can write")
  return resuming


def _truncate_metrics(workdir: str, step: int) -> None:
  """Drops records past `step`, written before a crash that lost their checkpoint."""
  records = read_metrics(workdir)
  kept = [r for r in records if r["step"] <= step]
  if len(kept) != len(records):
    tmp = os.path.join(workdir, "metrics.jsonl.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(tmp, os.path.join(workdir, "metrics.jsonl"))


def restore_run(workdir: str, step: Optional[int] = None) -> tuple[GANSetup, GANState]:
  """The setup and the state of checkpoint `step` (default newest) of the run in `workdir`."""
  config = load_run_config(workdir)
  try:
    with open(os.path.join(workdir, "data.json"), encoding="utf-8") as f:
      image_shape = tuple(json.load(f)["image_shape"])
  except (OSError, KeyError, ValueError) as error:
    raise UserError(f"{workdir!r} has no readable data.json; it was not written by "
                    f"gan.train, or is damaged") from error
  gan = setup(config, image_shape)
  checkpointer = checkpointing.Checkpointer(workdir, create=False)
  state = checkpointer.restore(step, target=gan.init_state())
  checkpointer.close()
  return gan, state


# ------------------------------------------------------------------------- the loop


def _mean_metrics(buffer: list[dict]) -> dict[str, float]:
  stacked = jax.device_get(buffer)
  return {k: float(np.mean([m[k] for m in stacked])) for k in stacked[0]}


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       hooks: Optional[list[hooks_lib.Hook]] = None) -> GANState:
  """Trains (or resumes) the run in `workdir` up to `config.num_steps`; returns the state.

  Writes `config.json`, Orbax checkpoints under `checkpoints/`, PNG sample grids
  from a fixed noise batch under `samples/`, `metrics.jsonl` and TensorBoard events.
  `hooks` (default: `gan.hooks.default_hooks`, from the config's `eval_every` and
  `diagnostics_every`) are called every `hook.every` steps; what they return is
  logged with the losses.
  """
  config_lib.validate(config)
  dataset = data.load_dataset(config.dataset, tfds_data_dir=config.tfds_data_dir or None)
  if dataset.num_train < config.batch_size * config.d_steps:
    raise UserError(f"the data set has {dataset.num_train} images, fewer than one step's "
                    f"{config.batch_size * config.d_steps}; lower --config.batch_size")
  gan = setup(config, dataset.image_shape)
  resuming = prepare_workdir(workdir, config)
  is_main = jax.process_index() == 0

  os.makedirs(workdir, exist_ok=True)
  if is_main and not resuming:
    with open(os.path.join(workdir, "data.json"), "w", encoding="utf-8") as f:
      json.dump({"dataset": dataset.name, "image_shape": list(dataset.image_shape),
                 "num_train": dataset.num_train, "num_test": int(dataset.test_images.shape[0])},
                f, indent=2)
    with open(os.path.join(workdir, "config.json"), "w", encoding="utf-8") as f:
      json.dump(_config_to_json(config), f, indent=2, sort_keys=True)
  checkpointer = checkpointing.Checkpointer(workdir, keep=config.keep_checkpoints)
  state = gan.init_state()
  if checkpointer.latest_step() is not None:
    state = checkpointer.restore(target=state)
  start = int(state.step)
  if is_main and start:
    _truncate_metrics(workdir, start)
    print(f"Resuming {workdir} from step {start}.", flush=True)

  batches = data.BatchSource(dataset.train_images, batch_size=config.batch_size,
                             d_steps=config.d_steps, seed=config.seed,
                             process_index=jax.process_index(),
                             process_count=jax.process_count())
  writer = MetricWriter(workdir) if is_main else None
  if hooks is None:
    hooks = hooks_lib.default_hooks(config, dataset, gan)

  def save_samples(step: int) -> None:
    if not is_main:
      return
    samples = np.asarray(jax.device_get(gan.generate(state, gan.sample_noise)))
    path = images.save_grid(samples, os.path.join(workdir, "samples", f"step_{step:06d}.png"))
    writer.write_image(step, "samples", images.make_grid(samples))
    del path

  from tqdm.auto import tqdm  # pylint: disable=g-import-not-at-top
  progress = tqdm(total=config.num_steps, initial=start, unit="step", dynamic_ncols=True,
                  disable=not (is_main and config.progress_bar))
  buffer, tick = [], time.perf_counter()
  try:
    for step in range(start, config.num_steps):
      batch = gan.shard_batch(batches(step))
      state, metrics = gan.train_step(state, batch, gan.train_key)
      buffer.append(metrics)
      done = step + 1
      progress.update(1)
      if config.log_every and (done % config.log_every == 0 or done == config.num_steps):
        means = _mean_metrics(buffer)
        now = time.perf_counter()
        means["steps_per_sec"] = len(buffer) / (now - tick)
        buffer, tick = [], now
        if is_main:
          writer.write(done, means)
        progress.set_postfix(d_loss=f"{means['d_loss']:.3f}", g_loss=f"{means['g_loss']:.3f}",
                             refresh=False)
      for hook in hooks:
        if hook.every and done % hook.every == 0:
          values = hook(done, state)
          if is_main and values:
            writer.write(done, values)
      if config.sample_every and done % config.sample_every == 0:
        save_samples(done)
      if config.checkpoint_every and done % config.checkpoint_every == 0:
        checkpointer.save(done, state)
  finally:
    progress.close()

  final = int(state.step)
  if checkpointer.latest_step() != final:
    checkpointer.save(final, state)
  if is_main and not (config.sample_every and final % config.sample_every == 0 and final > start):
    save_samples(final)
  checkpointer.close()
  if writer is not None:
    writer.close()
  return state
