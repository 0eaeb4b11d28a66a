r"""SNGAN's ResNet on CIFAR-10 as the paper trains it (Miyato et al. 2018, Table 4): for an accelerator.

  python -m experiments.sngan_cifar10_paper --workdir=runs/sngan_paper

G 256 / D 128 channels, hinge loss, 5 D steps per G step, Adam(2e-4, 0, 0.9), batch 64,
50,000 generator steps (about 2.8 TFLOP per generator step: hours on a GPU, weeks on 2
CPU cores). `experiments.sngan_cifar10` is the same family sized for a CPU.
"""

from gan.cli import train
from experiments import sngan_cifar10


def get_config():
  return sngan_cifar10.get_config("paper")


if __name__ == "__main__":
  train.main(get_config, __doc__)
