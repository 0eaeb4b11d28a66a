r"""PacGAN Table 1: GAN and PacGAN on the 2-D ring and grid mixtures, several seeds at once.

  python -m experiments.mixture_of_gaussians --workdir=runs/grid --plots_dir=docs
  python -m experiments.mixture_of_gaussians --workdir=runs/ring --plots_dir=docs \
      --config.dataset=mixture:ring --config.model.d_widths='(64,64,64)' --config.num_steps=10000

The defaults are PacGAN's setup shrunk to fit a 2-core CPU in under half an hour per
command (grid: 27 min, ring: 9 min): networks 128 wide instead of 400/200, 16,000 steps
with Adam(1e-3, beta1 0.5) cosine-decayed to 0 instead of 400,000 steps at a constant
1e-4. The paper's setup is

  --config.model.g_widths='(400,400,400,400)' --config.model.d_widths='(200,200,200)' \
  --config.num_steps=400000 --config.optim.g_lr=1e-4 --config.optim.d_lr=1e-4 \
  --config.optim.lr_schedule=constant --config.optim.beta1=0.8

Each row (a packing degree in `lab.packs`) is one run of the training program
(`gan.program.train`) with `run.num_seeds` seeds vmapped in one program, the data
drawn on the device from (key, step); it lives in `<workdir>/<row>/`, so a row
resumes like any run. Then 2,500 samples per seed are scored: modes captured, %
high-quality samples and reverse KL as mean +- standard error over seeds, beside the
paper's row. Writes `results.json` and one scatter plot per row
(`scatter_<mixture>_<row>.png`) to the workdir; `--plots_dir=docs` also copies the
plots there as `mixtures_<mixture>_<row>.png`.

Remedies beyond packing are fields: `--config.loss.name=`, `--config.loss.penalty=r1
--config.loss.penalty_weight=...`, `--config.optim.d_steps=`,
`--config.model.minibatch_std=True`, `--config.model.latent_codes=K
--config.model.noise_dim=3` (a discrete code as well as noise, `gan.models.latent`),
`--config.optim.simultaneous=True` (PacGAN's own update rule: D and G updated at once
from one fake batch).

`--config.lab.rejection=True` adds a row "<row> + DRS" after each row: the same
generators, their samples kept in proportion to p_data / p_g as estimated by a
classifier trained after the GAN (discriminator rejection sampling, `gan.rejection`).
The raw row stays in the table beside it.
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

from gan import build, models, program, rejection
from gan import config as config_lib
from gan.cli import run_cli
from gan.data import mixtures
from gan.errors import ConfigError
from gan.metrics import modes as mode_metrics
from gan.state import generate

# PacGAN Table 1 (10 trials, mean +- standard error): modes, % high quality, reverse KL.
PAPER_ROWS = {
    "ring": {1: ((6.3, 0.5), (98.2, 0.2), (0.45, 0.09)),
             2: ((7.9, 0.1), (95.6, 2.0), (0.07, 0.03)),
             3: ((7.8, 0.1), (97.7, 0.3), (0.10, 0.02)),
             4: ((7.8, 0.1), (95.9, 1.4), (0.07, 0.02))},
    "grid": {1: ((17.3, 0.8), (94.8, 0.7), (0.70, 0.07)),
             2: ((23.8, 0.7), (91.3, 0.8), (0.13, 0.04)),
             3: ((24.6, 0.4), (94.2, 0.4), (0.06, 0.02)),
             4: ((24.8, 0.2), (93.6, 0.6), (0.04, 0.01))},
}


def get_config() -> ml_collections.ConfigDict:
  """GAN and PacGAN2, 5 seeds, shrunk to fit 2 CPU cores (see the module docstring)."""
  c = config_lib.base_config()
  c.dataset = "mixture:grid"  # mixture:ring (8 modes, sigma 0.01) | mixture:grid (25, 0.05)
  c.num_steps = 16000  # PacGAN: 400,000 (400 epochs of 100,000 points at batch 100).
  c.model.name = "toy"  # toy (LinearMaxout D, as PacGAN) | toy_relu
  c.model.g_widths = (128, 128, 128, 128)  # PacGAN: (400,) * 4, BatchNorm + ReLU.
  c.model.d_widths = (128, 128, 128)  # PacGAN: (200,) * 3 LinearMaxout units of 5 pieces.
  c.model.noise_dim = 2  # z ~ N(0, I_2), as PacGAN.
  c.model.dropout_rate = 0.0
  c.optim.g_lr = 1e-3  # PacGAN: Adam(1e-4, beta1=0.8), constant.
  c.optim.d_lr = 1e-3
  c.optim.lr_schedule = "cosine"
  c.run.num_seeds = 5  # Seeds seed .. seed + 4, vmapped in one program.
  c.run.steps_per_call = 1000  # Updates per jitted call (lax.scan length).
  c.run.log_every = 1000
  c.run.checkpoint_every = 4000
  c.run.sample_every = 0
  c.run.num_sample_images = 0
  c.lab = ml_collections.ConfigDict()
  c.lab.packs = (1, 2)  # One table row per packing degree m: 1 = GAN, 2 = PacGAN2, ...
  # D inputs (packs) per update, as PacGAN; a row's batch_size is d_inputs * m points.
  c.lab.d_inputs = 100
  c.lab.num_eval_samples = mode_metrics.NUM_MIXTURE_SAMPLES
  # Discriminator rejection sampling (gan.rejection): also report each row's samples
  # kept in proportion to p_data / p_g, as estimated by a classifier trained afterwards.
  c.lab.rejection = False
  c.lab.rejection_steps = 8000  # Updates of the ratio classifier (fresh points every one).
  c.lab.rejection_batch_size = 500  # Real, and generated, points per update.
  c.lab.rejection_lr = 1e-2  # Adam's peak step, cosine-decayed (1e-3 left the ratio blurred).
  c.lab.rejection_candidates = 100000  # Generator samples drawn per seed to keep 2,500 of.
  # Acceptance min(1, exp(c - M)), M this quantile of c over the candidates; 1 is the
  # exact sampler, but where G under-fills a mode's centre the max ratio keeps < 1%.
  c.lab.rejection_quantile = 0.99
  return c


_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the rows' runs, results.json "
                               "and plots.", required=True)
_PLOTS_DIR = flags.DEFINE_string("plots_dir", "", "Also copy the scatter plots here.")
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def row_name(pack: int) -> str:
  return "GAN" if pack == 1 else f"PacGAN{pack}"


def check_lab_config(config) -> None:
  """The lab's own fields (`lab`); the run's are checked by the builder."""
  for field in ("d_inputs", "num_eval_samples", "rejection_steps", "rejection_batch_size",
                "rejection_candidates"):
    config_lib.positive_int(config, f"lab.{field}")
  packs = tuple(config.lab.packs)
  if not packs or any(not isinstance(m, int) or m < 1 for m in packs):
    raise ConfigError("lab.packs", packs, "must be packing degrees >= 1, e.g. '(1,2)'")
  rejection.check_quantile(float(config.lab.rejection_quantile))
  if config.lab.rejection and config.lab.rejection_candidates < config.lab.num_eval_samples:
    raise ConfigError("lab.rejection_candidates", config.lab.rejection_candidates,
                      f"must be at least config.lab.num_eval_samples="
                      f"{config.lab.num_eval_samples}")
  if not config.dataset.startswith("mixture:"):
    raise ConfigError("dataset", config.dataset, "must be a mixture: 'mixture:grid' or "
                      "'mixture:ring'")
  if config.model.name not in ("toy", "toy_relu"):
    raise ConfigError("model.name", config.model.name, "must be toy or toy_relu for the mixtures")
  if config.model.latent_codes and config.model.noise_dim < 2:
    raise ConfigError("model.latent_codes", config.model.latent_codes, "takes z_0 as the code "
                      "and needs config.model.noise_dim >= 2")


def row_config(config, pack: int) -> ml_collections.ConfigDict:
  """The run of one row: the lab config with packing degree `pack`."""
  row = ml_collections.ConfigDict(config.to_dict())
  row.model.pack = pack
  row.batch_size = config.lab.d_inputs * pack
  return row


def train_row(config, pack: int, workdir=None):
  """Trains every seed of one row through the program; returns (run, states)."""
  run = build.build(row_config(config, pack))
  return run, program.train(run, workdir, hooks=[])


def row_samples(run, states, num: int) -> np.ndarray:
  """(seeds, num, 2) samples of every seed, from each seed's sample key."""
  noise = jax.vmap(lambda k: jax.random.normal(
      k, (num, run.config.model.noise_dim)))(run.keys["sample"])
  return np.asarray(run.generate_per_seed(states, {"z": noise}))


# fold_in tag deriving the rejection-sampling key from a seed's sample key.
_REJECTION_KEY = 1


def rejection_samples(config, run, states, log=print) -> dict:
  """Discriminator rejection sampling (`gan.rejection`) of every seed of a trained row.

  Per seed: a fresh, unpacked toy discriminator learns log p_data / p_g from
  `rejection_steps` batches of new real and generated points; then
  `rejection_candidates` generator samples are kept with probability
  min(1, exp(c(x) - M)), M the `rejection_quantile` of c over them, until
  `num_eval_samples` are kept. All seeds run in one vmapped program.
  """
  lab = config.lab
  start = time.perf_counter()
  mixture = run.data.mixture
  _, classifier = models.build(config.model.name, image_shape=(mixture.dim,),
                               g_widths=config.model.g_widths, d_widths=config.model.d_widths)
  noise_dim = config.model.noise_dim

  def sample_real(key, n):
    return mixtures.sample(mixture, key, (n,))

  def sample_fake(key, n, state):
    return generate(state, jax.random.normal(key, (n, noise_dim)))

  fit = rejection.make_ratio_fit(classifier, sample_real, sample_fake,
                                 num_steps=lab.rejection_steps,
                                 batch_size=lab.rejection_batch_size,
                                 learning_rate=lab.rejection_lr)
  keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, _REJECTION_KEY), 3))(
      run.keys["sample"])
  params, fit_losses = jax.jit(jax.vmap(fit))(keys[:, 0], states)
  noise = jax.vmap(lambda k: jax.random.normal(
      k, (lab.rejection_candidates, noise_dim)))(keys[:, 1])
  candidates = run.generate_per_seed(states, {"z": noise})
  logits = jax.jit(jax.vmap(lambda p, x: classifier.apply({"params": p}, x, train=False)))(
      params, candidates)
  kept, rates = [], []
  for i in range(run.num_seeds):
    samples, rate = rejection.rejection_sample(keys[i, 2], candidates[i], logits[i],
                                               lab.num_eval_samples,
                                               quantile=float(lab.rejection_quantile))
    kept.append(samples)
    rates.append(rate)
  seconds = time.perf_counter() - start
  final_loss = np.asarray(jnp.mean(fit_losses[:, -100:], axis=1))  # Per seed, last 100.
  log(f"  rejection sampling: classifier loss {final_loss.mean():.3f} "
      f"(log 4 = 1.386 when p_g = p_data), kept {100 * np.mean(rates):.1f}% of the "
      f"candidates ({seconds:.0f} s)")
  return {"samples": np.stack(kept), "acceptance": rates, "seconds": seconds,
          "final_loss": final_loss.tolist()}


def _scatter(path: str, mixture, samples: np.ndarray, title: str) -> None:
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  num = samples.shape[0]
  fig, axes = plt.subplots(1, num, figsize=(2.6 * num, 2.9), squeeze=False)
  lim = np.abs(mixture.means).max() * 1.5
  for i, ax in enumerate(axes[0]):
    ax.scatter(samples[i, :, 0], samples[i, :, 1], s=2, c="tab:blue", alpha=0.3,
               edgecolors="none")
    ax.scatter(mixture.means[:, 0], mixture.means[:, 1], s=12, c="tab:red", marker="x")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"seed {i}", fontsize=8)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fig.savefig(path, dpi=110)
  plt.close(fig)


def _table_row(mixture, name: str, pack: int, samples: np.ndarray, extra: dict) -> dict:
  """One table row: every seed's mode metrics, their mean +- standard error, plots, a line."""
  per_seed = [mode_metrics.mixture_mode_metrics(s, mixture.means, mixture.std)
              for s in samples]
  row = {"name": name, "pack": pack, **extra,
         "per_seed": [{k: (v.tolist() if isinstance(v, np.ndarray) else v)
                       for k, v in m.items()} for m in per_seed]}
  for metric in ("modes", "high_quality", "reverse_kl"):
    row[metric] = mode_metrics.mean_and_standard_error([m[metric] for m in per_seed])
  title = (f"{name} on the {mixture.name}: {row['modes'][0]:.1f} modes, "
           f"{row['high_quality'][0]:.1f}% HQ, KL {row['reverse_kl'][0]:.2f}")
  slug = name.lower().replace(" + ", "_")
  _scatter(os.path.join(_WORKDIR.value, f"scatter_{mixture.name}_{slug}.png"), mixture,
           samples, title)
  if _PLOTS_DIR.value:
    _scatter(os.path.join(_PLOTS_DIR.value, f"mixtures_{mixture.name}_{slug}.png"), mixture,
             samples, title)
  print(f"{name}: modes {_format(row['modes'], 1)}, high quality "
        f"{_format(row['high_quality'], 1)}%, reverse KL {_format(row['reverse_kl'], 3)} "
        f"({row['train_seconds']:.0f} s)", flush=True)
  return row


def _format(mean_err, digits: int) -> str:
  return f"{mean_err[0]:.{digits}f} +- {mean_err[1]:.{digits}f}"


def main(argv):
  del argv
  config = _CONFIG.value
  check_lab_config(config)
  workdir = _WORKDIR.value
  os.makedirs(workdir, exist_ok=True)
  mixture = mixtures.get_mixture(config.dataset.split(":", 1)[1])
  seeds = list(range(config.seed, config.seed + config.run.num_seeds))
  print(f"{mixture.name}: {mixture.num_modes} modes, sigma {mixture.std}; "
        f"{len(seeds)} seeds x {config.num_steps} steps per row; "
        f"devices {jax.devices()}", flush=True)
  rows, start = [], time.perf_counter()
  for pack in config.lab.packs:
    row_start = time.perf_counter()
    run, states = train_row(config, pack, os.path.join(workdir, row_name(pack).lower()))
    train_seconds = time.perf_counter() - row_start
    samples = row_samples(run, states, config.lab.num_eval_samples)
    rows.append(_table_row(mixture, row_name(pack), pack, samples, {
        "seeds": seeds, "train_seconds": train_seconds}))
    if config.lab.rejection:
      drs = rejection_samples(config, run, states, log=lambda s: print(s, flush=True))
      rows.append(_table_row(mixture, row_name(pack) + " + DRS", pack, drs["samples"], {
          "seeds": seeds, "train_seconds": train_seconds,
          "rejection_seconds": drs["seconds"], "acceptance": drs["acceptance"],
          "classifier_loss": drs["final_loss"]}))
  total = time.perf_counter() - start
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump({"config": json.loads(config.to_json_best_effort()), "rows": rows,
               "total_seconds": total}, f, indent=1)

  print(f"\n{mixture.name}, mean +- standard error over {len(seeds)} seeds "
        f"({total / 60:.1f} min in all)")
  header = f"{'':16s} {'modes':>14s} {'high quality %':>16s} {'reverse KL':>14s}"
  print(header + "   | PacGAN Table 1 (10 trials)")
  for row in rows:
    paper = PAPER_ROWS[mixture.name].get(row["pack"])
    paper_text = ("" if paper is None else
                  f"{_format(paper[0], 1)}  {_format(paper[1], 1)}  {_format(paper[2], 2)}")
    print(f"{row['name']:16s} {_format(row['modes'], 1):>14s} "
          f"{_format(row['high_quality'], 1):>16s} {_format(row['reverse_kl'], 3):>14s}"
          f"   | {paper_text}")


if __name__ == "__main__":
  run_cli(main)
