"""Duplication along a line of revisions, from each file version's fingerprints.

A revision's duplication needs the exact search only on the files linked by a fingerprint
held at two places of its tree (see ``duplication.tree_duplication``). ``RunningPrints`` keeps
the fingerprint counts of the current tree as files come and go (a changed file removes its
old fingerprints and adds the new ones), and splits the linked files into components: files
joined, directly or through others, by shared fingerprints. A duplicated window only ever
lies in the files of one component, so the tree's duplicated lines and blocks are the sums of
its components' results, and a component is searched once for every revision it appears in
(``ComponentSearch``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from harness.analysis import debt as debt_mod
from harness.analysis.duplication import TokenFile, duplication_of, tokenise_record

Component = frozenset[tuple[str, str]]  # the (path, blob sha) pairs of linked files


class BlobPrints(NamedTuple):
    """One file version's fingerprints: code ``lines`` and ``counts`` {fingerprint: times}."""

    lines: int
    counts: Mapping[int, int]


def blob_prints(payload: Mapping[str, Any] | None) -> BlobPrints:
    """``BlobPrints`` of a ``duplication.fingerprints`` payload (None: an undecodable file)."""
    if payload is None:
        return BlobPrints(0, {})
    return BlobPrints(payload["lines"], Counter(payload["prints"]))


class RunningPrints:
    """Fingerprint counts of a tree that changes file by file, and its linked components."""

    def __init__(self) -> None:
        self.lines = 0  # code lines of every decodable file of the tree
        self._counts: Counter[int] = Counter()
        self._holders: dict[int, set[str]] = defaultdict(set)
        self._shared: set[int] = set()  # fingerprints held at two places or more
        self._files: dict[str, tuple[str, BlobPrints]] = {}
        self._components: tuple[Component, ...] = ()
        self._stale = False

    def add(self, path: str, sha: str, prints: BlobPrints) -> None:
        """Put file ``path`` (blob ``sha``) in the tree; it must not be there."""
        self._files[path] = (sha, prints)
        self.lines += prints.lines
        for value, times in prints.counts.items():
            before = self._counts[value]
            self._counts[value] = before + times
            self._holders[value].add(path)
            if before + times > 1:
                self._shared.add(value)
                self._stale = True

    def remove(self, path: str) -> None:
        """Take file ``path`` out of the tree."""
        _, prints = self._files.pop(path)
        self.lines -= prints.lines
        for value, times in prints.counts.items():
            left = self._counts[value] - times
            if value in self._shared:
                self._stale = True
            if left:
                self._counts[value] = left
                self._holders[value].discard(path)
                if left < 2:
                    self._shared.discard(value)
            else:
                del self._counts[value], self._holders[value]
                self._shared.discard(value)

    def components(self) -> tuple[Component, ...]:
        """The linked files of the tree, grouped into components (sorted, so that equal
        trees give equal tuples)."""
        if self._stale:
            self._components = self._link()
            self._stale = False
        return self._components

    def _link(self) -> tuple[Component, ...]:
        parent: dict[str, str] = {}

        def root(path: str) -> str:
            while parent[path] != path:
                parent[path] = parent[parent[path]]
                path = parent[path]
            return path

        for value in self._shared:
            first, *others = self._holders[value]
            parent.setdefault(first, first)
            for other in others:
                parent.setdefault(other, other)
                parent[root(other)] = root(first)
        groups: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for path in parent:
            groups[root(path)].add((path, self._files[path][0]))
        return tuple(sorted((frozenset(group) for group in groups.values()), key=sorted))


class ComponentSearch:
    """The exact duplication search of components, each searched once: ``{component:
    (duplicated lines, remediation minutes of its blocks)}``."""

    def __init__(self, read_records: Callable[[list[str]], Mapping[str, Mapping[str, list]]]):
        self.read_records = read_records  # {blob sha: duplication.token_record} of shas
        self.found: dict[Component, tuple[int, int]] = {}
        self.searched = 0
        self._vocabulary: dict[tuple[int, str], int] = {}
        self._files: dict[str, TokenFile] = {}

    def search(self, components: Iterable[Component]) -> None:
        """Search every component of ``components`` not searched yet."""
        todo = [c for c in dict.fromkeys(components) if c not in self.found]
        unread = {sha for component in todo for _, sha in component} - set(self._files)
        for sha, record in self.read_records(sorted(unread)).items():
            self._files[sha] = tokenise_record(record, self._vocabulary)
        for component in todo:
            result = duplication_of({path: self._files[sha] for path, sha in component}, 0)
            minutes = sum(item["minutes"] for item in debt_mod.findings({"duplication": result}))
            self.found[component] = (result["duplicated_lines"], minutes)
            self.searched += 1
        if len(self._files) > 4096:
            self._files.clear()  # bounded memory; a later search reads again what it needs

    def figures(self, lines: int, components: Iterable[Component]) -> dict[str, Any]:
        """A revision's ``{"percent", "minutes"}`` from its code ``lines`` and its searched
        ``components``; percent as ``duplication`` computes it."""
        duplicated = minutes = 0
        for component in components:
            found_lines, found_minutes = self.found[component]
            duplicated += found_lines
            minutes += found_minutes
        return {"percent": 100.0 * duplicated / lines if lines else 0.0, "minutes": minutes}
