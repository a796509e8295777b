"""Data-parallel training through each framework's machinery (torch gloo processes, TensorFlow
MirroredStrategy, JAX shard_map + psum) gives the weights one device gives, and the two classic
bugs (no all-reduce, shard means averaged without their sizes) are caught.

JAX and TensorFlow fix their device count when they start, so their cases run in a fresh
interpreter with the virtual devices asked for; torch's ranks are processes of their own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from harness.conformance import checks, data
from harness.conformance.cases import ModelCase, catalogue
from harness.conformance.checks.training import model_data, model_weight_shapes
from harness.conformance.compare import compare
from harness.conformance.runner import use_virtual_devices
from harness.conformance.targets import parallel
from harness.conformance.tolerances import lookup

#: (case, devices): 8 rows over 3 devices is 3/3/2, the minibatch case's 4 rows 2/1/1
CASES = ("train-mse-SGD", "train-cce-Adam-minibatch", "train-huber-Adagrad")


def _case(case_id: str) -> ModelCase:
    found = next(c for c in catalogue() if c.id == case_id)
    assert isinstance(found, ModelCase)
    return found


def _inputs(case: ModelCase) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    shapes = model_weight_shapes(case)
    weights = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
    x, y = model_data(case)
    return weights, x, y


def _caught(wrong: list[np.ndarray], right: list[np.ndarray], case: ModelCase) -> bool:
    """Whether the data_parallel check's comparison rejects ``wrong``."""
    return not compare(wrong, right, lookup("float32", "training", case), "weights").ok


def _max_err(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(u) - np.asarray(v)))) for u, v in zip(a, b,
                                                                                     strict=True))


# --- the arithmetic every mechanism shares ------------------------------------------------
@pytest.mark.parametrize(("batch", "parts"), [(8, 2), (8, 3), (4, 3), (2, 3), (7, 7)])
def test_shard_sizes_split_as_numpy_array_split(batch, parts):
    want = [len(s) for s in np.array_split(np.arange(batch), parts)]
    assert parallel.shard_sizes(batch, parts) == want
    pieces = parallel.split(np.arange(batch), want)
    assert [p.tolist() for p in pieces] == [s.tolist() for s in
                                            np.array_split(np.arange(batch), parts)]


def test_weighted_sample_weights_make_the_replica_sum_the_batch_mean():
    losses = np.array([0.5, 1.5, 2.0, 4.0, 3.0, 1.0, 6.0, 2.0])  # mean 2.5
    sizes = parallel.shard_sizes(8, 3)  # 3, 3, 2
    pieces = parallel.split(losses, sizes)

    def combined(reduction: str) -> float:
        ws = parallel.sample_weights(sizes, reduction)
        return sum(float(np.sum(p * w)) for p, w in zip(pieces, ws, strict=True))

    assert combined("weighted") == pytest.approx(2.5)
    # the mean of the shard means: (4/3 + 8/3 + 4) / 3 = 8/3, not 2.5
    assert combined("unweighted") == pytest.approx(8 / 3)
    ws = parallel.sample_weights(sizes, "none")
    assert float(np.sum(pieces[0] * ws[0])) == pytest.approx(4 / 3)  # replica 0's own mean
    assert all(w.dtype == np.float32 for w in ws)


def test_empty_shards_weigh_nothing_and_unknown_reductions_are_refused():
    ws = parallel.sample_weights(parallel.shard_sizes(2, 3), "weighted")
    assert [w.tolist() for w in ws] == [[0.5], [0.5], []]
    with pytest.raises(ValueError, match="reduction must be one of"):
        parallel.sample_weights([2, 2], "mean")


def test_torch_devices_are_gloo_ranks_others_what_the_backend_sees():
    env = {"HARNESS_DEVICES": "3"}
    assert parallel.devices("torch", ["cpu:0", "gpu:0"], env) == ["cpu:0", "cpu:1", "cpu:2",
                                                                  "gpu:0"]
    assert parallel.devices("torch", ["cpu:0"], {}) == ["cpu:0"]
    assert parallel.devices("torch", ["cpu:0"], {"HARNESS_DEVICES": "x"}) == ["cpu:0"]
    assert parallel.devices("jax", ["cpu:0"], env) == ["cpu:0"]
    assert parallel.mechanism("numpy") is None and "gloo" in str(parallel.mechanism("torch"))


def test_use_virtual_devices_sets_the_count_and_keeps_other_xla_flags(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x --xla_force_host_platform_device_count=7")
    use_virtual_devices(3)
    assert os.environ["HARNESS_DEVICES"] == "3"
    assert os.environ["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x",
                                               "--xla_force_host_platform_device_count=3"]


def test_numpy_has_one_device_and_no_data_parallel_machinery(monkeypatch):
    from harness.conformance.targets.reference import ReferenceTarget

    monkeypatch.setenv("HARNESS_DEVICES", "3")
    target = ReferenceTarget("numpy")
    assert target.devices() == ["cpu:0"]
    weights, x, y = _inputs(_case("train-mse-SGD"))
    with pytest.raises(ValueError, match="no data-parallel machinery"):
        parallel.train(target, _case("train-mse-SGD"), weights, x, y, ["cpu:0", "cpu:1"])


# --- torch: gloo processes ----------------------------------------------------------------
@pytest.fixture(scope="module")
def torch_target():
    pytest.importorskip("torch")
    from harness.conformance.targets import parallel_torch
    from harness.conformance.targets.reference import ReferenceTarget

    yield ReferenceTarget("torch")
    parallel_torch.close_groups()  # the ranks end with the tests that used them


@pytest.mark.parametrize("case_id", CASES)
def test_torch_gloo_training_equals_one_device_and_the_bugs_do_not(torch_target, case_id):
    case = _case(case_id)
    weights, x, y = _inputs(case)
    single = torch_target.train(case, weights, x, y)["weights"]
    ranks = ["cpu:0", "cpu:1", "cpu:2"]
    tol = lookup("float32", "training", case)
    right = parallel.train(torch_target, case, weights, x, y, ranks)
    assert "gloo" in right["mechanism"]
    assert _max_err(right["weights"], single) <= tol.atol
    for bug in ("none", "unweighted"):
        wrong = parallel.train(torch_target, case, weights, x, y, ranks, reduction=bug)
        assert _caught(wrong["weights"], single, case), bug


def test_torch_check_passes_and_names_the_gloo_mechanism(torch_target, monkeypatch):
    monkeypatch.setenv("HARNESS_DEVICES", "3")
    assert torch_target.devices()[:3] == ["cpu:0", "cpu:1", "cpu:2"]
    ctx = checks.Context(_case("train-scce-logits-SGD"), "data_parallel", torch_target,
                         "float32")
    ctx.cache["devices"] = 3
    result = checks.run(ctx)
    assert result.outcome == "passed", result.message
    assert "torch.distributed gloo processes" in str(result.message)


def test_a_crashed_rank_fails_the_case_with_its_reason_and_the_next_case_runs(torch_target):
    from harness.conformance.targets import parallel_torch

    case = _case("train-mse-SGD")
    weights, x, y = _inputs(case)
    start = time.monotonic()
    with pytest.raises(parallel_torch.RankFailed, match="gloo rank 1 exited with code 3"):
        parallel_torch.train(case, weights, x, y, 3, crash_rank=1)
    # the other ranks were stuck in their all-reduce: ended, not waited for
    assert time.monotonic() - start < 60
    assert 3 not in parallel_torch._groups
    again = parallel_torch.train(case, weights, x, y, 3)
    assert _max_err(again, torch_target.train(case, weights, x, y)["weights"]) < 1e-5


def test_a_group_that_cannot_finish_in_time_is_ended(torch_target):
    from harness.conformance.targets import parallel_torch

    case = _case("train-mse-SGD")
    weights, x, y = _inputs(case)
    start = time.monotonic()
    # a world of 4 is a new group: its ranks cannot even import torch in 0.3 s
    with pytest.raises(parallel_torch.RankFailed, match="did not finish within 0.3 s"):
        parallel_torch.train(case, weights, x, y, 4, timeout_s=0.3)
    assert time.monotonic() - start < 30
    assert 4 not in parallel_torch._groups


# --- TensorFlow and JAX: virtual devices in a fresh interpreter -----------------------------
_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from harness.conformance.cases import catalogue
    from harness.conformance.checks.training import model_data, model_weight_shapes
    from harness.conformance import data
    from harness.conformance.targets import parallel
    from harness.conformance.targets.reference import ReferenceTarget

    target = ReferenceTarget(sys.argv[1])
    devices = target.devices()
    out = {"devices": devices, "errors": {}}
    for case in [c for c in catalogue() if c.id in sys.argv[2:]]:
        shapes = model_weight_shapes(case)
        w = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
        x, y = model_data(case)
        single = target.train(case, w, x, y)["weights"]
        for reduction in parallel.REDUCTIONS:
            got = parallel.train(target, case, w, x, y, devices[:3], reduction)
            out["mechanism"] = got["mechanism"]
            out["errors"][case.id + "/" + reduction] = max(
                float(np.max(np.abs(a - b))) for a, b in zip(got["weights"], single))
    print(json.dumps(out))
""")


def _run_virtual(backend: str) -> dict:
    env = dict(os.environ, HARNESS_DEVICES="3",
               XLA_FLAGS="--xla_force_host_platform_device_count=3", TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, backend, *CASES], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("backend", "machinery"), [
    ("tensorflow", "MirroredStrategy"), ("jax", "shard_map")])
def test_virtual_device_training_equals_one_device_and_the_bugs_do_not(backend, machinery):
    pytest.importorskip(backend)
    out = _run_virtual(backend)
    assert out["devices"][:3] == ["cpu:0", "cpu:1", "cpu:2"]
    assert machinery in out["mechanism"] and "3" in out["mechanism"]
    for case_id in CASES:
        tol = lookup("float32", "training", _case(case_id))
        assert out["errors"][f"{case_id}/weighted"] <= tol.atol, case_id
        # a 0.01 error in weights of size ~1 is far past the check's atol + rtol * |w|
        assert out["errors"][f"{case_id}/none"] > 10 * (tol.atol + tol.rtol), case_id
        assert out["errors"][f"{case_id}/unweighted"] > 10 * (tol.atol + tol.rtol), case_id


def test_tensorflow_default_placement_lets_strategy_scopes_place_ops_then_restores():
    pytest.importorskip("tensorflow")
    from harness.reference.backend.tensorflow import devices as tf_devices

    tf_devices.set_device("cpu:0")
    with tf_devices.default_placement():
        assert tf_devices.placement.device is None  # a replica's device scope now wins
    assert tf_devices.placement.device == "/device:CPU:0"
    with pytest.raises(RuntimeError), tf_devices.default_placement():
        raise RuntimeError("the step failed")
    assert tf_devices.placement.device == "/device:CPU:0"
