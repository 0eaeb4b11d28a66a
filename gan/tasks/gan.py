"""The GAN task, unconditional and label-conditional: `d_steps` D updates, then one G update.

By default the updates alternate: the generator's update sees the discriminator
already updated. `optim.simultaneous` gives simultaneous gradient descent instead
(Mescheder et al. 2017, "The Numerics of GANs"; the update of ALI and of PacGAN's
own code): one fake batch, both losses computed at the current (D, G), both players
updated from those gradients.

`make_train_step(cfg)` returns the pure `train_step(state, batch, key) -> (state,
metrics)`; the program jits it and chooses the shardings. All randomness comes from
`step_keys(key, state.step, d_steps)`: the run's key with the step folded in, split
once into one key per use, so no key is ever used twice and a resumed run draws
exactly what an uninterrupted one would.

Batches: `{"image": (d_steps, B, ...)}`, plus `"label": (d_steps, B)` for the
conditional task (`conditional_gan`), whose players take the label too,
G(z, y) and D(x, y) (`gan.models.conditional`). The fakes of a D update are drawn
for the labels of its real sub-batch, so generated labels follow the data's.
"""

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan import augment as augment_lib
from gan import config as config_lib
from gan import losses as losses_lib
from gan import models
from gan.data import DataSpec
from gan.errors import ConfigError
from gan.images import to_float
from gan.losses import GANLoss
from gan.models import latent as latent_lib
from gan.state import GANState, PlayerState, create_state, generate, learning_rate, make_optimizer
from gan.tasks.base import Task, class_grid_columns, latent_inputs

Array = jax.Array

# Uses of randomness in one D update and in the G update.
_D_USES = ("noise", "dropout", "penalty")
_G_USES = ("noise", "dropout")


def step_keys(key: Array, step: Array, d_steps: int, augment: bool = False) -> dict[str, Array]:
  """All keys one step uses, derived from (key, step), each distinct.

  Returns a dict with `d_noise`, `d_dropout`, `d_penalty` (each `d_steps` keys) and
  `g_noise`, `g_dropout` (one key each); with `augment`, also `d_augment` (`d_steps`
  keys) and `g_augment` (a run with augmentation has its own key stream; one without
  draws exactly the keys it drew before augmentation existed).
  """
  d_uses = _D_USES + (("augment",) if augment else ())
  g_uses = _G_USES + (("augment",) if augment else ())
  n_d = len(d_uses) * d_steps
  keys = jax.random.split(jax.random.fold_in(key, step), n_d + len(g_uses))
  d_keys = keys[:n_d].reshape((len(d_uses), d_steps))
  out = {f"d_{use}": d_keys[i] for i, use in enumerate(d_uses)}
  out.update({f"g_{use}": keys[n_d + i] for i, use in enumerate(g_uses)})
  return out


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """What a train step needs besides the state: static for jit.

  Attributes:
    loss: the loss variant (`gan.losses.GANLoss`).
    penalty: a `gan.losses.PENALTIES` function.
    penalty_weight: its weight in the discriminator loss.
    d_steps: discriminator updates per generator update.
    noise_dim: dimension of z ~ N(0, I).
    ema_decay: generator EMA decay; 0 turns the EMA off.
    ema_warmup: the decay at step t is min(ema_decay, (1 + t) / (10 + t)) (TensorFlow's
      ExponentialMovingAverage with num_updates): early on the average follows the
      generator instead of holding its random initial weights for ~1 / (1 - decay) steps.
    simultaneous: update D and G at once from one fake batch, both gradients taken at
      the current parameters (needs d_steps = 1); False alternates.
    conditional: the players take the batch's labels too.
    penalty_every: lazy regularisation (Karras et al. 2020, StyleGAN2): the penalty is
      computed on every k-th step only, with weight k * penalty_weight, so its expected
      contribution is unchanged; 1 computes it every step.
    d_takes_label: D is called as D(x, y) (concatenation, projection); False for an
      auxiliary-classifier D, which predicts the label instead.
    aux_class_weight: ACGAN (Odena et al. 2017): D returns (logits, class_logits) and
      both players add this weight times the auxiliary classifier's cross-entropy
      (`gan.losses.auxiliary_classifier_loss`): D on real and fake, G on fake.
    augment: a DiffAugment policy (`gan.augment`, Zhao et al. 2020), applied to every
      image D sees, real and fake, in both players' updates (and inside the penalty,
      whose gradient is taken through it); "" = none.
    latent_codes: K >= 2 when G takes a discrete code c = code(z_0)
      (`gan.models.latent`); 0 otherwise.
    info_weight: InfoGAN (Chen et al. 2016), with `latent_codes`: D returns (logits,
      code_logits), its head Q predicting the code of a generated image, and both
      players add this weight times Q's cross-entropy on the fakes
      (`gan.losses.mutual_information_loss`); 0 = off.
  """

  loss: GANLoss
  penalty: Callable[..., Array]
  penalty_weight: float
  d_steps: int
  noise_dim: int
  ema_decay: float = 0.0
  ema_warmup: bool = False
  simultaneous: bool = False
  conditional: bool = False
  penalty_every: int = 1
  d_takes_label: bool = True
  aux_class_weight: float = 0.0
  augment: str = ""
  latent_codes: int = 0
  info_weight: float = 0.0


def _sample_fake(g: PlayerState, params, key: Array, batch_size: int, noise_dim: int,
                 cond: tuple):
  """(G(z), G's new BatchNorm statistics, z) for z ~ N(0, I) drawn from `key`."""
  z = jax.random.normal(key, (batch_size, noise_dim), jnp.float32)
  fake, mutated = g.apply_fn({"params": params, "batch_stats": g.batch_stats}, z, *cond,
                             train=True, mutable=["batch_stats"])
  return fake, mutated["batch_stats"], z


def _discriminate(d: PlayerState, params, stats, images: Array, key: Array, cond: tuple, *,
                  update: bool = False):
  """D(x) in training mode: (logits, class_logits or None, D's statistics).

  D's `batch_stats` hold the power-iteration vectors of its spectrally normalised
  layers (empty without them). With `update` the call may change them (one power
  iteration; the step does this once per D update, on the real batch) and returns
  the new ones; otherwise it uses `stats` as they are.
  """
  out = d.apply_fn({"params": params, "batch_stats": stats}, images, *cond, train=True,
                   rngs={"dropout": key}, mutable=["batch_stats"] if update else False)
  if update:
    out, mutated = out
    stats = mutated.get("batch_stats", stats)
  logits, class_logits = out if isinstance(out, tuple) else (out, None)
  return logits, class_logits, stats


def make_train_step(cfg: StepConfig) -> Callable[[GANState, dict, Array],
                                                 tuple[GANState, dict[str, Array]]]:
  """Returns the pure update for `cfg`: alternating, or simultaneous if `cfg.simultaneous`.

  The returned `train_step(state, batch, key)` takes `batch["image"]` of real
  images, shape (d_steps, B, H, W, C), uint8 in [0, 255] or float in [-1, 1] (and
  `batch["label"]`, (d_steps, B) ints, when conditional); `key` is the run's key
  (typed, `jax.random.key`), constant over the run.

  Metrics (scalars): `d_loss` and `penalty` (last D update), `g_loss`, `d_real` =
  mean D(x) and `d_fake` = mean D(G(z)) (sigmoid of the logits, last D update),
  `d_acc_real` / `d_acc_fake` (fraction classified correctly at logit 0),
  `d_grad_norm` and `g_grad_norm` (global L2 norms of the gradients); with an
  auxiliary classifier also `d_class_loss`, `g_class_loss` and `d_class_acc_real`
  (its accuracy on the real labels); with InfoGAN's head also `d_info_loss`,
  `g_info_loss` and `d_info_acc` (Q's accuracy on the codes of D's fakes).
  """
  if cfg.simultaneous and cfg.d_steps != 1:
    raise ConfigError("optim.d_steps", cfg.d_steps, "must be 1 with config.optim.simultaneous="
                      "True (D is updated once per step)")
  acgan = cfg.aux_class_weight > 0
  info = cfg.info_weight > 0
  if info and cfg.latent_codes < 2:
    raise ConfigError("loss.info_weight", cfg.info_weight, "needs config.model.latent_codes "
                      ">= 2 (the discrete code that InfoGAN's head predicts)")
  policy = cfg.augment  # Checked with the config (`check_config`).

  def augmented(images: Array, key) -> Array:
    return augment_lib.diff_augment(key, images, policy) if policy else images

  def d_cond(cond: tuple) -> tuple:
    return cond if cfg.d_takes_label else ()

  def class_loss(class_logits, cond: tuple) -> Array:
    return losses_lib.auxiliary_classifier_loss(class_logits=class_logits, labels=cond[0])

  def codes_of(z: Array) -> Array:
    return latent_lib.code_from_noise(z[:, 0], cfg.latent_codes)

  def info_loss(code_logits, codes: Array) -> Array:
    return losses_lib.mutual_information_loss(code_logits=code_logits, codes=codes)

  def d_metrics_of(loss, penalty, real_logits, fake_logits, grads) -> dict:
    return {
        "d_loss": loss,
        "penalty": penalty,
        "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
        "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
        "d_acc_real": jnp.mean((real_logits > 0).astype(jnp.float32)),
        "d_acc_fake": jnp.mean((fake_logits < 0).astype(jnp.float32)),
        "d_grad_norm": optax.tree.norm(grads),
    }

  def d_objective(d: PlayerState, params, real: Array, fake: Array, cond: tuple, keys,
                  step: Array, penalty_every: int, z: Array):
    """D's loss (plus penalty and auxiliary terms) and what the metrics need; `z` is the
    noise of `fake` (InfoGAN's head predicts its code)."""
    dropout_key, penalty_key, augment_key = keys
    real_key, fake_key, penalty_dropout_key = jax.random.split(dropout_key, 3)
    real_aug_key, fake_aug_key = (jax.random.split(augment_key) if policy
                                  else (None, None))
    # The one power iteration of this update, on the real batch; every later call of
    # this update sees the new vectors.
    real_logits, real_classes, stats = _discriminate(
        d, params, d.batch_stats, augmented(real, real_aug_key), real_key, d_cond(cond),
        update=True)
    fake_logits, fake_classes, _ = _discriminate(
        d, params, stats, augmented(fake, fake_aug_key), fake_key, d_cond(cond))
    loss = cfg.loss.discriminator(real_logits=real_logits, fake_logits=fake_logits)
    penalty_of = lambda: cfg.penalty(
        discriminator_fn=lambda x: _discriminate(
            d, params, stats, augmented(x, real_aug_key), penalty_dropout_key,
            d_cond(cond))[0],
        real_images=real, fake_images=jax.lax.stop_gradient(fake), key=penalty_key)
    if penalty_every == 1:
      penalty, weight = penalty_of(), cfg.penalty_weight
    else:  # Lazy: only on every k-th step, k times the weight.
      penalty = jax.lax.cond(step % penalty_every == 0, penalty_of,
                             lambda: jnp.zeros((), jnp.float32))
      weight = cfg.penalty_weight * penalty_every
    extra = {}
    total = loss + weight * penalty
    if acgan:
      extra["d_class_loss"] = class_loss(real_classes, cond) + class_loss(fake_classes, cond)
      extra["d_class_acc_real"] = jnp.mean(
          (jnp.argmax(real_classes, axis=-1) == cond[0]).astype(jnp.float32))
      total = total + cfg.aux_class_weight * extra["d_class_loss"]
    if info:
      codes = codes_of(z)
      extra["d_info_loss"] = info_loss(fake_classes, codes)
      extra["d_info_acc"] = jnp.mean(
          (jnp.argmax(fake_classes, axis=-1) == codes).astype(jnp.float32))
      total = total + cfg.info_weight * extra["d_info_loss"]
    return total, (loss, penalty, real_logits, fake_logits, stats, extra, fake_classes)

  def g_objective(g: PlayerState, params, d: PlayerState, real: Array, cond: tuple, keys):
    """G's loss, G's new BatchNorm statistics and its metrics."""
    noise_key, dropout_key, augment_key = keys
    fake_key, real_key = jax.random.split(dropout_key)
    fake_aug_key, real_aug_key = (jax.random.split(augment_key) if policy
                                  else (None, None))
    fake, batch_stats, z = _sample_fake(g, params, noise_key, real.shape[0], cfg.noise_dim,
                                        cond)
    fake_logits, fake_classes, _ = _discriminate(
        d, d.params, d.batch_stats, augmented(fake, fake_aug_key), fake_key, d_cond(cond))
    real_logits = (_discriminate(d, d.params, d.batch_stats, augmented(real, real_aug_key),
                                 real_key, d_cond(cond))[0]
                   if cfg.loss.generator_needs_real_logits else None)
    loss = cfg.loss.generator(fake_logits=fake_logits, real_logits=real_logits)
    metrics = {"g_loss": loss}
    if acgan:
      metrics["g_class_loss"] = class_loss(fake_classes, cond)
      loss = loss + cfg.aux_class_weight * metrics["g_class_loss"]
    if info:
      metrics["g_info_loss"] = info_loss(fake_classes, codes_of(z))
      loss = loss + cfg.info_weight * metrics["g_info_loss"]
    return loss, (batch_stats, metrics)

  def d_update(d: PlayerState, g: PlayerState, real: Array, cond: tuple, keys,
               step: Array) -> tuple[PlayerState, dict]:
    noise_key, dropout_key, penalty_key, augment_key = keys
    fake, _, z = _sample_fake(g, g.params, noise_key, real.shape[0], cfg.noise_dim, cond)
    fake = jax.lax.stop_gradient(fake)
    grads, (loss, penalty, real_logits, fake_logits, stats, extra, _) = jax.grad(
        lambda params: d_objective(d, params, real, fake, cond,
                                   (dropout_key, penalty_key, augment_key), step,
                                   cfg.penalty_every, z),
        has_aux=True)(d.params)
    metrics = {**d_metrics_of(loss, penalty, real_logits, fake_logits, grads), **extra}
    return d.apply_gradients(grads=grads).replace(batch_stats=stats), metrics

  def g_update(g: PlayerState, d: PlayerState, real: Array, cond: tuple,
               keys) -> tuple[PlayerState, dict]:
    grads, (batch_stats, metrics) = jax.grad(
        lambda params: g_objective(g, params, d, real, cond, keys), has_aux=True)(g.params)
    g = g.apply_gradients(grads=grads).replace(batch_stats=batch_stats)
    return g, {**metrics, "g_grad_norm": optax.tree.norm(grads)}

  def simultaneous_update(d: PlayerState, g: PlayerState, real: Array, cond: tuple, keys):
    noise_key, dropout_key, penalty_key, augment_key = keys

    def losses_fn(d_params, g_params):
      fake, batch_stats, z = _sample_fake(g, g_params, noise_key, real.shape[0],
                                          cfg.noise_dim, cond)
      d_total, (d_loss, penalty, real_logits, fake_logits, stats, extra,
                fake_classes) = d_objective(d, d_params, real, fake, cond,
                                            (dropout_key, penalty_key, augment_key), None, 1, z)
      g_loss = cfg.loss.generator(fake_logits=fake_logits, real_logits=real_logits)
      g_extra = {}
      if acgan:  # D's class logits of the same fakes, at (D, G), as their logits are.
        g_extra["g_class_loss"] = class_loss(fake_classes, cond)
        g_loss = g_loss + cfg.aux_class_weight * g_extra["g_class_loss"]
      if info:  # Q's logits of the same fakes, at (D, G).
        g_extra["g_info_loss"] = info_loss(fake_classes, codes_of(z))
        g_loss = g_loss + cfg.info_weight * g_extra["g_info_loss"]
      return (d_total, g_loss), (d_loss, penalty, real_logits, fake_logits, batch_stats,
                                  stats, {**extra, **g_extra})

    # One forward pass; d_grads = dL_D/dD and g_grads = dL_G/dG, both at (D, G).
    (_, g_loss), vjp_fn, aux = jax.vjp(losses_fn, d.params, g.params, has_aux=True)
    d_loss, penalty, real_logits, fake_logits, batch_stats, stats, extra = aux
    one, zero = jnp.ones((), g_loss.dtype), jnp.zeros((), g_loss.dtype)
    d_grads, _ = vjp_fn((one, zero))
    _, g_grads = vjp_fn((zero, one))
    d_metrics = {**d_metrics_of(d_loss, penalty, real_logits, fake_logits, d_grads), **extra}
    g_metrics = {"g_loss": g_loss, "g_grad_norm": optax.tree.norm(g_grads)}
    return (d.apply_gradients(grads=d_grads).replace(batch_stats=stats),
            g.apply_gradients(grads=g_grads).replace(batch_stats=batch_stats),
            d_metrics, g_metrics)

  def train_step(state: GANState, batch: dict, key: Array):
    keys = step_keys(key, state.step, cfg.d_steps, augment=bool(policy))
    none = [None] * cfg.d_steps
    d_augment, g_augment = keys.get("d_augment", none), keys.get("g_augment")
    real = to_float(batch["image"])
    labels = batch["label"] if cfg.conditional else None
    cond = lambda i: () if labels is None else (labels[i],)
    d = state.discriminator
    if cfg.simultaneous:
      d, g, d_metrics, g_metrics = simultaneous_update(
          d, state.generator, real[0], cond(0),
          (keys["d_noise"][0], keys["d_dropout"][0], keys["d_penalty"][0], d_augment[0]))
    else:
      d_metrics = {}
      for i in range(cfg.d_steps):  # Unrolled: d_steps is small and static.
        d, d_metrics = d_update(d, state.generator, real[i], cond(i),
                                (keys["d_noise"][i], keys["d_dropout"][i], keys["d_penalty"][i],
                                 d_augment[i]),
                                state.step)
      g, g_metrics = g_update(state.generator, d, real[-1], cond(-1),
                              (keys["g_noise"], keys["g_dropout"], g_augment))
    ema = state.ema_params
    if ema is not None:
      decay = cfg.ema_decay
      if cfg.ema_warmup:  # (1 + t) / (10 + t) until it reaches ema_decay.
        t = state.step.astype(jnp.float32)
        decay = jnp.minimum(decay, (1.0 + t) / (10.0 + t))
      ema = optax.incremental_update(g.params, ema, step_size=1.0 - decay)
    new_state = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema)
    return new_state, {**d_metrics, **g_metrics}

  return train_step


# ------------------------------------------------------------------------- task


def check_config(config: ml_collections.ConfigDict) -> None:
  """The GAN's own fields: model, loss, optim (`ConfigError` on the first bad one)."""
  c = config_lib
  for path in ("model.noise_dim", "optim.d_steps"):
    c.positive_int(config, path)
  c.non_negative_int(config, "model.latent_codes")
  c.widths(config, "model.g_widths")
  c.widths(config, "model.d_widths")
  c.in_unit_interval(config, "model.dropout_rate")
  pack = c.positive_int(config, "model.pack")
  if config.batch_size % pack:
    raise ConfigError("batch_size", config.batch_size, f"is not a multiple of "
                      f"config.model.pack={pack}; D sees batch_size / pack packs of pack samples")
  c.one_of(config, "model.name", models.MODELS)
  models.compute_dtype_of(config.model.compute_dtype, config.model.name)
  losses_lib.get_loss(config.loss.name)
  losses_lib.get_penalty(config.loss.penalty)
  if not config.loss.penalty_weight >= 0:
    raise ConfigError("loss.penalty_weight", config.loss.penalty_weight, "must be >= 0")
  for path in ("optim.g_lr", "optim.d_lr"):
    if not c.get(config, path) > 0:
      raise ConfigError(path, c.get(config, path), "must be > 0")
  for path in ("optim.beta1", "optim.beta2", "optim.ema_decay"):
    c.in_unit_interval(config, path)
  c.one_of(config, "optim.lr_schedule", ("constant", "cosine"))
  if config.optim.simultaneous and config.optim.d_steps != 1:
    raise ConfigError("optim.d_steps", config.optim.d_steps, "must be 1 with "
                      "config.optim.simultaneous=True (D is updated once per step)")
  every = c.positive_int(config, "loss.penalty_every")
  if every > 1 and config.optim.simultaneous:
    raise ConfigError("loss.penalty_every", every, "is for alternating updates; use 1 with "
                      "config.optim.simultaneous=True")
  augment_lib.parse_policy(config.loss.augment, field="loss.augment")
  if not config.loss.aux_class_weight >= 0:
    raise ConfigError("loss.aux_class_weight", config.loss.aux_class_weight, "must be >= 0")
  info_weight = config.loss.info_weight
  if not info_weight >= 0:
    raise ConfigError("loss.info_weight", info_weight, "must be >= 0")
  if info_weight > 0:
    if config.model.latent_codes < 2:
      raise ConfigError("loss.info_weight", info_weight, "needs config.model.latent_codes "
                        ">= 2 (the discrete code that InfoGAN's head predicts); set both")
    if config.task == "conditional_gan":
      raise ConfigError("loss.info_weight", info_weight, "is for the unconditional GAN "
                        "(its head would share D's output with the class label's); set 0")
  if not isinstance(config.model.spectral_norm, bool):
    raise ConfigError("model.spectral_norm", config.model.spectral_norm, "must be True or False")
  if config.task == "conditional_gan":
    c.one_of(config, "model.conditioning", models.CONDITIONINGS)
    if pack != 1:
      raise ConfigError("model.pack", pack, "must be 1 for a conditional GAN (packs of "
                        "samples with different labels are not defined)")


def make(config: ml_collections.ConfigDict, data: DataSpec) -> Task:
  """The GAN task of `config` for data described by `data`."""
  conditional = config.task == "conditional_gan"
  num_classes = data.num_classes if conditional else 0
  if conditional and num_classes < 2:
    raise ConfigError("task", config.task, f"needs labelled data, and {data.name} has "
                      f"{num_classes} class(es); give a data set with y_train labels")
  model, optim = config.model, config.optim
  info_weight = float(config.loss.info_weight)
  generator, discriminator = models.build(
      model.name, image_shape=data.shape, g_widths=model.g_widths, d_widths=model.d_widths,
      dropout_rate=model.dropout_rate, pack=model.pack, minibatch_std=model.minibatch_std,
      latent_codes=model.latent_codes, compute_dtype=model.compute_dtype,
      num_classes=num_classes, conditioning=model.conditioning,
      spectral_norm=model.spectral_norm, info_head=info_weight > 0)
  acgan = conditional and model.conditioning == "acgan"
  cfg = StepConfig(
      loss=losses_lib.get_loss(config.loss.name),
      penalty=losses_lib.get_penalty(config.loss.penalty),
      penalty_weight=float(config.loss.penalty_weight), d_steps=optim.d_steps,
      noise_dim=model.noise_dim, ema_decay=float(optim.ema_decay),
      ema_warmup=bool(optim.ema_warmup),
      simultaneous=bool(optim.simultaneous), conditional=conditional,
      penalty_every=config.loss.penalty_every, d_takes_label=not acgan,
      aux_class_weight=float(config.loss.aux_class_weight) if acgan else 0.0,
      augment=config.loss.augment, latent_codes=model.latent_codes, info_weight=info_weight)
  schedule = functools.partial(learning_rate, schedule=optim.lr_schedule,
                               num_steps=config.num_steps)
  g_optimizer = make_optimizer(schedule(optim.g_lr), optim.beta1, optim.beta2)
  d_optimizer = make_optimizer(schedule(optim.d_lr), optim.beta1, optim.beta2)
  noise_dim, use_ema, shape = model.noise_dim, optim.ema_decay > 0, tuple(data.shape)
  label = (jnp.zeros((1,), jnp.int32),) if conditional else ()
  d_label = () if acgan else label

  def init(key: Array) -> GANState:
    return create_state(generator=generator, discriminator=discriminator, key=key,
                        g_example=(jnp.zeros((1, noise_dim), jnp.float32),) + label,
                        d_example=(jnp.zeros((1,) + shape, jnp.float32),) + d_label,
                        g_optimizer=g_optimizer, d_optimizer=d_optimizer, use_ema=use_ema)

  sample_inputs, preview_inputs = latent_inputs(noise_dim, num_classes,
                                                data.label_frequencies)

  def generate_fn(state: GANState, inputs: dict) -> Array:
    return generate(state, inputs["z"], inputs.get("label"))

  return Task(
      name=config.task, init=init, step=make_train_step(cfg),
      batch_fields=("image", "label") if conditional else ("image",),
      sub_batches=optim.d_steps, generate=generate_fn, sample_inputs=sample_inputs,
      preview_inputs=preview_inputs,
      grid_columns=class_grid_columns(config.run.num_sample_images, num_classes),
      progress=("d_loss", "g_loss"),
      parts={"generator": generator, "discriminator": discriminator, "loss": cfg.loss,
             "noise_dim": noise_dim, "num_classes": num_classes, "step_config": cfg})

