r"""A label-conditional MLP GAN on MNIST (Mirza & Osindero 2014): "draw a 7" on demand.

  python -m experiments.conditional_mlp_mnist --workdir=runs/cgan \
      --config.dataset=../shared/data/mnist.npz
  python -m gan.cli.sample --workdir=runs/cgan --num=100 --out=runs/cgan/classes.png
  python -m gan.cli.sample --workdir=runs/cgan --labels=7 --num=16 --out=runs/cgan/sevens.png

The second task of the training program (`conditional_gan`): batches {image, label}
read by the same (seed, step) rule as the images; G(z, y) and D(x, y) are the MLP
family with the label joined to their inputs (`gan.models.conditional`); the loss
menu, checkpoints, resume and the sample grids (one row per class) are the program's.
"""

from gan import config as config_lib
from gan.cli import train


def get_config():
  """Conditional MLP GAN: G 100+50 -> 256 -> 256 -> 784, D (784+1 plane) -> 256 -> 256 -> 1."""
  config = config_lib.base_config()
  config.task = "conditional_gan"
  config.dataset = "../shared/data/mnist.npz"  # Labels are needed: full MNIST.
  config.model.name = "mlp"
  config.model.g_widths = (256, 256)
  config.model.d_widths = (256, 256)
  config.model.dropout_rate = 0.0
  config.model.conditioning = "concat"
  config.num_steps = 10000
  config.batch_size = 64
  config.run.steps_per_call = 10
  config.run.num_sample_images = 100  # 10 rows (classes) of 10.
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
