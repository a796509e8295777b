"""Oracle results survive the store's cache byte for byte, in their exact structure; the inputs
they are computed on are drawn once per process and handed out as fresh arrays; comparisons."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest

from harness.conformance import cases, data, expected
from harness.conformance.compare import compare
from harness.conformance.tolerances import Tol
from harness.store import open_store


def test_pack_round_trip_keeps_lists_and_pairs():
    a, b = np.arange(6.0).reshape(2, 3), np.array(1.5)
    assert [x.tolist() for x in expected._unpack(expected._pack([a, b]))] == [a.tolist(), 1.5]
    got = expected._unpack(expected._pack(([], [a, b])))
    assert isinstance(got, tuple) and got[0] == [] and np.array_equal(got[1][0], a)


def test_pack_keeps_dtype_shape_and_order_of_every_array():
    arrays = [np.array(2.5), np.zeros((2, 0, 3)), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
              np.arange(12.0).reshape(3, 4)[:, ::2], np.array([[True, False]]),
              np.arange(3, dtype=np.int64), np.array([np.nan, -np.inf, 1e-300])]
    payload = expected._pack(arrays)
    assert payload.startswith(expected.MAGIC)
    # the header, then exactly the arrays' bytes: 8 + 0 + 48 + 48 + 2 + 24 + 24
    assert len(payload) - payload.index(b"\n", len(expected.MAGIC)) - 1 == 154
    got = expected._unpack(payload)
    assert [(g.dtype, g.shape) for g in got] == [(a.dtype, a.shape) for a in arrays]
    assert all(np.array_equal(g, a, equal_nan=True) for g, a in zip(got, arrays, strict=True))
    assert got[2].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert got[3].tolist() == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]
    got[0][...] = 7.0  # writable, as a freshly computed value is
    assert expected._unpack(payload)[0] == 2.5


def test_a_payload_that_does_not_match_its_header_is_refused():
    payload = expected._pack([np.arange(4.0)])
    with pytest.raises(ValueError, match="size"):
        expected._unpack(payload[:-8])
    with pytest.raises(ValueError, match="not an oracle payload"):
        expected._unpack(b"something else")
    with pytest.raises(TypeError):
        expected._pack([np.array([object()])])


def test_payloads_of_older_stores_still_read():
    # stores written before the current format hold np.savez archives
    buffer = io.BytesIO()
    np.savez(buffer, pair=np.array(True), g0_0000=np.ones(2), g1_0000=np.arange(3.0),
             g1_0001=np.array(4.0))
    got = expected._unpack(buffer.getvalue())
    assert isinstance(got, tuple)
    assert [x.tolist() for x in got[0]] == [[1.0, 1.0]]
    assert [x.tolist() for x in got[1]] == [[0.0, 1.0, 2.0], 4.0]


def test_oracle_values_come_back_from_the_store_unchanged(tmp_path):
    case = cases.get("Conv2D-same")
    weights = [np.full((3, 3, 2, 3), 0.1), np.zeros(3)]
    inputs = [np.linspace(-1, 1, 50).reshape(2, 5, 5, 1).repeat(2, axis=-1)]
    with open_store(tmp_path / "o.db") as store:
        expected.use_store(store)
        try:
            first = expected.forward(case, weights, inputs)
            expected._cache.clear()  # the next read must come from the store
            again = expected.forward(case, weights, inputs)
        finally:
            expected.use_store(None)
            expected._cache.clear()
    assert len(again) == len(first) == 1
    assert np.array_equal(again[0], first[0])


def test_a_stray_array_in_a_cached_payload_is_not_part_of_the_value():
    # numpy < 2.1 turned np.savez(..., allow_pickle=True) into one more array in the file
    buffer = io.BytesIO()
    np.savez(buffer, pair=np.array(False), a_0000=np.ones(2), allow_pickle=np.array(True))
    (only,) = expected._unpack(buffer.getvalue())
    assert only.tolist() == [1.0, 1.0]


def test_the_oracle_mask_of_an_rnn_needs_no_earlier_forward():
    # with every forward value read from the store, nothing else loads the recurrent rules
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from harness.conformance import cases, data, expected\n"
            "case = cases.get('LSTM-mask')\n"
            "m = expected.output_mask(case, data.inputs(case, 'float32'), data.mask(case))\n"
            "print(m.astype(int).tolist())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]"


def test_inputs_are_drawn_once_and_handed_out_as_fresh_arrays():
    case = cases.get("LSTM-mask")
    data.clear_cache()
    first = data.inputs(case, "float32")
    # the documented recipe, independently: normal draws seeded by the case id, then rounded
    rng = np.random.default_rng(data.seed_of(case.id, "inputs"))
    want = rng.normal(size=case.inputs[0].shape).astype(np.float32).astype(np.float64)
    assert np.array_equal(first[0], want)
    first[0][...] = 0.0  # a check that perturbs its inputs must not change the next check's
    again = data.inputs(case, "float32")
    assert np.array_equal(again[0], want) and again[0] is not first[0]
    data.clear_cache()
    assert np.array_equal(data.inputs(case, "float32")[0], want)
    assert data.inputs(case, "float16")[0].tolist() == \
        want.astype(np.float16).astype(np.float64).tolist()
    assert data.inputs(case, "float32", batch=0)[0].shape == (0, *want.shape[1:])


def test_a_different_case_with_the_same_id_gets_its_own_inputs():
    case = cases.get("Dense-linear")
    data.inputs(case, "float32")
    other = dataclasses.replace(case, inputs=(cases.InputSpec((1, 2)),))
    assert data.inputs(other, "float32")[0].shape == (1, 2)
    assert data.inputs(case, "float32")[0].shape == case.inputs[0].shape


def test_masks_weights_and_cotangents_are_fresh_copies():
    case = cases.get("LSTM-mask")
    mask = data.mask(case)
    assert mask.tolist() == [[True] * 5, [True, True, True, False, False]]
    mask[...] = False
    assert data.mask(case)[1].tolist() == [True, True, True, False, False]
    rng = np.random.default_rng(data.seed_of(case.id, "weights"))
    kernel = rng.uniform(-0.5, 0.5, size=(2, 3)).astype(np.float32).astype(np.float64)
    variance = rng.uniform(0.5, 1.5, size=(3,)).astype(np.float32).astype(np.float64)
    w = data.weights(case.id, [(2, 3), (3,)], ["dense_1/kernel", "bn/moving_variance"],
                     "float32")
    assert np.array_equal(w[0], kernel) and np.array_equal(w[1], variance)
    w[0][...] = 9.0
    # another build names its weights differently: same values
    again = data.weights(case.id, [(2, 3), (3,)], ["dense_7/kernel", "bn_2/moving_variance"],
                         "float32")
    assert np.array_equal(again[0], kernel) and np.array_equal(again[1], variance)
    assert not np.array_equal(data.weights(case.id, [(2, 3), (3,)], ["k", "b"], "float32")[1],
                              variance)  # a bias is drawn from the other range
    c = data.cotangent("x:0", (2, 3))
    want = np.random.default_rng(data.seed_of("x:0", "cotangent", (2, 3))).normal(size=(2, 3))
    c[...] = 0.0
    assert np.array_equal(data.cotangent("x:0", (2, 3)), want)


def test_compare_reports_the_worst_errors_and_the_first_failing_array():
    tol = Tol(1e-3, 1e-2)
    got = compare([np.array([1.0, 2.0, 0.0]), np.array([5.0])],
                  [np.array([1.0, 2.1, 1e-9]), np.array([5.2])], tol)
    assert not got.ok
    assert got.max_abs_err == pytest.approx(0.2)
    # 1e-9 is below atol: its relative error is not counted
    assert got.max_rel_err == pytest.approx(0.1 / 2.1)  # beats 0.2 / 5.2
    assert got.message.startswith("output[0]: 1/3 values outside atol=0.001 rtol=0.01; e.g. ")
    assert "2.0" in got.message and "2.1" in got.message
    ok = compare([np.float32(1.0001)], [1.0], tol)
    assert ok.ok and ok.message is None and ok.max_abs_err == pytest.approx(1e-4, rel=1e-3)


def test_compare_matches_nans_and_infinities_exactly():
    tol = Tol(1e-6, 1e-6)
    e = np.array([np.nan, np.inf, -np.inf, 1.0])
    same = compare([e.copy()], [e], tol)
    assert same.ok and same.max_abs_err == 0.0
    moved = compare([np.array([1.0, np.inf, -np.inf, np.nan])], [e], tol, "x")
    assert not moved.ok and moved.message == "x[0]: NaN at different positions (1 vs 1 expected)"
    flipped = compare([np.array([np.nan, -np.inf, -np.inf, 1.0])], [e], tol)
    assert flipped.message == "output[0]: infinities differ"
    overflow = compare([np.array([np.nan, np.inf, -np.inf, np.inf])], [e], tol)
    assert overflow.message == "output[0]: infinities differ"
    off = compare([np.array([np.nan, np.inf, -np.inf, 1.5])], [e], tol)
    assert not off.ok and off.max_abs_err == 0.5 and "1/1 values" in off.message
    assert compare([np.zeros((0, 3))], [np.zeros((0, 3))], tol).ok
    assert compare([np.zeros(2)], [np.zeros(3)], tol).message == \
        "output[0]: shape (2,), expected (3,)"
