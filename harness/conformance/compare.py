"""Comparing arrays against the oracle: errors and the allclose verdict."""

from __future__ import annotations

import math
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


_TINY = float(np.finfo(np.float64).tiny)
_MAX = np.maximum.reduce  # ndarray.max without its Python-level wrapper


def _flat(values: Any) -> list[np.ndarray]:
    if isinstance(values, (list, tuple)):
        out: list[np.ndarray] = []
        for v in values:
            out.extend(_flat(v))
        return out
    return [np.asarray(values, dtype=np.float64)]


def compare(actual: Any, expected: Any, tol: Tol, what: str = "output") -> Comparison:
    """Compare (lists of) arrays; NaNs must match NaNs, infinities must match exactly.

    Returns whether every value lies within ``tol``, the largest absolute error, the largest
    relative error (over values whose magnitude exceeds ``tol.atol``) and, on a mismatch, a
    message naming the first failing array.
    """
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
        # no warning for inf - inf or an overflow here: both are judged below, on finite values
        with np.errstate(invalid="ignore", over="ignore"):
            diff = np.abs(a - e)
        largest = float(_MAX(diff, axis=None))
        if not largest < math.inf:
            # a NaN or infinity on either side, or a difference too large for float64
            problem = _special_values(a, e)
            if problem is not None:
                return Comparison(False, None, None, f"{what}[{i}]: {problem}")
            finite = np.isfinite(e)
            a, e = a[finite], e[finite]
            if e.size == 0:
                continue
            diff = np.abs(a - e)
            largest = float(_MAX(diff, axis=None))
        max_abs = max(max_abs, largest)
        if largest == 0.0 and tol.atol >= 0.0 and tol.rtol >= 0.0:
            continue  # equal values: none outside the tolerance, every relative error 0
        scale = np.abs(e)
        # rtol * |e| adds exactly 0 when rtol is 0 (|e| is finite here)
        bad = diff > (tol.atol + tol.rtol * scale if tol.rtol else tol.atol)
        max_rel = max(max_rel, _max_relative(diff, scale, tol.atol))
        if worst is None and (outside := int(np.count_nonzero(bad))):
            j = int(np.argmax(bad))
            worst = (f"{what}[{i}]: {outside}/{bad.size} values outside atol={tol.atol:g}"
                     f" rtol={tol.rtol:g}; e.g. {a.flat[j]!r} vs {e.flat[j]!r}")
    return Comparison(worst is None, max_abs, max_rel, worst)


def _max_relative(diff: np.ndarray, scale: np.ndarray, atol: float) -> float:
    """The largest ``diff / scale`` over values with ``scale > atol`` (relative errors of
    values near zero mean nothing); 0.0 when there is none."""
    judged = scale > atol
    count = int(np.count_nonzero(judged))
    if count == 0:
        return 0.0
    if count < judged.size:
        diff, scale = diff[judged], scale[judged]
    # judged magnitudes exceed atol, so flooring them at the smallest normal matters only
    # when atol is below it
    if atol < _TINY:
        scale = np.maximum(scale, _TINY)
    return float(_MAX(diff / scale, axis=None))


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
