"""The training program end to end on real MNIST digits: outputs, resume, devices, samples.

The DCGAN of 4 steps trains once in this process (`gan.program.train` on the
experiment's config) and through the experiment's command line (`python -m
experiments.dcgan_mnist`: 2 + 2 resumed steps, and 4 fake devices); the runs are read
back with `gan.cli.info`, `gan.cli.sample` and `gan.rundir`. Several steps per call
and the conditional task train in process. Every run uses the first 2,048 digits of
the shipped MNIST (`digits`), which a subprocess reads in milliseconds where the
whole file takes a second.
"""

import json
import os

import chex
import flax
import jax
import numpy as np
import pytest

import conftest
from conftest import run_module
from gan import images, program, rundir
from gan.cli import info

DCGAN = "experiments.dcgan_mnist"


def _train(module, workdir, *args, devices=1):
  result = run_module(module, f"--workdir={workdir}", *args, devices=devices)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def _digest(workdir, step=None):
  return info.workdir_info(str(workdir), step)[0]["digest"]


def _records(workdir):
  with open(os.path.join(workdir, rundir.METRICS_FILE), encoding="utf-8") as f:
    return [json.loads(line) for line in f]


# -------------------------------------------------------------- the DCGAN, end to end


# The values of conftest.SMALL_DCGAN_FLAGS, for the runs in this process.
SMALL_DCGAN = {"batch_size": 16, "model.g_widths": (32, 16, 8), "model.d_widths": (8, 16)}


@pytest.fixture(scope="module")
def dcgan_runs(tmp_path_factory, digits):
  """Three DCGAN runs of 4 steps from seed 3: in one go, 2 + 2 resumed, on 4 fake devices.

  The run in one go trains in this process (the experiment's config with the flags'
  values); the others run the experiment's command. The resumed run's second command
  gives only the workdir and the new num_steps: the run goes on with its own saved
  config (batch size, widths, seed, data).
  """
  from experiments import dcgan_mnist  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("dcgan")
  fields = {"dataset": digits, "seed": 3, "run.sample_every": 2, "run.checkpoint_every": 2,
            **SMALL_DCGAN}
  # With the progress bar on: the run reports where its outputs went.
  whole = conftest.set_fields(dcgan_mnist.get_config(), num_steps=4, **fields,
                              **{"run.progress_bar": True})
  report = []
  program.train(whole, str(root / "whole"), log=report.append)
  flags = (f"--config.dataset={digits}", "--config.seed=3", "--config.run.sample_every=2",
           "--config.run.checkpoint_every=2", *conftest.SMALL_DCGAN_FLAGS)
  _train(DCGAN, root / "resumed", *flags, "--config.num_steps=2")
  resumed = _train(DCGAN, root / "resumed", "--config.num_steps=4")
  _train(DCGAN, root / "devices4", *flags, "--config.num_steps=4", devices=4)
  return root, "\n".join(report), resumed


@pytest.fixture(scope="module")
def whole_export(dcgan_runs, tmp_path_factory):
  """`python -m gan.cli.info WHOLE --export=g.npz`: (its JSON, the export's path)."""
  root, _, _ = dcgan_runs
  path = tmp_path_factory.mktemp("export") / "g.npz"
  result = run_module("gan.cli.info", str(root / "whole"), f"--export={path}")
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout), str(path)


@pytest.mark.slow
def test_a_run_leaves_checkpoints_samples_logs_and_config(dcgan_runs, whole_export):
  root, report, _ = dcgan_runs
  run = root / "whole"
  assert sorted(os.listdir(run / "checkpoints")) == ["2", "4"]
  assert sorted(os.listdir(run / "samples")) == ["step_000002.png", "step_000004.png"]
  records = _records(run)
  assert [r["step"] for r in records] == [4]  # log_every=50 and the final step.
  assert {"d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "d_acc_fake",
          "d_grad_norm", "g_grad_norm", "steps_per_sec", "skipped_steps"} <= set(records[0])
  assert any(name.startswith("events.out.tfevents") for name in os.listdir(run / "tensorboard"))
  config = json.load(open(run / "config.json"))
  assert config["seed"] == 3 and config["model"]["name"] == "dcgan"
  assert config["batch_size"] == 16 and config["model"]["g_widths"] == [32, 16, 8]
  summary, _ = whole_export
  assert summary["latest_step"] == 4 and summary["step"] == 4 and len(summary["digest"]) == 64
  assert summary["checkpoints"] == [2, 4] and summary["config"] == config
  # The final report: where the checkpoint, the samples and the logs went.
  assert f"Done: step 4 in {run}." in report, report[-3000:]
  for path in (run / "checkpoints" / "4", run / "samples" / "step_000004.png",
               run / "metrics.jsonl"):
    assert str(path) in report and path.exists()
  assert f"tensorboard --logdir {run}" in report


@pytest.mark.slow
def test_resuming_with_only_the_workdir_continues_the_run_bit_for_bit(dcgan_runs):
  root, _, resumed = dcgan_runs
  assert f"Resuming {root / 'resumed'} from step 2." in resumed.stderr, resumed.stderr[-3000:]
  # The second command gave no batch size, widths, seed or data: the saved ones held.
  config = json.load(open(root / "resumed" / "config.json"))
  assert config["batch_size"] == 16 and config["model"]["d_widths"] == [8, 16]
  assert config["seed"] == 3 and config["dataset"].endswith("mnist_2k.npz")
  assert _digest(root / "resumed") == _digest(root / "whole")


@pytest.mark.slow
def test_four_devices_match_one_device(dcgan_runs, whole_export, tmp_path):
  """Equal within float tolerance: 4 devices sum the gradients in another order.

  Adam turns that rounding into steps of up to about the learning rate (5e-4) where a
  gradient is mostly noise (the first step moves every parameter by lr times the sign of
  its gradient), and such a change feeds the next steps: on an Intel Xeon with AMX, 0.07%
  of G's dense kernel (and 3 of 2,500 label embeddings, by up to 1.5e-3) differed by more
  than 1e-4, where the AMD EPYCs stayed within 1e-4. So: every parameter within 4 steps
  of opposite sign (2 lr each), 99% of each array within lr / 5, and the samples within
  a grey level. A run that trains on other batches, keys or statistics differs by about a
  learning rate almost everywhere.
  """
  root, _, _ = dcgan_runs
  summary, one_path = whole_export
  four_path = tmp_path / "four.npz"
  rundir.export_generator(str(root / "devices4"),
                          info.workdir_info(str(root / "devices4"))[1], str(four_path))
  one, four = np.load(one_path), np.load(four_path)
  assert sorted(one.files) == sorted(four.files)
  assert any(n.startswith("generator/params/") for n in one.files)
  assert any(n.startswith("generator/batch_stats/") for n in one.files)
  lr, steps = summary["config"]["optim"]["g_lr"], summary["step"]
  assert (lr, steps) == (5e-4, 4)
  for name in one.files:
    if not name.startswith("__"):
      np.testing.assert_allclose(four[name], one[name], atol=2 * lr * steps, err_msg=name)
      close = np.abs(four[name].astype(np.float64) - one[name]) <= lr / 5
      assert close.mean() >= 0.99, (name, close.mean())
  np.testing.assert_allclose(conftest.run_samples(root / "devices4"),
                             conftest.run_samples(root / "whole"), atol=2 / 255)  # A grey level.


@pytest.mark.slow
def test_same_seed_same_digest_other_seed_differs(dcgan_runs, tmp_path):
  """Seed 3 in this process and in the command's: the same state, bit for bit."""
  root, _, _ = dcgan_runs
  assert _digest(root / "resumed", 2) == _digest(root / "whole", 2)
  config = rundir.load_run_config(str(root / "whole"))
  config.seed, config.num_steps, config.run.progress_bar = 4, 2, False
  program.train(config, str(tmp_path / "other_seed"))
  assert _digest(tmp_path / "other_seed") != _digest(root / "whole", 2)


@pytest.mark.slow
def test_sample_command_and_the_export_alone_give_the_same_samples(dcgan_runs, whole_export,
                                                                   tmp_path):
  root, _, _ = dcgan_runs
  workdir = str(root / "whole")
  result = run_module("gan.cli.sample", f"--workdir={workdir}", "--num=10",
                      f"--out={tmp_path / 'g.png'}", f"--npz={tmp_path / 's.npz'}", "--seed=5")
  assert result.returncode == 0, result.stderr[-2000:]
  samples = np.load(tmp_path / "s.npz")["x"]
  assert samples.shape == (10, 28, 28, 1) and samples.dtype == np.uint8
  assert os.path.getsize(tmp_path / "g.png") > 100
  key = jax.random.key(5)
  # The same draw in this process, from the checkpoint: the same images.
  run, state = rundir.restore(workdir)
  restored = run.sample(state, 10, key)
  np.testing.assert_array_equal(images.to_uint8(restored), samples)

  # The export holds the generator's params, its BatchNorm statistics and the config...
  _, path = whole_export
  raw = info.workdir_info(workdir)[1]
  with np.load(path) as export:
    assert json.loads(str(export["__config__"])) == json.load(open(root / "whole" /
                                                                   "config.json"))
    stats = {k: export[k] for k in export.files if k.startswith("generator/batch_stats/")}
  expected = rundir.flatten_with_paths(raw["generator"]["batch_stats"])
  assert stats and sorted(stats) == sorted(f"generator/batch_stats/{k}" for k in expected)
  for name, value in expected.items():
    np.testing.assert_array_equal(stats[f"generator/batch_stats/{name}"], value)
  # ... and sampling from it alone gives the command's samples, bit for bit.
  export_run, export_state = rundir.load_export(path)
  exported = export_run.sample(export_state, 10, key)
  np.testing.assert_array_equal(exported, restored)
  np.testing.assert_array_equal(images.to_uint8(exported), samples)
  # (The statistics matter: the initial ones give other images.)
  fresh = export_state.replace(generator=export_state.generator.replace(
      batch_stats=export_run.init_state().generator.batch_stats))
  assert not np.array_equal(export_run.sample(fresh, 10, key), exported)


# ------------------------------------------------------------------------ in process


@pytest.mark.slow
def test_steps_per_call_blocks_equal_single_steps_and_resume_exactly(tmp_path, digits):
  def run(name, steps_per_call, num_steps):
    config = conftest.tiny_mlp_config(digits, num_steps=num_steps, **{
        "run.log_every": 4, "run.checkpoint_every": 4, "run.steps_per_call": steps_per_call})
    state = program.train(config, str(tmp_path / name))
    return flax.serialization.to_state_dict(state), _records(tmp_path / name)

  single, single_logs = run("single", 1, 8)
  blocks, block_logs = run("blocks", 4, 8)
  # A rolled scan of 4 updates: the single steps' arithmetic, to float rounding.
  chex.assert_trees_all_close(blocks, single, rtol=1e-5, atol=1e-6)
  assert [m["step"] for m in block_logs] == [m["step"] for m in single_logs] == [4, 8]
  for a, b in zip(block_logs, single_logs):
    np.testing.assert_allclose([a["d_loss"], a["g_loss"]], [b["d_loss"], b["g_loss"]],
                               rtol=1e-5)
  run("resumed", 4, 4)
  resumed, _ = run("resumed", 4, 8)
  chex.assert_trees_all_equal(resumed, blocks)  # Bit for bit.


# -------------------------------------------------- the conditional GAN, same program


def _conditional_config(dataset, num_steps):
  """The tiny MLP as a label-conditional GAN; a grid of one row per class at the end."""
  return conftest.tiny_conditional_config(dataset, num_steps, **{"run.num_sample_images": 20})


@pytest.fixture(scope="module")
def conditional_runs(tmp_path_factory, digits):
  """A conditional run of 4 steps in one go, and one of 2 steps resumed to 4."""
  root = tmp_path_factory.mktemp("conditional")
  lines = []
  conftest.train_whole_and_resumed(lambda n: _conditional_config(digits, n), root,
                                   log=lines.append)
  return root, lines


@pytest.mark.slow
def test_conditional_gan_resumes_bit_for_bit(conditional_runs):
  root, lines = conditional_runs
  assert f"Resuming {root / 'resumed'} from step 2." in lines
  summary, raw = info.workdir_info(str(root / "resumed"))
  assert summary["checkpoints"] == [2, 4] and summary["config"]["task"] == "conditional_gan"
  # The label embeddings are part of the state (both players take the label).
  assert any("label_embedding" in name for name in rundir.flatten_with_paths(raw["generator"]))
  assert summary["digest"] == _digest(root / "whole")
  assert _digest(root / "resumed", 2) == _digest(root / "whole", 2)
  assert [r["step"] for r in _records(root / "resumed")] == [2, 4]
  assert _records(root / "resumed")[-1]["d_loss"] == _records(root / "whole")[-1]["d_loss"]
  assert sorted(os.listdir(root / "whole" / "samples")) == ["step_000004.png"]


@pytest.mark.slow
def test_sample_command_draws_the_labels_asked_for(conditional_runs, tmp_path):
  root, _ = conditional_runs
  workdir = str(root / "whole")
  result = run_module("gan.cli.sample", f"--workdir={workdir}", "--labels=7", "--num=8",
                      f"--out={tmp_path / 'sevens.png'}", f"--npz={tmp_path / 'sevens.npz'}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert os.path.getsize(tmp_path / "sevens.png") > 100
  sevens = np.load(tmp_path / "sevens.npz")["x"]
  assert sevens.shape == (8, 28, 28, 1)
  # What G(z, 7) gives in this process for the command's z: the labels reached G.
  run, state = rundir.restore(workdir)
  inputs = run.task.sample_inputs(jax.random.key(0), 8)
  as_label = lambda y: images.to_uint8(run.generate(state, {**inputs, "label": np.full(8, y)}))
  np.testing.assert_array_equal(as_label(7), sevens)
  assert not np.array_equal(as_label(3), sevens)

  # A class the run was not trained on: one error line, exit status 2, nothing written.
  bad = run_module("gan.cli.sample", f"--workdir={workdir}", "--labels=12", "--num=8",
                   f"--out={tmp_path / 'bad.png'}")
  lines = [line for line in bad.stderr.splitlines() if line.strip()]
  assert bad.returncode == 2 and len(lines) == 1, bad.stderr[-2000:]
  assert lines[0].startswith("error: --labels='12'") and "classes 0..9" in lines[0], lines[0]
  assert not (tmp_path / "bad.png").exists()


# ------------------------------------------------ a training-time budget and its clock


def test_time_budget_stops_the_run_scores_its_end_and_resumes_the_clock(tmp_path, digits):
  import time  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path / "budget")
  calls = []

  def probe(step, state):
    del state
    calls.append(step)
    time.sleep(0.2)  # Scoring time: the training clock leaves it out.
    return {"probe": float(step)}

  hooks = [program.Hook(every=100, fn=probe, name="probe")]

  def train(budget, cpu_budget=0.0):
    config = conftest.tiny_mlp_config(digits, num_steps=10**6, **{
        "run.log_every": 50, "run.checkpoint_every": 10**5, "run.max_train_seconds": budget,
        "run.max_train_cpu_seconds": cpu_budget})
    lines = []
    start = time.perf_counter()
    state = program.train(config, workdir, hooks=hooks, log=lines.append)
    return int(state.step), lines, time.perf_counter() - start

  first, lines, elapsed = train(1.0)
  assert 0 < first < 10**6
  assert any(line.startswith(f"Stopped at step {first}:") for line in lines), lines
  assert info.workdir_info(workdir)[0]["checkpoints"][-1] == first
  records = _records(workdir)
  assert calls[-1] == first and records[-1]["step"] == first and "probe" in records[-1]
  clock = [r["train_seconds"] for r in records]
  assert clock == sorted(clock) and 1.0 <= clock[-1]
  # The hooks' sleeps are not training time.
  assert clock[-1] <= elapsed - 0.2 * len(calls)

  second, lines, _ = train(2.0)  # A larger budget (resumable): the clock goes on.
  assert second > first and f"Resuming {workdir} from step {first}." in lines
  resumed = _records(workdir)[len(records):]
  assert resumed[0]["train_seconds"] > clock[-1] and 2.0 <= resumed[-1]["train_seconds"]
  assert all(r["step"] > first for r in resumed)

  # A budget in CPU seconds: the CPU clock, resumed too, stops the run.
  cpu_spent = resumed[-1]["train_cpu_seconds"]
  third, lines, _ = train(0.0, cpu_budget=cpu_spent + 1.0)
  assert third > second and any(line.startswith(f"Stopped at step {third}:") and
                                "config.run.max_train_cpu_seconds=" in line for line in lines)
  assert cpu_spent + 1.0 <= _records(workdir)[-1]["train_cpu_seconds"]
