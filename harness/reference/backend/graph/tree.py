"""Nested arguments and results of ``compile``: flatten to leaves, key by signature, rebuild.

A tree is a leaf or a list, tuple (named tuples included) or dict of trees. ``flatten``
returns the leaves in order and a hashable ``treedef`` from which ``unflatten`` rebuilds the
same structure around new leaves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LEAF = "*"


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], Any]:
    """``(leaves, treedef)`` of ``tree``; ``is_leaf`` stops the descent early where true."""
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves, is_leaf)


def _flatten(tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> Any:
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return LEAF
    if isinstance(tree, dict):
        keys = tuple(tree)
        return ("dict", keys, tuple(_flatten(tree[k], leaves, is_leaf) for k in keys))
    if isinstance(tree, (list, tuple)):
        kind = type(tree)
        return (kind, None, tuple(_flatten(item, leaves, is_leaf) for item in tree))
    leaves.append(tree)
    return LEAF


def unflatten(treedef: Any, leaves: list[Any]) -> Any:
    """The tree of shape ``treedef`` (from ``flatten``) holding ``leaves`` in order."""
    it = iter(leaves)
    return _unflatten(treedef, it)


def _unflatten(treedef: Any, it: Any) -> Any:
    if treedef == LEAF:
        return next(it)
    kind, keys, children = treedef
    items = [_unflatten(child, it) for child in children]
    if kind == "dict":
        return dict(zip(keys, items, strict=True))
    if kind is tuple or kind is list:
        return kind(items)
    if hasattr(kind, "_fields"):  # a named tuple takes its fields positionally
        return kind(*items)
    return kind(items)
