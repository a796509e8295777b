"""NumPy backend, nn: activations, convolutions and pooling (channels_last, 1-3 spatial dims).

Convolutions and pooling gather every window with cached index arrays (``common.patches``)
and reduce with a matmul, a max or a mean, so autograd differentiates them with no special
rules; a transposed convolution is a stride-1 convolution of the stride-dilated input.
"""

from __future__ import annotations

import math
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive
from autograd.tracer import getval

from harness.reference.backend.common.constants import SELU_ALPHA, SELU_SCALE
from harness.reference.backend.common.conv_utils import (
    check_conv_kernel,
    check_transpose_kernel,
    conv_args,
    conv_padding,
    conv_transpose_args,
    pool_args,
    spatial_rank,
)
from harness.reference.backend.common.patches import Patches, patch_indices
from harness.reference.backend.numpy.core import (
    array_out,
    float_tensor,
    shape,
    stop_gradient,
    value_dtype,
)
from harness.reference.backend.numpy.math import erf, select

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_2 = math.sqrt(2.0)


# --- activations ----------------------------------------------------------------------


@primitive
def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


# gradient 0 at x == 0, as every framework's relu
defvjp(_relu, lambda ans, x: lambda g: g * (x > 0))


@primitive
def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of -|x| never overflows; the two branches are the same function
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


defvjp(_sigmoid, lambda ans, x: lambda g: g * ans * (1 - ans))


@array_out
def relu(x: Any) -> Any:
    """max(x, 0); NaN propagates; gradient 0 at 0."""
    return _relu(float_tensor(x))


@array_out
def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)), computed without overflow."""
    return _sigmoid(float_tensor(x))


@array_out
def softplus(x: Any) -> Any:
    """log(1 + exp(x)) as log1p(exp(-|x|)) + max(x, 0), stable for large |x|."""
    x = float_tensor(x)
    return anp.log1p(anp.exp(-anp.abs(x))) + anp.maximum(x, 0.0)


@array_out
def softsign(x: Any) -> Any:
    """x / (1 + |x|)."""
    x = float_tensor(x)
    return x / (1.0 + anp.abs(x))


@array_out
def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    x = float_tensor(x)
    positive = getval(x) > 0
    zero = np.zeros((), dtype=value_dtype(x))
    # expm1 only sees the non-positive part: no overflow, no inf * 0 in the gradient
    negative_part = float(alpha) * anp.expm1(select(positive, zero, x))
    return select(positive, x, negative_part)


@array_out
def selu(x: Any) -> Any:
    """scale * elu(x, alpha) with Keras's constants."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


@array_out
def silu(x: Any) -> Any:
    """x * sigmoid(x)."""
    x = float_tensor(x)
    return x * _sigmoid(x)


@array_out
def hard_sigmoid(x: Any) -> Any:
    """clip(x / 6 + 0.5, 0, 1) (= relu6(x + 3) / 6; gradient 0 at the kinks)."""
    return anp.clip(float_tensor(x) / 6.0 + 0.5, 0.0, 1.0)


@array_out
def gelu(x: Any, approximate: bool = False) -> Any:
    """Gaussian error linear unit: the erf form, or the tanh form when ``approximate``."""
    x = float_tensor(x)
    if approximate:
        return 0.5 * x * (1.0 + anp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
    return 0.5 * x * (1.0 + erf(x / _SQRT_2))


def _shifted(x: Any, axis: int) -> Any:
    """x minus its (untraced, finite) max along ``axis``: softmax is shift invariant."""
    peak = np.max(stop_gradient(x), axis=axis, keepdims=True)
    return x - np.where(np.isfinite(peak), peak, 0).astype(value_dtype(x))


@array_out
def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``axis``, computed without overflow."""
    e = anp.exp(_shifted(float_tensor(x), axis))
    return e / anp.sum(e, axis=axis, keepdims=True)


@array_out
def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along ``axis``, computed without overflow."""
    s = _shifted(float_tensor(x), axis)
    return s - anp.log(anp.sum(anp.exp(s), axis=axis, keepdims=True))


# --- windows --------------------------------------------------------------------------


def _flat(x: Any, patches: Patches, fill: float) -> Any:
    """x as (batch, cells + 1, channels), the extra cell (index ``sentinel``) holding ``fill``."""
    batch, channels = shape(x)[0], shape(x)[-1]
    flat = anp.reshape(x, (batch, patches.sentinel, channels))
    filler = np.full((batch, 1, channels), fill, dtype=value_dtype(x))
    return anp.concatenate([flat, filler], axis=1)


def _windows(x: Any, patches: Patches, fill: float) -> Any:
    """(batch, out cells, taps, channels) tensor of every window of ``x``; ``fill`` in padding."""
    return _flat(x, patches, fill)[:, patches.indices, :]


def _out(y: Any, x: Any, patches: Patches) -> Any:
    """``y`` of shape (batch, out cells, channels) reshaped to (batch, *out_shape, channels)."""
    return anp.reshape(y, (shape(x)[0],) + patches.out_shape + (shape(y)[-1],))


def _conv_windows(
    x: Any, kernel: Any, strides: Any, padding: Any, dilation_rate: Any, op: str
) -> tuple[Any, Any, Patches]:
    x, kernel = float_tensor(x), float_tensor(kernel)
    rank = check_conv_kernel(shape(x), shape(kernel), op)
    size = shape(kernel)[:rank]
    strides, padding, dilation = conv_args(rank, strides, padding, dilation_rate)
    pads = conv_padding(shape(x)[1:-1], size, strides, padding, dilation)
    patches = patch_indices(shape(x)[1:-1], size, strides, dilation, pads)
    return _windows(x, patches, 0.0), kernel, patches


def _matmul_windows(windows: Any, kernel: Any, x: Any, patches: Patches) -> Any:
    """Sum over taps and input channels of windows (b, o, k, c) times kernel (*k, c, out)."""
    batch, cells, taps, channels = shape(windows)
    cols = anp.reshape(windows, (batch, cells, taps * channels))
    y = anp.matmul(cols, anp.reshape(kernel, (taps * channels, shape(kernel)[-1])))
    return _out(y, x, patches)


def conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> Any:
    """N-d convolution (cross-correlation, as every framework): x (batch, *spatial, in),
    kernel (*kernel_size, in, out); returns (batch, *out_spatial, out)."""
    windows, kernel, patches = _conv_windows(x, kernel, strides, padding, dilation_rate, "conv")
    return _matmul_windows(windows, kernel, x, patches)


def depthwise_conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> Any:
    """Depthwise N-d convolution: kernel (*kernel_size, in, multiplier); output channel
    ``c * multiplier + m`` is input channel c convolved with kernel[..., c, m]."""
    windows, kernel, patches = _conv_windows(
        x, kernel, strides, padding, dilation_rate, "depthwise_conv"
    )
    batch, cells, taps, channels = shape(windows)
    taps_kernel = anp.reshape(kernel, (taps, channels, shape(kernel)[-1]))
    y = anp.einsum("bokc,kcm->bocm", windows, taps_kernel)
    return _out(anp.reshape(y, (batch, cells, channels * shape(kernel)[-1])), x, patches)


def conv_transpose(
    x: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    dilation_rate: Any = 1,
) -> Any:
    """N-d transposed convolution, kernel (*kernel_size, out, in) as Keras Conv*DTranspose;
    the output spatial size is Keras's ``deconv_output_length`` per axis."""
    x, kernel = float_tensor(x), float_tensor(kernel)
    rank = check_transpose_kernel(shape(x), shape(kernel))
    size = shape(kernel)[:rank]
    strides, dilation, pads = conv_transpose_args(size, strides, padding, output_padding,
                                                  dilation_rate)
    patches = patch_indices(shape(x)[1:-1], size, (1,) * rank, dilation, pads, strides)
    # the forward kernel of the equivalent convolution: flipped in space, (in, out) swapped
    flipped = kernel[(slice(None, None, -1),) * rank]
    forward = anp.swapaxes(flipped, rank, rank + 1)
    return _matmul_windows(_windows(x, patches, 0.0), forward, x, patches)


def _pool_patches(
    x: Any, pool_size: Any, strides: Any, padding: Any, op: str
) -> tuple[Any, Patches]:
    x = float_tensor(x)
    rank = spatial_rank(shape(x), op)
    size, strides, padding = pool_args(rank, pool_size, strides, padding)
    ones = (1,) * rank
    pads = conv_padding(shape(x)[1:-1], size, strides, padding, ones)
    patches = patch_indices(shape(x)[1:-1], size, strides, ones, pads)
    return x, patches


def max_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> Any:
    """N-d max pooling (padding counts as -inf); the gradient goes to the first maximum of
    each window, as TensorFlow and PyTorch route it."""
    x, patches = _pool_patches(x, pool_size, strides, padding, "max_pool")
    windows = _windows(stop_gradient(x), patches, -np.inf)
    batch, cells, _, channels = shape(windows)
    # np.argmax picks the first maximum (and the first NaN, so NaN propagates)
    first = np.argmax(windows, axis=2)
    source = patches.indices[np.arange(cells)[None, :, None], first]
    flat = _flat(x, patches, -np.inf)
    picked = flat[np.arange(batch)[:, None, None], source, np.arange(channels)[None, None, :]]
    return _out(picked, x, patches)


def avg_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> Any:
    """N-d average pooling; with 'same' padding each window averages its real cells only."""
    x, patches = _pool_patches(x, pool_size, strides, padding, "avg_pool")
    total = anp.sum(_windows(x, patches, 0.0), axis=2)
    counts = patches.counts.astype(value_dtype(x))[None, :, None]
    return _out(total / counts, x, patches)
