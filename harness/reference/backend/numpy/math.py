"""NumPy backend, math: elementwise arithmetic, comparisons, reductions, matmul, einsum.

Differentiable ops are written with ``autograd.numpy``; where autograd lacks an op or its
gradient differs from TensorFlow's at ties (maximum, where), a primitive defines it here.
"""

from __future__ import annotations

import math
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.extend import defvjp, primitive
from autograd.numpy.numpy_vjps import unbroadcast_f
from autograd.tracer import getval

from harness.reference.backend.numpy.core import (
    array_out,
    cast,
    float_tensor,
    pair,
    tensor,
    value_dtype,
)

try:  # scipy's erf is vectorised C; without scipy fall back to the exact math.erf
    from scipy.special import erf as _erf_impl
except ImportError:  # pragma: no cover - depends on the environment
    _erf_impl = np.vectorize(math.erf, otypes=[np.float64])

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


@primitive
def _erf(x: np.ndarray) -> np.ndarray:
    return np.asarray(_erf_impl(x)).astype(x.dtype)


defvjp(_erf, lambda ans, x: lambda g: g * (_TWO_OVER_SQRT_PI * anp.exp(-x * x)))


@primitive
def select(cond: np.ndarray, a: Any, b: Any) -> np.ndarray:
    """``np.where(cond, a, b)`` for tensors of one dtype, differentiable in ``a`` and ``b``."""
    return np.where(cond, a, b)


def _zeros_where(cond: Any, g: Any) -> Any:
    return anp.where(cond, anp.zeros_like(g), g)


# unlike anp.where, the gradient keeps g's dtype and is summed over broadcast axes
defvjp(
    select,
    None,
    lambda ans, c, a, b: unbroadcast_f(a, lambda g: _zeros_where(anp.logical_not(c), g)),
    lambda ans, c, a, b: unbroadcast_f(b, lambda g: _zeros_where(c, g)),
)


# --- arithmetic -----------------------------------------------------------------------


@array_out
def add(a: Any, b: Any) -> Any:
    """a + b, broadcasting."""
    return anp.add(*pair(a, b))


@array_out
def subtract(a: Any, b: Any) -> Any:
    """a - b, broadcasting."""
    return anp.subtract(*pair(a, b))


@array_out
def multiply(a: Any, b: Any) -> Any:
    """a * b, broadcasting."""
    return anp.multiply(*pair(a, b))


@array_out
def divide(a: Any, b: Any) -> Any:
    """a / b, broadcasting; integer operands divide as float32."""
    a, b = pair(a, b)
    if value_dtype(a).kind != "f" and value_dtype(b).kind != "f":
        a, b = cast(a, "float32"), cast(b, "float32")
    return anp.divide(a, b)


@array_out
def negative(x: Any) -> Any:
    """-x."""
    return anp.negative(tensor(x))


@array_out
def power(x: Any, p: Any) -> Any:
    """x ** p, broadcasting."""
    return anp.power(*pair(x, p))


@array_out
def square(x: Any) -> Any:
    """x * x."""
    x = tensor(x)
    return x * x


@array_out
def sqrt(x: Any) -> Any:
    """Square root."""
    return anp.sqrt(float_tensor(x))


@array_out
def exp(x: Any) -> Any:
    """e ** x."""
    return anp.exp(float_tensor(x))


@array_out
def log(x: Any) -> Any:
    """Natural logarithm."""
    return anp.log(float_tensor(x))


@array_out
def log1p(x: Any) -> Any:
    """log(1 + x), accurate for small x."""
    return anp.log1p(float_tensor(x))


@array_out
def abs(x: Any) -> Any:
    """|x| (gradient 0 at 0)."""
    return anp.abs(tensor(x))


@array_out
def sign(x: Any) -> Any:
    """-1, 0 or 1 as x is negative, zero or positive (no gradient)."""
    x = tensor(x)
    return anp.sign(getval(x))


@array_out
def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return anp.tanh(float_tensor(x))


@array_out
def erf(x: Any) -> Any:
    """The error function, exact to float64 rounding, with its analytic gradient."""
    return _erf(float_tensor(x))


@array_out
def maximum(a: Any, b: Any) -> Any:
    """Elementwise max; NaN propagates; at ties the gradient goes to ``a`` (as TensorFlow)."""
    a, b = pair(a, b)
    return select(anp.logical_or(anp.greater_equal(a, b), anp.isnan(a)), a, b)


@array_out
def minimum(a: Any, b: Any) -> Any:
    """Elementwise min; NaN propagates; at ties the gradient goes to ``a`` (as TensorFlow)."""
    a, b = pair(a, b)
    return select(anp.logical_or(anp.less_equal(a, b), anp.isnan(a)), a, b)


@array_out
def clip(x: Any, lo: Any, hi: Any) -> Any:
    """x limited to [lo, hi]; the gradient is 1 inside and on the bounds, 0 outside (as TF)."""
    x, lo = pair(x, lo)
    x, hi = pair(x, hi)
    return minimum(maximum(x, lo), hi)


@array_out
def where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` is true, else ``b`` (broadcasting; gradient to the chosen one)."""
    cond = np.asarray(getval(cond)).astype(bool)
    a, b = pair(a, b)
    return select(cond, a, b)


# --- comparisons and logic (no gradient) ----------------------------------------------


def _compare(fn: Any, a: Any, b: Any) -> np.ndarray:
    a, b = pair(a, b)
    return np.asarray(fn(getval(a), getval(b)))


def equal(a: Any, b: Any) -> np.ndarray:
    """a == b elementwise, as bool."""
    return _compare(np.equal, a, b)


def not_equal(a: Any, b: Any) -> np.ndarray:
    """a != b elementwise, as bool."""
    return _compare(np.not_equal, a, b)


def greater(a: Any, b: Any) -> np.ndarray:
    """a > b elementwise, as bool."""
    return _compare(np.greater, a, b)


def greater_equal(a: Any, b: Any) -> np.ndarray:
    """a >= b elementwise, as bool."""
    return _compare(np.greater_equal, a, b)


def less(a: Any, b: Any) -> np.ndarray:
    """a < b elementwise, as bool."""
    return _compare(np.less, a, b)


def less_equal(a: Any, b: Any) -> np.ndarray:
    """a <= b elementwise, as bool."""
    return _compare(np.less_equal, a, b)


def logical_and(a: Any, b: Any) -> np.ndarray:
    """a and b elementwise, as bool."""
    return _compare(np.logical_and, a, b)


def logical_or(a: Any, b: Any) -> np.ndarray:
    """a or b elementwise, as bool."""
    return _compare(np.logical_or, a, b)


def logical_not(x: Any) -> np.ndarray:
    """not x elementwise, as bool."""
    return np.asarray(np.logical_not(getval(tensor(x))))


def isnan(x: Any) -> np.ndarray:
    """True where x is NaN."""
    return np.asarray(np.isnan(getval(tensor(x))))


def any(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """True where any entry along ``axis`` is true (nonzero)."""
    return np.asarray(np.any(getval(tensor(x)), axis=_axes(axis), keepdims=keepdims))


def all(x: Any, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """True where every entry along ``axis`` is true (nonzero)."""
    return np.asarray(np.all(getval(tensor(x)), axis=_axes(axis), keepdims=keepdims))


# --- reductions -----------------------------------------------------------------------


def _axes(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


@array_out
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (int, tuple or None for all); ints keep their dtype, bools give int32."""
    x = tensor(x)
    kind = value_dtype(x).kind
    if kind == "f":
        return anp.sum(x, axis=_axes(axis), keepdims=keepdims)
    dtype = np.int32 if kind == "b" else value_dtype(x)
    return np.sum(getval(x), axis=_axes(axis), keepdims=keepdims, dtype=dtype)


@array_out
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``; integer input gives float32."""
    return anp.mean(float_tensor(x), axis=_axes(axis), keepdims=keepdims)


@array_out
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis`` (gradient shared equally among tied maxima)."""
    return anp.max(tensor(x), axis=_axes(axis), keepdims=keepdims)


@array_out
def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Minimum over ``axis`` (gradient shared equally among tied minima)."""
    return anp.min(tensor(x), axis=_axes(axis), keepdims=keepdims)


def argmax(x: Any, axis: int = -1) -> np.ndarray:
    """Index of the first maximum along ``axis``, as int64 (no gradient)."""
    return np.asarray(np.argmax(getval(tensor(x)), axis=axis)).astype(np.int64)


@array_out
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over ``axis``, computed without overflow."""
    x = float_tensor(x)
    axes = _axes(axis)
    peak = np.max(getval(x), axis=axes, keepdims=True)
    # an all -inf (or inf) slice would give inf - inf = NaN: shift it by 0 instead
    peak = np.where(np.isfinite(peak), peak, 0).astype(value_dtype(x))
    with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer for all -inf
        out = anp.log(anp.sum(anp.exp(x - peak), axis=axes, keepdims=True)) + peak
    return out if keepdims else anp.squeeze(out, axis=axes)


@array_out
def matmul(a: Any, b: Any) -> Any:
    """Matrix product, batched over leading axes like ``np.matmul``."""
    return anp.matmul(tensor(a), tensor(b))


@array_out
def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation over ``operands``."""
    return anp.einsum(subscripts, *(tensor(o) for o in operands))
