"""Standalone Keras reproductions: the scripts run with Keras alone (dl-harness cannot even be
imported while they run), reach the same verdict as the harness's own check, and catch a
difference from the stored oracle values.

Runs where Keras and one of its backends are installed; Keras picks its backend at import, so
this module picks one first (``KERAS_BACKEND`` if set, else the first of jax, tensorflow, torch).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from harness.conformance import cases, data


def _keras_backend() -> str | None:
    loaded = sys.modules.get("keras")
    if loaded is not None:
        return loaded.backend.backend()
    wanted = os.environ.get("KERAS_BACKEND")
    if wanted:
        return wanted
    for name in ("jax", "tensorflow", "torch"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None


BACKEND = _keras_backend()
if BACKEND is None or importlib.util.find_spec("keras") is None:
    pytest.skip("needs keras and one of jax, tensorflow, torch", allow_module_level=True)
os.environ.setdefault("KERAS_BACKEND", BACKEND)
pytest.importorskip("keras")

from harness.conformance import checks, repro_keras  # noqa: E402
from harness.conformance.repro import write_reproductions  # noqa: E402
from harness.conformance.repro_keras_script import constructor, render  # noqa: E402
from harness.conformance.targets import make_target  # noqa: E402

#: runs a script with every ``harness`` import refused, so the script is truly standalone
NO_HARNESS = """
import runpy, sys

class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "harness" or name.startswith("harness."):
            raise ImportError("the reproduction imported dl-harness")
        return None

sys.meta_path.insert(0, Refuse())
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _run(script: str, tmp_path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "repro.py"
    path.write_text(script, encoding="utf-8")
    return subprocess.run([sys.executable, "-c", NO_HARNESS, str(path)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)


def _harness_verdict(case_id: str, check: str) -> str:
    ctx = checks.Context(cases.get(case_id), check, make_target("keras", BACKEND), "float32")
    try:
        return checks.run(ctx).outcome
    finally:
        ctx.close()


def test_constructor_makes_nested_layers_with_keyword_arguments():
    config = {"layer": {"class_name": "LSTM", "config": {"units": 3, "dtype": "float16"}},
              "merge_mode": "sum", "dtype": "float16"}
    assert constructor("Bidirectional", config, "dtype") == (
        "keras.layers.Bidirectional(layer=keras.layers.LSTM(units=3, dtype=dtype), "
        "merge_mode='sum', dtype=dtype)")
    assert constructor("Conv1D", {"filters": 2, "kernel_size": (3,)}, "'float32'") == \
        "keras.layers.Conv1D(filters=2, kernel_size=[3], dtype='float32')"


def test_script_imports_keras_and_numpy_only_and_sets_the_backend_first():
    text = repro_keras.reproduction("Dense-linear", "forward", BACKEND, "float32")
    tree = ast.parse(text)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "harness" not in imported and {"keras", "numpy"} <= imported
    assert text.index(f'os.environ["KERAS_BACKEND"] = {BACKEND!r}') < text.index("import keras")
    assert "keras.layers.Dense(units=4, dtype=dtype)" in text


def test_forward_script_passes_and_catches_a_changed_oracle_value(tmp_path):
    rep = repro_keras.build("Dense-linear", "forward", BACKEND, "float32")
    x, w, b = rep.arrays["f_x0"], rep.arrays["w_float32_0"], rep.arrays["w_float32_1"]
    # the embedded expectation is y = x W + b, bit for bit what the weights give in float64
    np.testing.assert_allclose(rep.arrays["f_e0"], x.astype(np.float64) @ w + b, rtol=1e-12)
    proc = _run(render(rep), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "OK: within tolerance" in proc.stdout
    rep.arrays["f_e0"] = rep.arrays["f_e0"].copy()
    rep.arrays["f_e0"][1, 2] += 1e-3  # far outside atol 1e-5 + rtol 1e-4 * |y|
    proc = _run(render(rep), tmp_path)
    assert proc.returncode == 1
    assert "1/8 outside tolerance" in proc.stdout and "MISMATCH" in proc.stdout


@pytest.mark.parametrize(("case_id", "check"), [("LSTM-mask", "masking"),
                                                ("Conv2D-same-s2", "shape"),
                                                ("Add", "dtype"),
                                                ("Dense-linear", "edge_values")])
def test_script_verdict_is_the_harness_verdict(case_id, check, tmp_path):
    proc = _run(repro_keras.reproduction(case_id, check, BACKEND, "float32"), tmp_path)
    want = _harness_verdict(case_id, check)
    assert proc.returncode == (0 if want == "passed" else 1), proc.stdout[-3000:]


def test_backward_script_checks_the_hand_derived_gradients(tmp_path):
    if BACKEND == "numpy":
        pytest.skip("Keras's numpy backend has no autodiff")
    rep = repro_keras.build("Dense-linear", "backward", BACKEND, "float32")
    x, w, c = rep.arrays["x0"], rep.arrays["w_float32_0"], rep.arrays["cot0"]
    # d/dx sum(y c) = c W^T, d/dW = x^T c, d/db = column sums of c
    np.testing.assert_allclose(rep.arrays["gx0"], c @ w.T, atol=1e-6)
    np.testing.assert_allclose(rep.arrays["gw0"], x.T @ c, atol=1e-6)
    np.testing.assert_allclose(rep.arrays["gw1"], c.sum(axis=0), atol=1e-6)
    proc = _run(render(rep), tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    # the weight names are Keras's own paths (dense/kernel, or dense_3/kernel in a busy process)
    assert re.search(r"d/ddense(_\d+)?/kernel\[0\]: shape \(3, 4\)", proc.stdout)


def test_edge_values_script_feeds_an_empty_batch_large_values_and_a_nan():
    rep = repro_keras.build("Dense-linear", "edge_values", BACKEND, "float32")
    assert [label for label, _ in rep.steps] == ["empty batch", "inputs x10000", "NaN input"]
    assert rep.arrays["empty_x0"].shape == (0, 3)
    np.testing.assert_array_equal(rep.arrays["big_x0"], data.round_to(
        data.inputs(cases.get("Dense-linear"), "float32")[0] * 1e4, "float32"))
    assert np.isnan(rep.arrays["nan_x0"][0, 0]) and np.isnan(rep.arrays["nan_e0"][0]).all()
    assert not np.isnan(rep.arrays["nan_e0"][1]).any()  # the NaN stays in its sample


def test_unsupported_requests_are_usage_errors():
    from harness.errors import UsageError

    with pytest.raises(UsageError, match="no standalone Keras reproduction for the 'compiled'"):
        repro_keras.build("Dense-linear", "compiled", BACKEND)
    with pytest.raises(UsageError, match="unknown conformance case"):
        repro_keras.build("No-such-case", "forward", BACKEND)
    with pytest.raises(UsageError, match="random dropout mask"):
        repro_keras.build("Dropout-training", "forward", BACKEND)


def test_write_reproductions_writes_keras_scripts_from_their_own_process(tmp_path):
    results = [{"case": "Dense-linear", "check": "forward", "backend": BACKEND,
                "library": "keras", "dtype": "float32", "device": "cpu", "outcome": "failed",
                "message": "forward[0]: 1/8 values outside"},
               {"case": "Dense-linear", "check": "compiled", "backend": BACKEND,
                "library": "keras", "dtype": "float32", "device": "cpu", "outcome": "error",
                "message": None},
               {"case": "Dense-linear", "check": "forward", "backend": BACKEND,
                "library": "keras", "dtype": "float32", "device": "cpu", "outcome": "passed"}]
    paths = write_reproductions(results, tmp_path / "repro")
    names = sorted(p.name for p in paths)
    script = f"Dense-linear--forward--{BACKEND}--float32.py"
    assert names == sorted(["README.md", script])
    readme = (tmp_path / "repro" / "README.md").read_text()
    assert f"- {script}: `python {script}`" in readme
    assert "compiled" in readme and "no standalone Keras reproduction" in readme
    text = (tmp_path / "repro" / script).read_text()
    assert "Recorded outcome: failed - forward[0]: 1/8 values outside" in text
    proc = _run(text, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_cli_prints_a_keras_script_and_refuses_an_unsupported_check(tmp_path):
    base = [sys.executable, "-m", "harness", "conform", "--repro", "Dense-linear", "--library",
            "keras", "--backend", BACKEND]
    proc = subprocess.run(base + ["--check", "shape"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("#!/usr/bin/env python3")
    assert "check 'shape'" in proc.stdout
    proc = subprocess.run(base + ["--check", "determinism"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("harness: error: no standalone Keras")
