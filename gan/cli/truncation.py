r"""The truncation trick's fidelity/diversity curve: FID, precision and recall against t.

  python -m gan.cli.truncation --workdir=W --dataset=../shared/data/mnist.npz \
      --thresholds=0.25,0.5,1,1.5,2,inf --num_samples=2000 --out=curve.json \
      [--plot=curve.png] [--grid=trunc.png]

For each threshold t, `--num_samples` samples with z ~ N(0, I) truncated to [-t, t] per
component (BigGAN's truncation trick, `gan.latent.truncated_normal`) are scored like
`python -m gan.cli.evaluate` scores a run (the same protocol, extractor choice and
flags; at t = inf exactly its samples and scores). `--out` gets the JSON (else it goes
to stdout); `--plot` a PNG of FID against t and precision against recall;
`--grid` one row of `--grid_num` samples per threshold, the same draws in every row.
"""

import json
import sys

from gan.cli import (check_writable, extractor_flags, flag_definers, run_cli, run_flags,
                     workdir_flag_values)
from gan.errors import UserError

SPLITS = ("train", "test")  # gan.eval.evaluate.SPLITS, without importing JAX for --help.


def _define_flags(flag_values=None):
  """The command's flags, on `flag_values` (default absl's global `FLAGS`), by name."""
  string, integer, enum, boolean = flag_definers(flag_values)
  return {
      **run_flags(flag_values, dataset=True),
      "thresholds": string("thresholds", "0.25,0.5,1,1.5,2,inf", "Truncation thresholds "
                           "t > 0, comma separated; inf = no truncation."),
      "num_samples": integer("num_samples", None, "Samples per threshold (default: the "
                             "run's eval.num_samples)."),
      "num_real": integer("num_real", None, "Real images, the first of the split "
                          "(default: num_samples)."),
      "real_split": enum("real_split", "train", list(SPLITS), "The real split compared with."),
      "sample_seed": integer("sample_seed", 0, "Seed of the evaluation key."),
      "kid_subsets": integer("kid_subsets", 100, "KID subset pairs."),
      "kid_subset_size": integer("kid_subset_size", 1000, "KID subset size (capped at the "
                                 "number of samples)."),
      "is_splits": integer("is_splits", 10, "Inception Score splits."),
      "pr_k": integer("pr_k", 3, "k of precision/recall."),
      "dc_k": integer("dc_k", 5, "k of density/coverage."),
      "out": string("out", None, "JSON file to write (default: stdout)."),
      "plot": string("plot", None, "PNG plot of the curve."),
      "grid": string("grid", None, "PNG grid: a row of samples per threshold."),
      "grid_num": integer("grid_num", 8, "Samples per row of --grid."),
      "progress_bar": boolean("progress_bar", True, "Progress on stderr."),
      **extractor_flags(flag_values),
  }


def parse_thresholds(text: str) -> list[float]:
  """`0.5,1,inf` -> [0.5, 1.0, inf]; a one-line `UserError` for anything not in (0, inf]."""
  try:
    values = [float(x) for x in text.split(",") if x.strip()]
  except ValueError as error:
    raise UserError(f"--thresholds={text!r} must be numbers separated by commas, e.g. "
                    f"--thresholds=0.5,1,2,inf") from error
  if not values:
    raise UserError("--thresholds is empty; give some, e.g. --thresholds=0.5,1,2,inf")
  bad = [x for x in values if not x > 0]
  if bad:
    raise UserError(f"--thresholds={text!r}: truncation threshold {bad[0]:g} must be in "
                    f"(0, inf]: a positive number of standard deviations, or inf for none")
  return values


def main(argv, flag_values) -> None:
  """Scores `--workdir` at every threshold; writes the JSON (and plot, grid)."""
  v = workdir_flag_values(argv, flag_values, why="the training run to score")
  thresholds = parse_thresholds(v["thresholds"])
  for name in ("out", "plot", "grid"):
    if v[name]:
      check_writable(v[name], name)
  if v["grid_num"] < 1:
    raise UserError(f"--grid_num={v['grid_num']} must be a positive number of samples")
  from gan import images, latent  # pylint: disable=g-import-not-at-top
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  kind = v["extractor"] if v["extractor"] in evaluate.EXTRACTOR_CHOICES else None
  result, grid = latent.truncation_report(
      v["workdir"], thresholds, step=v["step"], num_samples=v["num_samples"],
      num_real=v["num_real"], real_split=v["real_split"], sample_seed=v["sample_seed"],
      dataset=v["dataset"], extractor=kind, extractor_dir=None if kind else v["extractor"],
      extractor_config=v["extractor_config"], kid_subsets=v["kid_subsets"],
      kid_subset_size=v["kid_subset_size"], is_splits=v["is_splits"], pr_k=v["pr_k"],
      dc_k=v["dc_k"], grid_num=v["grid_num"] if v["grid"] else 0, progress=v["progress_bar"])
  if v["out"]:
    with open(v["out"], "w", encoding="utf-8") as f:
      json.dump(result, f, indent=2)
      f.write("\n")
    print(f"wrote {v['out']}")
  else:
    json.dump(result, sys.stdout, indent=2)
    print(flush=True)
  for point in result["curve"]:
    print(f"t={point['threshold']}: fid {point['fid']:.3f} precision {point['precision']:.3f} "
          f"recall {point['recall']:.3f}", file=sys.stderr)
  if v["plot"]:
    latent.plot_truncation_curve(result["curve"], v["plot"])
    print(f"wrote {v['plot']}")
  if v["grid"]:
    images.save_grid(grid, v["grid"], num_cols=v["grid_num"])
    print(f"wrote {v['grid']} (rows: t = {', '.join(f'{t:g}' for t in thresholds)})")


if __name__ == "__main__":
  _FLAGS = _define_flags()
  run_cli(lambda argv: main(argv, _FLAGS), arguments=tuple(_FLAGS))
