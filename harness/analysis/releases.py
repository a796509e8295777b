"""Releases from tags: annotated and lightweight, semver-ish or not, and which commits each
release brought (those reachable from its tag and from no earlier release)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# One line per tag; fields separated by NUL (tag names cannot contain NUL or newline).
TAG_FORMAT = "%00".join((
    "%(refname)", "%(objecttype)", "%(objectname)", "%(*objecttype)", "%(*objectname)",
    "%(creatordate:iso-strict)", "%(*committerdate:iso-strict)",
))
_VERSION = re.compile(r"^[A-Za-z_./-]*?v?(\d+(?:[._]\d+)*)(.*)$", re.IGNORECASE)
_PRERELEASE = re.compile(r"(a|alpha|b|beta|rc|c|pre|preview|dev)\.?\d*", re.IGNORECASE)


@dataclass(frozen=True)
class Tag:
    """A tag that names a commit."""

    name: str
    commit: str
    date: str          # ISO-8601: tagger date if annotated, else the commit's committer date
    annotated: bool


def parse_tags(output: str, resolve: Mapping[str, str] | None = None) -> list[Tag]:
    """Tags from ``git for-each-ref --format=TAG_FORMAT refs/tags`` output.

    Tags of trees or blobs are dropped; ``resolve`` maps a tag ref whose target is another
    tag to the commit it finally names (``git rev-parse ref^{commit}``).
    Returns the tags in the order given.
    """
    tags = []
    for line in output.splitlines():
        if not line:
            continue
        ref, kind, obj, deref_kind, deref_obj, date, deref_date = line.split("\0")
        name = ref.removeprefix("refs/tags/")
        if kind == "commit":
            tags.append(Tag(name, obj, date, False))
        elif kind == "tag" and deref_kind == "commit":
            tags.append(Tag(name, deref_obj, date or deref_date, True))
        elif kind == "tag" and deref_kind == "tag" and resolve and ref in resolve:
            tags.append(Tag(name, resolve[ref], date, True))
    return tags


def nested_tag_refs(output: str) -> list[str]:
    """Refs in for-each-ref output that name a tag of a tag (need ``^{commit}`` resolution)."""
    refs = []
    for line in output.splitlines():
        fields = line.split("\0")
        if len(fields) == 7 and fields[1] == "tag" and fields[3] == "tag":
            refs.append(fields[0])
    return refs


def version_key(name: str) -> tuple:
    """A sort key for version-like tag names (``v1.10.0`` after ``v1.9.2``; rc before final)."""
    match = _VERSION.match(name)
    if not match:
        return ((), 1, name)
    numbers = tuple(int(part) for part in re.split(r"[._]", match.group(1)))
    suffix = match.group(2)
    return (numbers, 0 if _PRERELEASE.search(suffix) else 1, suffix)


def is_prerelease(name: str) -> bool:
    """True for tags like ``1.0rc1``, ``v2.0.0-beta.2``, ``3.1.dev0``."""
    match = _VERSION.match(name)
    return bool(match and _PRERELEASE.search(match.group(2)))


def epoch(iso: str) -> float:
    """Seconds since the epoch of an ISO-8601 timestamp with offset."""
    return datetime.fromisoformat(iso).timestamp()


def assign_commits(tags: Sequence[Tag], seq_of: Mapping[str, int],
                   parents: Sequence[Sequence[int]]) -> tuple[list[Tag], list[int]]:
    """Give every commit to the first release that contains it.

    ``parents[seq]`` lists the parent seqs of commit ``seq`` (seqs are a topological order,
    parents first). Tags whose commit is not in the history are dropped. Releases are taken
    in topological order of their commits (then date, then version), so a release gets the
    commits reachable from its tag and from no earlier release.
    Returns (releases in that order, release index per seq or -1 when unreleased).
    """
    present = [t for t in tags if t.commit in seq_of]
    ordered = sorted(present, key=lambda t: (seq_of[t.commit], epoch(t.date),
                                             version_key(t.name), t.name))
    release_of = [-1] * len(parents)
    for index, tag in enumerate(ordered):
        start = seq_of[tag.commit]
        if release_of[start] != -1:
            continue  # a second tag on an already released commit brings nothing new
        stack = [start]
        release_of[start] = index
        while stack:
            for parent in parents[stack.pop()]:
                if release_of[parent] == -1:
                    release_of[parent] = index
                    stack.append(parent)
    return ordered, release_of
