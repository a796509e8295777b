"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding, Cropping, UpSampling."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.conformance.oracle import register
from harness.conformance.oracle.conv import from_channels_last, to_channels_last
from harness.errors import UsageError


@register("Flatten")
def flatten(config, weights, inputs, training=False, mask=None):
    """(batch, ...) -> (batch, prod(...)) in channels_last element order."""
    x = inputs
    if (config.get("data_format") or "channels_last") == "channels_first" and x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    return x.reshape(x.shape[0], -1)


@register("Reshape")
def reshape(config, weights, inputs, training=False, mask=None):
    """Row-major reshape of each sample to ``target_shape`` (one entry may be -1)."""
    target = [int(d) for d in config["target_shape"]]
    per_sample = math.prod(inputs.shape[1:])
    unknown = [i for i, d in enumerate(target) if d == -1]
    known = math.prod(d for d in target if d != -1)
    if len(unknown) > 1:
        raise UsageError(f"Reshape target_shape {target} has more than one -1")
    if unknown:
        if known == 0 or per_sample % known:
            raise UsageError(f"cannot reshape {inputs.shape[1:]} to {target}")
        target[unknown[0]] = per_sample // known
    if math.prod(target) != per_sample:
        raise UsageError(f"cannot reshape {inputs.shape[1:]} to {target}")
    return inputs.reshape((inputs.shape[0], *target))


@register("Permute")
def permute(config, weights, inputs, training=False, mask=None):
    """Output axis i (1-based, batch excluded) is input axis dims[i-1]."""
    dims = [int(d) for d in config["dims"]]
    if sorted(dims) != list(range(1, inputs.ndim)):
        raise UsageError(f"Permute dims {dims} is not a permutation of 1..{inputs.ndim - 1}")
    return np.transpose(inputs, [0] + dims)


@register("RepeatVector")
def repeat_vector(config, weights, inputs, training=False, mask=None):
    """(batch, features) -> (batch, n, features), the vector copied n times."""
    n = int(config["n"])
    out = np.empty((inputs.shape[0], n, inputs.shape[1]))
    for t in range(n):
        out[:, t, :] = inputs
    return out


def pairs(value: Any, rank: int, name: str) -> list[tuple[int, int]]:
    """Keras padding/cropping forms as (before, after) per spatial axis.

    int -> the same on every side; one int per axis -> symmetric; one pair per axis as given;
    for 1-D layers a pair of ints is (before, after).
    """
    if isinstance(value, int):
        return [(value, value)] * rank
    value = list(value)
    if rank == 1 and len(value) == 2 and all(isinstance(v, int) for v in value):
        return [(int(value[0]), int(value[1]))]
    if len(value) != rank:
        raise UsageError(f"{name} needs {rank} entries, got {value}")
    out = []
    for v in value:
        if isinstance(v, int):
            out.append((v, v))
        elif len(v) == 2:
            out.append((int(v[0]), int(v[1])))
        else:
            raise UsageError(f"{name} entry {v} is not an int or a (before, after) pair")
    return out


def _zero_padding(rank: int):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        pads = pairs(config.get("padding", 1), rank, "padding")
        out = np.zeros(
            (x.shape[0],)
            + tuple(x.shape[1 + a] + sum(pads[a]) for a in range(rank))
            + (x.shape[-1],)
        )
        # the input lands after `before` zeros on every spatial axis
        region = tuple(slice(p[0], p[0] + n) for p, n in zip(pads, x.shape[1:-1], strict=True))
        out[(slice(None),) + region] = x
        return from_channels_last(config, out)

    fn.__doc__ = f"Keras ZeroPadding{rank}D: zeros before/after each spatial axis."
    return fn


zero_padding1d = register("ZeroPadding1D")(_zero_padding(1))
zero_padding2d = register("ZeroPadding2D")(_zero_padding(2))
zero_padding3d = register("ZeroPadding3D")(_zero_padding(3))


def _cropping(rank: int, default: int):
    def fn(config, weights, inputs, training=False, mask=None):
        x = to_channels_last(config, inputs)
        crops = pairs(config.get("cropping", default), rank, "cropping")
        for (b, e), n in zip(crops, x.shape[1:-1], strict=True):
            if b + e >= n:
                raise UsageError(f"cropping {crops} leaves nothing of spatial size {n}")
        region = tuple(slice(b, n - e) for (b, e), n in zip(crops, x.shape[1:-1], strict=True))
        return from_channels_last(config, x[(slice(None),) + region])

    fn.__doc__ = f"Keras Cropping{rank}D: drop cells before/after each spatial axis."
    return fn


cropping1d = register("Cropping1D")(_cropping(1, 1))
cropping2d = register("Cropping2D")(_cropping(2, 0))
cropping3d = register("Cropping3D")(_cropping(3, 1))


def nearest(x: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Nearest upsampling of x (batch, *spatial, c): output cell o copies input o // factor."""
    rank = x.ndim - 2
    out_sp = tuple(x.shape[1 + a] * factors[a] for a in range(rank))
    out = np.empty((x.shape[0],) + out_sp + (x.shape[-1],))
    for o in np.ndindex(*out_sp):
        src = tuple(o[a] // factors[a] for a in range(rank))
        out[(slice(None),) + o] = x[(slice(None),) + src]
    return out


def bilinear_weights(n: int, factor: int) -> np.ndarray:
    """(n*factor, n) interpolation matrix of Keras's bilinear resize (half-pixel centres).

    Output o samples input coordinate u = (o + 0.5) / factor - 0.5, clamped to [0, n-1];
    it mixes floor(u) and floor(u)+1 with weights 1-(u-floor(u)) and u-floor(u).
    """
    m = np.zeros((n * factor, n))
    for o in range(n * factor):
        u = min(max((o + 0.5) / factor - 0.5, 0.0), n - 1.0)
        lo = int(math.floor(u))
        frac = u - lo
        m[o, lo] += 1.0 - frac
        if frac > 0:
            m[o, lo + 1] += frac
    return m


@register("UpSampling1D")
def up_sampling1d(config, weights, inputs, training=False, mask=None):
    """Each timestep repeated ``size`` times."""
    return nearest(inputs, (int(config.get("size", 2)),))


@register("UpSampling2D")
def up_sampling2d(config, weights, inputs, training=False, mask=None):
    """Keras UpSampling2D: 'nearest' repeats cells; 'bilinear' interpolates (half-pixel)."""
    x = to_channels_last(config, inputs)
    size = config.get("size", (2, 2))
    factors = (int(size), int(size)) if isinstance(size, int) else tuple(int(s) for s in size)
    mode = config.get("interpolation", "nearest")
    if mode == "nearest":
        y = nearest(x, factors)
    elif mode == "bilinear":
        rows = bilinear_weights(x.shape[1], factors[0])
        cols = bilinear_weights(x.shape[2], factors[1])
        y = np.einsum("oh,pw,bhwc->bopc", rows, cols, x)
    else:
        raise UsageError(f"the oracle has no UpSampling2D interpolation {mode!r}")
    return from_channels_last(config, y)


@register("UpSampling3D")
def up_sampling3d(config, weights, inputs, training=False, mask=None):
    """Each cell repeated size[a] times along spatial axis a."""
    x = to_channels_last(config, inputs)
    size = config.get("size", (2, 2, 2))
    factors = (int(size),) * 3 if isinstance(size, int) else tuple(int(s) for s in size)
    return from_channels_last(config, nearest(x, factors))
