"""Analysis: the per-blob result cache of the engine and the analysis documents of runs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.store._db import now, select_in, write_rows

if TYPE_CHECKING:
    from harness.store.core import Store

ANALYSIS_SCHEMA = "harness.analysis/1"


def cache_get(store: Store, analyser: str, version: str, keys: Iterable[str]) -> dict[str, Any]:
    """Hits only: ``{key: payload}`` cached for ``analyser`` at ``version``, among ``keys``."""
    rows = select_in(store.conn, "SELECT cache_key, payload FROM analysis_cache WHERE "
                     "analyser = ? AND version = ? AND cache_key IN ({keys})",
                     (analyser, version), keys)
    return {key: json.loads(payload) for key, payload in rows}


def cache_put(store: Store, analyser: str, version: str,
              items: Iterable[tuple[str, Any]]) -> int:
    """Store ``(key, payload)`` pairs for ``analyser`` at ``version`` in one transaction.

    Returns the number of rows written; an existing entry is replaced.
    """
    rows = [(key, analyser, version, json.dumps(payload), now()) for key, payload in items]
    return write_rows(store.conn, "INSERT OR REPLACE INTO analysis_cache (cache_key, analyser, "
                      "version, payload, created_at) VALUES (?, ?, ?, ?, ?)", rows)


def record_analysis(store: Store, run_id: int, document: Mapping[str, Any]) -> None:
    """Save one ``harness.analysis/1`` document as the result of analysis run ``run_id``."""
    store.conn.execute(
        "INSERT OR REPLACE INTO analysis_documents (run_id, repo, rev, schema, document, "
        "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
        (run_id, document["repo"], document["rev"], document["schema"],
         json.dumps(document), now()),
    )


def load_analysis(store: Store, run: int | None = None, rev: str | None = None,
                  repo: str | None = None) -> dict[str, Any] | None:
    """The analysis document of run ``run``, or the newest one (of ``rev``/``repo`` if given).

    Returns None when the store holds no matching analysis.
    """
    sql = "SELECT document FROM analysis_documents"
    clauses, params = [], []
    for column, value in (("run_id", run), ("rev", rev), ("repo", repo)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    row = store.conn.execute(sql + " ORDER BY run_id DESC LIMIT 1", params).fetchone()
    return None if row is None else json.loads(row[0])


def load_analysis_frame(store: Store, section: str, run: int | None = None) -> pd.DataFrame:
    """One list section of the newest (or run ``run``'s) analysis document as a DataFrame.

    ``section`` is a list key of the document: todos, functions, classes, modules, hotspots,
    churn, skipped, test_skips...; an empty DataFrame when there is no analysis or no rows.
    """
    document = load_analysis(store, run=run)
    rows = [] if document is None else document.get(section) or []
    if not isinstance(rows, list):
        raise KeyError(f"analysis section {section!r} is not a list of rows")
    return pd.DataFrame(rows)


def load_analysis_trend(store: Store, repo: str | None = None) -> list[dict[str, Any]]:
    """Summary figures of every stored analysis (of ``repo`` if given), oldest first.

    Returns ``[{"run_id", "repo", "rev", "analysed_at", "summary": {...}, "debt_days",
    "rating"}]``; ``debt_days``/``rating`` are None when the analysis had no debt section.
    """
    sql = ("SELECT run_id, repo, rev, json_extract(document, '$.analysed_at'), "
           "json_extract(document, '$.summary'), json_extract(document, '$.debt.days'), "
           "json_extract(document, '$.debt.rating') FROM analysis_documents")
    params: tuple[Any, ...] = ()
    if repo is not None:
        sql += " WHERE repo = ?"
        params = (repo,)
    rows = store.conn.execute(sql + " ORDER BY run_id", params).fetchall()
    return [{"run_id": r[0], "repo": r[1], "rev": r[2], "analysed_at": r[3],
             "summary": json.loads(r[4]) if r[4] else {}, "debt_days": r[5], "rating": r[6]}
            for r in rows]
