"""The PyTorch backend of the reference library against the NumPy backend (the executable
specification of every op), hand-computed values and its own eager execution."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import harness.reference.backend.numpy as N  # noqa: E402
import harness.reference.backend.torch as T  # noqa: E402
from harness.reference import backend  # noqa: E402
from harness.reference.backend.ops import OPS, check_backend  # noqa: E402

RNG = np.random.default_rng(4321)


def rand(*shape, dtype=np.float64, low=-1.0, high=1.0):
    return RNG.uniform(low, high, size=shape).astype(dtype)


def as_np(x):
    """A torch result as a NumPy array (lists element-wise)."""
    if isinstance(x, (list, tuple)):
        return [as_np(v) for v in x]
    assert isinstance(x, torch.Tensor), f"expected a torch tensor, got {type(x).__name__}"
    return T.to_numpy(x)


def assert_parity(fn, *args, rtol=1e-10, atol=1e-12):
    """``fn(backend, *args)`` gives the same values, shapes and dtypes on torch and NumPy."""
    want = fn(N, *args)
    got = as_np(fn(T, *args))
    wants = want if isinstance(want, list) else [want]
    gots = got if isinstance(got, list) else [got]
    assert len(gots) == len(wants)
    for g, w in zip(gots, wants, strict=True):
        w = np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype, (g.shape, g.dtype, w.shape, w.dtype)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)


# --- interface and import hygiene -----------------------------------------------------


def test_backend_implements_every_op():
    assert check_backend(T) == []
    assert check_backend(backend.load("torch")) == []
    assert sorted(T.__all__) == sorted([*OPS, "EXECUTION", "COMPILE_VARIANTS"])
    assert T.EXECUTION == "eager"
    assert T.COMPILE_VARIANTS and all(isinstance(v, dict) for v in T.COMPILE_VARIANTS.values())


def test_harness_backend_env_selects_torch_and_imports_only_torch():
    code = (
        "import sys, harness.reference\n"
        "assert 'torch' not in sys.modules  # nothing at import harness.reference\n"
        "from harness.reference import backend, layers\n"
        "import numpy as np\n"
        "layer = layers.Dense(2)\n"
        "out = layer(np.ones((3, 4), np.float32))\n"
        "print(backend.name(), type(out).__module__.split('.')[0], tuple(out.shape), "
        "sorted(m for m in ('tensorflow', 'jax', 'theano', 'pytensor', 'autograd') "
        "if m in sys.modules))"
    )
    env = {**os.environ, "HARNESS_BACKEND": "torch"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["torch", "torch", "(3,", "2)", "[]"]


# --- core -------------------------------------------------------------------------------


def test_convert_to_tensor_dtypes():
    assert T.convert_to_tensor(1.5).dtype == torch.float32
    assert T.convert_to_tensor([[1.0, 2.0]]).dtype == torch.float32
    assert T.convert_to_tensor([1, 2]).dtype == torch.int32
    assert T.convert_to_tensor(2**40).dtype == torch.int64  # outside int32 keeps int64
    assert T.convert_to_tensor(True).dtype == torch.bool
    for dt in ("float16", "float32", "float64", "int32", "int64", "bool"):
        assert T.dtype(T.convert_to_tensor(np.zeros(2, dt))) == dt
    assert T.convert_to_tensor(np.zeros(2), "float16").dtype == torch.float16
    assert T.convert_to_tensor(3, dtype="float64").dtype == torch.float64
    scalar = T.convert_to_tensor(np.zeros((), np.int64))
    assert T.shape(scalar) == () and scalar.dtype == torch.int64  # 0-d stays 0-d
    assert T.shape(T.convert_to_tensor(np.float32(2.0))) == ()
    assert np.array_equal(T.to_numpy(T.convert_to_tensor(np.arange(6.0)[::-2])), [5.0, 3.0, 1.0])
    bf = T.convert_to_tensor(np.array([1.0, 2.5, -3.0]), "bfloat16")
    assert bf.dtype == torch.bfloat16 and T.dtype(bf) == "bfloat16"
    back = T.to_numpy(bf)
    assert back.dtype == np.float32 and np.array_equal(back, [1.0, 2.5, -3.0])
    t = T.convert_to_tensor(np.ones(2, np.float64))
    assert T.convert_to_tensor(t) is t and T.convert_to_tensor(t, "float32").dtype == torch.float32
    with pytest.raises(ValueError):
        T.cast(np.ones(2), "complex128")
    assert torch.get_default_dtype() == torch.float32


def test_convert_and_to_numpy_copy():
    arr = np.ones(3, np.float32)
    t = T.convert_to_tensor(arr)
    arr[0] = 7.0  # a later change of the array must not reach the tensor
    back = T.to_numpy(t)
    assert back[0] == 1.0
    back[1] = 5.0  # nor a change of what to_numpy returned (e.g. get_weights)
    assert T.to_numpy(t)[1] == 1.0


def test_core_helpers():
    x = T.convert_to_tensor(np.arange(6, dtype=np.int64).reshape(2, 3))
    assert T.shape(x) == (2, 3) and all(type(d) is int for d in T.shape(x))
    assert T.dtype(x) == "int64" and T.cast(x, "float16").dtype == torch.float16
    assert T.zeros((2, 1)).dtype == torch.float32 and int(T.ones((3,), "int32").sum()) == 3
    assert T.ones((2,), "bfloat16").dtype == torch.bfloat16
    assert T.device_names()[0] == "cpu:0"
    assert type(T.to_numpy(T.sum(x))) is np.ndarray


def test_set_device_rejects_absent_devices_and_places_tensors():
    names = T.device_names()
    with pytest.raises(ValueError, match="torch has no device 'tpu'"):
        T.set_device("tpu")
    with pytest.raises(ValueError, match=r"cpu:0"):
        T.set_device("cpu:3")
    absent = f"gpu:{torch.cuda.device_count()}"
    with pytest.raises(ValueError, match=absent):
        T.set_device(absent)
    if not torch.cuda.is_available():
        assert names == ["cpu:0"]
        with pytest.raises(ValueError, match="torch has no device 'gpu'"):
            T.set_device("gpu")
    try:
        T.set_device("cpu")
        assert T.zeros((1,)).device.type == "cpu"
        if torch.cuda.is_available():
            T.set_device("gpu")
            assert T.convert_to_tensor(np.ones(2)).device.type == "cuda"
            assert T.ones((2,)).device == torch.device("cuda", 0)
    finally:
        T.set_device("cpu:0")
    assert T.convert_to_tensor(np.ones(2)).device.type == "cpu"


def test_weak_scalars_take_the_tensor_dtype():
    half = T.convert_to_tensor(np.ones(2, np.float16))
    assert T.multiply(half, 0.5).dtype == torch.float16
    assert T.add(np.float64(1.0), half).dtype == torch.float16
    ints = T.convert_to_tensor(np.array([1, 2], np.int32))
    assert T.add(ints, 1).dtype == torch.int32
    assert T.multiply(ints, 0.5).dtype == torch.float32
    assert T.add(T.convert_to_tensor(np.array([True])), 1).dtype == torch.int32
    assert T.add(1.0, 2.0).dtype == torch.float32
    # two tensors follow NumPy's promotion
    f32 = T.convert_to_tensor(np.ones(2, np.float32))
    assert T.add(f32, np.ones(2, np.float64)).dtype == torch.float64
    assert T.divide(ints, ints).dtype == torch.float32


# --- ops against the NumPy backend ----------------------------------------------------------

X = rand(3, 4)
Y = rand(4, low=0.5, high=2.0)
POS = rand(3, 4, low=0.1, high=3.0)

ELEMENTWISE = {
    "negative": lambda B: B.negative(X),
    "square": lambda B: B.square(X),
    "sqrt": lambda B: B.sqrt(POS),
    "exp": lambda B: B.exp(X),
    "log": lambda B: B.log(POS),
    "log1p": lambda B: B.log1p(POS),
    "abs": lambda B: B.abs(X),
    "sign": lambda B: B.sign(np.array([-2.0, 0.0, 3.0])),
    "tanh": lambda B: B.tanh(X),
    "erf": lambda B: B.erf(np.linspace(-4, 4, 33)),
    "add": lambda B: B.add(X, Y),
    "subtract": lambda B: B.subtract(X, 2.5),
    "multiply": lambda B: B.multiply(3, X),
    "divide": lambda B: B.divide(X, Y),
    "divide_int": lambda B: B.divide(np.array([1, 2], np.int32), np.array([2, 4], np.int32)),
    "power": lambda B: B.power(POS, Y),
    "maximum": lambda B: B.maximum(X, np.array([0.0, np.nan, 0.5, -2.0])),
    "minimum": lambda B: B.minimum(np.array([np.nan, 1.0]), np.array([0.0, np.nan])),
    "clip": lambda B: B.clip(X, -0.5, 0.25),
    "where": lambda B: B.where(X > 0, X, -1.0),
    "sqrt_int": lambda B: B.sqrt(np.array([4, 9], np.int64)),
}
LOGIC = {
    name: (lambda B, n=name: getattr(B, n)(np.array([1, 2, 3], np.int32), 2))
    for name in ("equal", "not_equal", "greater", "greater_equal", "less", "less_equal")
}
LOGIC.update(
    {
        "logical_and": lambda B: B.logical_and(np.array([True, True, False]), np.array([1, 0, 1])),
        "logical_or": lambda B: B.logical_or(np.array([True, False, False]), np.array([0, 0, 1])),
        "logical_not": lambda B: B.logical_not(np.array([0.0, 2.0])),
        "isnan": lambda B: B.isnan(np.array([0.0, np.nan])),
        "any": lambda B: B.any(X > 0.5, axis=1),
        "all": lambda B: B.all(X > -2, axis=(0, 1), keepdims=True),
        "all_flat": lambda B: B.all(X > 0),
    }
)
X3 = rand(2, 3, 4)
M3, M42 = rand(2, 4, 5), rand(4, 2)
REDUCTIONS = {
    f"{name}-{axis}-{keep}": (lambda B, n=name, a=axis, k=keep: getattr(B, n)(X3, a, k))
    for name in ("sum", "mean", "max", "min", "logsumexp")
    for axis, keep in [(None, False), (1, False), ((0, 2), True), (-1, True), ((), False)]
}
REDUCTIONS.update(
    {
        "sum_int32": lambda B: B.sum(np.array([[1, 2], [3, 4]], np.int32), axis=0),
        "sum_bool": lambda B: B.sum(np.array([True, True, False])),
        "mean_int": lambda B: B.mean(np.array([1, 2], np.int32)),
        "argmax": lambda B: B.argmax(np.array([[1, 5, 5], [7, 0, 7]], np.int32)),
        "argmax_axis0_nan": lambda B: B.argmax(np.array([[2.0, np.nan], [9.0, 1.0]]), axis=0),
        "logsumexp_inf": lambda B: B.logsumexp(
            np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [0.0, np.log(3.0)]]), axis=1
        ),
        "matmul": lambda B: B.matmul(X3, M3),
        "matmul_promote": lambda B: B.matmul(X.astype(np.float32), M42),
        "einsum": lambda B: B.einsum("bij,jk->bik", X3, M42),
    }
)
ARRAYS = {
    "reshape": lambda B: B.reshape(X3, (3, -1)),
    "transpose": lambda B: B.transpose(X3, (2, 0, 1)),
    "transpose_all": lambda B: B.transpose(X3),
    "concatenate": lambda B: B.concatenate([X3, X3[:, :1]], axis=1),
    "stack": lambda B: B.stack([X, X], axis=-1),
    "expand_dims": lambda B: B.expand_dims(X3, -1),
    "squeeze": lambda B: B.squeeze(X3[:, :1], 1),
    "squeeze_all": lambda B: B.squeeze(np.ones((1, 2, 1))),
    "slice_axis": lambda B: B.slice_axis(X3, -1, 1, 3),
    "flip": lambda B: B.flip(X3, (0, 2)),
    "take": lambda B: B.take(
        np.arange(12, dtype=np.int32).reshape(3, 4), np.array([[2, 0], [-1, 1]])
    ),
    "take_axis1": lambda B: B.take(X3, np.array([3, 0]), axis=2),
    "pad": lambda B: B.pad(np.ones((1, 2)), [(0, 1), (2, 0)], value=-5.0),
    "pad_int": lambda B: B.pad(np.ones((2,), np.int64), [(1, 1)]),
    "repeat": lambda B: B.repeat(X3, 2, axis=1),
    "tile": lambda B: B.tile(X, (2, 1)),
    "one_hot": lambda B: B.one_hot(np.array([[0, 2], [3, -1]], np.int32), 3),
    "one_hot_f64": lambda B: B.one_hot(np.array([1, 0]), 2, "float64"),
    "unstack": lambda B: list(B.unstack(X3, axis=1)),
}
ACT = np.array([-1000.0, -3.0, -1.0, -0.25, 0.0, 0.5, 1.5, 3.0, 4.0, 25.0, 1000.0])
ACTIVATIONS = {
    name: (lambda B, n=name: getattr(B, n)(ACT))
    for name in (
        "relu",
        "sigmoid",
        "softplus",
        "softsign",
        "elu",
        "selu",
        "silu",
        "hard_sigmoid",
        "gelu",
    )
}
ACTIVATIONS.update(
    {
        "elu_alpha": lambda B: B.elu(ACT, 0.5),
        "gelu_tanh": lambda B: B.gelu(ACT, approximate=True),
        "softmax": lambda B: B.softmax(np.array([[1000.0, 1000.0, -1000.0], [1.0, 2.0, 3.0]])),
        "softmax_axis0": lambda B: B.softmax(X, axis=0),
        "log_softmax": lambda B: B.log_softmax(np.array([[1000.0, 0.0], [0.5, -0.5]])),
        "relu_nan": lambda B: B.relu(np.array([np.nan, -1.0])),
    }
)
GROUPS = {
    "elementwise": ELEMENTWISE,
    "logic": LOGIC,
    "reductions": REDUCTIONS,
    "arrays": ARRAYS,
    "activations": ACTIVATIONS,
}


@pytest.mark.parametrize("group,name", [(g, n) for g, ops in GROUPS.items() for n in sorted(ops)])
def test_op_matches_numpy_backend(group, name):
    assert_parity(GROUPS[group][name])


@pytest.mark.parametrize("name", ["add", "exp", "tanh", "divide", "maximum"])
def test_elementwise_float32_parity(name):
    # float32 inputs: same dtype out, values within float32 rounding
    a, b = X.astype(np.float32), Y.astype(np.float32)
    fn = (
        (lambda B: getattr(B, name)(a, b))
        if name in ("add", "divide", "maximum")
        else (lambda B: getattr(B, name)(a))
    )
    assert_parity(fn, rtol=1e-6, atol=1e-7)


# --- convolutions and pooling against the NumPy backend ---------------------------------------

CONV_CASES = list(itertools.product(["valid", "same"], [1, 2], [1, 2], [1, 2, 3]))


@pytest.mark.parametrize("padding,stride,dilation,rank", CONV_CASES)
def test_conv_and_depthwise_match_numpy(padding, stride, dilation, rank):
    x = rand(2, *([7, 6, 5][:rank]), 3)
    kernel = rand(*([3, 2, 2][:rank]), 3, 4)
    assert_parity(lambda B: B.conv(x, kernel, stride, padding, dilation))
    dw = rand(*([3, 2, 2][:rank]), 3, 2)
    assert_parity(lambda B: B.depthwise_conv(x, dw, stride, padding, dilation))


TRANSPOSE_CASES = [
    # (length, kernel, stride, padding, output_padding, dilation)
    (5, 3, 2, "valid", None, 1),
    (5, 3, 2, "same", None, 1),
    (5, 3, 2, "same", 1, 1),
    (5, 3, 2, "same", 0, 1),
    (5, 3, 2, "valid", 1, 1),
    (5, 2, 3, "valid", None, 1),
    (4, 1, 3, "valid", 2, 1),
    (4, 4, 1, "same", None, 1),
    (6, 3, 1, "same", None, 2),
    (3, 2, 2, "valid", 0, 1),
]


@pytest.mark.parametrize("length,k,s,padding,out_pad,d", TRANSPOSE_CASES)
@pytest.mark.parametrize("rank", [1, 2])
def test_conv_transpose_matches_numpy(length, k, s, padding, out_pad, d, rank):
    x = rand(2, *([length, length - 1][:rank]), 3)
    kernel = rand(*([k] * rank), 4, 3)
    op = None if out_pad is None else (out_pad,) * rank
    assert_parity(lambda B: B.conv_transpose(x, kernel, s, padding, op, d))


def test_conv_transpose_3d_hand_example_and_errors():
    x = np.array([1.0, 2.0]).reshape(1, 2, 1)
    out = T.conv_transpose(x, np.ones((3, 1, 1)), 2, "valid")
    assert np.array_equal(T.to_numpy(out).ravel(), [1, 1, 3, 2, 2])
    x, kernel = rand(1, 3, 4, 2, 2), rand(2, 2, 3, 2, 2)
    assert_parity(lambda B: B.conv_transpose(x, kernel, (2, 1, 2), "same"))
    with pytest.raises(ValueError):
        T.conv_transpose(rand(1, 3, 2), rand(2, 2, 5), 1, "valid")


POOL_CASES = list(itertools.product(["valid", "same"], [(2, 2), (3, 2), (3, 1)], [1, 2, 3]))


@pytest.mark.parametrize("padding,size_stride,rank", POOL_CASES)
def test_pooling_matches_numpy(padding, size_stride, rank):
    size, stride = size_stride
    x = rand(2, *([7, 6, 5][:rank]), 3)
    assert_parity(lambda B: B.max_pool(x, size, stride, padding))
    assert_parity(lambda B: B.avg_pool(x, size, stride, padding))


def test_avg_pool_same_divides_by_real_cells_only():
    x = np.arange(1.0, 6.0).reshape(1, 5, 1)  # windows of 2, stride 2: [1,2] [3,4] [5]
    out = T.to_numpy(T.avg_pool(x, 2, 2, "same")).ravel()
    assert np.array_equal(out, [1.5, 3.5, 5.0])
    out = T.to_numpy(T.max_pool(-x, 2, 2, "same")).ravel()
    assert np.array_equal(out, [-1.0, -3.0, -5.0])  # padding is -inf, not 0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_pooling_and_conv_keep_dtype(dtype):
    x = T.convert_to_tensor(rand(1, 4, 5, 3, 2), dtype)
    for out in (
        T.avg_pool(x, 2, 1, "same"),
        T.max_pool(x, 2, 1, "same"),
        T.conv(x, T.convert_to_tensor(rand(2, 2, 2, 2, 3), dtype), 1, "same", 1),
    ):
        assert out.dtype == x.dtype
    ref = N.avg_pool(T.to_numpy(x).astype(np.float64), 2, 1, "same")
    np.testing.assert_allclose(T.to_numpy(T.avg_pool(x, 2, 1, "same")), ref, rtol=2e-2, atol=2e-2)


def test_window_errors_are_value_errors():
    with pytest.raises(ValueError):
        T.conv(rand(1, 4, 5, 3, 2), rand(2, 3, 2, 2, 3), 1, "full", 1)
    with pytest.raises(ValueError):
        T.conv(rand(1, 4, 2), rand(2, 5, 3), 1, "valid", 1)
    with pytest.raises(ValueError, match="does not fit"):
        T.max_pool(rand(1, 2, 2), 3, 1, "valid")
    with pytest.raises(ValueError):
        T.avg_pool(rand(2, 3), 2)


# --- gradients against the NumPy backend ------------------------------------------------------


def grad_parity(loss, values, rtol=1e-9, atol=1e-11):
    """value_and_grad of ``loss(backend, tensors)`` agrees between torch and NumPy."""
    want_value, want_grads = N.value_and_grad(lambda v: loss(N, v), values)
    got_value, got_grads = T.value_and_grad(lambda v: loss(T, v), values)
    assert isinstance(got_value, torch.Tensor) and not got_value.requires_grad
    np.testing.assert_allclose(T.to_numpy(got_value), want_value, rtol=rtol, atol=atol)
    for g, w, v in zip(got_grads, want_grads, values, strict=True):
        assert isinstance(g, torch.Tensor) and T.dtype(g) == N.dtype(v)
        np.testing.assert_allclose(T.to_numpy(g), w, rtol=rtol, atol=atol)


A = rand(3, 4)
B4 = rand(4, low=0.5, high=2.0)
TIES = np.array([[1.0, 2.0, 2.0, 0.0], [0.0, 0.0, -1.0, 3.0], [5.0, 1.0, 1.0, 5.0]])
GRAD_LOSSES = {
    "arith": lambda B, v: B.sum(B.divide(B.multiply(B.add(v[0], 1.0), v[1]), B.add(v[1], 3.0))),
    "power_exp_log": lambda B, v: B.sum(B.add(B.power(B.abs(v[0]), v[1]), B.log1p(B.exp(v[0])))),
    "sqrt_tanh_erf": lambda B, v: B.sum(B.multiply(B.sqrt(v[1]), B.erf(B.tanh(v[0])))),
    "max_min_ties": lambda B, v: B.sum(
        B.add(B.maximum(v[0], B.multiply(v[0], 1.0)), B.minimum(v[1], 1.0))
    ),
    "clip_bounds": lambda B, v: B.sum(B.clip(v[0], -0.5, 0.5)),
    "where": lambda B, v: B.sum(B.where(B.greater(v[0], 0.0), B.square(v[0]), v[1])),
    "reduce_max_ties": lambda B, v: B.add(
        B.sum(B.multiply(B.max(v[0], axis=1), v[1][:3])), B.sum(B.min(v[0], axis=0, keepdims=True))
    ),
    "mean_lse": lambda B, v: B.add(B.mean(v[0]), B.sum(B.logsumexp(v[0], axis=0))),
    "matmul_einsum": lambda B, v: B.sum(
        B.einsum(
            "ij,j->i", B.matmul(v[0], B.transpose(B.reshape(B.tile(v[1], (3,)), (3, 4)))), v[1][:3]
        )
    ),
    "array_ops": lambda B, v: B.sum(
        B.multiply(
            B.concatenate(
                [B.flip(v[0], 1), B.pad(B.slice_axis(v[0], 1, 0, 2), [(0, 0), (1, 1)], 2.0)], axis=0
            ),
            B.stack([v[1]] * 6),
        )
    ),
    "take_repeat_unstack": lambda B, v: B.sum(
        B.add(
            B.take(B.repeat(v[0], 2, axis=0), np.array([5, 0, 0]), axis=0),
            B.unstack(v[0], axis=0)[1],
        )
    ),
    "activations": lambda B, v: B.sum(
        B.add(
            B.add(B.relu(v[0]), B.sigmoid(v[0])),
            B.add(
                B.softplus(v[0]),
                B.add(
                    B.softsign(v[0]),
                    B.add(
                        B.elu(v[0], 0.7),
                        B.add(
                            B.selu(v[0]),
                            B.add(
                                B.silu(v[0]),
                                B.add(
                                    B.hard_sigmoid(v[0]), B.add(B.gelu(v[0]), B.gelu(v[0], True))
                                ),
                            ),
                        ),
                    ),
                ),
            ),
        )
    ),
    "softmax": lambda B, v: B.sum(B.multiply(B.softmax(v[0], axis=0), B.log_softmax(v[0]))),
    "stop_gradient": lambda B, v: B.sum(B.multiply(v[0], B.stop_gradient(v[0]))),
    "cast_roundtrip": lambda B, v: B.sum(
        B.cast(B.multiply(B.cast(v[0], "float32"), 2.0), "float64")
    ),
}


@pytest.mark.parametrize("name", sorted(GRAD_LOSSES))
def test_gradients_match_numpy_backend(name):
    first = TIES if name.endswith("ties") else A
    grad_parity(GRAD_LOSSES[name], [first, B4 if name != "where" else rand(3, 4)])


def test_relu_and_abs_gradient_zero_at_zero_and_hard_sigmoid_kinks():
    x = np.array([-1.0, 0.0, 2.0])
    _, (g,) = T.value_and_grad(lambda v: T.sum(T.relu(v[0])), [x])
    assert np.array_equal(T.to_numpy(g), [0.0, 0.0, 1.0])
    _, (g,) = T.value_and_grad(lambda v: T.sum(T.abs(v[0])), [x])
    assert np.array_equal(T.to_numpy(g), [-1.0, 0.0, 1.0])
    _, (g,) = T.value_and_grad(lambda v: T.sum(T.hard_sigmoid(v[0])), [np.array([-3.0, 0.0, 3.0])])
    assert np.allclose(T.to_numpy(g), [0.0, 1 / 6, 0.0])


def test_maximum_gradient_goes_to_first_argument_at_ties():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([1.0, 5.0, 3.0])
    _, (ga, gb) = T.value_and_grad(lambda v: T.sum(T.maximum(v[0], v[1])), [a, b])
    assert np.array_equal(T.to_numpy(ga), [1, 0, 1]) and np.array_equal(T.to_numpy(gb), [0, 1, 0])
    _, (ga, gb) = T.value_and_grad(lambda v: T.sum(T.minimum(v[0], v[1])), [a, b])
    assert np.array_equal(T.to_numpy(ga), [1, 1, 1]) and np.array_equal(T.to_numpy(gb), [0, 0, 0])


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_window_gradients_match_numpy(rank, padding):
    x = rand(2, *([5, 4, 3][:rank]), 2)
    kernel, dw, tk = rand(*([2] * rank), 2, 3), rand(*([2] * rank), 2, 2), rand(*([3] * rank), 3, 2)
    grad_parity(lambda B, v: B.sum(B.multiply(B.conv(v[0], v[1], 2, padding, 1), 0.5)), [x, kernel])
    grad_parity(
        lambda B, v: B.sum(B.depthwise_conv(v[0], v[1], 1, padding, 2 if padding == "same" else 1)),
        [x, dw],
    )
    grad_parity(lambda B, v: B.sum(B.square(B.conv_transpose(v[0], v[1], 2, padding))), [x, tk])
    grad_parity(lambda B, v: B.sum(B.square(B.avg_pool(v[0], 2, 2, padding))), [x])
    grad_parity(lambda B, v: B.sum(B.square(B.max_pool(v[0], (3,) * rank, 2, padding))), [x])


def test_max_pool_gradient_goes_to_first_maximum():
    x = np.array([3.0, 3.0, 1.0, 2.0, 2.0]).reshape(1, 5, 1)
    _, (g,) = T.value_and_grad(lambda v: T.sum(T.max_pool(v[0], 2, 1, "valid")), [x])
    # windows [3 3] [3 1] [1 2] [2 2]: a last-maximum rule would give [0, 2, 0, 1, 1]
    assert np.array_equal(T.to_numpy(g).ravel(), [1.0, 1.0, 0.0, 2.0, 0.0])


def test_value_and_grad_conventions():
    seen = {}

    def loss(values):
        w, idx = values
        seen["value"], seen["shape"] = T.to_numpy(w), T.shape(w)
        out = T.sum(T.square(w))
        return out, {"pair": (T.multiply(w, 2.0), [idx]), "n": 3}

    w = np.array([1.0, -2.0], np.float32)
    (value, aux), (gw, gi) = T.value_and_grad(loss, [w, np.array([1, 2], np.int64)], has_aux=True)
    assert type(seen["value"]) is np.ndarray and np.array_equal(seen["value"], w)
    assert seen["shape"] == (2,)
    assert float(value) == 5.0 and gw.dtype == torch.float32
    assert np.array_equal(T.to_numpy(gw), [2.0, -4.0])
    assert gi.dtype == torch.int64 and np.array_equal(T.to_numpy(gi), [0, 0])
    assert aux["n"] == 3 and isinstance(aux["pair"], tuple) and isinstance(aux["pair"][1], list)
    assert not aux["pair"][0].requires_grad and np.array_equal(T.to_numpy(aux["pair"][0]), [2, -4])
    # a loss that ignores an input gives zeros for it; inputs are not modified
    original = T.convert_to_tensor(np.array([1.0, 2.0]))
    _, (g0, g1) = T.value_and_grad(lambda v: T.sum(v[0]), [original, np.ones(3)])
    assert np.array_equal(T.to_numpy(g1), [0.0, 0.0, 0.0]) and not original.requires_grad
    with pytest.raises(ValueError):
        T.value_and_grad(lambda v: T.multiply(v[0], 2.0), [np.ones(3)])
    with pytest.raises(ValueError):
        T.value_and_grad(lambda v: T.sum(v[0]), [np.ones(3)], has_aux=True)


def test_gradients_keep_half_precision_dtypes():
    for dtype in ("float16", "bfloat16"):
        x = T.convert_to_tensor(np.array([0.5, -1.0, 2.0]), dtype)
        value, (g,) = T.value_and_grad(lambda v: T.sum(T.multiply(T.tanh(v[0]), 3.0)), [x])
        assert g.dtype == x.dtype and value.dtype == x.dtype
        want = 3.0 * (1 - np.tanh(T.to_numpy(x).astype(np.float64)) ** 2)
        np.testing.assert_allclose(T.to_numpy(g), want, rtol=5e-2 if dtype == "bfloat16" else 5e-3)


# --- dtype preservation ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_ops_preserve_float_dtypes(dtype):
    x = T.convert_to_tensor(rand(2, 5, 3), dtype)
    k = T.convert_to_tensor(rand(2, 3, 4), dtype)
    outs = [
        T.add(x, 1.0),
        T.multiply(0.5, x),
        T.divide(x, 3),
        T.exp(x),
        T.erf(x),
        T.maximum(x, 0.0),
        T.clip(x, -0.1, 0.1),
        T.where(T.greater(x, 0.0), x, 0.0),
        T.sum(x, 1),
        T.mean(x),
        T.max(x),
        T.logsumexp(x, -1),
        T.matmul(x, T.transpose(x, (0, 2, 1))),
        T.einsum("btc,tcd->btd", x, T.convert_to_tensor(rand(5, 3, 2), dtype)),
        T.relu(x),
        T.sigmoid(x),
        T.softplus(x),
        T.selu(x),
        T.gelu(x),
        T.hard_sigmoid(x),
        T.softmax(x),
        T.log_softmax(x),
        T.conv(x, k, 1, "same", 1),
        T.depthwise_conv(x, k[..., :2], 2, "same", 1),
        T.conv_transpose(x, T.convert_to_tensor(rand(3, 2, 3), dtype), 2, "same"),
        T.max_pool(x, 2, 2, "same"),
        T.avg_pool(x, 2, 2, "same"),
        T.pad(x, [(0, 0)] * 3),
    ]
    assert [T.dtype(o) for o in outs] == [dtype] * len(outs)
    assert T.dtype(T.argmax(x)) == "int64" and T.dtype(T.isnan(x)) == "bool"
    assert T.to_numpy(x).dtype == (np.float32 if dtype == "bfloat16" else np.dtype(dtype))


def test_float64_is_kept_from_numpy_and_default_stays_float32():
    x = T.convert_to_tensor(rand(2, 2))
    assert x.dtype == torch.float64 and T.zeros((1,)).dtype == torch.float32
    assert T.exp(np.array([1, 2], np.int32)).dtype == torch.float32


# --- rnn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_rnn_matches_numpy_with_masks_and_gradients(go_backwards, masked):
    x, w, u = rand(3, 4, 2), rand(2, 3), rand(3, 3)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]], bool) if masked else None

    def run(B, v):
        def step(x_t, states):
            h = B.tanh(B.add(B.matmul(x_t, v[1]), B.matmul(states[0], v[2])))
            return h, [h]

        last, outputs, states = B.rnn(step, v[0], [B.zeros((3, 3), "float64")], go_backwards, mask)
        return last, outputs, states[0]

    assert_parity(lambda B: list(run(B, [x, w, u])))
    grad_parity(lambda B, v: B.sum(B.multiply(run(B, v)[1], 1.5)), [x, w, u])


# --- compile -----------------------------------------------------------------------------------


def block(xs, w):
    """A small layer-like function: dense, activation, pooling, reduction."""
    h = T.gelu(T.add(T.matmul(xs[0], w), 0.5))
    pooled = T.avg_pool(T.reshape(h, (2, 3, 4)), 2, 1, "same")
    return [T.softmax(pooled), T.sum(T.maximum(xs[1], 0.0), axis=0)]


def test_compile_equals_eager_on_numpy_arguments():
    xs = [rand(6, 5, dtype=np.float32), rand(3, 2, dtype=np.float32)]
    w = rand(5, 4, dtype=np.float32)
    eager = block([T.convert_to_tensor(a) for a in xs], T.convert_to_tensor(w))
    compiled = T.compile(block)
    assert T.compile(block) is compiled  # cached: a second compile would retrace
    got = compiled(xs, w)
    for g, e in zip(got, eager, strict=True):
        assert isinstance(g, torch.Tensor) and g.dtype == e.dtype
        np.testing.assert_allclose(T.to_numpy(g), T.to_numpy(e), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", [{"backend": "eager"}, {"backend": "aot_eager"}])
def test_compile_options_and_closures_compile_separately(options):
    def make(scale):
        def fn(x):
            return T.multiply(T.conv(x, np.ones((2, 1, 1)), 1, "same", 1), scale)

        return fn

    x = np.arange(4.0).reshape(1, 4, 1)
    # twelve closures of one def: each must compute its own scale, none may fall back to a
    # stale graph of another
    for scale in range(12):
        out = T.compile(make(float(scale)), **options)(x)
        assert np.array_equal(T.to_numpy(out).ravel(), scale * np.array([1.0, 3.0, 5.0, 3.0]))
    with pytest.raises(ValueError):
        T.compile(3)
