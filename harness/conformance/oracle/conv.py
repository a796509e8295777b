"""Convolutions as explicit loops over output positions (channels_last, float64).

Every output position ``o`` reads input ``o * stride + k * dilation`` (in the padded input)
for each kernel offset ``k``; only the channel contraction at one position is an einsum.
Transposed convolutions scatter instead: input ``i`` adds ``kernel[k] * x[i]`` at output
``i * stride + k * dilation - pad_before``. The spatial helpers here are shared with pooling.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from harness.conformance.oracle import register
from harness.conformance.oracle.activations import activation
from harness.errors import UsageError


def as_tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """An int or a length-``n`` sequence as an ``n``-tuple of ints."""
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise UsageError(f"{name} must have {n} values, got {list(value)}")
        return tuple(int(v) for v in value)
    return (int(value),) * n


def same_padding(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) for length n, kernel k, stride s, dilation d."""
    total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def paddings(
    padding: str,
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
) -> list[tuple[int, int]]:
    """(before, after) per spatial axis for Keras padding 'valid', 'same' or 'causal'."""
    padding = str(padding).lower()
    if padding == "valid":
        return [(0, 0)] * len(spatial)
    if padding == "same":
        return [
            same_padding(n, k, s, d)
            for n, k, s, d in zip(spatial, kernel, strides, dilations, strict=True)
        ]
    if padding == "causal":
        # causal: all the padding goes before, so output t sees inputs <= t only
        return [((k - 1) * d, 0) for k, d in zip(kernel, dilations, strict=True)]
    raise UsageError(f"unknown padding {padding!r} (expected valid, same or causal)")


def to_channels_last(config: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """``x`` with channels moved last when the config says channels_first."""
    fmt = config.get("data_format") or "channels_last"
    if fmt == "channels_first":
        return np.moveaxis(x, 1, -1)
    if fmt != "channels_last":
        raise UsageError(f"unknown data_format {fmt!r}")
    return x


def from_channels_last(config: dict[str, Any], y: np.ndarray) -> np.ndarray:
    """Undo ``to_channels_last`` on an output."""
    if (config.get("data_format") or "channels_last") == "channels_first":
        return np.moveaxis(y, -1, 1)
    return y


def _window(
    o: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
) -> tuple[list[int], ...]:
    # the input rows read by output o: o*s + k*d for every kernel offset k
    return tuple(
        [o[a] * strides[a] + k * dilations[a] for k in range(kernel[a])] for a in range(len(o))
    )


def _out_length(n_padded: int, k: int, s: int, d: int) -> int:
    return max((n_padded - ((k - 1) * d + 1)) // s + 1, 0)


def _spatial_args(config: dict[str, Any], rank: int, kernel_shape: tuple[int, ...]):
    kernel = tuple(kernel_shape[:rank])
    strides = as_tuple(config.get("strides", 1), rank, "strides")
    dilations = as_tuple(config.get("dilation_rate", 1), rank, "dilation_rate")
    return kernel, strides, dilations


def correlate(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    pads: list[tuple[int, int]],
    dilations: tuple[int, ...],
    groups: int = 1,
) -> np.ndarray:
    """Cross-correlation (Keras's "conv") of x (batch, *spatial, cin) with kernel
    (*k, cin // groups, filters); returns (batch, *out_spatial, filters)."""
    rank = x.ndim - 2
    ksize = kernel.shape[:rank]
    cin, filters = x.shape[-1], kernel.shape[-1]
    if cin % groups or filters % groups or kernel.shape[-2] * groups != cin:
        raise UsageError(
            f"kernel {kernel.shape} does not fit {cin} input channels in {groups} groups"
        )
    cpg, fpg = cin // groups, filters // groups
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)])
    out_sp = tuple(
        _out_length(xp.shape[1 + a], ksize[a], strides[a], dilations[a]) for a in range(rank)
    )
    out = np.zeros((x.shape[0],) + out_sp + (filters,))
    for o in np.ndindex(*out_sp):
        rows = _window(o, ksize, strides, dilations)
        patch = xp[(slice(None),) + np.ix_(*rows) + (slice(None),)]  # (batch, *k, cin)
        for g in range(groups):
            part = patch[..., g * cpg : (g + 1) * cpg]
            w = kernel[..., g * fpg : (g + 1) * fpg]
            # sum over kernel offsets and input channels of this group (both flattened alike)
            out[(slice(None),) + o + (slice(g * fpg, (g + 1) * fpg),)] = part.reshape(
                part.shape[0], -1
            ) @ w.reshape(-1, fpg)
    return out


def _finish(
    config: dict[str, Any], weights: list[np.ndarray], y: np.ndarray, bias_index: int
) -> np.ndarray:
    if config.get("use_bias", True):
        y = y + weights[bias_index]
    return from_channels_last(config, activation(config.get("activation"), y))


def _conv(rank: int):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        kernel_w = weights[0]
        ksize, strides, dilations = _spatial_args(config, rank, kernel_w.shape)
        pads = paddings(config.get("padding", "valid"), x.shape[1:-1], ksize, strides, dilations)
        y = correlate(x, kernel_w, strides, pads, dilations, int(config.get("groups", 1)))
        return _finish(config, weights, y, 1)

    fn.__doc__ = (
        f"Keras Conv{rank}D: activation(correlate(x, kernel) + bias); "
        "weights [kernel (*k, in/groups, filters), bias?]."
    )
    return fn


conv1d = register("Conv1D")(_conv(1))
conv2d = register("Conv2D")(_conv(2))
conv3d = register("Conv3D")(_conv(3))


def depthwise(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    pads: list[tuple[int, int]],
    dilations: tuple[int, ...],
) -> np.ndarray:
    """Depthwise correlation: kernel (*k, cin, mult); output channel c*mult + m sees channel c."""
    rank = x.ndim - 2
    ksize = kernel.shape[:rank]
    cin, mult = kernel.shape[-2], kernel.shape[-1]
    if cin != x.shape[-1]:
        raise UsageError(f"depthwise kernel {kernel.shape} does not fit {x.shape[-1]} channels")
    xp = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)])
    out_sp = tuple(
        _out_length(xp.shape[1 + a], ksize[a], strides[a], dilations[a]) for a in range(rank)
    )
    out = np.zeros((x.shape[0],) + out_sp + (cin * mult,))
    for o in np.ndindex(*out_sp):
        rows = _window(o, ksize, strides, dilations)
        patch = xp[(slice(None),) + np.ix_(*rows) + (slice(None),)]  # (batch, *k, cin)
        for c in range(cin):
            for m in range(mult):
                out[(slice(None),) + o + (c * mult + m,)] = patch[..., c].reshape(
                    patch.shape[0], -1
                ) @ kernel[..., c, m].reshape(-1)
    return out


def _depthwise(rank: int):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        ksize, strides, dilations = _spatial_args(config, rank, weights[0].shape)
        pads = paddings(config.get("padding", "valid"), x.shape[1:-1], ksize, strides, dilations)
        y = depthwise(x, weights[0], strides, pads, dilations)
        return _finish(config, weights, y, 1)

    fn.__doc__ = (
        f"Keras DepthwiseConv{rank}D; weights [kernel (*k, in, mult), "
        "bias (in*mult)?]; output channel c*mult + m."
    )
    return fn


depthwise_conv1d = register("DepthwiseConv1D")(_depthwise(1))
depthwise_conv2d = register("DepthwiseConv2D")(_depthwise(2))


def _separable(rank: int):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        ksize, strides, dilations = _spatial_args(config, rank, weights[0].shape)
        pads = paddings(config.get("padding", "valid"), x.shape[1:-1], ksize, strides, dilations)
        y = depthwise(x, weights[0], strides, pads, dilations)
        # the pointwise step is a 1x1 correlation: stride 1, no padding
        y = correlate(y, weights[1], (1,) * rank, [(0, 0)] * rank, (1,) * rank)
        return _finish(config, weights, y, 2)

    fn.__doc__ = (
        f"Keras SeparableConv{rank}D: depthwise, then pointwise 1x1, bias, activation; "
        "weights [depthwise_kernel, pointwise_kernel, bias?]."
    )
    return fn


separable_conv1d = register("SeparableConv1D")(_separable(1))
separable_conv2d = register("SeparableConv2D")(_separable(2))


def transpose_geometry(
    n: int, k: int, s: int, padding: str, output_padding: int | None, d: int = 1
) -> tuple[int, int]:
    """(output length, pad_before) of a Keras transposed convolution along one axis.

    Output length is Keras's deconv_output_length; pad_before is how far the full scatter
    (input i, kernel offset j lands at i*s + j*d) is shifted left, as Keras's backends do it.
    """
    keff = (k - 1) * d + 1
    padding = str(padding).lower()
    if padding == "valid":
        extra = max(keff, s) - keff if output_padding is None else output_padding
        return (n - 1) * s + keff + extra, 0
    if padding != "same":
        raise UsageError(f"unknown padding {padding!r} for a transposed convolution")
    if output_padding is None:
        length, pad_total = n * s, s + keff - 2
    else:
        length = (n - 1) * s + keff % 2 + output_padding
        pad_total = keff + keff % 2 - 2 + output_padding
    # the backends keep ceil(total/2) of the "full" border on the left, at most keff-1
    kept_left = min(pad_total // 2 + pad_total % 2, keff - 1)
    return length, keff - 1 - kept_left


def scatter_transpose(
    x: np.ndarray,
    kernel: np.ndarray,
    strides: tuple[int, ...],
    geometry: list[tuple[int, int]],
    dilations: tuple[int, ...],
) -> np.ndarray:
    """Transposed convolution of x (batch, *spatial, cin) with kernel (*k, filters, cin);
    ``geometry`` is (output length, pad_before) per axis; returns (batch, *out, filters)."""
    rank = x.ndim - 2
    ksize = kernel.shape[:rank]
    if kernel.shape[-1] != x.shape[-1]:
        raise UsageError(f"transposed kernel {kernel.shape} does not fit {x.shape[-1]} channels")
    lengths = tuple(g[0] for g in geometry)
    out = np.zeros((x.shape[0],) + lengths + (kernel.shape[-2],))
    for i in np.ndindex(*x.shape[1:-1]):
        for j in itertools.product(*(range(k) for k in ksize)):
            o = tuple(i[a] * strides[a] + j[a] * dilations[a] - geometry[a][1] for a in range(rank))
            if all(0 <= o[a] < lengths[a] for a in range(rank)):
                out[(slice(None),) + o] += np.einsum("bc,fc->bf", x[(slice(None),) + i], kernel[j])
    return out


def _transpose(rank: int):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        ksize, strides, dilations = _spatial_args(config, rank, weights[0].shape)
        op = config.get("output_padding")
        extra = [None] * rank if op is None else list(as_tuple(op, rank, "output_padding"))
        padding = config.get("padding", "valid")
        geometry = [
            transpose_geometry(
                x.shape[1 + a], ksize[a], strides[a], padding, extra[a], dilations[a]
            )
            for a in range(rank)
        ]
        y = scatter_transpose(x, weights[0], strides, geometry, dilations)
        return _finish(config, weights, y, 1)

    fn.__doc__ = (
        f"Keras Conv{rank}DTranspose as a scatter; weights [kernel (*k, filters, in), bias?]."
    )
    return fn


conv1d_transpose = register("Conv1DTranspose")(_transpose(1))
conv2d_transpose = register("Conv2DTranspose")(_transpose(2))
conv3d_transpose = register("Conv3DTranspose")(_transpose(3))
