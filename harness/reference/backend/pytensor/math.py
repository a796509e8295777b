"""PyTensor backend, math: the shared graph implementation (``graph.math``) bound to PyTensor."""

from harness.reference.backend.graph.math import MATH_OPS
from harness.reference.backend.graph.ops import bind
from harness.reference.backend.pytensor.framework import ops

__all__ = bind(ops, globals(), MATH_OPS)
