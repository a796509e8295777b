"""``Input`` and ``InputLayer``: where a functional model's symbolic tensors start.

``Input(shape=(4,))`` makes an ``InputLayer`` and returns its output ``KerasTensor`` (batch
dimension None, or ``batch_size``), whose ``Node`` has no inputs. Configs use Keras 3's keys
(``batch_shape``, ``dtype``, ``sparse``, ``name``); Keras 2's ``batch_input_shape`` is read too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.reference.layers.base import KerasTensor, Layer, Node, Shape


class InputLayer(Layer):
    """The source of one model input: holds its batch shape and dtype, computes the identity."""

    def __init__(self, shape: Sequence[int | None] | None = None, batch_size: int | None = None,
                 dtype: str | None = None, sparse: bool = False,
                 batch_shape: Sequence[int | None] | None = None, name: str | None = None,
                 batch_input_shape: Sequence[int | None] | None = None, **kwargs: Any):
        kwargs.pop("trainable", None)  # an input has no weights to train
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise ValueError("sparse inputs are not supported")
        batch_shape = batch_shape if batch_shape is not None else batch_input_shape
        if batch_shape is not None:
            if shape is not None:
                raise ValueError("give InputLayer either `shape` or `batch_shape`, not both")
            full = tuple(None if d is None else int(d) for d in batch_shape)
        elif shape is not None:
            dims = (shape,) if isinstance(shape, int) else tuple(shape)
            full = (batch_size, *(None if d is None else int(d) for d in dims))
        else:
            raise ValueError("InputLayer needs `shape` or `batch_shape`")
        self.batch_shape: Shape = full
        self.built = True
        node = Node(self, [])
        self.output = KerasTensor(full, self.dtype, node, 0, self.name)
        node.outputs = [self.output]
        self._inbound_nodes.append(node)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.batch_shape

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": list(self.batch_shape), "dtype": self.dtype, "sparse": False,
                "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> InputLayer:
        config = dict(config)
        if config.pop("ragged", False):  # Keras 2 writes ragged=False
            raise ValueError("ragged inputs are not supported")
        return cls(**config)


def Input(shape: Sequence[int | None] | None = None, dtype: str = "float32",  # noqa: N802
          name: str | None = None, batch_size: int | None = None,
          batch_shape: Sequence[int | None] | None = None) -> KerasTensor:
    """A symbolic input of ``shape`` (without the batch axis) and ``dtype``; returns the
    ``KerasTensor`` that layers are called on to build a functional model."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, batch_shape=batch_shape,
                      name=name).output
