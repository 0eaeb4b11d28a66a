r"""The MLP GAN of Goodfellow et al. (2014) on MNIST.

  python -m experiments.mlp_gan_mnist --workdir=/tmp/mlp_gan
  python -m experiments.mlp_gan_mnist --workdir=/tmp/mlp_gan \
      --config.dataset=../shared/data/mnist.npz --config.num_steps=20000
"""

from experiments import runner
from gan import config as config_lib


def get_config():
  """G 100 -> 128 -> 128 -> 784, D 784 -> 128 -> 128 -> 1, batch 64, no dropout."""
  config = config_lib.base_config()
  config.model = "mlp"
  config.g_widths = (128, 128)
  config.d_widths = (128, 128)
  config.dropout_rate = 0.0
  config.num_steps = 5000
  config.batch_size = 64
  config.checkpoint_every = 1000
  config.sample_every = 1000
  return config


if __name__ == "__main__":
  runner.run(get_config)
