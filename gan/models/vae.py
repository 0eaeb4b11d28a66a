"""The convolutional encoder and decoder of the VAE and the autoencoder (`gan.tasks.vae`).

Encoder (Kingma & Welling 2014's recognition model q(z|x), with the convolutional
layers of a DCGAN discriminator, `gan.models.dcgan`):

  x in [-1, 1]^{H x W x C}
  -> [Conv(w, 5x5, stride 2, SAME) -> LeakyReLU(0.2)] for each w of `widths`
  -> flatten = h   (joined with onehot(y) in a conditional model: h = [h, onehot(y)])
  -> Gaussian:       mu = Dense(d)(h), log sigma^2 = Dense(d)(h)
     deterministic:  z = Dense(d)(h)

so q(z|x) = N(mu(x), diag sigma^2(x)) for the VAE, z = f(x) for the autoencoder.

Decoder (the generative model p(x|z), laid out like the DCGAN generator): with
`widths = (w_0, w_1, ..., w_k)` and s = H / 4,

  z  (joined with onehot(y) in a conditional model: z = [z, onehot(y)])
  -> Dense(s * s * w_0) -> ReLU -> reshape (s, s, w_0)
  -> ConvTranspose(w_i, 5x5, SAME) -> ReLU  for w_1 .. w_k, then ConvTranspose(C, 5x5, SAME)
     (the last two of these upsample by 2, the others keep the size: s -> 4s = H)
  = logits l (B, H, W, C)

The decoder returns unbounded logits; the likelihood gives them their meaning (the
mean pixel intensity is sigmoid(l) in [0, 1] under both of `gan.tasks.vae`'s
likelihoods). H = W must be a multiple of 4: 28x28 (MNIST) starts from 7x7, 32x32
(CIFAR-10) from 8x8. There is no BatchNorm: the modules have parameters only, and a
forward pass is the same in training and inference.

Class conditioning (Sohn, Lee & Yan 2015, the conditional VAE; Kingma et al. 2014's
M2 conditions the same way): the one-hot label joins the features the encoder's
heads read, and the latent the decoder reads, q(z|x, y) and p(x|z, y).

References:
  Kingma & Welling 2014, Auto-Encoding Variational Bayes (ICLR).
  Rezende, Mohamed & Wierstra 2014, Stochastic Backpropagation and Approximate Inference
    in Deep Generative Models (ICML).
  Sohn, Lee & Yan 2015, Learning Structured Output Representation using Deep
    Conditional Generative Models (NeurIPS).
  Radford, Metz & Chintala 2016, Unsupervised Representation Learning with Deep
    Convolutional Generative Adversarial Networks (ICLR).
"""

from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

_KERNEL = 5


def reparameterized_sample(key: jax.Array, mean: jax.Array, log_variance: jax.Array) -> jax.Array:
  """One draw z ~ N(mean, diag exp(log_variance)) as a differentiable function of both.

  The reparameterisation trick (Kingma & Welling 2014, section 2.4):

    z = mean + exp(log_variance / 2) * eps,   eps ~ N(0, I) drawn from `key`,

  so dz/dmean = 1 and dz/dlog_variance = (z - mean) / 2, and the gradient of E_q[f(z)]
  is estimated by that of f(z).

  Args:
    key: a typed PRNG key.
    mean: (..., d) the means.
    log_variance: (..., d) the log-variances, same shape.

  Returns:
    z, float32 of `mean`'s shape.
  """
  eps = jax.random.normal(key, mean.shape, jnp.float32)
  return mean + jnp.exp(0.5 * log_variance) * eps


def _with_label(features: jax.Array, labels: Optional[jax.Array], num_classes: int) -> jax.Array:
  """[features, onehot(labels)] for a conditional module (num_classes > 0), else features."""
  if not num_classes:
    return features
  if labels is None:
    raise ValueError(f"this module is conditional ({num_classes} classes): pass the labels")
  return jnp.concatenate([features, jax.nn.one_hot(labels, num_classes, dtype=features.dtype)],
                         axis=-1)


class ConvEncoder(nn.Module):
  """Images (B, H, W, C) in [-1, 1] -> (mean, log_variance), each (B, d), or codes (B, d).

  Attributes:
    latent_dim: d.
    widths: output channels of the stride-2 convolutions.
    num_classes: C > 0 for a conditional encoder q(z|x, y) (called with the labels).
    gaussian: True: the two heads of q(z|x) = N(mean, diag exp(log_variance)) (VAE);
      False: one head, the deterministic code z = f(x) (autoencoder).
  """

  latent_dim: int
  widths: Sequence[int] = (32, 64)
  num_classes: int = 0
  gaussian: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array] = None):
    for width in self.widths:
      x = nn.Conv(width, (_KERNEL, _KERNEL), strides=(2, 2), padding="SAME")(x)
      x = nn.leaky_relu(x, negative_slope=0.2)
    h = _with_label(x.reshape((x.shape[0], -1)), labels, self.num_classes)
    if not self.gaussian:
      return nn.Dense(self.latent_dim, name="code")(h)
    return (nn.Dense(self.latent_dim, name="mean")(h),
            nn.Dense(self.latent_dim, name="log_variance")(h))


class ConvDecoder(nn.Module):
  """Latents (B, d) -> pixel logits (B, H, W, C) (see the module docstring).

  Attributes:
    image_shape: (H, W, C), H = W a multiple of 4.
    widths: the projection's width, then the widths of the transposed convolutions
      before the last (at least two entries: the last two layers upsample by 2).
    num_classes: C > 0 for a conditional decoder p(x|z, y) (called with the labels).
  """

  image_shape: tuple[int, int, int]
  widths: Sequence[int] = (64, 32)
  num_classes: int = 0

  @nn.compact
  def __call__(self, z: jax.Array, labels: Optional[jax.Array] = None) -> jax.Array:
    height, width, channels = self.image_shape
    if height != width or height % 4 or len(self.widths) < 2:
      raise ValueError(f"ConvDecoder makes square images of a side divisible by 4 from at "
                       f"least two widths; got image_shape={self.image_shape}, "
                       f"widths={tuple(self.widths)}")
    start = height // 4
    z = _with_label(z.astype(jnp.float32), labels, self.num_classes)
    x = nn.relu(nn.Dense(start * start * self.widths[0])(z))
    x = x.reshape((z.shape[0], start, start, self.widths[0]))
    features = list(self.widths[1:]) + [channels]
    for i, f in enumerate(features):
      stride = 2 if i >= len(features) - 2 else 1
      x = nn.ConvTranspose(f, (_KERNEL, _KERNEL), strides=(stride, stride), padding="SAME")(x)
      if i < len(features) - 1:
        x = nn.relu(x)
    return x
