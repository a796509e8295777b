"""The oracle's non-recurrent layer formulas against hand-computed values on tiny inputs.

A few expectations were produced with real Keras 3.15 (JAX backend, float64) in a throwaway
environment; those are marked. Everything else is worked out by hand in the comments.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import harness.conformance.oracle as oracle

# import the modules directly: the registry's lazy loader also wants modules owned elsewhere
from harness.conformance.oracle import (  # noqa: F401
    activations,
    conv,
    core,
    merging,
    normalization,
    pooling,
    reshaping,
)
from harness.errors import UsageError


def fwd(layer, config, inputs, weights=(), **kw):
    return oracle.forward(
        layer, config, [np.asarray(w, dtype=float) for w in weights], inputs, **kw
    )


def col(*values):
    """A (1, n, 1) sequence: one sample, one channel."""
    return np.array(values, dtype=float).reshape(1, -1, 1)


# ---------------------------------------------------------------- registry

EXPECTED_LAYERS = {
    "Activation",
    "Dense",
    "Dropout",
    "Embedding",
    "Masking",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv2DTranspose",
    "SeparableConv2D",
    "DepthwiseConv2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "Flatten",
    "Reshape",
    "Permute",
    "RepeatVector",
    "ZeroPadding2D",
    "Cropping2D",
    "UpSampling2D",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
    "Concatenate",
    "Dot",
    "BatchNormalization",
    "LayerNormalization",
}


def test_every_required_layer_is_registered():
    assert EXPECTED_LAYERS <= set(oracle.layers())


def test_unknown_layer_is_a_key_error():
    with pytest.raises(KeyError, match="NoSuchLayer"):
        oracle.forward("NoSuchLayer", {}, [], np.zeros(1))


# ---------------------------------------------------------------- activations


def test_activation_values():
    x = np.array([-2.0, 0.0, 1.0])
    act = activations.activation
    assert np.allclose(act("relu", x), [0, 0, 1])
    assert np.allclose(act(None, x), x)
    assert np.allclose(act("linear", x), x)
    assert np.allclose(act("sigmoid", x), [1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-1)])
    # hard_sigmoid = clip(x/6 + 1/2, 0, 1)
    assert np.allclose(act("hard_sigmoid", np.array([-4.0, -1.5, 0.0, 3.0])), [0, 0.25, 0.5, 1])
    assert np.allclose(act("elu", x), [math.exp(-2) - 1, 0, 1])
    selu_neg = 1.0507009873554805 * 1.6732632423543772 * (math.exp(-2) - 1)
    assert np.allclose(act("selu", x), [selu_neg, 0, 1.0507009873554805])
    assert np.allclose(
        act("softplus", x), [math.log1p(math.exp(-2)), math.log(2), math.log1p(math.e)]
    )
    assert np.allclose(act("softsign", x), [-2 / 3, 0, 0.5])
    # gelu (exact): x * Phi(x); Phi(1) = 0.8413447460685429
    assert np.allclose(act("gelu", x), [-2 * 0.022750131948179195, 0, 0.8413447460685429])
    sig1 = 1 / (1 + math.exp(-1))
    assert np.allclose(act("swish", x), act("silu", x))
    assert np.isclose(act("silu", x)[2], sig1)
    assert np.allclose(act("tanh", x), np.tanh(x))


def test_softmax_is_along_the_last_axis():
    x = np.array([[0.0, math.log(2.0)], [5.0, 5.0]])
    assert np.allclose(activations.activation("softmax", x), [[1 / 3, 2 / 3], [0.5, 0.5]])


def test_sigmoid_and_softplus_stay_finite_on_huge_inputs():
    x = np.array([-1000.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(activations.activation("sigmoid", x), [0.0, 1.0])
        assert np.array_equal(activations.activation("softplus", x), [0.0, 1000.0])


def test_unknown_activation_is_a_usage_error():
    with pytest.raises(UsageError):
        activations.activation("no_such_fn", np.zeros(2))


def test_activation_layer_and_serialized_name():
    out = fwd(
        "Activation",
        {"activation": {"class_name": "function", "config": "relu"}},
        np.array([[-1.0, 2.0]]),
    )
    assert np.array_equal(out, [[0.0, 2.0]])


def test_relu_layer_threshold_cap_and_slope():
    # above threshold 1 pass (capped at 2.5); below, 0.1 * (x - 1)
    out = fwd(
        "ReLU",
        {"max_value": 2.5, "negative_slope": 0.1, "threshold": 1.0},
        np.array([-1.0, 0.5, 2.0, 4.0]),
    )
    assert np.allclose(out, [-0.2, -0.05, 2.0, 2.5])


def test_softmax_layer_mask_zeroes_masked_positions():
    out = fwd("Softmax", {}, np.array([[1.0, 7.0, 1.0]]), mask=np.array([[True, False, True]]))
    assert np.allclose(out, [[0.5, 0.0, 0.5]])


# ---------------------------------------------------------------- core


def test_dense_by_hand():
    kernel = [[1.0, 2.0], [3.0, 4.0]]
    out = fwd(
        "Dense", {"units": 2, "activation": "relu"}, np.array([[1.0, -1.0]]), [kernel, [0.5, 5.0]]
    )
    # [1, -1] @ K = [-2, -2]; + bias = [-1.5, 3]; relu
    assert np.allclose(out, [[0.0, 3.0]])


def test_dense_acts_on_the_last_axis_of_any_rank():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4))
    k, b = rng.normal(size=(4, 5)), rng.normal(size=5)
    out = fwd("Dense", {"units": 5}, x, [k, b])
    assert out.shape == (2, 3, 5)
    for i in range(2):
        for t in range(3):
            assert np.allclose(out[i, t], x[i, t] @ k + b)
    no_bias = fwd("Dense", {"units": 5, "use_bias": False}, x, [k])
    assert np.allclose(no_bias, out - b)


def test_dropout_is_identity_at_inference_and_refuses_training():
    x = np.arange(6.0).reshape(2, 3)
    assert np.array_equal(fwd("Dropout", {"rate": 0.5}, x), x)
    with pytest.raises(ValueError):
        fwd("Dropout", {"rate": 0.5}, x, training=True)


def test_embedding_lookup_and_mask():
    table = np.arange(12.0).reshape(4, 3)
    ids = np.array([[0, 3], [2, 2]])
    out = fwd("Embedding", {"input_dim": 4, "output_dim": 3}, ids, [table])
    assert np.array_equal(out, [[[0, 1, 2], [9, 10, 11]], [[6, 7, 8], [6, 7, 8]]])
    assert core.compute_mask("Embedding", {"mask_zero": False}, ids) is None
    assert np.array_equal(
        core.compute_mask("Embedding", {"mask_zero": True}, ids), [[False, True], [True, True]]
    )
    with pytest.raises(UsageError):
        fwd("Embedding", {}, np.array([[4]]), [table])


def test_masking_zeroes_steps_that_all_equal_mask_value():
    x = np.array([[[1.0, 1.0], [1.0, 2.0], [0.0, 1.0]]])
    out = fwd("Masking", {"mask_value": 1.0}, x)
    assert np.array_equal(out, [[[0, 0], [1, 2], [0, 1]]])
    assert np.array_equal(
        core.compute_mask("Masking", {"mask_value": 1.0}, x), [[False, True, True]]
    )


def test_compute_mask_pass_through_merge_and_consumers():
    m = np.array([[True, False, True]])
    m2 = np.array([[False, False, True]])
    x = np.ones((1, 3, 2))
    assert core.compute_mask("Dense", {}, x, m) is m
    assert core.compute_mask("Conv1D", {}, x, m) is None
    assert core.compute_mask("GlobalAveragePooling1D", {}, x, m) is None
    assert core.compute_mask("Dot", {}, [x, x], [m, m]) is None
    # merges OR the masks; one unmasked input drops the mask
    assert np.array_equal(core.compute_mask("Add", {}, [x, x], [m, m2]), [[True, False, True]])
    assert core.compute_mask("Add", {}, [x, x], [m, None]) is None
    # concatenating along time joins the masks; along features an unmasked input fills True
    assert np.array_equal(
        core.compute_mask("Concatenate", {"axis": 1}, [x, x], [m, m2]),
        [[True, False, True, False, False, True]],
    )
    assert np.array_equal(
        core.compute_mask("Concatenate", {"axis": -1}, [x, x], [m2, None]), [[True, True, True]]
    )


# ---------------------------------------------------------------- convolution

DIFF = np.array([1.0, 0.0, -1.0]).reshape(3, 1, 1)  # y[t] = x[t] - x[t + 2d]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, [-2, -2]),
        # SAME: total pad 2 -> [0,1,2,3,4,0]
        ({"padding": "same"}, [-2, -2, -2, 3]),
        ({"strides": 2}, [-2]),
        # stride 2 SAME: total pad (2-1)*2+3-4 = 1, all after -> [1,2,3,4,0]
        ({"strides": 2, "padding": "same"}, [-2, 3]),
        # dilation 2 SAME: effective kernel 5, pad 2 each side -> [0,0,1,2,3,4,0,0]
        ({"dilation_rate": 2, "padding": "same"}, [-3, -4, 1, 2]),
        # causal: 2 zeros before -> [0,0,1,2,3,4]
        ({"padding": "causal"}, [-1, -2, -2, -2]),
    ],
)
def test_conv1d_by_hand(extra, expected):
    config = {"filters": 1, "kernel_size": 3, "use_bias": False, **extra}
    out = fwd("Conv1D", config, col(1, 2, 3, 4), [DIFF])
    assert np.array_equal(out.ravel(), expected)


def test_conv1d_dilated_valid_and_too_short():
    config = {"filters": 1, "kernel_size": 3, "use_bias": False, "dilation_rate": 2}
    assert np.array_equal(fwd("Conv1D", config, col(1, 2, 3, 4, 5, 6), [DIFF]).ravel(), [-4, -4])
    assert fwd("Conv1D", config, col(1, 2, 3, 4), [DIFF]).shape == (1, 0, 1)


def test_conv2d_window_sums_channels_bias_and_activation():
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    # filter 0 sums the 2x2 window, filter 1 negates its top-left cell
    k = np.zeros((2, 2, 1, 2))
    k[..., 0, 0] = 1.0
    k[0, 0, 0, 1] = -1.0
    out = fwd("Conv2D", {"filters": 2, "kernel_size": 2, "activation": "relu"}, x, [k, [0.0, 4.5]])
    assert np.array_equal(out[0, :, :, 0], [[12, 16], [24, 28]])
    # 4.5 - top-left, relu: [[3.5, 2.5], [0.5, 0]]
    assert np.array_equal(out[0, :, :, 1], [[3.5, 2.5], [0.5, 0.0]])


def test_conv2d_same_strided_shape_and_corner():
    x = np.ones((1, 5, 5, 1))
    out = fwd(
        "Conv2D",
        {"filters": 1, "kernel_size": 3, "strides": 2, "padding": "same", "use_bias": False},
        x,
        [np.ones((3, 3, 1, 1))],
    )
    # ceil(5/2) = 3; total pad 2 -> 1 each side: a corner window sees 2x2 ones, an edge 2x3
    assert np.array_equal(out[0, :, :, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


def test_conv2d_groups_equal_separate_convolutions():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 4, 5, 4))
    k = rng.normal(size=(3, 2, 2, 6))  # 2 groups: 2 input channels -> 3 filters each
    cfg = {"filters": 6, "kernel_size": (3, 2), "use_bias": False, "padding": "same"}
    grouped = fwd("Conv2D", {**cfg, "groups": 2}, x, [k])
    first = fwd("Conv2D", {**cfg, "filters": 3}, x[..., :2], [k[..., :3]])
    second = fwd("Conv2D", {**cfg, "filters": 3}, x[..., 2:], [k[..., 3:]])
    assert np.allclose(grouped, np.concatenate([first, second], axis=-1))


def test_conv3d_single_window_and_channels_first():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 2, 2, 2, 3))
    k = rng.normal(size=(2, 2, 2, 3, 1))
    out = fwd("Conv3D", {"filters": 1, "kernel_size": 2, "use_bias": False}, x, [k])
    assert out.shape == (1, 1, 1, 1, 1)
    assert np.isclose(out.item(), np.sum(x[0] * k[..., 0]))
    cf = fwd(
        "Conv3D",
        {"filters": 1, "kernel_size": 2, "use_bias": False, "data_format": "channels_first"},
        np.moveaxis(x, -1, 1),
        [k],
    )
    assert np.isclose(cf.item(), out.item())


@pytest.mark.parametrize(
    ("n", "k", "s", "padding", "op", "expected"),
    [
        # Keras deconv_output_length; pad_before = keff - 1 - min(ceil(total/2), keff - 1)
        (2, 3, 2, "valid", None, (5, 0)),  # (n-1)*s + k
        (3, 2, 3, "valid", None, (9, 0)),  # k < s: (n-1)*s + max(k, s)
        (2, 3, 2, "valid", 1, (6, 0)),
        (2, 3, 2, "same", None, (4, 0)),  # n*s; total 3 -> keep 2 = k-1 on the left
        (4, 3, 1, "same", None, (4, 1)),  # total 2 -> keep 1
        (3, 4, 2, "same", None, (6, 1)),  # total 4 -> keep 2
        (3, 3, 3, "same", 2, (9, 0)),  # (n-1)*s + k%2 + op; total 4 -> keep 2
    ],
)
def test_transpose_geometry(n, k, s, padding, op, expected):
    assert conv.transpose_geometry(n, k, s, padding, op) == expected


def test_conv2d_transpose_keras_example_shape():
    x = np.zeros((4, 10, 8, 3))
    out = fwd(
        "Conv2DTranspose",
        {"filters": 5, "kernel_size": 2, "strides": 2},
        x,
        [np.zeros((2, 2, 5, 3)), np.zeros(5)],
    )
    assert out.shape == (4, 20, 16, 5)


# Keras 3.15 Conv2DTranspose(1, 3, strides=2, use_bias=False), kernel 1..9, input [[1,2],[3,4]]
# (each also follows by hand: input (i, j) adds value * kernel at (2i + a, 2j + b))
KERAS_TRANSPOSE_VALID = [
    [1, 2, 5, 4, 6],
    [4, 5, 14, 10, 12],
    [10, 14, 36, 24, 30],
    [12, 15, 34, 20, 24],
    [21, 24, 55, 32, 36],
]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_transpose_values_on_2x2(padding):
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    k = np.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    out = fwd(
        "Conv2DTranspose",
        {"filters": 1, "kernel_size": 3, "strides": 2, "padding": padding, "use_bias": False},
        x,
        [k],
    )[0, :, :, 0]
    expected = np.array(KERAS_TRANSPOSE_VALID)
    # SAME keeps the first n*s = 4 rows/columns (pad_before 0)
    assert np.array_equal(out, expected if padding == "valid" else expected[:4, :4])


def test_conv2d_transpose_channels_and_bias():
    x = np.array([2.0, 3.0]).reshape(1, 1, 1, 2)
    k = np.zeros((1, 1, 3, 2))  # (kh, kw, filters, in)
    k[0, 0] = [[1, 0], [0, 1], [1, 1]]
    out = fwd("Conv2DTranspose", {"filters": 3, "kernel_size": 1}, x, [k, [0.0, 0.0, 10.0]])
    assert np.array_equal(out.ravel(), [2, 3, 15])


def test_depthwise_channel_order_is_c_times_mult_plus_m():
    x = np.array([2.0, 3.0]).reshape(1, 1, 1, 2)
    k = np.array([[10.0, 20.0], [30.0, 40.0]]).reshape(1, 1, 2, 2)  # (kh, kw, in, mult)
    out = fwd(
        "DepthwiseConv2D", {"kernel_size": 1, "depth_multiplier": 2}, x, [k, [0.0, 0.0, 0.0, 1.0]]
    )
    assert np.array_equal(out.ravel(), [20, 40, 90, 121])


def test_depthwise_sums_each_channel_alone():
    x = np.stack([np.arange(9.0).reshape(3, 3), np.ones((3, 3))], axis=-1)[None]
    out = fwd("DepthwiseConv2D", {"kernel_size": 3, "use_bias": False}, x, [np.ones((3, 3, 2, 1))])
    assert np.array_equal(out.ravel(), [36, 9])


def test_separable_is_depthwise_then_pointwise():
    x = np.array([2.0, 3.0]).reshape(1, 1, 1, 2)
    dw = np.array([10.0, 100.0]).reshape(1, 1, 2, 1)
    pw = np.array([[1.0], [-1.0]]).reshape(1, 1, 2, 1)
    out = fwd("SeparableConv2D", {"filters": 1, "kernel_size": 1}, x, [dw, pw, [7.0]])
    assert np.array_equal(out.ravel(), [2 * 10 - 3 * 100 + 7])


# ---------------------------------------------------------------- pooling

GRID = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # [[1,2,3],[4,5,6],[7,8,9]]


def test_pool_2x2_stride_2_same_at_the_edges():
    cfg = {"pool_size": 2, "padding": "same"}
    # ceil(3/2) = 2 per axis; total pad 1, all after: windows {1,2,4,5} {3,6} {7,8} {9}
    assert np.array_equal(fwd("MaxPooling2D", cfg, GRID)[0, :, :, 0], [[5, 6], [8, 9]])
    assert np.array_equal(fwd("AveragePooling2D", cfg, GRID)[0, :, :, 0], [[3, 4.5], [7.5, 9]])


def test_pool_3x3_stride_1_same_divides_by_real_cells():
    cfg = {"pool_size": 3, "strides": 1, "padding": "same"}
    avg = fwd("AveragePooling2D", cfg, GRID)[0, :, :, 0]
    # corner (0,0) sees {1,2,4,5}; edge (0,1) sees {1..6}; the centre sees all nine
    assert np.allclose(avg, [[3, 3.5, 4], [4.5, 5, 5.5], [6, 6.5, 7]])
    mx = fwd("MaxPooling2D", cfg, -GRID)[0, :, :, 0]
    # negated grid: padding must not win the max with a 0
    assert np.array_equal(mx, [[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]])


def test_pool1d_valid_strides_default_to_pool_size():
    x = col(1, 5, 2, 8, 3)
    assert np.array_equal(fwd("MaxPooling1D", {"pool_size": 2}, x).ravel(), [5, 8])
    assert np.array_equal(
        fwd("AveragePooling1D", {"pool_size": 2, "strides": 1}, x).ravel(), [3, 3.5, 5, 5.5]
    )


def test_pool3d_shape_and_value():
    x = np.arange(8.0).reshape(1, 2, 2, 2, 1)
    assert fwd("MaxPooling3D", {"pool_size": 2}, x).ravel().tolist() == [7.0]
    assert fwd("AveragePooling3D", {"pool_size": 2}, x).ravel().tolist() == [3.5]
    assert fwd("MaxPooling3D", {"pool_size": 2, "strides": 1, "padding": "same"}, x).shape == (
        1,
        2,
        2,
        2,
        1,
    )


def test_global_pooling_keepdims_and_masked_mean():
    x = np.array([[[1.0, 10.0], [3.0, 30.0], [8.0, 80.0]]])  # (1, 3, 2)
    assert np.array_equal(fwd("GlobalMaxPooling1D", {}, x), [[8, 80]])
    assert np.array_equal(fwd("GlobalAveragePooling1D", {}, x), [[4, 40]])
    assert fwd("GlobalAveragePooling1D", {"keepdims": True}, x).shape == (1, 1, 2)
    masked = fwd("GlobalAveragePooling1D", {}, x, mask=np.array([[True, True, False]]))
    assert np.array_equal(masked, [[2, 20]])
    assert np.array_equal(fwd("GlobalMaxPooling2D", {}, GRID), [[9]])
    assert np.array_equal(fwd("GlobalAveragePooling2D", {"keepdims": True}, GRID), [[[[5]]]])
    cf = fwd("GlobalAveragePooling2D", {"data_format": "channels_first"}, np.moveaxis(GRID, -1, 1))
    assert np.array_equal(cf, [[5]])


# ---------------------------------------------------------------- reshaping


def test_flatten_order_and_channels_first():
    x = np.arange(12.0).reshape(1, 2, 3, 2)
    assert np.array_equal(fwd("Flatten", {}, x), np.arange(12.0)[None])
    # channels_first input (1, 2, 3, 2) = (batch, c, h, w) is flattened as (h, w, c)
    cf = fwd("Flatten", {"data_format": "channels_first"}, x)
    assert np.array_equal(cf[0, :4], [0, 6, 1, 7])


def test_reshape_with_minus_one_and_bad_target():
    x = np.arange(24.0).reshape(2, 3, 4)
    out = fwd("Reshape", {"target_shape": (2, -1)}, x)
    assert out.shape == (2, 2, 6)
    assert np.array_equal(out[1, 1], np.arange(18.0, 24.0))
    with pytest.raises(UsageError):
        fwd("Reshape", {"target_shape": (5, -1)}, x)


def test_permute_is_one_based_over_non_batch_axes():
    x = np.arange(6.0).reshape(1, 2, 3)
    out = fwd("Permute", {"dims": (2, 1)}, x)
    assert out.shape == (1, 3, 2)
    assert np.array_equal(out[0], [[0, 3], [1, 4], [2, 5]])
    with pytest.raises(UsageError):
        fwd("Permute", {"dims": (0, 1)}, x)


def test_repeat_vector():
    out = fwd("RepeatVector", {"n": 3}, np.array([[1.0, 2.0]]))
    assert np.array_equal(out, [[[1, 2], [1, 2], [1, 2]]])


@pytest.mark.parametrize(
    ("padding", "shape", "origin"),
    [
        (1, (1, 4, 4, 1), (1, 1)),
        ((1, 2), (1, 4, 6, 1), (1, 2)),
        (((0, 2), (3, 1)), (1, 4, 6, 1), (0, 3)),
    ],
)
def test_zero_padding2d_forms(padding, shape, origin):
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    out = fwd("ZeroPadding2D", {"padding": padding}, x)
    assert out.shape == shape
    r, c = origin
    assert np.array_equal(out[0, r : r + 2, c : c + 2, 0], [[1, 2], [3, 4]])
    assert out.sum() == 10


@pytest.mark.parametrize(
    ("cropping", "expected"),
    [
        (1, [[6, 7, 8]]),
        ((0, 1), [[1, 2, 3], [6, 7, 8], [11, 12, 13]]),
        (((1, 0), (2, 1)), [[7, 8], [12, 13]]),
    ],
)
def test_cropping2d_forms(cropping, expected):
    x = np.arange(15.0).reshape(1, 3, 5, 1)
    out = fwd("Cropping2D", {"cropping": cropping}, x)[0, :, :, 0]
    assert np.array_equal(out, expected)


def test_cropping_everything_is_a_usage_error():
    with pytest.raises(UsageError):
        fwd("Cropping2D", {"cropping": ((2, 1), (0, 0))}, np.zeros((1, 3, 3, 1)))


def test_upsampling2d_nearest():
    x = np.array([[1.0, 2.0]]).reshape(1, 1, 2, 1)
    out = fwd("UpSampling2D", {"size": (2, 3)}, x)[0, :, :, 0]
    assert np.array_equal(out, [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2]])


def test_upsampling2d_bilinear_half_pixel():
    x = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    out = fwd("UpSampling2D", {"size": 2, "interpolation": "bilinear"}, x)[0, :, :, 0]
    # output o samples u = (o + 0.5)/2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]
    # (identical to Keras 3.15 on the JAX backend)
    assert np.allclose(
        out,
        [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]],
    )
    # Keras 3.15 (JAX): UpSampling2D((1, 3), interpolation="bilinear") on [1, 4, 2]
    row = fwd(
        "UpSampling2D",
        {"size": (1, 3), "interpolation": "bilinear"},
        np.array([1.0, 4.0, 2.0]).reshape(1, 1, 3, 1),
    ).ravel()
    assert np.allclose(row, [1, 1, 2, 3, 4, 10 / 3, 8 / 3, 2, 2])


# ---------------------------------------------------------------- merging

A = np.array([[1.0, -2.0, 3.0]])
B = np.array([[4.0, 5.0, -6.0]])


@pytest.mark.parametrize(
    ("layer", "expected"),
    [
        ("Add", [[5, 3, -3]]),
        ("Subtract", [[-3, -7, 9]]),
        ("Multiply", [[4, -10, -18]]),
        ("Average", [[2.5, 1.5, -1.5]]),
        ("Maximum", [[4, 5, 3]]),
        ("Minimum", [[1, -2, -6]]),
    ],
)
def test_elementwise_merges(layer, expected):
    assert np.array_equal(fwd(layer, {}, [A, B]), expected)


def test_merges_with_three_inputs_and_subtract_needs_two():
    c = np.array([[1.0, 1.0, 1.0]])
    assert np.array_equal(fwd("Add", {}, [A, B, c]), [[6, 4, -2]])
    assert np.allclose(fwd("Average", {}, [A, B, c]), [[2, 4 / 3, -2 / 3]])
    with pytest.raises(UsageError):
        fwd("Subtract", {}, [A, B, c])


def test_concatenate_axis():
    x = np.zeros((2, 3, 4))
    y = np.ones((2, 1, 4))
    out = fwd("Concatenate", {"axis": 1}, [x, y])
    assert out.shape == (2, 4, 4) and out[:, 3].sum() == 8 and out[:, :3].sum() == 0
    assert fwd("Concatenate", {}, [x, np.ones((2, 3, 2))]).shape == (2, 3, 6)


def test_dot_2d_gives_batch_by_one_and_normalize_gives_cosine():
    x = np.array([[1.0, 2.0], [3.0, 0.0]])
    y = np.array([[3.0, 4.0], [0.0, 5.0]])
    assert np.array_equal(fwd("Dot", {"axes": 1}, [x, y]), [[11], [0]])
    cos = fwd("Dot", {"axes": 1, "normalize": True}, [x, y])
    assert np.allclose(cos, [[11 / (math.sqrt(5) * 5)], [0]])
    # a zero vector is divided by the 1e-7 floor, not by zero
    zero = fwd("Dot", {"axes": 1, "normalize": True}, [np.zeros((1, 2)), y[:1]])
    assert np.array_equal(zero, [[0]])


def test_dot_axes_pair_against_einsum():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 3))
    out = fwd("Dot", {"axes": (1, 2)}, [x, y])
    assert out.shape == (2, 4, 5)
    assert np.allclose(out, np.einsum("bia,bji->baj", x, y))
    v = rng.normal(size=(2, 4))
    assert np.allclose(fwd("Dot", {"axes": (2, 1)}, [x, v]), np.einsum("bti,bi->bt", x, v))


# ---------------------------------------------------------------- normalization

COLUMN = np.array([[1.0], [2.0], [3.0], [4.0]])  # mean 2.5, biased variance 1.25


def test_batchnorm_training_uses_batch_mean_and_biased_variance():
    weights = [[2.0], [0.5], [100.0], [100.0]]  # gamma, beta, moving mean, moving var
    out = fwd("BatchNormalization", {}, COLUMN, weights, training=True)
    expected = 2.0 * (COLUMN - 2.5) / math.sqrt(1.25 + 1e-3) + 0.5
    assert np.allclose(out, expected)


def test_batchnorm_inference_uses_moving_stats_and_optional_weights():
    out = fwd("BatchNormalization", {"epsilon": 0.0}, COLUMN, [[2.0], [0.5], [1.0], [4.0]])
    assert np.allclose(out, 2.0 * (COLUMN - 1.0) / 2.0 + 0.5)
    # no gamma, no beta: weights are just the moving statistics
    bare = fwd(
        "BatchNormalization",
        {"epsilon": 0.0, "scale": False, "center": False},
        COLUMN,
        [[1.0], [4.0]],
    )
    assert np.allclose(bare, (COLUMN - 1.0) / 2.0)
    with pytest.raises(UsageError):
        fwd("BatchNormalization", {}, COLUMN, [[1.0], [4.0]])


def test_batchnorm_axis_1_reduces_batch_and_time():
    x = np.array([[[1.0, 3.0], [10.0, 10.0]], [[5.0, 7.0], [20.0, 40.0]]])  # (2, 2, 2)
    cfg = {"axis": 1, "epsilon": 0.0, "scale": False, "center": False}
    out = fwd("BatchNormalization", cfg, x, [[0.0, 0.0], [1.0, 1.0]], training=True)
    # feature 0 sees {1,3,5,7}: mean 4, var 5; feature 1 sees {10,10,20,40}: mean 20, var 150
    assert np.allclose(out[:, 0], (x[:, 0] - 4) / math.sqrt(5))
    assert np.allclose(out[:, 1], (x[:, 1] - 20) / math.sqrt(150))


def test_batchnorm_moving_stats_after_one_step():
    cfg = {"momentum": 0.9, "scale": False, "center": False}
    mean, var = normalization.batchnorm_moving_stats(cfg, [[0.0], [1.0]], COLUMN)
    assert np.allclose(mean, [0.9 * 0 + 0.1 * 2.5])
    assert np.allclose(var, [0.9 * 1 + 0.1 * 1.25])


def test_batchnorm_masked_moments_count_only_kept_steps():
    x = np.array([[[1.0], [3.0], [100.0]]])  # (1, 3, 1); the last step is masked
    mask = np.array([[True, True, False]])
    mean, var = normalization.batch_moments(x, 2, mask)
    assert np.allclose(mean, [4 / (2 + 1e-7)])
    assert np.allclose(var, [((1 - mean[0]) ** 2 + (3 - mean[0]) ** 2) / (2 + 1e-7)])


def test_layernorm_per_sample_over_last_axis():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, 5.0]])
    out = fwd("LayerNormalization", {}, x, [[1.0, 2.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    norm = (x[0] - 2.5) / math.sqrt(1.25 + 1e-3)
    assert np.allclose(out[0], norm * [1, 2, 1, 1] + [0, 0, 0, 1])
    # a constant row normalises to 0, leaving beta
    assert np.allclose(out[1], [0, 0, 0, 1])


def test_layernorm_several_axes_and_rms_scaling():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4))
    gamma, beta = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    out = fwd("LayerNormalization", {"axis": [1, 2], "epsilon": 0.0}, x, [gamma, beta])
    for i in range(2):
        assert np.allclose(out[i], (x[i] - x[i].mean()) / x[i].std() * gamma + beta)
    g = rng.normal(size=4)
    rms = fwd("LayerNormalization", {"rms_scaling": True, "epsilon": 0.0}, x, [g])
    assert np.allclose(rms, x / x.std(axis=-1, keepdims=True) * g)
