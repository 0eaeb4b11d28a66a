"""Shared fixtures: the real data sets in ../shared/data, tiny configs, subprocess helpers.

Every test process (this one and the subprocesses of `run_module`) shares one JAX
compilation cache for the session: a program compiled once (the tiny MLP and DCGAN
steps most tests train) is read back by later builds instead of compiled again. The
executable, and so every number, is the same.
"""

import os
import shutil
import subprocess
import sys
import tempfile

import jax
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One cache per test session, shared by pytest-xdist's workers and their subprocesses (they
# inherit GAN_TEST_CACHE_DIR from the process that made it): a program one worker
# compiled is read back by the other. The process that made it deletes it at the end.
_CACHE_VARIABLE = "GAN_TEST_CACHE_DIR"
_OWNS_CACHE = _CACHE_VARIABLE not in os.environ
if _OWNS_CACHE:
  os.environ[_CACHE_VARIABLE] = tempfile.mkdtemp(prefix="gan-test-jax-cache-")
_CACHE_DIR = os.environ[_CACHE_VARIABLE]
SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")

# Every program goes into the cache, however fast it compiled (JAX's default keeps only
# those over a second): the many small programs (metrics, samplers, the ops jnp calls
# jit) are compiled again in each worker and subprocess otherwise, and reading them back
# is faster. Side by side on 8 test files (-n 2, a fresh cache each, three pairs back to
# back): a median of 104 s (177 CPU s) with every program cached against 110 s (194 CPU
# s) with those over 0.5 s only (docs/test_suite_times.json).
CACHE_ENV = {"JAX_COMPILATION_CACHE_DIR": _CACHE_DIR,
             "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
jax.config.update("jax_compilation_cache_dir", _CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
# The suite compiles fast: XLA's optimisations mostly off (`jax_disable_most_optimizations`:
# XLA:CPU's backend level 0, no expensive LLVM passes) and XLA:CPU's older fusion emitters
# (`--xla_cpu_use_fusion_emitters=false`, in XLA_FLAGS, which XLA reads once, when this
# process first compiles). A test's tiny programs run a few steps, so compiling is most of
# its time: the level cut it by about 40% (the tiny DCGAN's first step: 11.1 s against
# 18.0 s), the emitters by about another third (tests/tasks/gan_test.py, vae_test.py and
# build_test.py in one process: 96 s against 141 s, side by side). Not used: one LLVM
# module instead of a split for parallel code generation
# (`--xla_cpu_parallel_codegen_split_count=1`): those files ran 8% faster (49.4 s against
# 53.6 s, medians of three pairs), the whole suite no faster (335 s either way, one pair),
# and at level 0 it makes jnp.max's gradient NaN again (the maxout units of
# tests/rejection_test.py, as the newer emitters did). Float results differ in
# the last bits from a user's default compile, so every process of the session compiles
# alike (`compile_env`, `subprocess_env`). What needs a user's bits or speed runs in a
# subprocess at the default: tests/golden_test.py's digests and the busy-cores run of
# tests/cli/multidevice_test.py. GAN_TEST_DEFAULT_COMPILE=1 runs the whole suite at the
# default.
FAST_COMPILE = "JAX_DISABLE_MOST_OPTIMIZATIONS"
DEFAULT_COMPILE = "GAN_TEST_DEFAULT_COMPILE"
FAST_XLA_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)
_FAST = os.environ.get(DEFAULT_COMPILE) != "1"
_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def xla_flags(devices: int = 1, fast_compile: bool = True) -> str:
  """XLA_FLAGS for a child process: this one's, with `devices` fake CPU devices and
  (when `fast_compile` and the session compiles fast) FAST_XLA_FLAGS."""
  flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
           if not f.startswith(_DEVICE_COUNT_FLAG) and f not in FAST_XLA_FLAGS]
  if devices > 1:
    flags.append(f"{_DEVICE_COUNT_FLAG}={devices}")
  if fast_compile and _FAST:
    flags.extend(FAST_XLA_FLAGS)
  return " ".join(flags)


jax.config.update("jax_disable_most_optimizations", _FAST)
if _FAST:  # Added once; this process's own fake devices (if any) stay.
  os.environ["XLA_FLAGS"] = " ".join(
      dict.fromkeys(os.environ.get("XLA_FLAGS", "").split() + list(FAST_XLA_FLAGS)))
# JAX's own rolled Threefry loop: at the level above it compiles faster than the unrolled
# lowering a user's CPU run registers (`gan.backends.cpu.CPUBackend.prepare` skips it when
# XLA's optimisations are off; the bits are the same, tests/backends/threefry_test.py):
# the tiny SN-ResNet's init compiles in 4.2 s against 7.2 s (docs/speed.md, "Threefry
# and compile time").


# The test files that take longest on 2 cores (the suite prints its 30 slowest tests),
# longest first (the busy-cores test leads: the other worker's first file is a heavy one).
# pytest-xdist hands whole files to its two workers in collection order (with
# --no-loadscope-reorder, in pyproject.toml's addopts; by default it orders files by their
# number of tests, which left the long one-test files for the end), so starting with these
# lets the short files fill in at the end and both workers finish together; every other
# file keeps its place.
LONGEST_FILES = (
    "tests/cli/multidevice_test.py", "tests/tasks/sngan_test.py",
    "tests/tasks/translation_test.py", "tests/notebooks_test.py", "tests/program_test.py",
    "tests/faults_test.py", "tests/benchmarks/benchmark_test.py",
    "tests/eval/evaluate_test.py", "tests/golden_test.py", "tests/tasks/gan_test.py",
    "tests/eval/inception_test.py", "tests/build_test.py", "tests/cli/multiprocess_test.py",
)


def pytest_unconfigure(config):
  del config
  if _OWNS_CACHE:
    shutil.rmtree(_CACHE_DIR, ignore_errors=True)


def pytest_collection_modifyitems(items):
  rank = {name: i for i, name in enumerate(LONGEST_FILES)}
  items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


def shared_data(name: str) -> str:
  """Path of a data set in ../shared/data; skips the test when it is absent."""
  path = os.path.join(SHARED_DATA, name)
  if not os.path.exists(path):
    pytest.skip(f"{path} not found: the real data sets live in ../shared/data beside the repo")
  return path


@pytest.fixture(scope="session")
def mnist_npz() -> str:
  return shared_data("mnist.npz")


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_npz):
  """The first 2,048 training (and 256 test) MNIST digits, with their labels: a
  subprocess reads them in milliseconds where the whole file takes a second."""
  path = tmp_path_factory.mktemp("digits") / "mnist_2k.npz"
  with np.load(mnist_npz) as full:
    np.savez(path, x_train=full["x_train"][:2048], y_train=full["y_train"][:2048],
             x_test=full["x_test"][:256], y_test=full["y_test"][:256])
  return str(path)


def lowered_jit(fn, lowered: bool):
  """`fn`, jitted and traced inside `gan.backends.cpu.CPUBackend().lowering()` when
  `lowered`. A fresh function each time: JAX caches traces by function (not by the Flax
  interceptors in effect), so `fn` itself traced twice would give one program."""
  from gan.backends.cpu import CPUBackend  # pylint: disable=g-import-not-at-top
  jitted = jax.jit(lambda *args: fn(*args))

  def call(*args):
    if lowered:
      with CPUBackend().lowering():
        return jitted(*args)
    return jitted(*args)

  return call


def compile_env(fast_compile: bool = True, devices: int = 1) -> dict:
  """The variables that say how a child process compiles (and its `devices` fake CPU
  devices): as this session does, or with `fast_compile=False` as a user's run does."""
  fast = fast_compile and _FAST
  return {FAST_COMPILE: "1" if fast else "0", DEFAULT_COMPILE: "0" if fast else "1",
          "XLA_FLAGS": xla_flags(devices, fast)}


def subprocess_env(devices: int = 1, env=None, fast_compile: bool = True) -> dict:
  """The environment of a test's `python` subprocess: the repo on PYTHONPATH, `devices`
  fake CPU devices, the session's compilation cache, and (unless `fast_compile` is False:
  a user's default compile) this session's compile settings, so that its bits equal this
  process's."""
  full_env = dict(os.environ)
  full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
  full_env.update(compile_env(fast_compile, devices))
  # One compilation cache for the whole session: later runs of the same program skip
  # XLA compilation (the executable, and so every number, is the same). A child that
  # compiles otherwise than the session (a user's default level) has programs no other
  # process compiles: it writes none.
  if fast_compile or not _FAST:
    for variable, value in CACHE_ENV.items():
      full_env.setdefault(variable, value)
  full_env.update(env or {})
  return full_env


def run_module(module: str, *args: str, devices: int = 1, env=None, timeout: float = 600,
               fast_compile: bool = True):
  """Runs `python -m module args...` from the repo root; returns the CompletedProcess.

  fast_compile: compile as this session does (False: as a user's run does, at the default).
  """
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                        env=subprocess_env(devices, env, fast_compile), capture_output=True,
                        text=True, timeout=timeout)


def run_code(code: str, *, devices: int = 1, env=None, timeout: float = 600,
             fast_compile: bool = True):
  """Runs `python -c code` from the repo root (several runs in one process, one start-up)."""
  return subprocess.run([sys.executable, "-c", code], cwd=ROOT,
                        env=subprocess_env(devices, env, fast_compile), capture_output=True,
                        text=True, timeout=timeout)


def train_in_subprocess(runs, *, devices: int = 1) -> None:
  """`gan.program.train(config, workdir)` for each (config, workdir) of `runs`, in order,
  in one fresh process (one start-up) on `devices` fake devices."""
  import json  # pylint: disable=g-import-not-at-top
  text = json.dumps([(config.to_json(), str(workdir)) for config, workdir in runs])
  code = ("import json, ml_collections\n"
          "from gan import program\n"
          f"for text, workdir in json.loads({text!r}):\n"
          "  program.train(ml_collections.ConfigDict(json.loads(text)), workdir)\n")
  result = run_code(code, devices=devices)
  assert result.returncode == 0, result.stderr[-3000:]


def set_fields(config, **fields):
  """Sets dotted fields: `set_fields(c, num_steps=4, **{"optim.d_lr": 1e-3})`; returns `config`."""
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  for path, value in fields.items():
    parent, _, name = path.rpartition(".")
    (config_lib.get(config, parent) if parent else config)[name] = value
  return config


def train_whole_and_resumed(make_config, root, *, num_steps=4, first_steps=2, log=None):
  """Trains `make_config(n)` for `num_steps` in one go (root/whole) and for `first_steps`,
  then resumed to `num_steps` (root/resumed); `log` takes the resumed call's lines."""
  from gan import program  # pylint: disable=g-import-not-at-top
  program.train(make_config(num_steps), str(root / "whole"))
  program.train(make_config(first_steps), str(root / "resumed"))
  program.train(make_config(num_steps), str(root / "resumed"), log=log)


def run_samples(workdir, num: int = 16) -> np.ndarray:
  """`num` images from the run in `workdir`'s latest checkpoint, at the inputs of key 0:
  two runs that should agree are compared image for image."""
  from gan import rundir  # pylint: disable=g-import-not-at-top
  run, state = rundir.restore(str(workdir))
  return np.asarray(run.generate(state, run.task.sample_inputs(jax.random.key(0), num)))


def tiny_conditional_config(dataset, num_steps, **overrides):
  """`tiny_mlp_config` as a conditional GAN of `num_steps`, checkpointed and logged every
  2 steps (the whole-then-resumed runs of `train_whole_and_resumed`), then `overrides`."""
  return tiny_mlp_config(dataset, task="conditional_gan", num_steps=num_steps,
                         **{"run.checkpoint_every": 2, "run.log_every": 2, **overrides})


def tiny_mlp_config(dataset, **overrides):
  """The tiny MLP GAN that the in-process tests train (one program: compiled once).

  MLP 32-32, batch 8, noise 16, no dropout, no sample grids; `overrides` set any other
  field by its dotted path (`**{"run.checkpoint_every": 4}`).
  """
  from gan import config as config_lib  # pylint: disable=g-import-not-at-top
  c = config_lib.base_config()
  c.model.name, c.model.g_widths, c.model.d_widths, c.model.dropout_rate = "mlp", (32,), (32,), 0.0
  c.dataset, c.batch_size, c.model.noise_dim = dataset, 8, 16
  c.run.sample_every, c.run.progress_bar = 0, False
  return set_fields(c, **overrides)


# The tiny LeNet extractor recipe the evaluation tests train (compiled once per session):
# 4 steps of 32 on 256 digits, test accuracy on 100; trains in seconds.
TINY_EXTRACTOR_RECIPE = {"conv_widths": (4, 8), "feature_dim": 16, "batch_size": 32,
                         "num_steps": 4, "num_train_examples": 256, "num_test_examples": 100,
                         "learning_rate": 3e-3, "progress_bar": False}


def tiny_extractor_config(**overrides):
  """`gan.eval.features.classifier_config()` with the tiny recipe, then `overrides`."""
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  config = features.classifier_config()
  for key, value in {**TINY_EXTRACTOR_RECIPE, **overrides}.items():
    config[key] = value
  return config


# The narrow DCGAN the end-to-end tests train on the command line: a few steps compile
# and run in seconds on 2 cores.
SMALL_DCGAN_FLAGS = ("--config.batch_size=16", "--config.model.g_widths=(32,16,8)",
                     "--config.model.d_widths=(8,16)", "--config.run.progress_bar=False")
