"""experiments.quality_study: recipes parse and make valid configs; a tiny study runs end to end."""

import json

import pytest

import conftest
from experiments import quality_study
from gan import config as config_lib
from gan.errors import UserError


def test_named_and_inline_recipes_parse():
  assert quality_study.parse_recipe("tutorial") == ("tutorial", quality_study.RECIPES["tutorial"])
  name, overrides = quality_study.parse_recipe(
      "mine=optim.ema_decay:0.99;model.d_widths:(8, 16);loss.name:hinge")
  assert name == "mine"
  assert overrides == {"optim.ema_decay": 0.99, "model.d_widths": (8, 16), "loss.name": "hinge"}
  with pytest.raises(UserError, match="unknown recipe 'nope'"):
    quality_study.parse_recipe("nope")


@pytest.mark.parametrize("name", sorted(quality_study.RECIPES))
def test_every_recipe_is_a_valid_config_with_the_study_settings(name):
  config = quality_study.recipe_config(quality_study.RECIPES[name], seed=2, dataset="D",
                                       budget=60.0, eval_every=300, eval_samples=1000,
                                       max_steps=10_000)
  config_lib.validate(config)
  assert config.seed == 2 and config.run.max_train_seconds == 60.0
  k = config.run.steps_per_call
  assert config.eval.every % k == 0 and config.num_steps % k == 0
  for path, value in quality_study.RECIPES[name].items():
    assert config_lib.get(config, path) == value


@pytest.mark.slow
def test_a_tiny_study_writes_its_record_and_plot(tmp_path, mnist_npz):
  from gan import data  # pylint: disable=g-import-not-at-top
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  # The tiny extractor of the evaluation tests: the real LeNet takes minutes to train.
  extractor = features.train_classifier(data.load_dataset(mnist_npz),
                                        conftest.tiny_extractor_config(), log=lambda line: None)
  extractor_dir = features.save_extractor(extractor, str(tmp_path / "extractor"))
  out, png = tmp_path / "study.json", tmp_path / "study.png"
  result = conftest.run_module(
      "experiments.quality_study", f"--workdir={tmp_path / 'runs'}", f"--dataset={mnist_npz}",
      "--recipes=tiny=model.g_widths:(16,8,4);model.d_widths:(4,8);batch_size:16",
      "--seeds=0", "--budget_seconds=2", "--eval_every=50", "--eval_samples=500",
      f"--out={out}", f"--plot={png}", f"--extractor={extractor_dir}", "--floor_record=",
      timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  record = json.loads(out.read_text())
  runs = record["recipes"]["tiny"]["seeds"]
  assert sorted(runs) == ["0"]
  for run in runs.values():
    seconds = [p["train_seconds"] for p in run["curve"]]
    assert seconds == sorted(seconds) and seconds[-1] >= 2
    assert run["end"] == {k: run["curve"][-1][k] for k in run["end"]}
    assert 0 <= run["end"]["confident_share"] <= 1 and run["end"]["fid"] > 0
  assert record["recipes"]["tiny"]["end_mean_std"]["fid"][1] >= 0
  assert png.stat().st_size > 0


def test_recipes_split_at_commas_outside_parentheses():
  assert quality_study.split_recipes("a, b=model.g_widths:(8,4,2);batch_size:16,c") == [
      "a", "b=model.g_widths:(8,4,2);batch_size:16", "c"]


def test_recipe_speed_times_each_recipe_side_by_side(digits):
  from experiments import recipe_speed  # pylint: disable=g-import-not-at-top
  tiny = {"model.g_widths": (16, 8, 4), "model.d_widths": (4, 8), "batch_size": 16}
  results = recipe_speed.time_recipes(
      [("tiny", tiny), ("tiny_2_per_call", {**tiny, "run.steps_per_call": 2})],
      dataset=digits, rounds=2, steps=3)
  assert list(results) == ["tiny", "tiny_2_per_call"]
  for entry in results.values():
    assert len(entry["rounds"]) == 2 and min(entry["rounds"]) > 0
    assert entry["first_call_s"] > 0
  assert results["tiny"]["ratio"] == 1.0
  assert results["tiny_2_per_call"]["ratio"] == pytest.approx(
      results["tiny_2_per_call"]["steps_per_s_median"] / results["tiny"]["steps_per_s_median"],
      rel=0.02)


def test_recipe_speed_refuses_a_bad_recipe_in_one_line(tmp_path):
  result = conftest.run_module("experiments.recipe_speed", "--recipes=nope",
                               f"--out={tmp_path / 'r.json'}")
  assert result.returncode == 2
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and "unknown recipe 'nope'" in lines[0], result.stderr
  assert not (tmp_path / "r.json").exists()
