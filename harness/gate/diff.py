"""What a pull request changed: the merge base and the lines ``git diff -U0`` adds or removes.

Lines are numbered in the head's version of each file. A pure deletion is kept as the head
line it follows, so a function that only lost lines still counts as changed. Renames are
followed (``-M``) so that a moved file's code is compared with its base version, not taken
for new code.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from harness.analysis.git import GitRepo
from harness.errors import UsageError

_HUNK = re.compile(rb"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


@dataclass
class FileChange:
    """The changes to one file: its head ``path``, base ``old_path`` when renamed, the head
    lines ``added`` and the head lines that ``deleted_after`` base lines were removed after."""

    path: str
    old_path: str | None = None
    added: set[int] = field(default_factory=set)
    deleted_after: set[int] = field(default_factory=set)

    def touches(self, first: int, last: int) -> bool:
        """True when lines ``first``..``last`` (inclusive) were added to or removed from."""
        if not self.added.isdisjoint(range(first, last + 1)):
            return True
        return any(first <= after < last for after in self.deleted_after)


@dataclass
class ChangeSet:
    """Every changed file of a diff, keyed by its head path."""

    files: dict[str, FileChange] = field(default_factory=dict)

    def base_path(self, path: str) -> str:
        """The path that the head file ``path`` had at base (differs only for renames)."""
        change = self.files.get(path)
        return change.old_path if change is not None and change.old_path else path

    def added(self, path: str, line: int) -> bool:
        """True when head line ``line`` of ``path`` was added or rewritten."""
        change = self.files.get(path)
        return change is not None and line in change.added

    def touches(self, path: str, first: int, last: int) -> bool:
        """True when the diff added or removed lines within ``first``..``last`` of ``path``."""
        change = self.files.get(path)
        return change is not None and change.touches(first, last)


def merge_base(repo: GitRepo, base: str, head: str) -> str:
    """The full sha of the best common ancestor of commits ``base`` and ``head``."""
    proc = subprocess.run(["git", f"--git-dir={repo.git_dir}", "merge-base", base, head],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        raise UsageError(f"{base[:12]} and {head[:12]} have no common ancestor "
                         "(in a shallow clone, fetch the whole history first)")
    return proc.stdout.decode().strip()


def changed_lines(repo: GitRepo, base: str, head: str) -> ChangeSet:
    """The ChangeSet of ``git diff -U0 -M base head`` (both full commit shas)."""
    # Options pinned so that user configuration cannot change the format parsed below.
    proc = subprocess.run(
        ["git", f"--git-dir={repo.git_dir}", "-c", "core.quotePath=true", "diff", "-U0", "-M",
         "--no-color", "--no-ext-diff", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/",
         base, head, "--"],
        capture_output=True, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"git diff failed: {message[-1] if message else proc.returncode}")
    return parse_diff(proc.stdout)


def parse_diff(patch: bytes) -> ChangeSet:
    """Parse ``git diff -U0`` output (a/ b/ prefixes) into a ChangeSet."""
    changes = ChangeSet()
    old: str | None = None
    current: FileChange | None = None
    minus = plus = 0  # lines left in the current hunk: content, never headers
    for raw in patch.split(b"\n"):
        if minus or plus:
            if raw.startswith(b"-"):
                minus -= 1
            elif raw.startswith(b"+"):
                plus -= 1
            continue
        if raw.startswith(b"diff --git "):
            old, current = None, None
        elif raw.startswith(b"rename from "):
            old = _path(raw[len(b"rename from "):])
        elif raw.startswith(b"rename to "):
            current = _file(changes, _path(raw[len(b"rename to "):]), old)
        elif raw.startswith(b"+++ "):
            # git ends the name with a tab when it has spaces; the b/ prefix is inside quotes
            name = _path(raw[4:].rstrip(b"\t"))
            current = None if name == "/dev/null" else _file(changes, name[2:], old)
        elif current is not None and (hunk := _HUNK.match(raw)):
            old_count = 1 if hunk.group(1) is None else int(hunk.group(1))
            start = int(hunk.group(2))
            new_count = 1 if hunk.group(3) is None else int(hunk.group(3))
            if new_count:
                current.added.update(range(start, start + new_count))
            else:
                current.deleted_after.add(start)
            minus, plus = old_count, new_count
    return changes


def _path(raw: bytes) -> str:
    return unquote_path(raw.decode("utf-8", "replace"))


def _file(changes: ChangeSet, path: str, old: str | None) -> FileChange:
    if path not in changes.files:
        changes.files[path] = FileChange(path, old if old != path else None)
    return changes.files[path]


def unquote_path(text: str) -> str:
    """A path as git prints it, C-quoted when it has unusual bytes, back to text."""
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        return text
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            if body[i + 1] in "01234567":
                out.append(int(body[i + 1:i + 4], 8))
                i += 4
                continue
            out.append(_C_ESCAPES.get(body[i + 1], ord(body[i + 1])))
            i += 2
            continue
        out += body[i].encode()
        i += 1
    return out.decode("utf-8", "replace")
