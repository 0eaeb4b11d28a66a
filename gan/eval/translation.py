"""Scores of translators and upscalers on held-out images: pix2pix, SRGAN, CycleGAN.

Paired tasks (pix2pix, SRGAN, SRResNet): each held-out source s is translated, G(s),
and compared with its own target t:

  PSNR  10 log10(255^2 / mean (G(s) - t)^2), per image, averaged  (distortion: higher is closer)
  SSIM  Wang et al. 2004, 11x11 Gaussian window, per image, averaged
  L1    mean |G(s) - t| / 255
  FID   between the features of {G(s)} and of {t} (perception: lower is more like real
        images), on the target domain's extractor (LeNet for grey, Inception for RGB)

and, for super-resolution, the same of bicubic upsampling of s: the baseline whose
PSNR a GAN need not beat while being sharper (Blau & Michaeli 2018, the
perception-distortion trade-off).

CycleGAN: for each direction (A -> B with G, B -> A with F) on held-out images of the
source domain: the share of translations that a classifier trained on the target
domain reads as the source image's label (`label_kept`), the cycle error mean
|F(G(a)) - a| / 255, and the FID of the translations against held-out target images
on that classifier's features; with the classifier's accuracy on real target images
beside it.
"""

import os
import time
from typing import Any, Optional

import jax
import numpy as np

from gan import data as data_lib
from gan import images as images_lib
from gan import metrics
from gan.errors import UserError
from gan.eval import evaluate as evaluate_lib
from gan.eval import features as features_lib
from gan.tasks import translation as translation_task

_CHUNK = 500  # Images per generator call.
TASKS = ("pix2pix", "srgan", "cyclegan")


def apply_generator(run, state, field: str, images: np.ndarray, *,
                    chunk: int = _CHUNK) -> np.ndarray:
  """The run's generator applied to uint8 `images` as input `field`; uint8 out.

  `field`: `source` (pix2pix, SRGAN), `a` (CycleGAN A -> B) or `b` (B -> A). Chunks
  are padded to `chunk` rows so one compiled program serves any count.
  """
  out = []
  for start in range(0, len(images), chunk):
    part = np.asarray(images[start:start + chunk])
    rows = len(part)
    if rows < chunk and len(images) > chunk:
      part = np.concatenate([part, np.repeat(part[:1], chunk - rows, axis=0)])
    result = run.generate(state, {field: part})
    out.append(images_lib.to_uint8(np.asarray(jax.device_get(result)))[:rows])
  return np.concatenate(out)


def image_scores(outputs: np.ndarray, targets: np.ndarray, extractor,
                 target_features: np.ndarray) -> dict[str, float]:
  """PSNR, SSIM, L1 and FID of uint8 `outputs` against their `targets` (module docstring)."""
  out_features, _ = features_lib.extract(extractor, outputs)
  diff = np.abs(outputs.astype(np.float64) - targets.astype(np.float64))
  return {
      "psnr": float(np.mean(metrics.psnr(outputs, targets))),
      "ssim": float(np.mean(metrics.ssim(outputs, targets))),
      "l1": float(np.mean(diff) / 255.0),
      "fid": float(metrics.fid(target_features, np.asarray(out_features))),
  }


def domain_dataset(data, domain: str) -> data_lib.ImageDataset:
  """Domain `a` or `b` of an unpaired data set as an image data set."""
  return data_lib.from_arrays(f"{data.name}#{domain}", getattr(data, f"train_{domain}"),
                              getattr(data, f"train_{domain}_labels"),
                              getattr(data, f"test_{domain}"),
                              getattr(data, f"test_{domain}_labels"))


def evaluate_paired(run, state, data, *, num: Optional[int] = None, extractor=None,
                    extractor_kind: Optional[str] = None, progress: bool = True
                    ) -> dict[str, Any]:
  """The scores of the module docstring for a pix2pix or SRGAN run on `data`'s test pairs."""
  sources, targets = np.asarray(data.test_source), np.asarray(data.test_target)
  if not len(sources):
    raise UserError(f"{data.name} has no held-out pairs to score on; give a data set with "
                    f"x_test")
  n = min(num or len(sources), len(sources))
  sources, targets = sources[:n], targets[:n]
  if extractor is None:
    extractor = target_extractor(translation_task.target_dataset(data), extractor_kind,
                                 progress=progress)
  target_features = np.asarray(features_lib.extract(extractor, targets)[0])
  outputs = apply_generator(run, state, "source", sources)
  result = {"model": image_scores(outputs, targets, extractor, target_features)}
  scale = run.task.parts.get("scale", 1)
  if scale > 1:
    result["bicubic"] = image_scores(metrics.upsample(sources, scale, method="bicubic"),
                                     targets, extractor, target_features)
  result["num_images"] = n
  result["extractor"] = extractor.describe()
  return result


def target_extractor(dataset: data_lib.ImageDataset, kind: Optional[str] = None, *,
                     progress: bool = True):
  """The extractor that scores images of `dataset`'s domain: the FID Inception-v3
  (`kind="inception"`, the default for RGB), else the domain's cached LeNet (trained on
  first use; its test accuracy is in `describe()`, and a translated domain's LeNet is
  not held to the 98% of the generation scores: Fashion-MNIST's reaches about 90%)."""
  kind = kind or evaluate_lib.default_extractor_kind(dataset.image_shape)
  if kind == "inception":
    return evaluate_lib.choose_extractor(dataset, kind="inception", progress=progress)
  if len(np.unique(np.asarray(dataset.train_labels))) < 2:
    raise UserError(f"{dataset.name} has no class labels to train its LeNet on; give "
                    f"labelled data or extractor=DIR")
  recipe = features_lib.classifier_config()
  recipe.progress_bar = progress
  return features_lib.cached_extractor(dataset, recipe)


def domain_classifier(data, domain: str, *, progress: bool = True):
  """The cached LeNet trained on domain `domain`'s labelled training images."""
  return target_extractor(domain_dataset(data, domain), "lenet", progress=progress)


def evaluate_cycle(run, state, data, *, num: Optional[int] = None, classifiers=None,
                   progress: bool = True) -> dict[str, Any]:
  """The CycleGAN scores of the module docstring, both directions, on held-out images."""
  classifiers = classifiers or {d: domain_classifier(data, d, progress=progress)
                                for d in ("a", "b")}
  result = {}
  for source, target, name in (("a", "b", "a_to_b"), ("b", "a", "b_to_a")):
    images = np.asarray(getattr(data, f"test_{source}"))
    labels = np.asarray(getattr(data, f"test_{source}_labels"))
    real = np.asarray(getattr(data, f"test_{target}"))
    real_labels = np.asarray(getattr(data, f"test_{target}_labels"))
    if not len(images) or not len(real):
      raise UserError(f"{data.name} has no held-out images of domain {source} or {target}")
    n = min(num or len(images), len(images))
    images, labels = images[:n], labels[:n]
    translated = apply_generator(run, state, source, images)
    back = apply_generator(run, state, target, translated)
    classifier = classifiers[target]
    fake_features, fake_logits = features_lib.extract(classifier, translated)
    real_features, real_logits = features_lib.extract(classifier, real[:n])
    result[name] = {
        "label_kept": float(np.mean(np.argmax(np.asarray(fake_logits), -1) == labels)),
        "classifier_accuracy_on_real": float(np.mean(
            np.argmax(np.asarray(real_logits), -1) == real_labels[:n])),
        "cycle_l1": float(np.mean(np.abs(back.astype(np.float64) - images)) / 255.0),
        "fid": float(metrics.fid(np.asarray(real_features), np.asarray(fake_features))),
        "num_images": n,
        "classifier": classifier.describe(),
    }
  return result


def evaluate_translation_run(workdir: str, *, step: Optional[int] = None,
                             num: Optional[int] = None, dataset: Optional[str] = None,
                             extractor_dir: Optional[str] = None,
                             extractor_kind: Optional[str] = None,
                             progress: bool = True) -> dict[str, Any]:
  """Scores the translation run in `workdir` (module docstring) and writes
  `eval_<step>.json` beside it; returns the JSON object."""
  from gan import rundir  # pylint: disable=g-import-not-at-top
  config = rundir.load_run_config(workdir)
  data = data_lib.load(dataset or config.dataset)
  run, state = rundir.restore(workdir, step, data=data)
  start = time.perf_counter()
  if config.task == "cyclegan":
    scores = evaluate_cycle(run, state, data, num=num, progress=progress)
  else:
    extractor = (features_lib.load_extractor(extractor_dir) if extractor_dir else None)
    scores = evaluate_paired(run, state, data, num=num, extractor=extractor,
                             extractor_kind=extractor_kind, progress=progress)
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  result = {"workdir": workdir, "task": config.task, "step": int(state.step),
            "dataset": data.name, **scores, "machine": machine_kind(),
            "eval_seconds": round(time.perf_counter() - start, 1)}
  rundir.write_json_atomically(os.path.join(workdir, f"eval_{int(state.step)}.json"), result)
  return result
