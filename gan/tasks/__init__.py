"""Tasks: what differs between kinds of generative model, and nothing else.

A task is its models, its losses, its pure step and its sampler, and the named arrays
its batches hold. Everything else (the data order from (seed, step), shardings, the
jitted and donated step, checkpoints, resume, fault handling, logging, hooks,
evaluation, the command line) is the program's (`gan.program`), written once.

A task module has two functions, and one line in `TASKS` names it:

  check_config(config)       raise `gan.errors.ConfigError` for its own fields
  make(config, data) -> Task its pure functions, for data described by `data`
                             (`gan.data.DataSpec`: sample shape, classes)

and, where its config sections differ from the base config's, `config(task)`: the
base config with its own sections (what a saved run's config.json is read onto).

Tasks:
  gan              unconditional GAN: batch {image}; generator, discriminator
  conditional_gan  label-conditional GAN: batch {image, label}
  classifier       a classifier of the data's labels (the feature extractors)
  pix2pix          paired image-to-image translation: batch {source, target}
  srgan            super-resolution (SRGAN; SRResNet with loss.adv_weight=0): {source, target}
  cyclegan         unpaired translation between two domains: batch {a, b}
  vae              variational autoencoder (beta-VAE, CVAE with model.conditional): batch
                   {image} or {image, label}; encoder, decoder
  autoencoder      deterministic autoencoder, sampled through a Gaussian fit of its codes:
                   batch {image} or {image, label}; encoder, decoder
"""

import importlib

from gan.errors import ConfigError
from gan.tasks.base import Task

TASKS = {
    "gan": "gan.tasks.gan",
    "conditional_gan": "gan.tasks.gan",
    "classifier": "gan.tasks.classifier",
    "pix2pix": "gan.tasks.translation",
    "srgan": "gan.tasks.translation",
    "cyclegan": "gan.tasks.cyclegan",
    "vae": "gan.tasks.vae",
    "autoencoder": "gan.tasks.vae",
}


def get(name: str):
  """The module of task `name` (its `check_config` and `make`)."""
  if name not in TASKS:
    raise ConfigError("task", name, f"is not a task; choose one of {sorted(TASKS)}")
  return importlib.import_module(TASKS[name])


def config_template(name: str):
  """The default config of task `name`: its module's `config(name)`, else the base config."""
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  module = get(name) if name in TASKS else None
  if module is not None and hasattr(module, "config"):
    return module.config(name)
  return config_lib.base_config()
