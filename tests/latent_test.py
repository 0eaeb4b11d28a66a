"""gan.latent's pure functions, by hand: slerp and lerp, the truncated normal, exact
nearest neighbours, the memorisation ratio, interpolation between weights, the inputs of
latent and class paths, soft labels in the conditional generators, reconstruction with a
stand-in encoder. (The tools on a trained run: tests/cli/latent_test.py.)"""

import contextlib
import math
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import latent, models
from gan.errors import UserError
from gan.tasks.base import Task


def _one_line_error(call, expected: str) -> str:
  with pytest.raises(UserError) as error:
    call()
  message = str(error.value)
  assert "\n" not in message and expected in message, message
  return message


# ------------------------------------------------------------------- lerp and slerp


def test_lerp_and_slerp_are_exact_at_the_endpoints():
  a, b = np.asarray(jax.random.normal(jax.random.key(0), (2, 3, 16)))
  for fn in (latent.lerp, latent.slerp):
    path = np.asarray(fn(a[:, None], b[:, None], np.array([0.0, 0.3, 1.0], np.float32)))
    assert path.shape == (3, 3, 16)
    np.testing.assert_array_equal(path[:, 0], a)
    np.testing.assert_array_equal(path[:, 2], b)


def test_slerp_by_hand_and_constant_norm_for_equal_norms():
  e1, e2 = np.eye(2, dtype=np.float32)
  np.testing.assert_allclose(latent.slerp(e1, e2, 0.5), [math.sqrt(0.5)] * 2, rtol=1e-6)
  # theta = 90 degrees: the point at t is (cos(t pi/2), sin(t pi/2)).
  t = np.linspace(0, 1, 7, dtype=np.float32)
  np.testing.assert_allclose(latent.slerp(e1, e2, t),
                             np.stack([np.cos(t * np.pi / 2), np.sin(t * np.pi / 2)], -1),
                             atol=1e-6)
  a, b = np.asarray(jax.random.normal(jax.random.key(1), (2, 64)))
  a, b = 3 * a / np.linalg.norm(a), 3 * b / np.linalg.norm(b)
  t = np.linspace(0, 1, 11, dtype=np.float32)
  norms = np.linalg.norm(np.asarray(latent.slerp(a, b, t)), axis=-1)
  np.testing.assert_allclose(norms, 3.0, rtol=1e-5)
  # Lerp cuts the chord: its midpoint is shorter, |a + b| / 2 = 3 cos(theta / 2).
  theta = np.arccos(np.dot(a, b) / 9)
  np.testing.assert_allclose(np.linalg.norm(latent.lerp(a, b, 0.5)), 3 * np.cos(theta / 2),
                             rtol=1e-5)


@pytest.mark.parametrize("case", ["parallel", "opposite", "zero"])
def test_slerp_falls_back_to_lerp_where_the_angle_is_undefined(case):
  a = np.array([1.0, 2.0, -0.5], np.float32)
  b = {"parallel": 2 * a, "opposite": -a, "zero": np.zeros(3, np.float32)}[case]
  t = np.linspace(0, 1, 5, dtype=np.float32)
  path = np.asarray(latent.slerp(a, b, t))
  assert np.all(np.isfinite(path))
  np.testing.assert_allclose(path, np.asarray(latent.lerp(a, b, t)), rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------------- truncation


def test_truncated_normal_is_within_bounds_deterministic_and_has_the_right_variance():
  key = jax.random.key(3)
  z = np.asarray(latent.truncated_normal(key, (200_000,), 1.0))
  assert np.all(np.abs(z) < 1.0)
  np.testing.assert_array_equal(z, latent.truncated_normal(key, (200_000,), 1.0))
  assert not np.array_equal(z, latent.truncated_normal(jax.random.key(4), (200_000,), 1.0))
  # Var of N(0, 1) truncated to [-t, t]: 1 - 2 t phi(t) / (2 Phi(t) - 1) = 0.29112 at t = 1.
  phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
  expected = 1 - 2 * phi / math.erf(1 / math.sqrt(2))
  assert abs(np.mean(z**2) - expected) < 0.004 and abs(np.mean(z)) < 0.004


def test_truncation_shrinks_one_keys_draw_and_inf_is_the_normal():
  key = jax.random.key(5)
  full = np.asarray(latent.truncated_normal(key, (4, 32), float("inf")))
  np.testing.assert_array_equal(full, jax.random.normal(key, (4, 32)))
  small = np.asarray(latent.truncated_normal(key, (4, 32), 0.5))
  assert np.all(np.sign(small) == np.sign(full))
  assert np.all(np.abs(small) <= np.abs(full) + 1e-6) and np.all(np.abs(small) < 0.5)
  assert latent.truncated_mass(float("inf")) == 0.0
  assert latent.truncated_mass(1.0) == pytest.approx(0.3173105, abs=1e-6)


@pytest.mark.parametrize("threshold", [0, 0.0, -1.0, float("nan"), "a", True, None])
def test_threshold_outside_zero_inf_is_one_line(threshold):
  _one_line_error(lambda: latent.truncated_normal(jax.random.key(0), (2,), threshold),
                  "must be in (0, inf]")


# ------------------------------------------------------------- nearest neighbours


def _brute_force(queries, train, k):
  squared = ((queries[:, None, :] - train[None, :, :]) ** 2).sum(-1)
  order = np.argsort(squared, axis=1, kind="stable")[:, :k]
  return np.sqrt(np.take_along_axis(squared, order, axis=1)), order


@pytest.mark.parametrize("block_rows", [None, 1, 5, 37])
def test_nearest_neighbours_match_brute_force_with_ties_and_blocks(block_rows):
  rng = np.random.default_rng(0)
  # Small integer coordinates: many exact ties, every distance exact in float64.
  train = rng.integers(0, 3, (50, 3)).astype(np.float64)
  queries = rng.integers(0, 3, (37, 3)).astype(np.float64)
  queries[:5] = train[:5]  # Zero distances, and duplicates among the training rows.
  distances, indices = latent.nearest_neighbours(queries, train, 4, block_rows=block_rows)
  want_distances, want_indices = _brute_force(queries, train, 4)
  assert distances.shape == indices.shape == (37, 4)
  np.testing.assert_array_equal(indices, want_indices)
  np.testing.assert_array_equal(distances, want_distances)
  assert np.all(distances[:5, 0] == 0)


def test_nearest_neighbours_refuse_bad_input():
  _one_line_error(lambda: latent.nearest_neighbours(np.ones((2, 3)), np.ones((2, 3)), 3),
                  "needs at least 3")
  _one_line_error(lambda: latent.nearest_neighbours(np.ones((2, 3)), np.ones((5, 4)), 1),
                  "feature_dim 3 but train_features 4")
  _one_line_error(lambda: latent.nearest_neighbours(np.ones((2, 3)), np.ones((5, 3)), 0),
                  "positive integer")


def test_memorisation_ratio_on_a_grid_of_training_points():
  train = np.stack(np.meshgrid(np.arange(5.0), np.arange(5.0)), -1).reshape(-1, 2)
  samples = train[:10] + [0.1, 0.0]  # 0.1 from their training point...
  test = train[5:20] + [0.0, 0.3]  # ...new real points 0.3 from theirs.
  d_samples, _ = latent.nearest_neighbours(samples, train, 2)
  d_test, _ = latent.nearest_neighbours(test, train, 1)
  result = latent.memorisation_ratio(d_samples, d_test)
  assert result["ratio"] == pytest.approx(1 / 3, rel=1e-9)
  assert result["sample_median"] == pytest.approx(0.1, rel=1e-9)
  assert result["test_median"] == pytest.approx(0.3, rel=1e-9)
  assert result["copies_share"] == 1.0
  copies, _ = latent.nearest_neighbours(train[:10], train, 1)
  assert latent.memorisation_ratio(copies, d_test)["ratio"] == 0.0
  novel = latent.memorisation_ratio(d_test, d_test)
  assert novel["ratio"] == 1.0 and novel["copies_share"] == 0.0


def test_neighbour_grid_rows_are_a_sample_then_its_neighbours():
  samples = np.full((2, 2, 2, 1), 7, np.uint8)
  train = np.arange(5, dtype=np.uint8)[:, None, None, None] * np.ones((5, 2, 2, 1), np.uint8)
  grid = latent.neighbour_grid(samples, train, np.array([[3, 1], [0, 4]]))
  assert grid.shape == (6, 2, 2, 1)
  np.testing.assert_allclose(grid[:, 0, 0, 0], np.array([7, 3, 1, 7, 0, 4]) / 127.5 - 1)


def test_pixel_features_are_the_images_in_minus_one_one():
  images = np.array([[[[0]], [[255]]]], np.uint8)
  np.testing.assert_array_equal(latent.pixel_features(images), [[-1.0, 1.0]])


# --------------------------------------------------------- interpolation of weights


def _state(seed, shape=(3, 2)):
  rng = np.random.default_rng(seed)
  return {"params": {"w": jnp.asarray(rng.normal(size=shape), jnp.float32),
                     "b": jnp.asarray(rng.normal(size=(2,)), jnp.float32)},
          "step": jnp.asarray(seed, jnp.int32)}


def test_interpolate_states_gives_the_endpoints_and_the_leafwise_mean():
  a, b = _state(1), _state(2)
  for t, want in ((0.0, a), (1.0, b)):
    got = latent.interpolate_states(a, b, t)
    for name in ("w", "b"):
      np.testing.assert_array_equal(got["params"][name], want["params"][name])
  middle = latent.interpolate_states(a, b, 0.5)
  np.testing.assert_allclose(middle["params"]["w"], (a["params"]["w"] + b["params"]["w"]) / 2,
                             rtol=1e-6)
  assert int(middle["step"]) == 1 and middle["params"]["w"].dtype == jnp.float32  # A's step.


def test_interpolate_states_refuses_different_models():
  a = _state(1)
  _one_line_error(lambda: latent.interpolate_states(a, _state(2, shape=(4, 2)), 0.5,
                                                    names=("run1", "run2")),
                  "the runs run1 and run2 are different models (params/w is float32[3, 2] in "
                  "run1 and float32[4, 2] in run2)")
  extra = _state(2)
  extra["params"]["v"] = jnp.zeros(2)
  _one_line_error(lambda: latent.interpolate_states(a, extra, 0.5), "params/v only in b")
  other_dtype = _state(2)
  other_dtype["params"]["b"] = other_dtype["params"]["b"].astype(jnp.bfloat16)
  _one_line_error(lambda: latent.check_same_model(a, other_dtype), "different models")


# ------------------------------------------------------------ latent and class paths


def _task(*, num_classes=0, noise_dim=6, with_z=True):
  """A stand-in task drawing z (and labels) as the GAN task does."""
  def sample_inputs(key, n):
    inputs = {"z" if with_z else "source": jax.random.normal(key, (n, noise_dim))}
    if num_classes:
      inputs["label"] = jax.random.randint(jax.random.fold_in(key, 1), (n,), 0, num_classes)
    return inputs
  return Task(name="stand_in", init=None, step=None, generate=lambda state, inputs: None,
              sample_inputs=sample_inputs, parts={"num_classes": num_classes})


@pytest.mark.parametrize("mode", ["lerp", "slerp"])
def test_latent_paths_run_from_a_to_b_and_keep_the_label(mode):
  task, key = _task(num_classes=10), jax.random.key(7)
  inputs = latent.interpolation_inputs(task, key, num=5, rows=3, mode=mode)
  ends = task.sample_inputs(key, 6)
  z = np.asarray(inputs["z"]).reshape(3, 5, 6)
  np.testing.assert_array_equal(z[:, 0], ends["z"][:3])
  np.testing.assert_array_equal(z[:, -1], ends["z"][3:])
  np.testing.assert_allclose(z[1, 2], (latent.slerp if mode == "slerp" else latent.lerp)(
      ends["z"][1], ends["z"][4], 0.5), rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(inputs["label"]).reshape(3, 5),
                                np.repeat(np.asarray(ends["label"][:3])[:, None], 5, axis=1))
  again = latent.interpolation_inputs(task, key, num=5, rows=3, mode=mode)
  np.testing.assert_array_equal(again["z"], inputs["z"])


def test_class_paths_hold_z_and_walk_the_label_weights():
  task, key = _task(num_classes=10), jax.random.key(8)
  inputs = latent.interpolation_inputs(task, key, num=3, rows=2, classes=(3, 8))
  z = np.asarray(inputs["z"]).reshape(2, 3, 6)
  np.testing.assert_array_equal(z, np.repeat(np.asarray(task.sample_inputs(key, 2)["z"])[:, None],
                                             3, axis=1))
  want = np.zeros((3, 10), np.float32)
  want[0, 3], want[1, 3], want[1, 8], want[2, 8] = 1, 0.5, 0.5, 1
  np.testing.assert_array_equal(np.asarray(inputs["label"]), np.tile(want, (2, 1)))


def test_paths_refuse_bad_input():
  key = jax.random.key(0)
  _one_line_error(lambda: latent.interpolation_inputs(_task(), key, num=4, classes=(1, 2)),
                  "class interpolation is for a conditional run")
  _one_line_error(lambda: latent.interpolation_inputs(_task(num_classes=10), key, num=4,
                                                      classes=(1, 10)),
                  "trained on classes 0..9")
  _one_line_error(lambda: latent.interpolation_inputs(_task(), key, num=1), "at least 2")
  _one_line_error(lambda: latent.interpolation_inputs(_task(), key, num=3, mode="cubic"),
                  "not an interpolation")
  _one_line_error(lambda: latent.interpolation_inputs(_task(with_z=False), key, num=3),
                  "draws no latent z")
  translation = Task(name="pix2pix", init=None, step=None, generate=lambda s, i: None)
  _one_line_error(lambda: latent.interpolation_inputs(translation, key, num=3),
                  "generates from data, not from a latent z")
  classifier = Task(name="classifier", init=None, step=None)
  _one_line_error(lambda: latent.truncated_inputs(classifier, key, 2, 1.0),
                  "does not generate samples")


# --------------------------------------------------------- soft labels in the models


@pytest.mark.parametrize("family", ["mlp", "resnet"])
def test_conditional_generators_take_soft_labels(family):
  widths = (8,) if family == "mlp" else (4,)
  generator, _ = models.build(family, image_shape=(8, 8, 1) if family == "mlp" else (28, 28, 1),
                              g_widths=widths, d_widths=(4,), num_classes=4)
  z = jax.random.normal(jax.random.key(0), (3, 5))
  labels = jnp.array([0, 2, 3])
  variables = generator.init(jax.random.key(1), z, labels, train=False)
  if family == "resnet":  # Class-dependent scales and shifts (they start at 1 and 0).
    variables = jax.tree_util.tree_map_with_path(
        lambda path, x: x + jax.random.normal(jax.random.key(len(str(path))), x.shape)
        if "gamma" in str(path) or "beta" in str(path) else x, variables)
  apply = lambda y: np.asarray(generator.apply(variables, z, y, train=False))
  hard = apply(labels)
  np.testing.assert_array_equal(apply(jax.nn.one_hot(labels, 4)), hard)  # Bit for bit.
  middle = apply(jnp.array([[0.5, 0, 0.5, 0]] * 3, jnp.float32))
  assert not np.allclose(middle, hard)
  if family == "mlp":  # G(z, w) = inner(concat(z, w @ E)), E the label embedding.
    table = variables["params"]["label_embedding"]["embedding"]
    inner = lambda e: generator.inner.apply({"params": variables["params"]["inner"]},
                                            jnp.concatenate([z, e], -1), train=False)
    np.testing.assert_allclose(middle, inner(jnp.tile((table[0] + table[2]) / 2, (3, 1))),
                               rtol=1e-5, atol=1e-6)
  _one_line_error(lambda: apply(jnp.ones((3, 5), jnp.float32)), "shape (B, 4)")


# ------------------------------------------------------------------ reconstruction


def _stand_in_run(reconstruct, batch_fields=("image",)):
  task = Task(name="stand_in_ae", init=None, step=None, batch_fields=batch_fields,
              reconstruct=reconstruct)
  return types.SimpleNamespace(task=task, first_seed=lambda state: state,
                               backend=types.SimpleNamespace(lowering=contextlib.nullcontext))


def test_reconstruct_calls_the_tasks_encoder_decoder():
  images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1) * 7
  run = _stand_in_run(lambda state, inputs: inputs["image"] * state)
  np.testing.assert_allclose(latent.reconstruct(run, 0.5, images),
                             (images / 127.5 - 1) * 0.5, atol=1e-6)
  conditional = _stand_in_run(lambda state, inputs: inputs["image"] + inputs["label"][:, None,
                                                                                       None, None],
                              batch_fields=("image", "label"))
  out = latent.reconstruct(conditional, None, images, np.array([0, 1]))
  np.testing.assert_allclose(out[1] - out[0], images[1] / 127.5 - images[0] / 127.5 + 1,
                             rtol=1e-5)
  _one_line_error(lambda: latent.reconstruct(conditional, None, images), "needs the images' labels")
  gan = _stand_in_run(None)
  _one_line_error(lambda: latent.reconstruct(gan, None, images),
                  "task stand_in_ae has no encoder to reconstruct with")


def test_reconstruction_grid_pairs_rows_and_fills_the_last():
  images = np.zeros((5, 2, 2, 1), np.uint8)  # -1 in floats
  recon = np.zeros((5, 2, 2, 1), np.float32)
  grid = latent.reconstruction_grid(images, recon, columns=3)
  assert grid.shape == (12, 2, 2, 1)
  np.testing.assert_array_equal(grid[:, 0, 0, 0], [-1, -1, -1, 0, 0, 0, -1, -1, 1, 0, 0, 1])
