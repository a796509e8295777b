"""Recurrent layers SimpleRNN, LSTM and GRU (Keras 3 names, configs, weights and gate order).

The input projection of every time step is one matmul before the loop; the loop itself is
``K.rnn``, which also applies the time mask (masked steps carry the states over and repeat
the previous output). Weights: kernel (input_dim, gates*units), recurrent_kernel
(units, gates*units), bias (gates*units), or (2, 3*units) for GRU with ``reset_after``.
Gate order is i, f, c, o for LSTM and z, r, h for GRU, as in Keras.

Dropout (``dropout`` on inputs, ``recurrent_dropout`` on the previous output) applies only
when ``training``; one mask per sequence is drawn with the library's seeded NumPy generator
and shared by the gates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.reference import activations, initializers
from harness.reference import backend as K
from harness.reference.layers.base import Layer, Shape
from harness.reference.layers.convolutional import as_dtype
from harness.reference.random import generator


def _gate(x: Any, index: int, units: int) -> Any:
    """Block ``index`` of width ``units`` along the last axis."""
    return K.slice_axis(x, -1, index * units, (index + 1) * units)


class _RNN(Layer):
    """What SimpleRNN, LSTM and GRU share: weights, masks, states, dropout and config."""

    supports_masking = True
    gates = 1

    def __init__(self, units: int, activation: Any = "tanh", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, seed: int | None = None,
                 return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 zero_output_for_mask: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive int, got {units!r}")
        if stateful:
            raise ValueError("stateful recurrent layers are not supported by this library")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        # Keras clips the rates into [0, 1]
        self.dropout = min(1.0, max(0.0, float(dropout)))
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._rng = generator(seed) if seed is not None else None
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.unroll = unroll  # the loop is the same either way; kept for the config
        self.zero_output_for_mask = zero_output_for_mask

    # --- shapes and weights ------------------------------------------------------------------
    @property
    def state_size(self) -> list[int]:
        """Width of each state tensor, in the order of ``initial_state`` and returned states."""
        return [self.units]

    def _check_rank(self, input_shape: Shape) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs (batch, time, features), "
                f"got shape {tuple(input_shape)}"
            )

    def _bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def _bias_initializer(self) -> Any:
        return self.bias_initializer

    def build(self, input_shape: Shape) -> None:
        self._check_rank(input_shape)
        if input_shape[-1] is None:
            raise ValueError(f"{type(self).__name__} needs a known feature dimension")
        width = self.gates * self.units
        self.kernel = self.add_weight("kernel", (input_shape[-1], width),
                                      self.kernel_initializer)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", (self.units, width),
                                                self.recurrent_initializer)
        self.bias = (self.add_weight("bias", self._bias_shape(), self._bias_initializer())
                     if self.use_bias else None)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Any:
        self._check_rank(input_shape)
        batch = input_shape[0]
        output = ((batch, input_shape[1], self.units) if self.return_sequences
                  else (batch, self.units))
        if self.return_state:
            return [output, *[(batch, size) for size in self.state_size]]
        return output

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask, *[None for _ in self.state_size]]
        return output_mask

    # --- the computation ---------------------------------------------------------------------
    def _input_bias(self) -> Any:
        return None if self.bias is None else self.bias.value

    def _step(self, x_t: Any, states: list[Any], recurrent_mask: Any) -> tuple[Any, list[Any]]:
        """One time step: projected input ``x_t`` and states -> (output, new states)."""
        raise NotImplementedError

    def _dropout_mask(self, shape: tuple[int, int], rate: float) -> Any:
        keep = (self._rng or generator()).random(shape) >= rate
        return K.convert_to_tensor(keep / (1.0 - rate), dtype=self.dtype)

    def _initial_states(self, initial_state: Any, batch: int) -> list[Any]:
        if initial_state is None:
            return [K.zeros((batch, size), self.dtype) for size in self.state_size]
        states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
            else [initial_state]
        if len(states) != len(self.state_size):
            raise ValueError(
                f"{type(self).__name__} expects {len(self.state_size)} initial states, "
                f"got {len(states)}"
            )
        states = [as_dtype(K.convert_to_tensor(s), self.dtype) for s in states]
        for state, size in zip(states, self.state_size, strict=True):
            if tuple(K.shape(state)) != (batch, size):
                raise ValueError(
                    f"initial state has shape {tuple(K.shape(state))}, expected {(batch, size)}"
                )
        return states

    def call(self, inputs: Any, initial_state: Any = None, mask: Any = None,
             training: bool | None = None) -> Any:
        x = as_dtype(inputs, self.dtype)
        batch, _, features = K.shape(x)
        states = self._initial_states(initial_state, batch)
        if training and 0.0 < self.dropout < 1.0:
            x = K.multiply(x, K.expand_dims(self._dropout_mask((batch, features),
                                                               self.dropout), 1))
        recurrent_mask = None
        if training and 0.0 < self.recurrent_dropout < 1.0:
            recurrent_mask = self._dropout_mask((batch, self.units), self.recurrent_dropout)
        # every step's input projection at once, outside the loop
        projected = K.matmul(x, self.kernel.value)
        bias = self._input_bias()
        if bias is not None:
            projected = K.add(projected, bias)
        if mask is not None:
            mask = K.convert_to_tensor(mask, dtype="bool")

        def step(x_t: Any, step_states: list[Any]) -> tuple[Any, list[Any]]:
            return self._step(x_t, list(step_states), recurrent_mask)

        last, outputs, new_states = K.rnn(step, projected, states,
                                          go_backwards=self.go_backwards, mask=mask)
        if mask is not None and self.zero_output_for_mask:
            ordered = K.flip(mask, 1) if self.go_backwards else mask
            outputs = K.where(K.expand_dims(ordered, -1), outputs,
                              K.zeros((), self.dtype))
            steps = K.shape(outputs)[1]
            last = K.squeeze(K.slice_axis(outputs, 1, steps - 1, steps), 1)
        output = outputs if self.return_sequences else last
        if self.return_state:
            return [output, *new_states]
        return output

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "recurrent_initializer": self.recurrent_initializer,
            "bias_initializer": self.bias_initializer,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        })
        return config


def _dropped(h: Any, recurrent_mask: Any) -> Any:
    return h if recurrent_mask is None else K.multiply(h, recurrent_mask)


class SimpleRNN(_RNN):
    """h_t = activation(x_t W + b + h_{t-1} U)."""

    gates = 1

    def _step(self, x_t: Any, states: list[Any], recurrent_mask: Any) -> tuple[Any, list[Any]]:
        h_prev = _dropped(states[0], recurrent_mask)
        h = self.activation(K.add(x_t, K.matmul(h_prev, self.recurrent_kernel.value)))
        return h, [h]


class LSTM(_RNN):
    """Long short-term memory, gates i, f, c, o; states [h, c]."""

    gates = 4

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 unit_forget_bias: bool = True, **kwargs: Any):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self) -> list[int]:
        return [self.units, self.units]

    def _bias_initializer(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        base = initializers.get(self.bias_initializer)
        units = self.units

        # the forget gate starts open (bias 1), as Keras's unit_forget_bias
        def forget_open(shape: Sequence[int]) -> np.ndarray:
            return np.concatenate([base((units,)), np.ones(units), base((2 * units,))])

        return forget_open

    def _step(self, x_t: Any, states: list[Any], recurrent_mask: Any) -> tuple[Any, list[Any]]:
        h_prev, c_prev = states
        z = K.add(x_t, K.matmul(_dropped(h_prev, recurrent_mask),
                                self.recurrent_kernel.value))
        u = self.units
        i = self.recurrent_activation(_gate(z, 0, u))
        f = self.recurrent_activation(_gate(z, 1, u))
        c = K.add(K.multiply(f, c_prev), K.multiply(i, self.activation(_gate(z, 2, u))))
        o = self.recurrent_activation(_gate(z, 3, u))
        h = K.multiply(o, self.activation(c))
        return h, [h, c]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        })
        return config


class GRU(_RNN):
    """Gated recurrent unit, gates z, r, h; ``reset_after`` applies r after the matmul."""

    gates = 3

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 reset_after: bool = True, **kwargs: Any):
        super().__init__(units, activation, use_bias, kernel_initializer,
                         recurrent_initializer, bias_initializer, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.reset_after = reset_after

    def _bias_shape(self) -> tuple[int, ...]:
        # reset_after keeps separate input and recurrent biases, rows 0 and 1
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    @staticmethod
    def _bias_row(bias: Any, row: int) -> Any:
        return K.squeeze(K.slice_axis(bias, 0, row, row + 1), 0)

    def _input_bias(self) -> Any:
        if self.bias is None:
            return None
        return self._bias_row(self.bias.value, 0) if self.reset_after else self.bias.value

    def _step(self, x_t: Any, states: list[Any], recurrent_mask: Any) -> tuple[Any, list[Any]]:
        h_prev = states[0]
        h_in = _dropped(h_prev, recurrent_mask)
        u = self.units
        kernel = self.recurrent_kernel.value
        if self.reset_after:
            inner = K.matmul(h_in, kernel)
            if self.bias is not None:
                inner = K.add(inner, self._bias_row(self.bias.value, 1))
        else:
            inner = K.matmul(h_in, K.slice_axis(kernel, 1, 0, 2 * u))
        z = self.recurrent_activation(K.add(_gate(x_t, 0, u), _gate(inner, 0, u)))
        r = self.recurrent_activation(K.add(_gate(x_t, 1, u), _gate(inner, 1, u)))
        if self.reset_after:
            recurrent_h = K.multiply(r, _gate(inner, 2, u))
        else:
            recurrent_h = K.matmul(K.multiply(r, h_in), K.slice_axis(kernel, 1, 2 * u, 3 * u))
        candidate = self.activation(K.add(_gate(x_t, 2, u), recurrent_h))
        h = K.add(K.multiply(z, h_prev), K.multiply(K.subtract(1.0, z), candidate))
        return h, [h]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        })
        return config
