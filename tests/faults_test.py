"""Faults: non-finite steps, SIGTERM/SIGINT, SIGKILL at random moments, config changes.

The in-process tests train the tiny MLP GAN (`conftest.tiny_mlp_config`) through
`gan.program.train` on a small synthetic .npz; the subprocess tests run the narrow
DCGAN of `program_test.py` (`python -m experiments.dcgan_mnist`) on real MNIST digits
and compare `gan.cli.info` digests with an uninterrupted run.
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
from gan import build, faults, images, program
from gan.cli import info
from gan.errors import UserError
from gan.eval import hooks as hooks_lib

TMP_PATTERN = "*.orbax-checkpoint-tmp*"
_all_finite = jax.jit(faults.all_finite)  # One program per tree, not one per leaf shape.


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
  return conftest.tiny_mlp_config(dataset, **{"num_steps": 12, "run.checkpoint_every": 4,
                                           "run.log_every": 4, **overrides})


def _digest(workdir, step=None):
  return info.workdir_info(str(workdir), step)[0]["digest"]


def _records(workdir):
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def _batch(seed=0):
  """One step's host batch: (d_steps=1, B=8, 28, 28, 1) uint8."""
  return {"image": np.random.default_rng(seed).integers(0, 256, (1, 8, 28, 28, 1),
                                                        dtype=np.uint8)}


def test_all_finite():
  assert bool(faults.all_finite({"a": jnp.ones(3), "n": jnp.arange(3)}))
  assert not bool(faults.all_finite({"a": jnp.array([1.0, jnp.inf]), "b": jnp.ones(2)}))
  assert not bool(faults.all_finite([jnp.zeros(2), jnp.array(jnp.nan)]))
  assert bool(faults.all_finite({}))
  # Large leaves (vectorised reductions), one bad entry anywhere, and no overflow.
  check = jax.jit(faults.all_finite)
  for size in (7, 100_352, 1_000_003):
    assert bool(check({"a": jnp.full((size,), 3e38, jnp.float32), "b": jnp.ones(3)}))
    for position in (0, size // 2, size - 1):
      for bad in (jnp.nan, jnp.inf, -jnp.inf):
        leaf = jnp.zeros((size,), jnp.float32).at[position].set(bad)
        assert not bool(check({"a": jnp.ones(3), "b": leaf})), (size, position, bad)


def test_first_nonfinite_keeps_the_first_bad_step_of_single_steps_and_blocks():
  first = jnp.array(-1, jnp.int32)
  first = faults.first_nonfinite(first, jnp.array(0.0), 3)
  assert int(first) == -1
  first = faults.first_nonfinite(first, jnp.array([0.0, 0.0, 1.0, 1.0]), 4)  # A block.
  assert int(first) == 6
  assert int(faults.first_nonfinite(first, jnp.array(1.0), 9)) == 6


@flax.struct.dataclass
class _ToyState:
  step: jax.Array
  w: jax.Array


def _toy_step(state, batch, key):
  """A pure step of the task's form on a 3-vector: w moves towards the batch's mean."""
  del key
  x = images.to_float(batch["image"])
  loss = jnp.mean((x - state.w) ** 2)
  return state.replace(step=state.step + 1, w=state.w + 0.1 * jnp.mean(x - state.w)), {
      "loss": loss}


def test_guard_of_a_toy_step_is_exact_when_finite_and_skips_or_keeps_a_poisoned_step():
  """`guard_nonfinite` alone (the GAN's guarded step: the slow test below)."""
  state = _ToyState(step=jnp.array(0, jnp.int32), w=jnp.arange(3, dtype=jnp.float32))
  batch, key = {"image": jnp.full((1, 2, 3), 200, jnp.uint8)}, jax.random.key(0)
  plain = jax.jit(_toy_step)
  skip = jax.jit(faults.guard_nonfinite(_toy_step, skip=True, debug_nan_step=1))
  stop = jax.jit(faults.guard_nonfinite(_toy_step, skip=False, debug_nan_step=1))
  s1, metrics = plain(state, batch, key)
  guarded, guarded_metrics = skip(state, batch, key)
  chex.assert_trees_all_equal(guarded, s1)  # A finite step: not a bit changes.
  assert float(guarded_metrics["nonfinite"]) == 0.0
  assert float(guarded_metrics["loss"]) == float(metrics["loss"])
  # Step 1 is poisoned: skip keeps the state and advances the step; stop returns it as is.
  s2, metrics = skip(s1, batch, key)
  assert float(metrics["nonfinite"]) == 1.0 and np.isnan(float(metrics["loss"]))
  assert int(s2.step) == 2 and np.array_equal(s2.w, s1.w)
  t2, metrics = stop(s1, batch, key)
  assert float(metrics["nonfinite"]) == 1.0 and int(t2.step) == 2
  assert not bool(_all_finite(t2))
  s3, metrics = skip(s2, batch, key)  # The next step is finite again.
  assert float(metrics["nonfinite"]) == 0.0 and bool(_all_finite(s3))


@pytest.mark.slow
def test_guard_is_exact_on_finite_steps_and_skip_keeps_the_state(small_npz):
  # The configs of the other in-process tests, so that their programs compile once.
  plain = build.build(_mlp_config(small_npz))
  skip = build.build(_mlp_config(small_npz, **{"run.on_nonfinite": "skip_step",
                                               "run.debug_nan_step": 6}))
  stop = build.build(_mlp_config(small_npz, **{"run.debug_nan_step": 6}))
  as_dict = flax.serialization.to_state_dict
  batch0, batch6 = plain.shard(_batch()), plain.shard(_batch(1))
  # Fresh states rather than copies: the step donates its input, and a copy's sharding
  # would make jit compile the step again.
  a, metrics_a = plain.step(plain.init_state(), batch0)
  b, metrics_b = skip.step(plain.init_state(), batch0)
  # A finite step: the guard (and the fault injection at another step) changes no bit.
  chex.assert_trees_all_equal(as_dict(a), as_dict(b))
  assert float(metrics_a["nonfinite"]) == float(metrics_b["nonfinite"]) == 0.0

  def state_at_step_6():
    state, _ = plain.step(plain.init_state(), batch0)
    return state.replace(step=state.step + 5)

  # Step 6 is poisoned: skip_step returns the state it was given, with the step advanced.
  s7, metrics = skip.step(state_at_step_6(), batch6)
  assert float(metrics["nonfinite"]) == 1.0 and np.isnan(float(metrics["d_loss"]))
  assert int(s7.step) == 7
  s6 = state_at_step_6()
  chex.assert_trees_all_equal(as_dict(s7.replace(step=s6.step)), as_dict(s6))
  # stop: the state is returned as computed (non-finite); the loop refuses to save it.
  t7, metrics = stop.step(state_at_step_6(), batch6)
  assert float(metrics["nonfinite"]) == 1.0 and not bool(_all_finite(t7))


@pytest.mark.slow
def test_nan_stops_the_run_keeps_the_last_good_checkpoint_and_skip_step_finishes(
    small_npz, tmp_path):
  workdir = tmp_path / "run"
  config = _mlp_config(small_npz, **{"run.debug_nan_step": 6})
  with pytest.raises(faults.NonFiniteError) as error:
    program.train(config, str(workdir))
  message = str(error.value)
  assert isinstance(error.value, UserError) and "\n" not in message
  assert "non-finite loss or parameters at step 6" in message, message
  assert f"last good checkpoint, step 4 in {workdir / 'checkpoints'}, is kept" in message
  assert "config.run.on_nonfinite='skip_step'" in message and "--config" not in message
  assert sorted(os.listdir(workdir / "checkpoints")) == ["4"]  # Step 8 was never saved.
  good = info.workdir_info(str(workdir))[1]
  assert bool(_all_finite(good)) and int(good["step"]) == 4
  assert [r["step"] for r in _records(workdir)] == [4]

  # The same run, resumed with skip_step (a field that may change on resume), finishes.
  config.run.on_nonfinite = "skip_step"
  state = program.train(config, str(workdir))
  assert int(state.step) == 12 and bool(_all_finite(state))
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


@pytest.fixture(scope="module")
def ten_steps(small_npz, tmp_path_factory):
  """The uninterrupted run of the signal tests."""
  workdir = tmp_path_factory.mktemp("ten_steps") / "run"
  program.train(_mlp_config(small_npz, num_steps=10), str(workdir), hooks=[])
  return workdir


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_the_current_step_and_the_resumed_run_is_the_same(
    small_npz, ten_steps, tmp_path, signum):
  config = _mlp_config(small_npz, num_steps=10)
  previous = signal.getsignal(signum)
  with pytest.raises(faults.RunInterrupted) as error:
    program.train(config, str(tmp_path / "cut"), hooks=[_signal_hook(signum, 7)])
  assert signal.getsignal(signum) is previous  # The handler is put back.
  name = signal.Signals(signum).name
  assert str(error.value) == (f"{name} at step 7: saved checkpoint 7 in "
                              f"{tmp_path / 'cut' / 'checkpoints'}; run the same command "
                              f"again to resume")
  assert error.value.signum == signum and error.value.step == 7
  assert sorted(os.listdir(tmp_path / "cut" / "checkpoints"), key=int) == ["4", "7"]
  program.train(config, str(tmp_path / "cut"), hooks=[])
  assert _digest(tmp_path / "cut") == _digest(ten_steps)
  # Step 7 is inside the log window 5-8: the checkpoint kept steps 5-7's metrics, so the
  # resumed run's record at 8 is the mean of 5-8, as the uninterrupted run's is.
  assert [r["step"] for r in _records(tmp_path / "cut")] == [4, 8, 10]
  assert _comparable(_records(tmp_path / "cut")) == _comparable(_records(ten_steps))
  # One log state per kept checkpoint (the oldest ones went with their checkpoints).
  kept = info.workdir_info(str(tmp_path / "cut"))[0]["checkpoints"]
  assert kept == [7, 8, 10]
  assert sorted(os.listdir(tmp_path / "cut" / "log_state")) == sorted(f"{s}.json" for s in kept)


@pytest.mark.slow
def test_a_changed_loss_is_refused_unless_allowed_and_then_recorded(small_npz, tmp_path):
  workdir = str(tmp_path / "run")
  config = _mlp_config(small_npz, num_steps=4)
  program.train(config, workdir)
  changed = _mlp_config(small_npz, num_steps=8, **{"loss.name": "hinge", "run.log_every": 2})
  before = open(os.path.join(workdir, "config.json")).read()
  with pytest.raises(UserError, match=r"loss\.name: 'non_saturating' -> 'hinge'.*"
                                      r"allow_config_change=loss\.name") as error:
    program.train(changed, workdir)
  assert "--" not in str(error.value)  # The library names fields, never flags.
  with pytest.raises(UserError, match=r"unknown config fields \['los'\]"):
    program.train(changed, workdir, allow_config_change=["los"])
  assert open(os.path.join(workdir, "config.json")).read() == before
  lines = []
  state = program.train(changed, workdir, allow_config_change=["loss.name"], log=lines.append)
  assert int(state.step) == 8
  assert "Changing ['loss.name'] from step 4 on (allow_config_change)." in lines
  assert json.load(open(os.path.join(workdir, "config.json")))["loss"]["name"] == "hinge"
  with open(os.path.join(workdir, "config_changes.jsonl")) as f:
    assert [json.loads(line) for line in f] == [
        {"step": 4, "changes": {"loss.name": ["non_saturating", "hinge"]}}]


@pytest.mark.slow
def test_num_steps_changed_on_resume_under_a_cosine_schedule_is_refused_or_exact(
    small_npz, tmp_path):
  cosine = lambda num_steps: _mlp_config(small_npz, num_steps=num_steps,
                                         **{"optim.lr_schedule": "cosine"})
  program.train(cosine(2), str(tmp_path / "resumed"))
  try:
    resumed = program.train(cosine(4), str(tmp_path / "resumed"))
  except UserError as error:  # Refused: fine, if it names the field.
    assert "num_steps" in str(error)
    return
  whole = program.train(cosine(4))
  as_dict = flax.serialization.to_state_dict
  chex.assert_trees_all_equal(as_dict(resumed), as_dict(whole))


def test_partial_checkpoint_and_torn_metrics_line_are_ignored_and_cleaned(small_npz, tmp_path):
  workdir = tmp_path / "run"
  config = _mlp_config(small_npz, num_steps=8)
  program.train(config, str(workdir))
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
  program.train(config, str(workdir))
  assert not glob.glob(str(workdir / "checkpoints" / TMP_PATTERN))
  assert [r["step"] for r in _records(workdir)] == [4, 8, 12]
  assert _digest(workdir, 8) == digest8


# ------------------------------------------------------------------ SIGKILL, SIGTERM

# 100 steps of the narrow DCGAN on real MNIST digits; a checkpoint every 10 steps.
NUM_STEPS = 100
CRASH_ARGS = (f"--config.num_steps={NUM_STEPS}", "--config.run.checkpoint_every=10",
              "--config.run.log_every=10", "--config.run.sample_every=0", "--config.seed=5",
              *conftest.SMALL_DCGAN_FLAGS)


def _popen(workdir, dataset):
  """`python -m experiments.dcgan_mnist` in the background, as `conftest.run_module` runs it."""
  return subprocess.Popen(
      [sys.executable, "-m", "experiments.dcgan_mnist", f"--workdir={workdir}",
       f"--config.dataset={dataset}", *CRASH_ARGS],
      cwd=conftest.ROOT, env=conftest.subprocess_env(), stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True)


def _complete_steps(workdir):
  directory = os.path.join(workdir, "checkpoints")
  names = os.listdir(directory) if os.path.isdir(directory) else []
  return sorted(int(n) for n in names if n.isdigit())


def _wait(process, condition, timeout=240.0, poll=0.02):
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
  return err


def _comparable(records):
  timing = ("steps_per_sec", "train_seconds", "train_cpu_seconds")  # Differ run to run.
  return [{k: v for k, v in r.items() if k not in timing} for r in records]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, digits):
  """The run of `CRASH_ARGS`, trained in this process without a break."""
  from experiments import dcgan_mnist  # pylint: disable=g-import-not-at-top
  workdir = tmp_path_factory.mktemp("uninterrupted") / "run"
  config = conftest.set_fields(
      dcgan_mnist.get_config(), dataset=digits, num_steps=NUM_STEPS, seed=5, batch_size=16,
      **{"run.checkpoint_every": 10, "run.log_every": 10, "run.sample_every": 0,
         "run.progress_bar": False, "model.g_widths": (32, 16, 8), "model.d_widths": (8, 16)})
  program.train(config, str(workdir))
  return workdir


@pytest.mark.slow
def test_sigkill_at_random_moments_then_sigterm_give_the_uninterrupted_run(
    uninterrupted, digits, tmp_path):
  """The command, killed in round i once checkpoint 10(i+1) exists: after a random
  delay, or the moment a checkpoint write is under way (a temporary directory exists);
  then stopped by SIGTERM, which saves the step it arrived at; resumed every time."""
  workdir = tmp_path / "run"
  rounds = 3
  rng = random.Random(7)
  during_write = set(rng.sample(range(rounds), 2))
  kills, torn_writes = [], 0
  for i in range(rounds):
    process = _popen(workdir, digits)
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
  assert len(kills) == rounds
  assert torn_writes >= 1, kills  # Some kills did land in the middle of a checkpoint write.

  # SIGTERM, once this process saved a checkpoint (its handler is set): the run saves
  # the step the signal arrived at, says so in one line, and exits with 128 + 15.
  resumed_from = _complete_steps(workdir)[-1]
  process = _popen(workdir, digits)
  _wait(process, lambda: _complete_steps(workdir)[-1] > resumed_from)
  process.send_signal(signal.SIGTERM)
  _, err = process.communicate(timeout=120)
  assert process.returncode == 128 + signal.SIGTERM, err[-3000:]
  lines = [line for line in err.splitlines() if line.strip()]
  assert f"Resuming {workdir} from step {resumed_from}." in lines, err[-3000:]
  assert [line for line in lines if "SIGTERM" in line] == lines[-1:], err[-3000:]
  assert lines[-1].startswith("SIGTERM at step ") and "Traceback" not in err, err[-3000:]
  step = int(lines[-1].split()[3].rstrip(":"))
  assert lines[-1] == (f"SIGTERM at step {step}: saved checkpoint {step} in "
                       f"{workdir / 'checkpoints'}; run the same command again to resume")
  assert resumed_from < step < NUM_STEPS and _complete_steps(workdir)[-1] == step

  assert f"Resuming {workdir} from step {step}." in _finish(workdir, digits)
  assert not glob.glob(str(workdir / "checkpoints" / TMP_PATTERN))
  assert _digest(workdir) == _digest(uninterrupted)
  # Even the logs are those of the uninterrupted run: a crash's extra records are dropped.
  assert _comparable(_records(workdir)) == _comparable(_records(uninterrupted))
