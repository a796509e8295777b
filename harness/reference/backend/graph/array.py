"""Graph backends, array ops: reshape, transpose, join, slice, gather, pad, repeat, one_hot.

Each op builds the framework's own graph node and records the output's static shape, computed
here with NumPy's rules, so that ``shape`` never needs to run anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.reference.backend.graph.core import CoreOps

ARRAY_OPS = (
    "reshape", "transpose", "concatenate", "stack", "expand_dims", "squeeze", "slice_axis",
    "flip", "take", "pad", "repeat", "tile", "one_hot", "unstack",
)


class ArrayOps(CoreOps):
    """Shape-changing and indexing ops."""

    def axis(self, x: Any, axis: int, extra: int = 0) -> int:
        """``axis`` made non-negative for a tensor of ``x``'s rank + ``extra``."""
        ndim = len(self.shape(x)) + extra
        if not -ndim <= int(axis) < ndim:
            raise ValueError(f"axis {axis} is out of range for a tensor of rank {ndim}")
        return int(axis) % ndim

    def common(self, xs: Sequence[Any]) -> list[Any]:
        """Tensors ``xs`` cast to their NumPy-promoted common dtype."""
        xs = [self.tensor(x) for x in xs]
        target = np.result_type(*(np.dtype(x.dtype) for x in xs)).name
        return [self.cast(x, target) for x in xs]

    def reshape(self, x: Any, shape: Sequence[int]) -> Any:
        """``x`` with a new shape (one entry may be -1)."""
        x = self.tensor(x)
        size = int(np.prod(self.shape(x)))
        new = [int(d) for d in shape]
        if new.count(-1) > 1:
            raise ValueError(f"only one dimension may be -1, got {tuple(shape)}")
        if -1 in new:
            rest = int(np.prod([d for d in new if d != -1]))
            if rest == 0 or size % rest:
                raise ValueError(f"cannot reshape {self.shape(x)} into {tuple(shape)}")
            new[new.index(-1)] = size // rest
        if int(np.prod(new)) != size or any(d < 0 for d in new):
            raise ValueError(f"cannot reshape {self.shape(x)} into {tuple(shape)}")
        if tuple(new) == self.shape(x):
            return x
        return self.out(self.T.reshape(x, new, ndim=len(new)), new)

    def transpose(self, x: Any, axes: Sequence[int] | None = None) -> Any:
        """``x`` with its axes permuted (reversed when ``axes`` is None)."""
        x = self.tensor(x)
        shape = self.shape(x)
        order = list(range(len(shape)))[::-1] if axes is None else [self.axis(x, a) for a in axes]
        if sorted(order) != list(range(len(shape))):
            raise ValueError(f"axes {axes} are not a permutation of {len(shape)} axes")
        return self.out(x.dimshuffle(*order), [shape[a] for a in order])

    def concatenate(self, xs: Sequence[Any], axis: int = -1) -> Any:
        """The tensors ``xs`` joined along an existing axis."""
        xs = self.common(xs)
        if not xs:
            raise ValueError("concatenate needs at least one tensor")
        axis = self.axis(xs[0], axis)
        shapes = [list(self.shape(x)) for x in xs]
        rest = {tuple(s[:axis] + s[axis + 1:]) for s in shapes}
        if len(rest) != 1 or len({len(s) for s in shapes}) != 1:
            raise ValueError(f"cannot concatenate shapes {shapes} along axis {axis}")
        shape = list(shapes[0])
        shape[axis] = sum(s[axis] for s in shapes)
        if len(xs) == 1:
            return xs[0]
        return self.out(self.T.concatenate(xs, axis=axis), shape)

    def stack(self, xs: Sequence[Any], axis: int = 0) -> Any:
        """The tensors ``xs`` joined along a new axis."""
        xs = self.common(xs)
        if not xs or len({self.shape(x) for x in xs}) != 1:
            raise ValueError(f"stack needs tensors of one shape, got {[self.shape(x) for x in xs]}")
        axis = self.axis(xs[0], axis, extra=1)
        return self.concatenate([self.expand_dims(x, axis) for x in xs], axis=axis)

    def expand_dims(self, x: Any, axis: int) -> Any:
        """``x`` with a new axis of length 1 at ``axis``."""
        x = self.tensor(x)
        axis = self.axis(x, axis, extra=1)
        order: list[Any] = list(range(len(self.shape(x))))
        order.insert(axis, "x")
        shape = list(self.shape(x))
        shape.insert(axis, 1)
        return self.out(x.dimshuffle(*order), shape)

    def squeeze(self, x: Any, axis: int | Sequence[int] | None = None) -> Any:
        """``x`` without the length-1 axes ``axis`` (all of them when None)."""
        x = self.tensor(x)
        shape = self.shape(x)
        if axis is None:
            axes = {i for i, d in enumerate(shape) if d == 1}
        else:
            axes = {self.axis(x, a) for a in (axis if isinstance(axis, Sequence) else [axis])}
        if any(shape[a] != 1 for a in axes):
            raise ValueError(f"cannot squeeze axes {sorted(axes)} of shape {shape}")
        if not axes:
            return x
        keep = [i for i in range(len(shape)) if i not in axes]
        # a framework can only drop an axis its type knows to be of length 1
        return self.out(self.bcast(x).dimshuffle(*keep), [shape[i] for i in keep])

    def _index(self, x: Any, axis: int, index: Any) -> Any:
        return (slice(None),) * self.axis(x, axis) + (index,)

    def slice_axis(self, x: Any, axis: int, start: int, stop: int) -> Any:
        """``x[..., start:stop, ...]`` along ``axis``."""
        x = self.tensor(x)
        shape = list(self.shape(x))
        axis = self.axis(x, axis)
        shape[axis] = len(range(shape[axis])[slice(start, stop)])
        return self.out(x[self._index(x, axis, slice(start, stop))], shape)

    def flip(self, x: Any, axis: int | Sequence[int] | None = None) -> Any:
        """``x`` reversed along ``axis`` (an int, a tuple, or None for every axis)."""
        x = self.tensor(x)
        ndim = len(self.shape(x))
        axes = range(ndim) if axis is None else axis if isinstance(axis, Sequence) else [axis]
        index = [slice(None)] * ndim
        for a in axes:
            index[self.axis(x, a)] = slice(None, None, -1)
        return self.out(x[tuple(index)], self.shape(x))

    def take(self, x: Any, indices: Any, axis: int = 0) -> Any:
        """Gather the entries ``indices`` (ints, any shape; a tensor or an array) of ``x``
        along ``axis``."""
        x = self.tensor(x)
        idx = self.tensor(indices)
        if not idx.dtype.startswith(("int", "uint")):
            raise ValueError(f"take needs integer indices, got {idx.dtype}")
        axis = self.axis(x, axis)
        shape = self.shape(x)
        out_shape = shape[:axis] + self.shape(idx) + shape[axis + 1:]
        return self.out(self.T.take(x, idx, axis=axis), out_shape)

    def pad(self, x: Any, pad_width: Sequence[Sequence[int]], value: Any = 0.0) -> Any:
        """``x`` padded with ``value``; ``pad_width`` is one ``(before, after)`` per axis."""
        x = self.tensor(x)
        shape = self.shape(x)
        width = [(int(b), int(a)) for b, a in pad_width]
        if len(width) != len(shape) or any(b < 0 or a < 0 for b, a in width):
            raise ValueError(f"pad_width {pad_width} does not fit a tensor of shape {shape}")
        if not any(b or a for b, a in width):
            return x
        full = [d + b + a for d, (b, a) in zip(shape, width, strict=True)]
        fill = self.fw.constant(np.full(full, value, dtype=x.dtype))
        inside = tuple(slice(b, b + d) for d, (b, _) in zip(shape, width, strict=True))
        return self.out(self.T.set_subtensor(fill[inside], x), full)

    def repeat(self, x: Any, repeats: int, axis: int) -> Any:
        """Each entry of ``x`` repeated ``repeats`` times along ``axis``."""
        x = self.tensor(x)
        axis = self.axis(x, axis)
        shape = list(self.shape(x))
        shape[axis] *= int(repeats)
        return self.out(self.T.repeat(x, int(repeats), axis=axis), shape)

    def tile(self, x: Any, reps: Sequence[int]) -> Any:
        """``x`` tiled ``reps`` times along each axis (``np.tile`` rank rules)."""
        x = self.tensor(x)
        reps = [int(r) for r in (reps if isinstance(reps, Sequence) else [reps])]
        while len(self.shape(x)) < len(reps):
            x = self.expand_dims(x, 0)
        reps = [1] * (len(self.shape(x)) - len(reps)) + reps
        shape = [d * r for d, r in zip(self.shape(x), reps, strict=True)]
        return self.out(self.T.tile(x, reps), shape)

    def one_hot(self, indices: Any, depth: int, dtype: Any = "float32") -> Any:
        """One-hot vectors of length ``depth`` on a new last axis; an index outside
        ``[0, depth)`` gives all zeros."""
        idx = self.tensor(indices)
        if not idx.dtype.startswith(("int", "uint")):
            raise ValueError(f"one_hot needs integer indices, got {idx.dtype}")
        hot = self.elementwise(self.T.eq, self.expand_dims(idx, -1),
                               self.fw.constant(np.arange(int(depth), dtype=idx.dtype)))
        return self.cast(hot, dtype)

    def unstack(self, x: Any, axis: int = 0) -> list[Any]:
        """The slices of ``x`` along ``axis``, as a list."""
        x = self.tensor(x)
        axis = self.axis(x, axis)
        shape = self.shape(x)
        rest = shape[:axis] + shape[axis + 1:]
        return [self.out(x[self._index(x, axis, i)], rest) for i in range(shape[axis])]
