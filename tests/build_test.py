"""gan.build: the run's keys, several seeds vmapped in one program, the device-side loop.

With `config.run.num_seeds` = S (data drawn on the device) the builder trains seeds
seed .. seed + S - 1 in one vmapped program; each seed must compute what a run of
that seed alone computes, up to float rounding: vmap changes how the work is
batched, not what is computed.
"""

import json

import chex
import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

import conftest
from gan import build, data
from gan.errors import ConfigError

IMAGE_SHAPE = (28, 28, 1)
SPEC = data.DataSpec("images", IMAGE_SHAPE)
NUM_SEEDS = 3
STEPS_PER_CALL = 2


def _bits(key) -> tuple:
  return tuple(np.asarray(jax.random.key_data(key)).ravel().tolist())


def _ring_config(**fields) -> ml_collections.ConfigDict:
  """The mixture lab's GAN, tiny: PacGAN2 with a gradient penalty on the ring."""
  c = conftest.tiny_mlp_config("mixture:ring", **{
      "model.name": "toy", "model.g_widths": (8, 8), "model.d_widths": (8,),
      "model.noise_dim": 2, "model.pack": 2, "loss.penalty": "wgan_gp",
      "loss.penalty_weight": 1.0, "optim.g_lr": 1e-3, "optim.d_lr": 1e-3,
      "run.steps_per_call": STEPS_PER_CALL, "num_steps": STEPS_PER_CALL,
      "run.num_sample_images": 0})
  for period in ("run.checkpoint_every", "run.log_every"):
    conftest.set_fields(c, **{period: STEPS_PER_CALL})
  return conftest.set_fields(c, **fields)


# ------------------------------------------------------------------------ keys


def test_run_keys_one_seed_split_three_ways_for_host_data_four_for_device_data():
  host = build.run_keys(5, 1, device_data=False)
  device = build.run_keys(5, 1, device_data=True)
  assert list(host) == ["init", "train", "sample"]
  assert list(device) == ["init", "train", "sample", "data"]
  three = jax.random.split(jax.random.key(5), 3)
  four = jax.random.split(jax.random.key(5), 4)
  for i, name in enumerate(host):
    assert _bits(host[name]) == _bits(three[i])
  for i, name in enumerate(device):
    assert _bits(device[name]) == _bits(four[i])
  assert len({_bits(k) for k in device.values()}) == 4


def test_run_keys_stack_each_seed_keys():
  keys = build.run_keys(5, NUM_SEEDS, device_data=True)
  for name, stacked in keys.items():
    chex.assert_shape(stacked, (NUM_SEEDS,))
    for s in range(NUM_SEEDS):  # Seed s of the stack is the run of seed 5 + s alone.
      assert _bits(stacked[s]) == _bits(build.run_keys(5 + s, 1, True)[name])
  bits = [_bits(keys[name][s]) for name in keys for s in range(NUM_SEEDS)]
  assert len(set(bits)) == 4 * NUM_SEEDS
  host = build.run_keys(5, 2, device_data=False)
  assert set(host) == {"init", "train", "sample"}
  assert _bits(host["train"][1]) == _bits(build.run_keys(6, 1, False)["train"])


def test_a_run_holds_its_keys_and_steps_with_train_and_data_keys():
  host = build.build(conftest.tiny_mlp_config("images", seed=4), SPEC)
  assert {k: _bits(v) for k, v in host.keys.items()} == {
      k: _bits(v) for k, v in build.run_keys(4, 1, False).items()}
  assert set(host.step_keys) == {"train"}
  device = build.build(_ring_config(seed=4))
  assert set(device.step_keys) == {"train", "data"}
  assert _bits(device.step_keys["data"]) == _bits(build.run_keys(4, 1, True)["data"])


def test_abstract_state_has_the_init_states_shapes_dtypes_and_shardings():
  """What a checkpoint is restored into (gan.program, gan.rundir): traced, not computed."""
  run = build.build(conftest.tiny_mlp_config("images"), SPEC)
  abstract, concrete = run.abstract_state(), run.init_state()
  assert jax.tree.structure(abstract) == jax.tree.structure(concrete)
  for a, c in zip(jax.tree.leaves(abstract), jax.tree.leaves(concrete)):
    assert isinstance(a, jax.ShapeDtypeStruct), type(a)
    assert (a.shape, a.dtype, a.sharding) == (c.shape, c.dtype, c.sharding)


# ------------------------------------------------------------- several seeds


@pytest.fixture(scope="module")
def multi_seed():
  """The vmapped run of seeds 0, 1, 2: (run, initial states, final states, metrics)."""
  run = build.build(_ring_config(**{"run.num_seeds": NUM_SEEDS}))
  state = run.init_state()
  initial = jax.device_get(state)
  final, metrics = run.step(state, run.batch(0))
  return run, initial, jax.device_get(final), jax.device_get(metrics)


@pytest.mark.slow  # Compiles the vmapped block, and the single-seed one.
def test_vmapped_seeds_equal_each_seed_run_alone(multi_seed):
  run, initial, final, metrics = multi_seed
  assert run.num_seeds == NUM_SEEDS and run.steps_per_call == STEPS_PER_CALL
  assert np.asarray(final.step).tolist() == [STEPS_PER_CALL] * NUM_SEEDS
  # Metrics: one per step of the call, means over the seeds.
  chex.assert_shape(metrics["d_loss"], (STEPS_PER_CALL,))
  per_seed_d_loss = []
  for s in range(NUM_SEEDS):
    alone = build.build(_ring_config(seed=s))
    assert alone.num_seeds == 1
    state = alone.init_state()
    chex.assert_trees_all_close(flax.serialization.to_state_dict(jax.device_get(state)),
                                flax.serialization.to_state_dict(
                                    jax.tree.map(lambda x, s=s: x[s], initial)))
    state, seed_metrics = alone.step(state, alone.batch(0))
    per_seed_d_loss.append(jax.device_get(seed_metrics["d_loss"]))
    chex.assert_trees_all_close(
        flax.serialization.to_state_dict(jax.device_get(state)),
        flax.serialization.to_state_dict(jax.tree.map(lambda x, s=s: x[s], final)),
        rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(metrics["d_loss"], np.mean(per_seed_d_loss, axis=0), rtol=1e-5)
  # Seeds differ from each other.
  assert not np.allclose(per_seed_d_loss[0], per_seed_d_loss[1])
  g_kernels = [np.asarray(jax.tree.leaves(final.generator.params)[0][s])
               for s in range(NUM_SEEDS)]
  assert not np.allclose(g_kernels[0], g_kernels[1])


@pytest.mark.slow  # The vmapped run of the test above.
def test_per_seed_generation_and_first_seed(multi_seed):
  run, _, final, _ = multi_seed
  samples = run.generate_per_seed(final, {"z": jnp.zeros((NUM_SEEDS, 5, 2))})
  chex.assert_shape(samples, (NUM_SEEDS, 5, 2))
  first = run.first_seed(final)
  np.testing.assert_array_equal(np.asarray(first.step), STEPS_PER_CALL)
  np.testing.assert_allclose(run.generate(first, {"z": jnp.zeros((5, 2))}), samples[0],
                             rtol=1e-5, atol=1e-6)
  assert _bits(run.keys["sample"][0]) == _bits(build.run_keys(0, 1, True)["sample"])


def test_several_seeds_need_device_data():
  config = conftest.tiny_mlp_config("images", **{"run.num_seeds": 2})
  for source in (SPEC, data.from_arrays("images", np.zeros((16,) + IMAGE_SHAPE, np.uint8))):
    with pytest.raises(ConfigError, match="needs data drawn on the device") as error:
      build.build(config, source)
    assert error.value.field == "run.num_seeds" and error.value.value == 2


# --------------------------------------------------------------- the scan loop


def _mlp_step_args(run, num_steps):
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (num_steps, 1, run.config.batch_size) + IMAGE_SHAPE,
                        dtype=np.uint8)
  return images


@pytest.mark.parametrize("unroll", [
    pytest.param(True, marks=pytest.mark.slow),  # An unrolled block compiles slowly.
    1])
@pytest.mark.slow
def test_repeat_step_equals_as_many_single_steps(unroll):
  """On XLA:CPU a scan agrees with separate calls to float rounding, not bit for bit
  (XLA fuses the combined program differently): hence the tolerance."""
  run = build.build(conftest.tiny_mlp_config("images", **{"optim.ema_decay": 0.9}), SPEC)
  num_steps = 3
  images = _mlp_step_args(run, num_steps)
  one_step = lambda state, batch, keys: run.task.step(state, batch, keys["train"])
  single = jax.jit(one_step)
  state, singles = run.init_state(), []
  for i in range(num_steps):
    state, metrics = single(state, {"image": images[i]}, run.step_keys)
    singles.append(jax.device_get(metrics))
  repeat = jax.jit(build.repeat_step(one_step, num_steps, unroll=unroll))
  multi_state, stacked = repeat(run.init_state(), {"image": images}, run.step_keys)
  assert int(multi_state.step) == num_steps
  chex.assert_trees_all_close(flax.serialization.to_state_dict(multi_state),
                              flax.serialization.to_state_dict(state), rtol=1e-5, atol=1e-6)
  for i in range(num_steps):
    chex.assert_trees_all_close(jax.tree.map(lambda m, i=i: m[i], stacked), singles[i],
                                rtol=1e-5, atol=1e-6)


def test_repeat_step_passes_one_batch_to_every_step_when_the_step_draws_its_own():
  def one_step(state, batch, keys):
    drawn = jax.random.normal(jax.random.fold_in(keys["data"], state["step"]))
    return ({"step": state["step"] + 1, "sum": state["sum"] + batch["x"] + drawn},
            {"drawn": drawn})

  keys = {"data": jax.random.key(0)}
  state = {"step": jnp.zeros((), jnp.int32), "sum": jnp.zeros(())}
  repeat = jax.jit(build.repeat_step(one_step, 4, batch_per_step=False))
  final, metrics = repeat(state, {"x": jnp.ones(())}, keys)
  expected, draws = state, []
  for _ in range(4):
    expected, m = one_step(expected, {"x": jnp.ones(())}, keys)
    draws.append(m["drawn"])
  assert int(final["step"]) == 4
  np.testing.assert_allclose(final["sum"], expected["sum"], rtol=1e-6)
  np.testing.assert_allclose(metrics["drawn"], draws, rtol=1e-6)


def test_repeat_step_refuses_a_block_of_the_wrong_length():
  one_step = lambda state, batch, keys: (state + jnp.sum(batch["x"]), {})
  with pytest.raises(ValueError, match="3"):
    build.repeat_step(one_step, 3)(jnp.zeros(()), {"x": jnp.zeros((2, 4))}, {})
  with pytest.raises(ValueError, match="positive"):
    build.repeat_step(one_step, 0)


# -------------------------------------------------------------- convolutions


def _abstract(run):
  state = jax.eval_shape(run.init, run.keys["init"])
  batch = {"image": jax.ShapeDtypeStruct((1, run.config.batch_size) + IMAGE_SHAPE, jnp.uint8)}
  return state, batch, run.keys["train"]


_TINY_DCGAN = {"model.name": "dcgan", "model.g_widths": (8, 4, 4), "model.d_widths": (4, 8),
               "model.noise_dim": 8}


def test_has_convolutions_for_the_dcgan_step_not_the_mlp_step():
  dcgan = build.build(conftest.tiny_mlp_config("images", **_TINY_DCGAN), SPEC)
  mlp = build.build(conftest.tiny_mlp_config("images"), SPEC)
  assert build.has_convolutions(dcgan.task.step, *_abstract(dcgan))
  assert not build.has_convolutions(mlp.task.step, *_abstract(mlp))

  def lowered(state, batch, key):  # As the builder traces it on CPU: custom VJPs.
    with dcgan.backend.lowering():
      return dcgan.task.step(state, batch, key)

  assert build.has_convolutions(lowered, *_abstract(dcgan))
  # Nested in control flow (a scan, a conditional) counts too.
  conv = lambda x: jax.lax.conv_general_dilated(x, jnp.ones((3, 3, 1, 1)), (1, 1), "SAME")
  x = jax.ShapeDtypeStruct((1, 3, 4, 4), jnp.float32)
  assert build.has_convolutions(lambda x: jax.lax.scan(lambda c, _: (conv(c), None), x,
                                                       None, length=2)[0], x)
  assert build.has_convolutions(lambda x: jax.lax.cond(True, conv, lambda x: x, x), x)
  assert not build.has_convolutions(lambda x: jnp.sin(x), x)


def _scan_unrolls(run) -> list:
  state, batch, _ = _abstract(run)
  k = run.steps_per_call
  batch = {"image": jax.ShapeDtypeStruct((k,) + batch["image"].shape, jnp.uint8)}
  found = []

  def visit(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == "scan":
        found.append(eqn.params["unroll"])
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        visit(sub)

  visit(run.compiled_step.trace(state, batch, run.step_keys).jaxpr.jaxpr)
  return found


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the XLA:CPU backend's choice")
def test_blocks_of_steps_are_unrolled_on_cpu_only_with_convolutions():
  blocks = {"run.steps_per_call": 2, "num_steps": 2, "run.checkpoint_every": 2,
            "run.log_every": 2}
  dcgan = build.build(conftest.tiny_mlp_config("images", **_TINY_DCGAN, **blocks), SPEC)
  mlp = build.build(conftest.tiny_mlp_config("images", **blocks), SPEC)
  plain = build.build(conftest.tiny_mlp_config("images", **_TINY_DCGAN, **blocks,
                                               **{"run.backend": "plain"}), SPEC)
  assert dcgan.backend.name == "xla_cpu" and plain.backend.name == "plain"
  # The step's own scans (none here) aside, the block's scan is the first one found.
  assert _scan_unrolls(dcgan)[0] == 2  # Fully unrolled: unroll=True is the length.
  assert _scan_unrolls(mlp)[0] == 1
  assert _scan_unrolls(plain)[0] == 1


# ----------------------------------------------------------------- benchmark


@pytest.mark.slow  # Compiles the vmapped and the single-seed programs in a subprocess.
def test_benchmark_multiseed_writes_the_speedup_json(tmp_path):
  out = tmp_path / "bench.json"
  result = conftest.run_module(
      "experiments.benchmark_multiseed", f"--out={out}", "--config.run.num_seeds=2",
      "--config.run.steps_per_call=3", "--config.bench.repeats=1",
      "--config.model.g_widths=(8,)", "--config.model.d_widths=(8,)",
      "--config.batch_size=8")
  assert result.returncode == 0, result.stderr[-3000:]
  report = json.loads(out.read_text())
  assert report["speedup_vmapped_over_sequential"] > 0
  assert report["max_abs_difference_of_final_generator_params"] < 1e-4
  assert report["vmapped"]["seed_steps_per_second"] > 0
  assert len(report["sequential"]["timed_call_seconds"]) == 1
  assert report["config"]["run"]["num_seeds"] == 2
  assert report["config"]["bench"]["repeats"] == 1


@pytest.mark.slow  # A subprocess (the in-process check is test_several_seeds_need_device_data).
def test_benchmark_multiseed_rejects_host_data_in_one_line():
  result = conftest.run_module("experiments.benchmark_multiseed", "--config.dataset=mnist_5k",
                               "--config.run.num_seeds=2")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines()[-1].startswith(
      "error: --config.run.num_seeds=2 needs data drawn on the device")
