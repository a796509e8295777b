"""JAX backend, rnn: the time loop of recurrent layers (``common.rnn``) on JAX.

The loop is unrolled when traced by ``jax.jit``; masking is a ``jnp.where`` on the mask
tensor and so works on traced masks too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from harness.reference.backend.common import rnn as loop
from harness.reference.backend.jax.core import shape, tensor

_OPS = loop.LoopOps(
    tensor=tensor,
    shape=shape,
    bool_mask=lambda mask, inputs: tensor(mask).astype(bool),
    zeros_like=lambda x: jnp.zeros(x.shape, x.dtype),
    where=jnp.where,
    stack=lambda xs: jnp.stack(xs, axis=1),
    reshape=jnp.reshape,
)


def rnn(step_fn: loop.StepFn, inputs: Any, initial_states: Sequence[Any],
        go_backwards: bool = False, mask: Any = None
        ) -> tuple[jax.Array, jax.Array, list[jax.Array]]:
    """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
    ``inputs`` (batch, time, ...); see ``common.rnn.rnn`` for the masking rule. Returns
    ``(last_output, outputs, final_states)``."""
    return loop.rnn(_OPS, step_fn, inputs, initial_states, go_backwards, mask)
