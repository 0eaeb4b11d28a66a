"""Several seeds of one experiment in one program: `jax.vmap` over states and keys.

Small GANs (the 2-D mixtures) leave a CPU or an accelerator mostly idle, and an
experiment wants S seeds anyway. Here the library's pure update
(`gan.train_step.make_train_step`) is run for `num_steps` steps by `lax.scan`, with
the real batch of each step drawn inside the program from (data key, step), and the
whole loop is vmapped over a leading seed axis of the state and the keys:

  run(states[S], train_keys[S], data_keys[S]) -> (states[S], metrics[S, num_steps])

Seed s computes what a run of that seed alone computes, up to float rounding
(`tests/multiseed_test.py` checks the vmapped steps against the per-seed steps):
vmap changes how the work is batched, not what is computed.

Keys of seed s: `jax.random.key(s)` split once into (init, train, sample, data). The
update folds the step into the train key (`gan.train_step.step_keys`) and the data
source folds it into the data key, so no key is used twice and a chunked run (any
`num_steps` per call) draws what one long call would.
"""

import functools
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from gan.state import GANState, generate

Array = jax.Array
TrainStep = Callable[[GANState, Array, Array], tuple[GANState, dict[str, Array]]]
BatchFn = Callable[..., Array]

KEY_NAMES = ("init", "train", "sample", "data")


def seed_keys(seeds: Sequence[int]) -> dict[str, Array]:
  """Per-seed keys, stacked: {'init', 'train', 'sample', 'data'} -> (S,) typed keys.

  Seed s: `jax.random.split(jax.random.key(s), 4)`, one key per use.
  """
  keys = jnp.stack([jax.random.split(jax.random.key(int(s)), len(KEY_NAMES)) for s in seeds])
  return {name: keys[:, i] for i, name in enumerate(KEY_NAMES)}


def init_states(create_fn: Callable[[Array], GANState], init_keys: Array) -> GANState:
  """`create_fn(key) -> GANState` for every key, as one state with a leading seed axis."""
  return jax.jit(jax.vmap(create_fn))(init_keys)


def make_run_steps(train_step: TrainStep, batch_fn: BatchFn, num_steps: int, *,
                   unroll: int | bool = 1) -> Callable[..., tuple[GANState, dict]]:
  """One seed, `num_steps` updates in one program (`lax.scan`).

  Args:
    train_step: the pure update `(state, batch, key) -> (state, metrics)`, e.g.
      `gan.train_step.make_train_step(cfg)`.
    batch_fn: `(data_key, step, *data) -> batch`, the real batch of a step (for the
      mixtures `gan.mixtures.mixture_batch`; for Stacked MNIST
      `gan.mixtures.stacked_mnist_batch`, with the digits as `data`).
    num_steps: updates per call.
    unroll: `lax.scan`'s unroll; True inlines every step (XLA:CPU runs convolution
      gradients inside a rolled loop much more slowly, see `gan.train_step`).

  Returns:
    `run_steps(state, train_key, data_key, *data) -> (state, metrics)`, metrics of
    shape (num_steps,) each; `data` (e.g. an image array) is passed through to
    `batch_fn` as an argument, never baked into the program as a constant.
  """

  def run_steps(state: GANState, train_key: Array, data_key: Array, *data):
    def body(state, _):
      return train_step(state, batch_fn(data_key, state.step, *data), train_key)
    return jax.lax.scan(body, state, None, length=num_steps, unroll=unroll)

  return run_steps


def make_multiseed_run(train_step: TrainStep, batch_fn: BatchFn, num_steps: int, *,
                       num_data_args: int = 0, unroll: int | bool = 1,
                       donate: bool = True) -> Callable[..., tuple[GANState, dict]]:
  """Jitted `run(states, train_keys, data_keys, *data)`: `make_run_steps` vmapped over seeds.

  States and keys have a leading seed axis S; the `num_data_args` data arguments
  are shared by all seeds (not vmapped). Returns (states, metrics) with metrics of
  shape (S, num_steps). The states are donated when `donate`.
  """
  run = jax.vmap(make_run_steps(train_step, batch_fn, num_steps, unroll=unroll),
                 in_axes=(0, 0, 0) + (None,) * num_data_args)
  return jax.jit(run, donate_argnums=(0,) if donate else ())


def take_seed(tree: Any, index: int) -> Any:
  """Seed `index` of a pytree with a leading seed axis (static fields kept)."""
  return jax.tree.map(lambda x: x[index], tree)


@functools.partial(jax.jit, static_argnames="use_ema")
def generate_per_seed(states: GANState, noise: Array, *, use_ema: bool = True) -> Array:
  """G(z) of every seed in inference mode: states (S, ...), noise (S, N, noise_dim)."""
  return jax.vmap(lambda s, z: generate(s, z, use_ema=use_ema))(states, noise)
