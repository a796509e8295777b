"""Graph backends, rnn: the time loop of recurrent layers (``common.rnn``), unrolled into the
graph.

Shapes are static, so the loop is unrolled in Python (one copy of the step per time step)
rather than built with ``scan``: the step function then sees ordinary tensors with known
shapes, and the masking rule is the same ``switch`` as everywhere else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.reference.backend.common import rnn as loop
from harness.reference.backend.graph.nn import NNOps

RNN_OPS = ("rnn",)


class RNNOps(NNOps):
    """The recurrent loop."""

    def rnn(self, step_fn: loop.StepFn, inputs: Any, initial_states: Sequence[Any],
            go_backwards: bool = False, mask: Any = None) -> tuple[Any, Any, list[Any]]:
        """Run ``step_fn(x_t, states) -> (output_t, new_states)`` over the time axis (1) of
        ``inputs`` (batch, time, ...); see ``common.rnn.rnn`` for the masking rule. Returns
        ``(last_output, outputs, final_states)``."""
        return loop.rnn(self._loop_ops(), step_fn, inputs, initial_states, go_backwards, mask)

    def _loop_ops(self) -> loop.LoopOps:
        return loop.LoopOps(
            tensor=self.tensor,
            shape=self.shape,
            bool_mask=lambda mask, inputs: self.as_bool(self.tensor(mask)),
            zeros_like=lambda x: self.zeros(self.shape(x), x.dtype),
            where=self.select,
            stack=lambda xs: self.stack(xs, axis=1),
            reshape=self.reshape,
            time_steps=lambda x: self.unstack(x, axis=1),  # symbolic: shapes live in the tags
        )
