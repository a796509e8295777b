"""Coverage per file and component from real coverage.py data and Cobertura XML; debt rating."""

from __future__ import annotations

import io

import coverage as coverage_py
import pytest

from harness.analysis.coverage import component_of, coverage_for_tree, match_paths
from harness.analysis.debt import rating, remediation
from harness.errors import UsageError

A_PY = """\
import os
def f(x):
    if x:
        return 1
    return 2
def g():  # pragma: no cover
    return 3
"""
SOURCES = {
    "pkg/__init__.py": "",
    "pkg/sub/__init__.py": "",
    "pkg/sub/a.py": A_PY,
    "pkg/b.py": "x = 1\ny = 2\n",
    "tests/test_a.py": "def test():\n    assert True\n",
}


@pytest.fixture
def data_file(tmp_path):
    """A real coverage.py data file whose measured paths are absolute, as on a CI machine."""
    checkout = tmp_path / "ci" / "proj"
    (checkout / "pkg" / "sub").mkdir(parents=True)
    (checkout / "pkg" / "sub" / "a.py").write_text(A_PY)
    data = coverage_py.CoverageData(basename=str(tmp_path / ".coverage"))
    data.add_lines({str(checkout / "pkg" / "sub" / "a.py"): [1, 2, 4], "/elsewhere/other.py": [1]})
    data.write()
    return tmp_path / ".coverage"


def test_data_file_percent_per_file_and_component(data_file):
    result = coverage_for_tree(str(data_file), SOURCES)
    # statements 1-5 (6-7 excluded by the pragma); lines 1, 2, 4 ran
    assert result["statements"] == 5 and result["covered"] == 3
    assert result["percent"] == 60.0
    assert result["by_file"] == {"pkg/sub/a.py": 60.0}
    assert result["by_component"] == {"pkg": 0.0, "pkg.sub": 60.0}
    assert result["untested"] == ["pkg"]  # pkg/b.py was never measured; tests/ do not count
    assert result["unmatched"] == ["/elsewhere/other.py"]
    assert result["format"] == "coverage.py"


def test_data_file_percent_equals_coverage_report(data_file, tmp_path):
    cov = coverage_py.Coverage(data_file=str(data_file))
    cov.load()
    expected = cov.report(include=[str(tmp_path / "ci" / "*")], file=io.StringIO())
    assert coverage_for_tree(str(data_file), SOURCES)["percent"] == round(expected, 2)


def test_cobertura_xml(tmp_path):
    xml = tmp_path / "coverage.xml"
    xml.write_text(
        '<?xml version="1.0" ?>\n<coverage><sources><source>/src/proj</source></sources>'
        '<packages><package name="pkg.sub"><classes>'
        '<class filename="pkg/sub/a.py"><lines><line number="1" hits="1"/>'
        '<line number="2" hits="0"/><line number="4" hits="3"/></lines></class>'
        '<class filename="pkg/b.py"><lines><line number="1" hits="0"/></lines></class>'
        "</classes></package></packages></coverage>"
    )
    result = coverage_for_tree(str(xml), SOURCES)
    assert (result["statements"], result["covered"]) == (4, 2)
    assert result["by_file"] == {"pkg/b.py": 0.0, "pkg/sub/a.py": 66.67}
    assert result["by_component"] == {"pkg": 0.0, "pkg.sub": 66.67}
    assert result["percent"] == 50.0 and result["untested"] == ["pkg"]


def test_bad_coverage_files_are_usage_errors(tmp_path):
    junk = tmp_path / "junk"
    junk.write_text("hello")
    with pytest.raises(UsageError, match="neither"):
        coverage_for_tree(str(junk), SOURCES)
    broken = tmp_path / "broken.xml"
    broken.write_text("<coverage><unclosed></coverage>")
    with pytest.raises(UsageError, match="not a Cobertura"):
        coverage_for_tree(str(broken), SOURCES)


def test_components_and_suffix_matching():
    assert component_of("pkg/sub/deep/x.py") == "pkg.sub"
    assert component_of("src/pkg/x.py") == "pkg"
    assert component_of("setup.py") == "(top level)"
    assert match_paths(
        ["C:\\ci\\pkg\\b.py", "/x/sub/a.py", "/x/y/pkg/sub/a.py"], ["pkg/b.py", "pkg/sub/a.py"]
    ) == {"C:\\ci\\pkg\\b.py": "pkg/b.py", "/x/y/pkg/sub/a.py": "pkg/sub/a.py"}


# --- debt ------------------------------------------------------------------------------


def test_rating_thresholds_are_sonarqube_s():
    assert [rating(r) for r in (0.0, 0.05, 0.0501, 0.10, 0.2, 0.2001, 0.5, 0.51)] == [
        "A",
        "A",
        "B",
        "B",
        "C",
        "D",
        "D",
        "E",
    ]


def test_remediation_of_a_hand_built_document():
    document = {
        "summary": {"sloc": 100},
        "functions": [
            {"path": "m.py", "qualname": "hard", "lineno": 1, "cc": 12, "cognitive": 20},
            {"path": "m.py", "qualname": "easy", "lineno": 9, "cc": 3, "cognitive": 0},
        ],
        "todos": [
            {"path": "m.py", "line": 2, "marker": "TODO"},
            {"path": "m.py", "line": 3, "marker": "FIXME"},
        ],
        "hotspots": [{"kind": "god-class", "path": "m.py", "symbol": "Big", "line": 20}],
        "duplication": {
            "blocks": [
                {
                    "occurrences": [
                        {"path": "a.py", "start": 1},
                        {"path": "b.py", "start": 5},
                        {"path": "c.py", "start": 9},
                    ]
                }
            ]
        },
        "cycles": [["a", "b"]],
        "modules": [
            {"path": "m.py", "module": "m", "mi": 5.0},
            {"path": "n.py", "module": "n", "mi": 50.0},
        ],
        "skipped": [
            {"path": "old.py", "reason": "cannot parse: line 1: invalid syntax"},
            {"path": "blob.py", "reason": "binary file (contains NUL bytes)"},
        ],
    }
    debt = remediation(document)
    # cc 10+2, cognitive 5+5, TODO 10, FIXME 15, god class 120, two extra copies 2x10,
    # two modules in a cycle 2x30, one low-MI module 60, one unparseable file 30
    assert debt["minutes"] == 12 + 10 + 10 + 15 + 120 + 20 + 60 + 60 + 30 == 337
    assert debt["development_minutes"] == 3000
    assert debt["ratio"] == round(337 / 3000, 6)
    assert debt["rating"] == "C"
    assert debt["days"] == 0.70
    assert debt["by_severity"] == {
        "blocker": 0,
        "critical": 160,
        "major": 167,
        "minor": 0,
        "info": 10,
    }
    assert debt["by_rule"]["duplicated-block"] == 20
    assert sum(item["minutes"] for item in debt["items"]) == 337


def test_empty_repository_is_rated_a():
    debt = remediation({"summary": {"sloc": 0}})
    assert (debt["minutes"], debt["rating"], debt["ratio"]) == (0, "A", 0.0)
