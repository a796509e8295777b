"""Coverage of the lines a pull request changed, from a coverage.py data file or Cobertura XML.

Only statements count (coverage.py's own parser for data files, the listed lines for XML);
files the coverage data does not mention are left out. Uncovered changed lines are warnings,
showing where new code runs under no test. Two optional thresholds fail the gate:
``gate_min_coverage`` (percent of the changed statements covered) and
``gate_min_total_coverage`` (percent of every measured statement of the head, as
``coverage report`` totals it). A threshold with no coverage data to check is a warning.
Percentages compare as shown, to one decimal, as ``coverage report --fail-under`` does.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from coverage import CoverageData
from coverage.config import DEFAULT_EXCLUDE
from coverage.exceptions import CoverageException
from coverage.misc import join_regex
from coverage.parser import PythonParser

from harness.analysis.coverage import coverage_for_tree, match_paths
from harness.errors import UsageError
from harness.gate.diff import ChangeSet
from harness.gate.model import FAIL, FINDING_COLUMNS, WARN, Finding, Section
from harness.gate.rules import SourceReader

Lines = dict[str, tuple[set[int], set[int]]]  # path -> (statements, covered statements)
HeadSources = Callable[[], dict[str, str]]  # every Python file of the head: path -> text


def lines_from_data_file(data_file: str, sources: dict[str, str]) -> Lines:
    """Statements and covered statements per path of ``sources`` from a coverage.py file."""
    data = CoverageData(basename=data_file)
    try:
        data.read()
        measured = list(data.measured_files())
    except (CoverageException, sqlite3.DatabaseError) as exc:
        raise UsageError(f"{data_file}: not a coverage.py data file ({exc})") from None
    exclude = join_regex(DEFAULT_EXCLUDE)
    found: Lines = {}
    for name, path in match_paths(measured, sources).items():
        parser = PythonParser(text=sources[path], filename=path, exclude=exclude)
        try:
            parser.parse_source()
        except CoverageException:
            continue  # coverage.py cannot parse it, so it measured nothing there
        executed = parser.translate_lines(data.lines(name) or ())
        found[path] = (set(parser.statements), parser.statements & executed)
    return found


def lines_from_cobertura(xml_file: str, paths: list[str]) -> Lines:
    """Statements and covered statements per path in ``paths`` from a Cobertura report."""
    try:
        root = ET.parse(xml_file).getroot()
    except (ET.ParseError, OSError) as exc:
        raise UsageError(f"{xml_file}: not a Cobertura XML report ({exc})") from None
    by_name: dict[str, tuple[set[int], set[int]]] = {}
    for cls in root.iter("class"):
        name = cls.get("filename")
        if not name:
            continue
        statements, covered = by_name.setdefault(name, (set(), set()))
        for line in cls.iter("line"):
            number = int(line.get("number", "0"))
            statements.add(number)
            if int(line.get("hits", "0")) > 0:
                covered.add(number)
    return {path: by_name[name] for name, path in match_paths(by_name, paths).items()}


def changed_line_coverage(coverage_file: str, changes: ChangeSet, read_source: SourceReader,
                          min_changed: float | None = None, min_total: float | None = None,
                          head_sources: HeadSources | None = None) -> Section:
    """The coverage section: per changed file, the changed statements no test ran; a failing
    finding when coverage is below ``min_changed`` (changed statements) or ``min_total``
    (every measured statement of ``head_sources()``, needed for it); a section warning when a
    threshold is set but there is no coverage data."""
    section = Section("coverage", "Coverage of changed lines", FINDING_COLUMNS)
    thresholds = [name for name, value in (("gate_min_coverage", min_changed),
                                           ("gate_min_total_coverage", min_total))
                  if value is not None]
    if not coverage_file or not Path(coverage_file).is_file():
        section.note = (f"coverage file {coverage_file} not found: not checked" if coverage_file
                        else "no coverage file configured (coverage_file): not checked")
        if thresholds:
            section.warnings.append(f"{' and '.join(thresholds)} set, but there is no coverage "
                                    "data: the threshold is not applied")
        return section
    sources = {path: text for path in changes.files if path.endswith(".py")
               if (text := read_source(path)) is not None}
    if Path(coverage_file).read_bytes()[:16].startswith(b"SQLite format 3"):
        measured = lines_from_data_file(coverage_file, sources)
    else:
        measured = lines_from_cobertura(coverage_file, sorted(sources))
    total = covered_total = 0
    for path, (statements, covered) in sorted(measured.items()):
        changed = statements & changes.files[path].added
        missed = sorted(changed - covered)
        total, covered_total = total + len(changed), covered_total + len(changed) - len(missed)
        if missed:
            section.rows.append(Finding(
                WARN, "not covered", path, missed[0], None,
                f"{len(missed)} of {len(changed)} changed statements not run by the tests: "
                f"lines {line_ranges(missed)}"))
    percent = f"{100.0 * covered_total / total:.1f}%" if total else "no changed statements"
    section.note = (f"changed statements covered: {percent} ({covered_total} of {total}) "
                    f"from {coverage_file}")
    if min_changed is not None and total:
        _check_minimum(section, "changed statements", covered_total, total, min_changed,
                       "gate_min_coverage")
    elif min_changed is not None and sources and not measured:
        section.warnings.append(f"{coverage_file} measures none of the changed Python files: "
                                "gate_min_coverage is not applied")
    if min_total is not None:
        if head_sources is None:
            raise ValueError("min_total needs head_sources, the head's Python files")
        tree = coverage_for_tree(coverage_file, head_sources())
        if tree["statements"]:
            share = tree["covered"] / tree["statements"]
            section.note += (f"; all measured statements: {share:.1%} "
                             f"({tree['covered']} of {tree['statements']})")
            _check_minimum(section, "all measured statements", tree["covered"],
                           tree["statements"], min_total, "gate_min_total_coverage")
        else:
            section.warnings.append(f"{coverage_file} measures none of the head's files: "
                                    "gate_min_total_coverage is not applied")
    return section


def below_minimum(covered: int, statements: int, minimum: float) -> bool:
    """Whether ``covered`` of ``statements`` is below ``minimum`` percent, compared at the one
    decimal the gate shows (100 needs every statement)."""
    exact = 100.0 * covered / statements
    shown = round(exact, 1)
    return shown < minimum or (minimum >= 100.0 and covered < statements)


def _check_minimum(section: Section, what: str, covered: int, statements: int, minimum: float,
                   setting: str) -> None:
    if below_minimum(covered, statements, minimum):
        section.rows.insert(0, Finding(
            FAIL, "coverage below minimum", None, None, None,
            f"{what} covered: {100.0 * covered / statements:.1f}% ({covered} of {statements}), "
            f"below {setting} = {minimum:g}%"))


def line_ranges(lines: list[int]) -> str:
    """Sorted line numbers as ranges: [1, 2, 3, 7] -> '1-3, 7'."""
    parts: list[str] = []
    start = previous = lines[0]
    for line in [*lines[1:], None]:
        if line is not None and line == previous + 1:
            previous = line
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if line is not None:
            start = previous = line
    return ", ".join(parts)
