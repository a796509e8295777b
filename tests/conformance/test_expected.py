"""Oracle results survive the store's cache byte for byte, in their exact structure."""

from __future__ import annotations

import numpy as np

from harness.conformance import cases, expected
from harness.store import open_store


def test_pack_round_trip_keeps_lists_and_pairs():
    a, b = np.arange(6.0).reshape(2, 3), np.array(1.5)
    assert [x.tolist() for x in expected._unpack(expected._pack([a, b]))] == [a.tolist(), 1.5]
    got = expected._unpack(expected._pack(([], [a, b])))
    assert isinstance(got, tuple) and got[0] == [] and np.array_equal(got[1][0], a)
    with np.load(__import__("io").BytesIO(expected._pack([a]))) as npz:
        assert sorted(npz.files) == ["a_0000", "pair"]  # nothing but our own keys


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
    buffer = __import__("io").BytesIO()
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
