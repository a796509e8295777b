"""The code tokens of a Python source as ``tokenize`` gives them, from one regular expression.

Duplication needs every token but comments, newlines and indentation, each as ``(type,
text)`` with its first and last row. ``tokenize`` builds a named tuple per token in a Python
generator (about 5 ms for a 300-line file); here one ``findall`` over the whole text cuts it
into the same pieces, every distinct piece is classified once (most repeat, across files
too), and rows, bracket depth and indentation come from numpy over the piece ids.

The alternatives are tokenize's own (Python 3.11 ``tokenize.PseudoToken``), reordered only
where they cannot start with the same character, with two changes that keep a piece
context-free: a triple-quoted string is matched whole across lines, and a newline or line
continuation takes the next row's indentation with it. Wherever tokenize would do something
this reading does not (an unterminated or continued string, an error token, a carriage
return, an inconsistent dedent), ``code_tokens`` returns None and callers use ``tokenize``.
"""

from __future__ import annotations

import re
import sys
import tokenize
from typing import NamedTuple

import numpy as np

from harness.analysis.tokens import indent_column

_PREFIX = r"(?:[rR][bBfF]?|[bBfF][rR]?|[uU])?"  # tokenize's string prefixes, any case
_DIGITS = r"[0-9](?:_?[0-9])*"
_EXPONENT = rf"[eE][-+]?{_DIGITS}"
_FLOAT = rf"(?:(?:{_DIGITS}\.(?:{_DIGITS})?|\.{_DIGITS})(?:{_EXPONENT})?|{_DIGITS}{_EXPONENT})"
_NUMBER = (rf"(?:{_DIGITS}[jJ]|{_FLOAT}[jJ]|{_FLOAT}|0[xX](?:_?[0-9a-fA-F])+|0[bB](?:_?[01])+"
           rf"|0[oO](?:_?[0-7])+|0(?:_?0)*|[1-9](?:_?[0-9])*)")
# tokenize's operators (``tokenize.Special``), the longest match first; EXACT_TOKEN_TYPES minus
# the brackets and dots, which come elsewhere.
_OPERATORS = r"[()\[\]{},;~]|[=:]=?|\*\*?=?|//?=?|<<?=?|>>?=?|->|-=?|[+%&|^@]=?|!="
# tokenize tries its alternatives in the order of ``PseudoToken``: continuation, comment,
# triple quotes, number, newline, operator, string, name. Here the commonest come first and a
# one-character guard skips the others; the order only changes between alternatives that
# cannot start with the same character, so every piece is the one tokenize would match.
_PIECE = re.compile(
    rf"""[ \t\f]*(
        [^\W\drRbBfFuU]\w*                              # a name no string prefix starts
       |{_OPERATORS}
       |\n[ \t\f]*                                      # newline and the next indentation
       |(?=[rRbBfFuU'"]){_PREFIX}(?:
            '''[^'\\]*(?:(?:\\[\s\S]|'(?!''))[^'\\]*)*'''
           |\"\"\"[^"\\]*(?:(?:\\[\s\S]|"(?!""))[^"\\]*)*\"\"\"
           |'''|\"\"\"                                   # unterminated triple quotes
           |'[^\n'\\]*(?:\\.[^\n'\\]*)*'|"[^\n"\\]*(?:\\.[^\n"\\]*)*")
       |(?=[0-9.]){_NUMBER}
       |\w+
       |\.\.\.|\.
       |\#[^\r\n]*                                      # comment
       |\\\n[ \t\f]*                                    # continuation, next indentation
       |[^ \t\f])                                       # anything else: an error token
    """,
    re.VERBOSE,
)
# Piece classes below zero are not code tokens; code tokens carry their tokenize type.
_NEWLINE, _COMMENT, _CONTINUATION, _ERROR = -1, -2, -3, -4
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
_STRING_START = re.compile(rf"{_PREFIX}['\"]")
_CLASSES: dict[str, tuple[int, int, int, int]] = {}  # piece -> (class, rows, depth, column)
_ENABLED = sys.version_info[:2] <= (3, 11)  # 3.12's tokenize splits f-strings, raises more


class CodeTokens(NamedTuple):
    """The code tokens of a source: ``words`` the distinct ``(type, text)`` in order of first
    sight; per token, ``ids`` (index in ``words``), ``first`` and ``last`` row (int64 arrays)."""

    words: list[tuple[int, str]]
    ids: np.ndarray
    first: np.ndarray
    last: np.ndarray


def code_tokens(text: str) -> CodeTokens | None:
    """The tokens ``tokenize`` yields for ``text`` (``\\n`` newlines) but comments, NL,
    NEWLINE, INDENT, DEDENT and ENDMARKER, in order; None where this reading is not sure to
    equal tokenize's (callers then run tokenize)."""
    if not _ENABLED or "\r" in text:
        return None
    pieces = _PIECE.findall("\n" + text)  # a leading newline: row 1 starts like any other
    index = dict.fromkeys(pieces)
    classes = []
    for number, piece in enumerate(index):
        index[piece] = number
        found = _CLASSES.get(piece)
        if found is None:
            if len(_CLASSES) > 200_000:
                _CLASSES.clear()  # bounded memory over a long history
            found = _CLASSES[piece] = _classify(piece)
        classes.append(found)
    table = np.array(classes, dtype=np.int64).reshape(-1, 4)
    if (table[:, 0] == _ERROR).any():
        return None
    ids = np.fromiter(map(index.__getitem__, pieces), dtype=np.intp, count=len(pieces))
    kind, rows, depth, column = table[ids].T
    if not _indents_consistent(kind, depth.cumsum(), column):
        return None
    first = rows.cumsum() - rows  # rows before the piece: the leading newline makes it 1-based
    code = kind >= 0
    is_word = table[:, 0] >= 0
    renumber = np.cumsum(is_word) - 1  # piece number -> word number
    words = [(int(found[0]), piece) for piece, found in zip(index, classes, strict=True)
             if found[0] >= 0]
    return CodeTokens(words, renumber[ids[code]], first[code], (first + rows)[code])


def _classify(piece: str) -> tuple[int, int, int, int]:
    """(class, newlines inside, bracket depth change, indentation column) of one piece."""
    initial = piece[0]
    if initial == "\n":
        column = indent_column(piece[1:])  # blanks here are spaces, tabs, form feeds
        assert column is not None
        return _NEWLINE, 1, 0, column
    if initial == "#":
        return _COMMENT, 0, 0, 0
    if initial == "\\":
        return (_CONTINUATION, 1, 0, 0) if piece[1:2] == "\n" else (_ERROR, 0, 0, 0)
    if initial in "0123456789" or (initial == "." and piece not in (".", "...")):
        return tokenize.NUMBER, 0, 0, 0
    if piece in tokenize.EXACT_TOKEN_TYPES:
        return tokenize.OP, 0, (initial in _OPEN) - (initial in _CLOSE), 0
    start = _STRING_START.match(piece)
    if start:
        body = piece[start.end() - 1:]
        if len(body) < 2 or body in ("'''", '"""'):  # a lone or unpaired quote: unterminated
            return _ERROR, 0, 0, 0
        return tokenize.STRING, piece.count("\n"), 0, 0
    if initial.isidentifier():
        return tokenize.NAME, 0, 0, 0
    return _ERROR, 0, 0, 0  # tokenize's error tokens, and \w runs it calls operators


def _indents_consistent(kind: np.ndarray, depth: np.ndarray, column: np.ndarray) -> bool:
    """Whether every statement row dedents to a column of an enclosing block, as tokenize
    requires (it raises IndentationError there). A statement row follows a newline outside
    brackets and holds code (a blank or comment-only row is not one)."""
    newline = kind[:-1] == _NEWLINE
    follows = kind[1:]
    starts = newline & (depth[:-1] == 0) & (follows != _NEWLINE) & (follows != _COMMENT)
    columns = column[:-1][starts]
    if not len(columns):
        return True
    changes = np.flatnonzero(columns[1:] != columns[:-1]) + 1  # a run of equal rows is one
    stack = [0]
    for value in [int(columns[0]), *columns[changes].tolist()]:
        if value > stack[-1]:
            stack.append(value)
            continue
        while value < stack[-1]:
            stack.pop()
        if value != stack[-1]:
            return False
    return True
