"""Theano backend, math: the shared graph implementation (``graph.math``) bound to Theano."""

from harness.reference.backend.graph.math import MATH_OPS
from harness.reference.backend.graph.ops import bind
from harness.reference.backend.theano.framework import ops

__all__ = bind(ops, globals(), MATH_OPS)
