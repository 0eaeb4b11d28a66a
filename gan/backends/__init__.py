"""Hardware paths, kept out of the models: what the builder applies per platform.

The models are written with ordinary Flax layers (`nn.Conv`, `nn.ConvTranspose`,
`nn.Dropout`) and read like the papers. A backend changes how a run's programs are
lowered on one platform, never what they compute beyond float rounding: the builder
(`gan.build`) asks `for_platform` for the backend of the run's devices and

  - calls `prepare()` once (process-wide settings that change no value),
  - traces the task's functions inside `lowering()` (layer lowerings),
  - jits them with `compiler_options()`,
  - unrolls a multi-step scan as `scan_unroll(has_convolutions)` says.

`plain` is XLA's own lowering everywhere; `gan.backends.cpu` is the XLA:CPU one.
"""

import contextlib
from typing import Iterator

from gan.errors import ConfigError

BACKENDS = ("auto", "plain")


class PlainBackend:
  """XLA's own lowering: no interception, no options, scans kept rolled."""

  name = "plain"

  def prepare(self) -> None:
    """Nothing to set up."""

  @contextlib.contextmanager
  def lowering(self) -> Iterator[None]:
    """No layer is rerouted."""
    yield

  def compiler_options(self) -> dict[str, str]:
    """No XLA options."""
    return {}

  def scan_unroll(self, has_convolutions: bool) -> int | bool:
    """Rolled: XLA compiles the body once."""
    del has_convolutions
    return 1


def for_platform(platform: str, choice: str = "auto"):
  """The backend of `platform` ('cpu', 'gpu', 'tpu') under the config's `choice`.

  Args:
    platform: the platform of the run's devices.
    choice: 'auto' (the platform's own backend: `gan.backends.cpu` on CPU, plain
      elsewhere) or 'plain' (XLA's own lowering everywhere).

  Returns:
    A backend object (see the module docstring).
  """
  if choice not in BACKENDS:
    raise ConfigError("run.backend", choice, f"choose one of {list(BACKENDS)}")
  if choice == "auto" and platform == "cpu":
    from gan.backends import cpu  # pylint: disable=g-import-not-at-top
    return cpu.CPUBackend()
  return PlainBackend()


def machine_kind() -> str:
  """What decides float results bit for bit: CPU model, its vector extensions, jax, backend.

  Two runs of one config agree bit for bit on machines of one kind. Across kinds
  (e.g. AMD EPYC with AVX-512 against one with AVX2 only) float sums are ordered
  differently and results agree to rounding, so a trajectory (and a score) is a
  distribution over seeds and machines, not one number.
  """
  import platform  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import jaxlib  # pylint: disable=g-import-not-at-top
  model, flags = platform.processor(), set()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      for line in f:
        if line.startswith("model name"):
          model = line.split(":", 1)[1].strip()
        elif line.startswith("flags"):
          flags = set(line.split(":", 1)[1].split())
          break
  except OSError:
    pass
  isa = ",".join(sorted(f for f in flags if f.startswith(("avx", "fma", "amx"))))
  return (f"{platform.machine()}|{model}|{isa}|jax {jax.__version__}|"
          f"jaxlib {jaxlib.__version__}|{jax.default_backend()}")
