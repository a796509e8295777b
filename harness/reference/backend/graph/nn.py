"""Graph backends, nn: activations, convolutions and pooling (channels_last, 1-3 spatial dims).

Sigmoid, softplus, softmax, log-softmax and erf are the framework's own ops. Convolutions and
pooling gather every window with cached index arrays (``common.patches``, an exact im2col)
and reduce it with a matmul, a max or a sum, which the framework differentiates: PyTensor 3
has no convolution or pooling op left (only 1-d/2-d signal convolutions without channels),
and Theano's ``conv2d`` has no Python implementation that runs on current SciPy (its
``AbstractConv.perform`` imports private ``scipy.signal`` names that moved), so in the
default FAST_COMPILE mode only the C ``CorrMM`` could run it. Max pooling routes the gradient
to the first maximum of each window.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

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
from harness.reference.backend.graph.math import MathOps

NN_OPS = (
    "relu", "sigmoid", "softplus", "softsign", "elu", "selu", "silu", "hard_sigmoid", "gelu",
    "softmax", "log_softmax", "conv", "depthwise_conv", "conv_transpose", "max_pool",
    "avg_pool",
)

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT_2 = math.sqrt(2.0)


class NNOps(MathOps):
    """Activations, convolutions and pooling."""

    # --- activations ---------------------------------------------------------------------
    def relu(self, x: Any) -> Any:
        """max(x, 0); NaN propagates; gradient 0 at 0 (a switch, not the framework's relu,
        whose gradient at 0 is 0.5 in Theano)."""
        x = self.float_tensor(x)
        return self.select(self.less_equal(x, 0.0), self.zeros((), x.dtype), x)

    def sigmoid(self, x: Any) -> Any:
        """1 / (1 + exp(-x)) (the framework's sigmoid)."""
        return self.unary_float(self.fw.sigmoid, x)

    def softplus(self, x: Any) -> Any:
        """log(1 + exp(x)) (the framework's softplus)."""
        return self.unary_float(self.fw.softplus, x)

    def softsign(self, x: Any) -> Any:
        """x / (1 + |x|)."""
        x = self.float_tensor(x)
        return self.divide(x, self.add(self.abs(x), 1.0))

    def elu(self, x: Any, alpha: float = 1.0) -> Any:
        """x for x > 0, alpha * (exp(x) - 1) otherwise."""
        x = self.float_tensor(x)
        positive = self.greater(x, 0.0)
        zero = self.zeros((), x.dtype)
        # expm1 only sees the non-positive part: no overflow, no inf * 0 in the gradient
        inner = self.unary_float(self.T.expm1, self.select(positive, zero, x))
        return self.select(positive, x, self.multiply(inner, float(alpha)))

    def selu(self, x: Any) -> Any:
        """scale * elu(x, alpha) with Keras's constants."""
        return self.multiply(self.elu(x, SELU_ALPHA), SELU_SCALE)

    def silu(self, x: Any) -> Any:
        """x * sigmoid(x)."""
        x = self.float_tensor(x)
        return self.multiply(x, self.sigmoid(x))

    def hard_sigmoid(self, x: Any) -> Any:
        """clip(x / 6 + 0.5, 0, 1) (= relu6(x + 3) / 6; gradient 0 at the kinks)."""
        y = self.add(self.divide(self.float_tensor(x), 6.0), 0.5)
        zero, one = self.zeros((), y.dtype), self.ones((), y.dtype)
        return self.select(self.less_equal(y, 0.0), zero,
                           self.select(self.greater_equal(y, 1.0), one, y))

    def gelu(self, x: Any, approximate: bool = False) -> Any:
        """Gaussian error linear unit: the erf form, or the tanh form when ``approximate``."""
        x = self.float_tensor(x)
        if approximate:
            cube = self.multiply(self.multiply(self.multiply(x, x), x), 0.044715)
            inner = self.tanh(self.multiply(self.add(x, cube), _SQRT_2_OVER_PI))
        else:
            inner = self.erf(self.divide(x, _SQRT_2))
        return self.multiply(self.multiply(x, 0.5), self.add(inner, 1.0))

    def softmax(self, x: Any, axis: int = -1) -> Any:
        """exp(x) / sum(exp(x)) along ``axis`` (the framework's softmax)."""
        x = self.float_tensor(x)
        axis = self.axis(x, axis)
        return self.cast(self.out(self.fw.softmax(x, axis), self.shape(x)), x.dtype)

    def log_softmax(self, x: Any, axis: int = -1) -> Any:
        """x - logsumexp(x) along ``axis`` (the framework's log-softmax)."""
        x = self.float_tensor(x)
        axis = self.axis(x, axis)
        return self.cast(self.out(self.fw.log_softmax(x, axis), self.shape(x)), x.dtype)

    # --- windows -------------------------------------------------------------------------
    def _flat(self, x: Any, patches: Patches, fill: float) -> Any:
        """x as (batch, cells + 1, channels); the extra cell (index ``sentinel``) is ``fill``."""
        batch, channels = self.shape(x)[0], self.shape(x)[-1]
        flat = self.reshape(x, (batch, patches.sentinel, channels))
        filler = self.fw.constant(np.full((batch, 1, channels), fill, dtype=x.dtype))
        return self.concatenate([flat, filler], axis=1)

    def _windows(self, x: Any, patches: Patches, fill: float) -> Any:
        """(batch, out cells, taps, channels): every window of ``x``, ``fill`` in padding."""
        return self.take(self._flat(x, patches, fill), patches.indices, axis=1)

    def _unflat(self, y: Any, x: Any, patches: Patches) -> Any:
        """``y`` (batch, out cells, channels) as (batch, *out_shape, channels)."""
        return self.reshape(y, (self.shape(x)[0],) + patches.out_shape + (self.shape(y)[-1],))

    def _conv_windows(self, x: Any, kernel: Any, strides: Any, padding: Any,
                      dilation_rate: Any, op: str) -> tuple[Any, Any, Any, Patches]:
        """Checked ``(x, kernel, windows, patches)`` of a convolution: x and kernel in one
        float dtype, the kernel (*kernel_size, in, out), every window of x gathered."""
        x, kernel = self.common([self.float_tensor(x), self.float_tensor(kernel)])
        rank = check_conv_kernel(self.shape(x), self.shape(kernel), op)
        size = self.shape(kernel)[:rank]
        strides, padding, dilation = conv_args(rank, strides, padding, dilation_rate)
        pads = conv_padding(self.shape(x)[1:-1], size, strides, padding, dilation)
        patches = patch_indices(self.shape(x)[1:-1], size, strides, dilation, pads)
        return x, kernel, self._windows(x, patches, 0.0), patches

    def conv(self, x: Any, kernel: Any, strides: Any = 1, padding: str = "valid",
             dilation_rate: Any = 1) -> Any:
        """N-d convolution (cross-correlation): x (batch, *spatial, in), kernel
        (*kernel_size, in, out); returns (batch, *out_spatial, out)."""
        x, kernel, windows, patches = self._conv_windows(x, kernel, strides, padding,
                                                         dilation_rate, "conv")
        return self._matmul_windows(windows, kernel, x, patches)

    def _matmul_windows(self, windows: Any, kernel: Any, x: Any, patches: Patches) -> Any:
        """Windows (b, o, k, c) times kernel (*k, c, out), summed over taps and channels."""
        batch, cells, taps, channels = self.shape(windows)
        cols = self.reshape(windows, (batch, cells, taps * channels))
        y = self.matmul(cols, self.reshape(kernel, (taps * channels, self.shape(kernel)[-1])))
        return self._unflat(y, x, patches)

    def depthwise_conv(self, x: Any, kernel: Any, strides: Any = 1, padding: str = "valid",
                       dilation_rate: Any = 1) -> Any:
        """Depthwise N-d convolution: kernel (*kernel_size, in, multiplier); output channel
        ``c * multiplier + m`` is input channel c convolved with kernel[..., c, m]."""
        x, kernel, windows, patches = self._conv_windows(x, kernel, strides, padding,
                                                         dilation_rate, "depthwise_conv")
        batch, cells, taps, channels = self.shape(windows)
        multiplier = self.shape(kernel)[-1]
        taps_kernel = self.reshape(kernel, (taps, channels, multiplier))
        y = self.einsum("bokc,kcm->bocm", windows, taps_kernel)
        return self._unflat(self.reshape(y, (batch, cells, channels * multiplier)), x, patches)

    def conv_transpose(self, x: Any, kernel: Any, strides: Any = 1, padding: str = "valid",
                       output_padding: Any = None, dilation_rate: Any = 1) -> Any:
        """N-d transposed convolution, kernel (*kernel_size, out, in) as Keras
        Conv*DTranspose; output spatial size is Keras's ``deconv_output_length``."""
        x, kernel = self.common([self.float_tensor(x), self.float_tensor(kernel)])
        rank = check_transpose_kernel(self.shape(x), self.shape(kernel))
        size = self.shape(kernel)[:rank]
        strides, dilation, pads = conv_transpose_args(size, strides, padding, output_padding,
                                                      dilation_rate)
        patches = patch_indices(self.shape(x)[1:-1], size, (1,) * rank, dilation, pads, strides)
        # the kernel of the equivalent convolution: flipped in space, (in, out) swapped
        flipped = self.flip(kernel, tuple(range(rank)))
        forward = self.transpose(flipped, (*range(rank), rank + 1, rank))
        return self._matmul_windows(self._windows(x, patches, 0.0), forward, x, patches)

    def _pool_patches(self, x: Any, pool_size: Any, strides: Any, padding: Any, op: str
                      ) -> tuple[Any, Patches]:
        x = self.float_tensor(x)
        rank = spatial_rank(self.shape(x), op)
        size, strides, padding = pool_args(rank, pool_size, strides, padding)
        ones = (1,) * rank
        pads = conv_padding(self.shape(x)[1:-1], size, strides, padding, ones)
        return x, patch_indices(self.shape(x)[1:-1], size, strides, ones, pads)

    def max_pool(self, x: Any, pool_size: Any, strides: Any = None,
                 padding: str = "valid") -> Any:
        """N-d max pooling (padding counts as -inf); the gradient goes to the first maximum
        of each window (a NaN counts as the maximum, so NaN propagates)."""
        x, patches = self._pool_patches(x, pool_size, strides, padding, "max_pool")
        first = self.argmax(self._windows(self.stop_gradient(x), patches, -np.inf), axis=2)
        batch, cells, channels = self.shape(first)
        taps = patches.indices.shape[1]
        # flat positions, in the (batch, cells + 1, channels) input, of each window's winner
        cell = self.fw.constant(np.arange(cells, dtype=np.int64)[None, :, None] * taps)
        source = self.take(patches.indices.reshape(-1), self.add(first, cell))
        rows = self.fw.constant(
            np.arange(batch, dtype=np.int64)[:, None, None] * (patches.sentinel + 1))
        cols = self.fw.constant(np.arange(channels, dtype=np.int64)[None, None, :])
        where = self.add(self.multiply(self.add(source, rows), channels), cols)
        flat = self.reshape(self._flat(x, patches, -np.inf), (-1,))
        return self._unflat(self.take(flat, where), x, patches)

    def avg_pool(self, x: Any, pool_size: Any, strides: Any = None,
                 padding: str = "valid") -> Any:
        """N-d average pooling; with 'same' padding each window averages its real cells only."""
        x, patches = self._pool_patches(x, pool_size, strides, padding, "avg_pool")
        total = self.sum(self._windows(x, patches, 0.0), axis=2)
        counts = self.fw.constant(patches.counts.astype(x.dtype)[None, :, None])
        return self._unflat(self.divide(total, counts), x, patches)

