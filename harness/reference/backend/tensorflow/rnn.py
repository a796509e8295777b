"""TensorFlow backend, rnn: the time loop of recurrent layers, with Keras's masking semantics.

The loop is unrolled in Python: eagerly it runs step by step, inside ``compile`` it becomes
one graph of ``time`` steps, and ``tf.GradientTape`` differentiates either.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

from harness.reference.backend.tensorflow.core import shape, tensor
from harness.reference.backend.tensorflow.devices import placed


@placed
def rnn(
    step_fn: Callable[[Any, list[Any]], tuple[Any, Sequence[Any]]],
    inputs: Any,
    initial_states: Sequence[Any],
    go_backwards: bool = False,
    mask: Any = None,
) -> tuple[Any, Any, list[Any]]:
    """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
    ``inputs`` (batch, time, ...).

    Where ``mask[b, t]`` is False, sample b keeps its states and repeats its previous output
    (zeros before the first step). Returns ``(last_output, outputs, final_states)``;
    ``outputs`` stacks the step outputs on axis 1 in the order processed (reversed when
    ``go_backwards``).
    """
    inputs = tensor(inputs)
    batch, steps = shape(inputs)[:2]
    if steps == 0:
        raise ValueError("rnn needs at least one time step")
    keep = _mask(mask, batch, steps)
    states = [tensor(s) for s in initial_states]
    outputs: list[Any] = []
    for t in reversed(range(steps)) if go_backwards else range(steps):
        output, new_states = step_fn(inputs[:, t], list(states))
        output = tensor(output)
        new_states = [tensor(s) for s in _as_list(new_states)]
        if len(new_states) != len(states):
            raise ValueError(f"step_fn returned {len(new_states)} states, expected {len(states)}")
        if keep is not None:
            previous = outputs[-1] if outputs else tf.zeros_like(output)
            output = tf.where(_for(keep[:, t], output), output, previous)
            new_states = [
                tf.where(_for(keep[:, t], n), n, tf.cast(s, n.dtype))
                for n, s in zip(new_states, states, strict=True)
            ]
        outputs.append(output)
        states = new_states
    return outputs[-1], tf.stack(outputs, axis=1), states


def _mask(mask: Any, batch: int, steps: int) -> Any:
    """The mask as a (batch, time) bool tensor (trailing length-1 axes dropped), or None."""
    if mask is None:
        return None
    keep = tensor(mask)
    if keep.dtype != tf.bool:
        keep = tf.not_equal(keep, tf.zeros((), keep.dtype))
    while len(shape(keep)) > 2 and shape(keep)[-1] == 1:
        keep = keep[..., 0]
    if shape(keep) != (batch, steps):
        raise ValueError(f"rnn mask must have shape {(batch, steps)}, got {shape(keep)}")
    return keep


def _for(keep_t: Any, like: Any) -> Any:
    """The (batch,) step mask shaped to broadcast against ``like`` (batch, ...)."""
    return tf.reshape(keep_t, (-1,) + (1,) * (len(shape(like)) - 1))


def _as_list(states: Any) -> list[Any]:
    return list(states) if isinstance(states, (list, tuple)) else [states]
