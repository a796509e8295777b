"""JAX backend, core: tensors and conversion, dtypes, autodiff, array ops.

The tensor type is ``jax.Array``; JAX's tracers (inside ``value_and_grad`` or ``compile``)
are ``jax.Array`` too, so every op accepts both. Importing this module turns on
``jax_enable_x64`` (float64 cases need it) and ``jax_default_matmul_precision=highest`` (no
TF32 on GPUs); Python floats and ints still become float32 and
int32 tensors, because every conversion here names its dtype.

``compile`` (jax.jit) is in ``compiler``, ``device_names`` and ``set_device`` in ``devices``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from harness.reference.backend.common.dtypes import DEFAULT_FLOAT, DEFAULT_INT, standardize_dtype

jax.config.update("jax_enable_x64", True)
# float32 matmuls and convolutions at full precision: on Ampere+ GPUs JAX defaults to TF32,
# whose 10-bit mantissa misses the float32 oracle tolerance (bit-identical on CPU)
jax.config.update("jax_default_matmul_precision", "highest")

_JAX_DTYPES = {
    "bool": jnp.dtype(jnp.bool_),
    "int32": jnp.dtype(jnp.int32),
    "int64": jnp.dtype(jnp.int64),
    "float16": jnp.dtype(jnp.float16),
    "bfloat16": jnp.dtype(jnp.bfloat16),
    "float32": jnp.dtype(jnp.float32),
    "float64": jnp.dtype(jnp.float64),
}
_INT32 = np.iinfo(np.int32)


def jax_dtype(dtype: Any) -> np.dtype:
    """The JAX (NumPy-style) dtype of an interface dtype name, type or dtype."""
    return _JAX_DTYPES[standardize_dtype(dtype)]


def is_tensor(x: Any) -> bool:
    """True for a backend tensor: a ``jax.Array`` or a JAX tracer standing in for one."""
    return isinstance(x, jax.Array)


def convert_to_tensor(x: Any, dtype: Any = None) -> jax.Array:
    """Return ``x`` as a tensor; Python floats become float32 and ints int32 unless ``dtype``
    is given; a NumPy array or a tensor keeps its dtype unless ``dtype`` is given."""
    target = None if dtype is None else jax_dtype(dtype)
    if is_tensor(x):
        return x if target is None or x.dtype == target else cast(x, target)
    if isinstance(x, (list, tuple)) and any(map(_holds_tensor, x)):
        # a list of (possibly traced) tensors: stack them so the gradient flows to each
        return stack([convert_to_tensor(item, dtype) for item in x])
    if target is not None:
        return jnp.asarray(np.asarray(x), dtype=target)
    arr = np.asarray(x)
    if not _holds_numpy(x):
        if arr.dtype.kind == "f":
            arr = arr.astype(jax_dtype(DEFAULT_FLOAT))
        elif arr.dtype.kind == "i" and (
            arr.size == 0 or _INT32.min <= arr.min() <= arr.max() <= _INT32.max
        ):
            arr = arr.astype(jax_dtype(DEFAULT_INT))
    return jnp.asarray(arr)


def _holds_tensor(x: Any) -> bool:
    if is_tensor(x):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_tensor, x))


def _holds_numpy(x: Any) -> bool:
    # numpy values carry their own dtype; only pure Python data gets the defaults
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_numpy, x))


def tensor(x: Any) -> jax.Array:
    """``x`` unchanged when it is a tensor, else converted with the default dtypes."""
    return x if is_tensor(x) else convert_to_tensor(x)


def float_tensor(x: Any) -> jax.Array:
    """``x`` as a tensor, integer and bool tensors cast to float32 (for float-only math)."""
    x = tensor(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else cast(x, DEFAULT_FLOAT)


def result_dtype(*dtypes: Any) -> np.dtype:
    """The dtype NumPy promotion gives ``dtypes`` (JAX's rules where bfloat16 takes part,
    since NumPy has no bfloat16 of its own)."""
    out = np.dtype(dtypes[0])
    for other in dtypes[1:]:
        other = np.dtype(other)
        if jnp.dtype(jnp.bfloat16) in (out, other):
            out = jnp.promote_types(out, other)
        else:
            out = np.promote_types(out, other)
    return out


def common(xs: Sequence[Any]) -> list[jax.Array]:
    """The tensors ``xs`` cast to the dtype NumPy promotion gives them together."""
    xs = [tensor(x) for x in xs]
    target = result_dtype(*(x.dtype for x in xs))
    return [x if x.dtype == target else cast(x, target) for x in xs]


def pair(a: Any, b: Any) -> tuple[jax.Array, jax.Array]:
    """Operands of a binary op as tensors of a common dtype.

    A Python or NumPy scalar beside a tensor is weak: it takes the tensor's dtype (so a
    float16 tensor times 0.5 stays float16), except that a float scalar beside an integer or
    bool tensor makes both float32. Two tensors follow NumPy promotion.
    """
    if _is_scalar(a) and _is_scalar(b):
        a = convert_to_tensor(a)
    if _is_scalar(b):
        return _with_weak(tensor(a), b)
    if _is_scalar(a):
        b, a = _with_weak(tensor(b), a)
        return a, b
    a, b = common([a, b])
    return a, b


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.generic))


def _with_weak(t: jax.Array, s: Any) -> tuple[jax.Array, jax.Array]:
    """(tensor, scalar as a tensor) with the scalar made to match the tensor's dtype."""
    s_kind = np.asarray(s).dtype.kind
    if s_kind == "f" and not jnp.issubdtype(t.dtype, jnp.floating):
        t = cast(t, DEFAULT_FLOAT)
    elif s_kind in "iu" and t.dtype == jnp.bool_:
        t = cast(t, DEFAULT_INT)
    return t, jnp.asarray(s, dtype=t.dtype)


def to_numpy(x: Any) -> np.ndarray:
    """The value of ``x`` as a fresh ndarray (bfloat16 comes back as float32).

    Works on tensors being differentiated by ``value_and_grad`` (JAX knows their values);
    raises TypeError on a tensor being traced by ``compile`` (jax.jit), which has no value yet.
    """
    if isinstance(x, jax.core.Tracer):
        concrete = x.to_concrete_value()
        if concrete is None:
            raise TypeError(
                "to_numpy cannot read a tensor inside compile (jax.jit): it has no value "
                "until the compiled function runs; return it from the function instead"
            )
        x = concrete
    out = np.array(x)
    return out.astype(np.float32) if out.dtype == jnp.bfloat16 else out


def cast(x: Any, dtype: Any) -> jax.Array:
    """``x`` converted to ``dtype`` (differentiable between float dtypes)."""
    target = jax_dtype(dtype)
    x = tensor(x)
    return x if x.dtype == target else x.astype(target)


def shape(x: Any) -> tuple[int, ...]:
    """Static shape of ``x`` as a tuple of ints."""
    return tuple(int(d) for d in jnp.shape(x))


def dtype(x: Any) -> str:
    """Interface dtype name of ``x`` (e.g. ``"float32"``)."""
    return standardize_dtype(tensor(x).dtype)


def zeros(shape: Sequence[int], dtype: Any = "float32") -> jax.Array:
    """A tensor of zeros."""
    return jnp.zeros(tuple(shape), dtype=jax_dtype(dtype))


def ones(shape: Sequence[int], dtype: Any = "float32") -> jax.Array:
    """A tensor of ones."""
    return jnp.ones(tuple(shape), dtype=jax_dtype(dtype))


def stop_gradient(x: Any) -> jax.Array:
    """``x`` with no gradient flowing back through it."""
    return jax.lax.stop_gradient(tensor(x))


# --- autodiff ---------------------------------------------------------------------------


def value_and_grad(
    fn: Callable[[list[Any]], Any], values: Sequence[Any], has_aux: bool = False
) -> Any:
    """Evaluate ``fn(values)`` and its gradient with respect to each of ``values``
    (``jax.value_and_grad`` over the list).

    ``fn`` takes a list of tensors and returns a scalar (or ``(scalar, aux)`` with
    ``has_aux``). Returns ``(value, grads)`` or ``((value, aux), grads)``; ``grads`` is a
    list matching ``values``, each of its value's dtype (zeros for integer values); ``aux``
    holds concrete tensors.
    """
    if not callable(fn):
        raise ValueError(f"value_and_grad needs a callable, got {type(fn).__name__}")
    inputs = [tensor(v) for v in values]

    def scalar_fn(vals: list[jax.Array]) -> tuple[jax.Array, tuple[jax.Array, Any]]:
        out = fn(list(vals))
        aux = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ValueError("with has_aux=True, fn must return (value, aux)")
            out, aux = out
        out = tensor(out)
        if out.size != 1:
            raise ValueError(f"fn must return a scalar, got shape {shape(out)}")
        # jax differentiates a shape-() output; the caller gets the output's own shape back
        return jnp.reshape(out, ()), (out, aux)

    (_, (value, aux)), grads = jax.value_and_grad(scalar_fn, has_aux=True, allow_int=True)(inputs)
    grads = [_grad_like(g, v) for g, v in zip(grads, inputs, strict=True)]
    return ((value, aux), grads) if has_aux else (value, grads)


def _grad_like(grad: Any, value: jax.Array) -> jax.Array:
    """``grad`` as a tensor of ``value``'s dtype; integer values (float0 grads) get zeros."""
    if grad.dtype == jax.dtypes.float0:
        return jnp.zeros(value.shape, value.dtype)
    return grad if grad.dtype == value.dtype else grad.astype(value.dtype)


# --- array ops -------------------------------------------------------------------------


def _axis(x: jax.Array, axis: int) -> int:
    """``axis`` made non-negative for ``x`` (ValueError when out of range)."""
    ndim = x.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def _axes_of(x: jax.Array, axis: int | Sequence[int] | None) -> tuple[int, ...]:
    """``axis`` (an int, a sequence, or None for all) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(x.ndim))
    return tuple(_axis(x, a) for a in (axis if isinstance(axis, Sequence) else [axis]))


def _along(x: jax.Array, axis: int, index: Any) -> tuple[Any, ...]:
    """An indexing tuple that applies ``index`` on ``axis`` and takes all of the others."""
    return (slice(None),) * _axis(x, axis) + (index,)


def reshape(x: Any, shape: Sequence[int]) -> jax.Array:
    """``x`` with a new shape (one entry may be -1)."""
    return jnp.reshape(tensor(x), tuple(shape))


def transpose(x: Any, axes: Sequence[int] | None = None) -> jax.Array:
    """``x`` with its axes permuted (reversed when ``axes`` is None)."""
    return jnp.transpose(tensor(x), None if axes is None else tuple(axes))


def concatenate(xs: Sequence[Any], axis: int = -1) -> jax.Array:
    """The tensors ``xs`` joined along an existing axis."""
    return jnp.concatenate(common(xs), axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> jax.Array:
    """The tensors ``xs`` joined along a new axis."""
    return jnp.stack(common(xs), axis=axis)


def expand_dims(x: Any, axis: int) -> jax.Array:
    """``x`` with a new axis of length 1 at ``axis``."""
    return jnp.expand_dims(tensor(x), axis)


def squeeze(x: Any, axis: int | Sequence[int] | None = None) -> jax.Array:
    """``x`` without the length-1 axes ``axis`` (all of them when None)."""
    x = tensor(x)
    return jnp.squeeze(x, axis=None if axis is None else _axes_of(x, axis))


def slice_axis(x: Any, axis: int, start: int, stop: int) -> jax.Array:
    """``x[..., start:stop, ...]`` along ``axis``."""
    x = tensor(x)
    return x[_along(x, axis, slice(start, stop))]


def flip(x: Any, axis: int | Sequence[int] | None = None) -> jax.Array:
    """``x`` reversed along ``axis`` (an int, a tuple, or None for every axis)."""
    x = tensor(x)
    return jnp.flip(x, axis=_axes_of(x, axis))


def take(x: Any, indices: Any, axis: int = 0) -> jax.Array:
    """Gather the entries ``indices`` (ints, any shape; negative counts from the end) of
    ``x`` along ``axis``."""
    x, idx = tensor(x), tensor(indices)
    if not jnp.issubdtype(idx.dtype, jnp.integer):
        raise ValueError(f"take needs integer indices, got {idx.dtype}")
    return jnp.take(x, idx, axis=_axis(x, axis))


def pad(x: Any, pad_width: Sequence[Sequence[int]], value: Any = 0.0) -> jax.Array:
    """``x`` padded with ``value``; ``pad_width`` is one ``(before, after)`` per axis."""
    x = tensor(x)
    width = tuple((int(b), int(a)) for b, a in pad_width)
    if len(width) != x.ndim:
        raise ValueError(f"pad_width has {len(width)} entries for a tensor of rank {x.ndim}")
    return jnp.pad(x, width, mode="constant", constant_values=jnp.asarray(value, x.dtype))


def repeat(x: Any, repeats: int, axis: int) -> jax.Array:
    """Each entry of ``x`` repeated ``repeats`` times along ``axis``."""
    return jnp.repeat(tensor(x), int(repeats), axis=axis)


def tile(x: Any, reps: Sequence[int]) -> jax.Array:
    """``x`` tiled ``reps`` times along each axis."""
    return jnp.tile(tensor(x), tuple(reps) if isinstance(reps, Sequence) else reps)


def one_hot(indices: Any, depth: int, dtype: Any = "float32") -> jax.Array:
    """One-hot vectors of length ``depth`` on a new last axis; an index outside
    ``[0, depth)`` gives all zeros."""
    idx = tensor(indices)
    if not jnp.issubdtype(idx.dtype, jnp.integer):
        raise ValueError(f"one_hot needs integer indices, got {idx.dtype}")
    return jax.nn.one_hot(idx, int(depth), dtype=jax_dtype(dtype))


def unstack(x: Any, axis: int = 0) -> list[jax.Array]:
    """The slices of ``x`` along ``axis``, as a list."""
    x = tensor(x)
    return [x[_along(x, axis, i)] for i in range(x.shape[_axis(x, axis)])]
