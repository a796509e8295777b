"""Graph backends, math: elementwise arithmetic, comparisons, reductions, matmul, einsum.

Python and NumPy scalars beside a tensor take the tensor's dtype (as in every backend of the
library); two tensors promote as NumPy does. Where the framework's gradient differs from the
library's convention at ties (maximum/minimum: the first argument wins), the op is built from
``switch``, whose gradient follows the chosen branch.
"""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from harness.reference.backend.graph.array import ArrayOps

MATH_OPS = (
    "add", "subtract", "multiply", "divide", "negative", "power", "square", "sqrt", "exp",
    "log", "log1p", "abs", "sign", "tanh", "erf", "maximum", "minimum", "clip", "where",
    "equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
    "logical_or", "logical_not", "any", "all", "sum", "mean", "max", "min", "argmax",
    "logsumexp", "matmul", "einsum", "isnan",
)


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.generic))


class MathOps(ArrayOps):
    """Elementwise math, comparisons and reductions."""

    # --- operands ------------------------------------------------------------------------
    def pair(self, a: Any, b: Any) -> tuple[Any, Any]:
        """Operands of a binary op as tensors of one dtype; a scalar takes the tensor's
        dtype, except a float scalar beside an integer or bool tensor makes both float32."""
        if _is_scalar(a) and _is_scalar(b):
            a = self.convert_to_tensor(a)
        if _is_scalar(b) and not _is_scalar(a):
            return self._with_weak(self.tensor(a), b)
        if _is_scalar(a):
            b, a = self._with_weak(self.tensor(b), a)
            return a, b
        a_t, b_t = self.common([a, b])
        return a_t, b_t

    def _with_weak(self, t: Any, s: Any) -> tuple[Any, Any]:
        kind = np.dtype(t.dtype).kind
        s_kind = np.asarray(s).dtype.kind
        if s_kind == "f" and kind != "f":
            t = self.cast(t, "float32")
        elif s_kind in "iu" and kind == "b":
            t = self.cast(t, "int32")
        return t, self.fw.constant(np.asarray(s, dtype=t.dtype))

    def binary(self, fn: Any, a: Any, b: Any) -> Any:
        """``fn(a, b)`` on operands made compatible by ``pair``, broadcasting."""
        return self.elementwise(fn, *self.pair(a, b))

    def unary_float(self, fn: Any, x: Any) -> Any:
        """``fn(x)`` for float math: ints become float32, the result keeps x's float dtype."""
        x = self.float_tensor(x)
        return self.cast(self.elementwise(fn, x), x.dtype)

    # --- arithmetic ----------------------------------------------------------------------
    def add(self, a: Any, b: Any) -> Any:
        """a + b, broadcasting."""
        return self.binary(self.T.add, a, b)

    def subtract(self, a: Any, b: Any) -> Any:
        """a - b, broadcasting."""
        return self.binary(self.T.sub, a, b)

    def multiply(self, a: Any, b: Any) -> Any:
        """a * b, broadcasting."""
        return self.binary(self.T.mul, a, b)

    def divide(self, a: Any, b: Any) -> Any:
        """a / b, broadcasting; integer operands divide as float32."""
        a, b = self.pair(a, b)
        if not a.dtype.startswith("float"):
            a, b = self.cast(a, "float32"), self.cast(b, "float32")
        return self.elementwise(self.T.true_div, a, b)

    def negative(self, x: Any) -> Any:
        """-x."""
        return self.elementwise(self.T.neg, self.tensor(x))

    def power(self, x: Any, p: Any) -> Any:
        """x ** p, broadcasting."""
        return self.binary(self.T.pow, x, p)

    def square(self, x: Any) -> Any:
        """x * x."""
        x = self.tensor(x)
        return self.elementwise(self.T.mul, x, x)

    def sqrt(self, x: Any) -> Any:
        """Square root."""
        return self.unary_float(self.T.sqrt, x)

    def exp(self, x: Any) -> Any:
        """e ** x."""
        return self.unary_float(self.T.exp, x)

    def log(self, x: Any) -> Any:
        """Natural logarithm."""
        return self.unary_float(self.T.log, x)

    def log1p(self, x: Any) -> Any:
        """log(1 + x), accurate for small x."""
        return self.unary_float(self.T.log1p, x)

    def abs(self, x: Any) -> Any:
        """|x| (gradient 0 at 0)."""
        return self.elementwise(self.fw.abs, self.tensor(x))

    def sign(self, x: Any) -> Any:
        """-1, 0 or 1 as x is negative, zero or positive (no gradient)."""
        return self.stop_gradient(self.elementwise(self.fw.sign, self.tensor(x)))

    def tanh(self, x: Any) -> Any:
        """Hyperbolic tangent."""
        return self.unary_float(self.T.tanh, x)

    def erf(self, x: Any) -> Any:
        """The error function (the framework's native ``erf``)."""
        return self.unary_float(self.T.erf, x)

    def select(self, cond: Any, a: Any, b: Any) -> Any:
        """``switch(cond, a, b)`` broadcasting; the gradient goes to the chosen branch."""
        cond = self.tensor(cond)
        if cond.dtype != "bool":
            cond = self.elementwise(self.T.neq, cond, self.fw.constant(np.zeros((), cond.dtype)))
        return self.elementwise(self.T.switch, cond, a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        """Elementwise max; NaN propagates; at ties the gradient goes to ``a``."""
        a, b = self.pair(a, b)
        take_a = self.logical_or(self.greater_equal(a, b), self.isnan(a))
        return self.select(take_a, a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        """Elementwise min; NaN propagates; at ties the gradient goes to ``a``."""
        a, b = self.pair(a, b)
        take_a = self.logical_or(self.less_equal(a, b), self.isnan(a))
        return self.select(take_a, a, b)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        """x limited to [lo, hi]; the gradient is 1 inside and on the bounds, 0 outside."""
        x, lo = self.pair(x, lo)
        x, hi = self.pair(x, hi)
        return self.minimum(self.maximum(x, lo), hi)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        """``a`` where ``cond`` is true, else ``b`` (broadcasting; gradient to the chosen one)."""
        return self.select(cond, *self.pair(a, b))

    # --- comparisons and logic (bool results, no gradient) -------------------------------
    def equal(self, a: Any, b: Any) -> Any:
        """a == b elementwise, as bool."""
        return self.binary(self.T.eq, a, b)

    def not_equal(self, a: Any, b: Any) -> Any:
        """a != b elementwise, as bool."""
        return self.binary(self.T.neq, a, b)

    def greater(self, a: Any, b: Any) -> Any:
        """a > b elementwise, as bool."""
        return self.binary(self.T.gt, a, b)

    def greater_equal(self, a: Any, b: Any) -> Any:
        """a >= b elementwise, as bool."""
        return self.binary(self.T.ge, a, b)

    def less(self, a: Any, b: Any) -> Any:
        """a < b elementwise, as bool."""
        return self.binary(self.T.lt, a, b)

    def less_equal(self, a: Any, b: Any) -> Any:
        """a <= b elementwise, as bool."""
        return self.binary(self.T.le, a, b)

    def as_bool(self, x: Any) -> Any:
        """``x != 0`` as a bool tensor (``x`` itself when already bool)."""
        x = self.tensor(x)
        return x if x.dtype == "bool" else self.not_equal(x, 0)

    def logical_and(self, a: Any, b: Any) -> Any:
        """a and b elementwise, as bool."""
        return self.elementwise(self.T.and_, self.as_bool(a), self.as_bool(b))

    def logical_or(self, a: Any, b: Any) -> Any:
        """a or b elementwise, as bool."""
        return self.elementwise(self.T.or_, self.as_bool(a), self.as_bool(b))

    def logical_not(self, x: Any) -> Any:
        """not x elementwise, as bool."""
        return self.elementwise(self.T.invert, self.as_bool(x))

    def isnan(self, x: Any) -> Any:
        """True where x is NaN."""
        return self.elementwise(self.T.isnan, self.tensor(x))

    def isfinite(self, x: Any) -> Any:
        """True where x is neither NaN nor infinite (a helper, not an interface op)."""
        x = self.tensor(x)
        bad = self.elementwise(self.T.or_, self.isnan(x), self.elementwise(self.T.isinf, x))
        return self.logical_not(bad)

    # --- reductions ----------------------------------------------------------------------
    def axes(self, x: Any, axis: Any) -> tuple[int, ...]:
        """``axis`` (None, an int or a sequence) as sorted non-negative axes of ``x``."""
        if axis is None:
            return tuple(range(len(self.shape(x))))
        items = axis if isinstance(axis, (list, tuple)) else [axis]
        return tuple(sorted({self.axis(x, a) for a in items}))

    def reduce(self, fn: Any, x: Any, axis: Any, keepdims: bool, **kwargs: Any) -> Any:
        """``fn(x, axis=..., keepdims=...)`` with its output shape recorded."""
        axes = self.axes(x, axis)
        shape = self.shape(x)
        out = [1 if i in axes else d for i, d in enumerate(shape)] if keepdims else [
            d for i, d in enumerate(shape) if i not in axes]
        if not axes:
            return x
        return self.out(fn(x, axis=list(axes), keepdims=keepdims, **kwargs), out)

    def any(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        """True where any entry along ``axis`` is true (nonzero)."""
        return self.reduce(self.T.any, self.as_bool(x), axis, keepdims)

    def all(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        """True where every entry along ``axis`` is true (nonzero)."""
        return self.reduce(self.T.all, self.as_bool(x), axis, keepdims)

    def sum(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        """Sum over ``axis``; floats and ints keep their dtype, bools give int32."""
        x = self.tensor(x)
        dtype = "int32" if x.dtype == "bool" else x.dtype
        return self.cast(self.reduce(self.T.sum, x, axis, keepdims, dtype=dtype), dtype)

    def mean(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        """Mean over ``axis``; integer input gives float32."""
        x = self.float_tensor(x)
        count = int(np.prod([self.shape(x)[a] for a in self.axes(x, axis)]))
        return self.divide(self.sum(x, axis, keepdims), float(count) if count else np.nan)

    def max(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        """Maximum over ``axis`` (the framework's reduction)."""
        return self.reduce(self.T.max, self.tensor(x), axis, keepdims)

    def min(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        """Minimum over ``axis`` (the framework's reduction)."""
        return self.reduce(self.T.min, self.tensor(x), axis, keepdims)

    def argmax(self, x: Any, axis: int = -1) -> Any:
        """Index of the first maximum along ``axis``, as int64 (no gradient)."""
        x = self.tensor(x)
        axis = self.axis(x, axis)
        shape = [d for i, d in enumerate(self.shape(x)) if i != axis]
        return self.cast(self.out(self.T.argmax(x, axis=axis), shape), "int64")

    def logsumexp(self, x: Any, axis: Any = None, keepdims: bool = False) -> Any:
        """log(sum(exp(x))) over ``axis``, shifted by the (finite) max against overflow."""
        x = self.float_tensor(x)
        axes = self.axes(x, axis)
        peak = self.stop_gradient(self.max(x, axes, keepdims=True))
        # an all -inf (or inf) slice would give inf - inf = NaN: shift it by 0 instead
        peak = self.where(self.isfinite(peak), peak, 0.0)
        total = self.sum(self.exp(self.subtract(x, peak)), axes, keepdims=True)
        out = self.add(self.log(total), peak)
        return out if keepdims else self.squeeze(out, axes)

    # --- products ------------------------------------------------------------------------
    def matmul(self, a: Any, b: Any) -> Any:
        """Matrix product, batched over leading axes like ``np.matmul``."""
        a, b = self.common([a, b])
        sa, sb = self.shape(a), self.shape(b)
        if not sa or not sb:
            raise ValueError("matmul needs operands of rank >= 1")
        out_shape = _matmul_shape(sa, sb)
        native = self.fw.matmul(self.bcast(a), self.bcast(b))
        if native is not NotImplemented:
            return self.out(native, out_shape)
        return self.reshape(self._batched_matmul(a, b), out_shape)

    def _batched_matmul(self, a: Any, b: Any) -> Any:
        """np.matmul from ``dot`` and ``batched_dot`` (for frameworks without matmul)."""
        sa, sb = self.shape(a), self.shape(b)
        a2 = self.reshape(a, (1, sa[0])) if len(sa) == 1 else a
        b2 = self.reshape(b, (sb[0], 1)) if len(sb) == 1 else b
        sa2, sb2 = self.shape(a2), self.shape(b2)
        if sa2[-1] != sb2[-2]:
            raise ValueError(f"matmul shapes {sa} and {sb} do not align")
        if len(sb2) == 2:
            flat = self.reshape(a2, (-1, sa2[-1]))
            prod = self.out(self.T.dot(flat, b2), (self.shape(flat)[0], sb2[-1]))
            return prod
        batch = tuple(np.broadcast_shapes(sa2[:-2], sb2[:-2]))
        a3 = self.reshape(self.broadcast_to(a2, batch + sa2[-2:]), (-1,) + sa2[-2:])
        b3 = self.reshape(self.broadcast_to(b2, batch + sb2[-2:]), (-1,) + sb2[-2:])
        n = self.shape(a3)[0]
        return self.out(self.T.batched_dot(a3, b3), (n, sa2[-2], sb2[-1]))

    def broadcast_to(self, x: Any, shape: tuple[int, ...]) -> Any:
        """``x`` broadcast to ``shape`` (leading axes added)."""
        x = self.tensor(x)
        if self.shape(x) == tuple(shape):
            return x
        return self.elementwise(self.T.add, x, self.zeros(shape, x.dtype))

    def einsum(self, subscripts: str, *operands: Any) -> Any:
        """Einstein summation over ``operands`` (explicit or implicit output)."""
        ops = self.common(operands)
        inputs, output = _parse_einsum(subscripts, [len(self.shape(o)) for o in ops])
        sizes: dict[str, int] = {}
        for letters, op in zip(inputs, ops, strict=True):
            for letter, d in zip(letters, self.shape(op), strict=True):
                if sizes.setdefault(letter, d) != d and 1 not in (d, sizes[letter]):
                    raise ValueError(f"einsum {subscripts!r}: axis {letter!r} sizes differ")
                sizes[letter] = max(sizes[letter], d)
        out_shape = [sizes[c] for c in output]
        native = self.fw.einsum(f"{','.join(inputs)}->{output}", [self.bcast(o) for o in ops])
        if native is not NotImplemented:
            return self.out(native, out_shape)
        return self._einsum_product(inputs, output, ops)

    def _einsum_product(self, inputs: list[str], output: str, ops: list[Any]) -> Any:
        """einsum as a broadcast product summed over the contracted letters."""
        contracted = sorted({c for letters in inputs for c in letters} - set(output))
        order = list(output) + contracted
        total = None
        for letters, op in zip(inputs, ops, strict=True):
            if len(set(letters)) != len(letters):
                raise ValueError(f"einsum: repeated subscripts in {letters!r} are not supported")
            moved = self.transpose(op, sorted(range(len(letters)),
                                              key=lambda i: order.index(letters[i])))
            present = sorted(letters, key=order.index)
            shape = [self.shape(moved)[present.index(c)] if c in present else 1 for c in order]
            term = self.reshape(moved, shape)
            total = term if total is None else self.multiply(total, term)
        axes = list(range(len(output), len(order)))
        return self.sum(total, axes) if axes else total


def _matmul_shape(sa: tuple[int, ...], sb: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape of ``np.matmul`` for operand shapes ``sa`` and ``sb``."""
    a = (1,) + sa if len(sa) == 1 else sa
    b = sb + (1,) if len(sb) == 1 else sb
    if a[-1] != b[-2]:
        raise ValueError(f"matmul shapes {sa} and {sb} do not align")
    shape = tuple(np.broadcast_shapes(a[:-2], b[:-2])) + (a[-2], b[-1])
    if len(sa) == 1:
        shape = shape[:-2] + shape[-1:]
    if len(sb) == 1:
        shape = shape[:-1]
    return shape


def _parse_einsum(subscripts: str, ranks: list[int]) -> tuple[list[str], str]:
    """Input letter groups and output letters of ``subscripts`` (no ellipsis)."""
    spec = subscripts.replace(" ", "")
    if "." in spec:
        raise ValueError(f"einsum: ellipsis is not supported, got {subscripts!r}")
    lhs, arrow, output = spec.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(ranks) or any(len(s) != r for s, r in zip(inputs, ranks, strict=True)):
        raise ValueError(f"einsum {subscripts!r} does not fit operands of ranks {ranks}")
    letters = "".join(inputs)
    if any(c not in string.ascii_letters for c in letters + output):
        raise ValueError(f"einsum: bad subscripts {subscripts!r}")
    if not arrow:
        output = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return inputs, output
