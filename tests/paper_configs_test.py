"""The papers' configs, for accelerators, trace one full step on CPU.

A step of the papers' sizes costs minutes to hours on 2 CPU cores (SNGAN's: about 2.8
TFLOP), so the step is traced abstractly (`jax.eval_shape`): the config validates, the
task builds its networks at the paper's widths, and one step of the real batch shapes
goes through every layer and loss to scalar metrics and a state of the same structure.
"""

import jax
import jax.numpy as jnp
import pytest

from gan import build
from gan.data import DataSpec

# (experiment, preset, the data's spec as the run would load it).
PAPER_CONFIGS = [
    ("sngan_cifar10", "paper", DataSpec("cifar10", (32, 32, 3), 10)),
    ("cgan_cifar10", "paper", DataSpec("cifar10", (32, 32, 3), 10)),
    ("pix2pix_edges", "paper",
     DataSpec("cifar10_grey", (32, 32, 3), 10, kind="pairs", source_shape=(32, 32, 1))),
    ("srgan_mnist", "paper",
     DataSpec("cifar10_down4", (32, 32, 3), 10, kind="pairs", source_shape=(8, 8, 3))),
    ("cyclegan_mnist_m", "paper",
     DataSpec("mnist_mnist_m", (28, 28, 3), 10, kind="unpaired", source_shape=(28, 28, 1))),
]


def _batch(task, spec, config):
  lead = (task.sub_batches, config.batch_size)
  shapes = {"image": spec.shape, "target": spec.shape, "source": spec.source_shape,
            "a": spec.source_shape, "b": spec.shape}
  batch = {f: jax.ShapeDtypeStruct(lead + tuple(shapes[f]), jnp.uint8)
           for f in task.batch_fields if f in shapes}
  if "label" in task.batch_fields:
    batch["label"] = jax.ShapeDtypeStruct(lead, jnp.int32)
  return batch


@pytest.mark.slow  # Tracing the papers' networks: seconds each.
@pytest.mark.parametrize("experiment,preset,spec", PAPER_CONFIGS,
                         ids=[f"{e}-{p}" for e, p, _ in PAPER_CONFIGS])
def test_paper_config_traces_one_step(experiment, preset, spec):
  module = __import__(f"experiments.{experiment}", fromlist=["get_config"])
  config = module.get_config(preset)
  if config.loss.get("feature_weight", 0):
    config.loss.feature_weight = 0.0  # The content loss's LeNet is trained on the real data.
  run = build.build(config, spec)
  state = jax.eval_shape(run.init, run.keys["init"])
  new_state, metrics = jax.eval_shape(run.task.step, state, _batch(run.task, spec, config),
                                      run.keys["train"])
  assert jax.tree.structure(new_state) == jax.tree.structure(state)
  assert metrics and all(m.shape == () for m in jax.tree.leaves(metrics))
