r"""A class-conditional DCGAN on MNIST: "draw a 7" on demand, and a LeNet reads a 7.

  python -m experiments.cgan_mnist --workdir=runs/cgan_mnist
  python -m gan.cli.sample --workdir=runs/cgan_mnist --num=100 --out=runs/cgan_mnist/classes.png
  python -m gan.cli.sample --workdir=runs/cgan_mnist --labels=7 --num=16 --out=sevens.png
  python -m gan.cli.evaluate --workdir=runs/cgan_mnist --per_class=1000

The unconditional recipe of `experiments.dcgan_mnist` (`unconditional_config()`: its
narrow DCGAN, Adam(5e-4, 0.5), generator EMA, batch 64) made label-conditional on MNIST's
own labels (the experiment's default conditions on k-means clusters instead): G(z, y) joins a
learned label embedding to z, D is a projection discriminator (Miyato & Koyama 2018:
logit = psi(phi(x)) + <embed(y), phi(x)>). docs/conditional.md has its per-class
accuracy and FID after the run below, and the grid of one row per class.
"""

from gan.cli import train
from experiments import dcgan_mnist


def get_config():
  """`experiments.dcgan_mnist`'s unconditional recipe, label-conditional (projection D), on
  full MNIST."""
  config = dcgan_mnist.unconditional_config()
  config.task = "conditional_gan"
  config.dataset = "../shared/data/mnist.npz"  # Labels are needed: full MNIST.
  config.model.conditioning = "projection"
  config.num_steps = 20000
  config.run.max_train_seconds = 30 * 60.0  # The budget: at most 30 minutes.
  config.run.num_sample_images = 100  # 10 rows (classes) of 10.
  config.run.checkpoint_every = 1000
  config.run.sample_every = 1000
  return config


if __name__ == "__main__":
  train.main(get_config, __doc__)
