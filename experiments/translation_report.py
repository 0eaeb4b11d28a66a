r"""The tables and figures of docs/translation.md from trained runs.

  python -m experiments.translation_report --srgan=runs/srgan_mnist \
      --srresnet=runs/srresnet_mnist --pix2pix=runs/pix2pix_edges \
      --pix2pix_l1=runs/pix2pix_edges_l1 --cyclegan=runs/cyclegan --out=docs

Scores every run given on its held-out images (`gan.eval.translation`), writes
`--record` (`translation.json`; one record: every score, each run's step, training
seconds and config, the machine kind) and side-by-side figures of the first 8 held-out images:
`translation_sr.png` (low-res input, bicubic, SRResNet, SRGAN, original),
`translation_pix2pix.png` (edges, L1 only, pix2pix, original) and
`translation_cyclegan.png` (the run's own grid).
"""

import json
import os
import shutil

from absl import app, flags
import numpy as np

_RUNS = ("srgan", "srresnet", "pix2pix", "pix2pix_l1", "cyclegan")
_DIRS = {name: flags.DEFINE_string(name, None, f"The {name} run's workdir.") for name in _RUNS}
_OUT = flags.DEFINE_string("out", "docs", "Where the JSON and the figures go.")
_NUM = flags.DEFINE_integer("num", None, "Held-out images scored (default: all).")
_RECORD = flags.DEFINE_string("record", "translation.json", "The JSON record's name in --out.")


def _train_seconds(workdir: str) -> float:
  with open(os.path.join(workdir, "metrics.jsonl"), encoding="utf-8") as f:
    records = [json.loads(line) for line in f]
  return max(r.get("train_seconds", 0.0) for r in records)


def _figure(columns, path):
  from gan import images  # pylint: disable=g-import-not-at-top
  rows = np.stack(columns, axis=1)  # (N, columns, H, W, C)
  flat = rows.reshape((-1,) + rows.shape[2:]).astype(np.float32) / 127.5 - 1.0
  images.save_grid(flat, path, num_cols=len(columns))


def main(argv):
  del argv
  from gan import apply, metrics  # pylint: disable=g-import-not-at-top
  from gan import data as data_lib  # pylint: disable=g-import-not-at-top
  from gan import rundir  # pylint: disable=g-import-not-at-top
  from gan.backends import machine_kind  # pylint: disable=g-import-not-at-top
  from gan.eval import translation  # pylint: disable=g-import-not-at-top
  os.makedirs(_OUT.value, exist_ok=True)
  record = {"machine": machine_kind(), "runs": {}}
  for name in _RUNS:
    workdir = _DIRS[name].value
    if not workdir:
      continue
    result = translation.evaluate_translation_run(workdir, num=_NUM.value, progress=False)
    config = rundir.saved_config_values(workdir)
    record["runs"][name] = {**result, "train_seconds": _train_seconds(workdir),
                            "config": config}
    print(json.dumps({name: {k: v for k, v in result.items()
                             if k in ("model", "bicubic", "a_to_b", "b_to_a", "step")}}))
  with open(os.path.join(_OUT.value, _RECORD.value), "w", encoding="utf-8") as f:
    json.dump(record, f, indent=2, sort_keys=True, default=str)
  dirs = {name: flag.value for name, flag in _DIRS.items()}
  if dirs["srgan"] and dirs["srresnet"]:
    data = data_lib.load(rundir.load_run_config(dirs["srgan"]).dataset)
    low, high = np.asarray(data.test_source[:8]), np.asarray(data.test_target[:8])
    scale = high.shape[1] // low.shape[1]
    _figure([metrics.upsample(low, scale, method="nearest"),
             metrics.upsample(low, scale, method="bicubic"),
             apply.Translator.load(dirs["srresnet"])(low),
             apply.Translator.load(dirs["srgan"])(low),
             high], os.path.join(_OUT.value, "translation_sr.png"))
  if dirs["pix2pix"] and dirs["pix2pix_l1"]:
    data = data_lib.load(rundir.load_run_config(dirs["pix2pix"]).dataset)
    edges, real = np.asarray(data.test_source[:8]), np.asarray(data.test_target[:8])
    _figure([edges, apply.Translator.load(dirs["pix2pix_l1"])(edges),
             apply.Translator.load(dirs["pix2pix"])(edges), real],
            os.path.join(_OUT.value, "translation_pix2pix.png"))
  if dirs["cyclegan"]:
    grids = sorted(os.listdir(os.path.join(dirs["cyclegan"], "samples")))
    shutil.copy(os.path.join(dirs["cyclegan"], "samples", grids[-1]),
                os.path.join(_OUT.value, "translation_cyclegan.png"))


if __name__ == "__main__":
  app.run(main)
