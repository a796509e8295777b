"""PyTorch backend, math: elementwise arithmetic, comparisons, reductions, matmul, einsum.

Every op is torch's own; where torch's gradient at ties differs from the interface's
(TensorFlow's: maximum and minimum send it to the first argument), the op is a ``torch.where``
that routes it so.
"""

from __future__ import annotations

from typing import Any

import torch

from harness.reference.backend.torch.core import (
    axes_of,
    float_tensor,
    pair,
    promote,
    tensor,
)

# --- arithmetic -----------------------------------------------------------------------


def add(a: Any, b: Any) -> torch.Tensor:
    """a + b, broadcasting."""
    return torch.add(*pair(a, b))


def subtract(a: Any, b: Any) -> torch.Tensor:
    """a - b, broadcasting."""
    return torch.subtract(*pair(a, b))


def multiply(a: Any, b: Any) -> torch.Tensor:
    """a * b, broadcasting."""
    return torch.multiply(*pair(a, b))


def divide(a: Any, b: Any) -> torch.Tensor:
    """a / b, broadcasting; integer operands divide as float32."""
    a, b = pair(a, b)
    if not a.is_floating_point() and not b.is_floating_point():
        a, b = a.to(torch.float32), b.to(torch.float32)
    return torch.divide(a, b)


def negative(x: Any) -> torch.Tensor:
    """-x."""
    return torch.negative(tensor(x))


def power(x: Any, p: Any) -> torch.Tensor:
    """x ** p, broadcasting."""
    return torch.pow(*pair(x, p))


def square(x: Any) -> torch.Tensor:
    """x * x."""
    return torch.square(tensor(x))


def sqrt(x: Any) -> torch.Tensor:
    """Square root."""
    return torch.sqrt(float_tensor(x))


def exp(x: Any) -> torch.Tensor:
    """e ** x."""
    return torch.exp(float_tensor(x))


def log(x: Any) -> torch.Tensor:
    """Natural logarithm."""
    return torch.log(float_tensor(x))


def log1p(x: Any) -> torch.Tensor:
    """log(1 + x), accurate for small x."""
    return torch.log1p(float_tensor(x))


def abs(x: Any) -> torch.Tensor:
    """|x| (gradient 0 at 0)."""
    return torch.abs(tensor(x))


def sign(x: Any) -> torch.Tensor:
    """-1, 0 or 1 as x is negative, zero or positive (no gradient)."""
    return torch.sign(tensor(x).detach())


def tanh(x: Any) -> torch.Tensor:
    """Hyperbolic tangent."""
    return torch.tanh(float_tensor(x))


def erf(x: Any) -> torch.Tensor:
    """The error function (torch.erf) with its analytic gradient."""
    return torch.erf(float_tensor(x))


def maximum(a: Any, b: Any) -> torch.Tensor:
    """Elementwise max; NaN propagates; at ties the gradient goes to ``a`` (as TensorFlow;
    torch.maximum would split it in halves)."""
    a, b = pair(a, b)
    return torch.where((a >= b) | torch.isnan(a), a, b)


def minimum(a: Any, b: Any) -> torch.Tensor:
    """Elementwise min; NaN propagates; at ties the gradient goes to ``a`` (as TensorFlow)."""
    a, b = pair(a, b)
    return torch.where((a <= b) | torch.isnan(a), a, b)


def clip(x: Any, lo: Any, hi: Any) -> torch.Tensor:
    """x limited to [lo, hi]; the gradient is 1 inside and on the bounds, 0 outside."""
    x, lo = pair(x, lo)
    x, hi = pair(x, hi)
    return torch.clamp(x, lo.to(x.dtype), hi.to(x.dtype))


def where(cond: Any, a: Any, b: Any) -> torch.Tensor:
    """``a`` where ``cond`` is true, else ``b`` (broadcasting; gradient to the chosen one)."""
    a, b = pair(a, b)
    cond = tensor(cond).detach().to(device=a.device, dtype=torch.bool)
    return torch.where(cond, a, b)


# --- comparisons and logic (no gradient) ----------------------------------------------


def _compare(fn: Any, a: Any, b: Any) -> torch.Tensor:
    a, b = pair(a, b)
    return fn(a.detach(), b.detach())


def equal(a: Any, b: Any) -> torch.Tensor:
    """a == b elementwise, as bool."""
    return _compare(torch.eq, a, b)


def not_equal(a: Any, b: Any) -> torch.Tensor:
    """a != b elementwise, as bool."""
    return _compare(torch.ne, a, b)


def greater(a: Any, b: Any) -> torch.Tensor:
    """a > b elementwise, as bool."""
    return _compare(torch.gt, a, b)


def greater_equal(a: Any, b: Any) -> torch.Tensor:
    """a >= b elementwise, as bool."""
    return _compare(torch.ge, a, b)


def less(a: Any, b: Any) -> torch.Tensor:
    """a < b elementwise, as bool."""
    return _compare(torch.lt, a, b)


def less_equal(a: Any, b: Any) -> torch.Tensor:
    """a <= b elementwise, as bool."""
    return _compare(torch.le, a, b)


def logical_and(a: Any, b: Any) -> torch.Tensor:
    """a and b elementwise, as bool."""
    return _compare(torch.logical_and, a, b)


def logical_or(a: Any, b: Any) -> torch.Tensor:
    """a or b elementwise, as bool."""
    return _compare(torch.logical_or, a, b)


def logical_not(x: Any) -> torch.Tensor:
    """not x elementwise, as bool."""
    return torch.logical_not(tensor(x).detach())


def isnan(x: Any) -> torch.Tensor:
    """True where x is NaN."""
    return torch.isnan(tensor(x).detach())


def _reduce(fn: Any, x: torch.Tensor, axis: Any, keepdims: bool, **kwargs: Any) -> torch.Tensor:
    """``fn(x, dim=axes, keepdim=keepdims)``; an empty axis tuple reduces nothing, as in
    NumPy (torch would reduce everything)."""
    axes = axes_of(x, axis)
    if not axes:
        return x.to(kwargs["dtype"]) if "dtype" in kwargs else x
    return fn(x, dim=axes, keepdim=bool(keepdims), **kwargs)


def any(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """True where any entry along ``axis`` is true (nonzero)."""
    return _reduce(torch.any, tensor(x).detach().to(torch.bool), axis, keepdims)


def all(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """True where every entry along ``axis`` is true (nonzero)."""
    return _reduce(torch.all, tensor(x).detach().to(torch.bool), axis, keepdims)


# --- reductions -----------------------------------------------------------------------


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """Sum over ``axis`` (int, tuple or None for all); ints keep their dtype, bools give int32."""
    x = tensor(x)
    if x.is_floating_point():
        return _reduce(torch.sum, x, axis, keepdims)
    # torch would widen int32 sums to int64
    out_dtype = torch.int32 if x.dtype == torch.bool else x.dtype
    return _reduce(torch.sum, x.detach(), axis, keepdims, dtype=out_dtype)


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """Mean over ``axis``; integer input gives float32."""
    return _reduce(torch.mean, float_tensor(x), axis, keepdims)


def max(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """Maximum over ``axis`` (gradient shared equally among tied maxima, as torch.amax)."""
    return _reduce(torch.amax, tensor(x), axis, keepdims)


def min(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """Minimum over ``axis`` (gradient shared equally among tied minima, as torch.amin)."""
    return _reduce(torch.amin, tensor(x), axis, keepdims)


def argmax(x: Any, axis: int = -1) -> torch.Tensor:
    """Index of the first maximum along ``axis``, as int64 (no gradient; NaN counts as max)."""
    x = tensor(x).detach()
    if x.dtype == torch.bool:
        x = x.to(torch.int32)
    return torch.argmax(x, dim=axis)


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> torch.Tensor:
    """log(sum(exp(x))) over ``axis``, computed without overflow (torch.logsumexp)."""
    return _reduce(torch.logsumexp, float_tensor(x), axis, keepdims)


def matmul(a: Any, b: Any) -> torch.Tensor:
    """Matrix product, batched over leading axes like ``np.matmul``."""
    return torch.matmul(*promote(tensor(a), tensor(b)))


def einsum(subscripts: str, *operands: Any) -> torch.Tensor:
    """Einstein summation over ``operands``."""
    if not operands:
        raise ValueError("einsum needs at least one operand")
    return torch.einsum(subscripts, *promote(*(tensor(o) for o in operands)))
