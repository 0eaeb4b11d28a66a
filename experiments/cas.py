r"""The Classification Accuracy Score of conditional generators, beside the real-data row.

  python -m experiments.cas --workdirs=runs/cgan_mnist,runs/cvae_mnist --num_per_class=1000 \
      --seeds=0,1,2 --out=docs/cas_mnist.json
  python -m experiments.cas --workdirs=runs/cgan_cifar10 --dataset=../shared/data/cifar10.npz \
      --num_per_class=500 --out=docs/cas_cifar10.json

Ravuri & Vinyals (2019): a classifier trained only on a conditional generator's samples,
--num_per_class of each class (labelled with the class asked for), tested on the real
test split. Each of --workdirs is a class-conditional run (task conditional_gan, or vae
with model.conditional=True), sampled at its newest checkpoint. The "real" row trains
the same classifier, for the same --steps, on --num_per_class real training images per
class (a seeded draw): what a generator that matched the data would score. The
classifier is `gan.eval.synthetic.classifier_config`'s LeNet (--config.FIELD=V changes
it), trained through the training program; one seed fixes the samples, the real subset
and the classifier's initialisation and batch order.

Prints one JSON record and writes it to --out: the real row and, per run, the CAS (mean,
std over seeds, per seed), with the protocol, each generator (workdir, task, step) and
the machine.
"""

import sys

from absl import flags
from ml_collections import config_flags

from experiments import augmentation
from experiments import records
from gan.cli import run_cli
from gan.errors import UserError


def get_config():
  """The classifier's recipe (`gan.eval.synthetic.classifier_config`); --steps sets num_steps."""
  return augmentation.get_config()


def main(argv):
  del argv
  workdirs = [w.strip() for w in _WORKDIRS.value.split(",") if w.strip()]
  if not workdirs:
    raise UserError("--workdirs is empty; give conditional generators' run directories, "
                    "comma-separated")
  seeds = augmentation.parse_ints(_SEEDS.value, "seeds")
  augmentation.check_out(_OUT.value)
  config = _CONFIG.value
  if _STEPS.value is not None:
    if _STEPS.value < 1:
      raise UserError(f"--steps={_STEPS.value} must be a positive number of classifier steps")
    config.num_steps = _STEPS.value
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.eval import synthetic  # pylint: disable=g-import-not-at-top
  dataset = augmentation.load_real_data(_DATASET.value, workdirs[0])
  # Every mistake before the first classifier trains: the real row's budget, each run.
  synthetic.check_label_budget(dataset.train_labels, _NUM_PER_CLASS.value,
                               argument="num_per_class")
  generators = [(w,) + augmentation.load_generator(w, dataset) for w in workdirs]
  runs = []
  for workdir, run, state, sample in generators:
    score = synthetic.classification_accuracy_score(
        dataset, sample, num_per_class=_NUM_PER_CLASS.value, seeds=seeds, config=config)
    del score["protocol"]  # The real row's.
    runs.append({"generator": augmentation.generator_record(workdir, run, state), **score})
  real = synthetic.real_data_baseline(dataset, num_per_class=_NUM_PER_CLASS.value, seeds=seeds,
                                      config=config)
  protocol = real.pop("protocol")
  record = {"what": "Classification Accuracy Score: a classifier trained on generated images "
                    "only, tested on real ones; and on as many real images",
            "command": " ".join(["python -m experiments.cas"] + sys.argv[1:]),
            "protocol": protocol, "real": real, "runs": runs, "machine": machine_kind()}
  records.write_record(record, _OUT.value)


if __name__ == "__main__":
  # Defined only when run, so that importing this module defines no flags.
  _WORKDIRS = flags.DEFINE_string("workdirs", None, "Conditional generators' run directories, "
                                  "comma-separated.")
  _DATASET = flags.DEFINE_string("dataset", "", "The real data set (default: the first run's).")
  _NUM_PER_CLASS = flags.DEFINE_integer("num_per_class", 1000, "Training images per class, "
                                        "generated (CAS) or real (the real row).")
  _SEEDS = flags.DEFINE_string("seeds", "0,1,2", "Seeds (samples, real subset, classifier).")
  _STEPS = flags.DEFINE_integer("steps", None, "Classifier steps (default: config.num_steps).")
  _OUT = flags.DEFINE_string("out", "", "Where to write the JSON record.")
  _CONFIG = config_flags.DEFINE_config_dict("config", get_config())
  run_cli(main, arguments=("num_per_class", "seeds", "dataset"))
