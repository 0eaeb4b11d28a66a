"""The pure alternating update: keys, determinism, every loss and penalty, no recompiles."""

import itertools

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import config as config_lib
from gan import losses, train
from gan.train_step import step_keys

IMAGE_SHAPE = (28, 28, 1)


def _mlp_config(**overrides):
  c = config_lib.base_config()
  c.model, c.g_widths, c.d_widths, c.dropout_rate = "mlp", (32,), (32,), 0.2
  c.batch_size, c.noise_dim = 8, 16
  c.update(overrides)
  return c


def _batch(d_steps, batch_size, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (d_steps, batch_size) + IMAGE_SHAPE, dtype=np.uint8)


def _key_bits(k):
  return tuple(np.asarray(jax.random.key_data(k)).ravel().tolist())


def test_keys_are_never_reused_across_uses_and_steps():
  key = jax.random.key(0)
  seen = []
  for step in range(50):
    keys = step_keys(key, step, d_steps=3)
    chex.assert_shape(keys["d_noise"], (3,))
    for name, value in keys.items():
      for k in (value if value.shape else [value]):
        seen.append(_key_bits(k))
  assert len(seen) == 50 * (3 * 3 + 2)
  assert len(set(seen)) == len(seen)


def test_step_keys_depend_only_on_key_and_step():
  a = step_keys(jax.random.key(7), 12, 2)
  b = step_keys(jax.random.key(7), 12, 2)
  c = step_keys(jax.random.key(8), 12, 2)
  assert _key_bits(a["g_noise"]) == _key_bits(b["g_noise"])
  assert _key_bits(a["g_noise"]) != _key_bits(c["g_noise"])


def _run(config, steps=3):
  gan = train.setup(config, IMAGE_SHAPE)
  state = gan.init_state()
  history = []
  for step in range(steps):
    state, metrics = gan.train_step(state, gan.shard_batch(_batch(config.d_steps,
                                                                  config.batch_size, step)),
                                    gan.train_key)
    history.append(jax.device_get(metrics))
  return state, history


def test_same_seed_same_state_bit_for_bit_and_other_seed_differs():
  s1, _ = _run(_mlp_config(seed=1))
  s2, _ = _run(_mlp_config(seed=1))
  s3, _ = _run(_mlp_config(seed=2))
  chex.assert_trees_all_equal(flax.serialization.to_state_dict(s1),
                              flax.serialization.to_state_dict(s2))
  assert not np.array_equal(s1.generator.params["Dense_0"]["kernel"],
                            s3.generator.params["Dense_0"]["kernel"])


def test_metrics_are_reported_and_sane():
  state, history = _run(_mlp_config())
  assert int(state.step) == 3
  m = history[-1]
  assert set(m) == {"d_loss", "g_loss", "penalty", "d_real", "d_fake", "d_acc_real",
                    "d_acc_fake", "d_grad_norm", "g_grad_norm", "nonfinite"}
  assert m["nonfinite"] == 0.0  # gan.train.guard_nonfinite: 1 for a non-finite update.
  chex.assert_tree_all_finite(m)
  for name in ("d_real", "d_fake", "d_acc_real", "d_acc_fake"):
    assert 0.0 <= m[name] <= 1.0
  assert m["d_grad_norm"] > 0 and m["g_grad_norm"] > 0


@pytest.mark.parametrize("loss,penalty", list(itertools.product(sorted(losses.LOSSES),
                                                                 ["none"])) +
                         [("wasserstein", "wgan_gp"), ("non_saturating", "r1"),
                          ("hinge", "r2")])
def test_every_loss_and_penalty_trains(loss, penalty):
  state, history = _run(_mlp_config(loss=loss, penalty=penalty, d_steps=2), steps=2)
  chex.assert_tree_all_finite(state.generator.params)
  if penalty != "none":
    assert history[-1]["penalty"] > 0


def test_step_advances_both_players_and_ema():
  config = _mlp_config(ema_decay=0.9)
  gan = train.setup(config, IMAGE_SHAPE)
  state0 = gan.init_state()
  g0 = jax.device_get(state0.generator.params)
  d0 = jax.device_get(state0.discriminator.params)
  state1, _ = gan.train_step(state0, gan.shard_batch(_batch(1, 8)), gan.train_key)
  g1 = jax.device_get(state1.generator.params)
  assert not np.array_equal(g0["Dense_0"]["kernel"], g1["Dense_0"]["kernel"])
  assert not np.array_equal(d0["Dense_0"]["kernel"],
                            jax.device_get(state1.discriminator.params)["Dense_0"]["kernel"])
  # EMA after one step: 0.9 * init + 0.1 * new.
  np.testing.assert_allclose(jax.device_get(state1.ema_params)["Dense_0"]["kernel"],
                             0.9 * g0["Dense_0"]["kernel"] + 0.1 * g1["Dense_0"]["kernel"],
                             rtol=1e-5, atol=1e-7)
  assert int(state1.generator.step) == 1 and int(state1.discriminator.step) == 1


def test_no_recompiles_across_steps():
  config = _mlp_config()
  gan = train.setup(config, IMAGE_SHAPE)
  state = gan.init_state()
  for step in range(4):
    state, _ = gan.train_step(state, gan.shard_batch(_batch(1, 8, step)), gan.train_key)
  assert gan.train_step._cache_size() == 1


def test_dcgan_step_updates_batch_stats():
  config = _mlp_config(model="dcgan", g_widths=(16, 8, 4), d_widths=(4, 8), noise_dim=8)
  gan = train.setup(config, IMAGE_SHAPE)
  state = gan.init_state()
  bs0 = jax.device_get(state.generator.batch_stats)
  state, metrics = gan.train_step(state, gan.shard_batch(_batch(1, 8)), gan.train_key)
  chex.assert_tree_all_finite(metrics)
  bs1 = jax.device_get(state.generator.batch_stats)
  assert not np.array_equal(bs0["BatchNorm_0"]["mean"], bs1["BatchNorm_0"]["mean"])
  samples = gan.generate(state, jnp.zeros((2, 8)))
  chex.assert_shape(samples, (2, 28, 28, 1))
