"""Copy backend op functions, with everything they need, into standalone Python source.

A reproduction script must run the backend's framework alone, without importing ``harness``.
``Inliner.require(module, name)`` takes a top-level definition of a backend module (found by
parsing the module's source), then every module-level name it refers to, recursively: helpers
and constants of the same module, definitions imported from other ``harness`` modules (inlined
too) and third-party imports (kept as imports). Names are renamed where two modules define the
same name or a module shadows a builtin (the NumPy backend's ``max``), so the copied code keeps
Python's scoping exactly. A class is copied with only the members the copied code and the
script's own code (``uses``) reach (``repro_classes``): a graph backend's ops object brings the
few ops a script calls, not all of them. ``source()`` renders the imports, then each module's
statements in the order the modules import each other and, inside a module, in file order.
"""

from __future__ import annotations

import ast
import builtins
import copy
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from harness.conformance.repro_classes import ClassTable
from harness.conformance.repro_members import Analyser
from harness.conformance.repro_scopes import (
    InlineError,
    ModuleRef,
    Rewriter,
    bound_here,
    globals_used,
)

_BUILTINS = frozenset(dir(builtins))


@dataclass
class _Module:
    name: str
    body: list[ast.stmt]
    bindings: dict[str, list[int]]  # name -> indexes of the top-level statements binding it
    included: dict[int, ast.stmt] = field(default_factory=dict)  # index -> rewritten statement
    depends: set[str] = field(default_factory=set)  # harness modules it needs first


def _module_info(name: str) -> _Module:
    module = importlib.import_module(name)
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError) as exc:
        raise InlineError(f"no source for {name}: {exc}") from exc
    bindings: dict[str, list[int]] = {}
    for index, stmt in enumerate(tree.body):
        for bound in bound_here([stmt]):
            bindings.setdefault(bound, []).append(index)
    return _Module(name, tree.body, bindings)


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)


class Inliner:
    """Collects backend definitions, and the imports they need, as standalone source."""

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset(),
                 internal: tuple[str, ...] = ("harness",)):
        self.reserved = set(reserved)
        self.internal = internal  # packages whose code is copied; every other one is imported
        self.modules: dict[str, _Module] = {}
        self.names: dict[tuple[str, str], str | ModuleRef] = {}  # (module, name) -> emitted
        self.owner: dict[str, object] = {}  # emitted name -> what it stands for
        self.imports: set[str] = set()  # import statements of third-party names
        self.classes = ClassTable(self, lambda module, stmt, body: self._rewrite(
            self.modules[module], stmt, body))

    def module_info(self, name: str) -> _Module:
        """The parsed source of module ``name`` (cached)."""
        return _module_info_cached(self, name)

    def emitted(self, name: str) -> tuple[str, str] | None:
        """(module, name) of the copied definition the script calls ``name``, or None."""
        return next((key for key, value in sorted(self.names.items()) if value == name), None)

    def uses(self, code: str) -> None:
        """Note the script's own ``code``, which calls copied definitions by their script
        names: the class members it reaches are copied (``ops.matmul`` keeps ``matmul``)."""
        analyser = Analyser(self.classes.env(None))
        for stmt in ast.parse(code).body:
            analyser.statement(stmt)

    def is_internal(self, module: str) -> bool:
        """True for a module whose definitions are copied rather than imported."""
        return any(module == p or module.startswith(p + ".") for p in self.internal)

    # --- naming --------------------------------------------------------------------------
    def _claim(self, wanted: str, key: object, prefix: str) -> str:
        candidates = [wanted] if wanted not in _BUILTINS else []
        candidates += [f"{prefix}_{wanted}"] + [f"{prefix}_{wanted}_{i}" for i in range(2, 99)]
        for name in candidates:
            if name in self.reserved or (name in self.owner and self.owner[name] != key):
                continue
            self.owner[name] = key
            return name
        raise InlineError(f"no free name for {wanted}")  # pragma: no cover

    def adopt_import(self, module: str, name: str) -> None:
        """Import ``module`` as ``name`` in the script (for the script's own code too)."""
        self._claim(name, ("import", module, name), "imported")
        self.imports.add(f"import {module} as {name}" if name != module else f"import {module}")

    # --- resolution ----------------------------------------------------------------------
    def function(self, fn: Callable[..., Any], package: str) -> str:
        """Inline the op ``fn`` of the backend ``package``; the name the script calls it by."""
        for module_name, module in sorted(sys.modules.items()):
            if not (module_name == package or module_name.startswith(package + ".")):
                continue
            if module_name == package:
                continue  # the package re-exports; the defining module has the source
            for attr, value in vars(module).items():
                if value is fn and attr in _module_info_cached(self, module_name).bindings:
                    stmts = self.modules[module_name].bindings[attr]
                    if not any(isinstance(self.modules[module_name].body[i],
                                          (ast.Import, ast.ImportFrom)) for i in stmts):
                        return self.require(module_name, attr)
        raise InlineError(f"cannot find the definition of {getattr(fn, '__name__', fn)!r} "
                          f"in {package}")

    def require(self, module: str, name: str) -> str:
        """Inline ``name`` of ``module`` (with its dependencies); its name in the script."""
        found = self._resolve(module, name)
        if isinstance(found, ModuleRef):
            raise InlineError(f"{module}.{name} is a module")
        return found

    def _resolve(self, module: str, name: str) -> str | ModuleRef:
        key = (module, name)
        if key in self.names:
            return self.names[key]
        info = _module_info_cached(self, module)
        indexes = info.bindings.get(name)
        if not indexes:
            if name in _BUILTINS:
                return name
            raise InlineError(f"{module} has no module-level name {name!r}")
        stmts = [info.body[i] for i in indexes]
        if all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in stmts):
            found = [self._imported(info, s, name) for s in stmts]  # type: ignore[arg-type]
            return found[-1]
        for index in indexes:
            self._include(info, index)
        return self.names[key]

    def _imported(self, info: _Module, stmt: ast.Import | ast.ImportFrom, name: str
                  ) -> str | ModuleRef:
        alias = next(a for a in stmt.names if (a.asname or a.name).split(".")[0] == name)
        key = (info.name, name)
        if isinstance(stmt, ast.ImportFrom):
            source = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""),
                                                 info.name.rpartition(".")[0])
            if self.is_internal(source):
                value = getattr(importlib.import_module(source), alias.name)
                if isinstance(value, ModuleType):
                    found: str | ModuleRef = ModuleRef(value.__name__)
                else:
                    found = self._resolve(source, alias.name)
                    info.depends.add(_defining(self, source, alias.name))
                self.names[key] = found
                return found
            text = f"from {source} import {alias.name}"
            ident: object = ("from", source, alias.name)
        else:
            if self.is_internal(alias.name):
                found = ModuleRef(alias.name if alias.asname else alias.name.split(".")[0])
                self.names[key] = found
                return found
            text = f"import {alias.name}"
            # `import jax` and `import jax.numpy` both bind the package `jax`
            ident = ("import", alias.name if alias.asname else name, alias.asname)
        emitted = self._claim(name, ident, "imported")
        if emitted != name and isinstance(stmt, ast.Import) and not alias.asname \
                and "." in alias.name:
            raise InlineError(f"cannot rename the import of {alias.name}")
        plain = alias.name if isinstance(stmt, ast.ImportFrom) else alias.name.split(".")[0]
        if emitted != plain:
            text += f" as {emitted}"
        self.imports.add(text)
        self.names[key] = emitted
        return emitted

    def _include(self, info: _Module, index: int) -> None:
        if index in info.included:
            return
        stmt = info.body[index]
        prefix = info.name.rsplit(".", 1)[-1]
        for bound in bound_here([stmt]):
            self.names.setdefault((info.name, bound),
                                  self._claim(bound, (info.name, bound), prefix))
        info.included[index] = stmt  # placeholder while its dependencies resolve
        self._add(info, index)

    def _add(self, info: _Module, index: int) -> None:
        """Copy statement ``index`` of ``info`` (a class: its header, members as reached)."""
        stmt = info.body[index]
        if isinstance(stmt, ast.ClassDef):
            header = copy.copy(stmt)
            header.body = []
            info.included[index] = self._rewrite(info, header)
            self.classes.register(info.name, index)
        else:
            info.included[index] = self._rewrite(info, copy.deepcopy(stmt))
            Analyser(self.classes.env(info.name)).statement(stmt)

    def _rewrite(self, info: _Module, stmt: ast.stmt,
                 class_body: list[ast.stmt] | None = None) -> ast.stmt:
        """``stmt`` with its module-level names resolved (a statement of ``class_body``
        when given)."""
        def resolve(name: str) -> str | ModuleRef:
            return self._resolve(info.name, name)

        def resolve_attr(module: str, attr: str) -> str:
            info.depends.add(_defining(self, module, attr))
            return self.require(module, attr)

        rewriter = Rewriter(resolve, resolve_attr, self.is_internal)
        if class_body is not None:
            rewriter.scopes.append((bound_here(class_body), True))
        return rewriter.visit(stmt)

    def _side_effects(self) -> bool:
        """Include module-level calls that set up included definitions (``defvjp(f, ...)``)
        or configure an imported framework (``jax.config.update``); True when one was added."""
        added = False
        for info in list(self.modules.values()):
            if not info.included:
                continue
            for index, stmt in enumerate(info.body):
                if index in info.included or not isinstance(stmt, ast.Expr) or _is_docstring(
                        stmt):
                    continue
                kinds = {self._kind(info, n) for n in globals_used(stmt)}
                if "included" in kinds or kinds <= {"import", "builtin"}:
                    self._add(info, index)
                    added = True
        return added

    def _kind(self, info: _Module, name: str) -> str:
        """How ``name`` is bound in ``info``: builtin, import, included or other."""
        indexes = info.bindings.get(name)
        if not indexes:
            return "builtin"
        if all(i in info.included for i in indexes):
            return "included"
        first = info.body[indexes[0]]
        if isinstance(first, ast.Import):
            internal = any(self.is_internal(a.name) for a in first.names)
        elif isinstance(first, ast.ImportFrom):
            internal = bool(first.level) or self.is_internal(first.module or "")
        else:
            return "other"
        return "other" if internal else "import"

    # --- output --------------------------------------------------------------------------
    def source(self) -> str:
        """The imports and the inlined definitions, ready to paste into a script."""
        self.classes.drain()
        while self._side_effects():
            self.classes.drain()
        parts = sorted(self.imports)
        for name in self._module_order():
            info = self.modules[name]
            parts.append(f"\n\n# --- from the reference library's {_short(name)} "
                         f"({len(info.included)} definitions)")
            for index in sorted(info.included):
                stmt, note = info.included[index], ""
                if isinstance(stmt, ast.ClassDef):
                    stmt, note = self.classes.render(name, index, stmt)
                parts.append("\n" + note + ast.unparse(ast.fix_missing_locations(stmt)))
        return "\n".join(parts) + "\n"

    def _module_order(self) -> list[str]:
        order: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in order or name in path:
                return
            for dep in sorted(self.modules[name].depends):
                if dep in self.modules and dep != name:
                    visit(dep, (*path, name))
            order.append(name)

        for name in sorted(self.modules):
            if self.modules[name].included:
                visit(name, ())
        return [n for n in order if self.modules[n].included]


def _module_info_cached(inliner: Inliner, name: str) -> _Module:
    if name not in inliner.modules:
        inliner.modules[name] = _module_info(name)
    return inliner.modules[name]


def _defining(inliner: Inliner, module: str, name: str) -> str:
    """The module whose statement defines ``module.name`` (following re-exports)."""
    info = _module_info_cached(inliner, module)
    indexes = info.bindings.get(name, [])
    if len(indexes) == 1 and isinstance(info.body[indexes[0]], ast.ImportFrom):
        stmt = info.body[indexes[0]]
        assert isinstance(stmt, ast.ImportFrom)
        source = importlib.util.resolve_name("." * stmt.level + (stmt.module or ""),
                                             module.rpartition(".")[0])
        alias = next(a for a in stmt.names if (a.asname or a.name) == name)
        if inliner.is_internal(source) and not isinstance(
                getattr(importlib.import_module(source), alias.name, None), ModuleType):
            return _defining(inliner, source, alias.name)
    return module


def _short(module: str) -> str:
    """``harness.reference.backend.numpy.math`` -> ``numpy/math.py`` (where to look upstream)."""
    parts = module.split(".")
    tail = parts[3:] if parts[:3] == ["harness", "reference", "backend"] else parts[1:]
    return "/".join(tail) + ".py"
