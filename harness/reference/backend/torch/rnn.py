"""PyTorch backend, rnn: the time loop of recurrent layers (``common.rnn``) on PyTorch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from harness.reference.backend.common import rnn as loop
from harness.reference.backend.torch.core import tensor

_OPS = loop.LoopOps(
    tensor=tensor,
    shape=lambda x: tuple(x.shape),
    # the mask is data, never differentiated, and lives on the inputs' device
    bool_mask=lambda mask, inputs: tensor(mask).detach().to(device=inputs.device,
                                                            dtype=torch.bool),
    zeros_like=torch.zeros_like,
    where=torch.where,
    stack=lambda xs: torch.stack(xs, dim=1),
    reshape=lambda x, new_shape: x.reshape(new_shape),
)


def rnn(step_fn: loop.StepFn, inputs: Any, initial_states: Sequence[Any],
        go_backwards: bool = False, mask: Any = None) -> tuple[Any, Any, list[Any]]:
    """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
    ``inputs`` (batch, time, ...); see ``common.rnn.rnn`` for the masking rule. Returns
    ``(last_output, outputs, final_states)``."""
    return loop.rnn(_OPS, step_fn, inputs, initial_states, go_backwards, mask)
