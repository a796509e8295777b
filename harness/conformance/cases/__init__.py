"""The case catalogue: every conformance case is data.

A ``Case`` names a layer by its Keras class name, gives its Keras config, the inputs to feed
(shape, dtype kind, optional mask) and which checks apply. One catalogue drives every backend and
every library. ``ModelCase`` describes a tiny model trained for a few steps (``training``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: checks the suite knows, in report order
ALL_CHECKS = (
    "shape", "forward", "backward", "serialization", "portability", "training",
    "determinism", "batch_invariance", "masking", "edge_values", "dtype", "compiled",
    "data_parallel",
)

#: the checks most layer cases get
LAYER_CHECKS = ("shape", "forward", "backward", "serialization", "determinism",
                "batch_invariance", "edge_values", "dtype", "compiled")


@dataclass(frozen=True)
class InputSpec:
    """One input: full shape (batch first), and how its values are drawn.

    ``kind``: ``normal`` (standard normal), ``uniform`` (in [low, high)), ``int`` (integers in
    [low, high), e.g. token ids), ``positive`` (uniform in [0.5, 2)).
    """

    shape: tuple[int, ...]
    kind: str = "normal"
    low: float = 0.0
    high: float = 1.0


@dataclass(frozen=True)
class Tolerance:
    """A per-case override of the tolerance table, with the reason it is needed."""

    atol: float
    rtol: float
    reason: str
    checks: tuple[str, ...] = ()  # empty: every check


@dataclass(frozen=True)
class Case:
    """A layer, its config, its inputs and the checks that apply to it."""

    id: str
    layer: str
    config: Mapping[str, Any]
    inputs: tuple[InputSpec, ...]
    checks: tuple[str, ...] = LAYER_CHECKS
    #: valid lengths per sample for a (batch, time) mask (post-padding); None: no mask
    mask_lengths: tuple[int, ...] | None = None
    training: bool = False
    tolerance: Tolerance | None = None
    #: inputs whose values the backward check differentiates (index into inputs)
    differentiable_inputs: tuple[int, ...] | None = None
    note: str = ""

    @property
    def multi_input(self) -> bool:
        return len(self.inputs) > 1

    @property
    def digest(self) -> str:
        """Stable hash of everything that defines the case (for caches)."""
        payload = json.dumps(
            {"layer": self.layer, "config": _plain(self.config),
             "inputs": [vars(i) for i in self.inputs], "mask": self.mask_lengths,
             "training": self.training},
            sort_keys=True, default=list,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ModelCase:
    """A tiny Sequential model trained for a few steps against the oracle's trajectory."""

    id: str
    layers: tuple[tuple[str, Mapping[str, Any]], ...]
    input_shape: tuple[int, ...]  # full shape of x (batch first)
    target: str  # 'regression' | 'binary' | 'categorical' | 'sparse'
    units_out: int
    loss: str
    optimizer: str
    optimizer_config: Mapping[str, Any] = field(default_factory=dict)
    loss_config: Mapping[str, Any] = field(default_factory=dict)
    steps: int = 3
    batch_size: int | None = None
    checks: tuple[str, ...] = ("training",)

    @property
    def layer(self) -> str:
        return "Sequential"


def freeze(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of a config so catalogue entries cannot be mutated by a check."""
    return MappingProxyType(dict(config))


def _plain(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (_plain(v) if isinstance(v, Mapping) else v) for k, v in config.items()}


def plain_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A mutable deep copy of a case config (what constructors receive)."""
    return json.loads(json.dumps(_plain(config), default=list))


def config_in_dtype(case: Case, dtype: str) -> dict[str, Any]:
    """The case's layer config (a mutable copy) computing in ``dtype``; a wrapper's wrapped
    layer computes in ``dtype`` too."""
    config = plain_config(case.config)
    config["dtype"] = dtype
    inner = config.get("layer")
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
        inner["config"]["dtype"] = dtype
    return config


def catalogue() -> list[Case | ModelCase]:
    """Every case, layers first, then model training cases."""
    from harness.conformance.cases.layers import LAYER_CASES
    from harness.conformance.cases.models import MODEL_CASES

    return [*LAYER_CASES, *MODEL_CASES]


def get(case_id: str) -> Case | ModelCase:
    """The case called ``case_id`` (KeyError when absent)."""
    for case in catalogue():
        if case.id == case_id:
            return case
    raise KeyError(case_id)
