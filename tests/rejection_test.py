"""Discriminator rejection sampling: the loss, the exact sampler, and the learned log ratio."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan import losses, rejection
from gan.errors import UserError
from gan.models.toy import ToyDiscriminator


def test_the_ratio_loss_is_the_gan_bce_loss_at_known_values():
  ratio_loss = lambda real, fake: losses.bce_discriminator_loss(real_logits=real, fake_logits=fake)
  zero = jnp.zeros(4)
  assert float(ratio_loss(zero, zero)) == pytest.approx(2 * np.log(2))
  real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5])
  expected = (np.log1p(np.exp(-2.0)) + np.log1p(np.exp(1.0))) / 2 + np.log1p(np.exp(0.5))
  assert float(ratio_loss(real, fake)) == pytest.approx(expected, rel=1e-6)


def test_acceptance_keeps_the_best_candidate_always():
  logits = jnp.array([-3.0, 1.5, 0.0, 1.5 - np.log(2)])
  np.testing.assert_allclose(rejection.acceptance_log_probability(logits),
                             [-4.5, 0.0, -1.5, -np.log(2)], rtol=1e-6)
  kept = np.stack([np.asarray(rejection.accept(jax.random.key(i), logits))
                   for i in range(4000)])
  assert kept[:, 1].all()
  np.testing.assert_allclose(kept.mean(0), np.exp([-4.5, 0.0, -1.5, -np.log(2)]), atol=0.025)


def test_exact_log_ratio_turns_p_g_into_p_data():
  # p_g = N(0, 1), p_data = N(1/2, 1): log p_data/p_g = x/2 - 1/8. The kept points are
  # N(1/2, 1) (truncated only beyond the largest candidate, about 4.6 sd out).
  x = jax.random.normal(jax.random.key(0), (200_000, 1))
  logits = x[:, 0] / 2 - 0.125
  kept, rate = rejection.rejection_sample(jax.random.key(1), x, logits, 10_000)
  assert kept.shape == (10_000, 1)
  assert kept.mean() == pytest.approx(0.5, abs=0.03) and kept.std() == pytest.approx(1.0, abs=0.03)
  # Acceptance = E_g exp(c - M) = exp(-M), M the largest candidate logit.
  assert rate == pytest.approx(np.exp(-float(logits.max())), rel=0.05)
  # Without the ratio (all logits equal) every candidate is kept, in order.
  same, rate = rejection.rejection_sample(jax.random.key(1), x, jnp.zeros(len(x)), 10)
  np.testing.assert_array_equal(same, np.asarray(x[:10]))
  assert rate == 1.0


def test_too_few_kept_names_the_number_of_candidates_to_draw():
  logits = jnp.array([0.0] + [-30.0] * 99)
  with pytest.raises(UserError, match=r"kept 1 of 100 .*rejection_candidates=\d+"):
    rejection.rejection_sample(jax.random.key(0), np.zeros((100, 2)), logits, 10)
  with pytest.raises(ValueError, match="one logit per candidate"):
    rejection.rejection_sample(jax.random.key(0), np.zeros((100, 2)), jnp.zeros(99), 10)


# XLA:CPU's newer fusion emitters at optimisation level 0 gave the maxout units' gradient
# (jnp.max's) as NaN after the first step; a user's default compile and the suite's
# (level 0, older emitters: conftest.FAST_COMPILE) are both fine.
def test_the_fitted_classifier_learns_the_log_density_ratio():
  # Real N(1, 1), fake N(0, 1) in 1-D (the fake is shifted by fake_args): c* = x - 1/2.
  classifier = ToyDiscriminator(hidden_widths=(16,), maxout_pieces=2)
  fit = rejection.make_ratio_fit(
      classifier, lambda k, n: 1.0 + jax.random.normal(k, (n, 1)),
      lambda k, n, shift: shift + jax.random.normal(k, (n, 1)),
      num_steps=600, batch_size=512, learning_rate=1e-2)
  params, losses = jax.jit(jax.vmap(fit))(jax.random.split(jax.random.key(0), 2),
                                          jnp.array([0.0, 1.0]))
  assert losses.shape == (2, 600)
  x = jnp.linspace(-1.0, 2.0, 7)[:, None]
  shifted = classifier.apply({"params": jax.tree.map(lambda p: p[0], params)}, x, train=False)
  np.testing.assert_allclose(shifted, x[:, 0] - 0.5, atol=0.2)
  # The optimal loss is below log 4, the loss of a classifier that cannot tell them apart.
  assert float(losses[0, -100:].mean()) < 2 * np.log(2) - 0.1
  # Same distributions (shift 1): nothing to learn, the logit stays near 0.
  same = classifier.apply({"params": jax.tree.map(lambda p: p[1], params)}, x, train=False)
  np.testing.assert_allclose(same, 0.0, atol=0.2)


class _WithBatchNorm(nn.Module):

  @nn.compact
  def __call__(self, x, *, train):
    return nn.Dense(1)(nn.BatchNorm(use_running_average=not train)(x))[:, 0]


def test_a_classifier_with_state_beyond_params_is_refused():
  fit = rejection.make_ratio_fit(_WithBatchNorm(), lambda k, n: jnp.zeros((n, 2)),
                                 lambda k, n, a: jnp.zeros((n, 2)), num_steps=1, batch_size=2)
  with pytest.raises(ValueError, match="only params.*batch_stats"):
    fit(jax.random.key(0), None)


def test_a_quantile_bound_keeps_the_top_candidates_and_caps_the_ratio():
  logits = jnp.arange(100.0) / 10
  log_a = np.asarray(rejection.acceptance_log_probability(logits, quantile=0.9))
  bound = np.quantile(np.arange(100.0) / 10, 0.9)  # 8.91, between the 89th and 90th.
  np.testing.assert_allclose(log_a, np.minimum(np.arange(100.0) / 10 - bound, 0), atol=1e-5)
  assert (log_a == 0).sum() == 10
  np.testing.assert_allclose(rejection.acceptance_log_probability(logits, quantile=1.0),
                             np.arange(100.0) / 10 - 9.9, atol=1e-5)
  # A lower bound keeps more: with quantile 0.5 the 50 largest are always kept.
  kept = np.asarray(rejection.accept(jax.random.key(0), logits, quantile=0.5))
  assert kept[50:].all() and 50 < kept.sum() < 75  # Below the median ~10 expected (e^-0.05k).
  with pytest.raises(UserError, match=r"quantile 1.5 must be in \(0, 1\].*rejection_quantile"):
    rejection.rejection_sample(jax.random.key(0), np.zeros((4, 1)), jnp.zeros(4), 1, quantile=1.5)
