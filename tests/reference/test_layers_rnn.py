"""Recurrent layers and wrappers of the reference library on the NumPy backend.

One-unit steps are computed by hand with ``math``; longer sequences against NumPy loops
written here from the published LSTM/GRU equations (Keras gate orders i,f,c,o and z,r,h).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.reference import backend as K
from harness.reference import layers
from harness.reference.variables import StatelessScope

RNG = np.random.default_rng(11)


def sig(x):
    return 1.0 / (1.0 + np.exp(-x))


def ref_simple(x, W, U, b, h=None):
    """SimpleRNN over (batch, time, in): (outputs per step, last h)."""
    h = np.zeros((len(x), U.shape[0])) if h is None else h
    outs = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W + h @ U + b)
        outs.append(h)
    return np.stack(outs, 1), h


def ref_lstm(x, W, U, b, h=None, c=None):
    """LSTM: (outputs per step, last h, last c)."""
    u = U.shape[0]
    h = np.zeros((len(x), u)) if h is None else h
    c = np.zeros((len(x), u)) if c is None else c
    outs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ W + h @ U + b
        i, f = sig(z[:, :u]), sig(z[:, u:2 * u])
        g, o = np.tanh(z[:, 2 * u:3 * u]), sig(z[:, 3 * u:])
        c = f * c + i * g
        h = o * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def ref_gru(x, W, U, b, reset_after=True, h=None):
    """GRU with both reset placements: (outputs per step, last h)."""
    u = U.shape[0]
    h = np.zeros((len(x), u)) if h is None else h
    bx, bh = (b[0], b[1]) if reset_after else (b, np.zeros(3 * u))
    outs = []
    for t in range(x.shape[1]):
        xp = x[:, t] @ W + bx
        hp = h @ U + bh
        z = sig(xp[:, :u] + hp[:, :u])
        r = sig(xp[:, u:2 * u] + hp[:, u:2 * u])
        if reset_after:
            cand = np.tanh(xp[:, 2 * u:] + r * hp[:, 2 * u:])
        else:
            cand = np.tanh(xp[:, 2 * u:] + (r * h) @ U[:, 2 * u:])
        h = z * h + (1 - z) * cand
        outs.append(h)
    return np.stack(outs, 1), h


def _randomize(layer, scale=0.5):
    values = [RNG.normal(scale=scale, size=w.shape) for w in layer.weights]
    layer.set_weights(values)
    return values


def _np(x):
    return K.to_numpy(x)


# --- one unit by hand ---------------------------------------------------------------------

def test_lstm_one_unit_two_steps_by_hand():
    layer = layers.LSTM(1, return_sequences=True, dtype="float64")
    x = np.array([0.5, -1.0]).reshape(1, 2, 1)
    layer(x)
    wi, wf, wc, wo = 0.3, -0.2, 0.8, 0.5
    ui, uf, uc, uo = 0.1, 0.4, -0.6, 0.2
    bi, bf, bc, bo = 0.05, 1.0, -0.1, 0.0
    layer.set_weights([np.array([[wi, wf, wc, wo]]), np.array([[ui, uf, uc, uo]]),
                       np.array([bi, bf, bc, bo])])
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h = c = 0.0
    expect = []
    for xt in (0.5, -1.0):
        i = s(wi * xt + ui * h + bi)
        f = s(wf * xt + uf * h + bf)
        g = math.tanh(wc * xt + uc * h + bc)
        o = s(wo * xt + uo * h + bo)
        c = f * c + i * g
        h = o * math.tanh(c)
        expect.append(h)
    np.testing.assert_allclose(_np(layer(x))[0, :, 0], expect, rtol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_one_unit_two_steps_by_hand(reset_after):
    layer = layers.GRU(1, return_sequences=True, reset_after=reset_after, dtype="float64")
    x = np.array([0.7, -0.4]).reshape(1, 2, 1)
    layer(x)
    wz, wr, wh = 0.5, -0.3, 0.9
    uz, ur, uh = 0.2, 0.6, -0.7
    bz, br, bh = 0.1, -0.2, 0.3
    rz, rr, rh = 0.05, 0.15, -0.25  # recurrent biases (reset_after only)
    bias = np.array([[bz, br, bh], [rz, rr, rh]]) if reset_after else np.array([bz, br, bh])
    layer.set_weights([np.array([[wz, wr, wh]]), np.array([[uz, ur, uh]]), bias])
    s = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    h = 0.0
    expect = []
    for xt in (0.7, -0.4):
        if reset_after:
            z = s(wz * xt + bz + uz * h + rz)
            r = s(wr * xt + br + ur * h + rr)
            cand = math.tanh(wh * xt + bh + r * (uh * h + rh))
        else:
            z = s(wz * xt + bz + uz * h)
            r = s(wr * xt + br + ur * h)
            cand = math.tanh(wh * xt + bh + uh * (r * h))
        h = z * h + (1 - z) * cand
        expect.append(h)
    np.testing.assert_allclose(_np(layer(x))[0, :, 0], expect, rtol=1e-12)


# --- sequences against NumPy loops --------------------------------------------------------

def _make(kind, **kwargs):
    cls = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU,
           "gru_before": layers.GRU}[kind]
    if kind == "gru_before":
        kwargs["reset_after"] = False
    return cls(3, dtype="float64", **kwargs)


def _reference(kind, x, weights, states=None):
    """(outputs per step, [final states]) of the NumPy loop for ``kind``."""
    states = states or []
    if kind == "simple":
        out, h = ref_simple(x, *weights, *states)
        return out, [h]
    if kind == "lstm":
        out, h, c = ref_lstm(x, *weights, *states)
        return out, [h, c]
    out, h = ref_gru(x, *weights, reset_after=(kind == "gru"), h=states[0] if states else None)
    return out, [h]


KINDS = ["simple", "lstm", "gru", "gru_before"]


@pytest.mark.parametrize("kind", KINDS)
def test_sequence_outputs_and_states_match_loop(kind):
    layer = _make(kind, return_sequences=True, return_state=True)
    x = RNG.normal(size=(2, 5, 4))
    layer(x)
    weights = _randomize(layer)
    out, *states = layer(x)
    ref_out, ref_states = _reference(kind, x, weights)
    np.testing.assert_allclose(_np(out), ref_out, rtol=1e-10, atol=1e-12)
    assert len(states) == len(ref_states)
    for got, want in zip(states, ref_states, strict=True):
        np.testing.assert_allclose(_np(got), want, rtol=1e-10, atol=1e-12)
    single = type(layer).from_config({**layer.get_config(), "return_sequences": False,
                                      "return_state": False, "name": None})
    single(x)
    single.set_weights(weights)
    np.testing.assert_allclose(_np(single(x)), ref_out[:, -1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_runs_the_reversed_sequence(kind):
    layer = _make(kind, return_sequences=True, go_backwards=True)
    x = RNG.normal(size=(2, 4, 3))
    layer(x)
    weights = _randomize(layer)
    ref_out, _ = _reference(kind, x[:, ::-1], weights)
    # outputs stay in processing order: step 0 is the last input
    np.testing.assert_allclose(_np(layer(x)), ref_out, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_is_used(kind):
    layer = _make(kind)
    x = RNG.normal(size=(2, 3, 2))
    layer(x)
    weights = _randomize(layer)
    init = [RNG.normal(size=(2, 3)) for _ in layer.state_size]
    _, ref_states = _reference(kind, x, weights, init)
    np.testing.assert_allclose(_np(layer(x, initial_state=init)), ref_states[0], rtol=1e-10)
    with pytest.raises(ValueError, match="initial states"):
        layer(x, initial_state=[*init, init[0]])


@pytest.mark.parametrize("kind", KINDS)
def test_masked_steps_carry_state_and_repeat_output(kind):
    layer = _make(kind, return_sequences=True, return_state=True)
    x = RNG.normal(size=(2, 5, 3))
    layer(x)
    weights = _randomize(layer)
    mask = np.array([[True, True, False, True, False], [True, False, False, True, True]])
    out, *states = layer(x, mask=mask)
    out = _np(out)
    for b in range(2):
        kept = x[b:b + 1, mask[b]]
        ref_out, ref_states = _reference(kind, kept, weights)
        # the final states are those of the sequence with the masked steps removed
        for got, want in zip(states, ref_states, strict=True):
            np.testing.assert_allclose(_np(got)[b], want[0], rtol=1e-10, atol=1e-12)
        # a masked step repeats the previous output; unmasked ones follow the reduced run
        np.testing.assert_allclose(out[b, mask[b]], ref_out[0], rtol=1e-10, atol=1e-12)
        for t in range(1, 5):
            if not mask[b, t]:
                np.testing.assert_array_equal(out[b, t], out[b, t - 1])
    assert layer.compute_mask(x, mask)[0] is mask
    assert layer.compute_mask(x, mask)[1:] == [None] * len(layer.state_size)


def test_mask_is_dropped_without_return_sequences():
    mask = np.ones((1, 3), bool)
    assert layers.LSTM(2).compute_mask(None, mask) is None
    assert layers.GRU(2, return_sequences=True).compute_mask(None, mask) is mask
    assert layers.SimpleRNN(2).supports_masking


@pytest.mark.parametrize("kwargs, expect", [
    (dict(), (None, 4)),
    (dict(return_sequences=True), (None, None, 4)),
    (dict(return_state=True), [(None, 4), (None, 4), (None, 4)]),
    (dict(return_sequences=True, return_state=True), [(None, None, 4), (None, 4), (None, 4)]),
])
def test_lstm_output_shapes(kwargs, expect):
    layer = layers.LSTM(4, **kwargs)
    assert layer.compute_output_shape((None, None, 3)) == expect
    y = layer(RNG.normal(size=(2, 5, 3)))
    actual = [K.shape(t) for t in y] if isinstance(y, list) else K.shape(y)
    filled = ([tuple(5 if d is None and i == 1 else 2 if d is None else d
                     for i, d in enumerate(s)) for s in expect] if isinstance(expect, list)
              else tuple(5 if d is None and i == 1 else 2 if d is None else d
                         for i, d in enumerate(expect)))
    assert actual == filled


def test_weight_shapes_and_keras_initial_values():
    x = np.zeros((1, 2, 5))
    lstm = layers.LSTM(3)
    lstm(x)
    assert [w.shape for w in lstm.weights] == [(5, 12), (3, 12), (12,)]
    assert [w.name.split("/")[-1] for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    # unit_forget_bias: the forget block starts at one
    np.testing.assert_array_equal(lstm.get_weights()[2], [0] * 3 + [1] * 3 + [0] * 6)
    recurrent = lstm.get_weights()[1]
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(3), atol=1e-6)  # orthogonal
    plain = layers.LSTM(3, unit_forget_bias=False)
    plain(x)
    np.testing.assert_array_equal(plain.get_weights()[2], np.zeros(12))
    gru = layers.GRU(3)
    gru(x)
    assert [w.shape for w in gru.weights] == [(5, 9), (3, 9), (2, 9)]
    gru_before = layers.GRU(3, reset_after=False)
    gru_before(x)
    assert [w.shape for w in gru_before.weights] == [(5, 9), (3, 9), (9,)]
    no_bias = layers.SimpleRNN(3, use_bias=False)
    no_bias(x)
    assert [w.shape for w in no_bias.weights] == [(5, 3), (3, 3)]


@pytest.mark.parametrize("layer", [
    layers.SimpleRNN(3, activation="relu", go_backwards=True, dtype="float64"),
    layers.LSTM(3, return_sequences=True, unit_forget_bias=False, dtype="float64"),
    layers.GRU(3, reset_after=False, return_state=True, recurrent_activation="hard_sigmoid",
               dtype="float64"),
])
def test_config_round_trip(layer):
    x = RNG.normal(size=(2, 4, 2))
    y = layer(x)
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    for a, b in zip(*(v if isinstance(v, list) else [v] for v in (y, clone(x))), strict=True):
        np.testing.assert_allclose(_np(b), _np(a), rtol=1e-12)


def test_config_keys_and_defaults_are_keras():
    lstm = layers.LSTM(4).get_config()
    assert lstm["activation"] == "tanh" and lstm["recurrent_activation"] == "sigmoid"
    assert lstm["recurrent_initializer"] == "orthogonal" and lstm["unit_forget_bias"] is True
    for key in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
        assert lstm[key] is False
    assert layers.GRU(4).get_config()["reset_after"] is True
    with pytest.raises(ValueError):
        layers.LSTM(0)
    with pytest.raises(ValueError):
        layers.LSTM(2, stateful=True)


def test_dropout_only_when_training():
    layer = layers.GRU(4, dropout=0.5, recurrent_dropout=0.5, seed=3, dtype="float64")
    x = RNG.normal(size=(3, 4, 5))
    layer(x)
    weights = layer.get_weights()
    _, ref_h = ref_gru(x, *weights)
    np.testing.assert_allclose(_np(layer(x)), ref_h, rtol=1e-10)
    np.testing.assert_allclose(_np(layer(x, training=False)), ref_h, rtol=1e-10)
    dropped = _np(layer(x, training=True))
    assert not np.allclose(dropped, ref_h)
    # the input mask zeroes whole features for a sequence: all-dropped inputs equal zero input
    zero_in = layers.SimpleRNN(2, dropout=0.999999, seed=1, dtype="float64")
    zero_in(x)
    _, h_zero = ref_simple(np.zeros_like(x), *zero_in.get_weights())
    np.testing.assert_allclose(_np(zero_in(x, training=True)), h_zero, rtol=1e-10)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_outputs_and_weights_in_layer_dtype(dtype, kind):
    cls = {"simple": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU,
           "gru_before": layers.GRU}[kind]
    extra = {"reset_after": False} if kind == "gru_before" else {}
    layer = cls(3, return_state=True, dtype=dtype, **extra)
    outs = layer(RNG.normal(size=(2, 4, 3)).astype("float32"),
                 mask=np.array([[True, True, False, True]] * 2))
    assert all(K.dtype(o) == dtype for o in outs)
    assert all(K.dtype(w.value) == dtype for w in layer.weights)
    assert all(np.all(np.isfinite(_np(o))) for o in outs)


def _numeric_grad(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    for idx in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (f(up) - f(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize("layer", [
    layers.LSTM(2, return_sequences=True, dtype="float64"),
    layers.GRU(2, reset_after=True, dtype="float64"),
    layers.GRU(2, reset_after=False, go_backwards=True, dtype="float64"),
])
def test_gradients_match_central_differences(layer):
    x = RNG.normal(size=(2, 3, 2))
    mask = np.array([[True, False, True], [True, True, True]])
    layer(x)
    weights = _randomize(layer)

    def loss(values):
        with StatelessScope(dict(zip(layer.weights, values[1:], strict=True))):
            return K.sum(K.square(layer(values[0], mask=mask)))

    value, grads = K.value_and_grad(loss, [x, *weights])
    assert np.isfinite(value)
    for i, start in enumerate([x, *weights]):
        def f(v, i=i):
            vals = [x, *weights]
            vals[i] = v
            return float(_np(loss(vals)))
        np.testing.assert_allclose(grads[i], _numeric_grad(f, start), rtol=1e-5, atol=1e-8)


# --- Bidirectional -----------------------------------------------------------------------

@pytest.mark.parametrize("merge_mode, combine", [
    ("concat", lambda a, b: np.concatenate([a, b], -1)),
    ("sum", lambda a, b: a + b),
    ("mul", lambda a, b: a * b),
    ("ave", lambda a, b: (a + b) / 2),
    (None, lambda a, b: [a, b]),
])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_merges_forward_and_reversed_backward(merge_mode, combine,
                                                            return_sequences):
    layer = layers.Bidirectional(layers.LSTM(3, return_sequences=return_sequences,
                                             dtype="float64"), merge_mode=merge_mode)
    x = RNG.normal(size=(2, 4, 2))
    layer(x)
    weights = _randomize(layer)
    fwd, _, _ = ref_lstm(x, *weights[:3])
    bwd, _, _ = ref_lstm(x[:, ::-1], *weights[3:])
    if return_sequences:
        a, b = fwd, bwd[:, ::-1]  # backward outputs back in input time order
    else:
        a, b = fwd[:, -1], bwd[:, -1]
    want = combine(a, b)
    got = layer(x)
    pairs = zip(got, want, strict=True) if merge_mode is None else [(got, want)]
    for g, w in pairs:
        np.testing.assert_allclose(_np(g), w, rtol=1e-10, atol=1e-12)
    expect_shape = layer.compute_output_shape((None, None, 2))
    actual = [K.shape(g) for g in got] if merge_mode is None else K.shape(got)
    if merge_mode is None:
        assert [s[-1] for s in expect_shape] == [s[-1] for s in actual]
    else:
        assert expect_shape[-1] == actual[-1] and len(expect_shape) == len(actual)


def test_bidirectional_weights_forward_then_backward():
    layer = layers.Bidirectional(layers.GRU(2, name="enc"))
    layer(np.zeros((1, 3, 4)))
    names = [w.name for w in layer.weights]
    assert names[:3] == ["forward_enc/kernel", "forward_enc/recurrent_kernel", "forward_enc/bias"]
    assert names[3:] == ["backward_enc/kernel", "backward_enc/recurrent_kernel",
                         "backward_enc/bias"]
    assert layer.backward_layer.go_backwards and not layer.forward_layer.go_backwards
    with pytest.raises(ValueError):
        layers.Bidirectional(layers.GRU(2), merge_mode="max")
    with pytest.raises(ValueError):
        layers.Bidirectional(layers.Conv1D(2, 2))


def test_bidirectional_return_state_and_shapes():
    layer = layers.Bidirectional(layers.LSTM(3, return_state=True, dtype="float64"))
    x = RNG.normal(size=(2, 4, 2))
    layer(x)
    weights = _randomize(layer)
    out, fh, fc, bh, bc = layer(x)
    _, h1, c1 = ref_lstm(x, *weights[:3])
    _, h2, c2 = ref_lstm(x[:, ::-1], *weights[3:])
    wants = (np.concatenate([h1, h2], -1), h1, c1, h2, c2)
    for got, want in zip((out, fh, fc, bh, bc), wants, strict=True):
        np.testing.assert_allclose(_np(got), want, rtol=1e-10)
    assert layer.compute_output_shape((None, 4, 2)) == [(None, 6)] + [(None, 3)] * 4
    none_merge = layers.Bidirectional(layers.GRU(3, return_state=True), merge_mode=None)
    assert none_merge.compute_output_shape((None, 4, 2)) == [(None, 3)] * 4
    assert len(none_merge(x)) == 4
    # initial states split half forward, half backward
    init = [RNG.normal(size=(2, 3)) for _ in range(4)]
    _, h1, _ = ref_lstm(x, *weights[:3], h=init[0], c=init[1])
    _, h2, _ = ref_lstm(x[:, ::-1], *weights[3:], h=init[2], c=init[3])
    np.testing.assert_allclose(_np(layer(x, initial_state=init)[0]),
                               np.concatenate([h1, h2], -1), rtol=1e-10)


def test_bidirectional_mask_zeroes_padded_steps():
    layer = layers.Bidirectional(layers.SimpleRNN(2, return_sequences=True, dtype="float64"))
    x = RNG.normal(size=(1, 5, 3))
    mask = np.array([[True, True, True, False, False]])
    layer(x)
    weights = _randomize(layer)
    y = _np(layer(x, mask=mask))
    fwd, _ = ref_simple(x[:, :3], *weights[:3])
    bwd, _ = ref_simple(x[:, 2::-1], *weights[3:])
    np.testing.assert_allclose(y[0, :3], np.concatenate([fwd, bwd[:, ::-1]], -1)[0], rtol=1e-10)
    np.testing.assert_array_equal(y[0, 3:], 0.0)
    assert layer.compute_mask(x, mask) is mask
    assert layers.Bidirectional(layers.GRU(2)).compute_mask(x, mask) is None


def test_bidirectional_config_round_trip():
    layer = layers.Bidirectional(layers.LSTM(3, return_sequences=True, dtype="float64"),
                                 merge_mode="sum")
    x = RNG.normal(size=(2, 3, 2))
    y = _np(layer(x))
    config = layer.get_config()
    assert config["merge_mode"] == "sum" and config["layer"]["class_name"] == "LSTM"
    assert config["backward_layer"]["config"]["go_backwards"] is True  # stored, as Keras 3
    clone = layers.Bidirectional.from_config(config)
    assert clone.get_config() == config
    assert clone.forward_layer.name == layer.forward_layer.name
    assert clone.backward_layer.name == layer.backward_layer.name  # no backward_forward_...
    clone(x)
    assert [w.name for w in clone.weights] == [w.name for w in layer.weights]
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_np(clone(x)), y, rtol=1e-12)
    custom = layers.Bidirectional(layers.GRU(2), backward_layer=layers.GRU(2, go_backwards=True))
    rebuilt = layers.Bidirectional.from_config(custom.get_config())
    assert rebuilt.backward_layer.go_backwards and "backward_layer" in rebuilt.get_config()


# --- TimeDistributed ------------------------------------------------------------------------

def test_time_distributed_applies_the_layer_per_step():
    inner = layers.SimpleRNN(3, dtype="float64")
    layer = layers.TimeDistributed(inner)
    x = RNG.normal(size=(2, 4, 5, 2))  # (batch, time, inner steps, features)
    y = _np(layer(x))
    weights = layer.get_weights()
    assert [w.shape for w in weights] == [(2, 3), (3, 3), (3,)]
    for t in range(4):
        _, h = ref_simple(x[:, t], *weights)
        np.testing.assert_allclose(y[:, t], h, rtol=1e-10)
    assert layer.compute_output_shape((None, None, 5, 2)) == (None, None, 3)


def test_time_distributed_passes_a_folded_mask():
    layer = layers.TimeDistributed(layers.GlobalAveragePooling1D(dtype="float64"))
    x = RNG.normal(size=(2, 3, 4, 1))
    mask = RNG.random((2, 3, 4)) > 0.3
    mask[..., 0] = True
    y = _np(layer(x, mask=mask))
    want = (x[..., 0] * mask).sum(-1) / mask.sum(-1)
    np.testing.assert_allclose(y[..., 0], want, rtol=1e-12)
    assert layer.compute_mask(x, mask) is mask


def test_time_distributed_config_round_trip():
    layer = layers.TimeDistributed(layers.Conv1D(2, 3, padding="same", dtype="float64"))
    x = RNG.normal(size=(2, 3, 6, 4))
    y = _np(layer(x))
    assert y.shape == (2, 3, 6, 2) == (2, *layer.compute_output_shape((None, 3, 6, 4))[1:])
    config = layer.get_config()
    clone = layers.TimeDistributed.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_np(clone(x)), y, rtol=1e-12)
    with pytest.raises(ValueError, match="rank"):
        layer.compute_output_shape((None, 4))


def test_symbolic_calls_use_compute_output_shape():
    from harness.reference.layers import KerasTensor

    seq = KerasTensor((None, 7, 3))
    out, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(seq)
    assert (out.shape, h.shape, c.shape) == ((None, 7, 4), (None, 4), (None, 4))
    fwd, bwd = layers.Bidirectional(layers.GRU(2, return_sequences=True), merge_mode=None)(seq)
    assert fwd.shape == bwd.shape == (None, 7, 2)
    steps = KerasTensor((None, 7, 5, 3))
    assert layers.TimeDistributed(layers.Conv1D(6, 2))(steps).shape == (None, 7, 4, 6)
