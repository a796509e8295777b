"""``model.summary()``: a Keras-like table of layers, output shapes and parameter counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_WIDTHS = (34, 26, 11)


def readable_size(n_bytes: float) -> str:
    """``60.00 B``, ``1.50 KB``, ... (powers of 1024, as Keras prints weight memory)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize  # NumPy lacks bfloat16


def _count(weights: Sequence[Any]) -> tuple[int, int]:
    """(parameter count, bytes) of ``weights``, each counted once."""
    seen: dict[int, Any] = {id(w): w for w in weights}
    params = sum(int(np.prod(w.shape)) for w in seen.values())
    size = sum(int(np.prod(w.shape)) * _itemsize(w.dtype) for w in seen.values())
    return params, size


def _shape_text(layer: Any, graph: Any) -> str:
    if graph is None:
        return "?"
    shapes = []
    for node in graph.layer_nodes(layer):
        outs = [tuple(t.shape) for t in node.outputs]
        shapes.append(str(outs[0]) if len(outs) == 1 else str(outs))
    if not shapes:
        return "?"
    return shapes[0] if len(set(shapes)) == 1 else "multiple"


def _connections(layer: Any, graph: Any) -> list[str]:
    refs = []
    for node in graph.layer_nodes(layer):
        for t in node.inputs:
            refs.append(f"{t.node.layer.name}[{graph.index_of(t.node)}][{t.index}]")
    return refs


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return " " + "".join(c.ljust(w) if i + 1 < len(cells) else c
                         for i, (c, w) in enumerate(zip(cells, widths, strict=False))).rstrip()


def summarize(model: Any) -> str:
    """The summary table of ``model`` (a ``Model`` or ``Sequential``) as text."""
    from harness.reference.models.sequential import Sequential

    functional = not isinstance(model, Sequential)
    graph = model._graph
    header = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional
                                                           else [])
    widths = [*_WIDTHS, 30]
    rule = "_" * (sum(widths[:len(header)]) if functional else sum(_WIDTHS))
    lines = [f'Model: "{model.name}"', rule, _row(header, widths), rule.replace("_", "=")]
    for layer in model.layers:
        cells = [f"{layer.name} ({type(layer).__name__})", _shape_text(layer, graph),
                 str(layer.count_params())]
        if functional:
            cells.append(str(_connections(layer, graph)))
        lines.append(_row(cells, widths))
    total, total_bytes = _count(model.weights)
    trainable, trainable_bytes = _count(model.trainable_weights)
    lines += [rule.replace("_", "="),
              f"Total params: {total:,} ({readable_size(total_bytes)})",
              f"Trainable params: {trainable:,} ({readable_size(trainable_bytes)})",
              f"Non-trainable params: {total - trainable:,} "
              f"({readable_size(total_bytes - trainable_bytes)})",
              rule]
    return "\n".join(lines)
