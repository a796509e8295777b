"""Functional and Sequential models: wiring, shared layers, masks, nesting, configs, summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.reference import backend as K
from harness.reference import layers, models
from harness.reference.layers.input_layer import InputLayer

F32 = np.float32


def value(x):
    return np.asarray(K.to_numpy(x), dtype=np.float64)


def shared_two_io(suffix=""):
    """Two inputs, a Dense shared by both, two outputs."""
    a = layers.Input(shape=(4,), name=f"a{suffix}")
    b = layers.Input(shape=(4,), name=f"b{suffix}")
    shared = layers.Dense(3, activation="tanh", name=f"shared{suffix}")
    ha, hb = shared(a), shared(b)
    merged = layers.Concatenate(name=f"concat{suffix}")([ha, hb])
    out1 = layers.Dense(2, name=f"out1{suffix}")(merged)
    out2 = layers.Dense(1, activation="sigmoid", name=f"out2{suffix}")(hb)
    return models.Model([a, b], [out1, out2])


def sample(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(F32) for s in shapes]


def test_shared_layer_two_inputs_two_outputs_match_the_layers_by_hand():
    model = shared_two_io()
    xa, xb = sample((5, 4), (5, 4))
    out1, out2 = model([xa, xb])
    ws, bs, w1, b1, w2, b2 = (w.astype(np.float64) for w in model.get_weights())
    ha, hb = np.tanh(xa @ ws + bs), np.tanh(xb @ ws + bs)
    np.testing.assert_allclose(value(out1), np.concatenate([ha, hb], 1) @ w1 + b1, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(value(out2), 1 / (1 + np.exp(-(hb @ w2 + b2))), rtol=1e-5)
    # the same numbers through the layer objects themselves
    shared = model.get_layer("shared")
    by_hand = model.get_layer("out1")(model.get_layer("concat")([shared(xa), shared(xb)]))
    np.testing.assert_allclose(value(out1), value(by_hand), rtol=1e-6)


def test_layers_are_listed_once_in_keras_depth_order():
    model = shared_two_io()
    assert [lyr.name for lyr in model.layers] == ["a", "b", "shared", "concat", "out1", "out2"]
    assert len(model.weights) == 6  # the shared Dense's kernel and bias once
    assert model.input_names == ["a", "b"] and model.output_names == ["out1", "out2"]
    assert isinstance(model.get_layer(index=0), InputLayer)


def test_output_shapes_symbolic_and_actual_agree():
    model = shared_two_io()
    assert model.compute_output_shape([(None, 4), (None, 4)]) == [(None, 2), (None, 1)]
    assert model.output_shape == [(None, 2), (None, 1)]
    outs = model(sample((7, 4), (7, 4)))
    assert [tuple(K.shape(o)) for o in outs] == [(7, 2), (7, 1)]
    x, y = layers.Input(shape=(4,)), layers.Input(shape=(4,))
    assert [t.shape for t in model([x, y])] == [(None, 2), (None, 1)]


def test_masks_flow_from_embedding_into_the_lstm():
    tokens = layers.Input(shape=(5,), dtype="int64")
    embed = layers.Embedding(10, 3, mask_zero=True)
    lstm = layers.LSTM(2)
    model = models.Model(tokens, lstm(embed(tokens)))
    x = np.array([[3, 4, 0, 0, 0], [1, 2, 3, 4, 5]], dtype=np.int64)

    def by_hand(tokens, use_mask):
        mask = embed.compute_mask(tokens) if use_mask else None
        return [lstm(embed(tokens), mask=mask), embed.compute_mask(tokens)]

    # through K.compile, so that graph backends evaluate it too (the identity on NumPy)
    masked, mask = K.compile(lambda t: by_hand(t, True))(x)
    unmasked, _ = K.compile(lambda t: by_hand(t, False))(x)
    np.testing.assert_array_equal(value(mask), x != 0)
    np.testing.assert_allclose(model.predict(x), value(masked), rtol=1e-6)
    # the mask matters: the padded sequence's state is not the unmasked one
    assert not np.allclose(model.predict(x)[0], value(unmasked)[0])
    assert model.compute_mask(K.convert_to_tensor(x)) is None  # LSTM emits no mask


def test_model_compute_mask_through_masking_and_dense():
    inp = layers.Input(shape=(3, 2))
    model = models.Model(inp, layers.Dense(4)(layers.Masking(0.0)(inp)))
    x = np.zeros((2, 3, 2), F32)
    x[0, 1] = 1.0
    x[1, 0, 1] = -2.0
    np.testing.assert_array_equal(value(model.compute_mask(K.convert_to_tensor(x))),
                                  [[False, True, False], [True, False, False]])


def test_models_nest_inside_models():
    inner = models.Model(i := layers.Input(shape=(3,)), layers.Dense(2, name="inner_d")(i))
    stack = models.Sequential([layers.Dense(4, activation="relu", name="seq_d")])
    outer_in = layers.Input(shape=(3,))
    outer = models.Model(outer_in, layers.Dense(1, name="head")(
        layers.Concatenate()([inner(outer_in), stack(outer_in)])))
    x = sample((6, 3))[0]
    want = value(outer.get_layer("head")(K.concatenate([inner(x), stack(x)], axis=-1)))
    np.testing.assert_allclose(value(outer(x)), want, rtol=1e-6)
    assert len(outer.weights) == 6
    rebuilt = models.Model.from_config(json.loads(json.dumps(outer.get_config())))
    rebuilt.set_weights(outer.get_weights())
    np.testing.assert_allclose(value(rebuilt(x)), value(outer(x)), rtol=1e-6)
    assert [type(lyr).__name__ for lyr in rebuilt.layers] == [
        "InputLayer", "Model", "Sequential", "Concatenate", "Dense"]
    assert [e["class_name"] for e in outer.get_config()["layers"]][1:3] == ["Functional",
                                                                           "Sequential"]


def test_functional_config_is_keras_style_and_round_trips():
    model = shared_two_io()
    config = json.loads(json.dumps(model.get_config()))
    assert config["input_layers"] == [["a", 0, 0], ["b", 0, 0]]
    assert config["output_layers"] == [["out1", 0, 0], ["out2", 0, 0]]
    entries = {e["name"]: e for e in config["layers"]}
    assert entries["a"]["class_name"] == "InputLayer" and entries["a"]["inbound_nodes"] == []
    assert entries["shared"]["inbound_nodes"] == [[["a", 0, 0, {}]], [["b", 0, 0, {}]]]
    assert entries["concat"]["inbound_nodes"] == [[["shared", 0, 0, {}], ["shared", 1, 0, {}]]]
    assert entries["out2"]["inbound_nodes"] == [[["shared", 1, 0, {}]]]
    rebuilt = models.Model.from_config(config)
    assert json.dumps(rebuilt.get_config(), sort_keys=True) == json.dumps(config, sort_keys=True)
    rebuilt.set_weights(model.get_weights())
    xs = sample((3, 4), (3, 4))
    for got, want in zip(rebuilt(xs), model(xs), strict=True):
        np.testing.assert_array_equal(value(got), value(want))


def test_single_tensor_models_stay_single_after_a_round_trip():
    inp = layers.Input(shape=(2,), name="solo_in")
    model = models.Model(inp, layers.Dense(1, name="solo_out")(inp))
    config = model.get_config()
    assert config["input_layers"] == ["solo_in", 0, 0]
    assert config["output_layers"] == ["solo_out", 0, 0]
    out = models.Model.from_config(config)(np.ones((2, 2), F32))
    assert tuple(K.shape(out)) == (2, 1)
    listed = models.Model([inp], [layers.Dense(1)(inp)])
    assert isinstance(listed(np.ones((2, 2), F32)), list)
    assert isinstance(models.Model.from_config(listed.get_config())(np.ones((2, 2), F32)), list)


def test_sequential_config_lists_the_input_layer_first():
    model = models.Sequential([layers.Input(shape=(4,), name="seq_in"),
                               layers.Dense(3, name="seq_a"), layers.Dense(2, name="seq_b")],
                              name="stack")
    config = model.get_config()
    assert config["name"] == "stack"
    assert [s["class_name"] for s in config["layers"]] == ["InputLayer", "Dense", "Dense"]
    assert config["layers"][0]["config"]["batch_shape"] == [None, 4]
    assert [lyr.name for lyr in model.layers] == ["seq_a", "seq_b"]  # InputLayer left out
    rebuilt = models.Sequential.from_config(json.loads(json.dumps(config)))
    rebuilt.set_weights(model.get_weights())
    x = sample((2, 4))[0]
    np.testing.assert_array_equal(value(rebuilt(x)), value(model(x)))


def test_sequential_builds_from_data_or_input_shape_and_edits():
    deferred = models.Sequential([layers.Dense(3), layers.Dense(1)])
    assert not deferred.built and deferred.weights == []
    out = deferred(np.ones((5, 4)))  # float64 data: the model computes in its float32
    assert tuple(K.shape(out)) == (5, 1) and K.dtype(out) == "float32"
    assert deferred.get_config()["layers"][0]["config"]["batch_shape"] == [None, 4]
    assert len(deferred.weights) == 4
    eager = models.Sequential([layers.Dense(3, input_shape=(4,))])
    assert eager.built and eager.output_shape == (None, 3)
    eager.add(layers.Dense(2))
    assert eager.output_shape == (None, 2)
    popped = eager.pop()
    assert popped.units == 2 and eager.output_shape == (None, 3)
    assert deferred.compute_output_shape((None, 4)) == (None, 1)


def test_summary_counts_parameters():
    model = models.Sequential([layers.Input(shape=(4,)), layers.Dense(3, name="sum_dense"),
                               layers.BatchNormalization(name="sum_bn"),
                               layers.Dense(2, name="sum_out")])
    lines = model.summary(print_fn=None).splitlines()
    row = next(line for line in lines if line.startswith(" sum_dense (Dense)"))
    assert "(None, 3)" in row and row.split()[-1] == "15"
    bn_row = next(line for line in lines if line.startswith(" sum_bn"))
    assert bn_row.split()[-1] == "12"
    assert "Total params: 35 (140.00 B)" in lines  # 15 + 12 + 8 float32 parameters
    assert "Trainable params: 29 (116.00 B)" in lines
    assert "Non-trainable params: 6 (24.00 B)" in lines
    assert not any("InputLayer" in line for line in lines)
    functional = shared_two_io("_s").summary(print_fn=None)
    assert "Connected to" in functional
    assert "['a_s[0][0]', 'b_s[0][0]']" in functional  # the shared layer's two calls
    assert "Total params: 33" in functional  # 15 + (6 * 2 + 2) + (3 + 1)


def test_inputs_and_dtypes():
    t = layers.Input(shape=(3, 2), batch_size=8, dtype="float64", name="in64")
    assert t.shape == (8, 3, 2) and t.dtype == "float64"
    model = models.Model(t, layers.Dense(1, dtype="float64")(t))
    out = model(np.ones((8, 3, 2), F32))  # float32 data is cast to the Input's float64
    assert K.dtype(out) == "float64"
    layer = InputLayer.from_config({"batch_input_shape": [None, 5], "dtype": "float32",
                                    "name": "keras2_input"})
    assert layer.output.shape == (None, 5) and layer.get_config()["batch_shape"] == [None, 5]


def test_training_flag_reaches_layers_in_the_graph():
    inp = layers.Input(shape=(50,))
    model = models.Model(inp, layers.Dropout(0.5)(inp))
    x = np.ones((4, 50), F32)
    np.testing.assert_array_equal(value(model(x)), x)
    dropped = value(model(x, training=True))
    assert set(np.unique(dropped)) <= {0.0, 2.0} and (dropped == 0).any()


def test_wiring_errors():
    a, b = layers.Input(shape=(2,)), layers.Input(shape=(2,))
    with pytest.raises(ValueError, match="disconnected"):
        models.Model(a, layers.Add()([a, b]))
    model = models.Model([a, b], layers.Add()([a, b]))
    with pytest.raises(ValueError, match="takes 2 inputs"):
        model(np.ones((1, 2), F32))
    with pytest.raises(ValueError):
        models.Sequential([layers.Dense(2), layers.Input(shape=(3,))])
