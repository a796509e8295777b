"""PyTensor backend, nn: the shared graph implementation (``graph.nn``) bound to PyTensor."""

from harness.reference.backend.graph.nn import NN_OPS
from harness.reference.backend.graph.ops import bind
from harness.reference.backend.pytensor.framework import ops

__all__ = bind(ops, globals(), NN_OPS)
