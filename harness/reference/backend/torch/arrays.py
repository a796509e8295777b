"""PyTorch backend, array ops: reshaping, joining, slicing, gathering and padding tensors.

(The NumPy backend keeps these in ``core``; here they have a module of their own to keep
``core`` small. ``core`` re-exports nothing from here; the package ``__init__`` does.)
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from harness.reference.backend.torch.core import (
    axes_of,
    axis_index,
    current_device,
    promote,
    shape,
    tensor,
    torch_dtype,
)


def reshape(x: Any, shape: Sequence[int]) -> torch.Tensor:
    """``x`` with a new shape (one entry may be -1)."""
    return torch.reshape(tensor(x), tuple(int(d) for d in shape))


def transpose(x: Any, axes: Sequence[int] | None = None) -> torch.Tensor:
    """``x`` with its axes permuted (reversed when ``axes`` is None)."""
    x = tensor(x)
    order = tuple(reversed(range(x.dim()))) if axes is None else tuple(int(a) for a in axes)
    return x.permute(order)


def concatenate(xs: Sequence[Any], axis: int = -1) -> torch.Tensor:
    """The tensors ``xs`` joined along an existing axis."""
    return torch.cat(promote(*(tensor(x) for x in xs)), dim=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> torch.Tensor:
    """The tensors ``xs`` joined along a new axis."""
    return torch.stack(promote(*(tensor(x) for x in xs)), dim=axis)


def expand_dims(x: Any, axis: int) -> torch.Tensor:
    """``x`` with a new axis of length 1 at ``axis``."""
    return torch.unsqueeze(tensor(x), axis)


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> torch.Tensor:
    """``x`` without the length-1 axes ``axis`` (all of them when None)."""
    x = tensor(x)
    if axis is None:
        return torch.squeeze(x)
    axes = axes_of(x, axis)
    if builtins.any(x.shape[a] != 1 for a in axes):
        raise ValueError(f"cannot squeeze axis {axis} of a tensor of shape {shape(x)}")
    return torch.squeeze(x, axes)


def slice_axis(x: Any, axis: int, start: int, stop: int) -> torch.Tensor:
    """``x[..., start:stop, ...]`` along ``axis``."""
    x = tensor(x)
    return x[(slice(None),) * axis_index(x, axis) + (slice(start, stop),)]


def flip(x: Any, axis: int | Sequence[int] | None = None) -> torch.Tensor:
    """``x`` reversed along ``axis`` (an int, a tuple, or None for every axis)."""
    x = tensor(x)
    return torch.flip(x, axes_of(x, axis))


def index_tensor(indices: Any, device: torch.device) -> torch.Tensor:
    """Integer ``indices`` (tensor, array, list) as an int64 tensor on ``device``."""
    if isinstance(indices, torch.Tensor):
        idx = indices.detach()
        if idx.is_floating_point() or idx.dtype == torch.bool:
            raise ValueError(f"indices must be integers, got {idx.dtype}")
        return idx.to(device=device, dtype=torch.int64)
    arr = np.asarray(indices)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"indices must be integers, got {arr.dtype}")
    return torch.tensor(arr.astype(np.int64), device=device)


def take(x: Any, indices: Any, axis: int = 0) -> torch.Tensor:
    """Gather the entries ``indices`` (ints, any shape) of ``x`` along ``axis``."""
    x = tensor(x)
    idx = index_tensor(indices, x.device)
    return x[(slice(None),) * axis_index(x, axis) + (idx,)]


def pad(x: Any, pad_width: Sequence[Sequence[int]], value: Any = 0.0) -> torch.Tensor:
    """``x`` padded with ``value``; ``pad_width`` is one ``(before, after)`` per axis."""
    x = tensor(x)
    width = [(int(b), int(a)) for b, a in pad_width]
    if len(width) != x.dim():
        raise ValueError(f"pad_width has {len(width)} entries for a tensor of rank {x.dim()}")
    if builtins.any(b < 0 or a < 0 for b, a in width):
        raise ValueError(f"pad_width must be >= 0, got {width}")
    # F.pad lists (before, after) from the last axis to the first
    flat = [n for pair_ in reversed(width) for n in pair_]
    return F.pad(x, flat, mode="constant", value=value)


def repeat(x: Any, repeats: int, axis: int) -> torch.Tensor:
    """Each entry of ``x`` repeated ``repeats`` times along ``axis``."""
    return torch.repeat_interleave(tensor(x), int(repeats), dim=axis)


def tile(x: Any, reps: Sequence[int]) -> torch.Tensor:
    """``x`` tiled ``reps`` times along each axis."""
    reps = tuple(reps) if isinstance(reps, Sequence) else (int(reps),)
    return torch.tile(tensor(x), reps)


def one_hot(indices: Any, depth: int, dtype: Any = "float32") -> torch.Tensor:
    """One-hot vectors of length ``depth`` on a new last axis; an index outside
    ``[0, depth)`` gives all zeros."""
    device = indices.device if isinstance(indices, torch.Tensor) else current_device()
    idx = index_tensor(indices, device)
    hot = idx.unsqueeze(-1) == torch.arange(int(depth), device=device)
    return hot.to(torch_dtype(dtype))


def unstack(x: Any, axis: int = 0) -> list[torch.Tensor]:
    """The slices of ``x`` along ``axis``, as a list."""
    x = tensor(x)
    return list(torch.unbind(x, dim=axis_index(x, axis)))
