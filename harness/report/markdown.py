"""``summary.md``: the report in brief, for a pull-request comment or a CI job summary.

Every piece of text from a store is escaped for GitHub-flavoured Markdown: characters with a
Markdown meaning are backslash-escaped, ``<``, ``>`` and ``&`` become entities (GitHub would
otherwise pass HTML through), and line breaks become spaces so table rows stay whole.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.report.collect import OUTCOMES, ReportData
from harness.report.views import build_view

MARKDOWN_FILE = "summary.md"
_SPECIAL = re.compile(r"([\\`*_\[\]|#~!])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ROWS = 10


def md(value: Any) -> str:
    """``value`` as Markdown text that renders literally, on one line."""
    text = _CONTROL.sub("", "" if value is None else str(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _SPECIAL.sub(r"\\\1", text)
    return " ".join(text.split())


def _num(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return "" if value is None else str(value)


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A GFM table; cells are escaped with ``md``."""
    lines = ["| " + " | ".join(md(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _conformance(view: dict[str, Any], context: dict[str, Any]) -> list[str]:
    lines = ["## Conformance", ""]
    if view is None:
        return lines + ["No data: no conformance run in the store.", ""]
    lines += table(["outcome", *OUTCOMES], [["results", *(view["summary"][k] for k in OUTCOMES)]])
    versions = {b["name"]: b["version"] for b in context["backends"]}
    per_backend: dict[str, dict[str, int]] = {}
    for m in view["matrices"]:
        row = per_backend.setdefault(m["backend"], dict.fromkeys(OUTCOMES, 0))
        for k in OUTCOMES:
            row[k] += m["summary"].get(k, 0)
    times = {t["backend"]: t["total_s"] for t in view["timings"]["backends"]}
    lines += table(["backend", "version", *OUTCOMES, "time (s)"],
                   [[b, versions.get(b, ""), *(row[k] for k in OUTCOMES), _num(times.get(b))]
                    for b, row in sorted(per_backend.items())])
    failures = view["failures"]
    if failures["rows"]:
        lines += ["### Failures", ""]
        lines += table(["outcome", "backend", "case", "check", "dtype", "device", "message"],
                       [[r["outcome"], r["backend"], f"{r['layer']}.{r['case']}", r["check"],
                         r["dtype"], r["device"], (r.get("message") or "")[:200]]
                        for r in failures["rows"][:ROWS * 3]])
        more = len(failures["rows"]) - ROWS * 3 + failures["more"]
        if more > 0:
            lines += [f"… and {more} more.", ""]
    return lines


def _analysis(view: dict[str, Any] | None) -> list[str]:
    lines = ["## Analysis", ""]
    if view is None:
        return lines + ["No data: no analysis in the store.", ""]
    s, debt = view["summary"], view["debt"]
    coverage = view["testing"]["coverage"]
    duplication = debt["duplication"]
    lines += [f"Repository {md(view['repo'])} at {md(view['rev'][:12])}.", ""]
    lines += table(["files", "SLOC", "functions", "mean CC", "mean MI", "TODOs", "hotspots",
                    "debt (days)", "rating", "coverage %", "duplication %"],
                   [[s["files"], s["sloc"], s["functions"], _num(s["mean_cc"]),
                     _num(s["mean_mi"], 1), s["todos"], debt["hotspot_count"],
                     _num((debt["debt"] or {}).get("days")), (debt["debt"] or {}).get("rating"),
                     _num((coverage or {}).get("percent"), 1),
                     _num((duplication or {}).get("percent"), 1)]])
    if debt["hotspots"]:
        lines += ["### SOLID hotspots", ""]
        lines += table(["kind", "principle", "where", "symbol", "score"],
                       [[h["kind"], h.get("principle") or "", f"{h['path']}:{h['line']}",
                         h.get("symbol") or "", _num(h["score"], 1)]
                        for h in debt["hotspots"][:ROWS]])
    if debt["complexity"]["by_cc"]:
        lines += ["### Most complex functions", ""]
        lines += table(["function", "where", "CC", "cognitive"],
                       [[f["qualname"], f"{f['path']}:{f['lineno']}", f["cc"],
                         f.get("cognitive")] for f in debt["complexity"]["by_cc"][:ROWS]])
    if debt["todos"]:
        lines += ["### Oldest TODOs", ""]
        lines += table(["where", "text", "author", "age (days)"],
                       [[f"{t['path']}:{t['line']}", t["text"], t.get("author") or "",
                         t.get("age_days")] for t in debt["todos"][:ROWS]])
    return lines


def render(data: ReportData) -> str:
    """The Markdown summary of the report data."""
    view = build_view(data)
    lines = ["# dl-harness report", "",
             f"Generated {md(view['generated_at'])} from "
             + ", ".join(md(s) for s in view["stores"]) + ".", ""]
    lines += _conformance(view["conformance"], view["context"])
    lines += _analysis(view["analysis"])
    return "\n".join(lines).rstrip() + "\n"


def write(data: ReportData, out: Path) -> list[Path]:
    """Write ``summary.md`` into ``out``; return its path."""
    path = out / MARKDOWN_FILE
    path.write_text(render(data), encoding="utf-8")
    return [path]
