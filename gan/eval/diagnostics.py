"""Live diagnostics of a training run: is D overfitting, are gradients healthy, which classes does G draw.

`diagnostics_hook(run)` is called by `gan.eval.hooks.default_hooks` when
`config.eval.diagnostics_every > 0` (unconditional GANs); every that many steps it logs,
beside the losses:

  d_acc_train_real    fraction of N fixed *training* images D calls real (logit > 0),
  d_acc_heldout_real  the same on N *held-out* images (the data set's test split),
  d_overfit_gap       d_acc_train_real - d_acc_heldout_real: D memorising its training
                      set shows as a growing gap (Karras et al. 2020, ADA, section 2),
  d_acc_fake          fraction of N generated samples D calls fake (logit < 0),
  d_input_grad_norm_real / _fake
                      E ||grad_x D(x)||_2 at real and generated samples (per D output),
  d_grad_norm/<layer>, g_grad_norm/<layer>
                      ||grad_theta loss||_2 of each top-level layer's parameters, for
                      the run's loss on that fixed batch (vanishing or exploding layers),
  and, where a classifier of the data exists (the cached LeNet extractor of
  `gan.eval.features`, or one passed in):
  sample_class_frac/<k>  share of generated samples classified as class k (one-channel
                      data with at most 10 classes),
  sample_modes        number of distinct classes among the samples (for C-channel data
                      such as Stacked MNIST: distinct C-tuples of per-channel classes),
  sample_class_kl     KL(q || p) of the samples' class (tuple) histogram q to the real
                      one p (the training labels' histogram; a product of it over
                      channels for stacked data).

Everything is computed in inference mode (no dropout, BatchNorm running averages in
G for the samples), on batches fixed when the hook is built: the same state gives the
same numbers. D sees the training generator (not the EMA one), since that is what it
is trained against.
"""

import math
import sys
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan import images as images_lib
from gan import losses
from gan.errors import ConfigError
from gan.program import Hook
from gan.metrics import modes as mode_metrics
from gan.state import GANState, generate

Array = jax.Array
DEFAULT_NUM_EXAMPLES = 1024
_DIAGNOSTICS_SEED = 1  # Fixed noise of the diagnostic samples: jax.random.key(1).


def accuracy_real(logits: Array) -> Array:
  """Share of samples D calls real: mean 1[logit > 0]."""
  return jnp.mean((logits > 0).astype(jnp.float32))


def input_gradient_norm(discriminator_fn: Callable[[Array], Array], x: Array) -> Array:
  """E_j ||d D(x)_j / d x||_2 over D's outputs j (one per sample, or per pack)."""
  num_outputs = jax.eval_shape(discriminator_fn, x).shape[0]
  grads = jax.grad(lambda v: jnp.sum(discriminator_fn(v)))(x).reshape((num_outputs, -1))
  return jnp.mean(jnp.sqrt(jnp.sum(grads ** 2, axis=1)))


def layer_gradient_norms(grads: Any, prefix: str) -> dict[str, Array]:
  """{prefix/<top-level module>: ||grads of its parameters||_2} for a params dict."""
  return {f"{prefix}/{name}": optax.tree.norm(sub) for name, sub in grads.items()}


def class_histogram_kl(counts: np.ndarray, reference: np.ndarray) -> float:
  """KL(q || p) = sum_k q_k log(q_k / p_k), q = counts / sum, p = reference / sum, in nats.

  Infinite when q puts mass where p has none; NaN when `counts` is all zero.
  """
  counts = np.asarray(counts, np.float64)
  p = np.asarray(reference, np.float64)
  p = p / p.sum()
  if counts.sum() <= 0:
    return float("nan")
  q = counts / counts.sum()
  nz = q > 0
  if np.any(p[nz] == 0):
    return float("inf")
  return float(np.sum(q[nz] * np.log(q[nz] / p[nz])))


def _logits(out):
  """D's real-vs-fake logits, from D's output (a tuple with a class or code head)."""
  return out[0] if isinstance(out, tuple) else out


def make_discriminator_diagnostics(loss: losses.GANLoss) -> Callable[..., dict[str, Array]]:
  """The pure `fn(state, train_real, heldout_real, z) -> {name: scalar}` of D's side.

  Args:
    loss: the run's loss variant; its gradients on (train_real, G(z)) give the
      per-layer gradient norms.

  Returns:
    The function; `heldout_real` may have 0 rows (no held-out metrics then).
  """

  def fn(state: GANState, train_real: Array, heldout_real: Array, z: Array):
    d, g = state.discriminator, state.generator
    d_fn = lambda params: lambda x: _logits(d.apply_fn({"params": params}, x, train=False))
    train_real = images_lib.to_float(train_real)
    fake = generate(state, z, use_ema=False)
    train_logits = d_fn(d.params)(train_real)
    fake_logits = d_fn(d.params)(fake)
    out = {
        "d_acc_train_real": accuracy_real(train_logits),
        "d_acc_fake": jnp.mean((fake_logits < 0).astype(jnp.float32)),
        "d_input_grad_norm_real": input_gradient_norm(d_fn(d.params), train_real),
        "d_input_grad_norm_fake": input_gradient_norm(d_fn(d.params), fake),
    }
    if heldout_real.shape[0]:
      heldout_acc = accuracy_real(d_fn(d.params)(images_lib.to_float(heldout_real)))
      out["d_acc_heldout_real"] = heldout_acc
      out["d_overfit_gap"] = out["d_acc_train_real"] - heldout_acc

    d_grads = jax.grad(lambda p: loss.discriminator(
        real_logits=d_fn(p)(train_real), fake_logits=d_fn(p)(fake)))(d.params)

    def g_loss(params):
      sample, _ = g.apply_fn({"params": params, "batch_stats": g.batch_stats}, z, train=True,
                             mutable=["batch_stats"])
      return loss.generator(fake_logits=d_fn(d.params)(sample), real_logits=train_logits)

    g_grads = jax.grad(g_loss)(g.params)
    out.update(layer_gradient_norms(d_grads, "d_grad_norm"))
    out.update(layer_gradient_norms(g_grads, "g_grad_norm"))
    return out

  return fn


def sample_class_metrics(samples: np.ndarray, classify: Callable[[np.ndarray], np.ndarray],
                         reference_labels: np.ndarray, num_classes: int) -> dict[str, float]:
  """Class histogram of generated samples against the real label histogram.

  Args:
    samples: (N, H, W, C) generated images in [-1, 1].
    classify: uint8 (n, H, W, 1) -> (n, num_classes) logits; applied to every channel.
    reference_labels: the real training labels.
    num_classes: K.

  Returns:
    {'sample_modes', 'sample_class_kl'} and, for C = 1 and K <= 10,
    {'sample_class_frac/k'}; modes are C-tuples of classes, id sum_c d_c K^(C-1-c).
  """
  images = images_lib.to_uint8(samples)
  digits = mode_metrics.classify_channels(images, classify)  # (N, C)
  channels = digits.shape[1]
  ids = digits @ (num_classes ** np.arange(channels - 1, -1, -1))
  counts = np.bincount(ids, minlength=num_classes ** channels)
  marginal = np.bincount(np.asarray(reference_labels, np.int64), minlength=num_classes)
  reference = marginal.astype(np.float64)
  for _ in range(channels - 1):
    reference = np.outer(reference, marginal).ravel()
  out = {"sample_modes": float(np.count_nonzero(counts)),
         "sample_class_kl": class_histogram_kl(counts, reference)}
  if channels == 1 and num_classes <= 10:
    out.update({f"sample_class_frac/{k}": float(counts[k] / counts.sum())
                for k in range(num_classes)})
  return out


def _cached_classifier(dataset) -> Optional[Any]:
  """The extractor of `dataset` if one is already cached (never trains one here)."""
  import os  # pylint: disable=g-import-not-at-top
  from gan.eval import features  # pylint: disable=g-import-not-at-top
  labels = dataset.train_labels
  if labels.size == 0 or np.unique(labels).size < 2:
    return None
  grey = dataset.image_shape[:2] + (1,)
  if dataset.image_shape[-1] != 1:  # Stacked data: look for the classifier of one channel.
    return None
  directory = os.path.join(features.default_cache_dir(),
                           features.cache_entry(dataset, features.classifier_config()))
  if not os.path.isfile(os.path.join(directory, features.EXTRACTOR_FILE)):
    return None
  extractor = features.load_extractor(directory)
  return extractor if tuple(extractor.image_shape) == grey else None


def _round_down(n: int, multiple: int) -> int:
  return (n // multiple) * multiple


def diagnostics_hook(run, *, classifier: Optional[Callable[[np.ndarray], np.ndarray]] = None,
                     num_examples: int = DEFAULT_NUM_EXAMPLES) -> Hook:
  """The hook that logs the diagnostics above every `config.eval.diagnostics_every` steps.

  Args:
    run: the run (`gan.build.Run`) of an unconditional GAN; its data set's test split
      is the held-out set (no held-out metrics when it has none).
    classifier: uint8 (n, H, W, 1) -> (n, K) class logits for the class histogram;
      default: the data set's LeNet extractor if it is already cached (trained by
      `gan.cli.evaluate` or `experiments.train_classifier`), else no histogram.
    num_examples: N, examples in each fixed batch (rounded down to whole packs and
      minibatch-std groups).

  Returns:
    A `gan.program.Hook` returning {name: float}.
  """
  config, dataset, parts = run.config, run.data, run.task.parts
  if config.task != "gan":
    raise ConfigError("eval.diagnostics_every", config.eval.diagnostics_every,
                      f"is for the unconditional GAN, not task {config.task}; set it to 0")
  multiple = math.lcm(int(config.model.pack), 4)
  n = max(multiple, _round_down(min(num_examples, dataset.num_train), multiple))
  train_real = dataset.train_images[:n]
  heldout = _round_down(min(n, dataset.test_images.shape[0]), multiple)
  heldout_real = dataset.test_images[:heldout]
  z = jax.random.normal(jax.random.key(_DIAGNOSTICS_SEED), (n, parts["noise_dim"]))
  d_side = jax.jit(make_discriminator_diagnostics(parts["loss"]))

  if classifier is None:
    extractor = _cached_classifier(dataset)
    if extractor is not None:
      classifier = lambda x: np.asarray(extractor(x)[1])
  num_classes = int(dataset.train_labels.max()) + 1 if dataset.train_labels.size else 0
  if jax.process_index() == 0:
    held = f"test[:{heldout}]" if heldout else "none (the data set has no test split)"
    print(f"Diagnostics every {config.eval.diagnostics_every} steps: D on train[:{n}] vs "
          f"held-out {held}; class histogram of samples: "
          f"{'yes' if classifier is not None else 'no classifier cached'}.",
          file=sys.stderr, flush=True)

  def diagnose(step: int, state) -> dict[str, float]:
    del step
    values = {k: float(v) for k, v in jax.device_get(
        d_side(state, train_real, heldout_real, z)).items()}
    if classifier is not None and num_classes:
      samples = np.asarray(jax.device_get(run.generate(state, {"z": z})))
      values.update(sample_class_metrics(samples, classifier, dataset.train_labels,
                                         num_classes))
    return values

  return Hook(every=config.eval.diagnostics_every, fn=diagnose, name="diagnostics")
