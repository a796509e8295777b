"""Standalone Keras reproductions: the scripts run with Keras alone (dl-harness cannot even be
imported while they run), reach the same verdict as the harness's own check, and catch a
difference from the stored oracle values.

Runs where Keras and one of its backends are installed; Keras picks its backend at import, so
this module picks one first (``KERAS_BACKEND`` if set, else the first of jax, tensorflow, torch).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from kerasenv import keras_backend

from harness.conformance import cases, data

BACKEND = keras_backend()
if BACKEND is None or importlib.util.find_spec("keras") is None:
    pytest.skip("needs keras and one of jax, tensorflow, torch", allow_module_level=True)
os.environ.setdefault("KERAS_BACKEND", BACKEND)
pytest.importorskip("keras")

from harness.conformance import checks, repro_keras  # noqa: E402
from harness.conformance.repro import write_reproductions  # noqa: E402
from harness.conformance.repro_keras_script import constructor, render  # noqa: E402
from harness.conformance.targets import make_target  # noqa: E402
from harness.errors import UsageError  # noqa: E402

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
    """Run the script isolated (``python -I``: no user site, no PYTHON* variables, not even
    its own folder on the path) with every ``harness`` import refused."""
    path = tmp_path / "repro.py"
    path.write_text(script, encoding="utf-8")
    return subprocess.run([sys.executable, "-I", "-c", NO_HARNESS, str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)


def _harness_verdict(case_id: str, check: str, dtype: str = "float32") -> str:
    ctx = checks.Context(cases.get(case_id), check, make_target("keras", BACKEND), dtype)
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


@pytest.mark.parametrize(("case_id", "check", "dtype"), [
    ("LSTM-mask", "masking", "float32"), ("Conv2D-same-s2", "shape", "float32"),
    ("Add", "dtype", "float32"), ("Dense-linear", "edge_values", "float32"),
    ("LSTM-mask", "determinism", "float32"), ("Conv2D-same-s2", "batch_invariance", "float32"),
    ("GRU-last", "serialization", "float32"),
    # fails wherever Keras's numpy backend saves (its float64 predictions are float32's)
    ("Add", "portability", "float64")])
def test_script_verdict_is_the_harness_verdict(case_id, check, dtype, tmp_path):
    if check == "portability" and not make_target("keras", BACKEND).portability_sources():
        pytest.skip(f"no Keras backend besides {BACKEND} is installed")
    proc = _run(repro_keras.reproduction(case_id, check, BACKEND, dtype), tmp_path)
    want = _harness_verdict(case_id, check, dtype)
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
    with pytest.raises(UsageError, match="has no 'portability' check"):
        repro_keras.build("Dense-linear", "portability", BACKEND)
    with pytest.raises(UsageError, match="trains a model"):
        repro_keras.build("train-mse-SGD", "training", BACKEND)
    with pytest.raises(UsageError, match="unknown conformance case"):
        repro_keras.build("No-such-case", "forward", BACKEND)
    with pytest.raises(UsageError, match="random dropout mask"):
        repro_keras.build("Dropout-training", "forward", BACKEND)


def test_write_reproductions_writes_keras_scripts_from_their_own_process(tmp_path):
    results = [{"case": "Dense-linear", "check": "forward", "backend": BACKEND,
                "library": "keras", "dtype": "float32", "device": "cpu", "outcome": "failed",
                "message": "forward[0]: 1/8 values outside"},
               {"case": "Dense-linear", "check": "portability", "backend": BACKEND,
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
    assert "Dense-linear--portability" in readme and "has no 'portability' check" in readme
    text = (tmp_path / "repro" / script).read_text()
    assert "Recorded outcome: failed - forward[0]: 1/8 values outside" in text
    proc = _run(text, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_cli_prints_a_keras_script_and_refuses_a_check_the_case_lacks(tmp_path):
    base = [sys.executable, "-m", "harness", "conform", "--repro", "Dense-linear", "--library",
            "keras", "--backend", BACKEND]
    proc = subprocess.run(base + ["--check", "shape"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("#!/usr/bin/env python3")
    assert "check 'shape'" in proc.stdout
    proc = subprocess.run(base + ["--check", "portability"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "harness: error: case 'Dense-linear' has no 'portability' check (it has: "
        + ", ".join(cases.get("Dense-linear").checks) + ")")


# --- determinism, batch_invariance, compiled, serialization, portability --------------------
def _tamper(script: str, *lines: str) -> str:
    """The script with ``lines`` added after its helpers (before its data), e.g. a helper
    redefined so that the layer misbehaves the way the check must catch."""
    marker = "\n# ---- data:"
    assert script.count(marker) == 1
    return script.replace(marker, "\n" + "\n".join(lines) + "\n" + marker)


def _outside(stdout: str, label: str) -> int:
    """How many values the line ``label: ...`` reports outside tolerance."""
    match = re.search(re.escape(label) + r": shape .*?, (\d+)/\d+ outside tolerance", stdout)
    assert match, f"no line {label!r} in:\n{stdout[-3000:]}"
    return int(match.group(1))


def _with_array(rep, key: str, flat_index: int, delta: float) -> str:
    """The script of ``rep`` with one embedded number moved by ``delta``."""
    arrays = dict(rep.arrays)
    arrays[key] = arrays[key].astype(np.float64)  # a copy
    arrays[key].flat[flat_index] += delta
    return render(dataclasses.replace(rep, arrays=arrays))


def test_determinism_script_builds_twice_calls_twice_and_catches_a_drifting_layer(tmp_path):
    text = repro_keras.reproduction("Dense-linear", "determinism", BACKEND, "float32")
    proc = _run(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    for i in (1, 2, 3):  # two builds, two calls each: three runs against run 0, exactly
        assert re.search(rf"run {i} vs run 0\[0\]: shape \(2, 4\), max abs err 0,", proc.stdout)
    drifting = ["_run, _calls = run, [0]", "",
                "def run(*args, **kwargs):  # each call drifts by 1e-3 from the one before",
                "    _calls[0] += 1",
                "    return [o + (_calls[0] - 1) * 1e-3 for o in _run(*args, **kwargs)]"]
    bad = _run(_tamper(text, *drifting), tmp_path)
    assert bad.returncode == 1 and "MISMATCH" in bad.stdout
    assert _outside(bad.stdout, "run 1 vs run 0[0]") == 8
    assert _outside(bad.stdout, "run 3 vs run 0[0]") == 8


def test_batch_invariance_script_runs_each_sample_alone(tmp_path):
    text = repro_keras.reproduction("Dense-linear", "batch_invariance", BACKEND, "float32")
    proc = _run(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "sample 0[0]: shape (1, 4)" in proc.stdout and "sample 1[0]: shape (1, 4)" in (
        proc.stdout)
    batch_dependent = ["_run = run", "",
                       "def run(*args, rows=None, **kwargs):  # rounding that depends on the batch",
                       "    outs = _run(*args, rows=rows, **kwargs)",
                       "    return outs if rows is None else [o * 1.001 for o in outs]"]
    bad = _run(_tamper(text, *batch_dependent), tmp_path)
    assert bad.returncode == 1
    assert _outside(bad.stdout, "sample 0[0]") > 0 and _outside(bad.stdout, "sample 1[0]") > 0


def test_compiled_script_compiles_the_stateless_call_as_the_target_does(tmp_path):
    target = make_target("keras", BACKEND)
    variants = target.compile_variants()
    if not variants:
        with pytest.raises(UsageError, match="has no compiler"):
            repro_keras.build("Dense-linear", "compiled", BACKEND)
        return
    text = repro_keras.reproduction("Dense-linear", "compiled", BACKEND, "float32")
    proc = _run(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    for name in variants:
        assert _outside(proc.stdout, f"compiled ({name}) vs eager[0]") == 0
        assert _outside(proc.stdout, f"compiled ({name}) vs oracle (for information)[0]") == 0
    skewed = ["_run_compiled = run_compiled", "",
              "def run_compiled(*args):  # a compiler that returns 1% too much",
              "    return [o * 1.01 for o in _run_compiled(*args)]"]
    bad = _run(_tamper(text, *skewed), tmp_path)
    assert bad.returncode == 1
    for name in variants:
        assert _outside(bad.stdout, f"compiled ({name}) vs eager[0]") > 0


def test_serialization_script_saves_and_loads_every_format_itself(tmp_path):
    rep = repro_keras.build("BatchNormalization-inference", "serialization", BACKEND, "float32")
    labels = [label.split(":")[0] for label, _ in rep.steps]
    assert labels == ["config round trip", "keras", "h5", "weights.h5"]
    text = render(rep)
    proc = _run(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    channels = rep.arrays["x0"].shape[-1]
    for fmt in ("keras", "h5", "weights.h5"):
        # gamma, beta and both moving statistics come back bit for bit
        for i in range(4):
            assert re.search(rf"{re.escape(fmt)} weights\[{i}\]: shape \({channels},\), max abs "
                             "err 0,", proc.stdout)
        assert re.search(rf"\n{re.escape(fmt)} outputs\[0\]: shape "
                         rf"{re.escape(str(rep.arrays['e0'].shape))}, max abs err 0,", proc.stdout)
        assert f"{fmt}: config unchanged" in proc.stdout
    # the embedded oracle moved: the outputs before saving no longer match it
    moved = _run(_with_array(rep, "e0", 5, 1e-2), tmp_path)
    assert moved.returncode == 1
    assert _outside(moved.stdout, "before saving vs oracle[0]") == 1


@pytest.fixture(scope="module")
def portable_rep():
    sources = make_target("keras", BACKEND).portability_sources()
    if not sources:
        pytest.skip(f"no Keras backend besides {BACKEND} is installed")
    return repro_keras.build("Dense-relu-nobias", "portability", BACKEND, "float32")


def test_portability_script_embeds_the_files_other_backends_saved(portable_rep, tmp_path):
    rep = portable_rep
    sources = make_target("keras", BACKEND).portability_sources()
    assert rep.constants["SAVED_ON"] == sources
    for source in sources:
        # the files as Keras on the source wrote them: a zip (.keras), HDF5 (.h5, .weights.h5)
        assert rep.arrays[f"{source}_file_keras"][:2].tobytes() == b"PK"
        for fmt in ("h5", "weights_h5"):
            assert rep.arrays[f"{source}_file_{fmt}"][:4].tobytes() == b"\x89HDF"
        (x,) = data.inputs(cases.get("Dense-relu-nobias"), "float32")
        w = rep.arrays[f"{source}_w0"]  # y = relu(x W), no bias
        np.testing.assert_allclose(rep.arrays[f"{source}_e0"], np.maximum(x @ w, 0.0),
                                   rtol=1e-12)
    text = render(rep)
    assert f'os.environ["KERAS_BACKEND"] = {BACKEND!r}' in text
    proc = _run(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    for source in sources:
        for fmt in ("keras", "h5", "weights.h5"):
            pair = f"{source}->{BACKEND} {fmt}"
            assert _outside(proc.stdout, f"{pair} weights[0]") == 0
            assert _outside(proc.stdout, f"{pair} outputs vs oracle[0]") == 0


def test_portability_script_fails_on_a_moved_oracle_or_source_prediction(portable_rep,
                                                                          tmp_path):
    source = portable_rep.constants["SAVED_ON"][0]
    moved = _run(_with_array(portable_rep, f"{source}_e0", 1, 1e-2), tmp_path)
    assert moved.returncode == 1
    assert _outside(moved.stdout, f"{source}->{BACKEND} keras outputs vs oracle[0]") == 1
    assert _outside(moved.stdout, f"{source}->{BACKEND} keras outputs[0]") == 0
    moved = _run(_with_array(portable_rep, f"{source}_out0", 8, 1e-2), tmp_path)
    assert moved.returncode == 1
    assert _outside(moved.stdout, f"{source}->{BACKEND} h5 outputs[0]") == 1
