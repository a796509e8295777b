"""Comparing arrays against the oracle: errors and the allclose verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.conformance.tolerances import Tol


@dataclass
class Comparison:
    ok: bool
    max_abs_err: float | None
    max_rel_err: float | None
    message: str | None = None


def _flat(values: Any) -> list[np.ndarray]:
    if isinstance(values, (list, tuple)):
        out: list[np.ndarray] = []
        for v in values:
            out.extend(_flat(v))
        return out
    return [np.asarray(values, dtype=np.float64)]


def compare(actual: Any, expected: Any, tol: Tol, what: str = "output") -> Comparison:
    """Compare (lists of) arrays; NaNs must match NaNs, infinities must match exactly."""
    acts, exps = _flat(actual), _flat(expected)
    if len(acts) != len(exps):
        return Comparison(False, None, None, f"{what}: {len(acts)} arrays, expected {len(exps)}")
    max_abs, max_rel, ok, worst = 0.0, 0.0, True, None
    for i, (a, e) in enumerate(zip(acts, exps, strict=True)):
        if a.shape != e.shape:
            return Comparison(False, None, None,
                              f"{what}[{i}]: shape {a.shape}, expected {e.shape}")
        if a.size == 0:
            continue
        nan_a, nan_e = np.isnan(a), np.isnan(e)
        if not np.array_equal(nan_a, nan_e):
            return Comparison(False, None, None, f"{what}[{i}]: NaN at different positions "
                              f"({int(nan_a.sum())} vs {int(nan_e.sum())} expected)")
        inf_e = np.isinf(e)
        if not np.array_equal(a[inf_e], e[inf_e]) or np.isinf(a[~inf_e & ~nan_e]).any():
            return Comparison(False, None, None, f"{what}[{i}]: infinities differ")
        finite = ~nan_e & ~inf_e
        diff = np.abs(a[finite] - e[finite])
        if diff.size == 0:
            continue
        scale = np.abs(e[finite])
        rel = diff / np.maximum(scale, np.finfo(np.float64).tiny)
        bad = diff > tol.atol + tol.rtol * scale
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float(rel[scale > tol.atol].max()) if (scale > tol.atol).any()
                      else 0.0)
        if bad.any() and ok:
            ok = False
            j = int(np.argmax(bad))
            worst = (f"{what}[{i}]: {int(bad.sum())}/{bad.size} values outside atol={tol.atol:g}"
                     f" rtol={tol.rtol:g}; e.g. {a[finite][j]!r} vs {e[finite][j]!r}")
    return Comparison(ok, max_abs, max_rel, worst)
