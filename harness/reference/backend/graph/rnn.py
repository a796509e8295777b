"""Graph backends, rnn: the time loop of recurrent layers, unrolled into the graph.

Shapes are static, so the loop is unrolled in Python (one copy of the step per time step)
rather than built with ``scan``: the step function then sees ordinary tensors with known
shapes, and the masking rule is the same ``switch`` as everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.reference.backend.graph.nn import NNOps

RNN_OPS = ("rnn",)


class RNNOps(NNOps):
    """The recurrent loop."""

    def rnn(self, step_fn: Callable[[Any, list[Any]], tuple[Any, Sequence[Any]]],
            inputs: Any, initial_states: Sequence[Any], go_backwards: bool = False,
            mask: Any = None) -> tuple[Any, Any, list[Any]]:
        """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
        ``inputs`` (batch, time, ...).

        Where ``mask[b, t]`` is False, sample b keeps its states and repeats its previous
        output (zeros before the first step). Returns ``(last_output, outputs,
        final_states)``; ``outputs`` stacks the step outputs on axis 1 in the order processed.
        """
        inputs = self.tensor(inputs)
        batch, steps = self.shape(inputs)[:2]
        if steps == 0:
            raise ValueError("rnn needs at least one time step")
        keep = self._time_mask(mask, batch, steps)
        states = [self.tensor(s) for s in initial_states]
        frames = self.unstack(inputs, axis=1)
        outputs: list[Any] = []
        for t in reversed(range(steps)) if go_backwards else range(steps):
            output, new_states = step_fn(frames[t], list(states))
            output = self.tensor(output)
            new_states = [self.tensor(s) for s in _as_list(new_states)]
            if len(new_states) != len(states):
                raise ValueError(
                    f"step_fn returned {len(new_states)} states, expected {len(states)}")
            if keep is not None:
                keep_t = self.slice_axis(keep, 1, t, t + 1)  # (batch, 1) broadcasts over features
                previous = outputs[-1] if outputs else self.zeros(self.shape(output),
                                                                  output.dtype)
                output = self.select(self._for(keep_t, output), output, previous)
                new_states = [self.select(self._for(keep_t, n), n, s)
                              for n, s in zip(new_states, states, strict=True)]
            outputs.append(output)
            states = new_states
        return outputs[-1], self.stack(outputs, axis=1), states

    def _time_mask(self, mask: Any, batch: int, steps: int) -> Any:
        """The mask as a (batch, time) bool tensor (trailing length-1 axes dropped), or None."""
        if mask is None:
            return None
        keep = self.as_bool(self.tensor(mask))
        while len(self.shape(keep)) > 2 and self.shape(keep)[-1] == 1:
            keep = self.squeeze(keep, -1)
        if self.shape(keep) != (batch, steps):
            raise ValueError(f"rnn mask must have shape {(batch, steps)}, got {self.shape(keep)}")
        return keep

    def _for(self, keep_t: Any, like: Any) -> Any:
        """The (batch, 1) step mask shaped to broadcast against ``like`` (batch, ...)."""
        rank = len(self.shape(like))
        return self.reshape(keep_t, (self.shape(keep_t)[0],) + (1,) * (rank - 1))


def _as_list(states: Any) -> list[Any]:
    return list(states) if isinstance(states, (list, tuple)) else [states]
