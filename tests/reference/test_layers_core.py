"""Core and reshaping layers of the reference library against hand-computed NumPy values."""

from __future__ import annotations

import numpy as np
import pytest

from harness.reference import backend as K
from harness.reference import layers
from harness.reference import random as reference_random
from harness.reference.layers.base import KerasTensor
from harness.reference.variables import StatelessScope


def rebuilt(layer):
    """A layer rebuilt from ``layer``'s config, with the same config."""
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    return clone


def symbolic_shape(layer, shape):
    return layer(KerasTensor(tuple(shape))).shape


def central_difference(fn, values, index, eps=1e-6):
    """d fn / d values[index], elementwise, by central differences (float64)."""
    base = [np.array(v, dtype=np.float64) for v in values]
    grad = np.zeros_like(base[index])
    for pos in np.ndindex(base[index].shape):
        plus = [v.copy() for v in base]
        minus = [v.copy() for v in base]
        plus[index][pos] += eps
        minus[index][pos] -= eps
        grad[pos] = (float(fn(plus)) - float(fn(minus))) / (2 * eps)
    return grad


# --- Dense -----------------------------------------------------------------------------------

def test_dense_matches_affine_map_and_activation():
    x = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]], dtype=np.float32)
    kernel = np.array([[1.0, 0.0], [0.5, -1.0], [2.0, 1.0]], dtype=np.float32)
    bias = np.array([0.25, -0.5], dtype=np.float32)
    layer = layers.Dense(2, activation="relu")
    layer(x)
    layer.set_weights([kernel, bias])
    # row 0: [1 - 1 + 1 + .25, 0 + 2 + .5 - .5] = [1.25, 2.0]; row 1: [1.5-2+.25, -3-1-.5] -> relu
    expected = np.array([[1.25, 2.0], [0.0, 0.0]])
    np.testing.assert_allclose(K.to_numpy(layer(x)), expected, rtol=1e-6)


def test_dense_weights_keras_order_and_shapes():
    layer = layers.Dense(5)
    layer(np.zeros((2, 3), np.float32))
    shapes = [w.shape for w in layer.get_weights()]
    assert shapes == [(3, 5), (5,)]
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel", "bias"]
    no_bias = layers.Dense(5, use_bias=False)
    no_bias(np.zeros((2, 3), np.float32))
    assert [w.shape for w in no_bias.get_weights()] == [(3, 5)]


def test_dense_on_rank3_applies_kernel_on_last_axis():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 3))
    layer = layers.Dense(6, dtype="float64")
    out = K.to_numpy(layer(x))
    kernel, bias = layer.get_weights()
    expected = np.einsum("btf,fu->btu", x, kernel) + bias
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    assert symbolic_shape(layer, (None, None, 3)) == (None, None, 6)


def test_dense_config_round_trip_gives_equal_layer():
    layer = layers.Dense(4, activation="tanh", use_bias=False, kernel_initializer="he_normal",
                         name="my_dense")
    config = layer.get_config()
    assert {k: config[k] for k in ("units", "activation", "use_bias", "kernel_initializer",
                                   "bias_initializer")} == {
        "units": 4, "activation": "tanh", "use_bias": False,
        "kernel_initializer": "he_normal", "bias_initializer": "zeros"}
    clone = rebuilt(layer)
    x = np.random.default_rng(1).normal(size=(3, 2)).astype(np.float32)
    layer(x)
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(K.to_numpy(clone(x)), K.to_numpy(layer(x)))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_dense_rejects_non_positive_units(bad):
    with pytest.raises(ValueError):
        layers.Dense(bad)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_dense_weights_and_output_follow_dtype(dtype):
    layer = layers.Dense(3, dtype=dtype)
    out = layer(np.ones((2, 4), np.float32))
    assert K.dtype(out) == dtype
    assert all(w.dtype == np.dtype(dtype) for w in layer.get_weights())


def test_dense_gradients_match_central_differences():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4))
    layer = layers.Dense(2, activation="tanh", dtype="float64")
    layer(x)
    kernel, bias = layer.get_weights()

    def loss(values):
        with StatelessScope({layer.kernel: values[1], layer.bias: values[2]}):
            return K.sum(K.square(layer(values[0])))

    value, grads = K.value_and_grad(loss, [x, kernel, bias])
    assert np.isfinite(K.to_numpy(value))
    numeric = lambda vals: K.to_numpy(loss([K.convert_to_tensor(v) for v in vals]))  # noqa: E731
    for i, grad in enumerate(grads):
        grad = K.to_numpy(grad)
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, central_difference(numeric, [x, kernel, bias], i),
                                   rtol=1e-5, atol=1e-8)


def test_dense_passes_mask_through():
    layer = layers.Dense(2)
    mask = np.array([[True, False, True]])
    assert layer.supports_masking
    np.testing.assert_array_equal(layer.compute_mask(np.zeros((1, 3, 4)), mask), mask)


# --- Activation -----------------------------------------------------------------------------

def test_activation_layer_applies_named_function_and_round_trips():
    x = np.array([[-1.0, 0.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(K.to_numpy(layers.Activation("tanh")(x)), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(K.to_numpy(layers.Activation("relu")(x)), [[0.0, 0.0, 2.0]])
    layer = layers.Activation("swish")
    assert layer.get_config()["activation"] == "swish"
    np.testing.assert_allclose(K.to_numpy(rebuilt(layer)(x)), x / (1 + np.exp(-x)), rtol=1e-6)
    assert symbolic_shape(layer, (None, 3, None)) == (None, 3, None)


# --- Embedding ------------------------------------------------------------------------------

def test_embedding_looks_up_rows_and_masks_zero():
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    layer = layers.Embedding(4, 3, mask_zero=True)
    ids = np.array([[1, 0, 3], [2, 2, 0]])
    layer(ids)
    layer.set_weights([table])
    out = K.to_numpy(layer(ids))
    np.testing.assert_array_equal(out[0, 0], [3, 4, 5])
    np.testing.assert_array_equal(out[1, 2], [0, 1, 2])
    np.testing.assert_array_equal(out, table[ids])
    np.testing.assert_array_equal(K.to_numpy(layer.compute_mask(ids)),
                                  [[True, False, True], [True, True, False]])
    assert layer.supports_masking


def test_embedding_shapes_initializer_config_and_no_mask_by_default():
    reference_random.set_random_seed(3)
    layer = layers.Embedding(input_dim=10, output_dim=4)
    out = layer(np.array([[1, 2, 3, 4, 5]]))
    assert out.shape == (1, 5, 4)
    assert symbolic_shape(layer, (None, None)) == (None, None, 4)
    (table,) = layer.get_weights()
    assert table.shape == (10, 4)
    # Keras' 'uniform' is RandomUniform(-0.05, 0.05)
    assert np.all(np.abs(table) <= 0.05) and table.std() > 0.01
    assert layer.compute_mask(np.array([[0, 1]])) is None
    config = layer.get_config()
    assert config["embeddings_initializer"] == "uniform" and config["mask_zero"] is False
    assert rebuilt(layer).input_dim == 10


def test_embedding_float64_and_float_indices():
    layer = layers.Embedding(3, 2, dtype="float64")
    out = layer(np.array([[2.0, 1.0]]))  # Keras casts non-integer indices to int32
    assert K.dtype(out) == "float64"
    np.testing.assert_array_equal(K.to_numpy(out)[0], layer.get_weights()[0][[2, 1]])


# --- Masking --------------------------------------------------------------------------------

def test_masking_zeroes_and_masks_timesteps_equal_to_mask_value():
    x = np.array([[[1.0, 2.0], [0.0, 0.0], [0.0, 3.0]],
                  [[0.0, 0.0], [0.0, 0.0], [5.0, 0.0]]], dtype=np.float32)
    layer = layers.Masking()
    np.testing.assert_array_equal(K.to_numpy(layer(x)), x)
    np.testing.assert_array_equal(K.to_numpy(layer.compute_mask(x)),
                                  [[True, False, True], [False, False, True]])
    other = layers.Masking(mask_value=1.0)
    y = np.array([[[1.0, 1.0], [1.0, 2.0]]], dtype=np.float32)
    np.testing.assert_array_equal(K.to_numpy(other(y)), [[[0.0, 0.0], [1.0, 2.0]]])
    np.testing.assert_array_equal(K.to_numpy(other.compute_mask(y)), [[False, True]])
    assert rebuilt(other).mask_value == 1.0


# --- Dropout --------------------------------------------------------------------------------

def test_dropout_is_identity_unless_training():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    layer = layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(K.to_numpy(layer(x)), x)
    np.testing.assert_array_equal(K.to_numpy(layer(x, training=False)), x)


def test_dropout_training_mask_drawn_from_seeded_generator():
    x = np.arange(1, 41, dtype=np.float32).reshape(4, 10)
    layer = layers.Dropout(0.25, seed=42)
    out = K.to_numpy(layer(x, training=True))
    keep = np.random.default_rng(42).uniform(size=(4, 10)) < 0.75
    np.testing.assert_allclose(out, np.where(keep, x / 0.75, 0.0), rtol=1e-6)
    # a second call draws a new mask, reproducibly for a new layer with the same seed
    second = K.to_numpy(layer(x, training=True))
    assert not np.array_equal(second, out)
    again = layers.Dropout(0.25, seed=42)
    np.testing.assert_array_equal(K.to_numpy(again(x, training=True)), out)


def test_dropout_without_seed_uses_library_generator():
    reference_random.set_random_seed(9)
    x = np.ones((3, 5), dtype=np.float64)
    out = K.to_numpy(layers.Dropout(0.5, dtype="float64")(x, training=True))
    keep = np.random.default_rng(9).uniform(size=(3, 5)) < 0.5
    np.testing.assert_array_equal(out, np.where(keep, 2.0, 0.0))


def test_dropout_noise_shape_broadcasts_mask():
    x = np.ones((2, 6, 3), dtype=np.float32)
    layer = layers.Dropout(0.5, noise_shape=(None, 1, 3), seed=0)
    out = K.to_numpy(layer(x, training=True))
    keep = np.random.default_rng(0).uniform(size=(2, 1, 3)) < 0.5
    np.testing.assert_array_equal(out, np.broadcast_to(np.where(keep, 2.0, 0.0), x.shape))
    assert layer.get_config()["noise_shape"] == (None, 1, 3)


def test_dropout_edge_rates_and_validation():
    x = np.array([[1.0, np.nan, 3.0]], dtype=np.float32)
    np.testing.assert_array_equal(K.to_numpy(layers.Dropout(0.0)(x, training=True)), x)
    np.testing.assert_array_equal(K.to_numpy(layers.Dropout(1.0)(x, training=True)),
                                  np.zeros((1, 3)))
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            layers.Dropout(bad)
    with pytest.raises(ValueError):
        layers.Dropout(0.5, noise_shape="abc")
    with pytest.raises(ValueError):
        layers.Dropout(0.5, noise_shape=(None, 0))


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_dropout_keeps_dtype(dtype):
    layer = layers.Dropout(0.3, seed=5, dtype=dtype)
    out = layer(np.ones((4, 4), dtype=dtype), training=True)
    assert K.dtype(out) == dtype
    kept = K.to_numpy(out)[K.to_numpy(out) != 0]
    np.testing.assert_allclose(kept, 1 / 0.7, rtol=1e-3)


def test_dropout_config_round_trip():
    layer = layers.Dropout(0.2, noise_shape=[None, 1], seed=3)
    clone = rebuilt(layer)
    assert (clone.rate, clone.noise_shape, clone.seed) == (0.2, (None, 1), 3)


# --- Reshaping ------------------------------------------------------------------------------

def test_flatten_values_and_shapes():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    layer = layers.Flatten()
    np.testing.assert_array_equal(K.to_numpy(layer(x)), x.reshape(2, 12))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 12)
    assert layer.compute_output_shape((None, 3, None)) == (None, None)
    assert layer(np.zeros((0, 2, 2), np.float32)).shape == (0, 4)
    assert layers.Flatten()(np.arange(3.0)).shape == (3, 1)
    assert rebuilt(layer).data_format == "channels_last"
    with pytest.raises(ValueError):
        layers.Flatten(data_format="channels_first")


def test_reshape_resolves_minus_one_and_validates():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    layer = layers.Reshape((-1, 2))
    np.testing.assert_array_equal(K.to_numpy(layer(x)), x.reshape(2, 6, 2))
    assert layer.compute_output_shape((None, 3, 4)) == (None, 6, 2)
    assert layer.compute_output_shape((None, None, 4)) == (None, None, 2)
    assert symbolic_shape(layers.Reshape((4, 3)), (None, 3, 4)) == (None, 4, 3)
    assert rebuilt(layer).target_shape == (-1, 2)
    with pytest.raises(ValueError):
        layers.Reshape((-1, -1))
    with pytest.raises(ValueError):
        layers.Reshape((5,)).compute_output_shape((None, 3, 4))
    with pytest.raises(ValueError):
        layers.Reshape((-1, 5)).compute_output_shape((None, 3, 4))


def test_permute_matches_numpy_transpose():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    layer = layers.Permute((2, 1))
    np.testing.assert_array_equal(K.to_numpy(layer(x)), x.transpose(0, 2, 1))
    assert layer.compute_output_shape((None, 3, None)) == (None, None, 3)
    assert rebuilt(layer).dims == (2, 1)
    with pytest.raises(ValueError):
        layers.Permute((1, 3))
    with pytest.raises(ValueError):
        layers.Permute((2, 1))(np.zeros((1, 2, 3, 4)))


def test_repeat_vector():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    layer = layers.RepeatVector(3)
    out = K.to_numpy(layer(x))
    assert out.shape == (2, 3, 2)
    np.testing.assert_array_equal(out[1], [[3, 4]] * 3)
    assert layer.compute_output_shape((None, 2)) == (None, 3, 2)
    assert rebuilt(layer).n == 3
    with pytest.raises(TypeError):
        layers.RepeatVector(2.0)
    with pytest.raises(ValueError):
        layers.RepeatVector(0)
    with pytest.raises(ValueError):
        layers.RepeatVector(2)(np.zeros((1, 2, 3)))


@pytest.mark.parametrize("padding, pairs", [
    (1, ((1, 1), (1, 1))),
    ((1, 2), ((1, 1), (2, 2))),
    (((1, 0), (0, 2)), ((1, 0), (0, 2))),
])
def test_zero_padding2d_forms(padding, pairs):
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 2, 3, 2)
    layer = layers.ZeroPadding2D(padding)
    assert layer.get_config()["padding"] == pairs
    expected = np.pad(x, ((0, 0), *pairs, (0, 0)))
    np.testing.assert_array_equal(K.to_numpy(layer(x)), expected)
    assert layer.compute_output_shape((None, 2, None, 2)) == (
        None, 2 + sum(pairs[0]), None, 2)
    assert rebuilt(layer).padding == pairs


def test_cropping2d_values_shapes_and_limits():
    x = np.arange(2 * 5 * 6 * 1, dtype=np.float32).reshape(2, 5, 6, 1)
    layer = layers.Cropping2D(((1, 2), (0, 3)))
    np.testing.assert_array_equal(K.to_numpy(layer(x)), x[:, 1:3, 0:3, :])
    assert layer.compute_output_shape((None, 5, None, 1)) == (None, 2, None, 1)
    assert layers.Cropping2D(1).get_config()["cropping"] == ((1, 1), (1, 1))
    assert rebuilt(layer).cropping == ((1, 2), (0, 3))
    with pytest.raises(ValueError):
        layers.Cropping2D(((3, 2), (0, 0))).compute_output_shape((None, 5, 6, 1))
    with pytest.raises(ValueError):
        layers.Cropping2D(-1)


def test_upsampling2d_nearest_repeats_rows_and_columns():
    x = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32).reshape(1, 2, 2, 1)
    layer = layers.UpSampling2D(size=(2, 3))
    out = K.to_numpy(layer(x))[0, :, :, 0]
    np.testing.assert_array_equal(out, [[1, 1, 1, 2, 2, 2]] * 2 + [[3, 3, 3, 4, 4, 4]] * 2)
    assert layer.compute_output_shape((None, 2, None, 1)) == (None, 4, None, 1)
    assert layers.UpSampling2D(2).get_config()["size"] == (2, 2)
    assert rebuilt(layer).size == (2, 3)


def test_upsampling2d_bilinear_uses_half_pixel_centres():
    row = np.array([1.0, 2.0], dtype=np.float32)
    x = (row[:, None] * 10 + row[None, :]).reshape(1, 2, 2, 1)  # [[11, 12], [21, 22]]
    out = K.to_numpy(layers.UpSampling2D(interpolation="bilinear")(x))[0, :, :, 0]
    # 1-D: [a, b] -> [a, .75a + .25b, .25a + .75b, b]; separable along rows and columns
    weights = np.array([[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])
    np.testing.assert_allclose(out, weights @ x[0, :, :, 0] @ weights.T, rtol=1e-6)
    np.testing.assert_allclose(out[0], [11, 11.25, 11.75, 12], rtol=1e-6)
    with pytest.raises(ValueError):
        layers.UpSampling2D(interpolation="bicubic")


def test_reshaping_layers_reject_channels_first():
    for cls in (layers.ZeroPadding2D, layers.Cropping2D, layers.UpSampling2D):
        with pytest.raises(ValueError):
            cls(data_format="channels_first")


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_reshaping_layers_keep_dtype(dtype):
    x = np.ones((1, 4, 4, 2), dtype=dtype)
    for layer in (layers.Flatten(dtype=dtype), layers.ZeroPadding2D(dtype=dtype),
                  layers.Cropping2D(1, dtype=dtype),
                  layers.UpSampling2D(interpolation="bilinear", dtype=dtype)):
        assert K.dtype(layer(x)) == dtype
