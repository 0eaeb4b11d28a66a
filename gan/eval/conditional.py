"""Does a conditional generator draw the class it is asked for? Per-class accuracy and FID.

For each class c of a label-conditional run, `per_class_scores` draws `per_class`
samples G(z, c) (z from `fold_in(key(seed), c)`, so the numbers are a function of the
checkpoint and the seed), quantises them to uint8 like the real images, and embeds
them with the extractor (the project's LeNet of the data set):

  accuracy_c = 1/n sum_i [argmax_k f(G(z_i, c))_k == c]   the classifier reads class c
  fid_c      = FID(real images of class c, G(., c))         same features, per class

`accuracy` is the mean of accuracy_c over the classes (the classes are equally
represented by construction), `fid_mean` the mean of fid_c. The real images of
class c are all of the training split's images of that class (about 6,000 per
MNIST digit), so fid_c compares against the class's whole distribution.

References:
  Odena et al. 2017, Conditional Image Synthesis with Auxiliary Classifier GANs (the
    accuracy of a pretrained classifier on generated samples of each class).
  Miyato & Koyama 2018, cGANs with Projection Discriminator (intra-class FID).
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gan import config as config_lib
from gan import images as images_lib
from gan.errors import UserError
from gan.eval import features as features_lib
from gan.metrics.frechet import fid as fid_fn


def class_samples(run, state, label: int, num: int, key: jax.Array) -> np.ndarray:
  """`num` uint8 samples G(z, label) of a conditional run, z drawn from `key`."""
  return images_lib.to_uint8(run.sample(state, num, key, label=label))


def per_class_scores(run, state, extractor: features_lib.FeatureExtractor, train_images,
                     train_labels, *, per_class: int = 1000, seed: int = 0,
                     progress: bool = False) -> dict[str, Any]:
  """The classifier's accuracy on, and the FID of, each class's samples (module docstring).

  Args:
    run: a conditional run (`gan.build.Run` whose task's generator takes labels).
    state: the state to evaluate (EMA weights when it has them).
    extractor: a `FeatureExtractor` whose logits classify the data set's classes.
    train_images: (N, H, W, C) uint8 real images; train_labels: (N,) their classes.
    per_class: samples drawn for each class.
    seed: z of class c comes from `fold_in(jax.random.key(seed), c)`.
    progress: progress bars on stderr.

  Returns:
    {"accuracy", "fid_mean", "per_class": [{"label", "accuracy", "fid", "n_real"}],
     "protocol": {"per_class", "seed", "extractor"}}.
  """
  num_classes = int(run.task.parts.get("num_classes", 0))
  if num_classes < 2:
    raise UserError("per-class scores need a class-conditional run (task conditional_gan); "
                    "this run's generator takes no label")
  extractor_classes = extractor.num_classes
  if extractor_classes is not None and extractor_classes != num_classes:
    raise UserError(f"the extractor classifies {extractor_classes} classes and the run "
                    f"generates {num_classes}; give the extractor of the run's data set")
  train_labels = np.asarray(train_labels)
  rows = []
  for label in range(num_classes):
    fake = class_samples(run, state, label, per_class,
                         jax.random.fold_in(jax.random.key(seed), label))
    fake_features, fake_logits = features_lib.extract(extractor, fake, progress=progress,
                                                      desc=f"class {label}")
    real = np.asarray(train_images[train_labels == label])
    real_features, _ = features_lib.extract(extractor, real, progress=progress,
                                            desc=f"real class {label}")
    accuracy = float(np.mean(np.argmax(np.asarray(fake_logits), axis=-1) == label))
    rows.append({"label": label, "accuracy": accuracy,
                 "fid": float(fid_fn(real_features, fake_features)), "n_real": int(len(real))})
  return {"accuracy": float(np.mean([r["accuracy"] for r in rows])),
          "fid_mean": float(np.mean([r["fid"] for r in rows])),
          "per_class": rows,
          "protocol": {"per_class": per_class, "seed": seed,
                       "extractor": extractor.describe()}}


# --------------------------------------------------- discrete latent codes (InfoGAN)


def code_inputs(noise_dim: int, num_codes: int, code: int, num: int, key: jax.Array) -> dict:
  """`num` latents z ~ N(0, I) conditioned on G's discrete code being `code`.

  The code is c = floor(K Phi(z_0)) (`gan.models.latent`), so given c, Phi(z_0) is
  uniform on [c / K, (c + 1) / K): z_0 = Phi^-1((c + u) / K), u ~ U(0, 1), and the
  other coordinates are N(0, 1) as always.
  """
  noise_key, code_key = jax.random.split(key)
  z = jax.random.normal(noise_key, (num, noise_dim), jnp.float32)
  u = jax.random.uniform(code_key, (num,), jnp.float32, minval=1e-6, maxval=1 - 1e-6)
  return {"z": z.at[:, 0].set(jax.scipy.special.ndtri((code + u) / num_codes))}


def has_codes(config) -> bool:
  """Whether G of the run of `config` takes a discrete choice nobody named: InfoGAN's
  codes (an unconditional GAN with `model.latent_codes`) or k-means cluster labels
  (`data.cluster_labels`, `gan.data.clusters`)."""
  return ((config.task == "gan" and config.model.latent_codes >= 2)
          or has_cluster_labels(config))


def has_cluster_labels(config) -> bool:
  """Whether the run of `config` was trained on k-means clusters for labels."""
  return int(config_lib.get(config, "data.cluster_labels", 0) or 0) >= 2


def per_code_readings(run, state, extractor: features_lib.FeatureExtractor, *,
                      per_code: int = 1000, seed: int = 0,
                      progress: bool = False) -> dict[str, Any]:
  """Which class the classifier reads in each discrete code's samples.

  For a run whose generator takes `model.latent_codes` K codes (InfoGAN's, with
  `loss.info_weight`, or the plain discrete latent): for each code c, `per_code`
  samples with that code (`code_inputs`, z from `fold_in(key(seed), c)`), read by the
  extractor's classifier; for a run on K k-means cluster labels the code is the
  label G takes:

    class_c     = the class read most often in code c's samples
    purity_c    = the share of code c's samples read as class_c
    confident_c = the share read with probability >= 0.9

  Codes and clusters are unsupervised, so which class a code takes is the run's choice;
  `classes_drawn` is the set of class_c, and `purity` the mean of purity_c (1 when
  every code draws one class only).

  Returns:
    {"purity", "classes_drawn", "per_code": [{"code", "class", "purity", "confident",
     "histogram"}], "protocol": {"per_code", "seed", "extractor"}}.
  """
  if not has_codes(run.config):
    raise UserError("per-code readings need a GAN with discrete codes "
                    "(config.model.latent_codes >= 2) or cluster labels "
                    "(config.data.cluster_labels >= 2); this run has neither")
  if not extractor.num_classes:
    raise UserError(f"per-code readings need an extractor that classifies; {extractor.name} "
                    f"has no classifier: use extractor=lenet or a saved one")
  clusters = has_cluster_labels(run.config)
  num_codes = (int(run.task.parts["num_classes"]) if clusters
               else int(run.config.model.latent_codes))
  rows = []
  for code in range(num_codes):
    key = jax.random.fold_in(jax.random.key(seed), code)
    if clusters:  # The code is the label G takes: the cluster.
      fake = class_samples(run, state, code, per_code, key)
    else:
      inputs = code_inputs(run.config.model.noise_dim, num_codes, code, per_code, key)
      fake = images_lib.to_uint8(np.asarray(run.generate(state, inputs)))
    _, logits = features_lib.extract(extractor, fake, progress=progress, desc=f"code {code}")
    probabilities = np.asarray(jax.nn.softmax(jnp.asarray(logits), axis=-1))
    histogram = np.bincount(probabilities.argmax(-1), minlength=extractor.num_classes) / per_code
    rows.append({"code": code, "class": int(histogram.argmax()),
                 "purity": float(histogram.max()),
                 "confident": float(np.mean(probabilities.max(-1) >= 0.9)),
                 "histogram": [float(h) for h in histogram]})
  return {"purity": float(np.mean([r["purity"] for r in rows])),
          "classes_drawn": sorted({r["class"] for r in rows}),
          "per_code": rows,
          "protocol": {"per_code": per_code, "seed": seed, "extractor": extractor.describe()}}
