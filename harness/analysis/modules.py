"""Martin's package metrics over the import graph of a repository's own modules.

- module names come from repository paths: ``pkg/sub/mod.py`` is ``pkg.sub.mod``,
  ``pkg/__init__.py`` is ``pkg``, and a leading ``src/`` is dropped;
- every ``import``/``from ... import`` anywhere in a module (also inside functions) is resolved,
  relative imports included, to the deepest module of the repository it names; imports of
  anything outside the repository are ignored;
- Ca (afferent) = repository modules importing this one, Ce (efferent) = repository modules it
  imports, instability I = Ce / (Ca + Ce) (0 when both are 0);
- abstractness A = abstract classes / classes (0 without classes); a class is abstract when it
  derives from ``ABC`` or ``Protocol``, has ``metaclass=ABCMeta``, or has an
  ``@abstractmethod`` (or ``abstractproperty``/``abstractclassmethod``/...) method;
- distance from the main sequence D = |A + I - 1|;
- cycles are the strongly connected components (more than one module) of the import graph.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import PurePosixPath

from harness.analysis.statements import walk_statements

_ABSTRACT_BASES = {"ABC", "Protocol"}
_ABSTRACT_DECORATORS = {
    "abstractmethod",
    "abstractproperty",
    "abstractclassmethod",
    "abstractstaticmethod",
}


def module_graph(trees: dict[str, ast.Module]) -> dict:
    """Compute Ca, Ce, I, A, D and import cycles for the modules of a repository.

    ``trees`` is keyed by repository-relative path. Returns ``{"modules": [{"path", "module",
    "ca", "ce", "instability", "abstractness", "distance", "imports"}], "cycles": [[module,
    ...], ...]}`` with modules sorted by path and each cycle sorted by name.
    """
    index = module_index(trees)
    imports = {
        name: sorted(set(resolve_imports(path, trees[path], index)) - {name})
        for name, path in index.items()
    }
    importers: dict[str, set[str]] = {name: set() for name in index}
    for name, targets in imports.items():
        for target in targets:
            importers[target].add(name)
    rows = []
    for name, path in sorted(index.items(), key=lambda item: item[1]):
        ca, ce = len(importers[name]), len(imports[name])
        instability = ce / (ca + ce) if ca + ce else 0.0
        abstractness = _abstractness(trees[path])
        rows.append(
            {
                "path": path,
                "module": name,
                "ca": ca,
                "ce": ce,
                "instability": instability,
                "abstractness": abstractness,
                "distance": abs(abstractness + instability - 1),
                "imports": imports[name],
            }
        )
    return {"modules": rows, "cycles": strongly_connected(imports)}


def module_name(path: str) -> str:
    """Return the dotted module name for a repository-relative path (``src/`` dropped)."""
    parts = list(PurePosixPath(path.replace("\\", "/")).parts)
    if len(parts) > 1 and parts[0] == "src":
        parts = parts[1:]
    parts[-1] = PurePosixPath(parts[-1]).stem
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def module_index(paths: Iterable[str]) -> dict[str, str]:
    """Map module name -> path; when two paths give one name, the first in sorted order wins."""
    index: dict[str, str] = {}
    for path in sorted(paths):
        index.setdefault(module_name(path), path)
    return index


def is_package(path: str) -> bool:
    """True for a package's ``__init__`` module."""
    return PurePosixPath(path).stem == "__init__"


def import_targets(path: str, tree: ast.Module, index: dict[str, str]) -> list[tuple]:
    """Resolve each imported name of a module to the repository.

    Returns ``(lineno, module, name, bound)`` tuples: ``module`` is the repository module the
    import reaches, ``name`` the attribute imported from it (None for ``import m`` and for a
    submodule import), ``bound`` the local name it gets (None for a dotted ``import a.b``,
    which binds ``a``). Imports that reach nothing in the repository are left out.
    """
    own = module_name(path)
    package = own if is_package(path) else own.rpartition(".")[0]
    found: list[tuple[int, str, str | None, str | None]] = []
    for _scope, node in walk_statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = _deepest(alias.name, index)
                if target:
                    bound = alias.asname or (alias.name if "." not in alias.name else None)
                    found.append((node.lineno, target, None, bound))
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, package)
            if base is None:
                continue
            for alias in node.names:
                bound = alias.asname or alias.name
                submodule = f"{base}.{alias.name}" if base else alias.name
                if alias.name != "*" and submodule in index:
                    found.append((node.lineno, submodule, None, bound))
                    continue
                target = _deepest(base, index)
                if target:
                    name = None if alias.name == "*" else alias.name
                    found.append((node.lineno, target, name, bound))
    return found


def resolve_imports(path: str, tree: ast.Module, index: dict[str, str]) -> dict[str, int]:
    """Return {repository module imported: first line importing it} for one module."""
    lines: dict[str, int] = {}
    for lineno, target, _name, _bound in import_targets(path, tree, index):
        lines[target] = min(lines.get(target, lineno), lineno)
    return lines


def _from_base(node: ast.ImportFrom, package: str) -> str | None:
    """The absolute module named by ``from X import`` (None when above the repository root)."""
    if not node.level:
        return node.module or ""
    parts = package.split(".") if package else []
    if node.level - 1 > len(parts):
        return None
    parts = parts[: len(parts) - (node.level - 1)]
    if node.module:
        parts.append(node.module)
    return ".".join(parts)


def _deepest(dotted: str, index: dict[str, str]) -> str | None:
    """The longest prefix of a dotted name that is a repository module."""
    parts = dotted.split(".") if dotted else []
    while parts:
        candidate = ".".join(parts)
        if candidate in index:
            return candidate
        parts.pop()
    return None


def is_abstract(node: ast.ClassDef) -> bool:
    """True for ABC/Protocol subclasses, ABCMeta classes and classes with abstract methods."""
    for base in node.bases:
        if isinstance(base, ast.Subscript):  # Protocol[T]
            base = base.value
        if _last_name(base) in _ABSTRACT_BASES:
            return True
    for keyword in node.keywords:
        if keyword.arg == "metaclass" and _last_name(keyword.value) == "ABCMeta":
            return True
    for child in node.body:
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if any(_last_name(d) in _ABSTRACT_DECORATORS for d in child.decorator_list):
                return True
    return False


def _last_name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        return expr.attr
    return None


def _abstractness(tree: ast.Module) -> float:
    classes = [node for _scope, node in walk_statements(tree) if isinstance(node, ast.ClassDef)]
    if not classes:
        return 0.0
    return sum(1 for node in classes if is_abstract(node)) / len(classes)


def strongly_connected(graph: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns components of more than one node, sorted."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index_of:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index_of[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index_of:
                    index_of[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index_of[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index_of[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)
