"""What a Keras reproduction is made of, and the builder that collects it.

A ``KerasReproduction`` is plain data: the case, the arrays the script embeds, the helper
source it needs and its steps (a label and the body of a function returning True when the
step is within tolerance). ``Builder`` fills one in, a check's step functions at a time
(``repro_keras_values``, ``repro_keras_runs``, ``repro_keras_saving``); ``repro_keras_script``
renders it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from harness.conformance import data, expected
from harness.conformance.cases import Case
from harness.conformance.tolerances import Tol


@dataclass
class KerasReproduction:
    """Everything the script renderer needs, as plain data."""

    case: Case
    check: str
    backend: str
    dtype: str
    device: str
    keras_device: str
    versions: dict[str, str]
    config: dict[str, Any]
    weight_names: list[str] = field(default_factory=list)
    build_inputs: list[str] = field(default_factory=list)  # DATA keys the layer is built on
    steps: list[tuple[str, str]] = field(default_factory=list)  # (label, body source)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    helpers: list[str] = field(default_factory=list)  # helper source the steps call
    constants: dict[str, Any] = field(default_factory=dict)  # NAME -> value (a literal)
    result: dict[str, Any] | None = None


def src_list(keys: list[str]) -> str:
    """``keys`` as a Python list literal."""
    return "[" + ", ".join(repr(k) for k in keys) + "]"


def src_data(keys: list[str]) -> str:
    """Source of the list of the embedded arrays named ``keys``."""
    return "[" + ", ".join(f"DATA[{k!r}]" for k in keys) + "]"


class BuildFailed(Exception):
    """Building the layer raised: the step that replays it is already added."""


def replayed_on_failure() -> contextlib.suppress:
    """Go on to the next part when building raised (its replay step is already added)."""
    return contextlib.suppress(BuildFailed)


class LayerCall(NamedTuple):
    """The case's inputs and mask in one dtype, the source that builds its layer, and the keys
    the script holds the inputs (``xs``) and the mask (``m``, None without one) under."""

    inputs: list[np.ndarray]
    mask: np.ndarray | None
    layer: str
    xs: list[str]
    m: str | None


class Builder:
    """Collects the data and the steps of one script."""

    def __init__(self, rep: KerasReproduction, target: Any):
        self.rep, self.target, self.case = rep, target, rep.case
        self.weights64: dict[str, list[np.ndarray]] = {}
        self.weight_keys: dict[str, list[str]] = {}
        self.built: dict[str, Any] = {}

    def put(self, key: str, array: np.ndarray) -> str:
        """Embed ``array`` under ``key``; the key."""
        self.rep.arrays[key] = np.asarray(array)
        return key

    def inputs(self, prefix: str, arrays: list[np.ndarray], dtype: str) -> list[str]:
        return [self.put(f"{prefix}{i}", data.cast(x, dtype)) for i, x in enumerate(arrays)]

    def mask(self, name: str, mask: np.ndarray | None) -> str | None:
        return None if mask is None else self.put(name, mask)

    def layer_call(self, dtype: str) -> LayerCall:
        """What a step calling the case's layer once in ``dtype`` needs (see ``LayerCall``)."""
        inputs, mask = data.inputs(self.case, dtype), data.mask(self.case)
        layer = self.layer(dtype)
        return LayerCall(inputs, mask, layer, self.inputs("x", inputs, dtype),
                         self.mask("mask", mask))

    def helper(self, source: str) -> None:
        """Add helper source the steps call (once)."""
        if source not in self.rep.helpers:
            self.rep.helpers.append(source)

    def step(self, label: str, body: str) -> None:
        self.rep.steps.append((label, body))

    def layer(self, dtype: str) -> str:
        """Source of ``built_layer(dtype, weights)``: the case's weights as the Keras target
        sets them; Keras's own initial weights when building raised here too."""
        try:
            built = self.target.build(self.case, dtype)
        except Exception as exc:  # noqa: BLE001 - the script replays the same build
            self.step(f"build the {dtype} layer (raised when dl-harness built it: "
                      f"{type(exc).__name__})",
                      f"built_layer({dtype!r}, None)\n"
                      "print('no error: the layer was built')\nreturn True\n")
            raise BuildFailed from exc
        weights = self.target.get_weights(built)
        self.weights64[dtype], self.built[dtype] = weights, built
        if not self.rep.weight_names:
            self.rep.weight_names = list(built.weight_names)
        keys = [self.put(f"w_{dtype}_{i}", data.cast(w, dtype)) for i, w in enumerate(weights)]
        self.weight_keys[dtype] = keys
        return f"built_layer({dtype!r}, {src_list(keys)})"

    def oracle(self, dtype: str, inputs: list[np.ndarray], mask: np.ndarray | None,
               prefix: str, training: bool | None = None) -> list[str]:
        """Embed the oracle's outputs for the built layer's weights; their keys."""
        outs = expected.forward(self.case, self.weights64[dtype], inputs, training, mask)
        return [self.put(f"{prefix}{i}", o) for i, o in enumerate(outs)]

    def values(self, label: str, prefix: str, inputs: list[np.ndarray], tol: Tol,
               mask: np.ndarray | None) -> None:
        """A step comparing the outputs on ``inputs`` with the oracle's."""
        dtype = self.rep.dtype
        layer = self.layer(dtype)
        xs, m = self.inputs(f"{prefix}_x", inputs, dtype), self.mask(f"{prefix}_mask", mask)
        want = self.oracle(dtype, inputs, mask, f"{prefix}_e")
        self.step(label, f"layer = {layer}\nouts = run(layer, DTYPE, {src_list(xs)}, {m!r})\n"
                         f"return check_values({label!r}, outs, {src_data(want)}, "
                         f"atol={tol.atol!r}, rtol={tol.rtol!r})\n")
