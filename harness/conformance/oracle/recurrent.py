"""Oracle formulas for recurrent layers: SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed.

Every recurrence is a plain Python loop over time in float64, one cell step per iteration,
following Keras 3 semantics (gate order, bias layout, masking, ``go_backwards``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.conformance.oracle import forward, register
from harness.conformance.oracle.activations import activation
from harness.conformance.oracle.core import mask_rule
from harness.errors import UsageError


def _activation(name: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The activation function a Keras config names (None means linear)."""
    return lambda x: activation(name, x)


def _mm(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(batch, i) x (i, j) -> (batch, j), written out as an explicit sum."""
    return np.einsum("bi,ij->bj", a, w)


# --- cells: (x_t, states) -> (output_t, new_states) ---------------------------------------


def _units(config: dict[str, Any]) -> int:
    if "units" not in config:
        raise UsageError("a recurrent layer config needs 'units'")
    return int(config["units"])


def _unpack(config: dict[str, Any], weights: list[np.ndarray], gates: int) -> tuple:
    units = _units(config)
    use_bias = config.get("use_bias", True)
    expected = 3 if use_bias else 2
    if len(weights) != expected:
        raise UsageError(
            f"expected {expected} weights for this recurrent layer, got {len(weights)}"
        )
    kernel, recurrent = weights[0], weights[1]
    if kernel.shape[1] != gates * units or recurrent.shape != (units, gates * units):
        raise UsageError(
            f"recurrent weight shapes {kernel.shape}, {recurrent.shape} do not "
            f"match units={units} with {gates} gate(s)"
        )
    bias = weights[2] if use_bias else None
    return units, kernel, recurrent, bias


def _simple_rnn_cell(config: dict[str, Any], weights: list[np.ndarray]) -> Callable:
    units, kernel, recurrent, bias = _unpack(config, weights, 1)
    act = _activation(config.get("activation", "tanh"))

    def step(x_t: np.ndarray, states: list[np.ndarray]) -> tuple:
        pre = _mm(x_t, kernel) + _mm(states[0], recurrent)
        if bias is not None:
            pre = pre + bias
        h = act(pre)
        return h, [h]

    return step


def _lstm_cell(config: dict[str, Any], weights: list[np.ndarray]) -> Callable:
    u, kernel, recurrent, bias = _unpack(config, weights, 4)
    act = _activation(config.get("activation", "tanh"))
    rec_act = _activation(config.get("recurrent_activation", "sigmoid"))
    b = bias if bias is not None else np.zeros(4 * u)

    def step(x_t: np.ndarray, states: list[np.ndarray]) -> tuple:
        h, c = states

        def gate(k: int) -> np.ndarray:
            cols = slice(k * u, (k + 1) * u)
            return _mm(x_t, kernel[:, cols]) + _mm(h, recurrent[:, cols]) + b[cols]

        i, f, g, o = rec_act(gate(0)), rec_act(gate(1)), act(gate(2)), rec_act(gate(3))
        c_new = f * c + i * g
        h_new = o * act(c_new)
        return h_new, [h_new, c_new]

    return step


def _gru_biases(config: dict[str, Any], bias: np.ndarray | None, u: int) -> tuple:
    """(input bias, recurrent bias) each of length 3*units; zeros where absent."""
    reset_after = config.get("reset_after", True)
    if bias is None:
        return np.zeros(3 * u), np.zeros(3 * u)
    if reset_after:
        if bias.shape != (2, 3 * u):
            raise UsageError(f"GRU reset_after bias must have shape (2, {3 * u}), got {bias.shape}")
        return bias[0], bias[1]
    if bias.shape != (3 * u,):
        raise UsageError(f"GRU bias must have shape ({3 * u},), got {bias.shape}")
    return bias, np.zeros(3 * u)


def _gru_cell(config: dict[str, Any], weights: list[np.ndarray]) -> Callable:
    u, kernel, recurrent, bias = _unpack(config, weights, 3)
    act = _activation(config.get("activation", "tanh"))
    rec_act = _activation(config.get("recurrent_activation", "sigmoid"))
    reset_after = config.get("reset_after", True)
    b_in, b_rec = _gru_biases(config, bias, u)
    z_cols, r_cols, h_cols = slice(0, u), slice(u, 2 * u), slice(2 * u, 3 * u)

    def step(x_t: np.ndarray, states: list[np.ndarray]) -> tuple:
        h = states[0]
        z = rec_act(
            _mm(x_t, kernel[:, z_cols])
            + b_in[z_cols]
            + _mm(h, recurrent[:, z_cols])
            + b_rec[z_cols]
        )
        r = rec_act(
            _mm(x_t, kernel[:, r_cols])
            + b_in[r_cols]
            + _mm(h, recurrent[:, r_cols])
            + b_rec[r_cols]
        )
        x_h = _mm(x_t, kernel[:, h_cols]) + b_in[h_cols]
        if reset_after:
            candidate = act(x_h + r * (_mm(h, recurrent[:, h_cols]) + b_rec[h_cols]))
        else:
            candidate = act(x_h + _mm(r * h, recurrent[:, h_cols]))
        h_new = z * h + (1.0 - z) * candidate
        return h_new, [h_new]

    return step


_CELLS = {"SimpleRNN": (_simple_rnn_cell, 1), "LSTM": (_lstm_cell, 2), "GRU": (_gru_cell, 1)}


# --- the time loop ------------------------------------------------------------------------


def _run_rnn(
    kind: str,
    config: dict[str, Any],
    weights: list[np.ndarray],
    x: np.ndarray,
    mask: Any,
    zero_output_for_mask: bool,
) -> Any:
    """Loop a cell over time as Keras's ``backend.rnn`` does; returns the layer's output(s)."""
    make_cell, n_states = _CELLS[kind]
    step = make_cell(config, weights)
    if x.ndim != 3:
        raise UsageError(f"{kind} expects input of shape (batch, time, features), got {x.shape}")
    batch, steps = x.shape[0], x.shape[1]
    if steps == 0:
        raise UsageError(f"{kind} needs at least one time step")
    units = _units(config)
    states = [np.zeros((batch, units)) for _ in range(n_states)]
    keep = None if mask is None else np.asarray(mask, dtype=bool)
    if keep is not None and keep.shape != (batch, steps):
        raise UsageError(f"mask shape {keep.shape} does not match (batch, time) = {(batch, steps)}")
    order = range(steps - 1, -1, -1) if config.get("go_backwards", False) else range(steps)
    outputs = []
    for t in order:
        out, new_states = step(x[:, t, :], states)
        if keep is not None:
            k = keep[:, t][:, None]
            # A masked step keeps the state; its output is zero or the previous output (= h).
            previous = np.zeros_like(out) if zero_output_for_mask else states[0]
            out = np.where(k, out, previous)
            new_states = [
                np.where(k, new, old) for new, old in zip(new_states, states, strict=True)
            ]
        outputs.append(out)
        states = new_states
    # Outputs stay in processing order: Keras does not re-reverse go_backwards sequences.
    result = np.stack(outputs, axis=1) if config.get("return_sequences", False) else outputs[-1]
    if config.get("return_state", False):
        return [result, *states]
    return result


def _rnn_layer(kind: str) -> Callable:
    def layer(
        config: dict[str, Any],
        weights: list[np.ndarray],
        inputs: Any,
        training: bool = False,
        mask: Any = None,
    ) -> Any:
        if isinstance(inputs, list):
            if len(inputs) != 1:
                raise UsageError(f"{kind}: initial states are not modelled by the oracle")
            inputs = inputs[0]
        return _run_rnn(
            kind, config, weights, inputs, mask, bool(config.get("zero_output_for_mask", False))
        )

    layer.__name__ = kind.lower()
    layer.__doc__ = (
        f"Keras ``{kind}``: zero initial state, optional mask, go_backwards, "
        "return_sequences and return_state ([output, *states])."
    )
    return layer


simple_rnn = register("SimpleRNN")(_rnn_layer("SimpleRNN"))
lstm = register("LSTM")(_rnn_layer("LSTM"))
gru = register("GRU")(_rnn_layer("GRU"))


# --- wrappers -----------------------------------------------------------------------------


def _inner(spec: Any, what: str) -> tuple[str, dict[str, Any]]:
    """(class name, config) of a serialized inner layer ``{"class_name", "config"}``."""
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise UsageError(f"{what} must be a dict with 'class_name' and 'config'")
    return spec["class_name"], dict(spec.get("config", {}))


def _n_weights(kind: str, config: dict[str, Any]) -> int:
    if kind not in _CELLS:
        raise UsageError(f"Bidirectional needs SimpleRNN, LSTM or GRU, got {kind!r}")
    return 3 if config.get("use_bias", True) else 2


def _merge(mode: Any, y: np.ndarray, y_rev: np.ndarray) -> list[np.ndarray]:
    if mode == "concat":
        return [np.concatenate([y, y_rev], axis=-1)]
    if mode == "sum":
        return [y + y_rev]
    if mode == "ave":
        return [(y + y_rev) / 2.0]
    if mode == "mul":
        return [y * y_rev]
    if mode is None:
        return [y, y_rev]
    raise UsageError(
        f"Bidirectional merge_mode must be concat, sum, ave, mul or None, got {mode!r}"
    )


@register("Bidirectional")
def bidirectional(
    config: dict[str, Any],
    weights: list[np.ndarray],
    inputs: Any,
    training: bool = False,
    mask: Any = None,
) -> Any:
    """Keras ``Bidirectional``: forward and backward RNN copies, merged.

    The backward copy runs with ``go_backwards=True`` (or is ``backward_layer``); with
    ``return_sequences`` both copies output zeros at masked steps and the backward output is
    flipped back to input time order before merging. Returns the merged output, or
    ``[merged..., *forward_states, *backward_states]`` with ``return_state``.
    """
    x = inputs[0] if isinstance(inputs, list) else inputs
    f_kind, f_cfg = _inner(config.get("layer"), "Bidirectional 'layer'")
    if config.get("backward_layer") is not None:
        b_kind, b_cfg = _inner(config["backward_layer"], "Bidirectional 'backward_layer'")
    else:
        b_kind, b_cfg = f_kind, dict(f_cfg, go_backwards=True)
    if bool(f_cfg.get("go_backwards", False)) == bool(b_cfg.get("go_backwards", False)):
        raise UsageError("Bidirectional forward and backward layers need different go_backwards")
    n_forward = _n_weights(f_kind, f_cfg)
    if len(weights) != n_forward + _n_weights(b_kind, b_cfg):
        raise UsageError(f"Bidirectional got {len(weights)} weights for {f_kind}/{b_kind}")
    sequences = bool(f_cfg.get("return_sequences", False))
    with_state = bool(f_cfg.get("return_state", False))
    y = _run_rnn(f_kind, f_cfg, weights[:n_forward], x, mask, sequences)
    y_rev = _run_rnn(b_kind, b_cfg, weights[n_forward:], x, mask, sequences)
    states: list[np.ndarray] = []
    if with_state:
        states = [*y[1:], *y_rev[1:]]
        y, y_rev = y[0], y_rev[0]
    if sequences:
        y_rev = y_rev[:, ::-1]
    merged = _merge(config.get("merge_mode", "concat"), y, y_rev)
    if with_state or len(merged) > 1:
        return [*merged, *states]
    return merged[0]


@register("TimeDistributed")
def time_distributed(
    config: dict[str, Any],
    weights: list[np.ndarray],
    inputs: Any,
    training: bool = False,
    mask: Any = None,
) -> np.ndarray:
    """Keras ``TimeDistributed``: the inner layer's oracle formula applied at each time step.

    The inner layer gets ``inputs[:, t]`` and ``mask[:, t]``; returns the per-step outputs
    stacked on axis 1.
    """
    x = inputs[0] if isinstance(inputs, list) else inputs
    kind, cfg = _inner(config.get("layer"), "TimeDistributed 'layer'")
    if x.ndim < 3:
        raise UsageError(f"TimeDistributed expects input of rank >= 3, got shape {x.shape}")
    outputs = []
    for t in range(x.shape[1]):
        step_mask = None if mask is None else np.asarray(mask)[:, t]
        outputs.append(
            np.asarray(forward(kind, cfg, weights, x[:, t], training=training, mask=step_mask))
        )
    return np.stack(outputs, axis=1)


@mask_rule("SimpleRNN", "LSTM", "GRU", "Bidirectional")
def _recurrent_mask(config: dict[str, Any], inputs: Any, mask: Any) -> Any:
    # Keras's RNN.compute_mask: the input mask survives only with return_sequences
    inner = config.get("layer", {}).get("config", {}) if "layer" in config else config
    return mask if inner.get("return_sequences", False) else None


@mask_rule("TimeDistributed")
def _time_distributed_mask(config: dict[str, Any], inputs: Any, mask: Any) -> Any:
    # TimeDistributed supports masking with the default compute_mask: the mask passes through
    return mask
