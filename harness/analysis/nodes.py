"""Child fields of AST node types, for the analysers' hand-written tree walks.

``ast.iter_child_nodes`` goes through ``iter_fields`` and a generator for every node, which
costs more than the metrics the walks compute. A walk that loops over ``child_fields(type)``
itself gets the same children in the same order, less the ``ctx``/``op``/``ops`` fields:
their nodes (``Load``, ``Add``, ``Eq``...) carry no line, no children and nothing any walk
counts. Fields that hold only names, strings or numbers in Python's grammar (``Name.id``,
``Attribute.attr``, ``Constant.value``...) are left out too, so that a walk does not read
them on every node (a ``Name`` or ``Constant`` then has no child field at all).
"""

from __future__ import annotations

import ast

_SKIPPED = frozenset(("ctx", "op", "ops"))
# Fields that never hold a node: identifiers, strings, numbers (3.11-3.13 grammars).
_SCALARS = frozenset(("name", "id", "attr", "arg", "asname", "module", "level", "type_comment",
                      "simple", "conversion", "is_async", "kind", "tag", "lineno", "rest",
                      "kwd_attrs"))
_SCALARS_OF: dict[type, frozenset[str]] = {
    ast.Constant: frozenset(("value",)), ast.MatchSingleton: frozenset(("value",)),
    ast.Global: frozenset(("names",)), ast.Nonlocal: frozenset(("names",)),
}
_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(kind: type) -> tuple[str, ...]:
    """The fields of AST node type ``kind`` that may hold child nodes, in ``_fields`` order."""
    fields = _FIELDS.get(kind)
    if fields is None:
        names: tuple[str, ...] = getattr(kind, "_fields", ())
        scalars = _SCALARS_OF.get(kind, frozenset())
        fields = _FIELDS[kind] = tuple(name for name in names if name not in _SKIPPED
                                       and name not in _SCALARS and name not in scalars)
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
