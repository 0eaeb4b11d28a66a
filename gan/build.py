"""The builder: one function turns a config into what a run needs.

`build(config)` validates the config (once: this is the entry point), opens the data,
asks the config's task (`gan.tasks`) for its pure functions, derives the run's keys,
and compiles, for the devices of the mesh and with the platform's backend
(`gan.backends`):

  init      init_key -> the step-0 state, replicated over the mesh;
  step      (state, batch, keys) -> (state, metrics): `run.steps_per_call` guarded
            task steps in one call (`lax.scan`), the state donated; with
            `run.num_seeds` > 1, vmapped over a leading seed axis (metrics: means
            over the seeds);
  generate  (state, inputs) -> samples, in inference mode.

Every program of every task is built here, so every experiment, lab, benchmark and
notebook trains the same programs (through `gan.program.train`, or step by step with
`Run.step` in a notebook).

Keys. `jax.random.key(seed)` is split once into `init`, `train` and `sample` keys
(and `data`, for data drawn on the device); several seeds stack one such set per
seed. The task folds the step into the train key, the data source into the data key:
a resumed run needs only the step.
"""

import dataclasses
import functools
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan import backends, faults, parallel, tasks
from gan import config as config_lib
from gan import data as data_lib
from gan.data import clusters
from gan.errors import ConfigError

Array = jax.Array

_SAMPLE_CHUNK = 1000  # Samples per generator call of `Run.sample`.


def run_keys(seed: int, num_seeds: int, device_data: bool) -> dict[str, Array]:
  """The keys of a run: {init, train, sample[, data]} from `jax.random.key(seed)`.

  One seed: `split(key(seed), 3)`, plus a `data` key (4-way split) when the data
  are drawn on the device. Several seeds: the same for each of seed, seed + 1, ...,
  stacked along a leading axis.
  """
  names = ("init", "train", "sample") + (("data",) if device_data else ())
  if num_seeds == 1:
    keys = jax.random.split(jax.random.key(seed), len(names))
    return {name: keys[i] for i, name in enumerate(names)}
  keys = jnp.stack([jax.random.split(jax.random.key(seed + s), len(names))
                    for s in range(num_seeds)])
  return {name: keys[:, i] for i, name in enumerate(names)}


def repeat_step(one_step: Callable, length: int, *, unroll: int | bool = 1,
                batch_per_step: bool = True) -> Callable:
  """`length` consecutive steps in one call, by `jax.lax.scan`: the one device-side loop.

  repeat(state, batch, keys) = (state_n, metrics), with state_0 = state and
  (state_{i+1}, m_i) = one_step(state_i, batch_i, keys); `metrics` stacks the m_i
  along a new leading axis. `batch_i` is `batch[i]` (one batch per step along the
  leading axis: host data) or, with `batch_per_step=False`, `batch` itself (device
  arrays the step draws its batch from). Keys come from each state's step, so the
  result is that of `length` separate calls up to float rounding (XLA may fuse the
  combined program differently).

  Args:
    one_step: `(state, batch, keys) -> (state, metrics)`.
    length: steps per call.
    unroll: `jax.lax.scan`'s unroll (the backend's choice, `scan_unroll`).
    batch_per_step: see above.
  """
  if not isinstance(length, int) or length < 1:
    raise ValueError(f"length={length!r} must be a positive int")

  def repeat(state, batch, keys):
    if batch_per_step:
      sizes = {x.shape[0] for x in jax.tree.leaves(batch)}
      if sizes != {length}:
        raise ValueError(f"the block holds {sorted(sizes)} steps along axis 0; this call "
                         f"takes {length}")
      return jax.lax.scan(lambda s, b: one_step(s, b, keys), state, batch, unroll=unroll)
    return jax.lax.scan(lambda s, _: one_step(s, batch, keys), state, None, length=length,
                        unroll=unroll)
  return repeat


def has_convolutions(fn: Callable, *args) -> bool:
  """Whether tracing `fn(*args)` (abstract values are fine) meets a convolution."""
  def walk(jaxpr) -> bool:
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "conv_general_dilated":
        return True
      for value in eqn.params.values():
        for sub in (value if isinstance(value, (tuple, list)) else (value,)):
          inner = getattr(sub, "jaxpr", sub)
          if hasattr(inner, "eqns") and walk(inner):
            return True
    return False
  return walk(jax.make_jaxpr(fn)(*args).jaxpr)


@dataclasses.dataclass
class Run:
  """What a run needs, compiled for its mesh: see the module docstring.

  Attributes:
    config: the validated config.
    task: the task's pure functions (`gan.tasks.Task`).
    spec: what the data are (`gan.data.DataSpec`).
    data: the loaded data (`ImageDataset`, `MixtureData`, ...), or None for a run
      restored from its workdir without its data.
    batches: the batch source (`gan.data.HostBatches` / `DeviceBatches`), or None.
    mesh: the data-parallel mesh.
    backend: the platform's backend (`gan.backends`).
    keys: the run's keys (`run_keys`).
    init: jitted `init_key -> state` (keys (S,) -> states (S, ...) with several seeds).
    generate: jitted `(state, inputs) -> samples` of one seed's state, or None.
    generate_per_seed: with several seeds, jitted `(states, inputs) -> samples`
      vmapped over the leading seed axis of both; else None.
  """

  config: ml_collections.ConfigDict
  task: tasks.Task
  spec: data_lib.DataSpec
  data: Any
  batches: Any
  mesh: jax.sharding.Mesh
  backend: Any
  keys: dict[str, Array]
  init: Callable[[Array], Any]
  generate: Optional[Callable[[Any, dict], Array]]
  generate_per_seed: Optional[Callable[[Any, dict], Array]] = None
  _step: Optional[Callable] = None
  _device_arrays: Optional[dict] = None

  @property
  def steps_per_call(self) -> int:
    return self.config.run.steps_per_call

  @property
  def num_seeds(self) -> int:
    return self.config.run.num_seeds

  @property
  def step_keys(self) -> dict[str, Array]:
    """The keys the step takes: `train`, and `data` for data drawn on the device."""
    return {k: v for k, v in self.keys.items() if k in ("train", "data")}

  def init_state(self) -> Any:
    """The step-0 state, replicated over the mesh."""
    return self.init(self.keys["init"])

  def abstract_state(self) -> Any:
    """The step-0 state's shapes, dtypes and shardings, traced, neither compiled nor
    computed: the target a checkpoint is restored into (a resumed or restored run
    never initialises the networks it is about to overwrite)."""
    return jax.eval_shape(self.init, self.keys["init"])

  # ------------------------------------------------------------------ the step

  def batch(self, step: int) -> dict[str, Array]:
    """The global batch of steps [step, step + steps_per_call), as the step takes it.

    Host data: this process's rows of each step, assembled into global arrays
    (leading axis: the steps of the block when steps_per_call > 1). Data drawn on
    the device: the source's device arrays (the step draws the batch itself).
    """
    if self.batches is None:
      raise ValueError("this run was restored without its data; build it with its data set")
    if self.batches.on_device:
      if self._device_arrays is None:
        self._device_arrays = parallel.replicate(self.batches.arrays, self.mesh)
      return self._device_arrays
    k = self.steps_per_call
    if k == 1:
      return self.shard(self.batches(step))
    local = [self.batches(s) for s in range(step, step + k)]
    return self.shard({name: np.stack([b[name] for b in local]) for name in local[0]},
                      block=True)

  def shard(self, local: dict[str, np.ndarray], *, block: bool = False) -> dict[str, Array]:
    """This process's rows of a batch -> the global batch the step takes.

    `local` holds (sub_batches, local B, ...) arrays, or with `block` (steps,
    sub_batches, local B, ...) for a call of several steps.
    """
    return {name: parallel.global_batch(v, self.mesh, batch_axis=2 if block else 1)
            for name, v in local.items()}

  @property
  def compiled_step(self) -> Callable:
    """The jitted `(state, batch, keys) -> (state, metrics)` (built on first use)."""
    if self._step is None:
      self._step = _build_step(self)
    return self._step

  def step(self, state: Any, batch: dict[str, Array]) -> tuple[Any, dict[str, Array]]:
    """`steps_per_call` steps from `state` on `batch` (`Run.batch`); the state is donated."""
    return self.compiled_step(state, batch, self.step_keys)

  # --------------------------------------------------------------- sampling

  def sample(self, state: Any, num: int, key: Array, *, label: Optional[int] = None
             ) -> np.ndarray:
    """`num` samples as numpy, drawn in chunks of 1000 from `fold_in(key, i)`; with
    `label` (a conditional task), every sample of that class."""
    out = []
    for i, start in enumerate(range(0, num, _SAMPLE_CHUNK)):
      inputs = self.task.sample_inputs(jax.random.fold_in(key, i),
                                       min(_SAMPLE_CHUNK, num - start))
      if label is not None:
        inputs["label"] = np.full((inputs["z"].shape[0],), label, np.int32)
      out.append(np.asarray(self.generate(state, inputs)))
    return np.concatenate(out)

  def grid_inputs(self, num: int) -> dict:
    """The fixed inputs of the sample grids: from the data where the task previews data
    (held-out sources of a translation task), else from the run's (first seed's) sample
    key."""
    if self.task.data_preview is not None:
      if self.data is None:
        raise ValueError("this run was restored without its data; build it with its data set")
      return parallel.replicate(self.task.data_preview(self.data, num), self.mesh)
    key = self.keys["sample"] if self.num_seeds == 1 else self.keys["sample"][0]
    return parallel.replicate(self.task.grid_inputs(key, num), self.mesh)

  def grid_images(self, state: Any, inputs: dict) -> Any:
    """The images of a sample grid: the outputs for `inputs`, laid out by the task."""
    outputs = self.generate(self.first_seed(state), inputs)
    layout = self.task.grid_layout
    return outputs if layout is None else layout(inputs, outputs)

  def first_seed(self, state: Any) -> Any:
    """The state of the first seed (the state itself for a one-seed run)."""
    return state if self.num_seeds == 1 else jax.tree.map(lambda x: x[0], state)


def _lowered(backend, fn: Callable) -> Callable:
  """`fn`, traced inside the backend's lowering."""
  @functools.wraps(fn)
  def traced(*args, **kwargs):
    with backend.lowering():
      return fn(*args, **kwargs)
  return traced


def _build_step(run: Run) -> Callable:
  """The guarded, jitted step of `run` (see the module docstring)."""
  config, task, batches = run.config, run.task, run.batches
  guarded = faults.guard_nonfinite(task.step, skip=config.run.on_nonfinite == "skip_step",
                                   debug_nan_step=config.run.debug_nan_step)
  on_device = run.spec.drawn_on_device

  def one_step(state, batch, keys):
    if on_device:
      batch = batches.draw(batch, keys["data"], state.step)
    return guarded(state, batch, keys["train"])

  k = config.run.steps_per_call
  fn = one_step
  if k > 1:
    abstract = _abstract_step_args(run)
    unroll = run.backend.scan_unroll(has_convolutions(_lowered(run.backend, one_step),
                                                      *abstract))
    fn = repeat_step(one_step, k, unroll=unroll, batch_per_step=not on_device)

  if run.num_seeds > 1:
    per_seed = jax.vmap(fn, in_axes=(0, None, 0))

    def fn(state, batch, keys):  # pylint: disable=function-redefined
      state, metrics = per_seed(state, batch, keys)
      # Logged as means over the seeds; a step is non-finite if any seed's is.
      means = {k: jnp.mean(v, axis=0) for k, v in metrics.items() if k != "nonfinite"}
      return state, {**means, "nonfinite": jnp.max(metrics["nonfinite"], axis=0)}

  replicated = parallel.replicated(run.mesh)
  return jax.jit(_lowered(run.backend, fn), donate_argnums=0,
                 out_shardings=(replicated, replicated),
                 compiler_options=run.backend.compiler_options())


def _abstract_step_args(run: Run) -> tuple:
  """Shapes of one step's (state, batch, keys), for tracing without data or compute."""
  state = run.abstract_state()
  if run.num_seeds > 1:
    state = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape[1:], s.dtype), state)
  lead = (run.task.sub_batches, run.config.batch_size)
  if run.spec.drawn_on_device:
    batch = run.batches.arrays
  elif run.batches is not None:
    batch = {name: jax.ShapeDtypeStruct(lead + tuple(v.shape[1:]), v.dtype)
             for name, v in run.batches.arrays.items()}
  else:  # No data: the shapes the data would have.
    batch = {"image": jax.ShapeDtypeStruct(lead + tuple(run.spec.shape), jnp.uint8)}
    if "label" in run.task.batch_fields:
      batch["label"] = jax.ShapeDtypeStruct(lead, jnp.int32)
  keys = {k: v if run.num_seeds == 1 else v[0] for k, v in run.step_keys.items()}
  return state, batch, keys


def build(config: ml_collections.ConfigDict, data: Any = None, *,
          mesh: Optional[jax.sharding.Mesh] = None) -> Run:
  """Everything a run of `config` needs: data, task, keys and compiled programs.

  Args:
    config: a config derived from `gan.config.base_config()`; validated here (its
      shared fields by `gan.config.validate`, the task's by `check_config`).
    data: the run's data, loaded (`gan.data.load`), or a `gan.data.DataSpec` for a
      run restored without its data (no batches, no step); None loads
      `config.dataset`.
    mesh: the device mesh (default: one `data` axis over every device).

  Returns:
    The `Run`.
  """
  config_lib.validate(config)
  task_module = tasks.get(config.task)
  task_module.check_config(config)
  mesh = parallel.create_mesh() if mesh is None else mesh
  parallel.check_batch_size(config.batch_size, mesh)
  if data is None:
    data = data_lib.load(config.dataset, tfds_data_dir=config.data.tfds_data_dir or None)
  num_clusters = config.data.cluster_labels
  if isinstance(data, data_lib.DataSpec):
    spec = data
  elif num_clusters:
    data = clusters.with_cluster_labels(data, num_clusters, config.seed)
    spec = data_lib.spec_of(data)
    spec = dataclasses.replace(spec, label_frequencies=clusters.label_frequencies(
        data.train_labels, spec.num_classes))
  else:
    spec = data_lib.spec_of(data)
  task = task_module.make(config, spec)
  if num_clusters and "label" not in task.batch_fields:
    raise ConfigError("data.cluster_labels", num_clusters, f"gives the images labels, and task "
                      f"{config.task} takes none; use a conditional task (conditional_gan) "
                      f"or 0")
  batches = None
  if not isinstance(data, data_lib.DataSpec):
    batches = data_lib.batches_for(data, fields=task.batch_fields,
                                   batch_size=config.batch_size, sub_batches=task.sub_batches,
                                   seed=config.seed, process_index=jax.process_index(),
                                   process_count=jax.process_count())
  data_on_device = spec.drawn_on_device
  num_seeds = config.run.num_seeds
  if num_seeds > 1 and not data_on_device:
    raise ConfigError("run.num_seeds", num_seeds, "needs data drawn on the device "
                      "(config.dataset='mixture:grid', 'mixture:ring' or "
                      "'stacked_mnist:PATH'); train other data sets one seed per run")
  backend = backends.for_platform(mesh.devices.flat[0].platform, config.run.backend)
  backend.prepare()
  keys = run_keys(config.seed, num_seeds, data_on_device)
  replicated = parallel.replicated(mesh)
  options = backend.compiler_options()

  def init(key):
    state = task.init(key)
    # Strong types, as a restored checkpoint has: the same step program serves both.
    return jax.tree.map(lambda x: jax.lax.convert_element_type(x, jnp.result_type(x)), state)

  init_fn = jax.vmap(init) if num_seeds > 1 else init
  generate = per_seed = None
  if task.generate is not None:
    generate = jax.jit(_lowered(backend, task.generate), out_shardings=replicated,
                       compiler_options=options)
    if num_seeds > 1:
      per_seed = jax.jit(_lowered(backend, jax.vmap(task.generate)), out_shardings=replicated,
                         compiler_options=options)
  return Run(config=config, task=task, spec=spec,
             data=None if isinstance(data, data_lib.DataSpec) else data, batches=batches,
             mesh=mesh, backend=backend, keys=keys,
             init=jax.jit(_lowered(backend, init_fn), out_shardings=replicated),
             generate=generate, generate_per_seed=per_seed)
