"""Read one or more stores into the plain data every report format renders.

Conformance: the latest conformance run of each store, merged into one
``harness.conformance/1`` document (results concatenated, summary recomputed, backend versions
merged). Analysis: the newest analysis document across the stores, and the summary figures of
every stored analysis of the same repository (the trend).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness import store as store_mod
from harness.conformance import results
from harness.errors import UsageError

CONFORMANCE_SCHEMA = results.SCHEMA
OUTCOMES = results.OUTCOMES
summarise = results.summarise
#: outcomes that make ``harness conform`` exit 1 (CONTRACT.md)
BAD_OUTCOMES = results.BAD_OUTCOMES


@dataclass
class ReportData:
    """Everything a report shows: the merged conformance document, the latest analysis,
    the analysis trend, and where it all came from."""

    stores: list[str]
    conformance: dict[str, Any] | None
    conformance_runs: list[dict[str, Any]] = field(default_factory=list)
    analysis: dict[str, Any] | None = None
    trend: list[dict[str, Any]] = field(default_factory=list)
    generated_at: str = ""


def conformance_document(store: store_mod.Store, run_id: int) -> dict[str, Any]:
    """The ``harness.conformance/1`` document of one conformance run of ``store``."""
    return results.document(store, run_id)


def merge_conformance(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from several: results concatenated, summary recomputed, backends merged.

    ``python``/``platform`` are those of the first document; every document's environment is
    kept under the added key ``environments``.
    """
    results = [result for doc in documents for result in doc["results"]]
    backends: dict[str, str] = {}
    for doc in documents:
        for name, version in (doc.get("environment", {}).get("backends") or {}).items():
            # A real version beats an 'unavailable' line written by another job.
            if name not in backends or str(backends[name]).startswith("unavailable"):
                backends[name] = version
    first = documents[0].get("environment", {}) if documents else {}
    environment = {"python": first.get("python"), "platform": first.get("platform"),
                   "backends": backends}
    return {"schema": CONFORMANCE_SCHEMA, "environment": environment,
            "environments": [doc.get("environment", {}) for doc in documents],
            "results": results, "summary": summarise(results)}


def _open_existing(path: str) -> store_mod.Store:
    if not Path(path).is_file():
        raise UsageError(f"store {path} not found (harness conform and harness analyse write it)")
    try:
        return store_mod.open_store(path)
    except Exception as exc:  # sqlite3.DatabaseError and friends: not a store
        raise UsageError(f"cannot read store {path}: {exc}") from None


def _newest(documents: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(documents, key=lambda d: str(d.get("analysed_at") or ""), default=None)


def collect(stores: list[str]) -> ReportData:
    """Read ``stores`` (paths of existing store files) into a ReportData.

    Raises UsageError when a store is missing or is not a harness store.
    """
    if not stores:
        raise UsageError("no store given")
    conformance_docs, runs, analyses, trend = [], [], [], []
    for path in dict.fromkeys(stores):
        with _open_existing(path) as db:
            run_id = db.latest_run("conformance")
            if run_id is not None:
                conformance_docs.append(conformance_document(db, run_id))
                info = db.run_info(run_id)
                runs.append({"store": path, "run_id": run_id, "started_at": info["started_at"],
                             "finished_at": info["finished_at"], "status": info["status"]})
            document = store_mod.load_analysis(db)
            if document is not None:
                analyses.append(document)
                trend += store_mod.load_analysis_trend(db, repo=document["repo"])
    analysis = _newest(analyses)
    if analysis is not None:
        trend = [row for row in trend if row["repo"] == analysis["repo"]]
        trend.sort(key=lambda row: str(row["analysed_at"] or ""))
    return ReportData(
        stores=list(dict.fromkeys(stores)),
        conformance=merge_conformance(conformance_docs) if conformance_docs else None,
        conformance_runs=runs,
        analysis=analysis,
        trend=trend,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
