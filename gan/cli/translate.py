r"""Applies a trained translator or upscaler (pix2pix, SRGAN, CycleGAN) to images.

  python -m gan.cli.translate --workdir=runs/srgan_mnist --input=small.png --out=big.png
  python -m gan.cli.translate --workdir=runs/pix2pix_edges --input=edges/ --out=garments/
  python -m gan.cli.translate --workdir=runs/cyclegan --input=digits.npz --out=coloured.npz
  python -m gan.cli.translate --workdir=runs/cyclegan --direction=b_to_a --input=x.npz --out=y.npz

`--input`: a PNG, a directory of PNGs (the outputs keep their names) or an `.npz`
(array `x`, else its first); `--out` takes the same form (a PNG for one image). The
images must have the size and channels the model was trained on. An existing `--out`
is not overwritten unless `--overwrite`. The same from Python: `gan.apply.Translator`.
"""

import os

from absl import flags

from gan.cli import run_cli
from gan.errors import UserError


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments {argv[1:]}; use --workdir, --input and --out")
  for name, flag in (("workdir", _WORKDIR), ("input", _INPUT), ("out", _OUT)):
    if not flag.value:
      raise UserError(f"--{name} is required (python -m gan.cli.translate --help)")
  out = _OUT.value
  if os.path.exists(out) and not _OVERWRITE.value:
    raise UserError(f"--out={out!r} exists; choose a new path or pass --overwrite")
  if os.path.abspath(out) == os.path.abspath(_INPUT.value):
    raise UserError(f"--out={out!r} is the input; write the results elsewhere")
  if not os.path.isdir(_WORKDIR.value):
    raise UserError(f"workdir {_WORKDIR.value!r} does not exist; give a training run's workdir")
  from gan import apply  # pylint: disable=g-import-not-at-top  (JAX loads after the checks)
  images = apply.read_images(_INPUT.value)
  translator = apply.Translator.load(_WORKDIR.value, step=_STEP.value,
                                     direction=_DIRECTION.value)
  results = translator(translator.check(images, f"the images of {_INPUT.value}"))
  names = (apply.output_names(_INPUT.value, len(results)) if os.path.isdir(_INPUT.value)
           else None)
  paths = apply.write_images(results, out, names=names)
  print(f"wrote {len(results)} image(s) of shape {results.shape[1:]} to {out}"
        + (f" ({len(paths)} files)" if len(paths) > 1 else ""))


if __name__ == "__main__":
  _WORKDIR = flags.DEFINE_string("workdir", None, "The training run's workdir.")
  _INPUT = flags.DEFINE_string("input", None, "A PNG, a directory of PNGs, or an .npz.")
  _OUT = flags.DEFINE_string("out", None, "Where to write: a PNG, a directory or an .npz.")
  _DIRECTION = flags.DEFINE_enum("direction", "a_to_b", ["a_to_b", "b_to_a"],
                                 "CycleGAN: which generator (A -> B or B -> A).")
  _STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
  _OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace an existing --out.")
  run_cli(main, arguments=("workdir", "input", "out", "direction", "step"))
