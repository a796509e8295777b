"""Token-based duplicated code, in the manner of SonarQube's CPD.

Files are tokenised as :mod:`tokenize` does (by ``code_tokens.code_tokens``, one regular
expression and numpy, or by tokenize itself where that lexer declines); comments, blank
lines, newlines and indentation tokens are dropped, every other token is kept with its exact
text (identifiers are not normalised). Every window of ``min_tokens`` consecutive tokens is
hashed with a rolling (Karp-Rabin) hash; equal windows are grouped, runs of groups that
continue each other at every occurrence are merged into maximal blocks, and a block is
reported when it spans at least ``min_lines`` lines at every occurrence. Duplicated lines
are the code lines (lines holding a kept token) covered by any occurrence; percent = 100 *
duplicated / total code lines.
A file that cannot be fully tokenised contributes the tokens read before the error.

Per file version, ``fingerprints`` keeps the code line count and a winnowed sample of
``_GRAM``-token hashes (MOSS winnowing over every window of ``min_tokens`` tokens): two
occurrences of one window always share a selected hash, so the files holding a window that
occurs twice are among the ``candidates`` (files with a hash held at two places of the
tree). ``tree_duplication`` runs the exact search on the candidates only and adds the other
files' line counts: the result equals ``duplication`` of the whole tree. The fingerprints'
rolling hash and winnowing run in numpy and select exactly what the Python loops
(``_rolling``, ``_winnow``, kept for the tokenize path) select.
"""

from __future__ import annotations

import base64
import io
import tokenize
import zlib
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from harness.analysis.code_tokens import code_tokens
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
MIN_LINES, MIN_TOKENS = 6, 100  # the engine's thresholds
_GRAM = 60  # tokens per fingerprinted gram: longer grams link fewer unrelated files
_PRINT_BITS = (1 << 40) - 1  # stored fingerprints: 40 bits keep payloads small
_STABLE: dict[tuple[int, str], int] = {}  # token -> process-independent value
_LIMB = (1 << 21) - 1  # a 32-bit value times a 21-bit limb, summed 60 times: below 2**59
_LIMBS: dict[int, np.ndarray] = {}  # window width -> its powers of _BASE in limbs


class TokenFile(NamedTuple):
    """One file, tokenised: per kept token its ``ids`` (vocabulary id), ``first`` and
    ``last`` line, and the rolling hash of every window of ``width`` tokens (``windows[i]``
    starts at token i); int64 arrays."""

    ids: np.ndarray
    first: np.ndarray
    last: np.ndarray
    windows: np.ndarray
    width: int


def duplication(sources: dict[str, str], min_lines: int = MIN_LINES,
                min_tokens: int = MIN_TOKENS) -> dict:
    """Find duplicated token sequences within and across files.

    ``sources`` maps repository-relative path -> decoded text. Returns ``{"percent",
    "duplicated_lines", "total_lines", "blocks": [{"lines", "tokens", "occurrences":
    [{"path", "start", "end"}]}]}``, blocks largest first.
    """
    _check(min_lines, min_tokens)
    vocabulary: dict[tuple[int, str], int] = {}
    files = {path: tokenise(text, vocabulary, min_tokens) for path, text in sources.items()}
    total = sum(len(_file_rows(file)) for file in files.values())
    return duplication_of(files, total, min_lines)


def tokenise(text: str, vocabulary: dict[tuple[int, str], int],
             min_tokens: int = MIN_TOKENS) -> TokenFile:
    """Tokenise one source text with ``vocabulary`` (shared by the files compared, it gives
    equal tokens equal ids) and hash its windows of ``min_tokens`` tokens. Returns a
    ``TokenFile``."""
    return tokenise_record(token_record(text), vocabulary, min_tokens)


def token_record(text: str) -> dict[str, list]:
    """The kept tokens of a source text as plain data, to store and tokenise again without
    the tokenizer: ``{"words": [[type, text], ...], "tokens": [word index, first line,
    last line - first line, ...]}`` (three numbers per token)."""
    lexed = code_tokens(text)
    if lexed is None:  # tokenize reads this text in a way the fast lexer does not
        return _token_record_by_tokenize(text)
    flat = np.column_stack([lexed.ids, lexed.first, lexed.last - lexed.first]).ravel()
    return {"words": [list(word) for word in lexed.words], "tokens": flat.tolist()}


def _token_record_by_tokenize(text: str) -> dict[str, list]:
    """``token_record`` from a ``tokenize`` pass, for texts the fast lexer declines."""
    words: dict[tuple[int, str], int] = {}
    flat: list[int] = []
    for key, first, last in _token_stream(text):
        flat += (words.setdefault(key, len(words)), first, last - first)
    return {"words": [list(word) for word in words], "tokens": flat}


def pack_record(record: Mapping[str, list]) -> dict[str, Any]:
    """A ``token_record`` with its numbers as base64 of little-endian int32 (a stored record
    decodes without a JSON list of thousands of numbers); ``tokenise_record`` reads both."""
    packed = np.asarray(record["tokens"], dtype="<i4").tobytes()
    return {"words": record["words"], "tokens": base64.b64encode(packed).decode("ascii")}


def tokenise_record(record: Mapping[str, Any], vocabulary: dict[tuple[int, str], int],
                    min_tokens: int = MIN_TOKENS) -> TokenFile:
    """``tokenise`` from a ``token_record`` (or its ``pack_record``). Returns a
    ``TokenFile``."""
    ids = np.array([vocabulary.setdefault((kind, word), len(vocabulary) + 1)
                    for kind, word in record["words"]], dtype=np.int64)
    flat = record["tokens"]
    if isinstance(flat, str):
        table = np.frombuffer(base64.b64decode(flat), dtype="<i4").astype(np.int64)
    else:
        table = np.array(flat, dtype=np.int64)
    table = table.reshape(-1, 3)
    kept = ids[table[:, 0]]
    first = table[:, 1]
    # _rolling_array equals _rolling: ids are far below its 2**32 bound
    return TokenFile(kept, first, first + table[:, 2], _rolling_array(kept, min_tokens),
                     min_tokens)


def duplication_of(files: Mapping[str, TokenFile], total_lines: int,
                   min_lines: int = MIN_LINES) -> dict:
    """``duplication``'s result for tokenised ``files`` (one vocabulary, one width), whose
    tree has ``total_lines`` code lines in all. Returns the same dict as ``duplication``."""
    ordered = {path: files[path] for path in sorted(files)}
    widths = {file.width for file in ordered.values()}
    width = widths.pop() if widths else MIN_TOKENS
    groups = _window_groups(ordered)
    blocks = _merge_blocks(groups, ordered, width, min_lines)
    code_lines = {path: _file_rows(file) for path, file in ordered.items()}
    covered: dict[str, set[int]] = defaultdict(set)
    for block in blocks:
        for occurrence in block["occurrences"]:
            span = range(occurrence["start"], occurrence["end"] + 1)
            covered[occurrence["path"]].update(
                line for line in span if line in code_lines[occurrence["path"]]
            )
    duplicated = sum(len(lines) for lines in covered.values())
    return {
        "percent": 100.0 * duplicated / total_lines if total_lines else 0.0,
        "duplicated_lines": duplicated,
        "total_lines": total_lines,
        "blocks": blocks,
    }


def fingerprints(text: str, min_tokens: int = MIN_TOKENS) -> dict[str, Any]:
    """The per-file part of duplication: ``{"lines": code lines, "prints": [hash, ...]}``,
    the winnowed ``_GRAM``-token hashes that every window of ``min_tokens`` tokens of the
    file contains (in file order, one per selected position)."""
    lexed = code_tokens(text)
    if lexed is None:  # tokenize reads this text in a way the fast lexer does not
        return _fingerprints_by_tokenize(text, min_tokens)
    lines = _covered_rows(lexed.first, lexed.last)
    gram = min(_GRAM, min_tokens)
    if len(lexed.ids) < min_tokens:
        return {"lines": lines, "prints": []}  # no window of min_tokens tokens at all
    values = np.array([_stable_value(word) for word in lexed.words], dtype=np.int64)
    grams = _rolling_array(values[lexed.ids], gram) & _PRINT_BITS
    return {"lines": lines, "prints": _winnow_array(grams, min_tokens - gram + 1)}


def _fingerprints_by_tokenize(text: str, min_tokens: int) -> dict[str, Any]:
    """``fingerprints`` from a ``tokenize`` pass, for texts the fast lexer declines."""
    stream = list(_token_stream(text))
    lines = len(_code_lines([(0, first, last) for _, first, last in stream]))
    gram = min(_GRAM, min_tokens)
    if len(stream) < min_tokens:
        return {"lines": lines, "prints": []}
    values = [_stable_value(key) for key, _, _ in stream]
    grams = [value & _PRINT_BITS for value in _rolling(values, gram)]
    return {"lines": lines, "prints": _winnow(grams, min_tokens - gram + 1)}


def candidates(prints: Mapping[str, Iterable[int]]) -> set[str]:
    """Paths of ``prints`` (``{path: fingerprint list}``) holding a fingerprint that occurs
    at two places or more of the tree: the only files a duplicated window can be in."""
    counts: Counter[int] = Counter()
    for values in prints.values():
        counts.update(values)
    return {path for path, values in prints.items() if any(counts[v] > 1 for v in values)}


def tree_duplication(prints: Mapping[str, Mapping[str, Any]],
                     sources: Mapping[str, str]) -> dict:
    """``duplication`` of a tree from each file's ``fingerprints`` payload (``{path:
    payload}``, every decodable file) and the texts of at least the ``candidates``. Returns
    the same dict as ``duplication(sources of every file)``."""
    chosen = candidates({path: payload["prints"] for path, payload in prints.items()})
    vocabulary: dict[tuple[int, str], int] = {}
    files = {path: tokenise(sources[path], vocabulary) for path in chosen}
    return duplication_of(files, sum(payload["lines"] for payload in prints.values()))


def _check(min_lines: int, min_tokens: int) -> None:
    if min_tokens < 1 or min_lines < 1:
        raise UsageError("duplication thresholds must be at least 1 line and 1 token")


def _token_stream(text: str) -> Iterable[tuple[tuple[int, str], int, int]]:
    """((type, text), first line, last line) of every kept token of a source text."""
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type not in _SKIPPED:
                yield (token.type, token.string), token.start[0], token.end[0]
    except (tokenize.TokenError, SyntaxError):
        pass  # keep what was read before the error


def _code_lines(tokens: Iterable[tuple[int, int, int]]) -> set[int]:
    return {line for _, first, last in tokens for line in range(first, last + 1)}


def _file_rows(file: TokenFile) -> set[int]:
    """The rows holding a kept token of ``file`` (every row of a token spanning rows)."""
    rows = set(file.first.tolist())
    spans = np.flatnonzero(file.last > file.first)
    for first, last in zip(file.first[spans].tolist(), file.last[spans].tolist(), strict=True):
        rows.update(range(first + 1, last + 1))
    return rows


def _stable_value(key: tuple[int, str]) -> int:
    """A token's value for fingerprints, the same in every process (``hash`` of a str is not)."""
    value = _STABLE.get(key)
    if value is None:
        if len(_STABLE) > 1_000_000:
            _STABLE.clear()  # bounded memory over a long history
        value = _STABLE[key] = zlib.crc32(f"{key[0]}\0{key[1]}".encode("utf-8", "replace"))
    return value


def _rolling(values: list[int], width: int) -> list[int]:
    """Karp-Rabin hash of every run of ``width`` consecutive ``values``."""
    if len(values) < width:
        return []
    top = pow(_BASE, width, _MOD)
    value = 0
    for item in values[:width]:
        value = (value * _BASE + item) % _MOD
    hashes = [value]
    for start in range(1, len(values) - width + 1):
        value = (value * _BASE + values[start + width - 1] - values[start - 1] * top) % _MOD
        hashes.append(value)
    return hashes


def _winnow(hashes: list[int], window: int) -> list[int]:
    """The minimum of every run of ``window`` consecutive ``hashes`` (the rightmost one on a
    tie, so equal runs select at equal offsets), once per selected position."""
    selected: list[int] = []
    queue: deque[int] = deque()  # positions of increasing hashes: the window's minima
    last = -1
    for position, value in enumerate(hashes):
        while queue and hashes[queue[-1]] >= value:
            queue.pop()
        queue.append(position)
        if queue[0] <= position - window:
            queue.popleft()
        if position >= window - 1 and queue[0] != last:
            last = queue[0]
            selected.append(hashes[last])
    return selected


def _covered_rows(first: np.ndarray, last: np.ndarray) -> int:
    """How many rows lie in at least one of the spans ``first[i]..last[i]``."""
    if not len(first):
        return 0
    size = int(last.max()) + 2
    edges = np.bincount(first, minlength=size) - np.bincount(last + 1, minlength=size)
    return int(np.count_nonzero(edges.cumsum()))


def _powers(width: int) -> np.ndarray:
    """``_BASE ** (width - 1 - j) % _MOD`` for j < width, split into 21-bit limbs: an array
    of shape (width, 3) whose products with 32-bit values sum without overflow."""
    found = _LIMBS.get(width)
    if found is None:
        powers = [pow(_BASE, width - 1 - j, _MOD) for j in range(width)]
        found = _LIMBS[width] = np.array(
            [[p & _LIMB, (p >> 21) & _LIMB, p >> 42] for p in powers], dtype=np.int64)
    return found


def _rolling_array(values: np.ndarray, width: int) -> np.ndarray:
    """``_rolling`` of ``values`` (int64, each below 2**32) with numpy: every window's
    polynomial is a dot product with the powers, modulo the Mersenne prime ``_MOD``."""
    if len(values) < width:
        return np.empty(0, dtype=np.int64)
    sums = sliding_window_view(values, width) @ _powers(width)  # each sum below 2**59
    low, middle, high = sums[:, 0], sums[:, 1], sums[:, 2]
    # x * 2**21 and x * 2**42 modulo 2**61 - 1, as 2**61 is 1 modulo it
    total = (low + (((middle & ((1 << 40) - 1)) << 21) + (middle >> 40))
             + (((high & ((1 << 19) - 1)) << 42) + (high >> 19)))  # below 2**63
    total = (total & _MOD) + (total >> 61)
    return np.where(total >= _MOD, total - _MOD, total)


def _winnow_array(hashes: np.ndarray, window: int) -> list[int]:
    """``_winnow`` of ``hashes`` with numpy: the rightmost minimum of every window, each
    selected position once."""
    if len(hashes) < window:
        return []
    runs = sliding_window_view(hashes, window)[:, ::-1]  # reversed: argmin finds the rightmost
    positions = np.arange(window - 1, len(hashes)) - runs.argmin(axis=1)
    fresh = np.empty(len(positions), dtype=bool)
    fresh[0] = True
    np.not_equal(positions[1:], positions[:-1], out=fresh[1:])
    return hashes[positions[fresh]].tolist()


def _window_groups(files: Mapping[str, TokenFile]) -> list[list[tuple[str, int]]]:
    """Group the start positions of identical token windows (groups of two or more)."""
    if not files:
        return []
    values, times = np.unique(np.concatenate([file.windows for file in files.values()]),
                              return_counts=True)
    repeated = values[times > 1]  # most windows occur once
    by_hash: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for path, file in files.items():
        starts = np.flatnonzero(np.isin(file.windows, repeated))
        for start, value in zip(starts.tolist(), file.windows[starts].tolist(), strict=True):
            by_hash[value].append((path, start))
    groups: list[list[tuple[str, int]]] = []
    for positions in by_hash.values():
        # Verify content, so that a hash collision never joins different windows.
        exact: dict[bytes, list[tuple[str, int]]] = defaultdict(list)
        for path, start in positions:
            file = files[path]
            exact[file.ids[start : start + file.width].tobytes()].append((path, start))
        groups.extend(group for group in exact.values() if len(group) > 1)
    return groups


def _merge_blocks(groups, files: Mapping[str, TokenFile], width: int,
                  min_lines: int) -> list[dict]:
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
            file = files[path]
            first, last = int(file.first[start]), int(file.last[start + width + length - 1])
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
