"""Trends (issue 6): the metric figures of each commit's tree, by metric-code version.

One row per (version, commit), so a re-run of trends reads them back instead of aggregating
again; ``version`` digests the metric code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from harness.store._db import now, select_in, write_rows

if TYPE_CHECKING:
    from harness.store.core import Store


def trend_points_get(store: Store, version: str, commits: Iterable[str]) -> dict[str, Any]:
    """Stored trend points of ``commits`` at ``version``: ``{commit: point}`` (hits only)."""
    rows = select_in(store.conn, "SELECT commit_sha, point FROM trend_points WHERE "
                     "version = ? AND commit_sha IN ({keys})", (version,), commits)
    return {sha: json.loads(point) for sha, point in rows}


def trend_points_put(store: Store, version: str, items: Iterable[tuple[str, Any]]) -> int:
    """Store ``(commit, point)`` pairs at ``version`` in one transaction (replacing older
    ones); returns the number of rows written."""
    rows = [(version, sha, json.dumps(point), now()) for sha, point in items]
    return write_rows(store.conn, "INSERT OR REPLACE INTO trend_points (version, commit_sha, "
                      "point, created_at) VALUES (?, ?, ?, ?)", rows)


def trend_points_count(store: Store, version: str | None = None) -> int:
    """Number of stored trend points (of ``version`` if given)."""
    sql = "SELECT COUNT(*) FROM trend_points"
    params: tuple[str, ...] = ()
    if version is not None:
        sql, params = sql + " WHERE version = ?", (version,)
    return int(store.conn.execute(sql, params).fetchone()[0])
