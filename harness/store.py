"""The embedded SQLite store: schema, migrations, writes and pandas loaders.

This is the only module that speaks SQL. The schema is a list of named migrations applied in
order and recorded in ``schema_migrations``; a store written by an older harness is migrated
forward when opened, never dropped. The database runs in WAL mode and every result is
committed in its own transaction, so a killed run keeps every row it recorded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

DEFAULT_PATH = Path(".harness/harness.db")

# Named migrations, applied in list order. Append; never edit or reorder a released one.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_runs_and_conformance",
        """
        CREATE TABLE runs (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            kind        TEXT NOT NULL,            -- 'conformance' | 'analysis'
            started_at  TEXT NOT NULL,
            finished_at TEXT,
            status      TEXT NOT NULL DEFAULT 'running',  -- running | finished | interrupted
            environment TEXT NOT NULL DEFAULT '{}',      -- JSON
            args        TEXT NOT NULL DEFAULT '{}'       -- JSON
        );
        CREATE TABLE conformance_results (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id      INTEGER NOT NULL REFERENCES runs(id),
            case_id     TEXT NOT NULL,
            layer       TEXT NOT NULL,
            check_name  TEXT NOT NULL,
            backend     TEXT NOT NULL,
            library     TEXT NOT NULL,
            dtype       TEXT NOT NULL,
            device      TEXT NOT NULL,
            outcome     TEXT NOT NULL,
            max_abs_err REAL,
            max_rel_err REAL,
            atol        REAL,
            rtol        REAL,
            duration_s  REAL NOT NULL,
            message     TEXT,
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX conformance_results_run ON conformance_results(run_id);
        """,
    ),
]

CONFORMANCE_COLUMNS = (
    "case", "layer", "check", "backend", "library", "dtype", "device", "outcome",
    "max_abs_err", "max_rel_err", "atol", "rtol", "duration_s", "message",
)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """A handle on one SQLite store file; cheap to open, safe across processes."""

    def __init__(self, path: str | Path = DEFAULT_PATH):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    # --- schema --------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied now."""
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
        )
        applied_now = []
        for name, sql in MIGRATIONS:
            if self._applied(name):
                continue
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                if self._applied(name):  # another process got there first
                    self.conn.execute("ROLLBACK")
                    continue
                for statement in _split_sql(sql):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?)", (name, _now())
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            applied_now.append(name)
        return applied_now

    def _applied(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM schema_migrations WHERE name = ?", (name,)
        ).fetchone()
        return row is not None

    @property
    def schema_version(self) -> int:
        """Number of migrations applied to this store."""
        return self.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ----------------------------------------------------------------------
    def start_run(self, kind: str, environment: Mapping[str, Any] | None = None,
                  args: Mapping[str, Any] | None = None) -> int:
        """Record a new run and return its id."""
        cur = self.conn.execute(
            "INSERT INTO runs (kind, started_at, environment, args) VALUES (?, ?, ?, ?)",
            (kind, _now(), json.dumps(environment or {}), json.dumps(args or {}, default=str)),
        )
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        self.conn.execute(
            "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?", (_now(), status, run_id)
        )

    def latest_run(self, kind: str) -> int | None:
        """Id of the newest run of ``kind`` (finished or not), or None."""
        row = self.conn.execute(
            "SELECT id FROM runs WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
        ).fetchone()
        return None if row is None else int(row[0])

    def run_info(self, run_id: int) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT id, kind, started_at, finished_at, status, environment, args "
            "FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise KeyError(run_id)
        keys = ("id", "kind", "started_at", "finished_at", "status", "environment", "args")
        info = dict(zip(keys, row))
        info["environment"] = json.loads(info["environment"])
        info["args"] = json.loads(info["args"])
        return info

    # --- conformance -----------------------------------------------------------------
    def record_result(self, run_id: int, result: Mapping[str, Any]) -> None:
        """Write one conformance result in its own transaction (keys of CONFORMANCE_COLUMNS)."""
        values = [result.get(k) for k in CONFORMANCE_COLUMNS]
        self.conn.execute(
            "INSERT INTO conformance_results (run_id, case_id, layer, check_name, backend, "
            "library, dtype, device, outcome, max_abs_err, max_rel_err, atol, rtol, "
            "duration_s, message, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, *values, _now()),
        )

    def record_results(self, run_id: int, results: Iterable[Mapping[str, Any]]) -> None:
        for result in results:
            self.record_result(run_id, result)

    def load_conformance(self, run: int | None = None) -> pd.DataFrame:
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
        return pd.read_sql_query(sql + " ORDER BY id", self.conn, params=params)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def open_store(path: str | Path | None = None) -> Store:
    """Open (creating and migrating) the store at ``path`` or the default location."""
    return Store(path or DEFAULT_PATH)

