"""Live diagnostics: held-out vs training accuracy of D, gradient norms, class histograms."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import config as config_lib
from gan import data, diagnostics, hooks, train


def test_accuracy_and_input_gradient_norm_by_hand():
  assert float(diagnostics.accuracy_real(jnp.array([1.0, -2.0, 0.5, 0.0]))) == 0.5
  w = jnp.array([3.0, 4.0])  # D(x) = <w, x>: ||grad|| = 5 everywhere.
  x = jax.random.normal(jax.random.key(0), (6, 2))
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


def _tiny_setup(with_test_split=True):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8)
  labels = rng.integers(0, 10, (64,))
  dataset = data.from_arrays("tiny", images[:48], labels[:48],
                             images[48:] if with_test_split else None,
                             labels[48:] if with_test_split else None)
  c = config_lib.base_config()
  c.model, c.g_widths, c.d_widths, c.dropout_rate = "mlp", (8,), (8,), 0.3
  c.batch_size, c.noise_dim, c.pack, c.diagnostics_every = 8, 4, 2, 1
  gan = train.setup(c, dataset.image_shape)
  return c, dataset, gan


def test_the_hook_reports_train_and_heldout_accuracy_of_d():
  c, dataset, gan = _tiny_setup()
  (hook,) = hooks.default_hooks(c, dataset, gan)
  hook = diagnostics.diagnostics_hook(c, dataset, gan, classifier=_intensity_classifier,
                                      num_examples=16)
  state = gan.init_state()
  values = hook(0, state)
  d_apply = lambda x: state.discriminator.apply_fn({"params": state.discriminator.params},
                                                   x.astype(np.float32) / 127.5 - 1, train=False)
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
  assert hook(0, state) == values  # Fixed batches: same state, same numbers.


def test_no_test_split_means_no_heldout_metrics():
  c, dataset, gan = _tiny_setup(with_test_split=False)
  values = diagnostics.diagnostics_hook(c, dataset, gan, num_examples=16)(0, gan.init_state())
  assert "d_acc_heldout_real" not in values and "d_acc_train_real" in values
  assert not any(k.startswith("sample_") for k in values)  # No classifier cached for it.
