"""History (issue 6): mined commits per "line" of history, and the line's result cache.

A line is an ancestor-closed set of commits of one repository, appended in topological
order in batches; ``heads`` is its frontier, so a killed run resumes from the last batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.store._db import inserted_id, now, write_transaction

if TYPE_CHECKING:
    from harness.store.core import Store

HISTORY_COMMIT_COLUMNS = (
    "seq", "sha", "parents", "author_name", "author_email", "author_date",
    "committer_name", "committer_email", "committer_date", "subject",
)
HISTORY_CHANGE_COLUMNS = ("seq", "status", "path", "old_path", "blob", "added", "deleted")


def history_lines(store: Store, repo: str) -> list[dict[str, Any]]:
    """Lines of history mined for ``repo``: [{"id", "heads", "commits"}], largest first."""
    rows = store.conn.execute(
        "SELECT id, heads, commits FROM history_lines WHERE repo = ? "
        "ORDER BY commits DESC, id DESC", (repo,)
    ).fetchall()
    return [{"id": r[0], "heads": json.loads(r[1]), "commits": r[2]} for r in rows]


def history_new_line(store: Store, repo: str, keep: int = 4) -> int:
    """Create an empty line for ``repo``, dropping the least recent beyond ``keep``; its id."""
    with write_transaction(store.conn) as conn:
        stale = conn.execute(
            "SELECT id FROM history_lines WHERE repo = ? ORDER BY updated_at DESC, id DESC "
            "LIMIT -1 OFFSET ?", (repo, max(keep - 1, 0))
        ).fetchall()
        for (line_id,) in stale:
            for table in ("history_results", "history_changes", "history_commits"):
                conn.execute(f"DELETE FROM {table} WHERE line_id = ?", (line_id,))
            conn.execute("DELETE FROM history_lines WHERE id = ?", (line_id,))
        cur = conn.execute(
            "INSERT INTO history_lines (repo, updated_at) VALUES (?, ?)", (repo, now())
        )
    return inserted_id(cur)


def history_append(store: Store, line_id: int, commits: list[tuple], changes: list[tuple],
                   heads: list[str]) -> None:
    """Append one batch (rows in HISTORY_*_COLUMNS order) and the new frontier atomically."""
    with write_transaction(store.conn) as conn:
        conn.executemany(
            "INSERT INTO history_commits (line_id, seq, sha, parents, author_name, author_email, "
            "author_date, committer_name, committer_email, committer_date, subject) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)", [(line_id, *row) for row in commits],
        )
        conn.executemany(
            "INSERT INTO history_changes (line_id, seq, status, path, old_path, blob, added, "
            "deleted) VALUES (?,?,?,?,?,?,?,?)", [(line_id, *row) for row in changes],
        )
        conn.execute(
            "UPDATE history_lines SET heads = ?, commits = commits + ?, updated_at = ? "
            "WHERE id = ?", (json.dumps(heads), len(commits), now(), line_id),
        )


def history_touch_line(store: Store, line_id: int) -> None:
    """Mark a line as just used (lines are evicted least recently used first)."""
    store.conn.execute("UPDATE history_lines SET updated_at = ? WHERE id = ?", (now(), line_id))


def history_identities(store: Store, line_id: int) -> list[tuple[str, str]]:
    """Distinct raw (name, email) pairs of the authors and committers of a line."""
    return store.conn.execute(
        "SELECT author_name, author_email FROM history_commits WHERE line_id = ? UNION "
        "SELECT committer_name, committer_email FROM history_commits WHERE line_id = ?",
        (line_id, line_id),
    ).fetchall()


def history_iter_commits(store: Store, line_id: int) -> Iterator[tuple]:
    """Commits of a line in mining order, streamed (HISTORY_COMMIT_COLUMNS)."""
    yield from store.conn.execute(
        f"SELECT {', '.join(HISTORY_COMMIT_COLUMNS)} FROM history_commits "
        "WHERE line_id = ? ORDER BY seq", (line_id,)
    )


def history_iter_changes(store: Store, line_id: int) -> Iterator[tuple]:
    """File changes of a line in mining order, streamed (HISTORY_CHANGE_COLUMNS)."""
    yield from store.conn.execute(
        f"SELECT {', '.join(HISTORY_CHANGE_COLUMNS)} FROM history_changes "
        "WHERE line_id = ? ORDER BY seq, rowid", (line_id,)
    )


def history_get_result(store: Store, line_id: int, key: str) -> dict[str, Any] | None:
    """The cached history result of a line for ``key``, or None."""
    row = store.conn.execute(
        "SELECT result FROM history_results WHERE line_id = ? AND key = ?", (line_id, key)
    ).fetchone()
    return None if row is None else json.loads(row[0])


def history_put_result(store: Store, line_id: int, key: str, result: Mapping[str, Any]) -> None:
    """Cache a history result, replacing older results of the line."""
    with write_transaction(store.conn) as conn:
        conn.execute("DELETE FROM history_results WHERE line_id = ?", (line_id,))
        conn.execute(
            "INSERT INTO history_results (line_id, key, result, created_at) VALUES (?,?,?,?)",
            (line_id, key, json.dumps(result), now()),
        )


def load_history_commits(store: Store, line_id: int) -> pd.DataFrame:
    """Commits of a line of history as a DataFrame (HISTORY_COMMIT_COLUMNS)."""
    return pd.read_sql_query(
        f"SELECT {', '.join(HISTORY_COMMIT_COLUMNS)} FROM history_commits WHERE line_id = ? "
        "ORDER BY seq", store.conn, params=(line_id,)
    )
