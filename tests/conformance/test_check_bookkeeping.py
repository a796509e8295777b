"""The cheaper bookkeeping around the checks gives the same figures: comparisons (equal arrays,
zero tolerances, subnormal expectations, special values), one draw rounded per dtype, shared
payload headers, scratch folders emptied of files, the determinism shortcut, training
trajectories from the oracle cache."""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import pytest

from harness.conformance import cases, checks, data, expected
from harness.conformance.checks.values import _same_bits
from harness.conformance.compare import compare
from harness.conformance.targets import make_target
from harness.conformance.tolerances import Tol
from harness.store import open_store

TINY = 2.2250738585072014e-308  # the smallest normal float64


def test_an_equal_array_leaves_the_other_arrays_errors_as_they_are():
    tol = Tol(1e-3, 1e-2)
    got = compare([np.array([1.0, 2.2]), np.array([3.0, -4.0])],
                  [np.array([1.0, 2.0]), np.array([3.0, -4.0])], tol)
    # 2.2 vs 2.0: 0.2 absolute, 0.1 relative; the second array adds nothing
    assert not got.ok and got.message.startswith("output[0]: 1/2 values outside")
    assert got.max_abs_err == pytest.approx(0.2) and got.max_rel_err == pytest.approx(0.1)
    same = compare([np.array([0.0, -3.5])], [np.array([0.0, -3.5])], Tol(0.0, 0.0))
    assert same.ok and same.max_abs_err == 0.0 and same.max_rel_err == 0.0
    assert same.message is None


def test_relative_errors_of_subnormal_expectations_divide_by_the_smallest_normal():
    # with atol 0 a subnormal expectation is judged; dividing by it would give 1.0
    got = compare([np.array([1e-323, 1.0])], [np.array([5e-324, 1.0])], Tol(0.0, 0.0))
    assert not got.ok and got.max_abs_err == 5e-324
    assert got.max_rel_err == 5e-324 / TINY
    # an atol below the smallest normal: the same floor
    got = compare([np.array([2e-319])], [np.array([1e-319])], Tol(1e-320, 0.0))
    assert not got.ok and got.max_abs_err == 2e-319 - 1e-319
    assert got.max_rel_err == (2e-319 - 1e-319) / TINY


def test_zero_rtol_judges_by_atol_alone():
    got = compare([np.array([1.0005, 2.0011, -3.0])], [np.array([1.0, 2.0, -3.0])],
                  Tol(1e-3, 0.0), "y")
    assert not got.ok and got.message.startswith("y[0]: 1/3 values outside atol=0.001 rtol=0;")
    assert got.max_abs_err == pytest.approx(0.0011)
    assert got.max_rel_err == pytest.approx(0.0011 / 2.0)


def test_matching_infinities_and_misplaced_nans_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf must not reach NumPy's warning
        same = compare([np.array([np.inf, -np.inf, 1.0])], [np.array([np.inf, -np.inf, 1.25])],
                       Tol(1e-6, 1e-6))
        assert not same.ok and same.max_abs_err == 0.25 and same.max_rel_err == 0.2
        moved = compare([np.array([np.nan, 1e308, 1.0])], [np.array([1.0, -1e308, np.nan])],
                        Tol(1e-6, 1e-6))
        assert moved.message == "output[0]: NaN at different positions (1 vs 1 expected)"


def test_a_difference_too_large_for_float64_fails_with_one_overflow_warning():
    with pytest.warns(RuntimeWarning, match="overflow") as caught:
        got = compare([np.array([1e308, 0.0])], [np.array([-1e308, 0.0])], Tol(1e-6, 1e-6))
    assert len(caught) == 1
    assert not got.ok and got.max_abs_err == np.inf and got.max_rel_err == np.inf
    assert got.message.startswith("output[0]: 1/2 values outside")


def test_every_dtype_rounds_the_same_draw_and_no_dtype_sees_another_ones_edits():
    for case_id in ("LSTM-mask", "Masking", "Embedding"):
        case = cases.get(case_id)
        data.clear_cache()
        x64 = data.inputs(case, "float64")
        want = {d: [x.copy() if x.dtype.kind == "i" else data.round_to(x, d) for x in x64]
                for d in ("float32", "float16", "bfloat16")}
        x64[0][...] = 7  # handed-out arrays are copies, not the shared draw
        for dtype, arrays in want.items():
            got = data.inputs(case, dtype)
            assert [g.tobytes() for g in got] == [w.tobytes() for w in arrays], (case_id, dtype)
    masking = cases.get("Masking")
    (x16,) = data.inputs(masking, "float16")
    value = float(masking.config.get("mask_value", 0.0))
    for b, length in enumerate(masking.mask_lengths):
        assert (x16[b, length:] == value).all()
    shapes, names = [(2, 3), (3,)], ["k", "bn/moving_variance"]
    w64 = data.weights("w-case", shapes, names, "float64")
    w64[1][...] = 0.0
    data.clear_cache()
    w16 = data.weights("w-case", shapes, names, "float16")
    again64 = data.weights("w-case", shapes, names, "float64")
    assert [w.tobytes() for w in w16] == \
        [data.round_to(w, "float16").tobytes() for w in again64]
    assert (again64[1] >= 0.5).all()  # the variance range, untouched by the edit above


def test_payloads_sharing_a_header_decode_to_their_own_arrays():
    first = expected._pack([np.arange(6.0).reshape(2, 3)])
    second = expected._pack([-np.arange(6.0).reshape(2, 3)])
    hits = expected._layout.cache_info().hits
    (a,) = expected._unpack(first)
    (b,) = expected._unpack(second)
    assert expected._layout.cache_info().hits >= hits + 1  # the same header was read once
    a[0, 0] = 99.0
    assert b.tolist() == [[-0.0, -1.0, -2.0], [-3.0, -4.0, -5.0]]
    assert expected._unpack(first)[0].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]


def _files_under(folder: str) -> list[str]:
    return sorted(os.path.relpath(os.path.join(root, f), folder)
                  for root, dirs, files in os.walk(folder) for f in files + [
                      d for d in dirs if os.path.islink(os.path.join(root, d))])


def test_closing_removes_every_file_and_the_next_save_reuses_the_folders(tmp_path):
    target = make_target("reference", "numpy")
    case = cases.get("Dense-linear")
    first = checks.Context(case, "serialization", target, "float32")
    assert checks.run(first).outcome == "passed"
    folder = first.scratch
    saved = _files_under(folder)
    assert any(name.startswith("model-numpy-native" + os.sep) for name in saved)
    (tmp_path / "outside.txt").write_text("keep")
    os.symlink(tmp_path, os.path.join(folder, "model-numpy-native", "link"))
    first.close()
    assert _files_under(folder) == []  # the link went, not what it points to
    assert (tmp_path / "outside.txt").read_text() == "keep"
    assert os.path.isdir(os.path.join(folder, "model-numpy-native"))
    second = checks.Context(case, "serialization", target, "float32")
    try:
        result = checks.run(second)
        assert second.scratch == folder
        assert result.outcome == "passed" and result.max_abs_err == 0.0
        assert _files_under(folder) == saved  # the same save, into the kept folder
    finally:
        second.close()


def test_same_bits_says_equal_only_for_identical_bytes():
    x = np.array([1.5, np.nan, -2.0], dtype=np.float32)
    assert _same_bits(x, x.copy())
    assert not _same_bits(np.array([0.0]), np.array([-0.0]))  # equal, other bytes
    assert not _same_bits(x, x.astype(np.float64))
    assert not _same_bits(np.array(["a"], dtype=object), np.array(["a"], dtype=object))
    assert not _same_bits(x, x[:2])
    target = make_target("reference", "numpy")
    ctx = checks.Context(cases.get("Dense-linear"), "determinism", target, "float32")
    result = checks.run(ctx)
    assert (result.outcome, result.max_abs_err, result.atol) == ("passed", 0.0, 0.0)


def test_training_trajectories_come_back_from_the_store_unchanged(tmp_path):
    from harness.conformance.checks import training

    case = cases.get("train-mse-Adam")
    shapes = training.model_weight_shapes(case)
    weights = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
    x, y = training.model_data(case)
    direct = training.oracle_trajectory(case, weights, x, y)
    with open_store(tmp_path / "o.db") as store:
        expected.use_store(store)
        try:
            expected.trajectory(case, weights, x, y)
            expected._cache.clear()  # the next read must come from the store
            (losses,), final = expected.trajectory(case, weights, x, y)
        finally:
            expected.use_store(None)
            expected._cache.clear()
    assert losses.dtype == np.float64 and losses.tolist() == direct["losses"]
    flat = training.flatten_weights(direct["weights"])
    assert [w.tobytes() for w in final] == [w.tobytes() for w in flat]
    assert [w.shape for w in final] == shapes


def test_a_model_case_key_follows_every_field_but_the_id():
    case = cases.get("train-mse-SGD")
    arrays = [np.ones(2)]
    key = expected._key(case, "trajectory", arrays)
    assert expected._key(dataclasses.replace(case, id="renamed"), "trajectory", arrays) == key
    for change in ({"steps": case.steps + 1}, {"optimizer_config": {"learning_rate": 0.5}},
                   {"layers": (("Dense", {"units": 2}),)}, {"batch_size": 2}):
        assert expected._key(dataclasses.replace(case, **change), "trajectory", arrays) != key
