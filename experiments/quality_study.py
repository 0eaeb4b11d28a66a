r"""What buys sample quality per minute on MNIST: recipes at equal training time, several seeds.

  python -m experiments.quality_study --workdir=runs/quality --out=docs/quality_study.json \
      --plot=docs/quality_fid_vs_minutes.png --recipes=default,tutorial --seeds=0,1,2 \
      --budget_seconds=180

Every recipe is a set of config overrides on `experiments.dcgan_mnist`'s unconditional
config (`unconditional_config()`; full MNIST from `--dataset`); `clusters50` is that
experiment's default. Each (recipe, seed) is one run of the training program in
`<workdir>/<recipe>/seed<s>`, stopped after `--budget_seconds` of training
(`config.run.max_train_seconds`: wall-clock seconds with scoring left out; the CPU
seconds are logged beside them), and scored every `--eval_every_seconds`-ish steps and
at the end by the evaluation hook (`gan.eval.evaluate`: FID, KID, precision/recall on
the project's LeNet, the classifier's confidence and class entropy; `--eval_samples`
samples against as many training images). Runs resume: a finished run is read back, not
trained again. Runs go one after another (the machine's two cores serve one run).

Writes one JSON record: per recipe and seed the curve (step, train_seconds,
train_cpu_seconds, every score) and the end; per recipe the mean and standard
deviation over seeds at the end; the machine kind. `--plot` draws FID against training
minutes, one line per recipe (the mean over seeds) with each seed faint.
"""

import json
import os
import sys
import time

from absl import app, flags

# experiments.dcgan_mnist before this study (the tutorial's networks, the DCGAN paper's
# Adam): every recipe but "default" starts from it, so recipes keep their meaning when
# the experiment's default changes.
_BEFORE = {"batch_size": 256, "model.g_widths": (256, 128, 64), "model.d_widths": (64, 128),
           "model.dropout_rate": 0.3, "optim.g_lr": 2e-4, "optim.d_lr": 2e-4,
           "optim.beta1": 0.5, "optim.beta2": 0.999, "optim.ema_decay": 0.0,
           "optim.ema_warmup": False, "loss.name": "non_saturating", "loss.penalty": "none"}
_EMA = {"optim.ema_decay": 0.999, "optim.ema_warmup": True}
_HALF = {"batch_size": 64, "model.g_widths": (128, 64, 32), "model.d_widths": (32, 64)}
_QUARTER = {"batch_size": 64, "model.g_widths": (64, 32, 16), "model.d_widths": (16, 32)}

# Recipes: name -> overrides (dotted config fields) on experiments.dcgan_mnist's
# unconditional config.
RECIPES = {
    # experiments.dcgan_mnist's unconditional recipe (`unconditional_config()`, its
    # default until round seven; the name is kept so the docs' commands still run).
    "default": {},
    # The TensorFlow tutorial: its network, Adam(1e-4, 0.9, 0.999), batch 256.
    "tutorial": {**_BEFORE, "batch_size": 256, "optim.g_lr": 1e-4, "optim.d_lr": 1e-4,
                 "optim.beta1": 0.9, "eval.every": 25},  # ~0.5 steps/s: score often.
    # The tutorial's network with the DCGAN paper's Adam(2e-4, 0.5) at batch 64 (the
    # experiment's default before this study).
    "paper_adam_b64": {**_BEFORE, "batch_size": 64},
    # One ingredient at a time, then combined (EMA with its warm-up: short runs).
    "ema": {**_BEFORE, "batch_size": 64, **_EMA},
    "half_width_ema": {**_BEFORE, **_HALF, **_EMA},
    "half_width_ema_no_dropout": {**_BEFORE, **_HALF, **_EMA, "model.dropout_rate": 0.0},
    "half_width_ema_hinge_lazy_r1": {**_BEFORE, **_HALF, **_EMA, "loss.name": "hinge",
                                     "loss.penalty": "r1", "loss.penalty_weight": 1.0,
                                     "loss.penalty_every": 4},
    "half_width_ema_ttur": {**_BEFORE, **_HALF, **_EMA, "optim.g_lr": 1e-4, "optim.d_lr": 4e-4},
    "half_width_ema_b32": {**_BEFORE, **_HALF, **_EMA, "batch_size": 32},
    "quarter_width_ema": {**_BEFORE, **_QUARTER, **_EMA},
    # Round two, on the quarter-width networks (the most steps per minute).
    "quarter_width": {**_BEFORE, **_QUARTER},
    "quarter_width_ema_no_dropout": {**_BEFORE, **_QUARTER, **_EMA, "model.dropout_rate": 0.0},
    "quarter_width_ema_ttur": {**_BEFORE, **_QUARTER, **_EMA, "optim.g_lr": 1e-4,
                               "optim.d_lr": 4e-4},
    "quarter_width_ema_lr5e-4": {**_BEFORE, **_QUARTER, **_EMA, "optim.g_lr": 5e-4,
                                 "optim.d_lr": 5e-4},
    "quarter_g_half_d_ema": {**_BEFORE, **_QUARTER, **_EMA, "model.d_widths": (32, 64)},
    "quarter_width_ema_bf16": {**_BEFORE, **_QUARTER, **_EMA, "model.compute_dtype": "bfloat16"},
    "quarter_width_ema_10_per_call": {**_BEFORE, **_QUARTER, **_EMA, "run.steps_per_call": 10},
    # Round three: the winners together.
    "quarter_ema_no_dropout_lr5e-4": {**_BEFORE, **_QUARTER, **_EMA, "model.dropout_rate": 0.0,
                                      "optim.g_lr": 5e-4, "optim.d_lr": 5e-4},
    "quarter_ema_no_dropout_lr5e-4_b32": {**_BEFORE, **_QUARTER, **_EMA, "batch_size": 32,
                                          "model.dropout_rate": 0.0, "optim.g_lr": 5e-4,
                                          "optim.d_lr": 5e-4},
    "eighth_width_ema": {**_BEFORE, **_EMA, "batch_size": 64, "model.g_widths": (32, 16, 8),
                         "model.d_widths": (8, 16)},
    # Round four, on today's default: the SNGAN line's ingredients one at a time.
    "default_sn": {"model.spectral_norm": True},
    "default_sn_hinge_adam0": {"model.spectral_norm": True, "loss.name": "hinge",
                               "optim.beta1": 0.0, "optim.beta2": 0.9},
    "default_diffaugment": {"loss.augment": "translation,cutout"},
    # Round seven: G conditioned on 50 k-means clusters of the pixels (gan.data.clusters),
    # a projection D; no labels are used. experiments.dcgan_mnist's default since.
    "clusters50": {"task": "conditional_gan", "model.conditioning": "projection",
                   "data.cluster_labels": 50},
}

# The command's flags (`_define_flags`); None until it runs.
_WORKDIR = _DATASET = _RECIPES = _SEEDS = _BUDGET = _EVAL_EVERY = _EVAL_SAMPLES = None
_OUT = _PLOT = _FLOOR = _EXTRACTOR = _MAX_STEPS = None


def _define_flags() -> None:
  """The command's flags, defined when it runs (importing the module defines none)."""
  # pylint: disable-next=global-statement
  global _WORKDIR, _DATASET, _RECIPES, _SEEDS, _BUDGET, _EVAL_EVERY
  global _EVAL_SAMPLES, _OUT, _PLOT, _FLOOR, _EXTRACTOR, _MAX_STEPS
  _WORKDIR = flags.DEFINE_string("workdir", "runs/quality", "Where the runs live.")
  _DATASET = flags.DEFINE_string("dataset", "../shared/data/mnist.npz", "Full MNIST.")
  _RECIPES = flags.DEFINE_string("recipes", "tutorial", "Recipes, comma-separated: names of "
                                 f"{sorted(RECIPES)}, or NAME=field:value;field:value.")
  _SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
  _BUDGET = flags.DEFINE_float("budget_seconds", 180.0, "Training seconds per run.")
  _EVAL_EVERY = flags.DEFINE_integer("eval_every", 500, "Steps between scores.")
  _EVAL_SAMPLES = flags.DEFINE_integer("eval_samples", 10000, "Samples per score.")
  _OUT = flags.DEFINE_string("out", "", "The JSON record.")
  _PLOT = flags.DEFINE_string("plot", "", "FID against training minutes, as PNG.")
  _FLOOR = flags.DEFINE_string("floor_record", "docs/evaluation_floor_mnist.json",
                                "The floor's JSON (gan.cli.evaluate --floor), drawn in the plot.")
  _EXTRACTOR = flags.DEFINE_string("extractor", "", "A saved extractor's directory; default: "
                                    "the cached LeNet of --dataset (gan.eval.evaluate).")
  _MAX_STEPS = flags.DEFINE_integer("max_steps", 1_000_000, "num_steps (the budget stops first).")


def split_recipes(text: str) -> list[str]:
  """`--recipes` split at the commas outside parentheses: `a,b=model.g_widths:(8,4,2)`."""
  items, depth, current = [], 0, ""
  for char in text:
    depth += {"(": 1, "[": 1, ")": -1, "]": -1}.get(char, 0)
    if char == "," and depth == 0:
      items.append(current)
      current = ""
    else:
      current += char
  return [item.strip() for item in items + [current] if item.strip()]


def parse_recipe(text: str) -> tuple[str, dict]:
  """`name` of RECIPES, or `name=field:value;field:value` (values as Python literals)."""
  import ast  # pylint: disable=g-import-not-at-top
  from gan.errors import UserError  # pylint: disable=g-import-not-at-top
  if "=" not in text:
    if text not in RECIPES:
      raise UserError(f"unknown recipe {text!r}; choose one of {sorted(RECIPES)} or write "
                      f"NAME=field:value;field:value")
    return text, dict(RECIPES[text])
  name, _, body = text.partition("=")
  overrides = {}
  for item in filter(None, body.split(";")):
    field, _, value = item.partition(":")
    try:
      overrides[field.strip()] = ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
      overrides[field.strip()] = value.strip()
  return name, overrides


def recipe_config(overrides: dict, seed: int, dataset: str, budget: float, eval_every: int,
                  eval_samples: int, max_steps: int):
  """experiments.dcgan_mnist's unconditional config with the recipe's overrides and the
  study's settings."""
  from experiments import dcgan_mnist  # pylint: disable=g-import-not-at-top
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  config = dcgan_mnist.unconditional_config()
  config.dataset = dataset
  config.seed = seed
  config.eval.every = eval_every
  for path, value in overrides.items():  # A recipe may set its own eval.every.
    parent, _, name = path.rpartition(".")
    node = config_lib.get(config, parent) if parent else config
    node[name] = tuple(value) if isinstance(value, list) else value
  k = config.run.steps_per_call
  config.num_steps = max_steps // k * k
  config.run.max_train_seconds = budget
  config.eval.every = max(k, config.eval.every // k * k)
  config.eval.num_samples = eval_samples
  config.run.log_every = config.eval.every
  config.run.sample_every = config.run.checkpoint_every = config.eval.every * 10
  config.run.progress_bar = False
  return config


def train_and_score(config, workdir: str, extractor_dir: str = "") -> list[dict]:
  """Trains (or reads back) one run; returns its score records, in step order."""
  from gan import build, program, rundir, writers  # pylint: disable=g-import-not-at-top
  from gan.eval import evaluate, features, hooks  # pylint: disable=g-import-not-at-top
  done = os.path.join(workdir, "study_done.json")
  if not os.path.exists(done):
    run = build.build(config)
    if extractor_dir:
      scoring = [evaluate.evaluation_hook(run, extractor=features.load_extractor(extractor_dir))]
    else:
      scoring = hooks.default_hooks(run)
    program.train(run, workdir, hooks=scoring,
                  log=lambda line: print(line, file=sys.stderr, flush=True))
    rundir.write_json_atomically(done, {"finished": time.strftime("%Y-%m-%d %H:%M:%S")})
  return [r for r in writers.read_metrics(workdir) if "fid" in r]


def _mean_std(values):
  import numpy as np  # pylint: disable=g-import-not-at-top
  values = np.asarray(values, np.float64)
  return [float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0]


def plot(record: dict, path: str, names=None) -> None:
  """FID against training minutes: each seed faint, the mean over seeds bold."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(8, 5))
  chosen = [(n, r) for n, r in record["recipes"].items() if names is None or n in names]
  for i, (name, recipe) in enumerate(chosen):
    color = f"C{i % 10}"
    curves = []
    for run in recipe["seeds"].values():
      minutes = [p["train_seconds"] / 60 for p in run["curve"]]
      fids = [p["fid"] for p in run["curve"]]
      ax.plot(minutes, fids, color=color, alpha=0.25, lw=1)
      curves.append((minutes, fids))
    # The mean where every seed has been scored (no extrapolation before the first point).
    grid = np.linspace(max(c[0][0] for c in curves), min(c[0][-1] for c in curves), 30)
    mean = np.mean([np.interp(grid, m, f) for m, f in curves], axis=0)
    ax.plot(grid, mean, color=color, lw=2, label=name)
  if record.get("floor"):
    ax.axhline(record["floor"], color="grey", ls=":", label="floor (test vs train)")
    ax.axhline(3 * record["floor"], color="grey", ls="--", lw=1, label="3 x floor")
  ax.set(xlabel="training minutes (wall clock, scoring left out)", ylabel="FID (LeNet)",
         yscale="log", title=f"MNIST, {record['machine'].split('|')[1]}, mean of seeds")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def markdown_table(record: dict) -> str:
  """One row per recipe: its end (mean +- std over seeds) in the record's order."""
  rows = ["| recipe | seeds | steps | FID | x floor | confident >= 0.9 | class entropy | "
          "precision | recall |", "|---|---|---|---|---|---|---|---|---|"]
  floor = record.get("floor")
  for name, entry in record["recipes"].items():
    end = entry["end_mean_std"]
    times = f"{end['fid'][0] / floor:.1f}" if floor else "-"
    spread = f" +- {end['fid'][1]:.1f}" if len(entry["seeds"]) > 1 else ""
    rows.append(
        f"| `{name}` | {len(entry['seeds'])} | {end['step'][0]:.0f} | {end['fid'][0]:.1f}"
        f"{spread} | {times} | {100 * end['confident_share'][0]:.1f}% | "
        f"{end['class_entropy'][0]:.3f} | {end['precision'][0]:.3f} | {end['recall'][0]:.3f} |")
  return "\n".join(rows)


def main(argv):
  del argv
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  recipes = [parse_recipe(text) for text in split_recipes(_RECIPES.value)]
  seeds = [int(s) for s in _SEEDS.value]
  record = {"what": "recipes at equal training time on full MNIST, scored on the LeNet",
            "command": " ".join(["python -m experiments.quality_study"] + sys.argv[1:]),
            "budget_seconds": _BUDGET.value, "eval_samples": _EVAL_SAMPLES.value,
            "machine": machine_kind(), "recipes": {}, "commands": []}
  if _OUT.value and os.path.exists(_OUT.value):  # Keep the recipes of earlier calls.
    with open(_OUT.value, encoding="utf-8") as f:
      earlier = json.load(f)
    record["recipes"] = earlier.get("recipes", {})
    record["floor"] = earlier.get("floor")
    record["commands"] = earlier.get("commands", [earlier.get("command")])
  if _FLOOR.value and os.path.exists(_FLOOR.value):
    with open(_FLOOR.value, encoding="utf-8") as f:
      floor = json.load(f)
    record["floor"] = floor["fid"]
    record["floor_extractor"] = floor["protocol"]["extractor"]["checksum"]
  record["commands"] = [c for c in record["commands"] if c] + [record.pop("command")]
  for name, overrides in recipes:
    entry = {"overrides": overrides, "budget_seconds": _BUDGET.value,
             "command": record["commands"][-1], "seeds": {}}
    for seed in seeds:
      config = recipe_config(overrides, seed, _DATASET.value, _BUDGET.value, _EVAL_EVERY.value,
                             _EVAL_SAMPLES.value, _MAX_STEPS.value)
      curve = train_and_score(config, os.path.join(_WORKDIR.value, name, f"seed{seed}"),
                              _EXTRACTOR.value)
      keep = ("step", "train_seconds", "train_cpu_seconds", "fid", "kid", "precision",
              "recall", "density", "coverage", "mean_confidence", "confident_share",
              "class_entropy")
      entry["seeds"][str(seed)] = {"curve": [{k: p[k] for k in keep if k in p} for p in curve],
                                   "end": {k: curve[-1][k] for k in keep if k in curve[-1]}}
      end = entry["seeds"][str(seed)]["end"]
      print(f"{name} seed {seed}: step {end['step']}, {end['train_seconds']:.0f} s, FID "
            f"{end['fid']:.2f}, confident {end['confident_share']:.3f}, class entropy "
            f"{end['class_entropy']:.3f}", flush=True)
    ends = [run["end"] for run in entry["seeds"].values()]
    entry["end_mean_std"] = {k: _mean_std([e[k] for e in ends]) for k in ends[0]}
    record["recipes"][name] = entry
    if _OUT.value:
      with open(_OUT.value, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1)
  if _PLOT.value:
    plot(record, _PLOT.value, names=[name for name, _ in recipes])  # This call's recipes.
  print(markdown_table(record))


if __name__ == "__main__":
  _define_flags()
  app.run(main)
