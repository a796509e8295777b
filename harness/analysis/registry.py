"""Analysers registered by name, each with a scope that tells the engine how to run it.

- ``blob``: one file at a time, ``run(path, source, tree)``; results are cached per blob sha.
- ``tree``: the whole set of Python files of a revision, ``run(ctx)``; cached per tree digest.
- ``repo``: needs the repository, options or the assembled document, ``run(ctx)``; not cached.

An analyser's version is a digest of its module's source and of the harness modules it imports
(plus the versions of libraries it delegates to), so editing an analyser or a helper it uses
invalidates exactly the cache entries that depend on it. Analyser modules
are imported only when they run.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from harness.errors import UsageError


@dataclass(frozen=True)
class Analyser:
    """A registered analyser: ``name``, ``scope``, implementing ``module``, its ``run`` and the
    analysers it ``needs`` (run first, their results passed through the context).

    Blob analysers say whether they need the parsed ``ast`` and whether their result depends
    on the file's path (then it is cached per blob and path instead of per blob).
    """

    name: str
    scope: str
    module: str
    run: Callable[..., Any]
    needs: tuple[str, ...] = ()
    needs_ast: bool = True
    path_dependent: bool = False
    libraries: tuple[str, ...] = field(default=())

    @property
    def version(self) -> str:
        """Digest of the implementing module's source and delegated libraries' versions."""
        return version_of(self.module, self.libraries)


@cache
def version_of(module: str, libraries: tuple[str, ...]) -> str:
    """A 16-hex digest of ``module``'s source, the sources of the harness modules it imports
    (transitively) and the ``__version__`` of ``libraries``."""
    digest = hashlib.sha1()
    for name, source in sorted(_harness_sources(module).items()):
        digest.update(name.encode() + b"\0" + source)
    for library in libraries:
        digest.update(f"{library}={importlib.import_module(library).__version__}".encode())
    return digest.hexdigest()[:16]


def _harness_sources(module: str) -> dict[str, bytes]:
    """Source bytes of ``module`` and of every ``harness`` module it imports, transitively."""
    sources: dict[str, bytes] = {}
    pending = [module]
    while pending:
        name = pending.pop()
        if name in sources:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            spec = None  # 'from harness.x import SomeName': the name is not a module
        if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
            if name == module:
                raise ModuleNotFoundError(f"analyser module {module} is not installed",
                                          name=module)
            continue
        sources[name] = Path(spec.origin).read_bytes()
        for node in ast.walk(ast.parse(sources[name])):
            if isinstance(node, ast.Import):
                pending += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                pending += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        pending = [p for p in pending if p.startswith("harness.")]
    return sources


REGISTRY: dict[str, Analyser] = {}


def register(analyser: Analyser) -> Analyser:
    """Add ``analyser`` to the registry (a later one with the same name replaces it)."""
    if analyser.scope not in ("blob", "tree", "repo"):
        raise ValueError(f"analyser {analyser.name}: unknown scope {analyser.scope!r}")
    REGISTRY[analyser.name] = analyser
    return analyser


def select(names: Iterable[str] | None = None, history: bool = True) -> list[Analyser]:
    """The analysers to run, dependencies included, in a valid order.

    ``names`` None means all; an unknown name is a UsageError. ``history`` False drops the
    history and trends analysers. Order: blob, then tree, then repo analysers, each after its
    needs; ``debt`` is always last because it reads the whole result.
    """
    wanted = list(REGISTRY) if names is None else list(names)
    unknown = [name for name in wanted if name not in REGISTRY]
    if unknown:
        raise UsageError(f"unknown analyser(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(REGISTRY))}")
    if not history:
        wanted = [name for name in wanted if name not in ("history", "trends")]
    ordered: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        for need in REGISTRY[name].needs:
            visit(need)
        ordered.append(name)

    for name in wanted:
        visit(name)
    rank = {"blob": 0, "tree": 1, "repo": 2}
    # Stable sort keeps dependency order inside a scope; needs never point to a later scope.
    ordered.sort(key=lambda name: (rank[REGISTRY[name].scope], name == "debt"))
    return [REGISTRY[name] for name in ordered]


def _call(module: str, function: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(importlib.import_module(module), function)(*args, **kwargs)


def _options(ctx: Any) -> dict[str, Any]:
    # Options of the command (trends mode, pull request export, jobs) when the engine gives them.
    return dict(getattr(ctx, "options", None) or {})


# --- built-in analysers ---------------------------------------------------------------------
# Blob analysers: (path, source, tree) -> JSON-able payload.

def _todos(path: str, source: str, tree: Any) -> Any:
    return _call("harness.analysis.todos", "scan_todos", source)


def _complexity(path: str, source: str, tree: Any) -> Any:
    return _call("harness.analysis.complexity", "module_metrics", source, tree)


def _cognitive(path: str, source: str, tree: Any) -> Any:
    return _call("harness.analysis.cognitive", "cognitive_complexity", tree)


def _classes(path: str, source: str, tree: Any) -> Any:
    return _call("harness.analysis.classes", "class_metrics", tree, source)


def _test_skips(path: str, source: str, tree: Any) -> Any:
    return _call("harness.analysis.test_skips", "backend_skips", path, tree)


def _duplication_prints(path: str, source: str, tree: Any) -> Any:
    return _call("harness.analysis.duplication", "fingerprints", source)


# Tree and repo analysers: (ctx) -> payload; ``ctx`` is the engine's ``Context``.

def _modules(ctx: Any) -> Any:
    return _call("harness.analysis.modules", "module_graph", ctx.trees())


def _duplication(ctx: Any) -> Any:
    # Exact search on the files whose fingerprints meet another's; the same result as on all.
    prints = {path: payload["result"] for path, payload
              in ctx.blob_results.get("duplication_prints", {}).items()
              if payload["result"] is not None}
    return _call("harness.analysis.duplication", "tree_duplication", prints, ctx.sources())


def _hotspots(ctx: Any) -> Any:
    return _call("harness.analysis.solid", "hotspots", ctx.trees(), ctx.classes_by_path(),
                 ctx.module_rows())


def _history(ctx: Any) -> Any:
    result = _call("harness.analysis.history", "mine", ctx.git.root, ctx.commit, ctx.store,
                   ctx.progress, pulls_export=_options(ctx).get("pulls_export"))
    # Churn x complexity: total CC of each file at the analysed revision.
    complexity = {path: payload["result"]["total_cc"]
                  for path, payload in ctx.blob_results.get("complexity", {}).items()
                  if payload["result"] is not None}
    hotspots = _call("harness.analysis.churn", "churn_hotspots", result["churn"], complexity)
    return {**result, "churn_hotspots": hotspots}


def _trends(ctx: Any) -> Any:
    options = _options(ctx)
    return _call("harness.analysis.trends", "trends_section", ctx.git.root, ctx.commit,
                 ctx.store, options.get("trends") or "tags", options.get("jobs") or 0,
                 ctx.progress)


def _coverage(ctx: Any) -> Any:
    return _call("harness.analysis.coverage", "coverage_for_tree", ctx.coverage_file,
                 ctx.sources())


def _debt(ctx: Any) -> Any:
    return _call("harness.analysis.debt", "remediation", ctx.document)


for _analyser in (
    Analyser("todos", "blob", "harness.analysis.todos", _todos, needs_ast=False),
    Analyser("complexity", "blob", "harness.analysis.complexity", _complexity,
             libraries=("radon",)),
    Analyser("cognitive", "blob", "harness.analysis.cognitive", _cognitive),
    Analyser("classes", "blob", "harness.analysis.classes", _classes),
    Analyser("test_skips", "blob", "harness.analysis.test_skips", _test_skips,
             path_dependent=True),
    Analyser("duplication_prints", "blob", "harness.analysis.duplication",
             _duplication_prints, needs_ast=False),
    Analyser("modules", "tree", "harness.analysis.modules", _modules),
    Analyser("duplication", "tree", "harness.analysis.duplication", _duplication,
             needs=("duplication_prints",)),
    Analyser("hotspots", "tree", "harness.analysis.solid", _hotspots,
             needs=("classes", "modules")),
    Analyser("history", "repo", "harness.analysis.history", _history),
    Analyser("trends", "repo", "harness.analysis.trends", _trends),
    Analyser("coverage", "repo", "harness.analysis.coverage", _coverage),
    Analyser("debt", "repo", "harness.analysis.debt", _debt),
):
    register(_analyser)
