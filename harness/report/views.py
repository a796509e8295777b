"""The report's content as plain data, shared by the HTML page and the Markdown summary."""

from __future__ import annotations

from typing import Any

from harness import __version__
from harness.report.collect import ReportData
from harness.report.view_analysis import analysis_view
from harness.report.view_conformance import backends, conformance_view, dependencies


def context(data: ReportData) -> dict[str, Any]:
    """Section 1: library under test, backends and versions, Python/platform, dependencies."""
    environment = (data.conformance or {}).get("environment") or {}
    results = (data.conformance or {}).get("results") or []
    return {
        "libraries": sorted({str(r["library"]) for r in results}),
        "backends": backends(environment),
        "python": environment.get("python"),
        "platform": environment.get("platform"),
        "environments": (data.conformance or {}).get("environments") or [],
        "dependencies": dependencies(),
        "runs": data.conformance_runs,
    }


def build_view(data: ReportData) -> dict[str, Any]:
    """Everything the templates render: ``generated_at``, ``version``, ``stores``,
    ``context``, ``analysis`` (or None), ``conformance`` (or None)."""
    return {
        "generated_at": data.generated_at,
        "version": __version__,
        "stores": data.stores,
        "context": context(data),
        "analysis": analysis_view(data.analysis, data.trend),
        "conformance": conformance_view(data.conformance),
    }
