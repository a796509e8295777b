"""The PyTensor framework adapter and the instance of the ops this backend exports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytensor
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from pytensor.graph.replace import clone_replace

from harness.reference.backend.graph.framework import Framework
from harness.reference.backend.graph.ops import GraphOps


class PyTensor(Framework):
    """PyTensor: static shapes in its types, native matmul, einsum, softmax and log-softmax."""

    name = "pytensor"
    T = pt
    # the Numba linker of FAST_RUN: the optimised path, compared with FAST_COMPILE's Python VM
    compile_variants = {"fast_run": {"mode": "FAST_RUN"}}

    def symbolic(self, dtype: str, shape: Sequence[int]) -> Any:
        return pt.tensor(dtype=dtype, shape=tuple(int(d) for d in shape))

    def broadcastable(self, x: Any, axes: Sequence[int]) -> Any:
        return pt.specify_broadcastable(x, *axes)

    def function(self, inputs: list[Any], outputs: list[Any], mode: Any = None,
                 **options: Any) -> Any:
        return pytensor.function(inputs, outputs, mode=mode, **options)

    def grad(self, cost: Any, wrt: list[Any]) -> list[Any]:
        return pytensor.grad(cost, wrt, disconnected_inputs="ignore", return_disconnected="zero")

    def clone_replace(self, outputs: list[Any], replace: dict[Any, Any]) -> list[Any]:
        return list(clone_replace(list(outputs), replace=replace))

    def disconnected_grad(self, x: Any) -> Any:
        return disconnected_grad(x)

    def softmax(self, x: Any, axis: int) -> Any:
        return pt.special.softmax(x, axis=axis)

    def log_softmax(self, x: Any, axis: int) -> Any:
        return pt.special.log_softmax(x, axis=axis)

    def matmul(self, a: Any, b: Any) -> Any:
        return pt.matmul(a, b)

    def einsum(self, subscripts: str, operands: list[Any]) -> Any:
        return pt.einsum(subscripts, *operands)


ops = GraphOps(PyTensor())
