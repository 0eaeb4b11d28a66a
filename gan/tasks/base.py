"""The `Task` record: the pure functions of one kind of model (see `gan.tasks`)."""

import dataclasses
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp

Array = jax.Array
State = Any
Batch = dict[str, Array]


@dataclasses.dataclass(frozen=True)
class Task:
  """The pure functions of one kind of model.

  Attributes:
    name: the task's name in `TASKS`.
    init: `init(key) -> state`, the step-0 state (a pytree with a `step` field).
    step: `step(state, batch, key) -> (state, metrics)`, pure; `key` is the run's
      constant key (the step folds `state.step` into it), `metrics` scalars.
    batch_fields: the named arrays a batch holds (`gan.data` fills them); each has
      shape (sub_batches, B, ...).
    sub_batches: batches a step consumes (a GAN's discriminator updates per step).
    generate: `generate(state, inputs) -> samples` in inference mode, or None for a
      task that does not generate.
    sample_inputs: `sample_inputs(key, n) -> inputs` of `generate` for n samples.
    preview_inputs: the fixed inputs of the sample grids, `(key, n) -> inputs`
      (default `sample_inputs`; a conditional task lays out one row per class).
    data_preview: `(data, n) -> inputs` of the grids taken from the loaded data (a
      translation task shows held-out sources), or None (inputs from the key).
    grid_layout: `(inputs, outputs) -> images` of the grid (a translation task lays
      out source, output and target in a row), or None (the outputs themselves).
    grid_columns: columns of the sample grids (0: a square grid).
    reconstruct: `reconstruct(state, inputs) -> images` for a task with an encoder (the
      VAE and the autoencoder): inputs {"image": float images in [-1, 1], and "label"
      for a conditional task}, outputs the decoder's mean image for the encoder's mean
      latent, in [-1, 1]; None for a task without an encoder.
    progress: the metrics the progress bar shows.
    parts: the task's modules and settings, by name (`generator`, `loss`, ...), for
      tools that look inside a model (diagnostics).
  """

  name: str
  init: Callable[[Array], State]
  step: Callable[[State, Batch, Array], tuple[State, dict[str, Array]]]
  batch_fields: tuple[str, ...] = ("image",)
  sub_batches: int = 1
  generate: Optional[Callable[[State, dict], Array]] = None
  sample_inputs: Optional[Callable[[Array, int], dict]] = None
  preview_inputs: Optional[Callable[[Array, int], dict]] = None
  data_preview: Optional[Callable[[Any, int], dict]] = None
  grid_layout: Optional[Callable[[dict, Array], Array]] = None
  grid_columns: int = 0
  reconstruct: Optional[Callable[[State, dict], Array]] = None
  progress: tuple[str, ...] = ()
  parts: dict[str, Any] = dataclasses.field(default_factory=dict)

  def grid_inputs(self, key: Array, n: int) -> dict:
    """The inputs of a sample grid of n samples (`preview_inputs`, else `sample_inputs`)."""
    return (self.preview_inputs or self.sample_inputs)(key, n)


def class_grid_columns(n: int, num_classes: int) -> int:
  """Columns of a conditional grid of n samples: n // num_classes (one row per class)
  when every class gets at least two, else 0 (a square grid)."""
  return n // num_classes if num_classes and n >= 2 * num_classes else 0


def latent_inputs(noise_dim: int, num_classes: int = 0,
                  label_frequencies: Sequence[float] = ()
                  ) -> tuple[Callable[[Array, int], dict], Optional[Callable[[Array, int], dict]]]:
  """`(sample_inputs, preview_inputs)` of a task that generates from z ~ N(0, I_noise_dim).

  sample_inputs(key, n) = {"z": normal(key, (n, noise_dim))}, plus for a conditional task
  (num_classes > 0) "label" drawn from fold_in(key, 1): uniform over the classes, or at
  `label_frequencies` where given (cluster labels, whose sizes differ: samples then
  follow the data's mix as the training fakes do); preview_inputs (conditional only,
  else None): one row per class, as many columns as fit in n, when every class gets two
  or more; else (many classes, as k-means clusters have) n samples whose labels cycle
  through the classes, for a square grid (`class_grid_columns`).
  """
  log_frequencies = None
  if num_classes and label_frequencies:
    log_frequencies = jnp.log(jnp.asarray(label_frequencies, jnp.float32))

  def sample_inputs(key: Array, n: int) -> dict:
    inputs = {"z": jax.random.normal(key, (n, noise_dim))}
    if log_frequencies is not None:
      inputs["label"] = jax.random.categorical(jax.random.fold_in(key, 1), log_frequencies,
                                               shape=(n,)).astype(jnp.int32)
    elif num_classes:
      inputs["label"] = jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, num_classes)
    return inputs

  def preview_inputs(key: Array, n: int) -> dict:
    if not class_grid_columns(n, num_classes):
      return {"z": jax.random.normal(key, (n, noise_dim)),
              "label": jnp.arange(n, dtype=jnp.int32) % num_classes}
    per_class = max(1, n // num_classes)
    return {"z": jax.random.normal(key, (per_class * num_classes, noise_dim)),
            "label": jnp.repeat(jnp.arange(num_classes), per_class)}

  return sample_inputs, (preview_inputs if num_classes else None)
