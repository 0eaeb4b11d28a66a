r"""Class-conditional SNGAN on CIFAR-10: conditional BatchNorm in G, a projection D.

  python -m experiments.cgan_cifar10 --workdir=runs/cgan_cifar10
  python -m experiments.cgan_cifar10_paper --workdir=runs/cgan_paper  # on an accelerator
  python -m gan.cli.sample --workdir=runs/cgan_cifar10 --num=100 --out=classes.png

Miyato & Koyama 2018 ("cGANs with Projection Discriminator"): G's BatchNorms take a
per-class gain and bias, D's logit is psi(phi(x)) + <embed(y), phi(x)>. The CPU config
and the paper's are those of `experiments.sngan_cifar10`, with the labels.
"""

from gan.cli import train
from experiments import sngan_cifar10


def get_config(preset: str = "cpu"):
  config = sngan_cifar10.get_config(preset)
  config.task = "conditional_gan"
  config.model.conditioning = "projection"
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
