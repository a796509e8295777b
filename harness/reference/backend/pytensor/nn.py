"""PyTensor backend, nn: the shared graph implementation (``graph.nn``) bound to PyTensor."""

from harness.reference.backend.pytensor.framework import ops
from harness.reference.backend.graph.ops import bind
from harness.reference.backend.graph.nn import NN_OPS

__all__ = bind(ops, globals(), NN_OPS)
