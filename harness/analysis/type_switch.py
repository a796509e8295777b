"""Type switches (the OCP rule of :mod:`harness.analysis.solid`).

An ``if``/``elif`` chain is a type switch when its branches test one subject's type --
``isinstance(x, T)``, ``type(x) is T``, ``type(x) == T``, ``x.__class__ is T``,
``type(x).__name__ == "T"``, ``x.__class__.__name__ == "T"`` -- in at least 4 branches, or
compare one variable whose name suggests a kind (its last identifier is or ends in ``_``
+ ``kind``, ``type``, ``backend``, ``cls``, ``class``, ``dtype``, ``format``) with at least 4
distinct string constants over at least 2 branches (``==`` or ``in (...)``). A ``match`` with
at least 4 class patterns, or 4 string cases on such a variable, counts the same. Dispatch
dictionaries are not flagged. The score is the number of branches testing the subject.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict

from harness.analysis.statements import walk_statements

_KIND_NAME = re.compile(r"(^|_)(kind|type|typ|backend|cls|class|klass|dtype|format)$")
_SWITCH_MIN = 4


def type_switches(tree: ast.Module) -> list[dict]:
    """Find type switches in a module.

    Returns ``[{"symbol": enclosing function/class qualname or "<module>", "line",
    "score": branches, "evidence": {"subject", "types", "branches"}}]`` in source order.
    """
    rows: list[dict] = []
    chained: set[int] = set()
    for scope, node in walk_statements(tree):
        if isinstance(node, ast.If) and id(node) not in chained:
            branches: list[list[tuple[str, str, str]]] = []
            current = node
            while True:
                branches.append(_type_tests(current.test))
                if len(current.orelse) != 1 or not isinstance(current.orelse[0], ast.If):
                    break
                current = current.orelse[0]
                chained.add(id(current))
        elif isinstance(node, ast.Match):
            branches = [_case_tests(node.subject, case.pattern) for case in node.cases]
        else:
            continue
        found = _switch(branches)
        if found is not None:
            subject, labels, count = found
            evidence = {"subject": subject, "types": labels, "branches": count}
            rows.append(
                {
                    "symbol": scope or "<module>",
                    "line": node.lineno,
                    "score": float(count),
                    "evidence": evidence,
                }
            )
    rows.sort(key=lambda row: row["line"])
    return rows


def _type_tests(test: ast.expr) -> list[tuple[str, str, str]]:
    """(family, subject, label) facts of one branch condition; family is type or kind."""
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or) else [test]
    facts = []
    for part in parts:
        if isinstance(part, ast.Call) and dotted(part.func) == "isinstance" and len(part.args) == 2:
            subject, types = part.args
            elts = types.elts if isinstance(types, ast.Tuple) else [types]
            facts += [("type", ast.unparse(subject), ast.unparse(t)) for t in elts]
        elif isinstance(part, ast.Compare) and len(part.ops) == 1:
            facts += _compare_tests(part.left, part.ops[0], part.comparators[0])
    return facts


def _type_of(expr: ast.expr) -> str | None:
    """``x`` for ``type(x)`` or ``x.__class__``."""
    if isinstance(expr, ast.Call) and dotted(expr.func) == "type" and len(expr.args) == 1:
        return ast.unparse(expr.args[0])
    if isinstance(expr, ast.Attribute) and expr.attr == "__class__":
        return ast.unparse(expr.value)
    return None


def _strings(expr: ast.expr) -> list[str]:
    elts = expr.elts if isinstance(expr, (ast.Tuple, ast.List, ast.Set)) else [expr]
    return [e.value for e in elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]


def _kind_named(expr: ast.expr) -> bool:
    name = dotted(expr).rpartition(".")[2]
    return bool(name) and _KIND_NAME.search(name.lower()) is not None


def _compare_tests(left: ast.expr, op: ast.cmpop, right: ast.expr) -> list:
    subject = _type_of(left)
    if subject is not None and isinstance(op, (ast.Is, ast.Eq)):
        return [("type", subject, ast.unparse(right))]
    if isinstance(left, ast.Attribute) and left.attr == "__name__" and isinstance(op, ast.Eq):
        subject = _type_of(left.value)
        if subject is not None:
            return [("type", subject, label) for label in _strings(right)]
    if _kind_named(left) and (
        (isinstance(op, ast.Eq) and isinstance(right, ast.Constant)) or isinstance(op, ast.In)
    ):
        return [("kind", ast.unparse(left), label) for label in _strings(right)]
    return []


def _case_tests(subject: ast.expr, pattern: ast.AST) -> list[tuple[str, str, str]]:
    patterns = pattern.patterns if isinstance(pattern, ast.MatchOr) else [pattern]
    facts = []
    for item in patterns:
        while isinstance(item, ast.MatchAs) and item.pattern is not None:
            item = item.pattern
        if isinstance(item, ast.MatchClass):
            facts.append(("type", ast.unparse(subject), ast.unparse(item.cls)))
        elif isinstance(item, ast.MatchValue) and _kind_named(subject):
            facts += [("kind", ast.unparse(subject), label) for label in _strings(item.value)]
    return facts


def _switch(branches: list[list[tuple[str, str, str]]]) -> tuple[str, list[str], int] | None:
    """The subject tested most often, when it makes a type switch: (subject, labels, branches)."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    labels: dict[tuple[str, str], list[str]] = defaultdict(list)
    for facts in branches:
        for key in {(family, subject) for family, subject, _ in facts}:
            counts[key] += 1
        for family, subject, label in facts:
            if label not in labels[(family, subject)]:
                labels[(family, subject)].append(label)
    best = None
    for key, count in counts.items():
        enough = (
            count >= _SWITCH_MIN
            if key[0] == "type"
            else len(labels[key]) >= _SWITCH_MIN and count >= 2
        )
        if enough and (best is None or count > best[2]):
            best = (key[1], labels[key], count)
    return best


def dotted(expr: ast.expr) -> str:
    """Return ``a.b.c`` for a chain of names and attributes, "" for anything else."""
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return ""
    parts.append(expr.id)
    return ".".join(reversed(parts))
