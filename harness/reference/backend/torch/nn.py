"""PyTorch backend, nn: activations, convolutions and pooling (channels_last, 1-3 spatial dims).

torch's convolutions and pooling are channels_first: inputs are transposed in and outputs
back. TensorFlow's SAME padding, which may be asymmetric, is applied explicitly with
``F.pad`` (zeros for convolutions, -inf for max pooling); a transposed convolution crops or
extends torch's full output to Keras's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

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
from harness.reference.backend.torch.core import float_tensor, promote, shape

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


# --- activations ----------------------------------------------------------------------


def relu(x: Any) -> torch.Tensor:
    """max(x, 0); NaN propagates; gradient 0 at 0."""
    return torch.relu(float_tensor(x))


def sigmoid(x: Any) -> torch.Tensor:
    """1 / (1 + exp(-x))."""
    return torch.sigmoid(float_tensor(x))


def softplus(x: Any) -> torch.Tensor:
    """log(1 + exp(x)) (F.softplus, linear past its threshold of 20)."""
    return F.softplus(float_tensor(x))


def softsign(x: Any) -> torch.Tensor:
    """x / (1 + |x|)."""
    return F.softsign(float_tensor(x))


def elu(x: Any, alpha: float = 1.0) -> torch.Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return F.elu(float_tensor(x), alpha=float(alpha))


def selu(x: Any) -> torch.Tensor:
    """scale * elu(x, alpha) with Keras's constants."""
    return F.selu(float_tensor(x))  # torch's own, with the full-precision constants


def silu(x: Any) -> torch.Tensor:
    """x * sigmoid(x)."""
    return F.silu(float_tensor(x))


def hard_sigmoid(x: Any) -> torch.Tensor:
    """relu6(x + 3) / 6 (gradient 0 at the kinks); not F.hardsigmoid, whose gradient uses a
    float32 1/6 even in float64."""
    return F.relu6(float_tensor(x) + 3.0) / 6.0


def gelu(x: Any, approximate: bool = False) -> torch.Tensor:
    """Gaussian error linear unit: the erf form, or the tanh form when ``approximate``."""
    return F.gelu(float_tensor(x), approximate="tanh" if approximate else "none")


def softmax(x: Any, axis: int = -1) -> torch.Tensor:
    """exp(x) / sum(exp(x)) along ``axis``."""
    return torch.softmax(float_tensor(x), dim=axis)


def log_softmax(x: Any, axis: int = -1) -> torch.Tensor:
    """x - logsumexp(x) along ``axis``."""
    return F.log_softmax(float_tensor(x), dim=axis)


# --- layout and padding ---------------------------------------------------------------


def _first(x: torch.Tensor) -> torch.Tensor:
    """(batch, *spatial, channels) -> (batch, channels, *spatial)."""
    return x.permute(0, x.dim() - 1, *range(1, x.dim() - 1))


def _last(y: torch.Tensor) -> torch.Tensor:
    """(batch, channels, *spatial) -> (batch, *spatial, channels)."""
    return y.permute(0, *range(2, y.dim()), 1)


def _pad_spatial(x: torch.Tensor, pads: Sequence[tuple[int, int]], value: float) -> torch.Tensor:
    """Channels_first ``x`` padded (or cropped, for negative amounts) on its spatial axes."""
    if all(p == (0, 0) for p in pads):
        return x
    flat = [n for before_after in reversed(pads) for n in before_after]
    return F.pad(x, flat, mode="constant", value=value)


def _check_fits(
    spatial: Sequence[int],
    size: Sequence[int],
    strides: Sequence[int],
    padding: str,
    dilation: Sequence[int],
    op: str,
) -> None:
    """ValueError when a 'valid' window is larger than the input (torch would raise its own)."""
    for n, k, s, d in zip(spatial, size, strides, dilation, strict=True):
        if conv_output_length(n, k, s, padding, d) <= 0:
            raise ValueError(
                f"{op} window {tuple(size)} (dilation {tuple(dilation)}) does not fit input "
                f"{tuple(spatial)} with {padding!r} padding"
            )


# --- convolutions ---------------------------------------------------------------------


def _conv_args(
    x: Any, kernel: Any, strides: Any, padding: Any, dilation_rate: Any, op: str
) -> tuple[torch.Tensor, torch.Tensor, int, tuple[int, ...], tuple[int, ...]]:
    """Checked ``(x, kernel, rank, strides, dilation)`` of a convolution, x padded for SAME
    and moved to channels_first."""
    x, kernel = promote(float_tensor(x), float_tensor(kernel))
    rank = check_conv_kernel(shape(x), shape(kernel), op)
    size = shape(kernel)[:rank]
    strides, padding, dilation = conv_args(rank, strides, padding, dilation_rate)
    spatial = shape(x)[1:-1]
    _check_fits(spatial, size, strides, padding, dilation, op)
    pads = conv_padding(spatial, size, strides, padding, dilation)
    return _pad_spatial(_first(x), pads, 0.0), kernel, rank, strides, dilation


def conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> torch.Tensor:
    """N-d convolution (cross-correlation): x (batch, *spatial, in), kernel
    (*kernel_size, in, out); returns (batch, *out_spatial, out)."""
    xf, kernel, rank, strides, dilation = _conv_args(
        x, kernel, strides, padding, dilation_rate, "conv"
    )
    # torch's weight is (out, in, *kernel_size)
    weight = kernel.permute(rank + 1, rank, *range(rank))
    return _last(_CONV[rank](xf, weight, stride=strides, dilation=dilation))


def depthwise_conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> torch.Tensor:
    """Depthwise N-d convolution: kernel (*kernel_size, in, multiplier); output channel
    ``c * multiplier + m`` is input channel c convolved with kernel[..., c, m]."""
    xf, kernel, rank, strides, dilation = _conv_args(
        x, kernel, strides, padding, dilation_rate, "depthwise_conv"
    )
    channels, multiplier = kernel.shape[rank], kernel.shape[rank + 1]
    # a grouped convolution: group c makes output channels c*multiplier .. c*multiplier + m
    flat = kernel.reshape(*kernel.shape[:rank], channels * multiplier)
    weight = flat.permute(rank, *range(rank)).unsqueeze(1)
    out = _CONV[rank](xf, weight, stride=strides, dilation=dilation, groups=channels)
    return _last(out)


def conv_transpose(
    x: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    dilation_rate: Any = 1,
) -> torch.Tensor:
    """N-d transposed convolution, kernel (*kernel_size, out, in) as Keras Conv*DTranspose;
    the output spatial size is Keras's ``deconv_output_length`` per axis."""
    x, kernel = promote(float_tensor(x), float_tensor(kernel))
    rank = check_transpose_kernel(shape(x), shape(kernel))
    size = shape(kernel)[:rank]
    strides, dilation, pads = conv_transpose_args(size, strides, padding, output_padding,
                                                  dilation_rate)
    # torch's full output is the dilated input padded by extent - 1 on both sides; Keras's
    # pads by (before, after): crop the difference (or extend with zeros where negative)
    crops = []
    for k, d, (before, after) in zip(size, dilation, pads, strict=True):
        full = dilated_size(k, d) - 1
        crops.append((full - before, full - after))
    common = tuple(max(min(c), 0) for c in crops)
    # torch's weight is (in, out, *kernel_size)
    weight = kernel.permute(rank + 1, rank, *range(rank))
    y = _CONV_T[rank](_first(x), weight, stride=strides, padding=common, dilation=dilation)
    rest = [(-(b - c), -(a - c)) for (b, a), c in zip(crops, common, strict=True)]
    return _last(_pad_spatial(y, rest, 0.0))


# --- pooling --------------------------------------------------------------------------


def _pool_args(
    x: Any, pool_size: Any, strides: Any, padding: Any, op: str
) -> tuple[torch.Tensor, int, tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Checked ``(x, rank, size, strides, pads)`` of a pooling op, x channels_first."""
    x = float_tensor(x)
    rank = spatial_rank(shape(x), op)
    size, strides, padding = pool_args(rank, pool_size, strides, padding)
    ones = (1,) * rank
    spatial = shape(x)[1:-1]
    _check_fits(spatial, size, strides, padding, ones, op)
    return _first(x), rank, size, strides, conv_padding(spatial, size, strides, padding, ones)


def max_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> torch.Tensor:
    """N-d max pooling (SAME padding counts as -inf); torch routes the gradient to the first
    maximum of each window."""
    xf, rank, size, strides, pads = _pool_args(x, pool_size, strides, padding, "max_pool")
    xf = _pad_spatial(xf, pads, -math.inf)
    return _last(_MAX_POOL[rank](xf, kernel_size=size, stride=strides))


def avg_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> torch.Tensor:
    """N-d average pooling; with 'same' padding each window averages its real cells only."""
    xf, rank, size, strides, pads = _pool_args(x, pool_size, strides, padding, "avg_pool")
    dtype = xf.dtype
    if rank == 3 and xf.device.type == "cpu" and dtype in (torch.float16, torch.bfloat16):
        # torch has no half-precision avg_pool3d on the CPU: average in float32, round once
        xf = xf.to(torch.float32)
    # zero padding adds nothing to a window's sum; rescale each mean to its real cell count
    mean = _AVG_POOL[rank](_pad_spatial(xf, pads, 0.0), kernel_size=size, stride=strides)
    if any(p != (0, 0) for p in pads):
        scale = _window_scale(shape(x)[1:-1], size, strides, pads)
        mean = mean * torch.as_tensor(scale, dtype=mean.dtype, device=mean.device)
    return _last(mean.to(dtype))


def _window_scale(
    spatial: Sequence[int],
    size: Sequence[int],
    strides: Sequence[int],
    pads: Sequence[tuple[int, int]],
) -> np.ndarray:
    """(*out_spatial) array of window size / real cells in the window, for SAME pooling."""
    scale = np.ones((), dtype=np.float64)
    for n, k, s, (before, after) in zip(spatial, size, strides, pads, strict=True):
        starts = np.arange((n + before + after - k) // s + 1) * s - before
        real = np.minimum(starts + k, n) - np.maximum(starts, 0)
        scale = np.multiply.outer(scale, k / real)
    return scale
