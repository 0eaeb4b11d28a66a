"""GANState: everything a run changes, as one pytree.

`GANState` holds the step, one `PlayerState` (a Flax `TrainState` with
`batch_stats`) per player, and an optional exponential moving average of the
generator's parameters. Keys are not part of the state: the update derives them
from the run's key and the step (`gan.train_step.step_keys`), so a checkpoint of
this pytree is all a bit-exact resume needs.
"""

from typing import Any, Optional

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state


class PlayerState(train_state.TrainState):
  """One player's parameters, BatchNorm statistics and optimizer state."""

  batch_stats: Any = None


@flax.struct.dataclass
class GANState:
  """Both players, the step, and the generator's EMA parameters (None when off)."""

  step: jax.Array
  generator: PlayerState
  discriminator: PlayerState
  ema_params: Optional[Any] = None


def make_optimizer(learning_rate: float | optax.Schedule, beta1: float,
                   beta2: float) -> optax.GradientTransformation:
  """Adam (Kingma & Ba 2015) with the given learning rate and betas."""
  return optax.adam(learning_rate, b1=beta1, b2=beta2)


def _init_player(module: nn.Module, key: jax.Array, example: jax.Array,
                 tx: optax.GradientTransformation) -> PlayerState:
  params_key, dropout_key = jax.random.split(key)
  variables = module.init({"params": params_key, "dropout": dropout_key}, example, train=False)
  return PlayerState.create(apply_fn=module.apply, params=variables["params"], tx=tx,
                            batch_stats=variables.get("batch_stats", {}))


def create_state(*, generator: nn.Module, discriminator: nn.Module, key: jax.Array,
                 noise_dim: int, image_shape: tuple[int, int, int],
                 g_optimizer: optax.GradientTransformation,
                 d_optimizer: optax.GradientTransformation,
                 use_ema: bool = False) -> GANState:
  """Initialises both players from `key` (split once, one half per player)."""
  g_key, d_key = jax.random.split(key)
  g = _init_player(generator, g_key, jnp.zeros((1, noise_dim), jnp.float32), g_optimizer)
  d = _init_player(discriminator, d_key, jnp.zeros((1,) + tuple(image_shape), jnp.float32),
                   d_optimizer)
  ema = jax.tree.map(jnp.copy, g.params) if use_ema else None
  return GANState(step=jnp.zeros((), jnp.int32), generator=g, discriminator=d, ema_params=ema)


def generate(state: GANState, z: jax.Array, *, use_ema: bool = True) -> jax.Array:
  """G(z) in inference mode (BatchNorm running averages), EMA weights when present."""
  g = state.generator
  params = state.ema_params if (use_ema and state.ema_params is not None) else g.params
  return g.apply_fn({"params": params, "batch_stats": g.batch_stats}, z, train=False)
