"""MLP generator and discriminator for low-dimensional points (the 2-D mixtures).

The networks of PacGAN's synthetic experiments (Lin et al. 2018, appendix; their code
`synthetic_data_experiments/2DGrid_GAN&PacGAN`), which follow VEEGAN and ALI:

  G: z (2-D N(0, I)) -> 4 x [Dense(400, no bias), BatchNorm, ReLU] -> Dense(2), linear out.
  D: x (2 m values with packing degree m) -> 3 x LinearMaxout(200 units, 5 pieces)
     -> Dense(1) logit; no BatchNorm, no dropout.
  Every weight ~ N(0, 0.02^2), every bias 0.

LinearMaxout (Goodfellow et al. 2013): h_j = max_{p < P} (W_{jp} . x + b_{jp}), one
Dense layer of width * P units followed by a max over each group of P.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan.models.packing import MinibatchStdDev

# PacGAN's weights_init = IsotropicGaussian(0.02), biases_init = Constant(0).
_KERNEL_INIT = nn.initializers.normal(stddev=0.02)


class ToyGenerator(nn.Module):
  """Maps noise (B, noise_dim) to points (B,) + data_shape, unbounded (no tanh).

  Attributes:
    data_shape: shape of one sample, e.g. (2,).
    hidden_widths: widths of the BatchNorm-ReLU hidden layers, (400,) * 4 in PacGAN.
    batch_norm_momentum: running-average momentum of BatchNorm; PacGAN's code keeps
      0.95 * old + 0.05 * batch.
  """

  data_shape: tuple[int, ...] = (2,)
  hidden_widths: Sequence[int] = (400, 400, 400, 400)
  batch_norm_momentum: float = 0.95

  @nn.compact
  def __call__(self, z: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    x = z
    for width in self.hidden_widths:
      x = nn.Dense(width, use_bias=False, kernel_init=_KERNEL_INIT)(x)
      x = nn.BatchNorm(use_running_average=not train, momentum=self.batch_norm_momentum)(x)
      x = nn.relu(x)
    size = 1
    for d in self.data_shape:
      size *= d
    x = nn.Dense(size, kernel_init=_KERNEL_INIT)(x)
    return x.reshape((z.shape[0],) + tuple(self.data_shape))


class LinearMaxout(nn.Module):
  """h_j = max_p (x W_{:, j, p} + b_{j, p}): `features` units of `pieces` linear pieces."""

  features: int
  pieces: int = 5

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    y = nn.Dense(self.features * self.pieces, kernel_init=_KERNEL_INIT)(x)
    return jnp.max(y.reshape(y.shape[:-1] + (self.features, self.pieces)), axis=-1)


class ToyDiscriminator(nn.Module):
  """Maps samples (B, ...) (flattened per row) to one logit each, shape (B,).

  Attributes:
    hidden_widths: hidden units per layer, (200,) * 3 in PacGAN.
    maxout_pieces: pieces per LinearMaxout unit (5 in PacGAN); 1 means ReLU units.
    dropout_rate: dropout on the hidden layers in training (PacGAN: none).
    minibatch_std: append the minibatch standard deviation of the last hidden layer
      as one more feature before the output layer (Karras et al. 2018).
    minibatch_std_group: samples per group of that statistic.
  """

  hidden_widths: Sequence[int] = (200, 200, 200)
  maxout_pieces: int = 5
  dropout_rate: float = 0.0
  minibatch_std: bool = False
  minibatch_std_group: int = 4

  @nn.compact
  def __call__(self, x: jnp.ndarray, *, train: bool = True) -> jnp.ndarray:
    x = x.reshape((x.shape[0], -1))
    for width in self.hidden_widths:
      if self.maxout_pieces > 1:
        x = LinearMaxout(width, self.maxout_pieces)(x)
      else:
        x = nn.relu(nn.Dense(width, kernel_init=_KERNEL_INIT)(x))
      if self.dropout_rate > 0:
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if self.minibatch_std:
      x = MinibatchStdDev(self.minibatch_std_group)(x)
    return nn.Dense(1, kernel_init=_KERNEL_INIT)(x)[:, 0]
