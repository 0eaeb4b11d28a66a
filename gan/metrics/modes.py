"""Mode-collapse metrics: the 2-D mixtures and Stacked MNIST.

Mixtures (PacGAN, Lin et al. 2018, section 5.1, after VEEGAN). Each generated sample
x is assigned to its nearest mode k(x) = argmin_k ||x - mu_k||; it is *high quality*
when it lies within 3 standard deviations of that mode, ||x - mu_k(x)|| < 3 sigma.
Over N samples (2,500 in the papers):

  modes captured = #{k : some high-quality sample has k(x) = k},
  high quality % = 100 * #{high-quality samples} / N,
  reverse KL     = KL(q || u) = sum_k q_k log(q_k / u_k) = log K - H(q),

where q is the histogram of the high-quality samples over the K modes, normalised,
and u = 1/K the uniform distribution of the data (0 log 0 = 0). "Reverse" because the
generator's distribution comes first.

Stacked MNIST (Metz et al. 2017; VEEGAN; PacGAN, section 5.2). An image stacks three
MNIST digits as its channels; a pretrained MNIST classifier labels each channel, and
the triple (d_R, d_G, d_B) is one of 1,000 modes, mode = 100 d_R + 10 d_G + d_B. Over
26,000 samples: the number of distinct modes, and KL(q || u) of their histogram to
the uniform one over 1,000 modes, as above.

References:
  Lin, Khetan, Fanti & Oh 2018, PacGAN: The power of two samples in generative
    adversarial networks (NeurIPS), Tables 1 and 2.
  Srivastava et al. 2017, VEEGAN (NeurIPS), Tables 1 and 2.
  Metz, Poole, Pfau & Sohl-Dickstein 2017, Unrolled Generative Adversarial Networks.
"""

from typing import Callable

import numpy as np

from gan.errors import UserError

# The papers' thresholds and sample counts.
HIGH_QUALITY_STDS = 3.0
NUM_MIXTURE_SAMPLES = 2500
NUM_STACKED_MNIST_SAMPLES = 26000
NUM_STACKED_MNIST_MODES = 1000


def _as_points(samples, what: str) -> np.ndarray:
  x = np.asarray(samples, np.float64)
  if x.ndim != 2:
    raise UserError(f"{what} must have shape (num_samples, dim), got {x.shape}")
  return x


def nearest_mode(samples, means) -> tuple[np.ndarray, np.ndarray]:
  """k(x) = argmin_k ||x - mu_k||_2 and that distance, for every sample.

  Args:
    samples: (N, D) points.
    means: (K, D) mode centres.

  Returns:
    (indices (N,) int64, distances (N,) float64).
  """
  x, mu = _as_points(samples, "samples"), _as_points(means, "means")
  if x.shape[1] != mu.shape[1]:
    raise UserError(f"samples have dimension {x.shape[1]} but the modes {mu.shape[1]}")
  squared = (np.sum(x ** 2, 1)[:, None] - 2.0 * x @ mu.T + np.sum(mu ** 2, 1)[None, :])
  index = np.argmin(squared, axis=1)
  distance = np.linalg.norm(x - mu[index], axis=1)  # Exact, not from the expansion.
  return index, distance


def reverse_kl_to_uniform(counts) -> float:
  """KL(q || u) = sum_k q_k log(K q_k), q = counts / sum(counts), u = 1/K, in nats.

  0 when every mode has the same count; log K when one mode has them all. NaN when
  all counts are 0 (q is undefined).
  """
  counts = np.asarray(counts, np.float64)
  total = counts.sum()
  if total <= 0:
    return float("nan")
  q = counts[counts > 0] / total
  return float(np.sum(q * np.log(q * counts.size)))


def mixture_mode_metrics(samples, means, std: float,
                         threshold_stds: float = HIGH_QUALITY_STDS) -> dict:
  """Modes captured, % high-quality samples and reverse KL of a mixture's samples.

  Args:
    samples: (N, D) generated points (the papers use N = 2,500).
    means: (K, D) mode centres of the data mixture.
    std: sigma of each (isotropic) mode.
    threshold_stds: a sample is high quality within this many sigma of its nearest
      mode (3 in the papers).

  Returns:
    {'modes': int, number of modes with a high-quality sample;
     'high_quality': float, percent of samples that are high quality;
     'reverse_kl': float, KL(q || uniform) of the high-quality histogram (NaN if
       there is no high-quality sample);
     'counts': (K,) int array, high-quality samples per mode}.
  """
  index, distance = nearest_mode(samples, means)
  good = distance < threshold_stds * std
  counts = np.bincount(index[good], minlength=np.asarray(means).shape[0])
  return {
      "modes": int(np.count_nonzero(counts)),
      "high_quality": 100.0 * float(np.mean(good)) if good.size else float("nan"),
      "reverse_kl": reverse_kl_to_uniform(counts),
      "counts": counts,
  }


def stacked_mnist_mode_ids(digits) -> np.ndarray:
  """(N, C) digits per channel -> (N,) mode ids sum_c d_c 10^(C-1-c) (100 R + 10 G + B)."""
  digits = np.asarray(digits)
  if digits.ndim != 2 or (digits.size and (digits.min() < 0 or digits.max() > 9)):
    raise UserError(f"digits must be an (N, channels) array of classes 0..9, got shape "
                    f"{digits.shape}")
  weights = 10 ** np.arange(digits.shape[1] - 1, -1, -1)
  return digits.astype(np.int64) @ weights


def classify_channels(images, classify_fn: Callable[[np.ndarray], np.ndarray],
                      batch_size: int = 1000) -> np.ndarray:
  """The digit in every channel: argmax of `classify_fn` on each channel as a grey image.

  Args:
    images: (N, H, W, C) images in the classifier's input range.
    classify_fn: (n, H, W, 1) -> (n, 10) logits (or probabilities).
    batch_size: images per call of `classify_fn` (times C channels).

  Returns:
    (N, C) int64 digits.
  """
  images = np.asarray(images)
  if images.ndim != 4:
    raise UserError(f"images must have shape (N, H, W, C), got {images.shape}")
  n, h, w, c = images.shape
  out = []
  for start in range(0, n, batch_size):
    chunk = images[start:start + batch_size]
    grey = np.moveaxis(chunk, -1, 1).reshape((-1, h, w, 1))  # Channel-major per image.
    logits = np.asarray(classify_fn(grey))
    out.append(np.argmax(logits, axis=-1).reshape((chunk.shape[0], c)))
  return np.concatenate(out, axis=0).astype(np.int64)


def stacked_mnist_metrics(digits, num_modes: int = NUM_STACKED_MNIST_MODES) -> dict:
  """Distinct digit triples and KL(q || uniform) over all `num_modes` triples.

  Args:
    digits: (N, 3) classifier digits per channel of N generated images (26,000 in
      the papers).
    num_modes: 10^3.

  Returns:
    {'modes': int, distinct triples; 'kl': float, KL(q || u) in nats;
     'counts': (num_modes,) histogram}.
  """
  ids = stacked_mnist_mode_ids(digits)
  counts = np.bincount(ids, minlength=num_modes)
  return {"modes": int(np.count_nonzero(counts)), "kl": reverse_kl_to_uniform(counts),
          "counts": counts}


def mean_and_standard_error(values) -> tuple[float, float]:
  """Mean and standard error std / sqrt(n) (ddof = 1) over seeds; 0 error for one seed."""
  v = np.asarray(values, np.float64)
  if v.size == 0:
    raise UserError("no values to average; run at least one seed")
  error = float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
  return float(np.mean(v)), error
