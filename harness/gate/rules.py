"""Quality rules on new code: each compares the head's analysis document with the base's and
looks only at what the diff added or changed.

- complexity: a function whose lines changed and whose cc or cognitive complexity is over
  the limit fails, unless the base version was at least as complex ("still complex");
- TODOs: a TODO/FIXME/XXX/HACK comment on an added line, not moved from base, fails without
  a linked issue;
- design: a god class or SOLID hotspot whose (kind, path, symbol) the base does not have;
- import cycles: a cycle that is not contained in a cycle of the base;
- debt: a debt rating worse than the base's.
"""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from harness.analysis.modules import module_index, resolve_imports
from harness.gate.diff import ChangeSet
from harness.gate.model import FAIL, FINDING_COLUMNS, GOOD, WARN, Finding, Section

Document = dict[str, Any]
SourceReader = Callable[[str], "str | None"]  # head path -> file text, None when unreadable
_EVIDENCE_CHARS = 160


def complexity_section(base: Document, head: Document, changes: ChangeSet, max_cc: int,
                       max_cognitive: int) -> Section:
    """Functions added or changed in head that are over ``max_cc`` or ``max_cognitive``."""
    section = Section("complexity", "Complexity of new and changed functions", FINDING_COLUMNS)
    before: dict[tuple[str, str], dict[str, int]] = {}
    for fn in base.get("functions") or []:
        worst = before.setdefault((fn["path"], fn["qualname"]), {"cc": 0, "cognitive": 0})
        worst["cc"] = max(worst["cc"], fn["cc"])
        worst["cognitive"] = max(worst["cognitive"], fn.get("cognitive") or 0)
    limits = {"cc": max_cc, "cognitive": max_cognitive}
    touched = 0
    for fn in head.get("functions") or []:
        if not changes.touches(fn["path"], fn["lineno"], fn["endline"]):
            continue
        touched += 1
        now = {"cc": fn["cc"], "cognitive": fn.get("cognitive") or 0}
        over = [metric for metric in limits if now[metric] > limits[metric]]
        if not over:
            continue
        was = before.get((changes.base_path(fn["path"]), fn["qualname"]))
        evidence = ", ".join(f"{m} {now[m]} > {limits[m]}" for m in over)
        if was is not None:
            evidence += f" (base: cc {was['cc']}, cognitive {was['cognitive']})"
        still = was is not None and all(was[m] >= now[m] for m in over)
        kind = "still complex" if still else ("more complex" if was else "complex")
        section.rows.append(Finding(WARN if still else FAIL, kind, fn["path"], fn["lineno"],
                                    fn["qualname"], evidence))
    section.note = (f"{touched} functions added or changed; limits cc {max_cc}, "
                    f"cognitive {max_cognitive}")
    return section


def todo_section(base: Document, head: Document, changes: ChangeSet,
                 needs_issue: bool) -> Section:
    """TODO/FIXME/XXX/HACK comments added in head; without an issue they fail when
    ``needs_issue``."""
    section = Section("todos", "New TODO comments", FINDING_COLUMNS)
    moved = Counter((todo["path"], todo["text"]) for todo in base.get("todos") or [])
    for todo in head.get("todos") or []:
        if not changes.added(todo["path"], todo["line"]):
            continue
        key = (changes.base_path(todo["path"]), todo["text"])
        if moved[key] > 0:  # the same comment existed at base: moved or re-indented
            moved[key] -= 1
            continue
        if todo.get("issue"):
            row = Finding(GOOD, "linked", todo["path"], todo["line"], todo["marker"],
                          f"issue {todo['issue']}: {todo['text']}")
        else:
            row = Finding(FAIL if needs_issue else WARN, "no issue", todo["path"], todo["line"],
                          todo["marker"], todo["text"])
        section.rows.append(row)
    section.note = ("a new marker needs a linked issue (#123, GH-123 or an issues URL)"
                    if needs_issue else "linked issues are not required")
    return section


def design_section(base: Document, head: Document, changes: ChangeSet) -> Section:
    """God classes and SOLID hotspots whose (kind, path, symbol) is new in head."""
    section = Section("design", "New god classes and SOLID hotspots", FINDING_COLUMNS)
    remaining = Counter((h["kind"], h["path"], h["symbol"]) for h in base.get("hotspots") or [])
    spots = head.get("hotspots") or []
    # Rows off the diff use up the base's occurrences first, so the ones reported are new.
    spots = sorted(spots, key=lambda h: changes.touches(h["path"], h.get("line") or 0,
                                                         h.get("line") or 0))
    found: list[Finding] = []
    for spot in spots:
        key = (spot["kind"], changes.base_path(spot["path"]), spot["symbol"])
        if remaining[key] > 0:
            remaining[key] -= 1
            continue
        principle = f"{spot['principle']} " if spot.get("principle") else ""
        found.append(Finding(
            FAIL, spot["kind"], spot["path"], spot.get("line"), spot["symbol"],
            f"{principle}score {spot['score']:g}; {_compact(spot.get('evidence'))}"))
    found.sort(key=lambda f: (f.path or "", f.line or 0))
    section.rows.extend(found)
    return section


def cycle_section(base: Document, head: Document, changes: ChangeSet,
                  read_source: SourceReader) -> Section:
    """Import cycles of head that no base cycle contains, located at an import on the diff.

    ``read_source(path)`` returns the head's text of a file (None when unreadable).
    """
    section = Section("cycles", "New import cycles", FINDING_COLUMNS)
    known = [set(cycle) for cycle in base.get("cycles") or []]
    paths = [row["path"] for row in head.get("modules") or []]
    index = module_index(paths)
    for cycle in head.get("cycles") or []:
        if any(set(cycle) <= old for old in known):
            continue
        joined = sorted(set(cycle) - set().union(*known)) if known else list(cycle)
        module, path, line, target = _closing_import(cycle, index, changes, read_source)
        evidence = f"cycle {' ↔ '.join(cycle)}"
        if joined != list(cycle):
            evidence += f"; new in a cycle: {', '.join(joined)}"
        if target:
            evidence += f"; imports {target} here"
        section.rows.append(Finding(FAIL, "import cycle", path, line, module, evidence))
    return section


def _closing_import(cycle: list[str], index: dict[str, str], changes: ChangeSet,
                    read_source: SourceReader) -> tuple[str, str | None, int | None, str | None]:
    """The import between cycle members that the diff added (else the first one found):
    ``(module, path, line, imported module)``."""
    members = set(cycle)
    edges: list[tuple[str, str | None, int | None, str | None]] = []
    for module in cycle:
        path = index.get(module)
        source = read_source(path) if path else None
        if path is None or source is None:
            continue
        try:
            tree = ast.parse(source, filename=path)
        except (SyntaxError, ValueError, RecursionError):
            continue
        edges += [(module, path, line, target) for target, line in
                  sorted(resolve_imports(path, tree, index).items()) if target in members]
    if not edges:
        return (cycle[0], index.get(cycle[0]), None, None)
    added = [e for e in edges if e[1] is not None and e[2] is not None
             and changes.added(e[1], e[2])]
    return (added or edges)[0]


def debt_section(base: Document, head: Document) -> Section:
    """A finding when the head's debt rating (A-E) is worse than the base's."""
    section = Section("debt", "Technical debt rating", FINDING_COLUMNS)
    was, now = base.get("debt") or {}, head.get("debt") or {}
    if not was.get("rating") or not now.get("rating"):
        section.note = "no debt rating to compare"
        return section
    evidence = (f"rating {was['rating']} → {now['rating']}, debt {was.get('days', 0):g} → "
                f"{now.get('days', 0):g} days")
    section.note = evidence
    if now["rating"] > was["rating"]:  # letters: A best, E worst
        section.rows.append(Finding(FAIL, "worse rating", None, None, None, evidence))
    return section


def _compact(evidence: Any) -> str:
    """Evidence as short text: ``key=value`` pairs, floats to 3 significant digits, nested
    values as compact JSON."""
    if not isinstance(evidence, dict):
        return "" if evidence is None else str(_rounded(evidence))
    parts: Iterable[str] = (
        f"{key}={value}" if isinstance(value, (str, int)) else
        f"{key}={json.dumps(_rounded(value), default=str)}"
        for key, value in evidence.items())
    text = ", ".join(parts)
    return text if len(text) <= _EVIDENCE_CHARS else text[:_EVIDENCE_CHARS - 1] + "…"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.3g}")
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(item) for item in value]
    return value
