"""Trends at tags and along the first-parent line, on a generated repository whose figures
are computed by hand; the engine at each tag is the independent check."""

from __future__ import annotations

import os
import subprocess

import pytest
from gitrepo import GitRepoBuilder, git

from harness.analysis.engine import analyse
from harness.analysis.trends import compute_trends, point_version
from harness.cli import build_parser
from harness.errors import UsageError
from harness.store import Store, trend_points_count

A1 = "def f(x):\n    if x:\n        return 1\n    return 0\n"                     # sloc 4, cc 2
G = ("\n\ndef g(x):\n    for i in x:  # FIXME: slow\n        if i > 1 and i < 5:\n"
     "            return i\n    return None\n")                                     # sloc 5, cc 4
B1 = "# TODO: write b\nVALUE = 1\n"                                               # sloc 1
B3 = "# TODO: write b\n# XXX: and c\nVALUE = 2\n"                                 # sloc 1
BROKEN = "def (:\n    pass\n"                                                     # unparseable
C = "class K:\n    def m(self):\n        return 1\n"                              # sloc 3, cc 1
D = ("def h(a, b):\n    if a:\n        return b\n    elif b:\n        return a\n"
     "    return None\n")                                                         # sloc 6, cc 3
# 47 methods of cc 1 touching 47 foreign attributes and no shared state: a god class.
GOD = "class God:\n" + "".join(f"    def m{i}(self, o):\n        return o.a{i}\n"
                               for i in range(47))                               # sloc 95


def _date(month: int, day: int = 1) -> str:
    return f"2021-{month:02d}-{day:02d}T12:00:00+00:00"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """v1 (lightweight), v2 (annotated), v3 (lightweight, on a merge) and one commit after.

    main:     c1 ── c2 ── c3 ─────── merge ── c5
                      └── feature ──┘
    """
    builder = GitRepoBuilder(tmp_path_factory.mktemp("trends") / "repo")
    builder.write("pkg/a.py", A1)
    builder.write("pkg/b.py", B1)
    builder.write("broken.py", BROKEN)
    builder.write("README.md", "# not python\n")
    shas = {"c1": builder.commit("one", date=_date(1))}
    builder.tag("v1")
    builder.write("pkg/a.py", A1 + G)
    os.remove(builder.root / "broken.py")
    builder.write("pkg/sub/c.py", C)
    shas["c2"] = builder.commit("two", author="Bob", date=_date(2))
    builder.tag("v2", message="release 2", date=_date(2, 2))
    builder.git("checkout", "-q", "-b", "feature")
    builder.write("pkg/d.py", D)
    shas["feature"] = builder.commit("feature", author="Carol", date=_date(3, 5))
    builder.git("checkout", "-q", "main")
    builder.write("pkg/b.py", B3)
    os.symlink("pkg/a.py", builder.root / "link.py")  # a link is not a file of its own
    shas["c3"] = builder.commit("three", date=_date(3))
    shas["merge"] = builder.merge("feature", date=_date(3, 10))
    builder.tag("v3")
    builder.write("pkg/e.py", GOD)
    shas["c5"] = builder.commit("five", date=_date(4))
    builder.shas = shas
    return builder


def _figures(row: dict) -> dict:
    keys = ("sloc", "files", "functions", "mean_cc", "max_cc", "todos", "debt_minutes",
            "rating", "god_classes")
    return {key: row[key] for key in keys}


# Hand-computed. Debt: TODO 10 min, FIXME/XXX 15, unparseable file 30, god class 120;
# rating from debt / (SLOC x 30 min): A <= 5%, B <= 10%, C <= 20%, D <= 50%.
V1 = {"sloc": 5, "files": 3, "functions": 1, "mean_cc": 2.0, "max_cc": 2, "todos": 1,
      "debt_minutes": 40, "rating": "D", "god_classes": 0}           # 40 / 150 = 26.7%
V2 = {"sloc": 13, "files": 3, "functions": 3, "mean_cc": 2.3333, "max_cc": 4, "todos": 2,
      "debt_minutes": 25, "rating": "B", "god_classes": 0}           # 25 / 390 = 6.4%
V3 = {"sloc": 19, "files": 4, "functions": 4, "mean_cc": 2.5, "max_cc": 4, "todos": 3,
      "debt_minutes": 40, "rating": "B", "god_classes": 0}           # 40 / 570 = 7.0%
C5 = {"sloc": 114, "files": 5, "functions": 51, "mean_cc": 1.1176, "max_cc": 4, "todos": 3,
      "debt_minutes": 160, "rating": "A", "god_classes": 1}          # 160 / 3420 = 4.7%
C3 = {"sloc": 13, "files": 3, "functions": 3, "mean_cc": 2.3333, "max_cc": 4, "todos": 3,
      "debt_minutes": 40, "rating": "C", "god_classes": 0}           # 40 / 390 = 10.3%


def test_rows_at_every_tag_have_the_hand_computed_figures(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        result = compute_trends(repo.root, store=store, jobs=1)
    assert [row["tag"] for row in result.tags] == ["v1", "v2", "v3"]
    assert [row["commit"] for row in result.tags] == [
        repo.shas["c1"], repo.shas["c2"], repo.shas["merge"]]
    # A lightweight tag is dated by its commit, an annotated one by its tagger date.
    assert [row["date"] for row in result.tags] == [_date(1), _date(2, 2), _date(3, 10)]
    assert [_figures(row) for row in result.tags] == [V1, V2, V3]
    assert [row["duplication_percent"] for row in result.tags] == [0.0, 0.0, 0.0]
    assert result.commits == []
    assert result.stats.revisions == 3
    # Distinct Python blobs over the three tags: a x2, b x2, broken, c, d.
    assert result.stats.blobs_computed == 7


def test_second_run_computes_no_blob_and_no_point(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        first = compute_trends(repo.root, store=store, jobs=1)
        second = compute_trends(repo.root, store=store, jobs=1)
        assert trend_points_count(store, point_version()) == 3
    assert second.tags == first.tags
    stats = second.stats
    assert (stats.points_cached, stats.points_computed, stats.blobs, stats.blobs_computed,
            stats.duplication_computed) == (3, 0, 0, 0, 0)


def test_all_has_one_row_per_first_parent_commit(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        tags = compute_trends(repo.root, store=store, jobs=1)
        result = compute_trends(repo.root, store=store, mode="all", jobs=1)
    line = repo.git("rev-list", "--first-parent", "--reverse", "HEAD").split()
    assert len(line) == 5
    assert [row["commit"] for row in result.commits] == line
    assert repo.shas["feature"] not in {row["commit"] for row in result.commits}
    assert [row["tag"] for row in result.commits] == ["v1", "v2", None, "v3", None]
    by_sha = {row["commit"]: row for row in result.commits}
    assert _figures(by_sha[repo.shas["c3"]]) == C3
    assert _figures(by_sha[repo.shas["merge"]]) == V3  # the merge brings d.py in
    assert _figures(by_sha[repo.shas["c5"]]) == C5
    assert [row["duplication_percent"] for row in result.commits] == [0.0] * 5
    assert result.tags == tags.tags
    # Only e.py is new along the line: every other version was analysed for the tags.
    assert result.stats.blobs_computed == 1
    assert result.stats.points_computed == 2  # c3 and c5; the tagged commits were stored


def test_running_totals_equal_a_fresh_sum_at_every_commit(repo, tmp_path):
    """Points walked change by change equal points summed from each commit's whole tree."""
    with Store(tmp_path / "h.db") as store:
        walked = compute_trends(repo.root, store=store, mode="all", jobs=1).commits
    clone = repo.clone(tmp_path / "clone")
    for row in walked:
        subprocess.run(["git", "-C", str(clone), "tag", f"at-{row['commit'][:8]}",
                       row["commit"]], check=True)
    with Store(tmp_path / "fresh.db") as store:
        summed = {row["commit"]: row for row in compute_trends(clone, store=store).tags}
    assert all(_figures(row) == _figures(summed[row["commit"]]) for row in walked)


def test_incremental_after_one_new_commit(repo, tmp_path):
    clone = repo.clone(tmp_path / "clone")
    with Store(tmp_path / "h.db") as store:
        compute_trends(clone, store=store, mode="all", jobs=1)
        (clone / "pkg" / "f.py").write_text("def k():\n    return 2\n")
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", "six", date=_date(5))
        result = compute_trends(clone, store=store, mode="all", jobs=1)
    assert len(result.commits) == 6
    assert (result.stats.points_computed, result.stats.blobs_computed) == (1, 1)
    assert _figures(result.commits[-1]) == {**C5, "sloc": 116, "files": 6, "functions": 52,
                                            "mean_cc": round(58 / 52, 4)}


def test_tag_rows_agree_with_the_engine_and_share_its_blob_cache(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        documents = {tag: analyse(repo.root, tag, history=False, store=store, jobs=1).document
                     for tag in ("v1", "v2", "v3")}
        result = compute_trends(repo.root, store=store, jobs=1)
    assert result.stats.blobs_computed == 0  # the engine analysed every blob already
    for row in result.tags:
        document = documents[row["tag"]]
        summary = document["summary"]
        assert {k: row[k] for k in ("files", "sloc", "functions", "mean_cc", "todos")} == {
            k: summary[k] for k in ("files", "sloc", "functions", "mean_cc", "todos")}
        assert row["max_cc"] == max(f["cc"] for f in document["functions"])
        assert row["debt_minutes"] == document["debt"]["minutes"]
        assert row["rating"] == document["debt"]["rating"]
        assert row["duplication_percent"] == document["duplication"]["percent"]


def test_duplication_at_a_tag_equals_the_engine_s(tmp_path):
    block = "".join(f"    total = total + values[{i}] * {i} - offset\n" for i in range(12))
    builder = GitRepoBuilder(tmp_path / "dup")
    builder.write("one.py", f"def one(values, offset):\n    total = 0\n{block}    return total\n")
    builder.write("two.py", f"def two(values, offset):\n    total = 1\n{block}    return total\n")
    builder.commit("copies")
    builder.tag("v1")
    with Store(tmp_path / "h.db") as store:
        row = compute_trends(builder.root, store=store, jobs=1).tags[0]
        document = analyse(builder.root, "v1", history=False, store=store, jobs=1).document
    assert row["duplication_percent"] == round(document["duplication"]["percent"], 4) > 50
    assert row["debt_minutes"] == document["debt"]["minutes"] == 10  # one extra copy


def test_shallow_clone_and_no_tags(repo, tmp_path):
    shallow = repo.clone(tmp_path / "shallow", "--depth=2", "--no-tags")
    with Store(tmp_path / "h.db") as store:
        result = compute_trends(shallow, store=store, mode="all", jobs=1)
    assert result.tags == []
    assert [row["commit"] for row in result.commits] == [repo.shas["merge"], repo.shas["c5"]]
    assert _figures(result.commits[-1]) == C5


def test_modes_and_errors(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        none = compute_trends(repo.root, store=store, mode="none")
        assert (none.tags, none.commits) == ([], [])
        with pytest.raises(UsageError, match="trends must be one of"):
            compute_trends(repo.root, store=store, mode="every")
        with pytest.raises(UsageError):
            compute_trends(repo.root, "no-such-rev", store=store)
    args = build_parser().parse_args(["analyse", "--trends", "all", "--pulls-export", "p.json"])
    assert (args.trends, args.pulls_export, args.history) == ("all", "p.json", True)
    assert build_parser().parse_args(["analyse"]).trends is None
    with pytest.raises(UsageError):
        build_parser().parse_args(["analyse", "--trends", "sometimes"])


def test_analysis_document_has_trends_and_churn_hotspots(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        document = analyse(repo.root, store=store, jobs=1).document
        without = analyse(repo.root, history=False, store=store, jobs=1).document
    assert [row["tag"] for row in document["trends"]["tags"]] == ["v1", "v2", "v3"]
    assert document["trends"]["commits"] == []
    assert without["trends"] is None
    spots = [h for h in document["hotspots"] if h["kind"] == "churn-hotspot"]
    # score = commits / 2 (most commits: a.py, b.py) x complexity / 48 (e.py), where radon's
    # total CC of a file is 1 + its decision points: a.py 1 + 1 + 3, e.py 1 + 47 methods.
    assert [(h["path"], h["score"], h["evidence"]["complexity"]) for h in spots] == [
        ("pkg/e.py", 0.5, 48), ("pkg/a.py", 0.1042, 5), ("pkg/d.py", 0.0312, 3),
        ("pkg/b.py", 0.0208, 1), ("pkg/sub/c.py", 0.0208, 2)]
    assert spots[1]["evidence"]["commits"] == 2
    assert not any(h["kind"] == "churn-hotspot" for h in without["hotspots"])


BLOCK = "".join(f"    total = total + values[{i}] * {i} - offset\n" for i in range(12))
ONE = f"def one(values, offset):\n    total = 0\n{BLOCK}    return total\n"     # 15 code lines
TWO = f"def two(values, offset):\n    total = 1\n{BLOCK}    return total\n"     # 15 code lines
BROKEN_TWO = TWO.replace("- offset", "+ offset")  # no run of 100 equal tokens left


@pytest.fixture(scope="module")
def dup_repo(tmp_path_factory):
    """c1 one + three; c2 two copies one's block; c3 two stops sharing, four copies one
    whole; c4 one removed, two shares again (with four); c5 four renamed. Tag v2 at c2."""
    builder = GitRepoBuilder(tmp_path_factory.mktemp("dup") / "repo")
    steps = [({"one.py": ONE, "three.py": "X = 1\n"}, []),
             ({"two.py": TWO}, []),
             ({"two.py": BROKEN_TWO, "four.py": ONE}, []),
             ({"two.py": TWO}, ["one.py"]),
             ({"pkg/five.py": ONE}, ["four.py"])]
    builder.shas = []
    for number, (files, removed) in enumerate(steps, 1):
        builder.write_files(files)
        for path in removed:
            os.remove(builder.root / path)
        builder.shas.append(builder.commit(f"c{number}", date=_date(number)))
        if number == 2:
            builder.tag("v2")
    return builder


def test_duplication_at_every_commit_hand_computed(dup_repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        result = compute_trends(dup_repo.root, store=store, mode="all", jobs=1)
        again = compute_trends(dup_repo.root, store=store, mode="all", jobs=1)
    rows = result.commits
    assert [row["commit"] for row in rows] == dup_repo.shas
    # c2: one.py and two.py share 146 tokens (after 'total = 0|1'), lines 3-15 of each,
    # 26 of 31 code lines; c3: four.py is a whole copy of one.py, 30 of 46; c4: two.py and
    # four.py share the block again, 26 of 31; c5: the same files under another path.
    assert [row["duplication_percent"] for row in rows] == [
        0.0, round(100 * 26 / 31, 4), round(100 * 30 / 46, 4), round(100 * 26 / 31, 4),
        round(100 * 26 / 31, 4)]
    # one extra copy each: 10 minutes of debt, on top of nothing else here
    assert [row["debt_minutes"] for row in rows] == [0, 10, 10, 10, 10]
    assert [row["rating"] for row in rows] == ["A"] * 5
    # one search per group of linked files: {one, two}, {one, four}, {two, four},
    # {two, five}; c5 differs from c4 by a path only, which is a new group too
    assert result.stats.duplication_computed == 4
    assert result.tags == [{**rows[1], "tag": "v2"}]
    assert again.commits == rows and again.stats.duplication_computed == 0


def test_all_mode_duplication_equals_the_engine_at_every_commit(dup_repo, repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        for builder in (dup_repo, repo):
            rows = compute_trends(builder.root, store=store, mode="all", jobs=1).commits
            for row in rows:
                document = analyse(builder.root, row["commit"], history=False, store=store,
                                   jobs=1).document
                assert row["duplication_percent"] == round(
                    document["duplication"]["percent"], 4)
                by_rule = document["debt"]["by_rule"]
                # the per-file rules and the duplicated blocks are the whole debt here
                assert row["debt_minutes"] == document["debt"]["minutes"] == sum(
                    by_rule.get(rule, 0) for rule in by_rule)
                assert row["sloc"] == document["summary"]["sloc"]


def test_tags_and_all_walks_agree(dup_repo, tmp_path):
    """Tags walked tree to tree (one diff-tree) equal the line walked commit by commit."""
    clone = dup_repo.clone(tmp_path / "clone")
    for number, sha in enumerate(dup_repo.shas, 1):
        git(clone, "tag", "-f", f"t{number}", sha)
    with Store(tmp_path / "tags.db") as store:
        tags = compute_trends(clone, store=store, jobs=1).tags
    with Store(tmp_path / "all.db") as store:
        walked = compute_trends(clone, store=store, mode="all", jobs=1).commits
    by_commit = {row["commit"]: {**row, "tag": None} for row in tags}  # v2 and t2: one
    assert list(by_commit.values()) == [{**row, "tag": None} for row in walked]
