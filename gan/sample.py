r"""Draws samples from a run's newest (or a chosen) checkpoint.

  python -m gan.sample --workdir=W --num=64 --out=grid.png [--npz=samples.npz] [--seed=0]

The noise is drawn from `jax.random.key(seed)`, so the same command gives the same
images. EMA weights are used when the run kept them.
"""

import os

import jax
import numpy as np
from absl import flags

from gan import images
from gan.errors import UserError, run_cli
from gan.train import restore_run

_BATCH = 1000


def draw_samples(gan, state, num: int, key: jax.Array) -> np.ndarray:
  """`num` samples in [-1, 1], NHWC, drawn in batches from `key`."""
  out = []
  for i, start in enumerate(range(0, num, _BATCH)):
    z = jax.random.normal(jax.random.fold_in(key, i), (min(_BATCH, num - start),
                                                       gan.config.noise_dim))
    out.append(np.asarray(gan.generate(state, z)))
  return np.concatenate(out)


def _check_writable(path: str, flag: str) -> None:
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise UserError(f"--{flag}={path!r}: directory {directory!r} does not exist; create it first")
  if os.path.isdir(path):
    raise UserError(f"--{flag}={path!r} is a directory; give a file name")


def main(argv):
  del argv
  if _NUM.value <= 0:
    raise UserError(f"--num={_NUM.value} must be a positive number of samples")
  if not (_OUT.value or _NPZ.value):
    raise UserError("nothing to write: pass --out=grid.png and/or --npz=samples.npz")
  for path, flag in ((_OUT.value, "out"), (_NPZ.value, "npz")):
    if path:
      _check_writable(path, flag)
  if not os.path.isdir(_WORKDIR.value):
    raise UserError(f"--workdir={_WORKDIR.value!r} does not exist; give a training run's workdir")
  gan, state = restore_run(_WORKDIR.value, _STEP.value)
  samples = draw_samples(gan, state, _NUM.value, jax.random.key(_SEED.value))
  if _OUT.value:
    images.save_grid(samples, _OUT.value)
    print(f"wrote {_OUT.value} ({len(samples)} samples from step {int(state.step)})")
  if _NPZ.value:
    np.savez(_NPZ.value, x=images.to_uint8(samples))
    print(f"wrote {_NPZ.value}")


if __name__ == "__main__":
  # Defined only when run, so that importing `draw_samples` (gan.evaluate, the
  # training loop's hooks) defines no flags that clash with the importer's.
  _WORKDIR = flags.DEFINE_string("workdir", None, "The training run's workdir.", required=True)
  _NUM = flags.DEFINE_integer("num", 64, "Number of samples.")
  _OUT = flags.DEFINE_string("out", None, "PNG grid to write.")
  _NPZ = flags.DEFINE_string("npz", None, "Also save the raw samples, uint8 NHWC, as `x`.")
  _SEED = flags.DEFINE_integer("seed", 0, "Seed of the noise.")
  _STEP = flags.DEFINE_integer("step", None, "Checkpoint step (default: the newest).")
  run_cli(main)
