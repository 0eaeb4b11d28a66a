r"""Scores a run's generator and prints one JSON object (`gan.eval.evaluate.evaluate_run`).

  python -m gan.cli.evaluate --workdir=W [--dataset=../shared/data/mnist.npz]
  python -m gan.cli.evaluate --workdir=W --step=5000 --num_samples=10000 --extractor=DIR
  python -m gan.cli.evaluate --workdir=W --dataset=../shared/data/cifar10.npz  # Inception
  python -m gan.cli.evaluate --floor --dataset=../shared/data/mnist.npz   # a perfect generator
  python -m gan.cli.evaluate --workdir=W --per_class=1000   # a conditional run, class by class
  python -m gan.cli.evaluate --workdir=W --per_code=1000    # InfoGAN: the digit of each code
  python -m gan.cli.evaluate --workdir=W   # pix2pix, SRGAN, CycleGAN: gan.eval.translation

FID, KID, IS, precision/recall and density/coverage of `--num_samples` samples from
the fixed evaluation key against as many real images, with the protocol (extractor
checksum, sample key, real data fingerprint, machine kind) stored beside the scores.
The extractor is `--extractor=inception` (the standard FID Inception-v3,
`gan.eval.inception`; the default for RGB data), `--extractor=lenet` (the cached LeNet
of the real data set, trained on first use and checked on its test split; the
default for grey data), or `--extractor=DIR`, a saved one. The Inception network has
no classifier: its inception_score is null (IS stays on the project's own
classifiers), and the real images' features are cached. The same command prints the
same numbers on the same machine kind.
"""

import json
import os
import sys
import time

from gan.cli import as_flags, run_cli
from gan.errors import UserError

SPLITS = ("train", "test")  # gan.eval.evaluate.SPLITS, without importing JAX for --help.


def _classifier_config():
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  return features.classifier_config()


def _define_flags():
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  defined = {
      "workdir": flags.DEFINE_string("workdir", None, "The training run's workdir."),
      "floor": flags.DEFINE_boolean(
          "floor", False, "Score the --dataset's test split against its training split "
          "instead of a run: what a perfect generator that does not copy reaches."),
      "step": flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest)."),
      "num_samples": flags.DEFINE_integer(
          "num_samples", None, "Generated samples (default: the run's eval.num_samples)."),
      "num_real": flags.DEFINE_integer(
          "num_real", None, "Real images, the first of the split (default: num_samples)."),
      "real_split": flags.DEFINE_enum("real_split", "train", list(SPLITS),
                                      "The real split compared with."),
      "sample_seed": flags.DEFINE_integer("sample_seed", 0, "Seed of the evaluation key."),
      "extractor": flags.DEFINE_string(
          "extractor", None, "inception (the FID Inception-v3), lenet (the data set's "
          "cached LeNet, trained on first use), or the directory of a saved extractor "
          "(python -m experiments.train_classifier); default: inception for RGB data, "
          "lenet for grey data."),
      "dataset": flags.DEFINE_string("dataset", None,
                                     "The real data (default: the run's config.dataset)."),
      "kid_subsets": flags.DEFINE_integer("kid_subsets", 100, "KID subset pairs."),
      "kid_subset_size": flags.DEFINE_integer(
          "kid_subset_size", 1000, "KID subset size (capped at the number of samples)."),
      "is_splits": flags.DEFINE_integer("is_splits", 10, "Inception Score splits."),
      "pr_k": flags.DEFINE_integer("pr_k", 3, "k of precision/recall."),
      "dc_k": flags.DEFINE_integer("dc_k", 5, "k of density/coverage."),
      "per_class": flags.DEFINE_integer(
          "per_class", 0, "For a class-conditional run: also the classifier's accuracy on, "
          "and the FID of, this many samples of each class (1000 in the docs)."),
      "per_code": flags.DEFINE_integer(
          "per_code", 0, "For a run with discrete latent codes (InfoGAN) or k-means cluster "
          "labels: also the class the classifier reads in this many samples of each code "
          "(cluster), and its share."),
      "progress_bar": flags.DEFINE_boolean("progress_bar", True, "Progress on stderr."),
      "extractor_config": config_flags.DEFINE_config_dict(
          "extractor_config", _classifier_config(),
          "The recipe when the cached extractor must be trained."),
  }
  return defined


def _print(result) -> None:
  """The JSON on stdout; a note on stderr where the Inception Score was not computed."""
  json.dump(result, sys.stdout, indent=2)
  print(flush=True)
  note = result["protocol"].get("classifier_metrics")
  if note:
    print(f"note: {as_flags(note, ('extractor',))}", file=sys.stderr, flush=True)


def main(argv, flag_values) -> None:
  """Evaluates `--workdir` and prints the JSON on stdout."""
  if len(argv) > 1:
    raise UserError(f"unexpected arguments {argv[1:]}; use --workdir=W and flags")
  v = {name: flag.value for name, flag in flag_values.items()}
  if v["workdir"] and not v["floor"] and not os.path.isdir(v["workdir"]):
    raise UserError(f"workdir {v['workdir']!r} does not exist; give a training run's workdir")
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  assert tuple(evaluate.SPLITS) == SPLITS
  kind = v["extractor"] if v["extractor"] in evaluate.EXTRACTOR_CHOICES else None
  extractor_dir = None if kind else v["extractor"]
  start = time.perf_counter()
  if v["floor"]:
    if not v["dataset"]:
      raise UserError("--floor scores a data set's test split against its training split; "
                      "give it with --dataset=PATH")
    result = evaluate.evaluate_floor(
        v["dataset"], num_samples=v["num_samples"] or 10000, extractor_dir=extractor_dir,
        extractor=kind, extractor_config=v["extractor_config"], progress=v["progress_bar"],
        kid_subsets=v["kid_subsets"], kid_subset_size=v["kid_subset_size"],
        is_splits=v["is_splits"], pr_k=v["pr_k"], dc_k=v["dc_k"])
    _print(result)
    return
  if not v["workdir"]:
    raise UserError("--workdir is required: the training run to score (or --floor)")
  from gan import rundir  # pylint: disable=g-import-not-at-top
  from gan.eval import translation  # pylint: disable=g-import-not-at-top
  if rundir.saved_config_values(v["workdir"]).get("task") in translation.TASKS:
    result = translation.evaluate_translation_run(
        v["workdir"], step=v["step"], num=v["num_samples"], dataset=v["dataset"],
        extractor_dir=extractor_dir, extractor_kind=kind, progress=v["progress_bar"])
    json.dump(result, sys.stdout, indent=2)
    print(flush=True)
    print(f"evaluated step {result['step']} in {time.perf_counter() - start:.1f} s",
          file=sys.stderr, flush=True)
    return
  result = evaluate.evaluate_run(
      v["workdir"], step=v["step"], num_samples=v["num_samples"], num_real=v["num_real"],
      real_split=v["real_split"], sample_seed=v["sample_seed"], extractor_dir=extractor_dir,
      extractor=kind,
      dataset=v["dataset"], kid_subsets=v["kid_subsets"], kid_subset_size=v["kid_subset_size"],
      is_splits=v["is_splits"], pr_k=v["pr_k"], dc_k=v["dc_k"],
      extractor_config=v["extractor_config"], per_class=v["per_class"],
      per_code=v["per_code"], progress=v["progress_bar"])
  _print(result)
  print(f"evaluated step {result['step']} in {time.perf_counter() - start:.1f} s",
        file=sys.stderr, flush=True)


if __name__ == "__main__":
  _FLAGS = _define_flags()
  run_cli(lambda argv: main(argv, _FLAGS), arguments=tuple(_FLAGS))
