"""Multi-process data parallelism on JAX's own runtime (`jax.distributed`), on CPU.

Two local processes on 127.0.0.1 (gloo collectives), each with 2 fake devices, run
the MLP GAN experiment's command on real MNIST digits; the same run trains in this
process on its one device. (The MLP compiles in seconds where the DCGAN takes half
a minute per process; the 1-vs-4-device DCGAN test in program_test.py covers
BatchNorm.) Every step sees the same global batch, so the generators agree to float
tolerance, at step 4 and again after the 2-process run resumed to step 6, from a
second command that gives only the workdir, the new num_steps and the process flags.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import conftest
from gan import program, rundir
from gan.cli import info

# Checkpoints and sample grids at the end of each command only (steps 4 and 6).
FIELDS = {"run.checkpoint_every": 0, "run.log_every": 2, "run.sample_every": 0, "seed": 3,
          "batch_size": 16, "model.g_widths": (64, 64), "model.d_widths": (64, 64),
          "run.progress_bar": False}
EXPERIMENT = "experiments.mlp_gan_mnist"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run_processes(workdir, *args, num_processes=2, devices_per_process=2):
  """Runs the experiment as `num_processes` local processes; returns their stderrs."""
  env = conftest.subprocess_env(devices_per_process)
  port = _free_port()
  processes = [subprocess.Popen(
      [sys.executable, "-m", EXPERIMENT, f"--workdir={workdir}", *args,
       f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={num_processes}",
       f"--process_id={i}"],
      cwd=conftest.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(num_processes)]
  outputs = []
  try:
    for process in processes:
      _, err = process.communicate(timeout=600)
      assert process.returncode == 0, err[-3000:]
      outputs.append(err)
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
  return outputs


def _generator(workdir, step):
  return rundir.flatten_with_paths(info.workdir_info(str(workdir), step)[1]["generator"])


def _assert_close(a, b, atol=1e-5):
  assert sorted(a) == sorted(b) and any(k.startswith("params/") for k in a)
  assert any(k.startswith("opt_state/") for k in a)
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=atol, rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def one_process_one_device(tmp_path_factory, digits):
  """The run of 6 steps, trained in this process (one device), checkpoints at 2, 4, 6."""
  from experiments import mlp_gan_mnist  # pylint: disable=g-import-not-at-top
  workdir = tmp_path_factory.mktemp("one_process") / "run"
  config = conftest.set_fields(mlp_gan_mnist.get_config(), dataset=digits, num_steps=6,
                               **{**FIELDS, "run.checkpoint_every": 2})
  program.train(config, str(workdir))
  return workdir


@pytest.mark.slow
def test_two_processes_match_one_process_and_resume(one_process_one_device, digits, tmp_path):
  workdir = tmp_path / "run"
  flags = [f"--config.{k}={v}".replace(" ", "") for k, v in FIELDS.items()]
  _run_processes(workdir, f"--config.dataset={digits}", "--config.num_steps=4", *flags)
  # Generator params (and optimizer state), after 4 steps.
  _assert_close(_generator(workdir, 4), _generator(one_process_one_device, 4))

  # The checkpoint (written by both processes) is restored by both, and the run goes on
  # with its saved config.
  outputs = _run_processes(workdir, "--config.num_steps=6")
  assert f"Resuming {workdir} from step 4." in outputs[0]
  assert "Resuming" not in outputs[1]  # Process 0 alone prints, logs and draws.
  _assert_close(_generator(workdir, 6), _generator(one_process_one_device, 6))

  with open(workdir / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f] == [2, 4, 6]
  assert sorted(os.listdir(workdir / "samples")) == ["step_000004.png", "step_000006.png"]
  assert info.workdir_info(str(workdir))[0]["checkpoints"] == [4, 6]
