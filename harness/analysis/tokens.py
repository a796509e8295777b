"""One lexical scan of a Python source, shared by the analysers that read tokens.

The standard ``tokenize`` module costs a few milliseconds per file (a Python generator and a
named tuple per token), and the TODO finder, class LOC and radon-equal raw counts each used to
run it. What they need is coarser: comments with their line, where each logical line starts and
ends, which lines hold code, and a few facts per logical line (a lone string, a trailing
colon, a semicolon). ``scan`` finds those with one regular expression over the whole text,
stepping over strings, comments, brackets, colons, semicolons, line continuations and runs of
other code, in the way ``tokenize`` delimits them. It is memoised on the text object, because
``analyse_blob`` hands the same string to each analyser in turn.

Where the scan meets something that ``tokenize`` would treat otherwise (an unterminated
string, a stray backslash, unbalanced brackets, an inconsistent dedent, a continuation line
outside a statement), ``Scan.exact`` is False with a ``reason``, and callers use ``tokenize``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

_PREFIX = r"(?:[rR][bBfF]?|[bBfF][rR]?|[uU])?"
# One alternation tried at each position: strings first (a string prefix at the start of a
# run of other code belongs to the string, as in ``tokenize``), behind a one-character guard;
# leading blanks are part of each match, which spares the engine a failed try per blank.
_TOKEN = re.compile(
    rf"""[ \t\f]*(?:
        (?=[rRbBfFuU'"]){_PREFIX}(?:
            (?P<triple>'''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''
                      |\"\"\"[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*\"\"\")
           |(?P<open3>'''|\"\"\")
           |(?P<single>'[^'\\\n]*(?:\\[\s\S][^'\\\n]*)*'|"[^"\\\n]*(?:\\[\s\S][^"\\\n]*)*"))
        |(?P<newline>\n)
        |(?P<comment>\#[^\n]*)
        |(?P<open>[(\[{{])
        |(?P<close>[)\]}}])
        |(?P<colon>:(?!=))
        |(?P<semicolon>;)
        |(?P<continuation>\\\n)
        |(?P<other>(?::=|[^\s'"\#()\[\]{{}}:;\\])[^\n'"\#()\[\]{{}}:;\\]*)
        |(?P<bad>['"\\]))""",
    re.VERBOSE,
)
_KINDS = {name: index for name, index in _TOKEN.groupindex.items()}
_TRIPLE, _OPEN3, _SINGLE, _COMMENT = (_KINDS[k] for k in ("triple", "open3", "single", "comment"))
_NEWLINE, _OPEN, _CLOSE, _COLON = (_KINDS[k] for k in ("newline", "open", "close", "colon"))
_SEMICOLON, _CONTINUATION, _OTHER = (_KINDS[k] for k in ("semicolon", "continuation", "other"))
_TABSIZE = 8  # tokenize's tab stops for indentation columns


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """A statement line as ``tokenize`` ends it with NEWLINE: ``first``..``last`` rows.

    ``tokens``: significant matches (a run of plain code counts once, so only 1 says how
    many ``tokenize`` tokens there are: one);
    ``colon``/``ends_colon``: an OP ``:`` occurs / is the last significant token;
    ``semicolon``: an OP ``;`` occurs; ``comment``: a comment lies inside the rows;
    ``string_rows``: (first, last) row of the first token when it is a string, else None.
    """

    first: int
    last: int
    tokens: int
    colon: bool
    ends_colon: bool
    semicolon: bool
    comment: bool
    string_rows: tuple[int, int] | None


@dataclass(slots=True)
class Scan:
    """What ``scan`` finds in one source.

    ``comments``: ``[(row, text)]`` in order; ``lines``: the logical lines in order;
    ``blank_in_lines``: rows inside logical lines that hold no code (blank or comment-only
    rows inside brackets, a bare continuation backslash); ``exact`` False (with ``reason``)
    when ``tokenize`` would read the text otherwise.
    """

    comments: list[tuple[int, str]]
    lines: list[LogicalLine]
    blank_in_lines: list[int]
    exact: bool = True
    reason: str | None = None
    _code_prefix: list[int] | None = field(default=None, repr=False)

    def code_line_count(self, first: int, last: int) -> int:
        """Number of rows in ``first..last`` that hold at least one code token (a string
        spanning rows counts on each row), as ``tokenize`` shows them."""
        if self._code_prefix is None:
            self._code_prefix = self._code_rows()
        rows = self._code_prefix
        return bisect_right(rows, last) - bisect_left(rows, first)

    def _code_rows(self) -> list[int]:
        blank = set(self.blank_in_lines)
        return [row for line in self.lines for row in range(line.first, line.last + 1)
                if row not in blank]


_MEMO: list[tuple[str, Scan]] = []  # the last few texts scanned, most recent last
_MEMO_SIZE = 4


def scan(text: str) -> Scan:
    """Scan ``text`` (``\\n`` newlines) once; the same string object gets the same ``Scan``."""
    for seen, result in _MEMO:
        if seen is text:
            return result
    result = _scan(text)
    _MEMO.append((text, result))
    if len(_MEMO) > _MEMO_SIZE:
        del _MEMO[0]
    return result


def indent_column(indent: str) -> int | None:
    """tokenize's indentation column (tabs to the next stop, a form feed resets), None when
    other blanks (vertical tab, no-break space...) are in it."""
    if indent.count(" ") == len(indent):
        return len(indent)
    column = 0
    for char in indent:
        if char == " ":
            column += 1
        elif char == "\t":
            column = (column // _TABSIZE + 1) * _TABSIZE
        elif char == "\f":
            column = 0
        else:
            return None
    return column


def _scan(text: str) -> Scan:  # noqa: C901 - one loop over matches keeps the scan fast
    comments: list[tuple[int, str]] = []
    lines: list[LogicalLine] = []
    blank_in_lines: list[int] = []
    indents = [0]
    row, row_start, depth = 1, 0, 0
    in_line = row_code = False
    first = tokens = 0
    colon = ends_colon = semicolon = comment = False
    string_rows: tuple[int, int] | None = None
    reason = None
    for match in _TOKEN.finditer(text):
        kind = match.lastindex or 0  # every alternative is a group: never 0
        if kind == _NEWLINE or kind == _CONTINUATION:
            if kind == _CONTINUATION and not in_line:
                reason = f"line {row}: continuation outside a statement"
                break
            if in_line:
                if depth == 0 and kind == _NEWLINE:
                    lines.append(LogicalLine(first, row, tokens, colon, ends_colon, semicolon,
                                             comment, string_rows))
                    in_line = False
                elif not row_code:
                    blank_in_lines.append(row)
            row += 1
            row_start = match.end()
            row_code = False
            continue
        if kind == _COMMENT:
            comments.append((row, match.group(_COMMENT)))
            comment = comment or in_line
            continue
        if kind == _OPEN3 or kind > _OTHER:
            reason = f"line {row}: unterminated string or stray backslash"
            break
        if not in_line:
            value = match.group()
            blanks = len(value) - len(value.lstrip(" \t\f"))
            column = indent_column(text[row_start:match.start() + blanks])
            if column is None:
                reason = f"line {row}: unusual blank in the indentation"
                break
            if column > indents[-1]:
                indents.append(column)
            while column < indents[-1]:
                indents.pop()
            if column != indents[-1]:
                reason = f"line {row}: unindent does not match any outer indentation level"
                break
            in_line, first, tokens = True, row, 0
            colon = semicolon = comment = False
            string_rows = None
        tokens += 1
        row_code = True
        ends_colon = kind == _COLON
        if kind == _TRIPLE or kind == _SINGLE:
            start = row
            value = match.group()
            breaks = value.count("\n")
            if breaks:
                row += breaks
                row_start = match.start() + value.rfind("\n") + 1
            if tokens == 1:
                string_rows = (start, row)
        elif kind == _OPEN:
            depth += 1
        elif kind == _CLOSE:
            depth -= 1
            if depth < 0:
                reason = f"line {row}: unmatched closing bracket"
                break
        elif kind == _COLON:
            colon = True
        elif kind == _SEMICOLON:
            semicolon = True
    else:
        if depth:
            reason = "EOF in multi-line statement"
        elif in_line:  # no newline at the end: tokenize ends the statement there
            lines.append(LogicalLine(first, row, tokens, colon, ends_colon, semicolon,
                                     comment, string_rows))
    return Scan(comments, lines, blank_in_lines, reason is None, reason)
