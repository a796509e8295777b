"""Churn per file following renames, change coupling, and churn × complexity hotspots.

Files are tracked as lineages: a rename (``R`` in ``git log --raw``) keeps the file's id, so
its history, authors and couplings move with it to the new path.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

# (status, path, old_path, added, deleted); added/deleted None for binary files
Change = tuple[str, str, str | None, int | None, int | None]


class Lineage:
    """Maps paths to file ids across renames, in the order changes are fed."""

    def __init__(self) -> None:
        self.id_of: dict[str, int] = {}     # latest path -> file id
        self.moved: dict[str, int] = {}     # path renamed away -> file id (late edits follow)
        self.path_of: list[str] = []

    def _new(self, path: str) -> int:
        self.path_of.append(path)
        self.id_of[path] = len(self.path_of) - 1
        self.moved.pop(path, None)
        return self.id_of[path]

    def touch(self, status: str, path: str, old_path: str | None) -> tuple[int, bool]:
        """File id of one change (status A/M/D/R/C/T); returns (id, created now)."""
        if status == "R" and old_path is not None:
            fid = self.id_of.pop(old_path, None)
            if fid is None:
                fid = self.moved.get(old_path)
            if fid is None:
                return self._new(path), True
            self.moved[old_path] = fid
            self.moved.pop(path, None)
            self.id_of[path] = fid
            self.path_of[fid] = path
            return fid, False
        if status in ("A", "C"):
            if status == "A" and path in self.id_of:
                return self.id_of[path], False  # added again after a delete, or on two branches
            return self._new(path), True
        fid = self.id_of.get(path)
        if fid is None:
            fid = self.moved.get(path)  # edited on a branch that did not see the rename yet
        if fid is None:
            return self._new(path), True  # history before a shallow boundary
        return fid, False


@dataclass
class FileChurn:
    """Aggregates of one file lineage."""

    commits: int = 0
    added: int = 0
    deleted: int = 0
    creator: str | None = None
    deliveries: Counter[str] = field(default_factory=Counter)   # person -> commits


class ChurnCounter:
    """Accumulates churn and co-change counts commit by commit."""

    def __init__(self, max_changeset: int = 30) -> None:
        self.lineage = Lineage()
        self.files: dict[int, FileChurn] = {}
        self.pairs: Counter[tuple[int, int]] = Counter()
        self.max_changeset = max_changeset

    def add_commit(self, person: str | None, changes: Iterable[Change]) -> set[int]:
        """Feed one non-merge commit: person (None for bots) and (status, path, old_path,
        added, deleted) rows. Returns the file ids it touched."""
        touched: set[int] = set()
        for status, path, old_path, added, deleted in changes:
            fid, created = self.lineage.touch(status, path, old_path)
            churn = self.files.setdefault(fid, FileChurn())
            if fid not in touched:
                churn.commits += 1
                if person is not None:
                    churn.deliveries[person] += 1
            touched.add(fid)
            churn.added += added or 0
            churn.deleted += deleted or 0
            if created and churn.creator is None:
                churn.creator = person
        # Mass changes (reformatting, license headers) say nothing about coupling.
        if 1 < len(touched) <= self.max_changeset:
            self.pairs.update(combinations(sorted(touched), 2))
        return touched

    def alive(self, paths: Collection[str]) -> dict[int, str]:
        """{file id: path} for the lineages whose latest path is in ``paths``."""
        return {fid: path for path, fid in self.lineage.id_of.items()
                if path in paths and fid in self.files}

    def rows(self, paths: Collection[str]) -> list[dict]:
        """CONTRACT churn rows for the files in ``paths``, most commits first:
        [{"path", "commits", "added", "deleted", "authors"}]."""
        rows: list[dict[str, Any]] = [
            {"path": path, "commits": c.commits, "added": c.added, "deleted": c.deleted,
             "authors": len(c.deliveries)}
            for fid, path in self.alive(paths).items() for c in (self.files[fid],)
        ]
        return sorted(rows, key=lambda r: (-r["commits"], -(r["added"] + r["deleted"]),
                                           r["path"]))

    def authorship(self, paths: Collection[str]) -> dict[str, dict[str, tuple[bool, int]]]:
        """{path: {person: (first_author, deliveries)}} for the degree-of-authorship model."""
        return {
            path: {p: (p == self.files[fid].creator, n)
                   for p, n in self.files[fid].deliveries.items()}
            for fid, path in self.alive(paths).items()
        }

    def coupling(self, paths: Collection[str], min_support: int = 3,
                 min_degree: float = 0.3, limit: int = 500) -> list[dict]:
        """Pairs of files that change together.

        support = commits changing both; confidence = support / commits of the first file;
        degree = support / mean commits of the two (code-maat's coupling degree).
        Returns [{"a", "b", "support", "confidence_ab", "confidence_ba", "degree"}], strongest
        first, pairs under ``min_support`` or ``min_degree`` left out.
        """
        alive = self.alive(paths)
        rows: list[dict[str, Any]] = []
        for (a, b), support in self.pairs.items():
            if support < min_support or a not in alive or b not in alive:
                continue
            revs_a, revs_b = self.files[a].commits, self.files[b].commits
            degree = support / ((revs_a + revs_b) / 2)
            if degree < min_degree:
                continue
            first, second = sorted(((alive[a], revs_a), (alive[b], revs_b)))
            rows.append({
                "a": first[0], "b": second[0], "support": support,
                "confidence_ab": round(support / first[1], 4),
                "confidence_ba": round(support / second[1], 4),
                "degree": round(degree, 4),
            })
        rows.sort(key=lambda r: (-r["support"], -r["degree"], r["a"], r["b"]))
        return rows[:limit]


def churn_hotspots(churn: Iterable[Mapping], complexity: Mapping[str, float],
                   limit: int = 50) -> list[dict]:
    """Hotspots where change meets complexity (kind ``churn-hotspot``).

    ``complexity`` maps path -> total cyclomatic complexity of the file at the analysed rev.
    score = (commits / max commits) × (complexity / max complexity), in [0, 1].
    Returns CONTRACT hotspot rows, highest score first.
    """
    rows = [r for r in churn if complexity.get(r["path"], 0) > 0 and r["commits"] > 0]
    if not rows:
        return []
    top_commits = max(r["commits"] for r in rows)
    top_cc = max(complexity[r["path"]] for r in rows)
    hotspots = [
        {
            "kind": "churn-hotspot", "principle": None, "path": r["path"], "symbol": None,
            "line": None,
            "score": round(r["commits"] / top_commits * complexity[r["path"]] / top_cc, 4),
            "evidence": {"commits": r["commits"], "added": r["added"], "deleted": r["deleted"],
                         "authors": r["authors"], "complexity": complexity[r["path"]]},
        }
        for r in rows
    ]
    hotspots.sort(key=lambda h: (-h["score"], h["path"]))
    return hotspots[:limit]
