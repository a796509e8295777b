"""Standalone reproductions of training, data_parallel, serialization and portability."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from standalone import RUNNER, load_script, run_standalone

from harness.cli import main
from harness.conformance import data, repro
from harness.conformance.cases import get
from harness.conformance.checks.training import model_data, model_weight_shapes
from harness.conformance.repro_models import limitation, reproduction
from harness.conformance.targets import make_target
from harness.errors import UsageError

NUMBER = r"-?\d+\.\d*(?:e[-+]?\d+)?"



def perturb(text: str, name: str, delta: float = 0.5) -> str:
    """``text`` with the first number of the ``name = ...`` assignment moved by ``delta``."""
    pattern = re.compile(rf"^({name} = .*?)({NUMBER})", re.MULTILINE | re.DOTALL)
    match = pattern.search(text)
    assert match is not None, name
    moved = repr(float(match.group(2)) + delta)
    return text[:match.start(2)] + moved + text[match.end(2):]



def reference_training(case_id: str) -> dict:  # type: ignore[type-arg]
    """What the training check gets from the reference library on NumPy."""
    case = get(case_id)
    shapes = model_weight_shapes(case)  # type: ignore[arg-type]
    weights = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
    x, y = model_data(case)  # type: ignore[arg-type]
    return make_target("reference", "numpy").train(case, weights, x, y)  # type: ignore


def test_runner_really_hides_harness(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import harness\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-I", "-c", RUNNER, str(probe)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode != 0 and "harness" in proc.stderr


# one case per optimizer family, plus the other losses and a minibatch run
@pytest.mark.parametrize("case_id", [
    "train-mse-SGD", "train-mse-SGD-momentum-nesterov", "train-mse-Adam-amsgrad",
    "train-mse-RMSprop-momentum-centered", "train-mse-Adagrad", "train-scce-logits-SGD",
    "train-cce-Adam-minibatch", "train-bce-RMSprop",
])
def test_training_script_passes_and_catches_a_moved_oracle(case_id: str, tmp_path: Path
                                                           ) -> None:
    text = reproduction(case_id, "training")
    proc = run_standalone(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    steps = get(case_id).steps  # type: ignore[union-attr]
    assert len(re.findall(r"^step \d+: loss ", proc.stdout, re.MULTILINE)) == steps
    assert "OK: within tolerance" in proc.stdout
    for name in ("ORACLE_LOSSES", "ORACLE_WEIGHTS"):
        moved = run_standalone(perturb(text, name), tmp_path)
        assert moved.returncode == 1, name + moved.stdout + moved.stderr
        assert "MISMATCH: reproduced the failure" in moved.stdout


@pytest.mark.parametrize("case_id", ["train-mse-Adam", "train-mse-RMSprop-momentum-centered"])
def test_training_script_follows_the_reference_trainer_bit_for_bit(case_id: str,
                                                                   tmp_path: Path) -> None:
    script = load_script(reproduction(case_id, "training"), tmp_path, "train_script")
    losses, final = script.train()
    want = reference_training(case_id)
    assert losses == want["losses"]  # the same float32 computation, not merely close
    assert len(final) == len(want["weights"])
    for got, expected in zip(final, want["weights"], strict=True):
        np.testing.assert_array_equal(np.asarray(got, np.float64), expected)


def test_update_program_is_the_optimizers_recorded_step() -> None:
    sgd = reproduction("train-mse-SGD", "training")
    body = sgd[sgd.index("def optimizer_update"):sgd.index("DATA_NPZ")]
    # lr * g subtracted from each of the four weights; the step counter incremented
    assert len(re.findall(r"multiply\(t\d+, 0\.1\)", body)) == 4
    assert len(re.findall(r"subtract\(ws\[\d\], t\d+\)", body)) == 4
    assert "add(state[0], 1)" in body
    adam = reproduction("train-mse-Adam", "training")
    body = adam[adam.index("def optimizer_update"):adam.index("DATA_NPZ")]
    assert "power(0.999, " in body and "power(0.9, " in body  # bias corrections from the step
    assert "STATE_DTYPES = ['int64'" in adam  # the counter is state, so one program fits all


def test_data_parallel_script_averages_shards_and_catches_the_unweighted_bug(
        tmp_path: Path) -> None:
    text = reproduction("train-cce-Adam-minibatch", "data_parallel", devices=2)
    assert "SHARD_LOSS_BY_ROWS = {2: shard_loss_rows2}" in text  # batches of 4 over 2 devices
    assert "the framework's distribution machinery" in text  # says what it does not replay
    proc = run_standalone(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("data-parallel final") == 4
    assert run_standalone(perturb(text, "ORACLE_LOSSES"), tmp_path).returncode == 1
    # each shard weighted by its own size instead of the batch's: twice the gradient (SGD:
    # Adam would normalise the scale away)
    text = reproduction("train-mse-SGD", "data_parallel", devices=2)
    assert run_standalone(text, tmp_path).returncode == 0
    wrong = text.replace("1.0 / len(x)", "1.0 / len(xs)")
    assert wrong != text
    proc = run_standalone(wrong, tmp_path)
    assert proc.returncode == 1 and "data-parallel final" in proc.stdout


def test_data_parallel_script_says_when_devices_are_missing(tmp_path: Path) -> None:
    text = reproduction("train-mse-SGD", "data_parallel", devices=2)
    text = re.sub(r"^DEVICES = .*$", "DEVICES = ['gpu:7', 'gpu:8']", text, flags=re.MULTILINE)
    proc = run_standalone(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "this machine sees ['cpu:0'], so the 2 shards run on ['cpu:0', 'cpu:0']" in (
        proc.stdout)


@pytest.mark.parametrize("case_id", ["Dense-linear", "BatchNormalization-inference",
                                     "Bidirectional-LSTM-concat"])
def test_serialization_script_round_trips_native_and_hdf5(case_id: str,
                                                          tmp_path: Path) -> None:
    text = reproduction(case_id, "serialization")
    assert "WRITE_HERE = ['hdf5', 'npz']" in text
    proc = run_standalone(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for label in ("native file as dl-harness saved it on numpy",
                  "hdf5 file as dl-harness saved it on numpy",
                  "npz written by this script", "hdf5 written by this script"):
        assert f"{label}: outputs vs before saving[0]" in proc.stdout
    # the round trip is exact: every weight and output line reports no error at all
    exact = [line for line in proc.stdout.splitlines() if "vs oracle" not in line
             and "max abs err" in line]
    assert exact and all("max abs err 0," in line for line in exact)
    moved = run_standalone(perturb(text, "ORACLE_OUTPUTS", 1.0), tmp_path)
    assert moved.returncode == 1


def test_serialization_script_reads_weights_by_their_names(tmp_path: Path) -> None:
    text = reproduction("BatchNormalization-inference", "serialization")
    # HDF5 keeps trainable weights first: gamma, beta, then the moving statistics
    assert re.search(r"H5_SAVED = \[\('[^']*gamma:0', 0\), \('[^']*beta:0', 1\), "
                     r"\('[^']*moving_mean:0', 2\), \('[^']*moving_variance:0', 3\)\]", text)
    # point the reader of the files dl-harness saved at the wrong datasets
    swapped = re.sub(r"'names': \['([^']*)', '([^']*)'", r"'names': ['\2', '\1'", text, count=1)
    assert swapped != text
    proc = run_standalone(swapped, tmp_path)
    assert proc.returncode == 1
    assert re.search(r"saved it on numpy: weights\[0\].*[1-9]/\d+ outside tolerance", proc.stdout)


def test_portability_numpy_to_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    text = reproduction("LSTM-seq", "portability", backend="torch", sources=["numpy"])
    assert "import torch" in text and "backend torch" in text
    proc = run_standalone(text, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "native file saved on numpy" in proc.stdout and "hdf5 file saved on numpy" in (
        proc.stdout)
    assert "outputs vs numpy's predictions before saving[0]" in proc.stdout
    assert run_standalone(perturb(text, "ORACLE_OUTPUTS", 1.0), tmp_path).returncode == 1


def test_routing_from_repro_and_the_report_folder(tmp_path: Path) -> None:
    assert "model case train-mse-SGD" in repro.reproduction("train-mse-SGD", "training")
    assert "check 'serialization'" in repro.reproduction("Dense-linear", "serialization")
    results = [
        {"case": "train-mse-Adagrad", "check": "training", "backend": "numpy",
         "dtype": "float32", "library": "reference", "outcome": "failed", "message": "losses"},
        {"case": "Dense-linear", "check": "serialization", "backend": "numpy",
         "dtype": "float32", "library": "reference", "outcome": "error", "message": "boom"},
    ]
    written = repro.write_reproductions(results, tmp_path)
    names = sorted(p.name for p in written)
    assert names == ["Dense-linear--serialization--numpy--float32.py", "README.md",
                     "train-mse-Adagrad--training--numpy--float32.py"]
    script = (tmp_path / names[2]).read_text()
    assert "Recorded outcome: failed - losses" in script
    assert run_standalone(script, tmp_path).returncode == 0


def test_limitations_name_what_is_not_replayed() -> None:
    assert "distribution machinery" in (limitation("data_parallel") or "")
    assert "config round trip" in (limitation("serialization") or "")
    assert limitation("forward") is None  # layer scripts are repro.py's


def test_cli_repro_of_a_model_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "--repro", "train-mse-SGD"]) == 0
    assert "def optimizer_update(ws, state, grads):" in capsys.readouterr().out


@pytest.mark.parametrize(("case_id", "check", "dtype", "message"), [
    ("train-mse-SGD", "forward", "float32", "its checks are training, data_parallel"),
    ("train-mse-SGD", "training", "float16", "float32 only"),
    ("Dense-linear", "portability", "float32", "has no 'portability' check"),
    ("Dense-linear", "serialization", "bfloat16", "no bfloat16"),
    ("no-such-case", "training", "float32", "unknown conformance case"),
])
def test_usage_errors(case_id: str, check: str, dtype: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        reproduction(case_id, check, dtype=dtype)
