"""Theano backend, rnn: the shared graph implementation (``graph.rnn``) bound to Theano."""

from harness.reference.backend.graph.ops import bind
from harness.reference.backend.graph.rnn import RNN_OPS
from harness.reference.backend.theano.framework import ops

__all__ = bind(ops, globals(), RNN_OPS)
