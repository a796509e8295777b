"""PyTensor backend, math: the shared graph implementation (``graph.math``) bound to PyTensor."""

from harness.reference.backend.pytensor.framework import ops
from harness.reference.backend.graph.ops import bind
from harness.reference.backend.graph.math import MATH_OPS

__all__ = bind(ops, globals(), MATH_OPS)
