"""Scope-aware renaming of the module-level names in a top-level statement.

``repro_inline`` copies backend definitions into a script under new names where needed;
``Rewriter`` renames every use of a module-level name in a statement while leaving local
names alone (parameters, assignments, comprehension variables, class bodies), following
Python's scoping rules.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp,
           ast.SetComp, ast.DictComp, ast.GeneratorExp)


class InlineError(RuntimeError):
    """A backend definition cannot be copied into a standalone script."""


@dataclass(frozen=True)
class ModuleRef:
    """A module-level name bound to a ``harness`` module (``conv_utils`` in ``conv_utils.f``)."""

    module: str


def bound_here(nodes: Sequence[ast.AST]) -> set[str]:
    """Names bound by ``nodes`` in their own scope (not inside nested functions or classes)."""
    names: set[str] = set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Lambda, *_SCOPES[4:])):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return names


def _arg_names(args: ast.arguments) -> set[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    every += [a for a in (args.vararg, args.kwarg) if a is not None]
    return {a.arg for a in every}


class Rewriter(ast.NodeTransformer):
    """Renames the module-level names a statement uses, leaving local names alone.

    ``resolve(name)`` is called for each use of a module-level name and returns its new name,
    or a ``ModuleRef`` (then ``ref.attr`` becomes a single name through ``resolve_attr``).
    Annotations are dropped from functions (their names need not exist in the script).
    """

    def __init__(self, resolve: Callable[[str], str | ModuleRef],
                 resolve_attr: Callable[[str, str], str],
                 is_internal: Callable[[str], bool] = lambda module: False):
        self.resolve = resolve
        self.resolve_attr = resolve_attr
        self.is_internal = is_internal
        # local names of each enclosing scope, and whether that scope is a class body
        self.scopes: list[tuple[set[str], bool]] = []

    def _is_global(self, name: str) -> bool:
        for depth, (names, is_class) in enumerate(reversed(self.scopes)):
            # a class body's names are invisible to the functions defined inside it
            if is_class and depth > 0:
                continue
            if name in names:
                return False
        return True

    def _rename(self, name: str) -> str:
        new = self.resolve(name)
        if isinstance(new, ModuleRef):
            raise InlineError(f"module {new.module} is used as a value, not as `module.name`")
        return new

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if self._is_global(node.id):
            node.id = self._rename(node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        base = node.value
        if isinstance(base, ast.Name) and self._is_global(base.id):
            target = self.resolve(base.id)
            if isinstance(target, ModuleRef):
                return ast.copy_location(
                    ast.Name(self.resolve_attr(target.module, node.attr), node.ctx), node)
        self.generic_visit(node)
        return node

    def visit_Global(self, node: ast.Global) -> ast.AST:
        node.names = [self._rename(n) for n in node.names]
        return node

    def _alias(self, node: ast.Import | ast.ImportFrom) -> ast.AST:
        if self.scopes:  # a local import binds a local name
            return node
        for alias in node.names:
            bound = (alias.asname or alias.name).split(".")[0]
            new = self._rename(bound)
            if new != bound:
                if "." in alias.name and not alias.asname:
                    raise InlineError(f"cannot rename the import of {alias.name}")
                alias.asname = new
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST:
        return self._alias(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        if self.is_internal(node.module or "") or node.level:
            raise InlineError(f"cannot inline the nested import of {node.module}")
        return self._alias(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> ast.AST:
        args = node.args
        # defaults and decorators are evaluated in the enclosing scope
        args.defaults = [self.visit(d) for d in args.defaults]
        args.kw_defaults = [None if d is None else self.visit(d) for d in args.kw_defaults]
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                a.annotation = None
        if not isinstance(node, ast.Lambda):
            node.decorator_list = [self.visit(d) for d in node.decorator_list]
            node.returns = None
        body = node.body if isinstance(node.body, list) else [node.body]
        declared = {n for stmt in body for sub in ast.walk(stmt) if isinstance(sub, ast.Global)
                    for n in sub.names}
        self.scopes.append(((_arg_names(args) | bound_here(body)) - declared, False))
        if isinstance(node, ast.Lambda):
            node.body = self.visit(node.body)
        else:
            node.body = [self.visit(s) for s in node.body]
        self.scopes.pop()
        if not isinstance(node, ast.Lambda) and not self.scopes:
            node.name = self._rename(node.name)
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.bases = [self.visit(b) for b in node.bases]
        node.keywords = [self.visit(k) for k in node.keywords]
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self.scopes.append((bound_here(node.body), True))
        node.body = [self.visit(s) for s in node.body]
        self.scopes.pop()
        if not self.scopes:
            node.name = self._rename(node.name)
        return node

    def _comprehension(self, node: Any) -> ast.AST:
        first = node.generators[0]
        first.iter = self.visit(first.iter)  # evaluated in the enclosing scope
        self.scopes.append(({n.id for g in node.generators for n in ast.walk(g.target)
                             if isinstance(n, ast.Name)}, False))
        first.target = self.visit(first.target)
        first.ifs = [self.visit(i) for i in first.ifs]
        for gen in node.generators[1:]:
            self.visit(gen)
        for name in ("elt", "key", "value"):
            if hasattr(node, name):
                setattr(node, name, self.visit(getattr(node, name)))
        self.scopes.pop()
        return node

    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _comprehension

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST | None:
        if self.scopes and self.scopes[-1][1]:
            # class bodies keep their annotations (dataclasses read them); never evaluated
            if node.value is not None:
                node.value = self.visit(node.value)
            node.target = self.visit(node.target)
            return node
        if node.value is None:
            return None
        return self.visit(ast.copy_location(ast.Assign([node.target], node.value), node))


def globals_used(stmt: ast.stmt) -> set[str]:
    """The module-level names ``stmt`` refers to (scope-aware; annotations ignored)."""
    used: set[str] = set()

    def record(name: str) -> str:
        used.add(name)
        return name

    Rewriter(record, lambda module, attr: attr).visit(copy.deepcopy(stmt))
    return used
