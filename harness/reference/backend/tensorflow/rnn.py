"""TensorFlow backend, rnn: the time loop of recurrent layers (``common.rnn``) on TensorFlow.

The loop is unrolled in Python: eagerly it runs step by step, inside ``compile`` it becomes
one graph of ``time`` steps, and ``tf.GradientTape`` differentiates either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from harness.reference.backend.common import rnn as loop
from harness.reference.backend.tensorflow.core import shape, tensor
from harness.reference.backend.tensorflow.devices import placed


def _bool_mask(mask: Any, inputs: Any) -> Any:
    keep = tensor(mask)
    return keep if keep.dtype == tf.bool else tf.not_equal(keep, tf.zeros((), keep.dtype))


_OPS = loop.LoopOps(
    tensor=tensor,
    shape=shape,
    bool_mask=_bool_mask,
    zeros_like=tf.zeros_like,
    # tf.where does not promote: the kept value takes the new value's dtype
    where=lambda cond, a, b: tf.where(cond, a, tf.cast(b, a.dtype)),
    stack=lambda xs: tf.stack(xs, axis=1),
    reshape=tf.reshape,
)


@placed
def rnn(step_fn: loop.StepFn, inputs: Any, initial_states: Sequence[Any],
        go_backwards: bool = False, mask: Any = None) -> tuple[Any, Any, list[Any]]:
    """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
    ``inputs`` (batch, time, ...); see ``common.rnn.rnn`` for the masking rule. Returns
    ``(last_output, outputs, final_states)``."""
    return loop.rnn(_OPS, step_fn, inputs, initial_states, go_backwards, mask)
