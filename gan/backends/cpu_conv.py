"""2-D convolutions that are fast on XLA:CPU: the lowering `gan.backends.cpu` applies.

`conv2d` and `conv2d_transpose` compute what `flax.linen.Conv` and
`flax.linen.ConvTranspose` compute with `padding='SAME'` for what a DCGAN needs (NHWC
inputs, square kernels, equal strides, no dilation, no groups), from the same kernel.
The models never call them: on CPU the builder routes those layers here
(`gan.backends.cpu.lowering`).

Why. XLA:CPU differentiates a strided convolution into convolutions with input
dilation, and turns the kernel gradient of a stride-2 transposed convolution into
a window-dilated convolution that takes seconds per layer (jax-ml/jax#23783,
#31662). The 'fast' path expresses both layers through one strided convolution

    C(u; v)[i] = sum_a pad(u)[s * i + a] v[a]              (pads lo, hi)

and its adjoint C^T, and gives each a custom VJP built only from pieces XLA:CPU
runs well:

    Conv2D(x; w)          = C(x; w)
    ConvTranspose2D(x; w) = C^T(x; flip(w)^T)     (pads: same_conv_transpose_padding)
    d/du <C(u; v), g>  = C^T(g; v)       d/dv <C(u; v), g>  = K(u, g)
    d/dx <C^T(x; v), g> = C(g; v)        d/dv <C^T(x; v), g> = K(g, x)

with K(u, g)[a] = sum_i pad(u)[s * i + a]^T g[i] the kernel gradient.

* C runs as XLA's own strided convolution (fastest of everything measured).
* C^T runs, for stride s > 1 and a wide output, as a sub-pixel convolution:
  output phase p of C^T(x; v) is a stride-1 correlation of x with the taps of
  v that land on p, so all s*s phases come from one stride-1 convolution with
  s*s*C_out filters followed by depth-to-space (Shi et al., 2016). Otherwise
  (stride 1, or an output of 1-3 channels) XLA's own adjoint is as fast.
* K runs as XLA's convolution kernel gradient, or, when the input has few
  channels (where XLA's kernel is slowest), as one matmul patches^T @ g.

Stride-1 layers on small images with wide channels (the DCGAN's 7x7x256 -> 128,
5x5) take a different route on the 'fast' path: the convolution theorem, with
the 2-D real DFTs of the image, the kernel and the output written as matrix
products (`_conv_dft`). Each frequency bin then mixes the channels with one
complex (real 2C_out x 2C_in) matrix product: 41 bins instead of 49 pixels x 25
taps, about 5x fewer multiply-adds once the transforms are counted, all of them
in XLA:CPU's fast matrix products, and differentiated by JAX as they stand (so
forward mode works there too). `_dft_wins` picks it only where it saves at least
half the work; the results agree with the direct convolution to float32
rounding (about 1e-6 relative), not bit for bit.

Measurements are in experiments/benchmark_layers.py. The bwd rules call the same
custom-VJP functions, so reverse-over-reverse (e.g. an R1 penalty) stays on the
fast path; forward-mode differentiation (jax.jvp, jax.hessian) of the 'fast'
path is not supported, as for any jax.custom_vjp.

References:
  Shi et al., "Real-Time Single Image and Video Super-Resolution Using an
  Efficient Sub-Pixel Convolutional Neural Network", CVPR 2016.
  Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')
_IMPLS = ('native', 'fast')
_ADJOINT_IMPLS = ('auto', 'native', 'subpixel')
_KERNEL_GRAD_IMPLS = ('auto', 'native', 'im2col')
# A side of the convolution has "few channels" when its k * k * C is at most
# this. There XLA's kernel gradient is 1.4-5x slower than one patches^T @ g
# matmul, and the sub-pixel convolution (s * s * C filters) no faster than XLA's
# own adjoint; with C = 64 the reverse holds (experiments/benchmark_layers.py).
_FEW_CHANNELS = 5 * 5 * 4

Padding2D = tuple[tuple[int, int], tuple[int, int]]


# ---------------------------------------------------------------------------
# Padding arithmetic.


def same_conv_padding(
  spatial_shape: Sequence[int], kernel_size: int, stride: int
) -> Padding2D:
  """(lo, hi) per spatial dim of `lax.conv_general_dilated(..., 'SAME')`.

  out = ceil(n / s), lo + hi = max((out - 1) * s + k - n, 0), lo = (lo + hi) // 2.
  """
  pads = lax.padtype_to_pads(
    tuple(spatial_shape), (kernel_size,) * 2, (stride,) * 2, 'SAME'
  )
  return tuple((int(lo), int(hi)) for lo, hi in pads)


def same_conv_transpose_padding(kernel_size: int, stride: int) -> tuple[int, int]:
  """(lo, hi) of the strided conv C whose adjoint is SAME `lax.conv_transpose`.

  `lax.conv_transpose(x, w, s, 'SAME')` dilates x by s, pads it by (a, b) with
  a + b = k + s - 2, a = k - 1 if s > k - 1 else ceil((k + s - 2) / 2), and
  correlates with w. That equals C^T(x; flip(w)^T) for the stride-s conv C with
  pads (k - 1 - a, k - 1 - b) on an input of size s * n (hi may be negative,
  which crops). For k = 5, s = 2 this is (1, 2), the SAME padding of a 5x5
  stride-2 Conv on an even input: ConvTranspose is the exact transpose of Conv.
  """
  k, s = kernel_size, stride
  total = k + s - 2
  before = k - 1 if s > k - 1 else -(-total // 2)
  return k - 1 - before, k - 1 - (total - before)


def _pad_spatial(x: jax.Array, padding: Padding2D) -> jax.Array:
  """Zero-pads (negative: crops) the H and W dims of NHWC `x`."""
  (top, bottom), (left, right) = padding
  zero = jnp.zeros((), x.dtype)
  return lax.pad(x, zero, [(0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)])


# ---------------------------------------------------------------------------
# The three pieces: C, C^T and K.


def _conv_native(u: jax.Array, v: jax.Array, stride: int, padding: Padding2D):
  return lax.conv_general_dilated(
    u, v, (stride, stride), padding, dimension_numbers=_DIMENSION_NUMBERS
  )


def _adjoint_native(x, v, stride, padding, input_hw):
  """C^T by XLA's transpose rule: a convolution with input dilation s."""
  n, c_in = x.shape[0], v.shape[2]
  conv = functools.partial(_conv_native, v=v, stride=stride, padding=padding)
  u_shape = jax.ShapeDtypeStruct((n, *input_hw, c_in), x.dtype)
  return jax.linear_transpose(conv, u_shape)(x)[0]


def _subpixel_taps(k: int, s: int, lo: int, x_size: int, phase_size: int):
  """Tap table of one spatial dim of the sub-pixel form of C^T.

  Output row s * i + p of C^T(x; v) is sum_e x[i - e] v[s * e + p + lo] over the
  e with 0 <= s * e + p + lo < k. As a correlation over x padded by e_max on the
  low side, offset t = e_max - e uses tap index[t, p] (k means "no tap").

  Returns (index of shape (D, s), (pad_lo, pad_hi) of x).
  """
  es = [e for e in range(-k - s, k + s) if any(0 <= s * e + p + lo < k for p in range(s))]
  e_min, e_max = min(es), max(es)
  taps = e_max - e_min + 1
  index = np.array([[s * (e_max - t) + p + lo for p in range(s)] for t in range(taps)])
  index = np.where((index >= 0) & (index < k), index, k)
  return index, (e_max, phase_size + taps - 1 - e_max - x_size)


def _adjoint_subpixel(x, v, stride, padding, input_hw):
  """C^T as one stride-1 conv producing the s*s output phases, then depth-to-space."""
  s, k = stride, v.shape[0]
  n, xh, xw, c_out = x.shape
  c_in = v.shape[2]
  ph, pw = -(-input_hw[0] // s), -(-input_hw[1] // s)
  index_h, pad_h = _subpixel_taps(k, s, padding[0][0], xh, ph)
  index_w, pad_w = _subpixel_taps(k, s, padding[1][0], xw, pw)
  v_ext = jnp.pad(v, ((0, 1), (0, 1), (0, 0), (0, 0)))  # index k -> zero tap
  # (Dh, Dw, s, s, c_in, c_out) -> (Dh, Dw, c_out, s * s * c_in), phases major.
  phase_kernel = v_ext[index_h[:, None, :, None], index_w[None, :, None, :]]
  phase_kernel = phase_kernel.transpose(0, 1, 5, 2, 3, 4).reshape(
    index_h.shape[0], index_w.shape[0], c_out, s * s * c_in
  )
  phases = _conv_native(_pad_spatial(x, (pad_h, pad_w)), phase_kernel, 1, ((0, 0), (0, 0)))
  y = phases.reshape(n, ph, pw, s, s, c_in).transpose(0, 1, 3, 2, 4, 5)
  y = y.reshape(n, ph * s, pw * s, c_in)
  return y[:, : input_hw[0], : input_hw[1]]


def _kernel_grad_native(u, g, stride, padding, kernel_size):
  """K by XLA's transpose rule of the convolution in its kernel."""
  conv = functools.partial(_conv_native, u, stride=stride, padding=padding)
  v_shape = jax.ShapeDtypeStruct(
    (kernel_size, kernel_size, u.shape[-1], g.shape[-1]), u.dtype
  )
  return jax.linear_transpose(conv, v_shape)(g)[0]


def _kernel_grad_im2col(u, g, stride, padding, kernel_size):
  """K as one matmul: patches(u)^T @ g, contracting batch and output pixels."""
  k, s = kernel_size, stride
  n, gh, gw, c_out = g.shape
  c_in = u.shape[-1]
  up = _pad_spatial(u, padding)
  patches = jnp.concatenate(
    [
      up[:, a : a + s * (gh - 1) + 1 : s, b : b + s * (gw - 1) + 1 : s, :]
      for a in range(k)
      for b in range(k)
    ],
    axis=-1,
  )
  grad = jnp.dot(patches.reshape(-1, k * k * c_in).T, g.reshape(-1, c_out))
  return grad.reshape(k, k, c_in, c_out)


# ---------------------------------------------------------------------------
# Stride-1 convolution in the Fourier domain, as matrix products.


def _frequency_bins(n_h: int, n_w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """The bins (u, v) of a real N_h x N_w DFT that determine all others, and their weights.

  A real signal's spectrum is conjugate-symmetric, X[-u, -v] = conj(X[u, v]), so the
  bins with v <= N_w // 2 suffice, and in the columns v = 0 and v = N_w / 2 (whose
  partners lie in the same column) only u <= N_h // 2. A kept bin stands for itself
  and its partner (weight 2 in the inverse), except a bin that is its own partner
  (weight 1).

  Returns:
    (u, v, weight), 1-D arrays over the kept bins, weight divided by N_h N_w.
  """
  u, v = (a.ravel() for a in np.meshgrid(np.arange(n_h), np.arange(n_w // 2 + 1), indexing='ij'))
  real_column = (v == 0) | (2 * v == n_w)
  keep = ~real_column | (u <= n_h // 2)
  u, v, real_column = u[keep], v[keep], real_column[keep]
  own_partner = real_column & ((2 * u) % n_h == 0)
  return u, v, np.where(own_partner, 1.0, 2.0) / (n_h * n_w)


def _correlation_output_hw(
  input_hw: Sequence[int], kernel_size: int, padding: Padding2D
) -> tuple[int, int]:
  """(H_out, W_out) of a stride-1 correlation of a padded input."""
  (lo_h, hi_h), (lo_w, hi_w) = padding
  return (input_hw[0] + lo_h + hi_h - kernel_size + 1,
          input_hw[1] + lo_w + hi_w - kernel_size + 1)


def _dft_size(input_hw: Sequence[int], padding: Padding2D) -> tuple[int, int]:
  """(N_h, N_w): the shortest circular lengths with no wrap-around in the outputs."""
  (lo_h, hi_h), (lo_w, hi_w) = padding
  return input_hw[0] + max(lo_h, hi_h, 0), input_hw[1] + max(lo_w, hi_w, 0)


@functools.cache
def _dft_matrices(
  input_hw: tuple[int, int], kernel_size: int, padding: Padding2D
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Real matrices of a stride-1 correlation computed through 2-D real DFTs.

  The correlation y[i] = sum_a x[i + a - lo] v[a] (zero outside x) of one
  spatial dim equals, on circular signals of length N >= n + max(lo, hi),

      y[i] = 1/N sum_u X[u] V[u] w^(-u i),  X[u] = sum_j x[j] w^(u j),
      V[u] = sum_a v[a] w^(-u (a - lo)),    w = exp(-2 pi i / N),

  with no wrap-around in the kept outputs. In 2-D only the bins of
  `_frequency_bins` are computed (the input is real), and the inverse weighs each
  by how many bins it stands for.

  Returns float32 arrays (real part first, then imaginary), M = number of bins:
    to_freq (2, H*W, M): the image's bins are x @ to_freq, per channel;
    kernel_to_freq (2, k*k, M): the kernel's bins, v @ kernel_to_freq;
    from_freq (2, M, H_out*W_out): y = re @ from_freq[0] + im @ from_freq[1].
  """
  k = kernel_size
  (lo_h, _), (lo_w, _) = padding
  h, w = input_hw
  out_h, out_w = _correlation_output_hw(input_hw, k, padding)
  n_h, n_w = _dft_size(input_hw, padding)
  u, v, weight = _frequency_bins(n_h, n_w)

  def angles(rows, cols):  # 2 pi (u r / N_h + v c / N_w) for every (r, c) and bin.
    ang = u * rows[:, None, None] / n_h + v * cols[None, :, None] / n_w
    return 2 * np.pi * ang.reshape(len(rows) * len(cols), -1)

  to_freq = -angles(np.arange(h), np.arange(w))
  kernel_to_freq = angles(np.arange(k) - lo_h, np.arange(k) - lo_w)
  back = angles(np.arange(out_h), np.arange(out_w))
  from_freq = np.stack([np.cos(back) * weight, -np.sin(back) * weight]).transpose(0, 2, 1)
  return (
    np.stack([np.cos(to_freq), np.sin(to_freq)]).astype(np.float32),
    np.stack([np.cos(kernel_to_freq), np.sin(kernel_to_freq)]).astype(np.float32),
    np.ascontiguousarray(from_freq, np.float32),
  )


def _conv_dft(u: jax.Array, v: jax.Array, padding: Padding2D) -> jax.Array:
  """C(u; v) for stride 1, as 2-D real DFTs by matrix products (see `_dft_matrices`).

  Per frequency bin, the channels mix by one complex product, done as a real
  (2 C_out, 2 C_in) @ (2 C_in, B) matrix product; the transforms are
  (2M, H*W) @ (H*W, C*B)-shaped products. For a k x k kernel on a small image
  (7x7, k = 5: 41 bins against 49 * 25 taps) this is about 5.8x fewer FLOPs than
  the direct convolution, transforms included, and plain differentiable matrix products both ways.
  """
  n, h, w, c_in = u.shape
  k, c_out = v.shape[0], v.shape[-1]
  to_freq, kernel_to_freq, from_freq = (
    jnp.asarray(m, u.dtype) for m in _dft_matrices((h, w), k, padding)
  )
  bins = to_freq.shape[-1]
  out_pixels = from_freq.shape[-1]
  # (H*W, C_in, B): pixels, then channels, then batch, so each product below is
  # a plain (batched) matrix product with no copy in between.
  u_t = u.reshape(n, h * w, c_in).transpose(1, 2, 0).reshape(h * w, c_in * n)
  u_freq = jnp.dot(to_freq.transpose(2, 0, 1).reshape(bins * 2, h * w), u_t)
  u_freq = u_freq.reshape(bins, 2 * c_in, n)  # Rows (re, im) x C_in.
  v_freq = jnp.einsum('rpm,pio->rmoi', kernel_to_freq, v.reshape(k * k, c_in, c_out))
  v_re, v_im = v_freq[0], v_freq[1]  # (M, C_out, C_in) each.
  # [y_re; y_im] = [[v_re, -v_im], [v_im, v_re]] @ [u_re; u_im], per bin.
  v_block = jnp.concatenate(
    [jnp.concatenate([v_re, -v_im], -1), jnp.concatenate([v_im, v_re], -1)], 1
  )
  y_freq = jnp.einsum('moi,min->mon', v_block, u_freq)  # (M, 2 C_out, B)
  y = jnp.dot(
    from_freq.transpose(2, 1, 0).reshape(out_pixels, bins * 2),
    y_freq.reshape(bins * 2, c_out * n),
  )
  out_h, out_w = _correlation_output_hw((h, w), k, padding)
  return y.reshape(out_h * out_w, c_out, n).transpose(2, 0, 1).reshape(n, out_h, out_w, c_out)


def _dft_wins(input_hw: Sequence[int], kernel_size: int, padding: Padding2D,
              c_in: int, c_out: int) -> bool:
  """Whether `_conv_dft` takes under half the multiply-adds of the direct convolution.

  Per image: direct H_out W_out k^2 C_in C_out; DFT 4 M C_in C_out (bins) plus
  2 M (H W C_in + H_out W_out C_out) (transforms). Half, because the transforms'
  short products run below the machine's GEMM speed. It holds for small images
  and wide channels (7x7, k = 5, 256 -> 128: 5.8x fewer), not for large images.
  """
  out_pixels = int(np.prod(_correlation_output_hw(input_hw, kernel_size, padding)))
  bins = len(_frequency_bins(*_dft_size(input_hw, padding))[0])
  direct = out_pixels * kernel_size**2 * c_in * c_out
  dft = 4 * bins * c_in * c_out + 2 * bins * (int(np.prod(input_hw)) * c_in + out_pixels * c_out)
  return 2 * dft < direct


def _few_channels(kernel_size: int, channels: int) -> bool:
  return kernel_size * kernel_size * channels <= _FEW_CHANNELS


def _adjoint(x, v, stride, padding, input_hw, impl):
  if impl == 'auto':
    wide = not _few_channels(v.shape[0], v.shape[2])
    impl = 'subpixel' if stride > 1 and wide else 'native'
  fn = {'native': _adjoint_native, 'subpixel': _adjoint_subpixel}[impl]
  return fn(x, v, stride, padding, input_hw)


def _kernel_grad(u, g, stride, padding, kernel_size, impl):
  if impl == 'auto':
    impl = 'im2col' if _few_channels(kernel_size, u.shape[-1]) else 'native'
  fn = {'native': _kernel_grad_native, 'im2col': _kernel_grad_im2col}[impl]
  return fn(u, g, stride, padding, kernel_size)


# ---------------------------------------------------------------------------
# C and C^T with custom VJPs that stay on the fast pieces.


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _strided_conv(u, v, stride, padding, impls):
  """C(u; v); differentiated by C^T and K (see module docstring)."""
  del impls
  return _conv_native(u, v, stride, padding)


def _strided_conv_fwd(u, v, stride, padding, impls):
  return _strided_conv(u, v, stride, padding, impls), (u, v)


def _strided_conv_bwd(stride, padding, impls, residuals, g):
  u, v = residuals
  du = _strided_conv_adjoint(g, v, stride, padding, u.shape[1:3], impls)
  dv = _kernel_grad(u, g, stride, padding, v.shape[0], impls[1])
  return du, dv


_strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _strided_conv_adjoint(x, v, stride, padding, input_hw, impls):
  """C^T(x; v) with output spatial shape `input_hw`; differentiated by C and K."""
  return _adjoint(x, v, stride, padding, input_hw, impls[0])


def _strided_conv_adjoint_fwd(x, v, stride, padding, input_hw, impls):
  return _strided_conv_adjoint(x, v, stride, padding, input_hw, impls), (x, v)


def _strided_conv_adjoint_bwd(stride, padding, input_hw, impls, residuals, g):
  x, v = residuals
  dx = _strided_conv(g, v, stride, padding, impls)
  dv = _kernel_grad(g, x, stride, padding, v.shape[0], impls[1])
  return dx, dv


_strided_conv_adjoint.defvjp(_strided_conv_adjoint_fwd, _strided_conv_adjoint_bwd)


# ---------------------------------------------------------------------------
# Functional forms.


def _resolve_impl(impl: str) -> str:
  if impl not in _IMPLS:
    raise ValueError(f'impl must be one of {_IMPLS}, got {impl!r}.')
  return impl


def _check_impls(adjoint_impl: str, kernel_grad_impl: str) -> tuple[str, str]:
  if adjoint_impl not in _ADJOINT_IMPLS:
    raise ValueError(f'adjoint_impl must be one of {_ADJOINT_IMPLS}, got {adjoint_impl!r}.')
  if kernel_grad_impl not in _KERNEL_GRAD_IMPLS:
    raise ValueError(
      f'kernel_grad_impl must be one of {_KERNEL_GRAD_IMPLS}, got {kernel_grad_impl!r}.'
    )
  return adjoint_impl, kernel_grad_impl


def conv2d(
  x: jax.Array,
  kernel: jax.Array,
  stride: int,
  *,
  impl: str = 'fast',
  adjoint_impl: str = 'auto',
  kernel_grad_impl: str = 'auto',
) -> jax.Array:
  """SAME 2-D convolution, `lax.conv_general_dilated(x, kernel, (s, s), 'SAME')`.

  Args:
    x: (N, H, W, C_in) inputs.
    kernel: (k, k, C_in, C_out) kernel.
    stride: the stride of both spatial dims.
    impl: 'fast' (custom VJP, the default) or 'native' (XLA's convolution and
      its own gradient).
    adjoint_impl: how 'fast' computes the input gradient: 'native', 'subpixel'
      or 'auto' (sub-pixel for stride > 1 unless C_in is tiny).
    kernel_grad_impl: how 'fast' computes the kernel gradient: 'native',
      'im2col' or 'auto' (im2col for inputs with few channels).

  With impl 'fast' and stride 1, small images with wide channels go through the
  Fourier domain instead (`_conv_dft`, chosen by `_dft_wins`).

  Returns:
    (N, ceil(H / s), ceil(W / s), C_out) outputs.
  """
  impls = _check_impls(adjoint_impl, kernel_grad_impl)
  padding = same_conv_padding(x.shape[1:3], kernel.shape[0], stride)
  if _resolve_impl(impl) == 'native':
    return _conv_native(x, kernel, stride, padding)
  if stride == 1 and _dft_wins(x.shape[1:3], kernel.shape[0], padding, *kernel.shape[2:]):
    return _conv_dft(x, kernel, padding)
  return _strided_conv(x, kernel, stride, padding, impls)


def conv2d_transpose(
  x: jax.Array,
  kernel: jax.Array,
  stride: int,
  *,
  impl: str = 'fast',
  adjoint_impl: str = 'auto',
  kernel_grad_impl: str = 'auto',
) -> jax.Array:
  """SAME 2-D transposed convolution, `lax.conv_transpose(x, kernel, (s, s), 'SAME')`.

  With the kernel flipped and its channel axes swapped, v = flip(kernel)^T, this
  is the adjoint C^T(x; v) of the stride-s convolution padded by
  `same_conv_transpose_padding`, which is how the 'fast' path computes it.

  Args:
    x: (N, H, W, C_in) inputs.
    kernel: (k, k, C_in, C_out) kernel, as in `flax.linen.ConvTranspose`.
    stride: the stride of both spatial dims.
    impl: 'fast' (the default) or 'native' (`lax.conv_transpose` and its own gradient).
    adjoint_impl: see `conv2d`; here it computes the forward pass.
    kernel_grad_impl: see `conv2d`.

  Returns:
    (N, s * H, s * W, C_out) outputs.
  """
  impls = _check_impls(adjoint_impl, kernel_grad_impl)
  if _resolve_impl(impl) == 'native':
    return lax.conv_transpose(
      x, kernel, (stride, stride), 'SAME', dimension_numbers=_DIMENSION_NUMBERS
    )
  pad = same_conv_transpose_padding(kernel.shape[0], stride)
  k = kernel.shape[0]
  if stride == 1:
    # C^T(x; flip(kernel)^T) at stride 1 is the correlation of x with the kernel itself.
    correlation_padding = ((k - 1 - pad[0], k - 1 - pad[1]),) * 2
    if _dft_wins(x.shape[1:3], k, correlation_padding, *kernel.shape[2:]):
      return _conv_dft(x, kernel, correlation_padding)
  v = jnp.flip(kernel, (0, 1)).swapaxes(2, 3)
  output_hw = (stride * x.shape[1], stride * x.shape[2])
  return _strided_conv_adjoint(x, v, stride, (pad, pad), output_hw, impls)
