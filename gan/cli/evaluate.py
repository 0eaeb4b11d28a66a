r"""Scores a run's generator and prints one JSON object (`gan.eval.evaluate.evaluate_run`).

  python -m gan.cli.evaluate --workdir=W [--dataset=../shared/data/mnist.npz]
  python -m gan.cli.evaluate --workdir=W --step=5000 --num_samples=10000 --extractor=DIR

FID, KID, IS, precision/recall and density/coverage of `--num_samples` samples from
the fixed evaluation key against as many real images, with the protocol (extractor
checksum, sample key, real data fingerprint, machine kind) stored beside the scores.
The extractor is the cached LeNet of the real data set (trained on first use and
checked on its test split), or `--extractor=DIR`. The same command prints the same
numbers on the same machine kind.
"""

import json
import sys
import time

from gan.cli import run_cli
from gan.errors import UserError
from gan.eval import evaluate, features


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  defined = {
      "workdir": flags.DEFINE_string("workdir", None, "The training run's workdir."),
      "step": flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest)."),
      "num_samples": flags.DEFINE_integer(
          "num_samples", None, "Generated samples (default: the run's eval.num_samples)."),
      "num_real": flags.DEFINE_integer(
          "num_real", None, "Real images, the first of the split (default: num_samples)."),
      "real_split": flags.DEFINE_enum("real_split", "train", list(evaluate.SPLITS),
                                      "The real split compared with."),
      "sample_seed": flags.DEFINE_integer("sample_seed", 0, "Seed of the evaluation key."),
      "extractor": flags.DEFINE_string(
          "extractor", None, "A saved extractor (python -m experiments.train_classifier); "
          "default: the cached one for the run's data set, trained on first use."),
      "dataset": flags.DEFINE_string("dataset", None,
                                     "The real data (default: the run's config.dataset)."),
      "kid_subsets": flags.DEFINE_integer("kid_subsets", 100, "KID subset pairs."),
      "kid_subset_size": flags.DEFINE_integer(
          "kid_subset_size", 1000, "KID subset size (capped at the number of samples)."),
      "is_splits": flags.DEFINE_integer("is_splits", 10, "Inception Score splits."),
      "pr_k": flags.DEFINE_integer("pr_k", 3, "k of precision/recall."),
      "dc_k": flags.DEFINE_integer("dc_k", 5, "k of density/coverage."),
      "progress_bar": flags.DEFINE_boolean("progress_bar", True, "Progress on stderr."),
      "extractor_config": config_flags.DEFINE_config_dict(
          "extractor_config", features.classifier_config(),
          "The recipe when the cached extractor must be trained."),
  }
  return defined


def main(argv, flag_values) -> None:
  """Evaluates `--workdir` and prints the JSON on stdout."""
  if len(argv) > 1:
    raise UserError(f"unexpected arguments {argv[1:]}; use --workdir=W and flags")
  v = {name: flag.value for name, flag in flag_values.items()}
  if not v["workdir"]:
    raise UserError("--workdir is required: the training run to score")
  start = time.perf_counter()
  result = evaluate.evaluate_run(
      v["workdir"], step=v["step"], num_samples=v["num_samples"], num_real=v["num_real"],
      real_split=v["real_split"], sample_seed=v["sample_seed"], extractor_dir=v["extractor"],
      dataset=v["dataset"], kid_subsets=v["kid_subsets"], kid_subset_size=v["kid_subset_size"],
      is_splits=v["is_splits"], pr_k=v["pr_k"], dc_k=v["dc_k"],
      extractor_config=v["extractor_config"], progress=v["progress_bar"])
  json.dump(result, sys.stdout, indent=2)
  print(flush=True)
  print(f"evaluated step {result['step']} in {time.perf_counter() - start:.1f} s",
        file=sys.stderr, flush=True)


if __name__ == "__main__":
  _FLAGS = _define_flags()
  run_cli(lambda argv: main(argv, _FLAGS), arguments=tuple(_FLAGS))
