"""Several seeds in one program: the vmapped run is the per-seed run, seed by seed."""

import chex
import jax
import jax.numpy as jnp
import numpy as np

from gan import losses, mixtures, models, multiseed
from gan.state import create_state, make_optimizer
from gan.train_step import StepConfig, make_train_step

RING = mixtures.get_mixture("ring")


def test_seed_keys_are_distinct_per_seed_and_use():
  keys = multiseed.seed_keys([0, 1, 2])
  bits = [tuple(np.asarray(jax.random.key_data(keys[name][i])).tolist())
          for name in multiseed.KEY_NAMES for i in range(3)]
  assert len(set(bits)) == 12
  again = multiseed.seed_keys([2])
  np.testing.assert_array_equal(jax.random.key_data(again["train"][0]),
                                jax.random.key_data(keys["train"][2]))


def test_vmapped_steps_equal_the_per_seed_steps():
  # Packing and a gradient penalty: the whole update, batched over a seed axis.
  g, d = models.build("toy", image_shape=(2,), g_widths=(8, 8), d_widths=(8,), pack=2)
  cfg = StepConfig(loss=losses.get_loss("non_saturating"),
                   penalty=losses.get_penalty("wgan_gp"), penalty_weight=1.0, d_steps=1,
                   noise_dim=2)
  train_step = make_train_step(cfg)

  def create(key):
    return create_state(generator=g, discriminator=d, key=key, noise_dim=2, image_shape=(2,),
                        g_optimizer=make_optimizer(1e-3, 0.5, 0.999),
                        d_optimizer=make_optimizer(1e-3, 0.5, 0.999))

  def batch_fn(data_key, step):
    return mixtures.mixture_batch(RING, data_key, step, batch_size=8)

  keys = multiseed.seed_keys([0, 1, 2])
  states = multiseed.init_states(create, keys["init"])
  vmapped, vmapped_metrics = multiseed.make_multiseed_run(train_step, batch_fn, 2, donate=False)(
      states, keys["train"], keys["data"])
  chex.assert_shape(vmapped_metrics["d_loss"], (3, 2))
  assert np.asarray(vmapped.step).tolist() == [2, 2, 2]
  step, create_one = jax.jit(train_step), jax.jit(create)
  for i in range(3):
    state = create_one(keys["init"][i])
    chex.assert_trees_all_close(jax.tree.leaves(state),
                                jax.tree.leaves(multiseed.take_seed(states, i)))
    for s in range(2):
      state, metrics = step(state, batch_fn(keys["data"][i], jnp.asarray(s)), keys["train"][i])
      np.testing.assert_allclose(metrics["d_loss"], vmapped_metrics["d_loss"][i, s], rtol=1e-5)
    chex.assert_trees_all_close(jax.tree.leaves(state),
                                jax.tree.leaves(multiseed.take_seed(vmapped, i)),
                                rtol=1e-5, atol=1e-6)
  # Seeds differ from each other.
  assert not np.allclose(vmapped_metrics["d_loss"][0], vmapped_metrics["d_loss"][1])
  samples = multiseed.generate_per_seed(vmapped, jnp.zeros((3, 5, 2)))
  chex.assert_shape(samples, (3, 5, 2))


def test_benchmark_writes_the_speedup_json(tmp_path):
  from conftest import run_module  # pylint: disable=g-import-not-at-top
  out = tmp_path / "bench.json"
  result = run_module("experiments.benchmark_multiseed", f"--out={out}",
                      "--config.num_seeds=2", "--config.num_steps=3", "--config.repeats=1",
                      "--config.g_widths=(8,)", "--config.d_widths=(8,)",
                      "--config.batch_size=8")
  assert result.returncode == 0, result.stderr[-3000:]
  import json  # pylint: disable=g-import-not-at-top
  report = json.loads(out.read_text())
  assert report["speedup_vmapped_over_sequential"] > 0
  assert report["max_abs_difference_of_final_generator_params"] < 1e-4
  assert report["vmapped"]["seed_steps_per_second"] > 0
