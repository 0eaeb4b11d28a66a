r"""Training steps per second of quality-study recipes, side by side in one process.

  python -m experiments.recipe_speed --out=docs/recipe_speed_epyc_avx512.json \
      --recipes="infogan10=model.latent_codes:10;loss.info_weight:1.0,infogan10_bf16=model.latent_codes:10;loss.info_weight:1.0;model.compute_dtype:'bfloat16',infogan10_10_per_call=model.latent_codes:10;loss.info_weight:1.0;run.steps_per_call:10,default"

The speed half of the quality study (`experiments.quality_study`): a recipe that changes
only the arithmetic (bfloat16) or the dispatch (several steps per call) buys quality per
minute only through its steps per second, so it is timed here first, at no cost in
training. Recipes are written as in the study (a name of its `RECIPES`, or
`NAME=field:value;...` on `experiments.dcgan_mnist`'s unconditional config). Every
recipe's program is built and compiled (`first_call_s`, the compile included), then timed in `--rounds`
rounds; in each, every recipe in turn (the order reversed every other round) takes at
least `--steps` steps on one fixed batch and waits for them. Prints and writes (`--out`)
one JSON record: per recipe the median steps/s over rounds, each round's, and the ratio
of medians to the first recipe; the machine kind. Run it alone on the machine.
"""

import time

from absl import flags

_RECIPES = flags.DEFINE_string("recipes", "default", "Recipes as in experiments.quality_study; "
                               "the first is the reference of the ratios.")
_DATASET = flags.DEFINE_string("dataset", "../shared/data/mnist.npz", "Full MNIST.")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "Interleaved timing rounds.")
_STEPS = flags.DEFINE_integer("steps", 300, "Least steps per recipe per round.")
_OUT = flags.DEFINE_string("out", "", "The JSON record.")


def time_recipes(recipes: list[tuple[str, dict]], dataset: str, rounds: int,
                 steps: int) -> dict:
  """{name: {steps_per_s_median, rounds, first_call_s, ratio}} for (name, overrides)."""
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from experiments import quality_study  # pylint: disable=g-import-not-at-top
  from experiments.references import time_repeats  # pylint: disable=g-import-not-at-top
  from gan import build as build_lib  # pylint: disable=g-import-not-at-top
  from gan import data as data_lib  # pylint: disable=g-import-not-at-top
  data = data_lib.load(dataset)

  def timer(run):
    """`(step, sync)` over one fixed batch, the state kept between calls."""
    held = {"state": run.init_state()}
    batch = run.batch(0)

    def step():
      held["state"], _ = run.step(held["state"], batch)

    return step, lambda: jax.block_until_ready(held["state"])

  live = {}
  for name, overrides in recipes:
    config = quality_study.recipe_config(overrides, seed=0, dataset=dataset, budget=0.0,
                                         eval_every=1000, eval_samples=1000, max_steps=1000)
    run = build_lib.build(config, data)
    step, sync = timer(run)
    live[name] = {"timer": (step, sync), "steps_per_call": run.steps_per_call,
                  "first_call_s": time_repeats(step, sync, 1, 1)[0], "rates": []}
  names = list(live)
  for round_index in range(rounds):
    for name in names if round_index % 2 == 0 else names[::-1]:
      entry = live[name]
      calls = max(1, -(-steps // entry["steps_per_call"]))
      seconds = time_repeats(*entry["timer"], calls, 1)[0]
      entry["rates"].append(calls * entry["steps_per_call"] / seconds)
  medians = {name: float(np.median(e["rates"])) for name, e in live.items()}
  return {name: {"steps_per_s_median": round(medians[name], 2),
                 "rounds": [round(r, 2) for r in e["rates"]],
                 "first_call_s": round(e["first_call_s"], 2),
                 "ratio": round(medians[name] / medians[names[0]], 3)}
          for name, e in live.items()}


def main(argv):
  del argv
  import sys  # pylint: disable=g-import-not-at-top
  from experiments import quality_study  # pylint: disable=g-import-not-at-top
  from experiments.records import write_record  # pylint: disable=g-import-not-at-top
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.cli import check_writable  # pylint: disable=g-import-not-at-top
  if _OUT.value:
    check_writable(_OUT.value, "out")  # Before the timing, so a mistake costs nothing.
  recipes = [quality_study.parse_recipe(text)
             for text in quality_study.split_recipes(_RECIPES.value)]
  record = {"what": "training steps per second of quality-study recipes, side by side",
            "command": "python -m experiments.recipe_speed " + " ".join(sys.argv[1:]),
            "machine": machine_kind(), "rounds": _ROUNDS.value, "steps": _STEPS.value,
            "recipes": dict(recipes),
            "results": time_recipes(recipes, _DATASET.value, _ROUNDS.value, _STEPS.value)}
  write_record(record, _OUT.value)


if __name__ == "__main__":
  from gan.cli import run_cli  # pylint: disable=g-import-not-at-top
  run_cli(main, arguments=("recipes", "dataset", "rounds", "steps", "out"))
