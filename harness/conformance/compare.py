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
    max_abs, max_rel, worst = 0.0, 0.0, None
    for i, (a, e) in enumerate(zip(acts, exps, strict=True)):
        if a.shape != e.shape:
            return Comparison(False, None, None,
                              f"{what}[{i}]: shape {a.shape}, expected {e.shape}")
        if a.size == 0:
            continue
        if np.isfinite(e).all() and np.isfinite(a).all():
            # the usual case: no NaN or infinity to match, every value is compared
            a_fin, e_fin = a, e
        else:
            problem = _special_values(a, e)
            if problem is not None:
                return Comparison(False, None, None, f"{what}[{i}]: {problem}")
            finite = np.isfinite(e)
            a_fin, e_fin = a[finite], e[finite]
            if e_fin.size == 0:
                continue
        diff = np.abs(a_fin - e_fin)
        scale = np.abs(e_fin)
        bad = diff > tol.atol + tol.rtol * scale
        max_abs = max(max_abs, float(diff.max()))
        judged = scale > tol.atol  # relative errors of values near zero mean nothing
        if judged.any():
            rel = diff[judged] / np.maximum(scale[judged], np.finfo(np.float64).tiny)
            max_rel = max(max_rel, float(rel.max()))
        if worst is None and bad.any():
            j = int(np.argmax(bad))
            worst = (f"{what}[{i}]: {int(bad.sum())}/{bad.size} values outside atol={tol.atol:g}"
                     f" rtol={tol.rtol:g}; e.g. {a_fin.flat[j]!r} vs {e_fin.flat[j]!r}")
    return Comparison(worst is None, max_abs, max_rel, worst)


def _special_values(a: np.ndarray, e: np.ndarray) -> str | None:
    """Why NaNs or infinities of ``a`` do not match those of ``e``, or None when they do."""
    nan_a, nan_e = np.isnan(a), np.isnan(e)
    if not np.array_equal(nan_a, nan_e):
        return (f"NaN at different positions ({int(nan_a.sum())} vs {int(nan_e.sum())} "
                "expected)")
    inf_e = np.isinf(e)
    if not np.array_equal(a[inf_e], e[inf_e]) or np.isinf(a[~inf_e & ~nan_e]).any():
        return "infinities differ"
    return None
