"""The schema of the store: named migrations in order, and how they are applied.

A store records the names of the migrations applied to it in ``schema_migrations``; opening a
store written by an older harness applies the missing ones, never dropping a table. Append a
new migration to MIGRATIONS; never edit or reorder a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from harness.store._db import now

# === runs and conformance results ==========================================================

RUNS_MIGRATION = (
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
)

# === analysis (engine): blob cache and analysis documents ===================================

ANALYSIS_MIGRATION = (
    "0002_analysis",
    """
        CREATE TABLE analysis_cache (
            cache_key   TEXT NOT NULL,            -- blob sha, tree digest or 'commit:path'
            analyser    TEXT NOT NULL,
            version     TEXT NOT NULL,
            payload     TEXT NOT NULL,            -- JSON
            created_at  TEXT NOT NULL,
            PRIMARY KEY (analyser, version, cache_key)
        ) WITHOUT ROWID;
        CREATE TABLE analysis_documents (
            run_id      INTEGER PRIMARY KEY REFERENCES runs(id),
            repo        TEXT NOT NULL,
            rev         TEXT NOT NULL,
            schema      TEXT NOT NULL,
            document    TEXT NOT NULL,            -- JSON, schema harness.analysis/1
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX analysis_documents_rev ON analysis_documents(repo, rev);
        """,
)

# === history (issue 6): mined commits per "line" of history, result cache ===========
# A line is an ancestor-closed set of commits of one repository, appended in topological
# order in batches; ``heads`` is its frontier, so a killed run resumes from the last batch.

HISTORY_MIGRATION = (
    "0003_history",
    """
    CREATE TABLE history_lines (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        repo        TEXT NOT NULL,                 -- absolute git dir
        heads       TEXT NOT NULL DEFAULT '[]',    -- JSON list of frontier commit shas
        commits     INTEGER NOT NULL DEFAULT 0,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX history_lines_repo ON history_lines(repo);
    CREATE TABLE history_commits (
        line_id         INTEGER NOT NULL REFERENCES history_lines(id) ON DELETE CASCADE,
        seq             INTEGER NOT NULL,          -- position in topological order
        sha             TEXT NOT NULL,
        parents         TEXT NOT NULL,             -- space-separated shas
        author_name     TEXT NOT NULL,
        author_email    TEXT NOT NULL,
        author_date     TEXT NOT NULL,             -- ISO-8601 with offset
        committer_name  TEXT NOT NULL,
        committer_email TEXT NOT NULL,
        committer_date  TEXT NOT NULL,
        subject         TEXT NOT NULL,
        PRIMARY KEY (line_id, seq)
    );
    CREATE TABLE history_changes (
        line_id   INTEGER NOT NULL REFERENCES history_lines(id) ON DELETE CASCADE,
        seq       INTEGER NOT NULL,
        status    TEXT NOT NULL,                   -- A M D R C T (git diff --raw)
        path      TEXT NOT NULL,
        old_path  TEXT,
        blob      TEXT NOT NULL,                   -- new blob sha (zeros when deleted)
        added     INTEGER,                         -- NULL for binary files
        deleted   INTEGER
    );
    CREATE INDEX history_changes_line ON history_changes(line_id, seq);
    CREATE TABLE history_results (
        line_id     INTEGER NOT NULL REFERENCES history_lines(id) ON DELETE CASCADE,
        key         TEXT NOT NULL,
        result      TEXT NOT NULL,                 -- JSON
        created_at  TEXT NOT NULL,
        PRIMARY KEY (line_id, key)
    );
    """,
)

# === oracle cache (conformance): float64 oracle results by case digest and oracle version ===

ORACLE_MIGRATION = (
    "0004_oracle_cache",
    """
    CREATE TABLE oracle_cache (
        key        TEXT PRIMARY KEY,   -- case digest + oracle version + exact inputs/weights
        payload    BLOB NOT NULL,      -- np.savez of the arrays
        created_at TEXT NOT NULL
    );
    """,
)

# === trends (issue 6): per-revision metric aggregates ===============================
# One row per (version, commit): the figures of that commit's tree, so a re-run of trends
# reads them back instead of aggregating again. ``version`` digests the metric code.

TRENDS_MIGRATION = (
    "0005_trends",
    """
    CREATE TABLE trend_points (
        version     TEXT NOT NULL,
        commit_sha  TEXT NOT NULL,
        point       TEXT NOT NULL,                 -- JSON figures of the commit's tree
        created_at  TEXT NOT NULL,
        PRIMARY KEY (version, commit_sha)
    ) WITHOUT ROWID;
    """,
)

# === run commits (gate): which commit a run tested =========================================
# ``harness conform`` records the commit of the checkout it ran in, so that the gate compares
# the run of the pull request's head, not whichever run happens to be the latest.

RUN_COMMIT_MIGRATION = (
    "0006_runs_commit",
    """
    ALTER TABLE runs ADD COLUMN commit_sha TEXT;   -- full sha; NULL when not recorded
    CREATE INDEX runs_kind_commit ON runs(kind, commit_sha);
    """,
)

# Named migrations, applied in list order. Append; never edit or reorder a released one.
MIGRATIONS: list[tuple[str, str]] = [
    RUNS_MIGRATION,
    ANALYSIS_MIGRATION,
    HISTORY_MIGRATION,
    ORACLE_MIGRATION,
    TRENDS_MIGRATION,
    RUN_COMMIT_MIGRATION,
]


def split_sql(script: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def applied(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the migration ``name`` is recorded as applied in ``conn``'s store."""
    row = conn.execute("SELECT 1 FROM schema_migrations WHERE name = ?", (name,)).fetchone()
    return row is not None


def apply_migrations(conn: sqlite3.Connection,
                     migrations: Sequence[tuple[str, str]]) -> list[str]:
    """Apply the pending ones of ``migrations`` in order, each in its own transaction.

    Safe when several processes open one store at once: a migration another process applied
    first is skipped. Returns the names applied by this call.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)"
    )
    applied_now = []
    for name, sql in migrations:
        if applied(conn, name):
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if applied(conn, name):  # another process got there first
                conn.execute("ROLLBACK")
                continue
            for statement in split_sql(sql):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied_now.append(name)
    return applied_now
