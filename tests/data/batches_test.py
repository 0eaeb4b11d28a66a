"""gan.data.batches: dict batches from (seed, step), the batch source of a run, DataSpec."""

import json

import jax
import numpy as np
import pytest

import conftest
from gan import backends, build, data
from gan.data import mixtures
from gan.errors import ConfigError, UserError


def _labelled_arrays(n=60):
  """Images whose pixels all hold their row index, and labels equal to the row index."""
  images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 3, 3, 1))
  return {"image": np.ascontiguousarray(images), "label": np.arange(n, dtype=np.int32)}


# --------------------------------------------------------------------- batch_indices


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


def test_batch_indices_are_slices_of_one_permutation_per_epoch():
  # 100 examples, batches of 30: 3 batches an epoch, the last 10 rows of each epoch dropped.
  for seed in (0, 5):
    for epoch in (0, 1, 4):
      order = np.random.default_rng([seed, epoch]).permutation(100)
      for position in range(3):
        np.testing.assert_array_equal(
            data.batch_indices(100, 30, seed, 3 * epoch + position),
            order[30 * position:30 * (position + 1)])


def test_batch_indices_refuse_a_batch_larger_than_the_data():
  assert len(data.batch_indices(7, 7, 0, 3)) == 7  # Exactly one batch an epoch.
  with pytest.raises(ConfigError, match=r"^config\.batch_size=8 is more than the data set's 7 "
                                        r"images can fill; lower it$") as error:
    data.batch_indices(7, 8, 0, 0)
  assert error.value.field == "batch_size" and error.value.value == 8


# ----------------------------------------------------------------------- HostBatches


@pytest.mark.parametrize("step", [0, 3, 11])
def test_host_batches_index_every_field_with_the_same_rows(step):
  arrays = _labelled_arrays()
  batch = data.HostBatches(arrays, batch_size=4, sub_batches=3, seed=2)(step)
  assert sorted(batch) == ["image", "label"]
  assert batch["image"].shape == (3, 4, 3, 3, 1) and batch["image"].dtype == np.uint8
  assert batch["label"].shape == (3, 4) and batch["label"].dtype == np.int32
  # Sub-batch i holds examples [4 i, 4 (i + 1)) of the step's 12 indices.
  expected = data.batch_indices(60, 12, 2, step).reshape(3, 4)
  np.testing.assert_array_equal(batch["label"], expected)
  np.testing.assert_array_equal(batch["image"], arrays["image"][expected])
  np.testing.assert_array_equal(batch["image"][..., 0, 0, 0], batch["label"])
  assert len(set(expected.ravel().tolist())) == 12  # The sub-batches share no example.


def test_host_batches_of_several_processes_tile_the_global_batch():
  arrays = _labelled_arrays(64)
  kwargs = dict(batch_size=8, sub_batches=2, seed=1)
  whole = data.HostBatches(arrays, **kwargs)(6)
  for count in (2, 4):
    parts = [data.HostBatches(arrays, **kwargs, process_index=p, process_count=count)(6)
             for p in range(count)]
    for name in ("image", "label"):
      assert all(part[name].shape[:2] == (2, 8 // count) for part in parts)
      # Process p holds rows [p B/P, (p + 1) B/P) of every sub-batch.
      for p, part in enumerate(parts):
        rows = slice(p * 8 // count, (p + 1) * 8 // count)
        np.testing.assert_array_equal(part[name], whole[name][:, rows])
      np.testing.assert_array_equal(np.concatenate([part[name] for part in parts], axis=1),
                                    whole[name])


def test_host_batches_are_a_pure_function_of_seed_and_step():
  arrays = _labelled_arrays()
  batches = data.HostBatches(arrays, batch_size=5, sub_batches=2, seed=3)
  assert batches.num_examples == 60
  first = batches(4)["label"]
  np.testing.assert_array_equal(batches(9)["label"], batches(9)["label"])
  np.testing.assert_array_equal(
      first, data.HostBatches(arrays, batch_size=5, sub_batches=2, seed=3)(4)["label"])
  assert not np.array_equal(first, batches(5)["label"])
  assert not np.array_equal(
      first, data.HostBatches(arrays, batch_size=5, sub_batches=2, seed=4)(4)["label"])


# ----------------------------------------------------------------------- batches_for


def test_batches_for_a_labelled_data_set_gives_the_fields_asked_for():
  arrays = _labelled_arrays()
  dataset = data.from_arrays("rows", arrays["image"], arrays["label"])
  both = data.batches_for(dataset, fields=("image", "label"), batch_size=4, sub_batches=2,
                          seed=0)
  assert isinstance(both, data.HostBatches) and not both.on_device
  batch = both(7)
  np.testing.assert_array_equal(batch["label"],
                                data.batch_indices(60, 8, 0, 7).reshape(2, 4))
  np.testing.assert_array_equal(batch["image"][..., 0, 0, 0], batch["label"])
  images_only = data.batches_for(dataset, fields=("image",), batch_size=4, sub_batches=2,
                                 seed=0)(7)
  assert list(images_only) == ["image"]
  np.testing.assert_array_equal(images_only["image"], batch["image"])


def test_batches_for_errors_name_the_fix():
  dataset = data.from_arrays("ten", np.zeros((10, 4, 4), np.uint8))
  with pytest.raises(ConfigError, match=r"^config\.batch_size=4 needs 12 images per step; the "
                                        r"data set has 10; lower it$"):
    data.batches_for(dataset, fields=("image",), batch_size=4, sub_batches=3, seed=0)
  with pytest.raises(UserError, match=r"the data set ten has no \['mask'\] for this task"):
    data.batches_for(dataset, fields=("image", "mask"), batch_size=4, sub_batches=1, seed=0)
  grid = data.load("mixture:grid")
  with pytest.raises(UserError, match=r"mixture:grid gives batches of `image` only; this task "
                                      r"also needs \['label'\]"):
    data.batches_for(grid, fields=("image", "label"), batch_size=4, sub_batches=1, seed=0)


def test_a_mixture_is_drawn_on_the_device_from_key_and_step():
  backends.for_platform(jax.default_backend()).prepare()  # As the builder does for a run.
  grid = data.load("mixture:grid")
  batches = data.batches_for(grid, fields=("image",), batch_size=16, sub_batches=2, seed=0)
  assert batches.on_device and batches.arrays == {}
  # One program (one compilation): the source's draw and the mixture's batch of a step.
  both = jax.jit(lambda key, step: (
      batches.draw(batches.arrays, key, step),
      mixtures.mixture_batch(grid.mixture, key, step, batch_size=16, d_steps=2)))
  key = jax.random.key(4)
  drawn, expected = jax.device_get(both(key, 3))
  assert list(drawn) == ["image"] and drawn["image"].shape == (2, 16, 2)
  np.testing.assert_array_equal(drawn["image"], expected)
  assert not np.array_equal(drawn["image"][0], drawn["image"][1])
  assert not np.array_equal(drawn["image"], jax.device_get(both(key, 4))[0]["image"])


# --------------------------------------------------------------------- load, spec_of


def test_load_mixture_grid_and_its_spec():
  grid = data.load("mixture:grid")
  assert isinstance(grid, data.MixtureData) and grid.mixture == mixtures.get_mixture("grid")
  assert data.spec_of(grid) == data.DataSpec("mixture:grid", (2,), 25, kind="points",
                                             drawn_on_device=True)
  assert data.spec_of(data.load("mixture:ring")).num_classes == 8
  with pytest.raises(UserError, match=r"unknown mixture 'spiral'.*\['grid', 'ring'\]"):
    data.load("mixture:spiral")


def test_spec_of_an_image_data_set():
  arrays = _labelled_arrays()
  spec = data.spec_of(data.from_arrays("rows.npz", arrays["image"], arrays["label"] % 7))
  assert spec == data.DataSpec("rows.npz", (3, 3, 1), 7)
  assert spec.kind == "images" and not spec.drawn_on_device


def test_spec_of_stacked_mnist(mnist_npz, tmp_path):
  stacked = data.load(f"stacked_mnist:{mnist_npz}")
  assert isinstance(stacked, data.StackedMNISTData)
  assert stacked.digits.shape == (60000, 28, 28) and stacked.digits.dtype == np.uint8
  assert data.spec_of(stacked) == data.DataSpec("stacked_mnist", (28, 28, 3), 1000,
                                                drawn_on_device=True)
  np.savez(tmp_path / "small.npz", x_train=np.zeros((4, 8, 8), np.uint8))
  with pytest.raises(ConfigError, match=r"holds \(8, 8, 1\) images; Stacked MNIST needs") as error:
    data.load(f"stacked_mnist:{tmp_path / 'small.npz'}")
  assert error.value.field == "dataset"


# -------------------------------------------------------------------------- DataSpec


@pytest.mark.parametrize("spec", [
    data.DataSpec("mnist.npz", (28, 28, 1), 10),
    data.DataSpec("mixture:ring", (2,), 8, kind="points", drawn_on_device=True),
    data.DataSpec("stacked_mnist", (28, 28, 3), 1000, drawn_on_device=True),
])
def test_data_spec_json_round_trip(spec):
  values = spec.to_json()
  assert values == {"dataset": spec.name, "image_shape": list(spec.shape),
                    "num_classes": spec.num_classes, "kind": spec.kind,
                    "drawn_on_device": spec.drawn_on_device}
  # Through a file's text, as data.json holds it.
  again = data.DataSpec.from_json(json.loads(json.dumps(values)))
  assert again == spec and isinstance(again.shape, tuple)


def test_data_spec_defaults_for_fields_a_data_json_lacks():
  spec = data.DataSpec.from_json({"dataset": "small", "image_shape": [8, 8, 1],
                                  "num_train": 64, "num_test": 16})
  assert spec == data.DataSpec("small", (8, 8, 1), 0, kind="images", drawn_on_device=False)


# ------------------------------------------------------------ a run's batches


def test_the_labels_of_a_data_set_reach_a_conditional_run_with_their_images():
  arrays = _labelled_arrays(48)
  dataset = data.from_arrays("rows", arrays["image"], arrays["label"] % 10)
  config = conftest.tiny_mlp_config("rows", task="conditional_gan", seed=3,
                                    **{"optim.d_steps": 2})
  run = build.build(config, dataset)
  assert run.task.batch_fields == ("image", "label") and run.spec.num_classes == 10
  batch = jax.device_get(run.batch(5))
  assert batch["image"].shape == (2, 8, 3, 3, 1) and batch["label"].shape == (2, 8)
  rows = data.batch_indices(48, 16, 3, 5).reshape(2, 8)
  np.testing.assert_array_equal(batch["image"][..., 0, 0, 0], rows)
  np.testing.assert_array_equal(batch["label"], rows % 10)
  # The unconditional GAN of the same data takes the images alone.
  plain = build.build(conftest.tiny_mlp_config("rows", seed=3, **{"optim.d_steps": 2}), dataset)
  plain_batch = jax.device_get(plain.batch(5))
  assert list(plain_batch) == ["image"]
  np.testing.assert_array_equal(plain_batch["image"], batch["image"])


def test_a_block_of_steps_stacks_the_batches_of_its_steps():
  arrays = _labelled_arrays(48)
  dataset = data.from_arrays("rows", arrays["image"], arrays["label"] % 10)
  config = conftest.tiny_mlp_config("rows", task="conditional_gan", num_steps=4,
                                    **{"run.steps_per_call": 2})
  run = build.build(config, dataset)
  block = jax.device_get(run.batch(2))
  assert block["image"].shape == (2, 1, 8, 3, 3, 1) and block["label"].shape == (2, 1, 8)
  for i, step in enumerate((2, 3)):
    rows = data.batch_indices(48, 8, 0, step)
    np.testing.assert_array_equal(block["image"][i, 0, :, 0, 0, 0], rows)
    np.testing.assert_array_equal(block["label"][i, 0], rows % 10)
