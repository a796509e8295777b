"""JAX backend, rnn: the time loop of recurrent layers, with Keras's masking semantics.

A Python loop over the time steps (unrolled when traced by ``jax.jit``), so that a step
function may do anything an eager call may; masking is a ``jnp.where`` on the mask tensor and
so works on traced masks too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from harness.reference.backend.jax.core import shape, tensor


def rnn(
    step_fn: Callable[[Any, list[Any]], tuple[Any, Sequence[Any]]],
    inputs: Any,
    initial_states: Sequence[Any],
    go_backwards: bool = False,
    mask: Any = None,
) -> tuple[jax.Array, jax.Array, list[jax.Array]]:
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
    outputs: list[jax.Array] = []
    for t in reversed(range(steps)) if go_backwards else range(steps):
        output, new_states = step_fn(inputs[:, t], list(states))
        output = tensor(output)
        new_states = [tensor(s) for s in _as_list(new_states)]
        if len(new_states) != len(states):
            raise ValueError(f"step_fn returned {len(new_states)} states, expected {len(states)}")
        if keep is not None:
            previous = outputs[-1] if outputs else jnp.zeros(output.shape, output.dtype)
            output = jnp.where(_for(keep[:, t], output), output, previous)
            new_states = [
                jnp.where(_for(keep[:, t], n), n, s)
                for n, s in zip(new_states, states, strict=True)
            ]
        outputs.append(output)
        states = new_states
    return outputs[-1], jnp.stack(outputs, axis=1), states


def _mask(mask: Any, batch: int, steps: int) -> jax.Array | None:
    """The mask as a (batch, time) bool tensor (trailing length-1 axes dropped), or None."""
    if mask is None:
        return None
    keep = tensor(mask).astype(bool)
    while keep.ndim > 2 and keep.shape[-1] == 1:
        keep = keep[..., 0]
    if shape(keep) != (batch, steps):
        raise ValueError(f"rnn mask must have shape {(batch, steps)}, got {shape(keep)}")
    return keep


def _for(keep_t: jax.Array, like: jax.Array) -> jax.Array:
    """The (batch,) step mask shaped to broadcast against ``like`` (batch, ...)."""
    return jnp.reshape(keep_t, (-1,) + (1,) * (like.ndim - 1))


def _as_list(states: Any) -> list[Any]:
    return list(states) if isinstance(states, (list, tuple)) else [states]
