r"""Class-conditional SNGAN on CIFAR-10 as Miyato & Koyama 2018 train it: for an accelerator.

  python -m experiments.cgan_cifar10_paper --workdir=runs/cgan_paper

`experiments.sngan_cifar10_paper`'s setup (G 256 / D 128, hinge, 5 D steps, Adam(2e-4,
0, 0.9), batch 64, 50,000 G steps) with conditional BatchNorm and a projection D.
"""

from gan.cli import train
from experiments import cgan_cifar10


def get_config():
  return cgan_cifar10.get_config("paper")


if __name__ == "__main__":
  train.main(get_config, __doc__)
