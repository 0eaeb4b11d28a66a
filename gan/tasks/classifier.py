"""The classifier task: a LeNet trained on the data's labels (the feature extractors).

batch {image, label}: one Adam step on the cross-entropy of the labels,

  loss = mean_i -log softmax(logits(x_i))[y_i],

with the learning rate cosine-decayed from `optim.lr` to 0 over `num_steps`. It runs
through the same program as the GANs (`gan.program.train`), so the batch order is
`gan.data.batch_indices` and the weights are a function of (data, config, platform).

Its config derives from the base one with these sections replaced:
  model  conv_widths, kernel_size, feature_dim (`gan.models.lenet.LeNet`)
  optim  lr (Adam's peak step)
"""

import jax
import jax.numpy as jnp
import ml_collections
import optax
from flax.training import train_state

from gan import config as config_lib
from gan.data import DataSpec
from gan.errors import ConfigError
from gan.images import to_float
from gan.models.lenet import LeNet
from gan.tasks.base import Task


def check_config(config: ml_collections.ConfigDict) -> None:
  """The classifier's fields: model.conv_widths, kernel_size, feature_dim; optim.lr."""
  config_lib.widths(config, "model.conv_widths")
  config_lib.positive_int(config, "model.kernel_size")
  config_lib.positive_int(config, "model.feature_dim")
  if not config_lib.get(config, "optim.lr", 0) > 0:
    raise ConfigError("optim.lr", config_lib.get(config, "optim.lr"), "must be > 0")


def module_of(config: ml_collections.ConfigDict, num_classes: int) -> LeNet:
  """The LeNet of `config` for `num_classes` classes."""
  return LeNet(num_classes=num_classes, conv_widths=tuple(config.model.conv_widths),
               kernel_size=config.model.kernel_size, feature_dim=config.model.feature_dim)


def make(config: ml_collections.ConfigDict, data: DataSpec) -> Task:
  """The classifier task of `config` for data described by `data`."""
  if data.kind != "images" or data.num_classes < 2:
    raise ConfigError("dataset", config.dataset, f"has no class labels to train a classifier "
                      f"on ({data.num_classes} class(es)); give a labelled image data set")
  module = module_of(config, data.num_classes)
  optimizer = optax.adam(optax.cosine_decay_schedule(config.optim.lr, max(config.num_steps, 1)))
  shape = tuple(data.shape)

  def init(key):
    params = module.init(key, jnp.zeros((1,) + shape, jnp.float32))["params"]
    return train_state.TrainState.create(apply_fn=module.apply, params=params, tx=optimizer)

  def step(state, batch, key):
    del key  # Nothing random but the batch order.
    images, labels = to_float(batch["image"][0]), batch["label"][0]

    def loss_fn(params):
      _, logits = module.apply({"params": params}, images)
      return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

    loss, grads = jax.value_and_grad(loss_fn)(state.params)
    return state.apply_gradients(grads=grads), {"loss": loss}

  return Task(name="classifier", init=init, step=step, batch_fields=("image", "label"),
              progress=("loss",), parts={"module": module})
