"""Class metrics: LOC, methods, WMC, LCOM4, TCC, ATFD and the god-class rule.

Definitions, per class (nested classes are separate rows named ``Outer.Inner``):

- ``loc``: lines from ``class`` to the class's last line holding code (blank and comment-only
  lines excluded; docstring lines included), read from the shared token scan.
- ``methods``: functions defined directly in the class body.
- ``wmc``: sum of radon's cyclomatic complexity of those methods (taken from the module's
  radon visitor, which the complexity analyser also uses).
- ``lcom4`` (Hitz & Montazeri): connected components of the graph whose nodes are the methods
  and whose edges join two methods that use a common instance attribute (``self.x``) or where
  one uses the other (``self.m()`` or ``self.m``). ``__init__`` is left out when the class has
  other methods, because it touches every attribute and would hide real splits.
- ``tcc`` (Bieman & Kang): directly connected method pairs (sharing an instance attribute) over
  all pairs, on the same method set as LCOM4; 1.0 when there are fewer than two methods.
- ``atfd`` (Lanza & Marinescu, approximated from the AST): the number of distinct foreign data
  accesses ``expr.attr`` (read or write) made by the class's methods, keyed by their source
  text, where ``expr`` is not ``self``/``cls`` and its root name is not a module-level import,
  class or function (those are modules and types, not another object's data). Calls
  ``expr.m()`` are behaviour, not data, except accessors (``get*``, ``set*``, ``is*``).
- ``god_class``: ``wmc >= 47 and tcc < 1/3 and atfd > 5`` (Lanza & Marinescu thresholds).
"""

from __future__ import annotations

import ast
import io
import itertools
import re
import tokenize
from collections.abc import Iterator

from radon.visitors import Class, ComplexityVisitor

from harness.analysis.complexity import MethodAttributes, complexity_visitor, method_attributes
from harness.analysis.nodes import children
from harness.analysis.statements import walk_statements
from harness.analysis.tokens import Scan, scan

GOD_WMC = 47
GOD_TCC = 1 / 3
GOD_ATFD = 5

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_ACCESSOR = re.compile(r"^(get|set|is)(_|[A-Z])")
_NON_CODE = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}


def class_metrics(tree: ast.Module, source: str) -> list[dict]:
    """Measure every class of a module.

    Returns ``[{"name", "lineno", "endline", "loc", "methods", "wmc", "lcom4", "tcc", "atfd",
    "god_class"}]`` in source order.
    """
    found = list(iter_classes(tree))
    if not found:
        return []
    lines = _LineCounter(source)
    module_names = _module_level_names(tree)
    known_cc = _method_complexities(tree)
    walked = method_attributes(tree)
    rows = []
    for name, node in found:
        methods = class_methods(node)
        wmc = sum(known_cc.get((method.lineno, method.name)) or _cyclomatic(method)
                  for method in methods)
        bodies = [_method_body(method, walked) for method in methods]
        usage: dict[str, set[str]] = {}
        for method, nodes, _ in bodies:  # a property and its setter share one name
            usage.setdefault(method.name, set()).update(_self_usage(method, nodes))
        graph_nodes = _cohesion_nodes([method.name for method in methods])
        tcc = _tcc(graph_nodes, usage)
        atfd = len(_foreign_accesses(bodies, module_names))
        endline = node.end_lineno or node.lineno
        rows.append(
            {
                "name": name,
                "lineno": node.lineno,
                "endline": endline,
                "loc": lines.count(node.lineno, endline),
                "methods": len(methods),
                "wmc": wmc,
                "lcom4": _lcom4(graph_nodes, usage),
                "tcc": tcc,
                "atfd": atfd,
                "god_class": wmc >= GOD_WMC and tcc < GOD_TCC and atfd > GOD_ATFD,
            }
        )
    return rows


def iter_classes(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.ClassDef]]:
    """Yield ``(dotted name, ClassDef)`` for every class, outer before inner, in source order."""
    for scope, stmt in walk_statements(tree, prefix.rstrip(".")):
        if isinstance(stmt, ast.ClassDef):
            yield f"{scope}.{stmt.name}".lstrip("."), stmt


def class_methods(node: ast.ClassDef) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Return the functions defined directly in a class body."""
    return [child for child in node.body if isinstance(child, _FUNCTIONS)]


def _cyclomatic(method: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    functions = ComplexityVisitor.from_ast(method).functions
    return functions[0].complexity if functions else 1


def _method_complexities(tree: ast.Module) -> dict[tuple[int, str], int]:
    """radon's CC of the methods of the classes radon's module visitor reaches, keyed by
    (line, name); classes inside functions are not among them (radon drops those)."""
    found: dict[tuple[int, str], int] = {}
    pending: list[Class] = list(complexity_visitor(tree).classes)
    while pending:
        cls = pending.pop()
        found.update(((method.lineno, method.name), method.complexity)
                     for method in cls.methods)
        pending.extend(cls.inner_classes)
    return found


class _LineCounter:
    """Code lines in a range of rows: from the shared scan, or ``tokenize`` where the scan
    is not exact."""

    def __init__(self, source: str) -> None:
        found: Scan = scan(source)
        self.scan = found if found.exact else None
        self.lines = _code_lines(source) if self.scan is None else set()

    def count(self, first: int, last: int) -> int:
        """Rows in ``first..last`` that hold a code token."""
        if self.scan is not None:
            return self.scan.code_line_count(first, last)
        return sum(1 for line in range(first, last + 1) if line in self.lines)


def _code_lines(source: str) -> set[int]:
    """Line numbers that hold at least one code token (strings spanning lines count whole)."""
    lines: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in _NON_CODE:
                lines.update(range(token.start[0], token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        # The tree parsed, so this is rare; fall back to a line-based count.
        return {
            number
            for number, line in enumerate(source.splitlines(), 1)
            if line.strip() and not line.strip().startswith("#")
        }
    return lines


def _receiver_names(method: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names that denote the instance or class inside a method (its first parameter)."""
    params = method.args.posonlyargs + method.args.args
    decorators = {d.id for d in method.decorator_list if isinstance(d, ast.Name)}
    if not params or "staticmethod" in decorators:
        return set()
    return {params[0].arg}


def _self_usage(method: ast.FunctionDef | ast.AsyncFunctionDef,
                attributes: list[ast.Attribute]) -> set[str]:
    """Names used as ``self.<name>`` (attributes and methods alike) among a method's
    attribute nodes."""
    receivers = _receiver_names(method)
    if not receivers:
        return set()
    return {node.attr for node in attributes
            if type(node.value) is ast.Name and node.value.id in receivers}


_Body = tuple[ast.FunctionDef | ast.AsyncFunctionDef, list[ast.Attribute], set[int]]


def _method_body(method: ast.FunctionDef | ast.AsyncFunctionDef,
                 walked: MethodAttributes | None) -> _Body:
    """``(method, its attribute nodes, ids of the called attributes)``: from the complexity
    walk, else (a tree too deep for it) from a walk of the method's own."""
    if walked is not None:
        return method, walked.attributes.get(id(method), []), walked.called
    nodes = _walk_skipping_classes(method)
    return (method, [node for node in nodes if isinstance(node, ast.Attribute)],
            {id(node.func) for node in nodes if isinstance(node, ast.Call)})


def _walk_skipping_classes(method: ast.AST) -> list[ast.AST]:
    """The nodes under a method, without entering nested classes (their ``self`` is
    another); operator and context nodes left out (``nodes.child_fields``)."""
    found = children(method)
    index = 0
    while index < len(found):  # the list grows as it is read: a breadth-first walk
        node = found[index]
        index += 1
        if type(node) is not ast.ClassDef:
            found.extend(children(node))
    return found


def _cohesion_nodes(names: list[str]) -> list[str]:
    distinct = list(dict.fromkeys(names))
    if len(distinct) > 1 and "__init__" in distinct:
        distinct.remove("__init__")
    return distinct


def _lcom4(nodes: list[str], usage: dict[str, set[str]]) -> int:
    """Count connected components of the method graph (union-find)."""
    parent = {name: name for name in nodes}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    method_set = set(nodes)
    owner_of_attr: dict[str, str] = {}
    for name in nodes:
        for used in usage[name]:
            if used in method_set:
                union(name, used)
            elif used in usage:
                continue  # a method outside the graph (``__init__``) links nothing
            elif used in owner_of_attr:
                union(name, owner_of_attr[used])
            else:
                owner_of_attr[used] = name
    return len({find(name) for name in nodes})


def _tcc(nodes: list[str], usage: dict[str, set[str]]) -> float:
    """Directly connected pairs (a shared non-method attribute) over all pairs."""
    if len(nodes) < 2:
        return 1.0
    attributes = {name: usage[name] - set(usage) for name in nodes}
    pairs = list(itertools.combinations(nodes, 2))
    connected = sum(1 for a, b in pairs if attributes[a] & attributes[b])
    return connected / len(pairs)


def _module_level_names(tree: ast.Module) -> set[str]:
    """Names bound by imports (anywhere) and by module-level classes and functions."""
    names: set[str] = set()
    for _scope, node in walk_statements(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, *_FUNCTIONS)):
            names.add(node.name)
    return names


def _root_name(expr: ast.expr) -> str | None:
    while isinstance(expr, (ast.Attribute, ast.Subscript)):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None


def _foreign_accesses(bodies: list[_Body], module_names: set[str]) -> set[str]:
    """Distinct foreign data accesses (source text) made by ``(method, its attribute nodes,
    ids of called attributes)``."""
    found: set[str] = set()
    for method, attributes, called in bodies:
        receivers = _receiver_names(method)
        for node in attributes:
            if isinstance(node.value, ast.Name) and node.value.id in receivers:
                continue  # own data
            root = _root_name(node.value)
            if root is None or root in module_names or root in ("super", "__class__"):
                continue
            if id(node) in called and not _ACCESSOR.match(node.attr):
                continue  # a method call is behaviour, not data
            found.add(_source_text(node))
    return found


def _source_text(node: ast.Attribute) -> str:
    """``ast.unparse(node)``, spelled out directly for plain dotted names (most accesses)."""
    parts = [node.attr]
    value = node.value
    while isinstance(value, ast.Attribute):
        parts.append(value.attr)
        value = value.value
    if isinstance(value, ast.Name):
        parts.append(value.id)
        return ".".join(reversed(parts))
    return ast.unparse(node)
