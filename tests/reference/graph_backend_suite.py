"""Tests shared by the graph backends (Theano, PyTensor): every op against the NumPy backend
(the executable specification), through ``compile`` (the real path) and eagerly.

Not collected on its own: ``test_theano_backend.py`` and ``test_pytensor_backend.py`` import
these tests after skipping when their framework is missing, and provide the ``G`` fixture
(the backend module) and ``NAME``.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import harness.reference.backend.numpy as N
from harness.reference import backend
from harness.reference.backend.ops import OPS, check_backend

RNG = np.random.default_rng(77)
F32 = {"rtol": 2e-5, "atol": 2e-6}  # float32 parity, not bit equality


def rand(*shape, dtype=np.float32, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def run_compiled(G, fn, *arrays):
    """``fn`` compiled on ``G`` and called on ``arrays``; also checks that the static shapes
    the backend recorded for the outputs are their real shapes."""
    shapes = []

    def traced(*xs):
        out = fn(*xs)
        outs = out if isinstance(out, list) else [out]
        shapes.extend(G.shape(o) for o in outs)
        return outs

    results = G.compile(traced)(*arrays)
    assert [tuple(r.shape) for r in results] == shapes
    return results


def parity(G, name, arrays, *static, tol=F32, **kwargs):
    """Op ``name`` on the graph backend (compiled) equals the NumPy backend's result."""
    want = getattr(N, name)(*arrays, *static, **kwargs)
    wants = want if isinstance(want, list) else [want]
    got = run_compiled(G, lambda *xs: getattr(G, name)(*xs, *static, **kwargs), *arrays)
    assert len(got) == len(wants)
    for g, w in zip(got, wants, strict=True):
        w = np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (name, g.shape, w.shape, g.dtype)
        np.testing.assert_allclose(g, w, **tol)


# --- interface, import hygiene, devices -----------------------------------------------


def test_backend_implements_every_op(G, NAME):
    assert check_backend(G) == []
    assert check_backend(backend.load(NAME)) == []
    assert sorted(G.__all__) == sorted([*OPS, "EXECUTION", "COMPILE_VARIANTS"])
    assert G.EXECUTION == "graph"
    assert G.COMPILE_VARIANTS == {"fast_run": {"mode": "FAST_RUN"}}


def test_harness_backend_env_imports_only_this_framework(NAME):
    other = {"theano": "pytensor", "pytensor": "theano"}[NAME]
    code = (
        f"import sys, harness.reference as r; before = {NAME!r} in sys.modules; "
        "from harness.reference import backend as K; K.relu; "
        f"print(before, K.name(), {NAME!r} in sys.modules, {other!r} in sys.modules, "
        "any(m in sys.modules for m in ('tensorflow', 'torch', 'jax')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "HARNESS_BACKEND": NAME}, check=True)
    assert out.stdout.strip().splitlines()[-1] == f"False {NAME} True False False"


def test_devices(G, NAME):
    assert "cpu:0" in G.device_names()
    G.set_device("cpu")
    G.set_device("cpu:0")
    with pytest.raises(ValueError, match=f"{NAME} has no device 'gpu:7'.*cpu:0"):
        G.set_device("gpu:7")
    with pytest.raises(ValueError, match="no device 'cpu:3'"):
        G.set_device("cpu:3")


# --- core: conversion, dtypes, shapes -------------------------------------------------


def test_convert_to_tensor_dtypes_match_numpy_backend(G):
    for value, dtype in [(1.5, None), (3, None), ([1, 2], None), (np.arange(3), None),
                         (np.ones(2, np.float16), None), (2, "float64"), (True, None),
                         (np.ones((2, 1)), "float32")]:
        got, want = G.convert_to_tensor(value, dtype), N.convert_to_tensor(value, dtype)
        assert G.dtype(got) == N.dtype(want)
        assert G.shape(got) == N.shape(want)
        np.testing.assert_array_equal(G.to_numpy(got), want)


def test_bfloat16_is_refused(G, NAME):
    with pytest.raises(TypeError, match=f"{NAME} has no bfloat16"):
        G.convert_to_tensor(np.ones(2, np.float32), "bfloat16")
    with pytest.raises(TypeError):
        G.zeros((2,), "bfloat16")


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_float_dtypes_are_preserved(G, dtype):
    x = rand(2, 3, dtype=dtype, low=0.1)
    ops = [lambda a: G.multiply(a, 0.5), lambda a: G.add(a, 2), G.exp, G.sqrt, G.erf,
           G.sigmoid, G.softplus, G.relu, G.gelu, lambda a: G.softmax(a, 0),
           lambda a: G.mean(a, 1), lambda a: G.logsumexp(a, -1), G.tanh, G.elu,
           lambda a: G.matmul(a, G.transpose(a))]
    for op in ops:
        (out,) = run_compiled(G, op, x)
        assert str(out.dtype) == dtype
    assert G.dtype(G.argmax(x)) == "int64"
    assert G.dtype(G.sum(G.greater(x, 0.5))) == "int32"
    assert G.dtype(G.cast(x, "float64")) == "float64"


def test_scalars_take_the_tensor_dtype_and_ints_promote_like_numpy(G):
    i = np.arange(4, dtype=np.int32)
    assert G.dtype(G.add(i, 2)) == "int32"
    assert G.dtype(G.multiply(i, 0.5)) == "float32"
    assert G.dtype(G.add(np.ones(2, np.float16), np.ones(2, np.float32))) == "float32"
    assert G.dtype(G.divide(i, i)) == "float32"
    assert G.dtype(G.add(i, np.arange(4, dtype=np.int64))) == "int64"


def test_static_shapes_need_no_evaluation(G):
    x = G.convert_to_tensor(rand(2, 1, 3))
    y = G.multiply(x, G.convert_to_tensor(rand(4, 1)))  # broadcasting a length-1 axis
    assert G.shape(y) == (2, 4, 3)
    assert G.shape(G.reshape(y, (-1, 3))) == (8, 3)
    assert G.shape(G.squeeze(x, 1)) == (2, 3)
    with pytest.raises(ValueError, match="do not broadcast"):
        G.add(x, G.ones((5, 4)))
    with pytest.raises(ValueError, match="cannot reshape"):
        G.reshape(y, (5, -1))


# --- ops against the NumPy backend ----------------------------------------------------


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "maximum", "minimum",
                                  "equal", "not_equal", "greater", "greater_equal", "less",
                                  "less_equal", "power"])
def test_binary_ops_broadcasting(G, name):
    a, b = rand(2, 1, 4, low=0.1), rand(3, 1, low=0.1)
    b[0, 0] = a[0, 0, 0]  # a tie, so that maximum/equal see one
    parity(G, name, [a, b])


@pytest.mark.parametrize("name", ["negative", "square", "sqrt", "exp", "log", "log1p", "abs",
                                  "sign", "tanh", "erf", "isnan", "logical_not", "relu",
                                  "sigmoid", "softplus", "softsign", "elu", "selu", "silu",
                                  "hard_sigmoid", "gelu"])
def test_unary_ops(G, name):
    x = rand(3, 5, low=-3, high=3)
    x[0, :3] = [0.0, -3.0, 3.0]  # kinks of relu / hard_sigmoid
    if name in ("sqrt", "log", "log1p"):
        x = np.abs(x) + 0.1
    parity(G, name, [x])


def test_special_values(G):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30], dtype=np.float32)
    for name in ("relu", "sigmoid", "tanh", "elu", "hard_sigmoid", "isnan", "abs"):
        parity(G, name, [x], tol={"rtol": 1e-6, "atol": 1e-30, "equal_nan": True})
    parity(G, "maximum", [x, np.zeros_like(x)], tol={"rtol": 0, "equal_nan": True})
    parity(G, "logsumexp", [np.array([[-np.inf, -np.inf], [1e30, 1e30]], np.float32)], 1)
    parity(G, "softmax", [np.array([[1e30, 0.0, -1e30]], np.float32)])


def test_logical_and_where_and_clip(G):
    a, b = rand(3, 4) > 0, rand(4) > 0
    parity(G, "logical_and", [a, b])
    parity(G, "logical_or", [a, b])
    parity(G, "where", [a, rand(3, 4), rand(1, 4)])
    parity(G, "clip", [rand(3, 4, low=-2, high=2)], -0.5, 0.5)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp", "any", "all"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_reductions(G, name, axis, keepdims):
    x = rand(2, 3, 4)
    if name in ("any", "all"):
        x = x > -0.5
    parity(G, name, [x], axis, keepdims)


def test_argmax_and_integer_sum(G):
    x = rand(3, 4)
    x[1, 2] = x[1, 0] = 5.0  # the first of tied maxima wins
    parity(G, "argmax", [x])
    parity(G, "argmax", [x], 0)
    parity(G, "sum", [np.arange(12, dtype=np.int32).reshape(3, 4)], 0)


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (4, 2)),
                                   ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (4,))])
def test_matmul(G, sa, sb):
    parity(G, "matmul", [rand(*sa), rand(*sb)])


@pytest.mark.parametrize("spec,shapes", [("oh,bhwc->bowc", [(3, 4), (2, 4, 5, 2)]),
                                         ("ij,jk", [(2, 3), (3, 4)]),
                                         ("bij,bkj->bik", [(2, 3, 4), (2, 5, 4)]),
                                         ("ij->ji", [(2, 3)])])
def test_einsum(G, spec, shapes):
    arrays = [rand(*s) for s in shapes]
    want = N.einsum(spec, *arrays)
    (got,) = run_compiled(G, lambda *xs: G.einsum(spec, *xs), *arrays)
    np.testing.assert_allclose(got, want, **F32)


def test_array_ops(G):
    x = rand(2, 3, 4)
    parity(G, "reshape", [x], (4, -1))
    parity(G, "transpose", [x], (2, 0, 1))
    parity(G, "transpose", [x])
    parity(G, "expand_dims", [x], -1)
    parity(G, "squeeze", [rand(2, 1, 3, 1)], (1, 3))
    parity(G, "slice_axis", [x], 2, 1, 3)
    parity(G, "slice_axis", [x], -1, -3, 100)
    parity(G, "flip", [x], (0, 2))
    parity(G, "repeat", [x], 2, 1)
    parity(G, "tile", [rand(2, 3)], (2, 1, 2))
    parity(G, "pad", [x], ((1, 0), (0, 2), (1, 1)), -1.5)
    parity(G, "unstack", [x], 1)
    parity(G, "one_hot", [np.array([[0, 3], [5, -1]], np.int32)], 4)
    parity(G, "take", [x, np.array([[2, 0], [1, 1]], np.int64)], 1)
    joined = run_compiled(G, lambda a, b: [G.concatenate([a, b], 1), G.stack([a, b], -1)],
                          x, x * 2)
    np.testing.assert_allclose(joined[0], N.concatenate([x, x * 2], 1))
    np.testing.assert_allclose(joined[1], N.stack([x, x * 2], -1))


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("padding,strides,dilation", [("valid", 1, 1), ("same", 2, 1),
                                                      ("same", 1, 2), ("valid", 2, 1)])
def test_conv_family(G, rank, padding, strides, dilation):
    spatial = (6, 5, 4)[:rank]
    x = rand(2, *spatial, 3)
    kernel = rand(*(2,) * rank, 3, 4)
    parity(G, "conv", [x, kernel], strides, padding, dilation)
    parity(G, "depthwise_conv", [x, rand(*(2,) * rank, 3, 2)], strides, padding, dilation)
    parity(G, "conv_transpose", [x, rand(*(3,) * rank, 4, 3)], strides, padding, None, dilation)
    parity(G, "max_pool", [x], 2, strides, padding)
    parity(G, "avg_pool", [x], 2, strides, padding)


def test_conv_transpose_output_padding(G):
    parity(G, "conv_transpose", [rand(1, 4, 4, 2), rand(3, 3, 5, 2)], 2, "same", 1)


def test_rnn_with_mask_and_go_backwards(G):
    x, h0 = rand(2, 4, 3), rand(2, 3)
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1]], dtype=bool)

    def step(lib):
        def fn(x_t, states):
            h = lib.tanh(lib.add(x_t, lib.multiply(states[0], 0.5)))
            return h, [h]
        return fn

    for backwards in (False, True):
        last, outs, states = N.rnn(step(N), x, [h0], backwards, mask)
        got = run_compiled(G, lambda a, b, m, back=backwards: [
            *G.rnn(step(G), a, [b], back, m)[:2]], x, h0, mask)
        np.testing.assert_allclose(got[0], last, **F32)
        np.testing.assert_allclose(got[1], outs, **F32)


# --- gradients ------------------------------------------------------------------------


GRAD_CASES = {
    "elementwise": (lambda K, v: K.sum(K.multiply(K.gelu(v[0]), K.sigmoid(v[1]))),
                    [(3, 4), (3, 4)]),
    "relu_at_zero": (lambda K, v: K.sum(K.relu(v[0])), [(0,)]),
    "maximum_ties": (lambda K, v: K.sum(K.maximum(v[0], v[1])), [(0,), (0,)]),
    "clip_bounds": (lambda K, v: K.sum(K.clip(v[0], -0.5, 0.5)), [(0,)]),
    "hard_sigmoid_kinks": (lambda K, v: K.sum(K.hard_sigmoid(v[0])), [(0,)]),
    "softmax_matmul": (lambda K, v: K.sum(K.multiply(K.log_softmax(K.matmul(v[0], v[1])),
                                                     K.slice_axis(K.softmax(v[0], 0), 1, 0, 2))),
                       [(3, 4), (4, 2)]),
    "conv_pool": (lambda K, v: K.sum(K.max_pool(K.conv(v[0], v[1], 1, "same"), 2, 1, "valid")),
                  [(2, 5, 5, 2), (3, 3, 2, 3)]),
    "max_pool_ties": (lambda K, v: K.sum(K.max_pool(v[0], 2, 2, "same")),
                      [(1, 3, 3, 1)]),
    "logsumexp_mean": (lambda K, v: K.mean(K.logsumexp(v[0], 1)), [(3, 4)]),
    "take_where": (lambda K, v: K.sum(K.where(K.greater(v[0], 0), K.take(v[1], [0, 2, 2]), 0.0)),
                   [(3,), (3,)]),
    "rnn": (lambda K, v: K.sum(K.rnn(lambda x, s: (K.tanh(K.add(x, s[0])),
                                                    [K.tanh(K.add(x, s[0]))]),
                                     v[0], [v[1]])[1]), [(2, 3, 4), (2, 4)]),
}

SPECIAL_INPUTS = {
    "relu_at_zero": [np.array([-1.0, 0.0, 2.0], np.float32)],
    "maximum_ties": [np.array([1.0, 2.0, 3.0], np.float32), np.array([1.0, 5.0, 3.0], np.float32)],
    "clip_bounds": [np.array([-0.5, 0.0, 0.5, 0.7], np.float32)],
    "hard_sigmoid_kinks": [np.array([-3.0, 0.0, 3.0, 4.0], np.float32)],
    "max_pool_ties": [np.ones((1, 3, 3, 1), np.float32)],
}


def _grad_inputs(name):
    if name in SPECIAL_INPUTS:
        return SPECIAL_INPUTS[name]
    return [rand(*s) for s in GRAD_CASES[name][1]]


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_match_numpy_backend_compiled_and_eager(G, name):
    fn, _ = GRAD_CASES[name]
    values = _grad_inputs(name)
    want_value, want_grads = N.value_and_grad(lambda v: fn(N, v), values)
    got_value, got_grads = G.compile(
        lambda *xs: G.value_and_grad(lambda v: fn(G, v), list(xs)))(*values)
    np.testing.assert_allclose(got_value, want_value, **F32)
    for g, w in zip(got_grads, want_grads, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_allclose(g, w, **F32)
    eager_value, eager_grads = G.value_and_grad(lambda v: fn(G, v), values)
    np.testing.assert_allclose(G.to_numpy(eager_value), want_value, **F32)
    for g, w in zip(eager_grads, want_grads, strict=True):
        np.testing.assert_allclose(G.to_numpy(g), w, **F32)


def test_value_and_grad_aux_integers_and_float64(G):
    x = rand(3, dtype=np.float64)
    idx = np.array([2, 0], np.int32)

    def fn(v):
        picked = G.take(v[0], v[1])
        return G.sum(G.square(picked)), {"picked": picked}

    (value, aux), grads = G.value_and_grad(fn, [x, idx], has_aux=True)
    assert G.dtype(grads[0]) == "float64" and G.dtype(grads[1]) == "int32"
    np.testing.assert_allclose(G.to_numpy(aux["picked"]), x[[2, 0]])
    np.testing.assert_allclose(G.to_numpy(grads[0]), [2 * x[0], 0.0, 2 * x[2]])
    np.testing.assert_array_equal(G.to_numpy(grads[1]), [0, 0])
    with pytest.raises(ValueError, match="scalar"):
        G.value_and_grad(lambda v: v[0], [x])


def test_stop_gradient(G):
    x = rand(3)
    _, (g,) = G.value_and_grad(lambda v: G.sum(G.multiply(v[0], G.stop_gradient(v[0]))), [x])
    np.testing.assert_allclose(G.to_numpy(g), x, **F32)


# --- compile --------------------------------------------------------------------------


def test_compile_equals_eager_and_caches_per_signature(G):
    traces = []

    def fn(xs, scale, extra):
        traces.append(scale)
        a, b = xs
        return {"y": G.multiply(G.matmul(a, b), scale), "n": extra, "z": [G.relu(a)]}

    compiled = G.compile(fn)
    a, b = rand(2, 3), rand(3, 1)
    out = compiled([a, b], 2.0, None)
    eager = fn([G.convert_to_tensor(a), G.convert_to_tensor(b)], 2.0, None)
    np.testing.assert_allclose(out["y"], G.to_numpy(eager["y"]), **F32)
    np.testing.assert_allclose(out["z"][0], np.maximum(a, 0))
    assert out["n"] is None and isinstance(out["y"], np.ndarray)
    compiled([a * 3, b], 2.0, None)  # same signature: no new trace
    assert len(traces) == 2  # the compiled trace plus the eager call above
    compiled([rand(4, 3), b], 2.0, None)  # new shape
    compiled([a, b], 3.0, None)  # new static value
    assert len(traces) == 4
    again = compiled([a * 3, b], 2.0, None)
    np.testing.assert_allclose(again["y"], (a * 3) @ b * 2.0, **F32)


def test_compile_of_shape_one_axes_and_to_numpy_in_trace(G):
    seen = []

    def fn(x, y):
        seen.append(G.to_numpy(G.sum(x)))  # the value of the call being traced
        return G.add(x, y)

    x, y = rand(3, 1), rand(1, 4)
    out = G.compile(fn)(x, y)
    np.testing.assert_allclose(out, x + y, **F32)
    np.testing.assert_allclose(seen[0], x.sum(), rtol=1e-5)


def test_compile_inside_compile_is_inlined(G):
    inner = G.compile(lambda x: G.exp(x))
    outer = G.compile(lambda x: G.add(inner(x), 1.0))
    x = rand(2, 2)
    np.testing.assert_allclose(outer(x), np.exp(x) + 1, **F32)


def test_compile_variant_equals_default(G):
    x, k = rand(1, 5, 5, 2), rand(3, 3, 2, 2)
    fn = lambda a, b: G.softmax(G.conv(a, b, 1, "same"))  # noqa: E731
    for options in G.COMPILE_VARIANTS.values():
        np.testing.assert_allclose(G.compile(fn, **options)(x, k), G.compile(fn)(x, k), **F32)


def test_eager_chain_of_updates_evaluates_link_by_link(G):
    w = G.convert_to_tensor(np.zeros(3, np.float32))
    for step in range(20):
        w = G.add(w, G.multiply(G.ones((3,)), float(step)))
        np.testing.assert_allclose(G.to_numpy(w), np.full(3, sum(range(step + 1))))


def test_to_numpy_of_an_untraced_input_is_an_error(G):
    def fn(x):
        leaked.append(x)
        return x

    leaked = []
    G.compile(fn)(rand(2))
    with pytest.raises(ValueError, match="cannot evaluate"):
        G.to_numpy(G.exp(leaked[0]))
