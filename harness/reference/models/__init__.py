"""Models of the reference library, Keras-style: ``from harness.reference import models``.

``Model(inputs, outputs)`` (functional, in ``functional.py``), ``Sequential`` (in
``sequential.py``), training in ``training.py``, configs in ``serialization.py``, the graph in
``graph.py`` and ``summary()`` in ``summary.py``.
"""

from __future__ import annotations

from harness.reference.models.functional import Model
from harness.reference.models.sequential import Sequential
from harness.reference.models.serialization import (
    deserialize_layer,
    model_from_config,
    serialize_layer,
)
from harness.reference.models.training import History

#: Keras 3's name for the class of functional models
Functional = Model

__all__ = ["Functional", "History", "Model", "Sequential", "deserialize_layer",
           "model_from_config", "serialize_layer"]
