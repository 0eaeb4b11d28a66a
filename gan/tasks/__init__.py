"""Tasks: what differs between kinds of generative model, and nothing else.

A task is its models, its losses, its pure step and its sampler, and the named arrays
its batches hold. Everything else (the data order from (seed, step), shardings, the
jitted and donated step, checkpoints, resume, fault handling, logging, hooks,
evaluation, the command line) is the program's (`gan.program`), written once.

A task module has two functions, and one line in `TASKS` names it:

  check_config(config)       raise `gan.errors.ConfigError` for its own fields
  make(config, data) -> Task its pure functions, for data described by `data`
                             (`gan.data.DataSpec`: sample shape, classes)

Tasks:
  gan              unconditional GAN: batch {image}; generator, discriminator
  conditional_gan  label-conditional GAN: batch {image, label}
  classifier       a classifier of the data's labels (the feature extractors)
"""

import importlib

from gan.errors import ConfigError
from gan.tasks.base import Task

TASKS = {
    "gan": "gan.tasks.gan",
    "conditional_gan": "gan.tasks.gan",
    "classifier": "gan.tasks.classifier",
}


def get(name: str):
  """The module of task `name` (its `check_config` and `make`)."""
  if name not in TASKS:
    raise ConfigError("task", name, f"is not a task; choose one of {sorted(TASKS)}")
  return importlib.import_module(TASKS[name])
