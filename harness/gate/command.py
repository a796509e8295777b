"""``harness gate``: resolve the refs, compare conformance and the quality of new code, print
the verdict as Markdown and answer with the exit status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness import store as store_mod
from harness.analysis.engine import analyse
from harness.analysis.git import GitRepo
from harness.analysis.sources import decode_source
from harness.config import Settings
from harness.gate import rules
from harness.gate.conformance import conformance_section
from harness.gate.coverage import HeadSources, changed_line_coverage
from harness.gate.diff import ChangeSet, changed_lines, merge_base
from harness.gate.markdown import code, render
from harness.gate.model import Section, Verdict


def evaluate(path: str | Path, base: str, head: str = "HEAD", baseline: str | None = None,
             settings: Settings | None = None, store: store_mod.Store | None = None) -> Verdict:
    """Decide a pull request from ``base`` to ``head`` of the repository at ``path``.

    Conformance: the run ``store`` records for the head commit (else the latest, with a
    warning) against the ``baseline`` file; quality: the analysis of ``head`` against that of
    the merge base, on the lines the diff changed (coverage with its thresholds when
    configured). ``store`` None opens ``settings.store``. Returns the Verdict; UsageError for
    a bad path, ref or baseline file.
    """
    settings = settings or Settings()
    repo = GitRepo(path)
    base_sha, head_sha = repo.resolve(base), repo.resolve(head)
    root = merge_base(repo, base_sha, head_sha)
    db = store if store is not None else store_mod.open_store(settings.store)
    try:
        # a bad baseline fails before analysis
        conformance = conformance_section(db, baseline, head_sha)
        before = analyse(path, root, history=False, jobs=settings.jobs, store=db,
                         record=False).document
        after = analyse(path, head_sha, history=False, jobs=settings.jobs, store=db,
                        record=False).document
    finally:
        if store is None:
            db.close()
    changes = changed_lines(repo, root, head_sha)
    sections = [conformance, *quality_sections(before, after, changes, settings,
                                               _head_reader(repo, head_sha),
                                               _head_sources(repo, head_sha))]
    return Verdict(sections, _context(base, head, base_sha, head_sha, root, len(changes.files)))


def quality_sections(before: dict[str, Any], after: dict[str, Any], changes: ChangeSet,
                     settings: Settings, read_source: rules.SourceReader,
                     head_sources: HeadSources | None = None) -> list[Section]:
    """The quality rules on new code, in report order (coverage only when a coverage file or
    a coverage threshold is configured; ``head_sources`` is needed for the total one)."""
    sections = [
        rules.complexity_section(before, after, changes, settings.gate_max_cc,
                                 settings.gate_max_cognitive),
        rules.todo_section(before, after, changes, settings.gate_todo_needs_issue),
        rules.design_section(before, after, changes),
        rules.cycle_section(before, after, changes, read_source),
        rules.debt_section(before, after),
    ]
    if (settings.coverage_file or settings.gate_min_coverage is not None
            or settings.gate_min_total_coverage is not None):
        sections.append(changed_line_coverage(
            settings.coverage_file, changes, read_source, settings.gate_min_coverage,
            settings.gate_min_total_coverage, head_sources))
    return sections


def _head_reader(repo: GitRepo, commit: str) -> rules.SourceReader:
    """A reader of the head's file texts by path, which lists the tree on first use."""
    tree: dict[str, str] = {}

    def read(path: str) -> str | None:
        if not tree:
            tree.update((entry.path, entry.sha) for entry in repo.ls_tree(commit))
        if path not in tree:
            return None
        data = dict(repo.read_blobs([tree[path]]))[tree[path]]
        return decode_source(data).text

    return read


def _head_sources(repo: GitRepo, commit: str) -> HeadSources:
    """A reader of every Python file of the head (path -> text), read in one batch on call."""

    def read() -> dict[str, str]:
        shas = {entry.path: entry.sha for entry in repo.ls_tree(commit)
                if entry.path.endswith(".py")}
        blobs = dict(repo.read_blobs(sorted(set(shas.values()))))
        texts = {path: decode_source(blobs[sha]).text for path, sha in shas.items()}
        return {path: text for path, text in texts.items() if text is not None}

    return read


def _context(base: str, head: str, base_sha: str, head_sha: str, root: str,
             files: int) -> list[str]:
    lines = [f"Head {code(head)} ({code(head_sha[:12])}) against base {code(base)} "
             f"({code(base_sha[:12])})."]
    if root == base_sha:
        where = "the base itself"
    else:
        where = f"{code(root[:12])}, not the base's tip"
    lines.append(f"The quality rules compare the head with the merge base "
                 f"({code(f'git merge-base {base} {head}')} = {where}), the real base of "
                 f"the pull request, and look only at code the diff changes "
                 f"({files} files changed).")
    return lines


def gate_command(args: argparse.Namespace, settings: Settings) -> int:
    """``harness gate``: print the verdict as Markdown; 0 when it passes, 1 when it fails."""
    settings = settings.with_options(store=args.store)
    verdict = evaluate(args.path, args.base, args.head, args.baseline, settings)
    sys.stdout.write(render(verdict))
    sys.stdout.flush()
    return 0 if verdict.passed else 1
