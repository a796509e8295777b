"""The JAX backend of the reference library against the NumPy backend (the executable
specification of every op), hand-computed values, and its own eager mode (for ``compile``)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import harness.reference.backend.jax as J  # noqa: E402
import harness.reference.backend.numpy as N  # noqa: E402
from harness.reference import backend  # noqa: E402
from harness.reference.backend.ops import OPS, check_backend  # noqa: E402

RNG = np.random.default_rng(2024)
F32 = {"rtol": 1e-5, "atol": 1e-6}  # float32 tolerance: parity, not bit equality


def rand(*shape, dtype=np.float32, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def same(got, want, **tol):
    """Assert a JAX result equals a NumPy-backend result in shape, dtype and value."""
    got_np = J.to_numpy(got)
    want = np.asarray(want)
    assert got_np.shape == want.shape
    assert J.dtype(got) == N.dtype(want)
    np.testing.assert_allclose(got_np, want, **(tol or F32))


# --- interface and import hygiene -----------------------------------------------------


def test_backend_implements_every_op():
    assert check_backend(J) == []
    assert check_backend(backend.load("jax")) == []
    assert sorted(J.__all__) == sorted([*OPS, "EXECUTION", "COMPILE_VARIANTS"])
    assert J.EXECUTION == "eager" and J.COMPILE_VARIANTS == {"jit": {}}


def run_python(code, **env):
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return out.stdout.strip()


def test_harness_backend_env_selects_jax_lazily():
    code = (
        "import sys, harness.reference as r; before = 'jax' in sys.modules; "
        "from harness.reference import backend as K, layers; "
        "y = layers.Dense(3)(K.convert_to_tensor([[1.0, 2.0]])); "
        "print(before, K.name(), type(y).__module__.split('.')[0], K.dtype(y), "
        "sorted(m for m in ('tensorflow', 'torch', 'theano', 'pytensor') if m in sys.modules))"
    )
    assert run_python(code, HARNESS_BACKEND="jax") == "False jax jaxlib float32 []"


# --- core -------------------------------------------------------------------------------


def test_convert_to_tensor_defaults_with_x64_enabled():
    assert jax.config.jax_enable_x64  # float64 cases need it ...
    # ... yet Python data keeps the interface's defaults, not JAX's x64 ones
    assert J.dtype(J.convert_to_tensor(1.5)) == "float32"
    assert J.dtype(J.convert_to_tensor([[1.0, 2.0]])) == "float32"
    assert J.dtype(J.convert_to_tensor([1, 2])) == "int32"
    assert J.dtype(J.convert_to_tensor(2**40)) == "int64"  # too big for int32
    assert J.dtype(J.convert_to_tensor(True)) == "bool"
    for dt in ("float16", "float32", "float64", "int32", "int64", "bool"):
        assert J.dtype(J.convert_to_tensor(np.zeros(2, dt))) == dt
    assert J.dtype(J.convert_to_tensor(np.float64(2.0))) == "float64"
    assert J.dtype(J.convert_to_tensor(np.zeros(2), "bfloat16")) == "bfloat16"
    t = J.convert_to_tensor(np.ones(3, np.float32))
    assert J.convert_to_tensor(t) is t and J.dtype(J.convert_to_tensor(t, "float64")) == "float64"
    assert J.dtype(J.zeros((2,))) == "float32" and J.dtype(J.ones((2,), "int64")) == "int64"
    with pytest.raises(ValueError):
        J.cast(np.ones(2), "complex128")


def test_to_numpy_returns_fresh_arrays_and_bfloat16_as_float32():
    x = J.convert_to_tensor(np.array([1.5, -2.25], np.float32), "bfloat16")
    out = J.to_numpy(x)
    assert type(out) is np.ndarray and out.dtype == np.float32
    assert np.array_equal(out, [1.5, -2.25])  # both exact in bfloat16
    out[0] = 7.0  # writable and not aliasing the tensor
    assert J.to_numpy(x)[0] == 1.5
    assert J.to_numpy(J.sum(np.ones(3))).shape == ()


def test_scalars_are_weak_and_tensors_promote_like_numpy():
    h = rand(3, dtype=np.float16)
    for op in (J.add, J.multiply, J.subtract, J.divide, J.power, J.maximum):
        assert J.dtype(op(h, 0.5)) == "float16" and J.dtype(op(np.float64(2.0), h)) == "float16"
    i = np.array([1, 2], np.int32)
    assert J.dtype(J.multiply(i, 0.5)) == "float32"  # not x64's float64
    assert J.dtype(J.add(np.array([True]), 2)) == "int32"
    assert J.dtype(J.divide(i, i)) == "float32"
    # two tensors follow NumPy, not JAX's lattice (which gives float16 here)
    assert J.dtype(J.add(h, np.ones(3, np.int32))) == N.dtype(N.add(h, np.ones(3, np.int32)))
    assert J.dtype(J.add(h, J.convert_to_tensor(h, "bfloat16"))) == "float32"
    assert J.dtype(J.sum(np.ones(3, np.int32))) == "int32"  # JAX's x64 sum would give int64
    assert J.dtype(J.sum(np.ones(3, bool))) == "int32"
    assert J.dtype(J.mean(np.ones(3, np.int32))) == "float32"
    assert J.dtype(J.argmax(h)) == "int64"


def test_value_and_grad_aux_and_to_numpy_inside_the_trace():
    seen = {}

    def loss(values):
        a, b = values
        seen["value"], seen["shape"] = J.to_numpy(a), J.shape(a)
        return J.sum(J.multiply(a, b)), {"pair": (J.multiply(a, 2.0), [b]), "n": 3}

    a, b = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    (value, aux), grads = J.value_and_grad(loss, [a, b], has_aux=True)
    assert type(seen["value"]) is np.ndarray and np.array_equal(seen["value"], a)
    assert seen["shape"] == (2,) and float(value) == 13.0
    assert np.array_equal(grads[0], b) and np.array_equal(grads[1], a)
    assert aux["n"] == 3 and isinstance(aux["pair"], tuple) and isinstance(aux["pair"][1], list)
    pair0 = aux["pair"][0]
    assert not isinstance(pair0, jax.core.Tracer) and np.array_equal(J.to_numpy(pair0), [2, 4])


def test_value_and_grad_dtypes_errors_and_stop_gradient():
    for dt in ("float16", "bfloat16", "float32", "float64"):
        x = J.convert_to_tensor(np.array([1.0, -2.0]), dt)
        value, (g,) = J.value_and_grad(lambda v: J.sum(J.square(v[0])), [x])
        assert J.dtype(g) == dt and np.array_equal(J.to_numpy(g), [2.0, -4.0])
    # an integer value (an index, a count) gets a zero gradient of its dtype, not an error
    _, (gf, gi) = J.value_and_grad(
        lambda v: J.sum(J.take(v[0], v[1])), [np.ones(3), np.array([0, 0], np.int32)]
    )
    assert np.array_equal(gf, [2.0, 0.0, 0.0]) and J.dtype(gi) == "int32" and not gi.any()
    with pytest.raises(ValueError, match="scalar"):
        J.value_and_grad(lambda v: J.multiply(v[0], 2.0), [np.ones(3)])
    with pytest.raises(ValueError, match="has_aux"):
        J.value_and_grad(lambda v: J.sum(v[0]), [np.ones(3)], has_aux=True)
    _, (g,) = J.value_and_grad(lambda v: J.sum(v[0] * J.stop_gradient(v[0])), [np.ones(2) * 3])
    assert np.array_equal(g, [3.0, 3.0])  # d/dw of w * const(w) is const(w), not 2w
    value, (g,) = J.value_and_grad(lambda v: J.reshape(J.sum(v[0]), (1,)), [np.ones(2)])
    assert J.shape(value) == (1,) and np.array_equal(g, [1.0, 1.0])


def test_convert_to_tensor_stacks_traced_values():
    def loss(v):
        return J.sum(J.multiply(J.convert_to_tensor([v[0], v[1]]), np.array([2.0, 3.0])))

    _, grads = J.value_and_grad(loss, [np.array(1.0), np.array(4.0)])
    assert [float(g) for g in grads] == [2.0, 3.0]


# --- parity with the NumPy backend, op group by op group -------------------------------

POS = rand(3, 4, low=0.2, high=2.0)
MATH = {
    "negative": [rand(3, 4)],
    "square": [rand(3, 4)],
    "sqrt": [POS],
    "exp": [rand(3, 4)],
    "log": [POS],
    "log1p": [POS],
    "abs": [rand(3, 4)],
    "sign": [np.array([-2.0, 0.0, 3.0], np.float32)],
    "tanh": [rand(3, 4) * 3],
    "erf": [rand(3, 4) * 3],
    "add": [rand(2, 3), rand(3)],
    "subtract": [rand(2, 1), rand(2, 3)],
    "multiply": [rand(2, 3), 1.5],
    "divide": [rand(2, 3), rand(3, low=0.5, high=2.0)],
    "power": [POS, rand(4)],
    "maximum": [np.array([1.0, np.nan, 3.0, 2.0]), np.array([2.0, 0.0, np.nan, 2.0])],
    "minimum": [np.array([1.0, np.nan, 3.0, 2.0]), np.array([2.0, 0.0, np.nan, 2.0])],
    "clip": [rand(10) * 2, -0.5, 0.5],
    "where": [np.array([[True, False, True]]), rand(2, 3), 0.25],
    "matmul": [rand(2, 3, 4), rand(4, 5)],
}
COMPARE = {
    "equal": [np.array([1, 2, 3], np.int32), np.array([3, 2, 1], np.int64)],
    "not_equal": [np.array([1.0, 2.0]), 2.0],
    "greater": [np.array([1, 2, 3], np.int32), 1],
    "greater_equal": [rand(5), rand(5)],
    "less": [rand(5), 0.0],
    "less_equal": [np.array([1.0, 2.0]), np.array([2.0, 2.0])],
    "logical_and": [np.array([True, True, False]), np.array([True, False, False])],
    "logical_or": [np.array([True, True, False]), np.array([True, False, False])],
    "logical_not": [np.array([True, False])],
    "isnan": [np.array([0.0, np.nan, np.inf])],
}
REDUCE_INPUT = rand(2, 3, 4)
ARRAY = {
    "reshape": [REDUCE_INPUT, (3, -1)],
    "transpose": [REDUCE_INPUT, (2, 0, 1)],
    "concatenate": [[REDUCE_INPUT, REDUCE_INPUT[:, :1]], 1],
    "stack": [[REDUCE_INPUT, REDUCE_INPUT], -1],
    "expand_dims": [REDUCE_INPUT, 1],
    "squeeze": [REDUCE_INPUT[:, :1], 1],
    "slice_axis": [REDUCE_INPUT, -1, 1, 3],
    "flip": [REDUCE_INPUT, (0, 2)],
    "take": [REDUCE_INPUT, np.array([[2, 0], [-1, 1]]), 1],
    "pad": [REDUCE_INPUT, [(0, 1), (2, 0), (1, 1)], -5.0],
    "repeat": [REDUCE_INPUT, 2, 1],
    "tile": [REDUCE_INPUT, (1, 2, 1)],
    "one_hot": [np.array([[0, 2], [3, -1]], np.int32), 3],
    "cast": [REDUCE_INPUT, "float16"],
}


@pytest.mark.parametrize("name", sorted({**MATH, **COMPARE, **ARRAY}))
def test_op_matches_numpy_backend(name):
    args = {**MATH, **COMPARE, **ARRAY}[name]
    same(getattr(J, name)(*args), getattr(N, name)(*args), equal_nan=True, **F32)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp", "any", "all"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_reductions_match_numpy_backend(name, axis, keepdims):
    x = REDUCE_INPUT > 0 if name in ("any", "all") else REDUCE_INPUT
    same(
        getattr(J, name)(x, axis=axis, keepdims=keepdims),
        getattr(N, name)(x, axis=axis, keepdims=keepdims),
    )


def test_argmax_logsumexp_einsum_unstack():
    x = np.array([[1, 5, 5], [7, 0, 7]], np.int32)
    same(J.argmax(x), np.array([1, 0], np.int64))
    same(J.argmax(x, axis=0), N.argmax(x, axis=0))
    assert int(J.argmax(np.array([2.0, np.nan, 9.0]))) == 1  # NaN counts as the maximum
    edge = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [0.0, np.log(3.0)]])
    same(J.logsumexp(edge, axis=1), [1000.0 + np.log(2.0), -np.inf, np.log(4.0)])
    a, b = rand(2, 3, 4), rand(2, 4, 5)
    same(J.einsum("bij,bjk->bik", a, b), N.einsum("bij,bjk->bik", a, b))
    parts = J.unstack(REDUCE_INPUT, axis=1)
    assert len(parts) == 3 and all(J.shape(p) == (2, 4) for p in parts)
    same(parts[2], REDUCE_INPUT[:, 2])


ACTIVATIONS = [
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
]


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_match_numpy_backend(name):
    x = np.concatenate([rand(2, 7) * 4, [[-3.0, -0.5, 0.0, 0.5, 3.0, 40.0, -40.0]] * 2])
    x = x.astype(np.float32)
    same(getattr(J, name)(x), getattr(N, name)(x))
    if name == "gelu":
        same(J.gelu(x, approximate=True), N.gelu(x, approximate=True))
    if name == "elu":
        same(J.elu(x, 0.3), N.elu(x, 0.3))
    if name in ("softmax", "log_softmax"):
        same(getattr(J, name)(x, axis=0), getattr(N, name)(x, axis=0))


def test_selu_has_the_full_precision_constants():
    x = np.array([-3.0, -0.5, 0.0, 0.5, 2.0])
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    want = scale * np.where(x > 0, x, alpha * np.expm1(x))
    np.testing.assert_allclose(J.to_numpy(J.selu(x)), want, rtol=1e-15, atol=1e-16)


def test_activations_are_stable_at_extremes_and_propagate_nan():
    big = np.array([-1000.0, 1000.0])
    same(J.softplus(big), [0.0, 1000.0])
    same(J.sigmoid(big), [0.0, 1.0])
    same(J.elu(big), [-1.0, 1000.0])
    same(J.softmax(np.array([[1000.0, 1000.0, -1000.0]])), [[0.5, 0.5, 0.0]])
    same(J.log_softmax(np.array([1000.0, 0.0])), [0.0, -1000.0])
    assert np.isnan(J.to_numpy(J.relu(np.array([np.nan])))).all()
    assert np.isnan(J.to_numpy(J.softmax(np.array([0.0, np.nan])))).all()


# --- convolution and pooling against the NumPy backend's im2col ---------------------------

CONV_CASES = [
    (rank, padding, stride, dilation)
    for rank in (1, 2, 3)
    for padding in ("valid", "same")
    for stride, dilation in ((1, 1), (2, 1), (1, 2))
]


@pytest.mark.parametrize("rank,padding,stride,dilation", CONV_CASES)
def test_conv_depthwise_and_transpose_match_numpy_backend(rank, padding, stride, dilation):
    x = rand(2, *(7, 6, 5)[:rank], 3)
    size = (3, 2, 2)[:rank]
    kernel = rand(*size, 3, 4)
    same(J.conv(x, kernel, stride, padding, dilation), N.conv(x, kernel, stride, padding, dilation))
    dw = rand(*size, 3, 2)
    same(
        J.depthwise_conv(x, dw, stride, padding, dilation),
        N.depthwise_conv(x, dw, stride, padding, dilation),
    )
    tk = rand(*size, 4, 3)  # (*kernel_size, out, in)
    for output_padding in (None, 0) if stride == 1 else (None, 1):
        same(
            J.conv_transpose(x, tk, stride, padding, output_padding, dilation),
            N.conv_transpose(x, tk, stride, padding, output_padding, dilation),
        )


def test_conv_hand_example_mixed_strides_and_errors():
    # a transposed conv scatters each input times the kernel: [1, 2] * [1, 1, 1], stride 2
    x = np.array([1.0, 2.0], np.float32).reshape(1, 2, 1)
    assert J.to_numpy(J.conv_transpose(x, np.ones((3, 1, 1), np.float32), 2)).ravel().tolist() == [
        1,
        1,
        3,
        2,
        2,
    ]
    x, kernel = rand(1, 4, 5, 3, 2), rand(2, 3, 2, 2, 3)
    same(
        J.conv(x, kernel, (1, 2, 1), "same", (2, 1, 1)),
        N.conv(x, kernel, (1, 2, 1), "same", (2, 1, 1)),
    )
    with pytest.raises(ValueError):
        J.conv(x, kernel, 1, "full", 1)
    with pytest.raises(ValueError):
        J.conv(x, rand(2, 2, 2, 5, 3), 1, "valid", 1)
    with pytest.raises(ValueError):
        J.conv(rand(2, 3), rand(1, 3, 3), 1, "valid", 1)


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize(
    "padding,size,stride",
    [("valid", 2, 2), ("same", 3, 2), ("same", 2, 1), ("valid", 3, 1), ("same", 2, None)],
)
def test_pooling_matches_numpy_backend(rank, padding, size, stride):
    x = rand(2, *(7, 6, 5)[:rank], 3)
    same(J.max_pool(x, size, stride, padding), N.max_pool(x, size, stride, padding))
    same(J.avg_pool(x, size, stride, padding), N.avg_pool(x, size, stride, padding))


def test_pooling_edges_by_hand():
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)
    assert J.to_numpy(J.avg_pool(x, 2, 2, "same")).ravel().tolist() == [1.5, 3.5, 5.0]
    neg = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # padding must never win a max
    assert J.to_numpy(J.max_pool(neg, 2, 2, "same"))[0, :, :, 0].tolist() == [[-1, -3], [-7, -9]]
    nan = np.array([1.0, np.nan, 2.0, 3.0]).reshape(1, 4, 1)
    assert np.isnan(J.to_numpy(J.max_pool(nan, 2, 2, "valid"))).ravel().tolist() == [True, False]
    # float32 depthwise keeps a NaN in its own channel (XLA's float64 path does not: xfailed)
    x = np.ones((1, 3, 3, 3), np.float32)
    x[0, 0, 0, 1] = np.nan
    y = J.to_numpy(J.depthwise_conv(x, np.ones((2, 2, 3, 2), np.float32), 1, "valid", 1))
    assert np.isnan(y).any(axis=(0, 1, 2)).tolist() == [False, False, True, True, False, False]
    empty = np.zeros((0, 5, 5, 3), np.float32)
    assert J.shape(J.conv(empty, np.ones((3, 3, 3, 2), np.float32), 1, "same", 1)) == (0, 5, 5, 2)
    assert J.shape(J.conv_transpose(empty, np.ones((3, 3, 2, 3)), 2, "same")) == (0, 10, 10, 2)
    assert J.shape(J.max_pool(empty, 2, 2, "same")) == (0, 3, 3, 3)
    assert J.shape(J.avg_pool(empty, 2, 2, "same")) == (0, 3, 3, 3)


# --- rnn ------------------------------------------------------------------------------------


def accumulate(K):
    def step(x_t, states):
        total = K.add(states[0], x_t)
        return K.multiply(total, 10.0), [total]

    return step


def test_rnn_masks_and_directions_by_hand():
    x = np.arange(1.0, 9.0).reshape(2, 4, 1)  # sample 0: 1 2 3 4, sample 1: 5 6 7 8
    mask = np.array([[True, False, True, False], [False, True, True, True]])
    last, outs, (state,) = J.rnn(accumulate(J), x, [np.zeros((2, 1))], mask=mask)
    # masked steps repeat the previous output (zeros before any step) and keep the state
    assert J.to_numpy(outs)[..., 0].tolist() == [[10, 10, 40, 40], [0, 60, 130, 210]]
    assert J.to_numpy(last)[:, 0].tolist() == [40, 210]
    assert J.to_numpy(state)[:, 0].tolist() == [4, 21]
    _, outs, _ = J.rnn(accumulate(J), x, [np.zeros((2, 1))], go_backwards=True, mask=mask)
    assert J.to_numpy(outs)[..., 0].tolist() == [[0, 30, 30, 40], [80, 150, 210, 210]]
    with pytest.raises(ValueError):
        J.rnn(accumulate(J), x, [np.zeros((2, 1))], mask=np.ones((2, 3), bool))


# --- gradients against the NumPy backend's (autograd) gradients ---------------------------


def distinct(*shape):
    """Distinct values spaced well apart (no ties in max/min/maximum)."""
    return RNG.permutation(np.arange(np.prod(shape), dtype=np.float64)).reshape(shape) / 7 - 1


TIES = np.array([-1.0, -0.5, 0.0, 0.0, 0.5, 0.5, 2.0])
W_IN, W_REC = rand(3, 4, dtype=np.float64), rand(4, 4, dtype=np.float64) * 0.5


def rnn_case(K):
    def step(x_t, states):
        h = K.tanh(K.add(K.matmul(x_t, W_IN), K.matmul(states[0], W_REC)))
        return h, [h]

    return lambda x, h: K.rnn(step, x, [h], mask=np.array([[1, 0, 1]], bool))[1]


# name -> (fn(K) -> f(*values), values); inputs include the ties the interface pins down
GRAD_CASES = {
    "arithmetic": (
        lambda K: (
            lambda a, b: K.divide(
                K.multiply(K.add(a, b), K.subtract(a, 1.5)), K.add(K.square(b), 1.0)
            )
        ),
        [rand(2, 3), rand(3)],
    ),
    "power": (lambda K: lambda a, b: K.power(a, b), [rand(4, low=0.5, high=2), rand(4)]),
    "unary": (
        lambda K: lambda a: K.add(K.add(K.exp(a), K.tanh(a)), K.add(K.erf(a), K.log1p(K.abs(a)))),
        [distinct(5)],
    ),
    "sqrt_log": (lambda K: lambda a: K.multiply(K.sqrt(a), K.log(a)), [rand(4, low=0.5, high=2)]),
    "maximum_ties": (lambda K: lambda a, b: K.maximum(a, b), [TIES, TIES[::-1].copy()]),
    "minimum_ties": (lambda K: lambda a, b: K.minimum(a, b), [TIES, np.zeros(7)]),
    "clip_bounds": (lambda K: lambda a: K.clip(a, -0.5, 0.5), [TIES]),
    "abs_relu_at_zero": (lambda K: lambda a: K.add(K.abs(a), K.relu(a)), [TIES]),
    "where": (
        lambda K: lambda a, b: K.where(np.array([[True, False, True]]), a, b),
        [rand(2, 3), rand(3)],
    ),
    "reductions_ties": (
        lambda K: lambda a: K.stack([K.max(a), K.min(a), K.mean(a), K.logsumexp(a), K.sum(a)]),
        [np.array([[1.0, 3.0], [3.0, -1.0]])],
    ),
    "matmul_einsum": (
        lambda K: lambda a, b: K.add(K.matmul(a, b), K.einsum("ij,jk->ik", a, b)),
        [rand(2, 3), rand(3, 2)],
    ),
    "array_ops": (
        lambda K: (
            lambda a: K.concatenate(
                [
                    K.reshape(K.transpose(K.flip(a, 1), (1, 0)), (2, 3)),
                    K.take(a, np.array([2, 0, 2]), axis=1),
                    K.tile(K.slice_axis(a, 1, 1, 2), (1, 3)),
                    K.squeeze(K.expand_dims(K.unstack(a, 1)[0], 1), 1)[:, None] * np.ones((1, 3)),
                    K.pad(a, [(0, 0), (0, 1)], 2.0)[:, 1:],
                    K.repeat(a, 2, 0),
                ],
                axis=0,
            )
        ),
        [rand(2, 3)],
    ),
    "activations": (
        lambda K: (
            lambda a: K.stack(
                [
                    K.sigmoid(a),
                    K.softplus(a),
                    K.softsign(a),
                    K.elu(a, 0.7),
                    K.silu(a),
                    K.hard_sigmoid(a),
                    K.gelu(a),
                    K.gelu(a, approximate=True),
                    K.softmax(a),
                    K.log_softmax(a),
                ]
            )
        ),
        [distinct(6) * 3],
    ),
    "selu": (lambda K: K.selu, [distinct(6) * 3]),
    "cast": (lambda K: lambda a: K.cast(K.cast(a, "float32"), "float64"), [rand(3)]),
    "conv_same": (
        lambda K: lambda a, k: K.conv(a, k, 2, "same", 1),
        [rand(1, 5, 4, 2), rand(3, 2, 2, 2)],
    ),
    "conv_dilated": (
        lambda K: lambda a, k: K.conv(a, k, 1, "valid", 2),
        [rand(1, 6, 2), rand(2, 2, 3)],
    ),
    "depthwise_conv": (
        lambda K: lambda a, k: K.depthwise_conv(a, k, 1, "same", 1),
        [rand(1, 4, 3, 2), rand(2, 2, 2, 2)],
    ),
    "conv_transpose": (
        lambda K: lambda a, k: K.conv_transpose(a, k, 2, "same", None, 1),
        [rand(1, 3, 2, 2), rand(3, 3, 2, 2)],
    ),
    "max_pool_ties": (
        lambda K: lambda a: K.max_pool(a, 2, 1, "same"),
        [np.array([[3.0, 3.0, 1.0], [1.0, 3.0, 0.0], [2.0, 2.0, 2.0]])[None, :, :, None]],
    ),
    "avg_pool": (lambda K: lambda a: K.avg_pool(a, 2, 2, "same"), [rand(1, 3, 3, 2)]),
    "rnn": (rnn_case, [rand(1, 3, 3, dtype=np.float64), rand(1, 4, dtype=np.float64)]),
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_match_numpy_backend(name):
    make, values = GRAD_CASES[name]
    values = [np.asarray(v, np.float64) for v in values]
    weights = rand(*np.shape(make(N)(*values)), dtype=np.float64)  # tests every output

    def loss(K):
        fn = make(K)
        return lambda vals: K.sum(K.multiply(fn(*vals), weights))

    want_value, want = N.value_and_grad(loss(N), values)
    got_value, got = J.value_and_grad(loss(J), values)
    # jax.nn.selu has the constants to full precision, the NumPy backend rounds them to 1e-8
    rtol = 1e-7 if name == "selu" else 1e-10
    np.testing.assert_allclose(J.to_numpy(got_value), want_value, rtol=rtol)
    for g, w, v in zip(got, want, values, strict=True):
        assert J.dtype(g) == "float64" and J.shape(g) == v.shape
        np.testing.assert_allclose(J.to_numpy(g), w, rtol=rtol, atol=1e-12)


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[3.0, 3.0], [1.0, 3.0]]).reshape(1, 2, 2, 1)
    _, (g,) = J.value_and_grad(lambda v: J.sum(J.max_pool(v[0], 2, 2, "valid")), [x])
    assert J.to_numpy(g).reshape(2, 2).tolist() == [[1.0, 0.0], [0.0, 0.0]]


# --- dtypes ---------------------------------------------------------------------------------

UNARY_FLOAT_OPS = [
    "negative",
    "square",
    "exp",
    "tanh",
    "abs",
    "erf",
    "sqrt",
    "log1p",
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
]


# float32 is the dtype of every parity test above, which compares dtypes too
@pytest.mark.parametrize("dt", ["float16", "bfloat16", "float64"])
def test_float_dtype_is_preserved(dt):
    x = J.convert_to_tensor(rand(2, 4, 4, 3, low=0.1), dt)
    for name in UNARY_FLOAT_OPS:
        assert J.dtype(getattr(J, name)(x)) == dt, name
    for name, scalar in [
        ("add", 0.5),
        ("multiply", np.float64(2.0)),
        ("divide", 3),
        ("power", 2.0),
        ("maximum", 0.0),
        ("subtract", np.float32(1.0)),
    ]:
        assert J.dtype(getattr(J, name)(x, scalar)) == dt, name
        assert J.dtype(getattr(J, name)(scalar, x)) == dt, name
    assert J.dtype(J.clip(x, 0, 0.5)) == dt and J.dtype(J.where(J.greater(x, 0.5), x, 0.0)) == dt
    kernel = J.convert_to_tensor(rand(2, 2, 3, 2), dt)
    assert J.dtype(J.conv(x, kernel, 1, "same", 1)) == dt
    assert J.dtype(J.conv_transpose(x, J.convert_to_tensor(rand(2, 2, 2, 3), dt), 2, "same")) == dt
    assert J.dtype(J.depthwise_conv(x, J.convert_to_tensor(rand(2, 2, 3, 1), dt), 1, "valid")) == dt
    assert J.dtype(J.max_pool(x, 2, 2, "same")) == dt and J.dtype(J.avg_pool(x, 3, 2, "same")) == dt
    value, (g,) = J.value_and_grad(lambda v: J.sum(J.gelu(J.conv(v[0], kernel, 1, "same", 1))), [x])
    assert J.dtype(value) == dt and J.dtype(g) == dt and J.shape(g) == J.shape(x)
    # the low-precision result is the float32 result rounded (within that dtype's precision)
    eps = {"float16": 2e-3, "bfloat16": 1.6e-2}.get(dt, 1e-6)
    ref = N.conv(
        J.to_numpy(x).astype(np.float64), J.to_numpy(kernel).astype(np.float64), 1, "same", 1
    )
    np.testing.assert_allclose(
        J.to_numpy(J.conv(x, kernel, 1, "same", 1)), ref, rtol=4 * eps, atol=4 * eps
    )


# --- compile ----------------------------------------------------------------------------------


def block(K):
    def fn(xs, ws, scale=0.5):
        (x,) = xs
        kernel, bias = ws
        y = K.relu(K.add(K.conv(x, kernel, 1, "same", 1), bias))
        return [K.softmax(K.multiply(K.max_pool(y, 2, 2, "valid"), scale)), K.sum(y)]

    return fn


def test_compile_equals_eager_and_retraces_per_signature():
    traces = []
    eager = block(J)

    def traced(*args, **kwargs):
        traces.append(1)
        return eager(*args, **kwargs)

    fn = J.compile(traced)
    for shape, dt in [
        ((2, 6, 6, 3), np.float32),
        ((2, 6, 6, 3), np.float32),
        ((1, 4, 8, 3), np.float32),
        ((1, 4, 8, 3), np.float64),
    ]:
        x, ws = [rand(*shape, dtype=dt)], [rand(3, 3, 3, 4, dtype=dt), rand(4, dtype=dt)]
        got, want = fn(x, ws), eager(x, ws)
        assert not isinstance(got[0], jax.core.Tracer)  # concrete results
        for g, w in zip(got, want, strict=True):
            same(g, J.to_numpy(w), rtol=1e-6, atol=1e-6)
    assert len(traces) == 3  # the repeated signature reused its compilation
    # a Python scalar is static: it keeps its weak dtype and a new value recompiles
    x16 = [rand(1, 4, 4, 3, dtype=np.float16)]
    w16 = [rand(3, 3, 3, 4, dtype=np.float16), rand(4, dtype=np.float16)]
    out = fn(x16, w16, scale=2.0)
    assert J.dtype(out[0]) == "float16"
    same(out[0], J.to_numpy(eager(x16, w16, scale=2.0)[0]), rtol=1e-3, atol=1e-3)
    fn(x16, w16, scale=3.0)
    assert len(traces) == 5


def test_compile_rejects_to_numpy_inside_and_positional_options():
    fn = J.compile(lambda x: J.to_numpy(J.multiply(x, 2.0)))
    with pytest.raises(TypeError, match="inside compile"):
        fn(np.ones(2))
    with pytest.raises(ValueError, match="static"):
        J.compile(lambda x: x, static_argnums=(0,))
    with pytest.raises(ValueError):
        J.compile("not a function")
    # value_and_grad under compile: gradients, not values, come back
    grad_fn = J.compile(lambda w: J.value_and_grad(lambda v: J.sum(J.square(v[0])), [w])[1][0])
    assert J.to_numpy(grad_fn(np.array([1.0, -3.0]))).tolist() == [2.0, -6.0]


# --- devices ----------------------------------------------------------------------------------


def test_set_device_errors_name_the_devices_seen():
    names = J.device_names()
    assert names[0] == "cpu:0" and all(":" in n for n in names)
    J.set_device("cpu")
    try:
        for bad in ("gpu:7", "cpu:99", "tpu:3", "quantum", "gpu:x"):
            with pytest.raises(ValueError, match="cpu:0"):
                J.set_device(bad)
        t = J.convert_to_tensor(np.ones(2))
        assert {d.platform for d in t.devices()} == {"cpu"}
    finally:
        J.set_device("cpu:0")


def test_virtual_cpu_devices_place_new_tensors():
    code = (
        "import numpy as np, harness.reference.backend.jax as J; "
        "print(J.device_names()); J.set_device('cpu:1'); "
        "t = J.add(J.convert_to_tensor(np.ones(2)), 1.0); z = J.zeros((2,)); "
        "print(sorted(d.id for d in t.devices()), sorted(d.id for d in z.devices()), "
        "J.to_numpy(t).tolist())"
    )
    out = run_python(
        code, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu"
    )
    assert out.splitlines() == ["['cpu:0', 'cpu:1']", "[1] [1] [2.0, 2.0]"]
