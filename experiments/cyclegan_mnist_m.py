r"""CycleGAN (Zhu et al. 2017): MNIST <-> MNIST-M-style digits, unpaired, sized for 2 CPU cores.

  python -m experiments.cyclegan_mnist_m --workdir=runs/cyclegan
  python -m gan.cli.evaluate --workdir=runs/cyclegan    # label kept, cycle error, FID
  python -m gan.cli.translate --workdir=runs/cyclegan --input=digits.npz --out=coloured.npz

Domain A: MNIST digits; domain B: other MNIST digits blended with colour patches of
CIFAR-10 images, |patch - digit|, as Ganin et al. 2016 built MNIST-M from BSDS500
(`unpaired:mnist_m:MNIST:BACKGROUNDS`, `gan.data.pairs`, made offline). Each domain's
batches follow their own permutation. ResNet generators (instance norm; at full
resolution, without CycleGAN's two down-samplings, in the CPU config), PatchGAN
discriminators, least-squares loss, cycle x 10 (a -> G -> F -> a) and, in the CPU config,
x 0 for the way back (b -> F -> G -> b: without it F erases MNIST-M's background instead
of hiding it for G to rebuild; docs/translation.md), no identity term (the domains differ
in channels), history pools of 50 fakes, Adam(2e-4, 0.5) held for half the run then
decayed linearly to 0. `preset="paper"`: 9 blocks of 64 channels, batch 1 (for an
accelerator).
"""

import ml_collections

from gan.cli import train
from gan.tasks import cyclegan

PRESETS = ("cpu", "paper")


def get_config(preset: str = "cpu") -> ml_collections.ConfigDict:
  """The CPU config, or with preset='paper' the paper's sizes (module docstring)."""
  config = cyclegan.config()
  config.dataset = "unpaired:mnist_m:../shared/data/mnist.npz:../shared/data/cifar10.npz"
  config.loss.identity_weight = 0.0
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  config.run.num_sample_images = 24  # 4 rows per direction: input | translated | back.
  if preset == "paper":
    config.model.g_downsamples = 2
  if preset == "cpu":
    config.batch_size = 16
    config.model.g_width = 16
    # A local G (no down-sampling, 2 blocks: a 21-pixel receptive field) keeps the digit
    # where it is; CycleGAN's 2 down-samplings let G hide it (docs/translation.md).
    config.model.g_downsamples = 0
    config.model.g_blocks = 2
    config.model.d_width = 16
    config.model.d_layers = 2
    # lambda_B: at 10, F keeps 42% of labels MNIST-M -> MNIST; at 1, 81% and 77% (seeds 0,
    # 1); at 0, 81.5% and 80.1% (docs/translation.md).
    config.loss.cycle_weight_b = 0.0
    config.num_steps = 6000  # About 12 minutes alone on 2 cores.
    config.run.max_train_seconds = 30 * 60.0
  elif preset == "paper":
    config.num_steps = 200 * 30000  # 200 epochs of a domain at batch 1.
  else:
    raise ValueError(f"preset {preset!r}: choose one of {PRESETS}")
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
