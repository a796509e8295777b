"""Token-based duplicated code, in the manner of SonarQube's CPD.

Files are tokenised with :mod:`tokenize`; comments, blank lines, newlines and indentation
tokens are dropped, every other token is kept with its exact text (identifiers are not
normalised). Every window of ``min_tokens`` consecutive tokens is hashed with a rolling
(Karp-Rabin) hash; equal windows are grouped, runs of groups that continue each other at
every occurrence are merged into maximal blocks, and a block is reported when it spans at
least ``min_lines`` lines at every occurrence. Duplicated lines are the code lines (lines
holding a kept token) covered by any occurrence; percent = 100 * duplicated / total code lines.
A file that cannot be fully tokenised contributes the tokens read before the error.
"""

from __future__ import annotations

import io
import tokenize
from collections import defaultdict

from harness.errors import UsageError

_SKIPPED = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENCODING,
    tokenize.ENDMARKER,
}
_MOD = (1 << 61) - 1
_BASE = 1_000_003


def duplication(sources: dict[str, str], min_lines: int = 6, min_tokens: int = 100) -> dict:
    """Find duplicated token sequences within and across files.

    ``sources`` maps repository-relative path -> decoded text. Returns ``{"percent",
    "duplicated_lines", "total_lines", "blocks": [{"lines", "tokens", "occurrences":
    [{"path", "start", "end"}]}]}``, blocks largest first.
    """
    if min_tokens < 1 or min_lines < 1:
        raise UsageError("duplication thresholds must be at least 1 line and 1 token")
    vocabulary: dict[tuple[int, str], int] = {}
    files = {path: _tokens(text, vocabulary) for path, text in sorted(sources.items())}
    groups = _window_groups(files, min_tokens)
    blocks = _merge_blocks(groups, files, min_tokens, min_lines)
    code_lines = {
        path: {line for _, first, last in tokens for line in range(first, last + 1)}
        for path, tokens in files.items()
    }
    covered: dict[str, set[int]] = defaultdict(set)
    for block in blocks:
        for occurrence in block["occurrences"]:
            span = range(occurrence["start"], occurrence["end"] + 1)
            covered[occurrence["path"]].update(
                line for line in span if line in code_lines[occurrence["path"]]
            )
    duplicated = sum(len(lines) for lines in covered.values())
    total = sum(len(lines) for lines in code_lines.values())
    return {
        "percent": 100.0 * duplicated / total if total else 0.0,
        "duplicated_lines": duplicated,
        "total_lines": total,
        "blocks": blocks,
    }


def _tokens(text: str, vocabulary: dict[tuple[int, str], int]) -> list[tuple[int, int, int]]:
    """Return (token id, first line, last line) for every kept token of a source text."""
    kept: list[tuple[int, int, int]] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type in _SKIPPED:
                continue
            key = (token.type, token.string)
            token_id = vocabulary.setdefault(key, len(vocabulary) + 1)
            kept.append((token_id, token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass  # keep what was read before the error
    return kept


def _window_groups(files: dict[str, list], width: int) -> list[list[tuple[str, int]]]:
    """Group the start positions of identical token windows (groups of two or more)."""
    by_hash: dict[int, list[tuple[str, int]]] = defaultdict(list)
    top = pow(_BASE, width, _MOD)
    for path, tokens in files.items():
        if len(tokens) < width:
            continue
        ids = [token[0] for token in tokens]
        value = 0
        for token_id in ids[:width]:
            value = (value * _BASE + token_id) % _MOD
        by_hash[value].append((path, 0))
        for start in range(1, len(ids) - width + 1):
            value = (value * _BASE + ids[start + width - 1] - ids[start - 1] * top) % _MOD
            by_hash[value].append((path, start))
    groups: list[list[tuple[str, int]]] = []
    for positions in by_hash.values():
        if len(positions) < 2:
            continue
        # Verify content, so that a hash collision never joins different windows.
        exact: dict[tuple[int, ...], list[tuple[str, int]]] = defaultdict(list)
        for path, start in positions:
            key = tuple(token[0] for token in files[path][start : start + width])
            exact[key].append((path, start))
        groups.extend(group for group in exact.values() if len(group) > 1)
    return groups


def _merge_blocks(groups, files, width: int, min_lines: int) -> list[dict]:
    """Chain groups whose occurrences all continue a previous group's, and emit blocks."""
    group_of: dict[tuple[str, int], int] = {}
    for number, group in enumerate(groups):
        for position in group:
            group_of[position] = number

    def predecessor(number: int) -> int | None:
        group = groups[number]
        previous = {group_of.get((path, start - 1)) for path, start in group}
        if len(previous) != 1:
            return None
        (candidate,) = previous
        if candidate is None or len(groups[candidate]) != len(group):
            return None
        return candidate

    successor: dict[int, int] = {}
    starts = []
    for number in range(len(groups)):
        previous = predecessor(number)
        if previous is None:
            starts.append(number)
        else:
            successor[previous] = number
    blocks = []
    for number in starts:
        length = 0
        current = number
        while current in successor:
            current = successor[current]
            length += 1
        occurrences = []
        for path, start in sorted(groups[number]):
            tokens = files[path]
            first, last = tokens[start][1], tokens[start + width + length - 1][2]
            occurrences.append({"path": path, "start": first, "end": last})
        spans = [item["end"] - item["start"] + 1 for item in occurrences]
        if min(spans) >= min_lines:
            blocks.append({"lines": spans[0], "tokens": width + length, "occurrences": occurrences})
    blocks.sort(
        key=lambda block: (
            -block["tokens"],
            block["occurrences"][0]["path"],
            block["occurrences"][0]["start"],
        )
    )
    return blocks
