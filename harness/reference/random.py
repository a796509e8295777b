"""Seeded randomness. Every random number is drawn here with NumPy, never in a backend, so the
same seed gives the same weights and dropout masks on every backend."""

from __future__ import annotations

import numpy as np

_rng = np.random.default_rng(1337)


def set_random_seed(seed: int) -> None:
    """Reset the library's random generator (weights, dropout masks, shuffling)."""
    global _rng
    _rng = np.random.default_rng(seed)


def generator(seed: int | None = None) -> np.random.Generator:
    """A generator for ``seed``, or the library's shared one when seed is None."""
    return _rng if seed is None else np.random.default_rng(seed)
