"""The time loop of recurrent layers with Keras's masking semantics, written once.

Every backend runs the same Python loop over the time steps (unrolled when a backend traces or
compiles it, so a step function may do anything an eager call may); each hands in the few
tensor operations the loop needs as a ``LoopOps``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

StepFn = Callable[[Any, list[Any]], tuple[Any, Sequence[Any]]]


def _index_steps(x: Any) -> list[Any]:
    """``[x[:, 0], x[:, 1], ...]``: the time steps of ``x`` (batch, time, ...) by indexing."""
    return [x[:, t] for t in range(x.shape[1])]


@dataclass(frozen=True)
class LoopOps:
    """The backend operations the loop needs, each on the backend's own tensors."""

    tensor: Callable[[Any], Any]  # a value as a tensor; a tensor unchanged
    shape: Callable[[Any], tuple[int, ...]]  # static shape, as ints
    bool_mask: Callable[[Any, Any], Any]  # (mask, inputs) -> the mask as a bool tensor
    zeros_like: Callable[[Any], Any]
    where: Callable[[Any, Any, Any], Any]  # (cond, a, b) -> a where cond else b, in a's dtype
    stack: Callable[[list[Any]], Any]  # the step outputs stacked on axis 1
    reshape: Callable[[Any, tuple[int, ...]], Any]
    time_steps: Callable[[Any], list[Any]] = _index_steps  # (batch, time, ...) -> per step


def rnn(ops: LoopOps, step_fn: StepFn, inputs: Any, initial_states: Sequence[Any],
        go_backwards: bool = False, mask: Any = None) -> tuple[Any, Any, list[Any]]:
    """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
    ``inputs`` (batch, time, ...) with the backend operations ``ops``.

    Where ``mask[b, t]`` is False, sample b keeps its states and repeats its previous output
    (zeros before the first step). Returns ``(last_output, outputs, final_states)``;
    ``outputs`` stacks the step outputs on axis 1 in the order processed (reversed when
    ``go_backwards``).
    """
    inputs = ops.tensor(inputs)
    batch, steps = ops.shape(inputs)[:2]
    if steps == 0:
        raise ValueError("rnn needs at least one time step")
    keep = _time_mask(ops, mask, inputs, batch, steps)
    frames = ops.time_steps(inputs)
    keep_steps = None if keep is None else ops.time_steps(keep)
    states = [ops.tensor(s) for s in initial_states]
    outputs: list[Any] = []
    for t in reversed(range(steps)) if go_backwards else range(steps):
        output, new_states = step_fn(frames[t], list(states))
        output = ops.tensor(output)
        new_states = [ops.tensor(s) for s in _as_list(new_states)]
        if len(new_states) != len(states):
            raise ValueError(f"step_fn returned {len(new_states)} states, expected {len(states)}")
        if keep_steps is not None:
            previous = outputs[-1] if outputs else ops.zeros_like(output)
            output = ops.where(_for(ops, keep_steps[t], output), output, previous)
            new_states = [ops.where(_for(ops, keep_steps[t], n), n, s)
                          for n, s in zip(new_states, states, strict=True)]
        outputs.append(output)
        states = new_states
    return outputs[-1], ops.stack(outputs), states


def _time_mask(ops: LoopOps, mask: Any, inputs: Any, batch: int, steps: int) -> Any:
    """The mask as a (batch, time) bool tensor (trailing length-1 axes dropped), or None."""
    if mask is None:
        return None
    keep = ops.bool_mask(mask, inputs)
    while len(ops.shape(keep)) > 2 and ops.shape(keep)[-1] == 1:
        keep = ops.reshape(keep, ops.shape(keep)[:-1])
    if ops.shape(keep) != (batch, steps):
        raise ValueError(f"rnn mask must have shape {(batch, steps)}, got {ops.shape(keep)}")
    return keep


def _for(ops: LoopOps, keep_t: Any, like: Any) -> Any:
    """The (batch,) step mask shaped to broadcast against ``like`` (batch, ...)."""
    return ops.reshape(keep_t, (-1,) + (1,) * (len(ops.shape(like)) - 1))


def _as_list(states: Any) -> list[Any]:
    return list(states) if isinstance(states, (list, tuple)) else [states]
