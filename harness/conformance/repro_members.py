"""Which members of copied classes a script reaches: attribute uses, found by parsing.

A graph backend implements its ops as methods of one object (``ops = GraphOps(PyTensor())``),
so copying the class whole copies every op. ``analyse`` walks copied code (and the script's
own) and reports, through an ``Env``, each member reached: ``recv.name`` where ``recv`` is
known to be an instance (or the class) of a copied class — ``self`` in a method, a parameter
annotated with the class, ``self.fw`` where every assignment says what it holds, a
module-level instance. A value of such a class used any other way (passed to an unknown
function, returned, stored in a list) *escapes*: the caller then keeps, in that class, every
member named by an attribute use on an unknown receiver; an attribute named at run time
(``getattr(obj, name)``) keeps the whole class. Nothing is imported or executed here.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Protocol

from harness.conformance.repro_scopes import bound_here

ClassKey = tuple[str, int]  # (module, index of the class statement in the module's body)
#: what a value may be: (class, True) an instance of it (or a subclass), (class, False) the class
Types = frozenset[tuple[ClassKey, bool]]
NOTHING: Types = frozenset()
_DYNAMIC = frozenset({"getattr", "hasattr", "setattr", "delattr"})


class Env(Protocol):
    """What ``analyse`` asks about names and reports about uses (the inliner implements it)."""

    def lookup(self, name: str) -> Types:
        """Types of the module-level ``name`` of the module being analysed."""

    def module_attr(self, name: str, attr: str) -> Types | None:
        """Types of ``name.attr`` when ``name`` is a copied module, else None."""

    def annotation(self, node: ast.expr) -> tuple[Types, Types]:
        """(types a value annotated ``node`` has, classes the annotation names otherwise)."""

    def attr_types(self, types: Types, attr: str) -> Types:
        """Types every assignment of instance attribute ``attr`` of ``types`` gives it."""

    def accepts(self, classes: Types, where: int | str, value: Types) -> bool:
        """True when constructor parameter ``where`` of ``classes`` is annotated to hold
        ``value`` (so passing it is a tracked use)."""

    def demand(self, key: ClassKey, name: str) -> None:
        """Member ``name`` of the class ``key`` (and its relatives) is used."""

    def escape(self, key: ClassKey, dynamic: bool = False) -> None:
        """A value of class ``key`` escapes (``dynamic``: its attributes are named at run
        time)."""

    def unknown_attr(self, name: str) -> None:
        """``name`` is used as an attribute of a value of unknown type."""


def member_names(stmt: ast.stmt) -> set[str] | None:
    """Names a class-body statement defines, or None when it must always be kept."""
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names = {stmt.name}
    elif isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
        names = {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
            and stmt.value is not None:
        names = {stmt.target.id}
    else:
        return None
    # dunders are called by Python itself, never by name
    return None if any(n.startswith("__") and n.endswith("__") for n in names) else names


def state_attr(stmt: ast.stmt, self_name: str) -> str | None:
    """The attribute of ``self.attr = <expression without calls>`` (state that may be
    dropped when nothing reads it), else None."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, value = stmt.targets[0], stmt.value
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target, value = stmt.target, stmt.value
    else:
        return None
    if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
            and target.value.id == self_name):
        return None
    impure = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda)
    return None if any(isinstance(n, impure) for n in ast.walk(value)) else target.attr


def self_param(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, bool] | None:
    """(name of the receiver parameter, True for an instance / False for ``cls``) of a
    method, or None for a static method."""
    decorators = {d.id for d in fn.decorator_list if isinstance(d, ast.Name)}
    params = [*fn.args.posonlyargs, *fn.args.args]
    if "staticmethod" in decorators or not params:
        return None
    return params[0].arg, "classmethod" not in decorators


def declared_attributes(cls: ast.ClassDef, env: Env) -> dict[str, tuple[Types, bool]]:
    """Per instance attribute assigned in ``cls``'s methods: (types its typed assignments
    give, True when some assignment's value is of unknown type)."""
    found: dict[str, tuple[Types, bool]] = {}
    for fn in cls.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or not self_param(fn):
            continue
        receiver = self_param(fn)[0]  # type: ignore[index]
        params = {a.arg: env.annotation(a.annotation)[0] for a in _params(fn.args)
                  if a.annotation is not None}
        for node in ast.walk(fn):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) \
                        and t.value.id == receiver:
                    value = getattr(node, "value", None)
                    typed = _syntactic(value, params, env)
                    known, unknown = found.get(t.attr, (NOTHING, False))
                    found[t.attr] = (known | typed, unknown or not typed)
    return found


def _syntactic(value: ast.expr | None, params: dict[str, Types], env: Env) -> Types:
    """Types of an attribute's assigned value: an annotated parameter or a class instance."""
    if isinstance(value, ast.Name):
        return params[value.id] if value.id in params else env.lookup(value.id)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) \
            and value.func.id not in params:
        return frozenset((k, True) for k, inst in env.lookup(value.func.id) if not inst)
    return NOTHING


def _params(args: ast.arguments) -> list[ast.arg]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    return every + [a for a in (args.vararg, args.kwarg) if a is not None]


class _Frame:
    """One scope: typed names, other local names, and the class it is the body of."""

    def __init__(self, typed: dict[str, Types], local: set[str], cls: ClassKey | None = None,
                 method_of: ClassKey | None = None):
        self.typed, self.local, self.cls, self.method_of = typed, local, cls, method_of


class Analyser:
    """Reports to ``env`` the members that statements of one module reach."""

    def __init__(self, env: Env):
        self.env = env
        self.frames: list[_Frame] = []

    # --- entry points --------------------------------------------------------------------
    def statement(self, stmt: ast.stmt) -> None:
        """Analyse a module-level statement (or the script's own code)."""
        self.stmt(stmt)

    def member(self, stmt: ast.stmt, key: ClassKey, body: list[ast.stmt],
               only: list[ast.stmt] | None = None) -> None:
        """Analyse ``stmt``, a statement of the body ``body`` of the class ``key`` (of a
        method, ``only`` these statements of its body when given)."""
        self.frames.append(_Frame({}, bound_here(body), cls=key))
        try:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.function(stmt, key, only)
            else:
                self.stmt(stmt)
        finally:
            self.frames.pop()

    # --- names ---------------------------------------------------------------------------
    def _name(self, name: str) -> Types:
        for depth, frame in enumerate(reversed(self.frames)):
            if frame.cls is not None and depth > 0:
                continue  # a class body's names are invisible to the functions inside it
            if name in frame.typed:
                return frame.typed[name]
            if name in frame.local:
                if frame.cls is not None:
                    self.env.demand(frame.cls, name)  # a class-level name used in its body
                return NOTHING
        return self.env.lookup(name)

    def _is_global(self, name: str) -> bool:
        return not any(name in f.typed or name in f.local for i, f in
                       enumerate(reversed(self.frames)) if f.cls is None or i == 0)

    def _escape(self, types: Types) -> None:
        for key, _ in types:
            self.env.escape(key)

    # --- expressions ---------------------------------------------------------------------
    def expr(self, node: ast.expr | None, tracked: bool = False) -> Types:
        """Analyse ``node``; its types. ``tracked``: its value is used in a way that is
        followed (as a receiver, a compared value); otherwise a typed value escapes."""
        if node is None:
            return NOTHING
        found = self._expr(node)
        if found and not tracked:
            self._escape(found)
        return found

    def _expr(self, node: ast.expr) -> Types:
        if isinstance(node, ast.Name):
            return self._name(node.id) if isinstance(node.ctx, ast.Load) else NOTHING
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, (ast.Compare, ast.Subscript)):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child, tracked=True)
            return NOTHING
        if isinstance(node, ast.Lambda):
            self._defaults(node.args)
            self.frames.append(_Frame({}, {a.arg for a in _params(node.args)}))
            self.expr(node.body)
            self.frames.pop()
            return NOTHING
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            targets = {n.id for g in node.generators for n in ast.walk(g.target)
                       if isinstance(n, ast.Name)}
            self.expr(node.generators[0].iter)
            self.frames.append(_Frame({}, targets))
            for child in _children(node):
                if child is not node.generators[0].iter:
                    self.expr(child)
            self.frames.pop()
            return NOTHING
        for child in _children(node):
            self.expr(child)
        return NOTHING

    def _attribute(self, node: ast.Attribute) -> Types:
        base = node.value
        if isinstance(base, ast.Name) and self._is_global(base.id):
            found = self.env.module_attr(base.id, node.attr)
            if found is not None:
                return found
        receiver = self.expr(base, tracked=True)
        if not receiver:
            self.env.unknown_attr(node.attr)
            return NOTHING
        for key, _ in receiver:
            self.env.demand(key, node.attr)
        if node.attr == "__class__":
            return frozenset((k, False) for k, _ in receiver)
        return self.env.attr_types(receiver, node.attr)

    def _call(self, node: ast.Call) -> Types:
        func = node.func
        name = func.id if isinstance(func, ast.Name) and self._is_global(func.id) else None
        if name == "super" and not node.args:
            owner = next((f.method_of for f in reversed(self.frames) if f.method_of), None)
            return NOTHING if owner is None else frozenset({(owner, True)})
        if name in _DYNAMIC and node.args:
            return self._dynamic(node)
        if name in ("isinstance", "issubclass", "type"):
            found = [self.expr(a, tracked=True) for a in node.args]
            return frozenset((k, False) for k, _ in found[0]) if name == "type" else NOTHING
        callee = self.expr(func, tracked=True)
        classes = frozenset(t for t in callee if not t[1])
        for i, arg in enumerate(node.args):
            value = self.expr(arg, tracked=True)
            if value and not (classes and not isinstance(arg, ast.Starred)
                              and self.env.accepts(classes, i, value)):
                self._escape(value)
        for kw in node.keywords:
            value = self.expr(kw.value, tracked=True)
            if value and not (classes and kw.arg and self.env.accepts(classes, kw.arg, value)):
                self._escape(value)
        for key, is_instance in callee:
            if is_instance:
                self.env.demand(key, "__call__")
        return frozenset((k, True) for k, _ in classes)

    def _dynamic(self, node: ast.Call) -> Types:
        receiver = self.expr(node.args[0], tracked=True)
        for arg in [*node.args[1:], *(k.value for k in node.keywords)]:
            self.expr(arg)
        attr = node.args[1] if len(node.args) > 1 else None
        named = isinstance(attr, ast.Constant) and isinstance(attr.value, str)
        for key, _ in receiver:
            if named:
                self.env.demand(key, attr.value)  # type: ignore[union-attr]
            else:
                self.env.escape(key, dynamic=True)
        if named and not receiver:
            self.env.unknown_attr(attr.value)  # type: ignore[union-attr]
        return NOTHING

    def _defaults(self, args: ast.arguments) -> None:
        for default in [*args.defaults, *args.kw_defaults]:
            self.expr(default)

    # --- statements ----------------------------------------------------------------------
    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef,
                 method_of: ClassKey | None = None, only: list[ast.stmt] | None = None
                 ) -> None:
        """Analyse a function (a method of ``method_of`` when given; ``only`` these statements
        of its body): its receiver and the parameters annotated with a copied class are
        typed."""
        self._defaults(node.args)
        for decorator in node.decorator_list:
            self.expr(decorator, tracked=True)
        typed: dict[str, Types] = {}
        for a in _params(node.args):
            if a.annotation is not None:
                types, named = self.env.annotation(a.annotation)
                self._escape(named)
                if types:
                    typed[a.arg] = types
        receiver = self_param(node) if method_of is not None else None
        if receiver is not None and method_of is not None:
            typed[receiver[0]] = frozenset({(method_of, receiver[1])})
        declared = {n for s in node.body for sub in ast.walk(s) if isinstance(sub, ast.Global)
                    for n in sub.names}
        local = ({a.arg for a in _params(node.args)} | bound_here(node.body)) - declared
        self.frames.append(_Frame(typed, local - set(typed), method_of=method_of))
        for stmt in node.body if only is None else only:
            self.stmt(stmt)
        self.frames.pop()

    def stmt(self, node: ast.stmt) -> None:
        """Analyse one statement in the current scope."""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.function(node)
        elif isinstance(node, ast.ClassDef):
            for base in [*node.bases, *node.decorator_list, *(k.value for k in node.keywords)]:
                self.expr(base)
            self.frames.append(_Frame({}, bound_here(node.body), cls=("<nested>", 0)))
            for stmt in node.body:
                self.stmt(stmt)
            self.frames.pop()
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            self._assign(node)
        elif isinstance(node, ast.Expr):
            self.expr(node.value, tracked=True)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    self.stmt(child)
                elif isinstance(child, ast.expr):
                    self.expr(child)
                elif isinstance(child, ast.AST):  # handlers, with-items, match cases
                    self._nested(child)

    def _nested(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self.stmt(child)
            elif isinstance(child, ast.expr):
                self.expr(child)
            elif isinstance(child, ast.AST):
                self._nested(child)

    def _assign(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value = self.expr(node.value, tracked=True)
        tracked = bool(targets)
        for target in targets:
            slot = self._target(target)
            tracked = tracked and slot is not None and value <= slot
        if value and not tracked:
            self._escape(value)

    def _target(self, target: ast.expr) -> Types | None:
        """Analyse an assignment target; the types it is declared to hold (None: any)."""
        if isinstance(target, ast.Attribute):
            receiver = self.expr(target.value, tracked=True)
            if not receiver:
                self.env.unknown_attr(target.attr)
                return None
            for key, _ in receiver:
                self.env.demand(key, target.attr)
            return self.env.attr_types(receiver, target.attr)
        if isinstance(target, ast.Name):
            return self.env.lookup(target.id) if self._is_global(target.id) else None
        for child in _children(target):
            if not (isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store)):
                self.expr(child, tracked=True)
        return None


def _children(node: ast.AST) -> Iterator[ast.expr]:
    """The expressions directly below ``node`` (through comprehension clauses, keywords)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.expr):
            yield child
        elif isinstance(child, (ast.comprehension, ast.keyword, ast.arguments)):
            yield from _children(child)
