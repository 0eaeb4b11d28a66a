"""Multi-device runs on fake CPU devices do not deadlock: the issue's command, quiet and busy.

Before the program bounded its queue of calls in flight (`gan.program`), this command
aborted in 3 of 3 tries on a quiet 2-core machine (XLA:CPU's collective rendezvous
timeout, exit 134, near step 25): with the host 16 steps ahead, the launch of a queued
program held the thread the fourth device needed for the step's all-reduce. The test
runs it while another process keeps the second core busy (the suite's other worker, or
a busy loop when this file runs alone); the 10 of 10 tries, quiet and with both cores
kept busy by two busy loops, are in docs/reliability.md, as each try here costs a minute
of the suite's ten. It uses
the networks the experiment had then (the TensorFlow tutorial's, `OLD_DEFAULT_NETWORK`),
not its smaller default of today.
"""

import os
import subprocess
import sys

import pytest

import conftest

# experiments.multidevice_trials.OLD_DEFAULT_NETWORK (not imported: that module defines
# absl flags at import, which would clash with other experiments' in this process).
OLD_DEFAULT_NETWORK = ("--config.model.g_widths=(256,128,64)", "--config.model.d_widths=(64,128)",
                       "--config.model.dropout_rate=0.3")


def _busy_processes(cores: int = 2) -> list[subprocess.Popen]:
  """Busy loops that, with the run itself and the suite's other pytest-xdist workers,
  keep `cores` busy: none under the suite's two workers (the other one trains the
  SN-ResNet tests meanwhile, `conftest.LONGEST_FILES`), one when this file runs alone."""
  others = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) - 1
  return [subprocess.Popen([sys.executable, "-c", "while True: pass"])
          for _ in range(max(cores - 1 - others, 0))]


@pytest.mark.slow
def test_the_issue_command_finishes_on_four_fake_devices_with_the_cores_busy(tmp_path,
                                                                              mnist_npz):
  workdir = tmp_path / "run"
  others = _busy_processes()
  try:
    result = conftest.run_module(
        "experiments.dcgan_mnist", f"--config.dataset={mnist_npz}", "--config.batch_size=32",
        "--config.num_steps=30", "--config.seed=3", f"--workdir={workdir}",
        "--config.run.progress_bar=False", *OLD_DEFAULT_NETWORK,
        devices=4, timeout=900, fast_compile=False)  # Mostly execution: the default level.
  finally:
    for process in others:
      process.kill()
      process.wait()
  assert result.returncode == 0, result.stderr[-3000:]
  assert "rendezvous" not in result.stderr and "Termination timeout" not in result.stderr
  assert os.listdir(workdir / "checkpoints") == ["30"]
  assert not os.path.exists(workdir / "RUNNING")  # Finished: the marker is gone.
