"""Bad input on the command line: one line naming the fix, non-zero exit, nothing overwritten."""

import hashlib
import os

import pytest

from conftest import run_module


def _snapshot(directory):
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
  return out


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory, mnist_npz):
  workdir = tmp_path_factory.mktemp("existing") / "run"
  result = run_module("experiments.mlp_gan_mnist", f"--workdir={workdir}",
                      f"--config.dataset={mnist_npz}", "--config.num_steps=5",
                      "--config.progress_bar=False")
  assert result.returncode == 0, result.stderr[-2000:]
  return workdir


BAD_INPUTS = [
    (["--config.loss=minmax"], 1, "unknown loss 'minmax'"),
    (["--config.model=resnet"], 1, "unknown model 'resnet'"),
    (["--config.dataset=/nonexistent/mnist.npz"], 1, "not found"),
    (["--config.batch_size=6"], 4, "not divisible by the 4 devices"),
    (["--config.num_steps=-5"], 1, "negative"),
    (["--config.penalty=gp"], 1, "unknown penalty"),
    (["--config.d_steps=0"], 1, "positive integer"),
    (["--config.dataset=imagenet"], 1, "unknown data set"),
]


@pytest.mark.parametrize("args,devices,message", BAD_INPUTS)
def test_bad_experiment_flags(tmp_path, args, devices, message):
  # A fresh workdir: the flag's own error must come first, and nothing is created.
  workdir = tmp_path / "run"
  result = run_module("experiments.mlp_gan_mnist", f"--workdir={workdir}", *args,
                      devices=devices)
  assert result.returncode != 0
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert len(lines) == 1, result.stderr[-2000:]
  assert lines[0].startswith("error: ") and message in lines[0], lines[0]
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


def test_workdir_that_is_a_file(tmp_path):
  path = tmp_path / "afile"
  path.write_text("keep me")
  result = run_module("experiments.mlp_gan_mnist", f"--workdir={path}",
                      "--config.num_steps=1")
  assert result.returncode != 0 and "is a file" in result.stderr
  assert path.read_text() == "keep me"


def test_resume_with_a_different_model_is_refused(existing_run):
  before = _snapshot(existing_run)
  result = run_module("experiments.mlp_gan_mnist", f"--workdir={existing_run}",
                      "--config.g_widths=(64,64)", "--config.num_steps=10")
  assert result.returncode != 0 and "g_widths" in result.stderr, result.stderr[-2000:]
  assert _snapshot(existing_run) == before


@pytest.mark.parametrize("module,args,message", [
    ("gan.info", ["/nonexistent/run"], "does not exist"),
    ("gan.sample", ["--workdir=/nonexistent/run", "--out=/tmp/x.png"], "does not exist"),
    ("gan.sample", ["--workdir=/tmp", "--num=0", "--out=/tmp/x.png"], "--num=0"),
])
def test_bad_tool_arguments(module, args, message):
  result = run_module(module, *args)
  assert result.returncode != 0
  assert message in result.stderr and "Traceback" not in result.stderr, result.stderr[-2000:]
