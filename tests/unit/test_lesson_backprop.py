"""cnnlib.lessons.backprop: graph drawings (values and gradients of the lecture's circuits) and
the activation functions with their experiments."""

from __future__ import annotations

import warnings

import matplotlib.colors as mcolors
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

from cnnlib.lessons import backprop as lesson


def _edge(spec: dict, src: str, dst: str) -> dict:
    (edge,) = [e for e in spec["edges"] if e["src"] == src and e["dst"] == dst]
    return edge


def _texts_by_color(fig: Figure, color: str) -> list[str]:
    want = mcolors.to_rgba(color)
    return [t.get_text() for ax in fig.axes for t in ax.texts
            if mcolors.to_rgba(t.get_color()) == want]


def test_circuit_xyz_values_and_gradients_match_the_lecture_example() -> None:
    spec = lesson.circuit_xyz_spec(-2, 5, -4)
    assert _edge(spec, "add", "mul")["value"] == 3          # q
    assert _edge(spec, "mul", "f")["value"] == -12          # f
    assert _edge(spec, "x", "add")["grad"] == -4
    assert _edge(spec, "y", "add")["grad"] == -4
    assert _edge(spec, "z", "mul")["grad"] == 3
    assert _edge(spec, "add", "mul")["grad"] == -4          # df/dq = z


def test_draw_circuit_puts_gradients_in_red_and_values_in_green() -> None:
    fig = lesson.draw_circuit_xyz(-2, 5, -4)
    assert isinstance(fig, Figure)
    red = sorted(_texts_by_color(fig, lesson.BACKWARD_COLOR))
    green = sorted(_texts_by_color(fig, lesson.FORWARD_COLOR))
    assert red == sorted(["-4", "-4", "-4", "3", "1"])
    assert green == sorted(["-2", "5", "-4", "3", "-12"])


def test_forward_only_drawing_has_no_gradients() -> None:
    fig = lesson.draw_circuit_xyz(-2, 5, -4, backward=False)
    assert _texts_by_color(fig, lesson.BACKWARD_COLOR) == []
    assert len(_texts_by_color(fig, lesson.FORWARD_COLOR)) == 5


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
    spec = lesson.gate_spec(kind, a, b, dout)
    assert _edge(spec, "g", "out")["value"] == out
    assert _edge(spec, "a", "g")["grad"] == da
    assert _edge(spec, "b", "g")["grad"] == db


def test_gate_spec_rejects_ties_and_unknown_gates() -> None:
    with pytest.raises(ValueError, match="tie"):
        lesson.gate_spec("max", 1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="'add', 'max' or 'mul'"):
        lesson.gate_spec("div", 1.0, 2.0, 1.0)


def test_draw_gate_patterns_has_one_panel_per_gate() -> None:
    fig = lesson.draw_gate_patterns(3.0, -1.0, 2.0)
    assert [ax.get_title() for ax in fig.axes] == [
        "add: distributes", "max: routes", "mul: switches"]


def test_sigmoid_neuron_spec_matches_autograd() -> None:
    w, x = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])
    spec = lesson.sigmoid_neuron_spec(w, x)
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
        lesson.sigmoid_neuron_spec([1.0, 2.0], x)


def test_draw_graph_validates_its_spec() -> None:
    with pytest.raises(TypeError, match="'nodes' and 'edges'"):
        lesson.draw_graph([1, 2])
    with pytest.raises(ValueError, match="needs 'pos'"):
        lesson.draw_graph({"nodes": {"a": {"label": "a"}}, "edges": []})
    with pytest.raises(ValueError, match="'zz' is not a node"):
        lesson.draw_graph({"nodes": {"a": {"pos": (0, 0)}},
                          "edges": [{"src": "a", "dst": "zz", "value": 1.0}]})


def test_draw_graph_into_given_axes_and_custom_graph() -> None:
    fig = Figure()
    ax = fig.add_subplot()
    spec = {"nodes": {"a": {"pos": (0, 0)}, "g": {"pos": (1, 0), "label": "exp", "gate": True}},
            "edges": [{"src": "a", "dst": "g", "value": 0.5, "grad": None}]}
    out = lesson.draw_graph(spec, title="custom", ax=ax)
    assert out is fig and ax.get_title() == "custom"
    assert "exp" in [t.get_text() for t in ax.texts]
    assert _texts_by_color(fig, lesson.FORWARD_COLOR) == ["0.5"]

_TORCH = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
    "elu": torch.nn.functional.elu,
}

# Inputs away from the kink at 0, where ReLU-like derivatives are not defined.
_away_from_zero = st.floats(0.01, 30.0) | st.floats(-30.0, -0.01)


@settings(max_examples=40, deadline=None)
@given(x=_away_from_zero, name=st.sampled_from(sorted(lesson.ACTIVATIONS)))
def test_activation_and_derivative_match_torch(x: float, name: str) -> None:
    f, df = lesson.ACTIVATIONS[name]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = _TORCH[name](t)
    out.backward()
    assert float(f(np.array(x))) == pytest.approx(out.item(), rel=1e-12, abs=1e-15)
    assert float(df(np.array(x))) == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-15)


def test_hyperparameters_are_used() -> None:
    x = np.array([-2.0, 3.0])
    np.testing.assert_allclose(lesson.leaky_relu(x, 0.2), [-0.4, 3.0])
    np.testing.assert_allclose(lesson.leaky_relu_grad(x, 0.2), [0.2, 1.0])
    np.testing.assert_allclose(lesson.elu(x, 2.0), [2.0 * (np.exp(-2.0) - 1), 3.0])
    np.testing.assert_allclose(lesson.elu_grad(x, 2.0), [2.0 * np.exp(-2.0), 1.0])


def test_sigmoid_is_stable_for_huge_inputs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = lesson.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
    assert lesson.sigmoid_grad(np.array(0.0)) == pytest.approx(0.25)


def test_softmax_loss_matches_torch_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    scores, y = rng.normal(size=(5, 7)) * 10, rng.integers(0, 7, size=5)
    loss, dscores = lesson.softmax_loss(scores, y)
    t = torch.tensor(scores, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dscores, t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_softmax_loss_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="must be \\(N, K\\)"):
        lesson.softmax_loss(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="integer labels"):
        lesson.softmax_loss(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="must lie in"):
        lesson.softmax_loss(np.zeros((3, 2)), np.array([0, 1, 2]))


def test_plot_activations_one_panel_each_and_unknown_names() -> None:
    fig = lesson.plot_activations(["sigmoid", "relu"])
    assert [ax.get_title() for ax in fig.axes] == ["sigmoid", "relu"]
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        lesson.plot_activations(["swish"])


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:600, None] / 16.0).astype(np.float32), d.target[:600]


def test_large_weights_saturate_sigmoid_units() -> None:
    X, _ = _digits()
    small = lesson.hidden_activations(X, "sigmoid", widths=(50, 50), weight_std=1.0)
    large = lesson.hidden_activations(X, "sigmoid", widths=(50, 50), weight_std=4.0)
    assert [a.shape for a in small] == [(600, 50), (600, 50)]

    def saturated(acts: list[np.ndarray]) -> float:
        return float(np.mean([((a < 0.05) | (a > 0.95)).mean() for a in acts]))

    assert saturated(small) < 0.05 < 0.1 < saturated(large)
    fig = lesson.plot_activation_histograms(large, "sigmoid")
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="'sigmoid' or 'tanh'"):
        lesson.plot_activation_histograms(large, "relu")
    with pytest.raises(ValueError, match="weight_std must be positive"):
        lesson.hidden_activations(X, weight_std=0.0)


def test_one_huge_step_kills_relu_units() -> None:
    X, y = _digits()
    dead = lesson.dead_relu_fractions(X, y, big_lrs=(0.1, 100.0), hidden=50, warmup_epochs=1)
    assert set(dead) == {0.0, 0.1, 100.0}
    assert dead[0.1] == pytest.approx(dead[0.0], abs=0.05)
    assert dead[100.0] > dead[0.0] + 0.1
    fig = lesson.plot_dead_relu(dead)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["before", "lr=0.1", "lr=100"]
    with pytest.raises(ValueError, match="examples but y has"):
        lesson.dead_relu_fractions(X, y[:10])
