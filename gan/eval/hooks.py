"""Periodic work inside the training program: evaluation and live diagnostics.

A hook is a callable `hook(step, state) -> {name: float}` with an `every` attribute;
the program calls it after every `every` steps and logs what it returns beside the
losses. `default_hooks(run)` builds the ones the config's `eval` section asks for.
"""

import dataclasses
from typing import Any, Callable

from gan.errors import ConfigError


@dataclasses.dataclass
class Hook:
  """`fn(step, state) -> metrics`, called every `every` steps (0 = never)."""

  every: int
  fn: Callable[[int, Any], dict[str, float]]
  name: str = ""

  def __call__(self, step: int, state: Any) -> dict[str, float]:
    return self.fn(step, state)


def default_hooks(run) -> list[Hook]:
  """The hooks `run.config.eval` asks for: scores (`every`), diagnostics (`diagnostics_every`)."""
  from gan.data import ImageDataset  # pylint: disable=g-import-not-at-top
  config = run.config
  hooks = []
  for field, kind in (("every", "evaluation"), ("diagnostics_every", "diagnostics")):
    if not config.eval[field]:
      continue
    if not isinstance(run.data, ImageDataset) or run.num_seeds > 1:
      raise ConfigError(f"eval.{field}", config.eval[field], f"asks for {kind} during "
                        f"training, which needs an image data set and one seed; set it to 0")
    if kind == "evaluation":
      from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
      hooks.append(evaluate.evaluation_hook(run))
    else:
      from gan.eval import diagnostics  # pylint: disable=g-import-not-at-top
      hooks.append(diagnostics.diagnostics_hook(run))
  return hooks
