"""The VAE and the deterministic autoencoder: an encoder and a decoder, no adversary.

Both are tasks of the one program (`gan.program.train`), so they resume bit for bit,
shard over the mesh, log, checkpoint, and sample and score through `gan.cli.sample`
and `gan.cli.evaluate` like the GANs. Batches: `{"image": (1, B, H, W, C)}`, plus
`"label": (1, B)` when `model.conditional`.

Pixels. An image x in [-1, 1] has pixel targets t = (x + 1) / 2 in [0, 1]; the decoder
(`gan.models.vae.ConvDecoder`) returns logits l, and its mean image is sigmoid(l) in
[0, 1] under both likelihoods (`loss.likelihood`):

  bernoulli  log p(x|z) = sum_k t_k log sigmoid(l_k) + (1 - t_k) log(1 - sigmoid(l_k))
  gaussian   log p(x|z) = sum_k log N(t_k; sigmoid(l_k), sigma^2),  sigma = loss.decoder_sigma
             (in units of the [0, 1] intensity range)

(`gan.losses.bernoulli_log_likelihood`, `gaussian_log_likelihood`). Samples and
reconstructions are the decoder's mean image, 2 sigmoid(l) - 1 in [-1, 1]: the range
of the GAN generators' tanh output, so everything downstream of `generate` is shared.

VAE (task `vae`; Kingma & Welling 2014). The encoder gives q(z|x) = N(mu(x), diag
sigma^2(x)); one reparameterised draw z = mu + sigma * eps per image, and one Adam
step on the encoder's and the decoder's parameters together on

  loss = 1/B sum_i [-log p(x_i | z_i) + beta KL(q(z|x_i) || N(0, I))]   (`negative_elbo`)

Metrics: `loss`, `recon` = mean -log p(x|z), `kl` = mean KL (nats per image), and
`grad_norm`. Samples: z ~ N(0, I), decoded.

Autoencoder (task `autoencoder`). A deterministic code z = f(x) and the same step on
loss = 1/B sum_i -log p(x_i | f(x_i)) (binary cross-entropy, or MSE / (2 sigma^2) + a
constant); metrics `loss` (= `recon`) and `grad_norm`. It has no prior to sample
from, so the state keeps a Gaussian fit of its codes (`LatentMoments`): their mean m
and covariance C, updated each step from the codes of the step's forward pass
(before its update),

  n' = n + B,   alpha = B / n'                  (model.latent_fit_decay = 0)
                alpha = max(B / n', 1 - decay)  (model.latent_fit_decay = decay > 0)
  m' = (1 - alpha) m + alpha m_B
  C' = (1 - alpha) C + alpha C_B + alpha (1 - alpha) (m_B - m)(m_B - m)^T

with m_B, C_B the batch's mean and (1/B) covariance: with decay 0 these are exactly
the mean and covariance (1/n) of every code seen in training; with a decay, the same
until B / n' falls below 1 - decay, then an exponential moving average that follows
the encoder as it changes (the default, 0.999). Samples are the decoded
z = m + L eps, eps ~ N(0, I), L the Cholesky factor of C + jitter I (`gaussian_fit`).
The fit is part of the state: checkpointed, restored and sharded with the
parameters, so a resumed run samples what an uninterrupted one would.

Conditional (`model.conditional=True`, a CVAE, Sohn et al. 2015): the one-hot label
joins the encoder's features and the decoder's latent; `generate` takes {"z",
"label"}, and the sample grids have one row per class, as the conditional GAN's.

Keys: the VAE's step draws eps from fold_in(key, state.step), as the GAN task draws
its noise; the autoencoder's step draws nothing.

Its config (`config(task)`) replaces the base config's sections:
  model  latent_dim, encoder_widths, decoder_widths, conditional (and latent_fit_decay)
  loss   likelihood, decoder_sigma (and beta, the VAE's)
  optim  lr, beta1, beta2, lr_schedule (one Adam for both networks)

References:
  Kingma & Welling 2014, Auto-Encoding Variational Bayes (ICLR).
  Higgins et al. 2017, beta-VAE (ICLR).
  Sohn, Lee & Yan 2015, Learning Structured Output Representation using Deep
    Conditional Generative Models (NeurIPS).
  Ghosh et al. 2020, From Variational to Deterministic Autoencoders (ICLR): sampling a
    deterministic autoencoder through a density fitted to its codes (ex-post density
    estimation; a full-covariance Gaussian is their simplest).
  Chan, Golub & LeVeque 1979, Updating Formulae and a Pairwise Algorithm for Computing
    Sample Variances (the merge of two groups' moments).
"""

from typing import Any, Optional

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state

from gan import config as config_lib
from gan import losses as losses_lib
from gan.data import DataSpec
from gan.errors import ConfigError
from gan.images import to_float
from gan.models.vae import ConvDecoder, ConvEncoder, reparameterized_sample
from gan.state import learning_rate, make_optimizer
from gan.tasks.base import Task, class_grid_columns, latent_inputs

Array = jax.Array

LIKELIHOODS = ("bernoulli", "gaussian")
# Added to the fitted covariance's diagonal before its Cholesky factor, relative to
# the mean variance (and an absolute floor, for codes that all coincide).
COVARIANCE_JITTER = 1e-5
_JITTER_FLOOR = 1e-8


@flax.struct.dataclass
class LatentMoments:
  """A Gaussian fit of the autoencoder's codes: `count` codes seen, their mean and
  covariance (1/n), updated by `update_moments`."""

  count: Array
  mean: Array
  covariance: Array


class VAEState(train_state.TrainState):
  """The step, the encoder's and decoder's parameters (`params["encoder"]`,
  `params["decoder"]`) under one Adam state, and the autoencoder's `LatentMoments`
  (None for the VAE)."""

  latent_moments: Optional[LatentMoments] = None


# ------------------------------------------------------------------ the latent fit


def initial_moments(latent_dim: int) -> LatentMoments:
  """No codes seen yet: mean 0 and covariance I, so an untrained model samples N(0, I)."""
  return LatentMoments(count=jnp.zeros((), jnp.int32),
                       mean=jnp.zeros((latent_dim,), jnp.float32),
                       covariance=jnp.eye(latent_dim, dtype=jnp.float32))


def update_moments(moments: LatentMoments, codes: Array, *, decay: float = 0.0) -> LatentMoments:
  """The fit after the batch `codes` (B, d): the merge of the module docstring.

  With n' = n + B and alpha = B / n' (decay 0) or max(B / n', 1 - decay):

    m' = (1 - alpha) m + alpha m_B
    C' = (1 - alpha) C + alpha C_B + alpha (1 - alpha) (m_B - m)(m_B - m)^T,

  m_B and C_B the batch's mean and covariance (1/B). This is the mean and covariance
  of a mixture with weights (1 - alpha, alpha); with alpha = B / n' the exact moments
  of all n' codes (Chan et al. 1979), computed without the cancellation of E[z z^T] -
  m m^T.

  Args:
    moments: the fit so far.
    codes: (B, d) the new codes (their gradient is stopped).
    decay: 0 for the exact moments of every code; in (0, 1) for an EMA that keeps the
      exact moments while B / n' >= 1 - decay.

  Returns:
    The new `LatentMoments`.
  """
  codes = jax.lax.stop_gradient(codes).astype(jnp.float32)
  count = moments.count + codes.shape[0]
  alpha = codes.shape[0] / count.astype(jnp.float32)
  if decay:
    alpha = jnp.maximum(alpha, 1.0 - decay)
  batch_mean = jnp.mean(codes, axis=0)
  centred = codes - batch_mean
  batch_covariance = centred.T @ centred / codes.shape[0]
  delta = batch_mean - moments.mean
  return LatentMoments(
      count=count,
      mean=moments.mean + alpha * delta,
      covariance=((1.0 - alpha) * moments.covariance + alpha * batch_covariance
                  + alpha * (1.0 - alpha) * jnp.outer(delta, delta)))


def gaussian_fit(moments: LatentMoments) -> tuple[Array, Array]:
  """(m, L): the fit's mean and the Cholesky factor of its covariance plus jitter,

    L L^T = (C + C^T) / 2 + (COVARIANCE_JITTER * tr(C) / d + 1e-8) I,

  so z = m + L eps, eps ~ N(0, I), is distributed N(m, C) up to the jitter.
  """
  covariance = 0.5 * (moments.covariance + moments.covariance.T)
  d = covariance.shape[-1]
  jitter = COVARIANCE_JITTER * jnp.trace(covariance) / d + _JITTER_FLOOR
  return moments.mean, jnp.linalg.cholesky(covariance + jitter * jnp.eye(d, dtype=jnp.float32))


# ---------------------------------------------------------------------- config


def config(task: str = "vae") -> ml_collections.ConfigDict:
  """The base config with the model, loss and optim sections of `task` (vae | autoencoder).

  MNIST-sized defaults: a 16-d latent, encoder convolutions (32, 64), decoder
  (64, 32), Bernoulli pixels, Adam(1e-3, 0.9, 0.999), batch 64.
  """
  from gan.config import base_config  # pylint: disable=g-import-not-at-top
  c = base_config()
  c.task = task
  c.batch_size = 64
  c.model = ml_collections.ConfigDict()
  c.model.latent_dim = 16  # d, the latent's dimension.
  c.model.encoder_widths = (32, 64)  # Channels of the encoder's stride-2 convolutions.
  # The decoder's projection width, then its transposed convolutions' (at least two).
  c.model.decoder_widths = (64, 32)
  c.model.conditional = False  # One-hot label joined to the encoder and the decoder (CVAE).
  if task == "autoencoder":
    # Fit of the codes that samples are drawn from: 0 = exact mean and covariance of every
    # code seen in training; d in (0, 1): exact at first, then an EMA of decay d.
    c.model.latent_fit_decay = 0.999
  c.loss = ml_collections.ConfigDict()
  c.loss.likelihood = "bernoulli"  # bernoulli (MNIST) | gaussian (CIFAR-10).
  c.loss.decoder_sigma = 0.1  # gaussian: the pixels' sigma, in units of the [0, 1] range.
  if task == "vae":
    c.loss.beta = 1.0  # The KL term's weight (1: the ELBO; beta-VAE otherwise).
  c.optim = ml_collections.ConfigDict()
  c.optim.lr = 1e-3  # Adam, for the encoder and decoder together.
  c.optim.beta1 = 0.9
  c.optim.beta2 = 0.999
  c.optim.lr_schedule = "constant"  # constant | cosine (decayed to 0 over num_steps).
  return c


def check_config(config: ml_collections.ConfigDict) -> None:
  """The VAE's and the autoencoder's fields (`ConfigError` on the first bad one)."""
  c = config_lib
  c.positive_int(config, "model.latent_dim")
  c.widths(config, "model.encoder_widths")
  if len(c.widths(config, "model.decoder_widths")) < 2:
    raise ConfigError("model.decoder_widths", tuple(config.model.decoder_widths),
                      "needs at least two widths: the projection's and one or more "
                      "transposed convolutions' (the last two layers upsample by 2)")
  if not isinstance(c.get(config, "model.conditional"), bool):
    raise ConfigError("model.conditional", c.get(config, "model.conditional"),
                      "must be True or False")
  c.one_of(config, "loss.likelihood", LIKELIHOODS)
  sigma = c.get(config, "loss.decoder_sigma")
  if not _is_number(sigma) or not sigma > 0:
    raise ConfigError("loss.decoder_sigma", sigma, "must be a number > 0 (e.g. 0.1: pixel "
                      "noise of a tenth of the intensity range)")
  if config.task == "vae":
    beta = c.get(config, "loss.beta")
    if not _is_number(beta) or not beta >= 0:
      raise ConfigError("loss.beta", beta, "must be a number >= 0 (1: the ELBO)")
  else:
    c.in_unit_interval(config, "model.latent_fit_decay")
  lr = c.get(config, "optim.lr")
  if not _is_number(lr) or not lr > 0:
    raise ConfigError("optim.lr", lr, "must be > 0")
  for path in ("optim.beta1", "optim.beta2"):
    c.in_unit_interval(config, path)
  c.one_of(config, "optim.lr_schedule", ("constant", "cosine"))


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------------------------- task


def log_likelihood_fn(likelihood: str, sigma: float):
  """`(logits, targets) -> (B,) log p(t | l)` of `likelihood` (targets in [0, 1])."""
  if likelihood == "bernoulli":
    return lambda logits, targets: losses_lib.bernoulli_log_likelihood(logits=logits,
                                                                       targets=targets)
  return lambda logits, targets: losses_lib.gaussian_log_likelihood(
      mean=jax.nn.sigmoid(logits), targets=targets, sigma=sigma)


def make(config: ml_collections.ConfigDict, data: DataSpec) -> Task:
  """The VAE or autoencoder task of `config` for the images described by `data`."""
  variational = config.task == "vae"
  model = config.model
  shape = tuple(data.shape)
  if data.kind != "images" or len(shape) != 3 or shape[0] != shape[1] or shape[0] % 4:
    raise ConfigError("dataset", config.dataset, f"holds samples of shape {shape} "
                      f"({data.kind}); the {config.task} takes square images of a side "
                      f"divisible by 4 (28x28 MNIST, 32x32 CIFAR-10)")
  conditional = bool(model.conditional)
  num_classes = data.num_classes if conditional else 0
  if conditional and num_classes < 2:
    raise ConfigError("model.conditional", True, f"needs labelled data, and {data.name} has "
                      f"{data.num_classes} class(es); give a data set with y_train labels or "
                      f"set it to False")
  latent_dim = model.latent_dim
  encoder = ConvEncoder(latent_dim=latent_dim, widths=tuple(model.encoder_widths),
                        num_classes=num_classes, gaussian=variational)
  decoder = ConvDecoder(image_shape=shape, widths=tuple(model.decoder_widths),
                        num_classes=num_classes)
  optim = config.optim
  optimizer = make_optimizer(learning_rate(optim.lr, optim.lr_schedule, config.num_steps),
                             optim.beta1, optim.beta2)
  log_likelihood = log_likelihood_fn(config.loss.likelihood, float(config.loss.decoder_sigma))
  beta = float(config.loss.beta) if variational else 0.0
  fit_decay = 0.0 if variational else float(model.latent_fit_decay)

  def label_args(inputs: dict) -> tuple:
    return (inputs["label"],) if conditional else ()

  def init(key: Array) -> VAEState:
    encoder_key, decoder_key = jax.random.split(key)
    label = (jnp.zeros((1,), jnp.int32),) if conditional else ()
    params = {
        "encoder": encoder.init(encoder_key, jnp.zeros((1,) + shape, jnp.float32),
                                *label)["params"],
        "decoder": decoder.init(decoder_key, jnp.zeros((1, latent_dim), jnp.float32),
                                *label)["params"]}
    return VAEState.create(apply_fn=None, params=params, tx=optimizer,
                           latent_moments=None if variational else initial_moments(latent_dim))

  def decode_mean(params, z: Array, cond: tuple) -> Array:
    """The decoder's mean image, 2 sigmoid(l) - 1 in [-1, 1]."""
    logits = decoder.apply({"params": params["decoder"]}, z, *cond)
    return 2.0 * jax.nn.sigmoid(logits) - 1.0

  def step(state: VAEState, batch: dict, key: Array):
    images = to_float(batch["image"][0])
    cond = (batch["label"][0],) if conditional else ()
    targets = (images + 1.0) / 2.0

    def objective(params):
      encoded = encoder.apply({"params": params["encoder"]}, images, *cond)
      if variational:
        mean, log_variance = encoded
        z = reparameterized_sample(jax.random.fold_in(key, state.step), mean, log_variance)
      else:
        z = encoded
      ll = log_likelihood(decoder.apply({"params": params["decoder"]}, z, *cond), targets)
      if not variational:
        loss = -jnp.mean(ll)
        return loss, ({"recon": loss}, z)
      kl = losses_lib.gaussian_kl(mean=mean, log_variance=log_variance)
      loss = losses_lib.negative_elbo(log_likelihood=ll, kl=kl, beta=beta)
      return loss, ({"recon": -jnp.mean(ll), "kl": jnp.mean(kl)}, z)

    (loss, (terms, z)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
    new_state = state.apply_gradients(grads=grads)
    if not variational:
      new_state = new_state.replace(
          latent_moments=update_moments(state.latent_moments, z, decay=fit_decay))
    return new_state, {"loss": loss, **terms, "grad_norm": optax.tree.norm(grads)}

  sample_inputs, preview_inputs = latent_inputs(latent_dim, num_classes, data.label_frequencies)

  def generate(state: VAEState, inputs: dict) -> Array:
    """The decoder's mean image of z (VAE: z = inputs["z"]; autoencoder: z = m + L
    inputs["z"], the latent fit's), in [-1, 1]."""
    z = jnp.asarray(inputs["z"], jnp.float32)
    if not variational:
      mean, cholesky = gaussian_fit(state.latent_moments)
      z = mean + z @ cholesky.T
    return decode_mean(state.params, z, label_args(inputs))

  def reconstruct(state: VAEState, inputs: dict) -> Array:
    """The decoder's mean image of the encoder's mean (VAE) or code (autoencoder)."""
    images = to_float(jnp.asarray(inputs["image"]))
    cond = label_args(inputs)
    encoded = encoder.apply({"params": state.params["encoder"]}, images, *cond)
    return decode_mean(state.params, encoded[0] if variational else encoded, cond)

  return Task(
      name=config.task, init=init, step=step,
      batch_fields=("image", "label") if conditional else ("image",),
      generate=generate, sample_inputs=sample_inputs,
      preview_inputs=preview_inputs,
      grid_columns=class_grid_columns(config.run.num_sample_images, num_classes),
      reconstruct=reconstruct,
      progress=("loss", "recon", "kl") if variational else ("loss",),
      parts={"encoder": encoder, "decoder": decoder, "latent_dim": latent_dim,
             "noise_dim": latent_dim, "num_classes": num_classes,
             "likelihood": config.loss.likelihood, **({"beta": beta} if variational else {})})
