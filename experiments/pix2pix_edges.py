r"""pix2pix (Isola et al. 2017) on Fashion-MNIST: edge map -> garment, sized for 2 CPU cores.

  python -m experiments.pix2pix_edges --workdir=runs/pix2pix_edges
  python -m experiments.pix2pix_edges --workdir=runs/pix2pix_edges_l1 --config.loss.adv_weight=0
  python -m gan.cli.evaluate --workdir=runs/pix2pix_edges        # PSNR, SSIM, L1, FID
  python -m gan.cli.translate --workdir=runs/pix2pix_edges --input=edges.png --out=out.png

The pairs are made offline by `gan.data.pairs` (`paired:edges:SRC`: the Sobel edge
map of every image, nothing stored). G: a U-Net with skips and decoder dropout; D: a
PatchGAN on concat(edges, image) with 2 stride-2 layers (34x34 receptive field, about
the whole 28x28 image; the paper's 70x70 patch is for 256x256 images); non-saturating
loss + 100 x L1, D's loss halved, Adam(2e-4, 0.5). With `--config.loss.adv_weight=0`
the same U-Net is trained with L1 alone: the baseline of docs/translation.md.
`preset="paper"` is the paper's sizes (ngf = ndf = 64, 70x70 PatchGAN, batch 1) for
an accelerator, on CIFAR-10 grey -> colour.
"""

import ml_collections

from gan.cli import train
from gan.tasks import translation

PRESETS = ("cpu", "paper")


def get_config(preset: str = "cpu") -> ml_collections.ConfigDict:
  """The CPU config, or with preset='paper' the paper's sizes (module docstring)."""
  config = translation.config("pix2pix")
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  config.run.num_sample_images = 24  # 8 rows of edges | output | garment.
  if preset == "cpu":
    config.dataset = "paired:edges:../shared/data/fashion_mnist.npz"
    config.batch_size = 32
    config.model.g_width = 32
    config.model.d_width = 32
    config.model.d_layers = 2
    config.num_steps = 6000
    config.run.max_train_seconds = 20 * 60.0
  elif preset == "paper":
    config.dataset = "paired:grey:../shared/data/cifar10.npz"
    config.batch_size = 1
    config.num_steps = 200 * 50000  # 200 epochs of CIFAR-10 at batch 1.
  else:
    raise ValueError(f"preset {preset!r}: choose one of {PRESETS}")
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
