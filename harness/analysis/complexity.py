"""Radon metrics of one module: cyclomatic complexity per function, MI, raw counts, Halstead.

The module is parsed once by the caller. radon's ``ComplexityVisitor`` and ``HalsteadVisitor``
results come from one walk of that tree that applies their rules (``_Walk``: about three
times cheaper than running both visitors, whose per-node dispatch dominates) and are handed
back as radon's own objects; a tree deeper than ``_MAX_DEPTH`` goes to radon's visitors, so
that radon's recursion limit fails the same way. The raw counts come from the shared token
scan (``raw_metrics``, equal to ``radon.raw.analyze``), and MI is computed from the same parts
``radon mi`` uses (Halstead volume, total complexity, LLOC and comment percentage, multi-line
strings counted as comments), so the figures equal radon's.

The same walk also gathers, for the class metrics, the attribute nodes under each method (a
function directly in a class body; nested functions count, nested classes do not) and which
attributes are called (``method_attributes``), so that ``classes`` walks no tree of its own.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any, NamedTuple

from radon.metrics import halstead_visitor_report, mi_compute
from radon.visitors import Class, ComplexityVisitor, Function, HalsteadVisitor

from harness.analysis.nodes import child_fields
from harness.analysis.raw_metrics import raw_metrics

VERSION = "1"
_MAX_DEPTH = 100  # radon's visitors take 2-3 frames per level: deeper trees go to radon


class MethodAttributes(NamedTuple):
    """What the class metrics read under each method: ``attributes`` {id of the method's
    node: its ``ast.Attribute`` nodes, those of nested functions included, of nested classes
    not}, and ``called``: ids of the attribute nodes that are the function of a call."""

    attributes: dict[int, list[ast.Attribute]]
    called: set[int]


_Walked = tuple[ComplexityVisitor, HalsteadVisitor, MethodAttributes | None]
_VISITED: list[tuple[ast.Module, _Walked]] = []


def _walked(tree: ast.Module) -> _Walked:
    """The radon visitors and method attributes of ``tree``, one walk per tree object (the
    complexity and class analysers share one tree); attributes None past ``_MAX_DEPTH``."""
    for seen, found in _VISITED:
        if seen is tree:
            return found
    walk = _Walk()
    try:
        found = (*walk.module(tree), MethodAttributes(walk.attributes, walk.called))
    except _TooDeep:
        found = ComplexityVisitor.from_ast(tree), HalsteadVisitor.from_ast(tree), None
    _VISITED.append((tree, found))
    if len(_VISITED) > 2:
        del _VISITED[0]
    return found


def radon_visitors(tree: ast.Module) -> tuple[ComplexityVisitor, HalsteadVisitor]:
    """radon's ``ComplexityVisitor`` and ``HalsteadVisitor`` as they stand after visiting
    ``tree`` (functions, classes, complexity; operator and operand counts and sets). The same
    tree object gets the same pair: the complexity and class analysers share one tree."""
    complexity, halstead, _ = _walked(tree)
    return complexity, halstead


def method_attributes(tree: ast.Module) -> MethodAttributes | None:
    """The attribute nodes under every method of ``tree`` and the called ones, gathered by
    the complexity walk (see ``MethodAttributes``); None for a tree deeper than that walk
    goes (the caller then walks the methods itself)."""
    return _walked(tree)[2]


def complexity_visitor(tree: ast.Module) -> ComplexityVisitor:
    """radon's ``ComplexityVisitor`` after visiting ``tree`` (see ``radon_visitors``)."""
    return radon_visitors(tree)[0]


class _TooDeep(Exception):
    """The tree is deeper than ``_MAX_DEPTH``."""


class _Block:
    """What one radon ``ComplexityVisitor`` accumulates (radon starts one per function or
    class body statement)."""

    __slots__ = ("complexity", "functions", "classes", "max_line", "to_method", "classname")

    def __init__(self, complexity: int, to_method: bool = False,
                 classname: str | None = None) -> None:
        self.complexity = complexity
        self.functions: list[Function] = []
        self.classes: list[Class] = []
        self.max_line: float = float("-inf")
        self.to_method, self.classname = to_method, classname


_FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
_OPERAND_FIELD = {"Num": "n", "Name": "id", "Attribute": "attr", "Constant": "value"}
# What the walk does with a node type, looked up once per node: a role (statements handled
# apart), whether it has a line, flags of the rules that apply, and its child fields.
_OTHER, _FUNCTION, _CLASS, _ASSERT = range(4)
_DECISION, _HALSTEAD_NODE, _ATTRIBUTE, _CALL = 1, 2, 4, 8
_KIND_INFO: dict[type, tuple[int, bool, int, tuple[str, ...]]] = {}


def _kind_info(kind: type) -> tuple[int, bool, int, tuple[str, ...]]:
    role = (_FUNCTION if kind in _FUNCTION_TYPES else _CLASS if kind is ast.ClassDef
            else _ASSERT if kind is ast.Assert else _OTHER)
    flags = ((kind in _DECISION_TYPES) * _DECISION | (kind in _HALSTEAD) * _HALSTEAD_NODE
             | (kind is ast.Attribute) * _ATTRIBUTE | (kind is ast.Call) * _CALL)
    found = _KIND_INFO[kind] = (role, "lineno" in getattr(kind, "_attributes", ()), flags,
                                child_fields(kind))
    return found


class _Walk:
    """radon's cyclomatic complexity and Halstead rules in one pass over a tree.

    ComplexityVisitor: a function or class body statement gets a fresh block; ``assert``
    counts 1 and is not entered; a function's end line is the last line its last body
    statement's block saw. HalsteadVisitor: operators and operands of BinOp, UnaryOp, BoolOp,
    AugAssign and Compare; operands keyed by (innermost function name, name/attribute/constant
    value or the node itself); function decorators, arguments and annotations not visited.
    Class metrics: attribute nodes go to the current method's list (``bucket``), called
    attributes to ``called``; a function's decorators, arguments and annotations, which the
    metrics above skip, are gathered apart (``_gather``).
    """

    def __init__(self) -> None:
        self.operators = self.operands = 0
        self.operators_seen: set[str] = set()
        self.operands_seen: set[tuple[str | None, object]] = set()
        self.attributes: dict[int, list[ast.Attribute]] = {}
        self.called: set[int] = set()
        self.bucket: list[ast.Attribute] | None = None  # the current method's attributes

    def module(self, tree: ast.Module) -> tuple[ComplexityVisitor, HalsteadVisitor]:
        block = _Block(1)
        self.visit(tree, block, None, 0)
        complexity = ComplexityVisitor()
        complexity.complexity, complexity.functions = block.complexity, block.functions
        complexity.classes, complexity.max_line = block.classes, block.max_line
        halstead = HalsteadVisitor()
        halstead.operators, halstead.operands = self.operators, self.operands
        halstead.operators_seen, halstead.operands_seen = self.operators_seen, self.operands_seen
        return complexity, halstead

    def visit(self, node: ast.AST, block: _Block | None, context: str | None,
              depth: int) -> None:
        """Visit ``node`` for both metrics (``block`` None: Halstead only)."""
        if depth > _MAX_DEPTH:
            raise _TooDeep
        kind = type(node)
        info = _KIND_INFO.get(kind)
        if info is None:
            info = _kind_info(kind)
        role, has_line, flags, fields = info
        if role == _FUNCTION:
            self.function(node, block, depth)  # type: ignore[arg-type]
            return
        if role == _CLASS:
            self.klass(node, block, context, depth)  # type: ignore[arg-type]
            return
        if block is not None:
            if role == _ASSERT:
                block.complexity += 1
                block = None  # radon's complexity visitor does not enter an assert
            else:
                if has_line and node.lineno > block.max_line:  # type: ignore[attr-defined]
                    block.max_line = node.lineno  # type: ignore[attr-defined]
                if flags & _DECISION:
                    block.complexity += _decisions(node, kind)
        if flags:
            if flags & _HALSTEAD_NODE:
                self.halstead(node, kind, context)
            if self.bucket is not None:
                if flags & _ATTRIBUTE:
                    self.bucket.append(node)  # type: ignore[arg-type]
                elif flags & _CALL and type(node.func) is ast.Attribute:  # type: ignore[attr-defined]
                    self.called.add(id(node.func))  # type: ignore[attr-defined]
        for field in fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item, block, context, depth + 1)
            elif isinstance(value, ast.AST):
                self.visit(value, block, context, depth + 1)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, block: _Block | None,
                 depth: int) -> None:
        if self.bucket is not None:
            self._gather(node)
        closures: list[Function] = []
        body_complexity = 1
        inner = _Block(0)
        for child in node.body:
            inner = _Block(0)
            self.visit(child, inner, node.name, depth + 1)
            closures.extend(inner.functions)
            body_complexity += inner.complexity
        if block is not None:
            block.functions.append(Function(
                node.name, node.lineno, node.col_offset, max(node.lineno, inner.max_line),
                block.to_method, block.classname, closures, body_complexity))

    def _gather(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Attributes in a function's decorators, arguments and annotations (no statements,
        so no class, can be there)."""
        pending: list[Any] = [*node.decorator_list, node.args, node.returns]
        while pending:
            item = pending.pop()
            if item is None:
                continue  # no annotation, a keyword-only argument without default...
            kind = type(item)
            info = _KIND_INFO.get(kind)
            if info is None:
                info = _kind_info(kind)
            if info[2] & _ATTRIBUTE:
                self.bucket.append(item)  # type: ignore[union-attr]
            elif info[2] & _CALL and type(item.func) is ast.Attribute:
                self.called.add(id(item.func))
            for field in info[3]:
                value = getattr(item, field, None)
                if type(value) is list:
                    pending.extend(value)
                else:
                    pending.append(value)

    def klass(self, node: ast.ClassDef, block: _Block | None, context: str | None,
              depth: int) -> None:
        outer = self.bucket
        self.bucket = None  # a class's own nodes belong to none of the outer's methods
        for expr in (*node.bases, *node.keywords, *node.decorator_list):
            self.visit(expr, None, context, depth + 1)  # Halstead visits them, CC does not
        methods: list[Function] = []
        inner_classes: list[Class] = []
        body_complexity = 1
        max_lines: list[float] = [node.lineno]
        for child in node.body:
            inner = _Block(0, True, node.name)
            is_method = type(child) in _FUNCTION_TYPES
            self.bucket = self.attributes.setdefault(id(child), []) if is_method else None
            self.visit(child, inner, context, depth + 1)
            methods.extend(inner.functions)
            body_complexity += inner.complexity + sum(f.complexity for f in inner.functions)
            max_lines.append(inner.max_line)
            inner_classes.extend(inner.classes)
        self.bucket = outer
        if block is not None:
            block.classes.append(Class(
                node.name, node.lineno, node.col_offset,
                max(max_lines + [method.endline for method in methods]), methods,
                inner_classes, body_complexity))

    def halstead(self, node: ast.AST, kind: type, context: str | None) -> None:
        if kind is ast.Compare:
            ops: list[ast.AST] = node.ops  # type: ignore[attr-defined]
            operands = [*node.comparators, node.left]  # type: ignore[attr-defined]
        else:
            ops = [node.op]  # type: ignore[attr-defined]
            operands = _HALSTEAD[kind](node)
        self.operators += len(ops)
        self.operands += len(operands)
        self.operators_seen.update(type(op).__name__ for op in ops)
        for operand in operands:
            field = _OPERAND_FIELD.get(type(operand).__name__)
            key = getattr(operand, field, operand) if field else operand
            self.operands_seen.add((context, key))


_HALSTEAD: dict[type, Callable[[Any], list]] = {
    ast.BinOp: lambda node: [node.left, node.right],
    ast.UnaryOp: lambda node: [node.operand],
    ast.BoolOp: lambda node: node.values,
    ast.AugAssign: lambda node: [node.target, node.value],
    ast.Compare: lambda node: [],  # handled apart: several operators
}


_DECISION_TYPES = {ast.If, ast.IfExp, ast.BoolOp, ast.For, ast.While, ast.AsyncFor,
                   ast.comprehension, ast.Try, ast.Match}


def _decisions(node: ast.AST, kind: type) -> int:
    """Decision points radon's ComplexityVisitor adds for one node (0 for most)."""
    if kind is ast.If or kind is ast.IfExp:
        return 1
    if kind is ast.BoolOp:
        return len(node.values) - 1  # type: ignore[attr-defined]
    if kind is ast.For or kind is ast.While or kind is ast.AsyncFor:
        return bool(node.orelse) + 1  # type: ignore[attr-defined]
    if kind is ast.comprehension:
        return len(node.ifs) + 1  # type: ignore[attr-defined]
    if kind is ast.Try:
        return len(node.handlers) + bool(node.orelse)  # type: ignore[attr-defined]
    if kind is ast.Match:
        cases = node.cases  # type: ignore[attr-defined]
        catch_all = any(getattr(case.pattern, "pattern", False) is None for case in cases)
        return max(0, len(cases) - catch_all)
    return 0


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
    visitor, halstead_visitor = radon_visitors(tree)
    raw = raw_metrics(source)
    halstead = halstead_visitor_report(halstead_visitor)
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
