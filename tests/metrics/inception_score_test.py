"""Tests for gan.metrics.inception_score: bounds and hand-computed values."""

import numpy as np
import pytest

from gan import metrics


def _numpy_split_scores(logits, splits):
  """exp(E KL(p(y|x) || p(y))) per chunk [i N // splits, (i + 1) N // splits)."""
  n = len(logits)
  p = np.exp(logits - logits.max(axis=1, keepdims=True))
  p /= p.sum(axis=1, keepdims=True)
  scores = []
  for i in range(splits):
    chunk = p[i * n // splits:(i + 1) * n // splits]
    kl = np.sum(chunk * (np.log(chunk) - np.log(chunk.mean(axis=0))), axis=1)
    scores.append(np.exp(kl.mean()))
  return np.array(scores)


def test_uniform_predictions_give_one():
  mean, std = metrics.inception_score(np.zeros((100, 10)))
  assert mean == pytest.approx(1.0, abs=1e-12)
  assert std == pytest.approx(0.0, abs=1e-12)


def test_confident_predictions_spread_evenly_give_num_classes():
  num_classes, splits = 7, 3
  # Each chunk of 2 * 7 rows holds every class twice; logits of 1e4 underflow the
  # other classes' probabilities to exactly 0.
  logits = 1e4 * np.tile(np.eye(num_classes), (2 * splits, 1))
  mean, std = metrics.inception_score(logits, splits=splits, shuffle=False)
  assert mean == pytest.approx(num_classes, rel=1e-12)
  assert std == pytest.approx(0.0, abs=1e-9)


def test_two_class_chunk_matches_hand_computation():
  # p(y|x) in {(0.9, 0.1), (0.1, 0.9)}, p(y) = (0.5, 0.5):
  # KL = 0.9 log(0.9 / 0.5) + 0.1 log(0.1 / 0.5) for both rows.
  logits = np.log(np.array([[0.9, 0.1], [0.1, 0.9]]))
  expected = np.exp(0.9 * np.log(1.8) + 0.1 * np.log(0.2))
  mean, std = metrics.inception_score(logits, splits=1)
  assert mean == pytest.approx(expected, rel=1e-12)
  assert std == 0.0


def test_score_lies_between_one_and_num_classes():
  logits = 3.0 * np.random.default_rng(0).normal(size=(200, 5))
  mean, _ = metrics.inception_score(logits)
  assert 1.0 < mean < 5.0


def test_uneven_splits_and_population_std_match_numpy():
  logits = 2.0 * np.random.default_rng(1).normal(size=(23, 4))
  scores = _numpy_split_scores(logits, splits=5)
  mean, std = metrics.inception_score(logits, splits=5, shuffle=False)
  assert mean == pytest.approx(scores.mean(), rel=1e-12)
  assert std == pytest.approx(scores.std(ddof=0), rel=1e-9)


def test_shuffle_is_torch_fidelity_permutation():
  logits = np.random.default_rng(2).normal(size=(50, 6))
  permuted = logits[np.random.RandomState(2020).permutation(50)]
  assert (metrics.inception_score(logits, splits=5)
          == metrics.inception_score(permuted, splits=5, shuffle=False))


@pytest.mark.parametrize("logits, kwargs, match", [
    (np.zeros(10), {}, "2-D"),
    (np.zeros((5, 3)), dict(splits=10), "at least 10"),
    (np.full((20, 3), np.nan), {}, "NaN or inf"),
    (np.zeros((20, 3)), dict(splits=0), "splits"),
])
def test_bad_inputs_raise_value_error(logits, kwargs, match):
  with pytest.raises(ValueError, match=match):
    metrics.inception_score(logits, **kwargs)
