"""The git side of trends: release tags, the first-parent line, and the Python file changes
from one revision to the next, each read in one git process (never a checkout).

A change is ``(path, blob sha or None)``: the Python regular file ``path`` now has that blob,
or is gone (deleted, or no longer a regular file).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator

from harness.analysis.git import GitRepo
from harness.analysis.history_log import Git, nul_tokens, text
from harness.analysis.releases import (
    TAG_FORMAT,
    Tag,
    epoch,
    nested_tag_refs,
    parse_tags,
    version_key,
)
from harness.analysis.sources import is_python_path

Change = tuple[str, "str | None"]
_REGULAR = ("100644", "100755")  # file modes of regular files (not links, not submodules)
_RAW = ("-z", "--raw", "--no-renames", "--no-abbrev", "--no-color", "--format=%x1e%H")


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


def python_tree(repo: GitRepo, commit: str) -> dict[str, str]:
    """``{path: blob sha}`` of the Python regular files of ``commit``'s tree."""
    return {e.path: e.sha for e in repo.ls_tree(commit)
            if is_python_path(e.path) and e.mode in _REGULAR}


def line_changes(git: Git, tip: str, base: str | None) -> list[tuple[str, list[Change]]]:
    """``(sha, changes)`` per commit of the first-parent line from after ``base`` (from the
    root when None) to ``tip``, oldest first, each against its first parent. One streamed
    ``git log --raw -z``."""
    args = git.command("log", "--first-parent", "--reverse", "--diff-merges=first-parent",
                       "--root", *_RAW, tip, *([f"^{base}"] if base else []))
    env = {**os.environ, "GIT_NO_REPLACE_OBJECTS": "1", "GIT_TERMINAL_PROMPT": "0"}
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, env=env)
        assert proc.stdout is not None
        try:
            found = list(_parse_raw(nul_tokens(proc.stdout)))
        finally:
            if proc.poll() is None:
                proc.kill()  # parsing failed: do not wait for the whole log
            rc = proc.wait()
        if rc != 0:
            errors.seek(0)
            raise RuntimeError(f"git log failed ({rc}): {text(errors.read()).strip()}")
    return found


def step_changes(git: Git, commits: list[str]) -> list[list[Change]]:
    """The changes from each commit of ``commits`` to the next (``len(commits) - 1`` lists),
    from one ``git diff-tree --stdin`` over the consecutive pairs."""
    if len(commits) < 2:
        return []
    pairs = "".join(f"{new} {old}\n" for old, new in zip(commits[:-1], commits[1:], strict=True))
    out = git.run("diff-tree", "--stdin", "-r", "--always", *_RAW, input=pairs.encode())
    found = [changes for _, changes in _parse_raw(iter(out.split(b"\0")))]
    if len(found) != len(commits) - 1:
        raise RuntimeError(f"git diff-tree gave {len(found)} diffs for {len(commits) - 1} pairs")
    return found


def apply_changes(tree: dict[str, str], changes: Iterable[Change]) -> None:
    """Apply ``changes`` to ``tree`` ({path: blob sha}) in place."""
    for path, blob in changes:
        if blob:
            tree[path] = blob
        else:
            tree.pop(path, None)


def _parse_raw(tokens: Iterator[bytes]) -> Iterator[tuple[str, list[Change]]]:
    """Commits and their Python file changes from ``git log|diff-tree -z --raw
    --format=%x1e%H``."""
    sha: str | None = None
    changes: list[Change] = []
    for token in tokens:
        token = token.lstrip(b"\n")
        if token.startswith(b"\x1e"):
            if sha is not None:
                yield sha, changes
            sha, changes = token[1:].strip().decode(), []
        elif token.startswith(b":"):
            path = text(next(tokens))
            if is_python_path(path):
                _, new_mode, _, blob, status = token[1:].decode().split(" ")[:5]
                keep = status != "D" and new_mode in _REGULAR
                changes.append((path, blob if keep else None))
    if sha is not None:
        yield sha, changes
