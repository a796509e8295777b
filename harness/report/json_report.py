"""``analysis.json`` (``harness.analysis/1``) and ``conformance.json`` (``harness.conformance/1``).

``conformance.json`` is always written (with no run it holds no results and a zero summary);
``analysis.json`` only when a store holds an analysis, and a stale one is removed otherwise so
that a reader never takes an old analysis for the current one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report.collect import CONFORMANCE_SCHEMA, ReportData, summarise

ANALYSIS_FILE = "analysis.json"
CONFORMANCE_FILE = "conformance.json"


def empty_conformance() -> dict[str, Any]:
    """A ``harness.conformance/1`` document without results."""
    return {"schema": CONFORMANCE_SCHEMA,
            "environment": {"python": None, "platform": None, "backends": {}},
            "results": [], "summary": summarise([])}


def _dump(document: Any, path: Path) -> Path:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write(data: ReportData, out: Path) -> list[Path]:
    """Write the JSON documents into ``out``; return the paths written."""
    written = [_dump(data.conformance or empty_conformance(), out / CONFORMANCE_FILE)]
    analysis_path = out / ANALYSIS_FILE
    if data.analysis is not None:
        written.append(_dump(data.analysis, analysis_path))
    elif analysis_path.is_file():
        analysis_path.unlink()
    return written
