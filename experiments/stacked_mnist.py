r"""PacGAN Table 2: DCGAN and PacDCGAN2 on Stacked MNIST (1,000 modes).

  python -m experiments.stacked_mnist --workdir=runs/stacked_mnist --plots_dir=docs

Real images stack three MNIST training digits, drawn independently for every
image from (key, step) (`gan.mixtures.stacked_mnist_batch`), as the R, G, B
channels. Each row (a packing degree in `packs`) trains `num_seeds` seeds in one
program (`gan.multiseed`), draws 26,000 samples per seed, labels each channel with
the MNIST classifier of `gan.metrics.features` (the cached LeNet, trained on the
MNIST training split on first use), and prints the number of the 1,000 digit
triples covered and KL(q || uniform) (`gan.metrics.modes`), mean +- standard error
over seeds, beside the papers' rows and the wall-clock time. The same metrics of
26,000 real stacked images are printed first (the ceiling the classifier allows).
Writes `results.json` and a grid of samples per row (`grid_<row>.png`) to the
workdir; `--plots_dir=docs` copies the grids there as `stacked_mnist_<row>.png`.

The networks are the `dcgan` family at reduced width (2 CPU cores); the papers'
DCGAN is wider and trained for more steps, so compare the trend, not the digits.
"""

import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import flags
from ml_collections import config_flags

from gan import data, images, losses, mixtures, models, multiseed
from gan.errors import UserError, run_cli
from gan.metrics import features
from gan.metrics import modes as mode_metrics
from gan.state import create_state, make_optimizer
from gan.train_step import StepConfig, make_train_step

from experiments import runner

# (modes, KL) of PacGAN Table 2 and VEEGAN Table 2 (VEEGAN's setting, D of reduced size).
PAPER_ROWS = {
    1: {"PacGAN Table 2 (DCGAN)": (78.9, 4.50), "VEEGAN Table 2 (DCGAN)": (99.0, 3.4)},
    2: {"PacGAN Table 2 (PacDCGAN2)": (1000.0, 0.06)},
}


def get_config() -> ml_collections.ConfigDict:
  """DCGAN vs PacDCGAN2, reduced widths, Adam(2e-4, 0.5), batch 64."""
  c = ml_collections.ConfigDict()
  c.dataset = "../shared/data/mnist.npz"  # MNIST with labels (the classifier trains on it).
  c.packs = (1, 2)  # One row per packing degree: 1 = DCGAN, 2 = PacDCGAN2.
  c.num_seeds = 1
  c.first_seed = 0
  c.g_widths = (64, 32, 16)  # dcgan: projection, then transposed convolutions.
  c.d_widths = (16, 32)  # dcgan: convolutions.
  c.dropout_rate = 0.0
  c.noise_dim = 100
  c.conv_impl = "auto"
  c.minibatch_std = False
  c.loss = "non_saturating"
  c.penalty = "none"
  c.penalty_weight = 10.0
  c.d_steps = 1
  c.batch_size = 64  # D inputs (packs) per update; G draws batch_size * m images.
  c.num_steps = 3000
  c.steps_per_call = 1  # Updates per jitted call (unrolled: convolution gradients in a
  # rolled XLA:CPU loop are slow).
  c.g_lr = 2e-4
  c.d_lr = 2e-4
  c.beta1 = 0.5
  c.beta2 = 0.999
  c.num_eval_samples = mode_metrics.NUM_STACKED_MNIST_SAMPLES
  c.log_every = 250
  return c


_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for results.json and grids.",
                               required=True)
_PLOTS_DIR = flags.DEFINE_string("plots_dir", "", "Also copy the sample grids here.")
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def _row_name(pack: int) -> str:
  return "DCGAN" if pack == 1 else f"PacDCGAN{pack}"


def _check(c) -> None:
  runner.check_seed_table_config(c, ("num_seeds", "batch_size", "num_steps", "steps_per_call",
                                     "d_steps", "num_eval_samples", "noise_dim", "log_every"))


def _digits_of(samples_uint8: np.ndarray, extractor) -> np.ndarray:
  return mode_metrics.classify_channels(samples_uint8, lambda grey: np.asarray(extractor(grey)[1]),
                                        batch_size=500)


def train_row(c, digits: jax.Array, pack: int, extractor, log=print) -> dict:
  """Trains every seed of one row in one program; returns metrics per seed and grids."""
  image_shape = tuple(digits.shape[1:3]) + (3,)
  generator, discriminator = models.build(
      "dcgan", image_shape=image_shape, g_widths=c.g_widths, d_widths=c.d_widths,
      dropout_rate=c.dropout_rate, conv_impl=c.conv_impl, pack=pack,
      minibatch_std=c.minibatch_std)
  step_config = StepConfig(
      loss=losses.get_loss(c.loss), penalty=losses.get_penalty(c.penalty),
      penalty_weight=float(c.penalty_weight), d_steps=c.d_steps, noise_dim=c.noise_dim)
  seeds = list(range(c.first_seed, c.first_seed + c.num_seeds))
  keys = multiseed.seed_keys(seeds)

  def create(key):
    return create_state(generator=generator, discriminator=discriminator, key=key,
                        noise_dim=c.noise_dim, image_shape=image_shape,
                        g_optimizer=make_optimizer(c.g_lr, c.beta1, c.beta2),
                        d_optimizer=make_optimizer(c.d_lr, c.beta1, c.beta2))

  def batch_fn(data_key, step, digit_images):
    return mixtures.stacked_mnist_batch(data_key, step, digit_images,
                                        batch_size=c.batch_size * pack, d_steps=c.d_steps)

  train_step = make_train_step(step_config)
  states = multiseed.init_states(create, keys["init"])
  runs, done, history = {}, 0, []
  start = time.perf_counter()
  buffer = []
  while done < c.num_steps:
    length = min(c.steps_per_call, c.num_steps - done)
    if length not in runs:
      runs[length] = multiseed.make_multiseed_run(train_step, batch_fn, length,
                                                  num_data_args=1, unroll=True)
    states, metrics = runs[length](states, keys["train"], keys["data"], digits)
    buffer.append(metrics)
    done += length
    if done % c.log_every < length or done == c.num_steps:
      means = {k: float(np.mean([np.asarray(m[k]) for m in buffer])) for k in buffer[0]}
      buffer = []
      history.append({"step": done, **means})
      log(f"  {_row_name(pack)} step {done}/{c.num_steps}: d_loss {means['d_loss']:.3f} "
          f"g_loss {means['g_loss']:.3f} D(x) {means['d_real']:.2f} D(G(z)) "
          f"{means['d_fake']:.2f} ({time.perf_counter() - start:.0f} s)")
  jax.block_until_ready(states)
  train_seconds = time.perf_counter() - start

  start = time.perf_counter()
  chunk, samples = 1000, []
  for j, first in enumerate(range(0, c.num_eval_samples, chunk)):
    size = min(chunk, c.num_eval_samples - first)
    z = jax.vmap(lambda k: jax.random.normal(jax.random.fold_in(k, j), (size, c.noise_dim)))(
        keys["sample"])
    samples.append(images.to_uint8(np.asarray(multiseed.generate_per_seed(states, z))))
  samples = np.concatenate(samples, axis=1)  # (S, num_eval_samples, 28, 28, 3)
  per_seed, grids = [], []
  for i, seed in enumerate(seeds):
    result = mode_metrics.stacked_mnist_metrics(_digits_of(samples[i], extractor))
    per_seed.append({"seed": seed, "modes": result["modes"], "kl": result["kl"]})
    grids.append(samples[i, :64])
  return {"per_seed": per_seed, "grids": grids, "train_seconds": train_seconds,
          "eval_seconds": time.perf_counter() - start, "history": history}


def main(argv):
  del argv
  c = _CONFIG.value
  _check(c)
  workdir = _WORKDIR.value
  os.makedirs(workdir, exist_ok=True)
  mnist = data.load_dataset(c.dataset)
  if mnist.image_shape != (28, 28, 1):
    raise UserError(f"{c.dataset!r} holds {mnist.image_shape} images; Stacked MNIST needs "
                    f"MNIST's 28x28 grey digits (--config.dataset=../shared/data/mnist.npz)")
  extractor = features.cached_extractor(mnist)
  print(f"classifier {extractor.name} (checksum {extractor.checksum[:16]}, test accuracy "
        f"{extractor.info.get('test_accuracy')}); devices {jax.devices()}", flush=True)
  digits = jnp.asarray(mnist.train_images)
  total_start = time.perf_counter()

  real = np.asarray(mixtures.stacked_mnist_batch(jax.random.key(12345), 0, digits,
                                                 batch_size=c.num_eval_samples)[0])
  real_result = mode_metrics.stacked_mnist_metrics(_digits_of(real, extractor))
  print(f"real stacked images: {real_result['modes']} modes, KL {real_result['kl']:.3f}",
        flush=True)
  images.save_grid(images_lib_float(real[:64]), os.path.join(workdir, "grid_real.png"))

  rows = []
  for pack in c.packs:
    out = train_row(c, digits, pack, extractor, log=lambda s: print(s, flush=True))
    row = {"name": _row_name(pack), "pack": pack, "per_seed": out["per_seed"],
           "train_seconds": out["train_seconds"], "eval_seconds": out["eval_seconds"],
           "history": out["history"]}
    for name in ("modes", "kl"):
      row[name] = mode_metrics.mean_and_standard_error([r[name] for r in out["per_seed"]])
    rows.append(row)
    grid = images_lib_float(out["grids"][0])
    images.save_grid(grid, os.path.join(workdir, f"grid_{row['name'].lower()}.png"))
    if _PLOTS_DIR.value:
      images.save_grid(grid, os.path.join(_PLOTS_DIR.value,
                                          f"stacked_mnist_{row['name'].lower()}.png"))
    print(f"{row['name']}: modes {row['modes'][0]:.1f} +- {row['modes'][1]:.1f}, KL "
          f"{row['kl'][0]:.2f} +- {row['kl'][1]:.2f} (train {row['train_seconds']:.0f} s, "
          f"eval {row['eval_seconds']:.0f} s)", flush=True)
  total = time.perf_counter() - total_start
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump({"config": json.loads(c.to_json_best_effort()), "rows": rows,
               "real": {"modes": real_result["modes"], "kl": real_result["kl"]},
               "classifier": extractor.describe(), "total_seconds": total}, f, indent=1)

  print(f"\nStacked MNIST, {c.num_eval_samples} samples, mean +- standard error over "
        f"{c.num_seeds} seed(s), {c.num_steps} steps of batch {c.batch_size} "
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
