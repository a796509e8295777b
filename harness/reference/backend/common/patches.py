"""Index arrays of an im2col gather: which input cell every (output cell, kernel tap) reads.

Convolution, transposed convolution and pooling all become one gather on the flattened
spatial axes followed by a matmul or a reduction, which any array library with fancy indexing
can differentiate. The indices are built with NumPy once per shape and cached.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from harness.reference.backend.common.conv_utils import dilated_size


class Patches(NamedTuple):
    """Result of ``patch_indices``.

    ``indices`` has shape ``(prod(out_shape), prod(kernel))``: the flat index into the input's
    spatial cells, or ``sentinel`` (= the number of input cells) where the tap reads padding.
    ``counts`` is the number of real (non-padding) taps per output cell.
    """

    indices: np.ndarray
    out_shape: tuple[int, ...]
    sentinel: int
    counts: np.ndarray


@lru_cache(maxsize=512)
def patch_indices(
    spatial: tuple[int, ...],
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    input_dilation: tuple[int, ...] | None = None,
) -> Patches:
    """Gather indices of a convolution window over an input of spatial shape ``spatial``.

    The input is first dilated by ``input_dilation`` (``d - 1`` zeros between cells, as a
    transposed convolution needs), then padded by ``padding`` ``(before, after)`` per axis;
    the window of ``kernel`` taps spaced ``dilation`` apart moves ``strides`` cells at a time.
    Returns a ``Patches``; the arrays are read-only because they are shared by the cache.
    """
    ndim = len(spatial)
    input_dilation = input_dilation or (1,) * ndim
    per_axis = [
        _axis_indices(*args)
        for args in zip(spatial, kernel, strides, dilation, padding, input_dilation, strict=True)
    ]
    out_shape = tuple(idx.shape[0] for idx in per_axis)
    if any(n <= 0 for n in out_shape):
        raise ValueError(
            f"window {kernel} (dilation {dilation}) does not fit input {spatial} "
            f"padded by {padding}"
        )
    sentinel = int(np.prod(spatial))
    cell_strides = np.cumprod((1,) + tuple(spatial[:0:-1]))[::-1]
    flat = np.zeros(out_shape + tuple(kernel), dtype=np.int64)
    valid = np.ones(out_shape + tuple(kernel), dtype=bool)
    for axis, idx in enumerate(per_axis):
        # place this axis's (out, tap) table at positions (axis, ndim + axis) for broadcasting
        shape = [1] * (2 * ndim)
        shape[axis], shape[ndim + axis] = idx.shape
        idx = idx.reshape(shape)
        valid &= idx >= 0
        flat += np.maximum(idx, 0) * int(cell_strides[axis])
    indices = np.where(valid, flat, sentinel).reshape(int(np.prod(out_shape)), -1)
    counts = valid.reshape(indices.shape).sum(axis=1)
    indices.setflags(write=False)
    counts.setflags(write=False)
    return Patches(indices, out_shape, sentinel, counts)


def _axis_indices(
    length: int, kernel: int, stride: int, dilation: int, pad: tuple[int, int], in_dilation: int
) -> np.ndarray:
    """(out, tap) table of input indices along one axis, -1 where the tap reads padding."""
    dilated = (length - 1) * in_dilation + 1
    out = (dilated + pad[0] + pad[1] - dilated_size(kernel, dilation)) // stride + 1
    if out <= 0:
        return np.zeros((0, kernel), dtype=np.int64)
    pos = np.arange(out)[:, None] * stride + np.arange(kernel)[None, :] * dilation - pad[0]
    ok = (pos >= 0) & (pos < dilated) & (pos % in_dilation == 0)
    return np.where(ok, pos // in_dilation, -1)
