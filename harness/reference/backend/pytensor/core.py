"""PyTensor backend, core: the shared graph ops (``graph.core``, ``graph.array``) on PyTensor."""

from harness.reference.backend.graph.array import ARRAY_OPS
from harness.reference.backend.graph.core import CORE_OPS
from harness.reference.backend.graph.ops import bind
from harness.reference.backend.pytensor.framework import ops

__all__ = bind(ops, globals(), CORE_OPS + ARRAY_OPS)
