"""NumPy backend, core: tensors and conversion, dtypes, autodiff, compile, devices.

The tensor type is ``numpy.ndarray``; gradients come from ``autograd``, whose traced values
(``ArrayBox``) stand in for arrays inside ``value_and_grad``. Every op accepts both.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.core import make_vjp
from autograd.numpy.numpy_boxes import ArrayBox
from autograd.tracer import getval

from harness.reference.backend.common.dtypes import DEFAULT_FLOAT, DEFAULT_INT, standardize_dtype

_NP_DTYPES = {
    name: np.dtype(name) for name in ("bool", "int32", "int64", "float16", "float32", "float64")
}
_INT32 = np.iinfo(np.int32)


def np_dtype(dtype: Any) -> np.dtype:
    """NumPy dtype of an interface dtype name (raises TypeError for bfloat16)."""
    name = standardize_dtype(dtype)
    if name == "bfloat16":
        raise TypeError("numpy has no bfloat16")
    return _NP_DTYPES[name]


def is_tensor(x: Any) -> bool:
    """True for a backend tensor: an ndarray or a value being traced by autograd."""
    return isinstance(x, (np.ndarray, ArrayBox))


def value_dtype(x: Any) -> np.dtype:
    """NumPy dtype of a tensor, traced or not."""
    return np.asarray(getval(x)).dtype if not isinstance(x, np.ndarray) else x.dtype


def array_out(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an op so that a NumPy scalar result comes back as a 0-d ndarray."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = fn(*args, **kwargs)
        return np.asarray(out) if isinstance(out, np.generic) else out

    return wrapper


@array_out
def convert_to_tensor(x: Any, dtype: Any = None) -> Any:
    """Return ``x`` as a tensor; Python floats become float32 and ints int32 unless ``dtype``
    is given; a NumPy array or traced value keeps its dtype unless ``dtype`` is given."""
    target = None if dtype is None else np_dtype(dtype)
    if is_tensor(x):
        return x if target is None or value_dtype(x) == target else cast(x, target)
    if isinstance(x, (list, tuple)) and any(map(_holds_box, x)):
        # a list of traced values: stack them so the gradient flows to each
        return anp.stack([convert_to_tensor(item, dtype) for item in x])
    if target is not None:
        return np.asarray(x, dtype=target)
    arr = np.asarray(x)
    if not _holds_numpy(x):
        if arr.dtype.kind == "f":
            return arr.astype(_NP_DTYPES[DEFAULT_FLOAT])
        if arr.dtype.kind == "i" and (
            arr.size == 0 or _INT32.min <= arr.min() <= arr.max() <= _INT32.max
        ):
            return arr.astype(_NP_DTYPES[DEFAULT_INT])
    return arr


def _holds_box(x: Any) -> bool:
    if isinstance(x, ArrayBox):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_box, x))


def _holds_numpy(x: Any) -> bool:
    # numpy values carry their own dtype; only pure Python data gets the defaults
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_numpy, x))


def tensor(x: Any) -> Any:
    """``x`` unchanged when it is a tensor, else converted with the default dtypes."""
    return x if is_tensor(x) else convert_to_tensor(x)


def float_tensor(x: Any) -> Any:
    """``x`` as a tensor, integer and bool tensors cast to float32 (for float-only math)."""
    x = tensor(x)
    return x if value_dtype(x).kind == "f" else cast(x, DEFAULT_FLOAT)


def pair(a: Any, b: Any) -> tuple[Any, Any]:
    """Operands of a binary op as tensors of a common dtype.

    A Python or NumPy scalar beside a tensor is weak: it takes the tensor's dtype (so a
    float16 tensor times 0.5 stays float16), except that a float scalar beside an integer or
    bool tensor makes both float32. Two tensors follow NumPy promotion.
    """
    a = a if _is_scalar(a) else tensor(a)
    b = b if _is_scalar(b) else tensor(b)
    if not is_tensor(a) and not is_tensor(b):
        a = convert_to_tensor(a)
    if is_tensor(a) and is_tensor(b):
        return a, b
    if is_tensor(a):
        return _with_weak(a, b)
    b, a = _with_weak(b, a)
    return a, b


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.generic))


def _with_weak(t: Any, s: Any) -> tuple[Any, Any]:
    """(tensor, other) with ``other`` a scalar made to match the tensor's dtype."""
    kind = value_dtype(t).kind
    s_kind = np.asarray(s).dtype.kind
    if s_kind == "f" and kind != "f":
        t = cast(t, "float32")
    elif s_kind in "iu" and kind == "b":
        t = cast(t, "int32")
    return t, np.asarray(s, dtype=value_dtype(t))


@array_out
def to_numpy(x: Any) -> np.ndarray:
    """The value of ``x`` (a tensor, a traced value, anything array-like) as an ndarray."""
    return np.asarray(getval(x))


def cast(x: Any, dtype: Any) -> Any:
    """``x`` converted to ``dtype`` (differentiable between float dtypes)."""
    target = dtype if isinstance(dtype, np.dtype) else np_dtype(dtype)
    x = tensor(x)
    if value_dtype(x) == target:
        return x
    return x.astype(target)


def shape(x: Any) -> tuple[int, ...]:
    """Static shape of ``x`` as a tuple of ints."""
    return tuple(int(d) for d in np.shape(getval(x)))


def dtype(x: Any) -> str:
    """Interface dtype name of ``x`` (e.g. ``"float32"``)."""
    return standardize_dtype(value_dtype(tensor(x)))


def zeros(shape: Sequence[int], dtype: Any = "float32") -> np.ndarray:
    """A tensor of zeros."""
    return np.zeros(tuple(shape), dtype=np_dtype(dtype))


def ones(shape: Sequence[int], dtype: Any = "float32") -> np.ndarray:
    """A tensor of ones."""
    return np.ones(tuple(shape), dtype=np_dtype(dtype))


def stop_gradient(x: Any) -> Any:
    """``x`` with no gradient flowing back through it (its untraced value)."""
    return getval(tensor(x))


def compile(fn: Callable[..., Any]) -> Callable[..., Any]:
    """NumPy has no compiler: returns ``fn`` itself."""
    return fn


def device_names() -> list[str]:
    """Devices this backend computes on: the CPU only."""
    return ["cpu:0"]


def set_device(name: str) -> None:
    """NumPy computes on the CPU only; any other device is an error."""
    if name not in ("cpu", "cpu:0"):
        raise ValueError(f"numpy has no device {name!r}; it sees {device_names()}")


def value_and_grad(
    fn: Callable[[list[Any]], Any], values: Sequence[Any], has_aux: bool = False
) -> Any:
    """Evaluate ``fn(values)`` and its gradient with respect to each of ``values``.

    ``fn`` takes a list of tensors and returns a scalar (or ``(scalar, aux)`` with
    ``has_aux``). Returns ``(value, grads)`` or ``((value, aux), grads)``; ``grads`` is a
    list matching ``values``, each of its value's dtype; ``aux`` holds concrete ndarrays.
    """
    if not callable(fn):
        raise ValueError(f"value_and_grad needs a callable, got {type(fn).__name__}")
    inputs = [tensor(v) for v in values]
    aux_holder: list[Any] = []

    def traced(boxed: Any) -> Any:
        out = fn([boxed[i] for i in range(len(inputs))])
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ValueError("with has_aux=True, fn must return (value, aux)")
            out, aux = out
            aux_holder.append(aux)
        if np.size(getval(out)) != 1:
            raise ValueError(f"fn must return a scalar, got shape {shape(out)}")
        return out

    with warnings.catch_warnings():
        # a loss that ignores its inputs is legitimate here: its gradients are zeros
        warnings.filterwarnings("ignore", "Output seems independent of input")
        vjp, value = make_vjp(traced, inputs)
    value = np.asarray(value)
    grads = vjp(np.ones_like(value))
    grads = [np.asarray(g, dtype=value_dtype(v)) for g, v in zip(grads, inputs, strict=True)]
    if has_aux:
        return (value, _concrete(aux_holder[0])), grads
    return value, grads


def _concrete(tree: Any) -> Any:
    """``tree`` with every traced value replaced by its ndarray, structure kept."""
    if isinstance(tree, ArrayBox):
        return np.asarray(getval(tree))
    if isinstance(tree, dict):
        return {k: _concrete(v) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_concrete(v) for v in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(_concrete(v) for v in tree)
    return tree


# --- array ops -------------------------------------------------------------------------


def _axis(x: Any, axis: int) -> int:
    """``axis`` made non-negative for ``x`` (ValueError when out of range)."""
    ndim = len(shape(x))
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def _along(x: Any, axis: int, index: Any) -> tuple[Any, ...]:
    """An indexing tuple that applies ``index`` on ``axis`` and takes all of the others."""
    return (slice(None),) * _axis(x, axis) + (index,)


def reshape(x: Any, shape: Sequence[int]) -> Any:
    """``x`` with a new shape (one entry may be -1)."""
    return anp.reshape(tensor(x), tuple(shape))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """``x`` with its axes permuted (reversed when ``axes`` is None)."""
    return anp.transpose(tensor(x), None if axes is None else tuple(axes))


def concatenate(xs: Sequence[Any], axis: int = -1) -> Any:
    """The tensors ``xs`` joined along an existing axis."""
    return anp.concatenate([tensor(x) for x in xs], axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> Any:
    """The tensors ``xs`` joined along a new axis."""
    return anp.stack([tensor(x) for x in xs], axis=axis)


def expand_dims(x: Any, axis: int) -> Any:
    """``x`` with a new axis of length 1 at ``axis``."""
    return anp.expand_dims(tensor(x), axis)


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """``x`` without the length-1 axes ``axis`` (all of them when None)."""
    x = tensor(x)
    if axis is not None:
        axis = tuple(_axis(x, a) for a in (axis if isinstance(axis, Sequence) else [axis]))
    return anp.squeeze(x, axis=axis)


def slice_axis(x: Any, axis: int, start: int, stop: int) -> Any:
    """``x[..., start:stop, ...]`` along ``axis``."""
    x = tensor(x)
    return x[_along(x, axis, slice(start, stop))]


def flip(x: Any, axis: int | Sequence[int] | None = None) -> Any:
    """``x`` reversed along ``axis`` (an int, a tuple, or None for every axis)."""
    x = tensor(x)
    ndim = len(shape(x))
    axes = range(ndim) if axis is None else axis if isinstance(axis, Sequence) else [axis]
    index = [slice(None)] * ndim
    for a in axes:
        index[_axis(x, a)] = slice(None, None, -1)
    return x[tuple(index)]


def take(x: Any, indices: Any, axis: int = 0) -> Any:
    """Gather the entries ``indices`` (ints, any shape) of ``x`` along ``axis``."""
    x = tensor(x)
    idx = np.asarray(getval(indices))
    if idx.dtype.kind not in "iu":
        raise ValueError(f"take needs integer indices, got {idx.dtype}")
    return x[_along(x, axis, idx)]


def pad(x: Any, pad_width: Sequence[Sequence[int]], value: Any = 0.0) -> Any:
    """``x`` padded with ``value``; ``pad_width`` is one ``(before, after)`` per axis."""
    x = tensor(x)
    width = tuple((int(b), int(a)) for b, a in pad_width)
    if len(width) != len(shape(x)):
        raise ValueError(f"pad_width has {len(width)} entries for a tensor of rank {len(shape(x))}")
    return anp.pad(x, width, mode="constant", constant_values=value)


def repeat(x: Any, repeats: int, axis: int) -> Any:
    """Each entry of ``x`` repeated ``repeats`` times along ``axis``."""
    return anp.repeat(tensor(x), int(repeats), axis=axis)


def tile(x: Any, reps: Sequence[int]) -> Any:
    """``x`` tiled ``reps`` times along each axis."""
    return anp.tile(tensor(x), tuple(reps) if isinstance(reps, Sequence) else reps)


def one_hot(indices: Any, depth: int, dtype: Any = "float32") -> np.ndarray:
    """One-hot vectors of length ``depth`` on a new last axis; an index outside
    ``[0, depth)`` gives all zeros."""
    idx = np.asarray(getval(indices))
    if idx.dtype.kind not in "iu":
        raise ValueError(f"one_hot needs integer indices, got {idx.dtype}")
    return (idx[..., None] == np.arange(depth)).astype(np_dtype(dtype))


def unstack(x: Any, axis: int = 0) -> list[Any]:
    """The slices of ``x`` along ``axis``, as a list."""
    x = tensor(x)
    return [x[_along(x, axis, i)] for i in range(shape(x)[_axis(x, axis)])]
