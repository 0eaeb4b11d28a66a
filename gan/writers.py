"""Metric logs a researcher reads: JSON lines and TensorBoard event files."""

import json
import os
from typing import Mapping

import numpy as np


class MetricWriter:
  """Appends `{"step": s, name: value, ...}` to `metrics.jsonl` and TensorBoard events.

  Only one process should write (process 0 in multi-process runs).
  """

  def __init__(self, workdir: str, *, tensorboard: bool = True):
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._file = open(self.path, "a", encoding="utf-8")
    self._tb = None
    if tensorboard:
      from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
      self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

  def write(self, step: int, metrics: Mapping[str, float]) -> None:
    """Logs scalars at `step`."""
    values = {k: float(np.asarray(v)) for k, v in metrics.items()}
    self._file.write(json.dumps({"step": int(step), **values}) + "\n")
    self._file.flush()
    if self._tb is not None:
      for name, value in values.items():
        self._tb.add_scalar(name, value, int(step))

  def write_image(self, step: int, name: str, grid_uint8: np.ndarray) -> None:
    """Logs an (H, W, C) uint8 image to TensorBoard."""
    if self._tb is not None:
      self._tb.add_image(name, grid_uint8, int(step), dataformats="HWC")

  def close(self) -> None:
    self._file.close()
    if self._tb is not None:
      self._tb.close()


def read_metrics(workdir: str) -> list[dict]:
  """The metric records of a run, in the order they were written."""
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return []
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f if line.strip()]
