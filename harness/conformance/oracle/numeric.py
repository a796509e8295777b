"""Gradients by central finite differences, for checking backends' backward passes.

The step for element x is ``eps * max(1, |x|)`` (relative for large values); the divisor is
the difference actually represented in float64, ``(x + h) - (x - h)``, which removes most of
the rounding error in the step itself. In float64 with ``eps=1e-6`` the error is about
``eps**2 * |f'''|`` plus ``1e-16 * |f| / eps``, i.e. ~1e-10 relative on smooth functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.errors import UsageError


def _as_float64(arrays: Sequence[Any]) -> list[np.ndarray]:
    # C order: the perturbation loop writes through reshape(-1), which must be a view
    return [np.array(a, dtype=np.float64, copy=True, order="C") for a in arrays]


def _scalar(value: Any) -> float:
    out = np.asarray(value, dtype=np.float64)
    if out.size != 1:
        raise UsageError(f"central_difference needs a scalar function, got shape {out.shape}")
    return float(out.reshape(()))


def central_difference(
    f: Callable[..., Any], arrays: Sequence[Any], eps: float = 1e-6
) -> list[np.ndarray]:
    """Gradient of the scalar ``f(*arrays)`` with respect to each array, by central differences.

    Costs two calls of ``f`` per element; one float64 copy of each array is perturbed in place
    and restored, so no array is rebuilt per element. Returns one float64 array per input,
    each of that input's shape.
    """
    if eps <= 0:
        raise UsageError(f"eps must be positive, got {eps}")
    xs = _as_float64(arrays)
    grads = []
    for x in xs:
        grad = np.zeros(x.shape)
        flat, gflat = x.reshape(-1), grad.reshape(-1)  # views: edits reach x and grad
        for i in range(flat.size):
            original = flat[i]
            h = eps * max(1.0, abs(original))
            flat[i] = original + h
            upper_x = flat[i]
            upper = _scalar(f(*xs))
            flat[i] = original - h
            lower_x = flat[i]
            lower = _scalar(f(*xs))
            flat[i] = original
            gflat[i] = (upper - lower) / (upper_x - lower_x)
        grads.append(grad)
    return grads


def vjp_by_finite_differences(
    f: Callable[..., Any], arrays: Sequence[Any], cotangent: Any, eps: float = 1e-6
) -> list[np.ndarray]:
    """Vector-Jacobian product of ``f`` at ``arrays``: the gradient of
    ``sum(f(*arrays) * cotangent)`` with respect to each array.

    ``f`` may return one array or a list of arrays (then ``cotangent`` is a matching list).
    Returns one float64 array per input, each of that input's shape.
    """
    if isinstance(cotangent, (list, tuple)):
        cots = [np.asarray(c, dtype=np.float64) for c in cotangent]

        def weighted(*xs: np.ndarray) -> float:
            outs = f(*xs)
            if not isinstance(outs, (list, tuple)) or len(outs) != len(cots):
                raise UsageError("f must return as many outputs as there are cotangents")
            return sum(
                float(np.sum(np.asarray(o, dtype=np.float64) * c))
                for o, c in zip(outs, cots, strict=True)
            )
    else:
        cot = np.asarray(cotangent, dtype=np.float64)

        def weighted(*xs: np.ndarray) -> float:
            out = np.asarray(f(*xs), dtype=np.float64)
            if out.shape != cot.shape:
                raise UsageError(f"cotangent shape {cot.shape} does not match f's {out.shape}")
            return float(np.sum(out * cot))

    return central_difference(weighted, arrays, eps=eps)
