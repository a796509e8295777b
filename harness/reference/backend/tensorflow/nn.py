"""TensorFlow backend, nn: activations, convolutions and pooling (channels_last, 1-3 spatial dims).

Everything runs on TensorFlow's native kernels (``tf.nn.*``). Where a kernel refuses a
combination, the op is rewritten exactly in terms of native kernels:

* strides > 1 together with dilation > 1 (refused by ``tf.nn.convolution`` and
  ``tf.nn.depthwise_conv2d``; the latter also refuses unequal strides): explicit TensorFlow
  SAME padding, a stride-1 dilated VALID convolution, then every ``stride``-th output (the
  same sums, so the same values and gradients);
* depthwise convolution in 1-d runs ``depthwise_conv2d`` on a height-1 image, in 3-d one
  ``tf.nn.convolution`` per input channel (TensorFlow has no depthwise 3-d kernel);
* transposed convolution: ``tf.nn.conv_transpose`` with VALID padding gives the full output,
  cropped (or zero-extended) to Keras's output size; with dilation > 1 (no CPU kernel) it is
  the stride-1 dilated convolution of the stride-dilated input with the flipped kernel;
* 3-d pooling in float16 / float64 (no CPU kernel): a 2-d pool over (height, width) then a
  1-d pool over depth, which is the same max (first maximum kept) or the same mean.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from harness.reference.backend.common.conv_utils import (
    check_conv_kernel,
    check_transpose_kernel,
    conv_args,
    conv_output_length,
    conv_padding,
    conv_transpose_args,
    dilated_size,
    pool_args,
    spatial_rank,
)
from harness.reference.backend.tensorflow.core import float_tensor, shape
from harness.reference.backend.tensorflow.devices import placed

# --- activations ----------------------------------------------------------------------


@placed
def relu(x: Any) -> Any:
    """max(x, 0); NaN propagates; gradient 0 at 0."""
    return tf.nn.relu(float_tensor(x))


@placed
def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x))."""
    return tf.nn.sigmoid(float_tensor(x))


@placed
def softplus(x: Any) -> Any:
    """log(1 + exp(x))."""
    return tf.nn.softplus(float_tensor(x))


@placed
def softsign(x: Any) -> Any:
    """x / (1 + |x|)."""
    return tf.nn.softsign(float_tensor(x))


@placed
def elu(x: Any, alpha: float = 1.0) -> Any:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    x = float_tensor(x)
    y = tf.nn.elu(x)
    if alpha == 1.0:
        return y
    return tf.where(x > 0, y, tf.cast(alpha, x.dtype) * y)


@placed
def selu(x: Any) -> Any:
    """scale * elu(x, alpha) with Klambauer et al.'s constants (tf.nn.selu)."""
    return tf.nn.selu(float_tensor(x))


@placed
def silu(x: Any) -> Any:
    """x * sigmoid(x)."""
    return tf.nn.silu(float_tensor(x))


@placed
def hard_sigmoid(x: Any) -> Any:
    """relu6(x + 3) / 6 (gradient 0 at the kinks)."""
    x = float_tensor(x)
    return tf.nn.relu6(x + tf.cast(3.0, x.dtype)) / tf.cast(6.0, x.dtype)


@placed
def gelu(x: Any, approximate: bool = False) -> Any:
    """Gaussian error linear unit: the erf form, or the tanh form when ``approximate``."""
    return tf.nn.gelu(float_tensor(x), approximate=bool(approximate))


@placed
def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``axis``."""
    return tf.nn.softmax(float_tensor(x), axis=axis)


@placed
def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x) along ``axis``."""
    return tf.nn.log_softmax(float_tensor(x), axis=axis)


# --- convolutions ---------------------------------------------------------------------

# channels_last by rank; passed explicitly because the eager gradients of the 3-d kernels
# read the attribute and fail when it was left to its default
_DATA_FORMAT = {1: "NWC", 2: "NHWC", 3: "NDHWC"}


def _conv_args(
    x: Any, kernel: Any, strides: Any, padding: Any, dilation_rate: Any, op: str
) -> tuple[Any, Any, int, tuple[int, ...], str, tuple[int, ...]]:
    """Validated (x, kernel, rank, strides, padding, dilation) of a convolution."""
    x, kernel = float_tensor(x), float_tensor(kernel)
    if kernel.dtype != x.dtype:
        kernel = tf.cast(kernel, x.dtype)
    rank = check_conv_kernel(shape(x), shape(kernel), op)
    strides, padding, dilation = conv_args(rank, strides, padding, dilation_rate)
    return x, kernel, rank, strides, padding, dilation


def _strided_dilated(
    run: Any, x: Any, kernel_size: tuple[int, ...], strides: tuple[int, ...], padding: str,
    dilation: tuple[int, ...], equal_strides: bool = False,
) -> Any:
    """``run(x, padding, strides, dilation)``, or for strides and dilation both > 1 (and
    unequal strides when the kernel needs ``equal_strides``), which TensorFlow refuses: pad
    as SAME would, run stride 1 VALID, keep every stride-th output."""
    refused = any(s > 1 for s in strides) and any(d > 1 for d in dilation)
    if not refused and not (equal_strides and len(set(strides)) > 1):
        return run(x, padding.upper(), strides, dilation)
    pads = conv_padding(shape(x)[1:-1], kernel_size, strides, padding, dilation)
    x = tf.pad(x, [[0, 0], *[list(p) for p in pads], [0, 0]])
    y = run(x, "VALID", (1,) * len(strides), dilation)
    return y[(slice(None), *(slice(None, None, s) for s in strides), slice(None))]


def _empty_batch(
    x: Any, kernel_size: tuple[int, ...], strides: tuple[int, ...], padding: str,
    dilation: tuple[int, ...], channels: int,
) -> Any:
    """The (empty) output of a convolution of an empty batch, or None for a non-empty one.

    TensorFlow's Conv2D, Conv3D and DepthwiseConv2dNative CPU kernels return their input
    unchanged for an empty batch, whatever the output shape should be.
    """
    if shape(x)[0] != 0:
        return None
    spatial = tuple(
        conv_output_length(n, k, s, padding, d)
        for n, k, s, d in zip(shape(x)[1:-1], kernel_size, strides, dilation, strict=True)
    )
    return tf.zeros((0, *spatial, channels), x.dtype)


@placed
def conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> Any:
    """N-d convolution (cross-correlation): x (batch, *spatial, in), kernel
    (*kernel_size, in, out); returns (batch, *out_spatial, out). tf.nn.convolution."""
    x, kernel, rank, strides, padding, dilation = _conv_args(
        x, kernel, strides, padding, dilation_rate, "conv"
    )

    empty = _empty_batch(x, shape(kernel)[:rank], strides, padding, dilation, shape(kernel)[-1])
    if empty is not None:
        return empty

    def run(inputs: Any, pad: str, s: tuple[int, ...], d: tuple[int, ...]) -> Any:
        return tf.nn.convolution(inputs, kernel, strides=s, padding=pad, dilations=d,
                                 data_format=_DATA_FORMAT[rank])

    return _strided_dilated(run, x, shape(kernel)[:rank], strides, padding, dilation)


@placed
def depthwise_conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> Any:
    """Depthwise N-d convolution: kernel (*kernel_size, in, multiplier); output channel
    ``c * multiplier + m`` is input channel c convolved with kernel[..., c, m]."""
    x, kernel, rank, strides, padding, dilation = _conv_args(
        x, kernel, strides, padding, dilation_rate, "depthwise_conv"
    )
    channels = shape(kernel)[-2] * shape(kernel)[-1]
    empty = _empty_batch(x, shape(kernel)[:rank], strides, padding, dilation, channels)
    if empty is not None:
        return empty
    if rank == 1:
        # a height-1 image: the 2-d kernel sees the same taps
        x2, k2 = x[:, None], kernel[None]
        y = depthwise_conv(x2, k2, (1, *strides), padding, (1, *dilation))
        return y[:, 0]

    def run(inputs: Any, pad: str, s: tuple[int, ...], d: tuple[int, ...]) -> Any:
        if rank == 2:
            return tf.nn.depthwise_conv2d(
                inputs, kernel, strides=(1, *s, 1), padding=pad, dilations=d
            )
        # 3-d: one convolution per input channel, outputs in channel-major order
        return tf.concat(
            [
                tf.nn.convolution(inputs[..., c : c + 1], kernel[..., c : c + 1, :],
                                  strides=s, padding=pad, dilations=d, data_format="NDHWC")
                for c in range(shape(inputs)[-1])
            ],
            axis=-1,
        )

    return _strided_dilated(
        run, x, shape(kernel)[:rank], strides, padding, dilation, equal_strides=rank == 2
    )


def _trim(y: Any, axis: int, before: int, after: int) -> Any:
    """``y`` with ``before``/``after`` cells cut from ``axis`` (zeros added where negative)."""
    n = shape(y)[axis]
    index = [slice(None)] * len(shape(y))
    index[axis] = slice(max(before, 0), n - max(after, 0))
    y = y[tuple(index)]
    if before < 0 or after < 0:
        widths = [[0, 0] for _ in shape(y)]
        widths[axis] = [max(-before, 0), max(-after, 0)]
        y = tf.pad(y, widths)
    return y


def _dilate_input(x: Any, strides: tuple[int, ...]) -> Any:
    """``x`` with ``stride - 1`` zeros between neighbouring cells of each spatial axis."""
    for axis, s in enumerate(strides, start=1):
        if s == 1:
            continue
        n = shape(x)[axis]
        widths = [[0, 0] for _ in range(len(shape(x)) + 1)]
        widths[axis + 1] = [0, s - 1]
        x = tf.pad(tf.expand_dims(x, axis + 1), widths)
        x = tf.reshape(x, shape(x)[:axis] + (n * s,) + shape(x)[axis + 2 :])
        x = _trim(x, axis, 0, s - 1)
    return x


@placed
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
    if kernel.dtype != x.dtype:
        kernel = tf.cast(kernel, x.dtype)
    rank = check_transpose_kernel(shape(x), shape(kernel))
    size = shape(kernel)[:rank]
    strides, dilation, pads = conv_transpose_args(size, strides, padding, output_padding,
                                                  dilation_rate)
    if all(d == 1 for d in dilation):
        return _conv_transpose_native(x, kernel, size, strides, pads)
    # no CPU kernel for dilated transposed convolutions: the equivalent forward convolution
    flipped = tf.reverse(kernel, list(range(rank)))
    forward = tf.transpose(flipped, [*range(rank), rank + 1, rank])
    y = tf.pad(_dilate_input(x, strides), [[0, 0], *[list(p) for p in pads], [0, 0]])
    return tf.nn.convolution(y, forward, padding="VALID", dilations=dilation,
                             data_format=_DATA_FORMAT[rank])


def _conv_transpose_native(
    x: Any, kernel: Any, size: tuple[int, ...], strides: tuple[int, ...],
    pads: tuple[tuple[int, int], ...],
) -> Any:
    """tf.nn.conv_transpose's full (VALID) output trimmed to the padding ``pads`` describes."""
    full = tuple((n - 1) * s + k for n, s, k in zip(shape(x)[1:-1], strides, size, strict=True))
    out_shape = (shape(x)[0], *full, shape(kernel)[-2])
    y = tf.nn.conv_transpose(x, kernel, out_shape, strides=strides, padding="VALID",
                             data_format=_DATA_FORMAT[len(size)])
    # the full output is what padding (k - 1, k - 1) of the dilated input would give
    for axis, (k, (before, after)) in enumerate(zip(size, pads, strict=True), start=1):
        y = _trim(y, axis, dilated_size(k) - 1 - before, dilated_size(k) - 1 - after)
    return y


# --- pooling --------------------------------------------------------------------------

# dtypes with CPU kernels for MaxPool3D and AvgPool3D
_POOL3D_DTYPES = (tf.float32, tf.bfloat16)


def _pool_args(
    x: Any, pool_size: Any, strides: Any, padding: Any, op: str
) -> tuple[Any, int, tuple[int, ...], tuple[int, ...], str]:
    x = float_tensor(x)
    rank = spatial_rank(shape(x), op)
    size, strides, padding = pool_args(rank, pool_size, strides, padding)
    return x, rank, size, strides, padding.upper()


def _pool(pool: Any, x: Any, rank: int, size: Any, strides: Any, padding: str) -> Any:
    """``pool`` (tf.nn.max_pool or avg_pool) over x; 3-d pools of dtypes TensorFlow has no
    3-d kernel for go (height, width) first, then depth (the same windows, separably)."""
    if rank < 3 or x.dtype in _POOL3D_DTYPES:
        return pool(x, size, strides, padding, data_format=_DATA_FORMAT[rank])
    b, d, h, w, c = shape(x)
    y = pool(tf.reshape(x, (b * d, h, w, c)), size[1:], strides[1:], padding, data_format="NHWC")
    h2, w2 = shape(y)[1:3]
    y = pool(tf.reshape(y, (b, d, h2 * w2 * c)), size[:1], strides[:1], padding,
             data_format="NWC")
    return tf.reshape(y, (b, shape(y)[1], h2, w2, c))


@placed
def max_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> Any:
    """N-d max pooling (tf.nn.max_pool; padding counts as -inf); the gradient goes to the
    first maximum of each window."""
    x, rank, size, strides, padding = _pool_args(x, pool_size, strides, padding, "max_pool")
    return _pool(tf.nn.max_pool, x, rank, size, strides, padding)


@placed
def avg_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> Any:
    """N-d average pooling (tf.nn.avg_pool); with 'same' padding each window averages its
    real cells only."""
    x, rank, size, strides, padding = _pool_args(x, pool_size, strides, padding, "avg_pool")
    return _pool(tf.nn.avg_pool, x, rank, size, strides, padding)
