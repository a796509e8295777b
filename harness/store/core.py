"""The Store handle: one SQLite connection in WAL mode, migrated forward when opened.

Every result is committed in its own transaction, so a killed run keeps every row it
recorded. The SQL of each group of tables lives in its own module of this package; the
methods here delegate to them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from harness.store import conformance, runs
from harness.store.migrations import apply_migrations

DEFAULT_PATH = Path(".harness/harness.db")


class Store:
    """A handle on one SQLite store file; cheap to open, safe across processes."""

    def __init__(self, path: str | Path = DEFAULT_PATH):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # check_same_thread off: the conformance watchdog thread records a hung case while the
        # main thread is stuck in it; writes are never concurrent within one process
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.migrate()

    # --- schema --------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied now."""
        # read through the package at call time, so a substituted harness.store.MIGRATIONS
        # (an older schema, as the upgrade tests build) is the one applied
        from harness import store as package

        return apply_migrations(self.conn, package.MIGRATIONS)

    @property
    def schema_version(self) -> int:
        """Number of migrations applied to this store."""
        return self.conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0]

    def close(self) -> None:
        """Close the connection (the WAL is folded back when the last one closes)."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- runs ----------------------------------------------------------------------
    def start_run(self, kind: str, environment: Mapping[str, Any] | None = None,
                  args: Mapping[str, Any] | None = None) -> int:
        """Record a new run and return its id."""
        return runs.start_run(self, kind, environment, args)

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        """Mark run ``run_id`` as ended now with ``status``."""
        runs.finish_run(self, run_id, status)

    def latest_run(self, kind: str) -> int | None:
        """Id of the newest run of ``kind`` (finished or not), or None."""
        return runs.latest_run(self, kind)

    def run_info(self, run_id: int) -> dict[str, Any]:
        """The row of run ``run_id`` with its JSON decoded; KeyError when there is none."""
        return runs.run_info(self, run_id)

    # --- conformance -----------------------------------------------------------------
    def record_result(self, run_id: int, result: Mapping[str, Any]) -> None:
        """Write one conformance result in its own transaction (keys of CONFORMANCE_COLUMNS)."""
        conformance.record_result(self, run_id, result)

    def stream_results(self) -> None:
        """Tune this connection for one committed result after another (a conformance run)."""
        conformance.stream_results(self)

    def case_results(self, run_id: int, case: str, backend: str,
                     dtype: str) -> dict[str, tuple[str, str | None]]:
        """``{check: (outcome, message)}`` of the results recorded for one case of the run."""
        return conformance.case_results(self, run_id, case, backend, dtype)

    def record_results(self, run_id: int, results: Iterable[Mapping[str, Any]]) -> None:
        """Write conformance results one by one, each in its own transaction."""
        conformance.record_results(self, run_id, results)

    def load_conformance(self, run: int | None = None) -> pd.DataFrame:
        """Results of conformance run ``run`` (default: every run) as a DataFrame.

        Columns are the result keys of CONTRACT.md plus ``run_id``.
        """
        return conformance.load_conformance(self, run)


def open_store(path: str | Path | None = None) -> Store:
    """Open (creating and migrating) the store at ``path`` or the default location."""
    return Store(path or DEFAULT_PATH)
