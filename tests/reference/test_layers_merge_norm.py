"""Merge and normalization layers of the reference library against hand-computed NumPy values."""

from __future__ import annotations

import numpy as np
import pytest

from harness.reference import backend as K
from harness.reference import layers
from harness.reference.layers.base import KerasTensor
from harness.reference.variables import StatelessScope

RNG = np.random.default_rng(11)
A = RNG.normal(size=(2, 3, 4)).astype(np.float32)
B = RNG.normal(size=(2, 3, 4)).astype(np.float32)
C = RNG.normal(size=(2, 3, 4)).astype(np.float32)


def rebuilt(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone


def symbolic_shape(layer, shapes):
    return layer([KerasTensor(tuple(s)) for s in shapes]).shape


def central_difference(fn, values, index, eps=1e-6):
    base = [np.array(v, dtype=np.float64) for v in values]
    grad = np.zeros_like(base[index])
    for pos in np.ndindex(base[index].shape):
        plus = [v.copy() for v in base]
        minus = [v.copy() for v in base]
        plus[index][pos] += eps
        minus[index][pos] -= eps
        grad[pos] = (float(fn(plus)) - float(fn(minus))) / (2 * eps)
    return grad


# --- elementwise merges ---------------------------------------------------------------------

@pytest.mark.parametrize("cls, expected", [
    (layers.Add, A + B + C),
    (layers.Multiply, A * B * C),
    (layers.Average, (A + B + C) / 3),
    (layers.Maximum, np.maximum(np.maximum(A, B), C)),
    (layers.Minimum, np.minimum(np.minimum(A, B), C)),
])
def test_elementwise_merges_on_three_inputs(cls, expected):
    layer = cls()
    np.testing.assert_allclose(K.to_numpy(layer([A, B, C])), expected, rtol=1e-6)
    assert symbolic_shape(layer, [(None, 3, 4)] * 3) == (None, 3, 4)
    assert rebuilt(layer).supports_masking


def test_subtract_takes_exactly_two_inputs():
    np.testing.assert_allclose(K.to_numpy(layers.Subtract()([A, B])), A - B, rtol=1e-6)
    with pytest.raises(ValueError):
        layers.Subtract()([A, B, C])
    with pytest.raises(ValueError):
        layers.Subtract()([KerasTensor((None, 4))] * 3)


def test_merge_broadcasts_size_one_and_lower_rank_as_keras():
    x = np.arange(4, dtype=np.float32).reshape(2, 2)  # (batch, 2)
    y = np.ones((2, 3, 2), dtype=np.float32)
    out = K.to_numpy(layers.Add()([x, y]))
    # the (batch, 2) input gets an axis after the batch axis: (batch, 1, 2)
    np.testing.assert_array_equal(out, y + x[:, None, :])
    assert layers.Add().compute_output_shape([(None, 2), (None, 3, 2)]) == (None, 3, 2)
    assert layers.Add().compute_output_shape([(None, 1, 2), (None, 3, 1)]) == (None, 3, 2)
    assert layers.Add().compute_output_shape([(None, None, 2), (None, 3, 2)]) == (None, None, 2)


def test_merge_shape_validation_errors():
    with pytest.raises(ValueError):
        layers.Add()([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError):
        layers.Add().compute_output_shape([(5, 3), (4, 3)])  # different batch sizes
    with pytest.raises(ValueError):
        layers.Add()(np.zeros((2, 3)))  # not a list
    with pytest.raises(ValueError):
        layers.Multiply()([KerasTensor((None, 3)), KerasTensor((None, 5))])


def test_merge_masks_combine_with_logical_or_as_keras3():
    m1 = np.array([[True, True, False]])
    m2 = np.array([[True, False, False]])
    layer = layers.Add()
    np.testing.assert_array_equal(K.to_numpy(layer.compute_mask([A, B], [m1, m2])),
                                  [[True, True, False]])
    assert layer.compute_mask([A, B], [None, m2]) is None  # Keras 3: any missing -> none
    assert layer.compute_mask([A, B], None) is None
    with pytest.raises(ValueError):
        layer.compute_mask([A, B], [m1])


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_merges_compute_in_layer_dtype(dtype):
    for cls in (layers.Add, layers.Average, layers.Maximum):
        out = cls(dtype=dtype)([A.astype(dtype), B.astype(dtype)])
        assert K.dtype(out) == dtype
    np.testing.assert_allclose(K.to_numpy(layers.Average(dtype=dtype)([A, B])),
                               (A + B) / 2, rtol=2e-3, atol=2e-3)


# --- Concatenate ----------------------------------------------------------------------------

def test_concatenate_axes_and_shapes():
    x = np.ones((2, 3, 4), np.float32)
    y = np.zeros((2, 3, 5), np.float32)
    np.testing.assert_array_equal(K.to_numpy(layers.Concatenate()([x, y])),
                                  np.concatenate([x, y], axis=-1))
    z = np.full((2, 1, 4), 7.0, np.float32)
    out = K.to_numpy(layers.Concatenate(axis=1)([x, z]))
    assert out.shape == (2, 4, 4) and np.all(out[:, 3] == 7)
    layer = layers.Concatenate(axis=1)
    assert layer.compute_output_shape([(None, 3, 4), (None, 2, 4)]) == (None, 5, 4)
    assert layer.compute_output_shape([(None, None, 4), (None, 2, 4)]) == (None, None, 4)
    assert symbolic_shape(layers.Concatenate(), [(None, 3, 4), (None, 3, 1)]) == (None, 3, 5)
    assert rebuilt(layer).axis == 1
    with pytest.raises(ValueError):
        layers.Concatenate()([np.zeros((2, 3, 4)), np.zeros((2, 2, 4))])
    with pytest.raises(ValueError):
        layers.Concatenate()([KerasTensor((None, 3)), KerasTensor((None, 3, 4))])


def test_concatenate_mask_fills_missing_masks_and_reduces_last_axis():
    x = np.zeros((1, 3, 2), np.float32)
    y = np.zeros((1, 3, 4), np.float32)
    m = np.array([[True, False, True]])
    layer = layers.Concatenate()
    # y has no mask (all True): Keras 3's any over features keeps every step
    np.testing.assert_array_equal(K.to_numpy(layer.compute_mask([x, y], [m, None])),
                                  [[True, True, True]])
    m2 = np.array([[False, True, False]])
    np.testing.assert_array_equal(K.to_numpy(layer.compute_mask([x, y], [m, m2])),
                                  [[True, True, True]])
    m3 = np.array([[False, True, False]])
    np.testing.assert_array_equal(K.to_numpy(layer.compute_mask([x, x], [m3, m3])), m3)
    time = layers.Concatenate(axis=1)
    np.testing.assert_array_equal(K.to_numpy(time.compute_mask([x, x], [m, None])),
                                  [[True, False, True, True, True, True]])
    assert layer.compute_mask([x, y], [None, None]) is None


# --- Dot ------------------------------------------------------------------------------------

def test_dot_on_vectors_gives_batch_by_one():
    x = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]], np.float32)
    y = np.array([[4.0, 5.0, 6.0], [2.0, 3.0, 4.0]], np.float32)
    out = K.to_numpy(layers.Dot(axes=1)([x, y]))
    np.testing.assert_allclose(out, [[32.0], [3.0]])
    assert layers.Dot(axes=1).compute_output_shape([(None, 3), (None, 3)]) == (None, 1)


def test_dot_over_matrices_and_mixed_axes():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 3, 4))
    y = rng.normal(size=(2, 5, 4))
    layer = layers.Dot(axes=(2, 2), dtype="float64")
    np.testing.assert_allclose(K.to_numpy(layer([x, y])), x @ y.transpose(0, 2, 1), rtol=1e-12)
    assert layer.compute_output_shape([(None, 3, 4), (None, 5, 4)]) == (None, 3, 5)
    z = rng.normal(size=(2, 3, 6))
    mixed = layers.Dot(axes=[1, 1], dtype="float64")
    np.testing.assert_allclose(K.to_numpy(mixed([x, z])),
                               np.einsum("bik,bil->bkl", x, z), rtol=1e-12)
    assert symbolic_shape(mixed, [(None, 3, 4), (None, 3, 6)]) == (None, 4, 6)
    v = rng.normal(size=(2, 4))
    np.testing.assert_allclose(K.to_numpy(layers.Dot(axes=-1, dtype="float64")([x, v])),
                               np.einsum("bik,bk->bi", x, v), rtol=1e-12)


def test_dot_normalize_gives_cosine_similarity():
    x = np.array([[3.0, 4.0], [1.0, 0.0]], np.float32)
    y = np.array([[4.0, 3.0], [0.0, 2.0]], np.float32)
    layer = layers.Dot(axes=1, normalize=True)
    np.testing.assert_allclose(K.to_numpy(layer([x, y])), [[24 / 25], [0.0]], atol=1e-6)
    assert rebuilt(layer).normalize is True
    assert layer.compute_mask([x, y], [None, None]) is None


def test_dot_validation():
    with pytest.raises(TypeError):
        layers.Dot(axes="1")
    with pytest.raises(ValueError):
        layers.Dot(axes=(1, 2, 3))
    with pytest.raises(ValueError):
        layers.Dot(axes=1)([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError):
        layers.Dot(axes=1)([np.zeros((2, 3))] * 3)
    with pytest.raises(ValueError):
        layers.Dot(axes=0)([np.zeros((2, 3))] * 2)


# --- BatchNormalization ---------------------------------------------------------------------

def test_batchnorm_inference_uses_moving_statistics():
    x = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    layer = layers.BatchNormalization(epsilon=0.0)
    layer(x)
    gamma, beta = np.array([2.0, 1.0]), np.array([0.5, -1.0])
    mean, var = np.array([1.0, 2.0]), np.array([4.0, 16.0])
    layer.set_weights([gamma, beta, mean, var])
    expected = (x - mean) / np.sqrt(var) * gamma + beta  # [[.5, -1], [2.5, 0]]
    np.testing.assert_allclose(K.to_numpy(layer(x)), expected, rtol=1e-6)
    np.testing.assert_allclose(K.to_numpy(layer(x, training=False)), [[0.5, -1], [2.5, 0]])


def test_batchnorm_training_uses_batch_statistics_and_updates_moving_ones():
    x = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 40.0]], np.float64)
    layer = layers.BatchNormalization(momentum=0.9, dtype="float64")
    out = K.to_numpy(layer(x, training=True))
    mean = np.array([3.0, 20.0])
    var = np.array([8 / 3, 200.0])  # biased variance
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-12)
    _, _, moving_mean, moving_var = layer.get_weights()
    np.testing.assert_allclose(moving_mean, 0.9 * 0 + 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(moving_var, 0.9 * 1 + 0.1 * var, rtol=1e-12)


def test_batchnorm_training_inside_stateless_scope_records_updates():
    x = np.array([[1.0], [3.0]], np.float32)
    layer = layers.BatchNormalization(momentum=0.5)
    layer(x)
    with StatelessScope() as scope:
        layer(x, training=True)
    updates = {var.name.split("/")[-1]: K.to_numpy(value) for var, value in scope.updates()}
    assert sorted(updates) == ["moving_mean", "moving_variance"]
    np.testing.assert_allclose(updates["moving_mean"], [1.0])  # .5 * 0 + .5 * 2
    np.testing.assert_allclose(updates["moving_variance"], [1.0])  # .5 * 1 + .5 * 1
    # the variables themselves are untouched
    np.testing.assert_array_equal(layer.get_weights()[2:], [[0.0], [1.0]])


def test_batchnorm_axis_weights_and_config():
    x = np.random.default_rng(5).normal(size=(2, 3, 4, 5)).astype(np.float32)
    layer = layers.BatchNormalization(axis=1, center=False)
    out = K.to_numpy(layer(x, training=True))
    assert [w.shape for w in layer.get_weights()] == [(3,), (3,), (3,)]
    assert [w.name.split("/")[-1] for w in layer.weights] == [
        "gamma", "moving_mean", "moving_variance"]
    assert [w.name.split("/")[-1] for w in layer.trainable_weights] == ["gamma"]
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    assert layers.BatchNormalization()(KerasTensor((None, None, 4))).shape == (None, None, 4)
    clone = rebuilt(layer)
    assert (clone.axis, clone.center, clone.scale, clone.momentum) == (1, False, True, 0.99)
    with pytest.raises(ValueError):
        layers.BatchNormalization(axis=3).compute_output_shape((None, 4))


def test_batchnorm_masked_training_ignores_masked_steps():
    x = np.array([[[1.0], [3.0], [100.0]], [[5.0], [-50.0], [7.0]]], np.float64)
    mask = np.array([[True, True, False], [True, False, True]])
    layer = layers.BatchNormalization(momentum=0.0, epsilon=0.0, dtype="float64")
    layer(x, training=True, mask=mask)
    kept = np.array([1.0, 3.0, 5.0, 7.0])
    _, _, moving_mean, moving_var = layer.get_weights()
    # Keras adds backend epsilon (1e-7) to the count of unmasked values
    np.testing.assert_allclose(moving_mean, [kept.sum() / (4 + 1e-7)], rtol=1e-9)
    np.testing.assert_allclose(moving_var, [kept.var()], rtol=1e-6)
    with pytest.raises(ValueError):
        layer(x, training=True, mask=np.ones((2, 3, 1), bool))


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_batchnorm_dtypes(dtype):
    layer = layers.BatchNormalization(dtype=dtype)
    x = np.random.default_rng(6).normal(size=(8, 3)).astype(dtype)
    out = layer(x, training=True)
    assert K.dtype(out) == dtype
    assert all(w.dtype == np.dtype(dtype) for w in layer.get_weights())
    expected = (x - x.mean(0)) / np.sqrt(x.astype(np.float64).var(0) + 1e-3)
    np.testing.assert_allclose(K.to_numpy(out), expected, rtol=1e-2, atol=1e-2)


def test_batchnorm_training_gradients_match_central_differences():
    x = np.random.default_rng(7).normal(size=(4, 3))
    layer = layers.BatchNormalization(dtype="float64")
    layer(x)
    gamma, beta = layer.get_weights()[:2]
    weights = np.array([[1.0, -2.0, 0.5]] * 4) * np.arange(1, 5)[:, None]

    def loss(values):
        with StatelessScope({layer.gamma: values[1], layer.beta: values[2]}):
            return K.sum(K.multiply(layer(values[0], training=True), weights))

    value, grads = K.value_and_grad(loss, [x, gamma, beta])
    assert np.isfinite(K.to_numpy(value))
    numeric = lambda vals: K.to_numpy(loss([K.convert_to_tensor(v) for v in vals]))  # noqa: E731
    for i, grad in enumerate(grads):
        np.testing.assert_allclose(K.to_numpy(grad),
                                   central_difference(numeric, [x, gamma, beta], i),
                                   rtol=1e-5, atol=1e-7)


# --- LayerNormalization ---------------------------------------------------------------------

def test_layernorm_last_axis_by_hand():
    x = np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 8.0]], np.float64)
    layer = layers.LayerNormalization(epsilon=0.0, dtype="float64")
    layer(x)
    layer.set_weights([np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 1.0])])
    # row 0: mean 2, var 2/3 -> [-1, 0, 1] * sqrt(1.5); row 1: mean 4, var 8 -> [-2, -2, 4]/sqrt 8
    r0 = np.array([-1.0, 0.0, 1.0]) * np.sqrt(1.5)
    r1 = np.array([-2.0, -2.0, 4.0]) / np.sqrt(8.0)
    expected = np.stack([r0, r1]) * [1.0, 2.0, 3.0] + [0.0, 0.0, 1.0]
    np.testing.assert_allclose(K.to_numpy(layer(x)), expected, rtol=1e-12)
    assert [w.name.split("/")[-1] for w in layer.weights] == ["gamma", "beta"]


def test_layernorm_several_axes_weights_and_config():
    x = np.random.default_rng(8).normal(size=(2, 3, 4)).astype(np.float32)
    layer = layers.LayerNormalization(axis=[1, 2], center=False)
    out = K.to_numpy(layer(x))
    assert [w.shape for w in layer.get_weights()] == [(3, 4)]
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-3), rtol=1e-4, atol=1e-5)
    clone = rebuilt(layer)
    assert clone.axis == [1, 2] and clone.center is False
    assert layer.compute_output_shape((None, 3, 4)) == (None, 3, 4)
    with pytest.raises(ValueError):
        layers.LayerNormalization(axis=2).compute_output_shape((None, 4))
    with pytest.raises(TypeError):
        layers.LayerNormalization(axis="last")


def test_layernorm_rms_scaling_as_keras():
    x = np.array([[1.0, 2.0, 3.0]], np.float64)
    layer = layers.LayerNormalization(rms_scaling=True, epsilon=0.0, dtype="float64")
    out = K.to_numpy(layer(x))
    assert [w.name.split("/")[-1] for w in layer.weights] == ["gamma"]
    np.testing.assert_allclose(out, x / np.sqrt(2 / 3), rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_layernorm_dtypes(dtype):
    x = np.random.default_rng(9).normal(size=(3, 5)).astype(dtype)
    layer = layers.LayerNormalization(dtype=dtype)
    out = layer(x)
    assert K.dtype(out) == dtype
    x64 = x.astype(np.float64)
    expected = (x64 - x64.mean(-1, keepdims=True)) / np.sqrt(x64.var(-1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(K.to_numpy(out), expected, rtol=5e-3, atol=5e-3)


def test_layernorm_gradients_match_central_differences():
    x = np.random.default_rng(10).normal(size=(2, 4))
    layer = layers.LayerNormalization(dtype="float64")
    layer(x)
    gamma, beta = layer.get_weights()
    weights = np.arange(8.0).reshape(2, 4) - 3

    def loss(values):
        with StatelessScope({layer.gamma: values[1], layer.beta: values[2]}):
            return K.sum(K.multiply(layer(values[0]), weights))

    _, grads = K.value_and_grad(loss, [x, gamma, beta])
    numeric = lambda vals: K.to_numpy(loss([K.convert_to_tensor(v) for v in vals]))  # noqa: E731
    for i, grad in enumerate(grads):
        np.testing.assert_allclose(K.to_numpy(grad),
                                   central_difference(numeric, [x, gamma, beta], i),
                                   rtol=1e-5, atol=1e-7)
