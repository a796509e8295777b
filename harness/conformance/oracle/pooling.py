"""Pooling layers as explicit loops over output windows (channels_last, float64).

Output position ``o`` covers input cells ``o * stride + k - pad_before`` for ``k`` in the pool;
cells outside the input are skipped, so SAME max pooling ignores the border and SAME average
pooling divides by the number of real cells, as Keras does.
"""

from __future__ import annotations

import itertools

import numpy as np

from harness.conformance.oracle import register
from harness.conformance.oracle.conv import (
    as_tuple,
    from_channels_last,
    paddings,
    to_channels_last,
)
from harness.errors import UsageError


def pool(
    x: np.ndarray, size: tuple[int, ...], strides: tuple[int, ...], padding: str, mode: str
) -> np.ndarray:
    """Max or average pooling of x (batch, *spatial, channels); returns (batch, *out, channels)."""
    rank = x.ndim - 2
    spatial = x.shape[1:-1]
    if str(padding).lower() not in ("valid", "same"):
        raise UsageError(f"unknown pooling padding {padding!r} (expected valid or same)")
    pads = paddings(padding, spatial, size, strides, (1,) * rank)
    out_sp = tuple(
        max((spatial[a] + sum(pads[a]) - size[a]) // strides[a] + 1, 0) for a in range(rank)
    )
    out = np.zeros((x.shape[0],) + out_sp + (x.shape[-1],))
    for o in np.ndindex(*out_sp):
        cells = []
        for k in itertools.product(*(range(s) for s in size)):
            pos = tuple(o[a] * strides[a] + k[a] - pads[a][0] for a in range(rank))
            if all(0 <= pos[a] < spatial[a] for a in range(rank)):
                cells.append(x[(slice(None),) + pos])  # (batch, channels)
        stacked = np.stack(cells)
        out[(slice(None),) + o] = stacked.max(axis=0) if mode == "max" else stacked.mean(axis=0)
    return out


def _pooling(rank: int, mode: str):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        size = as_tuple(config.get("pool_size", 2), rank, "pool_size")
        strides = config.get("strides")
        strides = size if strides is None else as_tuple(strides, rank, "strides")
        y = pool(x, size, strides, config.get("padding", "valid"), mode)
        return from_channels_last(config, y)

    kind = "Max" if mode == "max" else "Average"
    fn.__doc__ = f"Keras {kind}Pooling{rank}D (pool_size, strides (None: pool_size), padding)."
    return fn


max_pooling1d = register("MaxPooling1D", "MaxPool1D")(_pooling(1, "max"))
max_pooling2d = register("MaxPooling2D", "MaxPool2D")(_pooling(2, "max"))
max_pooling3d = register("MaxPooling3D", "MaxPool3D")(_pooling(3, "max"))
average_pooling1d = register("AveragePooling1D", "AvgPool1D")(_pooling(1, "average"))
average_pooling2d = register("AveragePooling2D", "AvgPool2D")(_pooling(2, "average"))
average_pooling3d = register("AveragePooling3D", "AvgPool3D")(_pooling(3, "average"))


def _global(rank: int, mode: str):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        axes = tuple(range(1, 1 + rank))
        keepdims = bool(config.get("keepdims", False))
        if mode == "max":
            y = np.max(x, axis=axes, keepdims=True)
        elif mask is not None and rank == 1:
            # masked mean: only unmasked timesteps count, in the sum and in the divisor
            keep = np.asarray(mask, dtype=np.float64)[:, :, None]
            y = np.sum(x * keep, axis=1, keepdims=True) / np.sum(keep, axis=1, keepdims=True)
        else:
            y = np.mean(x, axis=axes, keepdims=True)
        y = from_channels_last(config, y)
        if keepdims:
            return y
        fmt = config.get("data_format") or "channels_last"
        drop = axes if fmt == "channels_last" else tuple(range(2, 2 + rank))
        return np.squeeze(y, axis=drop)

    kind = "Max" if mode == "max" else "Average"
    fn.__doc__ = f"Keras Global{kind}Pooling{rank}D over the spatial axes (keepdims)" + (
        "; honours a (batch, time) mask." if mode != "max" and rank == 1 else "."
    )
    return fn


global_max_pooling1d = register("GlobalMaxPooling1D", "GlobalMaxPool1D")(_global(1, "max"))
global_max_pooling2d = register("GlobalMaxPooling2D", "GlobalMaxPool2D")(_global(2, "max"))
global_max_pooling3d = register("GlobalMaxPooling3D", "GlobalMaxPool3D")(_global(3, "max"))
global_average_pooling1d = register("GlobalAveragePooling1D", "GlobalAvgPool1D")(
    _global(1, "average")
)
global_average_pooling2d = register("GlobalAveragePooling2D", "GlobalAvgPool2D")(
    _global(2, "average")
)
global_average_pooling3d = register("GlobalAveragePooling3D", "GlobalAvgPool3D")(
    _global(3, "average")
)
