"""The analysis engine: one revision of a git repository -> a ``harness.analysis/1`` document.

Stages: resolve the revision and list its tree; run the blob analysers on the blobs the cache
does not hold yet (a process pool over blobs); blame the files that have TODOs; run the tree
analysers (cached per tree digest); join everything into the document; run the repository
analysers (history, coverage) and debt last. Cache entries live in the store, keyed by
(blob sha | tree digest | commit:path, analyser, analyser version).
"""

from __future__ import annotations

import argparse
import ast
import gc
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import store as store_mod
from harness.analysis import document as doc_mod
from harness.analysis.git import BlameLine, GitRepo, TreeEntry
from harness.analysis.registry import Analyser, select, version_of
from harness.analysis.sources import decode_source, is_python_path
from harness.config import Settings
from harness.errors import UsageError

Progress = Callable[[str, int, int], None]
BLAME_VERSION = "1"
_PAYLOAD_FORMAT = "1"  # bump when analyse_blob's payload layout changes
_POOL_MIN_BLOBS = 16  # below this a process pool costs more than it saves


@dataclass
class Stats:
    """What a run computed: blobs analysed vs served from cache, files blamed, tree hits."""

    blobs: int = 0
    blobs_computed: int = 0
    blobs_cached: int = 0
    blamed_files: int = 0
    blame_cached: int = 0
    tree_computed: list[str] = field(default_factory=list)
    tree_cached: list[str] = field(default_factory=list)


@dataclass
class Analysis:
    """The result of ``analyse``: the JSON ``document``, cache ``stats`` and the store run id."""

    document: dict[str, Any]
    stats: Stats
    run_id: int | None


def analyse_blob(path: str, data: bytes, names: list[str]) -> dict[str, dict[str, Any]]:
    """Run the blob analysers ``names`` on one file.

    Returns ``{name: {"result": payload or None, "skipped": None or reason, "decoded": bool}}``.
    Runs in pool workers, so it takes and returns plain data only.
    """
    # A parsed tree is acyclic: cyclic collections while it is built and walked free nothing
    # and cost about a tenth of the analysis; what the analysers leave is collected later.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _analyse_blob(path, data, names)
    finally:
        if enabled:
            gc.enable()


def _analyse_blob(path: str, data: bytes, names: list[str]) -> dict[str, dict[str, Any]]:
    from harness.analysis.registry import REGISTRY

    decoded = decode_source(data)
    if decoded.text is None:
        return {name: {"result": None, "skipped": decoded.reason, "decoded": False}
                for name in names}
    tree: ast.Module | None = None
    parse_error = None
    if any(REGISTRY[name].needs_ast for name in names):
        try:
            tree = ast.parse(decoded.text, filename=path)
        except (SyntaxError, ValueError, RecursionError) as exc:
            where = f"line {exc.lineno}: " if isinstance(exc, SyntaxError) else ""
            parse_error = f"cannot parse: {where}{getattr(exc, 'msg', None) or exc}"
    payloads = {}
    for name in names:
        analyser = REGISTRY[name]
        if analyser.needs_ast and tree is None:
            payloads[name] = {"result": None, "skipped": parse_error, "decoded": True}
            continue
        try:
            payloads[name] = {"result": analyser.run(path, decoded.text, tree),
                              "skipped": None, "decoded": True}
        except Exception as exc:  # noqa: BLE001 - third-party metrics may reject odd files
            if "radon" not in analyser.libraries:
                raise
            payloads[name] = {"result": None, "decoded": True,
                              "skipped": f"{name}: {type(exc).__name__}: {exc}"}
    return payloads


def _analyse_blob_task(task: tuple[str, bytes, list[str]]) -> dict[str, dict[str, Any]]:
    return analyse_blob(*task)


class Context:
    """What tree and repo analysers read: the repository, the files and earlier results."""

    def __init__(self, git: GitRepo, commit: str, commit_time: int, files: list[TreeEntry],
                 store: store_mod.Store, coverage_file: str | None, progress: Progress | None,
                 options: dict[str, Any] | None = None):
        self.options = dict(options or {})  # trends mode, pull-request export, jobs
        self.git, self.commit, self.commit_time = git, commit, commit_time
        self.files, self.store = files, store
        self.coverage_file, self.progress = coverage_file, progress
        self.blob_results: dict[str, dict[str, dict[str, Any]]] = {}  # name -> path -> payload
        self.tree_results: dict[str, Any] = {}
        self.repo_results: dict[str, Any] = {}
        self.document: dict[str, Any] = {}
        self._sources: dict[str, str] | None = None
        self._trees: dict[str, ast.Module] | None = None

    def sources(self) -> dict[str, str]:
        """Decoded text of every decodable Python file, keyed by path (read on first use)."""
        if self._sources is None:
            by_sha: dict[str, list[str]] = {}
            for entry in self.files:
                by_sha.setdefault(entry.sha, []).append(entry.path)
            self._sources = {}
            for sha, data in self.git.read_blobs(by_sha):
                text = decode_source(data).text
                if text is not None:
                    self._sources.update((path, text) for path in by_sha[sha])
        return self._sources

    def trees(self) -> dict[str, ast.Module]:
        """Parsed AST of every parseable Python file, keyed by path (parsed on first use)."""
        if self._trees is None:
            self._trees = {}
            for path, text in self.sources().items():
                try:
                    self._trees[path] = ast.parse(text, filename=path)
                except (SyntaxError, ValueError, RecursionError):
                    continue  # already listed in 'skipped' by the blob stage
        return self._trees

    def classes_by_path(self) -> dict[str, list[dict]]:
        """Class metric rows of each file (the ``classes`` blob analyser's results)."""
        return {path: payload["result"] for path, payload in
                self.blob_results.get("classes", {}).items() if payload["result"] is not None}

    def module_rows(self) -> list[dict]:
        """Module rows of the ``modules`` tree analyser."""
        return list((self.tree_results.get("modules") or {}).get("modules", []))


def analyse(path: str | Path = ".", rev: str = "HEAD", *, history: bool = True,
            coverage: str | None = None, jobs: int = 0, analysers: Iterable[str] | None = None,
            store: store_mod.Store | None = None, progress: Progress | None = None,
            trends: str = "tags", pulls_export: str | None = None,
            record: bool = True) -> Analysis:
    """Analyse revision ``rev`` of the git repository at ``path``.

    ``jobs`` 0 means one worker per core; ``analysers`` None means every registered one;
    ``store`` None opens the default store; ``trends`` is none, tags or all; ``record`` False
    keeps the document out of the store's analysis runs (the blob cache is still used).
    Returns the document, cache stats and run id (None when not recorded).
    Raises UsageError for a bad path, revision, analyser name, coverage or export file.
    """
    if coverage is not None and not Path(coverage).is_file():
        raise UsageError(f"coverage file {coverage} not found")
    if pulls_export is not None and not Path(pulls_export).is_file():
        raise UsageError(f"pull-request export {pulls_export} not found")
    if trends not in ("none", "tags", "all"):
        raise UsageError(f"--trends must be none, tags or all, not {trends!r}")
    git = GitRepo(path)
    commit = git.resolve(rev)
    chosen = select(analysers, history=history)
    own_store = store is None
    db = store if store is not None else store_mod.open_store()
    try:
        jobs = jobs or os.cpu_count() or 1
        options = {"jobs": jobs, "trends": trends, "pulls_export": pulls_export}
        return _analyse(git, commit, chosen, db, coverage, jobs, progress, options, record)
    finally:
        if own_store:
            db.close()


def _analyse(git: GitRepo, commit: str, chosen: list[Analyser], db: store_mod.Store,
             coverage: str | None, jobs: int, progress: Progress | None,
             options: dict[str, Any], record: bool = True) -> Analysis:
    if not record:
        document, stats = _run_stages(git, commit, chosen, db, coverage, jobs, progress,
                                      options)
        return Analysis(document, stats, None)
    run_id = db.start_run("analysis", args={"repo": str(git.root), "rev": commit,
                                            "analysers": [a.name for a in chosen]})
    try:
        document, stats = _run_stages(git, commit, chosen, db, coverage, jobs, progress,
                                      options)
    except BaseException:
        db.finish_run(run_id, "interrupted")  # the run row must not stay 'running' forever
        raise
    store_mod.record_analysis(db, run_id, document)
    db.finish_run(run_id)
    return Analysis(document, stats, run_id)


def _run_stages(git: GitRepo, commit: str, chosen: list[Analyser], db: store_mod.Store,
                coverage: str | None, jobs: int, progress: Progress | None,
                options: dict[str, Any]) -> tuple[dict[str, Any], Stats]:
    entries = git.ls_tree(commit)
    files = [e for e in entries if is_python_path(e.path) and not e.is_symlink]
    links = [{"path": e.path, "reason": "symbolic link"}
             for e in entries if is_python_path(e.path) and e.is_symlink]
    ctx = Context(git, commit, git.commit_time(commit), files, db, coverage, progress,
                  options)
    stats = Stats(blobs=len({e.sha for e in files}))
    _run_blob_analysers(ctx, [a for a in chosen if a.scope == "blob"], jobs, stats)
    blame = _blame_todo_files(ctx, jobs, stats) if "todos" in ctx.blob_results else {}
    for analyser in (a for a in chosen if a.scope == "tree"):
        _run_tree_analyser(ctx, analyser, stats)
    ctx.document = doc_mod.assemble(ctx, blame, links)
    for analyser in (a for a in chosen if a.scope == "repo"):
        if analyser.name == "coverage" and coverage is None:
            continue
        if analyser.name == "debt":
            ctx.document["debt"] = analyser.run(ctx)
            continue
        ctx.repo_results[analyser.name] = analyser.run(ctx)
        doc_mod.merge_repo_result(ctx.document, analyser.name, ctx.repo_results[analyser.name])
    return ctx.document, stats


def _cache_key(analyser: Analyser, entry: TreeEntry) -> str:
    # Results that mention or depend on the file's path cannot be shared between paths.
    return f"{entry.sha}:{entry.path}" if analyser.path_dependent else entry.sha


def _run_blob_analysers(ctx: Context, analysers: list[Analyser], jobs: int,
                        stats: Stats) -> None:
    keys = {a.name: {e.path: _cache_key(a, e) for e in ctx.files} for a in analysers}
    # Decoding rules and the payload layout are part of every blob result.
    common = f"{version_of('harness.analysis.sources', ())}.{_PAYLOAD_FORMAT}"
    versions = {a.name: f"{a.version}.{common}" for a in analysers}
    cached = {name: store_mod.cache_get(ctx.store, name, versions[name], keys[name].values())
              for name in versions}
    tasks: dict[tuple[str, str], list[str]] = {}  # (sha, path) -> analysers to run on it
    for entry in ctx.files:
        for name in versions:
            key = keys[name][entry.path]
            if key not in cached[name]:
                cached[name][key] = None  # claimed: one computation per key
                tasks.setdefault((entry.sha, entry.path), []).append(name)
    computed = _compute_blobs(ctx, tasks, jobs)
    for name, version in versions.items():
        fresh = [(keys[name][path], payloads[name])
                 for (_, path), payloads in computed.items() if name in payloads]
        store_mod.cache_put(ctx.store, name, version, fresh)
        cached[name].update(fresh)
        ctx.blob_results[name] = {e.path: cached[name][keys[name][e.path]] for e in ctx.files}
    stats.blobs_computed = len({sha for sha, _ in tasks})
    stats.blobs_cached = stats.blobs - stats.blobs_computed


def _compute_blobs(ctx: Context, tasks: dict[tuple[str, str], list[str]],
                   jobs: int) -> dict[tuple[str, str], dict[str, Any]]:
    if not tasks:
        return {}
    blobs = dict(ctx.git.read_blobs(dict.fromkeys(sha for sha, _ in tasks)))
    units = list(tasks)
    work = [(path, blobs[sha], tasks[(sha, path)]) for sha, path in units]
    results: dict[tuple[str, str], dict[str, Any]] = {}
    report = _stage(ctx.progress, "analysing files", len(work))
    if jobs > 1 and len(work) >= _POOL_MIN_BLOBS:
        with ProcessPoolExecutor(max_workers=min(jobs, len(work))) as pool:
            chunk = max(1, len(work) // (jobs * 4))
            answers = pool.map(_analyse_blob_task, work, chunksize=chunk)
            for unit, payloads in zip(units, answers, strict=True):
                results[unit] = payloads
                report()
    else:
        for unit, task in zip(units, work, strict=True):
            results[unit] = analyse_blob(*task)
            report()
    return results


def _blame_todo_files(ctx: Context, jobs: int, stats: Stats) -> dict[str, dict[int, BlameLine]]:
    """Blame of the TODO lines of every file that has TODOs: ``{path: {line: BlameLine}}``."""
    wanted = {path: [t["line"] for t in payload["result"]]
              for path, payload in ctx.blob_results["todos"].items() if payload["result"]}
    keys = {path: f"{ctx.commit}:{path}" for path in wanted}
    cached = store_mod.cache_get(ctx.store, "blame", BLAME_VERSION, keys.values())
    missing = [path for path in wanted if keys[path] not in cached]
    stats.blamed_files, stats.blame_cached = len(missing), len(wanted) - len(missing)
    report = _stage(ctx.progress, "blaming TODOs", len(missing))

    def blame_one(path: str) -> tuple[str, dict[str, list]]:
        lines = ctx.git.blame(ctx.commit, path)
        report()
        return path, {str(n): [lines[n].commit, lines[n].author, lines[n].author_time,
                               lines[n].author_tz_minutes] for n in wanted[path] if n in lines}

    # git does the work in its own processes, so threads are enough to overlap them.
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        fresh = list(pool.map(blame_one, missing))
    store_mod.cache_put(ctx.store, "blame", BLAME_VERSION,
                        ((keys[path], payload) for path, payload in fresh))
    cached.update((keys[path], payload) for path, payload in fresh)
    return {path: {int(n): BlameLine(*row) for n, row in cached[keys[path]].items()}
            for path in wanted}


def tree_digest(files: list[TreeEntry]) -> str:
    """A digest of the (path, blob sha) pairs of the Python files: the tree analysers' key."""
    digest = hashlib.sha1()
    for entry in sorted(files, key=lambda e: e.path):
        digest.update(f"{entry.path}\0{entry.sha}\n".encode())
    return digest.hexdigest()


def _tree_version(analyser: Analyser) -> str:
    # A tree analyser's output also depends on the analysers whose results it reads.
    from harness.analysis.registry import REGISTRY

    parts = [analyser.version, version_of("harness.analysis.sources", ())]
    parts += [_tree_version(REGISTRY[n]) for n in analyser.needs]
    return "+".join(parts)


def _run_tree_analyser(ctx: Context, analyser: Analyser, stats: Stats) -> None:
    key, version = tree_digest(ctx.files), _tree_version(analyser)
    hit = store_mod.cache_get(ctx.store, analyser.name, version, [key])
    if key in hit:
        ctx.tree_results[analyser.name] = hit[key]
        stats.tree_cached.append(analyser.name)
        return
    result = analyser.run(ctx)
    store_mod.cache_put(ctx.store, analyser.name, version, [(key, result)])
    ctx.tree_results[analyser.name] = result
    stats.tree_computed.append(analyser.name)


def _stage(progress: Progress | None, label: str, total: int) -> Callable[[], None]:
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(label, done, total)

    return advance


# --- command line ---------------------------------------------------------------------------
def analyse_command(args: argparse.Namespace, settings: Settings) -> int:
    """``harness analyse``: analyse, write ``--json``, print a short summary; exit status."""
    settings = settings.with_options(store=args.store, rev=args.rev, jobs=args.jobs,
                                     analysis_path=args.path)
    if settings.jobs < 0:
        raise UsageError("--jobs must be 0 (one per core) or more")
    with store_mod.open_store(settings.store) as db, doc_mod.progress_bar() as progress:
        trends = args.trends or ("tags" if args.history else "none")
        if trends != "none" and not args.history:
            raise UsageError("--trends needs --history")
        result = analyse(settings.analysis_path, settings.rev, history=args.history,
                         coverage=args.coverage, jobs=settings.jobs,
                         analysers=args.analysers, store=db, progress=progress,
                         trends=trends, pulls_export=args.pulls_export)
    if args.json:
        out = Path(args.json)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result.document, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror}") from None
    print(doc_mod.summary_text(result.document, result.stats), file=sys.stdout)
    return 0
