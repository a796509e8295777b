"""PyTorch backend, rnn: the time loop of recurrent layers, with Keras's masking semantics."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.reference.backend.torch.core import tensor


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
    batch, steps = inputs.shape[0], inputs.shape[1]
    if steps == 0:
        raise ValueError("rnn needs at least one time step")
    keep = _mask(mask, batch, steps, inputs.device)
    states = [tensor(s) for s in initial_states]
    outputs: list[torch.Tensor] = []
    for t in reversed(range(steps)) if go_backwards else range(steps):
        output, new_states = step_fn(inputs[:, t], list(states))
        output = tensor(output)
        new_states = [tensor(s) for s in _as_list(new_states)]
        if len(new_states) != len(states):
            raise ValueError(f"step_fn returned {len(new_states)} states, expected {len(states)}")
        if keep is not None:
            previous = outputs[-1] if outputs else torch.zeros_like(output)
            output = torch.where(_for(keep[:, t], output), output, previous)
            new_states = [
                torch.where(_for(keep[:, t], n), n, s)
                for n, s in zip(new_states, states, strict=True)
            ]
        outputs.append(output)
        states = new_states
    return outputs[-1], torch.stack(outputs, dim=1), states


def _mask(mask: Any, batch: int, steps: int, device: torch.device) -> torch.Tensor | None:
    """The mask as a (batch, time) bool tensor (trailing length-1 axes dropped), or None."""
    if mask is None:
        return None
    keep = tensor(mask).detach().to(device=device, dtype=torch.bool)
    while keep.dim() > 2 and keep.shape[-1] == 1:
        keep = keep[..., 0]
    if tuple(keep.shape) != (batch, steps):
        raise ValueError(f"rnn mask must have shape {(batch, steps)}, got {tuple(keep.shape)}")
    return keep


def _for(keep_t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The (batch,) step mask shaped to broadcast against ``like`` (batch, ...)."""
    return keep_t.reshape((-1,) + (1,) * (like.dim() - 1))


def _as_list(states: Any) -> list[Any]:
    return list(states) if isinstance(states, (list, tuple)) else [states]
