"""Convolution and pooling layers of the reference library on the NumPy backend.

Every value check compares against a direct loop over output positions and kernel taps
written here (TensorFlow SAME padding: the odd cell goes after), not against backend code.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from harness.reference import backend as K
from harness.reference import layers
from harness.reference.layers import convolutional
from harness.reference.variables import StatelessScope

RNG = np.random.default_rng(7)


def _pads(n: int, extent: int, stride: int, padding: str) -> tuple[int, int]:
    """(pad_before, out_length) along one axis."""
    if padding == "valid":
        return 0, (n - extent) // stride + 1
    out = -(-n // stride)
    total = max((out - 1) * stride + extent - n, 0)
    return total // 2, out


def loop_conv(x, w, strides, padding, dilation, depthwise=False):
    """Direct N-d convolution: x (b, *sp, cin), w (*k, cin, cout | mult)."""
    ksize = w.shape[:-2]
    geo = [_pads(n, (k - 1) * d + 1, s, padding)
           for n, k, s, d in zip(x.shape[1:-1], ksize, strides, dilation, strict=True)]
    cin, last = w.shape[-2], w.shape[-1]
    cout = cin * last if depthwise else last
    y = np.zeros((x.shape[0], *[o for _, o in geo], cout))
    for out_idx in itertools.product(*[range(o) for _, o in geo]):
        for k_idx in itertools.product(*[range(k) for k in ksize]):
            src = [o * s + k * d - before for o, k, s, d, (before, _) in
                   zip(out_idx, k_idx, strides, dilation, geo, strict=True)]
            if not all(0 <= i < n for i, n in zip(src, x.shape[1:-1], strict=True)):
                continue
            patch = x[(slice(None), *src)]
            tap = w[k_idx]
            if depthwise:
                y[(slice(None), *out_idx)] += (patch[:, :, None] * tap[None]).reshape(len(x), -1)
            else:
                y[(slice(None), *out_idx)] += patch @ tap
    return y


def loop_pool(x, pool, strides, padding, reduce):
    """Direct N-d pooling over the valid cells of each window."""
    geo = [_pads(n, p, s, padding) for n, p, s in zip(x.shape[1:-1], pool, strides, strict=True)]
    y = np.zeros((x.shape[0], *[o for _, o in geo], x.shape[-1]))
    for out_idx in itertools.product(*[range(o) for _, o in geo]):
        cells = []
        for k_idx in itertools.product(*[range(p) for p in pool]):
            src = [o * s + k - before
                   for o, k, s, (before, _) in zip(out_idx, k_idx, strides, geo, strict=True)]
            if all(0 <= i < n for i, n in zip(src, x.shape[1:-1], strict=True)):
                cells.append(x[(slice(None), *src)])
        y[(slice(None), *out_idx)] = reduce(np.stack(cells), axis=0)
    return y


def _randomize(layer):
    """Give every weight (bias included) nonzero random values; returns them."""
    values = [RNG.normal(size=w.shape) for w in layer.weights]
    layer.set_weights(values)
    return values


def _run(layer, x):
    return K.to_numpy(layer(x))


# --- convolutions against the loop ----------------------------------------------------------

CONV_CASES = [
    (layers.Conv1D, (2, 9, 3), dict(filters=4, kernel_size=3, strides=2, padding="same")),
    (layers.Conv1D, (2, 9, 3), dict(filters=2, kernel_size=2, dilation_rate=3)),
    (layers.Conv2D, (2, 5, 6, 3), dict(filters=4, kernel_size=(3, 2), strides=(1, 2))),
    (layers.Conv2D, (1, 6, 7, 2), dict(filters=3, kernel_size=(2, 3), strides=(2, 3),
                                       padding="same")),
    (layers.Conv2D, (1, 7, 7, 2), dict(filters=2, kernel_size=3, dilation_rate=2,
                                       padding="same")),
    (layers.Conv3D, (1, 4, 5, 3, 2), dict(filters=2, kernel_size=(2, 3, 2), padding="same")),
]


@pytest.mark.parametrize("cls, shape, kwargs", CONV_CASES)
def test_conv_matches_loop_and_shape(cls, shape, kwargs):
    layer = cls(**kwargs, activation="relu", dtype="float64")
    x = RNG.normal(size=shape)
    layer(x)
    kernel, bias = _randomize(layer)
    y = _run(layer, x)
    expect = np.maximum(loop_conv(x, kernel, layer.strides, layer.padding,
                                  layer.dilation_rate) + bias, 0)
    np.testing.assert_allclose(y, expect, rtol=1e-10, atol=1e-12)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])


def test_conv1d_causal_sees_only_the_past():
    layer = layers.Conv1D(1, 3, padding="causal", dilation_rate=2, use_bias=False,
                          dtype="float64")
    x = np.arange(1.0, 8.0).reshape(1, 7, 1)
    layer(x)
    layer.set_weights([np.array([100.0, 10.0, 1.0]).reshape(3, 1, 1)])
    y = _run(layer, x)[0, :, 0]
    # y[t] = 100 x[t-4] + 10 x[t-2] + x[t], missing taps are zero
    xs = x[0, :, 0]
    expect = [sum(w * xs[t - lag] for w, lag in ((100, 4), (10, 2), (1, 0)) if t >= lag)
              for t in range(7)]
    np.testing.assert_allclose(y, expect)
    assert layer.compute_output_shape((None, None, 1)) == (None, None, 1)
    assert layer.compute_output_shape((None, 7, 1)) == (None, 7, 1)


def test_grouped_conv_is_separate_convs_per_group():
    layer = layers.Conv2D(4, 2, groups=2, dtype="float64")
    x = RNG.normal(size=(2, 4, 4, 6))
    layer(x)
    assert layer.kernel.shape == (2, 2, 3, 4)
    kernel, bias = _randomize(layer)
    first = loop_conv(x[..., :3], kernel[..., :2], (1, 1), "valid", (1, 1))
    second = loop_conv(x[..., 3:], kernel[..., 2:], (1, 1), "valid", (1, 1))
    np.testing.assert_allclose(_run(layer, x), np.concatenate([first, second], -1) + bias,
                               rtol=1e-10)


def test_conv2d_transpose_tiny_by_hand():
    layer = layers.Conv2DTranspose(1, (1, 3), strides=(1, 2), use_bias=False, dtype="float64")
    x = np.array([1.0, 2.0]).reshape(1, 1, 2, 1)
    layer(x)
    layer.set_weights([np.array([1.0, 10.0, 100.0]).reshape(1, 3, 1, 1)])
    # each input scatters x*kernel at 2*i; overlapping cells add
    np.testing.assert_allclose(_run(layer, x)[0, 0, :, 0], [1, 10, 102, 20, 200])


@pytest.mark.parametrize("kernel, strides, padding, output_padding, n", [
    ((3, 3), (2, 2), "same", None, (3, 4)),
    ((4, 3), (2, 3), "same", None, (2, 3)),
    ((3, 2), (2, 2), "valid", None, (3, 3)),
    ((3, 3), (2, 2), "same", (1, 0), (3, 2)),
    ((4, 4), (2, 3), "valid", (1, 2), (2, 3)),
    ((2, 2), (3, 3), "valid", None, (2, 2)),
])
def test_conv2d_transpose_is_the_adjoint_of_conv(kernel, strides, padding, output_padding, n):
    layer = layers.Conv2DTranspose(3, kernel, strides=strides, padding=padding,
                                   output_padding=output_padding, use_bias=False,
                                   dtype="float64")
    x = RNG.normal(size=(2, *n, 2))
    layer(x)
    assert layer.kernel.shape == (*kernel, 3, 2)
    (w,) = _randomize(layer)
    y = _run(layer, x)
    assert layer.compute_output_shape((None, *n, 2)) == (None, *y.shape[1:])
    # <convT(x), z> == <x, conv(z)>: conv maps the 3-channel output space back to the input
    z = RNG.normal(size=y.shape)
    back = loop_conv(z, w, strides, padding, (1, 1))
    assert back.shape == x.shape
    np.testing.assert_allclose(np.sum(y * z), np.sum(x * back), rtol=1e-10)


@pytest.mark.parametrize("cls, kernel, strides, n", [
    (convolutional.Conv1DTranspose, (3,), (2,), (4,)),
    (convolutional.Conv3DTranspose, (2, 3, 2), (2, 1, 2), (2, 3, 2)),
])
def test_conv1d_and_conv3d_transpose_are_adjoints_of_conv(cls, kernel, strides, n):
    layer = cls(2, kernel, strides=strides, padding="same", use_bias=False, dtype="float64")
    x = RNG.normal(size=(1, *n, 3))
    layer(x)
    (w,) = _randomize(layer)
    y = _run(layer, x)
    assert y.shape == (1, *[a * s for a, s in zip(n, strides, strict=True)], 2)
    z = RNG.normal(size=y.shape)
    back = loop_conv(z, w, strides, "same", (1,) * len(n))
    np.testing.assert_allclose(np.sum(y * z), np.sum(x * back), rtol=1e-10)


def test_conv_transpose_output_lengths_follow_keras():
    f = convolutional.conv_transpose_output_length
    assert f(4, 3, 2, "valid", None) == 9
    assert f(4, 1, 3, "valid", None) == 12  # stride larger than kernel: (n-1)s + max(k, s)
    assert f(4, 3, 2, "same", None) == 8
    assert f(4, 3, 2, "same", 0) == 7
    assert f(4, 4, 2, "same", 1) == 7
    assert f(None, 3, 2, "same", None) is None
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding="same")
    assert layer.compute_output_shape((None, None, 5, 1)) == (None, None, 10, 2)


def test_depthwise_conv_matches_loop():
    layer = layers.DepthwiseConv2D((3, 2), strides=(2, 1), depth_multiplier=2, padding="same",
                                   dtype="float64")
    x = RNG.normal(size=(2, 5, 4, 3))
    layer(x)
    assert [w.shape for w in layer.weights] == [(3, 2, 3, 2), (6,)]
    kernel, bias = _randomize(layer)
    expect = loop_conv(x, kernel, (2, 1), "same", (1, 1), depthwise=True) + bias
    y = _run(layer, x)
    np.testing.assert_allclose(y, expect, rtol=1e-10)
    assert layer.compute_output_shape((None, 5, 4, 3)) == (None, *y.shape[1:])


def test_separable_conv_is_depthwise_then_pointwise():
    layer = layers.SeparableConv2D(4, 3, depth_multiplier=2, padding="same", dtype="float64")
    x = RNG.normal(size=(2, 4, 5, 3))
    layer(x)
    assert [w.shape for w in layer.weights] == [(3, 3, 3, 2), (1, 1, 6, 4), (4,)]
    depthwise, pointwise, bias = _randomize(layer)
    mid = loop_conv(x, depthwise, (1, 1), "same", (1, 1), depthwise=True)
    expect = mid @ pointwise[0, 0] + bias
    np.testing.assert_allclose(_run(layer, x), expect, rtol=1e-10)
    assert layer.compute_output_shape((None, None, 5, 3)) == (None, None, 5, 4)


# --- shapes, configs, errors, dtypes, gradients ------------------------------------------

ALL_CONV = [
    (layers.Conv1D, (2, 8, 3), dict(filters=2, kernel_size=3, padding="causal")),
    (layers.Conv2D, (2, 6, 5, 3), dict(filters=2, kernel_size=3, strides=2, groups=1)),
    (layers.Conv3D, (1, 4, 4, 4, 2), dict(filters=2, kernel_size=2)),
    (layers.Conv2DTranspose, (2, 3, 3, 2), dict(filters=2, kernel_size=3, strides=2,
                                                output_padding=1)),
    (layers.SeparableConv2D, (2, 5, 5, 2), dict(filters=3, kernel_size=3, use_bias=False)),
    (layers.DepthwiseConv2D, (2, 5, 5, 2), dict(kernel_size=2, depth_multiplier=3)),
]


@pytest.mark.parametrize("cls, shape, kwargs", ALL_CONV)
def test_config_round_trip_rebuilds_an_equal_layer(cls, shape, kwargs):
    layer = cls(**kwargs, dtype="float64")
    x = RNG.normal(size=shape)
    y = _run(layer, x)
    config = layer.get_config()
    assert config["data_format"] == "channels_last"
    assert isinstance(config["kernel_size"], tuple) and isinstance(config["strides"], tuple)
    clone = cls.from_config(config)
    assert clone.get_config() == config
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(_run(clone, x), y, rtol=1e-12)


def test_config_keys_and_defaults_are_keras():
    config = layers.Conv2D(8, 3).get_config()
    assert config["kernel_size"] == (3, 3) and config["strides"] == (1, 1)
    assert config["dilation_rate"] == (1, 1) and config["padding"] == "valid"
    assert config["activation"] == "linear" and config["use_bias"] is True
    assert config["kernel_initializer"] == "glorot_uniform"
    assert config["bias_initializer"] == "zeros" and config["groups"] == 1
    transpose = layers.Conv2DTranspose(2, 3, 2, output_padding=1).get_config()
    assert transpose["output_padding"] == (1, 1)
    sep = layers.SeparableConv2D(2, 3).get_config()
    assert sep["depth_multiplier"] == 1 and sep["pointwise_initializer"] == "glorot_uniform"


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(2, 3, data_format="channels_first"),
    lambda: layers.MaxPooling2D(data_format="channels_first"),
    lambda: layers.GlobalAveragePooling1D(data_format="channels_first"),
    lambda: layers.Conv2D(2, 3, padding="causal"),
    lambda: layers.Conv2D(2, 3, padding="full"),
    lambda: layers.Conv2D(3, 3, groups=2),
    lambda: layers.Conv2D(2, 3, strides=2, dilation_rate=2),
    lambda: layers.Conv2DTranspose(2, 3, strides=2, output_padding=2),
])
def test_invalid_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_window_larger_than_input_is_an_error():
    with pytest.raises(ValueError, match="does not fit"):
        layers.Conv2D(2, 5).compute_output_shape((None, 3, 3, 1))
    with pytest.raises(ValueError, match="rank"):
        layers.Conv2D(2, 3).compute_output_shape((None, 8, 1))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("cls, shape, kwargs", ALL_CONV)
def test_weights_and_outputs_in_the_layer_dtype(dtype, cls, shape, kwargs):
    layer = cls(**kwargs, dtype=dtype)
    y = layer(RNG.normal(size=shape).astype("float32"))
    assert K.dtype(y) == dtype
    assert all(K.dtype(w.value) == dtype for w in layer.weights)
    assert np.all(np.isfinite(K.to_numpy(y)))


def _numeric_grad(f, value, eps=1e-6):
    grad = np.zeros_like(value)
    for idx in np.ndindex(value.shape):
        up, down = value.copy(), value.copy()
        up[idx] += eps
        down[idx] -= eps
        grad[idx] = (f(up) - f(down)) / (2 * eps)
    return grad


@pytest.mark.parametrize("layer", [
    layers.Conv2D(2, 2, strides=2, padding="same", activation="tanh", dtype="float64"),
    layers.Conv2DTranspose(2, 3, strides=2, padding="same", activation="tanh", dtype="float64"),
])
def test_gradients_match_central_differences(layer):
    x = RNG.normal(size=(1, 3, 3, 2))
    layer(x)
    weights = _randomize(layer)

    def loss(values):
        with StatelessScope(dict(zip(layer.weights, values[1:], strict=True))):
            return K.sum(K.square(layer(values[0])))

    value, grads = K.value_and_grad(loss, [x, *weights])
    for i, start in enumerate([x, *weights]):
        def f(v, i=i):
            vals = [x, *weights]
            vals[i] = v
            return float(K.to_numpy(loss(vals)))
        np.testing.assert_allclose(grads[i], _numeric_grad(f, start), rtol=1e-5, atol=1e-7)
    assert np.isfinite(value)


# --- pooling -------------------------------------------------------------------------------

POOL_CASES = [
    (layers.MaxPooling1D, (2, 7, 3), dict(pool_size=3, strides=2), np.max),
    (layers.MaxPooling1D, (2, 7, 3), dict(pool_size=2, padding="same"), np.max),
    (layers.AveragePooling1D, (2, 7, 3), dict(pool_size=3, strides=2, padding="same"), np.mean),
    (layers.MaxPooling2D, (2, 5, 6, 2), dict(pool_size=(2, 3)), np.max),
    (layers.AveragePooling2D, (2, 5, 6, 2), dict(pool_size=3, strides=2, padding="same"),
     np.mean),
    (layers.MaxPooling3D, (1, 4, 5, 3, 2), dict(pool_size=2, padding="same"), np.max),
    (layers.AveragePooling3D, (1, 4, 5, 4, 2), dict(pool_size=(2, 2, 3), strides=(1, 2, 1)),
     np.mean),
]


@pytest.mark.parametrize("cls, shape, kwargs, reduce", POOL_CASES)
def test_pooling_matches_loop(cls, shape, kwargs, reduce):
    layer = cls(**kwargs, dtype="float64")
    x = RNG.normal(size=shape)
    y = _run(layer, x)
    np.testing.assert_allclose(y, loop_pool(x, layer.pool_size, layer.strides, layer.padding,
                                            reduce), rtol=1e-12)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    assert cls.from_config(layer.get_config()).get_config() == layer.get_config()


def test_average_pooling_same_excludes_padding_by_hand():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0]).reshape(1, 5, 1)
    y = _run(layers.AveragePooling1D(2, padding="same", dtype="float64"), x)
    # windows [1,2], [3,4], [5] (the padded cell is not counted)
    np.testing.assert_allclose(y[0, :, 0], [1.5, 3.5, 5.0])


def test_pool_strides_default_to_pool_size():
    layer = layers.MaxPooling2D((2, 3))
    assert layer.strides == (2, 3) and layer.get_config()["strides"] == (2, 3)
    assert layers.MaxPooling2D().pool_size == (2, 2)
    assert layer.compute_output_shape((None, 7, None, 4)) == (None, 3, None, 4)


@pytest.mark.parametrize("cls, shape, reduce", [
    (layers.GlobalMaxPooling1D, (2, 5, 3), np.max),
    (layers.GlobalAveragePooling1D, (2, 5, 3), np.mean),
    (layers.GlobalMaxPooling2D, (2, 4, 3, 2), np.max),
    (layers.GlobalAveragePooling2D, (2, 4, 3, 2), np.mean),
])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling(cls, shape, reduce, keepdims):
    layer = cls(keepdims=keepdims, dtype="float64")
    x = RNG.normal(size=shape)
    y = _run(layer, x)
    axes = tuple(range(1, len(shape) - 1))
    np.testing.assert_allclose(y, reduce(x, axis=axes, keepdims=keepdims), rtol=1e-12)
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *y.shape[1:])
    config = layer.get_config()
    assert config["keepdims"] is keepdims and cls.from_config(config).keepdims is keepdims


def test_global_average_pooling_1d_averages_unmasked_steps_only():
    x = np.array([[[1.0], [2.0], [np.nan], [6.0]],
                  [[4.0], [8.0], [1.0], [3.0]]])
    mask = np.array([[True, True, False, True], [False, True, False, False]])
    layer = layers.GlobalAveragePooling1D(dtype="float64")
    y = K.to_numpy(layer(x, mask=mask))
    # a masked NaN does not leak into the mean
    np.testing.assert_allclose(y, [[3.0], [8.0]])
    kept = K.to_numpy(layers.GlobalAveragePooling1D(keepdims=True)(x, mask=mask))
    assert kept.shape == (2, 1, 1)
    assert layer.supports_masking and layer.compute_mask(x, mask) is None
