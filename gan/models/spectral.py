"""Spectral normalisation (Miyato et al. 2018) of a layer's weights, for discriminators.

A layer with weight W computes with W / sigma(W), sigma(W) the largest singular value
of W reshaped to a matrix (-1, out): a convolution kernel (k, k, in, out) becomes
(k * k * in, out), an embedding table (C, F) stays (C, F). The layer is then 1-Lipschitz
in its input (for a convolution, up to the overlap of its windows), and so is D when
its activations are.

sigma is estimated by power iteration with a persistent vector u (Miyato et al.,
Algorithm 1), one step per training update of D:

  v <- l2_normalize(u W^T),   u <- l2_normalize(v W),   sigma = v W u^T,

u of shape (1, out) drawn from N(0, I) at initialisation; no gradient flows through
u or v. The layer is `flax.linen.SpectralNorm`, whose `u` and `sigma` live in the
collection `batch_stats`: D's power-iteration vectors are kept in D's
`PlayerState.batch_stats`, checkpointed and sharded with it, as BatchNorm statistics
are.

The contract the train step relies on (`power_iteration_updates`): a layer stores its
updated u (and sigma) iff it is called with `train=True` and `batch_stats` mutable;
otherwise it normalises with one power-iteration step from the stored u and changes
nothing. So the step calls D with `mutable=["batch_stats"]` once per D update (on the
real batch) and without it everywhere else (fake batch, penalties, G's update), and D's
vectors advance once per D update, as in the reference code.

References:
  Miyato, Kataoka, Koyama & Yoshida 2018, Spectral Normalization for Generative
    Adversarial Networks (ICLR); code: pfnet-research/sngan_projection,
    source/links/sn_linear.py and source/functions/max_sv.py.
"""

import functools
from typing import Callable

import flax.linen as nn

# The collection of the power-iteration vectors: the player's non-parameter state.
COLLECTION = "batch_stats"


def power_iteration_updates(module: nn.Module, train: bool) -> bool:
  """Whether `module`'s spectral-norm layers store their power-iteration step now.

  True iff `train` and the `batch_stats` collection is mutable in this call
  (`module.apply(..., mutable=["batch_stats"])`, or `init`).
  """
  return bool(train) and module.is_mutable_collection(COLLECTION)


def spectral_normalizer(module: nn.Module, *, enabled: bool,
                        train: bool) -> Callable[[nn.Module], Callable]:
  """Returns `wrap(layer)`: `layer` itself, or `layer` with spectrally normalised weights.

  Call it inside `module`'s compact `__call__`; `wrap(nn.Dense(1))(x)` then computes
  Dense(1) with W / sigma(W) when `enabled`, updating u under the contract of the module
  docstring. The layer's parameters keep their names and shapes (the wrapper adds only
  `batch_stats` entries, `SpectralNorm_i/<layer>/kernel/u` and `.../sigma`), so a
  discriminator with `enabled=False` has exactly the parameter tree it had before.

  Args:
    module: the module whose `__call__` is running (it decides mutability).
    enabled: normalise, or return the layer unchanged.
    train: the call's training flag.
  """
  update = power_iteration_updates(module, train) if enabled else False

  def wrap(layer: nn.Module) -> Callable:
    if not enabled:
      return layer
    return functools.partial(nn.SpectralNorm(layer, collection_name=COLLECTION),
                             update_stats=update)

  return wrap
