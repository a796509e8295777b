"""Weight initializers (Keras names), drawn in float64 with NumPy and cast by the layer."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from harness.reference.random import generator

Initializer = Callable[[Sequence[int]], np.ndarray]


def _fans(shape: Sequence[int]) -> tuple[float, float]:
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return float(shape[-2] * receptive), float(shape[-1] * receptive)


def zeros(shape: Sequence[int]) -> np.ndarray:
    return np.zeros(shape)


def ones(shape: Sequence[int]) -> np.ndarray:
    return np.ones(shape)


def _variance_scaling(scale: float, mode: str, distribution: str) -> Initializer:
    def init(shape: Sequence[int]) -> np.ndarray:
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(1.0, fan)
        if distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return generator().uniform(-limit, limit, size=shape)
        # truncated normal at 2 std, rescaled as Keras does (0.8796... is its std)
        std = math.sqrt(variance) / 0.87962566103423978
        values = generator().normal(0.0, std, size=shape)
        bad = np.abs(values) > 2 * std
        while bad.any():
            values[bad] = generator().normal(0.0, std, size=int(bad.sum()))
            bad = np.abs(values) > 2 * std
        return values

    return init


def orthogonal(shape: Sequence[int]) -> np.ndarray:
    rows = math.prod(shape[:-1]) if len(shape) > 1 else 1
    cols = shape[-1]
    flat = generator().normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q[:rows, :cols].reshape(shape)


def random_normal(shape: Sequence[int]) -> np.ndarray:
    return generator().normal(0.0, 0.05, size=shape)


def random_uniform(shape: Sequence[int]) -> np.ndarray:
    return generator().uniform(-0.05, 0.05, size=shape)


_REGISTRY: dict[str, Initializer] = {
    "zeros": zeros,
    "ones": ones,
    "glorot_uniform": _variance_scaling(1.0, "fan_avg", "uniform"),
    "glorot_normal": _variance_scaling(1.0, "fan_avg", "normal"),
    "he_uniform": _variance_scaling(2.0, "fan_in", "uniform"),
    "he_normal": _variance_scaling(2.0, "fan_in", "normal"),
    "lecun_uniform": _variance_scaling(1.0, "fan_in", "uniform"),
    "lecun_normal": _variance_scaling(1.0, "fan_in", "normal"),
    "orthogonal": orthogonal,
    "random_normal": random_normal,
    "random_uniform": random_uniform,
    "uniform": random_uniform,  # Keras short names
    "normal": random_normal,
}


def get(identifier: str | Initializer) -> Initializer:
    """The initializer named ``identifier`` (Keras names), or a callable as given."""
    if callable(identifier):
        return identifier
    key = identifier.lower() if isinstance(identifier, str) else identifier
    if key not in _REGISTRY:
        raise ValueError(f"unknown initializer {identifier!r}")
    return _REGISTRY[key]


def names() -> list[str]:
    return sorted(_REGISTRY)
