r"""Draws samples from a run's newest (or a chosen) checkpoint.

  python -m gan.cli.sample --workdir=W --num=64 --out=W/grid.png [--npz=samples.npz] [--seed=0]
  python -m gan.cli.sample --workdir=W --labels=0,1,7 --num=30 --out=W/sevens.png

The inputs are drawn from `jax.random.key(seed)`, so the same command gives the same
images. EMA weights are used when the run kept them. For a conditional run,
`--labels` chooses the classes (the samples cycle through them); without it the
grid has one row per class, or, for a run on k-means cluster labels
(`--config.data.cluster_labels`), the samples draw their clusters at the clusters'
rates, as the run's scores do.
"""


from absl import flags

from gan.cli import check_writable, run_cli
from gan.errors import UserError


def _labels(text: str, num_classes: int) -> list[int]:
  try:
    labels = [int(x) for x in text.split(",") if x.strip()]
  except ValueError as error:
    raise UserError(f"--labels={text!r} must be class numbers separated by commas, "
                    f"e.g. --labels=0,7") from error
  bad = [y for y in labels if not 0 <= y < num_classes]
  if not labels or bad:
    raise UserError(f"--labels={text!r}: the run was trained on classes 0..{num_classes - 1}; "
                    f"choose labels among them")
  return labels


def main(argv):
  del argv
  if _NUM.value <= 0:
    raise UserError(f"--num={_NUM.value} must be a positive number of samples")
  if not (_OUT.value or _NPZ.value):
    raise UserError("nothing to write: pass --out=grid.png and/or --npz=samples.npz")
  for path, flag in ((_OUT.value, "out"), (_NPZ.value, "npz")):
    if path:
      check_writable(path, flag)
  if not _WORKDIR.value:
    raise UserError("--workdir is required: the training run's directory")
  # Imported here: mistakes in the command line are reported before JAX loads.
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from gan import images, rundir  # pylint: disable=g-import-not-at-top
  from gan.tasks import base  # pylint: disable=g-import-not-at-top
  run, state = rundir.restore(_WORKDIR.value, _STEP.value)
  if run.generate is None:
    raise UserError(f"the run in {_WORKDIR.value!r} (task {run.config.task}) does not "
                    f"generate samples")
  num_classes = run.task.parts.get("num_classes", 0)
  key = jax.random.key(_SEED.value)
  columns = 0
  if _LABELS.value is not None and not num_classes:
    raise UserError("--labels is for a conditional run; this run's generator takes no label")
  # A run on cluster labels draws them at the clusters' rates, as its samples do: random
  # samples; a run on the data set's classes draws one row per class.
  clustered = bool(run.spec.label_frequencies)
  if num_classes and _LABELS.value is None and not clustered:  # One row per class.
    inputs = run.task.grid_inputs(key, _NUM.value)
    samples = np.asarray(run.generate(state, inputs))
    columns = base.class_grid_columns(_NUM.value, num_classes)
  elif num_classes and _LABELS.value is not None:
    labels = _labels(_LABELS.value, num_classes)
    inputs = run.task.sample_inputs(key, _NUM.value)
    inputs["label"] = jnp.resize(jnp.asarray(labels), (_NUM.value,))
    samples = np.asarray(run.generate(state, inputs))
    columns = len(labels) if _NUM.value % len(labels) == 0 else 0
  else:
    samples = run.sample(state, _NUM.value, key)
  if _OUT.value:
    images.save_grid(samples, _OUT.value, num_cols=columns)
    print(f"wrote {_OUT.value} ({len(samples)} samples from step {int(state.step)})")
  if _NPZ.value:
    np.savez(_NPZ.value, x=images.to_uint8(samples))
    print(f"wrote {_NPZ.value}")


if __name__ == "__main__":
  # Defined only when run, so that importing this module defines no flags.
  _WORKDIR = flags.DEFINE_string("workdir", None, "The training run's workdir.")
  _NUM = flags.DEFINE_integer("num", 64, "Number of samples.")
  _OUT = flags.DEFINE_string("out", None, "PNG grid to write.")
  _NPZ = flags.DEFINE_string("npz", None, "Also save the raw samples, uint8 NHWC, as `x`.")
  _SEED = flags.DEFINE_integer("seed", 0, "Seed of the inputs.")
  _STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
  _LABELS = flags.DEFINE_string("labels", None, "Conditional runs: classes (or clusters) "
                                "to draw, e.g. 0,7.")
  run_cli(main)
