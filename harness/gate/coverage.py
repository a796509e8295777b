"""Coverage of the lines a pull request changed, from a coverage.py data file or Cobertura XML.

Only statements count (coverage.py's own parser for data files, the listed lines for XML);
files the coverage data does not mention are left out. The findings are warnings: the gate
has no coverage threshold, it shows where new code runs under no test.
"""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

from coverage import CoverageData
from coverage.config import DEFAULT_EXCLUDE
from coverage.exceptions import CoverageException
from coverage.misc import join_regex
from coverage.parser import PythonParser

from harness.analysis.coverage import match_paths
from harness.errors import UsageError
from harness.gate.diff import ChangeSet
from harness.gate.model import FINDING_COLUMNS, WARN, Finding, Section
from harness.gate.rules import SourceReader

Lines = dict[str, tuple[set[int], set[int]]]  # path -> (statements, covered statements)


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


def changed_line_coverage(coverage_file: str, changes: ChangeSet,
                          read_source: SourceReader) -> Section:
    """The coverage section: per changed file, the changed statements no test ran."""
    section = Section("coverage", "Coverage of changed lines", FINDING_COLUMNS)
    if not Path(coverage_file).is_file():
        section.note = f"coverage file {coverage_file} not found: not checked"
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
    return section


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
