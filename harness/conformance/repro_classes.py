"""Copied classes, trimmed to the members a reproduction script reaches.

``repro_inline`` hands every class statement it copies to a ``ClassTable``. A class whose bases
are copied classes too (or none), with no decorator or metaclass, is *trimmed*: it keeps its
docstring, its dunder methods and whatever else its body does, and a member (method, class
attribute, nested class) only once something reaches it (``repro_members`` finds the uses).
A use reaches the member in the class and every copied class related to it by inheritance,
since ``self.m`` may resolve to an override. ``__init__`` keeps its statements except
``self.attr = <value>`` assignments of state that no kept code reads. Any other class (a
dataclass, a subclass of a framework class) is copied whole.
"""

from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness.conformance.repro_members import (
    NOTHING,
    Analyser,
    ClassKey,
    Types,
    declared_attributes,
    member_names,
    self_param,
    state_attr,
)

#: (module, statement, class body or None) -> the statement rewritten for the script
Rewrite = Callable[[str, ast.stmt, "list[ast.stmt] | None"], ast.stmt]


@dataclass
class _Class:
    key: ClassKey
    node: ast.ClassDef  # as in the module's source
    whole: bool
    members: dict[str, list[int]]  # member name -> indexes of the body statements binding it
    kept: dict[int, ast.stmt] = field(default_factory=dict)  # body index -> rewritten
    demanded: set[str] = field(default_factory=set)
    init: int | None = None  # body index of __init__
    state: dict[str, list[int]] = field(default_factory=dict)  # attr -> droppable __init__ stmts
    kept_state: set[int] = field(default_factory=set)


class ClassTable:
    """The trimmed classes of one script and the member uses found so far."""

    def __init__(self, inliner: Any, rewrite: Rewrite):
        self.inliner = inliner  # repro_inline.Inliner: module sources and name resolution
        self.rewrite = rewrite
        self.classes: dict[ClassKey, _Class] = {}
        self.pending: dict[ClassKey, set[str]] = {}  # uses of classes not copied (yet)
        self.open: set[ClassKey] = set()  # classes whose values escaped
        self.dynamic: set[ClassKey] = set()  # classes whose attributes are named at run time
        self.pool: set[str] = set()  # attribute names used on values of unknown type
        self.queue: list[tuple[ClassKey, str]] = []
        self._attrs: dict[ClassKey, dict[str, tuple[Types, bool]]] = {}

    # --- copying -------------------------------------------------------------------------
    def register(self, module: str, index: int) -> None:
        """Copy the class statement ``index`` of ``module``: its always-kept statements now,
        its members as uses reach them."""
        node = self._node((module, index))
        key = (module, index)
        bases = [self.env(module).class_of(b) for b in node.bases]
        whole = bool(node.decorator_list or node.keywords) or any(
            b is None for b, e in zip(bases, node.bases, strict=True)
            if not (isinstance(e, ast.Name) and e.id == "object"))
        entry = _Class(key, node, whole, {})
        for i, stmt in enumerate(node.body):
            for name in member_names(stmt) or ():
                entry.members.setdefault(name, []).append(i)
            if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__" and self_param(stmt):
                entry.init = i
                receiver = self_param(stmt)[0]  # type: ignore[index]
                for j, s in enumerate(stmt.body):
                    attr = state_attr(s, receiver)
                    if attr is not None:
                        entry.state.setdefault(attr, []).append(j)
        self.classes[key] = entry
        family = self.family(key)
        if family & self.dynamic:
            self.dynamic.add(key)
        for i, stmt in enumerate(node.body):
            if entry.whole or key in self.dynamic or member_names(stmt) is None:
                self._keep(entry, i)
        names = self.pending.pop(key, set())
        for other in family:
            names |= self.classes[other].demanded
        if family & self.open:
            self.open.add(key)
            names |= self.pool
        self.queue += [(key, name) for name in sorted(names)]

    def drain(self) -> None:
        """Copy every member the uses found so far reach (and what those reach in turn)."""
        while self.queue:
            key, name = self.queue.pop(0)
            if key not in self.classes:
                self.pending.setdefault(key, set()).add(name)
                continue
            for other in sorted(self.family(key)):
                entry = self.classes[other]
                if name in entry.demanded:
                    continue
                entry.demanded.add(name)
                for i in entry.members.get(name, []):
                    self._keep(entry, i)
                for j in entry.state.get(name, []):
                    self._keep_state(entry, j)

    def _keep(self, entry: _Class, index: int) -> None:
        if index in entry.kept:
            return
        module, node = entry.key[0], entry.node
        stmt = node.body[index]
        entry.kept[index] = self.rewrite(module, copy.deepcopy(stmt), node.body)
        only = None
        if index == entry.init:  # its state assignments are analysed as they are kept
            droppable = {j for js in entry.state.values() for j in js}
            only = [s for j, s in enumerate(stmt.body) if j not in droppable]  # type: ignore[attr-defined]
        Analyser(self.env(module)).member(stmt, entry.key, node.body, only)
        if index == entry.init and (entry.whole or entry.key in self.dynamic):
            for j in sorted(droppable):
                self._keep_state(entry, j)

    def _keep_state(self, entry: _Class, j: int) -> None:
        if j in entry.kept_state or entry.init is None:
            return
        entry.kept_state.add(j)
        init = entry.node.body[entry.init]
        Analyser(self.env(entry.key[0])).member(init, entry.key, entry.node.body,
                                                [init.body[j]])  # type: ignore[attr-defined]

    def render(self, module: str, index: int, header: ast.ClassDef) -> tuple[ast.ClassDef, str]:
        """The class statement as copied (``header`` holds its rewritten name and bases), and
        a comment saying what was left out."""
        entry = self.classes[(module, index)]
        body = []
        for i in sorted(entry.kept):
            stmt = entry.kept[i]
            if i == entry.init and entry.state:
                init = copy.deepcopy(entry.node.body[i])
                dropped = {j for js in entry.state.values() for j in js} - entry.kept_state
                init.body = [s for j, s in enumerate(init.body) if j not in dropped]  # type: ignore[attr-defined]
                if not init.body:  # type: ignore[attr-defined]
                    init.body = [ast.Pass()]  # type: ignore[attr-defined]
                stmt = self.rewrite(module, init, entry.node.body)
            body.append(stmt)
        node = copy.copy(header)
        node.body = body or [ast.Pass()]
        members = {i for ids in entry.members.values() for i in ids}
        left = len(members - set(entry.kept))
        used, name = len(members) - left, entry.node.name
        note = "" if not left else (
            f"# {name}: the {used} of its {len(members)} members this script uses\n" if used
            else f"# {name}: none of its {len(members)} members is used here\n")
        return node, note

    # --- names ---------------------------------------------------------------------------
    def value_types(self, module: str, name: str,
                    seen: frozenset[tuple[str, str]] = frozenset()) -> Types:
        """Types of the module-level ``name`` of ``module``: a copied class, or an instance
        made at module level (``ops = GraphOps(PyTensor())``); NOTHING for anything else."""
        if (module, name) in seen or not self.inliner.is_internal(module):
            return NOTHING
        seen = seen | {(module, name)}
        info = self.inliner.module_info(module)
        indexes = info.bindings.get(name, [])
        stmt = info.body[indexes[0]] if len(indexes) == 1 else None
        if isinstance(stmt, ast.ClassDef):
            return frozenset({((module, indexes[0]), False)})
        if isinstance(stmt, ast.ImportFrom):
            source = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""),
                                                 module.rpartition(".")[0])
            alias = next(a for a in stmt.names if (a.asname or a.name) == name)
            if self.inliner.is_internal(source) and self.module_named(module, name) is None:
                return self.value_types(source, alias.name, seen)
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 \
                and isinstance(stmt.targets[0], ast.Name):
            made = isinstance(stmt.value, ast.Call)
            value = stmt.value.func if isinstance(stmt.value, ast.Call) else stmt.value
            found = NOTHING
            if isinstance(value, ast.Name):
                found = self.value_types(module, value.id, seen)
            elif isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
                target = self.module_named(module, value.value.id)
                found = NOTHING if target is None else self.value_types(target, value.attr, seen)
            return frozenset((k, True) for k, inst in found if not inst) if made else found
        return NOTHING

    def module_named(self, module: str, name: str) -> str | None:
        """The copied module that the module-level ``name`` of ``module`` is bound to."""
        if not self.inliner.is_internal(module):
            return None
        info = self.inliner.module_info(module)
        indexes = info.bindings.get(name, [])
        stmt = info.body[indexes[0]] if len(indexes) == 1 else None
        if not isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return None
        target = resolve_module(module, stmt, name)
        return target if target is not None and self.inliner.is_internal(target) else None

    # --- inheritance ---------------------------------------------------------------------
    def family(self, key: ClassKey) -> set[ClassKey]:
        """``key`` and the copied classes related to it by inheritance (either way)."""
        found, todo = {key}, [key]
        while todo:
            current = todo.pop()
            related = set(self.bases(current)) | {
                k for k in self.classes if current in self.bases(k)}
            for other in related - found:
                if other in self.classes:
                    found.add(other)
                    todo.append(other)
        return found

    def bases(self, key: ClassKey) -> list[ClassKey]:
        """The copied (``harness``) classes ``key`` derives from directly."""
        env = self.env(key[0])
        return [b for b in (env.class_of(e) for e in self._node(key).bases) if b is not None]

    def is_subclass(self, key: ClassKey, base: ClassKey) -> bool:
        """True when ``key`` is ``base`` or derives from it."""
        return key == base or any(self.is_subclass(b, base) for b in self.bases(key))

    def _node(self, key: ClassKey) -> ast.ClassDef:
        node = self.inliner.module_info(key[0]).body[key[1]]
        assert isinstance(node, ast.ClassDef)
        return node

    def attributes(self, key: ClassKey) -> dict[str, tuple[Types, bool]]:
        """Instance attributes of ``key`` and the types assigned to them (cached)."""
        if key not in self._attrs:
            self._attrs[key] = {}  # a class annotated with itself must not recurse
            self._attrs[key] = declared_attributes(self._node(key), self.env(key[0]))
        return self._attrs[key]

    def env(self, module: str | None) -> ModuleEnv:
        """The ``repro_members.Env`` of ``module`` (None: the script's own code)."""
        return ModuleEnv(self, module)

    # --- uses ----------------------------------------------------------------------------
    def demand(self, key: ClassKey, name: str) -> None:
        self.queue.append((key, name))

    def escape(self, key: ClassKey, dynamic: bool = False) -> None:
        if dynamic and key not in self.dynamic:
            for other in sorted(self.family(key) if key in self.classes else {key}):
                self.dynamic.add(other)
                entry = self.classes.get(other)
                if entry is None:
                    continue
                for i in range(len(entry.node.body)):
                    self._keep(entry, i)
                for j in sorted({j for js in entry.state.values() for j in js}):
                    self._keep_state(entry, j)
        if key not in self.open:
            self.open.add(key)
            self.queue += [(key, name) for name in sorted(self.pool)]

    def unknown_attr(self, name: str) -> None:
        if name not in self.pool:
            self.pool.add(name)
            self.queue += [(key, name) for key in sorted(self.open)]


class ModuleEnv:
    """``repro_members.Env`` for the code of one module (or the script's own code)."""

    def __init__(self, table: ClassTable, module: str | None):
        self.table, self.module = table, module

    def _where(self, name: str) -> tuple[str, str] | None:
        if self.module is not None:
            return self.module, name
        return self.table.inliner.emitted(name)  # the script's names of copied definitions

    def lookup(self, name: str) -> Types:
        where = self._where(name)
        return NOTHING if where is None else self.table.value_types(*where)

    def module_attr(self, name: str, attr: str) -> Types | None:
        where = self._where(name)
        target = None if where is None else self.table.module_named(*where)
        return None if target is None else self.table.value_types(target, attr)

    def class_of(self, node: ast.expr) -> ClassKey | None:
        """The copied class an expression (a base, an annotation) names, or None."""
        if isinstance(node, ast.Name):
            found = self.lookup(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            found = self.module_attr(node.value.id, node.attr) or NOTHING
        else:
            found = NOTHING
        classes = [k for k, is_instance in found if not is_instance]
        return classes[0] if len(classes) == 1 else None

    def annotation(self, node: ast.expr) -> tuple[Types, Types]:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return NOTHING, NOTHING
        parts = [node]
        while isinstance(parts[-1], ast.BinOp) and isinstance(parts[-1].op, ast.BitOr):
            last = parts.pop()
            parts += [last.left, last.right]  # type: ignore[attr-defined]
        simple = [self.class_of(p) for p in parts]
        if all(k is not None or _is_none(p) for k, p in zip(simple, parts, strict=True)):
            return frozenset((k, True) for k in simple if k is not None), NOTHING
        named = {self.class_of(n) for n in ast.walk(node)
                 if isinstance(n, (ast.Name, ast.Attribute))}
        return NOTHING, frozenset((k, True) for k in named if k is not None)

    def attr_types(self, types: Types, attr: str) -> Types:
        found: set[tuple[ClassKey, bool]] = set()
        for key, is_instance in types:
            family = self.table.family(key) if key in self.table.classes else {key}
            for other in family if is_instance else ():
                found |= self.table.attributes(other).get(attr, (NOTHING, False))[0]
        return frozenset(found)

    def accepts(self, classes: Types, where: int | str, value: Types) -> bool:
        for key, _ in classes:
            wanted = self._parameter(key, where)
            if not wanted or not all(is_instance and any(
                    self.table.is_subclass(k, w) for w, _ in wanted) for k, is_instance in value):
                return False
        return True

    def _parameter(self, key: ClassKey, where: int | str) -> Types:
        """Types the annotation of ``__init__``'s parameter ``where`` names (MRO order)."""
        node = self.table._node(key)
        init = next((s for s in node.body if isinstance(s, ast.FunctionDef)
                     and s.name == "__init__"), None)
        if init is None:
            bases = self.table.bases(key)
            return self._parameter(bases[0], where) if len(bases) == 1 else NOTHING
        params = [*init.args.posonlyargs, *init.args.args][1:]
        if isinstance(where, int):
            arg = params[where] if where < len(params) else None
        else:
            arg = next((a for a in [*params, *init.args.kwonlyargs] if a.arg == where), None)
        if arg is None or arg.annotation is None:
            return NOTHING
        return self.table.env(key[0]).annotation(arg.annotation)[0]

    def demand(self, key: ClassKey, name: str) -> None:
        self.table.demand(key, name)

    def escape(self, key: ClassKey, dynamic: bool = False) -> None:
        self.table.escape(key, dynamic)

    def unknown_attr(self, name: str) -> None:
        self.table.unknown_attr(name)


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def resolve_module(module: str, stmt: ast.Import | ast.ImportFrom, name: str) -> str | None:
    """The ``harness``-or-other module that ``name`` (bound by ``stmt`` in ``module``) is,
    when it is a module, else None."""
    alias = next(a for a in stmt.names if (a.asname or a.name).split(".")[0] == name)
    if isinstance(stmt, ast.Import):
        return alias.name if alias.asname else alias.name.split(".")[0]
    source = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""),
                                         module.rpartition(".")[0])
    value = getattr(importlib.import_module(source), alias.name, None)
    return value.__name__ if isinstance(value, ModuleType) else None

