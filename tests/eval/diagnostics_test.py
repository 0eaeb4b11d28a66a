"""Live diagnostics: held-out vs training accuracy of D, gradient norms, class histograms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import build, data
from gan.errors import ConfigError
from gan.eval import diagnostics, features, hooks


def test_accuracy_and_input_gradient_norm_by_hand():
  assert float(diagnostics.accuracy_real(jnp.array([1.0, -2.0, 0.5, 0.0]))) == 0.5
  w = jnp.array([3.0, 4.0])  # D(x) = <w, x>: ||grad|| = 5 everywhere.
  x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 2)), jnp.float32)
  assert float(diagnostics.input_gradient_norm(lambda v: v @ w, x)) == pytest.approx(5.0)
  packed = lambda v: v.reshape(3, 4) @ jnp.array([3.0, 4.0, 0.0, 0.0])  # One output per pair.
  assert float(diagnostics.input_gradient_norm(packed, x)) == pytest.approx(5.0)
  grads = {"Dense_0": {"kernel": jnp.array([3.0, 4.0])}, "Dense_1": {"bias": jnp.array([1.0])}}
  norms = diagnostics.layer_gradient_norms(grads, "d_grad_norm")
  assert {k: float(v) for k, v in norms.items()} == {"d_grad_norm/Dense_0": 5.0,
                                                      "d_grad_norm/Dense_1": 1.0}


def test_class_histogram_kl_by_hand():
  # q = (1/2, 1/2, 0), p = (1/4, 1/4, 1/2): 2 * 1/2 log 2 = log 2.
  assert diagnostics.class_histogram_kl([5, 5, 0], [1, 1, 2]) == pytest.approx(np.log(2))
  assert diagnostics.class_histogram_kl([1, 1], [1, 1]) == 0.0
  assert diagnostics.class_histogram_kl([1, 1], [1, 0]) == float("inf")


def _intensity_classifier(grey_uint8):
  """Class = round(mean pixel / 255 * 9): a stand-in for a trained digit classifier."""
  digit = np.round(grey_uint8.mean(axis=(1, 2, 3)) / 255 * 9).astype(int)
  return np.eye(10)[digit]


def test_sample_class_metrics_grey_and_stacked():
  # Grey images whose constant value encodes the class: classes 0, 9, 9, 9.
  levels = np.array([-1.0, 1.0, 1.0, 1.0])
  samples = np.broadcast_to(levels[:, None, None, None], (4, 8, 8, 1))
  labels = np.arange(10)  # Uniform real classes.
  out = diagnostics.sample_class_metrics(samples, _intensity_classifier, labels, 10)
  assert out["sample_modes"] == 2
  assert out["sample_class_frac/0"] == 0.25 and out["sample_class_frac/9"] == 0.75
  # KL(q || uniform) = log 10 - H(1/4, 3/4).
  entropy = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
  assert out["sample_class_kl"] == pytest.approx(np.log(10) - entropy)
  stacked = np.broadcast_to(np.array([[-1.0, 1.0, -1.0]])[:, None, None, :], (2, 8, 8, 3))
  out = diagnostics.sample_class_metrics(stacked, _intensity_classifier, labels, 10)
  assert out["sample_modes"] == 1  # (0, 9, 0) twice.
  assert out["sample_class_kl"] == pytest.approx(np.log(1000))
  assert "sample_class_frac/0" not in out


@pytest.fixture(autouse=True)
def _empty_extractor_cache(monkeypatch, tmp_path):
  """No cached classifier: the hook looks in the cache for the data set's extractor."""
  monkeypatch.setenv(features.CACHE_ENV, str(tmp_path))


def _tiny_dataset(with_test_split=True):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
  labels = rng.integers(0, 10, (64,))
  return data.from_arrays("tiny", images[:48], labels[:48],
                          images[48:] if with_test_split else None,
                          labels[48:] if with_test_split else None)


def _tiny_run(dataset, **overrides):
  """An MLP GAN (8-wide, dropout, packs of 2) on `dataset`, diagnostics every step."""
  config = conftest.tiny_mlp_config("tiny", **{
      "model.g_widths": (8,), "model.d_widths": (8,), "model.dropout_rate": 0.3,
      "model.noise_dim": 4, "model.pack": 2, "eval.diagnostics_every": 1, **overrides})
  return build.build(config, dataset)


@pytest.fixture(scope="module")
def tiny_run():
  return _tiny_run(_tiny_dataset())


def test_the_hook_reports_train_and_heldout_accuracy_of_d(tiny_run):
  run, dataset = tiny_run, tiny_run.data
  (default,) = hooks.default_hooks(run)
  assert default.every == 1 and default.name == "diagnostics"
  hook = diagnostics.diagnostics_hook(run, classifier=_intensity_classifier, num_examples=16)
  state = run.init_state()
  values = hook(0, state)
  d_apply = jax.jit(lambda x: state.discriminator.apply_fn(
      {"params": state.discriminator.params}, x.astype(np.float32) / 127.5 - 1, train=False))
  train_acc = float(np.mean(np.asarray(d_apply(dataset.train_images[:16])) > 0))
  heldout_acc = float(np.mean(np.asarray(d_apply(dataset.test_images[:16])) > 0))
  assert values["d_acc_train_real"] == pytest.approx(train_acc)
  assert values["d_acc_heldout_real"] == pytest.approx(heldout_acc)
  assert values["d_overfit_gap"] == pytest.approx(train_acc - heldout_acc)
  for name in ("d_acc_fake", "d_input_grad_norm_real", "d_input_grad_norm_fake",
               "g_grad_norm/Dense_0", "d_grad_norm/discriminator", "sample_modes",
               "sample_class_kl", "sample_class_frac/0"):
    assert np.isfinite(values[name]), name
  assert sum(values[f"sample_class_frac/{k}"] for k in range(10)) == pytest.approx(1.0)
  # The class histogram is that of the hook's fixed samples, G(z) for z from key(1).
  z = jax.random.normal(jax.random.key(1), (16, 4))
  samples = np.asarray(run.generate(state, {"z": z}))
  expected = diagnostics.sample_class_metrics(samples, _intensity_classifier,
                                              dataset.train_labels, 10)
  assert {k: values[k] for k in expected} == pytest.approx(expected)
  assert hook(0, state) == values  # Fixed batches: same state, same numbers.


def test_no_test_split_means_no_heldout_metrics():
  run = _tiny_run(_tiny_dataset(with_test_split=False))
  values = diagnostics.diagnostics_hook(run, num_examples=16)(0, run.init_state())
  assert "d_acc_heldout_real" not in values and "d_overfit_gap" not in values
  assert "d_acc_train_real" in values
  assert not any(k.startswith("sample_") for k in values)  # No classifier cached for it.


def test_the_hooks_the_config_asks_for_and_refuses():
  assert hooks.default_hooks(_tiny_run(_tiny_dataset(), **{"eval.diagnostics_every": 0})) == []
  # Diagnostics are for the unconditional GAN; every hook needs an image data set.
  conditional = _tiny_run(_tiny_dataset(), task="conditional_gan", **{"model.pack": 1})
  with pytest.raises(ConfigError, match=r"^config\.eval\.diagnostics_every=1 is for the "
                                        r"unconditional GAN, not task conditional_gan"):
    hooks.default_hooks(conditional)
  mixture = build.build(conftest.tiny_mlp_config("mixture:grid", **{
      "model.name": "toy", "eval.every": 2}))
  with pytest.raises(ConfigError, match=r"^config\.eval\.every=2 asks for evaluation during "
                                        r"training, which needs an image data set"):
    hooks.default_hooks(mixture)
