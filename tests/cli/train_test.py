"""The experiment command line (`gan.cli.train`): flags, errors, --help, resuming.

  python -m experiments.NAME --workdir=W [--config.SECTION.FIELD=V ...]

A mistake on the command line is one `error: ...` line on stderr, exit status 2, no
traceback, and nothing written. The library raises its errors in its own terms
(`config.X`); the command prints them as flags (`--config.X`). The checks of the
values themselves run in process here (`gan.program.train` on the experiment's
config, its message through `gan.cli.as_flags`), and a few through the command, to
cover the path from flag to message.
"""

import hashlib
import os

import numpy as np
import pytest

import conftest
from conftest import run_module
from gan import cli, program
from gan import config as config_lib
from gan.errors import UserError

EXPERIMENT = "experiments.mlp_gan_mnist"


def _error_line(result) -> str:
  """The one `error: ...` line of a command that failed with exit status 2."""
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert result.returncode == 2, result.stderr[-2000:]
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
  assert "Traceback" not in result.stderr
  return lines[0]


def _snapshot(directory):
  out = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
  return out


def test_help_prints_the_docstring_the_flags_and_every_config_field():
  from experiments import dcgan_mnist  # pylint: disable=g-import-not-at-top
  result = run_module("experiments.dcgan_mnist", "--help")
  assert result.returncode == 0, result.stderr[-2000:]
  out = result.stdout
  assert out.startswith(dcgan_mnist.__doc__.strip())  # The module's docstring first.
  lines = out.splitlines()
  for flag in ("--workdir=DIR", "--allow_config_change=F1,F2", "--coordinator_address"):
    assert any(line.strip().startswith(flag) for line in lines), flag
  comments = config_lib.field_comments()
  fields = config_lib.flatten(dcgan_mnist.get_config().to_dict())
  assert len(fields) > 40
  for path, value in fields.items():  # Every field, with the experiment's value ...
    line = f"  --config.{path}={value!r}"
    assert line in lines, line
    if path in comments:  # ... and its comment in base_config below it.
      assert lines[lines.index(line) + 1].strip() == comments[path], path
  assert "Adam" in lines[lines.index("  --config.optim.g_lr=0.0005") + 1]
  assert "--config.model.g_widths=(64, 32, 16)" in out  # dcgan_mnist's own value.


@pytest.mark.parametrize("args,expected", [
    (["--num_steps=100"], "error: --num_steps is a config field: write --config.num_steps=..."),
    (["--config.num_step=3"],
     "error: --config.num_step: no such config field; did you mean --config.num_steps?"),
    # The flat name of the config before its sections (the branch of the case above).
    pytest.param(["--config.loss=hinge"],
                 "error: --config.loss: no such config field; did you mean --config.loss.name?",
                 marks=pytest.mark.slow),
], ids=["bare_field", "misspelt_field", "flat_name"])
def test_a_flag_that_names_no_config_field_suggests_the_one_it_means(tmp_path, args, expected):
  workdir = tmp_path / "run"
  result = run_module(EXPERIMENT, f"--workdir={workdir}", *args)
  assert _error_line(result) == expected
  assert not workdir.exists()


def test_a_missing_workdir_is_one_line_naming_the_flag():
  result = run_module(EXPERIMENT, "--config.num_steps=3")
  line = _error_line(result)
  assert line.startswith("error: --workdir is required: "), line
  assert "--workdir=" in line  # An example of the flag.
  assert "other than None" not in result.stderr  # Not absl's message for a required flag.


def test_a_batch_that_does_not_split_over_the_devices_is_refused(tmp_path):
  # A fresh workdir: the flag's own error must come first, and nothing is created.
  workdir = tmp_path / "run"
  result = run_module(EXPERIMENT, f"--workdir={workdir}", "--config.batch_size=6", devices=4)
  line = _error_line(result)
  assert line == ("error: --config.batch_size=6 is not divisible by the 4 devices; use a "
                  "multiple of 4 (e.g. 4)"), line
  assert not workdir.exists()


# What the command says to a bad value: the library's message, its fields as flags.
BAD_VALUES = [
    ({"model.name": "stylegan"}, "--config.model.name='stylegan' is not an option"),
    ({"dataset": "/nonexistent/mnist.npz"}, "data file '/nonexistent/mnist.npz' not found"),
    ({"dataset": "imagenet"}, "unknown data set 'imagenet'"),
    ({"num_steps": -5}, "--config.num_steps=-5 is negative"),
    ({"loss.name": "minmax"}, "--config.loss.name='minmax' is not a loss"),
    ({"loss.penalty": "gp"}, "--config.loss.penalty='gp' is not a penalty"),
    ({"optim.d_steps": 0}, "--config.optim.d_steps=0 must be a positive integer"),
    ({"run.steps_per_call": 3}, "--config.num_steps=5000 is not a multiple of "
                                "--config.run.steps_per_call=3"),
]


@pytest.mark.parametrize("fields,message", BAD_VALUES, ids=[str(c[0]) for c in BAD_VALUES])
def test_bad_config_values_are_refused_before_anything_is_written(tmp_path, fields, message):
  from experiments import mlp_gan_mnist  # pylint: disable=g-import-not-at-top
  workdir = tmp_path / "run"
  config = conftest.set_fields(mlp_gan_mnist.get_config(), **fields)
  with pytest.raises(UserError) as error:
    program.train(config, str(workdir))
  text = str(error.value)
  assert "\n" not in text and message in cli.as_flags(text), text
  assert not workdir.exists()


@pytest.mark.parametrize("field,value", [("loss.name", "minmax"), ("loss.penalty", "gp")])
def test_an_unknown_loss_or_penalty_names_its_config_field(field, value):
  from gan.tasks import gan as gan_task  # pylint: disable=g-import-not-at-top
  config = conftest.set_fields(config_lib.base_config(), **{field: value})
  with pytest.raises(UserError) as error:
    gan_task.check_config(config)
  text = str(error.value)
  assert f"config.{field}={value!r}" in text and "--config" not in text, text


# ------------------------------------------------------------------------- resuming


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
  """A tiny MLP run of 2 steps, trained in process, on 64 random digits."""
  root = tmp_path_factory.mktemp("existing")
  rng = np.random.default_rng(0)
  np.savez(root / "data.npz", x_train=rng.integers(0, 256, (64, 28, 28), dtype=np.uint8))
  config = conftest.tiny_mlp_config(str(root / "data.npz"), num_steps=2,
                                    **{"run.checkpoint_every": 2})
  program.train(config, str(root / "run"))
  return root / "run"


@pytest.mark.slow
def test_resume_with_a_different_model_is_refused_naming_the_flag_to_allow_it(existing_run):
  before = _snapshot(existing_run)
  # Only the workdir and the field: the rest is the run's own saved config.
  result = run_module(EXPERIMENT, f"--workdir={existing_run}", "--config.model.g_widths=(64,64)",
                      "--config.num_steps=10")
  line = _error_line(result)
  assert "model.g_widths: [32] -> [64, 64]" in line, line
  assert line.endswith("--allow_config_change=model.g_widths"), line
  assert "num_steps" not in line  # A field that may change on resume.
  assert _snapshot(existing_run) == before
