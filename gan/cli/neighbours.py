r"""Nearest training images of a run's samples, and a memorisation ratio.

  python -m gan.cli.neighbours --workdir=W --dataset=../shared/data/mnist.npz --num=8 --k=5 \
      --out=nn.png --json=nn.json
  python -m gan.cli.neighbours --workdir=W --space=pixels --out=nn.png   # in pixel space

`--num_samples` samples from `jax.random.key(--sample_seed)` (the images `gan.cli.sample
--seed` and `gan.cli.evaluate` draw) and as many held-out test images are embedded with
the evaluation's extractor (`--extractor`, as `gan.cli.evaluate`; or `--space=pixels`)
and matched to their exact Euclidean nearest training images (`gan.latent`). The grid
`--out` has a row per sample: the sample, then its `--k` nearest training images. The
JSON (`--json`, else stdout) holds the neighbours of the grid's samples and

  ratio = median over samples of the distance to the nearest training image
          / the same median over test images:

below 1, samples sit closer to training images than new real images do (copies).
"""

import json
import sys

from gan.cli import (check_writable, extractor_flags, flag_definers, run_cli, run_flags,
                     workdir_flag_values)
from gan.errors import UserError


def _define_flags(flag_values=None):
  """The command's flags, on `flag_values` (default absl's global `FLAGS`), by name."""
  string, integer, enum, boolean = flag_definers(flag_values)
  return {
      **run_flags(flag_values, dataset=True),
      "num": integer("num", 8, "Samples shown in the grid, one a row."),
      "k": integer("k", 5, "Nearest training images per sample."),
      "num_samples": integer("num_samples", 1000, "Samples (and test images, at most the "
                             "test split) for the memorisation ratio."),
      "num_train": integer("num_train", None, "Search the first N training images "
                           "(default: all)."),
      "sample_seed": integer("sample_seed", 0, "Seed of the samples."),
      "space": enum("space", "features", ["features", "pixels"],
                    "Distances between extractor features or between pixels."),
      "out": string("out", None, "PNG grid to write."),
      "json": string("json", None, "JSON file to write (default: stdout)."),
      "progress_bar": boolean("progress_bar", True, "Progress on stderr."),
      **extractor_flags(flag_values),
  }


def main(argv, flag_values) -> None:
  """Finds the neighbours of `--workdir`'s samples; writes the grid and the JSON."""
  v = workdir_flag_values(argv, flag_values, why="the training run's directory")
  for name in ("out", "json"):
    if v[name]:
      check_writable(v[name], name)
  for name in ("num", "k", "num_samples"):
    if v[name] < 1:
      raise UserError(f"--{name}={v[name]} must be a positive integer")
  from gan import images, latent  # pylint: disable=g-import-not-at-top
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  kind = v["extractor"] if v["extractor"] in evaluate.EXTRACTOR_CHOICES else None
  result, grid = latent.neighbours_report(
      v["workdir"], step=v["step"], num=v["num"], k=v["k"], num_samples=v["num_samples"],
      num_train=v["num_train"], sample_seed=v["sample_seed"], dataset=v["dataset"],
      space=v["space"], extractor=kind, extractor_dir=None if kind else v["extractor"],
      extractor_config=v["extractor_config"], progress=v["progress_bar"])
  if v["json"]:
    with open(v["json"], "w", encoding="utf-8") as f:
      json.dump(result, f, indent=2)
      f.write("\n")
    print(f"wrote {v['json']}")
  else:
    json.dump(result, sys.stdout, indent=2)
    print(flush=True)
  if v["out"]:
    images.save_grid(grid, v["out"], num_cols=v["k"] + 1)
    print(f"wrote {v['out']} ({v['num']} rows: a sample, then its {v['k']} nearest training "
          f"images)")
  m = result["memorisation"]
  print(f"memorisation ratio {m['ratio']:.3f} (median nearest-training distance: samples "
        f"{m['sample_median']:.4g}, test images {m['test_median']:.4g})", file=sys.stderr)


if __name__ == "__main__":
  _FLAGS = _define_flags()
  run_cli(lambda argv: main(argv, _FLAGS), arguments=tuple(_FLAGS))
