"""Theano backend, nn: the shared graph implementation (``graph.nn``) bound to Theano."""

from harness.reference.backend.graph.nn import NN_OPS
from harness.reference.backend.graph.ops import bind
from harness.reference.backend.theano.framework import ops

__all__ = bind(ops, globals(), NN_OPS)
