"""Build real git repositories in temporary folders, for every test folder that needs one.

Every commit has a fixed author, author date and committer date, so blame, ages and
history figures are exact. No global or system git configuration is read. ``tests/`` is on
``sys.path`` (``pythonpath`` in pyproject.toml), so tests import this module as ``gitrepo``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

DEFAULT_DATE = "2020-01-01T12:00:00+00:00"


def _env(author: str, date: str, committer: str | None, committer_date: str | None) -> dict:
    committer = committer or author
    return {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "HOME": os.devnull,
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": f"{author.split()[0].lower()}@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": committer,
        "GIT_COMMITTER_EMAIL": f"{committer.split()[0].lower()}@example.com",
        "GIT_COMMITTER_DATE": committer_date or date,
    }


def git(cwd: Path, *args: str, author: str = "Alice", date: str = DEFAULT_DATE,
        committer: str | None = None, committer_date: str | None = None) -> str:
    """Run git in ``cwd`` with a fixed identity and dates; return stdout (stripped)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env=_env(author, date, committer, committer_date))
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


class GitRepoBuilder:
    """A working repository under ``root`` with helpers to write files and commit them;
    ``date`` is the author and committer date of every commit that names none."""

    def __init__(self, root: Path, date: str = DEFAULT_DATE):
        self.root = Path(root)
        self.date = date
        self.root.mkdir(parents=True, exist_ok=True)
        git(self.root, "init", "-q", "-b", "main")

    def git(self, *args: str, **identity: str) -> str:
        """Run git in the repository; return stdout (stripped)."""
        identity.setdefault("date", self.date)
        return git(self.root, *args, **identity)

    def write(self, path: str, content: str | bytes) -> None:
        """Write ``content`` (bytes verbatim, text as UTF-8 with ``\\n``) at ``path``."""
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())

    def write_files(self, files: Mapping[str, str | bytes]) -> None:
        """``write`` every ``{path: content}`` of ``files``."""
        for path, content in files.items():
            self.write(path, content)

    def commit(self, message: str, author: str = "Alice", date: str | None = None,
               committer: str | None = None, committer_date: str | None = None) -> str:
        """Stage everything and commit; return the new commit's sha."""
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, author=author,
                 date=date or self.date, committer=committer, committer_date=committer_date)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def tag(self, name: str, message: str | None = None, date: str | None = None) -> None:
        """A lightweight tag, or an annotated one when ``message`` is given."""
        if message is None:
            self.git("tag", name)
        else:
            date = date or self.date
            self.git("tag", "-a", name, "-m", message, date=date, committer_date=date)

    def merge(self, branch: str, author: str = "Alice", date: str | None = None) -> str:
        """Merge ``branch`` into the current branch with a merge commit; return its sha."""
        self.git("merge", "-q", "--no-ff", "-m", f"Merge {branch}", branch,
                 author=author, date=date or self.date)
        return self.head()

    def clone(self, dest: Path, *options: str) -> Path:
        """Clone this repository to ``dest`` (e.g. ``--bare``, ``--depth=1``); return dest."""
        git(dest.parent, "clone", "-q", *options, f"file://{self.root}", str(dest))
        return dest
