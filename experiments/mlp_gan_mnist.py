r"""The MLP GAN of Goodfellow et al. (2014) on MNIST.

  python -m experiments.mlp_gan_mnist --workdir=runs/mlp_gan
  python -m experiments.mlp_gan_mnist --workdir=runs/mlp_gan \
      --config.dataset=../shared/data/mnist.npz --config.num_steps=20000 --config.run.steps_per_call=10
"""

from gan import config as config_lib
from gan.cli import train


def get_config():
  """G 100 -> 128 -> 128 -> 784, D 784 -> 128 -> 128 -> 1, batch 64, no dropout."""
  config = config_lib.base_config()
  config.model.name = "mlp"
  config.model.g_widths = (128, 128)
  config.model.d_widths = (128, 128)
  config.model.dropout_rate = 0.0
  config.num_steps = 5000
  config.batch_size = 64
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
