"""The SQLite store: migrations, per-result transactions, loaders, crash safety."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from harness import store as store_mod
from harness.store import Store, open_store

ROW = {"case": "Dense-linear", "layer": "Dense", "check": "forward", "backend": "numpy",
       "library": "reference", "dtype": "float32", "device": "cpu", "outcome": "passed",
       "max_abs_err": 1e-7, "max_rel_err": 2e-7, "atol": 1e-5, "rtol": 1e-4,
       "duration_s": 0.01, "message": None}


def test_new_store_is_wal_and_fully_migrated(tmp_path):
    with open_store(tmp_path / "h.db") as st:
        assert st.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert st.schema_version == len(store_mod.MIGRATIONS)
        # opening again applies nothing
        assert st.migrate() == []


def test_record_and_load_conformance_by_run(tmp_path):
    with open_store(tmp_path / "h.db") as st:
        first = st.start_run("conformance", {"python": "3.11"})
        second = st.start_run("conformance")
        st.record_result(first, ROW)
        st.record_result(second, {**ROW, "case": "Dense-relu-nobias", "outcome": "failed"})
        st.record_result(second, {**ROW, "check": "shape", "max_abs_err": None})
        assert st.latest_run("conformance") == second
        frame = st.load_conformance(second)
        assert list(frame["case"]) == ["Dense-relu-nobias", "Dense-linear"]
        assert list(frame["outcome"]) == ["failed", "passed"]
        assert frame["max_abs_err"].isna().tolist() == [False, True]
        assert len(st.load_conformance()) == 3
        assert st.run_info(first)["environment"] == {"python": "3.11"}


def test_older_store_is_migrated_without_losing_rows(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
    with Store(path) as st:
        run = st.start_run("conformance")
        st.record_result(run, ROW)
        assert st.schema_version == 1
    monkeypatch.undo()
    with Store(path) as st:
        assert st.schema_version == len(store_mod.MIGRATIONS)
        assert len(st.load_conformance(run)) == 1


@pytest.mark.parametrize("streaming", [False, True])
def test_sigkill_mid_run_keeps_every_recorded_row(tmp_path, streaming):
    path = tmp_path / "killed.db"
    child = textwrap.dedent(f"""
        import sys, time
        from harness.store import open_store
        st = open_store({str(path)!r})
        if {streaming!r}:  # as the conformance plugin opens it
            st.stream_results()
        run = st.start_run("conformance")
        row = {ROW!r}
        for i in range(100000):
            st.record_result(run, dict(row, case=f"case-{{i}}"))
            print(i + 1, flush=True)
            time.sleep(0.001)
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    confirmed = 0
    for line in proc.stdout:
        confirmed = int(line)
        if confirmed >= 200:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with open_store(path) as st:
        frame = st.load_conformance()
        assert len(frame) >= confirmed  # every row the child saw committed is there
        assert set(frame["case"][:confirmed]) == {f"case-{i}" for i in range(confirmed)}
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_streaming_results_checkpoints_less_often_but_commits_each_row(tmp_path):
    with open_store(tmp_path / "s.db") as st:
        assert st.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        st.stream_results()
        assert st.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == \
            store_mod.RESULT_STREAM_CHECKPOINT_PAGES
        run = st.start_run("conformance")
        st.record_result(run, ROW)
        # another connection sees the row at once: it was committed, not batched
        other = sqlite3.connect(tmp_path / "s.db")
        assert other.execute("SELECT COUNT(*) FROM conformance_results").fetchone()[0] == 1
        other.close()
        assert not st.conn.in_transaction


def test_concurrent_writers_from_several_processes(tmp_path):
    path = tmp_path / "multi.db"
    with open_store(path) as st:
        run = st.start_run("conformance")
    child = textwrap.dedent(f"""
        import sys
        from harness.store import open_store
        st = open_store({str(path)!r})
        for i in range(100):
            st.record_result({run}, dict({ROW!r}, case=f"w{{sys.argv[1]}}-{{i}}"))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", child, str(n)]) for n in range(3)]
    assert [p.wait() for p in procs] == [0, 0, 0]
    with open_store(path) as st:
        assert len(st.load_conformance(run)) == 300


def test_unknown_run_raises_keyerror(tmp_path):
    with open_store(tmp_path / "h.db") as st, pytest.raises(KeyError):
        st.run_info(42)


def test_store_file_is_plain_sqlite(tmp_path):
    path = tmp_path / "h.db"
    open_store(path).close()
    tables = {r[0] for r in sqlite3.connect(path).execute(
        "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "conformance_results", "schema_migrations"} <= tables


def test_lookups_of_more_keys_than_one_sql_list_holds_find_every_hit(tmp_path):
    from harness.store import cache_get, cache_put, trend_points_get, trend_points_put
    from harness.store._db import SQL_CHUNK

    keys = [f"k{i:05d}" for i in range(2 * SQL_CHUNK + 3)]  # three lists, the last of 3 keys
    with open_store(tmp_path / "h.db") as store:
        cache_put(store, "todos", "1", [(k, {"n": i}) for i, k in enumerate(keys)])
        cache_put(store, "todos", "2", [("k00000", {"n": -1})])  # another version: not a hit
        asked = [*keys, "missing", keys[0], keys[-1]]  # a miss and repeated keys
        assert cache_get(store, "todos", "1", asked) == {k: {"n": i} for i, k in enumerate(keys)}
        trend_points_put(store, "v", [(k, [i]) for i, k in enumerate(keys[1::2])])
        assert trend_points_get(store, "v", asked) == {k: [i] for i, k in enumerate(keys[1::2])}
