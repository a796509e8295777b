"""Decode the bytes of a Python file the way the interpreter would.

The encoding comes from ``tokenize.detect_encoding`` (a UTF-8 BOM or a PEP 263 coding
cookie, UTF-8 otherwise); newlines are made universal as Python's source reader does.
Binary, oversized and undecodable files are rejected with a reason instead of an exception.
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass

# Generated or vendored monsters are not worth the analysers' time; they are reported skipped.
MAX_SOURCE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Decoded:
    """A decoded source (``text`` with ``\\n`` newlines) or the ``reason`` it is not one."""

    text: str | None
    encoding: str | None
    reason: str | None = None


def is_python_path(path: str) -> bool:
    """True for the files the analysers read: ``.py`` files."""
    return path.endswith(".py")


def decode_source(data: bytes) -> Decoded:
    """Decode Python source bytes; return a ``Decoded`` whose ``reason`` says why not."""
    if len(data) > MAX_SOURCE_BYTES:
        return Decoded(None, None, f"file larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MiB")
    if b"\0" in data:
        return Decoded(None, None, "binary file (contains NUL bytes)")
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "missing encoding declaration" not in exc.msg:
            # An unknown codec in the cookie, or a cookie that contradicts a BOM.
            return Decoded(None, None, f"bad encoding declaration: {exc.msg}")
        encoding = "utf-8"  # non-UTF-8 bytes in the first lines: decoding says where
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        return Decoded(None, encoding, f"cannot decode as {encoding}: byte "
                                       f"0x{data[exc.start]:02x} at offset {exc.start}")
    except LookupError:
        return Decoded(None, None, f"unknown encoding {encoding!r}")
    return Decoded(text.replace("\r\n", "\n").replace("\r", "\n"), encoding)


def is_test_path(path: str) -> bool:
    """True for test code: under a ``test``/``tests`` folder, ``test_*.py``, ``*_test.py``,
    ``conftest.py``."""
    parts = path.split("/")
    name = parts[-1]
    return (any(p in ("test", "tests", "testing") for p in parts[:-1])
            or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py")
