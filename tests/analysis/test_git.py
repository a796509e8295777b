"""git.py against real repositories: trees, blobs, revisions, blame, bare and shallow clones."""

from __future__ import annotations

import os
import subprocess

import pytest
from gitrepo import GitRepoBuilder

from harness.analysis.git import GitRepo, parse_blame_porcelain
from harness.errors import UsageError


@pytest.fixture
def repo(tmp_path):
    builder = GitRepoBuilder(tmp_path / "work")
    builder.write("a.py", "x = 1\ny = 2\n")
    builder.write("pkg/b.py", "def f():\n    return 1\n")
    builder.commit("first", author="Alice", date="2020-01-01T10:00:00+02:00")
    builder.write("a.py", "x = 1\ny = 3\nz = 4\n")
    builder.commit(
        "second",
        author="Bob Smith",
        date="2020-02-01T09:30:00-05:00",
        committer="Carol",
        committer_date="2020-02-03T00:00:00+00:00",
    )
    builder.tag("v1", message="release one", date="2020-02-04T00:00:00+00:00")
    return builder


def test_ls_tree_lists_every_blob_with_sha_and_size(repo):
    git = GitRepo(repo.root)
    entries = {e.path: e for e in git.ls_tree(git.resolve("HEAD"))}
    assert sorted(entries) == ["a.py", "pkg/b.py"]
    expected_sha = repo.git("rev-parse", "HEAD:pkg/b.py")
    assert entries["pkg/b.py"].sha == expected_sha
    assert entries["a.py"].size == len("x = 1\ny = 3\nz = 4\n")
    assert entries["a.py"].mode == "100644" and not entries["a.py"].is_symlink


def test_symlinks_are_marked(repo):
    os.symlink("a.py", repo.root / "link.py")
    repo.commit("link")
    git = GitRepo(repo.root)
    entries = {e.path: e for e in git.ls_tree(git.resolve("HEAD"))}
    assert entries["link.py"].is_symlink


def test_read_blobs_returns_exact_bytes_in_order_even_when_large(repo):
    big = bytes(range(256)) * 2000  # 512 KB: larger than any pipe buffer
    repo.write("big.bin", big)
    repo.write("nul.py", b"a = 1\0\n")
    repo.commit("binaries")
    git = GitRepo(repo.root)
    shas = [repo.git("rev-parse", f"HEAD:{p}") for p in ("nul.py", "big.bin", "a.py", "nul.py")]
    got = list(git.read_blobs(shas))
    assert [sha for sha, _ in got] == shas
    assert got[1][1] == big
    assert got[0][1] == got[3][1] == b"a = 1\0\n"
    assert got[2][1] == b"x = 1\ny = 3\nz = 4\n"


def test_resolve_peels_annotated_tags_and_rejects_bad_revisions(repo):
    git = GitRepo(repo.root)
    head = repo.head()
    assert git.resolve("v1") == head
    assert git.resolve("HEAD~1") == repo.git("rev-parse", "HEAD^")
    assert git.resolve(head[:8]) == head
    for bad in ("nope", "--all", "HEAD~5", ""):
        with pytest.raises(UsageError):
            git.resolve(bad)


def test_not_a_repository_and_missing_path_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="not a git repository"):
        GitRepo(tmp_path)
    with pytest.raises(UsageError, match="no such directory"):
        GitRepo(tmp_path / "missing")


def test_empty_repository_has_no_head(tmp_path):
    GitRepoBuilder(tmp_path / "empty")
    with pytest.raises(UsageError, match="unknown revision"):
        GitRepo(tmp_path / "empty").resolve("HEAD")


def test_commit_time_is_the_committer_date(repo):
    git = GitRepo(repo.root)
    # 2020-02-03T00:00:00Z, the committer date, not Bob's author date
    assert git.commit_time(git.resolve("HEAD")) == 1580688000


def test_blame_attributes_lines_to_their_authors_with_time_zones(repo):
    git = GitRepo(repo.root)
    blame = git.blame(git.resolve("HEAD"), "a.py")
    assert sorted(blame) == [1, 2, 3]
    assert blame[1].author == "Alice"
    assert blame[1].author_date == "2020-01-01T10:00:00+02:00"
    assert blame[2].author == blame[3].author == "Bob Smith"
    assert blame[2].author_date == "2020-02-01T09:30:00-05:00"
    assert blame[3].author_time == 1580567400  # 2020-02-01T14:30:00Z
    assert blame[2].commit == repo.head()
    # at the first commit the same file has two lines, both Alice's
    first = git.blame(git.resolve("HEAD~1"), "a.py")
    assert [first[n].author for n in (1, 2)] == ["Alice", "Alice"]


def test_bare_shallow_and_detached_clones_read_the_same(repo, tmp_path):
    head = repo.head()
    bare = GitRepo(repo.clone(tmp_path / "bare.git", "--bare"))
    shallow = GitRepo(repo.clone(tmp_path / "shallow", "--depth=1"))
    detached = repo.clone(tmp_path / "detached")
    subprocess.run(["git", "checkout", "-q", "--detach", "HEAD~1"], cwd=detached, check=True)
    for git in (bare, shallow):
        assert git.resolve("HEAD") == head
        assert [e.path for e in git.ls_tree(head)] == ["a.py", "pkg/b.py"]
        assert git.blame(head, "a.py")[1].author in ("Alice", "Bob Smith")
    assert bare.blame(head, "a.py")[1].author == "Alice"
    # a shallow clone attributes everything to its boundary commit
    assert shallow.blame(head, "a.py")[1].author == "Bob Smith"
    assert GitRepo(detached).resolve("HEAD") == repo.git("rev-parse", "HEAD~1")
    assert GitRepo(detached / "pkg").root == detached.resolve()


def test_parse_blame_porcelain_reuses_commit_headers():
    sha = "a" * 40
    out = (
        f"{sha} 1 1 2\nauthor Zoë\nauthor-mail <z@x>\nauthor-time 100\n"
        f"author-tz -0130\nsummary s\nfilename f.py\n\tline one\n"
        f"{sha} 2 2\n\tline two\n"
    ).encode()
    blame = parse_blame_porcelain(out)
    assert blame[2].author == "Zoë" and blame[2].author_tz_minutes == -90
    assert blame[1].author_date == "1969-12-31T22:31:40-01:30"  # 00:01:40Z
