"""The body of a conformance item: each check judged, recorded and counted as pytest would."""

from __future__ import annotations

import pytest

from harness.conformance import case_run, cases, checks
from harness.conformance.items import CaseItem
from harness.conformance.targets import make_target


@checks.register("test-mismatch")
def _mismatch(ctx):
    return checks.CheckResult("failed", 0.5, 0.25, 1e-6, 1e-5, "forward differs")


@checks.register("test-crash")
def _crash(ctx):
    raise RuntimeError("library blew up")


@checks.register("test-assert")
def _assert(ctx):
    raise AssertionError("shapes differ")


@checks.register("test-skip")
def _skip(ctx):
    return checks.CheckResult.skip("not applicable here")


@checks.register("test-imperative-xfail")
def _imperative_xfail(ctx):
    pytest.xfail("upstream says so")


def run(check_names, xfails=None):
    spec = CaseItem(cases.get("Dense-linear"), list(check_names), "numpy", "float32",
                    xfails or {})
    recorded = []
    counts, failures = case_run.run_case(
        spec, make_target("reference", "numpy"),
        lambda item, outcome, duration, result, message: recorded.append(
            (item.id, outcome, message, getattr(result, "max_abs_err", None), duration)))
    return recorded, counts, failures


def test_each_check_is_recorded_in_order_with_its_own_outcome():
    recorded, counts, failures = run(["shape", "test-mismatch", "test-crash", "test-assert",
                                      "test-skip", "forward"])
    assert [(r[0], r[1], r[2]) for r in recorded] == [
        ("Dense-linear::shape::numpy::float32", "passed", None),
        ("Dense-linear::test-mismatch::numpy::float32", "failed", "forward differs"),
        ("Dense-linear::test-crash::numpy::float32", "error", "RuntimeError: library blew up"),
        ("Dense-linear::test-assert::numpy::float32", "failed", "AssertionError: shapes differ"),
        ("Dense-linear::test-skip::numpy::float32", "skipped", "not applicable here"),
        ("Dense-linear::forward::numpy::float32", "passed", None),
    ]
    assert recorded[1][3] == 0.5  # the check's errors reach the store
    assert all(r[4] >= 0 for r in recorded)
    assert counts == {"passed": 2, "failed": 2, "error": 1, "skipped": 1}
    assert failures == ["test-mismatch: failed: forward differs",
                        "test-crash: error: RuntimeError: library blew up",
                        "test-assert: failed: AssertionError: shapes differ"]


def test_a_known_failure_rule_covers_its_check_only():
    recorded, counts, failures = run(
        ["test-crash", "test-mismatch", "shape", "test-skip", "forward"],
        xfails={"test-crash": "upstream bug #7", "shape": "upstream bug #8",
                "test-skip": "upstream bug #9"})
    outcomes = {r[0].split("::")[1]: (r[1], r[2]) for r in recorded}
    assert outcomes["test-crash"] == ("xfailed",
                                      "xfail: upstream bug #7; RuntimeError: library blew up")
    assert outcomes["shape"] == ("xpassed", "xfail: upstream bug #8")  # an unexpected pass
    assert outcomes["test-skip"] == ("skipped", "not applicable here")  # a skip stays a skip
    assert outcomes["test-mismatch"] == ("failed", "forward differs")  # no rule: fails
    assert outcomes["forward"] == ("passed", None)
    assert failures == ["test-mismatch: failed: forward differs"]
    assert counts["xfailed"] == 1 and counts["xpassed"] == 1


def test_an_imperative_xfail_stays_xfailed_under_a_rule():
    recorded, _, failures = run(["test-imperative-xfail"],
                                xfails={"test-imperative-xfail": "rule"})
    assert [(r[1], r[2]) for r in recorded] == [("xfailed", "xfail: upstream says so")]
    assert failures == []


def test_the_item_ends_as_its_checks_went():
    with pytest.raises(pytest.fail.Exception, match="test-crash: error"):
        case_run.verdict({"passed": 1, "error": 1}, ["test-crash: error: boom"])
    with pytest.raises(pytest.skip.Exception):
        case_run.verdict({"skipped": 3}, [])
    case_run.verdict({"passed": 2, "skipped": 1, "xfailed": 1}, [])  # passes
