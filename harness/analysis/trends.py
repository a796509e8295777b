"""Metric trends: the engine's figures at every release tag and, on request, at every commit
of the first-parent line, computed from the blob cache so that each distinct file version is
analysed once whatever the number of revisions.

- Trees: the first revision's from ``git ls-tree``, then the changes from one revision to
  the next (one ``git log --first-parent --raw`` stream along the line, one ``git diff-tree
  --stdin`` between consecutive tags), applied to the previous tree (never a checkout).
- Blobs: each distinct Python blob is reduced to ``BlobFigures`` and its duplication
  fingerprints from the engine's cached blob results; only blobs the cache lacks are
  analysed, in a process pool, into the same cache ``harness analyse`` reads.
- Figures are running totals and running fingerprint counts, so a revision costs its changed
  files; duplication searches exactly, once each, the groups of files linked by a shared
  fingerprint (``trend_duplication``). Points are stored per commit, so a re-run reads them.

Compared with ``harness analyse --rev <commit>``: files, SLOC, functions, mean and max CC,
TODOs, god classes and duplication are the same; debt counts the per-file rules and the
duplicated blocks but not the tree-wide SOLID rules (type switch, refused bequest, fat
interface, unstable dependency) nor import cycles.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import store as db
from harness.analysis import engine
from harness.analysis import trend_figures as tf
from harness.analysis.duplication import pack_record, token_record
from harness.analysis.git import GitRepo
from harness.analysis.history_log import Git
from harness.analysis.registry import REGISTRY, version_of
from harness.analysis.sources import decode_source
from harness.analysis.trend_duplication import (
    BlobPrints,
    Component,
    ComponentSearch,
    RunningPrints,
    blob_prints,
)
from harness.analysis.trend_git import (
    Change,
    first_parent_line,
    line_changes,
    python_tree,
    release_tags,
    step_changes,
)
from harness.errors import UsageError

MODES = ("none", "tags", "all")
FIGURES = "trend_figures"  # analysis_cache entries: BlobFigures per blob sha
PRINTS = "duplication_prints"  # the engine's blob analyser of duplication fingerprints
TOKENS = "duplication_tokens"  # analysis_cache entries: token records of searched blobs
_ENGINE_BLOBS = (*tf.BLOB_ANALYSERS, PRINTS)
_BATCH = 1000  # blobs analysed, or points stored, per transaction: a killed run keeps them
Progress = Callable[[str, int, int], None]
Blob = tuple[tf.BlobFigures, BlobPrints]
Pending = tuple[str, dict[str, Any], int, tuple[Component, ...]]  # commit, figures, lines, ...


@dataclass
class TrendStats:
    """What a trends run did: revisions, points read back vs computed, blobs analysed, and
    groups of linked files searched for duplication."""

    revisions: int = 0
    points_cached: int = 0
    points_computed: int = 0
    blobs: int = 0
    figures_cached: int = 0
    blobs_computed: int = 0
    duplication_computed: int = 0


@dataclass
class Trends:
    """The result of ``compute_trends``: the rows per tag and per commit, and ``stats``."""

    tags: list[dict[str, Any]]
    commits: list[dict[str, Any]]
    stats: TrendStats

    def section(self) -> dict[str, list[dict[str, Any]]]:
        """The document's ``trends`` section: ``{"tags": rows, "commits": rows}``."""
        return {"tags": self.tags, "commits": self.commits}


def blob_version(name: str) -> str:
    """The cache version under which the engine stores blob analyser ``name``'s results."""
    # Same composition as engine._run_blob_analysers, so both read and write one cache.
    common = f"{version_of('harness.analysis.sources', ())}.{engine._PAYLOAD_FORMAT}"
    return f"{REGISTRY[name].version}.{common}"


def point_version() -> str:
    """Digest of everything a stored point depends on: the blob analysers and this code (with
    the harness modules it imports: figures, duplication)."""
    parts = [blob_version(name) for name in _ENGINE_BLOBS] + [version_of(__name__, ())]
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:16]


def compute_trends(path: str | Path = ".", rev: str = "HEAD", store: db.Store | None = None,
                   mode: str = "tags", jobs: int = 0,
                   progress: Progress | None = None) -> Trends:
    """Figures at every tag reachable from ``rev`` and, with ``mode`` "all", at every commit
    of ``rev``'s first-parent line (oldest first).

    ``store`` holds the blob cache and the points (the default store when None); ``jobs`` 0
    means one worker per core. Returns ``Trends`` whose rows are ``trend_figures.trend_row``
    rows; mode "none" gives no rows. Raises UsageError for a bad mode, path or revision.
    """
    if mode not in MODES:
        raise UsageError(f"trends must be one of {', '.join(MODES)}, not {mode!r}")
    stats = TrendStats()
    if mode == "none":
        return Trends([], [], stats)
    git = Git(path)
    tip = git.commit(rev)
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(db.open_store())
        run = _Run(git, GitRepo(path), store, jobs or os.cpu_count() or 1, progress, stats)
        tags = release_tags(git, tip)
        line = first_parent_line(git, tip) if mode == "all" else []
        stats.revisions = len({t.commit for t in tags} | {sha for sha, _ in line})
        points = db.trend_points_get(store, run.version, [t.commit for t in tags]
                                     + [sha for sha, _ in line])
        stats.points_cached = len(points)
        if line:
            run.line_points(line, points)
        run.tag_points([t.commit for t in tags], points)
    names: dict[str, str] = {}
    for tag in tags:
        names.setdefault(tag.commit, tag.name)
    return Trends(
        tags=[tf.trend_row(points[t.commit], t.commit, t.date, t.name) for t in tags],
        commits=[tf.trend_row(points[sha], sha, date, names.get(sha)) for sha, date in line],
        stats=stats,
    )


def trends_section(path: str | Path, rev: str, store: db.Store, mode: str = "tags",
                   jobs: int = 0, progress: Progress | None = None) -> dict[str, Any] | None:
    """The analysis document's ``trends`` section (``{"tags", "commits"}``), None for mode
    "none"; see ``compute_trends``."""
    if mode == "none":
        return None
    return compute_trends(path, rev, store, mode, jobs, progress).section()


class _Walker:
    """A tree walked change by change, with its running figures and fingerprint counts."""

    def __init__(self, blobs: dict[str, Blob]):
        self.blobs = blobs
        self.tree: dict[str, str] = {}
        self.totals = tf.Totals()
        self.prints = RunningPrints()

    def apply(self, changes: Iterable[Change]) -> None:
        """Apply ``(path, blob or None)`` changes to the tree and its running figures."""
        for path, blob in changes:
            old = self.tree.pop(path, None)
            if old is not None:
                self.totals.add(self.blobs[old][0], -1)
                self.prints.remove(path)
            if blob:
                self.tree[path] = blob
                figures, prints = self.blobs[blob]
                self.totals.add(figures)
                self.prints.add(path, blob, prints)

    def snapshot(self, commit: str) -> Pending:
        """The current tree's figures, for ``commit``."""
        return commit, self.totals.point(), self.prints.lines, self.prints.components()


class _Run:
    """One trends computation: the repository, the store, the pool size and the stats."""

    def __init__(self, git: Git, repo: GitRepo, store: db.Store, jobs: int,
                 progress: Progress | None, stats: TrendStats):
        self.git, self.repo, self.store, self.jobs = git, repo, store, jobs
        self.progress, self.stats = progress, stats
        self.version = point_version()
        self.search = ComponentSearch(self._token_records)

    def line_points(self, line: list[tuple[str, str]], points: dict[str, Any]) -> None:
        """Fill ``points`` for every commit of ``line``, walking from the first one missing."""
        missing = [i for i, (sha, _) in enumerate(line) if sha not in points]
        if not missing:
            return
        base = line[missing[0] - 1][0] if missing[0] else None
        tree = python_tree(self.repo, base) if base else {}
        steps = line_changes(self.git, line[-1][0], base)
        walker = _Walker(self.blobs(_needed(tree, (changes for _, changes in steps))))
        walker.apply(tree.items())
        pending: list[Pending] = []
        for commit, changes in steps:
            walker.apply(changes)
            if commit not in points:
                pending.append(walker.snapshot(commit))
            if len(pending) >= _BATCH:
                self._finish(pending, points)
        self._finish(pending, points)

    def tag_points(self, commits: list[str], points: dict[str, Any]) -> None:
        """Fill ``points`` for every tagged commit of ``commits`` (oldest first), walking from
        one to the next."""
        todo = [sha for sha in dict.fromkeys(commits) if sha not in points]
        if not todo:
            return
        tree = python_tree(self.repo, todo[0])
        steps = step_changes(self.git, todo)
        walker = _Walker(self.blobs(_needed(tree, steps)))
        walker.apply(tree.items())
        pending = [walker.snapshot(todo[0])]
        for commit, changes in zip(todo[1:], steps, strict=True):
            walker.apply(changes)
            pending.append(walker.snapshot(commit))
        self._finish(pending, points)

    def _finish(self, pending: list[Pending], points: dict[str, Any]) -> None:
        """Add duplication to the ``pending`` points, put them in ``points`` and store them."""
        components = {c: None for *_, found in pending for c in found}
        report = self._stage("trends: duplication", len(components))
        before = self.search.searched
        self.search.search(components)
        for _ in range(self.search.searched - before):
            report()
        self.stats.duplication_computed = self.search.searched
        fresh = []
        for commit, figures, lines, found in pending:
            points[commit] = {**figures, "duplication": self.search.figures(lines, found)}
            fresh.append((commit, points[commit]))
        db.trend_points_put(self.store, self.version, fresh)
        self.stats.points_computed += len(fresh)
        pending.clear()

    def _token_records(self, shas: list[str]) -> dict[str, Any]:
        """``duplication.token_record`` of each decodable blob of ``shas``, from the store or
        tokenised now and stored (only the blobs searched for duplication get one)."""
        version = f"{blob_version(PRINTS)}.packed"
        records = db.cache_get(self.store, TOKENS, version, shas)
        fresh = []
        for sha, data in self.repo.read_blobs(sha for sha in shas if sha not in records):
            decoded = decode_source(data).text
            if decoded is not None:
                fresh.append((sha, pack_record(token_record(decoded))))
        db.cache_put(self.store, TOKENS, version, fresh)
        records.update(fresh)
        return records

    # --- per-blob figures and fingerprints ----------------------------------------------
    def blobs(self, needed: dict[str, str]) -> dict[str, Blob]:
        """``(BlobFigures, BlobPrints)`` of every blob of ``needed`` (``{sha: a path it
        has}``), from the store, else from the engine's cached results, else analysed now."""
        self.stats.blobs += len(needed)
        fig_version = f"{self.version}.figures"
        figures = {sha: tf.BlobFigures(*row) for sha, row in
                   db.cache_get(self.store, FIGURES, fig_version, needed).items()}
        prints = db.cache_get(self.store, PRINTS, blob_version(PRINTS), needed)
        self.stats.figures_cached += len(figures)
        missing = [sha for sha in needed if sha not in figures or sha not in prints]
        report = self._stage("trends: analysing files", len(missing))
        versions = {name: blob_version(name) for name in _ENGINE_BLOBS}
        for start in range(0, len(missing), _BATCH):
            chunk = missing[start:start + _BATCH]
            payloads = {name: db.cache_get(self.store, name, version, chunk)
                        for name, version in versions.items()}
            tasks = {sha: [name for name in versions if sha not in payloads[name]]
                     for sha in chunk}
            computed = self._analyse({sha: (needed[sha], names)
                                      for sha, names in tasks.items() if names}, report)
            for name, version in versions.items():
                fresh = [(sha, result[name]) for sha, result in computed.items()]
                db.cache_put(self.store, name, version, fresh)
                payloads[name].update(fresh)
            rows = [(sha, tf.blob_figures({n: payloads[n][sha] for n in tf.BLOB_ANALYSERS}))
                    for sha in chunk if sha not in figures]
            db.cache_put(self.store, FIGURES, fig_version,
                         ((sha, list(row)) for sha, row in rows))
            figures.update(rows)
            prints.update((sha, payloads[PRINTS][sha]) for sha in chunk)
        return {sha: (figures[sha], blob_prints(prints[sha]["result"])) for sha in needed}

    def _analyse(self, tasks: dict[str, tuple[str, list[str]]],
                 report: Callable[[], None]) -> dict[str, dict[str, Any]]:
        """Run the engine's blob analysis on ``{sha: (path, analyser names)}``."""
        if not tasks:
            return {}
        self.stats.blobs_computed += len(tasks)
        blobs = dict(self.repo.read_blobs(tasks))
        # Every analyser runs, so each payload is complete whichever ones the cache lacked.
        work = ((path, blobs[sha], list(_ENGINE_BLOBS)) for sha, (path, _) in tasks.items())
        results = {}
        for sha, payloads in zip(tasks, self._map(_analyse_task, work, len(tasks)), strict=True):
            results[sha] = payloads
            report()
        return results

    def _map(self, function: Callable, work: Iterable, count: int) -> Iterator:
        """``map(function, work)``, in a process pool when there is enough work."""
        if self.jobs > 1 and count >= engine._POOL_MIN_BLOBS:
            with ProcessPoolExecutor(max_workers=min(self.jobs, count)) as pool:
                yield from pool.map(function, work, chunksize=max(1, count // (self.jobs * 4)))
        else:
            yield from map(function, work)

    def _stage(self, label: str, total: int) -> Callable[[], None]:
        done = 0

        def advance() -> None:
            nonlocal done
            done += 1
            if self.progress is not None:
                self.progress(label, done, total)

        return advance


def _needed(tree: dict[str, str], steps: Iterable[Iterable[Change]]) -> dict[str, str]:
    """``{blob sha: a path it has}`` of every blob a walk from ``tree`` through ``steps``
    meets."""
    needed = {sha: path for path, sha in tree.items()}
    for changes in steps:
        needed.update((blob, path) for path, blob in changes if blob)
    return needed


def _analyse_task(task: tuple[str, bytes, list[str]]) -> dict[str, dict[str, Any]]:
    return engine.analyse_blob(*task)
