"""Paired image-to-image translation: pix2pix and SRGAN (and SRResNet, its pixel-loss baseline).

One task, two papers. A generator G maps a source image s to a target t (edges ->
photo, grey -> colour, a 4x smaller image -> the full one); a discriminator D tells
real targets from G's. With an adversarial loss (`loss.name`, the menu of
`gan.losses`) and the reconstruction and content terms of the papers:

  L_D = w_adv * (l_D(D(c(s, t)), D(c(s, G(s)))))                        (D update)
  L_G = w_adv * l_G(D(c(s, G(s))))
        + w_l1 * |G(s) - t|_1 + w_mse * |G(s) - t|^2                     (pixel terms)
        + w_feat * |phi(G(s)) - phi(t)|^2                                (content term)

where c(s, x) = concat(s, x) for a conditional D (pix2pix: D judges the pair; the
source is resized to the target's size, nearest) and c(s, x) = x otherwise (SRGAN),
and phi is the penultimate layer of a trained classifier (`loss.feature_extractor`,
a `gan.eval.features` extractor directory): SRGAN's content loss uses VGG-19
features, whose weights cannot be fetched here, so the project's own classifier of
the target domain stands in for it. pix2pix: non-saturating loss, w_l1 = 100,
D's loss halved (Isola et al. 2017, section 3.3). SRGAN: w_mse = 1, w_feat, w_adv =
1e-3 (Ledig et al. 2017, eq. 3). SRResNet: w_adv = 0, and D is neither evaluated nor
updated.

Each step: G's forward pass once (train mode: U-Net dropout, BatchNorm statistics),
then D's update on (real, G(s) detached), then G's update through the updated D, as
pix2pix's reference code orders them. Keys: `fold_in(key, step)` split into the
dropout keys of G's pass and D's two passes; a resumed run draws the same.

Batches: `{"source": (1, B, h, w, c), "target": (1, B, H, W, C)}` uint8
(`gan.data.pairs`). The config (`config()`) replaces the base config's model, loss
and optim sections.

References:
  Isola et al. 2017, Image-to-Image Translation with Conditional Adversarial Networks.
  Ledig et al. 2017, Photo-Realistic Single Image Super-Resolution Using a GAN.
"""

import functools
import os
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import optax

from gan import config as config_lib
from gan import losses as losses_lib
from gan.data import DataSpec
from gan.errors import ConfigError
from gan.images import to_float
from gan.models import translation as models
from gan.state import GANState, create_state, learning_rate, make_optimizer
from gan.tasks.base import Task

Array = jax.Array

GENERATORS = ("unet", "resnet", "srresnet")
DISCRIMINATORS = ("patch", "srgan")
NORMS = ("instance", "batch", "none")


def config(task: str = "pix2pix") -> ml_collections.ConfigDict:
  """The base config with the model, loss and optim sections of a translation task.

  `task`: pix2pix (U-Net G, 70x70 PatchGAN D on (source, output) pairs, L1 x 100) or
  srgan (SRResNet G, SRGAN's D, pixel MSE + feature content + 1e-3 adversarial).
  """
  from gan.config import base_config  # pylint: disable=g-import-not-at-top
  c = base_config()
  c.task = task
  c.batch_size = 16
  c.model = ml_collections.ConfigDict()
  c.model.generator = "unet" if task == "pix2pix" else "srresnet"  # unet | resnet | srresnet
  c.model.discriminator = "patch" if task == "pix2pix" else "srgan"  # patch | srgan
  c.model.g_width = 64  # Channels of G's first layer (ngf).
  c.model.d_width = 64  # Channels of D's first layer (ndf).
  c.model.g_blocks = 16 if task == "srgan" else 9  # Residual blocks (resnet, srresnet).
  # resnet G: stride-2 down-samplings before its blocks (2 in CycleGAN; fewer keep G
  # local: a smaller receptive field cannot move a digit's strokes).
  c.model.g_downsamples = 2
  # PatchGAN: conv layers of stride 2 (3: 70x70 receptive field); srgan: stride-2 blocks.
  c.model.d_layers = 3
  c.model.unet_depth = 0  # U-Net down-samplings; 0 = as deep as the image allows.
  c.model.norm = "batch"  # G's normalisation: instance | batch | none.
  c.model.d_norm = "batch"  # D's normalisation: instance | batch | none.
  c.model.dropout_rate = 0.5 if task == "pix2pix" else 0.0  # U-Net decoder dropout (its noise).
  c.model.d_conditional = task == "pix2pix"  # D judges concat(source, image) (pix2pix).
  c.model.srgan_dense = 1024  # srgan D: width of its dense layer.
  c.loss = ml_collections.ConfigDict()
  c.loss.name = "non_saturating"  # The adversarial loss, a name in gan.losses.LOSSES.
  c.loss.adv_weight = 1.0 if task == "pix2pix" else 1e-3  # 0: no D (SRResNet).
  c.loss.l1_weight = 100.0 if task == "pix2pix" else 0.0
  c.loss.mse_weight = 0.0 if task == "pix2pix" else 1.0
  c.loss.feature_weight = 0.0  # Content loss on a classifier's features (SRGAN's VGG loss).
  # The classifier of that loss: `auto` (the cached LeNet of the targets, trained on
  # first use) or a gan.eval.features extractor directory.
  c.loss.feature_extractor = "auto"
  c.loss.d_loss_scale = 0.5 if task == "pix2pix" else 1.0  # pix2pix halves D's loss.
  c.optim = ml_collections.ConfigDict()
  c.optim.g_lr = 2e-4 if task == "pix2pix" else 1e-4
  c.optim.d_lr = 2e-4 if task == "pix2pix" else 1e-4
  c.optim.beta1 = 0.5 if task == "pix2pix" else 0.9
  c.optim.beta2 = 0.999
  # constant | cosine | linear_decay (constant for the first half, then linearly to 0).
  c.optim.lr_schedule = "constant"
  return c


def check_networks(config: ml_collections.ConfigDict, generators=GENERATORS) -> None:
  """The `model` fields of the translation networks (`ConfigError` on the first bad one)."""
  c = config_lib
  c.one_of(config, "model.generator", generators)
  c.one_of(config, "model.discriminator", DISCRIMINATORS)
  c.one_of(config, "model.norm", NORMS)
  c.one_of(config, "model.d_norm", NORMS)
  for path in ("model.g_width", "model.d_width", "model.g_blocks", "model.d_layers",
               "model.srgan_dense"):
    c.positive_int(config, path)
  c.non_negative_int(config, "model.unet_depth")
  c.non_negative_int(config, "model.g_downsamples")
  c.in_unit_interval(config, "model.dropout_rate")


def check_weights(config: ml_collections.ConfigDict, paths) -> None:
  """Each loss weight in `paths` is a number >= 0."""
  for path in paths:
    value = config_lib.get(config, path)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
      raise ConfigError(path, value, "must be a number >= 0")


def check_optim(config: ml_collections.ConfigDict) -> None:
  """Adam's learning rates and betas, and the schedule."""
  c = config_lib
  for path in ("optim.g_lr", "optim.d_lr"):
    if not c.get(config, path) > 0:
      raise ConfigError(path, c.get(config, path), "must be > 0")
  for path in ("optim.beta1", "optim.beta2"):
    c.in_unit_interval(config, path)
  c.one_of(config, "optim.lr_schedule", ("constant", "cosine", "linear_decay"))


def check_config(config: ml_collections.ConfigDict) -> None:
  """The translation fields (`ConfigError` on the first bad one)."""
  check_networks(config)
  losses_lib.get_loss(config.loss.name)
  check_weights(config, ("loss.adv_weight", "loss.l1_weight", "loss.mse_weight",
                         "loss.feature_weight", "loss.d_loss_scale"))
  extractor = config.loss.feature_extractor
  if config.loss.feature_weight > 0 and not (extractor == "auto" or os.path.isdir(extractor)):
    raise ConfigError("loss.feature_extractor", extractor, "must be 'auto' (the cached LeNet "
                      "of the targets) or a classifier directory (python -m "
                      "experiments.train_classifier --out=DIR) when config.loss.feature_weight "
                      "> 0")
  check_optim(config)


def schedule_of(peak: float, config: ml_collections.ConfigDict) -> Any:
  """The learning rate of `optim.lr_schedule`: `linear_decay` is CycleGAN's (constant for
  the first half of `num_steps`, then linearly to 0), else `gan.state.learning_rate`."""
  if config.optim.lr_schedule == "linear_decay":
    half = max(config.num_steps // 2, 1)
    return optax.join_schedules(
        [optax.constant_schedule(peak),
         optax.linear_schedule(peak, 0.0, max(config.num_steps - half, 1))], [half])
  return learning_rate(peak, config.optim.lr_schedule, config.num_steps)


def build_generator(model: ml_collections.ConfigDict, out_channels: int, scale: int):
  """G of `model.generator` for `out_channels` outputs; `scale` = target / source size."""
  name = model.generator
  if name == "srresnet":
    return models.SRResNet(out_channels=out_channels, scale=scale, width=model.g_width,
                           num_blocks=model.g_blocks, norm=model.norm)
  if scale != 1:
    raise ConfigError("model.generator", name, f"keeps the image size, but the data's targets "
                      f"are {scale}x their sources; use 'srresnet' for super-resolution")
  if name == "unet":
    return models.UNetGenerator(out_channels=out_channels, width=model.g_width,
                                depth=model.unet_depth or None,
                                dropout_rate=model.dropout_rate, norm=model.norm)
  return models.ResnetGenerator(out_channels=out_channels, width=model.g_width,
                                num_blocks=model.g_blocks, norm=model.norm,
                                num_downsamples=model.get("g_downsamples", 2))


def build_discriminator(model: ml_collections.ConfigDict):
  if model.discriminator == "patch":
    return models.PatchDiscriminator(width=model.d_width, num_layers=model.d_layers,
                                     norm=model.d_norm)
  return models.SRDiscriminator(width=model.d_width, num_blocks=model.d_layers,
                                dense_width=model.srgan_dense, norm=model.d_norm)


def scale_of(spec: DataSpec) -> int:
  """The target's size over the source's (1 for translation, 4 for 4x super-resolution)."""
  if spec.kind != "pairs" or not spec.source_shape:
    raise ConfigError("dataset", spec.name, "is not a paired data set; give pairs, e.g. "
                      "paired:edges:../shared/data/fashion_mnist.npz (gan.data.pairs)")
  (h, w), (sh, sw) = spec.shape[:2], spec.source_shape[:2]
  if h % sh or w % sw or h // sh != w // sw:
    raise ConfigError("dataset", spec.name, f"pairs {spec.source_shape} sources with "
                      f"{spec.shape} targets; the target must be the source scaled by one "
                      f"integer factor")
  return h // sh


def upsample_nearest(images: Array, scale: int) -> Array:
  """Each pixel repeated `scale` x `scale` times (how a conditional D sees a small source)."""
  if scale == 1:
    return images
  return jnp.repeat(jnp.repeat(images, scale, axis=1), scale, axis=2)


def target_dataset(data: Any):
  """A paired data set's targets, with their labels, as a `gan.data.ImageDataset`."""
  from gan import data as data_lib  # pylint: disable=g-import-not-at-top
  return data_lib.from_arrays(data.target_name or data.name, data.train_target,
                              data.train_labels, data.test_target,
                              data.test_labels)


def load_features_fn(directory: str, dataset: str) -> Callable[[Array], Array]:
  """phi: images in [-1, 1] -> the penultimate features of a trained classifier.

  `directory`: a `gan.eval.features` extractor directory, or `auto`: the cached LeNet
  of the targets of `dataset` (trained on first use; the evaluation's own MNIST LeNet
  for MNIST targets).
  """
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  if directory == "auto":
    from gan import data as data_lib  # pylint: disable=g-import-not-at-top
    extractor = features.cached_extractor(target_dataset(data_lib.load(dataset)))
  else:
    extractor = features.load_extractor(directory)
  if not hasattr(extractor, "module"):
    raise ConfigError("loss.feature_extractor", directory, "is not a trained classifier "
                      "(LeNet) directory; the content loss differentiates through its layers")
  module, params = extractor.module, extractor.params
  return lambda images: module.apply({"params": params}, images)[0]


def _apply(player, params, stats, *args, key, train: bool = True):
  """A player's call in training mode: (output, new batch_stats)."""
  out, mutated = player.apply_fn({"params": params, "batch_stats": stats}, *args, train=train,
                                 rngs={"dropout": key}, mutable=["batch_stats"])
  return out, mutated.get("batch_stats", stats)


def make_train_step(*, loss: losses_lib.GANLoss, adv_weight: float, l1_weight: float,
                    mse_weight: float, feature_weight: float, d_loss_scale: float,
                    conditional_d: bool, scale: int,
                    features_fn: Optional[Callable[[], Callable]] = None) -> Callable:
  """The pure step `(state, batch, key) -> (state, metrics)` of the formulas above.

  `features_fn()` returns phi (`make` loads it before the step is traced). Metrics:
  `g_loss` (G's total), `g_adv`, `l1`, `mse`, `feature` (each unweighted), and with a D:
  `d_loss`, `d_real`, `d_fake` (mean sigmoid of D's logits), `d_grad_norm`, `g_grad_norm`.
  """
  with_d = adv_weight > 0

  def d_input(source, images):
    return (jnp.concatenate([upsample_nearest(source, scale), images], axis=-1)
            if conditional_d else images)

  def train_step(state: GANState, batch: dict, key: Array):
    g_key, real_key, fake_key = jax.random.split(jax.random.fold_in(key, state.step), 3)
    source, target = to_float(batch["source"][0]), to_float(batch["target"][0])
    g, d = state.generator, state.discriminator
    metrics = {}
    if with_d:
      fake, _ = _apply(g, g.params, g.batch_stats, source, key=g_key)
      fake = jax.lax.stop_gradient(fake)

      def d_objective(params):
        real_logits, stats = _apply(d, params, d.batch_stats, d_input(source, target),
                                    key=real_key)
        fake_logits, stats = _apply(d, params, stats, d_input(source, fake), key=fake_key)
        value = loss.discriminator(real_logits=real_logits, fake_logits=fake_logits)
        return d_loss_scale * value, (value, real_logits, fake_logits, stats)

      grads, (d_loss, real_logits, fake_logits, stats) = jax.grad(d_objective, has_aux=True)(
          d.params)
      d = d.apply_gradients(grads=grads).replace(batch_stats=stats)
      metrics.update(d_loss=d_loss, d_real=jnp.mean(jax.nn.sigmoid(real_logits)),
                     d_fake=jnp.mean(jax.nn.sigmoid(fake_logits)),
                     d_grad_norm=optax.tree.norm(grads))
    phi = features_fn() if feature_weight > 0 else None

    def g_objective(params):
      fake, g_stats = _apply(g, params, g.batch_stats, source, key=g_key)
      terms = {"l1": losses_lib.l1_loss(prediction=fake, target=target),
               "mse": losses_lib.pixel_mse_loss(prediction=fake, target=target)}
      total = l1_weight * terms["l1"] + mse_weight * terms["mse"]
      if phi is not None:
        terms["feature"] = losses_lib.feature_content_loss(features_fn=phi, prediction=fake,
                                                           target=target)
        total = total + feature_weight * terms["feature"]
      if with_d:
        # D's statistics (spectral norm, BatchNorm) stay as the D update left them.
        logits, _ = _apply(d, d.params, d.batch_stats, d_input(source, fake), key=fake_key)
        terms["g_adv"] = loss.generator(fake_logits=logits)
        total = total + adv_weight * terms["g_adv"]
      return total, (g_stats, terms)

    (g_loss, (g_stats, terms)), grads = jax.value_and_grad(g_objective, has_aux=True)(g.params)
    g = g.apply_gradients(grads=grads).replace(batch_stats=g_stats)
    metrics.update(terms, g_loss=g_loss, g_grad_norm=optax.tree.norm(grads))
    return state.replace(step=state.step + 1, generator=g, discriminator=d), metrics

  return train_step


def make(config: ml_collections.ConfigDict, data: DataSpec) -> Task:
  """The paired translation task of `config` for the pairs described by `data`."""
  scale = scale_of(data)
  model = config.model
  generator = build_generator(model, out_channels=data.shape[-1], scale=scale)
  discriminator = build_discriminator(model)
  extractor_dir = config.loss.feature_extractor

  dataset = config.dataset

  @functools.cache
  def features_fn():
    return load_features_fn(extractor_dir, dataset)

  if config.loss.feature_weight > 0:
    features_fn()  # Now, not while the step is traced (`auto` may train the LeNet first).
  step = make_train_step(
      loss=losses_lib.get_loss(config.loss.name), adv_weight=float(config.loss.adv_weight),
      l1_weight=float(config.loss.l1_weight), mse_weight=float(config.loss.mse_weight),
      feature_weight=float(config.loss.feature_weight),
      d_loss_scale=float(config.loss.d_loss_scale), conditional_d=bool(model.d_conditional),
      scale=scale, features_fn=features_fn)
  g_optimizer = make_optimizer(schedule_of(config.optim.g_lr, config), config.optim.beta1,
                               config.optim.beta2)
  d_optimizer = make_optimizer(schedule_of(config.optim.d_lr, config), config.optim.beta1,
                               config.optim.beta2)
  source_shape, target_shape = tuple(data.source_shape), tuple(data.shape)
  d_channels = target_shape[-1] + (source_shape[-1] if model.d_conditional else 0)

  def init(key: Array) -> GANState:
    return create_state(
        generator=generator, discriminator=discriminator, key=key,
        g_example=(jnp.zeros((1,) + source_shape, jnp.float32),),
        d_example=(jnp.zeros((1,) + target_shape[:2] + (d_channels,), jnp.float32),),
        g_optimizer=g_optimizer, d_optimizer=d_optimizer)

  def generate_fn(state: GANState, inputs: dict) -> Array:
    return translate(state, inputs["source"])

  progress = ("d_loss", "g_loss") if config.loss.adv_weight > 0 else ("g_loss",)
  return Task(
      name=config.task, init=init, step=step, batch_fields=("source", "target"),
      generate=generate_fn, data_preview=preview_pairs, grid_layout=grid_rows,
      grid_columns=3, progress=progress,
      parts={"generator": generator, "discriminator": discriminator, "scale": scale,
             "source_shape": source_shape, "target_shape": target_shape})


def translate(state: GANState, source: Array) -> Array:
  """G(source) in inference mode (running BatchNorm statistics; U-Net dropout off).

  `source`: uint8 in [0, 255] or float in [-1, 1]; returns float in [-1, 1].
  """
  g = state.generator
  return g.apply_fn({"params": g.params, "batch_stats": g.batch_stats}, to_float(source),
                    train=False)


def preview_pairs(data: Any, n: int) -> dict:
  """The grid's fixed inputs: the first n // 3 held-out pairs (training pairs if none)."""
  rows = max(1, n // 3)
  source, target = ((data.test_source, data.test_target) if len(data.test_source) else
                    (data.train_source, data.train_target))
  return {"source": jnp.asarray(source[:rows]), "target": jnp.asarray(target[:rows])}


def as_target_image(images: Array, shape: tuple) -> Array:
  """Images in [-1, 1] resized (nearest, integer factor) and with the channels of `shape`."""
  images = upsample_nearest(images, shape[0] // images.shape[1])
  if images.shape[-1] != shape[-1]:
    images = jnp.broadcast_to(images.mean(axis=-1, keepdims=True), images.shape[:-1] + shape[-1:])
  return images


def grid_rows(inputs: dict, outputs: Array) -> Array:
  """One row per pair: source, G(source), target (sources shown at the target's size)."""
  target = to_float(inputs["target"])
  source = as_target_image(to_float(inputs["source"]), target.shape[1:])
  rows = jnp.stack([source, outputs, target], axis=1)
  return rows.reshape((-1,) + target.shape[1:])
