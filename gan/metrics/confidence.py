"""How surely a classifier reads generated samples, and how evenly over the classes.

With p_i = softmax(logits_i) the classifier's class probabilities of sample i,

  mean_confidence  = 1/N sum_i max_c p_ic
  confident_share  = 1/N sum_i 1[max_c p_ic >= threshold]       (threshold 0.9)
  class_entropy    = -sum_c q_c log q_c,  q_c = 1/N sum_i 1[argmax p_i = c]   (nats)

Legible samples are read confidently (MNIST's test digits: about 98% at 0.9 by the
project's LeNet); a generator that draws every class equally often has class entropy
log C (2.303 nats for 10 classes), and one that collapses onto fewer classes has less.
Unlike the Inception Score, which mixes the two into one number, these keep sharpness
and coverage apart.
"""

import numpy as np


def classifier_confidence(logits, threshold: float = 0.9) -> dict[str, float]:
  """{mean_confidence, confident_share, class_entropy} of (N, C) logits (see the module)."""
  logits = np.asarray(logits, np.float64)
  if logits.ndim != 2 or logits.shape[0] == 0 or logits.shape[1] < 2:
    raise ValueError(f"logits must be (N, C) with N >= 1 and C >= 2, got {logits.shape}")
  shifted = logits - logits.max(axis=1, keepdims=True)
  probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
  top = probabilities.max(axis=1)
  counts = np.bincount(probabilities.argmax(axis=1), minlength=logits.shape[1])
  q = counts[counts > 0] / counts.sum()
  return {"mean_confidence": float(top.mean()),
          "confident_share": float(np.mean(top >= threshold)),
          "class_entropy": float(-(q * np.log(q)).sum()) + 0.0}  # + 0.0: no -0.0.
