"""The GAN update: `d_steps` discriminator updates, then one generator update.

By default the updates alternate: the generator's update sees the discriminator
already updated. `StepConfig(simultaneous=True)` gives simultaneous gradient descent
instead (Mescheder et al. 2017, "The Numerics of GANs"; the update of ALI and of
PacGAN's own code): one fake batch, both losses computed at the current (D, G), both
players updated from those gradients.

`make_train_step(...)` returns a pure `train_step(state, batch, key) -> (state,
metrics)`. It is not jitted here: the caller jits it (donating the state) and
chooses the shardings (`gan.parallel`). All randomness comes from
`step_keys(key, state.step, d_steps)`: the run's key with the step folded in, split
once into one key per use, so no key is ever used twice and a resumed run draws
exactly what an uninterrupted one would.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import optax

from gan.errors import UserError
from gan.losses import GANLoss
from gan.state import GANState, PlayerState

Array = jax.Array

# Uses of randomness in one D update and in the G update.
_D_USES = ("noise", "dropout", "penalty")
_G_USES = ("noise", "dropout")


def step_keys(key: Array, step: Array, d_steps: int) -> dict[str, Array]:
  """All keys one step uses, derived from (key, step), each distinct.

  Returns a dict with `d_noise`, `d_dropout`, `d_penalty` (each `d_steps` keys) and
  `g_noise`, `g_dropout` (one key each).
  """
  n_d = len(_D_USES) * d_steps
  keys = jax.random.split(jax.random.fold_in(key, step), n_d + len(_G_USES))
  d_keys = keys[:n_d].reshape((len(_D_USES), d_steps))
  out = {f"d_{use}": d_keys[i] for i, use in enumerate(_D_USES)}
  out.update({f"g_{use}": keys[n_d + i] for i, use in enumerate(_G_USES)})
  return out


def images_to_float(images: Array) -> Array:
  """uint8 [0, 255] -> float32 [-1, 1]; float input is taken as already scaled."""
  if jnp.issubdtype(images.dtype, jnp.integer):
    return images.astype(jnp.float32) / 127.5 - 1.0
  return images.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """What a train step needs besides the state: static for jit.

  Attributes:
    loss: the loss variant (`gan.losses.GANLoss`).
    penalty: a `gan.losses.PENALTIES` function.
    penalty_weight: its weight in the discriminator loss.
    d_steps: discriminator updates per generator update.
    noise_dim: dimension of z ~ N(0, I).
    ema_decay: generator EMA decay; 0 turns the EMA off.
    simultaneous: update D and G at once from one fake batch, both gradients taken at
      the current parameters (needs d_steps = 1); False alternates.
  """

  loss: GANLoss
  penalty: Callable[..., Array]
  penalty_weight: float
  d_steps: int
  noise_dim: int
  ema_decay: float = 0.0
  simultaneous: bool = False


def _sample_fake(g: PlayerState, params, key: Array, batch_size: int, noise_dim: int):
  z = jax.random.normal(key, (batch_size, noise_dim), jnp.float32)
  fake, mutated = g.apply_fn({"params": params, "batch_stats": g.batch_stats}, z, train=True,
                             mutable=["batch_stats"])
  return fake, mutated["batch_stats"]


def _logits(d: PlayerState, params, images: Array, key: Array) -> Array:
  return d.apply_fn({"params": params}, images, train=True, rngs={"dropout": key})


def make_train_step(cfg: StepConfig) -> Callable[[GANState, Array, Array],
                                                 tuple[GANState, dict[str, Array]]]:
  """Returns the pure update for `cfg`: alternating, or simultaneous if `cfg.simultaneous`.

  The returned `train_step(state, batch, key)` takes `batch` of real images, shape
  (d_steps, B, H, W, C), uint8 in [0, 255] or float in [-1, 1]; `key` is the run's
  key (typed, `jax.random.key`), constant over the run.

  Metrics (scalars): `d_loss` and `penalty` (last D update), `g_loss`, `d_real` =
  mean D(x) and `d_fake` = mean D(G(z)) (sigmoid of the logits, last D update),
  `d_acc_real` / `d_acc_fake` (fraction classified correctly at logit 0),
  `d_grad_norm` and `g_grad_norm` (global L2 norms of the gradients).
  """
  if cfg.simultaneous and cfg.d_steps != 1:
    raise UserError(f"simultaneous updates take one D update per step; got "
                    f"--config.d_steps={cfg.d_steps} (set it to 1)")

  def d_metrics_of(loss, penalty, real_logits, fake_logits, grads) -> dict:
    return {
        "d_loss": loss,
        "penalty": penalty,
        "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
        "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits)),
        "d_acc_real": jnp.mean((real_logits > 0).astype(jnp.float32)),
        "d_acc_fake": jnp.mean((fake_logits < 0).astype(jnp.float32)),
        "d_grad_norm": optax.tree.norm(grads),
    }

  def d_update(d: PlayerState, g: PlayerState, real: Array, keys) -> tuple[PlayerState, dict]:
    noise_key, dropout_key, penalty_key = keys
    fake, _ = _sample_fake(g, g.params, noise_key, real.shape[0], cfg.noise_dim)
    fake = jax.lax.stop_gradient(fake)
    real_key, fake_key, penalty_dropout_key = jax.random.split(dropout_key, 3)

    def loss_fn(params):
      real_logits = _logits(d, params, real, real_key)
      fake_logits = _logits(d, params, fake, fake_key)
      loss = cfg.loss.discriminator(real_logits=real_logits, fake_logits=fake_logits)
      penalty = cfg.penalty(
          discriminator_fn=lambda x: _logits(d, params, x, penalty_dropout_key),
          real_images=real, fake_images=fake, key=penalty_key)
      return loss + cfg.penalty_weight * penalty, (loss, penalty, real_logits, fake_logits)

    grads, (loss, penalty, real_logits, fake_logits) = jax.grad(loss_fn, has_aux=True)(d.params)
    metrics = d_metrics_of(loss, penalty, real_logits, fake_logits, grads)
    return d.apply_gradients(grads=grads), metrics

  def g_update(g: PlayerState, d: PlayerState, real: Array, keys) -> tuple[PlayerState, dict]:
    noise_key, dropout_key = keys
    fake_key, real_key = jax.random.split(dropout_key)

    def loss_fn(params):
      fake, batch_stats = _sample_fake(g, params, noise_key, real.shape[0], cfg.noise_dim)
      fake_logits = _logits(d, d.params, fake, fake_key)
      real_logits = (_logits(d, d.params, real, real_key)
                     if cfg.loss.generator_needs_real_logits else None)
      return cfg.loss.generator(fake_logits=fake_logits, real_logits=real_logits), batch_stats

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(g.params)
    g = g.apply_gradients(grads=grads).replace(batch_stats=batch_stats)
    return g, {"g_loss": loss, "g_grad_norm": optax.tree.norm(grads)}

  def simultaneous_update(d: PlayerState, g: PlayerState, real: Array, keys):
    noise_key, dropout_key, penalty_key = keys
    real_key, fake_key, penalty_dropout_key = jax.random.split(dropout_key, 3)

    def losses_fn(d_params, g_params):
      fake, batch_stats = _sample_fake(g, g_params, noise_key, real.shape[0], cfg.noise_dim)
      real_logits = _logits(d, d_params, real, real_key)
      fake_logits = _logits(d, d_params, fake, fake_key)
      d_loss = cfg.loss.discriminator(real_logits=real_logits, fake_logits=fake_logits)
      penalty = cfg.penalty(
          discriminator_fn=lambda x: _logits(d, d_params, x, penalty_dropout_key),
          real_images=real, fake_images=jax.lax.stop_gradient(fake), key=penalty_key)
      g_loss = cfg.loss.generator(fake_logits=fake_logits, real_logits=real_logits)
      return (d_loss + cfg.penalty_weight * penalty, g_loss), (
          d_loss, penalty, real_logits, fake_logits, batch_stats)

    # One forward pass; d_grads = dL_D/dD and g_grads = dL_G/dG, both at (D, G).
    (_, g_loss), vjp_fn, aux = jax.vjp(losses_fn, d.params, g.params, has_aux=True)
    d_loss, penalty, real_logits, fake_logits, batch_stats = aux
    one, zero = jnp.ones((), g_loss.dtype), jnp.zeros((), g_loss.dtype)
    d_grads, _ = vjp_fn((one, zero))
    _, g_grads = vjp_fn((zero, one))
    d_metrics = d_metrics_of(d_loss, penalty, real_logits, fake_logits, d_grads)
    g_metrics = {"g_loss": g_loss, "g_grad_norm": optax.tree.norm(g_grads)}
    return (d.apply_gradients(grads=d_grads),
            g.apply_gradients(grads=g_grads).replace(batch_stats=batch_stats),
            d_metrics, g_metrics)

  def train_step(state: GANState, batch: Array, key: Array):
    keys = step_keys(key, state.step, cfg.d_steps)
    real = images_to_float(batch)
    d = state.discriminator
    if cfg.simultaneous:
      d, g, d_metrics, g_metrics = simultaneous_update(
          d, state.generator, real[0],
          (keys["d_noise"][0], keys["d_dropout"][0], keys["d_penalty"][0]))
    else:
      d_metrics = {}
      for i in range(cfg.d_steps):  # Unrolled: d_steps is small and static.
        d, d_metrics = d_update(d, state.generator, real[i],
                                (keys["d_noise"][i], keys["d_dropout"][i], keys["d_penalty"][i]))
      g, g_metrics = g_update(state.generator, d, real[-1], (keys["g_noise"], keys["g_dropout"]))
    ema = state.ema_params
    if ema is not None:
      ema = optax.incremental_update(g.params, ema, step_size=1.0 - cfg.ema_decay)
    new_state = state.replace(step=state.step + 1, generator=g, discriminator=d, ema_params=ema)
    return new_state, {**d_metrics, **g_metrics}

  return train_step


def make_multi_step(train_step: Callable[[GANState, Array, Array],
                                         tuple[GANState, dict[str, Array]]],
                    num_steps: int, unroll: int | bool = True
                    ) -> Callable[[GANState, Array, Array], tuple[GANState, dict[str, Array]]]:
  """`num_steps` consecutive `train_step`s as one function, for one dispatch.

  multi_step(state, batches, key) = (state_n, metrics) with

      state_0 = state,  (state_{i+1}, m_i) = train_step(state_i, batches[i], key),

  computed by `jax.lax.scan` over the leading axis of `batches`, shape
  (num_steps, d_steps, B, H, W, C). `metrics` holds each m_i stacked along a new
  leading axis of length `num_steps`. Keys come from `state.step` as in
  `train_step`, so the result is that of `num_steps` separate calls up to float
  rounding: XLA may fuse and order the arithmetic of the combined program
  differently (see tests/benchmark_test.py for how close).

  Worth it when a step is too small to hide the host's per-call dispatch cost
  (the MLP GAN); with `unroll=True` (the default) the body is inlined
  `num_steps` times, since XLA:CPU runs convolution gradients inside a rolled
  loop 35-150x slower (jax-ml/jax#12868). Jit the result and donate the state,
  as for `train_step`.

  Args:
    train_step: a `(state, batch, key) -> (state, metrics)` step, jitted or not
      (a jitted one is inlined into the caller's program).
    num_steps: steps per call, >= 1.
    unroll: `jax.lax.scan`'s `unroll`: True inlines every step, an int k inlines
      k steps per loop iteration, 1 keeps the loop rolled.

  Returns:
    `multi_step(state, batches, key) -> (state, stacked metrics)`.
  """
  if not isinstance(num_steps, int) or num_steps < 1:
    raise ValueError(f"num_steps={num_steps!r} must be a positive int")

  def multi_step(state: GANState, batches: Array, key: Array):
    if batches.shape[0] != num_steps:
      raise ValueError(f"batches has {batches.shape[0]} steps along axis 0; this multi-step "
                       f"takes {num_steps}")

    def body(carry: GANState, batch: Array):
      return train_step(carry, batch, key)

    return jax.lax.scan(body, state, batches, unroll=unroll)

  return multi_step
