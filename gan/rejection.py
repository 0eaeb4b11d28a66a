r"""Discriminator rejection sampling: keep a generator's samples in proportion to p_data / p_g.

A classifier c trained with the logistic loss to tell real points (label 1) from the
generator's (label 0), in equal numbers, converges to the log density ratio

  c*(x) = sigmoid^{-1}(D*(x)) = log p_data(x) - log p_g(x).

Rejection sampling from p_g with acceptance probability

  a(x) = min(1, exp(c(x) - M)),   M = max over the candidates of c(x),

then draws from p_g(x) exp(c*(x)) / Z = p_data(x) wherever c = c* and M bounds c*
(Azadi et al. 2019, whose gamma shift lowers M for a higher acceptance rate; here a
quantile of c over the candidates can take the place of the max). Points the generator
puts where the data has no mass (the thin "bridges" a generator fed continuous noise
draws between the modes of a mixture) get c << M and are almost never kept, and
over- or under-filled modes are evened out.

The classifier here is trained after the GAN, from scratch, on fresh draws of both
distributions (`make_ratio_fit`): it is not the GAN's discriminator, which with
packing (PacGAN) sees m samples at once and, mid-game, is not the optimal D* for the
final generator. Everything is a pure function of keys, so `jax.vmap` runs it for
several seeds at once.

References:
  Azadi, Olsson, Darrell, Goodfellow & Odena 2019, Discriminator Rejection Sampling
    (ICLR).
  Turner, Hung, Frank, Saatci & Yosinski 2019, Metropolis-Hastings Generative
    Adversarial Networks (ICML).
"""

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from flax.training import train_state

from gan import losses
from gan.build import repeat_step
from gan.errors import UserError

Array = jax.Array
SampleFn = Callable[..., Array]


def make_ratio_fit(classifier: nn.Module, sample_real: SampleFn, sample_fake: SampleFn, *,
                   num_steps: int, batch_size: int,
                   learning_rate: float = 1e-3) -> Callable[[Array, Any], tuple[Any, Array]]:
  """A pure `fit(key, fake_args) -> (params, losses)` that trains a density-ratio classifier.

  Each of `num_steps` Adam steps (cosine-decayed from `learning_rate`, beta1 0.5) draws
  `batch_size` fresh real and fake points, so the classifier never sees a point twice
  and cannot overfit a fixed sample.

  Args:
    classifier: a linen module `(x, *, train) -> logits (B,)` with only `params`
      (e.g. the toy discriminator without packing, BatchNorm or dropout).
    sample_real: `(key, n) -> (n, ...)` points of the data.
    sample_fake: `(key, n, fake_args) -> (n, ...)` points of the generator, e.g.
      `lambda k, n, state: generate(state, normal(k, (n, noise_dim)))`.
    num_steps: classifier updates.
    batch_size: real points, and fake points, per update.
    learning_rate: Adam's peak step size.

  Returns:
    `fit(key, fake_args)`: the classifier's params and the loss of every step
    (num_steps,); vmap it over (keys, per-seed fake_args) for several seeds.
  """
  optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps), b1=0.5)

  def fit(key: Array, fake_args: Any) -> tuple[Any, Array]:
    init_key, real_key, fake_key = jax.random.split(key, 3)
    example = jax.eval_shape(lambda k: sample_real(k, 1), real_key)  # No draw spent.
    variables = classifier.init(init_key, jnp.zeros(example.shape, example.dtype),
                                train=False)
    if set(variables) != {"params"}:
      raise ValueError(f"the ratio classifier must hold only params, got {sorted(variables)}")
    params = variables["params"]

    def loss_fn(params, real, fake):
      logits = classifier.apply({"params": params}, jnp.concatenate([real, fake]), train=False)
      return losses.bce_discriminator_loss(real_logits=logits[:batch_size],
                                           fake_logits=logits[batch_size:])

    def one_step(state, fake_args, keys):
      real = sample_real(jax.random.fold_in(keys["real"], state.step), batch_size)
      fake = sample_fake(jax.random.fold_in(keys["fake"], state.step), batch_size, fake_args)
      loss, grads = jax.value_and_grad(loss_fn)(state.params, real, fake)
      return state.apply_gradients(grads=grads), loss

    state = train_state.TrainState.create(apply_fn=classifier.apply, params=params,
                                          tx=optimizer)
    # The program's device-side loop (`gan.build.repeat_step`), batches drawn inside.
    fit_steps = repeat_step(one_step, num_steps, batch_per_step=False)
    state, step_losses = fit_steps(state, fake_args, {"real": real_key, "fake": fake_key})
    return state.params, step_losses

  return fit


def acceptance_log_probability(logits: Array, quantile: float = 1.0) -> Array:
  """log a(x) = min(0, c(x) - M), M the `quantile` of c over the candidates.

  quantile = 1: M = max c, the exact sampler; the best candidate is always kept.
  quantile = q < 1: the top 1 - q of the candidates are all kept, the rest exactly
  as with a ratio capped at exp(M) (DRS's gamma shift plays this role). Where the
  generator under-fills a region, p_data / p_g there is large, and M = max c would
  make every other candidate's acceptance tiny; the cap trades exactness in those
  regions for acceptance everywhere else.
  """
  return jnp.minimum(logits - jnp.quantile(logits, quantile), 0.0)  # Quantile 1 = max.


def accept(key: Array, logits: Array, quantile: float = 1.0) -> Array:
  """Which candidates are kept, as bools: u < a(x), u ~ U[0, 1) drawn from `key`."""
  u = jax.random.uniform(key, logits.shape)
  return jnp.log(u) < acceptance_log_probability(logits, quantile)


def check_quantile(quantile: float) -> None:
  """Raises a one-line `UserError` unless 0 < quantile <= 1."""
  if not 0.0 < quantile <= 1.0:
    raise UserError(f"the rejection quantile {quantile} must be in (0, 1] "
                    f"(config.lab.rejection_quantile; 1 is exact)")


def rejection_sample(key: Array, candidates, logits, num: int, *,
                     quantile: float = 1.0) -> tuple[np.ndarray, float]:
  """The first `num` kept candidates, in order, and the share of candidates kept.

  Args:
    key: the key of the acceptance draws.
    candidates: (N, ...) generator samples.
    logits: (N,) the ratio classifier's logits c(x) of the candidates.
    num: samples wanted.
    quantile: where the acceptance saturates (`acceptance_log_probability`); 1 is exact.

  Returns:
    (kept samples (num, ...) as numpy, acceptance rate over all N candidates).

  Raises:
    UserError: fewer than `num` candidates were kept; the message gives how many
      candidates would suffice at this acceptance rate.
  """
  logits = jnp.asarray(logits)
  candidates = np.asarray(candidates)
  if logits.shape != candidates.shape[:1]:
    raise ValueError(f"one logit per candidate: logits {logits.shape}, candidates "
                     f"{candidates.shape}")
  check_quantile(quantile)
  kept = np.asarray(accept(key, logits, quantile))
  rate = float(kept.mean())
  if kept.sum() < num:
    need = int(np.ceil(1.2 * num / max(rate, 1e-9)))
    raise UserError(f"rejection sampling kept {int(kept.sum())} of {len(kept)} candidates "
                    f"({100 * rate:.2f}%), fewer than the {num} wanted; draw more candidates "
                    f"(config.lab.rejection_candidates={need})")
  return candidates[kept][:num], rate
