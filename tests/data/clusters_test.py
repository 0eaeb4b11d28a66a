"""k-means cluster labels (`gan.data.clusters`): the clustering, the data set, a run on them."""

import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import build, data, rundir
from gan.data import clusters
from gan.errors import ConfigError, UserError


def _blobs(sizes, dim=6, spread=0.05, seed=0):
  """Points around len(sizes) far-apart centres (the unit vectors times 3), and their blob."""
  rng = np.random.default_rng(seed)
  centres = 3.0 * np.eye(len(sizes), dim)
  blob = np.repeat(np.arange(len(sizes)), sizes)
  return (centres[blob] + spread * rng.standard_normal((len(blob), dim))).astype(np.float32), blob


def test_squared_distances_equal_the_direct_sum():
  rng = np.random.default_rng(1)
  x, c = rng.standard_normal((7, 5)), rng.standard_normal((3, 5))
  direct = ((x[:, None, :] - c[None, :, :])**2).sum(-1)
  np.testing.assert_allclose(clusters.squared_distances(jnp.asarray(x), jnp.asarray(c)),
                             direct, rtol=1e-5, atol=1e-5)


def test_kmeans_finds_separated_blobs_and_their_means():
  points, blob = _blobs([40, 25, 60, 10])
  centres, labels = clusters.kmeans(jnp.asarray(points), 4, jax.random.key(0))
  labels = np.asarray(labels)
  # Each cluster is one blob, whole (a permutation of the blob numbers).
  pairs = set(zip(blob.tolist(), labels.tolist()))
  assert len(pairs) == 4 and len({b for b, _ in pairs}) == len({l for _, l in pairs}) == 4
  for b, l in pairs:
    np.testing.assert_allclose(centres[l], points[blob == b].mean(0), atol=1e-5)
  # A pure function of its inputs: the same key gives the same labels.
  np.testing.assert_array_equal(clusters.kmeans(jnp.asarray(points), 4, jax.random.key(0))[1],
                                labels)


def test_kmeans_plus_plus_starts_from_distinct_points_of_the_data():
  points, _ = _blobs([30, 30, 30])
  centres = np.asarray(clusters.kmeans_plus_plus(jnp.asarray(points), 3, jax.random.key(4)))
  rows = [np.flatnonzero((points == c).all(1)) for c in centres]
  assert all(len(r) == 1 for r in rows) and len({int(r[0]) for r in rows}) == 3
  # Far-apart blobs: k-means++ puts one start in each (the distance weights make a
  # second start in the same blob about 1e-4 likely).
  assert len({int(np.argmax(c)) for c in centres}) == 3


def _image_set(sizes, seed=0):
  """An ImageDataset of 4x4 grey images at grey levels 40 (blob 0), 120, 200, ..., with
  pixel noise; labels all 7 (to be replaced); 3 test images, one per first 3 blobs."""
  rng = np.random.default_rng(seed)
  blob = np.repeat(np.arange(len(sizes)), sizes)
  level = 40 + 80 * blob
  train = np.clip(level[:, None, None] + rng.integers(-5, 6, (len(blob), 4, 4)), 0, 255)
  test = np.stack([np.full((4, 4), 40 + 80 * b) for b in (2, 0, 1)])
  return data.from_arrays("blobs", train.astype(np.uint8), np.full(len(blob), 7),
                          test.astype(np.uint8), np.zeros(3, np.int64)), blob


def test_cluster_labels_are_numbered_by_size_and_the_test_images_take_the_nearest():
  dataset, blob = _image_set([30, 80, 50])
  labelled = clusters.with_cluster_labels(dataset, 3, seed=0)
  # Largest cluster first: blob 1 (80) -> 0, blob 2 (50) -> 1, blob 0 (30) -> 2.
  np.testing.assert_array_equal(labelled.train_labels, np.array([2, 0, 1])[blob])
  np.testing.assert_array_equal(labelled.test_labels, [1, 2, 0])
  assert labelled.num_classes == 3 and labelled.train_images is dataset.train_images
  assert clusters.label_frequencies(labelled.train_labels, 3) == pytest.approx(
      (80 / 160, 50 / 160, 30 / 160))


def test_bad_cluster_counts_and_data_are_config_errors():
  dataset, _ = _image_set([3, 3])
  for k in (1, True, 2.0):
    with pytest.raises(ConfigError, match="data.cluster_labels"):
      clusters.with_cluster_labels(dataset, k, seed=0)
  with pytest.raises(ConfigError, match="more clusters than the 6 training images"):
    clusters.with_cluster_labels(dataset, 7, seed=0)
  points = data.load("mixture:grid")
  with pytest.raises(ConfigError, match="not one, use 0"):
    clusters.with_cluster_labels(points, 3, seed=0)
  for value in (1, -2):
    config = conftest.tiny_mlp_config("mnist_5k", task="conditional_gan",
                                      **{"data.cluster_labels": value})
    with pytest.raises(ConfigError, match="data.cluster_labels"):
      build.build(config, data.DataSpec("x", (4, 4, 1), 3))


def test_an_unconditional_task_refuses_cluster_labels():
  dataset, _ = _image_set([10, 10])
  config = conftest.tiny_mlp_config("blobs", **{"data.cluster_labels": 2})
  with pytest.raises(ConfigError, match="task gan takes none"):
    build.build(config, dataset)


# ------------------------------------------------ a conditional run on cluster labels


def _cluster_config(dataset, num_steps):
  return conftest.tiny_conditional_config(dataset, num_steps, **{"data.cluster_labels": 6})


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory, digits):
  root = tmp_path_factory.mktemp("clusters")
  conftest.train_whole_and_resumed(lambda n: _cluster_config(digits, n), root)
  return root


def _digest(workdir):
  _, state = rundir.restore(str(workdir))
  return [np.asarray(leaf) for leaf in jax.tree.leaves(state)]


def test_a_run_on_cluster_labels_resumes_bit_for_bit_and_draws_at_the_clusters_rates(
    cluster_runs, digits):
  root = cluster_runs
  chex.assert_trees_all_equal(_digest(root / "resumed"), _digest(root / "whole"))
  with open(root / "whole" / rundir.DATA_FILE) as f:
    saved = json.load(f)
  # The labels the run trained on: the 2,048 digits' clusters, recomputed here.
  labels = clusters.with_cluster_labels(data.load(digits), 6, seed=0).train_labels
  expected = np.bincount(labels, minlength=6) / len(labels)
  assert saved["num_classes"] == 6
  np.testing.assert_allclose(saved["label_frequencies"], expected)
  assert list(expected) == sorted(expected, reverse=True)  # Numbered by size.
  # The restored run (no data loaded) samples labels at those rates.
  run, _ = rundir.restore(str(root / "whole"))
  drawn = np.asarray(run.task.sample_inputs(jax.random.key(3), 20000)["label"])
  np.testing.assert_allclose(np.bincount(drawn, minlength=6) / 20000, expected, atol=0.015)


def test_per_class_scores_are_refused_for_cluster_labels(cluster_runs):
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  with pytest.raises(UserError, match="k-means clusters.*use per_code"):
    evaluate.evaluate_run(str(cluster_runs / "whole"), per_class=10, progress=False)
  assert os.path.isdir(cluster_runs / "whole" / "checkpoints")


def test_the_evaluation_hook_scores_with_the_data_sets_own_labels(cluster_runs, digits,
                                                                  monkeypatch):
  from gan.eval import evaluate  # pylint: disable=g-import-not-at-top
  seen = []

  def choose(dataset, **kwargs):
    del kwargs
    seen.append(dataset)
    raise UserError("stop here")

  monkeypatch.setattr(evaluate, "choose_extractor", choose)
  run = build.build(_cluster_config(digits, 4))
  assert run.data.num_classes == 6  # The run trains on the clusters ...
  with pytest.raises(UserError, match="stop here"):
    evaluate.evaluation_hook(run, progress=False)
  # ... and the extractor is chosen for the digits with their own labels.
  np.testing.assert_array_equal(seen[0].train_labels, data.load(digits).train_labels)


def test_a_grid_of_fewer_than_two_samples_per_cluster_is_square_and_cycles_the_labels():
  from gan.tasks import base  # pylint: disable=g-import-not-at-top
  _, preview = base.latent_inputs(8, 50, (0.02,) * 50)
  inputs = preview(jax.random.key(0), 64)
  np.testing.assert_array_equal(inputs["label"], np.arange(64) % 50)
  assert inputs["z"].shape == (64, 8) and base.class_grid_columns(64, 50) == 0
  assert base.class_grid_columns(100, 10) == 10 and base.class_grid_columns(20, 10) == 2
  assert base.class_grid_columns(64, 0) == 0


def test_a_conditional_vae_takes_cluster_labels_too():
  from gan.tasks import vae  # pylint: disable=g-import-not-at-top
  dataset, _ = _image_set([12, 20, 8])
  config = vae.config("vae")
  config.model.conditional = True
  config.model.encoder_widths, config.model.decoder_widths = (4, 4), (4, 4, 4)
  config.batch_size, config.data.cluster_labels = 8, 3
  run = build.build(config, dataset)
  assert run.spec.num_classes == 3 and run.spec.label_frequencies == pytest.approx(
      (0.5, 0.3, 0.2))
  assert "label" in run.task.batch_fields


class _LevelReader:
  """A fake classifier: class k for an image of grey level 20 k (one-hot logits)."""

  name, checksum, image_shape, feature_dim, num_classes = "reader", "0", (4, 4, 1), 1, 10

  def __call__(self, images):
    level = np.round(images[:, 0, 0, 0] / 20.0).astype(np.int32)
    return (jnp.asarray(images.reshape(len(images), -1)[:, :1], jnp.float32),
            10.0 * jax.nn.one_hot(level, 10))

  def describe(self):
    return {"name": self.name}


def test_per_code_reads_which_digit_each_cluster_draws():
  from types import SimpleNamespace  # pylint: disable=g-import-not-at-top
  from gan.eval import conditional  # pylint: disable=g-import-not-at-top
  config = conftest.tiny_mlp_config("blobs", task="conditional_gan",
                                    **{"data.cluster_labels": 3})
  digit_of_cluster = {0: 7, 1: 2, 2: 7}

  def sample(state, num, key, label=None):
    del state, key
    return np.full((num, 4, 4, 1), 20 * digit_of_cluster[label] / 127.5 - 1.0, np.float32)

  run = SimpleNamespace(config=config, task=SimpleNamespace(parts={"num_classes": 3}),
                        sample=sample)
  result = conditional.per_code_readings(run, None, _LevelReader(), per_code=10)
  assert [r["class"] for r in result["per_code"]] == [7, 2, 7]
  assert result["purity"] == 1.0 and result["classes_drawn"] == [2, 7]
