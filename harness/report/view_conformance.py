"""What the report shows of the conformance results: backends, matrices, failures, timings."""

from __future__ import annotations

import importlib.metadata
from collections import defaultdict
from typing import Any

from harness.report.collect import BAD_OUTCOMES, OUTCOMES

#: checks in report order (the catalogue's order; unknown checks follow, sorted)
CHECK_ORDER = ("shape", "forward", "backward", "serialization", "portability", "training",
               "determinism", "batch_invariance", "masking", "edge_values", "dtype", "compiled")
FAILURE_LIMIT = 200
SLOWEST = 10


def backends(environment: dict[str, Any] | None) -> list[dict[str, str]]:
    """Every backend the reference library knows or the runs used: ``[{"name", "version",
    "status": "tested|unavailable|not run"}]``."""
    from harness.reference.backend import KNOWN_BACKENDS, UNAVAILABLE

    versions = dict((environment or {}).get("backends") or {})
    rows = []
    for name in list(KNOWN_BACKENDS) + sorted(set(versions) - set(KNOWN_BACKENDS)):
        version = versions.get(name)
        if version is not None and not str(version).startswith("unavailable"):
            rows.append({"name": name, "version": str(version), "status": "tested"})
        elif name in UNAVAILABLE or version is not None:
            reason = UNAVAILABLE.get(name) or str(version).removeprefix("unavailable: ")
            rows.append({"name": name, "version": reason, "status": "unavailable"})
        else:
            rows.append({"name": name, "version": "", "status": "not run"})
    return rows


def dependencies() -> list[dict[str, str]]:
    """The harness's declared dependencies with the versions installed where the report runs."""
    from packaging.requirements import Requirement

    try:
        declared = importlib.metadata.requires("dl-harness") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    rows = []
    for line in declared:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # extras and other platforms' dependencies
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        rows.append({"name": requirement.name, "required": str(requirement.specifier) or "any",
                     "installed": installed})
    return rows


def cell(outcomes: dict[str, int] | None) -> dict[str, Any]:
    """A matrix cell: ``{"text", "css": none|fail|skip|xfail|pass, "title"}``; xfails count as
    expected, as in the matrix ``harness conform`` prints."""
    if not outcomes:
        return {"text": "–", "css": "none", "title": "not run"}
    total = sum(outcomes.values())
    good = outcomes.get("passed", 0) + outcomes.get("xfailed", 0)
    title = ", ".join(f"{outcomes[k]} {k}" for k in OUTCOMES if outcomes.get(k))
    if any(outcomes.get(k) for k in BAD_OUTCOMES):
        css = "fail"
    elif outcomes.get("skipped", 0) == total:
        css = "skip"
    elif outcomes.get("xfailed"):
        css = "xfail"
    else:
        css = "pass"
    return {"text": f"{good}/{total}", "css": css, "title": title}


def _ordered_checks(present: set[str]) -> list[str]:
    return [c for c in CHECK_ORDER if c in present] + sorted(present - set(CHECK_ORDER))


def matrices(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One layers × checks matrix per (backend, library, device, dtype):
    ``[{"backend", "library", "device", "dtype", "checks", "rows": [{"layer", "cells"}],
    "summary"}]``."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        groups[(r["backend"], r["library"], r["device"], r["dtype"])].append(r)
    tables = []
    for (backend, library, device, dtype), rows in sorted(groups.items()):
        counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in rows:
            counts[(r["layer"], r["check"])][r["outcome"]] += 1
        checks = _ordered_checks({r["check"] for r in rows})
        layers = sorted({r["layer"] for r in rows})
        summary = dict.fromkeys(OUTCOMES, 0)
        for r in rows:
            summary[r["outcome"]] = summary.get(r["outcome"], 0) + 1
        tables.append({
            "backend": backend, "library": library, "device": device, "dtype": dtype,
            "checks": checks, "summary": summary,
            "rows": [{"layer": layer, "cells": [cell(counts.get((layer, c))) for c in checks]}
                     for layer in layers],
        })
    return tables


def failures(results: list[dict[str, Any]], limit: int = FAILURE_LIMIT) -> dict[str, Any]:
    """Failed, errored and unexpectedly passing results: ``{"rows", "more"}``."""
    bad = [r for r in results if r["outcome"] in BAD_OUTCOMES]
    return {"rows": bad[:limit], "more": max(len(bad) - limit, 0)}


def timings(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Time per backend ``{"backends": [{"backend", "results", "total_s", "mean_s"}],
    "slowest": [result...]}``."""
    totals: dict[str, list[float]] = defaultdict(list)
    for r in results:
        totals[r["backend"]].append(float(r.get("duration_s") or 0.0))
    per_backend = [{"backend": b, "results": len(t), "total_s": sum(t),
                    "mean_s": sum(t) / len(t)} for b, t in sorted(totals.items())]
    slowest = sorted(results, key=lambda r: -float(r.get("duration_s") or 0.0))[:SLOWEST]
    return {"backends": per_backend, "slowest": slowest}


def skips_by_backend(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Skipped and known-failing results per backend: ``[{"backend", "skipped", "xfailed",
    "reasons": [(message, count)]}]`` (backends without any left out)."""
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        if r["outcome"] not in ("skipped", "xfailed"):
            continue
        row = rows.setdefault(r["backend"], {"backend": r["backend"], "skipped": 0,
                                             "xfailed": 0, "reasons": defaultdict(int)})
        row[r["outcome"]] += 1
        row["reasons"][r.get("message") or "(no reason given)"] += 1
    for row in rows.values():
        row["reasons"] = sorted(row["reasons"].items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return [rows[b] for b in sorted(rows)]


def conformance_view(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """Everything the deployment section shows, or None without conformance results."""
    if document is None or not document["results"]:
        return None
    results = document["results"]
    return {"summary": document["summary"], "matrices": matrices(results),
            "failures": failures(results), "timings": timings(results),
            "skips": skips_by_backend(results),
            "libraries": sorted({str(r["library"]) for r in results})}
