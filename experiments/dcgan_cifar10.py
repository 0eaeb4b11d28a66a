r"""DCGAN on CIFAR-10 (32x32x3): the baseline row of the CIFAR-10 table in docs/cifar10.md.

  python -m experiments.dcgan_cifar10 --workdir=runs/dcgan_cifar10

The DCGAN family at 32x32 (G from 8x8, `gan.models.dcgan`) with the MNIST default's
optimiser (Adam(5e-4, 0.5)), a generator EMA and batch 64, non-saturating loss, no
augmentation; 60 minutes of training, as the SN-ResNet runs it is compared with.
"""

from gan.cli import train
from experiments import dcgan_mnist


def get_config():
  """`experiments.dcgan_mnist`'s recipe (Adam(5e-4, 0.5), G EMA, no dropout, batch 64) with
  the tutorial's full widths, on CIFAR-10 for 60 minutes of training."""
  config = dcgan_mnist.unconditional_config()
  config.dataset = "../shared/data/cifar10.npz"
  config.model.g_widths = (256, 128, 64)
  config.model.d_widths = (64, 128)
  config.num_steps = 100000
  config.run.max_train_seconds = 60 * 60.0
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  config.run.num_sample_images = 100
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
