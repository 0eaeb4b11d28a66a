"""The 2-D mixtures: their modes (8 distinct on the ring, 25 on the grid) and sampling."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import backends
from gan.data import mixtures
from gan.errors import UserError


@pytest.fixture(scope="module", autouse=True)
def _platform_backend():
  """Draws are traced as in a run: the builder prepares the platform's backend (on CPU, the
  unrolled Threefry lowering: the same bits, compiled several times faster)."""
  backends.for_platform(jax.default_backend()).prepare()


def test_ring_has_eight_distinct_modes_on_the_unit_circle():
  ring = mixtures.get_mixture("ring")
  assert ring.num_modes == 8 and ring.std == 0.01
  np.testing.assert_allclose(np.linalg.norm(ring.means, axis=1), 1.0, atol=1e-12)
  angles = np.sort(np.mod(np.arctan2(ring.means[:, 1], ring.means[:, 0]), 2 * np.pi))
  np.testing.assert_allclose(angles, np.arange(8) * np.pi / 4, atol=1e-12)
  gaps = np.linalg.norm(ring.means[:, None] - ring.means[None], axis=-1)
  assert np.min(gaps + np.eye(8) * 9) == pytest.approx(2 * np.sin(np.pi / 8))
  # The bug this avoids: linspace(0, 2 pi, 8) repeats the first mode.
  buggy = np.linspace(0, 2 * np.pi, 8)
  buggy_means = np.round(np.stack([np.cos(buggy), np.sin(buggy)], 1), 9)
  assert len({tuple(m) for m in buggy_means}) == 7


def test_grid_is_the_5x5_lattice_with_spacing_2():
  grid = mixtures.get_mixture("grid")
  assert grid.num_modes == 25 and grid.std == 0.05
  expected = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
  assert {tuple(m) for m in np.round(grid.means, 12) + 0.0} == expected


def test_samples_are_a_pure_function_of_key_and_step():
  ring = mixtures.get_mixture("ring")
  key = jax.random.key(3)
  batch = jax.jit(lambda k, s: mixtures.mixture_batch(ring, k, s, batch_size=16, d_steps=2))
  a, b, c = batch(key, 5), batch(key, 5), batch(key, 6)
  chex.assert_shape(a, (2, 16, 2))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert not np.array_equal(a[0], a[1])  # The two D updates see different points.
  reference = jax.jit(lambda k: mixtures.sample(ring, jax.random.fold_in(k, 5), (2, 16)))
  np.testing.assert_allclose(a, reference(key),
                             atol=1e-6)  # XLA may fuse mu + sigma * eps differently.


def test_samples_have_uniform_modes_and_the_mixture_std():
  grid = mixtures.get_mixture("grid")
  points, modes = jax.jit(lambda k: mixtures.sample_with_modes(grid, k, (50000,)))(
      jax.random.key(0))
  points, modes = np.asarray(points, np.float64), np.asarray(modes)
  counts = np.bincount(modes, minlength=25)
  assert counts.min() > 1800 and counts.max() < 2200  # 2000 expected, sd ~44.
  residual = points - grid.means[modes]
  np.testing.assert_allclose(residual.std(axis=0), 0.05, rtol=0.02)
  np.testing.assert_allclose(residual.mean(axis=0), 0.0, atol=1e-3)


def test_unknown_mixture_names_the_choices():
  with pytest.raises(UserError, match="grid.*ring"):
    mixtures.get_mixture("spiral")


def test_mixtures_hash_by_value_for_jit():
  assert hash(mixtures.ring()) == hash(mixtures.get_mixture("ring"))
  assert mixtures.ring() == mixtures.get_mixture("ring") != mixtures.grid()
  assert jnp.asarray(mixtures.ring(num_modes=5).means).shape == (5, 2)


def test_stacked_mnist_batches_stack_three_training_digits():
  digits = jnp.asarray(np.arange(7)[:, None, None] * np.ones((1, 4, 4)), jnp.uint8)
  key = jax.random.key(0)
  draw = jax.jit(lambda step: mixtures.stacked_mnist_batch(key, step, digits, batch_size=500,
                                                           d_steps=2))
  batch = draw(2)
  chex.assert_shape(batch, (2, 500, 4, 4, 3))
  assert batch.dtype == jnp.uint8
  batch = np.asarray(batch)
  # Every channel is one whole digit image (constant here, its index).
  np.testing.assert_array_equal(batch, np.broadcast_to(batch[:, :, :1, :1, :], batch.shape))
  triples = batch[:, :, 0, 0, :].reshape(-1, 3)
  assert len({tuple(t) for t in triples.tolist()}) > 200  # Of 7^3 = 343, independent draws.
  np.testing.assert_array_equal(batch, draw(2))
  assert not np.array_equal(batch, draw(3))


@pytest.mark.slow
def test_the_experiment_prints_the_table_and_writes_plots(tmp_path):
  from conftest import run_module  # pylint: disable=g-import-not-at-top
  result = run_module(
      "experiments.mixture_of_gaussians", f"--workdir={tmp_path}", f"--plots_dir={tmp_path}/d",
      "--config.dataset=mixture:grid", "--config.lab.packs=(2,)", "--config.run.num_seeds=2",
      "--config.model.g_widths=(8,8)", "--config.model.d_widths=(8,)", "--config.num_steps=6",
      "--config.run.steps_per_call=3", "--config.run.log_every=3",
      "--config.run.checkpoint_every=6", "--config.lab.d_inputs=4",
      "--config.lab.num_eval_samples=100", "--config.lab.rejection=True",
      "--config.lab.rejection_steps=5", "--config.lab.rejection_batch_size=16",
      "--config.lab.rejection_candidates=4000")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "PacGAN2" in result.stdout and "23.8 +- 0.7" in result.stdout  # The paper's row.
  assert "PacGAN2 + DRS" in result.stdout and "rejection sampling: classifier loss" in result.stdout
  import json  # pylint: disable=g-import-not-at-top
  rows = json.loads((tmp_path / "results.json").read_text())["rows"]
  assert [r["name"] for r in rows] == ["PacGAN2", "PacGAN2 + DRS"]
  assert rows[0]["seeds"] == [0, 1] and len(rows[0]["per_seed"]) == 2
  for row in rows:
    for seed in row["per_seed"]:
      assert seed["modes"] == sum(c > 0 for c in seed["counts"]) <= 25
      # Of 100 samples, high_quality % of them are counted in a mode.
      assert sum(seed["counts"]) == pytest.approx(seed["high_quality"])
  assert len(rows[1]["per_seed"]) == 2 and len(rows[1]["acceptance"]) == 2
  assert all(0 < a <= 1 for a in rows[1]["acceptance"])
  # The row is a run of the program in its own workdir: logs to step 6, a checkpoint at 6.
  row_dir = tmp_path / "pacgan2"
  logged = [json.loads(line) for line in (row_dir / "metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in logged if "d_loss" in r] == [3, 6]
  assert (row_dir / "checkpoints" / "6").is_dir()
  assert json.loads((row_dir / "config.json").read_text())["model"]["pack"] == 2
  assert json.loads((row_dir / "config.json").read_text())["batch_size"] == 8
  for name in ("scatter_grid_pacgan2.png", "d/mixtures_grid_pacgan2.png",
               "scatter_grid_pacgan2_drs.png", "d/mixtures_grid_pacgan2_drs.png"):
    assert (tmp_path / name).stat().st_size > 1000
