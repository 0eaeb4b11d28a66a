"""Spectral normalisation of the discriminators (gan.models.spectral): sigma, and when u moves."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import models, rundir
from gan.errors import ConfigError
from gan.models.dcgan import DCGANDiscriminator
from gan.models.mlp import MLPDiscriminator
from gan.models.spectral import power_iteration_updates, spectral_normalizer

BATCH = 4


class _SNDense(nn.Module):
  """One spectrally normalised dense layer without bias: x -> x W / sigma(W)."""

  features: int

  @nn.compact
  def __call__(self, x, *, train: bool = True):
    sn = spectral_normalizer(self, enabled=True, train=train)
    return sn(nn.Dense(self.features, use_bias=False))(x)


def _train_steps(module, variables, x, *args, steps: int):
  """`steps` calls with train=True and batch_stats mutable: the vectors advance each time."""
  step = jax.jit(lambda v: module.apply(v, x, *args, train=True, mutable=["batch_stats"])[1])

  for _ in range(steps):
    variables = {**variables, **step(variables)}
  return variables


def _sn_kernels(variables):
  """[(kernel as a (-1, out) matrix, stored sigma)] for every spectrally normalised layer."""
  found = []
  stats = jax.tree_util.tree_flatten_with_path(variables["batch_stats"])[0]
  for path, leaf in stats:
    keys = [k.key for k in path]
    if not keys[-1].endswith("/sigma"):
      continue
    layer, name, _ = keys[-1].split("/")
    params = variables["params"]
    for k in keys[:-2]:  # The layers live where their SpectralNorm wrapper lives.
      params = params[k]
    kernel = np.asarray(params[layer][name])
    found.append((kernel.reshape(-1, kernel.shape[-1]), float(leaf)))
  return found


def test_the_layer_computes_with_unit_spectral_norm_after_power_iterations():
  layer = _SNDense(features=6)
  x = jnp.zeros((1, 10))
  variables = jax.jit(lambda k: layer.init(k, x, train=False))(jax.random.key(0))
  kernel = np.asarray(variables["params"]["Dense_0"]["kernel"])
  top = np.linalg.svd(kernel, compute_uv=False)[0]
  # x -> layer(x) = x W' is linear, with Jacobian W'^T: W' the normalised kernel
  # (train=False: one step from the stored u).
  matrix_of = jax.jit(lambda v: jax.jacfwd(
      lambda x: layer.apply(v, x[None], train=False)[0])(jnp.zeros((10,))))
  first = np.linalg.svd(np.asarray(matrix_of(variables)), compute_uv=False)[0]
  variables = _train_steps(layer, variables, x, steps=50)
  normalised = np.asarray(matrix_of(variables)).T
  np.testing.assert_allclose(normalised, kernel / variables["batch_stats"]["SpectralNorm_0"][
      "Dense_0/kernel/sigma"], rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(np.linalg.svd(normalised, compute_uv=False)[0], 1.0, rtol=1e-4)
  np.testing.assert_allclose(
      variables["batch_stats"]["SpectralNorm_0"]["Dense_0/kernel/sigma"], top, rtol=1e-4)
  # Power iteration approaches sigma from below: one step from a random u falls short.
  assert first > 1.0 + 1e-3


@pytest.mark.parametrize("family", ["dcgan", "mlp", "resnet"])
def test_every_normalised_kernel_of_a_discriminator_reaches_spectral_norm_one(family):
  shape = (28, 28, 1)
  kwargs = dict(image_shape=shape, g_widths=(8, 4, 4), d_widths=(4, 8), dropout_rate=0.0,
                spectral_norm=True)
  _, d = models.build(family, **kwargs)
  x = jax.random.uniform(jax.random.key(1), (BATCH,) + shape, minval=-1.0, maxval=1.0)
  variables = jax.jit(lambda k: d.init(k, x, train=False))(jax.random.key(2))
  expected = {"dcgan": 3, "mlp": 3, "resnet": 3 + 3 + 2 + 2 + 1}[family]
  assert len(_sn_kernels(variables)) == expected  # Every conv and dense layer.
  variables = _train_steps(d, variables, x, steps=60)
  for matrix, sigma in _sn_kernels(variables):
    np.testing.assert_allclose(np.linalg.svd(matrix / sigma, compute_uv=False)[0], 1.0,
                               rtol=2e-3)


@pytest.mark.parametrize("module", [DCGANDiscriminator(widths=(4, 8), dropout_rate=0.0,
                                                       spectral_norm=True),
                                    MLPDiscriminator(hidden_widths=(8,), spectral_norm=True)],
                         ids=["dcgan", "mlp"])
def test_u_changes_only_when_training_with_batch_stats_mutable(module):
  x = jax.random.uniform(jax.random.key(3), (BATCH, 28, 28, 1), minval=-1.0, maxval=1.0)
  variables = jax.jit(lambda k: module.init(k, x, train=False))(jax.random.key(4))
  apply = jax.jit(lambda v, train: module.apply(v, x, train=train, mutable=["batch_stats"]),
                  static_argnums=1)
  trained_logits, trained = apply(variables, True)
  eval_logits, untouched = apply(variables, False)
  changed = rundir.flatten_with_paths(jax.tree.map(
      lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), variables["batch_stats"],
      trained["batch_stats"]))
  # Every u moved, and some sigma (a small layer's sigma can be converged to the last
  # bit after one iteration: the first conv's 16 x 4 matrix, on AMD EPYC).
  assert all(v for name, v in changed.items() if name.endswith("/u")), changed
  assert any(v for name, v in changed.items() if name.endswith("/sigma")), changed
  jax.tree.map(np.testing.assert_array_equal, untouched["batch_stats"],
               variables["batch_stats"])
  # Not mutable: train=True runs (no error) and leaves u alone; every call normalises
  # with one step from the stored u, so the three logits agree.
  frozen_logits = jax.jit(lambda v: module.apply(v, x, train=True))(variables)
  np.testing.assert_allclose(frozen_logits, eval_logits, rtol=1e-6)
  np.testing.assert_allclose(trained_logits, eval_logits, rtol=1e-6)
  # The next call sees the moved u: a different normalisation.
  later_logits = jax.jit(lambda v: module.apply(v, x, train=False))({**variables, **trained})
  assert np.any(np.asarray(later_logits) != np.asarray(eval_logits))


def test_power_iteration_updates_is_the_contract():
  seen = {}

  class Probe(nn.Module):
    @nn.compact
    def __call__(self, *, train):
      seen["update"] = power_iteration_updates(self, train)
      return jnp.zeros(())

  probe = Probe()
  for train, mutable, expected in [(True, ["batch_stats"], True), (False, ["batch_stats"], False),
                                   (True, False, False), (False, False, False)]:
    probe.apply({}, train=train, mutable=mutable)
    assert seen["update"] is expected, (train, mutable)


def test_off_by_default_adds_no_state_and_keeps_the_parameter_tree():
  x = jnp.zeros((1, 28, 28, 1))
  for plain, normalised in [
      (DCGANDiscriminator(widths=(4, 8)), DCGANDiscriminator(widths=(4, 8), spectral_norm=True)),
      (MLPDiscriminator(hidden_widths=(8,)), MLPDiscriminator(hidden_widths=(8,),
                                                              spectral_norm=True))]:
    plain_vars = jax.eval_shape(lambda: plain.init(jax.random.key(0), x, train=False))
    sn_vars = jax.eval_shape(lambda: normalised.init(jax.random.key(0), x, train=False))
    assert set(plain_vars) == {"params"}
    assert set(sn_vars) == {"params", "batch_stats"}
    # The same parameters, names and shapes: spectral normalisation only adds the vectors.
    assert jax.tree.map(lambda a: a.shape, plain_vars["params"]) == jax.tree.map(
        lambda a: a.shape, sn_vars["params"])


def test_build_rejects_spectral_norm_for_families_without_it():
  with pytest.raises(ConfigError, match="model.spectral_norm"):
    models.build("toy", image_shape=(2,), g_widths=(8,), d_widths=(8,), spectral_norm=True)
