"""The Theano backend of the reference layer library (a graph backend, Theano 1.0.5).

It shares its implementation with the PyTensor backend (Theano's maintained line): the
modules of ``harness.reference.backend.graph`` are written against a ``Framework`` adapter,
and ``framework.py`` here binds them to Theano. Importing this package imports Theano (and
the framework-free shared modules), not PyTensor. Theano needs
NumPy < 1.24 and SciPy < 1.16, so it runs in its own environment.
"""

from harness.reference.backend.graph.ops import EXECUTION
from harness.reference.backend.theano import core as _core
from harness.reference.backend.theano import math as _math
from harness.reference.backend.theano import nn as _nn
from harness.reference.backend.theano import rnn as _rnn
from harness.reference.backend.theano.core import *  # noqa: F403 (re-exports every op)
from harness.reference.backend.theano.framework import ops as _ops
from harness.reference.backend.theano.math import *  # noqa: F403
from harness.reference.backend.theano.nn import *  # noqa: F403
from harness.reference.backend.theano.rnn import *  # noqa: F403

#: named option sets for ``compile`` that the ``compiled`` check compares with the default
COMPILE_VARIANTS = _ops.fw.compile_variants

__all__ = ["EXECUTION", "COMPILE_VARIANTS", *_core.__all__, *_math.__all__, *_nn.__all__,
           *_rnn.__all__]
