"""Experiments end to end on the real MNIST: outputs, determinism, resume, 1 vs 4 devices."""

import json
import os

import chex
import flax
import numpy as np
import pytest

import conftest
from conftest import run_module
from gan import train

# A narrow DCGAN so that a few steps compile and run in seconds on 2 cores.
SMALL_DCGAN = ("--config.batch_size=16", "--config.g_widths=(32,16,8)",
               "--config.d_widths=(8,16)", "--config.progress_bar=False")


def _train(module, workdir, *args, devices=1):
  result = run_module(module, f"--workdir={workdir}", *args, devices=devices)
  assert result.returncode == 0, result.stderr[-3000:]
  return result


def _info(workdir, *args):
  result = run_module("gan.info", str(workdir), *args)
  assert result.returncode == 0, result.stderr[-3000:]
  return json.loads(result.stdout)


@pytest.fixture(scope="module")
def dcgan_runs(tmp_path_factory, mnist_npz):
  """Three DCGAN runs of 4 steps: in one go, 2 + 2 resumed, and on 4 fake devices."""
  root = tmp_path_factory.mktemp("dcgan")
  common = (f"--config.dataset={mnist_npz}", "--config.seed=3", "--config.sample_every=2",
            "--config.checkpoint_every=2") + SMALL_DCGAN
  _train("experiments.dcgan_mnist", root / "whole", *common, "--config.num_steps=4")
  _train("experiments.dcgan_mnist", root / "resumed", *common, "--config.num_steps=2")
  resumed = _train("experiments.dcgan_mnist", root / "resumed", *common, "--config.num_steps=4")
  _train("experiments.dcgan_mnist", root / "devices4", *common, "--config.num_steps=4",
         devices=4)
  return root, resumed


def test_a_run_leaves_checkpoints_samples_logs_and_config(dcgan_runs):
  root, _ = dcgan_runs
  run = root / "whole"
  assert sorted(os.listdir(run / "checkpoints")) == ["2", "4"]
  assert sorted(os.listdir(run / "samples")) == ["step_000002.png", "step_000004.png"]
  records = [json.loads(line) for line in open(run / "metrics.jsonl")]
  assert [r["step"] for r in records] == [4]  # log_every=50 and the final step.
  assert {"d_loss", "g_loss", "d_real", "d_fake", "d_acc_real", "d_acc_fake",
          "d_grad_norm", "g_grad_norm", "steps_per_sec"} <= set(records[0])
  assert any(name.startswith("events.out.tfevents") for name in os.listdir(run / "tensorboard"))
  config = json.load(open(run / "config.json"))
  assert config["seed"] == 3 and config["model"] == "dcgan"
  info = _info(run)
  assert info["latest_step"] == 4 and info["step"] == 4 and len(info["digest"]) == 64


def test_resumed_run_equals_uninterrupted_run_bit_for_bit(dcgan_runs):
  root, resumed = dcgan_runs
  assert "Resuming" in resumed.stdout
  assert _info(root / "whole")["digest"] == _info(root / "resumed")["digest"]


def test_four_devices_match_one_device(dcgan_runs, tmp_path):
  root, _ = dcgan_runs
  _info(root / "whole", f"--export={tmp_path / 'one.npz'}")
  _info(root / "devices4", f"--export={tmp_path / 'four.npz'}")
  one, four = np.load(tmp_path / "one.npz"), np.load(tmp_path / "four.npz")
  assert sorted(one.files) == sorted(four.files) and "Dense_0/kernel" in one.files
  for name in one.files:
    np.testing.assert_allclose(four[name], one[name], atol=1e-4, err_msg=name)


def test_mlp_same_seed_same_digest_other_seed_differs(tmp_path, mnist_npz):
  common = (f"--config.dataset={mnist_npz}", "--config.num_steps=20",
            "--config.progress_bar=False")
  for name, seed in (("a", 3), ("b", 3), ("c", 4)):
    _train("experiments.mlp_gan_mnist", tmp_path / name, *common, f"--config.seed={seed}")
  digests = {name: _info(tmp_path / name)["digest"] for name in "abc"}
  assert digests["a"] == digests["b"] != digests["c"]


def test_sample_command_writes_grid_and_npz(dcgan_runs, tmp_path):
  root, _ = dcgan_runs
  args = (f"--workdir={root / 'whole'}", "--num=10", f"--out={tmp_path / 'g.png'}",
          f"--npz={tmp_path / 's.npz'}")
  first = run_module("gan.sample", *args)
  assert first.returncode == 0, first.stderr[-2000:]
  samples = np.load(tmp_path / "s.npz")["x"]
  assert samples.shape == (10, 28, 28, 1) and samples.dtype == np.uint8
  assert os.path.getsize(tmp_path / "g.png") > 100
  again = run_module("gan.sample", *args)
  assert again.returncode == 0
  assert np.array_equal(np.load(tmp_path / "s.npz")["x"], samples)


def test_steps_per_call_blocks_equal_single_steps_and_resume_exactly(tmp_path, mnist_npz):
  def run(name, steps_per_call, num_steps):
    config = conftest.tiny_mlp_config(mnist_npz, num_steps=num_steps, log_every=4,
                                      checkpoint_every=4, steps_per_call=steps_per_call)
    state = train.train_and_evaluate(config, str(tmp_path / name))
    with open(tmp_path / name / "metrics.jsonl", encoding="utf-8") as file:
      logged = [json.loads(line) for line in file]
    return flax.serialization.to_state_dict(state), logged

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
