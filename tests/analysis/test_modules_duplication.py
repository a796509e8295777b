"""Module graph (Martin metrics, cycles), token duplication and backend-dependent skips."""

from __future__ import annotations

import ast
import io
import itertools
import json
import random
import sysconfig
import textwrap
import tokenize
from pathlib import Path

import numpy as np
import pytest
import radon

import harness
from harness.analysis.code_tokens import code_tokens
from harness.analysis.duplication import (
    MIN_TOKENS,
    _fingerprints_by_tokenize,
    _rolling,
    _rolling_array,
    _token_record_by_tokenize,
    _winnow,
    _winnow_array,
    candidates,
    duplication,
    fingerprints,
    pack_record,
    token_record,
    tokenise,
    tokenise_record,
    tree_duplication,
)
from harness.analysis.modules import module_graph, module_name, strongly_connected
from harness.analysis.sources import decode_source
from harness.analysis.test_skips import BACKENDS, backend_skips
from harness.errors import UsageError

# ---------------------------------------------------------------------------------------
# modules

APP = {
    "src/app/__init__.py": "from .core import engine\n",
    "src/app/core/__init__.py": "",
    "src/app/core/engine.py": (
        "import abc\nfrom ..util import helpers\nfrom app.core import plugins\n"
        "class Base(abc.ABC):\n    pass\nclass Impl(Base):\n    pass\n"
    ),
    "src/app/core/plugins.py": (
        "from . import engine\nfrom typing import Protocol\nclass P(Protocol):\n    pass\n"
    ),
    "src/app/util/helpers.py": (
        "import os, numpy\nimport app.core.engine\ndef f():\n    from app import missing\n"
    ),
    "tests/test_app.py": "import app\nfrom app.util.helpers import f\nimport pytest\n",
}


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("pkg/sub/mod.py", "pkg.sub.mod"),
        ("pkg/sub/__init__.py", "pkg.sub"),
        ("src/pkg/mod.py", "pkg.mod"),
        ("src/pkg/__init__.py", "pkg"),
        ("setup.py", "setup"),
        ("src.py", "src"),
    ],
)
def test_module_names(path, name):
    assert module_name(path) == name


def test_module_graph_hand_computed():
    graph = module_graph({path: ast.parse(text) for path, text in APP.items()})
    rows = {row["module"]: row for row in graph["modules"]}
    assert [row["path"] for row in graph["modules"]] == sorted(APP)
    # Imports resolved to the repository only (abc, typing, os, numpy, pytest dropped):
    # `from .core import engine` -> the submodule; `from ..util import helpers` from
    # app.core.engine -> app.util.helpers; `from app import missing` (a name) -> app.
    assert rows["app"]["imports"] == ["app.core.engine"]
    assert rows["app.core.engine"]["imports"] == ["app.core.plugins", "app.util.helpers"]
    assert rows["app.core.plugins"]["imports"] == ["app.core.engine"]
    assert rows["app.util.helpers"]["imports"] == ["app", "app.core.engine"]
    assert rows["tests.test_app"]["imports"] == ["app", "app.util.helpers"]
    expected = {
        # module: (ca, ce, instability, abstractness)
        "app": (2, 1, 1 / 3, 0.0),
        "app.core": (0, 0, 0.0, 0.0),
        "app.core.engine": (3, 2, 2 / 5, 1 / 2),  # Base(ABC) abstract, Impl concrete
        "app.core.plugins": (1, 1, 1 / 2, 1.0),  # a Protocol
        "app.util.helpers": (2, 2, 1 / 2, 0.0),
        "tests.test_app": (0, 2, 1.0, 0.0),
    }
    for module, (ca, ce, instability, abstractness) in expected.items():
        row = rows[module]
        assert (row["ca"], row["ce"]) == (ca, ce), module
        assert row["instability"] == pytest.approx(instability), module
        assert row["abstractness"] == pytest.approx(abstractness), module
        assert row["distance"] == pytest.approx(abs(abstractness + instability - 1)), module
    # app -> engine -> helpers -> app, and engine <-> plugins: one component.
    assert graph["cycles"] == [["app", "app.core.engine", "app.core.plugins", "app.util.helpers"]]


def test_abstractness_forms_and_relative_import_above_root():
    source = textwrap.dedent("""
        import abc
        from typing import Protocol, TypeVar
        from ... import nothing
        T = TypeVar("T")
        class A(metaclass=abc.ABCMeta):
            pass
        class B(Protocol[T]):
            pass
        class C:
            @abc.abstractmethod
            def run(self):
                pass
        class D(C):
            def run(self):
                return 1
        """)
    (row,) = module_graph({"lib/kinds.py": ast.parse(source)})["modules"]
    assert row["abstractness"] == pytest.approx(3 / 4)
    assert (row["ce"], row["imports"]) == (0, [])


def test_tarjan_components():
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d"], "f": ["a"], "g": []}
    assert strongly_connected(graph) == [["a", "b", "c"], ["d", "e"]]
    # a long chain must not hit the recursion limit
    chain = {str(i): [str(i + 1)] for i in range(5000)}
    chain["5000"] = ["0"]
    (component,) = strongly_connected(chain)
    assert len(component) == 5001


# ---------------------------------------------------------------------------------------
# duplication

A_PY = """def total(items):
    result = 0
    for item in items:
        result += item
    return result
"""
# Same 19 tokens as A_PY (def total ( items ) : | result = 0 | for item in items : |
# result += item | return result) with other comments and blank lines, on lines 5..10.
B_PY = """# helper copy
x = 1


def total(items):
    result = 0  # start
    for item in items:

        result += item
    return result
y = 2
"""


def test_duplicated_block_across_files_hand_computed():
    result = duplication({"a.py": A_PY, "b.py": B_PY}, min_lines=5, min_tokens=10)
    # windows of 10 tokens chain into one maximal block of all 19 tokens
    assert result["blocks"] == [
        {
            "lines": 5,
            "tokens": 19,
            "occurrences": [
                {"path": "a.py", "start": 1, "end": 5},
                {"path": "b.py", "start": 5, "end": 10},
            ],
        }
    ]
    # code lines: a.py 5; b.py 7 (x = 1, five in the function, y = 2)
    assert result["total_lines"] == 12
    # all of a.py, and b.py lines 5, 6, 7, 9, 10 (line 8 is blank)
    assert result["duplicated_lines"] == 10
    assert result["percent"] == pytest.approx(100 * 10 / 12)


def test_thresholds_and_exact_identifiers():
    # the block spans 5 lines in a.py: below min_lines=6 it is not reported
    assert duplication({"a.py": A_PY, "b.py": B_PY}, min_lines=6, min_tokens=10)["blocks"] == []
    # 19 tokens < min_tokens=20
    assert duplication({"a.py": A_PY, "b.py": B_PY}, min_lines=1, min_tokens=20)["blocks"] == []
    # identifiers are not normalised: renaming breaks the 19-token match
    renamed = A_PY.replace("result", "acc")
    assert duplication({"a.py": A_PY, "c.py": renamed}, min_lines=1, min_tokens=19) == {
        "percent": 0.0,
        "duplicated_lines": 0,
        "total_lines": 10,
        "blocks": [],
    }
    with pytest.raises(UsageError):
        duplication({"a.py": A_PY}, min_tokens=0)


def test_three_occurrences_and_duplication_within_one_file():
    twice = A_PY + "\n\nvalue = 3\n\n" + A_PY
    result = duplication({"a.py": A_PY, "twice.py": twice}, min_lines=5, min_tokens=19)
    (block,) = result["blocks"]
    assert block["tokens"] == 19
    assert block["occurrences"] == [
        {"path": "a.py", "start": 1, "end": 5},
        {"path": "twice.py", "start": 1, "end": 5},
        {"path": "twice.py", "start": 10, "end": 14},
    ]
    assert (result["duplicated_lines"], result["total_lines"]) == (15, 16)


def test_longer_shared_prefix_of_two_files_is_its_own_block():
    extra = A_PY + "print(total([1, 2]))\n"
    result = duplication({"a.py": A_PY, "b.py": extra, "c.py": extra}, min_lines=5, min_tokens=19)
    # b and c share 19 + 10 tokens; all three share the first 19.
    assert [(b["tokens"], [o["path"] for o in b["occurrences"]]) for b in result["blocks"]] == [
        (29, ["b.py", "c.py"]),
        (19, ["a.py", "b.py", "c.py"]),
    ]
    assert result["blocks"][0]["occurrences"][0] == {"path": "b.py", "start": 1, "end": 6}


def test_untokenisable_tail_keeps_the_tokens_before_the_error():
    broken = A_PY + "x = (\n"
    result = duplication({"a.py": A_PY, "broken.py": broken}, min_lines=5, min_tokens=19)
    assert [o["path"] for o in result["blocks"][0]["occurrences"]] == ["a.py", "broken.py"]


def test_twenty_thousand_lines_find_the_one_real_block():
    # speed is measured by benchmarks/bench_analyse.py, not asserted here
    sources = {}
    for number in range(400):
        lines = [
            f"def func_{number}_{i}(arg_{i}):\n    return arg_{i} * {number + i}\n"
            for i in range(25)
        ]
        sources[f"pkg/mod_{number}.py"] = "".join(lines)
    sources["pkg/mod_7.py"] += A_PY
    sources["pkg/mod_300.py"] += A_PY
    result = duplication(sources, min_lines=5, min_tokens=19)
    assert result["total_lines"] == 400 * 50 + 10
    assert [[o["path"] for o in b["occurrences"]] for b in result["blocks"]] == [
        ["pkg/mod_300.py", "pkg/mod_7.py"]
    ]


# ---------------------------------------------------------------------------------------
# backend-dependent skips

SKIPS = textwrap.dedent("""
    import os
    import unittest
    import pytest
    from keras import backend as K
    import keras

    skip_theano = pytest.mark.skipif(K.backend() == "theano", reason="no")
    IS_JAX = keras.config.backend() == "jax"
    pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND") == "cntk", reason="x")

    @pytest.mark.skipif(K.backend() != "tensorflow", reason="tf only")
    def test_tf_only():
        pass

    @skip_theano
    def test_not_theano():
        pass

    @pytest.mark.skipif("K.backend() in ('theano', 'cntk')")
    def test_string_condition():
        pass

    @pytest.mark.skipif(sys.platform == "win32", reason="windows")
    def test_windows():
        pass

    @pytest.mark.skipif(IS_JAX and sys.version_info < (3, 9), reason="old")
    def test_alias():
        pass

    class TestOps(unittest.TestCase):
        @unittest.skipUnless(keras.backend.backend() in ("jax", "torch"), "jax/torch")
        def test_unless(self):
            pass

        def test_guard(self):
            if K.backend() == "theano":
                self.skipTest("theano")
            elif backend.backend() == "mxnet":
                return
            else:
                pass

    def test_body():
        if keras.config.backend() == "torch":
            pytest.skip("torch")
        for i in range(2):
            if K.backend() == "numpy" or os.name == "nt":
                return
        if K.backend() == "jax":
            pass
        else:
            raise unittest.SkipTest("no")

    def helper():
        if K.backend() == "jax":
            return
""")


def test_backend_skips():
    rows = backend_skips("tests/test_ops.py", ast.parse(SKIPS))
    assert {row["path"] for row in rows} == {"tests/test_ops.py"}
    everything_but = lambda *names: [b for b in BACKENDS if b not in names]  # noqa: E731
    assert [(row["test"], row["line"], row["backends"]) for row in rows] == [
        ("<module>", 10, ["cntk"]),
        ("test_tf_only", 12, everything_but("tensorflow")),
        # through the module-level alias of the decorator
        ("test_not_theano", 16, ["theano"]),
        # an old-style string condition
        ("test_string_condition", 20, ["theano", "cntk"]),
        # test_windows does not depend on the backend: absent.
        # IS_JAX followed to its assignment; the version test is undecided -> jax only
        ("test_alias", 28, ["jax"]),
        # skipUnless skips where the condition is false
        ("TestOps.test_unless", 33, everything_but("jax", "torch")),
        ("TestOps.test_guard", 38, ["theano"]),
        # an elif branch holds only when the earlier test failed; a bare return skips
        ("TestOps.test_guard", 40, ["mxnet"]),
        ("test_body", 46, ["torch"]),
        # `or os.name == "nt"` is undecided everywhere: only numpy is backend-specific
        ("test_body", 49, ["numpy"]),
        # the else branch of `== "jax"` skips everywhere but jax
        ("test_body", 54, everything_but("jax")),
        # helper() is not a test: its bare return is not a skip
    ]
    conditions = {(row["test"], row["line"]): row["condition"] for row in rows}
    assert conditions[("TestOps.test_guard", 40)] == (
        "not (K.backend() == 'theano') and backend.backend() == 'mxnet'"
    )
    assert conditions[("TestOps.test_unless", 33)] == (
        "not (keras.backend.backend() in ('jax', 'torch'))"
    )
    assert conditions[("test_body", 54)] == "not (K.backend() == 'jax')"


# ---------------------------------------------------------------------------------------
# duplication from per-file fingerprints (the engine's and trends' path)


def _function(name: str, seed: int, lines: int = 14) -> str:
    """A function of ``lines`` statements of 12 tokens each, distinct per seed."""
    body = "".join(f"    acc = acc + data[{seed * 100 + i}] * {i} - bias\n" for i in range(lines))
    return f"def {name}(data, bias):\n    acc = 0\n{body}    return acc\n"


def _tree_equals_whole(sources: dict[str, str]) -> dict:
    prints = {path: fingerprints(text) for path, text in sources.items()}
    whole = duplication(sources)
    assert tree_duplication(prints, sources) == whole
    # Only the candidates' texts are read: the others may be absent.
    chosen = candidates({path: payload["prints"] for path, payload in prints.items()})
    assert tree_duplication(prints, {path: sources[path] for path in chosen}) == whole
    return whole


def test_tree_duplication_equals_the_whole_tree_search():
    shared = _function("shared", 7)
    sources = {
        "a.py": "import os\n\n" + shared + _function("own_a", 1),
        "b.py": _function("own_b", 2) + "\n\n" + shared,
        "c.py": shared + "\n\n" + shared.replace("shared", "again"),  # twice in one file
        "d.py": _function("own_d", 3),
        "e.py": "X = 1\n",
        "f.py": _function("own_f", 4) + "x = (\n",  # untokenisable tail
    }
    whole = _tree_equals_whole(sources)
    # the largest block: four copies of the function from its '(' (the names differ in c)
    assert [(o["path"], o["start"], o["end"]) for o in whole["blocks"][0]["occurrences"]] == [
        ("a.py", 3, 19), ("b.py", 20, 36), ("c.py", 1, 17), ("c.py", 20, 36)]
    # a 3-20 (into own_a's def line), b 20-36, c 1-36 but its two blank lines
    assert whole["duplicated_lines"] == 18 + 17 + 34
    prints = {path: fingerprints(text)["prints"] for path, text in sources.items()}
    assert candidates(prints) == {"a.py", "b.py", "c.py"}
    assert prints["e.py"] == []  # fewer than 100 tokens: no window, no fingerprint
    assert fingerprints(sources["e.py"])["lines"] == 1
    assert fingerprints(sources["a.py"])["lines"] == 1 + 17 + 17


def test_every_planted_window_is_found_by_fingerprints():
    """Winnowing guarantee: two copies of any window of 100 tokens share a fingerprint,
    wherever the copy sits, so both files are candidates."""
    rng = random.Random(6)
    for trial in range(40):
        words = [f"w{rng.randrange(60)}" for _ in range(100)]
        planted = " ".join(words) + "\n"
        left = "".join(f"v{trial}_{rng.randrange(10**6)} = {i}\n" for i in range(rng.randrange(40)))
        right = "".join(f"u{trial}_{rng.randrange(10**6)}()\n" for i in range(rng.randrange(40)))
        sources = {"x.py": left + planted + left, "y.py": right + planted}
        prints = {path: fingerprints(text)["prints"] for path, text in sources.items()}
        assert candidates(prints) == {"x.py", "y.py"}
        _tree_equals_whole(sources)


def test_token_records_tokenise_like_the_text():
    text = 'def f(x):\n    """doc\n    more"""\n    return x + 1  # note\n' * 30
    vocabulary: dict = {}
    record = json.loads(json.dumps(token_record(text)))  # as stored in the cache
    packed = json.loads(json.dumps(pack_record(record)))
    assert isinstance(packed["tokens"], str)
    direct = tokenise(text, vocabulary)
    for stored in (record, packed):
        found = tokenise_record(stored, vocabulary)
        assert found.width == direct.width == 100
        for name in ("ids", "first", "last", "windows"):
            assert getattr(found, name).tolist() == getattr(direct, name).tolist(), name
    file = tokenise(text, {})
    tokens = list(zip(file.ids.tolist(), file.first.tolist(), file.last.tolist(), strict=True))
    assert tokens[2] == (3, 1, 1)  # '(' at line 1; ids from 1 in order of first sight
    assert tokens[6] == (7, 2, 3)  # the docstring spans lines 2-3
    assert tokens[8] == (4, 4, 4)  # 'x' again, the same id; the comment is dropped
    assert len(tokens) == 30 * 11
    # the windows are the Python rolling hash of the ids, one per start
    assert file.windows.tolist() == _rolling(file.ids.tolist(), 100)
    assert len(file.windows) == 30 * 11 - 100 + 1


def test_tree_duplication_on_this_repository_s_own_sources():
    root = Path(__file__).resolve().parents[2]
    sources = {str(p.relative_to(root)): p.read_text(encoding="utf-8")
               for folder in ("harness", "tests") for p in sorted((root / folder).rglob("*.py"))}
    assert len(sources) > 100
    _tree_equals_whole(sources)


# ---------------------------------------------------------------------------------------
# the fast lexer behind fingerprints and token records: tokenize's code tokens, or None

_NOT_CODE = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
             tokenize.DEDENT, tokenize.ENDMARKER}


def _tokenize_reading(text: str) -> tuple[list[tuple[tuple[int, str], int, int]], bool]:
    """((type, text), first row, last row) of tokenize's code tokens up to any error, and
    whether an error token occurred."""
    found, error = [], False
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            error = error or token.type == tokenize.ERRORTOKEN
            if token.type not in _NOT_CODE:
                found.append(((token.type, token.string), token.start[0], token.end[0]))
    except (tokenize.TokenError, SyntaxError):
        pass
    return found, error


def _lexed(text: str) -> list[tuple[tuple[int, str], int, int]] | None:
    lexed = code_tokens(text)
    if lexed is None:
        return None
    return [(lexed.words[i], first, last) for i, first, last
            in zip(lexed.ids.tolist(), lexed.first.tolist(), lexed.last.tolist(), strict=True)]


def _same_as_tokenize(text: str) -> bool:
    """Assert the lexer equals tokenize where it answers, and fingerprints and token records
    equal their tokenize readings either way; return whether the lexer answered."""
    lexed = _lexed(text)
    if lexed is not None:
        assert lexed == _tokenize_reading(text)[0], text
    assert fingerprints(text) == _fingerprints_by_tokenize(text, MIN_TOKENS)
    assert fingerprints(text, 7) == _fingerprints_by_tokenize(text, 7)
    assert token_record(text) == _token_record_by_tokenize(text)
    return lexed is not None


TRICKY = {
    "f-strings, nested quotes": (
        "a = f\"{x['k']}\" + f'{\"b\"!r:>{w}}' + rf\"\\{y}\" + F'''{d[\"k\"]} \"'''\n", True),
    "prefixes, and names that are not prefixes": (
        "s = rb'\\d' + Rb\"x\" + BR'y' + u'z' + ub'w' + rbx + f + fr''\n", True),
    "empty and triple strings": ("a = '' + \"\" + '''''' + '''a\\\n''' + \"\"\"'\"\"\"\n", True),
    "line continuations": ("x = 1 + \\\n    2\n\\\ny = 3 \\\n\n", True),
    "non-ASCII names": ("café = naïve + 1\nπ = 3.14\nclass Ünï:\n    ß = π\n", True),
    "numbers": ("x = 0x_ff + 1_000.5e-3j + .5 + 1if y else 0o7 + 0b1 + 00 + 1e5 + 1.\n", True),
    "operators": ("a ...; b->c; (d := e); f **= g //= h @ i >>= j != k <= l << m\n", True),
    "tabs to the same column": ("if x:\n\tif y:\n\t\tz = 1\n        w = 2\n", True),
    "form feed in indentation": ("if a:\n    b\n\f    c\n\fd\n", True),
    "comment and blank rows at any column": ("if a:\n    b\n  # c\n  \n    d\n", True),
    "closing bracket too many, then any dedent": ("x = )\nif a:\n    b\n  c\n", True),
    "bracket open at the end": ("x = (1,\n2", True),
    "no newline at the end, trailing blanks": ("x = 1   ", True),
    "indented first row": ("  x = 1\ny = 2\n", True),
    "empty": ("", True),
    "comments only": ("\n\n# only a comment\n   # another\n", True),
    "CRLF": ("x = 1\r\nif x:\r\n    y = 2\r\n", False),
    "unterminated string": ("x = 'abc\ny = 2\n", False),
    "unterminated triple string": ('x = 1\ny = """abc\nz = 2\n', False),
    "unterminated triple quotes that look like two strings": ('x = 1\ny = """abc" + 1\n', False),
    "string continued by a backslash": ("x = 'ab\\\ncd'\ny = 2\n", False),
    "error tokens": ("a = $b ? c!\n", False),
    "a digit that is not ASCII": ("x = \u0663\n", False),
    "a stray backslash": ("x = 1 \\ + 2\n", False),
    "dedent to an unknown column": ("if x:\n        a\n    b\nc = 1\n", False),
    "tabs against spaces": ("if x:\n\ta\n    b\n", False),
}


@pytest.mark.parametrize("name", list(TRICKY))
def test_fast_lexer_equals_tokenize_on_tricky_sources(name):
    text, answers = TRICKY[name]
    assert _same_as_tokenize(text) == answers
    # repeated (an odd number of times: triple quotes stay unpaired), windows of 100 tokens
    assert _same_as_tokenize(text * 31) == answers


def test_fast_lexer_rows_and_words_hand_computed():
    lexed = code_tokens('def f(x):  # c\n    """doc\n    more"""\n    return x\n')
    assert lexed is not None
    assert lexed.words == [(tokenize.NAME, "def"), (tokenize.NAME, "f"), (tokenize.OP, "("),
                           (tokenize.NAME, "x"), (tokenize.OP, ")"), (tokenize.OP, ":"),
                           (tokenize.STRING, '"""doc\n    more"""'), (tokenize.NAME, "return")]
    assert lexed.ids.tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 3]
    assert lexed.first.tolist() == [1, 1, 1, 1, 1, 1, 2, 4, 4]
    assert lexed.last.tolist() == [1, 1, 1, 1, 1, 1, 3, 4, 4]
    assert fingerprints('def f(x):  # c\n    """doc\n    more"""\n    return x\n')["lines"] == 4


def test_every_short_operator_run_lexes_as_tokenize():
    """Runs of up to three operator characters between two names: tokenize's longest
    operator match, or an error token where the lexer must decline."""
    alphabet = "=:*/<>-+%&|^@!~.,;()[]{}"
    declined = 0
    for length in (1, 2, 3):
        for run in itertools.product(alphabet, repeat=length):
            text = f"a{''.join(run)}b\n"
            lexed = _lexed(text)
            reading, error = _tokenize_reading(text)
            if lexed is None:
                declined += 1
                assert error or "(" in text or "[" in text or "{" in text, text
            else:
                assert lexed == reading, text
    assert declined < 2000  # '!' alone and bracket runs that dedent oddly


def _corpus_texts() -> list[tuple[str, str]]:
    """(name, text): the corpus of test_raw_metrics (standard-library modules up to 30 kB,
    the radon package, this harness)."""
    stdlib = sorted(p for p in Path(sysconfig.get_paths()["stdlib"]).glob("*.py")
                    if p.stat().st_size <= 30_000)
    packages = [Path(radon.__file__).parent, Path(harness.__file__).parent]
    paths = stdlib + [p for root in packages for p in sorted(root.rglob("*.py"))]
    texts = [(str(path), decode_source(path.read_bytes()).text) for path in paths]
    return [(name, text) for name, text in texts if text is not None]


def test_fast_lexer_equals_tokenize_on_the_corpus():
    corpus = _corpus_texts()
    assert len(corpus) > 300
    answered = sum(_same_as_tokenize(text) for _, text in corpus)
    assert answered >= len(corpus) - 3


def test_vectorised_rolling_and_winnowing_equal_their_definitions():
    rng = random.Random(61)
    for _ in range(30):
        width, window = rng.choice([(1, 1), (3, 5), (60, 41), (60, 1)])
        top = rng.choice([3, 1 << 32])  # few values: ties; any 32-bit crc: large sums
        values = [rng.randrange(top) for _ in range(rng.randrange(width, 400))]
        rolled = _rolling_array(np.array(values, dtype=np.int64), width).tolist()
        assert rolled == _rolling(values, width)
        for start in (0, len(rolled) - 1):  # the polynomial itself, with Python integers
            expected = sum(v * 1_000_003 ** (width - 1 - j)
                           for j, v in enumerate(values[start:start + width]))
            assert rolled[start] == expected % ((1 << 61) - 1)
        grams = [value % top for value in rolled]  # small range: many equal minima
        chosen, positions = [], []
        for start in range(len(grams) - window + 1):
            run = grams[start:start + window]
            position = start + max(i for i, v in enumerate(run) if v == min(run))
            if not positions or positions[-1] != position:
                positions.append(position)
                chosen.append(grams[position])
        assert _winnow_array(np.array(grams, dtype=np.int64), window) == chosen
        assert _winnow(grams, window) == chosen
