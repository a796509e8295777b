"""PyTensor backend, rnn: the shared graph implementation (``graph.rnn``) bound to PyTensor."""

from harness.reference.backend.graph.ops import bind
from harness.reference.backend.graph.rnn import RNN_OPS
from harness.reference.backend.pytensor.framework import ops

__all__ = bind(ops, globals(), RNN_OPS)
