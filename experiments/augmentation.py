r"""Few real labels, with and without a conditional generator's samples: do they help?

  python -m experiments.augmentation --workdir=runs/cgan_mnist --per_class=10,100 \
      --seeds=0,1,2 --synthetic_per_class=1000 --out=docs/augmentation_mnist.json
  python -m experiments.augmentation --workdir=runs/cgan_cifar10 \
      --dataset=../shared/data/cifar10.npz --per_class=500 --mixing=balanced \
      --out=docs/augmentation_cifar10.json

--workdir is a class-conditional generator's run (task conditional_gan, or vae with
model.conditional=True); its newest checkpoint samples. For every label budget n of
--per_class and seed s, a LeNet (`gan.eval.synthetic.classifier_config`, changed by
--config.FIELD=V, e.g. --config.conv_widths=(16,32)) trains through the training program
on n real labelled images per class (a seeded draw), and the same LeNet, for the same
--steps, on those images plus --synthetic_per_class generated images of each class,
labelled with the class asked for. --mixing says how they join: `add` (the union: real
images are n / (n + S) of a batch) or `balanced` (the real images repeated to about half
of every batch). Test accuracy is on the data set's test split (MNIST: 10,000 images;
CIFAR-10 in ../shared/data: the first 1,000).

Prints one JSON record and writes it to --out: per budget the accuracy of each arm
(mean, std over seeds, per seed) and the gain (paired by seed), the protocol (data set,
classifier recipe, steps, mixing), the generator (workdir, task, step) and the machine.
One LeNet (1,000 steps by default) trains in well under a minute on 2 idle CPU cores
for MNIST.
"""

import os
import sys

from absl import flags
from ml_collections import config_flags

from experiments import records
from gan.cli import run_cli
from gan.errors import UserError


def get_config():
  """The classifier's recipe (`gan.eval.synthetic.classifier_config`); --steps sets num_steps."""
  from gan.eval import synthetic  # pylint: disable=g-import-not-at-top
  return synthetic.classifier_config()


def parse_ints(text: str, flag: str) -> list[int]:
  """`10,100` -> [10, 100]; a one-line error naming `--flag` otherwise."""
  try:
    values = [int(x) for x in str(text).split(",") if x.strip()]
  except ValueError as error:
    raise UserError(f"--{flag}={text!r} must be integers separated by commas, e.g. "
                    f"--{flag}=10,100") from error
  if not values:
    raise UserError(f"--{flag} is empty; give at least one integer")
  return values


def check_out(path: str) -> None:
  """Raises unless the JSON record can be written to `path`."""
  if not path:
    return
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise UserError(f"--out={path!r}: directory {directory!r} does not exist; create it first")
  if os.path.isdir(path):
    raise UserError(f"--out={path!r} is a directory; give a file name")


def check_workdir(workdir: str) -> None:
  """Raises unless `workdir` is a directory (a training run's, `gan.rundir` checks the rest)."""
  if not workdir or not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} is not a directory; give a conditional generator's "
                    f"training run")


def load_real_data(dataset_spec: str, workdir: str):
  """The real data set: `dataset_spec`, else the one the run in `workdir` was trained on."""
  from gan import data, rundir  # pylint: disable=g-import-not-at-top
  check_workdir(workdir)
  return data.load_dataset(dataset_spec or rundir.load_run_config(workdir).dataset)


def load_generator(workdir: str, dataset):
  """(run, state, sampler) of the newest checkpoint of the conditional run in `workdir`,
  checked against the real `dataset` (`gan.eval.synthetic.conditional_sampler`)."""
  from gan import rundir  # pylint: disable=g-import-not-at-top
  from gan.eval import synthetic  # pylint: disable=g-import-not-at-top
  check_workdir(workdir)
  run, state = rundir.restore(workdir)
  return run, state, synthetic.conditional_sampler(run, state, dataset)


def generator_record(workdir: str, run, state) -> dict:
  """Which generator sampled: its workdir, task, model, data and checkpoint step."""
  return {"workdir": os.path.abspath(workdir), "task": run.config.task,
          "model": run.config.model.get("name", run.config.task),
          "trained_on": run.spec.name, "step": int(run.first_seed(state).step)}


def main(argv):
  del argv
  per_class = parse_ints(_PER_CLASS.value, "per_class")
  seeds = parse_ints(_SEEDS.value, "seeds")
  check_out(_OUT.value)
  config = _CONFIG.value
  if _STEPS.value is not None:
    if _STEPS.value < 1:
      raise UserError(f"--steps={_STEPS.value} must be a positive number of classifier steps")
    config.num_steps = _STEPS.value
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.eval import synthetic  # pylint: disable=g-import-not-at-top
  dataset = load_real_data(_DATASET.value, _WORKDIR.value)
  for n in per_class:  # Before the generator is restored.
    synthetic.check_label_budget(dataset.train_labels, n)
  run, state, sample = load_generator(_WORKDIR.value, dataset)
  result = synthetic.augmentation_study(
      dataset, sample, per_class=per_class, seeds=seeds,
      synthetic_per_class=_SYNTHETIC.value, mixing=_MIXING.value, config=config)
  record = {"what": "test accuracy with few real labels, without and with generated images",
            "command": " ".join(["python -m experiments.augmentation"] + sys.argv[1:]),
            "generator": generator_record(_WORKDIR.value, run, state), **result,
            "machine": machine_kind()}
  records.write_record(record, _OUT.value)


if __name__ == "__main__":
  # Defined only when run, so that importing this module defines no flags.
  _WORKDIR = flags.DEFINE_string("workdir", None, "The conditional generator's run directory.")
  _DATASET = flags.DEFINE_string("dataset", "", "The real data set (default: the run's).")
  _PER_CLASS = flags.DEFINE_string("per_class", "10,100", "Real labels per class, e.g. 10,100.")
  _SEEDS = flags.DEFINE_string("seeds", "0,1,2", "Seeds (subset, samples, classifier).")
  _SYNTHETIC = flags.DEFINE_integer("synthetic_per_class", 1000,
                                    "Generated images per class added to the real ones.")
  _MIXING = flags.DEFINE_enum("mixing", "add", ["add", "balanced"],
                              "add: the union; balanced: real images repeated to ~half a batch.")
  _STEPS = flags.DEFINE_integer("steps", None, "Classifier steps (default: config.num_steps).")
  _OUT = flags.DEFINE_string("out", "", "Where to write the JSON record.")
  _CONFIG = config_flags.DEFINE_config_dict("config", get_config())
  run_cli(main, arguments=("per_class", "synthetic_per_class", "seeds", "dataset", "mixing"))
