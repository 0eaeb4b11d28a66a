"""The workdir's bookkeeping: the RUNNING marker of a run that died, config changes, JSON files."""

import json
import os

import pytest

import conftest
from gan import config as config_lib
from gan import program, rundir
from gan.errors import UserError


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
  import numpy as np  # pylint: disable=g-import-not-at-top
  path = tmp_path_factory.mktemp("data") / "small.npz"
  rng = np.random.default_rng(0)
  np.savez(path, x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
           y_train=rng.integers(0, 10, 64))
  return str(path)


def test_a_run_that_died_is_reported_and_its_marker_cleared(small_npz, tmp_path):
  workdir = str(tmp_path / "run")
  config = conftest.tiny_mlp_config(small_npz, num_steps=4, **{"run.checkpoint_every": 2})
  lines = []
  program.train(config, workdir, log=lines.append)
  assert not os.path.exists(os.path.join(workdir, rundir.RUNNING_FILE))
  assert rundir.unfinished_run(workdir) == ""
  assert not any("without finishing" in line for line in lines)
  # A process that died (SIGKILL, an abort in XLA) never removes its marker.
  rundir.mark_running(workdir)
  assert "pid" in rundir.unfinished_run(workdir)
  config.num_steps = 6
  lines = []
  program.train(config, workdir, log=lines.append)
  assert any("stopped without finishing" in line and "resuming from step 4" in line
             for line in lines), lines
  assert rundir.unfinished_run(workdir) == ""


def test_a_run_stopped_with_a_message_is_not_reported_as_died(small_npz, tmp_path):
  workdir = str(tmp_path / "nan")
  config = conftest.tiny_mlp_config(small_npz, num_steps=4, **{"run.debug_nan_step": 1})
  with pytest.raises(UserError):
    program.train(config, workdir, log=lambda line: None)
  assert rundir.unfinished_run(workdir) == ""


def test_config_changes_name_the_fields_that_change_the_run():
  saved = config_lib.base_config()
  changed = config_lib.base_config()
  changed.num_steps = saved.num_steps + 10  # Resumable.
  changed.run.log_every = 7  # Resumable.
  changed.optim.d_lr = 1e-3
  changed.loss.name = "hinge"
  assert rundir.config_changes(saved, changed) == {
      "loss.name": ["non_saturating", "hinge"], "optim.d_lr": [2e-4, 1e-3]}


def test_prepare_refuses_a_changed_run_and_names_the_way_to_allow_it(small_npz, tmp_path):
  workdir = str(tmp_path / "run")
  config = conftest.tiny_mlp_config(small_npz, num_steps=2)
  program.train(config, workdir, log=lambda line: None)
  changed = conftest.tiny_mlp_config(small_npz, num_steps=2, **{"optim.d_lr": 1e-3})
  with pytest.raises(UserError, match=r"optim\.d_lr: 0\.0002 -> 0\.001.*"
                                      r"allow_config_change=optim\.d_lr"):
    rundir.prepare(workdir, changed)
  assert rundir.prepare(workdir, changed, ["optim.d_lr"]) == (
      True, {"optim.d_lr": [2e-4, 1e-3]})
  with pytest.raises(UserError, match="unknown config fields"):
    rundir.prepare(workdir, changed, ["optim.d_rate"])


def test_json_files_are_replaced_whole(tmp_path):
  path = str(tmp_path / "x.json")
  rundir.write_json_atomically(path, {"a": 1})
  rundir.write_json_atomically(path, {"a": 2})
  assert json.load(open(path)) == {"a": 2}
  assert os.listdir(tmp_path) == ["x.json"]


def test_log_state_round_trips_every_value_exactly(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  window = {"d_loss": np.array([0.1, np.nan, -np.inf, 1e-38, 3.4e38], np.float32),
            "nonfinite": np.array([0, 1, 1, 0, 0], np.int32)}
  times = {"train_seconds": 1.25, "train_cpu_seconds": 2.5}
  rundir.save_log_state(str(tmp_path), 40, window, times)
  record = rundir.load_log_state(str(tmp_path), 40)
  assert record["train_seconds"] == 1.25 and record["train_cpu_seconds"] == 2.5
  for name, values in window.items():
    assert record["window"][name].dtype == values.dtype
    np.testing.assert_array_equal(record["window"][name], values)
  assert rundir.load_log_state(str(tmp_path), 30) is None  # No state for that step.
  rundir.save_log_state(str(tmp_path), 50, {}, times)
  rundir.prune_log_states(str(tmp_path), [50])
  assert os.listdir(tmp_path / rundir.LOG_STATE_DIR) == ["50.json"]


def test_a_window_of_other_metrics_is_dropped_on_resume(small_npz, tmp_path):
  """A log state whose metrics are not the step's (a task changed on resume, a file
  edited by hand) starts a new window instead of failing."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "run")
  config = conftest.tiny_mlp_config(small_npz, num_steps=3, **{"run.log_every": 4})
  program.train(config, workdir, hooks=[])
  rundir.save_log_state(workdir, 3, {"other": np.zeros(3, np.float32)},
                        {"train_seconds": 1.0, "train_cpu_seconds": 1.0})
  config.num_steps = 4
  program.train(config, workdir, hooks=[])
  with open(os.path.join(workdir, rundir.METRICS_FILE), encoding="utf-8") as f:
    records = [json.loads(line) for line in f]
  assert [r["step"] for r in records] == [3, 4] and "other" not in records[-1]
  assert records[-1]["train_seconds"] >= 1.0  # The clock went on from the saved one.
