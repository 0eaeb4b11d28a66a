"""Multi-process data parallelism on JAX's own runtime (`jax.distributed`), on CPU.

Two local processes on 127.0.0.1 (gloo collectives), each with 2 fake devices,
train the MLP GAN on the real MNIST; one process with 4 fake devices trains the
same run. (The MLP compiles in seconds where the DCGAN takes half a minute per
process; the 1-vs-4-device DCGAN test in train_test.py covers BatchNorm.) Every step sees the same global batch, so the generators agree to
float tolerance, at step 20 and again after the 2-process run resumed to step 30.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

import conftest
from conftest import run_module
from gan import info

ARGS = ("--config.checkpoint_every=10", "--config.log_every=10", "--config.sample_every=10",
        "--config.seed=3", "--config.batch_size=16", "--config.g_widths=(64,64)",
        "--config.d_widths=(64,64)", "--config.progress_bar=False")
EXPERIMENT = "experiments.mlp_gan_mnist"


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _run_processes(workdir, dataset, num_steps, num_processes=2, devices_per_process=2):
  """Runs the experiment as `num_processes` local processes; returns their stdouts."""
  env = dict(os.environ)
  env["PYTHONPATH"] = conftest.ROOT + os.pathsep + env.get("PYTHONPATH", "")
  env["XLA_FLAGS"] = " ".join(
      [f for f in env.get("XLA_FLAGS", "").split()
       if not f.startswith("--xla_force_host_platform_device_count")] +
      [f"--xla_force_host_platform_device_count={devices_per_process}"])
  env.setdefault("JAX_COMPILATION_CACHE_DIR", conftest._CACHE_DIR)  # pylint: disable=protected-access
  port = _free_port()
  processes = [subprocess.Popen(
      [sys.executable, "-m", EXPERIMENT, f"--workdir={workdir}",
       f"--config.dataset={dataset}", f"--config.num_steps={num_steps}", *ARGS,
       f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={num_processes}",
       f"--process_id={i}"],
      cwd=conftest.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(num_processes)]
  outputs = []
  try:
    for process in processes:
      out, err = process.communicate(timeout=600)
      assert process.returncode == 0, err[-3000:]
      outputs.append(out)
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
  return outputs


def _generator(workdir, step):
  return info.flatten_with_paths(info.workdir_info(str(workdir), step)[1]["generator"])


def _assert_close(a, b, atol=1e-5):
  assert sorted(a) == sorted(b) and any(k.startswith("params/") for k in a)
  for name in a:
    np.testing.assert_allclose(a[name], b[name], atol=atol, rtol=0, err_msg=name)


@pytest.fixture(scope="module")
def one_process_four_devices(tmp_path_factory, mnist_npz):
  workdir = tmp_path_factory.mktemp("one_process") / "run"
  result = run_module(EXPERIMENT, f"--workdir={workdir}",
                      f"--config.dataset={mnist_npz}", "--config.num_steps=30", *ARGS, devices=4)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir


def test_two_processes_match_one_process_and_resume(one_process_four_devices, mnist_npz,
                                                    tmp_path):
  workdir = tmp_path / "run"
  outputs = _run_processes(workdir, mnist_npz, num_steps=20)
  # Generator params (and optimizer state), after 20 steps.
  _assert_close(_generator(workdir, 20), _generator(one_process_four_devices, 20))

  # The checkpoint (written by both processes) is restored by both, and the run goes on.
  outputs = _run_processes(workdir, mnist_npz, num_steps=30)
  assert f"Resuming {workdir} from step 20." in outputs[0]
  assert "Resuming" not in outputs[1]  # Process 0 alone prints, logs and draws.
  _assert_close(_generator(workdir, 30), _generator(one_process_four_devices, 30))

  with open(workdir / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f] == [10, 20, 30]
  assert sorted(os.listdir(workdir / "samples")) == [
      "step_000010.png", "step_000020.png", "step_000030.png"]
  assert info.workdir_info(str(workdir))[0]["checkpoints"] == [10, 20, 30]
