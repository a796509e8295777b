"""TensorFlow backend, math: elementwise arithmetic, comparisons, reductions, matmul, einsum.

Every op is TensorFlow's own kernel; operands are first brought to a common dtype with the
NumPy backend's promotion rules (TensorFlow itself refuses mixed dtypes).
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from harness.reference.backend.tensorflow.core import common, float_tensor, pair, shape, tensor
from harness.reference.backend.tensorflow.devices import placed

# --- arithmetic -----------------------------------------------------------------------


@placed
def add(a: Any, b: Any) -> Any:
    """a + b, broadcasting."""
    return tf.add(*pair(a, b))


@placed
def subtract(a: Any, b: Any) -> Any:
    """a - b, broadcasting."""
    return tf.subtract(*pair(a, b))


@placed
def multiply(a: Any, b: Any) -> Any:
    """a * b, broadcasting."""
    return tf.multiply(*pair(a, b))


@placed
def divide(a: Any, b: Any) -> Any:
    """a / b, broadcasting; integer operands divide as float32."""
    a, b = pair(a, b)
    if not a.dtype.is_floating:
        a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    return tf.math.divide(a, b)


@placed
def negative(x: Any) -> Any:
    """-x."""
    return tf.negative(tensor(x))


@placed
def power(x: Any, p: Any) -> Any:
    """x ** p, broadcasting."""
    return tf.pow(*pair(x, p))


@placed
def square(x: Any) -> Any:
    """x * x."""
    return tf.square(tensor(x))


@placed
def sqrt(x: Any) -> Any:
    """Square root."""
    return tf.sqrt(float_tensor(x))


@placed
def exp(x: Any) -> Any:
    """e ** x."""
    return tf.exp(float_tensor(x))


@placed
def log(x: Any) -> Any:
    """Natural logarithm."""
    return tf.math.log(float_tensor(x))


@placed
def log1p(x: Any) -> Any:
    """log(1 + x), accurate for small x."""
    return tf.math.log1p(float_tensor(x))


@placed
def abs(x: Any) -> Any:
    """|x| (gradient 0 at 0)."""
    return tf.abs(tensor(x))


@placed
def sign(x: Any) -> Any:
    """-1, 0 or 1 as x is negative, zero or positive (no gradient)."""
    return tf.stop_gradient(tf.sign(tensor(x)))


@placed
def tanh(x: Any) -> Any:
    """Hyperbolic tangent."""
    return tf.tanh(float_tensor(x))


@placed
def erf(x: Any) -> Any:
    """The error function (tf.math.erf)."""
    return tf.math.erf(float_tensor(x))


@placed
def maximum(a: Any, b: Any) -> Any:
    """Elementwise max; NaN propagates; at ties the gradient goes to ``a``."""
    return tf.maximum(*pair(a, b))


@placed
def minimum(a: Any, b: Any) -> Any:
    """Elementwise min; NaN propagates; at ties the gradient goes to ``a``."""
    return tf.minimum(*pair(a, b))


@placed
def clip(x: Any, lo: Any, hi: Any) -> Any:
    """x limited to [lo, hi]; the gradient is 1 inside and on the bounds, 0 outside."""
    x, lo = pair(x, lo)
    x, hi = pair(x, hi)
    if shape(lo) == () and shape(hi) == ():
        return tf.clip_by_value(x, tf.cast(lo, x.dtype), tf.cast(hi, x.dtype))
    # bounds that broadcast against x: clip_by_value needs them no larger than x
    return minimum(maximum(x, lo), hi)


@placed
def where(cond: Any, a: Any, b: Any) -> Any:
    """``a`` where ``cond`` is true, else ``b`` (broadcasting; gradient to the chosen one)."""
    cond = tensor(cond)
    if cond.dtype != tf.bool:
        cond = tf.not_equal(cond, tf.zeros((), cond.dtype))
    return tf.where(cond, *pair(a, b))


# --- comparisons and logic (no gradient) ----------------------------------------------


def _as_bool(x: Any) -> Any:
    x = tensor(x)
    return x if x.dtype == tf.bool else tf.not_equal(x, tf.zeros((), x.dtype))


@placed
def equal(a: Any, b: Any) -> Any:
    """a == b elementwise, as bool."""
    return tf.equal(*pair(a, b))


@placed
def not_equal(a: Any, b: Any) -> Any:
    """a != b elementwise, as bool."""
    return tf.not_equal(*pair(a, b))


@placed
def greater(a: Any, b: Any) -> Any:
    """a > b elementwise, as bool."""
    return tf.greater(*pair(a, b))


@placed
def greater_equal(a: Any, b: Any) -> Any:
    """a >= b elementwise, as bool."""
    return tf.greater_equal(*pair(a, b))


@placed
def less(a: Any, b: Any) -> Any:
    """a < b elementwise, as bool."""
    return tf.less(*pair(a, b))


@placed
def less_equal(a: Any, b: Any) -> Any:
    """a <= b elementwise, as bool."""
    return tf.less_equal(*pair(a, b))


@placed
def logical_and(a: Any, b: Any) -> Any:
    """a and b elementwise, as bool."""
    return tf.logical_and(_as_bool(a), _as_bool(b))


@placed
def logical_or(a: Any, b: Any) -> Any:
    """a or b elementwise, as bool."""
    return tf.logical_or(_as_bool(a), _as_bool(b))


@placed
def logical_not(x: Any) -> Any:
    """not x elementwise, as bool."""
    return tf.logical_not(_as_bool(x))


@placed
def isnan(x: Any) -> Any:
    """True where x is NaN."""
    x = tensor(x)
    return tf.math.is_nan(x) if x.dtype.is_floating else tf.zeros(tf.shape(x), tf.bool)


@placed
def any(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """True where any entry along ``axis`` is true (nonzero)."""
    return tf.reduce_any(_as_bool(x), axis=_axes(axis), keepdims=keepdims)


@placed
def all(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """True where every entry along ``axis`` is true (nonzero)."""
    return tf.reduce_all(_as_bool(x), axis=_axes(axis), keepdims=keepdims)


# --- reductions -----------------------------------------------------------------------


def _axes(axis: Any) -> Any:
    return list(axis) if isinstance(axis, (list, tuple)) else axis


@placed
def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (int, tuple or None for all); ints keep their dtype, bools give int32."""
    x = tensor(x)
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.int32)
    return tf.reduce_sum(x, axis=_axes(axis), keepdims=keepdims)


@placed
def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``; integer input gives float32."""
    return tf.reduce_mean(float_tensor(x), axis=_axes(axis), keepdims=keepdims)


@placed
def max(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis`` (gradient shared equally among tied maxima)."""
    return tf.reduce_max(tensor(x), axis=_axes(axis), keepdims=keepdims)


@placed
def min(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """Minimum over ``axis`` (gradient shared equally among tied minima)."""
    return tf.reduce_min(tensor(x), axis=_axes(axis), keepdims=keepdims)


@placed
def argmax(x: Any, axis: int = -1) -> Any:
    """Index of the first maximum along ``axis``, as int64 (no gradient)."""
    return tf.argmax(tensor(x), axis=axis, output_type=tf.int64)


@placed
def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    """log(sum(exp(x))) over ``axis``, computed without overflow (tf.reduce_logsumexp)."""
    return tf.reduce_logsumexp(float_tensor(x), axis=_axes(axis), keepdims=keepdims)


@placed
def matmul(a: Any, b: Any) -> Any:
    """Matrix product, batched over leading axes like ``np.matmul`` (1-d operands too)."""
    a, b = common([a, b])
    a_vec, b_vec = len(shape(a)) == 1, len(shape(b)) == 1
    # tf.linalg.matmul wants matrices: a vector is a row (left) or a column (right)
    out = tf.linalg.matmul(a[None, :] if a_vec else a, b[:, None] if b_vec else b)
    if a_vec:
        out = tf.squeeze(out, axis=-2)
    if b_vec:
        out = tf.squeeze(out, axis=-1)
    return out


@placed
def einsum(subscripts: str, *operands: Any) -> Any:
    """Einstein summation over ``operands`` (promoted to a common dtype)."""
    return tf.einsum(subscripts, *common(operands))
