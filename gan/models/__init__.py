"""Generator / discriminator families, by name.

`build(name, ...)` returns the (generator, discriminator) pair of a family; a new
family is one function that builds the pair and one line in `MODELS`. A family
function takes the keywords `image_shape` (the shape of one sample: (H, W, C) for
images, (D,) for points), `g_widths`, `d_widths`, `dropout_rate` and `minibatch_std`
(and `dtype`, the computation dtype, where the family supports bfloat16;
`spectral_norm`, `num_classes` and `conditioning` where it has those options); `build`
wraps the discriminator for PacGAN packing (`gan.models.packing`) and, with
`latent_codes`, wraps the generator to take a discrete code as well as noise
(`gan.models.latent`), and with `num_classes` makes both players take a class label
(`gan.models.conditional`).

Class conditioning (`conditioning`, with `num_classes` C > 0):
  concat      every family: G(concat(z, embed(y))) and D(concat(x, plane(y))) (wrappers);
              the resnet generator takes y itself (conditional BatchNorm).
  projection  dcgan, resnet: D(x, y) = psi(phi(x)) + <V[y], phi(x)> (Miyato & Koyama 2018).
  acgan       dcgan, mlp, resnet: D(x, y) returns the TUPLE (logits (B,), class_logits
              (B, C)) and ignores y (Odena et al. 2017).
For projection and acgan the generator is the concat one (conditional BatchNorm for
resnet). Every conditional player is called as G(z, y, train=...) and D(x, y, train=...).

Discriminator state: with spectral normalisation (`spectral_norm`, and always in the
resnet discriminator) D has a `batch_stats` collection, its power-iteration vectors;
they advance one step iff D is called with `train=True` and `mutable=["batch_stats"]`
(`gan.models.spectral`).

The modules are written with Flax's own layers, for any platform; how they are
lowered on CPU is the builder's business (`gan.backends`).

Families:
  dcgan     DCGAN (Radford et al. 2016), 28x28 or 32x32 images.
  mlp       the MLP GAN of Goodfellow et al. 2014, any image shape.
  resnet    SNGAN's ResNets (Miyato et al. 2018), 28x28 or 32x32 images; the widths are
            g_widths[0] (ch_G, 256 in the paper) and d_widths[0] (ch_D, 128).
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
from gan.models.resnet import ResNetDiscriminator, ResNetGenerator
from gan.models.toy import ToyDiscriminator, ToyGenerator


def _with_input_minibatch_std(discriminator: nn.Module, minibatch_std: bool) -> nn.Module:
  return MinibatchStdDiscriminator(discriminator) if minibatch_std else discriminator


def _check_square(name, image_shape):
  if len(image_shape) != 3 or image_shape[0] != image_shape[1] or image_shape[0] % 4:
    raise ConfigError("model.name", name, f"needs square images with side divisible by 4 "
                      f"(28 or 32), got {tuple(image_shape)}; use config.model.name='mlp' for "
                      f"other shapes")


def _dcgan(*, image_shape, g_widths, d_widths, dropout_rate, minibatch_std=False,
           dtype=jnp.float32, spectral_norm=False, num_classes=0, conditioning="none"):
  _check_square("dcgan", image_shape)
  return (DCGANGenerator(image_shape=image_shape, widths=tuple(g_widths), dtype=dtype),
          _with_input_minibatch_std(
              DCGANDiscriminator(widths=tuple(d_widths), dropout_rate=dropout_rate,
                                 dtype=dtype, spectral_norm=spectral_norm,
                                 num_classes=num_classes, conditioning=conditioning),
              minibatch_std))


def _mlp(*, image_shape, g_widths, d_widths, dropout_rate, minibatch_std=False,
         dtype=jnp.float32, spectral_norm=False, num_classes=0, conditioning="none"):
  return (MLPGenerator(image_shape=image_shape, hidden_widths=tuple(g_widths), dtype=dtype),
          _with_input_minibatch_std(
              MLPDiscriminator(hidden_widths=tuple(d_widths), dropout_rate=dropout_rate,
                               dtype=dtype, spectral_norm=spectral_norm,
                               num_classes=num_classes, conditioning=conditioning),
              minibatch_std))


def _resnet(*, image_shape, g_widths, d_widths, dropout_rate, minibatch_std=False,
            dtype=jnp.float32, spectral_norm=True, num_classes=0, conditioning="none"):
  """SNGAN's ResNets: ch_G = g_widths[0], ch_D = d_widths[0]; the generator takes the
  label itself (conditional BatchNorm) when `num_classes`; D always spectrally normalised."""
  del spectral_norm  # Always on: the SNGAN discriminator.
  _check_square("resnet", image_shape)
  if dropout_rate:
    raise ConfigError("model.dropout_rate", dropout_rate, "is not used by the resnet "
                      "discriminator (SNGAN has no dropout); set 0.0")
  return (ResNetGenerator(image_shape=image_shape, width=int(g_widths[0]),
                          num_classes=num_classes, dtype=dtype),
          _with_input_minibatch_std(
              ResNetDiscriminator(width=int(d_widths[0]), num_classes=num_classes,
                                  conditioning=conditioning, dtype=dtype), minibatch_std))


def _toy(*, image_shape, g_widths, d_widths, dropout_rate, minibatch_std=False,
         maxout_pieces=5):
  return (ToyGenerator(data_shape=tuple(image_shape), hidden_widths=tuple(g_widths)),
          ToyDiscriminator(hidden_widths=tuple(d_widths), maxout_pieces=maxout_pieces,
                           dropout_rate=dropout_rate, minibatch_std=minibatch_std))


def _toy_relu(**kwargs):
  return _toy(maxout_pieces=1, **kwargs)


# Computation dtypes by name (`--config.compute_dtype`), and the families that take one.
COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
_BFLOAT16_FAMILIES = ("dcgan", "mlp", "resnet")

# How a conditional discriminator sees the label (`config.model.conditioning`).
CONDITIONINGS = ("concat", "projection", "acgan")
# The conditionings other than concat, by the families whose discriminator builds them.
_HEAD_FAMILIES = {"projection": ("dcgan", "resnet"), "acgan": ("dcgan", "mlp", "resnet")}
# Families whose generator takes the label itself (not through the concat wrapper).
_LABEL_TAKING_GENERATORS = ("resnet",)
# Families whose discriminator takes InfoGAN's head (the acgan head; the resnet
# generator would take the code count as classes).
_INFO_FAMILIES = ("dcgan", "mlp")
# Families with a spectral normalisation option (resnet: always on).
_SPECTRAL_NORM_FAMILIES = ("dcgan", "mlp", "resnet")

MODELS: dict[str, Callable[..., tuple[nn.Module, nn.Module]]] = {
    "dcgan": _dcgan,
    "mlp": _mlp,
    "resnet": _resnet,
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
          conditioning: str = "concat",
          spectral_norm: bool = False,
          info_head: bool = False) -> tuple[nn.Module, nn.Module]:
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
    compute_dtype: 'float32', or 'bfloat16' (mixed precision, dcgan, mlp and resnet):
      dense layers, convolutions and activations in bfloat16; parameters, BatchNorm
      statistics, G's images and D's logits (so the losses) in float32.
    num_classes: C > 0 makes both players label-conditional, G(z, y) and D(x, y).
    conditioning: how D sees the label (`CONDITIONINGS`, module docstring): 'concat',
      'projection' (dcgan, resnet) or 'acgan' (dcgan, mlp, resnet; D returns
      (logits, class_logits)). Read only when `num_classes` > 0.
    spectral_norm: spectrally normalise every layer of D (dcgan, mlp; the resnet
      discriminator always is); D then keeps power-iteration vectors in `batch_stats`.
    info_head: InfoGAN's Q (Chen et al. 2016), with `latent_codes` and no `num_classes`
      (dcgan, mlp): D returns (logits, code_logits (B, latent_codes)), the code
      logits from D's features by one dense layer (the acgan head, predicting G's
      code instead of a class).

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
  if spectral_norm and name not in _SPECTRAL_NORM_FAMILIES:
    raise ConfigError("model.spectral_norm", spectral_norm,
                      f"is for the models {', '.join(_SPECTRAL_NORM_FAMILIES)}, not {name}; "
                      f"use False")
  head = "none"  # The discriminator head the family builds itself.
  if info_head:  # The codes and an unconditional task are checked with the config.
    if name not in _INFO_FAMILIES:
      raise ConfigError("model.name", name, f"has no InfoGAN head; it is built for the "
                        f"models {', '.join(_INFO_FAMILIES)} (or set loss.info_weight=0)")
    if pack > 1:
      raise ConfigError("model.pack", pack, "must be 1 with InfoGAN's head (a pack has "
                        "one output, and its samples have different codes)")
  if num_classes:
    if conditioning not in CONDITIONINGS:
      raise ConfigError("model.conditioning", conditioning,
                        f"is not an option; choose one of {list(CONDITIONINGS)}")
    if conditioning != "concat":
      families = _HEAD_FAMILIES[conditioning]
      if name not in families:
        raise ConfigError("model.conditioning", conditioning,
                          f"is not built for model {name}; it is for the models "
                          f"{', '.join(families)} (every model takes 'concat')")
      if pack > 1:
        raise ConfigError("model.pack", pack, f"must be 1 with config.model.conditioning="
                          f"{conditioning!r} (packs of samples with different labels are "
                          f"not defined)")
      head = conditioning
  family_kwargs = dict(image_shape=tuple(image_shape), g_widths=g_widths, d_widths=d_widths,
                       dropout_rate=dropout_rate)
  if compute_dtype != "float32":  # Families without bfloat16 take no dtype keyword.
    family_kwargs["dtype"] = dtype
  if minibatch_std:
    family_kwargs["minibatch_std"] = True  # Families that predate the option still build.
  if spectral_norm:
    family_kwargs["spectral_norm"] = True
  label_taking_generator = bool(num_classes) and name in _LABEL_TAKING_GENERATORS
  if head != "none" or label_taking_generator:
    family_kwargs.update(num_classes=num_classes, conditioning=head)
  if info_head:  # The auxiliary classifier's head, over the K codes.
    family_kwargs.update(num_classes=latent_codes, conditioning="acgan")
  generator, discriminator = MODELS[name](**family_kwargs)
  if pack > 1:
    discriminator = PackedDiscriminator(discriminator, pack=pack)
  if latent_codes:
    generator = DiscreteLatentGenerator(generator, num_codes=latent_codes)
  if num_classes:
    if not label_taking_generator:
      generator = LabelConcatGenerator(generator, num_classes=num_classes)
    if head == "none":
      discriminator = LabelConcatDiscriminator(discriminator, num_classes=num_classes)
  return generator, discriminator
