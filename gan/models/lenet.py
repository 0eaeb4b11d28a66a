"""A LeNet-style classifier that also returns its penultimate features (LeCun et al. 1998).

  x in [-1, 1]^{H x W x C}
  -> [Conv k x k (SAME) -> ReLU -> MaxPool 2x2] for each conv width
  -> Dense(feature_dim) -> ReLU          = features (the penultimate layer)
  -> Dense(num_classes)                  = logits

The feature extractors of `gan.eval.features` are trained LeNets: their features feed
FID, KID, precision/recall and density/coverage, their logits the Inception Score.
"""

from typing import Sequence

import flax.linen as nn
import jax


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """2x2 max pooling, stride 2, (odd edges dropped) as a reshape: its gradient is a
  cheap select, where `nn.max_pool`'s select-and-scatter is slow on XLA:CPU."""
  n, h, w, c = x.shape
  x = x[:, :h - h % 2, :w - w % 2]
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class LeNet(nn.Module):
  """(features (B, d), logits (B, C)) of images in [-1, 1], (B, H, W, C).

  Attributes:
    num_classes: C, the number of classes.
    conv_widths: channels of each convolution.
    kernel_size: k, the convolutions' square kernel size.
    feature_dim: d, the width of the penultimate (feature) layer.
  """

  num_classes: int = 10
  conv_widths: Sequence[int] = (16, 32)
  kernel_size: int = 5
  feature_dim: int = 128

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    for width in self.conv_widths:
      x = nn.Conv(width, (self.kernel_size, self.kernel_size), padding="SAME")(x)
      x = max_pool_2x2(nn.relu(x))
    x = x.reshape((x.shape[0], -1))
    features = nn.relu(nn.Dense(self.feature_dim)(x))
    return features, nn.Dense(self.num_classes)(features)
