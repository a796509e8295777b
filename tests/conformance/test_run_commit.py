"""`harness conform` records the commit it tested, so `harness gate` judges the head's run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gitrepo import GitRepoBuilder as Repo

from harness.conformance.runner import checkout_commit
from harness.store import Store, run_commit


def test_checkout_commit_is_head_and_none_outside_git(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("a.py", "x = 1\n")
    head = repo.commit("first")
    assert checkout_commit(str(repo.root)) == head
    repo.write("a.py", "x = 2\n")  # a dirty tree still tested HEAD's commit
    assert checkout_commit(str(repo.root)) == head
    plain = tmp_path / "plain"
    plain.mkdir()
    assert checkout_commit(str(plain)) is None


def test_conform_records_the_checked_out_commit(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("a.py", "x = 1\n")
    head = repo.commit("first")
    store = tmp_path / "h.db"
    proc = subprocess.run([sys.executable, "-m", "harness", "conform", "--backend", "numpy",
                           "--select", "Dense-linear and forward", "--jobs", "0",
                           "--store", str(store)],
                          cwd=repo.root, capture_output=True, text=True,
                          env={**os.environ, "CI": "true"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    with Store(store) as db:
        (run_id,) = db.conn.execute("SELECT id FROM runs").fetchone()
        assert run_commit(db, run_id) == head


def test_plain_pytest_of_the_suite_records_the_commit_too(tmp_path: Path) -> None:
    from harness.conformance import suite_files

    repo = Repo(tmp_path / "r")
    repo.write("a.py", "x = 1\n")
    head = repo.commit("first")
    store = tmp_path / "p.db"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(suite_files.suites_dir()),
                           "-p", "no:cacheprovider", "-q", "--backend", "numpy",
                           "-k", "Dense-linear and forward", "--harness-store", str(store)],
                          cwd=repo.root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    with Store(store) as db:
        (run_id,) = db.conn.execute("SELECT id FROM runs").fetchone()
        assert run_commit(db, run_id) == head
