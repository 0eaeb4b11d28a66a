r"""A VAE on CIFAR-10 (32x32x3) with Gaussian pixels: the likelihood row of the CIFAR-10 table.

  python -m experiments.vae_cifar10 --workdir=runs/vae_cifar10
  python -m gan.cli.sample --workdir=runs/vae_cifar10 --num=100 --out=runs/vae_cifar10/grid.png
  python -m gan.cli.evaluate --workdir=runs/vae_cifar10

Class-conditional (a CVAE):
  python -m experiments.vae_cifar10 --workdir=runs/cvae_cifar10 --config.model.conditional=True
  python -m gan.cli.evaluate --workdir=runs/cvae_cifar10 --per_class=1000

The task `vae` (`gan.tasks.vae`) with the DCGAN-sized networks of
`experiments.dcgan_cifar10` (encoder convolutions (64, 128), decoder (128, 64) from
8x8), a 64-d latent and p(x|z) = N(t; mu(z), 0.1^2 I) on the pixel intensities t in
[0, 1]: sigma sets the weight of the reconstruction (1 / (2 sigma^2) per squared
error) against the KL term; a smaller one gives sharper reconstructions and a less
Gaussian aggregate posterior (--config.loss.decoder_sigma=0.05). 60 minutes of
training, as the GAN rows of the table.
"""

from gan.cli import train
from gan.tasks import vae


def get_config():
  """64-d latent, encoder (64, 128), decoder (128, 64), Gaussian pixels (sigma 0.1),
  Adam(1e-3), batch 64, CIFAR-10 for at most 60 minutes (~5 steps/s on 2 CPU cores)."""
  config = vae.config("vae")
  config.dataset = "../shared/data/cifar10.npz"
  config.model.latent_dim = 64
  config.model.encoder_widths = (64, 128)
  config.model.decoder_widths = (128, 64)
  config.loss.likelihood = "gaussian"
  config.loss.decoder_sigma = 0.1
  config.loss.beta = 1.0
  config.batch_size = 64
  config.num_steps = 30000
  config.run.max_train_seconds = 60 * 60.0
  config.run.num_sample_images = 100
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
