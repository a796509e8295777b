"""People behind a history: identities merged across aliases, forge machinery, integrators and
the truck factor (degree of authorship, Avelino et al. 2016).

Identities arrive already mapped through ``.mailmap``; this module then merges the aliases git
does not know about: spellings of one name (``François X`` / ``Francois X``) and names that share
an e-mail address (``fx``). Forge machinery (GitHub's web-flow committer, bots) is never a person.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# The committer GitHub writes for web merges and web edits ("web-flow").
FORGE_EMAILS = frozenset({"noreply@github.com", "noreply@gitlab.com", "action@github.com"})
_BOT_NAME = re.compile(
    r"\[bot\]|^(dependabot|dependabot-preview|renovate|renovate-bot|github-actions|"
    r"github action|pre-commit-ci|web-flow|greenkeeper|greenkeeperio-bot|snyk-bot|"
    r"allcontributors|codecov|mergify|bors|imgbot|pyup-bot|pyup\.io bot)\b|-bot$",
    re.IGNORECASE,
)
# Addresses that many different people share by accident: never a reason to merge.
_GENERIC_EMAIL = re.compile(
    r"^$|^(none|nobody|unknown|root|user|noreply|no-reply|git|admin)@|@localhost|"
    r"\(none\)|@example\.(com|org)$|^[^@]*$",
    re.IGNORECASE,
)
_GENERIC_NAMES = frozenset({"unknown", "root", "user", "admin", "git", "github", "your name"})
_GH_NOREPLY = re.compile(r"^(?:\d+\+)?([^@]+)@users\.noreply\.github\.com$", re.IGNORECASE)

# Degree-of-authorship model coefficients (Fritz et al., as used by Avelino et al. 2016).
DOA_BASE, DOA_FA, DOA_DL, DOA_AC = 3.293, 1.098, 0.164, 0.321
DOA_NORMALISED_MIN = 0.75


def is_machinery(name: str, email: str) -> bool:
    """True for forge machinery and bots (web-flow committer, ``*[bot]``, dependabot...)."""
    email = email.strip().lower()
    if email in FORGE_EMAILS or "[bot]" in email:
        return True
    return bool(_BOT_NAME.search(name.strip()))


def _name_key(name: str) -> str | None:
    """Accent-, case- and punctuation-free form of a personal name (None if not personal)."""
    plain = unicodedata.normalize("NFKD", name)
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch)).casefold()
    words = re.sub(r"[^\w]+", " ", plain).split()
    # A single word (a login, "fx") is too weak to equate two people on its own.
    if len(words) < 2 or " ".join(words) in _GENERIC_NAMES:
        return None
    return " ".join(words)


def _email_key(email: str) -> str | None:
    email = email.strip().lower()
    if _GENERIC_EMAIL.search(email) or email in FORGE_EMAILS:
        return None
    login = _GH_NOREPLY.match(email)
    return f"github:{login.group(1)}" if login else email


@dataclass(eq=False)  # identity semantics: a Person is a dict key and compared with `is`
class Person:
    """One human (or one bot) with every (name, email) it appeared as."""

    name: str
    email: str
    bot: bool
    identities: list[tuple[str, str]] = field(default_factory=list)


def resolve_people(counts: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], Person]:
    """Group identities (name, email) -> commits into people.

    Returns a mapping from every identity to its Person; identities sharing a normalised
    e-mail address or a normalised full name are one person, bots are kept apart.
    """
    parent: dict[tuple[str, str], tuple[str, str]] = {ident: ident for ident in counts}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_by_key: dict[str, tuple[str, str]] = {}
    for ident in sorted(counts):
        name, email = ident
        if is_machinery(name, email):
            continue
        for key in (_email_key(email), _name_key(name)):
            if key is None:
                continue
            other = first_by_key.setdefault(key, ident)
            parent[find(ident)] = find(other)
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for ident in counts:
        groups.setdefault(find(ident), []).append(ident)
    people: dict[tuple[str, str], Person] = {}
    for members in groups.values():
        names: Counter[str] = Counter()
        emails: Counter[str] = Counter()
        for name, email in members:
            names[name] += counts[(name, email)]
            emails[email] += counts[(name, email)]
        # Most commits wins; ties prefer the fuller spelling (accents, more letters).
        name = max(names, key=lambda n: (names[n], len(n), n))
        email = max(emails, key=lambda e: (emails[e], e))
        person = Person(name, email, is_machinery(name, email), sorted(members))
        for ident in members:
            people[ident] = person
    return people


def aliases(people: Iterable[Person]) -> list[dict]:
    """People known under more than one identity: [{"name", "identities": ["N <e>", ...]}]."""
    seen: dict[int, Person] = {id(p): p for p in people}
    rows = [
        {"name": p.name, "identities": [f"{n} <{e}>" for n, e in p.identities]}
        for p in seen.values() if len(p.identities) > 1
    ]
    return sorted(rows, key=lambda r: r["name"])


def integrators(events: Mapping[tuple[Person, Person, bool], int]) -> list[dict]:
    """Rank people who integrate other people's work.

    ``events`` maps (author, committer, is_merge) -> commits. A merge counts for its author
    (the person who merged; the committer when the author is a bot); a non-merge commit counts
    for its committer when the committer is another person and not machinery.
    Returns [{"name", "commits", "merges", "integrated"}] by commits, most first.
    """
    merges: Counter[str] = Counter()
    integrated: Counter[str] = Counter()
    for (author, committer, is_merge), n in events.items():
        if is_merge:
            merger = author if not author.bot else committer
            if not merger.bot:
                merges[merger.name] += n
        elif not committer.bot and committer is not author:
            integrated[committer.name] += n
    names = set(merges) | set(integrated)
    rows = [
        {"name": name, "commits": merges[name] + integrated[name], "merges": merges[name],
         "integrated": integrated[name]}
        for name in names
    ]
    return sorted(rows, key=lambda r: (-r["commits"], r["name"]))


def degree_of_authorship(first_author: bool, deliveries: int, others: int) -> float:
    """DOA = 3.293 + 1.098·FA + 0.164·DL − 0.321·ln(1 + AC)."""
    return (DOA_BASE + DOA_FA * first_author + DOA_DL * deliveries
            - DOA_AC * math.log(1 + others))


def file_authors(changes: Mapping[str, tuple[bool, int]]) -> list[str]:
    """Authors of one file from {person: (first_author, deliveries)}.

    An author has a normalised DOA above 0.75 and an absolute DOA above 3.293.
    """
    total = sum(dl for _, dl in changes.values())
    doa = {p: degree_of_authorship(fa, dl, total - dl) for p, (fa, dl) in changes.items()}
    if not doa:
        return []
    top = max(doa.values())
    return sorted(p for p, d in doa.items() if d > DOA_BASE and d / top > DOA_NORMALISED_MIN)


def truck_factor(authorship: Mapping[str, Mapping[str, tuple[bool, int]]]) -> dict:
    """Truck factor of a set of files, {file: {person: (first_author, deliveries)}}.

    Greedily removes the author of most files until more than half of the files have no
    remaining author. Returns {"truck_factor", "authors" (removed, in order), "files",
    "top_authors": [{"name", "files"}]}.
    """
    owners = {f: set(file_authors(changes)) for f, changes in authorship.items()}
    files_of: Counter[str] = Counter(p for people in owners.values() for p in people)
    ranking = sorted(files_of, key=lambda p: (-files_of[p], p))
    total = len(owners)
    removed: list[str] = []
    gone: set[str] = set()

    def orphaned() -> int:
        return sum(1 for people in owners.values() if not people - gone)

    for person in ranking:
        if total == 0 or orphaned() * 2 > total:
            break
        removed.append(person)
        gone.add(person)
    return {
        "truck_factor": len(removed), "authors": removed, "files": total,
        "top_authors": [{"name": p, "files": files_of[p]} for p in ranking[:10]],
    }
