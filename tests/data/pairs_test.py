"""gan.data.pairs: the makers, paired and unpaired data sets, their batches and specs."""

import json

import numpy as np
import pytest

import conftest
from gan import data
from gan.data import pairs
from gan.errors import ConfigError, UserError


@pytest.fixture(scope="module")
def small(tmp_path_factory, mnist_npz):
  """Small slices of the real data as .npz files: 200 + 50 MNIST digits, 300 + 40
  CIFAR-10 images (from its test split, which reads in milliseconds)."""
  root = tmp_path_factory.mktemp("pairs")
  with np.load(mnist_npz) as full:
    np.savez(root / "mnist.npz", x_train=full["x_train"][:200], y_train=full["y_train"][:200],
             x_test=full["x_test"][:50], y_test=full["y_test"][:50])
  with np.load(conftest.shared_data("cifar10.npz")) as full:
    np.savez(root / "cifar10.npz", x_train=full["x_test"][:300], y_train=full["y_test"][:300],
             x_test=full["x_test"][300:340], y_test=full["y_test"][300:340])
  with np.load(root / "mnist.npz") as m, np.load(root / "cifar10.npz") as c:
    arrays = {f"mnist_{k}": m[k] for k in m.files} | {f"cifar_{k}": c[k] for k in c.files}
  return {"mnist": str(root / "mnist.npz"), "cifar10": str(root / "cifar10.npz"),
          "root": root, **arrays}


# ----------------------------------------------------------------------- makers


def test_greyscale_weighs_the_channels_as_bt601_and_rounds_halves_up():
  pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [10, 20, 30],
                     [0, 0, 250], [0, 0, 0]], np.uint8)
  # 76.245, 149.685, 29.07, 255, 18.15, 28.5 (a half: up), 0.
  grey = data.greyscale(pixels.reshape(1, 1, 7, 3))
  assert grey.shape == (1, 1, 7, 1) and grey.dtype == np.uint8
  np.testing.assert_array_equal(grey.ravel(), [76, 150, 29, 255, 18, 29, 0])
  with pytest.raises(UserError, match=r"^greyscale needs RGB images \(N,H,W,3\), got "
                                      r"\(2, 4, 4, 1\)$"):
    data.greyscale(np.zeros((2, 4, 4), np.uint8))
  with pytest.raises(UserError, match=r"takes uint8 images"):
    data.greyscale(np.zeros((2, 4, 4, 3), np.float32))


def test_downsample_averages_blocks_and_rounds_halves_up():
  image = np.array([[0, 1, 0, 0],
                    [2, 3, 0, 1],
                    [255, 255, 7, 7],
                    [255, 255, 7, 8]], np.uint8)
  # Block means: 1.5 -> 2, 0.25 -> 0, 255, 7.25 -> 7.
  small = data.downsample(image[None], 2)
  assert small.shape == (1, 2, 2, 1) and small.dtype == np.uint8
  np.testing.assert_array_equal(small[0, ..., 0], [[2, 0], [255, 7]])
  rgb = np.stack([image, 255 - image, image // 2], axis=-1)[None]
  # One 4x4 block a channel: sums 1056 (mean 66), 3024 (189), 523 (32.69 -> 33).
  np.testing.assert_array_equal(data.downsample(rgb, 4).ravel(), [66, 189, 33])
  np.testing.assert_array_equal(data.downsample(rgb, 1), rgb)
  with pytest.raises(UserError, match=r"^downsample by 3 needs H and W divisible by 3, got "
                                      r"4x4; use a factor that divides both$"):
    data.downsample(image[None], 3)
  with pytest.raises(UserError, match=r"positive integer factor, got 0"):
    data.downsample(image[None], 0)


def test_edge_map_marks_both_sides_of_a_step_and_nothing_of_a_flat_image():
  step = np.zeros((6, 8), np.uint8)
  step[:, 4:] = 200
  edges = data.edge_map(np.stack([step, np.full_like(step, 90)]))
  assert edges.shape == (2, 6, 8, 1) and edges.dtype == np.uint8
  expected = np.zeros((6, 8), np.uint8)
  expected[:, 3:5] = 255  # |G_x| = 4 * 200 on both columns at the step, 0 elsewhere.
  np.testing.assert_array_equal(edges[0, ..., 0], expected)
  np.testing.assert_array_equal(edges[1], 0)  # Flat: no gradient, no edge.
  # The same step in colour: its luminance steps at the same place.
  rgb = np.stack([step, step // 2, np.zeros_like(step)], axis=-1)
  np.testing.assert_array_equal(data.edge_map(rgb[None])[0, ..., 0], expected)


def test_edge_map_keeps_gradients_above_the_fraction_of_the_largest():
  # A step of 200 then one of 40: 40 / 200 < EDGE_THRESHOLD, so only the first is an edge;
  # alone (or with one of 100 > 0.3 * 200) the small step is one.
  def row(*levels):
    return np.repeat(np.array(levels, np.uint8), 4)[None, None].repeat(5, axis=1)

  strong_weak = data.edge_map(row(0, 200, 240))[0, 0, :, 0]
  np.testing.assert_array_equal(np.flatnonzero(strong_weak), [3, 4])
  np.testing.assert_array_equal(np.flatnonzero(data.edge_map(row(0, 40))[0, 0, :, 0]), [3, 4])
  np.testing.assert_array_equal(np.flatnonzero(data.edge_map(row(0, 200, 100))[0, 0, :, 0]),
                                [3, 4, 7, 8])
  assert pairs.EDGE_THRESHOLD == data.EDGE_THRESHOLD == 0.3


def test_mnist_m_is_the_absolute_difference_of_a_drawn_patch_and_the_digit():
  rng = np.random.default_rng(7)
  digits = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
  backgrounds = rng.integers(0, 256, (3, 8, 9, 3), dtype=np.uint8)
  made = data.mnist_m(digits, backgrounds, seed=11)
  assert made.shape == (6, 5, 4, 3) and made.dtype == np.uint8
  # The documented draws: image, top, left, in that order, from PCG64(seed).
  draws = np.random.default_rng(11)
  pick, top, left = draws.integers(0, 3, 6), draws.integers(0, 4, 6), draws.integers(0, 6, 6)
  for i in range(6):
    patch = backgrounds[pick[i], top[i]:top[i] + 5, left[i]:left[i] + 4].astype(int)
    np.testing.assert_array_equal(made[i], np.abs(patch - digits[i, ..., None].astype(int)))
  np.testing.assert_array_equal(data.mnist_m(digits[..., None], backgrounds, seed=11), made)
  assert not np.array_equal(data.mnist_m(digits, backgrounds, seed=12), made)
  # A background the digits' size is the whole patch.
  whole = data.mnist_m(digits[:1], backgrounds[:1, :5, :4], seed=0)
  np.testing.assert_array_equal(
      whole[0], np.abs(backgrounds[0, :5, :4].astype(int) - digits[0, ..., None]))


def test_mnist_m_refuses_what_it_cannot_blend():
  digits = np.zeros((2, 5, 5), np.uint8)
  with pytest.raises(UserError, match=r"^mnist_m needs grey digits"):
    data.mnist_m(np.zeros((2, 5, 5, 3), np.uint8), np.zeros((1, 8, 8, 3), np.uint8), 0)
  with pytest.raises(UserError, match=r"^mnist_m needs RGB backgrounds \(M,Hb,Wb,3\) uint8"):
    data.mnist_m(digits, np.zeros((1, 8, 8, 1), np.uint8), 0)
  with pytest.raises(UserError, match=r"^mnist_m needs at least one background image of 5x5 "
                                      r"pixels or more, got 1 of 4x8$"):
    data.mnist_m(digits, np.zeros((1, 4, 8, 3), np.uint8), 0)


# ------------------------------------------------------------------------- load


def test_paired_edges_grey_and_down_are_made_from_their_source(small):
  edges = data.load(f"paired:edges:{small['mnist']}")
  assert isinstance(edges, data.PairedDataset) and edges.name == "mnist_edges"
  digits = small["mnist_x_train"][..., None]
  np.testing.assert_array_equal(edges.train_target, digits)
  np.testing.assert_array_equal(edges.train_source, data.edge_map(digits))
  np.testing.assert_array_equal(edges.train_labels, small["mnist_y_train"])
  np.testing.assert_array_equal(edges.test_source, data.edge_map(small["mnist_x_test"]))
  np.testing.assert_array_equal(edges.test_labels, small["mnist_y_test"])
  assert (edges.source_shape, edges.image_shape, edges.num_train, edges.num_classes) == (
      (28, 28, 1), (28, 28, 1), 200, 10)
  assert data.spec_of(edges) == data.DataSpec("mnist_edges", (28, 28, 1), 10, kind="pairs",
                                              source_shape=(28, 28, 1))

  grey = data.load(f"paired:grey:{small['cifar10']}")
  np.testing.assert_array_equal(grey.train_source, data.greyscale(small["cifar_x_train"]))
  np.testing.assert_array_equal(grey.test_target, small["cifar_x_test"])
  assert data.spec_of(grey) == data.DataSpec("cifar10_grey", (32, 32, 3), 10, kind="pairs",
                                             source_shape=(32, 32, 1))

  down = data.load(f"paired:down4:{small['mnist']}")
  np.testing.assert_array_equal(down.train_source, data.downsample(digits, 4))
  assert (down.name, down.source_shape, down.image_shape) == ("mnist_down4", (7, 7, 1),
                                                              (28, 28, 1))
  assert data.load(f"paired:down8:{small['cifar10']}").source_shape == (4, 4, 3)


def test_unpaired_mnist_m_puts_different_digits_in_each_domain(small):
  both = data.load(f"unpaired:mnist_m:{small['mnist']}:{small['cifar10']}")
  assert isinstance(both, data.UnpairedDataset) and both.name == "mnist_mnist_m"
  x, y = small["mnist_x_train"], small["mnist_y_train"]
  backgrounds = small["cifar_x_train"]  # The training images of BACKGROUND_SRC.
  np.testing.assert_array_equal(both.train_a, x[0::2, ..., None])
  np.testing.assert_array_equal(both.train_b, data.mnist_m(x[1::2], backgrounds, seed=0))
  np.testing.assert_array_equal(both.train_a_labels, y[0::2])
  np.testing.assert_array_equal(both.train_b_labels, y[1::2])
  x_test = small["mnist_x_test"]
  np.testing.assert_array_equal(both.test_a, x_test[0::2, ..., None])
  np.testing.assert_array_equal(both.test_b, data.mnist_m(x_test[1::2], backgrounds, seed=1))
  np.testing.assert_array_equal(both.test_b_labels, small["mnist_y_test"][1::2])
  assert (both.source_shape, both.image_shape, both.num_train, both.num_classes) == (
      (28, 28, 1), (28, 28, 3), 100, 10)
  assert data.spec_of(both) == data.DataSpec("mnist_mnist_m", (28, 28, 3), 10, kind="unpaired",
                                             source_shape=(28, 28, 1))
  # The same data in every run.
  again = data.load(f"unpaired:mnist_m:{small['mnist']}:{small['cifar10']}")
  np.testing.assert_array_equal(again.train_b, both.train_b)


def test_a_user_npz_of_pairs_or_of_two_domains(small, tmp_path):
  x = small["mnist_x_train"][:40]
  np.savez(tmp_path / "sr.npz", x_source=data.downsample(x[..., None], 2), x_target=x,
           y_train=small["mnist_y_train"][:40], x_test_source=data.downsample(x[:5, ..., None], 2),
           x_test_target=x[:5])
  sr = data.load(str(tmp_path / "sr.npz"))
  assert isinstance(sr, data.PairedDataset) and sr.name == "sr.npz"
  assert (sr.source_shape, sr.image_shape, sr.num_train, sr.num_classes) == (
      (14, 14, 1), (28, 28, 1), 40, 10)
  assert sr.test_source.shape == (5, 14, 14, 1) and sr.test_labels.tolist() == [0] * 5
  np.savez(tmp_path / "plain_pairs.npz", x_source=x, x_target=x)
  plain = data.load(str(tmp_path / "plain_pairs.npz"))
  assert plain.test_source.shape == (0, 28, 28, 1) and plain.num_classes == 1

  colour = small["cifar_x_train"][:30]
  np.savez(tmp_path / "domains.npz", x_a=x, x_b=colour, y_b=small["cifar_y_train"][:30],
           x_test_b=colour[:3])
  domains = data.load(str(tmp_path / "domains.npz"))
  assert isinstance(domains, data.UnpairedDataset)
  assert (domains.source_shape, domains.image_shape, domains.num_train) == (
      (28, 28, 1), (32, 32, 3), 30)
  assert domains.test_a.shape == (0, 28, 28, 1) and domains.test_b.shape == (3, 32, 32, 3)
  assert domains.train_a_labels.tolist() == [0] * 40
  assert data.spec_of(domains).kind == "unpaired"
  # An .npz of images alone is still an ImageDataset.
  assert isinstance(data.load(small["mnist"]), data.ImageDataset)


# ---------------------------------------------------------------------- batches


def test_paired_batches_hold_each_target_with_its_own_source(small):
  edges = data.load(f"paired:edges:{small['mnist']}")
  batches = data.batches_for(edges, fields=("source", "target", "label"), batch_size=8,
                             sub_batches=2, seed=5)
  assert isinstance(batches, data.HostBatches) and not batches.on_device
  assert sorted(batches.arrays) == ["label", "source", "target"]
  for step in (0, 13, 40):  # 40 is past the first epoch of 12 steps.
    batch = batches(step)
    assert batch["source"].shape == batch["target"].shape == (2, 8, 28, 28, 1)
    rows = data.batch_indices(200, 16, 5, step).reshape(2, 8)
    np.testing.assert_array_equal(batch["target"], edges.train_target[rows])
    np.testing.assert_array_equal(batch["label"], edges.train_labels[rows])
    # Each row's source is the edge map of that row's target.
    np.testing.assert_array_equal(batch["source"].reshape(16, 28, 28, 1),
                                  data.edge_map(batch["target"].reshape(16, 28, 28, 1)))
  assert list(data.batches_for(edges, fields=("source", "target"), batch_size=4,
                               sub_batches=1, seed=0)(0)) == ["source", "target"]


def test_unpaired_domains_draw_from_independent_streams():
  rng = np.random.default_rng(0)
  a = np.arange(60, dtype=np.uint8)[:, None, None].repeat(4, 1).repeat(4, 2)  # Pixel = row.
  b = np.arange(45, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3)
  domains = data.from_domains("ab", a, b, y_a=np.arange(60) % 10, y_b=rng.integers(0, 3, 45))
  batches = data.batches_for(domains, fields=("a", "b", "a_label", "b_label"), batch_size=5,
                             sub_batches=2, seed=3)
  assert isinstance(batches, data.UnpairedBatches) and not batches.on_device
  assert {k: v.shape for k, v in batches.arrays.items()} == {
      "a": (60, 4, 4, 1), "b": (45, 2, 2, 3), "a_label": (60,), "b_label": (45,)}
  for step in (0, 4, 7, 30):
    batch = batches(step)
    assert batch["a"].shape == (2, 5, 4, 4, 1) and batch["b"].shape == (2, 5, 2, 2, 3)
    # Domain a: exactly the rows every existing run draws (stream 0).
    rows_a = data.batch_indices(60, 10, 3, step).reshape(2, 5)
    np.testing.assert_array_equal(batch["a"][..., 0, 0, 0], rows_a)
    np.testing.assert_array_equal(batch["a_label"], rows_a % 10)
    # Domain b: its own stream over its own 45 images.
    rows_b = data.batch_indices(45, 10, 3, step, stream=1).reshape(2, 5)
    np.testing.assert_array_equal(batch["b"][..., 0, 0, 0], rows_b)
    np.testing.assert_array_equal(batch["b_label"], domains.train_b_labels[rows_b])
  # Stream 0 is the (seed, epoch) permutation of before; stream 1 is (seed, epoch, 1).
  np.testing.assert_array_equal(data.batch_indices(60, 10, 3, 7),
                                np.random.default_rng([3, 1]).permutation(60)[10:20])
  np.testing.assert_array_equal(data.batch_indices(60, 10, 3, 7, stream=0),
                                data.batch_indices(60, 10, 3, 7))
  np.testing.assert_array_equal(data.batch_indices(60, 10, 3, 7, stream=1),
                                np.random.default_rng([3, 1, 1]).permutation(60)[10:20])
  # Same-sized domains still come in different orders.
  same = data.batches_for(data.from_domains("aa", a, a), fields=("a", "b"), batch_size=5,
                          sub_batches=2, seed=3)(0)
  assert not np.array_equal(same["a"], same["b"])
  # Two processes tile the global batch, each domain alike.
  def batch(**process):
    return data.batches_for(domains, fields=("a", "b"), batch_size=4, sub_batches=2, seed=3,
                            **process)(9)

  whole, parts = batch(), [batch(process_index=p, process_count=2) for p in range(2)]
  for name in ("a", "b"):
    assert parts[0][name].shape[:2] == (2, 2)
    np.testing.assert_array_equal(np.concatenate([p[name] for p in parts], axis=1), whole[name])


# --------------------------------------------------------------------- DataSpec


@pytest.mark.parametrize("spec", [
    data.DataSpec("mnist_edges", (28, 28, 1), 10, kind="pairs", source_shape=(28, 28, 1)),
    data.DataSpec("mnist_down4", (28, 28, 1), 10, kind="pairs", source_shape=(7, 7, 1)),
    data.DataSpec("mnist_mnist_m", (28, 28, 3), 10, kind="unpaired", source_shape=(28, 28, 1)),
])
def test_data_spec_json_round_trip_keeps_the_source_shape(spec):
  values = json.loads(json.dumps(spec.to_json()))
  assert values["source_shape"] == list(spec.source_shape) and values["kind"] == spec.kind
  again = data.DataSpec.from_json(values)
  assert again == spec and isinstance(again.source_shape, tuple)


def test_data_spec_of_other_data_writes_no_source_shape_and_old_json_loads():
  plain = data.DataSpec("mnist.npz", (28, 28, 1), 10)
  assert plain.source_shape == () and "source_shape" not in plain.to_json()
  old = {"dataset": "mnist.npz", "image_shape": [28, 28, 1], "num_classes": 10,
         "kind": "images", "drawn_on_device": False}
  assert data.DataSpec.from_json(old) == plain


# ------------------------------------------------------------------- bad input


def test_paired_spec_errors_name_the_fix(small):
  mnist, cifar = small["mnist"], small["cifar10"]
  cases = [
      (f"paired:sketch:{mnist}", r"has an unknown paired kind 'sketch'; use paired:edges:SRC, "
                                 r"paired:grey:SRC or paired:downN:SRC"),
      (f"paired:downx:{mnist}", r"has the downsampling kind 'downx'; give a factor N >= 1 as "
                                r"downN"),
      (f"paired:down0:{mnist}", r"has the downsampling kind 'down0'"),
      ("paired:edges", r"names no source data set; give one after the last colon"),
      (f"paired:grey:{mnist}", r"holds grey images \(28, 28, 1\); paired:grey needs RGB images, "
                               r"e.g. paired:grey:\.\./shared/data/cifar10\.npz$"),
      (f"paired:down3:{mnist}", r"holds 28x28 images, which 3x3 blocks do not tile; use downN "
                                r"with N in \[2, 4, 7, 14, 28\]$"),
      (f"paired:down5:{cifar}", r"use downN with N in \[2, 4, 8, 16, 32\]$"),
      ("unpaired:horses:a.npz:b.npz", r"has an unknown unpaired kind 'horses'; use "
                                      r"unpaired:mnist_m:MNIST_SRC:BACKGROUND_SRC"),
      (f"unpaired:mnist_m:{mnist}", r"names 1 source\(s\); give two: unpaired:mnist_m:"),
      # A tfds_source:NAME source keeps its colon: one source here, not two.
      ("unpaired:mnist_m:tfds_source:mnist", r"names 1 source\(s\); give two"),
      (f"unpaired:mnist_m:{cifar}:{cifar}", r"has digits \(32, 32, 3\); MNIST-M needs grey digits"),
      (f"unpaired:mnist_m:{mnist}:{mnist}", r"has backgrounds \(28, 28, 1\); MNIST-M needs RGB "
                                            r"backgrounds of at least 28x28 second"),
  ]
  for spec, message in cases:
    with pytest.raises(ConfigError, match=message) as error:
      data.load(spec)
    assert error.value.field == "dataset" and error.value.value == spec
    assert "\n" not in str(error.value)


def test_user_npz_errors_name_the_fix(tmp_path):
  x = np.zeros((6, 8, 8), np.uint8)

  def load(**arrays):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError) as error:
      data.load(str(tmp_path / "bad.npz"))
    assert "\n" not in str(error.value)
    return str(error.value)

  assert load(x_source=x, x_target=x[:5]) == (
      "bad.npz: x_source/x_target hold 6 and 5 images; a paired data set needs one target per "
      "source")
  assert "x_test_source/x_test_target hold 2 and 3" in load(
      x_source=x, x_target=x, x_test_source=x[:2], x_test_target=x[:3])
  assert load(x_source=x, x_target=np.zeros((6, 12, 12), np.uint8)) == (
      "bad.npz: x_target images are 12x12 and x_source 8x8; a target must be its source's "
      "size or an integer multiple of it (super-resolution)")
  assert "x_target images are 16x24" in load(x_source=x, x_target=np.zeros((6, 16, 24), np.uint8))
  assert load(x_source=x, x_target=x, x_test_source=x[:2]) == (
      "bad.npz: give both x_test_source and x_test_target, or neither")
  assert "x_test_target images are (4, 4, 1) but x_target are (8, 8, 1)" in load(
      x_source=x, x_target=x, x_test_source=x[:2], x_test_target=np.zeros((2, 4, 4), np.uint8))
  assert "needs both x_source and x_target; save the inputs as x_source" in load(x_source=x)
  assert "keep x_source/x_target or x_a/x_b, not both" in load(x_source=x, x_target=x, x_a=x)
  assert "needs both x_a and x_b; save the images of the two domains" in load(x_b=x)
  assert load(x_a=x, x_b=x, y_b=np.arange(5)) == (
      "bad.npz: y_b holds 5 labels for 6 images; give one label per image")
  assert load(x_a=x[:0], x_b=x) == "bad.npz: x_a is empty; give at least one image"
  assert "x_b must have shape (N,H,W) or (N,H,W,C) with C in (1, 3)" in load(
      x_a=x, x_b=np.zeros((6, 8, 8, 2), np.uint8))


def test_batches_for_translation_data_errors_name_the_fix():
  x = np.zeros((10, 4, 4), np.uint8)
  paired = data.from_pairs("pairs", x, x)
  with pytest.raises(UserError, match=r"^the data set pairs has no \['image'\] for this task "
                                      r"\(it gives \['label', 'source', 'target'\]\); use the "
                                      r"data of the task's kind$"):
    data.batches_for(paired, fields=("image",), batch_size=2, sub_batches=1, seed=0)
  domains = data.from_domains("ab", x, x[:7])
  with pytest.raises(UserError, match=r"no \['source', 'target'\] for this task \(it gives \['a', "
                                      r"'a_label', 'b', 'b_label'\]\)"):
    data.batches_for(domains, fields=("source", "target"), batch_size=2, sub_batches=1, seed=0)
  with pytest.raises(ConfigError, match=r"^config\.batch_size=4 needs 8 images per step; the "
                                        r"data set has 7 images in its smaller domain; lower it$"):
    data.batches_for(domains, fields=("a", "b"), batch_size=4, sub_batches=2, seed=0)
  with pytest.raises(ConfigError, match=r"the data set has 10 pairs; lower it$"):
    data.batches_for(paired, fields=("source", "target"), batch_size=4, sub_batches=3, seed=0)
