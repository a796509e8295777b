"""The functional graph: which nodes a model runs, in which order, and running them.

``map_graph`` walks back from the outputs through the ``Node``s that ``Layer._symbolic_call``
recorded, as Keras does: every node gets a depth (0 at the outputs), nodes run from the
deepest up, and ``layers`` lists each layer once, deepest first and, within a depth, in
traversal order. ``run`` evaluates the graph on tensors (with masks); ``output_shapes`` on
shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.reference.layers.base import KerasTensor, Layer, Node


@dataclass
class Graph:
    """A model's wiring: its input and output tensors, nodes in run order, and its layers."""

    inputs: list[KerasTensor]
    outputs: list[KerasTensor]
    nodes: list[Node]
    layers: list[Layer]
    node_index: dict[int, int] = field(default_factory=dict)  # id(node) -> index in its layer

    def index_of(self, node: Node) -> int:
        """The node's index among its layer's nodes in this graph (Keras's ``node_index``)."""
        return self.node_index[id(node)]

    def layer_nodes(self, layer: Layer) -> list[Node]:
        """The nodes of ``layer`` that belong to this graph, in call order."""
        return [n for n in layer._inbound_nodes if id(n) in self.node_index]


def _source(tensor: Any) -> Node:
    if not isinstance(tensor, KerasTensor) or tensor.node is None:
        raise ValueError(f"model inputs and outputs must be symbolic tensors, got {tensor!r}")
    return tensor.node


def map_graph(inputs: Sequence[KerasTensor], outputs: Sequence[KerasTensor]) -> Graph:
    """The graph from ``inputs`` to ``outputs`` (ValueError when an output does not depend on
    the inputs alone, or when the graph has a cycle)."""
    input_ids = {id(t) for t in inputs}
    input_nodes = {id(_source(t)): t for t in inputs}
    finished: set[int] = set()
    in_progress: set[int] = set()
    ordered: list[Node] = []  # post-order: every node after the nodes it reads from
    layer_index: dict[int, int] = {}

    def visit(tensor: KerasTensor) -> None:
        node = _source(tensor)
        if id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"the graph has a cycle at layer {node.layer.name!r}")
        layer_index.setdefault(id(node.layer), len(layer_index))
        in_progress.add(id(node))
        if id(tensor) not in input_ids and id(node) not in input_nodes:
            if not node.inputs:
                raise ValueError(f"graph disconnected: {node.layer.name!r} is an input that "
                                 "was not given to the model")
            for parent in node.inputs:
                visit(parent)
        in_progress.discard(id(node))
        finished.add(id(node))
        ordered.append(node)

    for out in outputs:
        visit(out)
    for t in inputs:
        if id(_source(t)) not in finished:  # an input no output uses still belongs to the model
            layer_index.setdefault(id(_source(t).layer), -1)
            finished.add(id(_source(t)))
            ordered.insert(0, _source(t))
    return _order_by_depth(ordered, layer_index, input_nodes, inputs, outputs)


def _order_by_depth(ordered: list[Node], layer_index: dict[int, int],
                    input_nodes: dict[int, KerasTensor], inputs: Sequence[KerasTensor],
                    outputs: Sequence[KerasTensor]) -> Graph:
    node_depth: dict[int, int] = {}
    layer_depth: dict[int, int] = {}
    for node in reversed(ordered):
        depth = max(node_depth.get(id(node), 0), layer_depth.get(id(node.layer), 0))
        node_depth[id(node)] = depth
        layer_depth[id(node.layer)] = depth
        if id(node) in input_nodes:
            continue
        for parent in node.inputs:
            parent_node = _source(parent)
            node_depth[id(parent_node)] = max(depth + 1, node_depth.get(id(parent_node), 0))
    position = {id(n): i for i, n in enumerate(ordered)}
    nodes = sorted(ordered, key=lambda n: (-node_depth[id(n)], position[id(n)]))
    layers_by_id = {id(n.layer): n.layer for n in ordered}
    layers = sorted(layers_by_id.values(),
                    key=lambda lyr: (-layer_depth[id(lyr)], layer_index[id(lyr)]))
    graph = Graph(list(inputs), list(outputs), nodes, layers)
    for layer in layers:
        k = 0
        for node in layer._inbound_nodes:
            if id(node) in position:
                graph.node_index[id(node)] = k
                k += 1
    return graph


def _combine(items: list[Any], nested: bool) -> Any:
    """A node's argument: the list for list calls, else its single element."""
    return items if nested else items[0]


def _as_list(value: Any, count: int) -> list[Any]:
    """A layer's output (or mask) as a list of ``count`` (one mask is shared by all)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value] * count


def run(graph: Graph, inputs: Sequence[Any], masks: Sequence[Any] | None = None,
        training: bool | None = None) -> tuple[list[Any], list[Any]]:
    """Evaluate ``graph`` on input tensors; returns (outputs, output masks) as lists."""
    values: dict[int, Any] = {id(t): x for t, x in zip(graph.inputs, inputs, strict=True)}
    mask_of: dict[int, Any] = {id(t): m for t, m in zip(graph.inputs, masks or [], strict=False)}
    for node in graph.nodes:
        if all(id(t) in values for t in node.outputs):
            continue  # a model input
        args = [values[id(t)] for t in node.inputs]
        in_masks = [mask_of.get(id(t)) for t in node.inputs]
        arg = _combine(args, node.nested_inputs)
        mask = _combine(in_masks, node.nested_inputs)
        if node.nested_inputs and all(m is None for m in in_masks):
            mask = None
        kwargs = {k: v for k, v in node.call_kwargs.items() if k != "mask"}
        kwargs.setdefault("training", training)
        out = node.layer(arg, mask=mask, **kwargs)
        outs = _as_list(out, len(node.outputs))
        out_masks = _as_list(node.layer.compute_mask(arg, mask), len(node.outputs))
        for t, value, m in zip(node.outputs, outs, out_masks, strict=False):
            values[id(t)] = value
            mask_of[id(t)] = m
    return [values[id(t)] for t in graph.outputs], [mask_of.get(id(t)) for t in graph.outputs]


def output_shapes(graph: Graph, input_shapes: Sequence[Any]) -> list[Any]:
    """The output shapes for ``input_shapes`` (one per model input), by each layer's
    ``compute_output_shape``."""
    shapes: dict[int, Any] = {id(t): tuple(s)
                              for t, s in zip(graph.inputs, input_shapes, strict=True)}
    for node in graph.nodes:
        if all(id(t) in shapes for t in node.outputs):
            continue
        arg = _combine([shapes[id(t)] for t in node.inputs], node.nested_inputs)
        out = node.layer.compute_output_shape(arg)
        outs = out if isinstance(out, list) else [out]
        for t, s in zip(node.outputs, outs, strict=True):
            shapes[id(t)] = tuple(s)
    return [shapes[id(t)] for t in graph.outputs]
