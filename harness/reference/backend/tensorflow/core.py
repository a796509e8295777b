"""TensorFlow backend, core: tensors and conversion, dtypes, autodiff, compile, array ops.

The tensor type is ``tf.Tensor`` (eager, or symbolic inside ``compile``); gradients come from
``tf.GradientTape``, compiled functions from ``tf.function`` (with XLA when asked). Tensors and
ops are placed on the device chosen by ``devices.set_device`` (TensorFlow's default until then).
TensorFlow mixes no dtypes by itself: ``pair`` and ``common`` apply the NumPy backend's rules.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from harness.reference.backend.common.dtypes import (
    DEFAULT_FLOAT,
    DEFAULT_INT,
    standardize_dtype,
)
from harness.reference.backend.tensorflow.devices import placed, placement

# float32 matmuls and convolutions in full float32 on GPUs: TensorFlow uses TF32 on Ampere+
# by default, whose 10-bit mantissa would miss the float32 oracle tolerance
tf.config.experimental.enable_tensor_float_32_execution(False)

_TF_DTYPES = {
    "bool": tf.bool,
    "int32": tf.int32,
    "int64": tf.int64,
    "float16": tf.float16,
    "bfloat16": tf.bfloat16,
    "float32": tf.float32,
    "float64": tf.float64,
}
_INT32 = np.iinfo(np.int32)

#: the options ``compile`` is run with by the conformance ``compiled`` check: graph and XLA
COMPILE_VARIANTS = {"tf.function": {"jit_compile": False}, "xla": {"jit_compile": True}}


def tf_dtype(dtype: Any) -> tf.DType:
    """TensorFlow dtype of an interface dtype name (or of a tf.DType / NumPy dtype)."""
    if isinstance(dtype, tf.DType):
        dtype = dtype.name
    return _TF_DTYPES[standardize_dtype(dtype)]


def is_tensor(x: Any) -> bool:
    """True for a backend tensor: a tf.Tensor (eager or symbolic) or a tf.Variable."""
    return isinstance(x, (tf.Tensor, tf.Variable))


def _holds_tensor(x: Any) -> bool:
    if is_tensor(x):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_tensor, x))


def _holds_numpy(x: Any) -> bool:
    # numpy values carry their own dtype; only pure Python data gets the defaults
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_numpy, x))


@placed
def convert_to_tensor(x: Any, dtype: Any = None) -> Any:
    """Return ``x`` as a tensor; Python floats become float32 and ints int32 unless ``dtype``
    is given; a NumPy array or tensor keeps its dtype unless ``dtype`` is given."""
    target = None if dtype is None else tf_dtype(dtype)
    if is_tensor(x):
        x = tf.convert_to_tensor(x)  # a Variable reads its value
        return x if target is None or x.dtype == target else cast(x, target)
    if isinstance(x, (list, tuple)) and any(map(_holds_tensor, x)):
        # a list holding tensors (perhaps watched by a tape): stack them so gradients flow
        return tf.stack([convert_to_tensor(item, dtype) for item in x])
    if target is not None:
        if target == tf.bfloat16:
            return tf.cast(tf.constant(np.asarray(x, dtype=np.float32)), tf.bfloat16)
        return tf.constant(np.asarray(x, dtype=target.as_numpy_dtype))
    arr = np.asarray(x)
    if not _holds_numpy(x):
        if arr.dtype.kind == "f":
            arr = arr.astype(np.dtype(DEFAULT_FLOAT))
        elif arr.dtype.kind == "i" and (
            arr.size == 0 or _INT32.min <= arr.min() <= arr.max() <= _INT32.max
        ):
            arr = arr.astype(np.dtype(DEFAULT_INT))
    if arr.dtype.kind not in "biuf" and arr.dtype.name != "bfloat16":
        raise TypeError(f"cannot convert {type(x).__name__} of dtype {arr.dtype} to a tensor")
    standardize_dtype(arr.dtype)  # ValueError for dtypes outside the interface (uint8, ...)
    return tf.constant(arr)


def tensor(x: Any) -> Any:
    """``x`` unchanged when it is a tf.Tensor, else converted with the default dtypes."""
    return x if isinstance(x, tf.Tensor) else convert_to_tensor(x)


def float_tensor(x: Any) -> Any:
    """``x`` as a tensor, integer and bool tensors cast to float32 (for float-only math)."""
    x = tensor(x)
    return x if x.dtype.is_floating else tf.cast(x, tf.float32)


def result_dtype(a: tf.DType, b: tf.DType) -> tf.DType:
    """The dtype two tensors of dtypes ``a`` and ``b`` compute in (NumPy's promotion; bfloat16
    beside an integer stays bfloat16 and beside float16 becomes float32)."""
    if a == b:
        return a
    if tf.bfloat16 in (a, b):
        other = b if a == tf.bfloat16 else a
        if other.is_floating:
            return tf.float32 if other == tf.float16 else other
        return tf.bfloat16
    return tf.as_dtype(np.result_type(a.as_numpy_dtype, b.as_numpy_dtype))


def common(xs: Sequence[Any]) -> list[Any]:
    """The tensors ``xs`` cast to their common dtype (``result_dtype`` folded over them)."""
    ts = [tensor(x) for x in xs]
    if not ts:
        return ts
    target = functools.reduce(result_dtype, [t.dtype for t in ts])
    return [t if t.dtype == target else tf.cast(t, target) for t in ts]


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.generic))


def pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Operands of a binary op as tensors of a common dtype.

    A Python or NumPy scalar beside a tensor is weak: it takes the tensor's dtype (so a
    float16 tensor times 0.5 stays float16), except that a float scalar beside an integer or
    bool tensor makes both float32. Two tensors follow NumPy promotion.
    """
    a_scalar, b_scalar = _is_scalar(a), _is_scalar(b)
    if a_scalar == b_scalar:
        return tuple(common([a, b]))  # type: ignore[return-value]
    if b_scalar:
        return _with_weak(tensor(a), b)
    t, s = _with_weak(tensor(b), a)
    return s, t


def _with_weak(t: Any, s: Any) -> tuple[Any, Any]:
    """(tensor, other) with ``other`` a scalar made to match the tensor's dtype."""
    s_kind = np.asarray(s).dtype.kind
    if s_kind == "f" and not t.dtype.is_floating:
        t = tf.cast(t, tf.float32)
    elif s_kind in "iu" and t.dtype == tf.bool:
        t = tf.cast(t, tf.int32)
    return t, tf.cast(tf.constant(np.asarray(s)), t.dtype)


def to_numpy(x: Any) -> np.ndarray:
    """The value of ``x`` as an ndarray (bfloat16 comes back as float32); inside ``compile``
    only values TensorFlow can fold to constants have one (ValueError otherwise)."""
    if isinstance(x, tf.Variable):
        x = x.value()
    if isinstance(x, tf.Tensor):
        if hasattr(x, "numpy"):
            value = x.numpy()
        else:
            value = tf.get_static_value(x)
            if value is None:
                raise ValueError(
                    "to_numpy has no value for a symbolic tensor inside a compiled function"
                )
        value = np.asarray(value)
        return value.astype(np.float32) if x.dtype == tf.bfloat16 else value
    return np.asarray(x)


@placed
def cast(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype`` (differentiable between float dtypes)."""
    target = tf_dtype(dtype)
    x = tensor(x)
    return x if x.dtype == target else tf.cast(x, target)


def shape(x: Any) -> tuple[int, ...]:
    """Static shape of ``x`` as a tuple of ints; ValueError for a dimension unknown while
    tracing (``compile`` traces once per concrete shape, so it never has one)."""
    if not is_tensor(x):
        return tuple(int(d) for d in np.shape(x))
    dims = tuple(x.shape)
    if any(d is None for d in dims):
        raise ValueError(f"shape of a tensor with unknown dimensions {dims} (a relaxed trace)")
    return tuple(int(d) for d in dims)


def dtype(x: Any) -> str:
    """Interface dtype name of ``x`` (e.g. ``"float32"``)."""
    return standardize_dtype(tensor(x).dtype.name)


@placed
def zeros(shape: Sequence[int], dtype: Any = "float32") -> Any:
    """A tensor of zeros."""
    return tf.zeros(tuple(shape), dtype=tf_dtype(dtype))


@placed
def ones(shape: Sequence[int], dtype: Any = "float32") -> Any:
    """A tensor of ones."""
    return tf.ones(tuple(shape), dtype=tf_dtype(dtype))


@placed
def stop_gradient(x: Any) -> Any:
    """``x`` with no gradient flowing back through it."""
    return tf.stop_gradient(tensor(x))


# --- autodiff and compile -------------------------------------------------------------


@placed
def value_and_grad(
    fn: Callable[[list[Any]], Any], values: Sequence[Any], has_aux: bool = False
) -> Any:
    """Evaluate ``fn(values)`` and its gradient with respect to each of ``values``.

    ``fn`` takes a list of tensors and returns a scalar (or ``(scalar, aux)`` with
    ``has_aux``). Returns ``(value, grads)`` or ``((value, aux), grads)``; ``grads`` is a
    list matching ``values``, each of its value's dtype (zeros where ``fn`` ignores it);
    ``aux`` holds tensors detached from the tape.
    """
    if not callable(fn):
        raise ValueError(f"value_and_grad needs a callable, got {type(fn).__name__}")
    inputs = [tensor(v) for v in values]
    with tf.GradientTape() as tape:
        for v in inputs:
            if v.dtype.is_floating:  # a tape only differentiates floating tensors
                tape.watch(v)
        out = fn(list(inputs))
        aux = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ValueError("with has_aux=True, fn must return (value, aux)")
            out, aux = out
        out = tensor(out)
        if out.shape.num_elements() != 1:
            raise ValueError(f"fn must return a scalar, got shape {shape(out)}")
    grads = tape.gradient(out, inputs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    grads = [
        tf.zeros_like(v) if g is None else tf.cast(tf.convert_to_tensor(g), v.dtype)
        for g, v in zip(grads, inputs, strict=True)
    ]
    if has_aux:
        return (out, _detached(aux)), grads
    return out, grads


def _detached(tree: Any) -> Any:
    """``tree`` with every tensor cut from the tape, structure kept."""
    if is_tensor(tree):
        return tf.stop_gradient(tree)
    if isinstance(tree, dict):
        return {k: _detached(v) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_detached(v) for v in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(_detached(v) for v in tree)
    return tree


def _arrays_to_tensors(tree: Any) -> Any:
    """``tree`` with every NumPy array converted to a tensor (dtype kept), structure kept."""
    if isinstance(tree, np.ndarray):
        return convert_to_tensor(tree)
    if isinstance(tree, dict):
        return {k: _arrays_to_tensors(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        return type(tree)(_arrays_to_tensors(v) for v in tree)
    return tree


def compile(
    fn: Callable[..., Any], jit_compile: bool = False, **options: Any
) -> Callable[..., Any]:
    """``fn`` as a ``tf.function`` (compiled by XLA when ``jit_compile``); ``options`` go to
    ``tf.function``. The result takes tensors, NumPy arrays and nested lists of them and
    returns eager tensors; TensorFlow traces once per argument signature (shapes, dtypes)."""
    if not callable(fn):
        raise ValueError(f"compile needs a callable, got {type(fn).__name__}")
    graph = tf.function(fn, jit_compile=bool(jit_compile), **options)

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        args, kwargs = _arrays_to_tensors(args), _arrays_to_tensors(kwargs)
        device = placement.device
        if device is None:
            return graph(*args, **kwargs)
        with tf.device(device):
            return graph(*args, **kwargs)

    return run


# --- array ops -------------------------------------------------------------------------


def _axis(x: Any, axis: int) -> int:
    """``axis`` made non-negative for ``x`` (ValueError when out of range)."""
    ndim = len(shape(x))
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def _axes_of(x: Any, axis: int | Sequence[int] | None) -> list[int]:
    """``axis`` (an int, a sequence, or None for all) as a list of non-negative axes."""
    if axis is None:
        return list(range(len(shape(x))))
    return [_axis(x, a) for a in (axis if isinstance(axis, Sequence) else [axis])]


@placed
def reshape(x: Any, shape: Sequence[int]) -> Any:
    """``x`` with a new shape (one entry may be -1)."""
    return tf.reshape(tensor(x), [int(d) for d in shape])


@placed
def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """``x`` with its axes permuted (reversed when ``axes`` is None)."""
    return tf.transpose(tensor(x), None if axes is None else [int(a) for a in axes])


@placed
def concatenate(xs: Sequence[Any], axis: int = -1) -> Any:
    """The tensors ``xs`` joined along an existing axis (promoted to a common dtype)."""
    return tf.concat(common(xs), axis=axis)


@placed
def stack(xs: Sequence[Any], axis: int = 0) -> Any:
    """The tensors ``xs`` joined along a new axis (promoted to a common dtype)."""
    return tf.stack(common(xs), axis=axis)


@placed
def expand_dims(x: Any, axis: int) -> Any:
    """``x`` with a new axis of length 1 at ``axis``."""
    return tf.expand_dims(tensor(x), axis)


@placed
def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """``x`` without the length-1 axes ``axis`` (all of them when None)."""
    x = tensor(x)
    if axis is None:
        return tf.squeeze(x)
    axes = _axes_of(x, axis)
    if any(shape(x)[a] != 1 for a in axes):
        raise ValueError(f"cannot squeeze axes {axes} of a tensor of shape {shape(x)}")
    return tf.squeeze(x, axis=axes)


@placed
def slice_axis(x: Any, axis: int, start: int, stop: int) -> Any:
    """``x[..., start:stop, ...]`` along ``axis``."""
    x = tensor(x)
    index = [slice(None)] * len(shape(x))
    index[_axis(x, axis)] = slice(start, stop)
    return x[tuple(index)]


@placed
def flip(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """``x`` reversed along ``axis`` (an int, a tuple, or None for every axis)."""
    x = tensor(x)
    return tf.reverse(x, _axes_of(x, axis))


@placed
def take(x: Any, indices: Any, axis: int = 0) -> Any:
    """Gather the entries ``indices`` (ints, any shape; negative count from the end) of ``x``
    along ``axis``."""
    x = tensor(x)
    idx = tensor(indices)
    if not idx.dtype.is_integer:
        raise ValueError(f"take needs integer indices, got {idx.dtype.name}")
    axis = _axis(x, axis)
    # tf.gather has no negative indices: wrap them as NumPy does
    idx = tf.where(idx < 0, idx + tf.cast(shape(x)[axis], idx.dtype), idx)
    return tf.gather(x, idx, axis=axis)


@placed
def pad(x: Any, pad_width: Sequence[Sequence[int]], value: Any = 0.0) -> Any:
    """``x`` padded with ``value``; ``pad_width`` is one ``(before, after)`` per axis."""
    x = tensor(x)
    width = [[int(b), int(a)] for b, a in pad_width]
    if len(width) != len(shape(x)):
        raise ValueError(f"pad_width has {len(width)} entries for a tensor of rank {len(shape(x))}")
    return tf.pad(x, width, constant_values=tf.cast(value, x.dtype))


@placed
def repeat(x: Any, repeats: int, axis: int) -> Any:
    """Each entry of ``x`` repeated ``repeats`` times along ``axis``."""
    return tf.repeat(tensor(x), int(repeats), axis=axis)


@placed
def tile(x: Any, reps: Sequence[int]) -> Any:
    """``x`` tiled ``reps`` times along each axis (NumPy's rules when the ranks differ)."""
    x = tensor(x)
    reps = [int(r) for r in (reps if isinstance(reps, Sequence) else [reps])]
    rank = len(shape(x))
    if len(reps) > rank:
        x = tf.reshape(x, (1,) * (len(reps) - rank) + shape(x))
    reps = [1] * (len(shape(x)) - len(reps)) + reps
    return tf.tile(x, reps)


@placed
def one_hot(indices: Any, depth: int, dtype: Any = "float32") -> Any:
    """One-hot vectors of length ``depth`` on a new last axis; an index outside
    ``[0, depth)`` gives all zeros."""
    idx = tensor(indices)
    if not idx.dtype.is_integer:
        raise ValueError(f"one_hot needs integer indices, got {idx.dtype.name}")
    return tf.one_hot(idx, int(depth), dtype=tf_dtype(dtype))


@placed
def unstack(x: Any, axis: int = 0) -> list[Any]:
    """The slices of ``x`` along ``axis``, as a list."""
    x = tensor(x)
    return tf.unstack(x, axis=_axis(x, axis))
