"""The development view's module diagram: packages as boxes, import edges, layered by instability.

Modules of the analysis are grouped into packages (as deep as keeps at most ``MAX_BOXES``
boxes); package Ca, Ce and instability come from the package-level import graph. Rows are
instability bands, unstable packages on top, so that edges should point down (Martin's Stable
Dependencies Principle); an upward edge is flagged. Packages and edges inside an import cycle
are flagged too. The output is plain geometry; the template draws it as SVG.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

MAX_BOXES = 30
BANDS = 5  # instability bands: [0, .2), [.2, .4) ... [.8, 1]
BOX_H, ROW_H, GAP, MARGIN, CHAR_W = 34, 96, 24, 20, 7
MAX_LABEL = 28


@dataclass
class Diagram:
    """SVG geometry: ``boxes`` {x, y, w, h, name, label, modules, instability, cyclic},
    ``edges`` {x1, y1, x2, y2, d (SVG path), source, target, weight, cyclic, upward}, ``bands``
    {y, label}, and the package rows of the table."""

    width: int = 0
    height: int = 0
    boxes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)
    bands: list[dict[str, Any]] = field(default_factory=list)
    packages: list[dict[str, Any]] = field(default_factory=list)


def _package(module: str, path: str, depth: int) -> str:
    parts = module.split(".")
    if not path.endswith("__init__.py") and len(parts) > 1:
        parts = parts[:-1]  # a plain module belongs to the package that holds it
    return ".".join(parts[:depth])


def group_modules(modules: list[dict[str, Any]], max_boxes: int = MAX_BOXES) -> dict[str, str]:
    """``{module: package}`` at the deepest package level with at most ``max_boxes`` packages."""
    depth = max((len(m["module"].split(".")) for m in modules), default=1)
    while True:
        mapping = {m["module"]: _package(m["module"], m["path"], depth) for m in modules}
        if depth == 1 or len(set(mapping.values())) <= max_boxes:
            return mapping
        depth -= 1


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components (Tarjan, iterative) with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def package_graph(modules: list[dict[str, Any]], cycles: list[list[str]],
                  max_boxes: int = MAX_BOXES) -> tuple[list[dict[str, Any]], dict]:
    """Package rows {name, modules, ca, ce, instability, cyclic, component} (by name) and the
    weighted edges ``{(source, target): imports}`` between packages.

    ``component`` numbers the package-level import cycle a package is in (None outside one);
    ``cyclic`` is also true for a package holding a module-level cycle of ``cycles``.
    """
    mapping = group_modules(modules, max_boxes)
    members: dict[str, int] = defaultdict(int)
    for package in mapping.values():
        members[package] += 1
    weights: dict[tuple[str, str], int] = defaultdict(int)
    for m in modules:
        for target in m.get("imports") or []:
            if target in mapping and mapping[target] != mapping[m["module"]]:
                weights[(mapping[m["module"]], mapping[target])] += 1
    graph: dict[str, set[str]] = defaultdict(set)
    for source, target in weights:
        graph[source].add(target)
    component = {p: i for i, members_ in enumerate(strongly_connected(graph)) for p in members_}
    in_cycle = set(component) | {mapping[m] for cycle in cycles for m in cycle if m in mapping}
    rows = []
    for name in sorted(members):
        ce = len(graph.get(name, ()))
        ca = sum(1 for source in graph if name in graph[source])
        rows.append({"name": name, "modules": members[name], "ca": ca, "ce": ce,
                     "instability": ce / (ca + ce) if ca + ce else 0.0,
                     "cyclic": name in in_cycle, "component": component.get(name)})
    return rows, dict(weights)


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else "…" + name[-(MAX_LABEL - 1):]


def _barycentre_order(rows: list[dict[str, Any]], placed: dict[str, dict[str, Any]],
                      weights: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """Rows of a band under the mean centre of their already placed neighbours (fewer edge
    crossings); rows without placed neighbours keep their name order after the others."""
    def key(row: dict[str, Any]) -> tuple[int, float, str]:
        centres = [placed[other]["x"] + placed[other]["w"] / 2
                   for (a, b) in weights for other in ((b,) if a == row["name"] else
                                                       (a,) if b == row["name"] else ())
                   if other in placed]
        if not centres:
            return (1, 0.0, row["name"])
        return (0, sum(centres) / len(centres), row["name"])

    return sorted(rows, key=key)


def layout(modules: list[dict[str, Any]], cycles: list[list[str]],
           max_boxes: int = MAX_BOXES) -> Diagram:
    """The diagram of an analysis's ``modules`` and ``cycles`` (empty Diagram for no modules)."""
    if not modules:
        return Diagram()
    packages, weights = package_graph(modules, cycles, max_boxes)
    bands: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in packages:
        bands[min(int(row["instability"] * BANDS), BANDS - 1)].append(row)
    diagram = Diagram(packages=packages)
    # The box shows "label [modules]".
    widths = {p["name"]: max(60, CHAR_W * len(f"{_label(p['name'])} [{p['modules']}]") + 16)
              for p in packages}
    row_widths = {b: sum(widths[p["name"]] for p in rows) + GAP * (len(rows) - 1)
                  for b, rows in bands.items()}
    diagram.width = max(row_widths.values()) + 2 * MARGIN + 90  # room for the band labels
    boxes: dict[str, dict[str, Any]] = {}
    for position, band in enumerate(sorted(bands, reverse=True)):  # unstable on top
        y = MARGIN + position * ROW_H
        x = 90 + MARGIN + (diagram.width - 90 - 2 * MARGIN - row_widths[band]) // 2
        low, high = band / BANDS, (band + 1) / BANDS
        diagram.bands.append({"y": y + BOX_H // 2, "label": f"I {low:.1f}–{high:.1f}"})
        for row in _barycentre_order(bands[band], boxes, weights):
            boxes[row["name"]] = {"x": x, "y": y, "w": widths[row["name"]], "h": BOX_H,
                                  "name": row["name"], "label": _label(row["name"]),
                                  "modules": row["modules"],
                                  "instability": row["instability"], "cyclic": row["cyclic"]}
            x += widths[row["name"]] + GAP
    # Below the last row: room for the arcs between its boxes.
    diagram.height = MARGIN * 2 + (len(bands) - 1) * ROW_H + BOX_H + ROW_H // 3
    diagram.boxes = list(boxes.values())
    component = {p["name"]: p["component"] for p in packages}
    for (source, target), weight in sorted(weights.items()):
        a, b = boxes[source], boxes[target]
        upward = b["y"] < a["y"]
        x1, x2 = a["x"] + a["w"] // 2, b["x"] + b["w"] // 2
        if a["y"] == b["y"]:  # same band: an arc below the row, clear of the boxes between
            y1 = y2 = a["y"] + BOX_H
            dip = ROW_H // 2 if x1 < x2 else ROW_H // 3  # a -> b and b -> a stay apart
            path = f"M {x1} {y1} Q {(x1 + x2) // 2} {y1 + dip} {x2} {y2}"
        else:
            y1 = a["y"] if upward else a["y"] + BOX_H
            y2 = b["y"] + BOX_H if upward else b["y"]
            path = f"M {x1} {y1} L {x2} {y2}"
        diagram.edges.append({"x1": x1, "y1": y1, "x2": x2, "y2": y2, "d": path,
                              "source": source,
                              "target": target, "weight": weight, "upward": upward,
                              "cyclic": component[source] is not None
                              and component[source] == component[target]})
    return diagram
