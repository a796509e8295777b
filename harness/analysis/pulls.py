"""Pull requests seen in history: GitHub/Bitbucket merge commits and squash merges ``(#123)``,
which commits each merge brought, lead time, and an optional GitHub API export."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from harness.errors import UsageError

_MERGE_PR = re.compile(r"^Merge pull request #(\d+) from \S+")
_BITBUCKET_PR = re.compile(r"^Merged in \S+ \(pull request #(\d+)\)")
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")


def pull_ref(subject: str) -> tuple[str, int] | None:
    """The pull request a commit subject names, as (forge, number): GitHub merge messages and
    a trailing ``(#123)`` (squash merges, titled merges) give "github", Bitbucket's
    ``Merged in ... (pull request #12)`` gives "bitbucket"; None otherwise."""
    match = _MERGE_PR.match(subject) or _SQUASH_PR.search(subject)
    if match:
        return ("github", int(match.group(1)))
    match = _BITBUCKET_PR.match(subject)
    return ("bitbucket", int(match.group(1))) if match else None


def first_parent_line(tip: int, parents: Sequence[Sequence[int]]) -> set[int]:
    """Seqs on the first-parent chain from ``tip`` (the mainline)."""
    line = set()
    seq: int | None = tip
    while seq is not None:
        line.add(seq)
        seq = parents[seq][0] if parents[seq] else None
    return line


def merged_commits(merges: Iterable[int], parents: Sequence[Sequence[int]],
                   mainline: set[int]) -> dict[int, list[int]]:
    """Commits each merge brought in: reachable from its side parents, not yet claimed by an
    earlier merge and not on the mainline. ``merges`` must be in topological order.
    Returns {merge seq: [seq, ...]}."""
    claimed = set(mainline)
    brought: dict[int, list[int]] = {}
    for merge in merges:
        commits = []
        stack = [p for p in parents[merge][1:] if p not in claimed]
        claimed.update(stack)
        while stack:
            seq = stack.pop()
            commits.append(seq)
            for parent in parents[seq]:
                if parent not in claimed:
                    claimed.add(parent)
                    stack.append(parent)
        brought[merge] = commits
    return brought


def load_export(path: str | Path) -> dict[tuple[str, int], dict]:
    """Pull requests from a GitHub REST API export (a JSON list of pull objects, or
    {"pulls": [...]}); returns {("github", number): {"title", "state", "created_at",
    "merged_at", "user"}}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read pull request export {path}: {exc}") from exc
    items = data.get("pulls") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise UsageError(f"{path}: expected a JSON list of pull requests")
    pulls = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("number"), int):
            raise UsageError(f"{path}: every pull request needs an integer 'number'")
        user = item.get("user")
        pulls[("github", item["number"])] = {
            "title": item.get("title"), "state": item.get("state"),
            "created_at": item.get("created_at"), "merged_at": item.get("merged_at"),
            "user": user.get("login") if isinstance(user, dict) else user,
        }
    return pulls


def summarise(found: Mapping[tuple[str, int], dict],
              export: Mapping[tuple[str, int], dict] | None = None) -> dict:
    """Summary of pull requests found in history, enriched by an export when given.

    ``found`` maps (forge, number) -> {"merged_at", "lead_time_days" (or None), "release"}.
    Returns {"count", "merged", "unmerged", "open", "median_lead_time_days", "items"}.
    """
    export = export or {}
    items = []
    for ref in sorted(set(found) | set(export)):
        seen = found.get(ref, {})
        extra = export.get(ref, {})
        merged = bool(seen) or bool(extra.get("merged_at"))
        items.append({
            "forge": ref[0], "number": ref[1], "title": extra.get("title"),
            "user": extra.get("user"),
            "state": "merged" if merged else (extra.get("state") or "closed"),
            "merged_at": seen.get("merged_at") or extra.get("merged_at"),
            "lead_time_days": seen.get("lead_time_days"), "release": seen.get("release"),
        })
    leads = [float(i["lead_time_days"]) for i in items if i["lead_time_days"] is not None]
    return {
        "count": len(items),
        "merged": sum(1 for i in items if i["state"] == "merged"),
        "unmerged": sum(1 for i in items if i["state"] == "closed"),
        "open": sum(1 for i in items if i["state"] == "open"),
        "median_lead_time_days": round(statistics.median(leads), 3) if leads else None,
        "items": items,
    }
