"""gan.backends.cpu_conv and its interception: Flax's convolutions, lowered for XLA:CPU.

The models use plain `nn.Conv` / `nn.ConvTranspose`; inside `CPUBackend().lowering()`
the plain 2-D SAME layers run through `cpu_conv.conv2d` / `conv2d_transpose` (the
'fast' custom VJPs and the DFT path). Checked here: the functional forms against
XLA's own convolutions (values, gradients, second order, R1), and the interception:
the same parameters (init inside and outside the context), outputs and gradients to
float32 rounding, and Flax's own call, bit for bit, for every other configuration.
"""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax import test_util

import conftest
from gan.backends import cpu_conv
from gan.backends.cpu import CPUBackend
from gan.models.dcgan import DCGANDiscriminator, DCGANGenerator

_BATCH = 2

# (kind, input (H, W, C), features, stride): the layers of the 28x28 TF-tutorial
# DCGAN and of its 32x32 CIFAR-shaped variant (4 -> 8 -> 16 -> 32 and back; slow:
# the same code paths at other sizes).
_cifar = lambda *layer: pytest.param(*layer, marks=pytest.mark.slow)
_DCGAN_LAYERS = [
  ('conv_transpose', (7, 7, 256), 128, 1),
  ('conv_transpose', (7, 7, 128), 64, 2),
  ('conv_transpose', (14, 14, 64), 1, 2),
  ('conv', (28, 28, 1), 64, 2),
  ('conv', (14, 14, 64), 128, 2),
  _cifar('conv_transpose', (4, 4, 256), 128, 2),
  _cifar('conv_transpose', (8, 8, 128), 64, 2),
  _cifar('conv_transpose', (16, 16, 64), 3, 2),
  _cifar('conv', (32, 32, 3), 64, 2),
  _cifar('conv', (16, 16, 64), 128, 2),
  _cifar('conv', (8, 8, 128), 256, 2),
]


def _flax_module(kind, features, stride, kernel_size=5, use_bias=True):
  """The Flax layer of one configuration, as the DCGAN family writes it."""
  cls = nn.Conv if kind == 'conv' else nn.ConvTranspose
  return cls(features, (kernel_size, kernel_size), (stride, stride), padding='SAME',
             use_bias=use_bias)


def _normal(seed, shape):
  """Standard normal float32 test data (NumPy: no XLA compilation per shape)."""
  return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


def _jaxpr(fn, *args, lowered):
  """The jaxpr of `fn(*args)`, traced inside the lowering when `lowered` (see `conftest.lowered_jit`)."""
  fresh = lambda *args: fn(*args)
  if lowered:
    with CPUBackend().lowering():
      return str(jax.make_jaxpr(fresh)(*args))
  return str(jax.make_jaxpr(fresh)(*args))


def _init(module, key, *args, lowered, **kwargs):
  """`module.init(key, *args, **kwargs)`, jitted (eager init compiles every op)."""
  return conftest.lowered_jit(lambda key, *args: module.init(key, *args, **kwargs), lowered)(key, *args)


def _outputs_and_grads(module, params, x, cotangent, lowered):
  """module(x) and the gradients of <module(x), cotangent> wrt params and x."""

  def run(params, x):
    y, vjp = jax.vjp(lambda params, x: module.apply({'params': params}, x), params, x)
    return y, vjp(cotangent)

  return conftest.lowered_jit(run, lowered)(params, x)


def _assert_close(actual, expected, rtol=1e-4):
  """Relative agreement, with an absolute floor scaled to each leaf's magnitude."""
  for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    scale = float(jnp.max(jnp.abs(e))) + 1e-30
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale)


# ----------------------------------------------------------------- interception


@pytest.mark.parametrize('kind,in_shape,features,stride', _DCGAN_LAYERS)
def test_lowered_flax_layer_matches_flax_values_and_gradients(kind, in_shape, features, stride):
  module = _flax_module(kind, features, stride)
  x = _normal(0, (_BATCH, *in_shape))
  # Random draws in place of the initialisers (those are tested below); the
  # bias is nonzero so that its path is compared too.
  params = {'kernel': _normal(1, (5, 5, in_shape[-1], features)) / np.sqrt(25 * in_shape[-1]),
            'bias': _normal(2, (features,))}
  apply = lambda params, x: module.apply({'params': params}, x)
  # The context reroutes the layer (custom VJPs, or the DFT's matrix products).
  assert _jaxpr(apply, params, x, lowered=True) != _jaxpr(apply, params, x, lowered=False)
  y_shape = jax.eval_shape(apply, params, x).shape
  cotangent = _normal(3, y_shape)
  expected_y, expected_grads = _outputs_and_grads(module, params, x, cotangent, lowered=False)
  actual_y, actual_grads = _outputs_and_grads(module, params, x, cotangent, lowered=True)
  chex.assert_shape(actual_y, y_shape)
  _assert_close(actual_y, expected_y)
  chex.assert_trees_all_equal_structs(actual_grads, expected_grads)
  _assert_close(actual_grads, expected_grads)
  chex.assert_tree_all_finite(actual_grads)


@pytest.mark.parametrize('kind', ['conv', 'conv_transpose'])
@pytest.mark.parametrize('use_bias', [True, False])
@pytest.mark.parametrize('kernel_size,stride', [
  (5, 2), pytest.param(4, 1, marks=pytest.mark.slow)])
def test_params_identical_inside_and_outside_the_lowering(kind, use_bias, kernel_size, stride):
  module = _flax_module(kind, 8, stride, kernel_size=kernel_size, use_bias=use_bias)
  x = jnp.ones((1, 6, 6, 3))
  expected = _init(module, jax.random.key(0), x, lowered=False)
  actual = _init(module, jax.random.key(0), x, lowered=True)
  assert 'custom_vjp_call' in _jaxpr(module.apply, actual, x, lowered=True)  # The CPU path created them.
  # Same names, shapes and initialisers, hence the same values for the same key.
  chex.assert_trees_all_equal(actual, expected)
  assert set(actual['params']) == ({'kernel', 'bias'} if use_bias else {'kernel'})
  chex.assert_shape(actual['params']['kernel'], (kernel_size, kernel_size, 3, 8))


def test_dcgan_params_identical_inside_and_outside_the_lowering():
  # Checkpoints move freely between backends: every parameter and statistic equal.
  g = DCGANGenerator(image_shape=(28, 28, 1), widths=(8, 4, 4))
  d = DCGANDiscriminator(widths=(4, 8), dropout_rate=0.0)
  z, x = _normal(0, (2, 8)), _normal(1, (2, 28, 28, 1))
  for module, inputs in ((g, z), (d, x)):
    expected = _init(module, jax.random.key(2), inputs, lowered=False, train=False)
    actual = _init(module, jax.random.key(2), inputs, lowered=True, train=False)
    chex.assert_trees_all_equal(actual, expected)


def test_lowering_reroutes_only_inside_the_context():
  x = jnp.ones((1, 8, 8, 3))
  for kind in ('conv', 'conv_transpose'):
    module = _flax_module(kind, 4, 2)
    params = jax.eval_shape(module.init, jax.random.key(0), x)
    assert 'custom_vjp_call' not in _jaxpr(module.apply, params, x, lowered=False)
    assert 'custom_vjp_call' in _jaxpr(module.apply, params, x, lowered=True)
    # The context is left: Flax's own call again.
    assert 'custom_vjp_call' not in _jaxpr(module.apply, params, x, lowered=False)


# Configurations the CPU path does not compute: Flax's own call, bit for bit. The
# `computed` ones (VALID padding, dilation, groups, a non-square kernel) are also
# evaluated inside and outside; for the rest, the identical program is proof enough.
_FALLBACKS = [
  (nn.Conv, dict(padding='VALID'), (2, 8, 8, 4), True),
  (nn.Conv, dict(padding=((2, 2), (2, 2))), (2, 8, 8, 4), False),
  (nn.Conv, dict(padding='CIRCULAR'), (2, 8, 8, 4), False),
  (nn.Conv, dict(kernel_dilation=2), (2, 8, 8, 4), True),
  (nn.Conv, dict(feature_group_count=2), (2, 8, 8, 4), True),
  (nn.Conv, dict(kernel_size=(3, 5)), (2, 8, 8, 4), False),
  (nn.Conv, dict(strides=(1, 2)), (2, 8, 8, 4), False),
  (nn.Conv, dict(precision=lax.Precision.HIGHEST), (2, 8, 8, 4), False),
  (nn.Conv, {}, (8, 8, 4), False),  # No batch axis.
  (nn.Conv, dict(kernel_size=(3,), strides=(2,)), (2, 8, 4), False),  # 1-D.
  (nn.Conv, dict(kernel_size=(3, 3, 3), strides=(1, 1, 1)), (2, 6, 6, 6, 4), False),  # 3-D.
  (nn.ConvTranspose, dict(padding='VALID'), (2, 8, 8, 4), True),
  (nn.ConvTranspose, dict(padding=((2, 2), (2, 2))), (2, 8, 8, 4), False),
  (nn.ConvTranspose, dict(kernel_dilation=2), (2, 8, 8, 4), False),
  (nn.ConvTranspose, dict(kernel_size=(3, 5)), (2, 8, 8, 4), True),
  (nn.ConvTranspose, dict(strides=(1, 2)), (2, 8, 8, 4), False),
  (nn.ConvTranspose, dict(transpose_kernel=True), (2, 8, 8, 4), False),
  (nn.ConvTranspose, {}, (8, 8, 4), False),
  (nn.ConvTranspose, dict(kernel_size=(3,), strides=(2,)), (2, 8, 4), False),
]


@pytest.mark.parametrize('cls,overrides,in_shape,computed', _FALLBACKS,
                         ids=[f'{c.__name__}-{o}-{len(s)}d' for c, o, s, _ in _FALLBACKS])
def test_unhandled_configurations_keep_flax_own_call(cls, overrides, in_shape, computed):
  kwargs = dict(features=4, kernel_size=(3, 3), strides=(2, 2), padding='SAME')
  kwargs.update(overrides)
  module = cls(**kwargs)
  x = _normal(0, in_shape)
  cotangent = _normal(1, jax.eval_shape(
    lambda x: module.apply(module.init(jax.random.key(0), x), x), x).shape)

  def everything(key, x):  # Init, output, and the gradients wrt params and input.
    params = module.init(key, x)['params']
    y, vjp = jax.vjp(lambda params, x: module.apply({'params': params}, x), params, x)
    return params, y, vjp(cotangent)

  key = jax.random.key(0)
  # The very same program inside the lowering: nothing was rerouted.
  assert _jaxpr(everything, key, x, lowered=True) == _jaxpr(everything, key, x, lowered=False)
  if computed:
    chex.assert_trees_all_equal(conftest.lowered_jit(everything, True)(key, x),
                                conftest.lowered_jit(everything, False)(key, x))


@pytest.mark.parametrize('cls', [nn.Conv, nn.ConvTranspose])
def test_int_kernel_size_means_what_flax_means(cls):
  module = cls(4, 5, padding='SAME')
  x = _normal(0, (2, 8, 8, 3))
  expected = jax.eval_shape(module.init, jax.random.key(0), x)
  with CPUBackend().lowering():
    actual = jax.eval_shape(lambda key, x: module.init(key, x), jax.random.key(0), x)
  chex.assert_trees_all_equal_shapes(actual, expected)


def test_conv_transpose_rejects_lower_case_same_as_flax_does():
  module = nn.ConvTranspose(4, (3, 3), (2, 2), padding='same')
  x = jnp.ones((1, 4, 4, 2))
  with pytest.raises(ValueError):
    jax.eval_shape(module.init, jax.random.key(0), x)  # Flax's own call.
  with pytest.raises(ValueError):
    with CPUBackend().lowering():
      jax.eval_shape(lambda key, x: module.init(key, x), jax.random.key(0), x)


# ------------------------------------------------------------ functional forms


@pytest.mark.parametrize('in_size,out_size', [
  (7, 14), pytest.param(14, 28, marks=pytest.mark.slow),
  pytest.param(4, 8, marks=pytest.mark.slow), pytest.param(8, 16, marks=pytest.mark.slow),
  (16, 32)])
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
    y = cpu_conv.conv2d_transpose(x, w, 2, impl=impl)
    np.testing.assert_array_equal(y[0, :, :, 0], expected)


def test_conv_transpose_is_the_transpose_of_conv():
  # <ConvT(x; w), u> = <x, Conv(u; flip(w)^T)> for k = 5, s = 2, even u.
  x = _normal(0, (2, 7, 7, 3))
  u = _normal(1, (2, 14, 14, 4))
  w = _normal(2, (5, 5, 3, 4))
  lhs = jnp.vdot(cpu_conv.conv2d_transpose(x, w, 2), u)
  rhs = jnp.vdot(x, cpu_conv.conv2d(u, jnp.flip(w, (0, 1)).swapaxes(2, 3), 2))
  np.testing.assert_allclose(lhs, rhs, rtol=1e-5)


@pytest.mark.parametrize('op', [cpu_conv.conv2d, cpu_conv.conv2d_transpose])
def test_native_is_plain_lax_and_fast_has_custom_vjps(op):
  x, w = jnp.ones((1, 8, 8, 3)), jnp.ones((5, 5, 3, 4))
  native = str(jax.make_jaxpr(lambda x, w: op(x, w, 2, impl='native'))(x, w))
  fast = str(jax.make_jaxpr(lambda x, w: op(x, w, 2))(x, w))  # 'fast' is the default.
  assert 'custom_vjp_call' not in native and 'custom_vjp_call' in fast
  reference = (lax.conv_general_dilated(x, w, (2, 2), 'SAME',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
               if op is cpu_conv.conv2d else
               lax.conv_transpose(x, w, (2, 2), 'SAME',
                                  dimension_numbers=('NHWC', 'HWIO', 'NHWC')))
  np.testing.assert_array_equal(op(x, w, 2, impl='native'), reference)


@pytest.mark.parametrize('op', [cpu_conv.conv2d, cpu_conv.conv2d_transpose])
@pytest.mark.parametrize('kernel_size,stride', [
  # Slow: the same code paths as the fast ones, or covered by the DFT and layer tests.
  pytest.param(5, 1, marks=pytest.mark.slow),
  (4, 1), (5, 2),
  pytest.param(4, 2, marks=pytest.mark.slow),
  (1, 2),
  pytest.param(5, 3, marks=pytest.mark.slow)])
def test_every_fast_variant_matches_native(op, kernel_size, stride):
  # An odd, non-square input: the sub-pixel adjoint crops and the hi pads of
  # the transposed convolution go negative for k < s.
  x = _normal(0, (2, 7, 5, 3))
  w = _normal(1, (kernel_size, kernel_size, 3, 4))
  cotangent = _normal(2, op(x, w, stride, impl='native').shape)
  loss = lambda x, w, **options: jnp.vdot(op(x, w, stride, **options), cotangent)
  grads = lambda **options: jax.jit(
    jax.value_and_grad(functools.partial(loss, **options), (0, 1)))(x, w)
  expected = grads(impl='native')
  # Between them the two variants run every adjoint and kernel-gradient impl.
  for adjoint_impl, kernel_grad_impl in [('native', 'native'), ('subpixel', 'im2col')]:
    actual = grads(impl='fast', adjoint_impl=adjoint_impl, kernel_grad_impl=kernel_grad_impl)
    _assert_close(actual, expected)


@pytest.mark.slow  # Finite differences: a few seconds each; the R1 tests are quicker.
@pytest.mark.parametrize('op', [cpu_conv.conv2d, cpu_conv.conv2d_transpose])
def test_check_grads_first_and_second_order(op):
  # Order 2 in reverse mode exercises the custom VJPs of the custom VJPs (as an
  # R1 penalty does). Small inputs keep sin's float32 finite differences accurate
  # (at scale 1 the native path misses the 2e-2 tolerance too).
  x = 0.3 * _normal(0, (1, 6, 6, 2))
  w = 0.3 * _normal(1, (5, 5, 2, 3))
  f = jax.jit(lambda x, w: jnp.sum(jnp.sin(op(x, w, 2))))
  test_util.check_grads(f, (x, w), order=2, modes=['rev'], eps=1e-2, atol=2e-2, rtol=2e-2)


@pytest.mark.slow  # The lowered-layers R1 test below takes the same path.
def test_r1_style_double_backprop_matches_native():
  x = _normal(0, (2, 8, 8, 3))
  w1 = 0.2 * _normal(1, (5, 5, 3, 8))
  w2 = 0.2 * _normal(2, (5, 5, 8, 4))

  def penalty(weights, impl):
    def critic(x):
      h = jax.nn.leaky_relu(cpu_conv.conv2d(x, weights[0], 2, impl=impl), 0.2)
      return jnp.sum(cpu_conv.conv2d(h, weights[1], 2, impl=impl))
    return jnp.sum(jax.grad(critic)(x) ** 2)

  value_and_grad = jax.jit(jax.value_and_grad(penalty), static_argnums=1)
  expected = value_and_grad((w1, w2), 'native')
  actual = value_and_grad((w1, w2), 'fast')
  _assert_close(actual, expected)


def test_r1_through_lowered_flax_layers_matches_flax():
  # The same second-order path, reached through nn.Conv inside the lowering.
  d = DCGANDiscriminator(widths=(8, 4), dropout_rate=0.0)
  x = _normal(0, (2, 8, 8, 3))
  params = {'Conv_0': {'kernel': 0.2 * _normal(1, (5, 5, 3, 8)), 'bias': _normal(2, (8,))},
            'Conv_1': {'kernel': 0.2 * _normal(3, (5, 5, 8, 4)), 'bias': _normal(4, (4,))},
            'Dense_0': {'kernel': _normal(5, (2 * 2 * 4, 1)), 'bias': _normal(6, (1,))}}

  def r1(params):
    critic = lambda x: jnp.sum(d.apply({'params': params}, x, train=False))
    return jnp.sum(jax.grad(critic)(x) ** 2)

  run = jax.value_and_grad(r1)
  _assert_close(conftest.lowered_jit(run, True)(params), conftest.lowered_jit(run, False)(params))


def test_bad_functional_impls_raise_value_error():
  x, w = jnp.ones((1, 8, 8, 3)), jnp.ones((5, 5, 3, 4))
  with pytest.raises(ValueError):
    cpu_conv.conv2d(x, w, 2, adjoint_impl='col2im')
  with pytest.raises(ValueError):
    cpu_conv.conv2d_transpose(x, w, 2, kernel_grad_impl='taps')
  with pytest.raises(ValueError):
    cpu_conv.conv2d(x, w, 2, impl='gpu')


# ---------------------------------------------------------------------------
# The Fourier-domain (DFT) path of stride-1 convolutions.


_slow_dft = lambda *case: pytest.param(*case, marks=pytest.mark.slow)


@pytest.mark.parametrize('in_shape,kernel_size,c_out,padding', [
  ((7, 7, 256), 5, 128, ((2, 2), (2, 2))),  # The TF-tutorial DCGAN's first G layer.
  _slow_dft((7, 5, 6), 3, 4, ((1, 1), (1, 1))),      # Not square.
  ((6, 6, 5), 4, 3, ((1, 2), (2, 1))),      # Even kernel, uneven pads.
  _slow_dft((8, 8, 4), 7, 2, ((3, 3), (3, 3))),      # Kernel nearly as large as the image.
  ((9, 9, 3), 3, 5, ((0, -1), (2, 0))),     # A crop, as the sub-pixel adjoint pads.
])
def test_dft_convolution_matches_native_values_and_gradients(in_shape, kernel_size, c_out, padding):
  x = _normal(0, (3, *in_shape))
  w = _normal(1, (kernel_size, kernel_size, in_shape[-1], c_out)) / kernel_size
  native = functools.partial(cpu_conv._conv_native, stride=1, padding=padding)
  dft = functools.partial(cpu_conv._conv_dft, padding=padding)
  cotangent = _normal(2, native(x, w).shape)
  run = lambda conv: jax.jit(lambda x, w: jax.vjp(conv, x, w)[1](cotangent) + (conv(x, w),))(x, w)
  _assert_close(run(dft), run(native))


def test_dft_convolution_of_a_delta_kernel_is_the_identity_and_a_shift():
  x = _normal(0, (2, 7, 7, 3))
  delta = np.zeros((5, 5, 3, 3), np.float32)
  delta[2, 2] = np.eye(3)  # Centre tap: SAME correlation returns x itself.
  conv = jax.jit(lambda x, w: cpu_conv._conv_dft(x, w, ((2, 2), (2, 2))))
  y = conv(x, jnp.asarray(delta))
  np.testing.assert_allclose(y, x, atol=2e-6)
  shift = np.zeros((5, 5, 3, 3), np.float32)
  shift[3, 2] = np.eye(3)  # y[i] = x[i + 1] down the rows, zero past the edge.
  y = conv(x, jnp.asarray(shift))
  np.testing.assert_allclose(y[:, :-1], x[:, 1:], atol=2e-6)
  np.testing.assert_allclose(y[:, -1], 0.0, atol=2e-6)


@pytest.mark.slow  # Finite differences, forward and reverse: several seconds.
def test_dft_convolution_second_order_gradients():
  # A plain composition of matrix products: forward mode works too, unlike the
  # custom-VJP path.
  x = 0.3 * _normal(0, (1, 5, 5, 2))
  w = 0.3 * _normal(1, (3, 3, 2, 3))
  f = jax.jit(lambda x, w: jnp.sum(jnp.sin(cpu_conv._conv_dft(x, w, ((1, 1), (1, 1))))))
  test_util.check_grads(f, (x, w), order=2, modes=['fwd', 'rev'], eps=1e-2, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize('op', [cpu_conv.conv2d, cpu_conv.conv2d_transpose])
def test_fast_stride_one_uses_the_dft_only_where_it_saves_work(op):
  def primitives(in_shape, c_out, impl='fast'):
    x = jnp.zeros((2, *in_shape))
    w = jnp.zeros((5, 5, in_shape[-1], c_out))
    return str(jax.make_jaxpr(lambda x, w: op(x, w, 1, impl=impl))(x, w))

  # 7x7, 256 -> 128: 41 bins of 4 real products against 49 x 25 taps.
  assert cpu_conv._dft_wins((7, 7), 5, ((2, 2), (2, 2)), 256, 128)
  small_wide = primitives((7, 7, 256), 128)
  assert 'dot_general' in small_wide and 'conv_general_dilated' not in small_wide
  # 28x28 images: the transforms cost more than the taps they save.
  assert not cpu_conv._dft_wins((28, 28), 5, ((2, 2), (2, 2)), 64, 64)
  assert 'conv_general_dilated' in primitives((28, 28, 64), 64)
  # Two channels: nothing to save.
  assert 'conv_general_dilated' in primitives((7, 7, 2), 2)
  assert 'conv_general_dilated' in primitives((7, 7, 256), 128, impl='native')


def test_the_dcgan_first_layer_takes_the_dft_path_inside_the_lowering():
  module = _flax_module('conv_transpose', 128, 1)
  x = jnp.zeros((2, 7, 7, 256))
  params = jax.eval_shape(module.init, jax.random.key(0), x)
  assert 'conv_general_dilated' in _jaxpr(module.apply, params, x, lowered=False)
  lowered = _jaxpr(module.apply, params, x, lowered=True)
  assert 'conv_general_dilated' not in lowered and 'dot_general' in lowered


@pytest.mark.parametrize('n_h,n_w', [(9, 9), (8, 8), (9, 8), (8, 9), (1, 1), (2, 5)])
def test_frequency_bins_stand_for_the_whole_spectrum_once(n_h, n_w):
  u, v, weight = cpu_conv._frequency_bins(n_h, n_w)
  covered = np.zeros((n_h, n_w), int)
  for a, b in zip(u, v):
    covered[a, b] += 1
    covered[-a % n_h, -b % n_w] += (a, b) != (-a % n_h, -b % n_w)
  np.testing.assert_array_equal(covered, 1)  # Every bin once: kept, or a kept one's partner.
  np.testing.assert_allclose(weight * n_h * n_w,
                             [1 + ((a, b) != (-a % n_h, -b % n_w)) for a, b in zip(u, v)])
