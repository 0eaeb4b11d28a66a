"""Faults: non-finite steps, SIGTERM/SIGINT, SIGKILL at random moments, config changes.

The in-process tests train a tiny MLP GAN on a small synthetic .npz; the
subprocess tests train the narrow DCGAN of `train_test.py` on the real MNIST and
compare `gan.info` digests with an uninterrupted run.
"""

import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import hooks as hooks_lib
from gan import info, train
from gan.errors import UserError

TMP_PATTERN = "*.orbax-checkpoint-tmp*"


# ----------------------------------------------------------------------- in process


@pytest.fixture(scope="module")
def small_npz(tmp_path_factory):
  """64 random 28x28 'digits': enough for the in-process runs, read in milliseconds."""
  path = tmp_path_factory.mktemp("data") / "small.npz"
  rng = np.random.default_rng(0)
  np.savez(path, x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8),
           y_train=np.zeros(64, np.int64))
  return str(path)


def _mlp_config(dataset, **overrides):
  return conftest.tiny_mlp_config(dataset, **{"num_steps": 12, "checkpoint_every": 4,
                                           "log_every": 4, **overrides})


def _digest(workdir, step=None):
  return info.workdir_info(str(workdir), step)[0]["digest"]


def _records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def _batch(seed=0):
  return np.random.default_rng(seed).integers(0, 256, (1, 8, 28, 28, 1), dtype=np.uint8)


def test_all_finite():
  assert bool(train.all_finite({"a": jnp.ones(3), "n": jnp.arange(3)}))
  assert not bool(train.all_finite({"a": jnp.array([1.0, jnp.inf]), "b": jnp.ones(2)}))
  assert not bool(train.all_finite([jnp.zeros(2), jnp.array(jnp.nan)]))
  assert bool(train.all_finite({}))
  # Large leaves (vectorised reductions), one bad entry anywhere, and no overflow.
  check = jax.jit(train.all_finite)
  for size in (7, 100_352, 1_000_003):
    assert bool(check({"a": jnp.full((size,), 3e38, jnp.float32), "b": jnp.ones(3)}))
    for position in (0, size // 2, size - 1):
      for bad in (jnp.nan, jnp.inf, -jnp.inf):
        leaf = jnp.zeros((size,), jnp.float32).at[position].set(bad)
        assert not bool(check({"a": jnp.ones(3), "b": leaf})), (size, position, bad)


def test_guard_is_exact_on_finite_steps_and_skip_keeps_the_state(small_npz):
  # The configs of the other in-process tests, so that their programs compile once.
  plain = train.setup(_mlp_config(small_npz), (28, 28, 1))
  skip = train.setup(_mlp_config(small_npz, on_nonfinite="skip_step", debug_nan_step=6),
                     (28, 28, 1))
  stop = train.setup(_mlp_config(small_npz, debug_nan_step=6), (28, 28, 1))
  as_dict = flax.serialization.to_state_dict
  batch0, batch6 = plain.shard_batch(_batch()), plain.shard_batch(_batch(1))
  # Fresh states rather than copies: the step donates its input, and a copy's sharding
  # would make jit compile the step again.
  a, metrics_a = plain.train_step(plain.init_state(), batch0, plain.train_key)
  b, metrics_b = skip.train_step(plain.init_state(), batch0, skip.train_key)
  # A finite step: the guard (and the fault injection at another step) changes no bit.
  chex.assert_trees_all_equal(as_dict(a), as_dict(b))
  assert float(metrics_a["nonfinite"]) == float(metrics_b["nonfinite"]) == 0.0

  def state_at_step_6():
    state, _ = plain.train_step(plain.init_state(), batch0, plain.train_key)
    return state.replace(step=state.step + 5)

  # Step 6 is poisoned: skip_step returns the state it was given, with the step advanced.
  s7, metrics = skip.train_step(state_at_step_6(), batch6, skip.train_key)
  assert float(metrics["nonfinite"]) == 1.0 and np.isnan(float(metrics["d_loss"]))
  assert int(s7.step) == 7
  s6 = state_at_step_6()
  chex.assert_trees_all_equal(as_dict(s7.replace(step=s6.step)), as_dict(s6))
  # stop: the state is returned as computed (non-finite); the loop refuses to save it.
  t7, metrics = stop.train_step(state_at_step_6(), batch6, stop.train_key)
  assert float(metrics["nonfinite"]) == 1.0 and not bool(train.all_finite(t7))


def test_nan_stops_the_run_keeps_the_last_good_checkpoint_and_skip_step_finishes(
    small_npz, tmp_path):
  workdir = tmp_path / "run"
  config = _mlp_config(small_npz, debug_nan_step=6)
  with pytest.raises(train.NonFiniteError) as error:
    train.train_and_evaluate(config, str(workdir))
  message = str(error.value)
  assert "\n" not in message
  assert "non-finite loss or parameters at step 6" in message, message
  assert f"last good checkpoint, step 4 in {workdir / 'checkpoints'}, is kept" in message
  assert "--config.on_nonfinite=skip_step" in message
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4"]  # Step 8 was never saved.
  good = info.workdir_info(str(workdir))[1]
  assert bool(train.all_finite(good)) and int(good["step"]) == 4
  assert [r["step"] for r in _records(workdir)] == [4]

  # The same run, resumed with skip_step (a field that may change on resume), finishes.
  config.on_nonfinite = "skip_step"
  state = train.train_and_evaluate(config, str(workdir))
  assert int(state.step) == 12 and bool(train.all_finite(state))
  records = _records(workdir)
  assert [r["step"] for r in records] == [4, 8, 12]
  assert [r["skipped_steps"] for r in records] == [0, 1, 0]
  assert all(np.isfinite(r["d_loss"]) for r in records)


def _signal_hook(signum, at_step):
  """A hook that sends `signum` to this process after step `at_step`, as a scheduler would."""
  def send(step, state):
    del state
    if step == at_step:
      os.kill(os.getpid(), signum)
    return {}
  return hooks_lib.Hook(every=1, fn=send, name="signal")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_the_current_step_and_the_resumed_run_is_the_same(
    small_npz, tmp_path, signum):
  config = _mlp_config(small_npz, num_steps=10, checkpoint_every=4)
  train.train_and_evaluate(config, str(tmp_path / "whole"), hooks=[])
  previous = signal.getsignal(signum)
  with pytest.raises(train.RunInterrupted) as error:
    train.train_and_evaluate(config, str(tmp_path / "cut"), hooks=[_signal_hook(signum, 7)])
  assert signal.getsignal(signum) is previous  # The handler is put back.
  name = signal.Signals(signum).name
  assert str(error.value).startswith(f"{name} at step 7: saved checkpoint 7 in ")
  assert error.value.signum == signum and error.value.step == 7
  assert sorted(os.listdir(tmp_path / "cut" / "checkpoints"), key=int) == ["4", "7"]
  train.train_and_evaluate(config, str(tmp_path / "cut"), hooks=[])
  assert _digest(tmp_path / "cut") == _digest(tmp_path / "whole")


def test_a_changed_loss_is_refused_unless_allowed_and_then_recorded(small_npz, tmp_path):
  workdir = str(tmp_path / "run")
  config = _mlp_config(small_npz, num_steps=4)
  train.train_and_evaluate(config, workdir)
  changed = _mlp_config(small_npz, num_steps=8, loss="hinge", log_every=2)
  before = open(os.path.join(workdir, "config.json")).read()
  with pytest.raises(UserError, match=r"loss: 'non_saturating' -> 'hinge'.*"
                                      r"--allow_config_change=loss"):
    train.train_and_evaluate(changed, workdir)
  with pytest.raises(UserError, match="unknown config fields"):
    train.train_and_evaluate(changed, workdir, allow_config_change=["los"])
  assert open(os.path.join(workdir, "config.json")).read() == before
  state = train.train_and_evaluate(changed, workdir, allow_config_change=["loss"])
  assert int(state.step) == 8
  assert json.load(open(os.path.join(workdir, "config.json")))["loss"] == "hinge"
  with open(os.path.join(workdir, "config_changes.jsonl")) as f:
    assert [json.loads(line) for line in f] == [
        {"step": 4, "changes": {"loss": ["non_saturating", "hinge"]}}]


def test_partial_checkpoint_and_torn_metrics_line_are_ignored_and_cleaned(small_npz, tmp_path):
  workdir = tmp_path / "run"
  config = _mlp_config(small_npz, num_steps=8)
  train.train_and_evaluate(config, str(workdir))
  digest8 = _digest(workdir)
  # What SIGKILL during the save of step 12 and during a log write leaves behind.
  partial = workdir / "checkpoints" / "12.orbax-checkpoint-tmp-1234567"
  partial.mkdir()
  (partial / "_CHECKPOINT_METADATA").write_text("{")
  with open(workdir / "metrics.jsonl", "a") as f:
    f.write('{"step": 12, "d_lo')
  assert info.workdir_info(str(workdir))[0]["checkpoints"] == [4, 8]  # Ignored by readers.
  assert partial.exists()  # ... which change nothing.
  config.num_steps = 12
  train.train_and_evaluate(config, str(workdir))
  assert not glob.glob(str(workdir / "checkpoints" / TMP_PATTERN))
  assert [r["step"] for r in _records(workdir)] == [4, 8, 12]
  assert _digest(workdir, 8) == digest8


# ------------------------------------------------------------------ SIGKILL, SIGTERM

# 200 steps of a narrow DCGAN on the real MNIST; a checkpoint every 10 steps.
CRASH_ARGS = ("--config.num_steps=200", "--config.checkpoint_every=10", "--config.log_every=10",
              "--config.sample_every=0", "--config.seed=5", "--config.batch_size=16",
              "--config.g_widths=(32,16,8)", "--config.d_widths=(8,16)",
              "--config.progress_bar=False")


def _popen(workdir, dataset):
  """`python -m experiments.dcgan_mnist` in the background, as `conftest.run_module` runs it."""
  env = dict(os.environ)
  env["PYTHONPATH"] = conftest.ROOT + os.pathsep + env.get("PYTHONPATH", "")
  env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                              if not f.startswith("--xla_force_host_platform_device_count"))
  env.setdefault("JAX_COMPILATION_CACHE_DIR", conftest._CACHE_DIR)  # pylint: disable=protected-access
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.dcgan_mnist", f"--workdir={workdir}",
       f"--config.dataset={dataset}", *CRASH_ARGS],
      cwd=conftest.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _complete_steps(workdir):
  directory = os.path.join(workdir, "checkpoints")
  names = os.listdir(directory) if os.path.isdir(directory) else []
  return sorted(int(n) for n in names if n.isdigit())


def _wait(process, condition, timeout=240.0, poll=0.002):
  """Polls `condition()` until it holds; fails if the process ends or time runs out."""
  deadline = time.monotonic() + timeout
  while not condition():
    if process.poll() is not None:
      pytest.fail(f"the run ended early (status {process.returncode}): "
                  f"{process.stderr.read()[-2000:]}")
    if time.monotonic() > deadline:
      process.kill()
      pytest.fail("timed out waiting for the run")
    time.sleep(poll)


def _finish(workdir, dataset):
  process = _popen(workdir, dataset)
  out, err = process.communicate(timeout=600)
  assert process.returncode == 0, err[-3000:]
  return out


def _comparable(records):
  return [{k: v for k, v in r.items() if k != "steps_per_sec"} for r in records]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, mnist_npz):
  workdir = tmp_path_factory.mktemp("uninterrupted") / "run"
  _finish(workdir, mnist_npz)
  return workdir


def test_sigkill_at_ten_random_moments_gives_the_uninterrupted_run(
    uninterrupted, mnist_npz, tmp_path):
  """Kill round i once checkpoint 10(i+1) exists: after a random delay, or the moment a
  checkpoint write is under way (a temporary directory exists); resume every time."""
  workdir = tmp_path / "run"
  rng = random.Random(7)
  during_write = set(rng.sample(range(10), 4))
  kills, torn_writes = [], 0
  for i in range(10):
    process = _popen(workdir, mnist_npz)
    # The previous round's partial checkpoint is cleaned once the run is under way.
    _wait(process, lambda i=i: _complete_steps(workdir) and _complete_steps(workdir)[-1] >=
          10 * (i + 1))
    if i in during_write:
      _wait(process, lambda: glob.glob(str(workdir / "checkpoints" / TMP_PATTERN)),
            poll=0.0005)
    else:
      time.sleep(rng.uniform(0.0, 0.4))
    process.send_signal(signal.SIGKILL)
    process.communicate()
    partial = glob.glob(str(workdir / "checkpoints" / TMP_PATTERN))
    torn_writes += bool(partial)
    kills.append((i, _complete_steps(workdir)[-1], bool(partial)))
  assert len(kills) == 10
  assert torn_writes >= 2, kills  # Some kills did land in the middle of a checkpoint write.
  out = _finish(workdir, mnist_npz)
  assert "Resuming" in out
  assert not glob.glob(str(workdir / "checkpoints" / TMP_PATTERN))
  assert _digest(workdir) == _digest(uninterrupted)
  # Even the logs are those of the uninterrupted run: a crash's extra records are dropped.
  assert _comparable(_records(workdir)) == _comparable(_records(uninterrupted))


def test_sigterm_saves_the_step_it_arrived_at_and_resume_continues(
    uninterrupted, mnist_npz, tmp_path):
  workdir = tmp_path / "run"
  process = _popen(workdir, mnist_npz)
  _wait(process, lambda: _complete_steps(workdir) and _complete_steps(workdir)[-1] >= 30)
  process.send_signal(signal.SIGTERM)
  _, err = process.communicate(timeout=120)
  assert process.returncode == 128 + signal.SIGTERM, err[-3000:]
  lines = [line for line in err.splitlines() if line.strip()]
  assert len(lines) == 1 and lines[0].startswith("SIGTERM at step "), err[-3000:]
  step = int(lines[0].split()[3].rstrip(":"))
  assert lines[0] == (f"SIGTERM at step {step}: saved checkpoint {step} in "
                      f"{workdir / 'checkpoints'}; run the same command again to resume")
  assert 30 <= step < 200 and _complete_steps(workdir)[-1] == step
  assert f"Resuming {workdir} from step {step}." in _finish(workdir, mnist_npz)
  assert _digest(workdir) == _digest(uninterrupted)
