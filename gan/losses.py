"""GAN losses as pure functions of discriminator logits, and a name -> loss table.

Every loss takes keyword-only logits (pre-sigmoid discriminator outputs) and returns
a scalar to be *minimised* by the player it belongs to. A loss variant is a
`GANLoss(discriminator=..., generator=...)` entry in `LOSSES`; adding one is one
function (or two) and one `register_loss` line, after which `--config.loss=NAME`
selects it.

Penalties on the discriminator's input gradient (WGAN-GP, R1, R2) live in
`PENALTIES`, with one signature: `penalty(*, discriminator_fn, real_images,
fake_images, key) -> scalar`, added to the discriminator loss times
`penalty_weight`.

References:
  Goodfellow et al. 2014, Generative Adversarial Nets.
  Mao et al. 2017, Least Squares Generative Adversarial Networks.
  Arjovsky et al. 2017, Wasserstein GAN; Gulrajani et al. 2017, Improved Training
    of Wasserstein GANs.
  Lim & Ye 2017, Geometric GAN; Miyato et al. 2018 (hinge loss).
  Mescheder et al. 2018, Which Training Methods for GANs do actually Converge? (R1, R2).
  Odena et al. 2017, Conditional Image Synthesis with Auxiliary Classifier GANs (the
    auxiliary classifier's cross-entropy).
"""

import dataclasses
from typing import Callable, Optional

import jax
import jax.numpy as jnp

from gan.errors import ConfigError

Array = jax.Array


# ----------------------------------------------------------------------------- BCE


def bce_discriminator_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """The discriminator's side of the original GAN value function.

  loss_D = -E[log D(x)] - E[log(1 - D(G(z)))],  D = sigmoid(logits),
  i.e. -V(D, G). At D = 1/2 everywhere it is log 4.
  """
  return (jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits)))


def minimax_generator_loss(*, fake_logits: Array, real_logits: Optional[Array] = None) -> Array:
  """The saturating generator loss of the minimax game.

  loss_G = E[log(1 - D(G(z)))] = -E[softplus(logits)]. Together with
  `bce_discriminator_loss` this is the two-player game min_G max_D V(D, G), whose
  value at D = 1/2 everywhere is -log 4.
  """
  del real_logits
  return -jnp.mean(jax.nn.softplus(fake_logits))


def non_saturating_generator_loss(*, fake_logits: Array,
                                  real_logits: Optional[Array] = None) -> Array:
  """The non-saturating generator loss (Goodfellow et al. 2014, section 3).

  loss_G = -E[log D(G(z))] = E[softplus(-logits)]: the same fixed point as the
  minimax loss with strong gradients early in training, when D rejects G(z).
  """
  del real_logits
  return jnp.mean(jax.nn.softplus(-fake_logits))


# ------------------------------------------------------------------ least squares


def least_squares_discriminator_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """LSGAN discriminator loss with targets a=0 (fake), b=1 (real).

  loss_D = 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2], D the raw output.
  """
  return 0.5 * jnp.mean((real_logits - 1.0) ** 2) + 0.5 * jnp.mean(fake_logits ** 2)


def least_squares_generator_loss(*, fake_logits: Array,
                                 real_logits: Optional[Array] = None) -> Array:
  """LSGAN generator loss with target c=1: loss_G = 1/2 E[(D(G(z)) - 1)^2]."""
  del real_logits
  return 0.5 * jnp.mean((fake_logits - 1.0) ** 2)


# -------------------------------------------------------------------- Wasserstein


def wasserstein_discriminator_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """The critic's loss: loss_D = E[D(G(z))] - E[D(x)] (pair with a Lipschitz penalty)."""
  return jnp.mean(fake_logits) - jnp.mean(real_logits)


def wasserstein_generator_loss(*, fake_logits: Array,
                               real_logits: Optional[Array] = None) -> Array:
  """The generator's Wasserstein loss: loss_G = -E[D(G(z))]."""
  del real_logits
  return -jnp.mean(fake_logits)


# -------------------------------------------------------------------------- hinge


def hinge_discriminator_loss(*, real_logits: Array, fake_logits: Array) -> Array:
  """Hinge loss: loss_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]."""
  return jnp.mean(jax.nn.relu(1.0 - real_logits)) + jnp.mean(jax.nn.relu(1.0 + fake_logits))


def hinge_generator_loss(*, fake_logits: Array, real_logits: Optional[Array] = None) -> Array:
  """The generator's side of the hinge game: loss_G = -E[D(G(z))]."""
  del real_logits
  return -jnp.mean(fake_logits)


# ---------------------------------------------------------------- auxiliary classifier


def auxiliary_classifier_loss(*, class_logits: Array, labels: Array) -> Array:
  """The auxiliary classifier's loss of ACGAN (Odena et al. 2017): mean cross-entropy.

  ACGAN's D outputs class logits beside its real-vs-fake logit; the log-likelihood of
  the correct class,

    L_C = E[log P(C = c | X_real)] + E[log P(C = c | X_fake)],

  is maximised by both players: D on real and generated images, G on its own (whose
  class c is the label it was given). Each term is minus this function on its batch,

    loss = -1/B sum_i log softmax(class_logits_i)[labels_i],

  so D adds `auxiliary_classifier_loss` on the real and on the fake batch to its loss,
  and G adds it on the fake batch to its own.

  Args:
    class_logits: (B, C) unnormalised class scores.
    labels: (B,) ints in [0, C).

  Returns:
    A float32 scalar, >= 0; log C for uniform logits.

  References:
    Odena, Olah & Shlens 2017, Conditional Image Synthesis with Auxiliary Classifier
      GANs (ICML), equations (2)-(3).
  """
  log_probs = jax.nn.log_softmax(class_logits.astype(jnp.float32), axis=-1)
  return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None].astype(jnp.int32),
                                       axis=-1))


def mutual_information_loss(*, code_logits: Array, codes: Array) -> Array:
  """InfoGAN's mutual-information term (Chen et al. 2016), for a discrete code.

  G takes a code c ~ Uniform{0, ..., K - 1} besides its noise; an auxiliary network
  Q(c | x), here a head on D's features, reads the code back from G(z, c). The
  variational lower bound on the mutual information I(c; G(z, c)),

    L_I(G, Q) = E_{c, z}[log Q(c | G(z, c))] + H(c)  <=  I(c; G(z, c)),

  is maximised by both players (D's body and Q's head, and G), each adding
  lambda * (H(c) - L_I) to its loss; H(c) = log K is a constant, so what is minimised is
  the cross-entropy of Q on the generated batch,

    loss = -1/B sum_i log softmax(code_logits_i)[codes_i],

  which is `auxiliary_classifier_loss` with the codes as labels (ACGAN's D classifies
  real and generated images by label; InfoGAN's Q only generated ones, by code). With
  codes that G can draw apart (K = 10 on MNIST), the codes tend to take the digit
  classes, unsupervised.

  Args:
    code_logits: (B, K) Q's unnormalised scores of the generated images.
    codes: (B,) the codes the images were generated from, ints in [0, K).

  Returns:
    A float32 scalar, >= 0; log K for uniform logits (no information).

  References:
    Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, InfoGAN: Interpretable
      Representation Learning by Information Maximizing Generative Adversarial Nets
      (NeurIPS), equations (4)-(6); lambda = 1 for discrete codes.
  """
  return auxiliary_classifier_loss(class_logits=code_logits, labels=codes)


# ---------------------------------------------------------------------- the table


@dataclasses.dataclass(frozen=True)
class GANLoss:
  """A loss variant: one function per player.

  Attributes:
    discriminator: `(*, real_logits, fake_logits) -> scalar`.
    generator: `(*, fake_logits, real_logits) -> scalar`.
    generator_needs_real_logits: when True the train step also evaluates D on the
      real batch in the generator update (relativistic losses need it).
  """

  discriminator: Callable[..., Array]
  generator: Callable[..., Array]
  generator_needs_real_logits: bool = False


LOSSES: dict[str, GANLoss] = {
    "minimax": GANLoss(bce_discriminator_loss, minimax_generator_loss),
    "non_saturating": GANLoss(bce_discriminator_loss, non_saturating_generator_loss),
    "least_squares": GANLoss(least_squares_discriminator_loss, least_squares_generator_loss),
    "wasserstein": GANLoss(wasserstein_discriminator_loss, wasserstein_generator_loss),
    "hinge": GANLoss(hinge_discriminator_loss, hinge_generator_loss),
}


def register_loss(name: str, loss: GANLoss) -> None:
  """Adds a loss variant to `LOSSES`, so `--config.loss=name` selects it."""
  LOSSES[name] = loss


def get_loss(name: str) -> GANLoss:
  """Returns the loss variant called `name`."""
  if name not in LOSSES:
    raise ConfigError("loss.name", name, f"is not a loss; choose one of {sorted(LOSSES)}, or "
                      f"add one with gan.losses.register_loss")
  return LOSSES[name]


# ---------------------------------------------------------------------- penalties


def _input_gradients(discriminator_fn: Callable[[Array], Array], images: Array) -> Array:
  """d sum(D(x)) / dx, one flattened row per discriminator output.

  (B, -1) for a D with one logit per example; with PacGAN packing (D judges m
  consecutive rows at once, `gan.models.packing`) one row per pack, (B / m, -1).
  """
  num_outputs = jax.eval_shape(discriminator_fn, images).shape[0]
  grads = jax.grad(lambda x: jnp.sum(discriminator_fn(x)))(images)
  return grads.reshape((num_outputs, -1))


def wgan_gradient_penalty(*, discriminator_fn: Callable[[Array], Array], real_images: Array,
                          fake_images: Array, key: Array) -> Array:
  """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2].

  x_hat = eps * x + (1 - eps) * G(z), eps ~ U[0, 1] per example (per pack with PacGAN
  packing, so x_hat is a pack on the line between a real and a generated pack), drawn
  with `key`; the norm is over all of D's input for one output (a whole pack).
  The usual weight is lambda = 10.
  """
  num_outputs = jax.eval_shape(discriminator_fn, real_images).shape[0]  # B / m with packing.
  eps = jax.random.uniform(key, (num_outputs,) + (1,) * (real_images.ndim - 1),
                           dtype=real_images.dtype)
  eps = jnp.repeat(eps, real_images.shape[0] // num_outputs, axis=0)  # One eps per pack.
  interpolates = eps * real_images + (1.0 - eps) * fake_images
  norms = jnp.sqrt(jnp.sum(_input_gradients(discriminator_fn, interpolates) ** 2, axis=1) + 1e-12)
  return jnp.mean((norms - 1.0) ** 2)


def r1_penalty(*, discriminator_fn: Callable[[Array], Array], real_images: Array,
               **unused) -> Array:
  """R1 (Mescheder et al. 2018): 1/2 E_x[||grad_x D(x)||^2] on real data.

  With `penalty_weight = gamma` this is the paper's gamma/2 E||grad D||^2.
  """
  del unused
  return 0.5 * jnp.mean(jnp.sum(_input_gradients(discriminator_fn, real_images) ** 2, axis=1))


def r2_penalty(*, discriminator_fn: Callable[[Array], Array], fake_images: Array,
               **unused) -> Array:
  """R2 (Mescheder et al. 2018): 1/2 E_z[||grad_x D(G(z))||^2] on generated data."""
  del unused
  return 0.5 * jnp.mean(jnp.sum(_input_gradients(discriminator_fn, fake_images) ** 2, axis=1))


def no_penalty(**unused) -> Array:
  """No penalty: 0."""
  del unused
  return jnp.zeros((), jnp.float32)


PENALTIES: dict[str, Callable[..., Array]] = {
    "none": no_penalty,
    "wgan_gp": wgan_gradient_penalty,
    "r1": r1_penalty,
    "r2": r2_penalty,
}


def get_penalty(name: str) -> Callable[..., Array]:
  """Returns the discriminator penalty called `name`."""
  if name not in PENALTIES:
    raise ConfigError("loss.penalty", name, f"is not a penalty; choose one of "
                      f"{sorted(PENALTIES)}")
  return PENALTIES[name]


# -------------- Reconstruction and content losses (image-to-image translation, super-resolution)
#
# Pixel and feature distances a generator adds to its adversarial loss, each weighted by
# the caller: pix2pix's lambda * L1 (lambda = 100), CycleGAN's lambda * (cycle losses of
# both directions) + lambda_id * lambda * identity losses (lambda = 10, lambda_id = 0.5),
# SRGAN's content loss + 1e-3 * adversarial loss. Every one is a mean over all elements
# (batch, pixels, channels), computed in float32.


def l1_loss(*, prediction: Array, target: Array) -> Array:
  """The mean absolute error: L1 = E[|prediction - target|], over every element.

  pix2pix's reconstruction term is lambda * E_{x,y,z}[||y - G(x, z)||_1] (lambda = 100),
  with prediction = G(x, z) and target = y; the caller applies lambda.

  Args:
    prediction: generated images, any shape.
    target: images of the same shape.

  Returns:
    A float32 scalar >= 0.

  References:
    Isola, Zhu, Zhou & Efros 2017, Image-to-Image Translation with Conditional
      Adversarial Networks (CVPR), equations (3)-(4).
  """
  return jnp.mean(jnp.abs(prediction.astype(jnp.float32) - target.astype(jnp.float32)))


def cycle_consistency_loss(*, real: Array, reconstructed: Array) -> Array:
  """CycleGAN's cycle loss in one direction: L_cyc = E[|F(G(x)) - x|], over every element.

  The full cycle-consistency loss is the sum over both directions,
  E_x[||F(G(x)) - x||_1] + E_y[||G(F(y)) - y||_1]: call this once with (x, F(G(x))) and
  once with (y, G(F(y))); the caller weights their sum by lambda (10 in the paper).

  Args:
    real: x, images of one domain.
    reconstructed: F(G(x)), the round trip through the other domain; x's shape.

  Returns:
    A float32 scalar >= 0, 0 iff the round trip gives x back.

  References:
    Zhu, Park, Isola & Efros 2017, Unpaired Image-to-Image Translation using
      Cycle-Consistent Adversarial Networks (ICCV), equation (2).
  """
  return l1_loss(prediction=reconstructed, target=real)


def identity_loss(*, real: Array, mapped: Array) -> Array:
  """CycleGAN's identity mapping loss in one direction: L_id = E[|G(y) - y|].

  G: X -> Y fed an image y already in Y should return it unchanged (it keeps the
  colours of photos <-> paintings); the paper adds E_y[||G(y) - y||_1] +
  E_x[||F(x) - x||_1] weighted by 0.5 lambda.

  Args:
    real: y, images of G's target domain.
    mapped: G(y); y's shape.

  Returns:
    A float32 scalar >= 0.

  References:
    Zhu, Park, Isola & Efros 2017 (ICCV), section 5.2 ("Photo generation from
      paintings"), after Taigman, Polyak & Wolf 2017.
  """
  return l1_loss(prediction=mapped, target=real)


def pixel_mse_loss(*, prediction: Array, target: Array) -> Array:
  """The pixel-wise mean squared error: MSE = E[(prediction - target)^2], every element.

  SRResNet's content loss l_MSE = 1/(r^2 W H) sum_{x,y} (I^HR_{x,y} - G(I^LR)_{x,y})^2
  (Ledig et al. 2017, equation (4)), with prediction = G(I^LR) and target = I^HR.

  Args:
    prediction: generated images, any shape.
    target: images of the same shape.

  Returns:
    A float32 scalar >= 0.

  References:
    Ledig et al. 2017, Photo-Realistic Single Image Super-Resolution Using a Generative
      Adversarial Network (CVPR), equation (4).
  """
  return jnp.mean((prediction.astype(jnp.float32) - target.astype(jnp.float32)) ** 2)


def feature_content_loss(*, features_fn: Callable[[Array], Array], prediction: Array,
                         target: Array) -> Array:
  """A perceptual (feature) content loss: E[(phi(prediction) - sg(phi(target)))^2].

  SRGAN's VGG loss l_VGG/i,j = 1/(W_ij H_ij) sum (phi_ij(I^HR) - phi_ij(G(I^LR)))^2
  (Ledig et al. 2017, equation (5)) with phi any fixed feature network given as a
  function (VGG19's relu5_4 in the paper; Johnson et al. 2016's feature reconstruction
  loss likewise). The mean is over every element of the features. sg is
  `jax.lax.stop_gradient`: the target's features are a constant, so the gradient reaches
  the prediction (and phi's parameters only through phi(prediction), if phi closes over
  traced ones). If phi returns several feature maps (any pytree of arrays), the loss is
  the sum of their mean squared differences.

  Args:
    features_fn: phi, images -> features (an array or a pytree of arrays).
    prediction: generated images.
    target: images of the same shape.

  Returns:
    A float32 scalar >= 0.

  References:
    Ledig et al. 2017 (CVPR), equation (5).
    Johnson, Alahi & Fei-Fei 2016, Perceptual Losses for Real-Time Style Transfer and
      Super-Resolution (ECCV), section 3.1.
  """
  predicted = features_fn(prediction)
  wanted = jax.lax.stop_gradient(features_fn(target))
  distances = jax.tree.map(lambda p, t: pixel_mse_loss(prediction=p, target=t), predicted,
                           wanted)
  return sum(jax.tree.leaves(distances), jnp.zeros((), jnp.float32))


# ------------------------------------------- Variational autoencoders (the VAE task)
#
# The terms of the evidence lower bound (Kingma & Welling 2014),
#
#   log p(x) >= ELBO(x) = E_{q(z|x)}[log p(x|z)] - KL(q(z|x) || p(z)),
#
# per example (each sums over its pixels or latent dimensions), and the loss the VAE
# minimises, the batch mean of -ELBO with the KL term weighted by beta (Higgins et al.
# 2017). Log-likelihoods are in nats.


def gaussian_kl(*, mean: Array, log_variance: Array, prior_mean: Optional[Array] = None,
                prior_log_variance: Optional[Array] = None) -> Array:
  """KL(q || p) of diagonal Gaussians q = N(mu, diag s^2), p = N(m, diag v), per example.

    KL(q || p) = 1/2 sum_j [log v_j - log s_j^2 + (s_j^2 + (mu_j - m_j)^2) / v_j - 1],

  summed over the last axis; with the standard normal prior p = N(0, I) (the default)

    KL(q || N(0, I)) = 1/2 sum_j [s_j^2 + mu_j^2 - 1 - log s_j^2]

  (Kingma & Welling 2014, appendix B). It is >= 0, and 0 iff q = p.

  Args:
    mean: (..., d) mu.
    log_variance: (..., d) log s^2.
    prior_mean: (..., d) m, or None for 0.
    prior_log_variance: (..., d) log v, or None for 0.

  Returns:
    (...) float32: one KL per example, in nats.

  References:
    Kingma & Welling 2014, Auto-Encoding Variational Bayes (ICLR), appendix B.
  """
  mean = mean.astype(jnp.float32)
  log_variance = log_variance.astype(jnp.float32)
  prior_mean = jnp.zeros_like(mean) if prior_mean is None else prior_mean.astype(jnp.float32)
  prior_log_variance = (jnp.zeros_like(mean) if prior_log_variance is None
                        else prior_log_variance.astype(jnp.float32))
  terms = (prior_log_variance - log_variance
           + (jnp.exp(log_variance) + (mean - prior_mean) ** 2) * jnp.exp(-prior_log_variance)
           - 1.0)
  return 0.5 * jnp.sum(terms, axis=-1)


def _sum_per_example(values: Array) -> Array:
  return jnp.sum(values.reshape((values.shape[0], -1)), axis=-1)


def bernoulli_log_likelihood(*, logits: Array, targets: Array) -> Array:
  """log p(t | l) of independent Bernoulli pixels with logits l, summed per example.

    log p(t | l) = sum_k [t_k log sigmoid(l_k) + (1 - t_k) log(1 - sigmoid(l_k))]
                 = -sum_k [t_k softplus(-l_k) + (1 - t_k) softplus(l_k)]

  (minus the binary cross-entropy, computed from the logits without overflow). The
  targets may be grey levels in [0, 1] rather than {0, 1}, as the VAE papers' MNIST
  experiments use them; the function is then the cross-entropy, which is maximal at
  sigmoid(l) = t (it is not a normalised density over [0, 1]).

  Args:
    logits: (B, ...) the decoder's logits l.
    targets: (B, ...) pixel targets t in [0, 1], `logits`' shape.

  Returns:
    (B,) float32 log-likelihoods, <= 0, in nats.

  References:
    Kingma & Welling 2014, Auto-Encoding Variational Bayes (ICLR), appendix C.1.
  """
  logits = logits.astype(jnp.float32)
  targets = targets.astype(jnp.float32)
  return -_sum_per_example(targets * jax.nn.softplus(-logits)
                           + (1.0 - targets) * jax.nn.softplus(logits))


def gaussian_log_likelihood(*, mean: Array, targets: Array, sigma: float) -> Array:
  """log N(t; mu, sigma^2 I) of the pixels, fixed sigma, summed per example.

    log p(t | mu) = sum_k [-(t_k - mu_k)^2 / (2 sigma^2) - log sigma - 1/2 log(2 pi)],

  a sum of squared errors scaled by 1 / (2 sigma^2) plus a constant: with a fixed
  sigma, maximising it is minimising the MSE, and sigma sets how much the
  reconstruction weighs against the KL term of the ELBO.

  Args:
    mean: (B, ...) the decoder's mean mu.
    targets: (B, ...) pixel targets t, `mean`'s shape.
    sigma: the standard deviation, > 0, in the targets' units.

  Returns:
    (B,) float32 log-densities, in nats.

  References:
    Kingma & Welling 2014, Auto-Encoding Variational Bayes (ICLR), appendix C.2.
  """
  error = (targets.astype(jnp.float32) - mean.astype(jnp.float32)) / sigma
  constant = jnp.log(jnp.float32(sigma)) + 0.5 * jnp.log(2.0 * jnp.pi)
  return -_sum_per_example(0.5 * error ** 2 + constant)


def negative_elbo(*, log_likelihood: Array, kl: Array, beta: float = 1.0) -> Array:
  """The VAE's loss: the batch mean of -ELBO, the KL term weighted by beta.

    loss = 1/B sum_i [-log p(x_i | z_i) + beta KL(q(z|x_i) || p(z))],   z_i ~ q(z|x_i),

  with one reparameterised z_i per example: an unbiased estimate of -ELBO for beta = 1
  (Kingma & Welling 2014, equation (7)), the beta-VAE's objective otherwise (Higgins et
  al. 2017: beta > 1 weighs the prior more).

  Args:
    log_likelihood: (B,) log p(x_i | z_i) (`bernoulli_log_likelihood`,
      `gaussian_log_likelihood`).
    kl: (B,) KL(q(z|x_i) || p(z)) (`gaussian_kl`).
    beta: the KL weight, >= 0.

  Returns:
    A float32 scalar, in nats per example.

  References:
    Kingma & Welling 2014, Auto-Encoding Variational Bayes (ICLR), equation (7).
    Higgins et al. 2017, beta-VAE: Learning Basic Visual Concepts with a Constrained
      Variational Framework (ICLR).
  """
  return jnp.mean(-log_likelihood.astype(jnp.float32) + beta * kl.astype(jnp.float32))
