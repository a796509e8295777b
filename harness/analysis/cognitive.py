"""Cognitive Complexity of Python functions (G. Ann Campbell, SonarSource, 2017/2023).

Rules as applied to Python's ``ast``:

- structural increment, +1 plus the current nesting level, and the construct's body is nested
  one level deeper: ``if``, conditional expression (``a if c else b``), ``for``/``async for``,
  ``while``, each ``except`` clause, ``match``;
- hybrid increment, +1 without nesting penalty, body nested one level deeper: ``elif`` and every
  ``else`` clause (of ``if``, loops and ``try``, as SonarSource's Python analyser counts them);
- fundamental increment, +1: every sequence of like boolean operators in a flattened
  ``and``/``or`` expression (``a and b and c`` = 1, ``a and b or c`` = 2), and every direct
  recursive call (``f(...)`` inside ``f``, ``self.m(...)``/``cls.m(...)`` inside method ``m``);
- nesting only: nested functions and lambdas raise the nesting level of their bodies, and
  their increments count towards the enclosing function too (each nested function also gets
  its own row, scored from nesting 0); following the specification's Python exception, a
  decorator body (only the inner ``def`` plus ``return name``) does not raise the nesting;
- free: ``try``/``finally``, ``with``, ``return``, ``break``/``continue`` (Python has no labels),
  ``class`` bodies, comprehensions (declarative; conditions inside them still count).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

from harness.analysis.nodes import child_fields
from harness.analysis.statements import child_statements

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)
_TRY = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)


def cognitive_complexity(tree: ast.Module) -> list[dict]:
    """Score every function, method and nested function of a module.

    Returns ``[{"qualname", "lineno", "cognitive"}]`` in source order, with dotted qualnames
    (``Class.method``, ``outer.inner``, ``Outer.Inner.method``).
    """
    rows: list[dict] = []
    for qualname, node, is_method in _functions(tree, "", in_class=False):
        rows.append(
            {
                "qualname": qualname,
                "lineno": node.lineno,
                "cognitive": function_score(node, is_method),
            }
        )
    rows.sort(key=lambda row: row["lineno"])
    return rows


def function_score(node: ast.FunctionDef | ast.AsyncFunctionDef, is_method: bool = False) -> int:
    """Return the cognitive complexity of one function definition (nesting starts at 0)."""
    scorer = _Scorer()
    scorer.frames.append((node.name, is_method))
    scorer.parents.append(node)
    for stmt in node.body:
        scorer.visit(stmt, 0)
    return scorer.score


def _functions(
    node: ast.AST, prefix: str, in_class: bool
) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, bool]]:
    """Yield (qualname, node, is_method) for every function under ``node`` (iteratively)."""
    stack = [(child, prefix, in_class) for child in reversed(child_statements(node))]
    while stack:
        child, scope, method = stack.pop()
        if isinstance(child, _FUNCTIONS):
            yield scope + child.name, child, method
            scope, method = scope + child.name + ".", False
        elif isinstance(child, ast.ClassDef):
            scope, method = scope + child.name + ".", True
        stack.extend((grand, scope, method) for grand in reversed(child_statements(child)))


def _is_elif(parent: ast.If) -> bool:
    """True when the parent's else branch is an ``elif`` (same column), not ``else: if``."""
    orelse = parent.orelse
    return (
        len(orelse) == 1
        and isinstance(orelse[0], ast.If)
        and orelse[0].col_offset == parent.col_offset
    )


def _bool_sequences(node: ast.BoolOp) -> int:
    """Count runs of like operators in the in-order operator sequence of a boolean expression."""
    ops: list[type] = []

    def flatten(expr: ast.expr) -> None:
        if not isinstance(expr, ast.BoolOp):
            return
        for index, value in enumerate(expr.values):
            if index:
                ops.append(type(expr.op))
            flatten(value)

    flatten(node)
    return 1 + sum(1 for before, after in pairwise(ops) if before is not after)


def _bool_leaves(node: ast.expr) -> Iterator[ast.expr]:
    """Yield the operands of a boolean expression that are not themselves and/or nodes."""
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            yield from _bool_leaves(value)
    else:
        yield node


def _is_decorator_body(outer: ast.AST | None, inner: ast.AST) -> bool:
    """True when ``outer`` only defines ``inner`` and returns names (the decorator exception)."""
    if not isinstance(outer, _FUNCTIONS):
        return False
    body = list(outer.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # docstring
    return all(
        stmt is inner or (isinstance(stmt, ast.Return) and isinstance(stmt.value, ast.Name))
        for stmt in body
    )


class _Scorer:
    """Walks one function body, carrying the nesting level explicitly."""

    def __init__(self) -> None:
        self.score = 0
        # (name, is_method) of the innermost function, for recursion.
        self.frames: list[tuple[str, bool]] = []
        self.parents: list[ast.AST] = []

    def visit(self, node: ast.AST, nesting: int) -> None:
        kind = type(node)
        try:
            handler = _HANDLERS[kind]
        except KeyError:  # first node of this type: look its handler up once
            handler = _HANDLERS[kind] = _handler_for(kind)
        if handler is not None:
            handler(self, node, nesting)
        else:
            self.visit_children(node, nesting)

    def visit_children(self, node: ast.AST, nesting: int) -> None:
        self.parents.append(node)
        for field in child_fields(type(node)):
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item, nesting)
            elif isinstance(value, ast.AST):
                self.visit(value, nesting)
        self.parents.pop()

    def visit_all(self, nodes: list, nesting: int) -> None:
        for node in nodes:
            self.visit(node, nesting)

    def _visit_If(self, node: ast.If, nesting: int) -> None:
        self.score += 1 + nesting
        while True:  # a loop, not recursion, so that long elif chains cannot overflow
            self.visit(node.test, nesting)
            self.visit_all(node.body, nesting + 1)
            following = node.orelse[0] if node.orelse else None
            if _is_elif(node) and isinstance(following, ast.If):
                self.score += 1
                node = following
                continue
            if node.orelse:
                self.score += 1
                self.visit_all(node.orelse, nesting + 1)
            return

    def _visit_loop(self, node: ast.For | ast.AsyncFor | ast.While, nesting: int) -> None:
        self.score += 1 + nesting
        head = [node.test] if isinstance(node, ast.While) else [node.target, node.iter]
        self.visit_all(head, nesting)
        self.visit_all(node.body, nesting + 1)
        if node.orelse:
            self.score += 1
            self.visit_all(node.orelse, nesting + 1)

    _visit_For = _visit_AsyncFor = _visit_While = _visit_loop

    def _visit_Try(self, node: ast.Try, nesting: int) -> None:
        self.visit_all(node.body, nesting)
        for handler in node.handlers:
            self.score += 1 + nesting
            if handler.type is not None:
                self.visit(handler.type, nesting)
            self.visit_all(handler.body, nesting + 1)
        if node.orelse:
            self.score += 1
            self.visit_all(node.orelse, nesting + 1)
        self.visit_all(node.finalbody, nesting)

    def _visit_Match(self, node: ast.AST, nesting: int) -> None:
        self.score += 1 + nesting
        self.visit(node.subject, nesting)  # type: ignore[attr-defined]
        for case in node.cases:  # type: ignore[attr-defined]
            if case.guard is not None:
                self.visit(case.guard, nesting + 1)
            self.visit_all(case.body, nesting + 1)

    def _visit_IfExp(self, node: ast.IfExp, nesting: int) -> None:
        self.score += 1 + nesting
        self.visit_all([node.test, node.body, node.orelse], nesting + 1)

    def _visit_BoolOp(self, node: ast.BoolOp, nesting: int) -> None:
        self.score += _bool_sequences(node)
        self.visit_all(list(_bool_leaves(node)), nesting)

    def _visit_Lambda(self, node: ast.Lambda, nesting: int) -> None:
        self.visit(node.args, nesting)
        self.visit(node.body, nesting + 1)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, nesting: int) -> None:
        self.visit_all(node.decorator_list, nesting)
        self.visit(node.args, nesting)
        enclosing = self.parents[-1] if self.parents else None
        inner = nesting if _is_decorator_body(enclosing, node) else nesting + 1
        in_class = isinstance(enclosing, ast.ClassDef)
        self.frames.append((node.name, in_class))
        self.parents.append(node)
        self.visit_all(node.body, inner)
        self.parents.pop()
        self.frames.pop()

    _visit_FunctionDef = _visit_AsyncFunctionDef = _visit_function

    def _visit_Call(self, node: ast.Call, nesting: int) -> None:
        if self.frames and self._is_recursive(node.func):
            self.score += 1
        self.visit_children(node, nesting)

    def _is_recursive(self, func: ast.expr) -> bool:
        name, is_method = self.frames[-1]
        if is_method:
            return (
                isinstance(func, ast.Attribute)
                and func.attr == name
                and isinstance(func.value, ast.Name)
                and func.value.id in ("self", "cls")
            )
        return isinstance(func, ast.Name) and func.id == name


_HANDLERS: dict[type, Callable[[_Scorer, Any, int], None] | None] = {}


def _handler_for(kind: type) -> Callable[[_Scorer, Any, int], None] | None:
    """The ``_Scorer`` method that scores nodes of type ``kind``, None for plain descent."""
    handler = getattr(_Scorer, "_visit_" + kind.__name__, None)
    if handler is None and issubclass(kind, _TRY):
        handler = _Scorer._visit_Try
    return handler
