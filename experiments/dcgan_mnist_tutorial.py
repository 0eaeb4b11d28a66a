r"""The TensorFlow DCGAN tutorial's recipe on MNIST, kept as it is for comparison.

  python -m experiments.dcgan_mnist_tutorial --workdir=runs/tutorial \
      --config.dataset=../shared/data/mnist.npz

https://www.tensorflow.org/tutorials/generative/dcgan: G Dense(7*7*256) -> transposed
convolutions 128, 64, 1 (5x5; BatchNorm, LeakyReLU), D convolutions 64, 128 (5x5,
stride 2; LeakyReLU, dropout 0.3), the non-saturating loss, Adam(1e-4) with Keras's
betas (0.9, 0.999) for both players, batch 256, 50 epochs of the 60,000 training
digits (11,700 steps). `experiments.dcgan_mnist` is the recipe that makes better
samples per minute on 2 CPU cores (docs/quality.md).
"""

from gan import config as config_lib
from gan.cli import train


def get_config():
  """The tutorial: its networks, Adam(1e-4, 0.9, 0.999), batch 256, 50 epochs."""
  config = config_lib.base_config()
  config.dataset = "../shared/data/mnist.npz"
  config.model.name = "dcgan"
  config.model.g_widths = (256, 128, 64)
  config.model.d_widths = (64, 128)
  config.model.dropout_rate = 0.3
  config.optim.g_lr = config.optim.d_lr = 1e-4
  config.optim.beta1, config.optim.beta2 = 0.9, 0.999
  config.batch_size = 256
  config.num_steps = 50 * (60000 // 256)  # 11,700: 50 epochs, the last batch dropped.
  config.run.checkpoint_every = config.run.sample_every = 1170
  config.run.log_every = 117
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
