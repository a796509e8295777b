"""What the report shows of an analysis: development view, technical and testing debt, history.

Each function takes the ``harness.analysis/1`` document and returns plain rows; sections whose
analyser did not run get None or empty lists, which the templates render as "no data".
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from harness.report import charts, diagram

TOP = 15
MODULE_ROWS = 40
TODO_ROWS = 50
HOTSPOT_ROWS = 50


def _evidence(evidence: Any) -> str:
    if not isinstance(evidence, dict):
        return "" if evidence is None else str(evidence)
    parts = []
    for key, value in evidence.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v:.2g}" if isinstance(v, float) else f"{k}: {v}"
                              for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return "; ".join(parts)


def development(document: dict[str, Any]) -> dict[str, Any]:
    """Module diagram, package table and the Martin metrics of the modules (worst D first)."""
    modules = document.get("modules") or []
    measured = [m for m in modules if m.get("instability") is not None]
    worst = sorted(measured, key=lambda m: (-(m.get("distance") or 0.0), m["module"]))
    return {"diagram": diagram.layout(measured, document.get("cycles") or []),
            "modules": worst[:MODULE_ROWS], "module_count": len(measured),
            "cycles": document.get("cycles") or []}


def complexity(document: dict[str, Any]) -> dict[str, Any]:
    """Top functions by cyclomatic and by cognitive complexity, and both histograms."""
    functions = document.get("functions") or []
    by_cc = sorted(functions, key=lambda f: (-f["cc"], f["path"], f["lineno"]))[:TOP]
    known = [f for f in functions if f.get("cognitive") is not None]
    by_cognitive = sorted(known, key=lambda f: (-f["cognitive"], f["path"], f["lineno"]))[:TOP]
    return {
        "by_cc": by_cc, "by_cognitive": by_cognitive, "functions": len(functions),
        "cc_histogram": charts.histogram(charts.bin_counts([f["cc"] for f in functions],
                                                           charts.CC_RANKS)),
        "cognitive_histogram": charts.histogram(charts.bin_counts(
            [f["cognitive"] for f in known], charts.COGNITIVE_BINS)),
    }


def technical_debt(document: dict[str, Any]) -> dict[str, Any]:
    """TODOs (oldest first), SOLID hotspots with evidence, complexity, duplication, debt."""
    todos = sorted(document.get("todos") or [],
                   key=lambda t: (-(t.get("age_days") or 0), t["path"], t["line"]))
    hotspots = [{**h, "evidence_text": _evidence(h.get("evidence"))}
                for h in (document.get("hotspots") or [])[:HOTSPOT_ROWS]]
    by_kind: dict[str, int] = defaultdict(int)
    for h in document.get("hotspots") or []:
        by_kind[h["kind"]] += 1
    duplication = document.get("duplication")
    return {
        "todos": todos[:TODO_ROWS], "todo_count": len(todos),
        "hotspots": hotspots, "hotspot_count": len(document.get("hotspots") or []),
        "hotspot_kinds": sorted(by_kind.items()),
        "complexity": complexity(document),
        "duplication": duplication,
        "duplicate_blocks": (duplication or {}).get("blocks", [])[:10],
        "debt": document.get("debt"),
        "skipped": document.get("skipped") or [],
    }


def testing_debt(document: dict[str, Any]) -> dict[str, Any]:
    """Coverage per component (lowest first) and the backend-dependent skips of the tests."""
    coverage = document.get("coverage")
    components = []
    if coverage:
        components = sorted((coverage.get("by_component") or {}).items(),
                            key=lambda kv: (kv[1], kv[0]))
    skips = document.get("test_skips") or []
    per_backend: dict[str, int] = defaultdict(int)
    for row in skips:
        for backend in row.get("backends") or []:
            per_backend[backend] += 1
    return {"coverage": coverage, "components": components, "test_skips": skips,
            "skips_per_backend": sorted(per_backend.items(), key=lambda kv: (-kv[1], kv[0]))}


def churn_hotspots(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Files by churn × complexity (commits × summed cyclomatic complexity), then commits."""
    cc: dict[str, int] = defaultdict(int)
    for fn in document.get("functions") or []:
        cc[fn["path"]] += fn["cc"]
    rows = [{**row, "cc": cc.get(row["path"], 0),
             "score": row["commits"] * cc.get(row["path"], 0)}
            for row in document.get("churn") or []]
    rows.sort(key=lambda r: (-r["score"], -r["commits"], r["path"]))
    return rows[:TOP]


#: (key of a normalised trend point, label) of the series drawn as sparklines
TREND_SERIES = (("sloc", "SLOC"), ("functions", "functions"), ("mean_cc", "mean CC"),
                ("max_cc", "max CC"), ("todos", "TODOs"), ("debt_days", "debt days"),
                ("duplication_percent", "duplication %"))


def _stored_points(trend: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for row in trend:  # a revision analysed twice counts once, with its newest figures
        latest.pop(row["rev"], None)
        latest[row["rev"]] = row
    return [{"label": row["rev"][:12], "date": row["analysed_at"], **row["summary"],
             "debt_days": row["debt_days"], "rating": row["rating"]}
            for row in latest.values()]


def _section_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "label": row.get("tag") or str(row.get("commit") or "")[:12],
             "debt_days": round(row["debt_minutes"] / 480, 2)
             if row.get("debt_minutes") is not None else None}
            for row in rows]


def trend(document: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Metric series over time: the document's ``trends`` section (every commit when
    computed, else the release tags), else the stored analyses of the repository.

    Returns ``{"source", "points": [{"label", "date", figures...}], "series": [{"label",
    "last", "spark"}]}``, or None with fewer than two points.
    """
    section = document.get("trends") or {}
    candidates = [("commits of the first-parent line", _section_points(section.get("commits")
                                                                        or [])),
                  ("release tags", _section_points(section.get("tags") or [])),
                  ("stored analyses", _stored_points(stored))]
    for source, points in candidates:
        if len(points) > 1:
            series = []
            for key, label in TREND_SERIES:
                values = [p.get(key) for p in points]
                if any(v is not None for v in values):
                    series.append({"label": label, "last": values[-1],
                                   "spark": charts.sparkline(values)})
            return {"source": source, "points": points, "series": series}
    return None


def history(document: dict[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any]:
    """Releases (and their timeline), trends, people and churn hotspots."""
    hist = document.get("history") or None
    people = document.get("people") or {}
    releases = (hist or {}).get("releases") or []
    truck = people.get("truck_factor") if isinstance(people.get("truck_factor"), dict) else None
    return {
        "history": hist, "releases": list(reversed(releases)),
        "timeline": charts.timeline(releases),
        "trend": trend(document, stored),
        "authors": (people.get("authors") or [])[:TOP],
        "integrators": ((hist or {}).get("integrators") or [])[:TOP],
        "truck_factor": truck if truck is not None
        else ({"truck_factor": hist["truck_factor"], "authors": []}
              if hist and hist.get("truck_factor") is not None else None),
        "churn": churn_hotspots(document),
        "partial": bool(document.get("history_partial")),
    }


def analysis_view(document: dict[str, Any] | None,
                  trend: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Every analysis section of the report, or None without an analysis."""
    if document is None:
        return None
    return {"repo": document["repo"], "rev": document["rev"],
            "analysed_at": document.get("analysed_at"), "summary": document["summary"],
            "development": development(document), "debt": technical_debt(document),
            "testing": testing_debt(document), "history": history(document, trend)}
