"""``python -m harness report``: merging stores, formats, usage errors (exit 2, one line)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.report import FORMATS, parse_formats


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_report_merges_two_stores_and_writes_six_files(tmp_path: Path,
                                                        two_stores: tuple[Path, Path]) -> None:
    a, b = two_stores
    proc = harness("report", "--out", "D", "--store", str(a), "--store", str(b), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "D"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.html", "summary.md", "analysis.json", "conformance.json", "junit.xml",
         "harness.sarif"])
    assert sorted(Path(line).name for line in proc.stdout.split()) == sorted(
        p.name for p in out.iterdir())
    doc = json.loads((out / "conformance.json").read_text())
    assert {r["backend"] for r in doc["results"]} == {"numpy", "torch"}


def test_format_option_limits_the_files(tmp_path: Path, two_stores: tuple[Path, Path]) -> None:
    proc = harness("report", "--out", "D", "--store", str(two_stores[1]),
                   "--format", "junit, sarif", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "D").iterdir()) == ["harness.sarif", "junit.xml"]


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "html,pdf"], "harness: error: unknown report format 'pdf'"),
    (["--store", "missing.db"], "harness: error: store missing.db not found"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path: Path, two_stores: tuple[Path, Path],
                                           args: list[str], message: str) -> None:
    if "--store" not in args:
        args = [*args, "--store", str(two_stores[0])]
    proc = harness("report", "--out", "D", *args, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert not (tmp_path / "D").exists()  # nothing written on a usage error
    assert not (tmp_path / "missing.db").exists()  # a missing store is not created


def test_a_file_that_is_not_a_store_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not sqlite at all, just text " * 100)
    proc = harness("report", "--out", "D", "--store", "notes.db", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("harness: error: cannot read store notes.db")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_parse_formats_keeps_the_canonical_order() -> None:
    assert parse_formats(None) == list(FORMATS)
    assert parse_formats(["sarif", "HTML", "md"]) == ["html", "md", "sarif"]
    with pytest.raises(UsageError, match="no report format"):
        parse_formats(["", " "])
