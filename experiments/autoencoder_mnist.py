r"""A deterministic autoencoder on MNIST, sampled through a Gaussian fit of its codes.

  python -m experiments.autoencoder_mnist --workdir=runs/autoencoder_mnist
  python -m gan.cli.sample --workdir=runs/autoencoder_mnist --num=100 --out=grid.png
  python -m gan.cli.evaluate --workdir=runs/autoencoder_mnist

Class-conditional (the one-hot label joins the encoder and the decoder):
  python -m experiments.autoencoder_mnist --workdir=runs/cae_mnist \
      --config.model.conditional=True
  python -m gan.cli.sample --workdir=runs/cae_mnist --labels=7 --num=16 --out=sevens.png

The task `autoencoder` (`gan.tasks.vae`): `experiments.vae_mnist`'s networks with a
deterministic code and the reconstruction loss alone (binary cross-entropy). Samples
decode z = m + L eps, eps ~ N(0, I), where m and L L^T are the mean and covariance of
the codes seen in training (exact over the first 1,000 steps, then an EMA of decay
0.999 that follows the encoder; `--config.model.latent_fit_decay=0` keeps the exact
moments of every code), kept in the checkpoint. It is the "ex-post density
estimation" baseline of Ghosh et al. 2020 with its simplest density.
"""

from gan.cli import train
from gan.tasks import vae
from experiments import vae_mnist


def get_config():
  """`experiments.vae_mnist`'s networks, data and budget, as a deterministic autoencoder."""
  base = vae_mnist.get_config()
  config = vae.config("autoencoder")
  config.dataset = base.dataset
  config.batch_size = base.batch_size
  config.num_steps = base.num_steps
  for field in ("latent_dim", "encoder_widths", "decoder_widths"):
    config.model[field] = base.model[field]
  config.model.latent_fit_decay = 0.999
  config.loss.likelihood = "bernoulli"
  config.run = base.run
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
