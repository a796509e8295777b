"""History mining end to end on git repositories built here, with hand-computed figures."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness import store as db
from harness.analysis.history import mine
from harness.analysis.history_log import Git
from harness.errors import UsageError

ALICE = ("Alice", "alice@corp.io")
BOB = ("Bob", "bob@corp.io")
CAROL = ("Carol", "carol@corp.io")
FRANCOIS = ("François X", "francois@corp.io")
FRANCOIS_ASCII = ("Francois X", "fx@corp.io")
FX = ("fx", "fx@corp.io")
DEPENDABOT = ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")
WEB_FLOW = ("GitHub", "noreply@github.com")


def _date(day: int) -> str:
    return f"2024-01-{day:02d}T12:00:00+00:00"


class Repo:
    """A throwaway repository whose every commit has fixed people and dates."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "tag.gpgsign", "false")

    def git(self, *args: str, who=ALICE, committer=None, day: int = 1, cday=None) -> str:
        committer = committer or who
        env = {
            **os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": who[0], "GIT_AUTHOR_EMAIL": who[1],
            "GIT_AUTHOR_DATE": _date(day), "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1], "GIT_COMMITTER_DATE": _date(cday or day),
        }
        out = subprocess.run(["git", *args], cwd=self.path, env=env, check=True,
                             capture_output=True)
        return out.stdout.decode("utf-8", "replace").strip()

    def commit(self, message: str, files: dict | None = None, **people) -> str:
        for name, content in (files or {}).items():
            target = self.path / name
            if content is None:
                target.unlink()
            elif isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, **people)
        return self.git("rev-parse", "HEAD")

    def append(self, name: str, *lines: str) -> str:
        return (self.path / name).read_text() + "".join(line + "\n" for line in lines)


def build_scenario(path: Path) -> Repo:
    """Ten commits: a feature branch with a rename merged as PR #7, integration by Bob,
    one person under three spellings, a bot, and a GitHub squash merge (#9)."""
    repo = Repo(path)
    repo.commit("start", {"a.py": "a1\na2\na3\n", "b.py": "b1\nb2\n"}, who=ALICE, day=1)
    repo.commit("grow", {"a.py": repo.append("a.py", "a4"), "b.py": repo.append("b.py", "b3")},
                who=BOB, day=2)
    repo.git("tag", "v0.1")
    repo.git("checkout", "-q", "-b", "feature")
    (path / "a.py").write_text(repo.append("a.py", "a5", "a6"))
    repo.git("mv", "b.py", "c.py")
    repo.commit("rename b to c", {"c.py": repo.append("c.py", "b4")}, who=CAROL, day=3)
    repo.git("checkout", "-q", "main")
    repo.commit("data", {"d.txt": "d1\n"}, who=ALICE, committer=BOB, day=4)
    repo.git("merge", "-q", "--no-ff", "feature", "-m",
             "Merge pull request #7 from carol/feature", who=BOB, day=5)
    repo.git("tag", "-a", "v1.0", "-m", "release 1.0", who=BOB, day=6)
    repo.commit("one", {"a.py": repo.append("a.py", "a7")}, who=FRANCOIS, day=7)
    repo.commit("two", {"c.py": repo.append("c.py", "b5")}, who=FRANCOIS_ASCII, day=8)
    repo.commit("three", {"e.py": "e1\n"}, who=FX, day=9)
    repo.commit("Bump d", {"d.txt": "d2\nd3\n"}, who=DEPENDABOT, day=10)
    repo.commit("Fix thing (#9)", {"a.py": repo.append("a.py", "a8"),
                                   "c.py": repo.append("c.py", "b6")},
                who=ALICE, committer=WEB_FLOW, day=11, cday=12)
    return repo


@pytest.fixture
def scenario(tmp_path: Path) -> Repo:
    return build_scenario(tmp_path / "repo")


def _mine(repo: Repo, store=None, **kw) -> dict:
    result = mine(repo.path, store=store, coupling_min_support=2, coupling_min_degree=0.0, **kw)
    return result


def _without_mined(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "mined"}


def test_scenario_history_counts_match_git_and_hand_counts(scenario: Repo):
    result = _mine(scenario)
    history = result["history"]
    assert history["commits"] == 10 == int(scenario.git("rev-list", "--count", "HEAD"))
    assert history["merges"] == 1 == int(scenario.git("rev-list", "--count", "--merges", "HEAD"))
    names = set(scenario.git("log", "--use-mailmap", "--format=%aN").splitlines())
    assert history["author_names"] == len(names) == 7
    assert history["authors"] == 4   # Alice, Bob, Carol, François (3 spellings); no bot
    assert history["first_commit"] == _date(1)
    assert history["last_commit"] == _date(11)
    assert history["head"] == scenario.git("rev-parse", "HEAD")
    assert history["partial"] is False and result["partial"] is False
    assert history["integrators"] == [{"name": "Bob", "commits": 2, "merges": 1,
                                       "integrated": 1}]
    assert history["aliases"] == [{"name": "François X", "identities": [
        "Francois X <fx@corp.io>", "François X <francois@corp.io>", "fx <fx@corp.io>"]}]
    assert history["truck_factor"] == 1
    assert result["people"]["truck_factor"]["authors"] == ["Alice"]
    assert result["people"]["authors"] == [
        {"name": "Alice", "commits": 3, "added": 8, "deleted": 0},
        {"name": "François X", "commits": 3, "added": 3, "deleted": 0},
        {"name": "Bob", "commits": 2, "added": 2, "deleted": 0},
        {"name": "Carol", "commits": 1, "added": 3, "deleted": 0},
    ]
    assert result["people"]["bots"] == [{"name": "dependabot[bot]", "commits": 1}]


def test_scenario_releases_pulls_churn_and_coupling(scenario: Repo):
    result = _mine(scenario)
    history = result["history"]
    v01, v10 = history["releases"]
    assert v01 == {
        "tag": "v0.1", "date": _date(2), "commit": scenario.git("rev-parse", "v0.1"),
        "annotated": False, "prerelease": False, "previous": None, "commits": 2,
        "authors": 2, "files": 2, "added": 7, "deleted": 0, "pulls": 0,
    }
    assert v10 == {
        "tag": "v1.0", "date": _date(6), "commit": scenario.git("rev-parse", "v1.0^{commit}"),
        "annotated": True, "prerelease": False, "previous": "v0.1", "commits": 3,
        "authors": 3, "files": 3, "added": 4, "deleted": 0, "pulls": 1,
    }
    assert int(scenario.git("rev-list", "--count", "v1.0", "^v0.1")) == v10["commits"]
    assert history["unreleased"] == {"commits": 5, "authors": 2}
    pulls = history["pulls"]
    assert (pulls["count"], pulls["merged"], pulls["median_lead_time_days"]) == (2, 2, 1.5)
    assert [(p["number"], p["lead_time_days"], p["release"]) for p in pulls["items"]] == [
        (7, 2.0, "v1.0"), (9, 1.0, None)]
    # b.py became c.py: its history follows; the bot's change counts as a commit, not a person
    assert result["churn"] == [
        {"path": "a.py", "commits": 5, "added": 8, "deleted": 0, "authors": 4},
        {"path": "c.py", "commits": 5, "added": 6, "deleted": 0, "authors": 4},
        {"path": "d.txt", "commits": 2, "added": 3, "deleted": 1, "authors": 1},
        {"path": "e.py", "commits": 1, "added": 1, "deleted": 0, "authors": 1},
    ]
    assert result["coupling"] == [{"a": "a.py", "b": "c.py", "support": 4,
                                   "confidence_ab": 0.8, "confidence_ba": 0.8, "degree": 0.8}]


def test_rerun_reads_nothing_and_one_new_commit_reads_one(scenario: Repo, tmp_path: Path):
    with db.Store(tmp_path / "h.db") as store:
        first = _mine(scenario, store)
        assert first["mined"] == 10
        again = _mine(scenario, store)
        assert again["mined"] == 0 and _without_mined(again) == _without_mined(first)
        scenario.commit("more", {"e.py": scenario.append("e.py", "e2")}, who=CAROL, day=13)
        after = _mine(scenario, store)
        assert after["mined"] == 1
        assert after["history"]["commits"] == 11
        assert db.history_lines(store, str(scenario.path / ".git"))[0]["commits"] == 11
    fresh = _mine(scenario)
    assert _without_mined(after) == _without_mined(fresh)


def test_interrupted_run_resumes_from_its_last_batch(scenario: Repo, tmp_path: Path):
    calls = []

    def stop_after_first_batch(label: str, done: int, total: int) -> None:
        calls.append((label, done, total))
        raise KeyboardInterrupt

    with db.Store(tmp_path / "h.db") as store:
        with pytest.raises(KeyboardInterrupt):
            _mine(scenario, store, progress=stop_after_first_batch, batch_size=4)
        assert calls == [("mining history", 4, 10)]
        (line,) = db.history_lines(store, str(scenario.path / ".git"))
        assert line["commits"] == 4
        resumed = _mine(scenario, store, batch_size=4)
        assert resumed["mined"] == 6
    assert _without_mined(resumed) == _without_mined(_mine(scenario))


def test_an_older_revision_gets_its_own_line_and_keeps_the_newer(scenario: Repo,
                                                                  tmp_path: Path):
    with db.Store(tmp_path / "h.db") as store:
        _mine(scenario, store)
        old = mine(scenario.path, "v0.1", store)
        assert old["mined"] == 2
        assert old["history"]["commits"] == 2
        assert [r["tag"] for r in old["history"]["releases"]] == ["v0.1"]
        assert old["churn"][0] == {"path": "a.py", "commits": 2, "added": 4, "deleted": 0,
                                   "authors": 2}
        assert _mine(scenario, store)["mined"] == 0


def test_shallow_clone_is_partial_not_fatal(scenario: Repo, tmp_path: Path):
    clone = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{scenario.path}",
                    str(clone)], check=True)
    result = mine(clone)
    assert result["partial"] is True and result["history"]["partial"] is True
    expected = int(subprocess.run(["git", "rev-list", "--count", "HEAD"], cwd=clone,
                                  capture_output=True, text=True).stdout)
    assert result["history"]["commits"] == expected == 2


def test_octopus_latin1_binary_submodule_deletion_and_no_tags(tmp_path: Path):
    repo = Repo(tmp_path / "odd")
    repo.commit("base", {"keep.py": "x = 1\n", "gone.py": "y = 2\n"}, who=ALICE, day=1)
    for day, branch in ((2, "b1"), (3, "b2")):
        repo.git("checkout", "-q", "-b", branch, "main")
        repo.commit(f"on {branch}", {f"{branch}.py": "z\n"}, who=BOB, day=day)
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--no-ff", "b1", "b2", "-m", "octopus", who=CAROL, day=4)
    # a message and an author name in Latin-1 bytes, with no encoding header
    (tmp_path / "msg").write_bytes("caf\xe9 na\xefve\n".encode("latin-1"))
    env_name = "Ren\xe9 L".encode("latin-1")
    (repo.path / "logo.png").write_bytes(bytes(range(256)) * 4)
    (repo.path / "gone.py").unlink()
    repo.git("add", "-A")
    subprocess.run(["git", "commit", "-q", "-F", str(tmp_path / "msg")], cwd=repo.path,
                   check=True, env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull,
                                    "GIT_AUTHOR_NAME": env_name.decode("latin-1"),
                                    "GIT_AUTHOR_EMAIL": "rene@corp.io",
                                    "GIT_AUTHOR_DATE": _date(5), "GIT_COMMITTER_DATE": _date(5),
                                    "GIT_COMMITTER_NAME": "Rene L",
                                    "GIT_COMMITTER_EMAIL": "rene@corp.io"})
    sha = repo.git("rev-parse", "HEAD")
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{sha},vendored")
    repo.git("commit", "-q", "-m", "add submodule", who=ALICE, day=6)
    result = mine(repo.path)
    history = result["history"]
    assert (history["commits"], history["merges"]) == (6, 1)
    assert history["releases"] == []
    assert history["unreleased"] == {"commits": 6, "authors": 4}
    assert history["integrators"] == [{"name": "Carol", "commits": 1, "merges": 1,
                                       "integrated": 0}]
    churn = {row["path"]: row for row in result["churn"]}
    assert set(churn) == {"keep.py", "b1.py", "b2.py", "logo.png"}   # no gitlink, no deleted
    assert churn["logo.png"] == {"path": "logo.png", "commits": 1, "added": 0, "deleted": 0,
                                 "authors": 1}
    names = {row["name"] for row in result["people"]["authors"]}
    assert names == {"Alice", "Bob", "Carol", "René L"}


def test_single_commit_repository(tmp_path: Path):
    repo = Repo(tmp_path / "one")
    repo.commit("only", {"m.py": "pass\n"}, who=CAROL, day=3)
    history = mine(repo.path)["history"]
    assert (history["commits"], history["merges"], history["authors"]) == (1, 0, 1)
    assert history["first_commit"] == history["last_commit"] == _date(3)
    assert history["truck_factor"] == 1 and history["integrators"] == []


def test_mailmap_of_the_revision_is_honoured(tmp_path: Path):
    repo = Repo(tmp_path / "mm")
    repo.commit("one", {"a.py": "1\n"}, who=("al", "al@old.io"), day=1)
    repo.commit("two", {"a.py": "2\n", ".mailmap": "Alice Smith <alice@corp.io> <al@old.io>\n"},
                who=ALICE, day=2)
    result = mine(repo.path)
    assert result["history"]["author_names"] == 2   # "Alice Smith" and "Alice", as git says
    assert result["history"]["authors"] == 1        # one e-mail after mailmap: one person
    assert result["people"]["authors"][0]["commits"] == 2


def test_store_from_an_older_schema_is_migrated_not_lost(scenario: Repo, tmp_path: Path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    name, sql = db.MIGRATIONS[0]
    conn.executescript(sql)
    conn.execute("INSERT INTO schema_migrations VALUES (?, '2024-01-01')", (name,))
    conn.execute("INSERT INTO runs (kind, started_at) VALUES ('conformance', '2024-01-01')")
    conn.commit()
    conn.close()
    with db.Store(path) as store:
        assert store.schema_version == len(db.MIGRATIONS)
        assert _mine(scenario, store)["history"]["commits"] == 10
        assert store.run_info(1)["kind"] == "conformance"


def test_pull_request_export_adds_titles_and_unmerged(scenario: Repo, tmp_path: Path):
    export = tmp_path / "pulls.json"
    export.write_text(json.dumps([
        {"number": 7, "title": "Rename b", "state": "closed", "merged_at": _date(5),
         "user": {"login": "carol"}},
        {"number": 8, "title": "Rejected idea", "state": "closed", "merged_at": None},
        {"number": 10, "title": "Work in progress", "state": "open", "merged_at": None},
    ]))
    pulls = _mine(scenario, pulls_export=export)["history"]["pulls"]
    assert (pulls["count"], pulls["merged"], pulls["unmerged"], pulls["open"]) == (4, 2, 1, 1)
    assert [(p["number"], p["title"], p["state"], p["user"]) for p in pulls["items"]] == [
        (7, "Rename b", "merged", "carol"), (8, "Rejected idea", "closed", None),
        (9, None, "merged", None), (10, "Work in progress", "open", None)]
    export.write_text("{not json")
    with pytest.raises(UsageError):
        _mine(scenario, pulls_export=export)


def test_bad_paths_and_revisions_are_usage_errors(scenario: Repo, tmp_path: Path):
    with pytest.raises(UsageError, match="not a git repository"):
        mine(tmp_path)
    with pytest.raises(UsageError, match="no such directory"):
        mine(tmp_path / "missing")
    with pytest.raises(UsageError, match="does not name a commit"):
        mine(scenario.path, "no-such-branch")
    empty = Repo(tmp_path / "empty")
    with pytest.raises(UsageError, match="does not name a commit"):
        mine(empty.path)


def test_kill_9_mid_run_leaves_a_store_the_next_run_continues(scenario: Repo, tmp_path: Path):
    store_path = tmp_path / "killed.db"
    script = (
        "import os, signal, sys\n"
        "from harness.analysis.history import mine\n"
        "from harness.store import Store\n"
        "def die(label, done, total):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "mine(sys.argv[1], store=Store(sys.argv[2]), progress=die, batch_size=3)\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", script, str(scenario.path), str(store_path)],
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == -9
    with db.Store(store_path) as store:
        (line,) = db.history_lines(store, str(scenario.path / ".git"))
        assert line["commits"] == 3
        resumed = _mine(scenario, store, batch_size=3)
    assert resumed["mined"] == 7
    assert _without_mined(resumed) == _without_mined(_mine(scenario))


def test_mailmap_lookup_keeps_identities_git_cannot_read_back(tmp_path: Path):
    repo = Repo(tmp_path / "mm2")
    repo.commit("one", {".mailmap": "Ann Real <ann@corp.io> <a@old.io>\n"}, who=ALICE, day=1)
    mapped = Git(repo.path).mailmap(repo.git("rev-parse", "HEAD"), [
        ("ann", "a@old.io"), ("A <B>", "c@d.io"), ("", "e@f.io"), ("X", "")])
    assert mapped == {("ann", "a@old.io"): ("Ann Real", "ann@corp.io"),
                      ("A <B>", "c@d.io"): ("A <B>", "c@d.io"),
                      ("", "e@f.io"): ("", "e@f.io"), ("X", ""): ("X", "")}
