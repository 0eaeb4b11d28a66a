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
import numpy as np

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
