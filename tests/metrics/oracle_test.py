"""gan.metrics against the reference implementations: torch-fidelity and prdc.

Skipped unless the oracle extra is installed (tools/oracle_requirements.txt):

  pip install -r tools/oracle_requirements.txt
  pip install --no-deps torch-fidelity==0.4.0

torch-fidelity imports torchvision at import time, only for its feature extractors
and data sets; the metric functions called here use torch and numpy alone. Where no
working torchvision is installed (PyPI's torchvision does not load beside a CPU-only
torch), an empty stand-in module is put in place for the import and removed again.

Features are float64 tensors: torch-fidelity computes KID in the tensors' dtype, and
is off by ~5e-3 relative when given float32.
"""

import contextlib
import importlib.abc
import importlib.machinery
import sys
import types

import numpy as np
import pytest

from gan import metrics

torch = pytest.importorskip("torch")
prdc = pytest.importorskip("prdc")

RTOL = 1e-6
# (N_real, N_fake, d): N >= d, N < d (singular covariances), unequal sizes.
SIZES = [(300, 250, 32), (40, 60, 128), (150, 150, 64)]


class _EmptyModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
  """Imports `prefix` and its submodules as empty packages of placeholder classes."""

  def __init__(self, prefix):
    self.prefix = prefix

  def find_spec(self, fullname, path=None, target=None):
    del path, target
    if fullname == self.prefix or fullname.startswith(self.prefix + "."):
      return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
    return None

  def create_module(self, spec):
    module = types.ModuleType(spec.name)
    module.__path__ = []

    def __getattr__(name):  # pylint: disable=invalid-name
      if name.startswith("__"):
        raise AttributeError(name)
      return type(name, (), {})

    module.__getattr__ = __getattr__
    return module

  def exec_module(self, module):
    pass


def _drop_modules(prefix):
  for name in [n for n in sys.modules if n == prefix or n.startswith(prefix + ".")]:
    del sys.modules[name]


@contextlib.contextmanager
def _torchvision_if_missing():
  try:
    import torchvision  # pylint: disable=g-import-not-at-top,unused-import
    yield
    return
  except Exception:  # pylint: disable=broad-except
    # ImportError when absent; RuntimeError ("operator torchvision::nms does not
    # exist") when PyPI's CUDA-built wheel sits beside a CPU-only torch.
    _drop_modules("torchvision")
  finder = _EmptyModules("torchvision")
  sys.meta_path.insert(0, finder)
  try:
    yield
  finally:
    sys.meta_path.remove(finder)
    _drop_modules("torchvision")


with _torchvision_if_missing():
  torch_fidelity = pytest.importorskip("torch_fidelity")
  from torch_fidelity import metric_fid, metric_isc, metric_kid, metric_prc  # pylint: disable=g-import-not-at-top


def _features(seed, n, d, shift=0.0, scale=1.0):
  return np.random.default_rng(seed).normal(size=(n, d)) * scale + shift


def _pair(n_real, n_fake, d):
  real = _features(n_real * 7 + d, n_real, d)
  fake = _features(n_fake * 11 + d, n_fake, d, shift=0.1, scale=1.2)
  return real, fake


def _relative_difference(ours, theirs):
  return abs(ours - theirs) / max(abs(theirs), 1e-300)


def _report(name, **differences):
  print(f"{name}: " + ", ".join(f"{k} rel diff {v:.3g}" for k, v in differences.items()))


@pytest.mark.parametrize("n_real, n_fake, d", SIZES)
def test_fid_matches_torch_fidelity(n_real, n_fake, d):
  real, fake = _pair(n_real, n_fake, d)
  stats_real = metric_fid.fid_features_to_statistics(torch.from_numpy(real))
  stats_fake = metric_fid.fid_features_to_statistics(torch.from_numpy(fake))
  theirs = metric_fid.fid_statistics_to_metric(stats_real, stats_fake, verbose=False)[
      metric_fid.KEY_METRIC_FID]
  ours = metrics.fid(real, fake)
  _report(f"FID {n_real}x{n_fake}x{d}", fid=_relative_difference(ours, theirs))
  assert ours == pytest.approx(theirs, rel=RTOL)
  mu, sigma = metrics.feature_statistics(real)
  np.testing.assert_allclose(mu, stats_real["mu"], rtol=1e-12)
  np.testing.assert_allclose(sigma, stats_real["sigma"], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_real, n_fake, d", SIZES)
@pytest.mark.parametrize("subset_fraction", [0.5, 1.0])
def test_kid_matches_torch_fidelity(n_real, n_fake, d, subset_fraction):
  real, fake = _pair(n_real, n_fake, d)
  subset_size = int(subset_fraction * min(n_real, n_fake))
  # torch-fidelity's documented use: features_1 (input1) GENERATED, features_2 REAL;
  # it draws input1's subset first, as gan.metrics.kid draws the fake one first.
  theirs = metric_kid.kid_features_to_metric(
      torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=20,
      kid_subset_size=subset_size, verbose=False)
  ours_mean, ours_std = metrics.kid(real, fake, num_subsets=20, subset_size=subset_size)
  their_mean = theirs[metric_kid.KEY_METRIC_KID_MEAN]
  their_std = theirs[metric_kid.KEY_METRIC_KID_STD]
  _report(f"KID {n_real}x{n_fake}x{d} m={subset_size}",
          mean=_relative_difference(ours_mean, their_mean))
  assert ours_mean == pytest.approx(their_mean, rel=RTOL)
  if subset_fraction < 1.0:  # with m = N every subset is the whole set: std ~ 1e-17
    _report(f"KID std {n_real}x{n_fake}x{d} m={subset_size}",
            std=_relative_difference(ours_std, their_std))
    assert ours_std == pytest.approx(their_std, rel=RTOL)
  else:
    assert ours_std == pytest.approx(their_std, abs=1e-12)


def test_kid_subset_size_too_large_raises_like_torch_fidelity():
  real, fake = _pair(40, 60, 8)
  with pytest.raises(Exception):
    metric_kid.kid_features_to_metric(torch.from_numpy(real), torch.from_numpy(fake),
                                      kid_subset_size=50, verbose=False)
  with pytest.raises(ValueError, match="subset_size"):
    metrics.kid(real, fake, subset_size=50)


@pytest.mark.parametrize("n, num_classes, splits", [(1000, 1008, 10), (237, 10, 7), (50, 100, 1)])
def test_inception_score_matches_torch_fidelity(n, num_classes, splits):
  logits = 4.0 * _features(n + num_classes, n, num_classes)
  theirs = metric_isc.isc_features_to_metric(torch.from_numpy(logits), splits=splits,
                                             shuffle=True, rng_seed=2020)
  ours_mean, ours_std = metrics.inception_score(logits, splits=splits)
  their_mean = theirs[metric_isc.KEY_METRIC_ISC_MEAN]
  their_std = theirs[metric_isc.KEY_METRIC_ISC_STD]
  _report(f"IS {n}x{num_classes}/{splits}", mean=_relative_difference(ours_mean, their_mean),
          std=_relative_difference(ours_std, their_std) if their_std else 0.0)
  assert ours_mean == pytest.approx(their_mean, rel=RTOL)
  assert ours_std == pytest.approx(their_std, rel=RTOL, abs=1e-12)


@pytest.mark.parametrize("n_real, n_fake, d", SIZES)
@pytest.mark.parametrize("k", [3, 5])
def test_precision_recall_matches_torch_fidelity(n_real, n_fake, d, k):
  real, fake = _pair(n_real, n_fake, d)
  # torch-fidelity 0.4.0: features_1 is the GENERATED set, features_2 the REAL one.
  theirs = metric_prc.prc_features_to_metric(
      torch.from_numpy(fake), torch.from_numpy(real), prc_neighborhood=k, verbose=False)
  ours = metrics.precision_recall(real, fake, k=k)
  their_pr = (theirs[metric_prc.KEY_METRIC_PRECISION], theirs[metric_prc.KEY_METRIC_RECALL])
  _report(f"PR {n_real}x{n_fake}x{d} k={k}",
          precision=_relative_difference(ours[0], their_pr[0]),
          recall=_relative_difference(ours[1], their_pr[1]))
  assert ours == pytest.approx(their_pr, rel=RTOL)
  # The memory-saving path (save_cpu_ram=True) agrees too.
  part = metric_prc.calculate_precision_recall_part(
      torch.from_numpy(fake), torch.from_numpy(real), neighborhood=k, batch_size=37)
  assert ours == pytest.approx(part, rel=RTOL)


def test_precision_recall_default_k_is_torch_fidelity_default():
  from torch_fidelity.defaults import DEFAULTS  # pylint: disable=g-import-not-at-top
  import inspect  # pylint: disable=g-import-not-at-top
  k_default = inspect.signature(metrics.precision_recall).parameters["k"].default
  assert k_default == DEFAULTS["prc_neighborhood"]
  assert inspect.signature(metrics.kid).parameters["seed"].default == DEFAULTS["rng_seed"]


@pytest.mark.parametrize("n_real, n_fake, d", SIZES)
@pytest.mark.parametrize("k", [3, 5])
def test_density_coverage_matches_prdc(n_real, n_fake, d, k):
  real, fake = _pair(n_real, n_fake, d)
  theirs = prdc.compute_prdc(real_features=real, fake_features=fake, nearest_k=k)
  density, coverage = metrics.density_coverage(real, fake, k=k)
  _report(f"DC {n_real}x{n_fake}x{d} k={k}",
          density=_relative_difference(density, theirs["density"]),
          coverage=_relative_difference(coverage, theirs["coverage"]))
  assert density == pytest.approx(theirs["density"], rel=RTOL)
  assert coverage == pytest.approx(theirs["coverage"], rel=RTOL)
  # prdc's own precision/recall use open balls (<); without ties they agree with ours.
  assert metrics.precision_recall(real, fake, k=k) == pytest.approx(
      (theirs["precision"], theirs["recall"]), rel=RTOL)
