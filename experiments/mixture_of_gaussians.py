r"""PacGAN Table 1: GAN and PacGAN on the 2-D ring and grid mixtures, several seeds at once.

  python -m experiments.mixture_of_gaussians --workdir=runs/grid --plots_dir=docs
  python -m experiments.mixture_of_gaussians --workdir=runs/ring --plots_dir=docs \
      --config.mixture=ring --config.d_widths='(64,64,64)' --config.num_steps=10000

The defaults are PacGAN's setup shrunk to fit a 2-core CPU in under half an hour per
command (grid: 27 min, ring: 9 min): networks 128 wide instead of 400/200, 16,000 steps with Adam(1e-3, beta1 0.5)
cosine-decayed to 0 instead of 400,000 steps at a constant 1e-4. The paper's setup is

  --config.g_widths='(400,400,400,400)' --config.d_widths='(200,200,200)' \
  --config.num_steps=400000 --config.g_lr=1e-4 --config.d_lr=1e-4 \
  --config.lr_schedule=constant --config.beta1=0.8

Each row (a packing degree in `packs`) trains `num_seeds` seeds in one program
(`gan.multiseed`: the library's update, `lax.scan` over steps, `jax.vmap` over seeds),
draws 2,500 samples per seed, and prints modes captured, % high-quality samples and
reverse KL as mean +- standard error over seeds, beside the paper's row. Writes
`results.json` and one scatter plot per row (`scatter_<mixture>_<row>.png`) to the
workdir; `--plots_dir=docs` also copies the plots there as `mixtures_<mixture>_<row>.png`.

Remedies beyond packing are fields: `--config.loss=`, `--config.penalty=r1
--config.penalty_weight=...`, `--config.d_steps=`, `--config.minibatch_std=True`,
`--config.latent_codes=K --config.noise_dim=3` (a discrete code as well as noise,
`gan.models.latent`), `--config.simultaneous=True` (PacGAN's own update rule: D and G
updated at once from one fake batch).

`--config.rejection=True` adds a row "<row> + DRS" after each row: the same generators,
their samples kept in proportion to p_data / p_g as estimated by a classifier trained
after the GAN (discriminator rejection sampling, `gan.rejection`). The raw row stays
in the table beside it.
"""

import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from absl import flags
from ml_collections import config_flags

from gan import losses, mixtures, models, multiseed, rejection
from gan.errors import UserError, run_cli
from gan.metrics import modes as mode_metrics
from gan.state import create_state, generate, make_optimizer
from gan.train_step import StepConfig, make_train_step

from experiments import runner

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
  c = ml_collections.ConfigDict()
  c.mixture = "grid"  # ring (8 modes, sigma 0.01) | grid (25 modes, sigma 0.05)
  c.packs = (1, 2)  # One table row per packing degree m: 1 = GAN, 2 = PacGAN2, ...
  c.num_seeds = 5
  c.first_seed = 0  # Seeds first_seed .. first_seed + num_seeds - 1.
  c.model = "toy"  # toy (LinearMaxout D, as PacGAN) | toy_relu
  c.g_widths = (128, 128, 128, 128)  # PacGAN: (400,) * 4, BatchNorm + ReLU.
  c.d_widths = (128, 128, 128)  # PacGAN: (200,) * 3 LinearMaxout units of 5 pieces.
  c.noise_dim = 2  # z ~ N(0, I_2), as PacGAN.
  c.latent_codes = 0  # K_c >= 2: z_0 becomes a discrete code (gan.models.latent); 0: off.
  c.dropout_rate = 0.0
  c.minibatch_std = False
  c.loss = "non_saturating"  # As PacGAN.
  c.penalty = "none"
  c.penalty_weight = 10.0
  c.d_steps = 1
  c.simultaneous = False  # True: D and G updated at once, as PacGAN's code; False: alternate.
  c.batch_size = 100  # D inputs (packs) per update, as PacGAN; G draws batch_size * m.
  c.num_steps = 16000  # PacGAN: 400,000 (400 epochs of 100,000 points at batch 100).
  c.steps_per_call = 1000  # Updates per jitted call (lax.scan length).
  c.g_lr = 1e-3  # PacGAN: Adam(1e-4, beta1=0.8), constant.
  c.d_lr = 1e-3
  c.lr_schedule = "cosine"  # constant | cosine (decayed to 0 over num_steps).
  c.beta1 = 0.5
  c.beta2 = 0.999
  c.ema_decay = 0.0
  c.num_eval_samples = mode_metrics.NUM_MIXTURE_SAMPLES
  # Discriminator rejection sampling (gan.rejection): also report each row's samples
  # kept in proportion to p_data / p_g, as estimated by a classifier trained afterwards.
  c.rejection = False
  c.rejection_steps = 8000  # Updates of the ratio classifier (fresh points every one).
  c.rejection_batch_size = 500  # Real, and generated, points per update.
  c.rejection_lr = 1e-2  # Adam's peak step, cosine-decayed (1e-3 left the ratio blurred).
  c.rejection_candidates = 100000  # Generator samples drawn per seed to keep 2,500 of.
  # Acceptance min(1, exp(c - M)), M this quantile of c over the candidates; 1 is the
  # exact sampler, but where G under-fills a mode's centre the max ratio keeps < 1%.
  c.rejection_quantile = 0.99
  return c


_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for results.json and plots.",
                               required=True)
_PLOTS_DIR = flags.DEFINE_string("plots_dir", "", "Also copy the scatter plots here.")
_CONFIG = config_flags.DEFINE_config_dict("config", get_config())


def _row_name(pack: int) -> str:
  return "GAN" if pack == 1 else f"PacGAN{pack}"


def _check(config) -> None:
  runner.check_seed_table_config(config, ("num_seeds", "batch_size", "num_steps",
                                          "steps_per_call", "d_steps", "num_eval_samples",
                                          "noise_dim", "rejection_steps",
                                          "rejection_batch_size", "rejection_candidates"))
  rejection.check_quantile(float(config.rejection_quantile))
  if config.rejection and config.rejection_candidates < config.num_eval_samples:
    raise UserError(f"--config.rejection_candidates={config.rejection_candidates} must be at "
                    f"least --config.num_eval_samples={config.num_eval_samples}")
  mixtures.get_mixture(config.mixture)
  if config.lr_schedule not in ("constant", "cosine"):
    raise UserError(f"--config.lr_schedule={config.lr_schedule!r}; choose constant or cosine")
  if config.latent_codes and config.noise_dim < 2:
    raise UserError(f"--config.latent_codes={config.latent_codes} takes z_0 as the code and "
                    f"needs --config.noise_dim >= 2 (got {config.noise_dim})")
  if config.model not in ("toy", "toy_relu"):
    raise UserError(f"--config.model={config.model!r}; the mixtures take toy or toy_relu")
  models.build(config.model, image_shape=(2,), g_widths=config.g_widths,  # Checks the rest.
               d_widths=config.d_widths, latent_codes=config.latent_codes)


def train_row(config, mixture: mixtures.GaussianMixture, pack: int, log=print) -> dict:
  """Trains every seed of one row in one program; returns samples and timings."""
  generator, discriminator = models.build(
      config.model, image_shape=(mixture.dim,), g_widths=config.g_widths,
      d_widths=config.d_widths, dropout_rate=config.dropout_rate, pack=pack,
      minibatch_std=config.minibatch_std, latent_codes=config.latent_codes)
  step_config = StepConfig(
      loss=losses.get_loss(config.loss), penalty=losses.get_penalty(config.penalty),
      penalty_weight=float(config.penalty_weight), d_steps=config.d_steps,
      noise_dim=config.noise_dim, ema_decay=float(config.ema_decay),
      simultaneous=bool(config.simultaneous))
  seeds = list(range(config.first_seed, config.first_seed + config.num_seeds))
  keys = multiseed.seed_keys(seeds)

  def learning_rate(peak):
    if config.lr_schedule == "cosine":
      return optax.cosine_decay_schedule(peak, config.num_steps)
    return peak

  def create(key):
    return create_state(
        generator=generator, discriminator=discriminator, key=key,
        noise_dim=config.noise_dim, image_shape=(mixture.dim,),
        g_optimizer=make_optimizer(learning_rate(config.g_lr), config.beta1, config.beta2),
        d_optimizer=make_optimizer(learning_rate(config.d_lr), config.beta1, config.beta2),
        use_ema=config.ema_decay > 0)

  real_batch = config.batch_size * pack

  def batch_fn(data_key, step):
    return mixtures.mixture_batch(mixture, data_key, step, batch_size=real_batch,
                                  d_steps=config.d_steps)

  train_step = make_train_step(step_config)
  states = multiseed.init_states(create, keys["init"])
  start = time.perf_counter()
  done, history = 0, []
  runs = {}
  while done < config.num_steps:
    length = min(config.steps_per_call, config.num_steps - done)
    if length not in runs:
      runs[length] = multiseed.make_multiseed_run(train_step, batch_fn, length)
    states, metrics = runs[length](states, keys["train"], keys["data"])
    done += length
    means = {k: float(jnp.mean(v)) for k, v in metrics.items()}
    history.append({"step": done, **means})
    log(f"  {_row_name(pack)} step {done}/{config.num_steps}: d_loss {means['d_loss']:.3f} "
        f"g_loss {means['g_loss']:.3f} ({time.perf_counter() - start:.0f} s)")
  jax.block_until_ready(states)
  train_seconds = time.perf_counter() - start
  noise = jax.vmap(lambda k: jax.random.normal(
      k, (config.num_eval_samples, config.noise_dim)))(keys["sample"])
  samples = np.asarray(multiseed.generate_per_seed(states, noise))
  return {"seeds": seeds, "samples": samples, "train_seconds": train_seconds,
          "history": history, "states": states, "sample_keys": keys["sample"]}


# fold_in tag deriving the rejection-sampling key from a seed's sample key.
_REJECTION_KEY = 1


def rejection_samples(config, mixture: mixtures.GaussianMixture, out: dict,
                      log=print) -> dict:
  """Discriminator rejection sampling (`gan.rejection`) of every seed of a trained row.

  Per seed: a fresh, unpacked toy discriminator learns log p_data / p_g from
  `rejection_steps` batches of new real and generated points; then
  `rejection_candidates` generator samples are kept with probability
  min(1, exp(c(x) - M)), M the `rejection_quantile` of c over them, until
  `num_eval_samples` are kept. All seeds run in one vmapped program.
  """
  start = time.perf_counter()
  _, classifier = models.build(config.model, image_shape=(mixture.dim,),
                               g_widths=config.g_widths, d_widths=config.d_widths)

  def sample_real(key, n):
    return mixtures.sample(mixture, key, (n,))

  def sample_fake(key, n, state):
    return generate(state, jax.random.normal(key, (n, config.noise_dim)))

  fit = rejection.make_ratio_fit(classifier, sample_real, sample_fake,
                                 num_steps=config.rejection_steps,
                                 batch_size=config.rejection_batch_size,
                                 learning_rate=config.rejection_lr)
  keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, _REJECTION_KEY), 3))(
      out["sample_keys"])
  params, fit_losses = jax.jit(jax.vmap(fit))(keys[:, 0], out["states"])
  noise = jax.vmap(lambda k: jax.random.normal(
      k, (config.rejection_candidates, config.noise_dim)))(keys[:, 1])
  candidates = multiseed.generate_per_seed(out["states"], noise)
  logits = jax.jit(jax.vmap(lambda p, x: classifier.apply({"params": p}, x, train=False)))(
      params, candidates)
  kept, rates = [], []
  for i in range(len(out["seeds"])):
    samples, rate = rejection.rejection_sample(keys[i, 2], candidates[i], logits[i],
                                               config.num_eval_samples,
                                               quantile=float(config.rejection_quantile))
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
  _check(config)
  workdir = _WORKDIR.value
  os.makedirs(workdir, exist_ok=True)
  mixture = mixtures.get_mixture(config.mixture)
  print(f"{mixture.name}: {mixture.num_modes} modes, sigma {mixture.std}; "
        f"{config.num_seeds} seeds x {config.num_steps} steps per row; "
        f"devices {jax.devices()}", flush=True)
  rows, start = [], time.perf_counter()
  for pack in config.packs:
    out = train_row(config, mixture, pack, log=lambda s: print(s, flush=True))
    rows.append(_table_row(mixture, _row_name(pack), pack, out["samples"], {
        "seeds": out["seeds"], "train_seconds": out["train_seconds"],
        "history": out["history"]}))
    if config.rejection:
      drs = rejection_samples(config, mixture, out, log=lambda s: print(s, flush=True))
      rows.append(_table_row(mixture, _row_name(pack) + " + DRS", pack, drs["samples"], {
          "seeds": out["seeds"], "train_seconds": out["train_seconds"],
          "rejection_seconds": drs["seconds"], "acceptance": drs["acceptance"],
          "classifier_loss": drs["final_loss"]}))
  total = time.perf_counter() - start
  with open(os.path.join(workdir, "results.json"), "w", encoding="utf-8") as f:
    json.dump({"config": json.loads(config.to_json_best_effort()), "rows": rows,
               "total_seconds": total}, f, indent=1)

  print(f"\n{mixture.name}, mean +- standard error over {config.num_seeds} seeds "
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
