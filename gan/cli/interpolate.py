r"""Interpolates a run's generator: between latents, between classes, between checkpoints.

  python -m gan.cli.interpolate --workdir=W --num=8 --rows=4 --mode=slerp --seed=0 --out=interp.png
  python -m gan.cli.interpolate --workdir=W --classes=3,8 --out=classes.png   # conditional run
  python -m gan.cli.interpolate --workdir=W --step=2000 --step_b=10000 --out=weights.png
  python -m gan.cli.interpolate --workdir=W --workdir_b=W2 --out=weights.png

A grid of `--rows` paths of `--num` points each (one path a row, t = 0 .. 1 from left
to right; `gan.latent`):
  latents      z from a to b, `--mode=slerp` (default) or `lerp`; a conditional run keeps
               each row's label;
  classes      `--classes=i,j`: z fixed per row, the label the class weights
               (1 - t) e_i + t e_j;
  checkpoints  `--workdir_b` and/or `--step_b`: fixed inputs per row, the weights
               (1 - t) theta_A + t theta_B, leaf by leaf (always linear); the two
               checkpoints must be of one model.
The inputs come from `jax.random.key(--seed)`, so the same command gives the same grid.
EMA weights are used when the run kept them.
"""


from gan.cli import check_writable, flag_definers, run_cli, run_flags, workdir_flag_values
from gan.errors import UserError


def _define_flags(flag_values=None):
  """The command's flags, on `flag_values` (default absl's global `FLAGS`), by name."""
  string, integer, enum, boolean = flag_definers(flag_values)
  return {
      **run_flags(flag_values, dataset=False),
      "workdir_b": string("workdir_b", None,
                          "Interpolate the weights towards this run (same model)."),
      "step_b": integer("step_b", None, "Interpolate the weights towards this step (of "
                        "--workdir_b, else of --workdir; default: the newest)."),
      "num": integer("num", 8, "Points per path (>= 2), the grid's columns."),
      "rows": integer("rows", 4, "Paths, the grid's rows."),
      "mode": enum("mode", "slerp", ["slerp", "lerp"], "Interpolation between latents."),
      "classes": string("classes", None, "Conditional runs: interpolate the label from "
                        "class i to class j, e.g. 3,8."),
      "seed": integer("seed", 0, "Seed of the inputs."),
      "out": string("out", None, "PNG grid to write."),
  }


def _classes(text: str) -> tuple[int, int]:
  try:
    classes = tuple(int(x) for x in text.split(","))
  except ValueError as error:
    raise UserError(f"--classes={text!r} must be two class numbers, e.g. --classes=3,8") from error
  if len(classes) != 2:
    raise UserError(f"--classes={text!r} must be two class numbers, e.g. --classes=3,8")
  return classes


def main(argv, flag_values) -> None:
  """Writes the interpolation grid of `--workdir` to `--out`."""
  v = workdir_flag_values(argv, flag_values, why="the training run's directory")
  if not v["out"]:
    raise UserError("nothing to write: pass --out=grid.png")
  check_writable(v["out"], "out")
  if v["num"] < 2:
    raise UserError(f"--num={v['num']} points cannot make a path; use at least 2")
  if v["rows"] < 1:
    raise UserError(f"--rows={v['rows']} must be a positive number of paths")
  classes = _classes(v["classes"]) if v["classes"] is not None else None
  weights = v["workdir_b"] is not None or v["step_b"] is not None
  if weights and classes is not None:
    raise UserError("--classes interpolates labels, --workdir_b/--step_b weights; give one")
  if weights and flag_values["mode"].present and v["mode"] != "lerp":
    raise UserError(f"--mode={v['mode']} is for latents; weights are interpolated linearly: "
                    f"drop --mode")
  # Imported here: mistakes in the command line are reported before JAX loads.
  import jax  # pylint: disable=g-import-not-at-top
  from gan import images, latent  # pylint: disable=g-import-not-at-top
  workdir_b = v["workdir_b"] or v["workdir"]
  if weights:  # Refused before anything is restored.
    latent.check_same_models(v["workdir"], workdir_b)
  run, state = latent.restore_generator(v["workdir"], v["step"])
  key = jax.random.key(v["seed"])
  if weights:
    _, state_b = latent.restore_generator(workdir_b, v["step_b"])
    names = (f"{v['workdir']!r} (step {int(state.step)})",
             f"{workdir_b!r} (step {int(state_b.step)})")
    samples = latent.interpolate_checkpoints(run, state, state_b, key, num=v["num"],
                                             rows=v["rows"], names=names)
    what = f"weights from {names[0]} to {names[1]}"
  else:
    samples = latent.interpolate(run, state, key, num=v["num"], rows=v["rows"],
                                 mode=v["mode"], classes=classes)
    what = (f"class {classes[0]} to {classes[1]}" if classes else f"{v['mode']} between latents")
  images.save_grid(samples, v["out"], num_cols=v["num"])
  print(f"wrote {v['out']} ({v['rows']} rows of {v['num']}: {what}; step {int(state.step)})")


if __name__ == "__main__":
  _FLAGS = _define_flags()
  run_cli(lambda argv: main(argv, _FLAGS), arguments=tuple(_FLAGS))
