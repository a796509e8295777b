"""Size and padding arithmetic of convolutions and pooling, shared by every backend.

Conventions are TensorFlow's and Keras 3's: ``"same"`` padding puts the extra cell after,
transposed convolutions have the output length of Keras's ``deconv_output_length``.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Sequence
from typing import Any

PADDINGS = ("valid", "same")


def normalize_tuple(value: Any, n: int, name: str) -> tuple[int, ...]:
    """Return ``value`` (an int or a sequence of ``n`` ints) as a tuple of ``n`` positive ints."""
    items = [value] * n if _is_int(value) else value
    if isinstance(items, str) or not isinstance(items, Sequence) or not all(map(_is_int, items)):
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    values = tuple(operator.index(v) for v in items)
    if len(values) == 1:
        values = values * n
    if len(values) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < 1 for v in values):
        raise ValueError(f"{name} must be positive, got {value!r}")
    return values


def _is_int(value: Any) -> bool:
    # numpy integers count, bools do not
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def normalize_padding(padding: Any) -> str:
    """Return ``padding`` lower-cased, checked to be ``"valid"`` or ``"same"``."""
    if not isinstance(padding, str) or padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def dilated_size(kernel: int, dilation: int = 1) -> int:
    """Extent of a kernel of ``kernel`` taps spread ``dilation`` cells apart."""
    return (kernel - 1) * dilation + 1


def conv_output_length(
    length: int, kernel: int, stride: int, padding: str, dilation: int = 1
) -> int:
    """Output length of a convolution or pooling along one axis (0 when the kernel does not fit)."""
    padding = normalize_padding(padding)
    if padding == "same":
        return -(-length // stride)
    return max((length - dilated_size(kernel, dilation)) // stride + 1, 0)


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding ``(before, after)`` along one axis; the odd cell goes after."""
    out = -(-length // stride)
    total = max((out - 1) * stride + dilated_size(kernel, dilation) - length, 0)
    return total // 2, total - total // 2


def conv_padding(
    spatial: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    padding: str,
    dilation: Sequence[int],
) -> tuple[tuple[int, int], ...]:
    """Explicit ``(before, after)`` padding per spatial axis of a convolution or pooling."""
    if normalize_padding(padding) == "valid":
        return tuple((0, 0) for _ in spatial)
    return tuple(
        same_padding(n, k, s, d)
        for n, k, s, d in zip(spatial, kernel, strides, dilation, strict=True)
    )


def deconv_output_length(
    length: int,
    kernel: int,
    padding: str,
    output_padding: int | None = None,
    stride: int = 1,
    dilation: int = 1,
) -> int:
    """Output length of a transposed convolution along one axis, as Keras computes it."""
    padding = normalize_padding(padding)
    kernel = dilated_size(kernel, dilation)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        return length * stride
    pad = kernel // 2 if padding == "same" else 0
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def conv_transpose_padding(
    kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None
) -> tuple[int, int]:
    """Padding ``(before, after)`` of the stride-dilated input that turns a stride-1
    convolution with the flipped kernel into Keras's transposed convolution.

    The input is dilated to ``(length - 1) * stride + 1`` cells, padded by the returned
    amounts, then convolved ("valid") with the spatially flipped kernel of extent
    ``(kernel - 1) * dilation + 1``; the result has ``deconv_output_length`` cells.
    """
    padding = normalize_padding(padding)
    extent = dilated_size(kernel, dilation)
    if output_padding is not None and output_padding < 0:
        raise ValueError(f"output_padding must be >= 0, got {output_padding}")
    if padding == "valid":
        extra = max(extent, stride) - extent if output_padding is None else output_padding
        return extent - 1, extent - 1 + extra
    if output_padding is None:
        total = stride + extent - 2
    else:
        total = extent + extent % 2 - 2 + output_padding
    before = min(total // 2 + total % 2, extent - 1)
    return before, total - before


# --- argument checking shared by every backend's conv and pooling ops ------------------------


def spatial_rank(input_shape: Sequence[int], op: str) -> int:
    """The number of spatial axes (1 to 3) of a (batch, *spatial, channels) input of ``op``."""
    rank = len(input_shape) - 2
    if rank not in (1, 2, 3):
        raise ValueError(
            f"{op} needs a (batch, *spatial, channels) input with 1-3 spatial "
            f"dims, got shape {tuple(input_shape)}"
        )
    return rank


def check_conv_kernel(input_shape: Sequence[int], kernel_shape: Sequence[int], op: str) -> int:
    """The spatial rank of ``op``'s input, after checking that the kernel is
    (*kernel_size, in, out) with ``in`` the input's channels (conv, depthwise_conv)."""
    rank = spatial_rank(input_shape, op)
    if len(kernel_shape) != rank + 2:
        raise ValueError(f"{op} kernel must have rank {rank + 2}, got shape "
                         f"{tuple(kernel_shape)}")
    if kernel_shape[rank] != input_shape[-1]:
        raise ValueError(f"{op} kernel expects {kernel_shape[rank]} input channels, "
                         f"the input has {input_shape[-1]}")
    return rank


def check_transpose_kernel(input_shape: Sequence[int], kernel_shape: Sequence[int]) -> int:
    """The spatial rank of conv_transpose's input, after checking that the kernel is
    (*kernel_size, out, in) with ``in`` the input's channels."""
    rank = spatial_rank(input_shape, "conv_transpose")
    if len(kernel_shape) != rank + 2 or kernel_shape[-1] != input_shape[-1]:
        raise ValueError(
            f"conv_transpose kernel {tuple(kernel_shape)} does not fit input "
            f"{tuple(input_shape)} (expected (*kernel_size, out, in))"
        )
    return rank


def conv_args(rank: int, strides: Any, padding: Any, dilation_rate: Any
              ) -> tuple[tuple[int, ...], str, tuple[int, ...]]:
    """Checked ``(strides, padding, dilation)`` of a convolution with ``rank`` spatial axes."""
    steps = normalize_tuple(strides, rank, "strides")
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
    return steps, normalize_padding(padding), dilation


def pool_args(rank: int, pool_size: Any, strides: Any, padding: Any
              ) -> tuple[tuple[int, ...], tuple[int, ...], str]:
    """Checked ``(pool_size, strides, padding)`` of a pooling with ``rank`` spatial axes;
    strides default to the pool size."""
    size = normalize_tuple(pool_size, rank, "pool_size")
    steps = size if strides is None else normalize_tuple(strides, rank, "strides")
    return size, steps, normalize_padding(padding)


def normalize_output_padding(value: Any, rank: int) -> tuple[int | None, ...]:
    """``output_padding`` of a transposed convolution as ``rank`` ints >= 0 (None each when
    ``value`` is None, Keras's default output size)."""
    if value is None:
        return (None,) * rank
    items = [value] * rank if isinstance(value, int) else list(value)
    if len(items) != rank or not all(isinstance(v, int) and v >= 0 for v in items):
        raise ValueError(f"output_padding must be None or {rank} ints >= 0, got {value!r}")
    return tuple(items)


def conv_transpose_args(kernel_size: Sequence[int], strides: Any, padding: Any,
                        output_padding: Any, dilation_rate: Any
                        ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[tuple[int, int], ...]]:
    """Checked ``(strides, dilation, pads)`` of a transposed convolution: ``pads`` are the
    per-axis ``conv_transpose_padding`` of the stride-dilated input."""
    rank = len(kernel_size)
    steps = normalize_tuple(strides, rank, "strides")
    dilation = normalize_tuple(dilation_rate, rank, "dilation_rate")
    extra = normalize_output_padding(output_padding, rank)
    mode = normalize_padding(padding)
    pads = tuple(conv_transpose_padding(k, s, d, mode, p)
                 for k, s, d, p in zip(kernel_size, steps, dilation, extra, strict=True))
    return steps, dilation, pads
