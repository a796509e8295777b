"""Unit tests of the history building blocks: people, truck factor, lineage, releases, pulls."""

from __future__ import annotations

import math

import pytest

from harness.analysis import people as ppl
from harness.analysis import pulls as prs
from harness.analysis import releases as rel
from harness.analysis.churn import ChurnCounter, Lineage, churn_hotspots


# --- identities -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "email", "bot"),
    [
        ("GitHub", "noreply@github.com", True),
        ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com", True),
        ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com", True),
        ("pre-commit-ci[bot]", "66853113+pre-commit-ci[bot]@users.noreply.github.com", True),
        ("renovate-bot", "bot@renovateapp.com", True),
        ("Alice", "12345+alice@users.noreply.github.com", False),
        ("Bot Botson", "bb@corp.io", False),
    ],
)
def test_machinery_is_recognised_and_people_are_not(name, email, bot):
    assert ppl.is_machinery(name, email) is bot


def test_aliases_merge_by_spelling_and_shared_email_but_not_by_generic_ones():
    counts = {
        ("François X", "francois@corp.io"): 5,
        ("Francois X", "fx@corp.io"): 2,
        ("fx", "fx@corp.io"): 1,
        ("Alice", "alice@localhost"): 3,  # generic address: never a reason to merge
        ("Bob", "alice@localhost"): 4,
        ("alice", "1+alice@users.noreply.github.com"): 1,
        ("Alice A", "alice@users.noreply.github.com"): 1,
        ("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com"): 9,
        ("GitHub", "noreply@github.com"): 0,
    }
    people = ppl.resolve_people(counts)
    francois = people[("fx", "fx@corp.io")]
    assert francois is people[("François X", "francois@corp.io")]
    assert francois is people[("Francois X", "fx@corp.io")]
    assert (francois.name, francois.email) == ("François X", "francois@corp.io")
    assert people[("Alice", "alice@localhost")] is not people[("Bob", "alice@localhost")]
    assert (
        people[("alice", "1+alice@users.noreply.github.com")]
        is people[("Alice A", "alice@users.noreply.github.com")]
    )
    assert people[("dependabot[bot]", "49699333+dependabot[bot]@users.noreply.github.com")].bot
    rows = ppl.aliases(set(people.values()))
    # equal commits: the fuller spelling names the person
    assert rows == [
        {
            "name": "Alice A",
            "identities": [
                "Alice A <alice@users.noreply.github.com>",
                "alice <1+alice@users.noreply.github.com>",
            ],
        },
        {
            "name": "François X",
            "identities": [
                "Francois X <fx@corp.io>",
                "François X <francois@corp.io>",
                "fx <fx@corp.io>",
            ],
        },
    ]


def test_integrators_count_merges_and_other_peoples_commits_but_not_machinery():
    people = ppl.resolve_people(
        {
            ("Ann", "ann@c.io"): 1,
            ("Ben", "ben@c.io"): 1,
            ("GitHub", "noreply@github.com"): 0,
            ("mergify[bot]", "m@bots.io"): 0,
        }
    )
    ann, ben = people[("Ann", "ann@c.io")], people[("Ben", "ben@c.io")]
    web, bot = people[("GitHub", "noreply@github.com")], people[("mergify[bot]", "m@bots.io")]
    events = {
        (ann, ben, False): 3,  # Ben applied 3 of Ann's patches
        (ben, ben, False): 7,  # his own work: not integration
        (ann, web, False): 4,  # web-flow squash merges: machinery, nobody counted
        (ben, web, True): 2,  # Ben pressed "merge" twice on GitHub
        (bot, ann, True): 1,  # a bot authored the merge Ann committed
        (ann, ann, True): 5,
    }
    assert ppl.integrators(events) == [
        {"name": "Ann", "commits": 6, "merges": 6, "integrated": 0},
        {"name": "Ben", "commits": 5, "merges": 2, "integrated": 3},
    ]


# --- truck factor -----------------------------------------------------------------------
def test_degree_of_authorship_follows_the_published_formula():
    assert ppl.degree_of_authorship(True, 1, 0) == pytest.approx(3.293 + 1.098 + 0.164)
    assert ppl.degree_of_authorship(False, 10, 1) == pytest.approx(
        3.293 + 1.64 - 0.321 * math.log(2)
    )


def test_file_authors_need_normalised_and_absolute_degree():
    # creator: 3.293+1.098+0.164-0.321 ln 11 = 3.7853; editor: 3.293+1.64-0.321 ln 2 = 4.7105
    # creator / editor = 0.8036 > 0.75: both are authors.
    assert ppl.file_authors({"c": (True, 1), "e": (False, 10)}) == ["c", "e"]
    # a one-change contributor next to a 20-change owner: 3.293+0.164-0.321 ln 21 = 2.48
    assert ppl.file_authors({"o": (True, 20), "x": (False, 1)}) == ["o"]
    # many one-off editors, no creator among them: every DOA is under 3.293
    editors = {f"p{i}": (False, 1) for i in range(40)}
    assert ppl.file_authors(editors) == []


def test_truck_factor_removes_top_authors_until_most_files_are_orphaned():
    one = {"alice": (True, 1)}
    # alice 3.293+1.098+0.164-0.321 ln 4 = 4.110, bob 3.293+0.492-0.321 ln 2 = 3.563 (0.87)
    both = {"alice": (True, 1), "bob": (False, 3)}
    bob = {"bob": (True, 1)}
    assert ppl.file_authors(both) == ["alice", "bob"]
    assert ppl.file_authors({"alice": (True, 1), "bob": (False, 1)}) == ["alice"]
    # alice authors 3 files of 4: removing her orphans f1, f2 (50%, not more) -> bob next.
    result = ppl.truck_factor({"f1": one, "f2": one, "f3": both, "f4": bob})
    assert result["truck_factor"] == 2
    assert result["authors"] == ["alice", "bob"]
    assert result["top_authors"] == [{"name": "alice", "files": 3}, {"name": "bob", "files": 2}]
    # alice alone owns 3 of 4 files: removing her orphans 75%.
    result = ppl.truck_factor({"f1": one, "f2": one, "f3": one, "f4": bob})
    assert (result["truck_factor"], result["authors"]) == (1, ["alice"])
    assert ppl.truck_factor({})["truck_factor"] == 0


# --- lineage, churn, coupling ------------------------------------------------------------
def test_lineage_follows_renames_and_late_edits_of_the_old_name():
    lineage = Lineage()
    a, created = lineage.touch("A", "a.py", None)
    assert created
    assert lineage.touch("R", "b.py", "a.py") == (a, False)
    assert lineage.touch("M", "a.py", None) == (a, False)  # edited on an older branch
    assert lineage.touch("M", "b.py", None) == (a, False)
    new, created = lineage.touch("A", "a.py", None)  # a new file takes the old name
    assert created and new != a
    copy, created = lineage.touch("C", "c.py", "b.py")
    assert created and copy not in (a, new)


def test_churn_and_coupling_follow_renames():
    counter = ChurnCounter(max_changeset=3)
    counter.add_commit("ann", [("A", "a.py", None, 10, 0), ("A", "b.py", None, 5, 0)])
    counter.add_commit("ben", [("M", "a.py", None, 2, 1), ("R", "c.py", "b.py", 1, 1)])
    counter.add_commit(
        "ann", [("M", "a.py", None, 1, 0), ("M", "c.py", None, 3, 0), ("A", "d.py", None, 4, 0)]
    )
    counter.add_commit(
        "ann",
        [
            ("M", "a.py", None, 1, 1),
            ("M", "c.py", None, 1, 1),
            ("M", "d.py", None, 1, 1),
            ("A", "e.py", None, 9, 0),
        ],
    )
    counter.add_commit(None, [("M", "d.py", None, 1, 0), ("D", "e.py", None, 0, 9)])
    alive = {"a.py", "c.py", "d.py"}
    assert counter.rows(alive) == [
        {"path": "a.py", "commits": 4, "added": 14, "deleted": 2, "authors": 2},
        {"path": "c.py", "commits": 4, "added": 10, "deleted": 2, "authors": 2},
        {"path": "d.py", "commits": 3, "added": 6, "deleted": 1, "authors": 1},
    ]
    # 4-file commit is over max_changeset=3: only the first three commits count.
    assert counter.coupling(alive, min_support=1, min_degree=0.0) == [
        {
            "a": "a.py",
            "b": "c.py",
            "support": 3,
            "confidence_ab": 0.75,
            "confidence_ba": 0.75,
            "degree": 0.75,
        },
        {
            "a": "a.py",
            "b": "d.py",
            "support": 1,
            "confidence_ab": 0.25,
            "confidence_ba": 0.3333,
            "degree": 0.2857,
        },
        {
            "a": "c.py",
            "b": "d.py",
            "support": 1,
            "confidence_ab": 0.25,
            "confidence_ba": 0.3333,
            "degree": 0.2857,
        },
    ]
    assert counter.authorship(alive)["c.py"] == {"ann": (True, 3), "ben": (False, 1)}
    assert counter.authorship(alive)["d.py"] == {"ann": (True, 2)}


def test_churn_hotspots_multiply_normalised_churn_and_complexity():
    churn = [
        {"path": "a.py", "commits": 10, "added": 1, "deleted": 1, "authors": 1},
        {"path": "b.py", "commits": 5, "added": 1, "deleted": 1, "authors": 1},
        {"path": "c.md", "commits": 50, "added": 1, "deleted": 1, "authors": 1},
    ]
    rows = churn_hotspots(churn, {"a.py": 4.0, "b.py": 8.0})
    assert [(r["path"], r["score"]) for r in rows] == [("a.py", 0.5), ("b.py", 0.5)]
    assert rows[0]["kind"] == "churn-hotspot" and rows[0]["evidence"]["complexity"] == 4.0


# --- releases and pull requests ----------------------------------------------------------
def test_versions_sort_numerically_with_prereleases_first():
    names = ["v1.10.0", "v1.9.2", "v1.10.0rc1", "v2.0.0-beta.2", "1.2"]
    assert sorted(names, key=rel.version_key) == [
        "1.2",
        "v1.9.2",
        "v1.10.0rc1",
        "v1.10.0",
        "v2.0.0-beta.2",
    ]
    assert rel.is_prerelease("v1.10.0rc1") and not rel.is_prerelease("v1.10.0")


def test_parse_tags_reads_annotated_lightweight_and_nested_tags():
    c1, c2, t1, t2 = "1" * 40, "2" * 40, "a" * 40, "b" * 40
    # "\x00", not "\0": a formatter joining "\0" "2024" would make it the octal "\02024"
    output = "".join(
        "\x00".join(fields) + "\n"
        for fields in (
            ("refs/tags/v1", "commit", c1, "", "", "2024-01-01T00:00:00+00:00", ""),
            ("refs/tags/v2", "tag", t1, "commit", c2, "2024-02-01T10:00:00+01:00",
             "2024-01-15T00:00:00+00:00"),
            ("refs/tags/v3", "tag", t2, "tag", t1, "2024-03-01T00:00:00+00:00", ""),
            ("refs/tags/tree", "tree", "c" * 40, "", "", "", ""),
        )
    )
    assert rel.nested_tag_refs(output) == ["refs/tags/v3"]
    tags = rel.parse_tags(output, {"refs/tags/v3": c2})
    assert tags == [
        rel.Tag("v1", c1, "2024-01-01T00:00:00+00:00", False),
        rel.Tag("v2", c2, "2024-02-01T10:00:00+01:00", True),
        rel.Tag("v3", c2, "2024-03-01T00:00:00+00:00", True),
    ]


def test_assign_commits_gives_each_commit_to_the_first_release_containing_it():
    #   0 - 1 - 2 ------- 5(merge) - 6
    #        \- 3 - 4 --/
    parents = [(), (0,), (1,), (1,), (3,), (2, 4), (5,)]
    seq_of = {"s1": 1, "s4": 4, "s5": 5, "gone": 99}
    day = "2024-01-0{}T00:00:00+00:00"
    tags = [
        rel.Tag("v2", "s5", day.format(5), True),
        rel.Tag("v0", "s1", day.format(1), False),
        rel.Tag("b1", "s4", day.format(4), False),
        rel.Tag("x", "gone", day.format(9), False),
    ]
    ordered, release_of = rel.assign_commits(
        tags, {k: v for k, v in seq_of.items() if k != "gone"}, parents
    )
    assert [t.name for t in ordered] == ["v0", "b1", "v2"]
    assert release_of == [0, 0, 2, 1, 1, 2, -1]


@pytest.mark.parametrize(
    ("subject", "ref"),
    [
        ("Merge pull request #1330 from Harshal96/feat/worker-ramp-option", ("github", 1330)),
        ("Drop EOL Python 3.8 support (#1162)", ("github", 1162)),
        ("Merged in paylogic/pytest-xdist/rsyncignore-option (pull request #5)", ("bitbucket", 5)),
        ("Merge branch 'master' into feature", None),
        ("Fix #12 in the middle (#12 is the issue)", None),
    ],
)
def test_pull_ref_reads_forge_merge_messages(subject, ref):
    assert prs.pull_ref(subject) == ref


def test_merged_commits_are_those_the_merge_brought_to_the_mainline():
    #   0 - 1 ------------ 4(merge #1) - 6(merge #2)
    #        \- 2 - 3 --/               /
    #                \-------- 5 ------/
    parents = [(), (0,), (1,), (2,), (1, 3), (2,), (4, 5)]
    mainline = prs.first_parent_line(6, parents)
    assert mainline == {0, 1, 4, 6}
    assert prs.merged_commits([4, 6], parents, mainline) == {4: [3, 2], 6: [5]}
