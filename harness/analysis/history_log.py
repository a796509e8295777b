"""Git plumbing for history mining: one streamed ``git log --raw --numstat -z`` per run.

Nothing here walks commit objects in Python: git produces one NUL-separated stream, parsed
token by token, so memory stays bounded by one commit whatever the length of history.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.errors import UsageError

# Header fields, NUL-separated; the record starts with RS so a header is easy to recognise.
LOG_FIELDS = ("%H", "%P", "%an", "%ae", "%aI", "%cn", "%ce", "%cI", "%s")
LOG_FORMAT = "%x1e" + "%x00".join(LOG_FIELDS)
_CONFIG = ("-c", "core.quotepath=off", "-c", "log.showSignature=false",
           "-c", "i18n.logOutputEncoding=UTF-8", "-c", "diff.renames=true")
_SUBMODULE_MODE = b"160000"
_ANGLE = re.compile(r"[<>\n]")
_IDENTITY = re.compile(r"^(.*?) ?<([^<>]*)>$")


def text(raw: bytes) -> str:
    """Bytes from git as text: UTF-8 when valid, else Latin-1 (never fails, never lossy)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


@dataclass(frozen=True)
class Commit:
    """One commit of the log stream; ``changes`` rows are (status, path, old_path, blob,
    added, deleted) with added/deleted None for binary files."""

    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    subject: str
    changes: tuple[tuple[str, str, str | None, str, int | None, int | None], ...]


class Git:
    """A repository addressed by path; runs git with fixed, output-stable settings."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if not Path(self.path).exists():
            raise UsageError(f"no such directory: {self.path}")
        try:
            out = self.run("rev-parse", "--absolute-git-dir", "--is-shallow-repository")
        except subprocess.CalledProcessError as exc:
            raise UsageError(f"not a git repository: {self.path}") from exc
        git_dir, shallow = out.decode().split("\n")[:2]
        self.git_dir = git_dir
        self.shallow = shallow.strip() == "true"

    def command(self, *args: str) -> list[str]:
        return ["git", "-C", self.path, *_CONFIG, *args]

    def run(self, *args: str, input: bytes | None = None, check: bool = True) -> bytes:
        """Run a git command and return its stdout (raises CalledProcessError if check)."""
        proc = subprocess.run(self.command(*args), input=input, capture_output=True,
                              check=check, env=_env())
        return proc.stdout

    def commit(self, rev: str) -> str:
        """Full sha of the commit ``rev`` names (UsageError when it names none)."""
        out = self.run("rev-parse", "--verify", "--quiet", "--end-of-options",
                       f"{rev}^{{commit}}", check=False)
        if not out.strip():
            raise UsageError(f"{rev!r} does not name a commit in {self.path}")
        return out.decode().strip()

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = subprocess.run(self.command("merge-base", "--is-ancestor", ancestor, descendant),
                              capture_output=True, env=_env())
        return proc.returncode == 0

    def count(self, tip: str, exclude: Iterable[str]) -> int:
        """Commits reachable from ``tip`` and from none of ``exclude``."""
        revs = "".join(f"^{sha}\n" for sha in exclude) + f"{tip}\n"
        return int(self.run("rev-list", "--count", "--stdin", input=revs.encode()).strip())

    def tree_paths(self, tip: str) -> set[str]:
        """Every file path in the tree of ``tip``."""
        out = self.run("ls-tree", "-r", "-z", "--name-only", "--full-tree", tip)
        return {text(p) for p in out.split(b"\0") if p}

    def mailmap(self, tip: str, identities: list[tuple[str, str]]) -> dict[tuple[str, str],
                                                                          tuple[str, str]]:
        """Identities mapped through ``.mailmap`` (of ``tip``, and of the worktree if any);
        an identity git could not read back unambiguously (``<`` in a name) stays as it is."""
        mapped = {ident: ident for ident in identities}
        plain = [i for i in identities if not _ANGLE.search(i[0] + i[1])]
        if not plain:
            return mapped
        lines = "".join(f"{n} <{e}>\n" for n, e in plain).encode("utf-8")
        out = self.run("-c", f"mailmap.blob={tip}:.mailmap", "check-mailmap", "--stdin",
                       input=lines)
        for ident, line in zip(plain, text(out).split("\n")[:len(plain)], strict=True):
            match = _IDENTITY.match(line)
            if match:
                mapped[ident] = (match.group(1), match.group(2))
        return mapped

    def log(self, tip: str, exclude: Iterable[str]) -> Generator[Commit, None, None]:
        """Commits reachable from ``tip`` but not from ``exclude``, parents before children,
        each with its raw + numstat changes (renames detected; merges carry none)."""
        args = self.command(
            "log", "--stdin", "--reverse", "--topo-order", "-z", "--raw", "--numstat", "-M",
            "--no-abbrev", "--no-color", "--no-ext-diff", "--no-textconv", "--no-mailmap",
            f"--format={LOG_FORMAT}",
        )
        revs = "".join(f"^{sha}\n" for sha in exclude) + f"{tip}\n"
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=errors, env=_env())
            try:
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(revs.encode())
                proc.stdin.close()
                yield from parse_log(nul_tokens(proc.stdout))
            finally:
                if proc.poll() is None:
                    proc.kill()
                rc = proc.wait()
            if rc != 0:
                errors.seek(0)
                raise RuntimeError(f"git log failed ({rc}): {text(errors.read()).strip()}")


def _env() -> dict[str, str]:
    # Never prompt, never page, and ignore the user's replace refs and grafts' surprises.
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat",
            "GIT_NO_REPLACE_OBJECTS": "1"}


def nul_tokens(stream: IO[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """The NUL-separated tokens of a ``git ... -z`` output stream, read ``size`` bytes at a
    time (the last token may end without a NUL)."""
    rest = b""
    while chunk := stream.read(size):
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def parse_log(tokens: Iterable[bytes]) -> Iterator[Commit]:
    """Commits from the NUL-separated tokens of ``git log -z --raw --numstat`` with
    LOG_FORMAT; the file changes pair each raw entry with its numstat line."""
    it = iter(tokens)
    header: list[bytes] | None = None
    raw: list[tuple[str, bytes, bytes | None, bytes, bytes, bytes]] = []
    stats: dict[bytes, tuple[int | None, int | None]] = {}
    for token in it:
        if token.startswith(b"\n"):
            token = token[1:]  # git separates the header from the diff with a newline
        if not token:
            continue
        if token[:1] == b"\x1e":
            if header is not None:
                yield _commit(header, raw, stats)
            header = [token[1:]] + [next(it) for _ in range(len(LOG_FIELDS) - 1)]
            raw, stats = [], {}
        elif token[:1] == b":":
            old_mode, new_mode, _old_blob, new_blob, status = token[1:].split(b" ")[:5]
            path, old = next(it), None
            if status[:1] in (b"R", b"C"):
                old, path = path, next(it)
            raw.append((status[:1].decode(), path, old, new_blob, old_mode, new_mode))
        else:
            added, deleted, path = token.split(b"\t", 2)
            if not path:
                next(it)  # rename: old path, then new path
                path = next(it)
            stats[path] = (None if added == b"-" else int(added),
                           None if deleted == b"-" else int(deleted))
    if header is not None:
        yield _commit(header, raw, stats)


def _commit(header: list[bytes], raw: list, stats: dict) -> Commit:
    sha, parents, an, ae, ad, cn, ce, cd, subject = (text(f) for f in header)
    changes = []
    for status, path, old, blob, old_mode, new_mode in raw:
        if _SUBMODULE_MODE in (old_mode, new_mode):
            continue  # a submodule pointer is not a file anyone authors here
        added, deleted = stats.get(path, (None, None))
        changes.append((
            "M" if status == "T" else status, text(path),
            None if old is None else text(old), blob.decode(), added, deleted,
        ))
    return Commit(sha, tuple(parents.split()), an, ae, ad, cn, ce, cd, subject, tuple(changes))
