"""Metric trends: the engine's figures at every release tag and, on request, at every commit
of the first-parent line, computed from the blob cache so that each distinct file version is
analysed once whatever the number of revisions.

- Trees: ``git ls-tree`` per tag; for every commit, one ``git log --first-parent --raw``
  stream whose changes are applied to the previous tree (never a checkout).
- Blobs: each distinct Python blob is reduced to ``BlobFigures`` from the engine's cached blob
  results; only blobs the cache lacks are analysed, in a process pool, and their results go
  into the same cache ``harness analyse`` reads.
- Points: a revision's figures are stored per commit in the store, so a re-run reads them
  back; along the line they are running totals, so a commit costs its changed files only.

Compared with ``harness analyse --rev <commit>``: files, SLOC, functions, mean and max CC,
TODOs and god classes are the same; debt counts the per-file rules and duplicated blocks but
not the tree-wide SOLID rules (type switch, refused bequest, fat interface, unstable
dependency) nor import cycles. Duplication is computed at tags only (too slow per commit): it
is None in the per-commit rows.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import store as db
from harness.analysis import engine
from harness.analysis import trend_figures as tf
from harness.analysis.duplication import duplication
from harness.analysis.git import GitRepo, TreeEntry
from harness.analysis.history_log import Git, nul_tokens, text
from harness.analysis.registry import REGISTRY, version_of
from harness.analysis.releases import (
    TAG_FORMAT,
    Tag,
    epoch,
    nested_tag_refs,
    parse_tags,
    version_key,
)
from harness.analysis.sources import decode_source, is_python_path
from harness.errors import UsageError

MODES = ("none", "tags", "all")
FIGURES = "trend_figures"  # analysis_cache entries: BlobFigures per blob sha
_BATCH = 1000  # blobs analysed, or points stored, per transaction: a killed run keeps them
_REGULAR = ("100644", "100755")  # file modes of regular files (not links, not submodules)
Progress = Callable[[str, int, int], None]


@dataclass
class TrendStats:
    """What a trends run did: revisions, points read back vs computed, blobs analysed."""

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
    """Digest of everything a stored point depends on: the blob analysers, this code, and
    the duplication analyser."""
    parts = [blob_version(name) for name in tf.BLOB_ANALYSERS]
    parts += [version_of(__name__, ()), engine._tree_version(REGISTRY["duplication"])]
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
        run.tag_points(tags, points)
    names: dict[str, str] = {}
    for tag in tags:
        names.setdefault(tag.commit, tag.name)
    return Trends(
        tags=[tf.trend_row(points[t.commit], t.commit, t.date, t.name) for t in tags],
        commits=[tf.trend_row({**points[sha], "duplication": None}, sha, date, names.get(sha))
                 for sha, date in line],
        stats=stats,
    )


def trends_section(path: str | Path, rev: str, store: db.Store, mode: str = "tags",
                   jobs: int = 0, progress: Progress | None = None) -> dict[str, Any] | None:
    """The analysis document's ``trends`` section (``{"tags", "commits"}``), None for mode
    "none"; see ``compute_trends``."""
    if mode == "none":
        return None
    return compute_trends(path, rev, store, mode, jobs, progress).section()


def release_tags(git: Git, tip: str) -> list[Tag]:
    """Tags whose commit is reachable from ``tip``, oldest first (date, then version)."""
    out = text(git.run("for-each-ref", f"--format={TAG_FORMAT}", f"--merged={tip}",
                       "refs/tags"))
    resolve = {ref: git.commit(ref) for ref in nested_tag_refs(out)}
    tags = parse_tags(out, resolve)
    return sorted(tags, key=lambda t: (epoch(t.date), version_key(t.name), t.name))


def first_parent_line(git: Git, tip: str) -> list[tuple[str, str]]:
    """``(sha, committer date)`` of every commit on ``tip``'s first-parent line, oldest first."""
    out = text(git.run("log", "--first-parent", "--reverse", "--format=%H %cI", tip))
    return [(sha, date) for sha, _, date in (line.partition(" ") for line in out.splitlines())
            if sha]


def line_changes(git: Git, tip: str, base: str | None) -> Iterator[tuple[str, list[tuple]]]:
    """``(sha, changes)`` per commit of the first-parent line from after ``base`` (from the
    root when None) to ``tip``, oldest first; changes are ``(path, blob or None)`` for the
    Python regular files each commit adds, modifies (blob) or removes (None) against its
    first parent. One streamed ``git log --raw -z``."""
    args = git.command("log", "--first-parent", "--reverse", "-z", "--raw", "--no-renames",
                       "--no-abbrev", "--diff-merges=first-parent", "--root", "--no-color",
                       "--format=%x1e%H", tip, *([f"^{base}"] if base else []))
    env = {**os.environ, "GIT_NO_REPLACE_OBJECTS": "1", "GIT_TERMINAL_PROMPT": "0"}
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, env=env)
        assert proc.stdout is not None
        try:
            yield from _parse_raw(nul_tokens(proc.stdout))
        finally:
            if proc.poll() is None:
                proc.kill()  # the consumer stopped early
            rc = proc.wait()
        if rc != 0:
            errors.seek(0)
            raise RuntimeError(f"git log failed ({rc}): {text(errors.read()).strip()}")


def _parse_raw(tokens: Iterator[bytes]) -> Iterator[tuple[str, list[tuple]]]:
    """Commits and their Python file changes from ``git log -z --raw --format=%x1e%H``."""
    sha: str | None = None
    changes: list[tuple] = []
    for token in tokens:
        token = token.lstrip(b"\n")
        if token.startswith(b"\x1e"):
            if sha is not None:
                yield sha, changes
            sha, changes = token[1:].strip().decode(), []
        elif token.startswith(b":"):
            _, new_mode, _, blob, status = token[1:].decode().split(" ")[:5]
            path = text(next(tokens))
            if is_python_path(path):
                keep = status != "D" and new_mode in _REGULAR
                changes.append((path, blob if keep else None))
    if sha is not None:
        yield sha, changes


def _python_files(entries: Iterable[TreeEntry]) -> list[TreeEntry]:
    """The files the engine analyses: Python paths, regular files (no links)."""
    return [e for e in entries if is_python_path(e.path) and e.mode in _REGULAR]


class _Run:
    """One trends computation: the repository, the store, the pool size and the stats."""

    def __init__(self, git: Git, repo: GitRepo, store: db.Store, jobs: int,
                 progress: Progress | None, stats: TrendStats):
        self.git, self.repo, self.store, self.jobs = git, repo, store, jobs
        self.progress, self.stats = progress, stats
        self.version = point_version()

    # --- per-commit points along the first-parent line ---------------------------------
    def line_points(self, line: list[tuple[str, str]], points: dict[str, Any]) -> None:
        """Fill ``points`` for every commit of ``line``, walking from the first one missing."""
        missing = [i for i, (sha, _) in enumerate(line) if sha not in points]
        if not missing:
            return
        start = missing[0]
        base = line[start - 1][0] if start else None
        tree = ({e.path: e.sha for e in _python_files(self.repo.ls_tree(base))}
                if base else {})
        needed = {sha: path for path, sha in tree.items()}
        for _, changes in line_changes(self.git, line[-1][0], base):
            needed.update((blob, path) for path, blob in changes if blob)
        figures = self.figures(needed)
        totals = tf.Totals()
        for sha in tree.values():
            totals.add(figures[sha])
        fresh: list[tuple[str, dict]] = []
        for commit, changes in line_changes(self.git, line[-1][0], base):
            for path, blob in changes:
                if path in tree:
                    totals.add(figures[tree.pop(path)], -1)
                if blob:
                    tree[path] = blob
                    totals.add(figures[blob])
            if commit not in points:
                points[commit] = {**totals.point(), "duplication": None}
                fresh.append((commit, points[commit]))
            if len(fresh) >= _BATCH:
                self._store_points(fresh)
        self._store_points(fresh)

    def _store_points(self, fresh: list[tuple[str, dict]]) -> None:
        db.trend_points_put(self.store, self.version, fresh)
        self.stats.points_computed += len(fresh)
        fresh.clear()

    # --- per-tag points, with duplication -----------------------------------------------
    def tag_points(self, tags: list[Tag], points: dict[str, Any]) -> None:
        """Fill ``points`` (figures and duplication) for every tagged commit."""
        todo = sorted({t.commit for t in tags
                       if t.commit not in points or points[t.commit]["duplication"] is None})
        if not todo:
            return
        trees = {sha: _python_files(self.repo.ls_tree(sha)) for sha in todo}
        figures = self.figures({e.sha: e.path for sha, files in trees.items()
                                if sha not in points for e in files})
        found = self.duplications(trees)
        fresh = []
        for sha, files in trees.items():
            point = points.get(sha)
            if point is None:
                totals = tf.Totals()
                for entry in files:
                    totals.add(figures[entry.sha])
                point = totals.point()
                self.stats.points_computed += 1
            result = found[sha]
            points[sha] = {**point, "duplication": {
                "percent": result["percent"], "minutes": tf.duplication_minutes(result)}}
            fresh.append((sha, points[sha]))
        db.trend_points_put(self.store, self.version, fresh)

    def duplications(self, trees: dict[str, list[TreeEntry]]) -> dict[str, dict]:
        """The duplication result of each tree, from the engine's tree cache or computed
        (in the pool) and cached there: ``{commit: result}``."""
        analyser = REGISTRY["duplication"]
        version = engine._tree_version(analyser)
        keys = {sha: engine.tree_digest(files) for sha, files in trees.items()}
        cached = db.cache_get(self.store, analyser.name, version, keys.values())
        missing = sorted({keys[sha]: sha for sha in trees if keys[sha] not in cached}.items())
        if missing:
            report = self._stage("trends: duplication", len(missing))
            work = (self._sources(trees[sha]) for _, sha in missing)
            for (key, _), result in zip(missing, self._map(_duplication_task, work, len(missing)),
                                        strict=True):
                cached[key] = result
                db.cache_put(self.store, analyser.name, version, [(key, result)])
                self.stats.duplication_computed += 1
                report()
        return {sha: cached[keys[sha]] for sha in trees}

    def _sources(self, files: list[TreeEntry]) -> dict[str, str]:
        by_sha: dict[str, list[str]] = {}
        for entry in files:
            by_sha.setdefault(entry.sha, []).append(entry.path)
        sources: dict[str, str] = {}
        for sha, data in self.repo.read_blobs(by_sha):
            decoded = decode_source(data).text
            if decoded is not None:
                sources.update((path, decoded) for path in by_sha[sha])
        return sources

    # --- per-blob figures --------------------------------------------------------------
    def figures(self, needed: dict[str, str]) -> dict[str, tf.BlobFigures]:
        """``BlobFigures`` of every blob of ``needed`` (``{sha: a path it has}``), from the
        store, else from the engine's cached results, else analysed now."""
        self.stats.blobs += len(needed)
        fig_version = f"{self.version}.figures"
        found = {sha: tf.BlobFigures(*row) for sha, row in
                 db.cache_get(self.store, FIGURES, fig_version, needed).items()}
        self.stats.figures_cached += len(found)
        missing = [sha for sha in needed if sha not in found]
        report = self._stage("trends: analysing files", len(missing))
        versions = {name: blob_version(name) for name in tf.BLOB_ANALYSERS}
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
            rows = [(sha, tf.blob_figures({n: payloads[n][sha] for n in versions}))
                    for sha in chunk]
            db.cache_put(self.store, FIGURES, fig_version,
                         ((sha, list(row)) for sha, row in rows))
            found.update(rows)
        return found

    def _analyse(self, tasks: dict[str, tuple[str, list[str]]],
                 report: Callable[[], None]) -> dict[str, dict[str, Any]]:
        """Run the engine's blob analysis on ``{sha: (path, analyser names)}``."""
        if not tasks:
            return {}
        self.stats.blobs_computed += len(tasks)
        blobs = dict(self.repo.read_blobs(tasks))
        # Every analyser runs, so each payload is complete whichever ones the cache lacked.
        work = ((path, blobs[sha], list(tf.BLOB_ANALYSERS)) for sha, (path, _) in tasks.items())
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


def _analyse_task(task: tuple[str, bytes, list[str]]) -> dict[str, dict[str, Any]]:
    return engine.analyse_blob(*task)


def _duplication_task(sources: dict[str, str]) -> dict[str, Any]:
    return duplication(sources)
