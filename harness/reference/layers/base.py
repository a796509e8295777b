"""The ``Layer`` base class and the symbolic tensors of the functional API.

A layer is built on first call from the input shape, holds ``Variable`` weights in Keras order,
and computes with backend ops only. Called on a ``KerasTensor`` (from ``Input``) it records a
``Node`` instead of computing, which is how functional models are wired.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.reference import backend as K
from harness.reference import initializers
from harness.reference.variables import Variable

Shape = tuple[int | None, ...]

_name_counters: dict[str, itertools.count] = {}


def _snake(name: str) -> str:
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(prefix: str) -> str:
    """``dense``, ``dense_1``, ... per prefix, as Keras names layers."""
    counter = _name_counters.setdefault(prefix, itertools.count())
    n = next(counter)
    return prefix if n == 0 else f"{prefix}_{n}"


@dataclass(eq=False)
class KerasTensor:
    """A symbolic tensor: a shape (batch dimension None) and where it came from."""

    shape: Shape
    dtype: str = "float32"
    node: Node | None = None
    index: int = 0
    name: str | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)


@dataclass(eq=False)
class Node:
    """One call of a layer on symbolic inputs (functional API bookkeeping)."""

    layer: Layer
    inputs: list[KerasTensor]
    outputs: list[KerasTensor] = field(default_factory=list)
    call_kwargs: dict[str, Any] = field(default_factory=dict)
    nested_inputs: bool = False  # True when the layer was called with a list


def _is_symbolic(inputs: Any) -> bool:
    if isinstance(inputs, KerasTensor):
        return True
    return isinstance(inputs, (list, tuple)) and any(isinstance(i, KerasTensor) for i in inputs)


def _to_tensor(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_to_tensor(i) for i in x]
    if isinstance(x, np.ndarray) or np.isscalar(x):
        return K.convert_to_tensor(x)
    return x


def shape_of(x: Any) -> Any:
    """Static shape of a tensor (or a list of shapes for a list)."""
    if isinstance(x, (list, tuple)):
        return [shape_of(i) for i in x]
    if isinstance(x, KerasTensor):
        return tuple(x.shape)
    return tuple(K.shape(x))


class Layer:
    """Base class of every layer: build, call, shapes, masks, weights and config."""

    supports_masking = False

    def __init__(self, name: str | None = None, trainable: bool = True,
                 dtype: str | None = None, input_shape: Sequence[int] | None = None,
                 input_dim: int | None = None, **kwargs: Any):
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected arguments: {sorted(kwargs)}")
        self.name = name or unique_name(_snake(type(self).__name__))
        self.trainable = trainable
        self.dtype = dtype or "float32"
        self.built = False
        self._weights: list[Variable] = []
        self._layers: list[Layer] = []  # sublayers (wrappers, models)
        if input_shape is None and input_dim is not None:
            input_shape = (input_dim,)
        self.batch_input_shape: Shape | None = (
            (None, *tuple(input_shape)) if input_shape is not None else None
        )
        self._inbound_nodes: list[Node] = []

    # --- weights -----------------------------------------------------------------------
    def add_weight(self, name: str, shape: Sequence[int], initializer: Any = "zeros",
                   trainable: bool = True, dtype: str | None = None) -> Variable:
        """Create a weight drawn by ``initializer`` and register it in Keras order."""
        value = initializers.get(initializer)(tuple(int(s) for s in shape))
        var = Variable(value, name=f"{self.name}/{name}", trainable=trainable,
                       dtype=dtype or self.dtype)
        self._weights.append(var)
        return var

    def track(self, layer: Layer) -> Layer:
        """Register a sublayer whose weights belong to this layer (after its own)."""
        self._layers.append(layer)
        return layer

    @property
    def weights(self) -> list[Variable]:
        own = list(self._weights)
        for sub in self._layers:
            own.extend(sub.weights)
        return own

    @property
    def trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return []
        own = [w for w in self._weights if w.trainable]
        for sub in self._layers:
            own.extend(sub.trainable_weights)
        return own

    @property
    def non_trainable_weights(self) -> list[Variable]:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self) -> list[np.ndarray]:
        """Weights as NumPy arrays, in Keras order and shapes."""
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Set every weight (Keras order); shapes must match exactly."""
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(
                f"{self.name}: expected {len(mine)} weight arrays, got {len(weights)}"
            )
        for var, value in zip(mine, weights, strict=True):
            value = np.asarray(value)
            if tuple(value.shape) != var.shape:
                raise ValueError(
                    f"{self.name}: weight {var.name} has shape {var.shape}, got {value.shape}"
                )
            var.assign(value)

    def count_params(self) -> int:
        return int(sum(np.prod(w.shape) for w in self.weights))

    # --- the computation -----------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        """Create weights for ``input_shape`` (batch dimension included, may be None)."""
        self.built = True

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The layer's computation on backend tensors (subclasses implement it); returns the
        output tensor(s). The default is the identity. A subclass declares the keywords it
        takes (``training``, ``mask``, ...): ``__call__`` passes only those it declares."""
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for ``input_shape`` (default: unchanged, for elementwise layers)."""
        return input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask this layer emits: the input mask when it supports masking, else None."""
        return mask if self.supports_masking else None

    def _call_accepts(self, name: str) -> bool:
        cls = type(self)
        cache = cls.__dict__.get("_call_params_cache")
        if cache is None:
            cache = frozenset(inspect.signature(cls.call).parameters)
            cls._call_params_cache = cache  # type: ignore[attr-defined]
        return name in cache

    def __call__(self, inputs: Any, training: bool | None = None, mask: Any = None,
                 **kwargs: Any) -> Any:
        if _is_symbolic(inputs):
            return self._symbolic_call(inputs, training=training, mask=mask, **kwargs)
        inputs = _to_tensor(inputs)
        if not self.built:
            self.build(shape_of(inputs))
            self.built = True
        call_kwargs = dict(kwargs)
        if self._call_accepts("training"):
            call_kwargs["training"] = training
        if self._call_accepts("mask") and mask is not None:
            call_kwargs["mask"] = mask
        return self.call(inputs, **call_kwargs)

    def _symbolic_call(self, inputs: Any, **kwargs: Any) -> Any:
        nested = isinstance(inputs, (list, tuple))
        flat = list(inputs) if nested else [inputs]
        shapes = [tuple(t.shape) for t in flat]
        input_shape = shapes if nested else shapes[0]
        if not self.built:
            self.build(input_shape)
            self.built = True
        out_shape = self.compute_output_shape(input_shape)
        node = Node(self, flat, call_kwargs={k: v for k, v in kwargs.items() if v is not None},
                    nested_inputs=nested)
        multi = isinstance(out_shape, list)
        out_shapes = out_shape if multi else [out_shape]
        node.outputs = [KerasTensor(tuple(s), self.dtype, node, i)
                        for i, s in enumerate(out_shapes)]
        self._inbound_nodes.append(node)
        return node.outputs if multi else node.outputs[0]

    # --- config ----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras-style config: constructor arguments by Keras names."""
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                                  "dtype": self.dtype}
        if self.batch_input_shape is not None:
            config["batch_input_shape"] = list(self.batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        batch_input_shape = config.pop("batch_input_shape", None)
        if batch_input_shape is not None:
            config["input_shape"] = tuple(batch_input_shape[1:])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"
