r"""SNGAN's ResNet on CIFAR-10 (Miyato et al. 2018), sized for 2 CPU cores, or the paper's.

  python -m experiments.sngan_cifar10 --workdir=runs/sngan_cifar10
  python -m experiments.sngan_cifar10_paper --workdir=runs/sngan_paper  # on an accelerator
  python -m gan.cli.evaluate --workdir=runs/sngan_cifar10 --extractor=inception

G: z (128) -> 4x4 -> three up ResBlocks -> 32x32x3; D: spectrally normalised ResBlocks,
global sum pool, a linear logit (`gan.models.resnet`). Hinge loss, Adam(beta1 0,
beta2 0.9). The CPU config narrows both networks to 64 channels, takes one D step per
G step with the two time-scale rule (D 4e-4, G 1e-4), adds DiffAugment (colour,
translation, cutout) and a generator EMA, and stops after 60 minutes of training; the
paper's config is Table 4's: G 256 / D 128 channels, 5 D steps per G step, Adam(2e-4,
0, 0.9), batch 64, 50,000 G steps, no augmentation.
"""

import ml_collections

from gan import config as config_lib
from gan.cli import train

PRESETS = ("cpu", "paper")


def get_config(preset: str = "cpu") -> ml_collections.ConfigDict:
  """The CPU config, or with preset='paper' the paper's (module docstring)."""
  config = config_lib.base_config()
  config.dataset = "../shared/data/cifar10.npz"  # Or `cifar10` through TFDS.
  config.model.name = "resnet"
  config.model.noise_dim = 128
  config.model.dropout_rate = 0.0
  config.loss.name = "hinge"
  config.optim.beta1, config.optim.beta2 = 0.0, 0.9
  config.batch_size = 64
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  config.run.num_sample_images = 100
  if preset == "paper":
    config.model.g_widths, config.model.d_widths = (256,), (128,)
    config.optim.g_lr = config.optim.d_lr = 2e-4
    config.optim.d_steps = 5
    config.num_steps = 50000
  elif preset == "cpu":
    config.model.g_widths, config.model.d_widths = (64,), (64,)
    config.optim.g_lr, config.optim.d_lr = 1e-4, 4e-4
    config.optim.ema_decay = 0.999
    config.optim.ema_warmup = True
    config.loss.augment = "color,translation,cutout"
    config.num_steps = 100000
    config.run.max_train_seconds = 60 * 60.0
  else:
    raise ValueError(f"preset {preset!r}: choose one of {PRESETS}")
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
