"""Child fields of AST node types, for the analysers' hand-written tree walks.

``ast.iter_child_nodes`` goes through ``iter_fields`` and a generator for every node, which
costs more than the metrics the walks compute. A walk that loops over ``child_fields(type)``
itself gets the same children in the same order, less the ``ctx``/``op``/``ops`` fields:
their nodes (``Load``, ``Add``, ``Eq``...) carry no line, no children and nothing any walk
counts.
"""

from __future__ import annotations

import ast

_SKIPPED = frozenset(("ctx", "op", "ops"))
_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(kind: type) -> tuple[str, ...]:
    """The fields of AST node type ``kind`` that may hold child nodes, in ``_fields`` order."""
    fields = _FIELDS.get(kind)
    if fields is None:
        names: tuple[str, ...] = getattr(kind, "_fields", ())
        fields = _FIELDS[kind] = tuple(name for name in names if name not in _SKIPPED)
    return fields


def children(node: ast.AST) -> list[ast.AST]:
    """The child nodes of ``node`` in ``ast.iter_child_nodes`` order (less operator and
    context nodes), as a list."""
    found: list[ast.AST] = []
    for name in child_fields(type(node)):
        value = getattr(node, name, None)
        if type(value) is list:
            found.extend(item for item in value if isinstance(item, ast.AST))
        elif isinstance(value, ast.AST):
            found.append(value)
    return found
