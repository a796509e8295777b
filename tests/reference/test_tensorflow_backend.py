"""The TensorFlow backend of the reference library against the NumPy backend (the executable
specification of every op): values and gradients on random inputs, dtype rules, compile,
devices and import hygiene."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import harness.reference.backend.numpy as N  # noqa: E402
import harness.reference.backend.tensorflow as T  # noqa: E402
from harness.reference.backend.ops import OPS, check_backend  # noqa: E402

RNG = np.random.default_rng(20240601)
F32 = {"rtol": 1e-4, "atol": 1e-5}  # float32 parity: the conformance table's float32 row


def rand(*shape, low=-1.0, high=1.0, dtype=np.float32):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def close(tf_value, np_value, **tol):
    """Assert the TensorFlow result equals the NumPy backend's (shape, values, NaN places)."""
    got, want = T.to_numpy(tf_value), N.to_numpy(np_value)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, equal_nan=True, **(tol or F32))


def both(name, *args, **kwargs):
    """The op ``name`` on the TensorFlow and on the NumPy backend."""
    return getattr(T, name)(*args, **kwargs), getattr(N, name)(*args, **kwargs)


def grads(backend, fn, values):
    """Gradients of sum(fn(*values) * fixed cotangent) by ``backend``'s own autodiff."""
    out_shape = np.shape(N.to_numpy(fn(N, *values)))
    cot = np.random.default_rng(7).uniform(0.5, 1.5, size=out_shape).astype(values[0].dtype)

    def loss(vs):
        return backend.sum(backend.multiply(fn(backend, *vs), cot))

    return backend.value_and_grad(loss, list(values))


def grads_close(fn, *values, **tol):
    """Assert both backends' value and gradients agree for ``fn(backend, *values)``."""
    (tv, tg), (nv, ng) = grads(T, fn, values), grads(N, fn, values)
    close(tv, nv, **tol)
    for a, b, v in zip(tg, ng, values, strict=True):
        assert T.dtype(a) == N.dtype(b) == str(v.dtype)
        close(a, b, **tol)


@pytest.fixture(autouse=True)
def _default_placement():
    yield
    T.devices.placement.device = None


# --- interface and import hygiene -----------------------------------------------------


def test_backend_implements_every_op():
    assert check_backend(T) == []
    assert set(T.__all__) == {*OPS, "EXECUTION", "COMPILE_VARIANTS", "configure_virtual_cpus"}
    assert T.EXECUTION == "eager"
    assert T.COMPILE_VARIANTS == {"tf.function": {"jit_compile": False},
                                  "xla": {"jit_compile": True}}


def _python(code, **env):
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, **env}, check=True, timeout=300)
    return result.stdout.strip().splitlines()[-1]


def test_harness_backend_env_selects_tensorflow_lazily():
    code = (
        "import sys, harness.reference as r\n"
        "from harness.reference import backend as K\n"
        "before = 'tensorflow' in sys.modules\n"
        "x = K.convert_to_tensor([1.0, 2.0])\n"
        "others = [m for m in ('torch', 'jax', 'theano', 'pytensor') if m in sys.modules]\n"
        "print(before, K.name(), type(x).__module__.startswith('tensorflow'), others,\n"
        "      sys.modules['harness.reference.backend'].active().__name__)"
    )
    out = _python(code, HARNESS_BACKEND="tensorflow")
    # TensorFlow itself may pull in another framework that is installed beside it (with jax
    # installed, TF 2.21 imports it); the backend must add none of its own
    plain = _python("import sys, tensorflow\n"
                    "print([m for m in ('torch', 'jax', 'theano', 'pytensor') "
                    "if m in sys.modules])")
    assert out == f"False tensorflow True {plain} harness.reference.backend.tensorflow"


def test_importing_the_backend_sets_a_quiet_tf_log_level_unless_chosen():
    code = (
        "import os, harness.reference.backend.tensorflow\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=300)
    assert out.stdout.strip() == "2"
    assert _python(code, TF_CPP_MIN_LOG_LEVEL="1") == "1"


# --- core -----------------------------------------------------------------------------


def test_convert_to_tensor_dtype_rules():
    assert T.dtype(T.convert_to_tensor(1.5)) == "float32"
    assert T.dtype(T.convert_to_tensor([[1.0, 2.0]])) == "float32"
    assert T.dtype(T.convert_to_tensor([1, 2])) == "int32"
    assert T.dtype(T.convert_to_tensor(2**40)) == "int64"  # out of int32 range
    assert T.dtype(T.convert_to_tensor(True)) == "bool"
    for dt in (np.float16, np.float64, np.int64, np.int32, np.bool_):
        assert T.dtype(T.convert_to_tensor(np.zeros(2, dt))) == np.dtype(dt).name
    assert T.dtype(T.convert_to_tensor(np.float64(2.0))) == "float64"
    assert T.dtype(T.convert_to_tensor(3, dtype="float64")) == "float64"
    b = T.convert_to_tensor(np.array([1.0, 2.5, 1 / 3]), "bfloat16")
    assert T.dtype(b) == "bfloat16" and b.dtype == tf.bfloat16
    back = T.to_numpy(b)
    assert back.dtype == np.float32 and np.array_equal(back[:2], [1.0, 2.5])
    assert back[2] == np.float32(0.333984375)  # 1/3 rounded to bfloat16's 8 bits
    t = T.convert_to_tensor(np.ones(3, np.float16))
    assert T.convert_to_tensor(t) is t and T.dtype(T.convert_to_tensor(t, "float32")) == "float32"
    with pytest.raises(ValueError):
        T.convert_to_tensor(np.zeros(2, np.uint8))
    with pytest.raises(ValueError):
        T.cast(np.ones(2), "complex128")


def test_core_helpers():
    x = np.arange(6, dtype=np.int64).reshape(2, 3)
    assert T.shape(x) == (2, 3) and all(type(d) is int for d in T.shape(T.convert_to_tensor(x)))
    assert T.dtype(x) == "int64" and T.dtype(T.cast(x, "bfloat16")) == "bfloat16"
    assert T.dtype(T.zeros((2, 1))) == "float32" and T.to_numpy(T.ones((3,), "int32")).sum() == 3
    assert T.dtype(T.zeros((1,), "bfloat16")) == "bfloat16"


def test_value_and_grad_aux_unconnected_and_int_inputs():
    seen = {}

    def loss(values):
        a, b, n = values
        seen["a"] = T.to_numpy(a)  # a value being differentiated still has a value
        return T.sum(T.multiply(a, a)), {"double": [T.multiply(a, 2.0)], "n": 3}

    a, b, n = np.array([1.0, -2.0]), np.ones(3, np.float32), np.array([4], np.int32)
    (value, aux), (ga, gb, gn) = T.value_and_grad(loss, [a, b, n], has_aux=True)
    assert np.array_equal(seen["a"], a) and float(T.to_numpy(value)) == 5.0
    assert np.array_equal(T.to_numpy(ga), [2.0, -4.0]) and T.dtype(ga) == "float64"
    assert np.array_equal(T.to_numpy(gb), np.zeros(3)) and T.dtype(gb) == "float32"
    assert T.dtype(gn) == "int32" and np.array_equal(T.to_numpy(gn), [0])
    assert aux["n"] == 3 and np.array_equal(T.to_numpy(aux["double"][0]), [2.0, -4.0])
    with pytest.raises(ValueError, match="scalar"):
        T.value_and_grad(lambda v: T.multiply(v[0], 2.0), [np.ones(3)])
    with pytest.raises(ValueError, match="value, aux"):
        T.value_and_grad(lambda v: T.sum(v[0]), [np.ones(3)], has_aux=True)
    _, (g,) = T.value_and_grad(lambda v: T.sum(v[0] * T.stop_gradient(v[0])), [np.ones(2) * 3])
    assert np.array_equal(T.to_numpy(g), [3.0, 3.0])


def test_weak_scalars_and_promotion_follow_the_numpy_backend():
    h = np.ones(2, np.float16)
    cases = [(h, 0.5), (0.5, h), (np.array([1, 2], np.int32), 0.5), (np.array([True]), 2),
             (h, np.ones(2, np.float32)), (np.ones(2, np.int32), np.ones(2, np.float32)),
             (np.ones(2, np.int64), 3), (np.float64(2.0), np.ones(2, np.float32))]
    for a, b in cases:
        t, n = both("multiply", a, b)
        assert T.dtype(t) == N.dtype(n), (a, b)
    bf = T.convert_to_tensor(np.ones(2), "bfloat16")
    assert T.dtype(T.multiply(bf, 0.5)) == "bfloat16"
    assert T.dtype(T.add(bf, np.ones(2, np.float16))) == "float32"
    assert T.dtype(T.add(bf, np.ones(2, np.int32))) == "bfloat16"
    assert T.dtype(T.divide(np.array([1, 2]), np.array([2, 2]))) == "float32"


# --- math -----------------------------------------------------------------------------

UNARY = ["negative", "square", "exp", "tanh", "abs", "sign", "erf", "sqrt", "log", "log1p"]
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power"]


@pytest.mark.parametrize("name", UNARY)
def test_unary_math_matches_numpy_backend(name):
    x = rand(3, 4)
    arg = np.abs(x) + 0.1 if name in ("sqrt", "log", "log1p") else x
    close(*both(name, arg))


@pytest.mark.parametrize("name", BINARY)
def test_binary_math_matches_numpy_backend_with_broadcasting(name):
    a, b = rand(2, 3), rand(3, low=0.5, high=2.0)
    close(*both(name, np.abs(a) if name == "power" else a, b))


def test_nan_ties_clip_where_and_logic():
    a = np.array([1.0, np.nan, 3.0, 2.0], np.float32)
    b = np.array([2.0, 0.0, np.nan, 2.0], np.float32)
    for name in ("maximum", "minimum"):
        close(*both(name, a, b))
    close(*both("clip", np.array([-2.0, 0.5, 7.0, np.nan], np.float32), 0.0, 1.0))
    close(*both("clip", rand(2, 3), rand(3) - 0.5, rand(3) + 0.5))
    close(*both("where", np.array([True, False]), np.array([1.0, 2.0]), -1.0))
    close(*both("where", np.array([[1], [0]]), rand(2, 3), rand(3)))
    i, j = np.array([1, 2, 3], np.int32), np.array([3, 2, 1], np.int64)
    for name in ("equal", "not_equal", "greater", "greater_equal", "less", "less_equal"):
        t, n = both(name, i, j)
        assert T.dtype(t) == "bool" and np.array_equal(T.to_numpy(t), n)
    m = np.array([[True, False], [False, False]])
    for name, args in [("logical_and", (m, m.T)), ("logical_or", (m, m.T)),
                       ("logical_not", (m,)), ("isnan", (a,)), ("isnan", (i,))]:
        t, n = both(name, *args)
        assert np.array_equal(T.to_numpy(t), n)
    for name in ("any", "all"):
        for kw in ({}, {"axis": 1}, {"axis": 0, "keepdims": True}):
            t, n = both(name, np.array([[1.0, 0.0], [2.0, 3.0]]), **kw)
            assert np.array_equal(T.to_numpy(t), n)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
@pytest.mark.parametrize("kw", [{}, {"axis": 1}, {"axis": (0, 2), "keepdims": True}])
def test_reductions_match_numpy_backend(name, kw):
    close(*both(name, rand(2, 3, 4), **kw))


def test_integer_reductions_argmax_and_stable_logsumexp():
    ints = np.array([[1, 2], [3, 4]], np.int64)
    t, n = both("sum", ints, axis=0)
    assert T.dtype(t) == "int64" and np.array_equal(T.to_numpy(t), n)
    assert T.dtype(T.sum(np.array([True, True]))) == "int32"
    assert T.dtype(T.mean(ints)) == "float32"
    t = T.argmax(np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 0.0]]), axis=-1)
    assert T.dtype(t) == "int64" and np.array_equal(T.to_numpy(t), [1, 0])
    big = np.array([[1000.0, 1000.0], [-np.inf, -np.inf]], np.float32)
    close(*both("logsumexp", big, axis=1))


def test_matmul_and_einsum_match_numpy_backend():
    for a, b in [(rand(3, 4), rand(4, 2)), (rand(2, 3, 4), rand(4, 5)),
                 (rand(4), rand(2, 4, 3)), (rand(2, 3, 4), rand(4)), (rand(4), rand(4))]:
        close(*both("matmul", a, b))
    close(*both("einsum", "bij,jk->bik", rand(2, 3, 4), rand(4, 5)))
    close(*both("einsum", "ij,ij->i", rand(3, 4), rand(3, 4).astype(np.float64)))


# --- array ops ------------------------------------------------------------------------


def test_array_ops_match_numpy_backend():
    x = rand(2, 3, 4)
    for name, args, kw in [
        ("reshape", (x, (4, -1)), {}), ("transpose", (x,), {}),
        ("transpose", (x, (1, 0, 2)), {}), ("concatenate", ([x, x], 1), {}),
        ("stack", ([x, x],), {"axis": -1}), ("expand_dims", (x, 1), {}),
        ("squeeze", (x[:, :1], 1), {}), ("squeeze", (x[:1, :1],), {}),
        ("slice_axis", (x, -1, 1, 3), {}), ("flip", (x, 1), {}), ("flip", (x, (0, 2)), {}),
        ("flip", (x,), {}), ("take", (x, np.array([[2, 0], [-1, 1]]), 1), {}),
        ("pad", (x, [(0, 1), (2, 0), (1, 1)], 0.5), {}), ("repeat", (x, 2, 1), {}),
        ("tile", (x, (2, 1, 1)), {}), ("tile", (x, (2,)), {}), ("tile", (rand(3), (2, 2)), {}),
        ("one_hot", (np.array([0, 2, 3, -1]), 3), {}),
        ("one_hot", (np.array([[1]], np.int64), 2, "float64"), {}),
    ]:
        close(*both(name, *args, **kw))
    t, n = both("unstack", x, 1)
    assert len(t) == len(n) == 3
    for a, b in zip(t, n, strict=True):
        close(a, b)
    assert T.dtype(T.concatenate([np.ones(1, np.float16), np.ones(1, np.float32)])) == "float32"
    with pytest.raises(ValueError):
        T.squeeze(x, 1)
    with pytest.raises(ValueError):
        T.take(x, np.array([0.5]))


# --- nn: activations ------------------------------------------------------------------

ACTIVATIONS = [("relu", {}), ("sigmoid", {}), ("softplus", {}), ("softsign", {}),
               ("elu", {}), ("elu", {"alpha": 0.3}), ("selu", {}), ("silu", {}),
               ("hard_sigmoid", {}), ("gelu", {}), ("gelu", {"approximate": True}),
               ("softmax", {}), ("softmax", {"axis": 0}), ("log_softmax", {"axis": 1})]


@pytest.mark.parametrize("name,kw", ACTIVATIONS)
def test_activations_match_numpy_backend_with_gradients(name, kw):
    x = rand(4, 5, low=-4.0, high=4.0)
    # the kinks of relu and hard_sigmoid (selu's gradient at 0 follows tf.nn.selu: see below)
    x[0, :3] = [0.0 if name != "selu" else 0.5, -3.0, 3.0]
    close(*both(name, x, **kw))
    grads_close(lambda B, v: getattr(B, name)(v, **kw), x)
    extreme = np.array([[-1e4, -50.0, 0.0, 50.0, 1e4]], np.float32)
    close(*both(name, extreme, **kw))


def test_selu_gradient_at_zero_takes_the_linear_branch_as_tf_nn_selu():
    _, (g,) = T.value_and_grad(lambda v: T.sum(T.selu(v[0])), [np.zeros(1, np.float64)])
    np.testing.assert_allclose(T.to_numpy(g), [1.0507009873554805], rtol=1e-12)


# --- nn: convolutions and pooling -----------------------------------------------------

CONVS = [  # rank, strides, padding, dilation
    (1, 1, "valid", 1), (1, 2, "same", 1), (1, 2, "same", 2), (1, 3, "valid", 2),
    (2, 1, "same", 1), (2, (2, 1), "valid", 1), (2, 2, "same", 2), (2, (1, 2), "same", (2, 1)),
    (3, 1, "valid", 1), (3, 2, "same", 1), (3, (2, 1, 1), "same", (1, 1, 2)),
]


@pytest.mark.parametrize("rank,strides,padding,dilation", CONVS)
def test_conv_matches_numpy_backend_with_gradients(rank, strides, padding, dilation):
    x, k = rand(2, *(7,) * rank, 3), rand(*(3,) * rank, 3, 4)

    def fn(B, x, k):
        return B.conv(x, k, strides, padding, dilation)

    close(*both("conv", x, k, strides, padding, dilation))
    grads_close(fn, x, k)


@pytest.mark.parametrize("rank,strides,padding,dilation", CONVS)
def test_depthwise_conv_matches_numpy_backend_with_gradients(rank, strides, padding, dilation):
    x, k = rand(2, *(6,) * rank, 3), rand(*(2,) * rank, 3, 2)

    def fn(B, x, k):
        return B.depthwise_conv(x, k, strides, padding, dilation)

    close(*both("depthwise_conv", x, k, strides, padding, dilation))
    grads_close(fn, x, k)


def test_convolutions_of_an_empty_batch_have_the_output_shape():
    # TensorFlow's CPU conv kernels hand back their input for an empty batch
    for name, x, k, args in [
        ("conv", np.zeros((0, 7, 3), np.float32), rand(3, 3, 4), (2, "same", 1)),
        ("conv", np.zeros((0, 7, 7, 3), np.float32), rand(3, 3, 3, 4), (1, "valid", 2)),
        ("conv", np.zeros((0, 5, 5, 5, 3), np.float32), rand(2, 2, 2, 3, 2), (2, "valid", 1)),
        ("depthwise_conv", np.zeros((0, 6, 6, 3), np.float32), rand(3, 3, 3, 2), (1, "valid", 1)),
        ("conv_transpose", np.zeros((0, 4, 4, 3), np.float32), rand(3, 3, 2, 3), (2, "same")),
    ]:
        t, n = both(name, x, k, *args)
        assert T.shape(t) == N.shape(n) and T.shape(t)[-1] in (2, 4, 6)
    empty, kernel = np.zeros((0, 5, 5, 3)), np.ones((3, 3, 3, 2))
    _, (gx, gk) = T.value_and_grad(lambda v: T.sum(T.conv(v[0], v[1], 1, "valid")), [empty, kernel])
    assert T.shape(gx) == (0, 5, 5, 3) and np.array_equal(T.to_numpy(gk), np.zeros((3, 3, 3, 2)))


TRANSPOSES = [  # rank, kernel, strides, padding, output_padding, dilation
    (1, 3, 1, "valid", None, 1), (1, 3, 2, "same", None, 1), (1, 4, 2, "same", None, 1),
    (1, 2, 3, "valid", None, 1), (1, 3, 2, "same", 1, 1), (1, 4, 3, "valid", 2, 1),
    (1, 3, 1, "same", None, 2), (1, 3, 2, "valid", None, 2), (2, 3, (2, 1), "same", None, 1),
    (2, 2, 2, "valid", (1, 0), 1), (2, 3, 1, "same", None, (2, 1)), (3, 2, 2, "same", None, 1),
]


@pytest.mark.parametrize("rank,size,strides,padding,out_pad,dilation", TRANSPOSES)
def test_conv_transpose_matches_numpy_backend(rank, size, strides, padding, out_pad, dilation):
    x, k = rand(2, *(4,) * rank, 3), rand(*(size,) * rank, 2, 3)

    def fn(B, x, k):
        return B.conv_transpose(x, k, strides, padding, out_pad, dilation)

    close(fn(T, x, k), fn(N, x, k))
    grads_close(fn, x, k)


POOLS = [(1, 2, None, "valid"), (1, 3, 2, "same"), (2, (2, 3), 1, "same"),
         (2, 3, 2, "valid"), (3, 2, None, "same"), (3, (2, 1, 3), (1, 2, 2), "valid")]


@pytest.mark.parametrize("name", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("rank,size,strides,padding", POOLS)
@pytest.mark.parametrize("dt", [np.float32, np.float64, np.float16])
def test_pooling_matches_numpy_backend_in_every_dtype(name, rank, size, strides, padding, dt):
    x = rand(2, *(5,) * rank, 3, dtype=dt)
    tol = F32 if dt != np.float16 else {"rtol": 5e-3, "atol": 1e-3}
    t, n = both(name, x, size, strides, padding)
    assert T.dtype(t) == np.dtype(dt).name
    close(t, n, **tol)
    grads_close(lambda B, v: getattr(B, name)(v, size, strides, padding), x, **tol)


def test_max_pool_gradient_goes_to_the_first_maximum():
    x = np.array([[[[1.0], [3.0], [3.0], [0.0]], [[3.0], [2.0], [3.0], [3.0]]]], np.float32)
    x3 = np.repeat(x[:, None], 2, axis=1).astype(np.float64)  # ties across depth too
    for v in (x, x3):
        rank = v.ndim - 2
        grads_close(lambda B, a, r=rank: B.max_pool(a, (2,) * r, (2,) * r, "valid"), v)
    _, (g,) = T.value_and_grad(lambda v: T.sum(T.max_pool(v[0], 2, 2, "valid")), [x])
    assert np.array_equal(T.to_numpy(g)[0, ..., 0], [[0, 1, 1, 0], [0, 0, 0, 0]])


def test_bfloat16_ops_keep_their_dtype_and_stay_close():
    # inputs already representable in bfloat16, so only the computation rounds
    x = T.to_numpy(T.convert_to_tensor(rand(2, 5, 5, 3), "bfloat16")).astype(np.float64)
    k = T.to_numpy(T.convert_to_tensor(rand(3, 3, 3, 2), "bfloat16")).astype(np.float64)
    kt = np.swapaxes(k, 2, 3)
    xb, kb, ktb = (T.convert_to_tensor(a, "bfloat16") for a in (x, k, kt))
    pairs = [
        (T.conv(xb, kb, 1, "same"), N.conv(x, k, 1, "same")),
        (T.depthwise_conv(xb, kb, 1, "same"), N.depthwise_conv(x, k, 1, "same")),
        (T.conv_transpose(xb, ktb, 2, "same"), N.conv_transpose(x, kt, 2, "same")),
        (T.max_pool(xb, 2), N.max_pool(x, 2)),
        (T.avg_pool(xb, 2, 1, "same"), N.avg_pool(x, 2, 1, "same")),
        (T.max_pool(T.reshape(xb, (2, 5, 5, 3, 1)), 2), N.max_pool(x.reshape(2, 5, 5, 3, 1), 2)),
        (T.gelu(xb), N.gelu(x)),
        (T.softmax(xb), N.softmax(x)),
    ]
    for out, ref in pairs:
        assert T.dtype(out) == "bfloat16"
        close(out, ref, rtol=5e-2, atol=1e-1)


@pytest.mark.parametrize("dt", [np.float16, np.float64])
def test_float_dtype_is_preserved(dt):
    x = rand(2, 4, 4, 3, dtype=dt)
    k = rand(2, 2, 3, 2, dtype=dt)
    kt = rand(2, 2, 2, 3, dtype=dt)
    outs = [T.add(x, 1.0), T.exp(x), T.sum(x), T.mean(x, axis=1), T.erf(x), T.relu(x),
            T.softmax(x), T.gelu(x), T.conv(x, k, 1, "same"), T.depthwise_conv(x, k, 2),
            T.conv_transpose(x, kt, 2, "same"), T.max_pool(x, 2), T.avg_pool(x, 2),
            T.logsumexp(x, axis=-1), T.matmul(x, x[0, 0].T)]
    for out in outs:
        assert T.dtype(out) == np.dtype(dt).name
    _, (g,) = T.value_and_grad(lambda v: T.sum(T.conv(v[0], k, 1, "same")), [x])
    assert T.dtype(g) == np.dtype(dt).name


# --- rnn ------------------------------------------------------------------------------


def _step(B, w):
    def step(x_t, states):
        h = B.tanh(B.add(B.matmul(x_t, w), states[0]))
        return h, [h]

    return step


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_matches_numpy_backend_with_gradients(go_backwards, masked):
    x, w, h0 = rand(3, 4, 2), rand(2, 2), rand(3, 2)
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 1], [1, 0, 0, 0]], bool) if masked else None

    def fn(B, x, w, h0, part=1):
        out = B.rnn(_step(B, w), x, [h0], go_backwards=go_backwards, mask=mask)
        return out[part] if part < 2 else out[2][0]

    for part in (0, 1, 2):
        close(fn(T, x, w, h0, part), fn(N, x, w, h0, part))
    grads_close(fn, x, w, h0)


# --- compile --------------------------------------------------------------------------


@pytest.mark.parametrize("options", [{}, {"jit_compile": False}, {"jit_compile": True}])
def test_compile_equals_eager_on_numpy_and_nested_list_arguments(options):
    def forward(xs, ws):
        y = T.conv(xs[0], ws[0], 1, "same")
        y = T.add(T.max_pool(T.relu(y), 2), ws[1])
        return [T.softmax(y), T.sum(T.multiply(xs[1], 2.0))]

    xs = [rand(2, 6, 6, 3), np.arange(4.0)]
    ws = [rand(3, 3, 3, 4), rand(4)]
    compiled = T.compile(forward, **options)
    eager = forward([T.convert_to_tensor(a) for a in xs], [T.convert_to_tensor(w) for w in ws])
    for _ in range(2):  # the second call reuses the trace
        got = compiled(xs, ws)
        assert all(hasattr(g, "numpy") for g in got)  # concrete results
        close(got[0], eager[0])
        assert float(T.to_numpy(got[1])) == 12.0 and T.dtype(got[1]) == "float64"


def test_shape_inside_a_relaxed_trace_names_the_unknown_dimension():
    seen = []
    fn = tf.function(lambda x: seen.append(T.shape(x[0])) or T.shape(x),
                     input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    with pytest.raises(ValueError, match="unknown dimensions"):
        fn(np.ones((2, 3), np.float32))
    assert seen == [(3,)]


def test_compiled_value_and_grad_matches_eager():
    def grad_of(x, w):
        return T.value_and_grad(lambda v: T.sum(T.square(T.matmul(v[0], v[1]))), [x, w])[1]

    x, w = rand(3, 4), rand(4, 2)
    for got, want in zip(T.compile(grad_of)(x, w), grad_of(x, w), strict=True):
        close(got, want)
    with pytest.raises(ValueError):
        T.compile(42)


# --- devices --------------------------------------------------------------------------


def test_devices_and_set_device_placement():
    names = T.device_names()
    assert "cpu:0" in names and all(":" in n for n in names)
    T.set_device("cpu")
    assert T.convert_to_tensor([1.0]).device.endswith("CPU:0")
    assert T.add(np.ones(2), 1.0).device.endswith("CPU:0")
    T.set_device("CPU:0")
    absent = "gpu:99" if "gpu:0" in names else "gpu"
    with pytest.raises(ValueError, match="tensorflow has no device"):
        T.set_device(absent)
    with pytest.raises(ValueError, match="cpu:0"):
        T.set_device("cpu:7")
    with pytest.raises(ValueError):
        T.set_device(0)


def test_configure_virtual_cpus_before_initialisation():
    code = (
        "import harness.reference.backend.tensorflow as T\n"
        "names = T.configure_virtual_cpus(3)\n"
        "T.configure_virtual_cpus(3)\n"
        "T.set_device('cpu:2')\n"
        "dev = T.add(T.convert_to_tensor([1.0]), 1.0).device\n"
        "try:\n"
        "    T.configure_virtual_cpus(2)\n"
        "    late = 'no error'\n"
        "except ValueError as exc:\n"
        "    late = 'already initialised' in str(exc)\n"
        "print(names, dev.endswith('CPU:2'), late)"
    )
    assert _python(code) == "['cpu:0', 'cpu:1', 'cpu:2'] True True"
    with pytest.raises(ValueError):
        T.configure_virtual_cpus(0)


def test_harness_devices_environment_sets_virtual_cpus_at_import():
    code = "import harness.reference.backend.tensorflow as T; print(T.device_names())"
    assert _python(code, HARNESS_DEVICES="2") == "['cpu:0', 'cpu:1']"
    assert _python(code, HARNESS_DEVICES="") == "['cpu:0']"
    with pytest.warns(RuntimeWarning, match="not applied"):
        T.devices.configure_from_environment({"HARNESS_DEVICES": "two"})
    T.device_names()  # starts TensorFlow's runtime in this process
    with pytest.warns(RuntimeWarning, match="already initialised"):
        T.devices.configure_from_environment({"HARNESS_DEVICES": "5"})

