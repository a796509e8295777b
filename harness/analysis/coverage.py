"""Test coverage of the analysed revision from a coverage.py data file or a Cobertura XML.

Measured file names (absolute paths of the machine that ran the tests) are matched to the
tree's paths by their longest common suffix. For a coverage.py data file the statements come
from coverage.py's own static parser run on the revision's source, with coverage.py's default
exclusions, so percentages equal ``coverage report``'s line coverage. A component is the
top-level subpackage of a file (``pkg.sub`` for ``pkg/sub/x.py``, ``pkg`` for ``pkg/x.py``).
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from coverage import CoverageData
from coverage.config import DEFAULT_EXCLUDE
from coverage.exceptions import CoverageException
from coverage.misc import join_regex
from coverage.parser import PythonParser

from harness.analysis.sources import is_test_path
from harness.errors import UsageError

LineCounts = dict[str, tuple[int, int]]  # path -> (statements, covered statements)


def component_of(path: str) -> str:
    """The component of a repo-relative path: its top-level subpackage, or ``(top level)``."""
    parts = path.split("/")
    if parts[0] == "src" and len(parts) > 1:
        parts = parts[1:]
    if len(parts) >= 3:
        return f"{parts[0]}.{parts[1]}"
    return parts[0] if len(parts) == 2 else "(top level)"


def match_paths(measured: Iterable[str], tree_paths: Iterable[str]) -> dict[str, str]:
    """``{measured name: tree path}`` by the longest path suffix the two share."""
    known = set(tree_paths)
    matched = {}
    for name in measured:
        parts = name.replace("\\", "/").split("/")
        for start in range(len(parts)):
            candidate = "/".join(parts[start:])
            if candidate in known:
                matched[name] = candidate
                break
    return matched


def counts_from_data_file(data_file: str, sources: dict[str, str]) -> tuple[LineCounts, list[str]]:
    """Statement counts per tree path from a coverage.py data file; also unmatched names."""
    data = CoverageData(basename=data_file)
    try:
        data.read()
        measured = list(data.measured_files())
    except (CoverageException, sqlite3.DatabaseError) as exc:
        raise UsageError(f"{data_file}: not a coverage.py data file ({exc})") from None
    matched = match_paths(measured, sources)
    exclude = join_regex(DEFAULT_EXCLUDE)
    counts: LineCounts = {}
    for name, path in matched.items():
        parser = PythonParser(text=sources[path], filename=path, exclude=exclude)
        try:
            parser.parse_source()
        except CoverageException:
            continue  # not Python coverage.py can parse: the engine lists it as skipped
        executed = parser.translate_lines(data.lines(name) or ())
        counts[path] = (len(parser.statements), len(parser.statements & executed))
    return counts, sorted(set(measured) - set(matched))


def counts_from_cobertura(xml_file: str, tree_paths: Iterable[str]) -> tuple[LineCounts, list[str]]:
    """Statement counts per tree path from a Cobertura XML report; also unmatched names."""
    try:
        root = ET.parse(xml_file).getroot()
    except (ET.ParseError, OSError) as exc:
        raise UsageError(f"{xml_file}: not a Cobertura XML report ({exc})") from None
    lines: dict[str, dict[int, bool]] = {}
    for cls in root.iter("class"):
        name = cls.get("filename")
        if not name:
            continue
        seen = lines.setdefault(name, {})
        for line in cls.iter("line"):
            number = int(line.get("number", "0"))
            seen[number] = seen.get(number, False) or int(line.get("hits", "0")) > 0
    matched = match_paths(lines, tree_paths)
    counts = {path: (len(lines[name]), sum(lines[name].values()))
              for name, path in matched.items()}
    return counts, sorted(set(lines) - set(matched))


def _percent(statements: int, covered: int) -> float:
    return round(100.0 * covered / statements, 2) if statements else 100.0


def coverage_for_tree(coverage_file: str, sources: dict[str, str]) -> dict:
    """Coverage of the tree whose Python ``sources`` are given, from ``coverage_file``.

    Returns ``{"percent", "by_component": {name: percent}, "by_file": {path: percent},
    "untested": [components with no covered statement], "statements", "covered", "format",
    "unmatched": [measured names not in the tree]}``. Components of non-test files that were
    not measured at all count as 0%.
    """
    head = Path(coverage_file).read_bytes()[:64]
    if head.startswith(b"SQLite format 3"):
        counts, unmatched = counts_from_data_file(coverage_file, sources)
        kind = "coverage.py"
    elif head.lstrip().startswith(b"<"):
        counts, unmatched = counts_from_cobertura(coverage_file, sources)
        kind = "cobertura"
    else:
        raise UsageError(f"{coverage_file}: neither a coverage.py data file nor Cobertura XML")
    by_component: dict[str, list[int]] = {}
    for path, (statements, covered) in counts.items():
        totals = by_component.setdefault(component_of(path), [0, 0])
        totals[0] += statements
        totals[1] += covered
    for path in sources:
        if not is_test_path(path):
            by_component.setdefault(component_of(path), [0, 0])
    statements = sum(s for s, _ in counts.values())
    covered = sum(c for _, c in counts.values())
    return {
        "percent": _percent(statements, covered),
        "by_component": {name: _percent(*t) if t[0] else 0.0
                         for name, t in sorted(by_component.items())},
        "by_file": {path: _percent(*counts[path]) for path in sorted(counts)},
        "untested": sorted(name for name, (_, c) in by_component.items() if c == 0),
        "statements": statements,
        "covered": covered,
        "format": kind,
        "unmatched": unmatched,
    }
