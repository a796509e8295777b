"""Layers of the reference library, Keras-style: ``from harness.reference import layers``.

Classes are imported lazily from their modules (``layers.Dense`` loads ``core``), so building a
model loads only what it uses. ``get(class_name)`` finds a class for deserialization.
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.reference.layers.base import KerasTensor, Layer, Node

_EXPORTS: dict[str, str] = {
    # core.py
    "Dense": "core", "Activation": "core", "Embedding": "core", "Masking": "core",
    "Dropout": "core",
    # reshaping.py
    "Flatten": "reshaping", "Reshape": "reshaping", "Permute": "reshaping",
    "RepeatVector": "reshaping", "ZeroPadding2D": "reshaping", "Cropping2D": "reshaping",
    "UpSampling2D": "reshaping",
    # merging.py
    "Add": "merging", "Subtract": "merging", "Multiply": "merging", "Average": "merging",
    "Maximum": "merging", "Minimum": "merging", "Concatenate": "merging", "Dot": "merging",
    # normalization.py
    "BatchNormalization": "normalization", "LayerNormalization": "normalization",
    # convolutional.py
    "Conv1D": "convolutional", "Conv2D": "convolutional", "Conv3D": "convolutional",
    "Conv2DTranspose": "convolutional", "SeparableConv2D": "convolutional",
    "DepthwiseConv2D": "convolutional", "Conv1DTranspose": "convolutional",
    "Conv3DTranspose": "convolutional",
    # pooling.py
    "MaxPooling1D": "pooling", "MaxPooling2D": "pooling", "MaxPooling3D": "pooling",
    "AveragePooling1D": "pooling", "AveragePooling2D": "pooling", "AveragePooling3D": "pooling",
    "GlobalMaxPooling1D": "pooling", "GlobalMaxPooling2D": "pooling",
    "GlobalAveragePooling1D": "pooling", "GlobalAveragePooling2D": "pooling",
    # recurrent.py
    "SimpleRNN": "recurrent", "LSTM": "recurrent", "GRU": "recurrent",
    # wrappers.py
    "Bidirectional": "wrappers", "TimeDistributed": "wrappers",
    # input_layer.py
    "Input": "input_layer", "InputLayer": "input_layer",
}

__all__ = ["KerasTensor", "Layer", "Node", "get", "names", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def get(class_name: str) -> type[Layer]:
    """The layer class called ``class_name`` (Keras class names)."""
    if class_name not in _EXPORTS:
        raise ValueError(f"unknown layer class {class_name!r}")
    cls = __getattr__(class_name)
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"{class_name!r} is not a layer class")
    return cls


def names() -> list[str]:
    """Every layer class name the library provides (functions like Input excluded)."""
    return sorted(n for n in _EXPORTS if n != "Input")
