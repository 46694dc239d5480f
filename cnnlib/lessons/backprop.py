"""Drawings of small computational graphs: forward values (green) and gradients (red).

Matplotlib only. A graph is a plain dict, so notebooks can build their own::

    spec = {
        "nodes": {
            "x":   {"pos": (0, 1), "label": "x"},            # an input: drawn as text
            "add": {"pos": (1, 0.5), "label": "+", "gate": True},  # a gate: drawn as a circle
            "f":   {"pos": (2, 0.5), "label": "f"},
            ...
        },
        "edges": [{"src": "x", "dst": "add", "value": -2.0, "grad": -4.0}, ...],
    }
    fig = draw_graph(spec)

``value`` is written above an edge in green, ``grad`` (d output / d this edge) below it in red;
either may be ``None`` to leave it out (e.g. before the backward pass).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

FORWARD_COLOR = "#2ca02c"
BACKWARD_COLOR = "#d62728"


def _fmt(v: float) -> str:
    return f"{v:.3g}" if isinstance(v, float) and not float(v).is_integer() else f"{v:g}"


def _validate(spec: Mapping[str, Any]) -> tuple[dict[str, dict], list[dict]]:
    if not isinstance(spec, Mapping) or "nodes" not in spec or "edges" not in spec:
        raise TypeError("spec must be a dict with keys 'nodes' and 'edges'")
    nodes = dict(spec["nodes"])
    for name, node in nodes.items():
        pos = node.get("pos") if isinstance(node, Mapping) else None
        if pos is None or len(pos) != 2:
            raise ValueError(f"node {name!r} needs 'pos': (x, y)")
    edges = list(spec["edges"])
    for e in edges:
        for end in ("src", "dst"):
            if e.get(end) not in nodes:
                raise ValueError(f"edge {e!r}: {end} {e.get(end)!r} is not a node")
    return nodes, edges


def draw_graph(spec: Mapping[str, Any], title: str | None = None, ax: Axes | None = None,
               gate_radius: float = 0.22) -> Figure:
    """Draw the graph described by ``spec`` (see the module docstring); returns its Figure.

    ax: draw into this Axes instead of a new figure (for side-by-side panels).
    """
    nodes, edges = _validate(spec)
    if ax is None:
        xs = [n["pos"][0] for n in nodes.values()]
        ys = [n["pos"][1] for n in nodes.values()]
        width = max(4.0, 1.3 * (max(xs) - min(xs) + 1))
        height = max(2.2, 1.1 * (max(ys) - min(ys) + 1))
        fig = Figure(figsize=(width, height), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    ax.set_aspect("equal")
    ax.axis("off")

    def radius(name: str) -> float:
        return gate_radius if nodes[name].get("gate") else 0.12

    for e in edges:
        (x0, y0), (x1, y1) = nodes[e["src"]]["pos"], nodes[e["dst"]]["pos"]
        length = math.hypot(x1 - x0, y1 - y0) or 1.0
        ux, uy = (x1 - x0) / length, (y1 - y0) / length
        sx, sy = x0 + ux * radius(e["src"]), y0 + uy * radius(e["src"])
        tx, ty = x1 - ux * radius(e["dst"]), y1 - uy * radius(e["dst"])
        ax.annotate("", xy=(tx, ty), xytext=(sx, sy),
                    arrowprops={"arrowstyle": "-|>", "color": "0.3", "lw": 1.2})
        # Labels sit 40% along the edge: converging edges are further apart there.
        mx, my = sx + 0.4 * (tx - sx), sy + 0.4 * (ty - sy)
        # Normal to the edge, pointing "up", so labels sit above/below the line.
        nx, ny = -uy, ux
        if ny < 0:
            nx, ny = -nx, -ny
        if e.get("value") is not None:
            ax.text(mx + 0.13 * nx, my + 0.13 * ny, _fmt(e["value"]), color=FORWARD_COLOR,
                    ha="center", va="bottom", fontsize=10, fontweight="bold")
        if e.get("grad") is not None:
            ax.text(mx - 0.13 * nx, my - 0.13 * ny, _fmt(e["grad"]), color=BACKWARD_COLOR,
                    ha="center", va="top", fontsize=10, fontweight="bold")

    for name, node in nodes.items():
        x, y = node["pos"]
        label = node.get("label", name)
        if node.get("gate"):
            ax.add_patch(_circle((x, y), gate_radius))
            ax.text(x, y, label, ha="center", va="center", fontsize=11)
        else:
            ax.text(x, y, label, ha="center", va="center", fontsize=12, fontstyle="italic")

    xs = [n["pos"][0] for n in nodes.values()]
    ys = [n["pos"][1] for n in nodes.values()]
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _circle(center: tuple[float, float], r: float):
    from matplotlib.patches import Circle

    return Circle(center, r, facecolor="#f2f2f2", edgecolor="0.2", lw=1.2)


def circuit_xyz_spec(x: float, y: float, z: float, backward: bool = True) -> dict[str, Any]:
    """Graph spec of f(x, y, z) = (x + y) z with its forward values (and gradients)."""
    q = x + y
    f = q * z
    g = (lambda v: v) if backward else (lambda v: None)
    return {
        "nodes": {
            "x": {"pos": (0, 2), "label": "x"}, "y": {"pos": (0, 1), "label": "y"},
            "z": {"pos": (0, 0), "label": "z"},
            "add": {"pos": (1.5, 1.5), "label": "+", "gate": True},
            "mul": {"pos": (3, 0.75), "label": "*", "gate": True},
            "f": {"pos": (4.3, 0.75), "label": "f"},
        },
        "edges": [
            {"src": "x", "dst": "add", "value": x, "grad": g(z * 1.0)},
            {"src": "y", "dst": "add", "value": y, "grad": g(z * 1.0)},
            {"src": "add", "dst": "mul", "value": q, "grad": g(z)},
            {"src": "z", "dst": "mul", "value": z, "grad": g(q)},
            {"src": "mul", "dst": "f", "value": f, "grad": g(1.0)},
        ],
    }


def draw_circuit_xyz(x: float = -2.0, y: float = 5.0, z: float = -4.0,
                     backward: bool = True) -> Figure:
    """Draw f = (x + y) z: values in green; with backward=True, gradients of f in red."""
    step = "forward and backward" if backward else "forward pass"
    return draw_graph(circuit_xyz_spec(x, y, z, backward),
                      title=f"f = (x + y) z at x={x:g}, y={y:g}, z={z:g}: {step}")


def gate_spec(kind: str, a: float, b: float, dout: float) -> dict[str, Any]:
    """Graph spec of one two-input gate ('add', 'max' or 'mul') with upstream gradient dout."""
    if kind == "add":
        out, da, db, label = a + b, dout, dout, "+"
    elif kind == "mul":
        out, da, db, label = a * b, dout * b, dout * a, "*"
    elif kind == "max":
        if a == b:
            raise ValueError("max gate with a tie: the gradient route is ambiguous; use a != b")
        out, label = max(a, b), "max"
        da, db = (dout, 0.0) if a > b else (0.0, dout)
    else:
        raise ValueError(f"kind must be 'add', 'max' or 'mul', got {kind!r}")
    return {
        "nodes": {
            "a": {"pos": (0, 1), "label": "a"}, "b": {"pos": (0, 0), "label": "b"},
            "g": {"pos": (1.4, 0.5), "label": label, "gate": True},
            "out": {"pos": (2.6, 0.5), "label": "out"},
        },
        "edges": [
            {"src": "a", "dst": "g", "value": a, "grad": da},
            {"src": "b", "dst": "g", "value": b, "grad": db},
            {"src": "g", "dst": "out", "value": out, "grad": dout},
        ],
    }


def draw_gate_patterns(a: float = 3.0, b: float = -1.0, dout: float = 2.0,
                       kinds: Sequence[str] = ("add", "max", "mul")) -> Figure:
    """Side-by-side gates fed the same inputs and upstream gradient: distribute, route, switch."""
    names = {"add": "add: distributes", "max": "max: routes", "mul": "mul: switches"}
    fig = Figure(figsize=(3.6 * len(kinds), 2.6), layout="constrained")
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    for ax, kind in zip(axes, kinds, strict=True):
        draw_graph(gate_spec(kind, a, b, dout), title=names.get(kind, kind), ax=ax)
    fig.suptitle(f"the same inputs (a={a:g}, b={b:g}) and upstream gradient ({dout:g}): "
                 "where does each gate send the gradient (red)?", fontsize=10)
    return fig


def sigmoid_neuron_spec(w: Sequence[float], x: Sequence[float]) -> dict[str, Any]:
    """Graph spec of f = sigmoid(w0 x0 + w1 x1 + w2), values and gradients, gate by gate."""
    if len(w) != 3 or len(x) != 2:
        raise ValueError(f"need w of length 3 and x of length 2, got {len(w)} and {len(x)}")
    w0, w1, w2 = (float(v) for v in w)
    x0, x1 = (float(v) for v in x)
    p0, p1 = w0 * x0, w1 * x1
    s = p0 + p1 + w2
    f = 1.0 / (1.0 + math.exp(-s))
    ds = f * (1.0 - f)
    nodes = {
        "w0": {"pos": (0, 4), "label": "w0"}, "x0": {"pos": (0, 3), "label": "x0"},
        "w1": {"pos": (0, 2), "label": "w1"}, "x1": {"pos": (0, 1), "label": "x1"},
        "w2": {"pos": (0, 0), "label": "w2"},
        "m0": {"pos": (1.5, 3.5), "label": "*", "gate": True},
        "m1": {"pos": (1.5, 1.5), "label": "*", "gate": True},
        "a0": {"pos": (3, 2.5), "label": "+", "gate": True},
        "a1": {"pos": (4.5, 1.25), "label": "+", "gate": True},
        "sig": {"pos": (6, 1.25), "label": "σ", "gate": True},
        "f": {"pos": (7.2, 1.25), "label": "f"},
    }
    edges = [
        {"src": "w0", "dst": "m0", "value": w0, "grad": ds * x0},
        {"src": "x0", "dst": "m0", "value": x0, "grad": ds * w0},
        {"src": "w1", "dst": "m1", "value": w1, "grad": ds * x1},
        {"src": "x1", "dst": "m1", "value": x1, "grad": ds * w1},
        {"src": "m0", "dst": "a0", "value": p0, "grad": ds},
        {"src": "m1", "dst": "a0", "value": p1, "grad": ds},
        {"src": "a0", "dst": "a1", "value": p0 + p1, "grad": ds},
        {"src": "w2", "dst": "a1", "value": w2, "grad": ds},
        {"src": "a1", "dst": "sig", "value": s, "grad": ds},
        {"src": "sig", "dst": "f", "value": f, "grad": 1.0},
    ]
    return {"nodes": nodes, "edges": edges}


def draw_sigmoid_neuron(w: Sequence[float] = (2.0, -3.0, -3.0),
                        x: Sequence[float] = (-1.0, -2.0)) -> Figure:
    """Draw the 2-D sigmoid neuron as a circuit of mul, add and sigmoid gates."""
    return draw_graph(sigmoid_neuron_spec(w, x),
                      title="f = sigmoid(w0 x0 + w1 x1 + w2): values (green), gradients (red)")
