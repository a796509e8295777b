"""NumPy backend, rnn: the time loop of recurrent layers (``common.rnn``) on NumPy/autograd."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from harness.reference.backend.common import rnn as loop
from harness.reference.backend.numpy.core import shape, tensor, value_dtype
from harness.reference.backend.numpy.math import select

_OPS = loop.LoopOps(
    tensor=tensor,
    shape=shape,
    # the mask is data, never differentiated: a plain bool array
    bool_mask=lambda mask, inputs: np.asarray(getval(mask)).astype(bool),
    zeros_like=lambda x: np.zeros(shape(x), value_dtype(x)),
    where=select,
    stack=lambda xs: anp.stack(xs, axis=1),
    reshape=lambda x, new_shape: np.reshape(x, new_shape),
)


def rnn(step_fn: loop.StepFn, inputs: Any, initial_states: Sequence[Any],
        go_backwards: bool = False, mask: Any = None) -> tuple[Any, Any, list[Any]]:
    """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
    ``inputs`` (batch, time, ...); see ``common.rnn.rnn`` for the masking rule. Returns
    ``(last_output, outputs, final_states)``."""
    return loop.rnn(_OPS, step_fn, inputs, initial_states, go_backwards, mask)
