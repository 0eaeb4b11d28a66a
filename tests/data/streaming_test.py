"""Streamed data sets: a directory of .npy files and a TFDS array_record data_source.

Both are read by index, so a batch is `images[batch_indices(N, B, seed, step)]`
exactly as in memory: the same batches, and a resumed run the same as an
uninterrupted one with nothing but the step to restore.
"""

import json
import os
import shutil

import numpy as np
import pytest

import conftest
from gan import checkpointing, data, program, rundir
from gan.cli import data as data_cli
from gan.data import datasets
from gan.errors import UserError


def _arrays(n=64, shape=(28, 28), seed=0):
  rng = np.random.default_rng(seed)
  return (rng.integers(0, 256, (n,) + shape, dtype=np.uint8),
          rng.integers(0, 10, (n,), dtype=np.int64))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
  """64 train + 16 test random 28x28 images as an .npz and as the equivalent .npy dir."""
  root = tmp_path_factory.mktemp("streaming")
  (x, y), (x_test, y_test) = _arrays(64), _arrays(16, seed=1)
  np.savez(root / "small.npz", x_train=x, y_train=y, x_test=x_test, y_test=y_test)
  in_memory = data.load_dataset(str(root / "small.npz"))
  data.write_npy_dir(in_memory, str(root / "small_npy"))
  return in_memory, str(root / "small.npz"), str(root / "small_npy")


def test_write_npy_dir_round_trips(small):
  in_memory, _, directory = small
  assert sorted(os.listdir(directory)) == ["x_test.npy", "x_train.npy", "y_test.npy",
                                           "y_train.npy"]
  streamed = data.load_dataset(directory)
  assert streamed.name == "small_npy" and streamed.image_shape == (28, 28, 1)
  assert streamed.num_train == 64 and len(streamed.test_images) == 16
  for name in ("train_images", "train_labels", "test_images", "test_labels"):
    expected, got = getattr(in_memory, name), getattr(streamed, name)
    assert got.dtype == expected.dtype and np.array_equal(np.asarray(got), expected), name
  # Indexing reads rows exactly as numpy indexes: order, repeats, negatives, slices.
  images = streamed.train_images
  for key in (7, -1, slice(3, 9), slice(9, 3, -2), slice(None), np.array([[5, 5, 2], [63, 0, -1]]),
              np.array([], np.int64), [4, 1]):
    assert np.array_equal(images[key], in_memory.train_images[key]), key
  with pytest.raises(IndexError):
    images[np.array([64])]


@pytest.mark.parametrize("seed", [0, 7])
def test_streamed_batches_equal_in_memory_batches(small, seed):
  in_memory, _, directory = small
  streamed = data.load_dataset(directory)
  # 64 images, 2 x 8 per step: 4 steps an epoch; steps 0-9 cross two epoch boundaries.
  for step in range(10):
    for process_index, process_count in ((0, 1), (1, 2)):
      kwargs = dict(batch_size=8, sub_batches=2, seed=seed, process_index=process_index,
                    process_count=process_count)
      expected = data.HostBatches({"image": in_memory.train_images,
                                   "label": in_memory.train_labels}, **kwargs)(step)
      got = data.HostBatches({"image": streamed.train_images,
                              "label": streamed.train_labels}, **kwargs)(step)
      assert got["image"].dtype == np.uint8 and got["image"].shape == expected["image"].shape
      assert np.array_equal(got["image"], expected["image"]), (seed, step, process_index)
      assert np.array_equal(got["label"], expected["label"]), (seed, step, process_index)


class _RecordingArray:
  """Wraps an array and records every key it is indexed with."""

  def __init__(self, array):
    self.array, self.keys = array, []

  def __getitem__(self, key):
    self.keys.append(key)
    return self.array[key]


def _rows(keys):
  rows = set()
  for key in keys:
    rows.update(range(*key.indices(10**9)) if isinstance(key, slice) else np.ravel(key).tolist())
  return rows


def test_a_batch_reads_only_its_rows_from_the_memory_map(small):
  _, _, directory = small
  images = data.load_dataset(directory).train_images
  assert isinstance(images, datasets.NpyImages) and not isinstance(images, np.ndarray)
  assert isinstance(images, data.RowArray)
  assert isinstance(images.memmap, np.memmap)
  assert os.path.samefile(images.memmap.filename, os.path.join(directory, "x_train.npy"))
  images.memmap = _RecordingArray(images.memmap)
  batches = data.HostBatches({"image": images}, batch_size=8, sub_batches=2, seed=3)
  for step in (0, 5):
    images.memmap.keys.clear()
    batches(step)
    assert _rows(images.memmap.keys) == set(data.batch_indices(64, 16, 3, step).tolist())


def test_opening_a_large_npy_dir_reads_almost_nothing(tmp_path):
  statm = "/proc/self/statm"
  if not os.path.exists(statm):
    pytest.skip("needs /proc/self/statm to measure the resident memory")
  # 200,000 x 28 x 28 = 157 MB, a sparse file: nothing is written but the header.
  np.lib.format.open_memmap(tmp_path / "x_train.npy", mode="w+", dtype=np.uint8,
                            shape=(200_000, 28, 28)).flush()
  page = os.sysconf("SC_PAGE_SIZE")
  resident = lambda: int(open(statm).read().split()[1]) * page
  before = resident()
  ds = data.load_dataset(str(tmp_path))
  batch = data.HostBatches({"image": ds.train_images}, batch_size=16, sub_batches=1,
                           seed=0)(123)["image"]
  assert ds.num_train == 200_000 and batch.shape == (1, 16, 28, 28, 1)
  assert resident() - before < 20 * 2**20  # vs 157 MB if the array were read.


def _mlp_config(dataset, **overrides):
  # The program saves a checkpoint at the last step: the one a resumed run starts from.
  return conftest.tiny_mlp_config(dataset, **{"num_steps": 4, "run.checkpoint_every": 0,
                                              "run.log_every": 2, **overrides})


def _checkpoint_digest(workdir) -> str:
  """sha256 of the newest checkpoint's every array (what `gan.cli.info` prints)."""
  checkpointer = checkpointing.Checkpointer(str(workdir), create=False)
  try:
    return rundir.state_digest(checkpointer.restore())
  finally:
    checkpointer.close()


@pytest.mark.slow
def test_training_on_the_npy_dir_equals_the_npz_and_resumes_exactly(small, tmp_path):
  _, npz, directory = small
  quiet = lambda line: None
  from_npz = program.train(_mlp_config(npz), str(tmp_path / "npz"), hooks=[], log=quiet)
  from_npy = program.train(_mlp_config(directory), str(tmp_path / "npy"), hooks=[], log=quiet)
  program.train(_mlp_config(directory, num_steps=2), str(tmp_path / "resumed"), hooks=[],
                log=quiet)
  lines = []
  resumed = program.train(_mlp_config(directory), str(tmp_path / "resumed"), hooks=[],
                          log=lines.append)
  assert f"Resuming {tmp_path / 'resumed'} from step 2." in lines
  assert int(from_npy.step) == int(resumed.step) == 4
  assert rundir.state_digest(from_npy) == rundir.state_digest(from_npz)
  assert rundir.state_digest(resumed) == rundir.state_digest(from_npy)
  assert _checkpoint_digest(tmp_path / "npy") == _checkpoint_digest(tmp_path / "npz")
  assert _checkpoint_digest(tmp_path / "resumed") == _checkpoint_digest(tmp_path / "npy")
  # data.json is the run's DataSpec: enough to restore it without its data.
  with open(tmp_path / "npy" / "data.json", encoding="utf-8") as f:
    assert json.load(f) == {"dataset": "small_npy", "image_shape": [28, 28, 1],
                            "num_classes": 10, "kind": "images", "drawn_on_device": False}
  assert rundir.load_data_spec(str(tmp_path / "npy")) == data.spec_of(data.load(directory))


def _npy_dir(path, **arrays):
  os.makedirs(path)
  for name, array in arrays.items():
    np.save(os.path.join(path, f"{name}.npy"), array)
  return str(path)


@pytest.mark.parametrize("arrays,message", [
    ({"y_train": np.zeros(4, np.int64)}, "has no x_train.npy"),
    ({"x_train": np.zeros((4, 28, 28), np.float32)}, "dtype float32.*uint8"),
    ({"x_train": np.zeros((4, 28), np.uint8)}, "must have shape"),
    ({"x_train": np.zeros((4, 28, 28, 2), np.uint8)}, "must have shape"),
    ({"x_train": np.zeros((0, 28, 28), np.uint8)}, "empty"),
    ({"x_train": np.asfortranarray(np.zeros((4, 28, 28), np.uint8))}, "C order"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.zeros(3, np.int64)},
     "3 labels for 4 images"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "y_train": np.zeros(4, np.float32)},
     "integer class labels"),
    ({"x_train": np.zeros((4, 28, 28), np.uint8), "x_test": np.zeros((2, 32, 32), np.uint8)},
     "same shape"),
])
def test_bad_npy_dirs(tmp_path, arrays, message):
  with pytest.raises(UserError, match=message):
    data.load_dataset(_npy_dir(tmp_path / "bad", **arrays))


def test_corrupt_npy_and_occupied_destination(tmp_path, small):
  directory = _npy_dir(tmp_path / "bad", x_train=np.zeros((4, 28, 28), np.uint8))
  with open(os.path.join(directory, "x_train.npy"), "r+b") as f:
    f.truncate(200)  # The header promises 3,136 bytes of images.
  with pytest.raises(UserError, match="cannot memory-map"):
    data.load_dataset(directory)
  with pytest.raises(UserError, match="not empty; give a new directory"):
    data.write_npy_dir(small[0], directory)


def test_convert_command(small, tmp_path, capsys):
  in_memory, npz, _ = small
  data_cli.main(["gan.cli.data", "convert", npz, str(tmp_path / "converted")])
  assert f"wrote 64 train and 16 test images (28, 28, 1) to {tmp_path / 'converted'}" in (
      capsys.readouterr().err)
  converted = data.load_dataset(str(tmp_path / "converted"))
  assert np.array_equal(np.asarray(converted.train_images), in_memory.train_images)
  assert np.array_equal(converted.test_labels, in_memory.test_labels)
  with pytest.raises(UserError, match=r"usage: python -m gan.cli.data convert SRC DST_DIR"):
    data_cli.main(["gan.cli.data", npz])
  # The destination is checked before the source is read.
  with pytest.raises(UserError, match="not empty; give a new directory"):
    data_cli.main(["gan.cli.data", "convert", str(tmp_path / "missing.npz"),
                   str(tmp_path / "converted")])


# ------------------------------------------------------------------- TFDS data_source


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
  """A 40 + 12 image data set prepared by TFDS in array_record format (no TensorFlow)."""
  tfds = pytest.importorskip("tensorflow_datasets")
  pytest.importorskip("array_record")
  from PIL import Image  # pylint: disable=import-outside-toplevel
  (x, y), (x_test, y_test) = _arrays(40, (8, 8)), _arrays(12, (8, 8), seed=1)

  class TinyDigits(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Read back from its files alone, as a data set prepared elsewhere would be."""
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, supervised_keys=("image", "label"),
                                   features=tfds.features.FeaturesDict({
                                       "image": tfds.features.Image(shape=(8, 8, 1)),
                                       "label": tfds.features.ClassLabel(num_classes=10)}))

    def _split_generators(self, dl_manager):
      del dl_manager
      return {"train": self._generate_examples(x, y), "test": self._generate_examples(
          x_test, y_test)}

    def _generate_examples(self, images, labels):
      for i, (image, label) in enumerate(zip(images, labels)):
        # PNG-encoded by PIL here, so that TFDS does not start TensorFlow to encode.
        yield i, {"image": Image.fromarray(image), "label": int(label)}

  data_dir = str(tmp_path_factory.mktemp("tfds"))
  TinyDigits(data_dir=data_dir, file_format="array_record").download_and_prepare()
  return data_dir, data.from_arrays("tiny", x, y, x_test, y_test)


def _sorted_rows(images, labels):
  """(images, labels) in a canonical order: TFDS shuffles the records when it writes them."""
  images, labels = np.asarray(images), np.asarray(labels)
  order = sorted(range(len(images)), key=lambda i: (images[i].tobytes(), labels[i]))
  return images[order], labels[order]


def test_tfds_source_reads_by_index_the_data_it_was_given(tiny_tfds, tmp_path):
  data_dir, expected = tiny_tfds
  streamed = data.load_dataset("tfds_source:tiny_digits", tfds_data_dir=data_dir)
  assert isinstance(streamed.train_images, datasets.TfdsImages)
  assert streamed.name == "tiny_digits" and streamed.image_shape == (8, 8, 1)
  for split in ("train", "test"):
    got = _sorted_rows(getattr(streamed, f"{split}_images"), getattr(streamed, f"{split}_labels"))
    want = _sorted_rows(getattr(expected, f"{split}_images"), getattr(expected, f"{split}_labels"))
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), split
  assert int(streamed.train_labels.max()) == int(expected.train_labels.max())
  # Batches: the records' own order, read by index, as from the same rows in memory.
  whole = np.asarray(streamed.train_images)
  labels = np.asarray(streamed.train_labels)
  for step in (0, 3, 7):
    got = data.HostBatches({"image": streamed.train_images, "label": streamed.train_labels},
                           batch_size=8, sub_batches=2, seed=1)(step)
    expected = data.HostBatches({"image": whole, "label": labels}, batch_size=8,
                                sub_batches=2, seed=1)(step)
    assert np.array_equal(got["image"], expected["image"])
    assert np.array_equal(got["label"], expected["label"])
  # Converted to a .npy dir, chunk by chunk: the same rows in the same order.
  data.write_npy_dir(streamed, str(tmp_path / "npy"), chunk_rows=16)
  converted = data.load_dataset(str(tmp_path / "npy"))
  assert np.array_equal(np.asarray(converted.train_images), whole)
  assert np.array_equal(converted.test_labels, np.asarray(streamed.test_labels))


def test_tfds_source_errors_name_the_fix(tiny_tfds, tmp_path, monkeypatch):
  data_dir, _ = tiny_tfds
  with pytest.raises(UserError, match=r"no data set 'no_such_set'.*tfds build no_such_set "
                                      r"--file_format=array_record"):
    data.load_dataset("tfds_source:no_such_set", tfds_data_dir=data_dir)
  with pytest.raises(UserError, match=r"'mnist' is not prepared in .*tfds build mnist "
                                      r"--file_format=array_record"):
    data.load_dataset("tfds_source:mnist", tfds_data_dir=data_dir)
  # The same data set prepared as TFRecords, which have no random access.
  tfrecord_dir = str(tmp_path / "tfrecord")
  shutil.copytree(data_dir, tfrecord_dir)
  info_path = os.path.join(tfrecord_dir, "tiny_digits", "1.0.0", "dataset_info.json")
  with open(info_path, encoding="utf-8") as f:
    dataset_info = json.load(f)
  dataset_info["fileFormat"] = "tfrecord"
  with open(info_path, "w", encoding="utf-8") as f:
    json.dump(dataset_info, f)
  with pytest.raises(UserError, match=r"cannot read 'tiny_digits' by index \(it is prepared as "
                                      r"tfrecord.*--file_format=array_record"):
    data.load_dataset("tfds_source:tiny_digits", tfds_data_dir=tfrecord_dir)

  # A feature that TFDS cannot decode without TensorFlow.
  def needs_tensorflow(*args, **kwargs):
    raise ImportError("No module named 'tensorflow'")

  # pylint: disable-next=import-outside-toplevel
  from tensorflow_datasets.core.features import image_feature
  monkeypatch.setattr(image_feature.Image, "decode_example_np", needs_tensorflow)
  with pytest.raises(UserError, match=r"cannot decode 'tiny_digits' here \(ImportError.*"
                                      r"gan\[tfds\]"):
    data.load_dataset("tfds_source:tiny_digits", tfds_data_dir=data_dir)
