"""Raw line counts equal to radon's ``radon.raw.analyze``, from the shared token scan.

radon strips every line of ``source.splitlines()`` and tokenizes the stripped lines again in
growing chunks (a chunk ends where ``tokenize`` stops complaining), which costs more than all
the other metrics together. A chunk is a blank line, a comment-only line or one logical line,
so the same figures follow from one scan (``tokens.scan``) with radon's rules per chunk:

- ``comments``: every comment; ``single_comments``: comment-only lines, plus logical lines
  that are one string on one row (a one-line docstring);
- ``multi``: the non-blank rows of a logical line that is one string spanning rows (its blank
  rows count as ``blank``); a string followed by a comment is code;
- ``sloc``/``blank``: the non-blank/blank rows of the other logical lines; blank lines;
- ``lloc`` per logical line: 0 without tokens, else 1, or 2 when an OP ``:`` occurs but is not
  the last token (``if x: return``, ``d = {1: 2}``, ``f = lambda: 0``, as radon counts); a line
  with ``;`` is handed to radon's own ``_logical`` on the tokens of its stripped rows;
- ``loc`` = ``sloc + blank + multi + single_comments``.

Where the scan is not exact, the text holds ``\\r``, or ``str.splitlines`` would split on
other characters than ``\\n`` (form feed, vertical tab, ``\\x1c``-``\\x1e``, ``\\x85``,
``\\u2028``/``\\u2029``), radon itself runs, so its figures and its exceptions are returned.
"""

from __future__ import annotations

from typing import Any

from radon.raw import Module, _generate, _logical, analyze

from harness.analysis.tokens import LogicalLine, scan


def raw_metrics(source: str) -> Module:
    """radon's raw figures of ``source`` (``Module(loc, lloc, sloc, comments, multi, blank,
    single_comments)``); raises what ``radon.raw.analyze`` raises on input it rejects."""
    rows = source.splitlines()
    found = scan(source)
    newline_rows = source.count("\n") + (not source.endswith("\n") and bool(source))
    if not found.exact or len(rows) != newline_rows or "\r" in source:
        return analyze(source)
    empty = [not row.strip() for row in rows]
    lloc = sloc = multi = blank = single = 0
    covered = 0  # rows up to here belong to logical lines already counted
    comment_rows = {row for row, _ in found.comments}
    for line in found.lines:
        for row in range(covered + 1, line.first):  # blank and comment-only lines between
            if row in comment_rows:
                single += 1
            else:
                blank += 1
        covered = line.last
        empties = sum(empty[line.first - 1:line.last])
        if line.string_rows is not None and line.tokens == 1 and not line.comment:
            if line.string_rows[0] == line.string_rows[1]:
                single += 1
            else:
                multi += line.last - line.first + 1 - empties
                blank += empties
        else:
            sloc += line.last - line.first + 1 - empties
            blank += empties
        lloc += _line_lloc(line, rows)
    for row in range(covered + 1, len(rows) + 1):
        if row in comment_rows:
            single += 1
        else:
            blank += 1
    return Module(sloc + blank + multi + single, lloc, sloc, len(found.comments), multi, blank,
                  single)


def _line_lloc(line: LogicalLine, rows: list[str]) -> int:
    if line.semicolon:  # segments split on ';': radon's own rule on radon's own tokens
        chunk = "\n".join(row.strip() for row in rows[line.first - 1:line.last])
        tokens: list[Any] = _generate(chunk)
        return int(_logical(tokens))
    if not line.colon:
        return 1
    return 1 if line.ends_colon else 2
