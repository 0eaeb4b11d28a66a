"""Reconstruction and content losses (gan.losses): values by hand, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from gan import losses

PREDICTION = jnp.array([[0.5, -1.0], [2.0, 0.0]])
TARGET = jnp.array([[0.0, 1.0], [2.5, 0.0]])


def test_l1_by_hand():
  # |0.5| + |-2| + |-0.5| + 0 = 3 over 4 elements.
  np.testing.assert_allclose(losses.l1_loss(prediction=PREDICTION, target=TARGET), 0.75)
  assert float(losses.l1_loss(prediction=TARGET, target=TARGET)) == 0.0


def test_cycle_consistency_and_identity_are_l1_between_the_image_and_its_map():
  np.testing.assert_allclose(
      losses.cycle_consistency_loss(real=TARGET, reconstructed=PREDICTION), 0.75)
  np.testing.assert_allclose(losses.identity_loss(real=TARGET, mapped=PREDICTION), 0.75)
  # A perfect round trip costs nothing.
  assert float(losses.cycle_consistency_loss(real=TARGET, reconstructed=TARGET)) == 0.0


def test_pixel_mse_by_hand():
  # 0.25 + 4 + 0.25 + 0 = 4.5 over 4 elements.
  np.testing.assert_allclose(losses.pixel_mse_loss(prediction=PREDICTION, target=TARGET), 1.125)


def test_losses_average_over_every_element_and_compute_in_float32():
  images = jnp.ones((2, 3, 3, 1), jnp.bfloat16)
  zeros = jnp.zeros((2, 3, 3, 1), jnp.bfloat16)
  for loss in (losses.l1_loss, losses.pixel_mse_loss):
    value = loss(prediction=images * 3, target=zeros)
    assert value.dtype == jnp.float32 and value.shape == ()
  np.testing.assert_allclose(losses.l1_loss(prediction=images * 3, target=zeros), 3.0)
  np.testing.assert_allclose(losses.pixel_mse_loss(prediction=images * 3, target=zeros), 9.0)


def test_feature_content_loss_by_hand():
  # phi(x) = 2 x summed over the last axis: phi(P) = [-1, 4], phi(T) = [2, 5].
  phi = lambda x: 2.0 * jnp.sum(x, axis=-1)
  value = losses.feature_content_loss(features_fn=phi, prediction=PREDICTION, target=TARGET)
  np.testing.assert_allclose(value, (9.0 + 1.0) / 2)
  # With the identity as phi it is the pixel MSE.
  np.testing.assert_allclose(
      losses.feature_content_loss(features_fn=lambda x: x, prediction=PREDICTION,
                                  target=TARGET), 1.125)


def test_feature_content_loss_sums_the_layers_of_a_pytree():
  phi = lambda x: {"pixels": x, "sums": 2.0 * jnp.sum(x, axis=-1)}
  value = losses.feature_content_loss(features_fn=phi, prediction=PREDICTION, target=TARGET)
  np.testing.assert_allclose(value, 1.125 + 5.0)


def test_feature_content_loss_stops_the_gradient_at_the_target():
  phi = lambda x: jnp.tanh(x) * 3.0
  grad_prediction, grad_target = jax.grad(
      lambda p, t: losses.feature_content_loss(features_fn=phi, prediction=p, target=t),
      argnums=(0, 1))(PREDICTION, TARGET)
  np.testing.assert_array_equal(grad_target, 0.0)
  # d/dp mean((phi(p) - phi(t))^2) = 2 (phi(p) - phi(t)) phi'(p) / n.
  expected = 2 * (phi(PREDICTION) - phi(TARGET)) * 3 * (1 - jnp.tanh(PREDICTION) ** 2) / 4
  np.testing.assert_allclose(grad_prediction, expected, rtol=1e-6)


# Away from the kink of |.|: no element equals its target.
OFF_TARGET = jnp.array([[0.5, -1.0], [2.0, 0.3]])


def test_l1_gradient_is_the_sign_over_n():
  grad = jax.grad(lambda p: losses.l1_loss(prediction=p, target=TARGET))(OFF_TARGET)
  np.testing.assert_allclose(grad, np.sign(OFF_TARGET - TARGET) / 4)


@pytest.mark.parametrize("loss", [losses.l1_loss, losses.cycle_consistency_loss,
                                  losses.identity_loss, losses.pixel_mse_loss])
def test_gradients_numerically(loss):
  # Order 2 where the loss is smooth (the MSE); |.| is piecewise linear.
  names = {losses.cycle_consistency_loss: ("reconstructed", "real"),
           losses.identity_loss: ("mapped", "real")}.get(loss, ("prediction", "target"))
  order = 2 if loss is losses.pixel_mse_loss else 1
  check_grads(lambda p, t: loss(**{names[0]: p, names[1]: t}), (OFF_TARGET, TARGET), order=order,
              modes=["fwd", "rev"], eps=1e-3, atol=1e-2, rtol=1e-2)


def test_feature_content_loss_gradient_numerically():
  phi = lambda x: jnp.sin(x) * jnp.arange(1.0, 3.0)
  check_grads(lambda p: losses.feature_content_loss(features_fn=phi, prediction=p,
                                                    target=TARGET),
              (PREDICTION,), order=2, modes=["fwd", "rev"], eps=1e-3, atol=1e-2, rtol=1e-2)
