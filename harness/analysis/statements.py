"""Statement-level walks over a module's AST, shared by the AST analysers.

Classes, functions, imports, ``if`` and ``match`` are statements, so the analysers that look
for them walk statement blocks only (about a tenth of the nodes of a full ``ast.walk``), and
iteratively, so that deeply nested code cannot exhaust the interpreter stack.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

# Block fields in source order: try's handlers come before its else and finally.
_BLOCKS = ("body", "handlers", "cases", "orelse", "finalbody")
SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def child_statements(node: ast.AST) -> list[ast.stmt]:
    """Return the statements directly inside a module or statement, in source order
    (the bodies of ``except`` handlers and ``match`` cases included)."""
    found: list[ast.stmt] = []
    for field in _BLOCKS:
        block = getattr(node, field, None)
        if not isinstance(block, list):
            continue  # an expression's body/orelse (IfExp, Lambda) holds no statements
        for item in block:
            if isinstance(item, ast.stmt):
                found.append(item)
            elif isinstance(item, (ast.ExceptHandler, ast.match_case)):
                found.extend(item.body)
    return found


def walk_statements(node: ast.AST, scope: str = "") -> Iterator[tuple[str, ast.stmt]]:
    """Yield ``(scope, statement)`` for every statement under ``node``, pre-order in source
    order; ``scope`` is the dotted name of the enclosing functions and classes ("" at the top).
    """
    stack = [(scope, stmt) for stmt in reversed(child_statements(node))]
    while stack:
        where, stmt = stack.pop()
        yield where, stmt
        inner = f"{where}.{stmt.name}".lstrip(".") if isinstance(stmt, SCOPES) else where
        stack.extend((inner, child) for child in reversed(child_statements(stmt)))


def own_statements(node: ast.AST) -> Iterator[ast.stmt]:
    """Yield the statements of a function or class body without entering nested functions
    or classes (their contents belong to them)."""
    stack = list(reversed(child_statements(node)))
    while stack:
        stmt = stack.pop()
        yield stmt
        if not isinstance(stmt, SCOPES):
            stack.extend(reversed(child_statements(stmt)))
