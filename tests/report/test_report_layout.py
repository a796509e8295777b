"""Module diagram and chart geometry, on hand-made inputs with hand-computed answers."""

from __future__ import annotations

from harness.report import charts, diagram


def module(name: str, imports: list[str], init: bool = False) -> dict:
    path = name.replace(".", "/") + ("/__init__.py" if init else ".py")
    return {"module": name, "path": path, "imports": imports}


def test_group_modules_goes_shallower_until_few_enough_boxes() -> None:
    modules = [module("app.io.read", []), module("app.io.write", []),
               module("app.core.model", []), module("app", [], init=True)]
    assert diagram.group_modules(modules, max_boxes=5) == {
        "app.io.read": "app.io", "app.io.write": "app.io", "app.core.model": "app.core",
        "app": "app"}
    assert set(diagram.group_modules(modules, max_boxes=2).values()) == {"app"}


def test_strongly_connected_finds_cycles_only() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert diagram.strongly_connected(graph) == [{"a", "b", "c"}]


def test_package_metrics_and_layers() -> None:
    # ui -> svc -> db, and db -> ui closes no cycle here; util is imported by svc and db
    modules = [module("ui.views", ["svc.api"]), module("svc.api", ["db.store", "util.text"]),
               module("db.store", ["util.text"]), module("util.text", [])]
    packages, weights = diagram.package_graph(modules, [])
    rows = {p["name"]: (p["ca"], p["ce"], p["instability"]) for p in packages}
    assert rows == {"ui": (0, 1, 1.0), "svc": (1, 2, 2 / 3), "db": (1, 1, 0.5),
                    "util": (2, 0, 0.0)}
    assert weights == {("ui", "svc"): 1, ("svc", "db"): 1, ("svc", "util"): 1,
                       ("db", "util"): 1}
    drawn = diagram.layout(modules, [])
    y = {b["name"]: b["y"] for b in drawn.boxes}
    assert y["ui"] < y["svc"] < y["db"] < y["util"]  # unstable on top, stable at the bottom
    assert not any(e["upward"] or e["cyclic"] for e in drawn.edges)
    for box in drawn.boxes:
        assert box["x"] >= 0 and box["x"] + box["w"] <= drawn.width
        assert box["y"] + box["h"] <= drawn.height


def test_cycles_and_upward_edges_are_flagged() -> None:
    # a <-> b is a cycle; c (I=1) is imported by stable s, an upward edge
    modules = [module("a.m", ["b.m"]), module("b.m", ["a.m"]), module("s.m", ["c.m", "x.m"]),
               module("c.m", ["x.m", "y.m"]), module("x.m", []), module("y.m", []),
               module("z.m", ["s.m"]), module("w.m", ["s.m"])]
    drawn = diagram.layout(modules, [["a.m", "b.m"]])
    edges = {(e["source"], e["target"]): e for e in drawn.edges}
    assert edges[("a", "b")]["cyclic"] and edges[("b", "a")]["cyclic"]
    assert not edges[("s", "c")]["cyclic"]
    # s: Ca 2 (z, w), Ce 2 (c, x) -> I 0.5; c: Ca 1, Ce 2 -> I 2/3, in a higher band
    assert edges[("s", "c")]["upward"]
    assert {b["name"] for b in drawn.boxes if b["cyclic"]} == {"a", "b"}


def test_a_module_level_cycle_inside_one_package_marks_the_box() -> None:
    modules = [module("p.one", ["p.two"]), module("p.two", ["p.one"]), module("q.m", [])]
    drawn = diagram.layout(modules, [["p.one", "p.two"]])
    assert {b["name"]: b["cyclic"] for b in drawn.boxes} == {"p": True, "q": False}
    assert drawn.edges == []


def test_empty_analysis_draws_nothing() -> None:
    assert diagram.layout([], []).boxes == []


def test_bin_counts_and_histogram_heights() -> None:
    counts = charts.bin_counts([1, 5, 6, 10, 11, 41, 100], charts.CC_RANKS)
    assert counts == [("A 1–5", 2), ("B 6–10", 2), ("C 11–20", 1), ("D 21–30", 0),
                      ("E 31–40", 0), ("F 41+", 2)]
    h = charts.histogram(counts, width=600, height=150)
    heights = [b["h"] for b in h["bars"]]
    assert heights[0] == heights[1] == heights[5] == h["base"] - 14  # the tallest fill it
    assert heights[2] * 2 == heights[0] and heights[3] == 0
    assert all(b["y"] + b["h"] == h["base"] for b in h["bars"])


def test_timeline_places_releases_by_date() -> None:
    releases = [{"tag": "v1", "date": "2020-01-01T00:00:00+00:00", "commits": 3},
                {"tag": "v3", "date": "2022-01-01T00:00:00Z", "commits": 1},
                {"tag": "v2", "date": "2021-01-01T00:00:00", "commits": 2},
                {"tag": "bad", "date": "not a date"}]
    tl = charts.timeline(releases, width=760)
    assert [p["tag"] for p in tl["points"]] == ["v1", "v2", "v3"]
    xs = [p["x"] for p in tl["points"]]
    assert xs[0] == 30 and xs[2] == 760 - 90
    assert abs((xs[1] - xs[0]) - (xs[2] - xs[1])) <= 2  # 2020 and 2021 have 366/365 days
    assert [y["label"] for y in tl["years"]] == ["2021", "2022"]
    assert charts.timeline([{"tag": "x", "date": None}]) is None


def test_sparkline_needs_two_values() -> None:
    assert charts.sparkline([None, 3.0]) is None
    line = charts.sparkline([1.0, None, 3.0], width=104, height=36)
    assert line["points"] == "2.0,33.0 102.0,3.0"
