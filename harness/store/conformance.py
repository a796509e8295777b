"""Conformance results: one row per (case, check, backend, dtype) item of a run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.store._db import now

if TYPE_CHECKING:
    from harness.store.core import Store

CONFORMANCE_COLUMNS = (
    "case", "layer", "check", "backend", "library", "dtype", "device", "outcome",
    "max_abs_err", "max_rel_err", "atol", "rtol", "duration_s", "message",
)
#: WAL pages between automatic checkpoints while conformance results stream in (SQLite's
#: default is 1,000): at most ~40 MiB of WAL, folded back when the last connection closes
RESULT_STREAM_CHECKPOINT_PAGES = 10_000


def record_result(store: Store, run_id: int, result: Mapping[str, Any]) -> None:
    """Write one conformance result in its own transaction (keys of CONFORMANCE_COLUMNS)."""
    values = [result.get(k) for k in CONFORMANCE_COLUMNS]
    store.conn.execute(
        "INSERT INTO conformance_results (run_id, case_id, layer, check_name, backend, "
        "library, dtype, device, outcome, max_abs_err, max_rel_err, atol, rtol, "
        "duration_s, message, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (run_id, *values, now()),
    )


def record_results(store: Store, run_id: int, results: Iterable[Mapping[str, Any]]) -> None:
    """Write conformance results one by one, each in its own transaction."""
    for result in results:
        record_result(store, run_id, result)


def stream_results(store: Store) -> None:
    """Tune the store's connection for one committed result after another (a conformance run).

    Each result stays its own transaction; what changes is how often SQLite folds the WAL
    back into the database file, which syncs it: every ~3,000 results instead of every
    ~330 (each commit appends about three 4 KiB pages).
    """
    store.conn.execute(f"PRAGMA wal_autocheckpoint={RESULT_STREAM_CHECKPOINT_PAGES}")


def case_results(store: Store, run_id: int, case: str, backend: str,
                 dtype: str) -> dict[str, tuple[str, str | None]]:
    """``{check: (outcome, message)}`` of the results recorded for one case of the run."""
    rows = store.conn.execute(
        "SELECT check_name, outcome, message FROM conformance_results WHERE run_id = ? AND "
        "case_id = ? AND backend = ? AND dtype = ? ORDER BY id", (run_id, case, backend, dtype))
    return {check: (outcome, message) for check, outcome, message in rows}


def load_conformance(store: Store, run: int | None = None) -> pd.DataFrame:
    """Results of conformance run ``run`` (default: every run) as a DataFrame.

    Columns are the result keys of CONTRACT.md plus ``run_id``.
    """
    sql = (
        "SELECT run_id, case_id AS 'case', layer, check_name AS 'check', backend, library, "
        "dtype, device, outcome, max_abs_err, max_rel_err, atol, rtol, duration_s, message "
        "FROM conformance_results"
    )
    params: tuple[Any, ...] = ()
    if run is not None:
        sql += " WHERE run_id = ?"
        params = (run,)
    return pd.read_sql_query(sql + " ORDER BY id", store.conn, params=params)
