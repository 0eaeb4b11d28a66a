r"""PacGAN Table 2: DCGAN and PacDCGAN2 on Stacked MNIST (1,000 modes).

  python -m experiments.stacked_mnist --workdir=runs/stacked_mnist --plots_dir=docs

Real images stack three MNIST training digits, drawn independently for every
image from (key, step) (`gan.data.mixtures.stacked_mnist_batch`, the data set
`stacked_mnist:PATH`), as the R, G, B channels. Each row (a packing degree in
`lab.packs`) is one run of the training program with `run.num_seeds` seeds in one
program, in `<workdir>/<row>/` (it resumes like any run); then 26,000 samples per
seed are drawn, each channel labelled with the MNIST classifier of
`gan.eval.features` (the cached LeNet, trained on the MNIST training split on first
use), and the lab prints the number of the 1,000 digit triples covered and
KL(q || uniform) (`gan.metrics.modes`), mean +- standard error over seeds, beside the
papers' rows and the wall-clock time. The same metrics of 26,000 real stacked images
are printed first (the ceiling the classifier allows). Writes `results.json` and a
grid of samples per row (`grid_<row>.png`) to the workdir; `--plots_dir=docs` copies
the grids there as `stacked_mnist_<row>.png`.

The networks are the `dcgan` family at reduced width (2 CPU cores); the papers'
DCGAN is wider and trained for more steps, so compare the trend, not the digits.
"""

import json
import os
import time

import jax
import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from gan import build, data, images, program
from gan import config as config_lib
from gan.cli import run_cli
from gan.data import mixtures
from gan.errors import ConfigError
from gan.eval import features
from gan.metrics import modes as mode_metrics

# (modes, KL) of PacGAN Table 2 and VEEGAN Table 2 (VEEGAN's setting, D of reduced size).
PAPER_ROWS = {
    1: {"PacGAN Table 2 (DCGAN)": (78.9, 4.50), "VEEGAN Table 2 (DCGAN)": (99.0, 3.4)},
    2: {"PacGAN Table 2 (PacDCGAN2)": (1000.0, 0.06)},
}
MNIST = "../shared/data/mnist.npz"


def get_config() -> ml_collections.ConfigDict:
  """DCGAN vs PacDCGAN2, reduced widths, Adam(2e-4, 0.5), batch 64."""
  c = config_lib.base_config()
  c.dataset = f"stacked_mnist:{MNIST}"  # MNIST with labels (the classifier trains on it).
  c.num_steps = 3000
  c.model.name = "dcgan"
  c.model.g_widths = (64, 32, 16)  # dcgan: projection, then transposed convolutions.
  c.model.d_widths = (16, 32)  # dcgan: convolutions.
  c.model.dropout_rate = 0.0
  c.run.num_seeds = 1
  c.run.log_every = 250
  c.run.checkpoint_every = 1000
  c.run.sample_every = 0
  c.run.num_sample_images = 0
  c.lab = ml_collections.ConfigDict()
  c.lab.packs = (1, 2)  # One row per packing degree: 1 = DCGAN, 2 = PacDCGAN2.
  c.lab.d_inputs = 64  # D inputs (packs) per update; a row's batch_size is d_inputs * m.
  c.lab.num_eval_samples = mode_metrics.NUM_STACKED_MNIST_SAMPLES
  return c


_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the rows' runs, results.json "
                               "and grids.", required=True)
_PLOTS_DIR = flags.DEFINE_string("plots_dir", "", "Also copy the sample grids here.")
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def row_name(pack: int) -> str:
  return "DCGAN" if pack == 1 else f"PacDCGAN{pack}"


def check_lab_config(c) -> None:
  """The lab's own fields (`lab`); the run's are checked by the builder."""
  for field in ("d_inputs", "num_eval_samples"):
    config_lib.positive_int(c, f"lab.{field}")
  packs = tuple(c.lab.packs)
  if not packs or any(not isinstance(m, int) or m < 1 for m in packs):
    raise ConfigError("lab.packs", packs, "must be packing degrees >= 1, e.g. '(1,2)'")
  if not c.dataset.startswith("stacked_mnist:"):
    raise ConfigError("dataset", c.dataset, "must be stacked_mnist:PATH (MNIST's digits)")


def row_config(c, pack: int) -> ml_collections.ConfigDict:
  """The run of one row: the lab config with packing degree `pack`."""
  row = ml_collections.ConfigDict(c.to_dict())
  row.model.pack = pack
  row.batch_size = c.lab.d_inputs * pack
  return row


def _digits_of(samples_uint8: np.ndarray, extractor) -> np.ndarray:
  return mode_metrics.classify_channels(samples_uint8, lambda grey: np.asarray(extractor(grey)[1]),
                                        batch_size=500)


def evaluate_row(c, run, states, extractor) -> dict:
  """Metrics per seed and a grid of each seed, from `num_eval_samples` samples per seed."""
  start = time.perf_counter()
  seeds = range(c.seed, c.seed + run.num_seeds)
  keys = run.keys["sample"] if run.num_seeds > 1 else run.keys["sample"][None]
  per_seed, grids = [], []
  for i, seed in enumerate(seeds):
    state = states if run.num_seeds == 1 else jax.tree.map(lambda x, i=i: x[i], states)
    # 1,000 samples per generator call, chunk j from fold_in(sample key, j).
    samples = images.to_uint8(run.sample(state, c.lab.num_eval_samples, keys[i]))
    result = mode_metrics.stacked_mnist_metrics(_digits_of(samples, extractor))
    per_seed.append({"seed": seed, "modes": result["modes"], "kl": result["kl"]})
    grids.append(samples[:64])
  return {"per_seed": per_seed, "grids": grids, "eval_seconds": time.perf_counter() - start}


def main(argv):
  del argv
  c = _CONFIG.value
  check_lab_config(c)
  workdir = _WORKDIR.value
  os.makedirs(workdir, exist_ok=True)
  mnist = data.load_dataset(c.dataset.split(":", 1)[1])
  extractor = features.cached_extractor(mnist)
  print(f"classifier {extractor.name} (checksum {extractor.checksum[:16]}, test accuracy "
        f"{extractor.info.get('test_accuracy')}); devices {jax.devices()}", flush=True)
  total_start = time.perf_counter()

  digits = np.asarray(mnist.train_images)[..., 0]
  real = np.asarray(mixtures.stacked_mnist_batch(jax.random.key(12345), 0, digits,
                                                 batch_size=c.lab.num_eval_samples)[0])
  real_result = mode_metrics.stacked_mnist_metrics(_digits_of(real, extractor))
  print(f"real stacked images: {real_result['modes']} modes, KL {real_result['kl']:.3f}",
        flush=True)
  images.save_grid(images_lib_float(real[:64]), os.path.join(workdir, "grid_real.png"))

  rows = []
  for pack in c.lab.packs:
    name = row_name(pack)
    start = time.perf_counter()
    run = build.build(row_config(c, pack), data.StackedMNISTData(digits))
    states = program.train(run, os.path.join(workdir, name.lower()), hooks=[])
    train_seconds = time.perf_counter() - start
    out = evaluate_row(c, run, states, extractor)
    row = {"name": name, "pack": pack, "per_seed": out["per_seed"],
           "train_seconds": train_seconds, "eval_seconds": out["eval_seconds"]}
    for metric in ("modes", "kl"):
      row[metric] = mode_metrics.mean_and_standard_error([r[metric] for r in out["per_seed"]])
    rows.append(row)
    grid = images_lib_float(out["grids"][0])
    images.save_grid(grid, os.path.join(workdir, f"grid_{name.lower()}.png"))
    if _PLOTS_DIR.value:
      images.save_grid(grid, os.path.join(_PLOTS_DIR.value, f"stacked_mnist_{name.lower()}.png"))
    print(f"{name}: modes {row['modes'][0]:.1f} +- {row['modes'][1]:.1f}, KL "
          f"{row['kl'][0]:.2f} +- {row['kl'][1]:.2f} (train {row['train_seconds']:.0f} s, "
          f"eval {row['eval_seconds']:.0f} s)", flush=True)
  total = time.perf_counter() - total_start
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump({"config": json.loads(c.to_json_best_effort()), "rows": rows,
               "real": {"modes": real_result["modes"], "kl": real_result["kl"]},
               "classifier": extractor.describe(), "total_seconds": total}, f, indent=1)

  print(f"\nStacked MNIST, {c.lab.num_eval_samples} samples, mean +- standard error over "
        f"{c.run.num_seeds} seed(s), {c.num_steps} steps of {c.lab.d_inputs} D inputs "
        f"({total / 60:.1f} min in all)")
  print(f"{'':12s} {'modes':>16s} {'KL':>14s} {'train s':>8s}   | papers")
  print(f"{'real data':12s} {real_result['modes']:>16d} {real_result['kl']:>14.3f} {'':>8s}   |")
  for row in rows:
    paper = "; ".join(f"{k}: {v[0]:g} / {v[1]:g}" for k, v in PAPER_ROWS.get(row["pack"],
                                                                               {}).items())
    print(f"{row['name']:12s} {row['modes'][0]:>9.1f} +- {row['modes'][1]:<4.1f} "
          f"{row['kl'][0]:>7.2f} +- {row['kl'][1]:<4.2f} {row['train_seconds']:>8.0f}   | "
          f"{paper}")


def images_lib_float(uint8_images: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> [-1, 1] floats, what `gan.images.save_grid` takes."""
  return uint8_images.astype(np.float32) / 127.5 - 1.0


if __name__ == "__main__":
  run_cli(main)
