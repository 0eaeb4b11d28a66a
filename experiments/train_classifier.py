r"""Trains the LeNet feature extractor that gan.evaluate scores a data set with.

  python -m experiments.train_classifier --workdir=/tmp/extractors/mnist \
      --config.dataset=../shared/data/mnist.npz
  python -m experiments.train_classifier --workdir=/tmp/extractors/fashion_mnist \
      --config.dataset=../shared/data/fashion_mnist.npz
  python -m gan.cli.evaluate --workdir=RUN --extractor=/tmp/extractors/mnist

Writes `extractor.json` (name, checksum of the weights, recipe, test accuracy) and
the weights (Orbax, `params/`) to --workdir, and prints the test accuracy and the
checksum. The seed fixes initialisation and batch order, so running it again gives
the same checksum on the same machine kind. A directory that already holds an
extractor is never overwritten. `gan.cli.evaluate` without --extractor trains the
same recipe into its cache on first use. The classifier trains through the same
program as the GANs (`gan.program`, task `classifier`).
"""

import json

from absl import flags
from ml_collections import config_flags

from gan import data
from gan.cli import run_cli
from gan.eval import features


def get_config():
  """The default extractor recipe (`gan.metrics.features.classifier_config`) and its data."""
  config = features.classifier_config()
  # An .npz with x_train/y_train/x_test/y_test (../shared/data/mnist.npz,
  # ../shared/data/fashion_mnist.npz), or a TFDS name (mnist, fashion_mnist).
  config.dataset = "mnist"
  config.tfds_data_dir = ""  # TFDS data_dir; empty = TFDS's default.
  return config


_WORKDIR = flags.DEFINE_string("workdir", None, "Directory to write the extractor to.",
                               required=True)
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def main(argv):
  del argv
  config = _CONFIG.value
  features.check_output_directory(_WORKDIR.value)
  dataset = data.load_dataset(config.dataset, tfds_data_dir=config.tfds_data_dir or None)
  extractor = features.train_classifier(dataset, config)
  path = features.save_extractor(extractor, _WORKDIR.value)
  info = extractor.info
  print(json.dumps({"extractor": path, "name": info["name"], "checksum": info["checksum"],
                    "test_accuracy": info["test_accuracy"],
                    "num_test": info["dataset"]["num_test_used"],
                    "num_steps": info["num_steps"], "train_seconds": info["train_seconds"]},
                   indent=2))


if __name__ == "__main__":
  run_cli(main)
