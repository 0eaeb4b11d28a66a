"""gan.backends.threefry: the unrolled CPU lowering computes JAX's Threefry bits, no loop.

The lowering is the builder's to register (`CPUBackend.prepare`, for runs built on
CPU at XLA's default level; with its optimisations off, as this suite compiles, JAX's
rolled loop compiles faster); `import gan` and every gan module leave JAX as it was.
"""

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan.backends import threefry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Random123's known-answer vectors for Threefry-2x32-20: (key, counter, output).
_KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]

# One program (one compilation of JAX's rolled loops, which takes seconds).
_DRAWS = """
import jax, jax.numpy as jnp, json

@jax.jit
def draws(key):
  a, b = jax.random.split(jax.random.fold_in(key, 7))
  return (jax.random.key_data(jnp.stack([a, b])), jax.random.bits(a, (3, 5)),
          jax.random.normal(b, (64, 3)))

keys, bits, normal = draws(jax.random.key(1234))
result = {"keys": keys.tolist(), "bits": bits.tolist(), "normal": normal.tolist()}
"""


# The same draws, and Random123's vectors through JAX's primitive, in a process that
# registered the lowering (as a user's run on CPU does), and whether the draw's compiled
# program has a loop. A fresh process: the registration lasts for the process, and this
# suite's workers keep JAX's rolled loop (conftest: it compiles faster at their level).
_UNROLLED = """
from gan.backends import threefry
threefry.register_unrolled_cpu_lowering()
""" + _DRAWS + """
result["known"] = [[int(v) for v in jax.jit(jax.extend.random.threefry_2x32)(
    jnp.array(k, jnp.uint32), jnp.array(x, jnp.uint32))] for k, x in %r]
result["compiled_loop"] = " while(" in jax.jit(lambda k: jax.random.normal(k, (64, 100))).lower(
    jax.random.key(0)).compile().as_text()
print(json.dumps(result))
""" % ([(k, x) for k, x, _ in _KNOWN_ANSWERS],)


def _python(code: str) -> str:
  """Runs `code` in a fresh interpreter (CPU, the repo on the path); returns its stdout."""
  env = {"JAX_PLATFORMS": "cpu", "PATH": os.environ.get("PATH", ""), "PYTHONPATH": ROOT,
         "HOME": os.environ.get("HOME", "/tmp"), **conftest.compile_env()}
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       cwd=ROOT, timeout=300)
  assert out.returncode == 0, out.stderr[-3000:]
  return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def unrolled():
  return json.loads(_python(_UNROLLED))


def test_known_answer_vectors():
  for (k0, k1), (x0, x1), expected in _KNOWN_ANSWERS:
    words = [jnp.array([v], jnp.uint32) for v in (k0, k1, x0, x1)]
    out = jax.jit(threefry.threefry2x32_unrolled)(*words)
    assert [int(o[0]) for o in out] == list(expected)


@pytest.mark.slow
def test_registered_lowering_gives_the_known_answers_without_a_loop(unrolled):
  """Through JAX's primitive, as a run built on CPU lowers it."""
  assert unrolled["known"] == [list(expected) for _, _, expected in _KNOWN_ANSWERS]
  assert not unrolled["compiled_loop"]


@pytest.mark.slow
def test_same_bits_as_jax_default_lowering(unrolled):
  # A fresh interpreter that never registers the lowering lowers Threefry JAX's own way.
  expected = json.loads(_python(_DRAWS + "print(json.dumps(result))"))
  assert unrolled["keys"] == expected["keys"]
  assert unrolled["bits"] == expected["bits"]
  np.testing.assert_array_equal(np.float32(unrolled["normal"]), np.float32(expected["normal"]))


_IMPORTS_THEN_BUILD = """
import importlib, json, pkgutil
import jax
from jax._src.interpreters import mlir
from jax.extend import random as jex_random

def rule():  # JAX's registered CPU lowering of the Threefry primitive.
  return mlir._platform_specific_lowerings["cpu"].get(jex_random.threefry2x32_p)

def loop():  # Whether a draw traced now lowers to a loop (StableHLO: nothing compiled).
  text = jax.jit(lambda k: jax.random.bits(k, (4,))).lower(jax.random.key(0)).as_text()
  return "stablehlo.while" in text

before, loop_before = rule(), loop()
import gan, gan.build, gan.program
modules = [info.name for info in pkgutil.walk_packages(gan.__path__, "gan.")]
for name in modules:
  importlib.import_module(name)
after_imports, loop_after_imports = rule(), loop()

from gan import build, config
c = config.base_config()
c.dataset, c.batch_size, c.run.progress_bar = "mixture:ring", 8, False
c.model.name, c.model.noise_dim, c.model.dropout_rate = "toy", 2, 0.0
c.model.g_widths, c.model.d_widths = (8,), (8,)
jax.config.update("jax_disable_most_optimizations", True)  # As the test suite compiles.
build.build(c)
unchanged_by_fast_build = rule() is before
jax.config.update("jax_disable_most_optimizations", False)  # A user's default.
run = build.build(c)
print(json.dumps({
    "modules": modules, "platform": jax.default_backend(), "backend": run.backend.name,
    "unchanged_by_imports": after_imports is before,
    "loop_before": loop_before, "loop_after_imports": loop_after_imports,
    "unchanged_by_fast_build": unchanged_by_fast_build,
    "changed_by_build": rule() is not before, "loop_after_build": loop()}))
"""


@pytest.mark.slow
def test_importing_gan_registers_nothing_and_building_on_cpu_does_at_the_default_level():
  result = json.loads(_python(_IMPORTS_THEN_BUILD))
  assert result["platform"] == "cpu"
  # Every module of the package was imported.
  assert {"gan.build", "gan.program", "gan.backends.cpu", "gan.backends.threefry",
          "gan.tasks.gan", "gan.models.dcgan", "gan.cli.train"} <= set(result["modules"])
  assert result["unchanged_by_imports"]
  assert result["loop_before"] and result["loop_after_imports"]  # JAX's rolled loop.
  assert result["backend"] == "xla_cpu"
  assert result["unchanged_by_fast_build"]  # XLA's optimisations off: the loop compiles faster.
  assert result["changed_by_build"]
  assert not result["loop_after_build"]
