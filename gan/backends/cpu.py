"""The XLA:CPU backend: faster lowerings of the same layers, applied by the builder.

What it changes, and why (the measurements are in `docs/speed.md`):

* Convolutions. `nn.Conv` and `nn.ConvTranspose` with SAME padding, square kernels,
  equal strides, no dilation and no groups (every convolution of the DCGAN family)
  run through `gan.backends.cpu_conv`: custom VJPs built from the pieces XLA:CPU runs
  well (sub-pixel adjoints, im2col kernel gradients, small wide stride-1 layers in the
  Fourier domain). Parameters (names, shapes, initialisers, creation order) are those
  of the Flax layers, so checkpoints move freely between backends; outputs agree to
  float32 rounding. Other configurations keep Flax's own call.
* Dropout. `nn.Dropout` (no broadcast dims) draws its mask once, behind a `lax.cond`
  that XLA does not fuse across, instead of recomputing the random bits in every
  consumer: the same key, bits and mask as Flax's (`bernoulli_mask`).
* Threefry. JAX lowers its PRNG on CPU as a rolled loop; `prepare()` registers the
  unrolled lowering (`gan.backends.threefry`): the same bits, without the loop (not
  when XLA's optimisations are off: it compiles slower).
* Compiler options. Convolutions are kept out of YNNPACK's library fusions (XLA's
  own kernels run the DCGAN step 1.2x faster here).
* Scans. XLA:CPU runs convolution gradients inside a rolled loop 35-150x slower
  (jax-ml/jax#12868), so a multi-step scan of a model with convolutions is unrolled;
  without convolutions the rolled loop is the faster one.

All of it is applied by `gan.build` for runs on CPU; importing this module changes
nothing.
"""

import contextlib
import functools
from typing import Any, Iterator

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gan.backends import cpu_conv, threefry

# XLA:CPU hands its library fusions to YNNPACK; by default (XLA in jaxlib 0.10) the
# kinds are INDIVIDUAL_DOT, REDUCE and INDIVIDUAL_CONVOLUTION. Without the last one,
# convolutions run as XLA's own (Eigen) kernels: the DCGAN step 1.2x faster on the
# 2-core AVX-512 machine of docs/speed.md, with the same HLO for the MLP.
_COMPILER_OPTIONS = {
    "xla_cpu_experimental_ynn_fusion_type":
        "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE",
}


@functools.cache
def _options_supported() -> bool:
  try:
    jax.jit(jnp.negative, compiler_options=_COMPILER_OPTIONS).lower(
        jax.ShapeDtypeStruct((1,), jnp.float32)).compile()
  except Exception:  # pylint: disable=broad-except  # An XLA without the option.
    return False
  return True


# ---------------------------------------------------------------------- dropout


def bernoulli_mask(key: jax.Array, keep: float, shape: tuple[int, ...]) -> jax.Array:
  """`jax.random.bernoulli(key, keep, shape)`, drawn once by a kernel of its own.

  Flax's dropout draws its mask with `jax.random.bernoulli`; XLA fuses those random
  bits into every consumer of the mask and draws them again there (D's forward pass
  and both backward passes), each time inside a loop body that vectorises Threefry
  poorly: about a tenth of the TF-tutorial DCGAN's step at batch 256 on 2 cores.
  Drawn inside a `lax.cond` whose two branches are the same draw, the mask is
  computed once and stored: a conditional is a boundary XLA does not fuse across.
  (`lax.optimization_barrier` would say this directly, but XLA:CPU removes barriers
  before fusion.)

  Args:
    key: a typed PRNG key.
    keep: the probability of True.
    shape: the mask's shape.

  Returns:
    A bool array of `shape`, equal to `jax.random.bernoulli(key, keep, shape)`.
  """
  draw = lambda key: jax.random.bernoulli(key, keep, shape)
  # Any predicate XLA cannot evaluate at compile time; both branches agree.
  unknown = jax.random.key_data(key).ravel()[0] % 2 == 0
  return lax.cond(unknown, draw, draw, key)


def _dropout(module: nn.Dropout, inputs, deterministic=None, rng=None):
  """`nn.Dropout.__call__` with the mask of `bernoulli_mask`: equal bit for bit."""
  deterministic = nn.merge_param("deterministic", module.deterministic, deterministic)
  if module.rate == 0.0 or deterministic:
    return inputs
  if module.rate == 1.0:
    return jnp.zeros_like(inputs)
  keep = 1.0 - module.rate
  if rng is None:
    rng = module.make_rng(module.rng_collection)
  mask = bernoulli_mask(rng, keep, inputs.shape)
  return lax.select(mask, inputs / keep, jnp.zeros_like(inputs))


# ------------------------------------------------------------------ convolutions


def _square(value: Any, rank: int = 2) -> int | None:
  """The one int of a square size/stride given as an int or `rank` equal ints, or None."""
  if value is None:
    return 1
  if isinstance(value, int):
    return value
  values = tuple(value)
  if len(values) == rank and all(isinstance(v, int) for v in values) and len(set(values)) == 1:
    return values[0]
  return None


def _is_plain(module, inputs) -> bool:
  """Whether a Flax convolution is one `cpu_conv` computes: 2-D NHWC, SAME, square."""
  if isinstance(module.kernel_size, int):  # Flax reads an int as a 1-D kernel.
    return False
  kernel = _square(module.kernel_size)
  stride = _square(module.strides)
  if getattr(inputs, "ndim", 0) != 4 or kernel is None or stride is None:
    return False
  if module.padding != "SAME":  # Exactly Flax's spelling: others keep Flax's own checks.
    return False
  if _square(module.kernel_dilation) != 1 or module.mask is not None:
    return False
  if module.precision is not None or getattr(module, "preferred_element_type", None):
    return False
  if isinstance(module, nn.Conv):
    return (_square(module.input_dilation) == 1 and module.feature_group_count == 1 and
            module.shared_weights and module.conv_general_dilated is None and
            module.conv_general_dilated_cls is None)
  return not module.transpose_kernel


def _convolution(module, inputs, op):
  """The body of `nn.Conv` / `nn.ConvTranspose` for a plain 2-D layer, computed by `op`.

  Parameters are created as the Flax layer creates them (kernel, then bias, from
  the module's initialisers), so their values and names are the same.
  """
  k, s = _square(module.kernel_size), _square(module.strides)
  kernel = module.param("kernel", module.kernel_init,
                        (k, k, inputs.shape[-1], module.features), module.param_dtype)
  bias = (module.param("bias", module.bias_init, (module.features,), module.param_dtype)
          if module.use_bias else None)
  inputs, kernel, bias = module.promote_dtype(inputs, kernel, bias, dtype=module.dtype)
  y = op(inputs, kernel, s)
  return y if bias is None else y + bias


def _intercept(next_fun, args, kwargs, context):
  """Routes the calls of Flax's convolutions and dropout to the CPU lowerings."""
  module = context.module
  if context.method_name == "__call__":
    kind = type(module)
    if kind is nn.Dropout and not module.broadcast_dims:
      return _dropout(module, *args, **kwargs)
    if kind in (nn.Conv, nn.ConvTranspose) and not kwargs and len(args) == 1:
      if _is_plain(module, args[0]):
        op = cpu_conv.conv2d if kind is nn.Conv else cpu_conv.conv2d_transpose
        return _convolution(module, args[0], op)
  return next_fun(*args, **kwargs)


# ----------------------------------------------------------------------- backend


class CPUBackend:
  """The XLA:CPU lowerings of the module docstring."""

  name = "xla_cpu"

  def prepare(self) -> None:
    """Registers the unrolled Threefry lowering for the process (same bits), unless
    XLA's optimisations are off (`jax_disable_most_optimizations`, as the test suite
    compiles): the unrolled rounds buy step time with compile time, and there the
    rolled loop compiles faster (docs/speed.md, "Threefry and compile time")."""
    if not jax.config.read("jax_disable_most_optimizations"):
      threefry.register_unrolled_cpu_lowering()

  @contextlib.contextmanager
  def lowering(self) -> Iterator[None]:
    """Within it, traced Flax convolutions and dropout take the CPU lowerings."""
    with nn.intercept_methods(_intercept):
      yield

  def compiler_options(self) -> dict[str, str]:
    """Convolutions out of YNNPACK, where this XLA has the option; else none."""
    return dict(_COMPILER_OPTIONS) if _options_supported() else {}

  def scan_unroll(self, has_convolutions: bool) -> int | bool:
    """Unrolled with convolutions (their gradients are slow in a rolled loop), else rolled."""
    return True if has_convolutions else 1
