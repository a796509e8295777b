"""TODO/FIXME/XXX/HACK markers in the comments of a Python file, found with the tokenizer.

Only COMMENT tokens are read, so a marker inside a string literal is not a todo. Files that
``ast`` cannot parse (Python 2, syntax errors) are tokenised up to the first tokenizer error
and every comment before it still counts. Blame (author, author date, age) is joined later
by the engine, only for files that have markers.

Most files have no marker anywhere: then nothing is tokenised. Otherwise the comments come from
the shared scan (``tokens.scan``), or from ``tokenize`` where the scan is not exact.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Mapping

from harness.analysis.git import BlameLine
from harness.analysis.tokens import scan

VERSION = "1"
MARKERS = ("TODO", "FIXME", "XXX", "HACK")

_MARKER = re.compile(r"(?<![A-Za-z0-9_])(TODO|FIXME|XXX|HACK)(?![A-Za-z0-9_])")
# Most specific first: an issues URL contains a '#' or digits that the others would also match.
_ISSUE_PATTERNS = (
    re.compile(r"https?://[^\s)>\]]+/(?:issues|pull|merge_requests)/\d+"),
    re.compile(r"(?<![A-Za-z0-9_])GH-\d+(?![0-9])"),
    re.compile(r"(?<![A-Za-z0-9_&/])#\d+(?![0-9A-Za-z_])"),
)


def linked_issue(text: str) -> str | None:
    """The issue reference a comment links (an issues URL, ``GH-123`` or ``#123``), or None."""
    for pattern in _ISSUE_PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


def comment_tokens(source: str) -> tuple[list[tuple[int, str]], str | None]:
    """``([(line, comment text)], error)``: comments up to the first tokenizer error, if any."""
    comments: list[tuple[int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments.append((tok.start[0], tok.string))
    except (tokenize.TokenError, SyntaxError) as exc:  # IndentationError is a SyntaxError
        return comments, f"tokenizer stopped: {exc.args[0] if exc.args else exc}"
    return comments, None


def scan_todos(source: str) -> list[dict]:
    """``[{"line", "marker", "text", "issue"}]`` for each comment that carries a marker.

    ``text`` is the comment without its leading ``#`` and blanks; the first marker counts.
    """
    # A marker in a comment's text is one in the source, with the same neighbours or a '#'.
    if _MARKER.search(source) is None:
        return []
    found = scan(source)
    comments = found.comments if found.exact else comment_tokens(source)[0]
    rows = []
    for line, comment in comments:
        text = comment.lstrip("#").strip()
        match = _MARKER.search(text)
        if match is None:
            continue
        rows.append({"line": line, "marker": match.group(1), "text": text,
                     "issue": linked_issue(text)})
    return rows


def with_blame(path: str, todos: list[dict], blame: Mapping[int, BlameLine],
               commit_time: int) -> list[dict]:
    """CONTRACT todo rows for ``path``: scan rows plus blame author, date and age in days.

    ``age_days`` is whole days from the line's author date to the analysed commit's date.
    """
    rows = []
    for todo in todos:
        who = blame.get(todo["line"])
        rows.append({
            "path": path,
            "line": todo["line"],
            "marker": todo["marker"],
            "text": todo["text"],
            "author": who.author if who else None,
            "author_date": who.author_date if who else None,
            "age_days": max(0, (commit_time - who.author_time) // 86400) if who else None,
            "issue": todo["issue"],
        })
    return rows
