"""Bad input, as a table: each case gives one clear line naming the fix, and changes no file.

Most cases call the library API in process (fast): its `UserError` is one line in the
library's own terms (config fields as `config.X`, arguments by name). A handful run
the command-line tools, whose errors must be one `error: ...` line on stderr (names
as flags), exit status 2, no traceback. Before and after every case, every file under
the test's directory (an existing run, its copies, the data files) is hashed: nothing
may change, appear or disappear. tests/cli/train_test.py holds the experiment
command's own cases (flags that name no field, unknown loss, indivisible batch,
negative steps, ...); they are not repeated.
"""

import contextlib
import hashlib
import os
import pathlib
import shutil
import subprocess
import types

import numpy as np
import pytest

import conftest
from conftest import run_module
from gan import checkpointing, data, losses, models, program, rundir
from gan.cli import info
from gan.errors import UserError
from gan.eval import evaluate


def _mlp_config(dataset=None, **overrides):
  return conftest.tiny_mlp_config(dataset, **{"num_steps": 2, "run.checkpoint_every": 2,
                                           "run.log_every": 2, **overrides})


def _snapshot(root):
  """{relative path: sha256} of every file under `root`, and every directory."""
  out = {}
  for directory, subdirs, files in os.walk(root):
    for name in subdirs:
      out[os.path.relpath(os.path.join(directory, name), root) + "/"] = "dir"
    for name in files:
      path = os.path.join(directory, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
  return out


@pytest.fixture(scope="module")
def world(tmp_path_factory):
  """A directory holding data files, an existing run, and damaged copies of it."""
  root = tmp_path_factory.mktemp("bad_input")
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
  np.savez(root / "good.npz", x_train=images, y_train=np.zeros(64, np.int64))
  np.savez(root / "no_x_train.npz", images=images)
  np.savez(root / "tiny.npz", x_train=images[:4])
  np.savez(root / "odd_shape.npz", x_train=rng.integers(0, 256, (64, 30, 26), dtype=np.uint8))
  (root / "garbage.npz").write_bytes(b"this is not a zip archive")
  (root / "a_file").write_text("keep me")
  run = root / "run"
  program.train(_mlp_config(str(root / "good.npz")), str(run))
  # A copy whose newest checkpoint is corrupted (every array file overwritten).
  shutil.copytree(run, root / "corrupted")
  for directory, _, files in os.walk(root / "corrupted" / "checkpoints" / "2"):
    for name in files:
      if not name.startswith("_"):
        with open(os.path.join(directory, name), "r+b") as f:
          f.write(b"\0garbage\0" * 8)
  shutil.copytree(run, root / "bad_config")
  (root / "bad_config" / "config.json").write_text('{"model": {"name": "mlp"}, ')
  shutil.copytree(run, root / "no_data_json")
  os.remove(root / "no_data_json" / "data.json")
  (root / "no_checkpoints").mkdir()
  shutil.copy(run / "config.json", root / "no_checkpoints" / "config.json")
  (root / "out").mkdir()
  return root


def _api_cases(root):
  """(id, function raising UserError, text the message must contain)."""
  good = str(root / "good.npz")
  run = str(root / "run")
  zeros = lambda *shape: np.zeros(shape, np.uint8)
  stub_extractor = types.SimpleNamespace(image_shape=(28, 28, 1), name="stub")

  def train_with(**overrides):
    overrides.setdefault("dataset", good)
    return lambda: program.train(_mlp_config(**overrides), str(root / "new_run"))

  def mixture_lab(**overrides):
    from experiments import mixture_of_gaussians as lab  # pylint: disable=g-import-not-at-top
    return lambda: lab.check_lab_config(conftest.set_fields(lab.get_config(), **overrides))

  cases = [
      # Data: wrong shapes, dtypes, ranges; empty; files without the arrays.
      ("images_2d", lambda: data.from_arrays("x", zeros(5, 784)), "must have shape (N,H,W)"),
      ("images_4_channels", lambda: data.from_arrays("x", zeros(5, 8, 8, 4)), "C in (1, 3)"),
      ("images_strings", lambda: data.from_arrays("x", np.full((2, 4, 4), "a")), "dtype <U1"),
      ("images_above_255", lambda: data.from_arrays("x", np.full((2, 4, 4), 300.0)),
       "outside [0, 255]"),
      ("images_negative", lambda: data.from_arrays("x", np.full((2, 4, 4), -1, np.int32)),
       "outside [0, 255]"),
      ("images_nan", lambda: data.from_arrays("x", np.full((2, 4, 4), np.nan)),
       "outside [0, 255]"),
      ("images_in_minus1_1", lambda: data.from_arrays("x", np.full((2, 4, 4), 0.5)),
       "fractional pixel values"),
      ("empty_dataset", lambda: data.from_arrays("x", zeros(0, 28, 28)), "x_train is empty"),
      ("label_count", lambda: data.from_arrays("x", zeros(5, 4, 4), np.zeros(4, np.int32)),
       "differ in count"),
      ("label_dtype", lambda: data.from_arrays("x", zeros(4, 4, 4), np.zeros(4)),
       "y_train has dtype float64; store integer class labels"),
      ("label_negative", lambda: data.from_arrays("x", zeros(4, 4, 4), np.array([0, -2, 1, 0])),
       "labels from -2 to 1; class labels must be 0..C-1"),
      ("npz_without_x_train", lambda: data.load_dataset(str(root / "no_x_train.npz")),
       "has no x_train array (it has ['images'])"),
      ("npz_garbage", lambda: data.load_dataset(str(root / "garbage.npz")), "cannot read"),
      ("npz_missing", lambda: data.load_dataset(str(root / "missing.npz")), "not found"),
      ("dataset_unknown_name", lambda: data.load_dataset("imagenet21k"), "unknown data set"),
      ("fewer_images_than_a_batch", train_with(dataset=str(root / "tiny.npz")),
       "config.batch_size=8 needs 8 images per step; the data set has 4"),
      ("dcgan_on_30x26_images", train_with(dataset=str(root / "odd_shape.npz"),
                                           **{"model.name": "dcgan"}),
       "dcgan' needs square images"),
      ("conditional_without_labels", train_with(task="conditional_gan"),
       "config.task='conditional_gan' needs labelled data"),
      # Config: unknown names, out-of-range values, wrong types.
      ("loss_unknown", lambda: losses.get_loss("minmax"), "config.loss.name='minmax' is not a loss"),
      ("model_unknown", lambda: models.build("stylegan", image_shape=(28, 28, 1), g_widths=(8,),
                                             d_widths=(8,), dropout_rate=0.0),
       "config.model.name='stylegan' is not a model"),
      ("latent_codes_one", lambda: models.build("toy", image_shape=(2,), g_widths=(8,),
                                                d_widths=(8,), latent_codes=1),
       "config.model.latent_codes=1 must be 0 (off) or an integer >= 2"),
      ("lr_negative", train_with(**{"optim.g_lr": -1e-4}), "config.optim.g_lr=-0.0001 must be > 0"),
      ("beta1_is_1", train_with(**{"optim.beta1": 1.0}), "config.optim.beta1=1.0 must be in [0, 1)"),
      ("widths_empty", train_with(**{"model.g_widths": ()}), "non-empty tuple"),
      ("widths_float", train_with(**{"model.d_widths": (32.5,)}),
       "config.model.d_widths=(32.5,) must be a non-empty tuple of positive integers"),
      ("batch_size_zero", train_with(batch_size=0), "config.batch_size=0 must be a positive"),
      ("keep_no_checkpoints", train_with(**{"run.keep_checkpoints": 0}),
       "config.run.keep_checkpoints=0 must be a positive integer"),
      ("simultaneous_with_two_d_steps", train_with(**{"optim.simultaneous": True,
                                                      "optim.d_steps": 2}),
       "config.optim.d_steps=2 must be 1 with config.optim.simultaneous=True"),
      ("on_nonfinite_unknown", train_with(**{"run.on_nonfinite": "ignore"}),
       "config.run.on_nonfinite='ignore' is not an option; choose one of ['stop', 'skip_step']"),
      ("steps_per_call_not_dividing_log_every",
       train_with(**{"run.steps_per_call": 2, "run.log_every": 3}),
       "config.run.log_every=3 is not a multiple of config.run.steps_per_call=2"),
      ("steps_per_call_zero", train_with(**{"run.steps_per_call": 0}),
       "config.run.steps_per_call=0 must be a positive integer"),
      ("num_seeds_on_host_data", train_with(**{"run.num_seeds": 2}),
       "config.run.num_seeds=2 needs data drawn on the device"),
      ("compute_dtype_unknown", train_with(**{"model.compute_dtype": "float16"}),
       "config.model.compute_dtype='float16' is not a dtype; choose one of float32, bfloat16"),
      ("compute_dtype_for_toy", lambda: models.build("toy", image_shape=(2,), g_widths=(8,),
                                                     d_widths=(8,), compute_dtype="bfloat16"),
       "config.model.compute_dtype='bfloat16' is for the models dcgan, mlp, resnet, not toy"),
      ("debug_nan_step_negative", train_with(**{"run.debug_nan_step": -3}),
       "must be a step >= 0"),
      ("penalty_unknown", train_with(**{"loss.penalty": "gp"}), "is not a penalty"),
      ("mixture_codes_without_noise", mixture_lab(**{"model.latent_codes": 25,
                                                     "model.noise_dim": 1}),
       "needs config.model.noise_dim >= 2"),
      ("mixture_too_few_rejection_candidates", mixture_lab(**{
          "lab.rejection": True, "lab.rejection_candidates": 100}),
       "must be at least config.lab.num_eval_samples=2500"),
      ("mixture_rejection_quantile_above_one", mixture_lab(**{"lab.rejection_quantile": 1.5}),
       "quantile 1.5 must be in (0, 1]"),
      # Workdirs.
      ("workdir_is_a_file", lambda: program.train(_mlp_config(good), str(root / "a_file")),
       "is a file"),
      ("workdir_under_a_file", lambda: program.train(
          _mlp_config(good), str(root / "a_file" / "run")), "which is a file"),
      ("resume_other_model", lambda: program.train(
          _mlp_config(good, **{"model.g_widths": (64,)}), run), "model.g_widths: [32] -> [64]"),
      ("allow_change_unknown_field", lambda: program.train(
          _mlp_config(good, **{"loss.name": "hinge"}), run, allow_config_change=["los"]),
       "unknown config fields ['los']"),
      # Checkpoints and saved runs.
      ("checkpoint_corrupted", lambda: rundir.restore(str(root / "corrupted")),
       "cannot restore checkpoint 2"),
      ("checkpoint_step_missing", lambda: info.workdir_info(run, 7),
       "no checkpoint at step 7"),
      ("no_checkpoints", lambda: info.workdir_info(str(root / "no_checkpoints")),
       "no checkpoint in"),
      ("config_json_corrupted", lambda: info.workdir_info(str(root / "bad_config")),
       "config.json (JSONDecodeError)"),
      ("data_json_missing", lambda: rundir.restore(str(root / "no_data_json")),
       "no readable data.json"),
      ("not_a_run", lambda: rundir.load_run_config(str(root / "out")), "holds no run"),
      ("info_workdir_missing", lambda: info.workdir_info(str(root / "nowhere")),
       "does not exist"),
      ("export_into_missing_dir", lambda: rundir.export_generator(
          run, info.workdir_info(run)[1], str(root / "nowhere" / "g.npz")), "does not exist"),
      ("export_not_a_file", lambda: rundir.load_export(str(root / "garbage.npz")),
       "as a generator export"),
      ("restore_without_checkpoint", lambda: checkpointing.Checkpointer(
          str(root / "no_checkpoints"), create=False).restore(), "no checkpoint in"),
      # Metrics on features and images.
      ("features_1d", lambda: _fid(np.zeros(10), np.zeros((10, 3))), "must be 2-D"),
      ("features_dims_differ", lambda: _fid(np.ones((10, 3)), np.ones((10, 4))),
       "feature_dim 3 but fake_features has 4"),
      ("features_nan", lambda: _fid(np.full((10, 3), np.nan), np.ones((10, 3))), "NaN or inf"),
      ("extractor_float_images", lambda: _extract(stub_extractor, np.zeros((2, 28, 28, 1))),
       "takes uint8 images"),
      ("extractor_wrong_image_shape", lambda: _extract(stub_extractor, zeros(2, 32, 32, 3)),
       "images have shape (32, 32, 3)"),
      # Evaluation.
      ("evaluate_num_samples_zero", lambda: evaluate.make_protocol(
          num_fake=0, num_real=None, split_size=100), "num_samples=0 must be a positive"),
      ("evaluate_split_unknown", lambda: evaluate.make_protocol(
          num_fake=50, num_real=None, split_size=100, real_split="valid"),
       "real_split='valid'"),
      ("evaluate_num_real_too_big", lambda: evaluate.make_protocol(
          num_fake=50, num_real=500, split_size=100), "num_real=500 exceeds the 100 images"),
      ("evaluate_split_smaller_than_samples", lambda: evaluate.make_protocol(
          num_fake=500, num_real=None, split_size=100), "holds 100 images, fewer than the 500"),
      ("evaluate_workdir_missing", lambda: evaluate.evaluate_run(str(root / "nowhere")),
       "does not exist"),
      ("evaluate_step_missing", lambda: evaluate.evaluate_run(run, step=9),
       "no checkpoint at step 9"),
  ]
  return cases


def _fid(real, fake):
  from gan.metrics import fid  # pylint: disable=g-import-not-at-top
  return fid(real, fake)


def _extract(extractor, images):
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  return features.extract(extractor, images)


_CASE_IDS = [case[0] for case in _api_cases(pathlib.Path("/nonexistent"))]  # Ids only.


def test_the_table_has_at_least_20_cases():
  assert len(_CASE_IDS) >= 20 and len(set(_CASE_IDS)) == len(_CASE_IDS)


@pytest.mark.parametrize("case_id", _CASE_IDS)
def test_library_api(world, case_id):
  _, call, expected = next(c for c in _api_cases(world) if c[0] == case_id)
  before = _snapshot(world)
  with pytest.raises(UserError) as error:
    call()
  message = str(error.value)
  assert "\n" not in message and expected in message, message
  assert _snapshot(world) == before


@contextlib.contextmanager
def _read_only(directory):
  """Makes `directory` read-only, for root too (a read-only bind mount), or skips."""
  os.chmod(directory, 0o555)
  mounted = False
  try:
    if os.access(directory, os.W_OK):  # root ignores permission bits.
      result = subprocess.run(["mount", "--bind", "-o", "ro", str(directory), str(directory)],
                              capture_output=True, check=False)
      if result.returncode != 0:
        pytest.skip("cannot make a directory read-only here (root, and no bind mounts)")
      mounted = True
    yield
  finally:
    if mounted:
      subprocess.run(["umount", str(directory)], check=True)
    os.chmod(directory, 0o755)


def test_read_only_workdir(world):
  workdir = world / "read_only_run"
  shutil.copytree(world / "run", workdir)
  before = _snapshot(world)
  try:
    with _read_only(workdir):
      config = _mlp_config(str(world / "good.npz"), num_steps=4)
      with pytest.raises(UserError, match="is not writable; choose a directory you can write"):
        program.train(config, str(workdir))
    assert _snapshot(world) == before
  finally:
    shutil.rmtree(workdir)


# ------------------------------------------------------------------------ commands

CLI_CASES = [
    # (id, module, args ({root} is the test directory), text of the one error line)
    ("info_corrupted_checkpoint", "gan.cli.info", ["{root}/corrupted"],
     "cannot restore checkpoint 2"),
    ("sample_num_zero", "gan.cli.sample", ["--workdir={root}/run", "--num=0",
                                           "--out={root}/out/x.png"], "--num=0 must be"),
    pytest.param("sample_into_missing_dir", "gan.cli.sample",
                 ["--workdir={root}/run", "--out={root}/nowhere/grid.png"],
                 "does not exist; create it", marks=pytest.mark.slow),  # (The path above.)
    ("train_config_value_of_wrong_type", "experiments.mlp_gan_mnist",
     ["--workdir={root}/new_run", "--config.run.checkpoint_every=2.5"],
     "--config.run.checkpoint_every=2.5: invalid literal for int()"),
    ("train_partial_distributed_flags", "experiments.mlp_gan_mnist",
     ["--workdir={root}/new_run", "--num_processes=2"], "give all of --coordinator_address"),
    ("mixture_codes_without_noise", "experiments.mixture_of_gaussians",
     ["--workdir={root}/new_run", "--config.model.latent_codes=25",
      "--config.model.noise_dim=1"], "needs --config.model.noise_dim >= 2"),
    ("evaluate_workdir_missing", "gan.cli.evaluate",
     ["--workdir={root}/nowhere", "--num_samples=0"], "does not exist"),
]


@pytest.mark.parametrize("case_id,module,args,expected", CLI_CASES,
                         ids=[getattr(c, "values", c)[0] for c in CLI_CASES])
def test_command_line(world, case_id, module, args, expected):
  before = _snapshot(world)
  result = run_module(module, *[a.format(root=world) for a in args])
  lines = [line for line in result.stderr.splitlines() if line.strip()]
  assert result.returncode == 2, (case_id, result.stderr[-2000:])
  assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
  assert expected in lines[0] and "Traceback" not in result.stderr, lines[0]
  assert _snapshot(world) == before
