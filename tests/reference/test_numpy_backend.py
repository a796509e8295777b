"""The NumPy backend of the reference library against hand-computed values, plain NumPy,
central finite differences and Keras's size formulas."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest

import harness.reference.backend.numpy as B
from harness.reference import backend
from harness.reference.backend.common import conv_utils
from harness.reference.backend.common.dtypes import standardize_dtype
from harness.reference.backend.ops import OPS, check_backend

RNG = np.random.default_rng(1234)


def rand(*shape, dtype=np.float64, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(dtype)


# --- interface and import hygiene -----------------------------------------------------


def test_backend_implements_every_op():
    assert check_backend(B) == []
    assert check_backend(backend.load("numpy")) == []
    assert sorted(B.__all__) == sorted([*OPS, "EXECUTION"])
    assert B.EXECUTION == "eager"


def test_import_loads_no_other_framework():
    code = (
        "import sys, harness.reference.backend.numpy as b; b.conv; "
        "print(sorted(m for m in ('tensorflow', 'torch', 'jax', 'theano', 'pytensor') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- core -----------------------------------------------------------------------------


def test_convert_to_tensor_default_and_kept_dtypes():
    assert B.convert_to_tensor(1.5).dtype == np.float32
    assert B.convert_to_tensor([[1.0, 2.0]]).dtype == np.float32
    assert B.convert_to_tensor([1, 2]).dtype == np.int32
    assert B.convert_to_tensor(True).dtype == np.bool_
    for dt in (np.float16, np.float64, np.int64, np.int32, np.bool_):
        assert B.convert_to_tensor(np.zeros(2, dt)).dtype == dt
    assert B.convert_to_tensor(np.zeros(2), "float16").dtype == np.float16
    assert B.convert_to_tensor(3, dtype="float64").dtype == np.float64
    assert isinstance(B.convert_to_tensor(np.float64(2.0)), np.ndarray)
    with pytest.raises(TypeError, match="numpy has no bfloat16"):
        B.convert_to_tensor([1.0], "bfloat16")
    with pytest.raises(TypeError, match="numpy has no bfloat16"):
        B.zeros((2,), "bfloat16")
    with pytest.raises(ValueError):
        B.cast(np.ones(2), "complex128")


def test_core_helpers():
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert B.shape(x) == (2, 3) and all(type(d) is int for d in B.shape(x))
    assert B.dtype(x) == "int64" and B.dtype(np.ones(1, np.float16)) == "float16"
    assert B.cast(x, "float16").dtype == np.float16
    assert B.zeros((2, 1)).dtype == np.float32 and B.ones((3,), "int32").sum() == 3
    fn = lambda a: a  # noqa: E731
    assert B.compile(fn) is fn
    assert B.device_names() == ["cpu:0"]
    assert standardize_dtype(np.float16) == "float16" and standardize_dtype("double") == "float64"
    assert standardize_dtype(np.dtype("int64")) == "int64"
    with pytest.raises(ValueError):
        standardize_dtype("uint8")


def test_to_numpy_and_shape_inside_a_trace():
    seen = {}

    def loss(values):
        (w,) = values
        seen["value"] = B.to_numpy(w)
        seen["shape"], seen["dtype"] = B.shape(w), B.dtype(w)
        return B.sum(B.square(w))

    w = np.array([1.0, -2.0])
    value, (grad,) = B.value_and_grad(loss, [w])
    assert type(seen["value"]) is np.ndarray and np.array_equal(seen["value"], w)
    assert seen["shape"] == (2,) and seen["dtype"] == "float64"
    assert value == 5.0 and np.array_equal(grad, [2.0, -4.0])


def test_value_and_grad_with_aux_returns_concrete_nested_structure():
    def loss(values):
        a, b = values
        out = B.sum(B.multiply(a, b))
        return out, {"pair": (B.multiply(a, 2.0), [b]), "n": 3}

    a, b = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    (value, aux), grads = B.value_and_grad(loss, [a, b], has_aux=True)
    assert value == 13.0
    assert np.array_equal(grads[0], b) and np.array_equal(grads[1], a)
    assert set(aux) == {"pair", "n"} and aux["n"] == 3
    assert isinstance(aux["pair"], tuple) and isinstance(aux["pair"][1], list)
    assert type(aux["pair"][0]) is np.ndarray and np.array_equal(aux["pair"][0], [2.0, 4.0])
    assert type(aux["pair"][1][0]) is np.ndarray


def test_value_and_grad_rejects_non_scalar_and_stop_gradient_blocks():
    with pytest.raises(ValueError):
        B.value_and_grad(lambda v: B.multiply(v[0], 2.0), [np.ones(3)])
    _, (g,) = B.value_and_grad(
        lambda v: B.sum(v[0] * B.stop_gradient(v[0]) * 1.0), [np.ones(2) * 3]
    )
    assert np.array_equal(g, [3.0, 3.0])  # d/dw of w * const(w) is const(w), not 2w
    _, (g,) = B.value_and_grad(lambda v: B.sum(B.stop_gradient(v[0])), [np.ones(2)])
    assert np.array_equal(g, [0.0, 0.0])


# --- math against plain numpy -----------------------------------------------------------

UNARY = {
    "negative": np.negative,
    "square": np.square,
    "exp": np.exp,
    "tanh": np.tanh,
    "abs": np.abs,
    "sign": np.sign,
    "sqrt": lambda x: np.sqrt(np.abs(x)),
    "log": lambda x: np.log(np.abs(x)),
    "log1p": lambda x: np.log1p(np.abs(x)),
}
BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "power": lambda a, b: np.power(np.abs(a), b),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_math_matches_numpy(name):
    x = rand(3, 4)
    arg = np.abs(x) if name in ("sqrt", "log", "log1p") else x
    np.testing.assert_allclose(getattr(B, name)(arg), UNARY[name](x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_math_matches_numpy_with_broadcasting(name):
    a, b = rand(2, 3), rand(3, low=0.5, high=2.0)
    arg = np.abs(a) if name == "power" else a
    np.testing.assert_allclose(getattr(B, name)(arg, b), BINARY[name](a, b), rtol=1e-10, atol=1e-12)


def test_erf_is_exact():
    x = np.linspace(-4, 4, 41)
    np.testing.assert_allclose(B.erf(x), [math.erf(v) for v in x], rtol=1e-15, atol=1e-16)


def test_maximum_minimum_propagate_nan_and_clip_where():
    a = np.array([1.0, np.nan, 3.0])
    b = np.array([2.0, 0.0, np.nan])
    assert np.array_equal(B.maximum(a, b), np.maximum(a, b), equal_nan=True)
    assert np.array_equal(B.minimum(a, b), np.minimum(a, b), equal_nan=True)
    assert np.array_equal(B.clip(np.array([-2.0, 0.5, 7.0]), 0.0, 1.0), [0.0, 0.5, 1.0])
    assert np.array_equal(B.where(np.array([True, False]), np.array([1.0, 2.0]), -1.0), [1.0, -1.0])


def test_comparisons_and_logic_accept_integers():
    a, b = np.array([1, 2, 3], np.int32), np.array([3, 2, 1], np.int64)
    for name, ref in [
        ("equal", np.equal),
        ("not_equal", np.not_equal),
        ("greater", np.greater),
        ("greater_equal", np.greater_equal),
        ("less", np.less),
        ("less_equal", np.less_equal),
    ]:
        out = getattr(B, name)(a, b)
        assert out.dtype == np.bool_ and np.array_equal(out, ref(a, b))
    assert np.array_equal(B.greater(a, 1), [False, True, True])
    t, f = np.array([True, True, False]), np.array([True, False, False])
    assert np.array_equal(B.logical_and(t, f), [True, False, False])
    assert np.array_equal(B.logical_or(t, f), [True, True, False])
    assert np.array_equal(B.logical_not(f), [False, True, True])
    assert np.array_equal(B.isnan(np.array([0.0, np.nan])), [False, True])
    m = np.array([[True, False], [True, True]])
    assert np.array_equal(B.any(m, axis=1), [True, True]) and B.all(m).item() is False
    assert B.all(m, axis=0, keepdims=True).shape == (1, 2)


def test_reductions_match_numpy():
    x = rand(2, 3, 4)
    for name in ("sum", "mean", "max", "min"):
        for axis, keep in [(None, False), (1, False), ((0, 2), True), (-1, True)]:
            out = getattr(B, name)(x, axis=axis, keepdims=keep)
            np.testing.assert_allclose(
                out, getattr(np, name)(x, axis=axis, keepdims=keep), rtol=1e-10, atol=1e-12
            )
    assert type(B.sum(x)) is np.ndarray and B.sum(x).shape == ()
    assert B.sum(np.array([1, 2], np.int32)).dtype == np.int32
    assert B.mean(np.array([1, 2], np.int32)).dtype == np.float32


def test_argmax_first_maximum_as_int64():
    x = np.array([[1, 5, 5], [7, 0, 7]], np.int32)
    out = B.argmax(x)
    assert out.dtype == np.int64 and np.array_equal(out, [1, 0])
    assert np.array_equal(B.argmax(x, axis=0), [1, 0, 1])
    assert np.array_equal(B.argmax(np.array([2.0, np.nan, 9.0])), 1)  # NaN counts as maximum


def test_logsumexp_is_stable():
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [0.0, np.log(3.0)]])
    np.testing.assert_allclose(B.logsumexp(x, axis=1), [1000.0 + np.log(2.0), -np.inf, np.log(4.0)])
    assert B.logsumexp(x[2:], axis=(0, 1), keepdims=True).shape == (1, 1)


def test_matmul_and_einsum_match_numpy():
    a, b = rand(2, 3, 4), rand(2, 4, 5)
    np.testing.assert_allclose(B.matmul(a, b), a @ b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(B.einsum("bij,bjk->bik", a, b), a @ b, rtol=1e-10, atol=1e-12)


# --- array ops --------------------------------------------------------------------------


def test_array_ops_match_numpy():
    x = rand(2, 3, 4)
    assert np.array_equal(B.reshape(x, (3, -1)), x.reshape(3, 8))
    assert np.array_equal(B.transpose(x, (2, 0, 1)), x.transpose(2, 0, 1))
    assert np.array_equal(B.transpose(x), x.T)
    assert np.array_equal(B.concatenate([x, x[:, :1]], axis=1), np.concatenate([x, x[:, :1]], 1))
    assert np.array_equal(B.stack([x, x], axis=-1), np.stack([x, x], -1))
    assert B.expand_dims(x, 1).shape == (2, 1, 3, 4)
    assert B.squeeze(x[:, :1], 1).shape == (2, 4) and B.squeeze(np.ones((1, 2, 1))).shape == (2,)
    assert np.array_equal(B.slice_axis(x, -1, 1, 3), x[..., 1:3])
    assert np.array_equal(B.flip(x, 1), x[:, ::-1]) and np.array_equal(
        B.flip(x, (0, 2)), x[::-1, :, ::-1]
    )
    assert np.array_equal(B.repeat(x, 2, axis=1), np.repeat(x, 2, axis=1))
    assert np.array_equal(B.tile(x, (1, 2, 1)), np.tile(x, (1, 2, 1)))
    parts = B.unstack(x, axis=1)
    assert len(parts) == 3 and np.array_equal(parts[2], x[:, 2])


def test_take_pad_one_hot():
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    idx = np.array([[2, 0], [-1, 1]])
    assert np.array_equal(B.take(x, idx, axis=0), np.take(x, idx, axis=0))
    assert np.array_equal(B.take(x, np.array([3, 0]), axis=1), x[:, [3, 0]])
    padded = B.pad(np.ones((1, 2)), [(0, 1), (2, 0)], value=-5.0)
    assert np.array_equal(padded, [[-5, -5, 1, 1], [-5, -5, -5, -5]])
    hot = B.one_hot(np.array([[0, 2], [3, -1]], np.int32), 3)
    assert hot.dtype == np.float32
    assert np.array_equal(hot, [[[1, 0, 0], [0, 0, 1]], [[0, 0, 0], [0, 0, 0]]])
    with pytest.raises(ValueError):
        B.take(x, np.array([0.5]))


# --- activations ------------------------------------------------------------------------


def test_activations_match_keras_formulas():
    x = np.array([-3.0, -1.0, -0.25, 0.0, 0.5, 1.5, 3.0, 4.0])
    sig = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(B.relu(x), np.maximum(x, 0))
    np.testing.assert_allclose(B.sigmoid(x), sig, rtol=1e-14)
    np.testing.assert_allclose(B.softplus(x), np.log(1 + np.exp(x)), rtol=1e-14)
    np.testing.assert_allclose(B.softsign(x), x / (1 + np.abs(x)))
    np.testing.assert_allclose(B.silu(x), x * sig, rtol=1e-14)
    np.testing.assert_allclose(B.elu(x, 0.5), np.where(x > 0, x, 0.5 * (np.exp(x) - 1)), rtol=1e-14)
    np.testing.assert_allclose(
        B.selu(np.array([-1.0, 2.0])),
        [1.05070098 * 1.67326324 * (math.exp(-1) - 1), 1.05070098 * 2],
    )
    np.testing.assert_allclose(B.hard_sigmoid(x), [0, 1 / 3, 11 / 24, 0.5, 7 / 12, 0.75, 1, 1])
    exact = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(B.gelu(x), exact, rtol=1e-14)
    approx = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(B.gelu(x, approximate=True), approx, rtol=1e-14)
    assert np.abs(B.gelu(x, approximate=True) - B.gelu(x)).max() > 1e-5  # really two forms


def test_activations_are_stable_at_extremes():
    big = np.array([-1000.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(B.softplus(big), [0.0, 1000.0])
        np.testing.assert_allclose(B.sigmoid(big), [0.0, 1.0])
        np.testing.assert_allclose(B.elu(big), [-1.0, 1000.0])
        np.testing.assert_allclose(
            B.softmax(np.array([[1000.0, 1000.0, -1000.0]])), [[0.5, 0.5, 0.0]]
        )
        np.testing.assert_allclose(B.log_softmax(np.array([1000.0, 0.0])), [0.0, -1000.0])
    assert np.isnan(B.relu(np.array([np.nan]))).all()
    logits = rand(3, 5)
    ref = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
    np.testing.assert_allclose(B.softmax(logits, axis=0), ref, rtol=1e-13)
    np.testing.assert_allclose(B.log_softmax(logits, axis=0), np.log(ref), rtol=1e-13)


# --- convolution and pooling against loops -------------------------------------------------


def loop_pads(n, k, s, d, padding):
    """SAME padding written out again, independently of the code under test."""
    if padding == "valid":
        return 0, 0
    out = math.ceil(n / s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def loop_conv(x, kernel, strides, padding, dilation, depthwise=False):
    rank = x.ndim - 2
    pads = [
        loop_pads(n, k, s, d, padding)
        for n, k, s, d in zip(x.shape[1:-1], kernel.shape[:rank], strides, dilation, strict=True)
    ]
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
    out_shape = [
        (xp.shape[1 + i] - (kernel.shape[i] - 1) * dilation[i] - 1) // strides[i] + 1
        for i in range(rank)
    ]
    cin, cout = kernel.shape[-2], kernel.shape[-1]
    channels = cin * cout if depthwise else cout
    out = np.zeros([x.shape[0]] + out_shape + [channels])
    for o in itertools.product(*map(range, out_shape)):
        for k in itertools.product(*map(range, kernel.shape[:rank])):
            pos = tuple(o[i] * strides[i] + k[i] * dilation[i] for i in range(rank))
            v = xp[(slice(None),) + pos]  # (batch, cin)
            if depthwise:
                out[(slice(None),) + o] += (v[:, :, None] * kernel[k]).reshape(len(v), -1)
            else:
                out[(slice(None),) + o] += v @ kernel[k]
    return out


CONV_CASES = list(itertools.product(["valid", "same"], [1, 2], [1, 2], [1, 2]))


@pytest.mark.parametrize("padding,stride,dilation,rank", CONV_CASES)
def test_conv_matches_loop(padding, stride, dilation, rank):
    x = rand(2, *([7, 6][:rank]), 3)
    kernel = rand(*([3, 2][:rank]), 3, 4)
    strides, dil = (stride,) * rank, (dilation,) * rank
    expected = loop_conv(x, kernel, strides, padding, dil)
    np.testing.assert_allclose(
        B.conv(x, kernel, stride, padding, dilation), expected, rtol=1e-10, atol=1e-12
    )
    dw = rand(*([3, 2][:rank]), 3, 2)
    np.testing.assert_allclose(
        B.depthwise_conv(x, dw, strides, padding, dil),
        loop_conv(x, dw, strides, padding, dil, depthwise=True),
        rtol=1e-10,
        atol=1e-12,
    )


def test_conv_3d_and_mixed_strides():
    x, kernel = rand(1, 4, 5, 3, 2), rand(2, 3, 2, 2, 3)
    for padding in ("valid", "same"):
        np.testing.assert_allclose(
            B.conv(x, kernel, (1, 2, 1), padding, (2, 1, 1)),
            loop_conv(x, kernel, (1, 2, 1), padding, (2, 1, 1)),
            rtol=1e-10,
            atol=1e-12,
        )
    with pytest.raises(ValueError):
        B.conv(x, kernel, 1, "full", 1)
    with pytest.raises(ValueError):
        B.conv(x, rand(2, 2, 2, 5, 3), 1, "valid", 1)


def test_conv_transpose_tiny_hand_example():
    x = np.array([1.0, 2.0]).reshape(1, 2, 1)
    kernel = np.ones((3, 1, 1))
    out = B.conv_transpose(x, kernel, 2, "valid")
    assert np.array_equal(out.ravel(), [1, 1, 3, 2, 2])
    kernel = np.array([1.0, 10.0, 100.0]).reshape(3, 1, 1)
    assert np.array_equal(B.conv_transpose(x, kernel, 1, "valid").ravel(), [1, 12, 120, 200])


# (length, kernel, stride, padding, output_padding, dilation) -> Keras output length by hand
TRANSPOSE_SIZES = [
    ((5, 3, 2, "valid", None, 1), 11),
    ((5, 3, 2, "same", None, 1), 10),
    ((5, 3, 2, "same", 1, 1), 10),
    ((5, 3, 2, "same", 0, 1), 9),
    ((5, 3, 2, "valid", 1, 1), 12),
    ((5, 2, 3, "valid", None, 1), 15),
    ((4, 3, 1, "valid", None, 2), 8),
    ((4, 3, 1, "same", None, 2), 4),
    ((3, 4, 2, "same", None, 1), 6),
    ((3, 4, 2, "same", 1, 1), 5),
    ((4, 1, 3, "valid", 2, 1), 12),
]


@pytest.mark.parametrize("args,length", TRANSPOSE_SIZES)
def test_conv_transpose_size_and_adjoint(args, length):
    n, k, s, padding, op, d = args
    assert conv_utils.deconv_output_length(n, k, padding, op, s, d) == length
    x, kernel = rand(2, n, n, 3), rand(k, k, 2, 3)  # kernel (*k, out, in)
    out = B.conv_transpose(x, kernel, s, padding, op, d)
    assert out.shape == (2, length, length, 2)
    # a transposed conv is the adjoint of conv with the same kernel: <T x, u> = <x, C u>
    u = rand(*out.shape)
    forward = B.conv(u, kernel, s, padding, d)
    assert forward.shape == x.shape
    np.testing.assert_allclose(np.sum(out * u), np.sum(x * forward), rtol=1e-10, atol=1e-12)


def loop_pool(x, size, stride, padding, reduce):
    pads = [loop_pads(n, size, stride, 1, padding) for n in x.shape[1:-1]]
    xp = np.pad(x, [(0, 0)] + pads + [(0, 0)], constant_values=np.nan)
    outs = [(n - size) // stride + 1 for n in xp.shape[1:-1]]
    out = np.zeros([x.shape[0]] + outs + [x.shape[-1]])
    for o in itertools.product(*map(range, outs)):
        window = xp[(slice(None),) + tuple(slice(i * stride, i * stride + size) for i in o)]
        out[(slice(None),) + o] = reduce(window.reshape(len(x), -1, x.shape[-1]), axis=1)
    return out


@pytest.mark.parametrize(
    "padding,size,stride", list(itertools.product(["valid", "same"], [2, 3], [1, 2]))
)
def test_pooling_matches_loop(padding, size, stride):
    x = rand(2, 7, 6, 3)
    np.testing.assert_allclose(
        B.max_pool(x, size, stride, padding),
        loop_pool(x, size, stride, padding, np.nanmax),
        rtol=1e-14,
    )
    np.testing.assert_allclose(
        B.avg_pool(x, size, stride, padding),
        loop_pool(x, size, stride, padding, np.nanmean),
        rtol=1e-14,
    )


def test_avg_pool_same_divides_edge_cells_by_valid_count():
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    assert np.array_equal(B.avg_pool(x, 2, 2, "same").ravel(), [1.5, 3.5, 5.0])
    grid = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    assert np.array_equal(B.avg_pool(grid, 2, 2, "same")[0, :, :, 0], [[3.0, 4.5], [7.5, 9.0]])
    neg = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    assert np.array_equal(B.max_pool(neg, 2, 2, "same")[0, :, :, 0], [[-1.0, -3.0], [-7.0, -9.0]])
    assert B.max_pool(grid, 2, None, "valid").shape == (1, 1, 1, 1)


def test_max_pool_gradient_goes_to_first_maximum():
    x = np.array([[3.0, 3.0], [1.0, 3.0]]).reshape(1, 2, 2, 1)
    _, (g,) = B.value_and_grad(lambda v: B.sum(B.max_pool(v[0], 2, 2, "valid")), [x])
    assert np.array_equal(g.reshape(2, 2), [[1.0, 0.0], [0.0, 0.0]])


# --- gradients against central finite differences (float64) -----------------------------


def numeric_grads(fn, values, eps=1e-6):
    grads = []
    for i, v in enumerate(values):
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            plus = [w.copy() for w in values]
            minus = [w.copy() for w in values]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            g[idx] = (float(fn(plus)) - float(fn(minus))) / (2 * eps)
        grads.append(g)
    return grads


def away(*shape, margin=0.1):
    """Random values at least ``margin`` away from 0 (no kinks of relu/abs/elu)."""
    x = rand(*shape, low=margin, high=1.0)
    return x * RNG.choice([-1.0, 1.0], size=shape)


def distinct(*shape):
    """Distinct values spaced well apart (no ties in max/min/maximum)."""
    return RNG.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 7 - 1


def step(x_t, states):
    h = B.tanh(B.add(B.matmul(x_t, W_IN), B.matmul(states[0], W_REC)))
    return h, [h]


W_IN, W_REC = rand(3, 4), rand(4, 4) * 0.5
GRAD_CASES = {
    "add": (lambda a, b: B.add(a, b), [rand(2, 3), rand(3)]),
    "subtract": (lambda a, b: B.subtract(a, b), [rand(2, 3), rand(2, 1)]),
    "multiply": (lambda a, b: B.multiply(a, b), [rand(2, 3), rand(3)]),
    "divide": (lambda a, b: B.divide(a, b), [rand(2, 3), rand(3, low=1, high=2)]),
    "negative": (B.negative, [rand(4)]),
    "power": (lambda a, b: B.power(a, b), [rand(4, low=0.5, high=2), rand(4)]),
    "power_scalar": (lambda a: B.power(a, 3), [rand(4)]),
    "square": (B.square, [rand(4)]),
    "sqrt": (B.sqrt, [rand(4, low=0.5, high=2)]),
    "exp": (B.exp, [rand(4)]),
    "log": (B.log, [rand(4, low=0.5, high=2)]),
    "log1p": (B.log1p, [rand(4)]),
    "abs": (B.abs, [away(5)]),
    "tanh": (B.tanh, [rand(4)]),
    "erf": (B.erf, [rand(5, low=-2, high=2)]),
    "maximum": (lambda a, b: B.maximum(a, b), [distinct(2, 3), distinct(3) + 0.05]),
    "minimum": (lambda a, b: B.minimum(a, b), [distinct(2, 3), distinct(2, 3) + 0.05]),
    "clip": (lambda a: B.clip(a, -0.5, 0.5), [away(6) * 0.9 + 0.05]),
    "where": (lambda a, b: B.where(np.array([[True, False, True]]), a, b), [rand(2, 3), rand(3)]),
    "sum": (lambda a: B.sum(a, axis=(0, 2), keepdims=True), [rand(2, 3, 2)]),
    "mean": (lambda a: B.mean(a, axis=1), [rand(2, 3)]),
    "max": (lambda a: B.max(a, axis=0), [distinct(3, 4)]),
    "min": (lambda a: B.min(a), [distinct(3, 4)]),
    "logsumexp": (lambda a: B.logsumexp(a, axis=-1), [rand(2, 4) * 3]),
    "matmul": (lambda a, b: B.matmul(a, b), [rand(2, 2, 3), rand(3, 2)]),
    "einsum": (lambda a, b: B.einsum("ij,jk->ik", a, b), [rand(2, 3), rand(3, 2)]),
    "reshape": (lambda a: B.reshape(a, (3, -1)), [rand(2, 3)]),
    "transpose": (lambda a: B.transpose(a, (1, 0, 2)), [rand(2, 3, 2)]),
    "concatenate": (lambda a, b: B.concatenate([a, b], axis=0), [rand(1, 3), rand(2, 3)]),
    "stack": (lambda a, b: B.stack([a, b], axis=1), [rand(2, 3), rand(2, 3)]),
    "expand_dims": (lambda a: B.expand_dims(a, 0), [rand(3)]),
    "squeeze": (lambda a: B.squeeze(a, 1), [rand(3, 1)]),
    "slice_axis": (lambda a: B.slice_axis(a, 1, 1, 3), [rand(2, 4)]),
    "flip": (lambda a: B.flip(a, 1), [rand(2, 3)]),
    "take": (lambda a: B.take(a, np.array([2, 0, 2]), axis=1), [rand(2, 3)]),
    "pad": (lambda a: B.pad(a, [(1, 0), (0, 2)], value=1.0), [rand(2, 3)]),
    "repeat": (lambda a: B.repeat(a, 2, axis=0), [rand(2, 3)]),
    "tile": (lambda a: B.tile(a, (2, 1)), [rand(2, 3)]),
    "unstack": (lambda a: B.unstack(a, axis=1)[1], [rand(2, 3)]),
    "cast": (lambda a: B.cast(a, "float64"), [rand(3)]),
    "convert_to_tensor": (lambda a: B.convert_to_tensor(a, "float64"), [rand(3)]),
    "relu": (B.relu, [away(6)]),
    "sigmoid": (B.sigmoid, [rand(5) * 4]),
    "softplus": (B.softplus, [away(6) * 3]),
    "softsign": (B.softsign, [away(6) * 3]),
    "elu": (lambda a: B.elu(a, 0.7), [away(6)]),
    "selu": (B.selu, [away(6)]),
    "silu": (B.silu, [rand(5) * 3]),
    "hard_sigmoid": (B.hard_sigmoid, [rand(6) * 2.9]),
    "gelu": (B.gelu, [rand(5) * 3]),
    "gelu_tanh": (lambda a: B.gelu(a, approximate=True), [rand(5) * 3]),
    "softmax": (lambda a: B.softmax(a, axis=0), [rand(3, 2)]),
    "log_softmax": (B.log_softmax, [rand(2, 3)]),
    "conv_same": (lambda a, k: B.conv(a, k, 2, "same", 1), [rand(1, 5, 4, 2), rand(3, 2, 2, 2)]),
    "conv_dilated": (lambda a, k: B.conv(a, k, 1, "valid", 2), [rand(1, 6, 2), rand(2, 2, 3)]),
    "depthwise_conv": (
        lambda a, k: B.depthwise_conv(a, k, 1, "same", 1),
        [rand(1, 4, 3, 2), rand(2, 2, 2, 2)],
    ),
    "conv_transpose": (
        lambda a, k: B.conv_transpose(a, k, 2, "same", None, 1),
        [rand(1, 3, 2, 2), rand(3, 3, 2, 2)],
    ),
    "max_pool": (lambda a: B.max_pool(a, 2, 1, "same"), [distinct(1, 3, 3, 2)]),
    "avg_pool": (lambda a: B.avg_pool(a, 2, 2, "same"), [rand(1, 3, 3, 2)]),
    "rnn": (
        lambda x, h: B.rnn(step, x, [h], mask=np.array([[1, 0, 1]], bool))[1],
        [rand(1, 3, 3), rand(1, 4)],
    ),
}
NOT_DIFFERENTIABLE = {
    "set_device",
    "equal",
    "not_equal",
    "greater",
    "greater_equal",
    "less",
    "less_equal",
    "logical_and",
    "logical_or",
    "logical_not",
    "any",
    "all",
    "argmax",
    "isnan",
    "sign",
    "one_hot",
    "to_numpy",
    "shape",
    "dtype",
    "zeros",
    "ones",
    "value_and_grad",
    "stop_gradient",
    "compile",
    "device_names",
}


def test_every_differentiable_op_has_a_gradient_case():
    covered = {
        name.split("_same")[0].split("_dilated")[0].split("_tanh")[0].split("_scalar")[0]
        for name in GRAD_CASES
    }
    assert set(OPS) - NOT_DIFFERENTIABLE - covered == set()


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradient_matches_finite_differences(name):
    fn, values = GRAD_CASES[name]
    weights = rand(*np.shape(fn(*values)))  # a random projection tests every output's gradient

    def loss(vals):
        return B.sum(B.multiply(fn(*vals), weights))

    value, grads = B.value_and_grad(loss, values)
    np.testing.assert_allclose(value, loss(values), rtol=1e-14)
    for got, want in zip(grads, numeric_grads(loss, values), strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


# --- dtypes -----------------------------------------------------------------------------

FLOAT_OPS = {
    "unary": [
        "negative",
        "square",
        "exp",
        "tanh",
        "abs",
        "erf",
        "relu",
        "sigmoid",
        "softplus",
        "softsign",
        "elu",
        "selu",
        "silu",
        "hard_sigmoid",
        "gelu",
        "softmax",
        "log_softmax",
        "sum",
        "mean",
        "max",
        "logsumexp",
        "log1p",
    ],
    "scalar": [
        ("add", 0.5),
        ("multiply", np.float64(2.0)),
        ("divide", 3),
        ("power", 2.0),
        ("maximum", 0.0),
        ("subtract", np.float32(1.0)),
    ],
}


@pytest.mark.parametrize("dt", [np.float16, np.float32, np.float64])
def test_float_dtype_is_preserved(dt):
    x = rand(2, 4, 4, 3, dtype=dt)
    for name in FLOAT_OPS["unary"]:
        assert getattr(B, name)(x).dtype == dt, name
    for name, scalar in FLOAT_OPS["scalar"]:
        assert getattr(B, name)(x, scalar).dtype == dt, name
        assert getattr(B, name)(scalar, x).dtype == dt, name
    assert B.gelu(x, approximate=True).dtype == dt
    assert B.clip(x, 0, 0.5).dtype == dt and B.where(x > 0, x, 0.0).dtype == dt
    assert B.conv(x, rand(2, 2, 3, 2, dtype=dt), 1, "same", 1).dtype == dt
    assert B.conv_transpose(x, rand(2, 2, 2, 3, dtype=dt), 2, "same").dtype == dt
    assert B.depthwise_conv(x, rand(2, 2, 3, 1, dtype=dt), 1, "valid", 1).dtype == dt
    assert B.max_pool(x, 2, 2, "same").dtype == dt and B.avg_pool(x, 3, 2, "same").dtype == dt
    value, (g,) = B.value_and_grad(
        lambda v: B.sum(B.gelu(B.conv(v[0], np.ones((2, 2, 3, 1), dt), 1, "same", 1))), [x]
    )
    assert value.dtype == dt and g.dtype == dt and g.shape == x.shape


# --- rnn masking --------------------------------------------------------------------------


def accumulate(x_t, states):
    total = B.add(states[0], x_t)
    return B.multiply(total, 10.0), [total]


def test_rnn_without_mask_and_backwards():
    x = np.arange(1.0, 7.0).reshape(2, 3, 1)  # sample 0: 1 2 3, sample 1: 4 5 6
    last, outs, (state,) = B.rnn(accumulate, x, [np.zeros((2, 1))])
    assert np.array_equal(outs[..., 0], [[10, 30, 60], [40, 90, 150]])
    assert np.array_equal(last, outs[:, -1]) and np.array_equal(state, [[6], [15]])
    last, outs, _ = B.rnn(accumulate, x, [np.zeros((2, 1))], go_backwards=True)
    assert np.array_equal(outs[..., 0], [[30, 50, 60], [60, 110, 150]])


def test_rnn_mask_carries_states_and_repeats_outputs():
    x = np.arange(1.0, 9.0).reshape(2, 4, 1)  # sample 0: 1 2 3 4, sample 1: 5 6 7 8
    mask = np.array([[True, False, True, False], [False, True, True, True]])
    last, outs, (state,) = B.rnn(accumulate, x, [np.zeros((2, 1))], mask=mask)
    # masked steps repeat the previous output (zeros before any step) and keep the state
    assert np.array_equal(outs[..., 0], [[10, 10, 40, 40], [0, 60, 130, 210]])
    assert np.array_equal(last[:, 0], [40, 210]) and np.array_equal(state[:, 0], [4, 21])
    last, outs, (state,) = B.rnn(accumulate, x, [np.zeros((2, 1))], go_backwards=True, mask=mask)
    # processed order t = 3, 2, 1, 0: sample 0 sees 3 then 1; sample 1 sees 8, 7, 6
    assert np.array_equal(outs[..., 0], [[0, 30, 30, 40], [80, 150, 210, 210]])
    assert np.array_equal(state[:, 0], [4, 21])
    with pytest.raises(ValueError):
        B.rnn(accumulate, x, [np.zeros((2, 1))], mask=np.ones((2, 3), bool))


def test_empty_batch_and_nan_propagation():
    empty = np.zeros((0, 5, 5, 3), np.float32)
    assert B.conv(empty, np.ones((3, 3, 3, 2)), 1, "same", 1).shape == (0, 5, 5, 2)
    assert B.depthwise_conv(empty, np.ones((3, 3, 3, 2)), 2, "same", 1).shape == (0, 3, 3, 6)
    assert B.conv_transpose(empty, np.ones((3, 3, 2, 3)), 2, "same").shape == (0, 10, 10, 2)
    assert B.max_pool(empty, 2, 2, "same").shape == (0, 3, 3, 3)
    nan = np.array([1.0, np.nan, 2.0, 3.0]).reshape(1, 4, 1)
    assert np.isnan(B.max_pool(nan, 2, 2, "valid").ravel()).tolist() == [True, False]
    assert np.isnan(B.conv(nan, np.ones((2, 1, 1)), 1, "valid", 1).ravel()).tolist() == [
        True,
        True,
        False,
    ]
    assert np.isnan(B.softmax(np.array([0.0, np.nan]))).all()


def test_convert_to_tensor_stacks_traced_values():
    def loss(v):
        return B.sum(B.multiply(B.convert_to_tensor([v[0], v[1]]), np.array([2.0, 3.0])))

    _, grads = B.value_and_grad(loss, [np.array(1.0), np.array(4.0)])
    assert [float(g) for g in grads] == [2.0, 3.0]


# --- shared helpers ------------------------------------------------------------


def test_conv_utils():
    assert conv_utils.same_padding(5, 3, 2) == (1, 1)
    assert conv_utils.same_padding(6, 3, 2) == (0, 1)  # the odd cell goes after
    assert conv_utils.same_padding(4, 3, 1, dilation=2) == (2, 2)
    assert conv_utils.same_padding(4, 1, 3) == (0, 0)
    assert conv_utils.conv_output_length(7, 3, 2, "valid", 2) == 2
    assert conv_utils.conv_output_length(7, 3, 2, "same") == 4
    assert conv_utils.normalize_tuple(2, 3, "strides") == (2, 2, 2)
    assert conv_utils.normalize_tuple([np.int64(1), 2], 2, "strides") == (1, 2)
    assert conv_utils.normalize_padding("SAME") == "same"
    for bad in [(1, 2, 3), 0, "2", (True, 1)]:
        with pytest.raises(ValueError):
            conv_utils.normalize_tuple(bad, 2, "strides")
    with pytest.raises(ValueError):
        conv_utils.normalize_padding("causal")
