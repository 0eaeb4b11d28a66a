"""The GAN task's pure step (gan.tasks.gan): keys, determinism, every loss and penalty,
both update rules, BatchNorm, EMA, no recompiles; and the conditional task's labels."""


import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import build, data, losses, models
from gan.errors import ConfigError
from gan.state import create_state, make_optimizer
from gan.tasks.gan import StepConfig, make_train_step, step_keys

IMAGE_SHAPE = (28, 28, 1)
SPEC = data.DataSpec("images", IMAGE_SHAPE)  # Runs without data: batches are made here.


def _config(**fields):
  """The tiny MLP GAN with dropout in D, two D updates per step and a generator EMA:
  every key of a step is used. One program (compiled once, then read from the
  session's compilation cache) serves most tests."""
  return conftest.tiny_mlp_config("images", **{
      "model.dropout_rate": 0.2, "optim.d_steps": 2, "optim.ema_decay": 0.9, **fields})


def _images(d_steps, batch_size, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (d_steps, batch_size) + IMAGE_SHAPE, dtype=np.uint8)


def _batch(run, seed=0):
  return run.shard({"image": _images(run.config.optim.d_steps, run.config.batch_size, seed)})


def _train(run, steps=3, state=None):
  state = run.init_state() if state is None else state
  history = []
  for step in range(steps):
    state, metrics = run.step(state, _batch(run, step))
    history.append(jax.device_get(metrics))
  return state, history


def _key_bits(k):
  return tuple(np.asarray(jax.random.key_data(k)).ravel().tolist())


def _first_kernel(params):
  return np.asarray(params["Dense_0"]["kernel"])


@pytest.fixture(scope="module")
def mlp_run():
  """One compiled tiny MLP run, shared by the tests that only step it."""
  return build.build(_config(seed=1), SPEC)


# ------------------------------------------------------------------------ keys


def test_keys_are_never_reused_across_uses_and_steps():
  key = jax.random.key(0)
  keys_of = jax.jit(lambda step: step_keys(key, step, d_steps=3))
  seen = []
  for step in range(50):
    keys = keys_of(step)
    chex.assert_shape(keys["d_noise"], (3,))
    for value in keys.values():
      for k in (value if value.shape else [value]):
        seen.append(_key_bits(k))
  assert len(seen) == 50 * (3 * 3 + 2)
  assert len(set(seen)) == len(seen)


def test_step_keys_depend_only_on_key_and_step():
  a = step_keys(jax.random.key(7), 12, 2)
  b = step_keys(jax.random.key(7), 12, 2)
  c = step_keys(jax.random.key(8), 12, 2)
  d = step_keys(jax.random.key(7), 13, 2)
  assert _key_bits(a["g_noise"]) == _key_bits(b["g_noise"])
  assert _key_bits(a["g_noise"]) != _key_bits(c["g_noise"])
  assert _key_bits(a["g_noise"]) != _key_bits(d["g_noise"])


# ------------------------------------------------------------------ the step


@pytest.mark.slow
def test_same_seed_same_state_bit_for_bit_and_other_seed_differs(mlp_run):
  s1, _ = _train(mlp_run)
  s2, _ = _train(build.build(_config(seed=1), SPEC))  # The same program, built again.
  s3, _ = _train(build.build(_config(seed=2), SPEC))
  chex.assert_trees_all_equal(flax.serialization.to_state_dict(s1),
                              flax.serialization.to_state_dict(s2))
  assert not np.array_equal(_first_kernel(s1.generator.params),
                            _first_kernel(s3.generator.params))


def test_metrics_are_reported_and_sane(mlp_run):
  state, history = _train(mlp_run)
  assert int(state.step) == 3
  m = history[-1]
  assert set(m) == {"d_loss", "g_loss", "penalty", "d_real", "d_fake", "d_acc_real",
                    "d_acc_fake", "d_grad_norm", "g_grad_norm", "nonfinite"}
  assert m["nonfinite"] == 0.0  # gan.faults.guard_nonfinite: 1 for a non-finite update.
  chex.assert_tree_all_finite(m)
  for name in ("d_real", "d_fake", "d_acc_real", "d_acc_fake"):
    assert 0.0 <= m[name] <= 1.0
  assert m["d_grad_norm"] > 0 and m["g_grad_norm"] > 0


def test_no_recompiles_across_steps(mlp_run):
  _train(mlp_run, steps=4)
  assert mlp_run.compiled_step._cache_size() == 1  # pylint: disable=protected-access


_slow = lambda *case: pytest.param(*case, marks=pytest.mark.slow)


# Every loss and penalty, two D steps per step. One compilation each (slow): the
# golden tests pin the values of every one of them; the fast run trains the shared one.
@pytest.mark.parametrize("loss,penalty", [
    ("non_saturating", "none"),  # The shared program.
    _slow("hinge", "r1"),
    *[_slow(loss, "none") for loss in sorted(losses.LOSSES) if loss != "non_saturating"],
    _slow("wasserstein", "wgan_gp"), _slow("least_squares", "r2"),
])
def test_every_loss_and_penalty_trains(loss, penalty):
  run = build.build(_config(**{"loss.name": loss, "loss.penalty": penalty}), SPEC)
  state, history = _train(run, steps=2)
  chex.assert_tree_all_finite(state.generator.params)
  assert history[-1]["nonfinite"] == 0.0
  if penalty != "none":
    assert history[-1]["penalty"] > 0


def test_step_advances_both_players_and_ema(mlp_run):
  run = mlp_run
  state0 = run.init_state()
  assert run.config.optim.ema_decay == 0.9
  g0 = jax.device_get(state0.generator.params)
  d0 = jax.device_get(state0.discriminator.params)
  state1, _ = run.step(state0, _batch(run))  # Donates state0.
  g1 = jax.device_get(state1.generator.params)
  assert not np.array_equal(_first_kernel(g0), _first_kernel(g1))
  assert not np.array_equal(_first_kernel(d0),
                            _first_kernel(jax.device_get(state1.discriminator.params)))
  # EMA after one step: 0.9 * init + 0.1 * new.
  np.testing.assert_allclose(_first_kernel(jax.device_get(state1.ema_params)),
                             0.9 * _first_kernel(g0) + 0.1 * _first_kernel(g1),
                             rtol=1e-5, atol=1e-7)
  assert int(state1.generator.step) == 1
  assert int(state1.discriminator.step) == run.config.optim.d_steps == 2
  # Samples come from the EMA parameters.
  z = jnp.zeros((2, run.config.model.noise_dim))
  samples = run.generate(state1, {"z": z})
  ema_state = state1.replace(ema_params=None,
                             generator=state1.generator.replace(params=state1.ema_params))
  np.testing.assert_array_equal(samples, run.generate(ema_state, {"z": z}))


@pytest.mark.slow  # The DCGAN's step compiles in several seconds.
def test_dcgan_step_updates_batch_stats():
  config = conftest.tiny_mlp_config("images", **{
      "model.name": "dcgan", "model.g_widths": (8, 4, 4), "model.d_widths": (4, 8),
      "model.noise_dim": 8, "model.dropout_rate": 0.3})
  run = build.build(config, SPEC)
  state = run.init_state()
  bs0 = jax.device_get(state.generator.batch_stats)
  state, metrics = run.step(state, _batch(run))
  chex.assert_tree_all_finite(metrics)
  assert metrics["nonfinite"] == 0.0
  bs1 = jax.device_get(state.generator.batch_stats)
  assert not np.array_equal(bs0["BatchNorm_0"]["mean"], bs1["BatchNorm_0"]["mean"])
  samples = run.generate(state, {"z": jnp.zeros((2, 8))})
  chex.assert_shape(samples, (2,) + IMAGE_SHAPE)


# ------------------------------------------------------------- simultaneous


def _toy_state(key):
  generator, discriminator = models.build("toy", image_shape=(2,), g_widths=(8,),
                                          d_widths=(8,))
  point = (jnp.zeros((1, 2), jnp.float32),)
  create = lambda key: create_state(generator=generator, discriminator=discriminator, key=key,
                                    g_example=point, d_example=point,
                                    g_optimizer=make_optimizer(1e-2, 0.5, 0.999),
                                    d_optimizer=make_optimizer(1e-2, 0.5, 0.999))
  return jax.jit(create)(key)


@pytest.mark.slow
def test_simultaneous_update_takes_both_gradients_at_the_old_parameters():
  loss = losses.get_loss("non_saturating")
  cfg = StepConfig(loss=loss, penalty=losses.get_penalty("none"), penalty_weight=0.0,
                   d_steps=1, noise_dim=2, simultaneous=True)
  state = _toy_state(jax.random.key(0))
  real = jax.random.normal(jax.random.key(1), (32, 2))
  key = jax.random.key(2)
  sim, _ = jax.jit(make_train_step(cfg))(state, {"image": real[None]}, key)
  # Both updates from one fake batch, G(z) with z from the step's first D noise key,
  # each player's gradient taken at the *old* parameters of both (the toy D has no
  # dropout, so its keys do not matter).
  g, d = state.generator, state.discriminator
  z = jax.random.normal(step_keys(key, 0, 1)["d_noise"][0], (32, 2), jnp.float32)
  fake_of = lambda g_params: g.apply_fn({"params": g_params, "batch_stats": g.batch_stats}, z,
                                        train=True, mutable=["batch_stats"])[0]
  logits = lambda d_params, x: d.apply_fn({"params": d_params}, x, train=True)

  @jax.jit
  def expected(d_params_seen_by_g):
    fake = fake_of(g.params)
    d_grads = jax.grad(lambda p: loss.discriminator(real_logits=logits(p, real),
                                                    fake_logits=logits(p, fake)))(d.params)
    g_grads = jax.grad(lambda p: loss.generator(
        fake_logits=logits(d_params_seen_by_g, fake_of(p)), real_logits=None))(g.params)
    return (d.apply_gradients(grads=d_grads).params,
            g.apply_gradients(grads=g_grads).params)

  d_params, g_params = expected(d.params)
  chex.assert_trees_all_close(sim.discriminator.params, d_params, rtol=1e-5, atol=1e-6)
  chex.assert_trees_all_close(sim.generator.params, g_params, rtol=1e-5, atol=1e-6)
  # Against the updated D (as the alternating rule has it) G would move elsewhere.
  _, g_after_new_d = expected(sim.discriminator.params)
  assert not np.allclose(jax.tree.leaves(sim.generator.params)[0],
                         jax.tree.leaves(g_after_new_d)[0])
  assert int(sim.step) == 1
  # The toy G's BatchNorm statistics moved with the fake batch.
  before = jax.tree.leaves(state.generator.batch_stats)
  assert before and not any(np.array_equal(a, b) for a, b in
                            zip(before, jax.tree.leaves(sim.generator.batch_stats)))


def test_simultaneous_update_needs_one_d_step():
  with pytest.raises(ConfigError, match="d_steps=2"):
    make_train_step(StepConfig(loss=losses.get_loss("hinge"), penalty=losses.get_penalty("none"),
                               penalty_weight=0.0, d_steps=2, noise_dim=2, simultaneous=True))
  # The builder says so before it builds anything.
  with pytest.raises(ConfigError, match="optim.d_steps=2"):
    build.build(_config(**{"optim.simultaneous": True}), SPEC)


@pytest.mark.slow  # One more compilation of the MLP step (penalty and simultaneous rule).
def test_simultaneous_config_reaches_the_step():
  run = build.build(_config(**{"optim.simultaneous": True, "optim.d_steps": 1,
                               "loss.penalty": "r1"}), SPEC)
  assert run.task.parts["step_config"].simultaneous
  state, history = _train(run, steps=1)
  assert int(state.step) == 1
  assert history[-1]["penalty"] > 0 and history[-1]["g_grad_norm"] > 0


# -------------------------------------------------------------- conditional


NUM_CLASSES = 10


@pytest.fixture(scope="module")
def labelled():
  """80 images whose pixels all hold 20 * label: each image shows its label."""
  labels = np.arange(80) % NUM_CLASSES
  images = np.broadcast_to((20 * labels).astype(np.uint8)[:, None, None, None],
                           (80,) + IMAGE_SHAPE)
  return data.from_arrays("labelled", images, labels)


@pytest.fixture(scope="module")
def conditional_run(labelled):
  return build.build(conftest.tiny_mlp_config("labelled", task="conditional_gan"), labelled)


def test_conditional_batches_hold_the_labels_of_their_images(conditional_run):
  run = conditional_run
  assert run.task.batch_fields == ("image", "label")
  assert run.task.parts["num_classes"] == NUM_CLASSES
  for step in (0, 1, 9):
    batch = jax.device_get(run.batch(step))
    assert set(batch) == {"image", "label"}
    chex.assert_shape(batch["image"], (1, 8) + IMAGE_SHAPE)
    chex.assert_shape(batch["label"], (1, 8))
    np.testing.assert_array_equal(batch["image"][..., 0, 0, 0], 20 * batch["label"])
  assert not np.array_equal(jax.device_get(run.batch(0))["label"],
                            jax.device_get(run.batch(1))["label"])


@pytest.mark.slow
def test_conditional_step_uses_the_labels(conditional_run):
  run = conditional_run
  batch = jax.device_get(run.batch(0))
  other = dict(batch, label=(batch["label"] + 1) % NUM_CLASSES)  # Same images, other labels.
  results = []
  for b in (batch, batch, other):
    state, metrics = run.step(run.init_state(), run.shard(b))
    assert metrics["nonfinite"] == 0.0
    results.append(jax.device_get(state))
  same, again, changed = results
  chex.assert_trees_all_equal(flax.serialization.to_state_dict(same),
                              flax.serialization.to_state_dict(again))
  for player in ("generator", "discriminator"):
    before = getattr(same, player).params
    after = getattr(changed, player).params
    embedding = "label_embedding" if player == "generator" else "label_plane"
    # Both players' updates change with the labels, their label embeddings included.
    assert not np.array_equal(before[embedding]["embedding"], after[embedding]["embedding"])
    assert not np.array_equal(jax.tree.leaves(before["inner"])[0],
                              jax.tree.leaves(after["inner"])[0])


def test_conditional_grid_inputs_lay_out_one_row_per_class(conditional_run):
  run = conditional_run
  task = run.task
  inputs = jax.device_get(task.grid_inputs(jax.random.key(0), 30))
  per_class = 30 // NUM_CLASSES
  chex.assert_shape(inputs["z"], (NUM_CLASSES * per_class, run.config.model.noise_dim))
  rows = inputs["label"].reshape(NUM_CLASSES, per_class)
  np.testing.assert_array_equal(rows, np.arange(NUM_CLASSES)[:, None].repeat(per_class, 1))
  # The run's grid: from its sample key, as many columns as the config's images allow.
  grid = jax.device_get(run.grid_inputs(run.config.run.num_sample_images))
  assert task.grid_columns == run.config.run.num_sample_images // NUM_CLASSES
  np.testing.assert_array_equal(grid["label"].reshape(NUM_CLASSES, -1)[:, 0],
                                np.arange(NUM_CLASSES))
  samples = run.generate(run.init_state(), grid)
  chex.assert_shape(samples, (grid["label"].shape[0],) + IMAGE_SHAPE)
  # Random samples draw labels too; an unconditional task's grid is just noise.
  drawn = jax.device_get(task.sample_inputs(jax.random.key(1), 50))
  assert drawn["label"].min() >= 0 and drawn["label"].max() < NUM_CLASSES
  plain = build.build(conftest.tiny_mlp_config("images"), SPEC).task
  assert set(plain.grid_inputs(jax.random.key(0), 30)) == {"z"}


def test_conditional_task_needs_labels_and_no_packing(labelled):
  unlabelled = data.from_arrays("unlabelled", labelled.train_images)
  with pytest.raises(ConfigError, match="config.task='conditional_gan'"):
    build.build(conftest.tiny_mlp_config("unlabelled", task="conditional_gan"), unlabelled)
  with pytest.raises(ConfigError, match="model.pack"):
    build.build(conftest.tiny_mlp_config("labelled", task="conditional_gan",
                                         **{"model.pack": 2}), labelled)


def test_lazy_penalty_runs_every_kth_step_with_k_times_the_weight():
  fields = {"loss.penalty": "r1", "optim.d_steps": 1}
  lazy = build.build(_config(**fields, **{"loss.penalty_every": 2,
                                          "loss.penalty_weight": 5.0}), SPEC)
  eager = build.build(_config(**fields, **{"loss.penalty_weight": 10.0}), SPEC)
  lazy_state, lazy_history = _train(lazy, steps=2)
  eager_state, eager_history = _train(eager, steps=1)
  # Step 0 computes the penalty, weighted 2 x 5 = 10: the eager step at weight 10.
  assert lazy_history[0]["penalty"] > 0 and lazy_history[1]["penalty"] == 0.0
  np.testing.assert_allclose(lazy_history[0]["penalty"], eager_history[0]["penalty"], rtol=1e-6)
  one_lazy_step, _ = _train(lazy, steps=1)
  chex.assert_trees_all_close(one_lazy_step.discriminator.params,
                              eager_state.discriminator.params, rtol=1e-5, atol=1e-7)
  chex.assert_tree_all_finite(lazy_state.discriminator.params)


def test_lazy_penalty_is_for_alternating_updates():
  with pytest.raises(ConfigError, match="loss.penalty_every"):
    build.build(_config(**{"loss.penalty": "r1", "loss.penalty_every": 4, "optim.d_steps": 1,
                           "optim.simultaneous": True}), SPEC)
  with pytest.raises(ConfigError, match="loss.penalty_every"):
    build.build(_config(**{"loss.penalty_every": 0}), SPEC)


def test_ema_warmup_follows_the_generator_early_then_reaches_the_decay():
  run = build.build(_config(**{"optim.ema_decay": 0.999, "optim.ema_warmup": True}), SPEC)
  state = run.init_state()
  g0 = _first_kernel(jax.device_get(state.generator.params))
  ema = g0
  for t in range(3):  # Decay min(0.999, (1 + t) / (10 + t)): 0.1, 2/11, 3/12.
    state, _ = run.step(state, _batch(run, t))
    g = _first_kernel(jax.device_get(state.generator.params))
    decay = (1 + t) / (10 + t)
    ema = decay * ema + (1 - decay) * g
    np.testing.assert_allclose(_first_kernel(jax.device_get(state.ema_params)), ema,
                               rtol=1e-5, atol=1e-7)
