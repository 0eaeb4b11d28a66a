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


def _toy_state(key):
  from gan import models  # pylint: disable=g-import-not-at-top
  from gan.state import create_state, make_optimizer  # pylint: disable=g-import-not-at-top
  generator, discriminator = models.build("toy", image_shape=(2,), g_widths=(16, 16),
                                          d_widths=(16,))
  return create_state(generator=generator, discriminator=discriminator, key=key, noise_dim=2,
                      image_shape=(2,), g_optimizer=make_optimizer(1e-2, 0.5, 0.999),
                      d_optimizer=make_optimizer(1e-2, 0.5, 0.999))


def test_simultaneous_update_takes_both_gradients_at_the_old_parameters():
  from gan.train_step import StepConfig, make_train_step  # pylint: disable=g-import-not-at-top
  common = dict(loss=losses.get_loss("non_saturating"), penalty=losses.get_penalty("none"),
                penalty_weight=0.0, d_steps=1, noise_dim=2)
  state = _toy_state(jax.random.key(0))
  real = jax.random.normal(jax.random.key(1), (1, 32, 2))
  key = jax.random.key(2)
  sim, _ = jax.jit(make_train_step(StepConfig(**common, simultaneous=True)))(state, real, key)
  alt, _ = jax.jit(make_train_step(StepConfig(**common)))(state, real, key)
  # D: the same update as the alternating step's (same keys, same fake batch).
  chex.assert_trees_all_close(sim.discriminator.params, alt.discriminator.params,
                              rtol=1e-5, atol=1e-6)
  # G: the non-saturating loss of that same fake batch against the *old* D.
  g, d = state.generator, state.discriminator
  noise_key = step_keys(key, 0, 1)["d_noise"][0]
  z = jax.random.normal(noise_key, (32, 2), jnp.float32)

  def g_loss(params):
    fake, _ = g.apply_fn({"params": params, "batch_stats": g.batch_stats}, z, train=True,
                         mutable=["batch_stats"])
    return losses.non_saturating_generator_loss(
        fake_logits=d.apply_fn({"params": d.params}, fake, train=True))

  expected = g.apply_gradients(grads=jax.grad(g_loss)(g.params))
  chex.assert_trees_all_close(sim.generator.params, expected.params, rtol=1e-5, atol=1e-6)
  assert not np.allclose(jax.tree.leaves(sim.generator.params)[0],
                         jax.tree.leaves(alt.generator.params)[0])
  assert int(sim.step) == 1


def test_simultaneous_update_needs_one_d_step():
  from gan.errors import UserError  # pylint: disable=g-import-not-at-top
  from gan.train_step import StepConfig, make_train_step  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="d_steps=2"):
    make_train_step(StepConfig(loss=losses.get_loss("hinge"), penalty=losses.get_penalty("none"),
                               penalty_weight=0.0, d_steps=2, noise_dim=2, simultaneous=True))


def test_simultaneous_config_reaches_the_step():
  state, history = _run(_mlp_config(simultaneous=True, penalty="r1"), steps=1)
  assert int(state.step) == 1
  assert history[-1]["penalty"] > 0 and history[-1]["g_grad_norm"] > 0
