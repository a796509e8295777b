"""Git access for the analysers: trees, blobs and blame of any revision, without a checkout.

GitPython opens and validates the repository; the bulk work goes through git plumbing:
``git ls-tree -r`` for a tree, one ``git cat-file --batch`` process for many blobs and
``git blame --porcelain`` per file. Works on bare repositories, shallow clones, detached
HEADs and tags (a tag is peeled to its commit).
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import git

from harness.errors import UsageError


@dataclass(frozen=True)
class TreeEntry:
    """One file of a tree: repo-relative ``path`` (``/``), blob ``sha``, git ``mode``, ``size``."""

    path: str
    sha: str
    mode: str
    size: int

    @property
    def is_symlink(self) -> bool:
        return self.mode == "120000"


@dataclass(frozen=True)
class BlameLine:
    """Who last touched a line: author name, author time (epoch seconds) and tz offset (min)."""

    commit: str
    author: str
    author_time: int
    author_tz_minutes: int

    @property
    def author_date(self) -> str:
        """ISO-8601 author date in the author's own time zone."""
        tz = timezone(timedelta(minutes=self.author_tz_minutes))
        return datetime.fromtimestamp(self.author_time, tz).isoformat()


class GitRepo:
    """A repository opened for reading at any revision."""

    def __init__(self, path: str | Path):
        try:
            self.repo = git.Repo(Path(path), search_parent_directories=True)
        except git.NoSuchPathError:
            raise UsageError(f"{path}: no such directory") from None
        except git.InvalidGitRepositoryError:
            raise UsageError(f"{path}: not a git repository") from None
        self.git_dir = Path(self.repo.git_dir).resolve()
        work = self.repo.working_tree_dir
        self.root = Path(work).resolve() if work else self.git_dir

    # --- plumbing ----------------------------------------------------------------------
    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        # --git-dir keeps bare and non-bare repositories on one code path.
        proc = subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args], capture_output=True, check=False
        )
        if check and proc.returncode != 0:
            message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise RuntimeError(f"git {' '.join(args)} failed: {message[-1] if message else ''}")
        return proc

    def resolve(self, rev: str) -> str:
        """The full sha of the commit ``rev`` names (tags peeled); UsageError if none."""
        if not rev or rev.startswith("-"):
            raise UsageError(f"bad revision {rev!r}")
        proc = self._run("rev-parse", "--verify", "--quiet", "--end-of-options",
                         f"{rev}^{{commit}}", check=False)
        if proc.returncode != 0:
            raise UsageError(f"unknown revision {rev!r} in {self.root}")
        return proc.stdout.decode().strip()

    def commit_time(self, sha: str) -> int:
        """Committer time of commit ``sha`` in epoch seconds."""
        return int(self._run("show", "-s", "--format=%ct", sha).stdout.decode().strip())

    def ls_tree(self, commit: str) -> list[TreeEntry]:
        """Every blob of ``commit``'s tree (recursively); submodules are left out."""
        out = self._run("ls-tree", "-r", "-l", "-z", "--full-tree", commit).stdout
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, raw_path = record.partition(b"\t")
            mode, kind, sha, size = meta.split()
            if kind != b"blob":
                continue  # 'commit' entries are submodules: not this repository's code
            entries.append(TreeEntry(raw_path.decode("utf-8", "replace"), sha.decode(),
                                     mode.decode(), int(size) if size != b"-" else 0))
        return entries

    def read_blobs(self, shas: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        """Yield ``(sha, content)`` for each sha, through one ``git cat-file --batch``."""
        wanted = list(shas)
        if not wanted:
            return
        proc = subprocess.Popen(
            ["git", f"--git-dir={self.git_dir}", "cat-file", "--batch"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout

        def feed() -> None:
            # A writer thread keeps the pipe full without deadlocking on large outputs.
            try:
                stdin.write("".join(f"{sha}\n" for sha in wanted).encode())
            finally:
                stdin.close()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            for sha in wanted:
                header = stdout.readline().split()
                if len(header) < 3:
                    raise RuntimeError(f"git cat-file: object {sha} is missing")
                size = int(header[2])
                data = stdout.read(size)
                stdout.read(1)  # the newline after each object
                yield sha, data
        finally:
            writer.join()
            stdout.close()
            proc.wait()

    def blame(self, commit: str, path: str) -> dict[int, BlameLine]:
        """Line number (1-based, in ``commit``'s version of ``path``) -> who last changed it."""
        out = self._run("blame", "--porcelain", commit, "--", path).stdout
        return parse_blame_porcelain(out)


def parse_blame_porcelain(out: bytes) -> dict[int, BlameLine]:
    """Parse ``git blame --porcelain`` output into ``{final line: BlameLine}``."""
    commits: dict[str, dict[str, str]] = {}
    lines: dict[int, str] = {}
    current = ""
    for raw in out.split(b"\n"):
        if raw.startswith(b"\t"):
            continue  # the line's content
        text = raw.decode("utf-8", "replace")
        head, _, rest = text.partition(" ")
        if len(head) in (40, 64) and _is_hex(head) and rest[:1].isdigit():
            current = head
            final_line = int(rest.split()[1])
            lines[final_line] = current
            commits.setdefault(current, {})
        elif current and head:
            commits[current].setdefault(head, rest)
    result = {}
    for number, sha in lines.items():
        info = commits[sha]
        result[number] = BlameLine(
            commit=sha,
            author=info.get("author", ""),
            author_time=int(info.get("author-time", "0")),
            author_tz_minutes=_tz_minutes(info.get("author-tz", "+0000")),
        )
    return result


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)


def _tz_minutes(tz: str) -> int:
    """'+0130' -> 90, '-0500' -> -300."""
    sign = -1 if tz.startswith("-") else 1
    digits = tz.lstrip("+-").rjust(4, "0")
    return sign * (int(digits[:2]) * 60 + int(digits[2:4]))
