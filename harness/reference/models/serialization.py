"""Model configs in the Keras style, and rebuilding models and layers from them.

A functional config lists every layer as ``{"class_name", "config", "name",
"inbound_nodes"}``, each inbound node a list of ``[layer_name, node_index, tensor_index,
kwargs]`` (Keras 2's form, which Keras 3 still reads), plus ``input_layers`` and
``output_layers`` as ``[layer_name, node_index, tensor_index]`` (unwrapped for a model made
with a single tensor, as Keras 3 writes it). Layers are rebuilt with
``harness.reference.layers.get(class_name)``; models by their class names.
"""

from __future__ import annotations

from typing import Any

from harness.reference.layers.base import KerasTensor, Layer

_JSON_SCALARS = (bool, int, float, str, type(None))


def class_name(layer: Layer) -> str:
    """The class name a config records for ``layer`` (``Functional`` for a ``Model``)."""
    return str(getattr(type(layer), "keras_class_name", type(layer).__name__))


def serialize_layer(layer: Layer) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a layer or model."""
    return {"class_name": class_name(layer), "config": layer.get_config()}


def deserialize_layer(spec: dict[str, Any]) -> Layer:
    """A new layer or model from ``{"class_name", "config"}``."""
    from harness.reference import layers
    from harness.reference.models import Model, Sequential

    name = spec.get("class_name")
    config = spec.get("config", {})
    if name == "Sequential":
        return Sequential.from_config(config)
    if name in ("Functional", "Model"):
        return Model.from_config(config)
    return layers.get(str(name)).from_config(config)


def model_from_config(spec: dict[str, Any]) -> Any:
    """A model from ``{"class_name": "Sequential" | "Functional", "config": ...}``."""
    if spec.get("class_name") not in ("Sequential", "Functional", "Model"):
        raise ValueError(f"not a model config: class_name {spec.get('class_name')!r}")
    return deserialize_layer(spec)


def _history(graph: Any, tensor: KerasTensor) -> list[Any]:
    node = tensor.node
    assert node is not None
    return [node.layer.name, graph.index_of(node), tensor.index]


def _json_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The call arguments a config can hold (tensors such as masks are not recorded)."""
    return {k: v for k, v in kwargs.items() if isinstance(v, _JSON_SCALARS)}


def functional_config(model: Any) -> dict[str, Any]:
    """The Keras-style config of a functional model."""
    graph = model._graph
    entries = []
    for layer in graph.layers:
        inbound = [[[*_history(graph, t), _json_kwargs(node.call_kwargs)] for t in node.inputs]
                   for node in graph.layer_nodes(layer) if node.inputs]
        entries.append({**serialize_layer(layer), "name": layer.name, "inbound_nodes": inbound})
    inputs: Any = [_history(graph, t) for t in graph.inputs]
    outputs: Any = [_history(graph, t) for t in graph.outputs]
    return {"name": model.name, "trainable": model.trainable, "layers": entries,
            "input_layers": inputs[0] if model._single_input else inputs,
            "output_layers": outputs if model._multi_output else outputs[0]}


def _refs(spec: Any) -> tuple[list[list[Any]], bool]:
    """(list of [name, node, tensor] references, whether the spec was a single reference)."""
    if spec and isinstance(spec[0], str):
        return [list(spec)], True
    return [list(s) for s in spec], False


def functional_from_config(cls: type, config: dict[str, Any]) -> Any:
    """A functional model (of class ``cls``) rebuilt from ``functional_config``'s output."""
    from harness.reference.layers.input_layer import InputLayer

    created: dict[str, Layer] = {}
    pending: dict[str, list[Any]] = {}
    tensors: dict[tuple[str, int], list[KerasTensor]] = {}
    done: dict[str, int] = {}
    for entry in config["layers"]:
        layer = deserialize_layer(entry)
        name = entry.get("name", layer.name)
        created[name] = layer
        pending[name] = list(entry.get("inbound_nodes", []))
        done[name] = 0
        if isinstance(layer, InputLayer):
            tensors[(name, 0)] = [layer.output]
            done[name] = 1
    while any(pending.values()):
        progressed = False
        for name, queue in pending.items():
            while queue and _ready(queue[0], tensors):
                _call_node(created[name], name, queue.pop(0), tensors, done)
                progressed = True
        if not progressed:
            stuck = sorted(n for n, q in pending.items() if q)
            raise ValueError(f"cannot rebuild the model: the inputs of {stuck} never appear")
    in_refs, single_in = _refs(config["input_layers"])
    out_refs, single_out = _refs(config["output_layers"])
    inputs = [tensors[(n, i)][t] for n, i, t in in_refs]
    outputs = [tensors[(n, i)][t] for n, i, t in out_refs]
    return cls(inputs[0] if single_in else inputs, outputs[0] if single_out else outputs,
               name=config.get("name"), trainable=config.get("trainable", True))


def _ready(node_data: list[Any], tensors: dict[tuple[str, int], list[KerasTensor]]) -> bool:
    return all((ref[0], ref[1]) in tensors for ref in node_data)


def _call_node(layer: Layer, name: str, node_data: list[Any],
               tensors: dict[tuple[str, int], list[KerasTensor]], done: dict[str, int]) -> None:
    args = [tensors[(ref[0], ref[1])][ref[2]] for ref in node_data]
    kwargs: dict[str, Any] = {}
    for ref in node_data:
        if len(ref) > 3 and isinstance(ref[3], dict):
            kwargs.update(ref[3])
    out = layer(args if len(args) > 1 else args[0], **kwargs)
    tensors[(name, done[name])] = list(out) if isinstance(out, (list, tuple)) else [out]
    done[name] += 1
