"""Periodic work inside the training loop: evaluation and live diagnostics.

A hook is a callable `hook(step, state) -> {name: float}` with an `every` attribute;
the loop calls it after every `every` steps and logs what it returns beside the
losses. `default_hooks` builds the ones a config asks for.
"""

import dataclasses
from typing import Any, Callable


@dataclasses.dataclass
class Hook:
  """`fn(step, state) -> metrics`, called every `every` steps (0 = never)."""

  every: int
  fn: Callable[[int, Any], dict[str, float]]
  name: str = ""

  def __call__(self, step: int, state: Any) -> dict[str, float]:
    return self.fn(step, state)


def default_hooks(config, dataset, gan) -> list[Hook]:
  """The hooks `config` asks for: evaluation (`eval_every`), diagnostics (`diagnostics_every`)."""
  hooks = []
  if config.get("eval_every", 0):
    from gan import evaluate  # pylint: disable=g-import-not-at-top
    hooks.append(evaluate.evaluation_hook(config, dataset, gan))
  if config.get("diagnostics_every", 0):
    from gan import diagnostics  # pylint: disable=g-import-not-at-top
    hooks.append(diagnostics.diagnostics_hook(config, dataset, gan))
  return hooks
