"""The Theano framework adapter and the instance of the ops this backend exports.

Theano 1.0.5 reads ``THEANO_FLAGS`` once, at import: unless the user set them, this module
sets a per-user compile cache and no external BLAS (NumPy's C-API BLAS is used instead).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

if not os.environ.get("THEANO_FLAGS"):
    _CACHE = os.path.join(os.path.expanduser("~"), ".cache", "dl-harness", "theano")
    os.environ["THEANO_FLAGS"] = f"blas.ldflags=,base_compiledir={_CACHE}"

import theano  # noqa: E402 (needs THEANO_FLAGS first)
import theano.tensor as T  # noqa: E402
from theano.gradient import disconnected_grad  # noqa: E402

from harness.reference.backend.graph.framework import Framework  # noqa: E402
from harness.reference.backend.graph.ops import GraphOps  # noqa: E402


class Theano(Framework):
    """Theano 1.0.5: types know only broadcastable axes; softmax is 2-d; no matmul/einsum."""

    name = "theano"
    T = T
    # the C implementations (gcc) and Theano's full graph optimiser
    compile_variants = {"fast_run": {"mode": "FAST_RUN"}}

    def symbolic(self, dtype: str, shape: Sequence[int]) -> Any:
        return T.TensorType(dtype, broadcastable=tuple(int(d) == 1 for d in shape))()

    def broadcastable(self, x: Any, axes: Sequence[int]) -> Any:
        return T.addbroadcast(x, *axes)

    def function(self, inputs: list[Any], outputs: list[Any], mode: Any = None,
                 **options: Any) -> Any:
        return theano.function(inputs, outputs, mode=mode, **options)

    def grad(self, cost: Any, wrt: list[Any]) -> list[Any]:
        return theano.grad(cost, wrt, disconnected_inputs="ignore", return_disconnected="zero")

    def clone_replace(self, outputs: list[Any], replace: dict[Any, Any]) -> list[Any]:
        # strict=False: a constant may broadcast where the variable it replaces did not
        return list(theano.clone(list(outputs), replace=replace, strict=False))

    def disconnected_grad(self, x: Any) -> Any:
        return disconnected_grad(x)

    def device_names(self) -> list[str]:
        device = str(theano.config.device)
        return ["cpu:0", "gpu:0"] if device.startswith(("cuda", "gpu")) else ["cpu:0"]

    def abs(self, x: Any) -> Any:
        return T.abs_(x)

    def sign(self, x: Any) -> Any:
        return T.sgn(x)

    def sigmoid(self, x: Any) -> Any:
        return T.nnet.sigmoid(x)

    def softplus(self, x: Any) -> Any:
        return T.nnet.softplus(x)

    def softmax(self, x: Any, axis: int) -> Any:
        return _on_rows(T.nnet.softmax, x, axis)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return _on_rows(T.nnet.logsoftmax, x, axis)


def _on_rows(fn: Any, x: Any, axis: int) -> Any:
    """``fn`` (Theano's row-wise 2-d softmax or log-softmax) applied along ``axis`` of ``x``."""
    ndim = x.ndim
    order = [i for i in range(ndim) if i != axis] + [axis]
    moved = x.dimshuffle(*order)
    rows = T.reshape(moved, (-1, moved.shape[-1]), ndim=2)
    y = T.reshape(fn(rows), moved.shape, ndim=ndim)
    return y.dimshuffle(*[order.index(i) for i in range(ndim)])


ops = GraphOps(Theano())
