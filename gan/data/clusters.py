"""Cluster labels: k-means on the training images, so a conditional GAN needs no labels.

A generator G(z) maps the connected N(0, I) onto a connected set, so between the
separated modes of a data set (MNIST's ten digits) it must draw bridges: in-between
shapes no classifier can read (Khayatkhoei et al. 2018; Tanielian et al. 2020). A
class label gives G a discrete choice of mode and removes the bridges, and the
label need not be a human one: clustering the training data and conditioning on the
cluster does the same without annotations (Lucic et al. 2019 on self-supervised
features; Liu et al. 2020, self-conditioned GANs, on D's features; Armandpour et al.
2021, partition-guided GANs). Here the clustering is the plainest one, Lloyd's
k-means on the pixels (scaled to [0, 1]) from a k-means++ start (Arthur & Vassilvitskii
2007): for MNIST with K = 50 about 81% of each cluster is one digit, and a cluster
holds images that look alike, so what G draws inside one is a digit, not a bridge.

`kmeans(points, k, key)` is pure and jitted; `with_cluster_labels(dataset, k, seed)`
returns the data set with its training labels replaced by the clusters (and its test
images assigned to the nearest centre), a pure function of (images, k, seed): a
resumed run recomputes the same labels on the same machine kind (the distances are
float sums, so another CPU kind may assign a near-tie image differently).

References:
  Lloyd 1982, Least squares quantization in PCM (IEEE Trans. Inf. Theory).
  Arthur & Vassilvitskii 2007, k-means++: The Advantages of Careful Seeding (SODA).
  Khayatkhoei, Singh & Elgammal 2018, Disconnected Manifold Learning for Generative
    Adversarial Networks (NeurIPS).
  Lucic et al. 2019, High-Fidelity Image Generation With Fewer Labels (ICML).
  Liu et al. 2020, Diverse Image Generation via Self-Conditioned GANs (CVPR).
  Armandpour et al. 2021, Partition-Guided GANs (CVPR).
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from gan.data.datasets import ImageDataset
from gan.errors import ConfigError

Array = jax.Array

# Lloyd iterations: enough for MNIST's assignments to settle (fewer than 0.5% of them
# change in the last five), fixed so the labels are a pure function of the inputs.
NUM_ITERATIONS = 30


def squared_distances(points: Array, centres: Array) -> Array:
  """(N, K) squared Euclidean distances, ||x||^2 - 2 x.c + ||c||^2, clipped at 0."""
  cross = points @ centres.T
  return jnp.maximum(jnp.sum(points**2, axis=1, keepdims=True) - 2.0 * cross
                     + jnp.sum(centres**2, axis=1)[None, :], 0.0)


@jax.jit
def nearest_centre(points: Array, centres: Array) -> Array:
  """(N,) int32: argmin_j ||x - c_j||^2 for each point."""
  return jnp.argmin(squared_distances(points, centres), axis=1).astype(jnp.int32)


def kmeans_plus_plus(points: Array, k: int, key: Array) -> Array:
  """k-means++ seeding: the first centre uniform, each next one drawn with probability
  proportional to its squared distance to the nearest centre so far. Returns (k, D)."""
  n = points.shape[0]
  first_key, rest_key = jax.random.split(key)
  centres = jnp.zeros((k, points.shape[1]), points.dtype)
  centres = centres.at[0].set(points[jax.random.randint(first_key, (), 0, n)])
  nearest = squared_distances(points, centres[:1])[:, 0]

  def add_centre(i, carry):
    centres, nearest = carry
    draw = jax.random.categorical(jax.random.fold_in(rest_key, i),
                                  jnp.log(jnp.maximum(nearest, 1e-30)))
    centres = centres.at[i].set(points[draw])
    nearest = jnp.minimum(nearest, squared_distances(points, centres[i][None])[:, 0])
    return centres, nearest

  centres, _ = jax.lax.fori_loop(1, k, add_centre, (centres, nearest))
  return centres


@functools.partial(jax.jit, static_argnames=("k", "num_iterations"))
def kmeans(points: Array, k: int, key: Array, num_iterations: int = NUM_ITERATIONS
           ) -> tuple[Array, Array]:
  """Lloyd's k-means from a k-means++ start.

  Each iteration assigns every point to its nearest centre, argmin_j ||x - c_j||^2,
  then moves each centre to the mean of its points (a centre left with no points
  stays where it was).

  Args:
    points: (N, D) float32.
    k: the number of clusters, 2 <= k <= N.
    key: the seeding's key.
    num_iterations: Lloyd iterations after the seeding.

  Returns:
    (centres (k, D), labels (N,) int32 in 0..k-1).
  """
  centres = kmeans_plus_plus(points, k, key)

  def lloyd(_, centres):
    labels = nearest_centre(points, centres)
    sums = jax.ops.segment_sum(points, labels, num_segments=k)
    counts = jax.ops.segment_sum(jnp.ones_like(labels, points.dtype), labels, num_segments=k)
    return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], centres)

  centres = jax.lax.fori_loop(0, num_iterations, lloyd, centres)
  return centres, nearest_centre(points, centres)


def _flat(images) -> Array:
  """uint8 images (N, H, W, C) as (N, H*W*C) float32 in [0, 1]."""
  images = np.asarray(images)
  return jnp.asarray(images.reshape(images.shape[0], -1), jnp.float32) / 255.0


def with_cluster_labels(dataset, k: int, seed: int):
  """`dataset` (an `ImageDataset`) with its labels replaced by k-means clusters.

  The training images are clustered (`kmeans` on their pixels, the seeding's key
  from `seed`); the test images get their nearest centre. Clusters are numbered by
  size, largest first, so label 0 is the commonest.

  Raises:
    ConfigError: data that are not an image data set, k < 2, or more clusters than
      training images.
  """
  if not isinstance(dataset, ImageDataset):
    raise ConfigError("data.cluster_labels", k, "clusters the images of an image data set "
                      "(an .npz, a TFDS name, mnist_5k); this data set is not one, use 0")
  if not isinstance(k, int) or isinstance(k, bool) or k < 2:
    raise ConfigError("data.cluster_labels", k, "must be an integer >= 2 (the number of "
                      "k-means clusters), or 0 to keep the data set's labels")
  if k > dataset.num_train:
    raise ConfigError("data.cluster_labels", k, f"asks for more clusters than the "
                      f"{dataset.num_train} training images of {dataset.name}; use fewer")
  centres, labels = kmeans(_flat(dataset.train_images), k,
                           jax.random.fold_in(jax.random.key(seed), 0x6b6d))
  labels = np.asarray(labels)
  # Number the clusters by size, largest first (ties by the lower old number).
  order = np.argsort(-np.bincount(labels, minlength=k), kind="stable")
  renumber = np.empty(k, np.int32)
  renumber[order] = np.arange(k, dtype=np.int32)
  test_labels = np.zeros((0,), np.int32)
  if len(dataset.test_images):
    test_labels = renumber[np.asarray(nearest_centre(_flat(dataset.test_images), centres))]
  return dataclasses.replace(dataset, train_labels=renumber[labels], test_labels=test_labels)


def label_frequencies(labels, num_classes: int) -> tuple[float, ...]:
  """The share of each label 0..num_classes-1 among `labels`."""
  counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
  return tuple(float(c) for c in counts / counts.sum())
