"""gan.eval.features: checksums, LeNet shapes, deterministic training (through the program),
disk, cache.

The tests that use the trained tiny extractor (a module fixture, about 10 s on 2 cores) are
marked slow.
"""

import hashlib
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from gan import data
from gan.errors import ConfigError, UserError
from gan.eval import features
from gan.eval.evaluate import make_protocol, score
from gan.models import lenet


# 4 steps of 32 on 256 images, 100 test images: trains in seconds.
_tiny_config = conftest.tiny_extractor_config


@pytest.fixture(scope="module")
def mnist(mnist_npz):
  return data.load_dataset(mnist_npz)


@pytest.fixture(scope="module")
def tiny_extractor(mnist):
  return features.train_classifier(mnist, _tiny_config(), log=lambda line: None)


# ------------------------------------------------------------------------ checksums


def test_checksum_is_sha256_of_named_arrays_in_path_order():
  a = np.zeros((2,), np.int32)
  x = np.arange(3, dtype=np.float32)
  expected = hashlib.sha256()
  for name, array in (("a", a), ("b/x", x)):  # Sorted by path.
    expected.update(f"{name}|{array.dtype.str}|{array.shape}|".encode())
    expected.update(array.tobytes())
  assert features.params_checksum({"b": {"x": x}, "a": a}) == expected.hexdigest()
  # Insertion order and array type (numpy or JAX) do not matter...
  assert features.params_checksum({"a": jnp.asarray(a), "b": {"x": x}}) == expected.hexdigest()


def test_checksum_changes_with_any_bit_name_dtype_or_shape():
  params = {"Dense_0": {"kernel": np.ones((2, 3), np.float32), "bias": np.zeros(3, np.float32)}}
  base = features.params_checksum(params)
  flipped = np.ones((2, 3), np.float32)
  flipped.view(np.uint32)[0, 0] ^= 1  # One bit of one weight.
  bias = np.zeros(3, np.float32)
  assert features.params_checksum({"Dense_0": {"kernel": flipped, "bias": bias}}) != base
  assert features.params_checksum({"Dense_1": params["Dense_0"]}) != base
  assert features.params_checksum(
      {"Dense_0": {"kernel": np.ones((3, 2), np.float32), "bias": np.zeros(3, np.float32)}}) != base
  assert features.params_checksum(
      {"Dense_0": {"kernel": np.ones((2, 3), np.float64), "bias": np.zeros(3, np.float32)}}) != base


# ---------------------------------------------------------------------------- LeNet


@pytest.mark.parametrize("image_shape,flat", [((28, 28, 1), 7 * 7 * 8), ((32, 32, 3), 8 * 8 * 8)])
def test_lenet_shapes(image_shape, flat):
  module = lenet.LeNet(num_classes=10, conv_widths=(4, 8), kernel_size=5, feature_dim=16)
  rng = np.random.default_rng(0)
  x = rng.uniform(-1, 1, (3,) + image_shape).astype(np.float32)
  # The shapes init gives, and weights drawn by numpy: nothing random to compile.
  shapes = jax.tree.map(lambda s: s.shape,
                        jax.eval_shape(module.init, jax.random.key(1), x)["params"])
  params = jax.tree.map(lambda shape: rng.normal(0, 0.1, shape).astype(np.float32), shapes,
                        is_leaf=lambda v: isinstance(v, tuple))
  assert shapes["Conv_0"]["kernel"] == (5, 5, image_shape[2], 4)
  assert shapes["Conv_1"]["kernel"] == (5, 5, 4, 8)
  assert shapes["Dense_0"]["kernel"] == (flat, 16)  # Two 2x2 pools: H/4 x W/4 x 8.
  assert shapes["Dense_1"]["kernel"] == (16, 10)
  feats, logits = jax.jit(module.apply)({"params": params}, x)
  assert feats.shape == (3, 16) and logits.shape == (3, 10)
  assert bool(jnp.all(feats >= 0)) and 0 < np.mean(feats > 0) < 1  # Penultimate ReLU.
  # The logits are the last Dense layer of the features.
  np.testing.assert_allclose(
      logits, feats @ params["Dense_1"]["kernel"] + params["Dense_1"]["bias"], rtol=1e-5,
      atol=1e-5)


def test_max_pool_is_flax_max_pool_with_its_gradient():
  x = np.random.default_rng(2).normal(size=(2, 14, 14, 3)).astype(np.float32)
  pool = lambda v: nn.max_pool(v, (2, 2), (2, 2))
  value_and_grad = lambda f: jax.jit(jax.value_and_grad(lambda v: jnp.sum(f(v) ** 2)))
  np.testing.assert_array_equal(jax.jit(lenet.max_pool_2x2)(x), jax.jit(pool)(x))
  loss_ours, g_ours = value_and_grad(lenet.max_pool_2x2)(x)
  loss_flax, g_flax = value_and_grad(pool)(x)
  assert loss_ours == loss_flax
  np.testing.assert_array_equal(g_ours, g_flax)
  # The gradient reaches only the maximum of each 2x2 window (2 images, 7 x 7 windows, 3
  # channels), where it is 2 x that maximum.
  assert np.count_nonzero(g_ours) == 2 * 7 * 7 * 3
  np.testing.assert_array_equal(g_ours[g_ours != 0], 2 * x[g_ours != 0])


def test_images_are_scaled_like_the_gan():
  np.testing.assert_array_equal(
      features.images_to_unit_range(jnp.array([0, 255], jnp.uint8)), [-1.0, 1.0])


# ------------------------------------------------------------------------- training


@pytest.mark.slow
def test_tiny_training_is_deterministic(mnist, tiny_extractor):
  again = features.train_classifier(mnist, _tiny_config(), log=lambda line: None)
  assert again.checksum == tiny_extractor.checksum
  assert features.params_checksum(again.params) == again.checksum
  other_seed = features.train_classifier(mnist, _tiny_config(seed=1), log=lambda line: None)
  assert other_seed.checksum != tiny_extractor.checksum


@pytest.mark.slow
def test_training_records_what_identifies_the_extractor(mnist, tiny_extractor):
  info = tiny_extractor.info
  assert info["name"] == "lenet-mnist" and info["kind"] == "lenet"
  assert info["format_version"] == features.FORMAT_VERSION == 2
  assert info["architecture"] == {"num_classes": 10, "conv_widths": [4, 8], "kernel_size": 5,
                                  "feature_dim": 16}
  assert info["image_shape"] == [28, 28, 1] and info["num_steps"] == 4
  assert info["dataset"]["num_train_used"] == 256 and info["dataset"]["num_test_used"] == 100
  assert info["dataset"]["fingerprint"] == features.dataset_fingerprint(mnist.train_images,
                                                                        mnist.train_labels)
  assert info["recipe"] == features.recipe(_tiny_config())
  # The recorded accuracy is the share of the first 100 test digits classified right.
  _, logits = features.extract(tiny_extractor, mnist.test_images[:100])
  assert info["test_accuracy"] == np.mean(np.argmax(logits, 1) == mnist.test_labels[:100])


@pytest.mark.slow
def test_extract_shapes_and_batch_independence(mnist, tiny_extractor):
  images = mnist.test_images[:13]
  feats, logits = features.extract(tiny_extractor, images, batch_size=5)
  assert feats.shape == (13, 16) and logits.shape == (13, 10)
  # Image 11 shares its (padded) batch with image 10 only; alone it gives the same row.
  alone, _ = features.extract(tiny_extractor, images[11:12], batch_size=5)
  np.testing.assert_array_equal(alone[0], feats[11])


def test_extract_rejects_wrong_images():
  extractor = _PixelExtractor()  # Takes (4, 4, 1); the checks come before the network.
  with pytest.raises(UserError, match=r"images have shape \(28, 28, 1\) but extractor pixels "
                                      r"takes \(4, 4, 1\)"):
    features.extract(extractor, np.zeros((2, 28, 28, 1), np.uint8))
  with pytest.raises(UserError, match="uint8"):
    features.extract(extractor, np.zeros((2, 4, 4, 1), np.float32))
  with pytest.raises(UserError, match="no images to extract features from"):
    features.extract(extractor, np.zeros((0, 4, 4, 1), np.uint8))


def test_the_classifier_is_the_program_config_of_its_recipe():
  config = features.program_config(_tiny_config(), "mnist.npz", num_steps=4)
  assert config.task == "classifier" and config.dataset == "mnist.npz"
  assert (config.seed, config.batch_size, config.num_steps) == (0, 32, 4)
  assert tuple(config.model.conv_widths) == (4, 8) and config.model.feature_dim == 16
  assert config.model.kernel_size == 5 and config.optim.lr == 3e-3
  assert config.run.checkpoint_every == config.run.sample_every == config.run.log_every == 0
  assert not config.run.progress_bar


def test_unlabelled_data_cannot_train_a_classifier():
  unlabelled = data.from_arrays("noise.npz", np.zeros((300, 28, 28), np.uint8))
  with pytest.raises(UserError, match="no class labels"):
    features.train_classifier(unlabelled, _tiny_config())


def test_bad_recipe_is_refused(mnist):
  with pytest.raises(ConfigError, match=r"^config\.conv_widths=\(4, 0\) must be a non-empty "
                                        r"tuple of positive integers"):
    features.train_classifier(mnist, _tiny_config(conv_widths=(4, 0)))
  with pytest.raises(ConfigError, match=r"^config\.num_train_examples=1000000 exceeds the 60000 "
                                        r"training images"):
    features.train_classifier(mnist, _tiny_config(num_train_examples=10**6))
  with pytest.raises(ConfigError, match=r"^config\.num_steps=0 trains nothing"):
    features.train_classifier(mnist, _tiny_config(num_steps=0, num_epochs=0))
  with pytest.raises(ConfigError, match=r"^config\.batch_size=64 is more than the 50 training"):
    features.train_classifier(mnist, _tiny_config(num_train_examples=50, batch_size=64))


# ----------------------------------------------------------------------------- disk


@pytest.mark.slow
def test_save_load_round_trip_and_refusals(tmp_path, mnist, tiny_extractor):
  path = features.save_extractor(tiny_extractor, str(tmp_path / "ext"))
  assert sorted(os.listdir(path)) == [features.EXTRACTOR_FILE, features.PARAMS_DIR]
  loaded = features.load_extractor(path)
  assert loaded.checksum == tiny_extractor.checksum
  assert loaded.describe() == tiny_extractor.describe()
  np.testing.assert_array_equal(features.extract(loaded, mnist.test_images[:8])[0],
                                features.extract(tiny_extractor, mnist.test_images[:8])[0])
  with pytest.raises(UserError, match="already holds an extractor"):
    features.save_extractor(tiny_extractor, path)

  with pytest.raises(UserError, match="no extractor in"):
    features.load_extractor(str(tmp_path / "missing"))

  info_path = os.path.join(path, features.EXTRACTOR_FILE)
  with open(info_path, encoding="utf-8") as f:
    info = json.load(f)

  def write_info(values):
    with open(info_path, "w", encoding="utf-8") as f:
      json.dump(values, f)

  write_info({**info, "checksum": "0" * 64})
  with pytest.raises(UserError, match="damaged"):
    features.load_extractor(path)
  write_info({**info, "kind": "inception_v4"})
  with pytest.raises(UserError, match="unknown extractor kind 'inception_v4'"):
    features.load_extractor(path)


@pytest.mark.slow
def test_cache_trains_once_then_loads(tmp_path, mnist, tiny_extractor):
  lines = []
  first = features.cached_extractor(mnist, _tiny_config(), cache_dir=str(tmp_path),
                                    log=lines.append)
  assert any("training one" in line for line in lines)
  # The cache trains exactly what the recipe trains anywhere else.
  assert first.checksum == tiny_extractor.checksum
  lines.clear()
  second = features.cached_extractor(mnist, _tiny_config(), cache_dir=str(tmp_path),
                                     log=lines.append)
  assert not lines and second.checksum == first.checksum
  entry = features.cache_entry(mnist, _tiny_config())
  assert os.listdir(tmp_path) == [entry] and entry.startswith("lenet-mnist-")
  assert features.cache_entry(mnist, _tiny_config(seed=1)) != entry
  assert features.cache_entry(mnist, _tiny_config(progress_bar=True)) == entry
  assert features.cache_entry(mnist, _tiny_config(num_test_examples=7)) == entry


def test_the_cache_key_holds_the_format_version(monkeypatch, mnist):
  """Extractors of format 1 (trained before the program) are never read from the cache."""
  def key(version):
    payload = {"data": features.dataset_fingerprint(mnist.train_images, mnist.train_labels),
               "recipe": features.recipe(_tiny_config()), "format": version}
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return f"lenet-mnist-{digest[:12]}"

  entry = features.cache_entry(mnist, _tiny_config())
  assert entry == key(2) != key(1)
  monkeypatch.setattr(features, "FORMAT_VERSION", 1)
  assert features.cache_entry(mnist, _tiny_config()) == key(1)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
  monkeypatch.setenv(features.CACHE_ENV, str(tmp_path))
  assert features.default_cache_dir() == os.path.join(str(tmp_path), "extractors")
  monkeypatch.delenv(features.CACHE_ENV)
  monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
  assert features.default_cache_dir() == "/somewhere/gan/extractors"


# ------------------------------------------------------------------------ pluggable


class _PixelExtractor:
  """A stand-in for another network: features = pixels, logits = 2 brightness classes."""

  name, checksum, image_shape, feature_dim, num_classes = "pixels", "0" * 64, (4, 4, 1), 16, 2

  def __call__(self, images):
    x = jnp.asarray(images, jnp.float32).reshape(images.shape[0], -1) / 255.0
    return x, jnp.stack([x.mean(1), 1 - x.mean(1)], axis=1) * 50.0

  def describe(self):
    return {"name": self.name, "checksum": self.checksum}


def test_any_extractor_with_the_interface_plugs_in():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (40, 4, 4, 1), dtype=np.uint8)
  feats, logits = features.extract(_PixelExtractor(), images, batch_size=16)
  np.testing.assert_allclose(feats, images.reshape(40, 16) / 255.0, rtol=1e-6)
  protocol = make_protocol(num_fake=40, num_real=40, split_size=40, kid_subset_size=20)
  scores = score(feats, feats, logits, protocol)
  # Identical sets: FID 0, precision = recall = coverage = 1.
  assert abs(scores["fid"]) < 1e-8
  assert scores["precision"] == scores["recall"] == scores["coverage"] == 1.0
  assert 1.0 <= scores["inception_score"] <= 2.0
