"""Radon metrics of one module: cyclomatic complexity per function, MI, raw counts, Halstead.

The module is parsed once by the caller; radon's visitors run on that tree, and MI is
computed from the same parts ``radon mi`` uses (Halstead volume, total complexity, LLOC and
comment percentage, multi-line strings counted as comments), so the figures equal radon's.
"""

from __future__ import annotations

import ast

from radon.metrics import h_visit_ast, mi_compute
from radon.raw import analyze
from radon.visitors import Class, ComplexityVisitor, Function

VERSION = "1"


def function_rows(visitor: ComplexityVisitor) -> list[dict]:
    """``[{"qualname", "lineno", "endline", "cc"}]`` for every function, method and closure.

    Qualnames are dotted: ``Class.method``, ``outer.inner``, ``Outer.Inner.method``.
    """
    rows: list[dict] = []

    def add_function(func: Function, prefix: str) -> None:
        qualname = f"{prefix}{func.name}"
        rows.append({"qualname": qualname, "lineno": func.lineno, "endline": func.endline,
                     "cc": func.complexity})
        for closure in func.closures:
            add_function(closure, f"{qualname}.")

    def add_class(cls: Class, prefix: str) -> None:
        qualname = f"{prefix}{cls.name}"
        for method in cls.methods:
            add_function(method, f"{qualname}.")
        for inner in cls.inner_classes:
            add_class(inner, f"{qualname}.")

    for func in visitor.functions:
        add_function(func, "")
    for cls in visitor.classes:
        add_class(cls, "")
    rows.sort(key=lambda row: (row["lineno"], row["qualname"]))
    return rows


def module_metrics(source: str, tree: ast.Module) -> dict:
    """Radon figures of one module.

    Returns ``{"functions": function_rows, "mi", "raw": {loc, lloc, sloc, comments, multi,
    blank, single_comments}, "halstead": {h1, h2, N1, N2, vocabulary, length, volume,
    difficulty, effort, bugs}, "total_cc"}``. Raises whatever radon raises on input it rejects.
    """
    visitor = ComplexityVisitor.from_ast(tree)
    raw = analyze(source)
    halstead = h_visit_ast(tree).total
    comment_lines = raw.comments + raw.multi
    comments_pct = comment_lines / float(raw.sloc) * 100 if raw.sloc else 0
    mi = mi_compute(halstead.volume, visitor.total_complexity, raw.lloc, comments_pct)
    return {
        "functions": function_rows(visitor),
        "mi": float(mi),
        "total_cc": visitor.total_complexity,
        "raw": raw._asdict(),
        "halstead": {key: float(value) for key, value in halstead._asdict().items()},
    }
