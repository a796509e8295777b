"""The gate's verdict as GitHub-flavoured Markdown: heading, summary table, one section per
rule. Text from the repository or the results is escaped so it cannot break a table."""

from __future__ import annotations

import re

from harness.gate.model import FAIL, GOOD, WARN, Section, Verdict

ICONS = {FAIL: "❌", WARN: "⚠️", GOOD: "✅"}
# Columns shown as code spans (names and paths); the others are escaped text.
CODE_COLUMNS = frozenset({"where", "symbol", "case", "check", "backend", "library", "dtype",
                          "device"})
_NEWLINES = re.compile(r"\r\n|\r|\n")
_SPECIAL = re.compile(r"([\\`*_\[\]<|~])")


def text(value: object) -> str:
    """``value`` as table-safe Markdown text: one line, Markdown punctuation escaped."""
    return _SPECIAL.sub(r"\\\1", _NEWLINES.sub(" ", str(value)))


def code(value: object) -> str:
    """``value`` as a table-safe code span (empty string for empty values)."""
    body = _NEWLINES.sub(" ", str(value)).replace("|", "\\|")
    if not body:
        return ""
    runs = [len(run) for run in re.findall(r"`+", body)]
    fence = "`" * (max(runs, default=0) + 1)
    if body.startswith("`") or body.endswith("`"):
        body = f" {body} "
    return f"{fence}{body}{fence}"


def _status(section: Section) -> str:
    if section.failed:
        return f"{ICONS[FAIL]} fail"
    return f"{ICONS[WARN]} pass with warnings" if section.count(WARN) else f"{ICONS[GOOD]} pass"


def summary_table(sections: list[Section]) -> list[str]:
    """The summary: one row per rule with its result and counts per level."""
    lines = ["| rule | result | failing | warnings | good news |", "|---|---|---:|---:|---:|"]
    for s in sections:
        lines.append(f"| {text(s.title)} | {_status(s)} | {s.count(FAIL)} | {s.count(WARN)} "
                     f"| {s.count(GOOD)} |")
    return lines


def section_lines(section: Section) -> list[str]:
    """A section: heading with its status, the note, its warnings, then its findings as a
    table."""
    lines = [f"## {ICONS[FAIL] if section.failed else ICONS[GOOD]} {text(section.title)}", ""]
    if section.note:
        lines += [text(section.note), ""]
    for warning in section.warnings:
        lines += [f"{ICONS[WARN]} {text(warning)}", ""]
    if not section.rows:
        return lines + ["No findings.", ""]
    lines.append("| | what | " + " | ".join(section.columns) + " |")
    lines.append("|---|---|" + "---|" * len(section.columns))
    for row in section.rows:
        cells = [code(cell) if column in CODE_COLUMNS else text(cell)
                 for column, cell in zip(section.columns, row.cells(), strict=True)]
        lines.append(f"| {ICONS[row.level]} | {text(row.kind)} | " + " | ".join(cells) + " |")
    return lines + [""]


def render(verdict: Verdict) -> str:
    """The whole verdict as Markdown (ends with a newline)."""
    heading = f"# {ICONS[GOOD]} Gate: pass" if verdict.passed else f"# {ICONS[FAIL]} Gate: fail"
    lines = [heading, ""]
    for line in verdict.context:
        lines += [line, ""]
    lines += summary_table(verdict.sections) + [""]
    for section in verdict.sections:
        lines += section_lines(section)
    return "\n".join(lines).rstrip("\n") + "\n"
