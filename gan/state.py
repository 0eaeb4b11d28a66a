"""GANState: everything a run changes, as one pytree.

`GANState` holds the step, one `PlayerState` (a Flax `TrainState` with
`batch_stats`) per player, and an optional exponential moving average of the
generator's parameters. Keys are not part of the state: the update derives them
from the run's key and the step (`gan.tasks.gan.step_keys`), so a checkpoint of
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


def learning_rate(peak: float, schedule: str, num_steps: int) -> float | optax.Schedule:
  """`peak` held constant, or cosine-decayed from it to 0 over `num_steps` (`schedule`)."""
  if schedule == "cosine":
    return optax.cosine_decay_schedule(peak, num_steps)
  return peak


def init_player(module: nn.Module, key: jax.Array, example_args: tuple,
                tx: optax.GradientTransformation) -> PlayerState:
  """A player's state: `module.init` on `example_args` with `key` split into params and dropout."""
  params_key, dropout_key = jax.random.split(key)
  variables = module.init({"params": params_key, "dropout": dropout_key}, *example_args,
                          train=False)
  return PlayerState.create(apply_fn=module.apply, params=variables["params"], tx=tx,
                            batch_stats=variables.get("batch_stats", {}))


def create_state(*, generator: nn.Module, discriminator: nn.Module, key: jax.Array,
                 g_example: tuple, d_example: tuple,
                 g_optimizer: optax.GradientTransformation,
                 d_optimizer: optax.GradientTransformation,
                 use_ema: bool = False) -> GANState:
  """Initialises both players from `key` (split once, one half per player).

  Args:
    generator, discriminator: the players' modules.
    key: the init key.
    g_example, d_example: example arguments of each player's call (batch of 1).
    g_optimizer, d_optimizer: their optimizers.
    use_ema: keep an exponential moving average of G's parameters.
  """
  g_key, d_key = jax.random.split(key)
  g = init_player(generator, g_key, g_example, g_optimizer)
  d = init_player(discriminator, d_key, d_example, d_optimizer)
  ema = jax.tree.map(jnp.copy, g.params) if use_ema else None
  return GANState(step=jnp.zeros((), jnp.int32), generator=g, discriminator=d, ema_params=ema)


def generate(state: GANState, z: jax.Array, labels: Optional[jax.Array] = None, *,
             use_ema: bool = True) -> jax.Array:
  """G(z) (G(z, labels) when conditional) in inference mode, EMA weights when present."""
  g = state.generator
  params = state.ema_params if (use_ema and state.ema_params is not None) else g.params
  args = (z,) if labels is None else (z, labels)
  return g.apply_fn({"params": params, "batch_stats": g.batch_stats}, *args, train=False)
