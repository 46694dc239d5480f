"""cnnlib.graph: the circuit drawings show the right values (green) and gradients (red)."""

from __future__ import annotations

import matplotlib.colors as mcolors
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from cnnlib import graph


def _edge(spec: dict, src: str, dst: str) -> dict:
    (edge,) = [e for e in spec["edges"] if e["src"] == src and e["dst"] == dst]
    return edge


def _texts_by_color(fig: Figure, color: str) -> list[str]:
    want = mcolors.to_rgba(color)
    return [t.get_text() for ax in fig.axes for t in ax.texts
            if mcolors.to_rgba(t.get_color()) == want]


def test_circuit_xyz_values_and_gradients_match_the_lecture_example() -> None:
    spec = graph.circuit_xyz_spec(-2, 5, -4)
    assert _edge(spec, "add", "mul")["value"] == 3          # q
    assert _edge(spec, "mul", "f")["value"] == -12          # f
    assert _edge(spec, "x", "add")["grad"] == -4
    assert _edge(spec, "y", "add")["grad"] == -4
    assert _edge(spec, "z", "mul")["grad"] == 3
    assert _edge(spec, "add", "mul")["grad"] == -4          # df/dq = z


def test_draw_circuit_puts_gradients_in_red_and_values_in_green() -> None:
    fig = graph.draw_circuit_xyz(-2, 5, -4)
    assert isinstance(fig, Figure)
    red = sorted(_texts_by_color(fig, graph.BACKWARD_COLOR))
    green = sorted(_texts_by_color(fig, graph.FORWARD_COLOR))
    assert red == sorted(["-4", "-4", "-4", "3", "1"])
    assert green == sorted(["-2", "5", "-4", "3", "-12"])


def test_forward_only_drawing_has_no_gradients() -> None:
    fig = graph.draw_circuit_xyz(-2, 5, -4, backward=False)
    assert _texts_by_color(fig, graph.BACKWARD_COLOR) == []
    assert len(_texts_by_color(fig, graph.FORWARD_COLOR)) == 5


@pytest.mark.parametrize(
    ("kind", "a", "b", "dout", "out", "da", "db"),
    [
        ("add", 3.0, -1.0, 2.0, 2.0, 2.0, 2.0),      # distributes
        ("max", 3.0, -1.0, 2.0, 3.0, 2.0, 0.0),      # routes to the larger
        ("max", -3.0, 1.0, 2.0, 1.0, 0.0, 2.0),
        ("mul", 3.0, -1.0, 2.0, -3.0, -2.0, 6.0),    # switches
    ],
)
def test_gate_patterns(kind: str, a: float, b: float, dout: float, out: float, da: float,
                       db: float) -> None:
    spec = graph.gate_spec(kind, a, b, dout)
    assert _edge(spec, "g", "out")["value"] == out
    assert _edge(spec, "a", "g")["grad"] == da
    assert _edge(spec, "b", "g")["grad"] == db


def test_gate_spec_rejects_ties_and_unknown_gates() -> None:
    with pytest.raises(ValueError, match="tie"):
        graph.gate_spec("max", 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="'add', 'max' or 'mul'"):
        graph.gate_spec("div", 1.0, 2.0, 1.0)


def test_draw_gate_patterns_has_one_panel_per_gate() -> None:
    fig = graph.draw_gate_patterns(3.0, -1.0, 2.0)
    assert [ax.get_title() for ax in fig.axes] == [
        "add: distributes", "max: routes", "mul: switches"]


def test_sigmoid_neuron_spec_matches_autograd() -> None:
    w, x = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])
    spec = graph.sigmoid_neuron_spec(w, x)
    tw = torch.tensor(w, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    f = torch.sigmoid(tw[0] * tx[0] + tw[1] * tx[1] + tw[2])
    f.backward()
    assert _edge(spec, "sig", "f")["value"] == pytest.approx(f.item())
    got_dw = [_edge(spec, "w0", "m0")["grad"], _edge(spec, "w1", "m1")["grad"],
              _edge(spec, "w2", "a1")["grad"]]
    got_dx = [_edge(spec, "x0", "m0")["grad"], _edge(spec, "x1", "m1")["grad"]]
    np.testing.assert_allclose(got_dw, tw.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(got_dx, tx.grad.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="length 3"):
        graph.sigmoid_neuron_spec([1.0, 2.0], x)


def test_draw_graph_validates_its_spec() -> None:
    with pytest.raises(TypeError, match="'nodes' and 'edges'"):
        graph.draw_graph([1, 2])
    with pytest.raises(ValueError, match="needs 'pos'"):
        graph.draw_graph({"nodes": {"a": {"label": "a"}}, "edges": []})
    with pytest.raises(ValueError, match="'zz' is not a node"):
        graph.draw_graph({"nodes": {"a": {"pos": (0, 0)}},
                          "edges": [{"src": "a", "dst": "zz", "value": 1.0}]})


def test_draw_graph_into_given_axes_and_custom_graph() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    spec = {"nodes": {"a": {"pos": (0, 0)}, "g": {"pos": (1, 0), "label": "exp", "gate": True}},
            "edges": [{"src": "a", "dst": "g", "value": 0.5, "grad": None}]}
    out = graph.draw_graph(spec, title="custom", ax=ax)
    assert out is fig and ax.get_title() == "custom"
    assert "exp" in [t.get_text() for t in ax.texts]
    assert _texts_by_color(fig, graph.FORWARD_COLOR) == ["0.5"]
