"""``harness gate``: coverage thresholds (changed statements, whole head) from a real
coverage.py data file, and the conformance run chosen by the head commit.

The repository is generated in a temporary folder; the coverage data comes from running
coverage.py on the feature branch's checkout, in a subprocess (the test process may itself be
traced by pytest-cov).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from gitrepo import GitRepoBuilder

from harness import store as store_mod
from harness.cli import main
from harness.config import ConfigError, Settings, load_settings
from harness.gate import evaluate
from harness.gate.coverage import below_minimum
from harness.gate.markdown import render, text
from harness.gate.model import FAIL, WARN
from harness.store import Store, latest_run_for_commit, run_commit, set_run_commit

CALC = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
# appended on the feature branch at lines 7-16: statements on 9, 10, 13, 14, 15, 16
CALC_MORE = ("\n\ndef mul(a, b):\n    return a * b\n\n\ndef div(a, b):\n    if b == 0:\n"
             "        raise ZeroDivisionError('b is zero')\n    return a / b\n")
EXTRA = "def unused():\n    return 1\n"  # new on the feature branch, never run
DRIVER = "from pkg import calc\n\ncalc.add(1, 2)\ncalc.mul(2, 3)\ncalc.div(4, 2)\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict:
    """The repository (main, feature) and a coverage.py data file of the feature's tests."""
    built = GitRepoBuilder(tmp_path_factory.mktemp("covered"))
    built.write_files({"pkg/__init__.py": "", "pkg/calc.py": CALC})
    built.commit("base")
    built.git("checkout", "-q", "-b", "feature")
    built.write_files({"pkg/calc.py": CALC + CALC_MORE, "pkg/extra.py": EXTRA})
    feature = built.commit("mul, div and extra")
    outside = tmp_path_factory.mktemp("run")
    (outside / "driver.py").write_text(DRIVER)
    data_file = outside / ".coverage"
    subprocess.run([sys.executable, "-m", "coverage", "run", f"--data-file={data_file}",
                    "--source=pkg", str(outside / "driver.py")],
                   cwd=built.root, check=True, capture_output=True,
                   env={"PYTHONPATH": str(built.root), "PATH": "/usr/bin:/bin"})
    built.git("checkout", "-q", "main")
    return {"root": built.root, "feature": feature, "data": str(data_file)}


def gate(project: dict, tmp_path: Path, **settings) -> tuple[object, str]:
    with Store(tmp_path / "gate.db") as store:
        verdict = evaluate(project["root"], "main", "feature", store=store,
                           settings=Settings(jobs=1, **settings))
    return verdict, render(verdict)


def coverage_section(verdict):
    (section,) = [s for s in verdict.sections if s.rule == "coverage"]
    return section


# Hand count: calc.py has 10 statements, 8 run (sub's return and the raise do not); extra.py
# has 2, none run. Changed: 6 in calc.py (5 run) + 2 in extra.py = 5 of 8 = 62.5%.
# Whole head: 8 of 12 = 66.7%.
def test_coverage_data_is_what_the_hand_count_says(project, tmp_path):
    verdict, markdown = gate(project, tmp_path, coverage_file=project["data"])
    section = coverage_section(verdict)
    assert [(f.level, f.where, f.evidence) for f in section.rows] == [
        (WARN, "pkg/calc.py:15", "1 of 6 changed statements not run by the tests: lines 15"),
        (WARN, "pkg/extra.py:1", "2 of 2 changed statements not run by the tests: lines 1-2"),
    ]
    # no threshold configured: low coverage only warns, as before
    assert verdict.passed and not section.failed
    assert "changed statements covered: 62.5% (5 of 8)" in markdown
    assert "all measured statements" not in markdown


def test_thresholds_met_pass_and_show_both_figures(project, tmp_path):
    verdict, markdown = gate(project, tmp_path, coverage_file=project["data"],
                             gate_min_coverage=62.5, gate_min_total_coverage=66.7)
    section = coverage_section(verdict)
    assert verdict.passed and section.count(FAIL) == 0 and section.warnings == []
    assert (f"changed statements covered: 62.5% (5 of 8) from {text(project['data'])}; "
            "all measured statements: 66.7% (8 of 12)") in markdown


def test_changed_line_coverage_below_its_minimum_fails(project, tmp_path):
    verdict, markdown = gate(project, tmp_path, coverage_file=project["data"],
                             gate_min_coverage=70, gate_min_total_coverage=50)
    assert not verdict.passed
    section = coverage_section(verdict)
    failing = [f for f in section.rows if f.level == FAIL]
    assert [(f.kind, f.where, f.evidence) for f in failing] == [
        ("coverage below minimum", "(repository)",
         "changed statements covered: 62.5% (5 of 8), below gate_min_coverage = 70%")]
    assert "| Coverage of changed lines | ❌ fail | 1 | 2 | 0 |" in markdown
    assert ("| ❌ | coverage below minimum | `(repository)` |  | changed statements covered: "
            "62.5% (5 of 8), below gate\\_min\\_coverage = 70% |") in markdown
    assert markdown.startswith("# ❌ Gate: fail")


def test_total_coverage_below_its_minimum_fails_alone(project, tmp_path):
    verdict, _ = gate(project, tmp_path, coverage_file=project["data"],
                      gate_min_total_coverage=70)
    failing = [f.evidence for f in coverage_section(verdict).rows if f.level == FAIL]
    assert failing == ["all measured statements covered: 66.7% (8 of 12), "
                       "below gate_min_total_coverage = 70%"]


def test_cobertura_report_gives_the_same_figures(project, tmp_path):
    hits = {"pkg/calc.py": {1: 1, 2: 1, 5: 1, 6: 0, 9: 1, 10: 1, 13: 1, 14: 1, 15: 0, 16: 1},
            "pkg/extra.py": {1: 0, 2: 0}}
    classes = "".join(
        f'<class filename="/ci/{path}"><lines>'
        + "".join(f'<line number="{n}" hits="{h}"/>' for n, h in lines.items())
        + "</lines></class>" for path, lines in hits.items())
    xml = tmp_path / "coverage.xml"
    xml.write_text(f"<coverage><packages><package><classes>{classes}</classes></package>"
                   "</packages></coverage>")
    verdict, markdown = gate(project, tmp_path, coverage_file=str(xml),
                             gate_min_coverage=60, gate_min_total_coverage=67)
    assert "(5 of 8)" in markdown and "all measured statements: 66.7% (8 of 12)" in markdown
    assert [f.evidence for f in coverage_section(verdict).rows if f.level == FAIL] == [
        "all measured statements covered: 66.7% (8 of 12), below gate_min_total_coverage = 67%"]


@pytest.mark.parametrize("coverage_file", ["", "missing/.coverage"])
def test_threshold_without_coverage_data_warns(project, tmp_path, coverage_file):
    verdict, markdown = gate(project, tmp_path, coverage_file=coverage_file,
                             gate_min_coverage=90)
    section = coverage_section(verdict)
    assert verdict.passed and section.rows == []
    assert section.warnings == ["gate_min_coverage set, but there is no coverage data: the "
                                "threshold is not applied"]
    assert "| Coverage of changed lines | ⚠️ pass with warnings | 0 | 1 | 0 |" in markdown
    assert "⚠️ gate\\_min\\_coverage set, but there is no coverage data" in markdown


def test_no_coverage_section_without_file_or_threshold(project, tmp_path):
    verdict, _ = gate(project, tmp_path)
    assert "coverage" not in [s.rule for s in verdict.sections]


def test_coverage_data_measuring_no_changed_file_warns(project, tmp_path):
    from coverage import CoverageData

    data = CoverageData(basename=str(tmp_path / ".coverage"))
    data.add_lines({"/elsewhere/other/module.py": [1, 2]})
    data.write()
    verdict, _ = gate(project, tmp_path, coverage_file=str(tmp_path / ".coverage"),
                      gate_min_coverage=90, gate_min_total_coverage=90)
    section = coverage_section(verdict)
    assert verdict.passed
    assert section.warnings == [
        f"{tmp_path / '.coverage'} measures none of the changed Python files: "
        "gate_min_coverage is not applied",
        f"{tmp_path / '.coverage'} measures none of the head's files: "
        "gate_min_total_coverage is not applied"]


def test_below_minimum_compares_the_shown_decimal():
    assert not below_minimum(7996, 10000, 80)    # 79.96% shows as 80.0%
    assert below_minimum(7994, 10000, 80)        # 79.94% shows as 79.9%
    assert below_minimum(9999, 10000, 100)       # 100.0% shown, one statement missed
    assert not below_minimum(10, 10, 100)
    assert not below_minimum(0, 10, 0)


def test_cli_exit_status_and_thresholds_from_pyproject(project, tmp_path, monkeypatch,
                                                       capsys):
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.harness]\ncoverage_file = "{project["data"]}"\ngate_min_coverage = 80\n')
    monkeypatch.chdir(tmp_path)
    status = main(["gate", "--base", "main", "--head", "feature", "--store",
                   str(tmp_path / "gate.db"), str(project["root"])])
    out = capsys.readouterr().out
    assert status == 1
    assert "below gate\\_min\\_coverage = 80%" in out


@pytest.mark.parametrize("value, ok", [("75", True), ("99.5", True), ("0", True),
                                       ("101", False), ("-1", False), ("true", False),
                                       ('"80"', False)])
def test_percent_settings_from_pyproject(tmp_path, value, ok):
    assert (Settings().gate_min_coverage, Settings().gate_min_total_coverage) == (None, None)
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.harness]\ngate_min_coverage = {value}\ngate_min_total_coverage = 60\n")
    if ok:
        settings = load_settings(tmp_path)
        assert settings.gate_min_coverage == float(value)
        assert isinstance(settings.gate_min_coverage, float)
        assert settings.gate_min_total_coverage == 60.0
    else:
        with pytest.raises(ConfigError, match="gate_min_coverage must be a percentage"):
            load_settings(tmp_path)


# --- the conformance run of the head commit ---------------------------------------------------
def conformance_run(store: Store, outcome: str, commit_sha: str | None) -> int:
    run_id = store.start_run("conformance")
    if commit_sha is not None:
        set_run_commit(store, run_id, commit_sha)
    store.record_result(run_id, {
        "case": "dense", "layer": "Dense", "check": "forward", "backend": "numpy",
        "library": "reference", "dtype": "float32", "device": "cpu", "outcome": outcome,
        "duration_s": 0.1, "message": None})
    store.finish_run(run_id)
    return run_id


def conformance_of(project: dict, store: Store):
    verdict = evaluate(project["root"], "main", "feature", store=store,
                       settings=Settings(jobs=1))
    (section,) = [s for s in verdict.sections if s.rule == "conformance"]
    return verdict, section


def test_gate_judges_the_run_of_the_head_commit(project, tmp_path):
    with Store(tmp_path / "gate.db") as store:
        head_run = conformance_run(store, "failed", project["feature"])
        conformance_run(store, "passed", "0" * 40)  # newer, but another commit's
        verdict, section = conformance_of(project, store)
    assert not verdict.passed and section.warnings == []
    assert [(r.kind, r.key[0]) for r in section.rows] == [("failure", "dense")]
    assert section.note.startswith(f"run {head_run} (1 results)")


def test_no_run_for_the_head_warns_and_falls_back_to_the_latest(project, tmp_path):
    with Store(tmp_path / "gate.db") as store:
        conformance_run(store, "failed", "1" * 40)
        latest = conformance_run(store, "passed", None)
        verdict, section = conformance_of(project, store)
        markdown = render(verdict)
    assert verdict.passed and section.rows == []
    assert section.warnings == [
        f"no conformance run is recorded for the head commit {project['feature'][:12]}: the "
        f"latest run, {latest} (of an unrecorded commit), stands in"]
    assert "| Conformance | ⚠️ pass with warnings | 0 | 1 | 0 |" in markdown
    with Store(tmp_path / "other.db") as store:
        older = conformance_run(store, "passed", "2" * 40)
        _, section = conformance_of(project, store)
    assert section.warnings[0].endswith(f"the latest run, {older} (of commit 222222222222), "
                                        "stands in")


def test_empty_store_says_so_without_a_warning(project, tmp_path):
    with Store(tmp_path / "gate.db") as store:
        verdict, section = conformance_of(project, store)
    assert verdict.passed and section.warnings == []
    assert section.note == "no conformance results in the store: nothing to compare"


def test_commit_column_migrates_an_older_store(tmp_path):
    path = tmp_path / "old.db"
    older = store_mod.MIGRATIONS[:store_mod.MIGRATIONS.index(store_mod.RUN_COMMIT_MIGRATION)]
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    for name, sql in older:
        for statement in store_mod._split_sql(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (name,))
    conn.execute("INSERT INTO runs (kind, started_at) VALUES ('conformance', 'then')")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert "0006_runs_commit" in [n for n, _ in store_mod.MIGRATIONS]
        assert run_commit(store, 1) is None  # the old run kept, its commit unknown
        set_run_commit(store, 1, "a" * 40)
        assert latest_run_for_commit(store, "conformance", "a" * 40) == 1
        assert latest_run_for_commit(store, "analysis", "a" * 40) is None
        assert latest_run_for_commit(store, "conformance", "b" * 40) is None
