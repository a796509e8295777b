"""Runs: one row per conformance or analysis run, and the commit a run tested."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from harness.store._db import inserted_id, now

if TYPE_CHECKING:
    from harness.store.core import Store

_RUN_KEYS = ("id", "kind", "started_at", "finished_at", "status", "environment", "args")


def start_run(store: Store, kind: str, environment: Mapping[str, Any] | None = None,
              args: Mapping[str, Any] | None = None) -> int:
    """Record a new run of ``kind`` started now; return its id."""
    cur = store.conn.execute(
        "INSERT INTO runs (kind, started_at, environment, args) VALUES (?, ?, ?, ?)",
        (kind, now(), json.dumps(environment or {}), json.dumps(args or {}, default=str)),
    )
    return inserted_id(cur)


def finish_run(store: Store, run_id: int, status: str = "finished") -> None:
    """Mark run ``run_id`` as ended now with ``status``."""
    store.conn.execute(
        "UPDATE runs SET finished_at = ?, status = ? WHERE id = ?", (now(), status, run_id)
    )


def latest_run(store: Store, kind: str) -> int | None:
    """Id of the newest run of ``kind`` (finished or not), or None."""
    row = store.conn.execute(
        "SELECT id FROM runs WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)
    ).fetchone()
    return None if row is None else int(row[0])


def run_info(store: Store, run_id: int) -> dict[str, Any]:
    """The row of run ``run_id`` with ``environment`` and ``args`` decoded; KeyError if none."""
    row = store.conn.execute(
        f"SELECT {', '.join(_RUN_KEYS)} FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    if row is None:
        raise KeyError(run_id)
    info = dict(zip(_RUN_KEYS, row, strict=True))
    info["environment"] = json.loads(info["environment"])
    info["args"] = json.loads(info["args"])
    return info


def set_run_commit(store: Store, run_id: int, commit_sha: str) -> None:
    """Record that run ``run_id`` tested commit ``commit_sha`` (a full sha)."""
    store.conn.execute("UPDATE runs SET commit_sha = ? WHERE id = ?", (commit_sha, run_id))


def run_commit(store: Store, run_id: int) -> str | None:
    """The commit run ``run_id`` tested, or None when it was not recorded."""
    row = store.conn.execute("SELECT commit_sha FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else row[0]


def latest_run_for_commit(store: Store, kind: str, commit_sha: str) -> int | None:
    """Id of the newest run of ``kind`` recorded for ``commit_sha``, or None."""
    row = store.conn.execute(
        "SELECT id FROM runs WHERE kind = ? AND commit_sha = ? ORDER BY id DESC LIMIT 1",
        (kind, commit_sha),
    ).fetchone()
    return None if row is None else int(row[0])
