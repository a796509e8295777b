"""Class metrics (LOC, WMC, LCOM4, TCC, ATFD) and SOLID hotspot rules on hand-made code."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from harness.analysis.classes import class_metrics
from harness.analysis.modules import module_graph
from harness.analysis.solid import hotspots

ACCOUNT = '''
import numpy as np

class Account:
    """A bank account."""

    def __init__(self, owner):
        self.owner = owner
        self.balance = 0
        self.log = []

    def deposit(self, amount):
        if amount <= 0:
            raise ValueError(amount)
        self.balance += amount
        self.record("deposit")

    def withdraw(self, amount):
        if amount > self.balance and not self.overdraft:
            raise ValueError(amount)
        self.balance -= amount

    def record(self, what):
        self.log.append(what)

    # a comment line

    def report(self, other):
        return other.name, other.address.city, np.float32(1), other.get_total(), other.save()

    @staticmethod
    def helper(x):
        return x.size
'''


def metrics(source: str) -> list[dict]:
    source = textwrap.dedent(source)
    return class_metrics(ast.parse(source), source)


def test_account_metrics_hand_computed():
    (row,) = metrics(ACCOUNT)
    assert row["name"] == "Account"
    assert (row["lineno"], row["endline"]) == (4, 33)
    # 30 physical lines minus 7 blank lines and 1 comment-only line.
    assert row["loc"] == 22
    assert row["methods"] == 6
    # cc: __init__ 1, deposit 2 (if), withdraw 3 (if + and), record 1, report 1, helper 1.
    assert row["wmc"] == 9
    # Without __init__: {deposit, withdraw (balance), record (self.record call)}, {report},
    # {helper} -> 3 components.
    assert row["lcom4"] == 3
    # 5 methods -> 10 pairs; only deposit/withdraw share an attribute (balance).
    assert row["tcc"] == pytest.approx(0.1)
    # other.name, other.address, other.address.city, other.get_total (accessor call) and
    # x.size in a staticmethod; np.* is a module and other.save() is behaviour.
    assert row["atfd"] == 5
    assert row["god_class"] is False


def test_lcom4_is_one_when_methods_share_state_through_calls_and_properties():
    source = """
    class Box:
        @property
        def size(self):
            return self._size
        @size.setter
        def size(self, value):
            self._size = value
        def grow(self):
            return self.size + 1
    """
    (row,) = metrics(source)
    # the property and its setter are one node (one name); grow uses it -> one component.
    assert row["lcom4"] == 1
    assert row["methods"] == 3
    # nodes {size, grow}: size uses _size, grow uses size (a method) -> no shared attribute.
    assert row["tcc"] == 0.0


def test_nested_and_function_local_classes_are_named_with_dots():
    source = """
    class Outer:
        class Inner:
            def go(self):
                pass
    def factory():
        class Local:
            pass
        return Local
    """
    rows = metrics(source)
    assert [(r["name"], r["methods"], r["wmc"], r["lcom4"], r["tcc"]) for r in rows] == [
        ("Outer", 0, 0, 0, 1.0),
        ("Outer.Inner", 1, 1, 1, 1.0),
        ("factory.Local", 0, 0, 0, 1.0),
    ]


def god_class_source(methods: int, ifs: int) -> str:
    """A class whose methods each have ``ifs`` ifs (cc = ifs + 1), own a private attribute
    each (no shared state: TCC 0) and read one foreign attribute each."""
    lines = ["class Manager:"]
    for m in range(methods):
        lines.append(f"    def m{m}(self, other):")
        for i in range(ifs):
            lines.append(f"        if other.f{m} > {i}:")
            lines.append(f"            self.x{m} = {i}")
    return "\n".join(lines) + "\n"


def test_god_class_thresholds():
    (row,) = metrics(god_class_source(12, 3))
    assert (row["wmc"], row["tcc"], row["atfd"], row["lcom4"]) == (48, 0.0, 12, 12)
    assert row["god_class"] is True
    # WMC 46 (< 47) is not a god class even with no cohesion and much foreign data.
    (row,) = metrics(god_class_source(23, 1))
    assert (row["wmc"], row["atfd"]) == (46, 23)
    assert row["god_class"] is False


REPO = {
    "pkg/__init__.py": "",
    "pkg/base.py": """
import abc

class Layer:
    def call(self, inputs, training=None, mask=None):
        return inputs
    def build(self, shape):
        self.built = True
    def get_config(self):
        return {}
    def __init__(self, name):
        self.name = name

class Abstract(abc.ABC):
    @abc.abstractmethod
    def run(self):
        ...
""",
    "pkg/dense.py": """
from pkg.base import Layer
from . import base

class Dense(Layer):
    def __init__(self):
        super().__init__("dense")
    def call(self, inputs):
        return inputs
    def build(self, shape, *args):
        self.w = shape
    def get_config(self):
        raise NotImplementedError("no config")

class Runner(base.Abstract):
    def run(self):
        raise NotImplementedError

class Wide(Dense):
    def call(self, inputs, **kwargs):
        return inputs

class Mapping(dict):
    def get(self):
        return None
""",
    "pkg/convert.py": """
def to_config(obj):
    if isinstance(obj, int):
        return "int"
    elif isinstance(obj, (float, complex)):
        return "number"
    elif type(obj) is str:
        return "str"
    elif obj.__class__.__name__ == "Tensor":
        return "tensor"
    return None

def pick(backend):
    if backend == "jax":
        return 1
    elif backend in ("torch", "numpy"):
        return 2
    elif backend == "tensorflow":
        return 3
    return 0

HANDLERS = {"jax": 1, "torch": 2, "numpy": 3, "tensorflow": 4}

def three(x):
    if isinstance(x, int):
        pass
    elif isinstance(x, str):
        pass
    elif isinstance(x, float):
        pass

def modes(mode):
    if mode == "a":
        pass
    elif mode == "b":
        pass
    elif mode == "c":
        pass
    elif mode == "d":
        pass

class Shapes:
    def area(self, shape):
        match shape:
            case Circle():
                return 1
            case Square() | Rect():
                return 2
            case Triangle(r=1):
                return 3
            case Poly() as p:
                return 4
""",
    "pkg/utils.py": "\n".join(f"def f{i}():\n    return {i}\n" for i in range(10))
    + "\ndef _private():\n    return None\n",
    "pkg/a.py": "from pkg.utils import f0, f1\n",
    "pkg/b.py": "import pkg.utils as u\n\nu.f2()\nu.f3()\nu.f4()\n",
    "pkg/c.py": "from pkg import utils\n\nutils.f5()\n",
}


@pytest.fixture(scope="module")
def repo_hotspots():
    trees = {path: ast.parse(textwrap.dedent(text)) for path, text in REPO.items()}
    classes = {path: class_metrics(tree, REPO[path]) for path, tree in trees.items()}
    graph = module_graph(trees)
    return hotspots(trees, classes, graph["modules"])


def by_kind(rows, kind):
    return [row for row in rows if row["kind"] == kind]


def test_type_switches(repo_hotspots):
    rows = by_kind(repo_hotspots, "type-switch")
    assert [(r["path"], r["symbol"], r["line"], r["score"]) for r in rows] == [
        ("pkg/convert.py", "to_config", 3, 4.0),
        ("pkg/convert.py", "Shapes.area", 44, 4.0),
        ("pkg/convert.py", "pick", 14, 3.0),
    ]
    assert all(r["principle"] == "OCP" for r in rows)
    assert rows[0]["evidence"] == {
        "subject": "obj",
        "types": ["int", "float", "complex", "str", "Tensor"],
        "branches": 4,
    }
    assert rows[2]["evidence"]["types"] == ["jax", "torch", "numpy", "tensorflow"]
    assert rows[1]["evidence"]["types"] == ["Circle", "Square", "Rect", "Triangle", "Poly"]


def test_refused_bequests(repo_hotspots):
    rows = by_kind(repo_hotspots, "refused-bequest")
    found = {
        r["symbol"]: (
            r["score"],
            r["evidence"]["reason"],
            r["evidence"]["removed"],
            r["evidence"]["base"],
            r["evidence"]["base_path"],
        )
        for r in rows
    }
    assert found == {
        # loses training and mask: 1 + 2
        "Dense.call": (3.0, "narrows signature", ["training", "mask"], "Layer", "pkg/base.py"),
        "Dense.get_config": (2.0, "raises NotImplementedError", [], "Layer", "pkg/base.py"),
    }
    # Runner.run implements an abstract method; Wide.call takes **kwargs; Dense.build only
    # adds *args; Mapping's base is not in the repository; constructors are exempt.
    assert {r["principle"] for r in rows} == {"LSP"}


def test_fat_interface_of_a_module(repo_hotspots):
    (row,) = by_kind(repo_hotspots, "fat-interface")
    assert (row["path"], row["symbol"], row["principle"]) == ("pkg/utils.py", "pkg.utils", "ISP")
    assert row["evidence"]["public"] == 10
    assert row["evidence"]["users"] == {"pkg.a": 0.2, "pkg.b": 0.3, "pkg.c": 0.1}
    assert row["evidence"]["mean_fraction"] == pytest.approx(0.2)
    assert row["score"] == pytest.approx(8.0)


def test_well_used_module_is_not_a_fat_interface():
    trees = {
        "lib.py": ast.parse("\n".join(f"def g{i}():\n    pass" for i in range(10))),
        "x.py": ast.parse("from lib import g0, g1, g2, g3\n"),
        "y.py": ast.parse("from lib import g4, g5, g6\n"),
    }
    # mean fraction (0.4 + 0.3) / 2 = 0.35 > 1/3
    assert by_kind(hotspots(trees, {}, module_graph(trees)["modules"]), "fat-interface") == []


def test_god_class_hotspot():
    source = god_class_source(12, 3)
    trees = {"big.py": ast.parse(source)}
    classes = {"big.py": class_metrics(trees["big.py"], source)}
    (row,) = hotspots(trees, classes, module_graph(trees)["modules"])
    assert (row["kind"], row["principle"], row["symbol"], row["line"], row["score"]) == (
        "god-class",
        "SRP",
        "Manager",
        1,
        48.0,
    )
    assert row["evidence"] == {"wmc": 48, "tcc": 0.0, "atfd": 12, "lcom4": 12}


def test_test_code_is_no_god_class_or_fat_interface():
    source = god_class_source(12, 3)
    methods = "".join(f"    def m{i}(self):\n        return {i}\n" for i in range(10))
    sources = {"tests/test_big.py": source, "testing/svc.py": f"class Service:\n{methods}",
               "u1.py": "from testing.svc import Service\n\nService().m0()\n",
               "u2.py": "from testing.svc import Service\n\nService().m1()\n"}
    trees = {path: ast.parse(text) for path, text in sources.items()}
    classes = {path: class_metrics(tree, sources[path]) for path, tree in trees.items()}
    assert classes["tests/test_big.py"][0]["god_class"] is True  # the metric stays true
    rows = hotspots(trees, classes, module_graph(trees)["modules"])
    assert by_kind(rows, "god-class") == [] and by_kind(rows, "fat-interface") == []


def test_unstable_dependency():
    sources = {
        "stable.py": "import os\n\nimport volatile\n",
        "volatile.py": "import helper1\nimport helper2\n",
        "helper1.py": "",
        "helper2.py": "",
        "x1.py": "import stable\n",
        "x2.py": "from stable import thing\n",
        "x3.py": "import stable as s\n",
    }
    trees = {path: ast.parse(text) for path, text in sources.items()}
    rows = hotspots(trees, {}, module_graph(trees)["modules"])
    # stable: Ca 3, Ce 1 -> I 0.25; volatile: Ca 1, Ce 2 -> I 2/3; 2/3 - 0.25 = 5/12 > 0.3.
    # x* (I 1) -> stable (0.25) and volatile -> helpers (I 0) go towards stability: fine.
    (row,) = rows
    assert (row["kind"], row["principle"], row["path"], row["symbol"], row["line"]) == (
        "unstable-dependency",
        "DIP",
        "stable.py",
        "stable -> volatile",
        3,
    )
    assert row["score"] == pytest.approx(5 / 12)
    assert row["evidence"]["instability"] == pytest.approx(0.25)
    assert row["evidence"]["dependency_instability"] == pytest.approx(2 / 3)


def test_fat_interface_of_a_class():
    methods = "".join(f"    def m{i}(self):\n        return {i}\n" for i in range(10))
    sources = {
        "svc.py": f"class Service:\n{methods}    def _hidden(self):\n        return None\n",
        # uses m0 and m1 of the 10 public methods: 0.2
        "u1.py": "from svc import Service\n\nService().m0()\nholder.m1\n",
        # uses m2: 0.1; _hidden is not public
        "u2.py": "from svc import Service\n\ns = Service()\ns.m2()\ns._hidden()\n",
        # uses m3 by name but never imports the class: not a user
        "u3.py": "thing.m3()\n",
    }
    trees = {path: ast.parse(text) for path, text in sources.items()}
    rows = hotspots(trees, {}, module_graph(trees)["modules"])
    (row,) = by_kind(rows, "fat-interface")
    assert (row["path"], row["symbol"], row["line"]) == ("svc.py", "Service", 1)
    assert row["evidence"]["users"] == {"u1": 0.2, "u2": 0.1}
    assert row["score"] == pytest.approx(10 * (1 - 0.15))


LAYOUT = '''\
class Shape:
    """Doc

    more."""

    x = (1,
         # only a comment
         2)

    def area(self):
        return \\
            1
# after the class
'''


def test_loc_counts_rows_with_code_tokens_only():
    (row,) = metrics(LAYOUT)
    assert (row["lineno"], row["endline"]) == (1, 12)
    # Rows 1-4 (class, the docstring's rows, its blank one included), 6, 8, 10, 11, 12; not
    # the blank rows 5 and 9 nor the comment-only row 7 inside the brackets.
    assert row["loc"] == 9


def test_class_inside_a_function_gets_its_wmc_and_a_module_without_classes_no_rows():
    source = '''\
def factory():
    class Local:
        def method(self, a):
            if a:
                return 1
            return 0
    return Local
'''
    (row,) = metrics(source)
    assert (row["name"], row["methods"], row["wmc"], row["loc"]) == ("factory.Local", 1, 2, 5)
    assert metrics("def f():\n    return 1\n") == []


# ---------------------------------------------------------------------------------------
# the attribute nodes of each method come from the complexity walk: equal to a walk of its own

REACH = '''
import schema

class Host:
    @registry.hook
    def method(self, limit=config.limit, *, key: schema.Key = None) -> result.Type:
        def inner(x=peer.value):
            return x.field
        class Nested:
            def own(self):
                return far.away
        assert self.ready, other.reason
        return inner(self.size)

    def call(self):
        return helper.run()
'''


def test_method_attributes_reach_decorators_defaults_annotations_and_closures():
    rows = {row["name"]: row for row in class_metrics(ast.parse(REACH), REACH)}
    # Host: registry.hook, config.limit, result.Type, peer.value, x.field, other.reason;
    # not schema.Key (an imported module), not helper.run (a call), not far.away (Nested's).
    assert rows["Host"]["atfd"] == 6
    assert rows["Host.method.Nested"]["atfd"] == 1


def test_method_attributes_equal_a_walk_of_each_method():
    from harness.analysis.classes import _method_body, class_methods, iter_classes
    from harness.analysis.complexity import method_attributes

    root = Path(__file__).resolve().parents[2] / "harness"
    checked = 0
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        walked = method_attributes(tree)
        assert walked is not None
        for _, node in iter_classes(tree):
            for method in class_methods(node):
                _, attributes, called = _method_body(method, walked)
                _, own, own_called = _method_body(method, None)
                assert {id(a) for a in attributes} == {id(a) for a in own}, path
                assert len(attributes) == len(own)
                assert {id(a) for a in attributes} & called == {id(a) for a in own} & own_called
                checked += 1
    assert checked > 100
