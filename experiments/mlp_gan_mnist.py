r"""The MLP GAN of Goodfellow et al. (2014) on MNIST.

  python -m experiments.mlp_gan_mnist --workdir=/tmp/mlp_gan
  python -m experiments.mlp_gan_mnist --workdir=/tmp/mlp_gan \
      --config.dataset=../shared/data/mnist.npz --config.num_steps=20000
"""

from absl import flags
from ml_collections import config_flags

from gan import config as config_lib
from gan import train
from gan.errors import run_cli


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


_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, samples and logs.",
                               required=True)
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def main(argv):
  del argv
  train.train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
  run_cli(main)
