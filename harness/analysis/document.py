"""Join the analysers' results into the ``harness.analysis/1`` document, and say it briefly.

Functions are joined with cognitive complexity by (path, lineno); class rows get their path;
module rows get SLOC and MI from radon. Every CONTRACT key is present even when the analyser
behind it was not selected (an empty list, or null for the objects).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from statistics import fmean
from typing import TYPE_CHECKING, Any

from harness.analysis.todos import with_blame
from harness.store import ANALYSIS_SCHEMA

if TYPE_CHECKING:
    from harness.analysis.engine import Context, Progress, Stats
    from harness.analysis.git import BlameLine


def _results(ctx: Context, name: str) -> dict[str, Any]:
    """``{path: result}`` of blob analyser ``name`` for the files it could analyse."""
    return {path: payload["result"] for path, payload in ctx.blob_results.get(name, {}).items()
            if payload["result"] is not None}


def _skipped(ctx: Context, links: list[dict]) -> list[dict]:
    reasons: dict[str, str] = {row["path"]: row["reason"] for row in links}
    for payloads in ctx.blob_results.values():
        for path, payload in payloads.items():
            if payload["skipped"] and path not in reasons:
                reasons[path] = payload["skipped"]
    return [{"path": path, "reason": reason} for path, reason in sorted(reasons.items())]


def _functions(ctx: Context) -> list[dict]:
    cognitive = {(path, row["lineno"]): row["cognitive"]
                 for path, rows in _results(ctx, "cognitive").items() for row in rows}
    rows = []
    for path, metrics in sorted(_results(ctx, "complexity").items()):
        for fn in metrics["functions"]:
            rows.append({"path": path, "qualname": fn["qualname"], "lineno": fn["lineno"],
                         "endline": fn["endline"], "cc": fn["cc"],
                         "cognitive": cognitive.get((path, fn["lineno"]))})
    return rows


def _modules(ctx: Context) -> list[dict]:
    radon = _results(ctx, "complexity")
    graph = ctx.module_rows()
    if not graph:  # the import graph was not selected: one row per measured file
        from harness.analysis.modules import module_name  # same names as the graph's

        graph = [{"path": path, "module": module_name(path), "ca": None, "ce": None,
                  "instability": None} for path in sorted(radon)]
    rows = []
    for row in graph:
        metrics = radon.get(row["path"])
        rows.append({**row, "sloc": metrics["raw"]["sloc"] if metrics else None,
                     "mi": round(metrics["mi"], 4) if metrics else None})
    return rows


def _test_skips(ctx: Context) -> list[dict]:
    # Cached per (blob, path), but the path is set here too so a row can never name another file.
    return [{**row, "path": path}
            for path, rows in sorted(_results(ctx, "test_skips").items()) for row in rows]


def assemble(ctx: Context, blame: dict[str, dict[int, BlameLine]],
             links: list[dict]) -> dict[str, Any]:
    """The document before the repository analysers (history, coverage, debt) fill it in."""
    todos = [row for path, found in sorted(_results(ctx, "todos").items())
             for row in with_blame(path, found, blame.get(path, {}), ctx.commit_time)]
    functions = _functions(ctx)
    modules = _modules(ctx)
    radon = _results(ctx, "complexity")
    decoded = {path for payloads in ctx.blob_results.values()
               for path, payload in payloads.items() if payload["decoded"]}
    graph = ctx.tree_results.get("modules") or {}
    mis = [row["mi"] for row in modules if row["mi"] is not None]
    return {
        "schema": ANALYSIS_SCHEMA,
        "repo": str(ctx.git.root),
        "rev": ctx.commit,
        "analysed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "summary": {
            "files": len(decoded) if ctx.blob_results else len(ctx.files),
            "sloc": sum(m["raw"]["sloc"] for m in radon.values()),
            "todos": len(todos),
            "functions": len(functions),
            "mean_cc": round(fmean(f["cc"] for f in functions), 4) if functions else 0.0,
            "mean_mi": round(fmean(mis), 4) if mis else 0.0,
        },
        "todos": todos,
        "functions": functions,
        "classes": [{"path": path, **row}
                    for path, rows in sorted(_results(ctx, "classes").items()) for row in rows],
        "modules": modules,
        "hotspots": ctx.tree_results.get("hotspots") or [],
        "history": None,
        "churn": [],
        "coverage": None,
        "debt": None,
        "skipped": _skipped(ctx, links),
        "cycles": graph.get("cycles", []),
        "duplication": ctx.tree_results.get("duplication"),
        "test_skips": _test_skips(ctx),
        "coupling": [],
        "halstead": {path: m["halstead"] for path, m in sorted(radon.items())},
        "trends": None,
    }


def merge_repo_result(document: dict[str, Any], name: str, result: Any) -> None:
    """Put a repository analyser's ``result`` into ``document`` (history, coverage)."""
    if name == "history":
        document["history"] = result["history"]
        document["churn"] = result["churn"]
        document["coupling"] = result.get("coupling", [])
        document["people"] = result.get("people")
        document["history_partial"] = bool(result.get("partial", False))
        document["hotspots"] = [*document["hotspots"], *result.get("churn_hotspots", [])]
    else:
        document[name] = result


def summary_text(document: dict[str, Any], stats: Stats) -> str:
    """A few human lines about an analysis: size, complexity, debt, cache use."""
    s = document["summary"]
    lines = [
        f"analysed {document['repo']} at {document['rev'][:12]}: {s['files']} files, "
        f"{s['sloc']} SLOC, {s['functions']} functions (mean CC {s['mean_cc']:.2f}), "
        f"mean MI {s['mean_mi']:.1f}",
        f"{s['todos']} TODOs, {len(document['hotspots'])} hotspots, "
        f"{len(document['skipped'])} files skipped",
    ]
    debt = document.get("debt")
    if debt:
        lines.append(f"technical debt {debt['days']:.1f} days, rating {debt['rating']}")
    history = document.get("history")
    if history:
        lines.append(f"history: {history['commits']} commits by {history['authors']} authors")
    coverage = document.get("coverage")
    if coverage:
        lines.append(f"coverage {coverage['percent']:.1f}%")
    lines.append(f"cache: {stats.blobs} blobs, {stats.blobs_computed} analysed, "
                 f"{stats.blobs_cached} from cache")
    return "\n".join(lines)


@contextlib.contextmanager
def progress_bar() -> Iterator[Progress | None]:
    """A rich progress callback ``(stage, done, total)`` on a terminal, else None."""
    if not sys.stdout.isatty():
        yield None
        return
    from rich.progress import Progress as RichProgress

    with RichProgress(transient=True) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
