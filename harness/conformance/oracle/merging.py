"""Merge layers: elementwise Add/Subtract/Multiply/Average/Maximum/Minimum, Concatenate, Dot."""

from __future__ import annotations

from functools import reduce

import numpy as np

from harness.conformance.oracle import register
from harness.errors import UsageError

#: Keras's backend epsilon: the floor on the norm when Dot normalises.
EPSILON = 1e-7


def _list(inputs, name: str, exactly: int | None = None) -> list[np.ndarray]:
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise UsageError(f"{name} needs a list of at least 2 inputs")
    if exactly is not None and len(inputs) != exactly:
        raise UsageError(f"{name} needs exactly {exactly} inputs, got {len(inputs)}")
    return [np.asarray(x, dtype=np.float64) for x in inputs]


@register("Add")
def add(config, weights, inputs, training=False, mask=None):
    """x1 + x2 + ... (broadcasting)."""
    return reduce(np.add, _list(inputs, "Add"))


@register("Subtract")
def subtract(config, weights, inputs, training=False, mask=None):
    """x1 - x2 (exactly two inputs)."""
    a, b = _list(inputs, "Subtract", exactly=2)
    return a - b


@register("Multiply")
def multiply(config, weights, inputs, training=False, mask=None):
    """x1 * x2 * ... elementwise."""
    return reduce(np.multiply, _list(inputs, "Multiply"))


@register("Average")
def average(config, weights, inputs, training=False, mask=None):
    """(x1 + ... + xn) / n elementwise."""
    xs = _list(inputs, "Average")
    return reduce(np.add, xs) / len(xs)


@register("Maximum")
def maximum(config, weights, inputs, training=False, mask=None):
    """Elementwise maximum of the inputs."""
    return reduce(np.maximum, _list(inputs, "Maximum"))


@register("Minimum")
def minimum(config, weights, inputs, training=False, mask=None):
    """Elementwise minimum of the inputs."""
    return reduce(np.minimum, _list(inputs, "Minimum"))


@register("Concatenate")
def concatenate(config, weights, inputs, training=False, mask=None):
    """The inputs joined along ``axis`` (default -1)."""
    return np.concatenate(_list(inputs, "Concatenate"), axis=int(config.get("axis", -1)))


def _dot_axes(axes, ndims: tuple[int, int]) -> tuple[int, int]:
    if isinstance(axes, int):
        axes = (axes, axes)
    if len(axes) != 2:
        raise UsageError(f"Dot axes must be an int or a pair, got {axes}")
    out = tuple(int(a) % n if int(a) < 0 else int(a) for a, n in zip(axes, ndims, strict=True))
    if 0 in out:
        raise UsageError("Dot cannot contract the batch axis 0")
    return out  # type: ignore[return-value]


def l2_normalize(x: np.ndarray, axis: int) -> np.ndarray:
    """x / max(||x||_2 along axis, 1e-7), as Keras's ``ops.normalize``."""
    norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return x / np.maximum(norm, EPSILON)


@register("Dot")
def dot(config, weights, inputs, training=False, mask=None):
    """Per-sample dot product along ``axes`` (int or pair; 0 is the batch axis).

    Output shape: batch, x's remaining axes, then y's; a rank-1 result becomes (batch, 1).
    With ``normalize`` both inputs are L2-normalised along their dot axes first.
    """
    x, y = _list(inputs, "Dot", exactly=2)
    ax, ay = _dot_axes(config.get("axes", -1), (x.ndim, y.ndim))
    if x.shape[ax] != y.shape[ay]:
        raise UsageError(f"Dot axes sizes differ: {x.shape[ax]} != {y.shape[ay]}")
    if config.get("normalize", False):
        x, y = l2_normalize(x, ax), l2_normalize(y, ay)
    xr = np.moveaxis(x, ax, -1)  # (batch, *x_rest, n)
    yr = np.moveaxis(y, ay, -1)  # (batch, *y_rest, n)
    x_rest, y_rest = xr.shape[1:-1], yr.shape[1:-1]
    out = np.zeros((x.shape[0],) + x_rest + y_rest)
    for b in range(x.shape[0]):
        for i in np.ndindex(*x_rest):
            for j in np.ndindex(*y_rest):
                out[(b,) + i + j] = np.sum(xr[(b,) + i] * yr[(b,) + j])
    if out.ndim == 1:
        out = out[:, None]
    return out
