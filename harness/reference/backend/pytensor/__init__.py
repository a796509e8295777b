"""The PyTensor backend of the reference layer library (a graph backend).

Ops build PyTensor graphs; ``compile(fn)`` turns a function of tensors into compiled PyTensor
functions (default mode ``FAST_COMPILE``; ``COMPILE_VARIANTS`` names the alternatives).
The implementation is shared with the Theano backend (``backend/graph/``, written against a
``Framework`` adapter); ``framework.py`` binds it to PyTensor. Importing this package imports
PyTensor and no other framework.
"""

from harness.reference.backend.graph.ops import EXECUTION
from harness.reference.backend.pytensor import core as _core
from harness.reference.backend.pytensor import math as _math
from harness.reference.backend.pytensor import nn as _nn
from harness.reference.backend.pytensor import rnn as _rnn
from harness.reference.backend.pytensor.core import *  # noqa: F403 (re-exports every op)
from harness.reference.backend.pytensor.framework import ops as _ops
from harness.reference.backend.pytensor.math import *  # noqa: F403
from harness.reference.backend.pytensor.nn import *  # noqa: F403
from harness.reference.backend.pytensor.rnn import *  # noqa: F403

#: named option sets for ``compile`` that the ``compiled`` check compares with the default
COMPILE_VARIANTS = _ops.fw.compile_variants

__all__ = ["EXECUTION", "COMPILE_VARIANTS", *_core.__all__, *_math.__all__, *_nn.__all__,
           *_rnn.__all__]
