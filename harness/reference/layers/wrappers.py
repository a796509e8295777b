"""Layer wrappers: Bidirectional (an RNN run both ways) and TimeDistributed (a layer per step).

Configs nest the wrapped layer as ``{"class_name": ..., "config": ...}`` (Keras's serialized
form, without Keras's module bookkeeping); weights are the wrapped layers', forward then
backward for Bidirectional.
"""

from __future__ import annotations

from typing import Any

from harness.reference import backend as K
from harness.reference.layers.base import Layer, Shape

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def serialize_layer(layer: Layer) -> dict[str, Any]:
    """``{"class_name", "config"}`` of ``layer``, enough for ``deserialize_layer``."""
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec: dict[str, Any] | Layer) -> Layer:
    """A new layer from ``serialize_layer``'s output (a layer instance passes through)."""
    if isinstance(spec, Layer):
        return spec
    from harness.reference import layers  # the registry imports this module lazily

    return layers.get(spec["class_name"]).from_config(spec["config"])


def _renamed_copy(layer: Layer, name: str, **overrides: Any) -> Any:
    """A fresh, unbuilt layer with ``layer``'s config, ``name`` and ``overrides``."""
    config = {**layer.get_config(), "name": name, **overrides}
    return type(layer).from_config(config)


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy with ``go_backwards`` flipped, then merges.

    The backward layer's sequence output is flipped back into input time order before the
    merge, as Keras does; with ``merge_mode=None`` both outputs are returned as a list.
    """

    supports_masking = True

    def __init__(self, layer: Layer | dict[str, Any], merge_mode: str | None = "concat",
                 backward_layer: Layer | dict[str, Any] | None = None, **kwargs: Any):
        rnn: Any = deserialize_layer(layer)
        if not hasattr(rnn, "go_backwards"):
            raise ValueError(f"Bidirectional wraps a recurrent layer, got {type(rnn).__name__}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"`merge_mode` must be one of {MERGE_MODES}, got {merge_mode!r}")
        super().__init__(**kwargs)
        self.merge_mode = merge_mode
        self._custom_backward = backward_layer is not None
        # recurrent layers (duck-typed: go_backwards, return_sequences, state_size, ...)
        self.forward_layer: Any = _renamed_copy(rnn, f"forward_{_strip(rnn.name, 'forward_')}")
        self.backward_layer: Any
        if backward_layer is None:
            self.backward_layer = _renamed_copy(
                rnn, f"backward_{_strip(rnn.name, 'backward_')}",
                go_backwards=not rnn.go_backwards)
        else:
            self.backward_layer = deserialize_layer(backward_layer)
        self._check_pair()
        pair: tuple[Any, Any] = (self.forward_layer, self.backward_layer)
        for sub in pair:
            # Keras zeroes masked steps of each direction when sequences are merged
            sub.zero_output_for_mask = sub.return_sequences
            self.track(sub)
        self.return_sequences = self.forward_layer.return_sequences
        self.return_state = self.forward_layer.return_state

    def _check_pair(self) -> None:
        fwd, bwd = self.forward_layer, self.backward_layer
        if fwd.go_backwards == bwd.go_backwards:
            raise ValueError("forward and backward layers must differ in `go_backwards`")
        for attr in ("return_sequences", "return_state"):
            if getattr(fwd, attr) != getattr(bwd, attr):
                raise ValueError(f"forward and backward layers must agree on `{attr}`")

    def build(self, input_shape: Shape) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub.build(input_shape)
                sub.built = True
        self.built = True

    def _merge(self, y: Any, y_rev: Any) -> Any:
        if self.merge_mode == "concat":
            return K.concatenate([y, y_rev], axis=-1)
        if self.merge_mode == "sum":
            return K.add(y, y_rev)
        if self.merge_mode == "mul":
            return K.multiply(y, y_rev)
        if self.merge_mode == "ave":
            return K.divide(K.add(y, y_rev), 2.0)
        return [y, y_rev]

    def call(self, inputs: Any, initial_state: Any = None, mask: Any = None,
             training: bool | None = None) -> Any:
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state)
            half = len(states) // 2
            forward_state, backward_state = states[:half], states[half:]
        y = self.forward_layer(inputs, training=training, mask=mask,
                               initial_state=forward_state)
        y_rev = self.backward_layer(inputs, training=training, mask=mask,
                                    initial_state=backward_state)
        states = []
        if self.return_state:
            states = [*y[1:], *y_rev[1:]]
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = K.flip(y_rev, 1)
        output = self._merge(y, y_rev)
        if not self.return_state:
            return output
        return [*output, *states] if self.merge_mode is None else [output, *states]

    def compute_output_shape(self, input_shape: Shape) -> Any:
        shape = self.forward_layer.compute_output_shape(input_shape)
        state_shapes: list[Any] = []
        if self.return_state:
            shape, state_shapes = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            last = shape[-1]
            outputs = [(*shape[:-1], None if last is None else 2 * last)]
        elif self.merge_mode is None:
            outputs = [tuple(shape), tuple(shape)]
        else:
            outputs = [tuple(shape)]
        if self.return_state:
            return [*outputs, *state_shapes, *state_shapes]
        return outputs if self.merge_mode is None else outputs[0]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output_mask = mask if self.return_sequences else None
        masks = [output_mask, output_mask] if self.merge_mode is None else [output_mask]
        if self.return_state:
            n_states = 2 * len(self.forward_layer.state_size)
            return [*masks, *([None] * n_states)]
        return masks if self.merge_mode is None else masks[0]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["merge_mode"] = self.merge_mode
        config["layer"] = serialize_layer(self.forward_layer)
        # as Keras 3: the backward layer is always stored, so a round trip keeps its name
        config["backward_layer"] = serialize_layer(self.backward_layer)
        return config


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of (batch, time, ...) by folding time into batch."""

    supports_masking = True

    def __init__(self, layer: Layer | dict[str, Any], **kwargs: Any):
        super().__init__(**kwargs)
        self.layer = self.track(deserialize_layer(layer))

    @staticmethod
    def _child_shape(input_shape: Shape) -> Shape:
        if len(input_shape) < 3:
            raise ValueError(
                f"TimeDistributed expects inputs of rank >= 3 (batch, time, ...), "
                f"got shape {tuple(input_shape)}"
            )
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape: Shape) -> None:
        if not self.layer.built:
            self.layer.build(self._child_shape(input_shape))
            self.layer.built = True
        self.built = True

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        batch, steps, *rest = K.shape(inputs)
        folded = K.reshape(inputs, (batch * steps, *rest))
        kwargs: dict[str, Any] = {"training": training}
        if mask is not None:
            mask_shape = tuple(K.shape(mask))
            if mask_shape[:2] != (batch, steps):
                raise ValueError(
                    f"mask shape {mask_shape} does not start with the input's (batch, time) "
                    f"= {(batch, steps)}"
                )
            kwargs["mask"] = K.reshape(mask, (batch * steps, *mask_shape[2:]))
        y = self.layer(folded, **kwargs)
        return K.reshape(y, (batch, steps, *K.shape(y)[1:]))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1], *child[1:])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["layer"] = serialize_layer(self.layer)
        return config
