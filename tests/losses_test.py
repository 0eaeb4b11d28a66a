"""Loss variants against values worked by hand, and their gradients."""

import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from gan import losses
from gan.errors import UserError

ZERO = jnp.zeros((8,))


def test_minimax_value_is_minus_log_4_when_d_outputs_one_half():
  # D = sigmoid(0) = 1/2 everywhere: V(D, G) = log(1/2) + log(1/2) = -log 4.
  value = -losses.bce_discriminator_loss(real_logits=ZERO, fake_logits=ZERO)
  np.testing.assert_allclose(value, -math.log(4.0), rtol=1e-6)
  np.testing.assert_allclose(losses.minimax_generator_loss(fake_logits=ZERO), -math.log(2.0),
                             rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(fake_logits=ZERO),
                             math.log(2.0), rtol=1e-6)


def test_bce_matches_log_sigmoid_by_hand():
  real, fake = jnp.array([2.0, -1.0]), jnp.array([0.5, -3.0])
  sig = lambda x: 1 / (1 + np.exp(-np.asarray(x)))
  expected = -np.mean(np.log(sig(real))) - np.mean(np.log(1 - sig(fake)))
  np.testing.assert_allclose(losses.bce_discriminator_loss(real_logits=real, fake_logits=fake),
                             expected, rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(fake_logits=fake),
                             -np.mean(np.log(sig(fake))), rtol=1e-6)
  np.testing.assert_allclose(losses.minimax_generator_loss(fake_logits=fake),
                             np.mean(np.log(1 - sig(fake))), rtol=1e-6)


def test_bce_is_stable_for_huge_logits():
  big = jnp.array([1e4, -1e4])
  chex.assert_tree_all_finite(losses.bce_discriminator_loss(real_logits=big, fake_logits=-big))
  chex.assert_tree_all_finite(jax.grad(
      lambda x: losses.non_saturating_generator_loss(fake_logits=x))(big))


def test_least_squares_wasserstein_hinge_by_hand():
  real, fake = jnp.array([1.0, 3.0]), jnp.array([-2.0, 0.5])
  np.testing.assert_allclose(
      losses.least_squares_discriminator_loss(real_logits=real, fake_logits=fake),
      0.5 * np.mean([0.0, 4.0]) + 0.5 * np.mean([4.0, 0.25]), rtol=1e-6)
  np.testing.assert_allclose(losses.least_squares_generator_loss(fake_logits=fake),
                             0.5 * np.mean([9.0, 0.25]), rtol=1e-6)
  np.testing.assert_allclose(
      losses.wasserstein_discriminator_loss(real_logits=real, fake_logits=fake),
      np.mean([-2.0, 0.5]) - 2.0, rtol=1e-6)
  np.testing.assert_allclose(losses.wasserstein_generator_loss(fake_logits=fake), 0.75)
  # Hinge: relu(1 - [1, 3]) = [0, 0]; relu(1 + [-2, .5]) = [0, 1.5].
  np.testing.assert_allclose(losses.hinge_discriminator_loss(real_logits=real, fake_logits=fake),
                             0.75, rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_generator_loss(fake_logits=fake), 0.75)


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_gradients_match_finite_differences(name):
  loss = losses.LOSSES[name]
  real = jnp.array([0.3, -1.2, 2.0], jnp.float32)
  fake = jnp.array([-0.4, 0.9, 1.7], jnp.float32)
  check_grads(lambda r, f: loss.discriminator(real_logits=r, fake_logits=f), (real, fake),
              order=1, modes=("rev",), eps=1e-2, atol=2e-2, rtol=2e-2)
  check_grads(lambda f: loss.generator(fake_logits=f, real_logits=real), (fake,), order=1,
              modes=("rev",), eps=1e-2, atol=2e-2, rtol=2e-2)


def test_table_lookup_and_registration():
  assert losses.get_loss("hinge") is losses.LOSSES["hinge"]
  with pytest.raises(UserError, match="config.loss.name='nope' is not a loss.*register_loss"):
    losses.get_loss("nope")
  try:
    losses.register_loss("reverse_kl_test", losses.GANLoss(
        losses.bce_discriminator_loss, lambda *, fake_logits, real_logits=None: -jnp.mean(
            fake_logits)))
    assert "reverse_kl_test" in losses.LOSSES
  finally:
    losses.LOSSES.pop("reverse_kl_test", None)


def _linear_discriminator(w):
  return lambda x: x.reshape((x.shape[0], -1)) @ w


def test_r1_and_r2_of_a_linear_discriminator():
  # D(x) = <w, x>: grad_x D = w for every x, so R1 = R2 = 1/2 ||w||^2.
  w = jnp.array([3.0, 4.0, 0.0, 0.0])
  x = jnp.ones((5, 2, 2, 1))
  d = _linear_discriminator(w)
  np.testing.assert_allclose(losses.r1_penalty(discriminator_fn=d, real_images=x,
                                               fake_images=x, key=None), 12.5, rtol=1e-6)
  np.testing.assert_allclose(losses.r2_penalty(discriminator_fn=d, real_images=x,
                                               fake_images=x, key=None), 12.5, rtol=1e-6)


def test_wgan_gp_of_linear_discriminators():
  x, y = jnp.ones((6, 4)), -jnp.ones((6, 4))
  key = jax.random.key(0)
  unit = _linear_discriminator(jnp.array([0.6, 0.8, 0.0, 0.0]))  # ||w|| = 1 -> 0.
  np.testing.assert_allclose(losses.wgan_gradient_penalty(
      discriminator_fn=unit, real_images=x, fake_images=y, key=key), 0.0, atol=1e-6)
  steep = _linear_discriminator(jnp.array([3.0, 4.0, 0.0, 0.0]))  # ||w|| = 5 -> 16.
  np.testing.assert_allclose(losses.wgan_gradient_penalty(
      discriminator_fn=steep, real_images=x, fake_images=y, key=key), 16.0, rtol=1e-5)


def test_penalty_table():
  assert set(losses.PENALTIES) == {"none", "wgan_gp", "r1", "r2"}
  assert losses.get_penalty("none")() == 0
  with pytest.raises(UserError, match="is not a penalty"):
    losses.get_penalty("r3")
