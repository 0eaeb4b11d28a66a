r"""Reconstructs real images with a run that has an encoder (a VAE, an autoencoder).

  python -m gan.cli.reconstruct --workdir=W --dataset=../shared/data/mnist.npz --num=16 \
      --out=recon.png [--json=recon.json] [--split=test]

The first `--num` images of `--split` go through the task's encoder and decoder
(`Task.reconstruct`: the decoder's mean for the encoder's mean latent). The grid holds
pairs of rows, `--columns` originals above their reconstructions; the JSON (`--json`,
else stdout) their mean squared error and PSNR in [-1, 1] (`gan.latent`). A run
without an encoder (a GAN) is refused.
"""

import json
import sys

from gan.cli import check_writable, flag_definers, run_cli, run_flags, workdir_flag_values
from gan.errors import UserError


def _define_flags(flag_values=None):
  """The command's flags, on `flag_values` (default absl's global `FLAGS`), by name."""
  string, integer, enum, boolean = flag_definers(flag_values)
  return {
      **run_flags(flag_values, dataset=True),
      "split": enum("split", "test", ["train", "test"], "The images' split."),
      "num": integer("num", 16, "Images to reconstruct (the first of the split)."),
      "columns": integer("columns", 8, "Images per row of the grid."),
      "out": string("out", None, "PNG grid to write."),
      "json": string("json", None, "JSON file to write (default: stdout)."),
  }


def main(argv, flag_values) -> None:
  """Reconstructs `--num` images with `--workdir`'s run; writes the grid and the JSON."""
  v = workdir_flag_values(argv, flag_values, why="the training run's directory")
  for name in ("out", "json"):
    if v[name]:
      check_writable(v[name], name)
  for name in ("num", "columns"):
    if v[name] < 1:
      raise UserError(f"--{name}={v[name]} must be a positive integer")
  from gan import images, latent  # pylint: disable=g-import-not-at-top
  result, originals, recon = latent.reconstruction_report(
      v["workdir"], step=v["step"], dataset=v["dataset"], num=v["num"], split=v["split"])
  if v["json"]:
    with open(v["json"], "w", encoding="utf-8") as f:
      json.dump(result, f, indent=2)
      f.write("\n")
    print(f"wrote {v['json']}")
  else:
    json.dump(result, sys.stdout, indent=2)
    print(flush=True)
  if v["out"]:
    columns = min(v["columns"], v["num"])
    images.save_grid(latent.reconstruction_grid(originals, recon, columns=columns), v["out"],
                     num_cols=columns)
    print(f"wrote {v['out']} (pairs of rows: originals above reconstructions)")


if __name__ == "__main__":
  _FLAGS = _define_flags()
  run_cli(lambda argv: main(argv, _FLAGS), arguments=tuple(_FLAGS))
