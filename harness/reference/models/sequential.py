"""``Sequential``: a stack of layers, each called on the previous one's output.

Once the input shape is known (an ``Input`` tensor or ``InputLayer`` first, a first layer made
with ``input_shape``, or the first call on data) the stack is wired as a functional graph, so
masks, shapes, summaries and training work as for ``Model``. ``layers`` excludes the
``InputLayer``, as in Keras 3; the config lists it first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.reference.layers.base import KerasTensor, Layer, shape_of, unique_name
from harness.reference.layers.input_layer import InputLayer
from harness.reference.models import graph as graph_module
from harness.reference.models.functional import Model

_FLOATS = ("float16", "bfloat16", "float32", "float64")


class Sequential(Model):
    """``Sequential([Input(shape=...), Dense(...), ...])`` or built from data on first call."""

    keras_class_name = "Sequential"

    def __init__(self, layers: Sequence[Any] | None = None, name: str | None = None,
                 trainable: bool = True, **kwargs: Any):
        Layer.__init__(self, name=name or unique_name("sequential"), trainable=trainable,
                       **kwargs)
        self._init_trainer()
        self._input_layer: InputLayer | None = None
        self._stack: list[Layer] = []
        self._last: KerasTensor | None = None
        self._graph = None  # type: ignore[assignment]
        self._mask_cache = None
        self._single_input, self._multi_output = True, False
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # --- building ----------------------------------------------------------------------------
    def add(self, layer: Any) -> None:
        """Append a layer (or, first, an ``Input`` tensor / ``InputLayer``)."""
        if isinstance(layer, KerasTensor):
            source = layer.node.layer if layer.node is not None else None
            if not isinstance(source, InputLayer):
                raise ValueError("Sequential takes Input() tensors, not outputs of other layers")
            layer = source
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError("an InputLayer can only come first in a Sequential model")
            self._input_layer = layer
            self._last = layer.output
            return
        if not isinstance(layer, Layer):
            raise ValueError(f"Sequential takes layers, got {layer!r}")
        if any(existing.name == layer.name for existing in self._stack):
            raise ValueError(f"a layer named {layer.name!r} is already in {self.name!r}")
        if self._input_layer is None and not self._stack and layer.batch_input_shape:
            self.add(InputLayer(batch_shape=layer.batch_input_shape, dtype=layer.dtype))
        self._stack.append(layer)
        self._layers = list(self._stack)
        if self._last is not None:
            self._last = layer(self._last)
            self._wire()

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._stack:
            raise ValueError(f"{self.name!r} has no layers to pop")
        layer = self._stack.pop()
        self._layers = list(self._stack)
        if self._input_layer is not None:
            self._last = self._input_layer.output
            for kept in self._stack:
                self._last = kept(self._last)
            self._wire()
        return layer

    def _wire(self) -> None:
        if self._input_layer is None or self._last is None or not self._stack:
            self._graph = None  # type: ignore[assignment]
            self.built = False
            return
        self._set_graph(self._input_layer.output, self._last)
        self._layers = list(self._stack)

    def build(self, input_shape: Any = None, dtype: str | None = None) -> None:
        """Wire the stack for inputs of ``input_shape`` (batch axis included, set to None)."""
        if self._graph is not None:
            return
        if self._input_layer is None:
            if input_shape is None:
                raise ValueError(f"{self.name!r} needs an input shape to be built")
            first = self._stack[0].dtype if self._stack else "float32"
            self._input_layer = InputLayer(batch_shape=(None, *tuple(input_shape)[1:]),
                                           dtype=first if dtype is None or dtype in _FLOATS
                                           else dtype)
            self._last = self._input_layer.output
            for layer in self._stack:
                self._last = layer(self._last)
        self._wire()
        if self._graph is None:
            raise ValueError(f"{self.name!r} has no layers")

    # --- computation -------------------------------------------------------------------------
    def _ensure_built(self, inputs: Any) -> None:
        if self._graph is None:
            from harness.reference import backend as K

            self.build(shape_of(inputs), K.dtype(inputs))

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        self._ensure_built(inputs)
        return super().call(inputs, training=training, mask=mask)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        self._ensure_built(inputs)
        return super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._graph is None:
            shape = tuple(input_shape)
            for layer in self._stack:
                if not layer.built:
                    layer.build(shape)
                    layer.built = True
                shape = tuple(layer.compute_output_shape(shape))
            return shape
        outs = graph_module.output_shapes(self._graph, [input_shape])
        return outs[0]

    def _symbolic_call(self, inputs: Any, **kwargs: Any) -> Any:
        if self._graph is None and isinstance(inputs, KerasTensor):
            self.build(inputs.shape, inputs.dtype)
        return super()._symbolic_call(inputs, **kwargs)

    # --- structure and config -----------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The stacked layers, without the InputLayer."""
        return list(self._stack)

    @property
    def inputs(self) -> list[KerasTensor]:
        return [] if self._input_layer is None else [self._input_layer.output]

    @property
    def outputs(self) -> list[KerasTensor]:
        return [] if self._graph is None else list(self._graph.outputs)

    @property
    def input_names(self) -> list[str]:
        return [self._input_layer.name] if self._input_layer is not None else ["input_layer"]

    @property
    def output_names(self) -> list[str]:
        return [self._stack[-1].name] if self._stack else ["output"]

    def get_config(self) -> dict[str, Any]:
        """``{"name", "trainable", "layers": [{"class_name", "config"}, ...]}`` (Keras 3)."""
        from harness.reference.models.serialization import serialize_layer

        stack: list[Layer] = list(self._stack)
        if self._input_layer is not None:
            stack.insert(0, self._input_layer)
        return {"name": self.name, "trainable": self.trainable,
                "layers": [serialize_layer(layer) for layer in stack]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Sequential:
        from harness.reference.models.serialization import deserialize_layer

        layers = [deserialize_layer(spec) for spec in config.get("layers", [])]
        return cls(layers, name=config.get("name"), trainable=config.get("trainable", True))
