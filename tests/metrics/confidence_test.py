"""gan.metrics.confidence against values worked out by hand."""

import numpy as np
import pytest

from gan.metrics.confidence import classifier_confidence


def test_confident_balanced_samples_score_the_maximum():
  logits = np.eye(10)[np.arange(100) % 10] * 20.0  # Every class ten times, p_top ~ 1.
  out = classifier_confidence(logits)
  assert out["confident_share"] == 1.0
  assert out["mean_confidence"] == pytest.approx(1.0, abs=1e-6)
  assert out["class_entropy"] == pytest.approx(np.log(10))


def test_values_of_a_small_case_by_hand():
  # Softmax of (log 19, 0): 0.95 and 0.05; of (0, 0): 0.5 each (argmax takes class 0).
  logits = np.array([[np.log(19.0), 0.0], [0.0, np.log(19.0)], [0.0, 0.0], [np.log(3.0), 0.0]])
  out = classifier_confidence(logits)
  assert out["mean_confidence"] == pytest.approx((0.95 + 0.95 + 0.5 + 0.75) / 4)
  assert out["confident_share"] == pytest.approx(0.5)  # 0.95 twice; 0.5 and 0.75 not.
  q = np.array([3, 1]) / 4  # Argmax classes 0, 1, 0, 0.
  assert out["class_entropy"] == pytest.approx(-(q * np.log(q)).sum())


def test_one_class_only_has_zero_entropy():
  out = classifier_confidence(np.tile([5.0, 0.0, 0.0], (7, 1)))
  assert out["class_entropy"] == 0.0


@pytest.mark.parametrize("shape", [(5,), (0, 10), (4, 1)])
def test_bad_shapes_are_refused(shape):
  with pytest.raises(ValueError, match="logits must be"):
    classifier_confidence(np.zeros(shape))
