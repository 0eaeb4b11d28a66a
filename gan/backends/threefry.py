"""Threefry-2x32 on XLA:CPU as straight-line code: the same bits, without a loop.

JAX lowers its default PRNG, Threefry-2x32 with 20 rounds (Salmon et al. 2011), to
a rolled 5-iteration `while` loop on CPU, to keep compile times small. Each call of
`jax.random.split`, `fold_in`, `normal` or `bernoulli` then runs as a loop of tiny
kernels with its loop-carried copies; in the MLP GAN's step, four such loops (the
step's key, its split, two noise draws) are about a tenth of the step's time on 2
cores. `register_unrolled_cpu_lowering()` lowers the primitive on CPU with the 20
rounds written out, as JAX already does on every other backend. The CPU backend
(`gan.backends.cpu.CPUBackend.prepare`) registers it when the builder builds a run on
CPU; importing this module changes nothing. The function is the
same, so every key and every sample is bit-identical to the default lowering
(tests/prng_test.py checks the published known-answer vectors and JAX's own values).

Threefry-2x32-20, for a key (k0, k1) and a counter pair (x0, x1):

    k2 = k0 ^ k1 ^ 0x1BD11BDA,   x0 += k0,  x1 += k1
    for s in 1..5:   4 rounds  x0 += x1;  x1 = rotl(x1, r) ^ x0
                     with r = (13, 15, 26, 6) for odd s, (17, 29, 16, 24) for even s
                     x0 += k[s mod 3];  x1 += k[(s + 1) mod 3] + s

References:
  Salmon, Moraes, Dror & Shaw, "Parallel Random Numbers: As Easy as 1, 2, 3", SC 2011.
"""

import numpy as np
from jax import lax
from jax.extend import random as jex_random
from jax.interpreters import mlir

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KEY_PARITY = np.uint32(0x1BD11BDA)


def _rotate_left(x, distance: int):
  return lax.shift_left(x, np.uint32(distance)) | lax.shift_right_logical(
      x, np.uint32(32 - distance))


def threefry2x32_unrolled(key0, key1, x0, x1):
  """Threefry-2x32-20 of counters (x0, x1) under key (key0, key1), uint32 arrays.

  Args:
    key0, key1: the key's two words (broadcast against the counters).
    x0, x1: the counter words, of one shape.

  Returns:
    The two output words, of the counters' shape.
  """
  keys = (key0, key1, key0 ^ key1 ^ _KEY_PARITY)
  x0, x1 = x0 + keys[0], x1 + keys[1]
  for s in range(1, 6):
    for r in _ROTATIONS[(s - 1) % 2]:
      x0 = x0 + x1
      x1 = _rotate_left(x1, r) ^ x0
    x0 = x0 + keys[s % 3]
    x1 = x1 + keys[(s + 1) % 3] + np.uint32(s)
  return x0, x1


_registered = False


def register_unrolled_cpu_lowering() -> None:
  """Lowers JAX's `threefry2x32` primitive on CPU with the rounds unrolled (once).

  Takes effect for programs traced afterwards, for the rest of the process; the
  values they compute do not change.
  """
  global _registered
  if _registered:
    return
  _registered = True
  mlir.register_lowering(
      jex_random.threefry2x32_p,
      mlir.lower_fun(threefry2x32_unrolled, multiple_results=True),
      platform="cpu")
