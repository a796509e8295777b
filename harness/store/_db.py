"""Low-level helpers every table module of the store shares: timestamps, ids, transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone

#: keys bound in one ``IN (...)`` list: below SQLite's default limit on bound parameters
SQL_CHUNK = 500


def select_in(conn: sqlite3.Connection, sql: str, params: Sequence[object],
              keys: Iterable[str]) -> Iterator[tuple]:
    """Rows of ``sql`` (ending in ``IN ({keys})``) for the distinct ``keys``, bound after
    ``params`` in lists of at most ``SQL_CHUNK``."""
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), SQL_CHUNK):
        chunk = wanted[start:start + SQL_CHUNK]
        yield from conn.execute(sql.format(keys=",".join("?" * len(chunk))), (*params, *chunk))


def now() -> str:
    """The current UTC time as an ISO-8601 string to the second (the store's timestamps)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid the cursor's INSERT just made (sqlite3 sets it after every INSERT)."""
    if cur.lastrowid is None:
        raise RuntimeError("the INSERT made no row")
    return cur.lastrowid


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one ``BEGIN IMMEDIATE`` transaction of ``conn``; yields ``conn``.

    Commits when the block ends; rolls back and re-raises on any exception, a failed
    COMMIT included.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def write_rows(conn: sqlite3.Connection, sql: str, rows: Sequence[tuple]) -> int:
    """``executemany(sql, rows)`` in one write transaction (nothing when there are no rows);
    returns the number of rows."""
    if rows:
        with write_transaction(conn):
            conn.executemany(sql, rows)
    return len(rows)
