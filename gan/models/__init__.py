"""Generator / discriminator families, by name.

`build(name, ...)` returns the (generator, discriminator) pair of a family; a new
family is one function that builds the pair and one line in `MODELS`. A family
function takes the keywords `image_shape` (the shape of one sample: (H, W, C) for
images, (D,) for points), `g_widths`, `d_widths`, `dropout_rate` and `minibatch_std`
(and `dtype`, the computation dtype, where the family supports
bfloat16); `build` wraps the discriminator for PacGAN packing
(`gan.models.packing`) and, with `latent_codes`, wraps the generator to take a
discrete code as well as noise (`gan.models.latent`), and with `num_classes` makes
both players take a class label (`gan.models.conditional`).

The modules are written with Flax's own layers, for any platform; how they are
lowered on CPU is the builder's business (`gan.backends`).

Families:
  dcgan     DCGAN (Radford et al. 2016), 28x28 or 32x32 images.
  mlp       the MLP GAN of Goodfellow et al. 2014, any image shape.
  toy       PacGAN's networks for 2-D points: BatchNorm-ReLU MLP G, LinearMaxout D.
  toy_relu  the same with ReLU units in D.
"""

from typing import Callable

import flax.linen as nn
import jax.numpy as jnp

from gan.errors import ConfigError

from gan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan.models.conditional import LabelConcatDiscriminator, LabelConcatGenerator
from gan.models.latent import DiscreteLatentGenerator
from gan.models.mlp import MLPDiscriminator, MLPGenerator
from gan.models.packing import MinibatchStdDiscriminator, PackedDiscriminator
from gan.models.toy import ToyDiscriminator, ToyGenerator


def _with_input_minibatch_std(discriminator: nn.Module, minibatch_std: bool) -> nn.Module:
  return MinibatchStdDiscriminator(discriminator) if minibatch_std else discriminator


def _dcgan(*, image_shape, g_widths, d_widths, dropout_rate, minibatch_std=False,
           dtype=jnp.float32):
  if len(image_shape) != 3 or image_shape[0] != image_shape[1] or image_shape[0] % 4:
    raise ConfigError("model.name", "dcgan", f"needs square images with side divisible by 4 "
                      f"(28 or 32), got {tuple(image_shape)}; use config.model.name='mlp' for "
                      f"other shapes")
  return (DCGANGenerator(image_shape=image_shape, widths=tuple(g_widths), dtype=dtype),
          _with_input_minibatch_std(
              DCGANDiscriminator(widths=tuple(d_widths), dropout_rate=dropout_rate,
                                 dtype=dtype), minibatch_std))


def _mlp(*, image_shape, g_widths, d_widths, dropout_rate, minibatch_std=False,
         dtype=jnp.float32):
  return (MLPGenerator(image_shape=image_shape, hidden_widths=tuple(g_widths), dtype=dtype),
          _with_input_minibatch_std(
              MLPDiscriminator(hidden_widths=tuple(d_widths), dropout_rate=dropout_rate,
                               dtype=dtype), minibatch_std))


def _toy(*, image_shape, g_widths, d_widths, dropout_rate, minibatch_std=False,
         maxout_pieces=5):
  return (ToyGenerator(data_shape=tuple(image_shape), hidden_widths=tuple(g_widths)),
          ToyDiscriminator(hidden_widths=tuple(d_widths), maxout_pieces=maxout_pieces,
                           dropout_rate=dropout_rate, minibatch_std=minibatch_std))


def _toy_relu(**kwargs):
  return _toy(maxout_pieces=1, **kwargs)


# Computation dtypes by name (`--config.compute_dtype`), and the families that take one.
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
_BFLOAT16_FAMILIES = ("dcgan", "mlp")

# How a conditional discriminator sees the label (`config.model.conditioning`).
CONDITIONINGS = ("concat",)

MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    "dcgan": _dcgan,
    "mlp": _mlp,
    "toy": _toy,
    "toy_relu": _toy_relu,
}


def compute_dtype_of(compute_dtype: str, model: str):
  """The jnp dtype named by `config.model.compute_dtype`, or a one-line `ConfigError`."""
  if compute_dtype not in COMPUTE_DTYPES:
    raise ConfigError("model.compute_dtype", compute_dtype,
                      f"is not a dtype; choose one of {', '.join(COMPUTE_DTYPES)}")
  if compute_dtype != "float32" and model not in _BFLOAT16_FAMILIES:
    raise ConfigError("model.compute_dtype", compute_dtype,
                      f"is for the models {', '.join(_BFLOAT16_FAMILIES)}, not {model}; "
                      f"use float32")
  return COMPUTE_DTYPES[compute_dtype]


def build(name: str, *, image_shape: tuple[int, ...], g_widths, d_widths,
          dropout_rate: float = 0.0, pack: int = 1,
          minibatch_std: bool = False, latent_codes: int = 0,
          compute_dtype: str = "float32", num_classes: int = 0,
          conditioning: str = "concat") -> tuple[nn.Module, nn.Module]:
  """Returns the (generator, discriminator) modules of family `name`.

  Args:
    name: a key of `MODELS`.
    image_shape: shape of one sample, (H, W, C) or (D,).
    g_widths, d_widths, dropout_rate: passed to the family.
    pack: PacGAN packing degree m; for m > 1 the discriminator is a
      `PackedDiscriminator` that sees m samples concatenated along the last axis
      (so D takes B samples and returns B / m logits). m = 1 returns the family's
      discriminator unchanged.
    minibatch_std: add a minibatch standard deviation feature to D (inside the toy
      MLP before its output layer; on D's input for the image families).
    latent_codes: K >= 2 gives G a discrete code of K values besides the noise.
    compute_dtype: 'float32', or 'bfloat16' (mixed precision, dcgan and mlp): dense
      layers, convolutions and activations in bfloat16; parameters, BatchNorm
      statistics, G's images and D's logits (so the losses) in float32.
    num_classes: C > 0 makes both players label-conditional, G(z, y) and D(x, y).
    conditioning: how D sees the label (`CONDITIONINGS`).

  Returns:
    (generator, discriminator).
  """
  if name not in MODELS:
    raise ConfigError("model.name", name, f"is not a model; choose one of {sorted(MODELS)}")
  if not isinstance(pack, int) or isinstance(pack, bool) or pack < 1:
    raise ConfigError("model.pack", pack, "must be a positive integer (1 = no packing)")
  if (not isinstance(latent_codes, int) or isinstance(latent_codes, bool) or latent_codes < 0
      or latent_codes == 1):
    raise ConfigError("model.latent_codes", latent_codes,
                      "must be 0 (off) or an integer >= 2 (the number of discrete codes)")
  dtype = compute_dtype_of(compute_dtype, name)
  family_kwargs = dict(image_shape=tuple(image_shape), g_widths=g_widths, d_widths=d_widths,
                       dropout_rate=dropout_rate)
  if compute_dtype != "float32":  # Families without bfloat16 take no dtype keyword.
    family_kwargs["dtype"] = dtype
  if minibatch_std:
    family_kwargs["minibatch_std"] = True  # Families that predate the option still build.
  generator, discriminator = MODELS[name](**family_kwargs)
  if pack > 1:
    discriminator = PackedDiscriminator(discriminator, pack=pack)
  if latent_codes:
    generator = DiscreteLatentGenerator(generator, num_codes=latent_codes)
  if num_classes:
    if conditioning not in CONDITIONINGS:
      raise ConfigError("model.conditioning", conditioning,
                        f"is not an option; choose one of {list(CONDITIONINGS)}")
    generator = LabelConcatGenerator(generator, num_classes=num_classes)
    discriminator = LabelConcatDiscriminator(discriminator, num_classes=num_classes)
  return generator, discriminator
