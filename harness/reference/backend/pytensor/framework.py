"""The PyTensor framework adapter and the instance of the ops this backend exports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytensor
import pytensor.tensor as pt
from pytensor.compile.builders import OpFromGraph
from pytensor.compile.mode import get_mode
from pytensor.gradient import disconnected_grad
from pytensor.graph.replace import clone_replace
from pytensor.graph.rewriting.basic import dfs_rewriter, node_rewriter
from pytensor.tensor.rewriting.ofg import inline_ofg_node

from harness.reference.backend.graph.framework import DEFAULT_MODE, Framework
from harness.reference.backend.graph.ops import GraphOps


@node_rewriter([OpFromGraph])
def _inline_symbolic_op(fgraph: Any, node: Any) -> Any:
    """Replace a symbolic op (softmax, einsum, pad: ``OpFromGraph``s) by its inner graph."""
    return inline_ofg_node(node)


def _fast_compile() -> Any:
    """FAST_COMPILE (Python VM, no compilation) with symbolic ops inlined: left alone, their
    inner graphs compile with the default Numba mode, which is slow and lacks float16."""
    return get_mode("FAST_COMPILE").register((dfs_rewriter(_inline_symbolic_op), -0.02))


class PyTensor(Framework):
    """PyTensor: static shapes in its types, native matmul, einsum, softmax and log-softmax."""

    name = "pytensor"
    T = pt
    # the Numba linker of FAST_RUN: the optimised path, compared with FAST_COMPILE's Python VM
    compile_variants = {"fast_run": {"mode": "FAST_RUN"}}

    def __init__(self) -> None:
        self._default_mode = _fast_compile()

    def symbolic(self, dtype: str, shape: Sequence[int]) -> Any:
        return pt.tensor(dtype=dtype, shape=tuple(int(d) for d in shape))

    def broadcastable(self, x: Any, axes: Sequence[int]) -> Any:
        return pt.specify_broadcastable(x, *axes)

    def function(self, inputs: list[Any], outputs: list[Any], mode: Any = None,
                 **options: Any) -> Any:
        if mode in (None, DEFAULT_MODE):
            mode = self._default_mode
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
