r"""A VAE on MNIST (Kingma & Welling 2014): the likelihood baseline beside the GANs.

  python -m experiments.vae_mnist --workdir=runs/vae_mnist
  python -m gan.cli.sample --workdir=runs/vae_mnist --num=100 --out=runs/vae_mnist/grid.png
  python -m gan.cli.evaluate --workdir=runs/vae_mnist

Class-conditional (a CVAE: the one-hot label joins the encoder and the decoder, and
samples are drawn for the labels asked for):
  python -m experiments.vae_mnist --workdir=runs/cvae_mnist --config.model.conditional=True
  python -m gan.cli.sample --workdir=runs/cvae_mnist --labels=7 --num=16 --out=sevens.png
  python -m gan.cli.evaluate --workdir=runs/cvae_mnist --per_class=1000

The task `vae` (`gan.tasks.vae`): a convolutional Gaussian encoder and a DCGAN-like
decoder of Bernoulli pixels, the negative ELBO with one reparameterised sample, one
Adam for both networks. It trains through the GANs' program: the same command again
resumes, and samples and scores come from the same tools. beta-VAE:
--config.loss.beta=4.
"""

from gan.cli import train
from gan.tasks import vae


def get_config():
  """A 16-d latent, encoder convolutions (32, 64), decoder (64, 32) from 7x7, Bernoulli
  pixels, Adam(1e-3), batch 64, full MNIST: ~20 steps/s on 2 CPU cores."""
  config = vae.config("vae")
  config.dataset = "../shared/data/mnist.npz"
  config.model.latent_dim = 16
  config.model.encoder_widths = (32, 64)
  config.model.decoder_widths = (64, 32)
  config.loss.likelihood = "bernoulli"
  config.loss.beta = 1.0
  config.batch_size = 64
  config.num_steps = 20000  # ~21 epochs.
  config.run.max_train_seconds = 30 * 60.0  # The conditional GAN's budget.
  config.run.num_sample_images = 100  # 10 x 10 (10 rows, one per class, when conditional).
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
