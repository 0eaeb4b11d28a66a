"""TEMPORARY shim (lead): replaced by the fast layers module."""
import flax.linen as nn


def Conv2D(features, kernel_size, strides=1, use_bias=True, impl="auto", name=None):
  return nn.Conv(features, (kernel_size, kernel_size), strides=(strides, strides),
                 padding="SAME", use_bias=use_bias, name=name)


def ConvTranspose2D(features, kernel_size, strides=1, use_bias=True, impl="auto", name=None):
  return nn.ConvTranspose(features, (kernel_size, kernel_size), strides=(strides, strides),
                          padding="SAME", use_bias=use_bias, name=name)
