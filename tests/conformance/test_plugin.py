"""The pytest plugin: items, recording under xdist, xfails, crashes, plain pytest use."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap

from harness.conformance import suite_files

SUITES = str(suite_files.suites_dir())


def pytest_run(cwd, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", SUITES, "-p", "no:cacheprovider",
                           "-q", *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env=env)


def rows(db_path) -> list[tuple]:
    db = sqlite3.connect(db_path)
    return db.execute("SELECT run_id, case_id, check_name, outcome, message "
                      "FROM conformance_results ORDER BY id").fetchall()


def test_plain_pytest_under_xdist_records_one_run_from_every_worker(tmp_path):
    proc = pytest_run(tmp_path, "--backend", "numpy", "-n", "2", "-k",
                      "(Dense-linear or Add) and not compiled and not portability",
                      "--harness-store", str(tmp_path / "x.db"))
    assert proc.returncode == 0, proc.stdout[-2000:]
    recorded = rows(tmp_path / "x.db")
    assert {r[0] for r in recorded} == {1}  # one run, written by both workers
    cases = {r[1] for r in recorded}
    assert {"Dense-linear", "Add", "Add-three"} <= cases
    assert all(r[3] == "passed" for r in recorded)
    # one row per item pytest ran
    ran = int(proc.stdout.strip().splitlines()[-1].split()[0])
    assert len(recorded) == ran


def test_tests_outside_the_suite_record_nothing(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_x():\n    assert True\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_other.py")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0
    assert not (tmp_path / ".harness").exists()


def test_xfail_rules_mark_items_and_an_unexpected_pass_is_xpassed(tmp_path):
    rules = suite_files.load_xfails("numpy")
    assert rules == []  # NumPy has no known differences
    fake = [{"case": "Dense-lin*", "check": "forward", "reason": "upstream bug #1"}]
    assert suite_files.match_xfail(fake, case="Dense-linear", check="forward",
                                   dtype="float32", library="reference",
                                   device="cpu") == "upstream bug #1"
    assert suite_files.match_xfail(fake, case="Dense-linear", check="shape", dtype="float32",
                                   library="reference", device="cpu") is None


def test_a_crashing_case_fails_only_itself(tmp_path):
    # a plugin that aborts the process in one check, as a segfaulting backend would
    (tmp_path / "crasher.py").write_text(textwrap.dedent("""
        import os
        from harness.conformance import checks

        def pytest_configure(config):
            checks.get("shape")
            original = checks._CHECKS["forward"]
            def forward(ctx):
                if ctx.case.id == "Dense-linear":
                    os.abort()
                return original(ctx)
            checks._CHECKS["forward"] = forward
    """))
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    proc = pytest_run(tmp_path, "--backend", "numpy", "-n", "2", "-p", "crasher",
                      "-k", "(Dense-linear or Dense-relu) and not compiled and not portability",
                      "--harness-store",
                      str(tmp_path / "c.db"), env=env)
    recorded = {(r[1], r[2]): (r[3], r[4]) for r in rows(tmp_path / "c.db")}
    outcome, message = recorded[("Dense-linear", "forward")]
    assert outcome == "error" and "crashed" in message
    others = {k: v[0] for k, v in recorded.items() if k != ("Dense-linear", "forward")}
    assert others and set(others.values()) == {"passed"}
    assert ("Dense-relu-nobias", "forward") in others
    assert proc.returncode == 1


def test_bad_xfail_file_is_rejected(tmp_path, monkeypatch):
    (tmp_path / "xfails").mkdir()
    (tmp_path / "xfails" / "numpy.toml").write_text('[[xfail]]\ncase = "X"\n')
    monkeypatch.setattr(suite_files, "suites_dir", lambda: tmp_path)
    import pytest

    from harness.errors import UsageError

    with pytest.raises(UsageError, match="no reason"):
        suite_files.load_xfails("numpy")
