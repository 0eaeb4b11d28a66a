"""The program's hooks that the config's `eval` section asks for.

A hook (`gan.program.Hook`) is `fn(step, state) -> {name: float}` called every `every`
steps; the program logs what it returns beside the losses. `default_hooks(run)`
builds the evaluation (`eval.every`) and diagnostics (`eval.diagnostics_every`) hooks;
the command line passes them to `gan.program.train`.
"""

from gan.data import ImageDataset
from gan.errors import ConfigError
from gan.eval import diagnostics, evaluate
from gan.program import Hook


def default_hooks(run) -> list[Hook]:
  """The hooks `run.config.eval` asks for: scores (`every`), diagnostics (`diagnostics_every`)."""
  config = run.config
  hooks = []
  for field, kind in (("every", "evaluation"), ("diagnostics_every", "diagnostics")):
    if not config.eval[field]:
      continue
    if not isinstance(run.data, ImageDataset) or run.num_seeds > 1:
      raise ConfigError(f"eval.{field}", config.eval[field], f"asks for {kind} during "
                        f"training, which needs an image data set and one seed; set it to 0")
    hooks.append(evaluate.evaluation_hook(run) if kind == "evaluation" else
                 diagnostics.diagnostics_hook(run))
  return hooks
