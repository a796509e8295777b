"""History mining: commits, people, integrators, truck factor, releases, pull requests, churn
and change coupling of a repository at a revision, incrementally through the store.

Mined commits are kept in the store as a *line*: an ancestor-closed set of commits appended in
topological order, in batches that each commit with the line's new frontier. A re-run reads
only the commits the line lacks (none when nothing changed, one after one new commit), and a
run killed mid-way resumes from its last batch. Aggregates are recomputed from the line by
streaming it, and the finished result is cached for the exact inputs that produced it.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections import Counter
from collections.abc import Callable
from itertools import groupby
from pathlib import Path
from typing import Any

from harness import store as db
from harness.analysis import people as ppl
from harness.analysis import pulls as prs
from harness.analysis import releases as rel
from harness.analysis.churn import ChurnCounter
from harness.analysis.history_log import Git
from harness.analysis.releases import TAG_FORMAT, epoch

VERSION = "1"  # bump when the result changes meaning, to invalidate cached results
Progress = Callable[[str, int, int], None]  # (label, done, total), as the engine's


def mine(repo: str | Path, rev: str = "HEAD", store: db.Store | None = None,
         progress: Progress | None = None, *, pulls_export: str | Path | None = None,
         batch_size: int = 1000, coupling_min_support: int = 3,
         coupling_min_degree: float = 0.3, max_changeset: int = 30) -> dict[str, Any]:
    """Mine the history of ``repo`` reachable from ``rev``.

    ``store`` keeps mined commits between runs (a temporary store is used when None);
    ``progress("mining history", done, total)`` is called after each batch of mined commits.
    Returns {"history": CONTRACT history object plus "last_commit", "author_names",
    "truck_factor", "aliases", "pulls", "unreleased", "partial", "head"; "churn": CONTRACT
    churn rows; "coupling": change-coupling pairs; "people": authors, bots, aliases and truck
    factor; "partial": True for a shallow clone; "mined": commits read from git this run}.
    """
    git = Git(repo)
    tip = git.commit(rev)
    export = prs.load_export(pulls_export) if pulls_export else None
    options = (coupling_min_support, coupling_min_degree, max_changeset)
    with contextlib.ExitStack() as stack:
        if store is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="harness-history-"))
            store = stack.enter_context(db.Store(Path(folder) / "history.db"))
        line = _pick_line(git, store, tip)
        tags_output = git.run("for-each-ref", f"--format={TAG_FORMAT}", "refs/tags").decode(
            "utf-8", "replace")
        key = _result_key(git, tip, tags_output, pulls_export, options)
        if line["heads"] == [tip]:
            cached = db.history_get_result(store, line["id"], key)
            if cached is not None:
                db.history_touch_line(store, line["id"])
                return {**cached, "mined": 0}
        mined = _mine_new(git, store, line, tip, batch_size, progress)
        result = _aggregate(git, store, line["id"], tip, tags_output, export, options)
        db.history_put_result(store, line["id"], key, result)
        return {**result, "mined": mined}


def _pick_line(git: Git, store: db.Store, tip: str) -> dict[str, Any]:
    """The stored line to extend: one whose frontier is all ancestors of ``tip``."""
    lines = db.history_lines(store, git.git_dir)
    for line in lines:
        if line["heads"] == [tip]:
            return line
    for line in lines:
        if all(git.is_ancestor(head, tip) for head in line["heads"]):
            return line
    line_id = db.history_new_line(store, git.git_dir)
    return {"id": line_id, "heads": [], "commits": 0}


def _result_key(git: Git, tip: str, tags_output: str, pulls_export: str | Path | None,
                options: tuple) -> str:
    digest = hashlib.sha256()
    mailmap = git.run("ls-tree", "--full-tree", tip, "--", ".mailmap")
    worktree_mailmap = Path(git.path, ".mailmap")
    parts = [VERSION, tip, tags_output, mailmap.decode("utf-8", "replace"), repr(options)]
    if worktree_mailmap.is_file():
        parts.append(worktree_mailmap.read_text("utf-8", "replace"))
    if pulls_export:
        parts.append(Path(pulls_export).read_bytes().decode("utf-8", "replace"))
    for part in parts:
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _mine_new(git: Git, store: db.Store, line: dict[str, Any], tip: str, batch_size: int,
              progress: Progress | None) -> int:
    """Append the commits the line lacks, in batches; returns how many were mined."""
    heads = set(line["heads"])
    if heads == {tip}:
        return 0
    total = git.count(tip, heads) if progress else 0
    seq = line["commits"]
    commits: list[tuple] = []
    changes: list[tuple] = []
    done = 0
    with contextlib.closing(git.log(tip, heads)) as stream:
        for commit in stream:
            commits.append((seq, commit.sha, " ".join(commit.parents), commit.author_name,
                            commit.author_email, commit.author_date, commit.committer_name,
                            commit.committer_email, commit.committer_date, commit.subject))
            changes.extend((seq, *change) for change in commit.changes)
            heads.difference_update(commit.parents)
            heads.add(commit.sha)
            seq += 1
            if len(commits) >= batch_size:
                db.history_append(store, line["id"], commits, changes, sorted(heads))
                done += len(commits)
                commits, changes = [], []
                if progress:
                    progress("mining history", done, total)
    if commits or not line["heads"]:
        db.history_append(store, line["id"], commits, changes, sorted(heads))
        done += len(commits)
        if progress:
            progress("mining history", done, total)
    line["heads"], line["commits"] = sorted(heads), seq
    return done


class _Graph:
    """Per-commit facts of a line held as compact lists indexed by seq."""

    def __init__(self) -> None:
        self.seq_of: dict[str, int] = {}
        self.parents: list[tuple[int, ...]] = []
        self.author: list[int] = []       # identity index
        self.author_time: list[float] = []
        self.pull: dict[int, tuple[str, int]] = {}  # seq -> pull request (forge, number)
        self.committed_at: dict[int, str] = {}  # seq -> committer date, for pull requests


def _read_commits(git: Git, store: db.Store, line_id: int, tip: str):
    """Pass 1 over the line: the commit graph, identities (mailmapped) and who made what."""
    raw = db.history_identities(store, line_id)
    mapped = git.mailmap(tip, raw)
    index: dict[tuple[str, str], int] = {}
    authored: Counter[int] = Counter()
    events: Counter[tuple[int, int, bool]] = Counter()
    graph = _Graph()
    first = last = None
    for (seq, sha, parents, an, ae, ad, cn, ce, cd, subject) in db.history_iter_commits(
            store, line_id):
        author = index.setdefault(mapped[(an, ae)], len(index))
        committer = index.setdefault(mapped[(cn, ce)], len(index))
        graph.seq_of[sha] = seq
        parent_seqs = tuple(graph.seq_of[p] for p in parents.split() if p in graph.seq_of)
        graph.parents.append(parent_seqs)
        graph.author.append(author)
        when = epoch(ad)
        graph.author_time.append(when)
        first = (when, ad) if first is None or when < first[0] else first
        last = (when, ad) if last is None or when > last[0] else last
        authored[author] += 1
        is_merge = len(parents.split()) > 1
        events[(author, committer, is_merge)] += 1
        ref = prs.pull_ref(subject)
        if ref is not None:
            graph.pull[seq] = ref
            graph.committed_at[seq] = cd
    identities = sorted(index, key=lambda ident: index[ident])
    people = ppl.resolve_people({ident: authored[i] for ident, i in index.items()})
    person = [people[ident] for ident in identities]
    return graph, identities, person, events, first, last


def _aggregate(git: Git, store: db.Store, line_id: int, tip: str, tags_output: str,
               export: dict | None, options: tuple) -> dict[str, Any]:
    """Pass 2 over the line's file changes, and everything that derives from both passes."""
    graph, identities, person, events, first, last = _read_commits(git, store, line_id, tip)
    resolve = {ref: git.commit(ref) for ref in rel.nested_tag_refs(tags_output)}
    releases, release_of = rel.assign_commits(rel.parse_tags(tags_output, resolve),
                                              graph.seq_of, graph.parents)
    found_pulls = _pull_requests(graph, release_of, releases, tip)
    min_support, min_degree, max_changeset = options
    churn = ChurnCounter(max_changeset)
    release_files: list[set[int]] = [set() for _ in releases]
    release_lines = [[0, 0] for _ in releases]
    person_lines: Counter[tuple[str, int]] = Counter()
    for seq, group in groupby(db.history_iter_changes(store, line_id), key=lambda r: r[0]):
        rows = [(status, path, old, a, d) for _, status, path, old, _blob, a, d in group]
        who = person[graph.author[seq]]
        touched = churn.add_commit(None if who.bot else who.name, rows)
        added = sum(r[3] or 0 for r in rows)
        deleted = sum(r[4] or 0 for r in rows)
        person_lines[(who.name, 0)] += added
        person_lines[(who.name, 1)] += deleted
        if release_of[seq] >= 0:
            release_files[release_of[seq]].update(touched)
            release_lines[release_of[seq]][0] += added
            release_lines[release_of[seq]][1] += deleted
    alive = git.tree_paths(tip)
    truck = ppl.truck_factor(churn.authorship(alive))
    unreleased = [seq for seq, r in enumerate(release_of) if r == -1]
    alias_rows = ppl.aliases(p for p in person if not p.bot)
    history = {
        "commits": len(graph.parents),
        "merges": sum(1 for p in graph.parents if len(p) > 1),
        "authors": len(_humans(person[a] for a in graph.author)),
        "author_names": len({identities[a][0] for a in set(graph.author)}),
        "first_commit": first[1] if first else None,
        "last_commit": last[1] if last else None,
        "releases": _release_rows(releases, release_of, graph, person, release_files,
                                  release_lines, found_pulls),
        "unreleased": {"commits": len(unreleased),
                       "authors": len(_humans(person[graph.author[s]] for s in unreleased))},
        "integrators": ppl.integrators(_person_events(events, person)),
        "truck_factor": truck["truck_factor"],
        "aliases": alias_rows,
        "pulls": prs.summarise(found_pulls, export),
        "partial": git.shallow,
        "head": tip,
    }
    return {
        "history": history,
        "churn": churn.rows(alive),
        "coupling": churn.coupling(alive, min_support, min_degree),
        "people": _people_rows(person, graph, person_lines, alias_rows, truck),
        "partial": git.shallow,
    }


def _humans(people) -> set[str]:
    """Names of the distinct non-bot people in ``people``."""
    return {p.name for p in people if not p.bot}


def _person_events(events: Counter, person: list[ppl.Person]) -> Counter:
    merged: Counter[tuple[ppl.Person, ppl.Person, bool]] = Counter()
    for (author, committer, is_merge), n in events.items():
        merged[(person[author], person[committer], is_merge)] += n
    return merged


def _pull_requests(graph: _Graph, release_of: list[int], releases: list[rel.Tag],
                   tip: str) -> dict[tuple[str, int], dict]:
    """Pull requests by number: merged_at, lead time (first commit to merge) and release."""
    mainline = prs.first_parent_line(graph.seq_of[tip], graph.parents)
    merges = [seq for seq in sorted(mainline) if len(graph.parents[seq]) > 1]
    brought = prs.merged_commits(merges, graph.parents, mainline)
    found: dict[tuple[str, int], dict] = {}
    for seq, ref in graph.pull.items():
        if ref in found:
            continue  # a revert or cherry-pick naming the same pull request later
        merged_at = graph.committed_at[seq]
        if len(graph.parents[seq]) > 1:
            commits = brought.get(seq, [])
            start = min((graph.author_time[c] for c in commits), default=None)
        else:
            start = graph.author_time[seq]  # a squash merge keeps the author's date
        lead = None if start is None else round((epoch(merged_at) - start) / 86400, 3)
        found[ref] = {
            "merged_at": merged_at, "lead_time_days": lead,
            "release": releases[release_of[seq]].name if release_of[seq] >= 0 else None,
        }
    return found


def _release_rows(releases: list[rel.Tag], release_of: list[int], graph: _Graph,
                  person: list[ppl.Person], files: list[set[int]], lines: list[list[int]],
                  pulls: dict[tuple[str, int], dict]) -> list[dict]:
    """The release timeline, oldest first."""
    commits = Counter(r for r in release_of if r >= 0)
    authors: list[set[str]] = [set() for _ in releases]
    for seq, r in enumerate(release_of):
        if r >= 0 and not person[graph.author[seq]].bot:
            authors[r].add(person[graph.author[seq]].name)
    pull_counts = Counter(p["release"] for p in pulls.values() if p["release"])
    order = sorted(range(len(releases)), key=lambda i: (
        epoch(releases[i].date), rel.version_key(releases[i].name), releases[i].name))
    rows = []
    for position, i in enumerate(order):
        tag = releases[i]
        rows.append({
            "tag": tag.name, "date": tag.date, "commit": tag.commit,
            "annotated": tag.annotated, "prerelease": rel.is_prerelease(tag.name),
            "previous": releases[order[position - 1]].name if position else None,
            "commits": commits[i], "authors": len(authors[i]), "files": len(files[i]),
            "added": lines[i][0], "deleted": lines[i][1], "pulls": pull_counts[tag.name],
        })
    return rows


def _people_rows(person: list[ppl.Person], graph: _Graph, lines: Counter,
                 aliases: list[dict], truck: dict) -> dict[str, Any]:
    """Authors (commits and lines), bots, merged aliases and the truck factor."""
    commits = Counter(person[a].name for a in graph.author)
    bots = {p.name for p in person if p.bot}
    authors: list[dict[str, Any]] = [
        {"name": name, "commits": n, "added": lines[(name, 0)], "deleted": lines[(name, 1)]}
        for name, n in commits.items() if name not in bots
    ]
    authors.sort(key=lambda r: (-r["commits"], r["name"]))
    return {
        "authors": authors,
        "bots": [{"name": name, "commits": commits[name]} for name in sorted(bots)
                 if commits[name]],
        "aliases": aliases,
        "truck_factor": truck,
    }
