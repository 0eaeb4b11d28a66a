r"""SRGAN (Ledig et al. 2017), 4x: MNIST 7x7 -> 28x28, sized for 2 CPU cores; or SRResNet.

  python -m experiments.srgan_mnist --workdir=runs/srgan_mnist
  python -m experiments.srgan_mnist --workdir=runs/srresnet_mnist --config.loss.adv_weight=0 \
      --config.loss.feature_weight=0
  python -m gan.cli.evaluate --workdir=runs/srgan_mnist     # PSNR, SSIM, FID vs bicubic
  python -m gan.cli.translate --workdir=runs/srgan_mnist --input=small.npz --out=big.npz

Pairs `paired:down4:SRC` (`gan.data.pairs`: each 28x28 digit and its 4x4-block mean,
made offline). G: SRResNet (residual blocks, two x2 sub-pixel upsamplings); D: SRGAN's
discriminator, shrunk. Loss (Ledig et al. eq. 3): pixel MSE + content loss on the
penultimate features of the project's MNIST LeNet (VGG-19's weights cannot be fetched
here; `loss.feature_extractor`, trained on first use and cached) + 1e-3 x the
adversarial term. With `adv_weight=0` and `feature_weight=0` it is SRResNet, the
PSNR-oriented baseline. `preset="paper"`: 16 blocks of 64 channels on CIFAR-10 8x8 ->
32x32, for an accelerator.
"""

import ml_collections

from gan.cli import train
from gan.tasks import translation

PRESETS = ("cpu", "paper", "cifar10")


def get_config(preset: str = "cpu") -> ml_collections.ConfigDict:
  """The CPU config on MNIST, the CPU config on CIFAR-10, or the paper's sizes."""
  config = translation.config("srgan")
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  config.run.num_sample_images = 24
  # Filled by the command line's `prepare` (the cached LeNet of the target data).
  config.loss.feature_weight = 0.01
  config.loss.feature_extractor = "auto"
  if preset in ("cpu", "cifar10"):
    config.dataset = ("paired:down4:../shared/data/mnist.npz" if preset == "cpu" else
                      "paired:down4:../shared/data/cifar10.npz")
    config.batch_size = 32
    config.model.g_width = 32
    config.model.g_blocks = 4
    config.model.d_width = 16
    config.model.d_layers = 2
    config.model.srgan_dense = 128
    config.num_steps = 6000
    config.run.max_train_seconds = 15 * 60.0
  elif preset == "paper":
    config.dataset = "paired:down4:../shared/data/cifar10.npz"
    config.num_steps = 100000
  else:
    raise ValueError(f"preset {preset!r}: choose one of {PRESETS}")
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
