"""Graph backends: every op of the interface on one framework, and the binding of its modules.

``GraphOps(framework)`` gathers the op groups (``core`` ... ``rnn``); a backend
package creates one instance in its ``framework`` module and its ``core``, ``math``, ``nn``
and ``rnn`` modules ``bind`` that instance's ops as module functions, in the Keras layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.reference.backend.graph.rnn import RNNOps

#: ops are functions of a compiled graph (see ops.py)
EXECUTION = "graph"


class GraphOps(RNNOps):
    """All ops of the interface, bound to one framework adapter."""


def bind(ops: GraphOps, namespace: dict[str, Any], names: Sequence[str]) -> list[str]:
    """Put ``ops``' methods ``names`` into a module's ``namespace``; returns ``names``
    as a list (the module's ``__all__``)."""
    for name in names:
        namespace[name] = getattr(ops, name)
    return list(names)
