"""gan.prng: the unrolled CPU lowering computes JAX's Threefry bits, without a loop."""

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np

import gan  # noqa: F401  (registers the lowering)
from gan import prng

# Random123's known-answer vectors for Threefry-2x32-20: (key, counter, output).
_KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]

_DRAWS = """
import jax, jax.numpy as jnp, json
key = jax.random.key(1234)
a, b = jax.random.split(jax.random.fold_in(key, 7))
result = {
    "keys": jax.random.key_data(jnp.stack([a, b])).tolist(),
    "bits": jax.jit(lambda k: jax.random.bits(k, (3, 5)))(a).tolist(),
    "normal": jax.jit(lambda k: jax.random.normal(k, (64, 3)))(b).tolist(),
}
"""


def _draws() -> dict:
  namespace = {}
  exec(_DRAWS, namespace)  # pylint: disable=exec-used
  return namespace["result"]


def test_known_answer_vectors():
  for (k0, k1), (x0, x1), expected in _KNOWN_ANSWERS:
    words = [jnp.array([v], jnp.uint32) for v in (k0, k1, x0, x1)]
    out = jax.jit(prng.threefry2x32_unrolled)(*words)
    assert [int(o[0]) for o in out] == list(expected)
    # And through JAX's primitive, as gan now lowers it on CPU.
    got = jax.jit(jax.extend.random.threefry_2x32)(
        jnp.array([k0, k1], jnp.uint32), jnp.array([x0, x1], jnp.uint32))
    assert [int(v) for v in got] == list(expected)


def test_same_bits_as_jax_default_lowering():
  # A fresh interpreter that never imports gan lowers Threefry JAX's own way.
  out = subprocess.run([sys.executable, "-c", _DRAWS + "print(json.dumps(result))"], capture_output=True, text=True,
                       check=True, env={"JAX_PLATFORMS": "cpu", "PATH": ""})
  expected = json.loads(out.stdout.strip().splitlines()[-1])
  got = _draws()
  assert got["keys"] == expected["keys"]
  assert got["bits"] == expected["bits"]
  np.testing.assert_array_equal(np.float32(got["normal"]), np.float32(expected["normal"]))


def test_no_loop_in_the_compiled_draw():
  hlo = jax.jit(lambda k: jax.random.normal(k, (64, 100))).lower(
      jax.random.key(0)).compile().as_text()
  assert " while(" not in hlo
