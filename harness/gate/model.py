"""Plain data of a gate verdict: findings grouped in sections, one section per rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

FAIL, WARN, GOOD = "fail", "warn", "good"  # a finding's level; only FAIL fails the gate


class Row(Protocol):
    """Anything a section lists: a level, what happened, and table cells."""

    @property
    def level(self) -> str: ...

    @property
    def kind(self) -> str: ...

    def cells(self) -> list[str]: ...


@dataclass(frozen=True)
class Finding:
    """One quality finding: ``kind`` says what (``complex``, ``new TODO``...), ``level`` how
    bad; ``path``/``line`` in the head (None for repository-wide findings)."""

    level: str
    kind: str
    path: str | None
    line: int | None
    symbol: str | None
    evidence: str

    @property
    def where(self) -> str:
        """``path:line``, ``path`` or ``(repository)``."""
        if self.path is None:
            return "(repository)"
        return self.path if self.line is None else f"{self.path}:{self.line}"

    def cells(self) -> list[str]:
        return [self.where, self.symbol or "", self.evidence]


FINDING_COLUMNS = ("where", "symbol", "evidence")


@dataclass
class Section:
    """The findings of one rule, the table columns that show them, a short ``note`` and
    ``warnings`` that concern the whole section (missing data, a fallback taken), not a row."""

    rule: str
    title: str
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)
    note: str = ""
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when any finding fails the gate."""
        return any(row.level == FAIL for row in self.rows)

    def count(self, level: str) -> int:
        """Number of findings at ``level`` (section warnings count as WARN findings)."""
        extra = len(self.warnings) if level == WARN else 0
        return extra + sum(1 for row in self.rows if row.level == level)


@dataclass
class Verdict:
    """The gate's answer: what was compared (``context`` lines) and the sections."""

    sections: list[Section]
    context: list[str]

    @property
    def passed(self) -> bool:
        """True when no section has a failing finding."""
        return not any(section.failed for section in self.sections)
