"""Generator / discriminator families, by name.

`build(name, ...)` returns the (generator, discriminator) pair of a family; a new
family is one function that builds the pair and one line in `MODELS`.
"""

from typing import Callable

import flax.linen as nn

from gan.errors import UserError

from gan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan.models.mlp import MLPDiscriminator, MLPGenerator


def _dcgan(*, image_shape, g_widths, d_widths, dropout_rate, conv_impl):
  if image_shape[0] != image_shape[1] or image_shape[0] % 4:
    raise UserError(
        f"dcgan needs square images with side divisible by 4 (28 or 32), got "
        f"{image_shape[:2]}; use --config.model=mlp for other shapes")
  return (DCGANGenerator(image_shape=image_shape, widths=tuple(g_widths), conv_impl=conv_impl),
          DCGANDiscriminator(widths=tuple(d_widths), dropout_rate=dropout_rate,
                             conv_impl=conv_impl))


def _mlp(*, image_shape, g_widths, d_widths, dropout_rate, conv_impl):
  del conv_impl
  return (MLPGenerator(image_shape=image_shape, hidden_widths=tuple(g_widths)),
          MLPDiscriminator(hidden_widths=tuple(d_widths), dropout_rate=dropout_rate))


MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    "dcgan": _dcgan,
    "mlp": _mlp,
}


def build(name: str, *, image_shape: tuple[int, int, int], g_widths, d_widths,
          dropout_rate: float = 0.0, conv_impl: str = "auto") -> tuple[nn.Module, nn.Module]:
  """Returns the (generator, discriminator) modules of family `name`."""
  if name not in MODELS:
    raise UserError(f"unknown model {name!r}; choose one of {sorted(MODELS)} "
                     f"(--config.model=...)")
  return MODELS[name](image_shape=tuple(image_shape), g_widths=g_widths, d_widths=d_widths,
                      dropout_rate=dropout_rate, conv_impl=conv_impl)
