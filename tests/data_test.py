"""Data sources and the deterministic batch order."""

import numpy as np
import pytest

from gan import data
from gan.errors import UserError


def test_batch_indices_are_a_pure_function_of_seed_and_step():
  a = data.batch_indices(100, 10, seed=3, step=17)
  assert np.array_equal(a, data.batch_indices(100, 10, seed=3, step=17))
  assert not np.array_equal(a, data.batch_indices(100, 10, seed=4, step=17))


def test_an_epoch_is_a_permutation_and_epochs_differ():
  epoch0 = np.concatenate([data.batch_indices(100, 10, 0, s) for s in range(10)])
  epoch1 = np.concatenate([data.batch_indices(100, 10, 0, s) for s in range(10, 20)])
  assert sorted(epoch0) == list(range(100)) and sorted(epoch1) == list(range(100))
  assert not np.array_equal(epoch0, epoch1)


def test_remainder_is_dropped():
  idx = np.concatenate([data.batch_indices(25, 10, 0, s) for s in range(2)])
  assert len(set(idx)) == 20


def test_process_slices_tile_the_global_batch():
  images = np.arange(64, dtype=np.uint8).reshape(64, 1, 1, 1)
  whole = data.BatchSource(images, batch_size=8, d_steps=2, seed=0)(5)
  parts = [data.BatchSource(images, batch_size=8, d_steps=2, seed=0, process_index=p,
                            process_count=2)(5) for p in range(2)]
  assert whole.shape == (2, 8, 1, 1, 1)
  assert np.array_equal(np.concatenate(parts, axis=1), whole)


def test_offline_mnist_5k():
  ds = data.load_dataset("mnist_5k")
  assert ds.train_images.shape == (5000, 28, 28, 1) and ds.train_images.dtype == np.uint8
  assert sorted(set(ds.train_labels.tolist())) == list(range(10))
  assert ds.train_images.max() == 255


def test_real_mnist_npz(mnist_npz):
  ds = data.load_dataset(mnist_npz)
  assert ds.train_images.shape == (60000, 28, 28, 1)
  assert ds.test_images.shape == (10000, 28, 28, 1)
  assert np.bincount(ds.test_labels).tolist()[:3] == [980, 1135, 1032]


def test_rgb_npz_and_float_images(tmp_path):
  path = tmp_path / "rgb.npz"
  np.savez(path, x_train=np.full((4, 32, 32, 3), 7.0), y_train=np.arange(4))
  ds = data.load_dataset(str(path))
  assert ds.image_shape == (32, 32, 3) and ds.train_images.dtype == np.uint8


@pytest.mark.parametrize("arrays,message", [
    ({"images": np.zeros((4, 28, 28), np.uint8)}, "no x_train"),
    ({"x_train": np.zeros((0, 28, 28), np.uint8)}, "empty"),
    ({"x_train": np.full((4, 28, 28), 300.0)}, r"outside \[0, 255\]"),
    ({"x_train": np.full((4, 28, 28), -1.0)}, r"outside \[0, 255\]"),
    ({"x_train": np.zeros((4, 28), np.uint8)}, "must have shape"),
    ({"x_train": np.zeros((4, 28, 28, 2), np.uint8)}, "must have shape"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.zeros(3)}, "one label per"),
])
def test_bad_npz_contents(tmp_path, arrays, message):
  path = tmp_path / "bad.npz"
  np.savez(path, **arrays)
  with pytest.raises(UserError, match=message):
    data.load_dataset(str(path))


def test_missing_and_corrupt_files(tmp_path):
  with pytest.raises(UserError, match="not found"):
    data.load_dataset(str(tmp_path / "nope.npz"))
  corrupt = tmp_path / "corrupt.npz"
  corrupt.write_bytes(b"not a zip")
  with pytest.raises(UserError, match="cannot read"):
    data.load_dataset(str(corrupt))
  with pytest.raises(UserError, match="unknown data set"):
    data.load_dataset("imagenet64")


def test_tfds_without_tensorflow_names_the_alternatives():
  try:
    import tensorflow  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
    pytest.skip("TensorFlow is installed; the no-TensorFlow message does not apply")
  except ImportError:
    pass
  with pytest.raises(UserError, match=r"gan\[tfds\].*\.npz.*mnist_5k"):
    data.load_dataset("mnist")


def test_too_small_for_a_batch():
  with pytest.raises(UserError, match="fewer than one batch"):
    data.batch_indices(5, 10, 0, 0)
