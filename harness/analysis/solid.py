"""SOLID hotspots: rules over the ASTs, class metrics and module metrics of a repository.

Each hotspot is ``{"kind", "principle", "path", "symbol", "line", "score", "evidence"}``;
a larger score is worse. The rules and their scores:

- ``god-class`` (SRP): a class with ``god_class`` true in its class metrics (WMC >= 47,
  TCC < 1/3, ATFD > 5). score = WMC; evidence ``wmc``, ``tcc``, ``atfd``, ``lcom4``.
  Test code (``sources.is_test_path``) is left out of this rule and of ``fat-interface``: a
  test class grouping many independent tests is not a design responsibility.
- ``type-switch`` (OCP): an ``if``/``elif`` chain whose branches test one subject's type --
  ``isinstance(x, T)``, ``type(x) is T``, ``type(x) == T``, ``x.__class__ is T``,
  ``x.__class__.__name__ == "T"`` -- in at least 4 branches, or compare one variable whose
  name suggests a kind (``kind``, ``type``, ``backend``, ``dtype``, ``format``, ``cls``...) to
  at least 4 string constants over at least 2 branches; a ``match`` with at least 4 class
  patterns, or 4 string cases on such a variable, counts the same. Dispatch dictionaries are
  not flagged. score = number of branches; evidence ``subject``, ``types``, ``branches``.
- ``refused-bequest`` (LSP): a method overriding a method of a base class defined in the
  repository that only raises ``NotImplementedError`` (where the base's does not), score 2; or
  that narrows the signature -- fewer positional parameters (without ``*args``) or base
  parameter names missing (without ``**kwargs``), score 1 + parameters lost. Constructors are
  exempt. evidence ``base``, ``base_path``, ``reason``, ``removed``.
- ``fat-interface`` (ISP): a module with at least 10 public functions, or a class with at
  least 10 public methods, used by at least 2 other modules that use on average at most 1/3 of
  them. Module usage: names from ``from m import a``, and ``m.a`` attribute uses after
  ``import m``; class usage: attribute names equal to the class's public methods in each
  module that imports the class. score = public members x (1 - mean used fraction);
  evidence ``public``, ``users`` (module -> fraction), ``mean_fraction``.
- ``unstable-dependency`` (DIP, Martin's Stable Dependencies Principle): module A imports
  module B with I_B > I_A + 0.3. score = I_B - I_A; evidence ``module``, ``depends_on``,
  ``instability``, ``dependency_instability``.
"""

from __future__ import annotations

import ast
from collections import defaultdict

from harness.analysis.classes import class_methods, iter_classes
from harness.analysis.modules import import_targets, module_index
from harness.analysis.sources import is_test_path
from harness.analysis.type_switch import dotted, type_switches

_Function = ast.FunctionDef | ast.AsyncFunctionDef
SDP_MARGIN = 0.3
FAT_MIN_PUBLIC = 10
FAT_MAX_FRACTION = 1 / 3
_CONSTRUCTORS = {"__init__", "__new__", "__init_subclass__", "__post_init__", "__class_getitem__"}


def hotspots(
    trees: dict[str, ast.Module], classes: dict[str, list[dict]], modules: list[dict]
) -> list[dict]:
    """Apply every SOLID rule; ``classes`` maps path -> class_metrics rows, ``modules`` is
    module_graph's ``modules``. Returns hotspot rows, worst first."""
    index = module_index(trees)
    imports = {path: import_targets(path, tree, index) for path, tree in trees.items()}
    rows = _god_classes(classes)
    for path, tree in sorted(trees.items()):
        rows += [_row("type-switch", "OCP", path, **found) for found in type_switches(tree)]
    rows += _refused_bequests(trees, index, imports)
    rows += _fat_interfaces(trees, index, imports)
    rows += _unstable_dependencies(modules, imports)
    rows.sort(key=lambda row: (-row["score"], row["path"], row["line"], row["kind"]))
    return rows


def _row(
    kind: str, principle: str, path: str, symbol: str, line: int, score: float, evidence: dict
) -> dict:
    return {
        "kind": kind,
        "principle": principle,
        "path": path,
        "symbol": symbol,
        "line": line,
        "score": float(score),
        "evidence": evidence,
    }


def _god_classes(classes: dict[str, list[dict]]) -> list[dict]:
    return [
        _row(
            "god-class",
            "SRP",
            path,
            row["name"],
            row["lineno"],
            row["wmc"],
            {key: row[key] for key in ("wmc", "tcc", "atfd", "lcom4")},
        )
        for path, rows in sorted(classes.items())
        if not is_test_path(path)
        for row in rows
        if row["god_class"]
    ]


# -- LSP ---------------------------------------------------------------------------------
def _refused_bequests(trees, index, imports) -> list[dict]:
    by_path: dict[str, dict[str, ast.ClassDef]] = {}
    by_name: dict[str, list[tuple[str, str, ast.ClassDef]]] = defaultdict(list)
    for path, tree in trees.items():
        by_path[path] = dict(iter_classes(tree))
        for qualname, node in by_path[path].items():
            by_name[node.name].append((path, qualname, node))
    resolver = _BaseResolver(by_path, by_name, index, imports)
    rows = []
    for path in sorted(by_path):
        for qualname, node in by_path[path].items():
            for method in class_methods(node):
                if method.name in _CONSTRUCTORS:
                    continue
                found = resolver.overridden(path, node, method.name)
                if found is None:
                    continue
                base_path, base_name, base_method = found
                verdict = _refusal(method, base_method)
                if verdict is None:
                    continue
                score, evidence = verdict
                evidence.update(base=base_name, base_path=base_path)
                rows.append(
                    _row(
                        "refused-bequest",
                        "LSP",
                        path,
                        f"{qualname}.{method.name}",
                        method.lineno,
                        score,
                        evidence,
                    )
                )
    return rows


class _BaseResolver:
    """Finds the repository class a base expression names, and the method it overrides."""

    def __init__(self, by_path, by_name, index, imports) -> None:
        self.by_path, self.by_name, self.index, self.imports = by_path, by_name, index, imports

    def resolve(self, path: str, base: ast.expr) -> tuple[str, str, ast.ClassDef] | None:
        dotted = ast.unparse(base)
        head, _, rest = dotted.partition(".")
        for _line, module, name, bound in self.imports.get(path, ()):
            if bound != head:
                continue
            target = self.index[module]
            wanted = rest if name is None else ".".join(filter(None, [name, rest]))
            if wanted in self.by_path.get(target, {}):
                return target, wanted, self.by_path[target][wanted]
        if dotted in self.by_path.get(path, {}):
            return path, dotted, self.by_path[path][dotted]
        candidates = self.by_name.get(dotted.rpartition(".")[2], [])
        return candidates[0] if len(candidates) == 1 else None

    def overridden(self, path: str, node: ast.ClassDef, name: str):
        """Nearest base-class method named ``name``: (path, class qualname, FunctionDef)."""
        queue = [(path, base) for base in node.bases]
        seen: set[int] = {id(node)}
        while queue:
            where, base = queue.pop(0)
            found = self.resolve(where, base)
            if found is None or id(found[2]) in seen:
                continue
            seen.add(id(found[2]))
            base_path, base_name, base_node = found
            for method in class_methods(base_node):
                if method.name == name:
                    return base_path, base_name, method
            queue.extend((base_path, grand) for grand in base_node.bases)
        return None


def _only_raises_not_implemented(func: _Function) -> bool:
    body = [
        stmt
        for stmt in func.body
        if not (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
    ]
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc.func if isinstance(body[0].exc, ast.Call) else body[0].exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def _is_abstract_method(func: _Function) -> bool:
    return any(
        ast.unparse(d).rpartition(".")[2].startswith("abstract") for d in func.decorator_list
    )


def _params(func: _Function) -> tuple[list[str], list[str]]:
    """(positional parameter names without self/cls, keyword-usable names) of a method."""
    args = func.args
    static = any(ast.unparse(d) == "staticmethod" for d in func.decorator_list)
    positional = [a.arg for a in args.posonlyargs + args.args]
    if not static and positional:
        positional = positional[1:]
    keyword = [a.arg for a in args.args if a.arg in positional] + [a.arg for a in args.kwonlyargs]
    return positional, keyword


def _refusal(method: _Function, base: _Function) -> tuple[float, dict] | None:
    if _only_raises_not_implemented(method):
        if _only_raises_not_implemented(base) or _is_abstract_method(base):
            return None
        return 2.0, {"reason": "raises NotImplementedError", "removed": []}
    base_pos, base_kw = _params(base)
    sub_pos, sub_kw = _params(method)
    lost_positional = 0 if method.args.vararg else max(0, len(base_pos) - len(sub_pos))
    removed = [] if method.args.kwarg else [name for name in base_kw if name not in sub_kw]
    if not lost_positional and not removed:
        return None
    return 1.0 + max(lost_positional, len(removed)), {
        "reason": "narrows signature",
        "removed": removed,
    }


# -- ISP ---------------------------------------------------------------------------------
def _attribute_uses(tree: ast.Module) -> dict[str, set[str]]:
    """Map the dotted text of an attribute's object -> attribute names used on it ("" for an
    object that is not a dotted name, such as ``f().attr``)."""
    uses: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            uses[dotted(node.value)].add(node.attr)
    return uses


def _fat_interfaces(trees, index, imports) -> list[dict]:
    uses = {path: _attribute_uses(tree) for path, tree in trees.items()}
    attribute_names = {path: set().union(*found.values()) for path, found in uses.items()}
    importers: dict[tuple[str, str], set[str]] = defaultdict(set)  # (module, name) -> users
    for user, user_path in index.items():
        for _line, target, name, _bound in imports[user_path]:
            if name is not None and target != user:
                importers[(target, name)].add(user)
    rows = []
    for module, path in sorted(index.items()):
        if is_test_path(path):
            continue
        rows += _fat_module(module, path, trees[path], index, imports, uses)
        rows += _fat_classes(module, path, trees[path], index, importers, attribute_names)
    return rows


def _fat_module(module, path, tree, index, imports, uses) -> list[dict]:
    """The module itself as an interface: its public functions and who uses which."""
    public = {node.name for node in tree.body
              if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
              and not node.name.startswith("_")}
    if len(public) < FAT_MIN_PUBLIC:
        return []
    fractions = {}
    for user, user_path in index.items():
        used = _module_names_used(module, imports[user_path], uses[user_path])
        if user != module and used is not None and used & public:
            fractions[user] = len(used & public) / len(public)
    return _fat_row(path, module, 1, len(public), fractions)


def _fat_classes(module, path, tree, index, importers, attribute_names) -> list[dict]:
    """Each class with many public methods as an interface of the modules importing it."""
    rows = []
    for qualname, node in iter_classes(tree):
        methods = {m.name for m in class_methods(node) if not m.name.startswith("_")}
        if len(methods) < FAT_MIN_PUBLIC:
            continue
        fractions = {}
        for user in importers.get((module, qualname), ()):
            used = attribute_names[index[user]] & methods
            if used:
                fractions[user] = len(used) / len(methods)
        rows += _fat_row(path, qualname, node.lineno, len(methods), fractions)
    return rows


def _module_names_used(module: str, targets: list[tuple], uses: dict[str, set[str]]):
    """Names of ``module`` a user module uses; None for a star import (usage unknown)."""
    used: set[str] = set()
    for _line, target, name, bound in targets:
        if target != module:
            continue
        if name is not None:
            used.add(name)
        elif bound is not None:
            used |= uses.get(bound, set())
        else:
            used |= uses.get(module, set())
    star = any(
        target == module and name is None and bound == "*" for _l, target, name, bound in targets
    )
    return None if star else used


def _fat_row(path: str, symbol: str, line: int, public: int, fractions: dict) -> list[dict]:
    if len(fractions) < 2:
        return []
    mean = sum(fractions.values()) / len(fractions)
    if mean > FAT_MAX_FRACTION:
        return []
    evidence = {"public": public, "users": dict(sorted(fractions.items())), "mean_fraction": mean}
    return [_row("fat-interface", "ISP", path, symbol, line, public * (1 - mean), evidence)]


# -- DIP ---------------------------------------------------------------------------------
def _unstable_dependencies(modules: list[dict], imports: dict[str, list[tuple]]) -> list[dict]:
    instability = {row["module"]: row["instability"] for row in modules}
    rows = []
    for row in modules:
        mine = row["instability"]
        lines: dict[str, int] = {}  # first line importing each module
        for line, target, _name, _bound in imports.get(row["path"], ()):
            lines[target] = min(lines.get(target, line), line)
        for target in row["imports"]:
            theirs = instability.get(target)
            if theirs is None or theirs <= mine + SDP_MARGIN:
                continue
            evidence = {
                "module": row["module"],
                "depends_on": target,
                "instability": mine,
                "dependency_instability": theirs,
            }
            rows.append(
                _row(
                    "unstable-dependency",
                    "DIP",
                    row["path"],
                    f"{row['module']} -> {target}",
                    lines.get(target, 1),
                    theirs - mine,
                    evidence,
                )
            )
    return rows
