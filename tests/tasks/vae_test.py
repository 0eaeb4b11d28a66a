"""The VAE and the autoencoder as tasks of the one program (`gan.tasks.vae`).

The ELBO's terms (`gan.losses`) against values computed by hand, and the
reparameterisation's gradient numerically and in expectation; the autoencoder's
latent fit against its formulas and against the codes it saw; a tiny conditional VAE
and a tiny autoencoder trained through `gan.program.train` on the first 2,048 MNIST
digits: the loss falls, 4 + 4 resumed steps equal 8 bit for bit, `reconstruct` and
`generate` give images in [-1, 1], and `gan.cli.sample` draws one row per class from
the VAE's workdir. Bad configs raise `ConfigError` naming the field.
"""

import json
import math
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import conftest
from gan import build, losses, program, rundir, tasks
from gan.cli import info
from gan.data import DataSpec
from gan.errors import ConfigError
from gan.images import to_float
from gan.models import vae as vae_models
from gan.tasks import vae

# Tiny networks, XLA's own lowering (compiles fastest; the properties do not depend on it).
TINY = {"batch_size": 16, "model.latent_dim": 4, "model.encoder_widths": (4, 8),
        "model.decoder_widths": (8, 4), "optim.lr": 1e-2, "run.log_every": 2,
        "run.checkpoint_every": 4, "run.sample_every": 0, "run.num_sample_images": 20,
        "run.progress_bar": False, "run.backend": "plain"}


def _config(task, dataset, num_steps, **fields):
  overrides = {**TINY, "dataset": dataset, "num_steps": num_steps}
  if task == "vae":
    overrides["model.conditional"] = True  # The CVAE: the label path and the class grid.
  else:
    overrides["model.latent_fit_decay"] = 0.0  # Exact moments, checked below.
  return conftest.set_fields(vae.config(task), **{**overrides, **fields})


# ------------------------------------------------------------------ the ELBO's terms


def test_gaussian_kl_of_known_gaussians():
  # KL(N(1, e) || N(0, 1)) = (e + 1 - 1 - 1) / 2; dimensions add.
  kl = losses.gaussian_kl(mean=jnp.array([[1.0, 0.0]]), log_variance=jnp.array([[1.0, 0.0]]))
  np.testing.assert_allclose(kl, [(math.e - 1) / 2], rtol=1e-6)
  # KL(N(0, 1) || N(1, 4)) = (log 4 - 0 + (1 + 1) / 4 - 1) / 2.
  kl = losses.gaussian_kl(mean=jnp.zeros((1,)), log_variance=jnp.zeros((1,)),
                          prior_mean=jnp.ones((1,)), prior_log_variance=jnp.log(4.0 * jnp.ones(1)))
  np.testing.assert_allclose(kl, (math.log(4) - 0.5) / 2, rtol=1e-6)
  # Zero between equal Gaussians, positive otherwise.
  mean, log_variance = jax.random.normal(jax.random.key(0), (2, 3, 5))
  np.testing.assert_allclose(losses.gaussian_kl(mean=mean, log_variance=log_variance,
                                                prior_mean=mean, prior_log_variance=log_variance),
                             np.zeros(3), atol=1e-6)
  assert np.all(np.asarray(losses.gaussian_kl(mean=mean, log_variance=log_variance)) > 0)


def test_bernoulli_and_gaussian_log_likelihoods_by_hand():
  # sigmoid(log 3) = 3/4: a 1 has probability 3/4, a 0 has 1/4; pixels of an image add.
  logits = jnp.full((2, 2, 1, 1), math.log(3.0))
  targets = jnp.array([1.0, 0.0, 1.0, 1.0]).reshape(2, 2, 1, 1)
  np.testing.assert_allclose(losses.bernoulli_log_likelihood(logits=logits, targets=targets),
                             [math.log(0.75) + math.log(0.25), 2 * math.log(0.75)], rtol=1e-6)
  # Logits 0: every pixel has log-likelihood log 1/2, whatever its grey level.
  grey = jax.random.uniform(jax.random.key(1), (3, 4, 4, 1))
  np.testing.assert_allclose(losses.bernoulli_log_likelihood(logits=jnp.zeros_like(grey),
                                                             targets=grey),
                             np.full(3, 16 * math.log(0.5)), rtol=1e-6)
  # N(t; mu, 0.1^2) over 4 pixels, each 0.2 away: -4 (0.2^2 / 0.02 + log 0.1 + log(2 pi) / 2).
  mean = jnp.full((1, 2, 2, 1), 0.3)
  expected = -4 * (0.04 / 0.02 + math.log(0.1) + 0.5 * math.log(2 * math.pi))
  np.testing.assert_allclose(losses.gaussian_log_likelihood(mean=mean, targets=mean + 0.2,
                                                            sigma=0.1), [expected], rtol=1e-5)


def test_negative_elbo_is_the_mean_of_reconstruction_plus_beta_kl():
  ll, kl = jnp.array([-10.0, -20.0]), jnp.array([1.0, 3.0])
  assert float(losses.negative_elbo(log_likelihood=ll, kl=kl)) == pytest.approx(17.0)
  assert float(losses.negative_elbo(log_likelihood=ll, kl=kl, beta=2.0)) == pytest.approx(19.0)
  assert float(losses.negative_elbo(log_likelihood=ll, kl=kl, beta=0.0)) == pytest.approx(15.0)


def test_reparameterised_gradient_numerically_and_in_expectation():
  key = jax.random.key(2)
  mean, log_variance = jnp.array([0.5, -1.0]), jnp.array([0.3, -0.4])
  f = lambda m, lv: jnp.sum(jnp.sin(vae_models.reparameterized_sample(key, m, lv)))
  check_grads(f, (mean, log_variance), order=1, modes=["rev"], eps=1e-3, atol=1e-2, rtol=1e-2)
  # E[z^2] = mu^2 + exp(lv): d/dmu = 2 mu, d/dlv = exp(lv); the estimate averages 8192 draws.
  keys = jax.random.split(key, 8192)
  g = jax.grad(lambda m, lv: jnp.mean(jax.vmap(
      lambda k: jnp.sum(vae_models.reparameterized_sample(k, m, lv) ** 2))(keys)),
               argnums=(0, 1))(mean, log_variance)
  np.testing.assert_allclose(g[0], 2 * mean, atol=0.08)
  np.testing.assert_allclose(g[1], jnp.exp(log_variance), rtol=0.08)


# ----------------------------------------------------------------- the latent fit


def test_latent_fit_exact_and_ema_by_hand():
  batches = [jnp.array([[0.0], [2.0]]), jnp.array([[4.0], [4.0]]), jnp.array([[1.0], [1.0]])]
  exact = ema = vae.initial_moments(1)
  for codes in batches:
    exact = vae.update_moments(exact, codes)
    ema = vae.update_moments(ema, codes, decay=0.5)
  everything = np.array([0.0, 2.0, 4.0, 4.0, 1.0, 1.0])
  assert int(exact.count) == 6
  np.testing.assert_allclose(exact.mean, [everything.mean()], rtol=1e-6)
  np.testing.assert_allclose(exact.covariance, [[everything.var()]], rtol=1e-6)
  # Decay 1/2: alpha = 1, 1/2 (exact so far: mean 2.5, variance 2.75), then max(1/3, 1/2):
  # mean 2.5 / 2 + 1 / 2 = 1.75; variance 2.75 / 2 + 0 + (1/4) (1 - 2.5)^2 = 1.9375.
  np.testing.assert_allclose(ema.mean, [1.75], rtol=1e-6)
  np.testing.assert_allclose(ema.covariance, [[1.9375]], rtol=1e-6)
  # The sampler's factor: L L^T is the covariance, up to the jitter.
  moments = vae.LatentMoments(count=jnp.array(4), mean=jnp.array([1.0, -1.0]),
                              covariance=jnp.array([[2.0, 0.6], [0.6, 1.0]]))
  mean, cholesky = vae.gaussian_fit(moments)
  np.testing.assert_allclose(cholesky @ cholesky.T, moments.covariance, rtol=1e-4)
  assert float(cholesky[0, 1]) == 0.0


# ------------------------------------------------------------ training, resuming


@pytest.fixture(scope="module")
def runs(tmp_path_factory, digits):
  """Each task: 8 steps in one go, and 4 resumed to 8."""
  root = tmp_path_factory.mktemp("vae")
  for task in ("vae", "autoencoder"):
    program.train(_config(task, digits, 8), str(root / task / "whole"))
    program.train(_config(task, digits, 4), str(root / task / "resumed"))
    program.train(_config(task, digits, 8), str(root / task / "resumed"))
  return root


@pytest.mark.parametrize("task", ["vae", "autoencoder"])
def test_trains_and_resumes_bit_for_bit(runs, task):
  whole, resumed = (info.workdir_info(str(runs / task / name)) for name in ("whole", "resumed"))
  assert whole[0]["step"] == resumed[0]["step"] == 8
  assert whole[0]["digest"] == resumed[0]["digest"]
  chex.assert_trees_all_equal(whole[1], resumed[1])
  with open(runs / task / "whole" / rundir.METRICS_FILE, encoding="utf-8") as f:
    records = [json.loads(line) for line in f if '"loss"' in line]
  assert [r["step"] for r in records] == [2, 4, 6, 8]
  assert records[-1]["loss"] < 0.9 * records[0]["loss"]  # From ~540 nats (784 log 2).
  if task == "vae":
    assert all(r["kl"] > 0 and r["loss"] >= r["recon"] for r in records)
  else:
    assert int(whole[1]["latent_moments"]["count"]) == 8 * TINY["batch_size"]
  assert os.path.isfile(runs / task / "whole" / "samples" / "step_000008.png")


def test_autoencoder_fit_is_the_mean_and_covariance_of_the_codes_it_saw(digits):
  run = build.build(_config("autoencoder", digits, 8))
  state = run.init_state()
  encoder = run.task.parts["encoder"]
  codes = []
  for step in range(3):
    batch = run.batch(step)
    params = jax.device_get(state.params["encoder"])
    codes.append(np.asarray(encoder.apply({"params": params}, to_float(batch["image"][0]))))
    state, _ = run.step(state, batch)
  codes = np.concatenate(codes).astype(np.float64)
  fit = state.latent_moments
  assert int(fit.count) == len(codes) == 48
  np.testing.assert_allclose(fit.mean, codes.mean(axis=0), rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(fit.covariance, np.cov(codes, rowvar=False, bias=True),
                             rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("task", ["vae", "autoencoder"])
def test_reconstruct_and_generate_give_images_in_range(runs, digits, task):
  run, state = rundir.restore(str(runs / task / "whole"))
  with np.load(digits) as data:
    images, labels = data["x_test"][:6, :, :, None], data["y_test"][:6].astype(np.int32)
  inputs = {"image": to_float(jnp.asarray(images)), "label": labels}
  out = np.asarray(run.task.reconstruct(state, inputs))
  chex.assert_shape(out, (6, 28, 28, 1))
  assert out.min() >= -1.0 and out.max() <= 1.0
  np.testing.assert_array_equal(out, run.task.reconstruct(state, inputs))  # The mean: no noise.
  samples = run.sample(state, 5, jax.random.key(0))
  assert samples.shape == (5, 28, 28, 1) and -1 <= samples.min() and samples.max() <= 1
  parts = run.task.parts
  assert parts["latent_dim"] == parts["noise_dim"] == 4
  assert parts["num_classes"] == (10 if task == "vae" else 0)


@pytest.mark.slow
def test_sample_command_draws_one_row_per_class_from_a_vae_workdir(runs, tmp_path):
  out, npz = tmp_path / "grid.png", tmp_path / "samples.npz"
  result = conftest.run_module("gan.cli.sample", f"--workdir={runs / 'vae' / 'whole'}",
                               "--num=20", f"--out={out}", f"--npz={npz}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert out.is_file()
  with np.load(npz) as saved:
    assert saved["x"].shape == (20, 28, 28, 1) and saved["x"].dtype == np.uint8


# ---------------------------------------------------------------------- configs


def test_tasks_and_their_config_templates():
  assert tasks.get("vae") is tasks.get("autoencoder") is vae
  assert tasks.config_template("vae").loss.beta == 1.0
  assert tasks.config_template("autoencoder").model.latent_fit_decay == 0.999
  assert "beta" not in tasks.config_template("autoencoder").loss


@pytest.mark.parametrize("task, field, value", [
    ("vae", "model.latent_dim", 0),
    ("vae", "loss.beta", -1.0),
    ("vae", "loss.likelihood", "poisson"),
    ("vae", "loss.decoder_sigma", 0.0),
    ("vae", "model.decoder_widths", (8,)),
    ("vae", "optim.lr", 0.0),
    ("autoencoder", "model.latent_fit_decay", 1.0),
    ("autoencoder", "model.encoder_widths", (4, 0)),
])
def test_bad_fields_raise_config_errors_naming_them(task, field, value):
  config = _config(task, "unused", 4, **{field: value})
  with pytest.raises(ConfigError, match=f"config.{field}=") as error:
    vae.check_config(config)
  assert error.value.field == field


def test_conditional_on_unlabelled_data_and_points_are_refused():
  unlabelled = DataSpec(name="unlabelled.npz", shape=(28, 28, 1), num_classes=1)
  with pytest.raises(ConfigError, match="needs labelled data") as error:
    build.build(_config("vae", "unlabelled.npz", 4), unlabelled)
  assert error.value.field == "model.conditional"
  points = DataSpec(name="mixture:ring", shape=(2,), num_classes=8, kind="points")
  with pytest.raises(ConfigError, match="square images") as error:
    build.build(_config("autoencoder", "mixture:ring", 4), points)
  assert error.value.field == "dataset"


def test_decoder_makes_mnist_and_cifar_shapes_and_conditions_on_labels():
  for shape in ((28, 28, 1), (32, 32, 3)):
    decoder = vae_models.ConvDecoder(image_shape=shape, widths=(8, 4, 4), num_classes=10)
    encoder = vae_models.ConvEncoder(latent_dim=3, widths=(4, 8, 8), num_classes=10)
    labels = jnp.arange(2)
    z = jnp.zeros((2, 3))
    logits, params = jax.eval_shape(
        lambda: (lambda p: (decoder.apply(p, z, labels), p))(
            decoder.init(jax.random.key(0), z, labels)))
    assert logits.shape == (2,) + shape
    # The projection reads [z, onehot(y)]: 3 + 10 inputs.
    assert params["params"]["Dense_0"]["kernel"].shape[0] == 13
    (mean, log_variance) = jax.eval_shape(
        lambda: encoder.apply(encoder.init(jax.random.key(0), jnp.zeros((2,) + shape), labels),
                              jnp.zeros((2,) + shape), labels))
    assert mean.shape == log_variance.shape == (2, 3)
