"""The ``harness.conformance/1`` document of a run, shared by the runner, report and gate."""

from __future__ import annotations

import math
from typing import Any

SCHEMA = "harness.conformance/1"
OUTCOMES = ("passed", "failed", "xfailed", "xpassed", "skipped", "error")
BAD_OUTCOMES = ("failed", "error", "xpassed")


def _clean(value: Any) -> Any:
    """JSON-safe cell: pandas' NaN for a missing float becomes None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def summarise(results: list[dict[str, Any]]) -> dict[str, int]:
    """Count of results per outcome, every outcome of the contract present."""
    summary = dict.fromkeys(OUTCOMES, 0)
    for result in results:
        summary[result["outcome"]] = summary.get(result["outcome"], 0) + 1
    return summary


def document(store: Any, run_id: int) -> dict[str, Any]:
    """The document of conformance run ``run_id`` of an open ``harness.store.Store``."""
    info = store.run_info(run_id)
    frame = store.load_conformance(run_id).drop(columns=["run_id"])
    results = [{k: _clean(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    return {"schema": SCHEMA, "environment": info["environment"], "results": results,
            "summary": summarise(results)}


def exit_status(summary: dict[str, int]) -> int:
    """1 when anything failed, errored or passed unexpectedly (CONTRACT.md), else 0."""
    return 1 if any(summary.get(k) for k in BAD_OUTCOMES) else 0
