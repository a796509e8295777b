"""The functional ``Model(inputs, outputs)``: a DAG of layer calls that is itself a layer.

Built from the nodes recorded when layers were called on ``Input`` tensors; a layer called
twice (shared) appears once in ``layers`` and its weights once. Calling the model runs the
graph with masks propagated through each layer's ``compute_mask``; a model called on symbolic
tensors becomes a node of a bigger model, so models nest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.reference import backend as K
from harness.reference.layers.base import KerasTensor, Layer, unique_name
from harness.reference.models import graph as graph_module
from harness.reference.models.graph import Graph
from harness.reference.models.training import Trainer


def _unique(names: Sequence[str]) -> list[str]:
    """``names`` with repeats suffixed ``_1``, ``_2``, ... (a layer with several outputs)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{name}_{k}")
    return out


class Model(Trainer, Layer):
    """A functional model: ``Model(inputs, outputs)`` with symbolic tensors from ``Input``."""

    supports_masking = True
    #: the class name configs and saved files use (Keras 3 calls functional models so)
    keras_class_name = "Functional"

    def __init__(self, inputs: KerasTensor | Sequence[KerasTensor],
                 outputs: KerasTensor | Sequence[KerasTensor], name: str | None = None,
                 trainable: bool = True, **kwargs: Any):
        super().__init__(name=name or unique_name("functional"), trainable=trainable, **kwargs)
        self._init_trainer()
        self._set_graph(inputs, outputs)

    def _set_graph(self, inputs: Any, outputs: Any) -> None:
        self._single_input = not isinstance(inputs, (list, tuple))
        self._multi_output = isinstance(outputs, (list, tuple))
        ins = [inputs] if self._single_input else list(inputs)
        outs = list(outputs) if self._multi_output else [outputs]
        if not ins or not outs:
            raise ValueError("a model needs at least one input and one output")
        self._graph: Graph = graph_module.map_graph(ins, outs)
        self._layers = list(self._graph.layers)
        self._mask_cache: tuple[list[Any], Any, Any] | None = None
        self.built = True

    # --- structure ---------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """Every layer once, inputs first (Keras's depth order)."""
        return list(self._graph.layers)

    @property
    def inputs(self) -> list[KerasTensor]:
        return list(self._graph.inputs)

    @property
    def outputs(self) -> list[KerasTensor]:
        return list(self._graph.outputs)

    @property
    def input_names(self) -> list[str]:
        return _unique([t.node.layer.name for t in self._graph.inputs])  # type: ignore[union-attr]

    @property
    def output_names(self) -> list[str]:
        return _unique([t.node.layer.name for t in self._graph.outputs])  # type: ignore[union-attr]

    @property
    def input_shape(self) -> Any:
        shapes = [tuple(t.shape) for t in self._graph.inputs]
        return shapes[0] if self._single_input else shapes

    @property
    def output_shape(self) -> Any:
        shapes = [tuple(t.shape) for t in self._graph.outputs]
        return shapes if self._multi_output else shapes[0]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """The layer called ``name``, or at position ``index`` of ``layers``."""
        if index is not None:
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r} in model {self.name!r}")

    # --- computation -------------------------------------------------------------------------
    def _flat_inputs(self, inputs: Any) -> list[Any]:
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(flat) != len(self._graph.inputs):
            raise ValueError(f"model {self.name!r} takes {len(self._graph.inputs)} inputs, "
                             f"got {len(flat)}")
        # inputs take the dtype of their Input, as Keras converts them
        return [x if K.dtype(x) == t.dtype else K.cast(x, t.dtype)
                for x, t in zip(flat, self._graph.inputs, strict=True)]

    def _flat_masks(self, mask: Any) -> list[Any] | None:
        if mask is None:
            return None
        return list(mask) if isinstance(mask, (list, tuple)) else [mask]

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        flat = self._flat_inputs(inputs)
        outs, out_masks = graph_module.run(self._graph, flat, self._flat_masks(mask), training)
        self._mask_cache = (flat, mask, out_masks)
        return outs if self._multi_output else outs[0]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The output mask(s): the masks the graph's layers emit for these inputs."""
        flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        cache = self._mask_cache
        if (cache is not None and cache[1] is mask and len(cache[0]) == len(flat)
                and all(a is b for a, b in zip(cache[0], flat, strict=True))):
            out_masks = cache[2]  # the masks of the call just made on these very inputs
        else:
            _, out_masks = graph_module.run(self._graph, self._flat_inputs(inputs),
                                            self._flat_masks(mask))
        return out_masks if self._multi_output else out_masks[0]

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = [input_shape] if self._single_input else list(input_shape)
        outs = graph_module.output_shapes(self._graph, shapes)
        return outs if self._multi_output else outs[0]

    def build(self, input_shape: Any) -> None:
        self.built = True  # a functional model is built when it is made

    # --- config and reporting ----------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras-style functional config: layers with ``inbound_nodes``, input/output layers."""
        from harness.reference.models import serialization

        return serialization.functional_config(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Model:
        from harness.reference.models import serialization

        return serialization.functional_from_config(cls, config)

    def summary(self, print_fn: Any = print) -> str:
        """A Keras-like table of layers, output shapes and parameter counts; printed through
        ``print_fn`` (None prints nothing) and returned."""
        from harness.reference.models import summary

        text = summary.summarize(self)
        if print_fn is not None:
            print_fn(text)
        return text
