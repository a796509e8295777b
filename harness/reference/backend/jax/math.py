"""JAX backend, math: elementwise arithmetic, comparisons, reductions, matmul, einsum.

Everything is ``jax.numpy`` / ``jax.lax``, with two gradient conventions of the interface
imposed: ``maximum`` and ``minimum`` (and ``clip``, built on them) are a ``where``, because the
interface sends their gradient at ties to the first argument where ``jnp.maximum`` splits it
in halves; ``abs`` has gradient 0 at 0 where ``jnp.abs`` has 1.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special

from harness.reference.backend.jax.core import (
    cast,
    common,
    float_tensor,
    pair,
    tensor,
)

# --- arithmetic -----------------------------------------------------------------------


def add(a: Any, b: Any) -> jax.Array:
    """a + b, broadcasting."""
    return jnp.add(*pair(a, b))


def subtract(a: Any, b: Any) -> jax.Array:
    """a - b, broadcasting."""
    return jnp.subtract(*pair(a, b))


def multiply(a: Any, b: Any) -> jax.Array:
    """a * b, broadcasting."""
    return jnp.multiply(*pair(a, b))


def divide(a: Any, b: Any) -> jax.Array:
    """a / b, broadcasting; integer operands divide as float32."""
    a, b = pair(a, b)
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a, b = cast(a, "float32"), cast(b, "float32")
    return jnp.divide(a, b)


def negative(x: Any) -> jax.Array:
    """-x."""
    return jnp.negative(tensor(x))


def power(x: Any, p: Any) -> jax.Array:
    """x ** p, broadcasting."""
    return jnp.power(*pair(x, p))


def square(x: Any) -> jax.Array:
    """x * x."""
    return jnp.square(tensor(x))


def sqrt(x: Any) -> jax.Array:
    """Square root."""
    return jnp.sqrt(float_tensor(x))


def exp(x: Any) -> jax.Array:
    """e ** x."""
    return jnp.exp(float_tensor(x))


def log(x: Any) -> jax.Array:
    """Natural logarithm."""
    return jnp.log(float_tensor(x))


def log1p(x: Any) -> jax.Array:
    """log(1 + x), accurate for small x."""
    return jnp.log1p(float_tensor(x))


@jax.custom_jvp
def _abs(x: jax.Array) -> jax.Array:
    return jnp.abs(x)


# jnp.abs sends gradient 1 at 0; the interface (as TensorFlow and PyTorch) sends sign(0) = 0
_abs.defjvp(lambda primals, tangents: (jnp.abs(primals[0]), tangents[0] * jnp.sign(primals[0])))


def abs(x: Any) -> jax.Array:
    """|x| (``jnp.abs``; gradient sign(x), so 0 at 0)."""
    x = tensor(x)
    return _abs(x) if jnp.issubdtype(x.dtype, jnp.floating) else jnp.abs(x)


def sign(x: Any) -> jax.Array:
    """-1, 0 or 1 as x is negative, zero or positive (no gradient)."""
    return jnp.sign(jax.lax.stop_gradient(tensor(x)))


def tanh(x: Any) -> jax.Array:
    """Hyperbolic tangent."""
    return jnp.tanh(float_tensor(x))


def erf(x: Any) -> jax.Array:
    """The error function (``jax.scipy.special.erf``)."""
    return jax.scipy.special.erf(float_tensor(x))


def maximum(a: Any, b: Any) -> jax.Array:
    """Elementwise max; NaN propagates; at ties the gradient goes to ``a`` (as TensorFlow)."""
    a, b = pair(a, b)
    return jnp.where(jnp.logical_or(a >= b, jnp.isnan(a)), a, b)


def minimum(a: Any, b: Any) -> jax.Array:
    """Elementwise min; NaN propagates; at ties the gradient goes to ``a`` (as TensorFlow)."""
    a, b = pair(a, b)
    return jnp.where(jnp.logical_or(a <= b, jnp.isnan(a)), a, b)


def clip(x: Any, lo: Any, hi: Any) -> jax.Array:
    """x limited to [lo, hi]; the gradient is 1 inside and on the bounds, 0 outside (as TF)."""
    x, lo = pair(x, lo)
    x, hi = pair(x, hi)
    return minimum(maximum(x, lo), hi)


def where(cond: Any, a: Any, b: Any) -> jax.Array:
    """``a`` where ``cond`` is true, else ``b`` (broadcasting; gradient to the chosen one)."""
    return jnp.where(tensor(cond).astype(bool), *pair(a, b))


# --- comparisons and logic (no gradient) ----------------------------------------------


def equal(a: Any, b: Any) -> jax.Array:
    """a == b elementwise, as bool."""
    return jnp.equal(*pair(a, b))


def not_equal(a: Any, b: Any) -> jax.Array:
    """a != b elementwise, as bool."""
    return jnp.not_equal(*pair(a, b))


def greater(a: Any, b: Any) -> jax.Array:
    """a > b elementwise, as bool."""
    return jnp.greater(*pair(a, b))


def greater_equal(a: Any, b: Any) -> jax.Array:
    """a >= b elementwise, as bool."""
    return jnp.greater_equal(*pair(a, b))


def less(a: Any, b: Any) -> jax.Array:
    """a < b elementwise, as bool."""
    return jnp.less(*pair(a, b))


def less_equal(a: Any, b: Any) -> jax.Array:
    """a <= b elementwise, as bool."""
    return jnp.less_equal(*pair(a, b))


def logical_and(a: Any, b: Any) -> jax.Array:
    """a and b elementwise, as bool."""
    return jnp.logical_and(tensor(a), tensor(b))


def logical_or(a: Any, b: Any) -> jax.Array:
    """a or b elementwise, as bool."""
    return jnp.logical_or(tensor(a), tensor(b))


def logical_not(x: Any) -> jax.Array:
    """not x elementwise, as bool."""
    return jnp.logical_not(tensor(x))


def isnan(x: Any) -> jax.Array:
    """True where x is NaN."""
    return jnp.isnan(tensor(x))


def any(x: Any, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """True where any entry along ``axis`` is true (nonzero)."""
    return jnp.any(tensor(x), axis=_axes(axis), keepdims=keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """True where every entry along ``axis`` is true (nonzero)."""
    return jnp.all(tensor(x), axis=_axes(axis), keepdims=keepdims)


# --- reductions -----------------------------------------------------------------------


def _axes(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """Sum over ``axis`` (int, tuple or None for all); ints keep their dtype, bools give int32
    (JAX with x64 would widen int32 sums to int64, NumPy-style)."""
    x = tensor(x)
    dtype = None if jnp.issubdtype(x.dtype, jnp.floating) else x.dtype
    dtype = jnp.int32 if x.dtype == jnp.bool_ else dtype
    return jnp.sum(x, axis=_axes(axis), keepdims=keepdims, dtype=dtype)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """Mean over ``axis``; integer input gives float32."""
    return jnp.mean(float_tensor(x), axis=_axes(axis), keepdims=keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """Maximum over ``axis`` (gradient shared equally among tied maxima)."""
    return jnp.max(tensor(x), axis=_axes(axis), keepdims=keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """Minimum over ``axis`` (gradient shared equally among tied minima)."""
    return jnp.min(tensor(x), axis=_axes(axis), keepdims=keepdims)


def argmax(x: Any, axis: int = -1) -> jax.Array:
    """Index of the first maximum along ``axis`` (a NaN counts as maximum), as int64."""
    return jnp.argmax(jax.lax.stop_gradient(tensor(x)), axis=axis).astype(jnp.int64)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> jax.Array:
    """log(sum(exp(x))) over ``axis`` (``jax.nn.logsumexp``, stable for large and -inf x)."""
    return jax.nn.logsumexp(float_tensor(x), axis=_axes(axis), keepdims=keepdims)


def matmul(a: Any, b: Any) -> jax.Array:
    """Matrix product, batched over leading axes like ``np.matmul``."""
    return jnp.matmul(*common([a, b]))


def einsum(subscripts: str, *operands: Any) -> jax.Array:
    """Einstein summation over ``operands``."""
    return jnp.einsum(subscripts, *common(operands))
