"""2-D Gaussian mixtures, the standard mode-collapse benchmarks, as data sources.

Two mixtures of isotropic Gaussians with equal weights, as in PacGAN (Lin et al. 2018,
section 5.1) after VEEGAN (Srivastava et al. 2017) and the unrolled GAN (Metz et al.
2017):

  ring:  8 modes, mu_i = (cos(2 pi i / 8), sin(2 pi i / 8)), i = 0..7, sigma = 0.01;
  grid: 25 modes, mu in {-4, -2, 0, 2, 4}^2,                           sigma = 0.05.

The ring's angles are 2 pi i / K for i = 0..K-1, i.e. `np.arange(K) * 2 pi / K`; the
common `np.linspace(0, 2 pi, K)` includes both endpoints 0 and 2 pi, which are the
same point, and so gives only K - 1 distinct modes.

Samples are drawn on the device from a key, never from host state, so a batch is a
pure function of (key, step) (`mixture_batch`) and a jitted, vmapped training loop
can draw its own data.

Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN section 5.2) is the image-sized
relative: three MNIST digits drawn independently and uniformly from the training set
stacked as the R, G, B channels, a mixture of 10^3 = 1,000 modes (digit triples).
`stacked_mnist_batch` draws it the same way, from (key, step), so the data set is
the whole distribution rather than a fixed sample of it.

References:
  Lin, Khetan, Fanti & Oh 2018, PacGAN: The power of two samples in generative
    adversarial networks (NeurIPS).
  Srivastava, Valkov, Russell, Gutmann & Sutton 2017, VEEGAN: Reducing Mode Collapse
    in GANs using Implicit Variational Learning (NeurIPS).
  Metz, Poole, Pfau & Sohl-Dickstein 2017, Unrolled Generative Adversarial Networks.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from gan.errors import UserError

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class GaussianMixture:
  """An equal-weight mixture of isotropic Gaussians N(mu_k, sigma^2 I), k = 1..K.

  Attributes:
    name: what the mixture is called (`ring`, `grid`).
    means: (K, D) float64 numpy array of the mode centres mu_k.
    std: sigma, the standard deviation of every mode along every axis.
  """

  name: str
  means: np.ndarray
  std: float

  @property
  def num_modes(self) -> int:
    return int(self.means.shape[0])

  @property
  def dim(self) -> int:
    return int(self.means.shape[1])

  def __hash__(self):  # Hashable by value, so a mixture can be static under jit.
    return hash((self.name, self.means.tobytes(), self.std))

  def __eq__(self, other):
    return (isinstance(other, GaussianMixture) and self.name == other.name and
            self.std == other.std and np.array_equal(self.means, other.means))


def ring(num_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> GaussianMixture:
  """K modes evenly spaced on a circle: mu_i = r (cos 2 pi i / K, sin 2 pi i / K).

  Args:
    num_modes: K (8 in PacGAN and VEEGAN).
    radius: r (1 in PacGAN; 2 in the unrolled GAN paper).
    std: sigma of each mode (0.01 in PacGAN).

  Returns:
    The mixture; its K means are distinct for every K >= 1.
  """
  angles = 2.0 * np.pi * np.arange(num_modes) / num_modes  # Not linspace: 2 pi == 0.
  means = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
  return GaussianMixture("ring", means, float(std))


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.05) -> GaussianMixture:
  """side x side modes on a square lattice centred at 0: mu in {-4, -2, 0, 2, 4}^2 by default.

  Args:
    side: modes per axis (5 in PacGAN: 25 modes).
    spacing: distance between neighbouring modes (2 in PacGAN).
    std: sigma of each mode (0.05 in PacGAN).

  Returns:
    The mixture, modes in row-major order of (x, y).
  """
  axis = spacing * (np.arange(side) - (side - 1) / 2.0)
  xs, ys = np.meshgrid(axis, axis, indexing="ij")
  means = np.stack([xs.ravel(), ys.ravel()], axis=1)
  return GaussianMixture("grid", means, float(std))


MIXTURES = {"ring": ring, "grid": grid}


def get_mixture(name: str) -> GaussianMixture:
  """The PacGAN mixture called `name` (`ring` or `grid`) with the paper's parameters."""
  if name not in MIXTURES:
    raise UserError(f"unknown mixture {name!r}; choose one of {sorted(MIXTURES)} "
                    f"(config.dataset='mixture:grid' or 'mixture:ring')")
  return MIXTURES[name]()


def sample_with_modes(mixture: GaussianMixture, key: Array,
                      shape: tuple[int, ...]) -> tuple[Array, Array]:
  """Draws points and the modes they came from.

  k ~ Uniform{0..K-1}, x = mu_k + sigma * eps, eps ~ N(0, I).

  Args:
    mixture: the mixture.
    key: a typed PRNG key; split once into the mode and the noise keys.
    shape: leading shape of the draw, e.g. (num_samples,) or (d_steps, batch).

  Returns:
    (points of shape shape + (D,), float32; mode indices of shape `shape`, int32).
  """
  mode_key, noise_key = jax.random.split(key)
  modes = jax.random.randint(mode_key, shape, 0, mixture.num_modes, dtype=jnp.int32)
  means = jnp.asarray(mixture.means, jnp.float32)
  noise = jax.random.normal(noise_key, tuple(shape) + (mixture.dim,), jnp.float32)
  return means[modes] + mixture.std * noise, modes


def sample(mixture: GaussianMixture, key: Array, shape: tuple[int, ...]) -> Array:
  """Points x ~ (1/K) sum_k N(mu_k, sigma^2 I) of shape `shape + (D,)` (see `sample_with_modes`)."""
  return sample_with_modes(mixture, key, shape)[0]


def mixture_batch(mixture: GaussianMixture, key: Array, step: Array, *, batch_size: int,
                  d_steps: int = 1) -> Array:
  """The real batch of training step `step`: a pure function of (key, step).

  Draws `sample(mixture, fold_in(key, step), (d_steps, batch_size))`, one sub-batch per
  discriminator update, the layout the GAN task's step expects (`gan.tasks.gan`).

  Args:
    mixture: the mixture.
    key: the run's data key (constant over the run).
    step: the step (a traced int is fine).
    batch_size: points per discriminator update.
    d_steps: discriminator updates per step.

  Returns:
    (d_steps, batch_size, D) float32 points.
  """
  return sample(mixture, jax.random.fold_in(key, step), (d_steps, batch_size))


def stacked_mnist_batch(key: Array, step: Array, digits: Array, *, batch_size: int,
                        d_steps: int = 1, channels: int = 3) -> Array:
  """The real Stacked MNIST batch of step `step`: a pure function of (key, step, digits).

  Image b of sub-batch i stacks digits[j_{i,b,c}] as channel c, with the indices
  j ~ Uniform{0..N-1} drawn independently with `fold_in(key, step)`.

  Args:
    key: the run's data key.
    step: the step (a traced int is fine).
    digits: (N, H, W) or (N, H, W, 1) uint8 MNIST training images, on the device.
    batch_size: images per discriminator update.
    d_steps: discriminator updates per step.
    channels: digits per image (3: 1,000 modes).

  Returns:
    (d_steps, batch_size, H, W, channels) uint8.
  """
  grey = digits.reshape(digits.shape[:3])
  index = jax.random.randint(jax.random.fold_in(key, step), (d_steps, batch_size, channels),
                             0, grey.shape[0])
  return jnp.moveaxis(grey[index], 2, -1)
