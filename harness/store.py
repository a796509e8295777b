"""The embedded SQLite store: schema, migrations, writes and pandas loaders.

This is the only module that speaks SQL. The schema is a list of named migrations applied in
order and recorded in ``schema_migrations``; a store written by an older harness is migrated
forward when opened, never dropped. The database runs in WAL mode and every result is
committed in its own transaction, so a killed run keeps every row it recorded.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
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
    (
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
    ),
]

CONFORMANCE_COLUMNS = (
    "case", "layer", "check", "backend", "library", "dtype", "device", "outcome",
    "max_abs_err", "max_rel_err", "atol", "rtol", "duration_s", "message",
)
#: WAL pages between automatic checkpoints while conformance results stream in (SQLite's
#: default is 1,000): at most ~40 MiB of WAL, folded back when the last connection closes
RESULT_STREAM_CHECKPOINT_PAGES = 10_000


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _inserted_id(cur: sqlite3.Cursor) -> int:
    """The rowid the cursor's INSERT just made (sqlite3 sets it after every INSERT)."""
    if cur.lastrowid is None:
        raise RuntimeError("the INSERT made no row")
    return cur.lastrowid


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
        return _inserted_id(cur)

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
        info = dict(zip(keys, row, strict=True))
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

    def stream_results(self) -> None:
        """Tune this connection for one committed result after another (a conformance run).

        Each result stays its own transaction; what changes is how often SQLite folds the WAL
        back into the database file, which syncs it: every ~3,000 results instead of every
        ~330 (each commit appends about three 4 KiB pages).
        """
        self.conn.execute(f"PRAGMA wal_autocheckpoint={RESULT_STREAM_CHECKPOINT_PAGES}")

    def has_result(self, run_id: int, case: str, check: str, backend: str, dtype: str) -> bool:
        """Whether a result for this item of the run is recorded already."""
        row = self.conn.execute(
            "SELECT 1 FROM conformance_results WHERE run_id = ? AND case_id = ? AND "
            "check_name = ? AND backend = ? AND dtype = ? LIMIT 1",
            (run_id, case, check, backend, dtype)).fetchone()
        return row is not None

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



# ==== analysis (engine): blob cache and analysis documents ===================================
ANALYSIS_SCHEMA = "harness.analysis/1"
_SQL_CHUNK = 500  # below SQLite's default limit on bound parameters


def cache_get(store: Store, analyser: str, version: str, keys: Iterable[str]) -> dict[str, Any]:
    """Hits only: ``{key: payload}`` cached for ``analyser`` at ``version``, among ``keys``."""
    wanted = list(dict.fromkeys(keys))
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), _SQL_CHUNK):
        chunk = wanted[start:start + _SQL_CHUNK]
        rows = store.conn.execute(
            "SELECT cache_key, payload FROM analysis_cache WHERE analyser = ? AND version = ? "
            f"AND cache_key IN ({','.join('?' * len(chunk))})",
            (analyser, version, *chunk),
        )
        found.update((key, json.loads(payload)) for key, payload in rows)
    return found


def cache_put(store: Store, analyser: str, version: str,
              items: Iterable[tuple[str, Any]]) -> int:
    """Store ``(key, payload)`` pairs for ``analyser`` at ``version`` in one transaction.

    Returns the number of rows written; an existing entry is replaced.
    """
    rows = [(key, analyser, version, json.dumps(payload), _now()) for key, payload in items]
    if not rows:
        return 0
    store.conn.execute("BEGIN IMMEDIATE")
    try:
        store.conn.executemany(
            "INSERT OR REPLACE INTO analysis_cache (cache_key, analyser, version, payload, "
            "created_at) VALUES (?, ?, ?, ?, ?)", rows,
        )
        store.conn.execute("COMMIT")
    except BaseException:
        store.conn.execute("ROLLBACK")
        raise
    return len(rows)


def record_analysis(store: Store, run_id: int, document: Mapping[str, Any]) -> None:
    """Save one ``harness.analysis/1`` document as the result of analysis run ``run_id``."""
    store.conn.execute(
        "INSERT OR REPLACE INTO analysis_documents (run_id, repo, rev, schema, document, "
        "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
        (run_id, document["repo"], document["rev"], document["schema"],
         json.dumps(document), _now()),
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
MIGRATIONS.append(HISTORY_MIGRATION)

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
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        stale = conn.execute(
            "SELECT id FROM history_lines WHERE repo = ? ORDER BY updated_at DESC, id DESC "
            "LIMIT -1 OFFSET ?", (repo, max(keep - 1, 0))
        ).fetchall()
        for (line_id,) in stale:
            for table in ("history_results", "history_changes", "history_commits"):
                conn.execute(f"DELETE FROM {table} WHERE line_id = ?", (line_id,))
            conn.execute("DELETE FROM history_lines WHERE id = ?", (line_id,))
        cur = conn.execute(
            "INSERT INTO history_lines (repo, updated_at) VALUES (?, ?)", (repo, _now())
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return _inserted_id(cur)


def history_append(store: Store, line_id: int, commits: list[tuple], changes: list[tuple],
                   heads: list[str]) -> None:
    """Append one batch (rows in HISTORY_*_COLUMNS order) and the new frontier atomically."""
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
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
            "WHERE id = ?", (json.dumps(heads), len(commits), _now(), line_id),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def history_touch_line(store: Store, line_id: int) -> None:
    """Mark a line as just used (lines are evicted least recently used first)."""
    store.conn.execute("UPDATE history_lines SET updated_at = ? WHERE id = ?", (_now(), line_id))


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
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM history_results WHERE line_id = ?", (line_id,))
        conn.execute(
            "INSERT INTO history_results (line_id, key, result, created_at) VALUES (?,?,?,?)",
            (line_id, key, json.dumps(result), _now()),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def load_history_commits(store: Store, line_id: int) -> pd.DataFrame:
    """Commits of a line of history as a DataFrame (HISTORY_COMMIT_COLUMNS)."""
    return pd.read_sql_query(
        f"SELECT {', '.join(HISTORY_COMMIT_COLUMNS)} FROM history_commits WHERE line_id = ? "
        "ORDER BY seq", store.conn, params=(line_id,)
    )


# --- report loaders ---------------------------------------------------------------------------
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
MIGRATIONS.append(ORACLE_MIGRATION)


def oracle_get(store: Store, key: str) -> bytes | None:
    """The cached oracle payload for ``key``, or None."""
    row = store.conn.execute("SELECT payload FROM oracle_cache WHERE key = ?", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def oracle_put(store: Store, key: str, payload: bytes) -> None:
    """Cache an oracle payload (first writer wins: the value is a pure function of the key)."""
    store.conn.execute("INSERT OR IGNORE INTO oracle_cache VALUES (?, ?, ?)",
                       (key, payload, _now()))


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
MIGRATIONS.append(TRENDS_MIGRATION)


def trend_points_get(store: Store, version: str, commits: Iterable[str]) -> dict[str, Any]:
    """Stored trend points of ``commits`` at ``version``: ``{commit: point}`` (hits only)."""
    wanted = list(dict.fromkeys(commits))
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), _SQL_CHUNK):
        chunk = wanted[start:start + _SQL_CHUNK]
        rows = store.conn.execute(
            "SELECT commit_sha, point FROM trend_points WHERE version = ? "
            f"AND commit_sha IN ({','.join('?' * len(chunk))})", (version, *chunk),
        )
        found.update((sha, json.loads(point)) for sha, point in rows)
    return found


def trend_points_put(store: Store, version: str, items: Iterable[tuple[str, Any]]) -> int:
    """Store ``(commit, point)`` pairs at ``version`` in one transaction (replacing older
    ones); returns the number of rows written."""
    rows = [(version, sha, json.dumps(point), _now()) for sha, point in items]
    if not rows:
        return 0
    store.conn.execute("BEGIN IMMEDIATE")
    try:
        store.conn.executemany(
            "INSERT OR REPLACE INTO trend_points (version, commit_sha, point, created_at) "
            "VALUES (?, ?, ?, ?)", rows,
        )
        store.conn.execute("COMMIT")
    except BaseException:
        store.conn.execute("ROLLBACK")
        raise
    return len(rows)


def trend_points_count(store: Store, version: str | None = None) -> int:
    """Number of stored trend points (of ``version`` if given)."""
    sql = "SELECT COUNT(*) FROM trend_points"
    params: tuple[str, ...] = ()
    if version is not None:
        sql, params = sql + " WHERE version = ?", (version,)
    return int(store.conn.execute(sql, params).fetchone()[0])


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
MIGRATIONS.append(RUN_COMMIT_MIGRATION)


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
