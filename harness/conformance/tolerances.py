"""Tolerances: one table per dtype × check. Tests and checks read them here, never literals.

A value passes when ``|actual - expected| <= atol + rtol * |expected|`` elementwise (NumPy's
``allclose`` rule) against the float64 oracle. Rows are keyed by the dtype the library computed
in; the ``dtype`` check compares a reduced-precision run with the float32 run of the same
library, and uses the reduced dtype's row.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.conformance.cases import Case, ModelCase


@dataclass(frozen=True)
class Tol:
    atol: float
    rtol: float


# dtype -> check -> tolerance; "*" is the row's default
TABLE: dict[str, dict[str, Tol]] = {
    "float64": {
        "*": Tol(1e-9, 1e-7),
        "backward": Tol(1e-6, 1e-5),       # vs float64 central differences (h ~ 1e-6)
        "training": Tol(1e-6, 1e-5),
    },
    "float32": {
        "*": Tol(1e-5, 1e-4),
        "backward": Tol(1e-4, 1e-3),
        "training": Tol(1e-4, 1e-3),
        "edge_values": Tol(1e-4, 1e-3),
    },
    "float16": {
        "*": Tol(2e-2, 2e-2),
        "backward": Tol(5e-2, 5e-2),
        "training": Tol(5e-2, 5e-2),
    },
    "bfloat16": {
        "*": Tol(1e-1, 5e-2),
        "backward": Tol(2e-1, 1e-1),
        "training": Tol(2e-1, 1e-1),
    },
}

#: checks whose results must be bit-for-bit identical, whatever the dtype
EXACT_CHECKS = frozenset({"determinism"})


def lookup(dtype: str, check: str, case: Case | ModelCase | None = None) -> Tol:
    """The tolerance for ``check`` in ``dtype``, with the case's override when it has one."""
    if check in EXACT_CHECKS:
        return Tol(0.0, 0.0)
    override = getattr(case, "tolerance", None)
    if override is not None and (not override.checks or check in override.checks):
        base = _row(dtype, check)
        # an override widens, never narrows, the table
        return Tol(max(base.atol, override.atol), max(base.rtol, override.rtol))
    return _row(dtype, check)


def _row(dtype: str, check: str) -> Tol:
    row = TABLE.get(dtype)
    if row is None:
        raise KeyError(f"no tolerance row for dtype {dtype!r}")
    return row.get(check, row["*"])
