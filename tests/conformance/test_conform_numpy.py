"""End to end: `harness conform` on NumPy, as a user runs it (subprocesses, real store)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from harness.conformance.cases import ALL_CHECKS

OUTCOMES = {"passed", "failed", "xfailed", "xpassed", "skipped", "error"}
RESULT_KEYS = {"case", "layer", "check", "backend", "library", "dtype", "device", "outcome",
               "max_abs_err", "max_rel_err", "atol", "rtol", "duration_s", "message"}


def run_python(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """One full NumPy run; also records which frameworks got imported on the way."""
    cwd = tmp_path_factory.mktemp("conform")
    proc = run_python("""
        import sys
        from harness.cli import main
        rc = main(["conform", "--backend", "numpy", "--json", "out.json", "--store", "h.db"])
        heavy = sorted(m for m in ("tensorflow", "jax", "torch", "theano", "pytensor", "keras")
                       if m in sys.modules)
        print("IMPORTED", heavy)
        sys.exit(rc)
    """, cwd)
    return proc, json.loads((cwd / "out.json").read_text()), cwd


def test_every_numpy_case_passes(full_run):
    proc, doc, _ = full_run
    # NumPy has no compiler and, alone, no other backend to exchange models with
    not_applicable = {"compiled", "portability"}
    bad = [f"{r['case']}::{r['check']}: {r['message']}" for r in doc["results"]
           if r["outcome"] not in ("passed", "xfailed")
           and not (r["outcome"] == "skipped" and r["check"] in not_applicable)]
    assert bad == []
    skipped = [r for r in doc["results"] if r["outcome"] == "skipped"]
    assert all(r["message"] for r in skipped)  # every skip says why
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_json_follows_the_contract(full_run):
    _, doc, _ = full_run
    assert doc["schema"] == "harness.conformance/1"
    assert set(doc["environment"]) >= {"python", "platform", "backends"}
    assert "numpy" in doc["environment"]["backends"]
    assert set(doc["summary"]) == OUTCOMES
    assert sum(doc["summary"].values()) == len(doc["results"]) > 500
    for r in doc["results"]:
        assert set(r) == RESULT_KEYS
        assert r["outcome"] in OUTCOMES and r["check"] in ALL_CHECKS
        assert isinstance(r["duration_s"], float) and r["duration_s"] >= 0
    checks = {r["check"] for r in doc["results"]}
    assert {"shape", "forward", "backward", "serialization", "training", "determinism",
            "batch_invariance", "masking", "edge_values", "dtype"} <= checks
    forward = [r for r in doc["results"] if r["check"] == "forward"]
    assert all(r["atol"] is not None and r["max_abs_err"] is not None for r in forward)


def test_numpy_conformance_imports_no_other_framework(full_run):
    proc, _, _ = full_run
    assert "IMPORTED []" in proc.stdout


def test_every_result_is_in_the_store_under_one_run(full_run):
    _, doc, cwd = full_run
    db = sqlite3.connect(cwd / "h.db")
    (runs,) = db.execute("SELECT COUNT(DISTINCT run_id) FROM conformance_results").fetchone()
    (rows,) = db.execute("SELECT COUNT(*) FROM conformance_results").fetchone()
    (status,) = db.execute("SELECT status FROM runs").fetchone()
    assert (runs, rows, status) == (1, len(doc["results"]), "finished")


def test_matrix_is_printed(full_run):
    proc, _, _ = full_run
    header = next(line for line in proc.stdout.splitlines() if line.startswith("layer "))
    assert "forward" in header and "backward" in header
    assert any(line.startswith("Conv2D ") for line in proc.stdout.splitlines())


def test_a_dense_layer_off_by_a_tenth_of_a_percent_fails_forward(tmp_path):
    proc = run_python("""
        import sys
        from harness.reference import backend as K
        from harness.reference.layers import core
        original = core.Dense.call
        def skewed(self, inputs, *args, **kwargs):
            return K.multiply(original(self, inputs, *args, **kwargs), 1.001)
        core.Dense.call = skewed
        from harness.cli import main
        sys.exit(main(["conform", "--backend", "numpy", "--select", "Dense and forward",
                       "--json", "out.json", "--store", "h.db", "-n", "0"]))
    """, tmp_path)
    doc = json.loads((tmp_path / "out.json").read_text())
    outcomes = {r["case"]: r["outcome"] for r in doc["results"]}
    dense = {c: o for c, o in outcomes.items() if c.startswith("Dense-")}
    assert dense and set(dense.values()) == {"failed"}, outcomes
    assert proc.returncode == 1


def test_select_narrows_the_run(tmp_path):
    proc = run_python("""
        import sys
        from harness.cli import main
        sys.exit(main(["conform", "--backend", "numpy", "--select", "conv and forward",
                       "--json", "out.json", "--store", "h.db"]))
    """, tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["results"]
    assert {r["check"] for r in doc["results"]} == {"forward"}
    assert all("conv" in r["case"].lower() for r in doc["results"])


def test_select_matching_nothing_is_a_usage_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "conform", "--backend", "numpy",
                           "--select", "NoSuchLayerAnywhere", "--store", "h.db"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("harness: error: no conformance case")


def test_a_malformed_select_is_one_line_before_anything_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "conform", "--backend", "numpy",
                           "--select", "Dense and and", "--store", "h.db"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "harness: error: --select: Wrong expression passed to '-k': Dense and and: at column 11: "
        "expected not OR left parenthesis OR identifier; got and"]
    assert not (tmp_path / "h.db").exists()  # no run was started


def test_an_absent_gpu_skips_every_case_with_the_reason(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "conform", "--backend", "numpy",
                           "--device", "gpu", "--select", "Dense-linear", "--json", "g.json",
                           "--store", "g.db"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["results"] and {r["outcome"] for r in doc["results"]} == {"skipped"}
    assert all(r["device"] == "gpu" and "device unavailable" in r["message"]
               for r in doc["results"])
