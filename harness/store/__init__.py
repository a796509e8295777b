"""The embedded SQLite store: schema, migrations, writes and pandas loaders.

This package is the only code that speaks SQL. The schema is a list of named migrations
applied in order and recorded in ``schema_migrations``; a store written by an older harness is
migrated forward when opened, never dropped. The database runs in WAL mode and every result
is committed in its own transaction, so a killed run keeps every row it recorded.

Modules, one per group of tables: ``core`` (the Store handle and its connection),
``migrations`` (the schema), ``runs``, ``conformance``, ``analysis`` (blob cache and
documents), ``history``, ``oracle``, ``trends``; ``_db`` holds what they share. Every name is
re-exported here: import from ``harness.store``.
"""

from __future__ import annotations

from harness.store.analysis import (
    ANALYSIS_SCHEMA,
    cache_get,
    cache_put,
    load_analysis,
    load_analysis_frame,
    load_analysis_trend,
    record_analysis,
)
from harness.store.conformance import CONFORMANCE_COLUMNS, RESULT_STREAM_CHECKPOINT_PAGES
from harness.store.core import DEFAULT_PATH, Store, open_store
from harness.store.history import (
    HISTORY_CHANGE_COLUMNS,
    HISTORY_COMMIT_COLUMNS,
    history_append,
    history_get_result,
    history_identities,
    history_iter_changes,
    history_iter_commits,
    history_lines,
    history_new_line,
    history_put_result,
    history_touch_line,
    load_history_commits,
)
from harness.store.migrations import (
    ANALYSIS_MIGRATION,
    HISTORY_MIGRATION,
    MIGRATIONS,
    ORACLE_MIGRATION,
    RUN_COMMIT_MIGRATION,
    RUNS_MIGRATION,
    TRENDS_MIGRATION,
    split_sql,
)
from harness.store.oracle import oracle_get, oracle_put
from harness.store.runs import latest_run_for_commit, run_commit, set_run_commit
from harness.store.trends import trend_points_count, trend_points_get, trend_points_put

# the name the upgrade tests (and older callers) use
_split_sql = split_sql

__all__ = [
    "ANALYSIS_MIGRATION",
    "ANALYSIS_SCHEMA",
    "CONFORMANCE_COLUMNS",
    "DEFAULT_PATH",
    "HISTORY_CHANGE_COLUMNS",
    "HISTORY_COMMIT_COLUMNS",
    "HISTORY_MIGRATION",
    "MIGRATIONS",
    "ORACLE_MIGRATION",
    "RESULT_STREAM_CHECKPOINT_PAGES",
    "RUNS_MIGRATION",
    "RUN_COMMIT_MIGRATION",
    "Store",
    "TRENDS_MIGRATION",
    "cache_get",
    "cache_put",
    "history_append",
    "history_get_result",
    "history_identities",
    "history_iter_changes",
    "history_iter_commits",
    "history_lines",
    "history_new_line",
    "history_put_result",
    "history_touch_line",
    "latest_run_for_commit",
    "load_analysis",
    "load_analysis_frame",
    "load_analysis_trend",
    "load_history_commits",
    "open_store",
    "oracle_get",
    "oracle_put",
    "record_analysis",
    "run_commit",
    "set_run_commit",
    "split_sql",
    "trend_points_count",
    "trend_points_get",
    "trend_points_put",
]
