"""Tests for gan.models.layers: the fast path equals Flax's convolutions."""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import test_util

from gan.models import layers

_BATCH = 2

# (kind, input (H, W, C), features, stride): the layers of the 28x28 TF-tutorial
# DCGAN and of its 32x32 CIFAR-shaped variant (4 -> 8 -> 16 -> 32 and back).
_DCGAN_LAYERS = [
  ('conv_transpose', (7, 7, 256), 128, 1),
  ('conv_transpose', (7, 7, 128), 64, 2),
  ('conv_transpose', (14, 14, 64), 1, 2),
  ('conv', (28, 28, 1), 64, 2),
  ('conv', (14, 14, 64), 128, 2),
  ('conv_transpose', (4, 4, 256), 128, 2),
  ('conv_transpose', (8, 8, 128), 64, 2),
  ('conv_transpose', (16, 16, 64), 3, 2),
  ('conv', (32, 32, 3), 64, 2),
  ('conv', (16, 16, 64), 128, 2),
  ('conv', (8, 8, 128), 256, 2),
]


def _modules(kind, features, stride, impl, kernel_size=5, use_bias=True):
  """(flax reference module, gan.models.layers module) of one configuration."""
  if kind == 'conv':
    reference = nn.Conv(features, (kernel_size, kernel_size), (stride, stride), padding='SAME',
                        use_bias=use_bias)
    module = layers.Conv2D(features, kernel_size, stride, use_bias=use_bias, impl=impl)
  else:
    reference = nn.ConvTranspose(features, (kernel_size, kernel_size), (stride, stride),
                                 padding='SAME', use_bias=use_bias)
    module = layers.ConvTranspose2D(features, kernel_size, stride, use_bias=use_bias, impl=impl)
  return reference, module


def _normal(seed, shape):
  """Standard normal float32 test data (NumPy: no XLA compilation per shape)."""
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _outputs_and_grads(module, params, x, cotangent):
  """module(x) and the gradients of <module(x), cotangent> wrt params and x."""

  @jax.jit
  def run(params, x):
    y, vjp = jax.vjp(lambda params, x: module.apply({'params': params}, x), params, x)
    return y, vjp(cotangent)

  return run(params, x)


def _assert_close(actual, expected, rtol=1e-4):
  """Relative agreement, with an absolute floor scaled to each leaf's magnitude."""
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    scale = float(jnp.max(jnp.abs(e))) + 1e-30
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize('kind,in_shape,features,stride', _DCGAN_LAYERS)
def test_matches_flax_values_and_gradients(kind, in_shape, features, stride):
  reference, fast = _modules(kind, features, stride, impl='fast')
  x = _normal(0, (_BATCH, *in_shape))
  # Random draws in place of the initialisers (those are tested below); the
  # bias is nonzero so that its path is compared too.
  params = {'kernel': _normal(1, (5, 5, in_shape[-1], features)) / np.sqrt(25 * in_shape[-1]),
            'bias': _normal(2, (features,))}
  y_shape = jax.eval_shape(reference.apply, {'params': params}, x).shape
  cotangent = _normal(3, y_shape)
  expected_y, expected_grads = _outputs_and_grads(reference, params, x, cotangent)
  actual_y, actual_grads = _outputs_and_grads(fast, params, x, cotangent)
  chex.assert_shape(actual_y, y_shape)
  _assert_close(actual_y, expected_y)
  chex.assert_trees_all_equal_structs(actual_grads, expected_grads)
  _assert_close(actual_grads, expected_grads)
  chex.assert_tree_all_finite(actual_grads)


@pytest.mark.parametrize('kind', ['conv', 'conv_transpose'])
@pytest.mark.parametrize('use_bias', [True, False])
@pytest.mark.parametrize('impl', ['native', 'fast', 'auto'])
def test_params_identical_to_flax(kind, use_bias, impl):
  reference, module = _modules(kind, 8, 2, impl=impl, use_bias=use_bias)
  x = jnp.ones((1, 6, 6, 3))
  expected = reference.init(jax.random.key(0), x)
  actual = module.init(jax.random.key(0), x)
  # Same names, shapes and initialisers, hence the same values for the same key.
  chex.assert_trees_all_equal(actual, expected)
  assert set(actual['params']) == ({'kernel', 'bias'} if use_bias else {'kernel'})
  chex.assert_shape(actual['params']['kernel'], (5, 5, 3, 8))


@pytest.mark.parametrize('in_size,out_size', [(7, 14), (14, 28), (4, 8), (8, 16), (16, 32)])
def test_conv_transpose_places_flipped_kernel_copies(in_size, out_size):
  # SAME lax.conv_transpose with k = 5, s = 2 dilates x by 2, pads (3, 2) and
  # correlates: a unit impulse at input (i, j) writes w[a, b] to output
  # (2 i + 3 - a, 2 j + 3 - b), cropped to [0, 2 n).
  i, j = in_size // 2, in_size - 1
  x = jnp.zeros((1, in_size, in_size, 1)).at[0, i, j, 0].set(1.0)
  w = jnp.arange(25.0).reshape(5, 5, 1, 1) + 1.0
  expected = np.zeros((out_size, out_size))
  for a in range(5):
    for b in range(5):
      r, c = 2 * i + 3 - a, 2 * j + 3 - b
      if 0 <= r < out_size and 0 <= c < out_size:
        expected[r, c] = w[a, b, 0, 0]
  for impl in ('native', 'fast'):
    y = layers.conv2d_transpose(x, w, 2, impl=impl)
    np.testing.assert_array_equal(y[0, :, :, 0], expected)


def test_conv_transpose_is_the_transpose_of_conv():
  # <ConvT(x; w), u> = <x, Conv(u; flip(w)^T)> for k = 5, s = 2, even u.
  x = _normal(0, (2, 7, 7, 3))
  u = _normal(1, (2, 14, 14, 4))
  w = _normal(2, (5, 5, 3, 4))
  lhs = jnp.vdot(layers.conv2d_transpose(x, w, 2), u)
  rhs = jnp.vdot(x, layers.conv2d(u, jnp.flip(w, (0, 1)).swapaxes(2, 3), 2))
  np.testing.assert_allclose(lhs, rhs, rtol=1e-5)


@pytest.mark.parametrize('op', [layers.conv2d, layers.conv2d_transpose])
@pytest.mark.parametrize('kernel_size,stride', [(5, 1), (4, 1), (5, 2), (4, 2), (1, 2), (5, 3)])
def test_every_fast_variant_matches_native(op, kernel_size, stride):
  # An odd, non-square input: the sub-pixel adjoint crops and the hi pads of
  # the transposed convolution go negative for k < s.
  x = _normal(0, (2, 7, 5, 3))
  w = _normal(1, (kernel_size, kernel_size, 3, 4))
  cotangent = _normal(2, op(x, w, stride, impl='native').shape)
  loss = lambda x, w, **options: jnp.vdot(op(x, w, stride, **options), cotangent)
  grads = lambda **options: jax.jit(jax.value_and_grad(functools.partial(loss, **options), (0, 1)))(x, w)
  expected = grads(impl='native')
  # Between them the two variants run every adjoint and kernel-gradient impl.
  for adjoint_impl, kernel_grad_impl in [('native', 'native'), ('subpixel', 'im2col')]:
    actual = grads(impl='fast', adjoint_impl=adjoint_impl, kernel_grad_impl=kernel_grad_impl)
    _assert_close(actual, expected)


@pytest.mark.parametrize('op', [layers.conv2d, layers.conv2d_transpose])
def test_check_grads_first_and_second_order(op):
  # Order 2 in reverse mode exercises the custom VJPs of the custom VJPs (as an
  # R1 penalty does). Small inputs keep sin's float32 finite differences accurate
  # (at scale 1 the native path misses the 2e-2 tolerance too).
  x = 0.3 * _normal(0, (1, 6, 6, 2))
  w = 0.3 * _normal(1, (5, 5, 2, 3))
  f = jax.jit(lambda x, w: jnp.sum(jnp.sin(op(x, w, 2))))
  test_util.check_grads(f, (x, w), order=2, modes=['rev'], eps=1e-2, atol=2e-2, rtol=2e-2)


def test_r1_style_double_backprop_matches_native():
  x = _normal(0, (2, 8, 8, 3))
  w1 = 0.2 * _normal(1, (5, 5, 3, 8))
  w2 = 0.2 * _normal(2, (5, 5, 8, 4))

  def penalty(weights, impl):
    def critic(x):
      h = jax.nn.leaky_relu(layers.conv2d(x, weights[0], 2, impl=impl), 0.2)
      return jnp.sum(layers.conv2d(h, weights[1], 2, impl=impl))
    return jnp.sum(jax.grad(critic)(x) ** 2)

  value_and_grad = jax.jit(jax.value_and_grad(penalty), static_argnums=1)
  expected = value_and_grad((w1, w2), 'native')
  actual = value_and_grad((w1, w2), 'fast')
  _assert_close(actual, expected)


def test_auto_is_fast_on_cpu_and_native_is_plain_lax():
  x = jnp.ones((1, 8, 8, 3))
  for module_cls in (layers.Conv2D, layers.ConvTranspose2D):
    for impl, custom in [('auto', jax.default_backend() == 'cpu'), ('fast', True), ('native', False)]:
      module = module_cls(4, 5, 2, impl=impl)
      params = module.init(jax.random.key(0), x)
      jaxpr = str(jax.make_jaxpr(module.apply)(params, x))
      assert ('custom_vjp_call' in jaxpr) == custom, (module_cls, impl)


@pytest.mark.parametrize('module_cls', [layers.Conv2D, layers.ConvTranspose2D])
@pytest.mark.parametrize('overrides,in_shape', [
  (dict(kernel_size=(3, 5)), (1, 8, 8, 3)),
  (dict(kernel_size=(5, 5, 5)), (1, 8, 8, 3)),
  (dict(kernel_size=0), (1, 8, 8, 3)),
  (dict(strides=(1, 2)), (1, 8, 8, 3)),
  (dict(padding='VALID'), (1, 8, 8, 3)),
  (dict(padding=((2, 2), (2, 2))), (1, 8, 8, 3)),
  (dict(impl='gpu'), (1, 8, 8, 3)),
  ({}, (8, 8, 3)),
  ({}, (1, 2, 8, 8, 3)),
])
def test_bad_arguments_raise_value_error(module_cls, overrides, in_shape):
  kwargs = dict(features=4, kernel_size=5, strides=2)
  kwargs.update(overrides)
  with pytest.raises(ValueError):
    module_cls(**kwargs).init(jax.random.key(0), jnp.ones(in_shape))


def test_bad_functional_impls_raise_value_error():
  x, w = jnp.ones((1, 8, 8, 3)), jnp.ones((5, 5, 3, 4))
  with pytest.raises(ValueError):
    layers.conv2d(x, w, 2, adjoint_impl='col2im')
  with pytest.raises(ValueError):
    layers.conv2d_transpose(x, w, 2, kernel_grad_impl='taps')
  with pytest.raises(ValueError):
    layers.conv2d(x, w, 2, impl='gpu')


def _entry_computation(hlo: str) -> str:
  return hlo[hlo.index("ENTRY"):]


def test_compiler_options_keep_convolutions_out_of_ynnpack_on_cpu():
  assert layers.compiler_options("gpu") == layers.compiler_options("tpu") == {}
  options = layers.compiler_options("cpu")
  assert options == {"xla_cpu_experimental_ynn_fusion_type":
                     "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}
  # The DCGAN's widest layer (compiled, not run): XLA's default hands it to YNNPACK as a
  # library fusion; with the options it is XLA's own convolution in the entry computation.
  conv = functools.partial(layers.conv2d, stride=1, impl="native")
  args = (jax.ShapeDtypeStruct((256, 7, 7, 256), jnp.float32),
          jax.ShapeDtypeStruct((5, 5, 256, 128), jnp.float32))
  default = _entry_computation(jax.jit(conv).lower(*args).compile().as_text())
  chosen = _entry_computation(
      jax.jit(conv, compiler_options=options).lower(*args).compile().as_text())
  assert "__ynn_fusion" in default and " convolution(" not in default
  assert "__ynn_fusion" not in chosen and " convolution(" in chosen


# ---------------------------------------------------------------------------
# The Fourier-domain (DFT) path of stride-1 convolutions.


@pytest.mark.parametrize('in_shape,kernel_size,c_out,padding', [
  ((7, 7, 256), 5, 128, ((2, 2), (2, 2))),  # The TF-tutorial DCGAN's first G layer.
  ((7, 5, 6), 3, 4, ((1, 1), (1, 1))),      # Not square.
  ((6, 6, 5), 4, 3, ((1, 2), (2, 1))),      # Even kernel, uneven pads.
  ((8, 8, 4), 7, 2, ((3, 3), (3, 3))),      # Kernel nearly as large as the image.
  ((9, 9, 3), 3, 5, ((0, -1), (2, 0))),     # A crop, as the sub-pixel adjoint pads.
])
def test_dft_convolution_matches_native_values_and_gradients(in_shape, kernel_size, c_out, padding):
  x = _normal(0, (3, *in_shape))
  w = _normal(1, (kernel_size, kernel_size, in_shape[-1], c_out)) / kernel_size
  native = functools.partial(layers._conv_native, stride=1, padding=padding)
  dft = functools.partial(layers._conv_dft, padding=padding)
  cotangent = _normal(2, native(x, w).shape)
  run = lambda conv: jax.jit(lambda x, w: jax.vjp(conv, x, w)[1](cotangent) + (conv(x, w),))(x, w)
  _assert_close(run(dft), run(native))


def test_dft_convolution_of_a_delta_kernel_is_the_identity_and_a_shift():
  x = _normal(0, (2, 7, 7, 3))
  delta = np.zeros((5, 5, 3, 3), np.float32)
  delta[2, 2] = np.eye(3)  # Centre tap: SAME correlation returns x itself.
  y = layers._conv_dft(x, jnp.asarray(delta), ((2, 2), (2, 2)))
  np.testing.assert_allclose(y, x, atol=2e-6)
  shift = np.zeros((5, 5, 3, 3), np.float32)
  shift[3, 2] = np.eye(3)  # y[i] = x[i + 1] down the rows, zero past the edge.
  y = layers._conv_dft(x, jnp.asarray(shift), ((2, 2), (2, 2)))
  np.testing.assert_allclose(y[:, :-1], x[:, 1:], atol=2e-6)
  np.testing.assert_allclose(y[:, -1], 0.0, atol=2e-6)


def test_dft_convolution_second_order_gradients():
  # A plain composition of matrix products: forward mode works too, unlike the
  # custom-VJP path.
  x = 0.3 * _normal(0, (1, 5, 5, 2))
  w = 0.3 * _normal(1, (3, 3, 2, 3))
  f = jax.jit(lambda x, w: jnp.sum(jnp.sin(layers._conv_dft(x, w, ((1, 1), (1, 1))))))
  test_util.check_grads(f, (x, w), order=2, modes=['fwd', 'rev'], eps=1e-2, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize('op', [layers.conv2d, layers.conv2d_transpose])
def test_fast_stride_one_uses_the_dft_only_where_it_saves_work(op):
  def primitives(in_shape, c_out, impl='fast'):
    x = jnp.zeros((2, *in_shape))
    w = jnp.zeros((5, 5, in_shape[-1], c_out))
    return str(jax.make_jaxpr(lambda x, w: op(x, w, 1, impl=impl))(x, w))

  # 7x7, 256 -> 128: 41 bins of 4 real products against 49 x 25 taps.
  assert layers._dft_wins((7, 7), 5, ((2, 2), (2, 2)), 256, 128)
  small_wide = primitives((7, 7, 256), 128)
  assert 'dot_general' in small_wide and 'conv_general_dilated' not in small_wide
  # 28x28 images: the transforms cost more than the taps they save.
  assert not layers._dft_wins((28, 28), 5, ((2, 2), (2, 2)), 64, 64)
  assert 'conv_general_dilated' in primitives((28, 28, 64), 64)
  # Two channels: nothing to save.
  assert 'conv_general_dilated' in primitives((7, 7, 2), 2)
  assert 'conv_general_dilated' in primitives((7, 7, 256), 128, impl='native')


@pytest.mark.parametrize('n_h,n_w', [(9, 9), (8, 8), (9, 8), (8, 9), (1, 1), (2, 5)])
def test_frequency_bins_stand_for_the_whole_spectrum_once(n_h, n_w):
  u, v, weight = layers._frequency_bins(n_h, n_w)
  covered = np.zeros((n_h, n_w), int)
  for a, b in zip(u, v):
    covered[a, b] += 1
    covered[-a % n_h, -b % n_w] += (a, b) != (-a % n_h, -b % n_w)
  np.testing.assert_array_equal(covered, 1)  # Every bin once: kept, or a kept one's partner.
  np.testing.assert_allclose(weight * n_h * n_w, [1 + ((a, b) != (-a % n_h, -b % n_w)) for a, b in zip(u, v)])
