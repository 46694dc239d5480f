"""Helpers of notebook 3, backpropagation: graph drawings and the activation experiments.

The notebook asks students to write gates, layers and activation functions themselves; this
module draws the circuits and runs the demos that are not the exercise.

**Computational graphs.** A graph is a plain dict, so a notebook can build its own::

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
either may be ``None`` to leave it out (e.g. before the backward pass). :func:`draw_circuit_xyz`,
:func:`draw_gate_patterns` and :func:`draw_sigmoid_neuron` draw the lecture's examples.

**Activations.** Trusted reference versions for plots and demos:

- :data:`ACTIVATIONS`: ``name -> (f, df)`` elementwise numpy functions (``df`` is the
  derivative with respect to the input, evaluated at the input); :func:`plot_activations`.
- :func:`softmax_loss`: the usual classifier loss with its gradient, for end-to-end checks.
- :func:`hidden_activations` / :func:`plot_activation_histograms`: saturation of deep sigmoid
  or tanh stacks on real data.
- :func:`dead_relu_fractions` / :func:`plot_dead_relu`: how one too-large learning-rate step
  kills ReLU units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# --------------------------------------------------------------------------------------------
# Computational graphs
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Activation functions and their experiments
# --------------------------------------------------------------------------------------------

ArrayFn = Callable[[np.ndarray], np.ndarray]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + e^-x), computed without overflow for large |x|.

    Elementwise: x of any shape -> float64 of that shape.
    """
    x = np.asarray(x, dtype=np.float64)
    # exp of a non-positive number never overflows; pick the form per sign.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """d sigmoid / dx = s (1 - s); at most 0.25, at x = 0.

    Elementwise: x of any shape -> float64 of that shape.
    """
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent (zero-centred, range (-1, 1)).

    Elementwise: x of any shape -> float64 of that shape.
    """
    return np.tanh(np.asarray(x, dtype=np.float64))


def tanh_grad(x: np.ndarray) -> np.ndarray:
    """d tanh / dx = 1 - tanh(x)^2; at most 1, at x = 0.

    Elementwise: x of any shape -> float64 of that shape.
    """
    return 1.0 - np.tanh(np.asarray(x, dtype=np.float64)) ** 2


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x). Elementwise: x of any shape -> float64 of that shape."""
    return np.maximum(0.0, np.asarray(x, dtype=np.float64))


def relu_grad(x: np.ndarray) -> np.ndarray:
    """1 where x > 0, else 0 (the kink at 0 gets 0, as in PyTorch).

    Elementwise: x of any shape -> float64 of that shape.
    """
    return (np.asarray(x, dtype=np.float64) > 0).astype(np.float64)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """max(alpha x, x) for 0 <= alpha < 1. Elementwise: x of any shape -> float64 of that shape."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * x)


def leaky_relu_grad(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """1 where x > 0, else alpha. Elementwise: x of any shape -> float64 of that shape."""
    return np.where(np.asarray(x, dtype=np.float64) > 0, 1.0, alpha)


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """x for x > 0, alpha (e^x - 1) for x <= 0.

    Elementwise: x of any shape -> float64 of that shape.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """1 for x > 0, alpha e^x for x <= 0. Elementwise: x of any shape -> float64 of that shape."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


#: name -> (activation, derivative), elementwise, default hyper-parameters.
ACTIVATIONS: dict[str, tuple[ArrayFn, ArrayFn]] = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "elu": (elu, elu_grad),
}


def _lookup(name: str) -> tuple[ArrayFn, ArrayFn]:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def plot_activations(
    names: Sequence[str] | None = None, lo: float = -5.0, hi: float = 5.0,
    leaky_alpha: float = 0.1,
) -> Figure:
    """One panel per activation: f(x) (solid) and f'(x) (dashed) over [lo, hi].

    leaky_alpha: slope drawn for the leaky ReLU (0.01 is invisible at this scale, so the plot
    uses 0.1 by default and says so in the title).
    """
    names = list(names) if names is not None else list(ACTIVATIONS)
    if not names:
        raise ValueError("names must list at least one activation")
    if not hi > lo:
        raise ValueError(f"need lo < hi, got lo={lo}, hi={hi}")
    x = np.linspace(lo, hi, 801)
    fig = Figure(figsize=(3.0 * len(names), 2.9), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names, strict=True):
        f, df = _lookup(name)
        title = name
        if name == "leaky_relu":
            y, dy = f(x, leaky_alpha), df(x, leaky_alpha)
            title = f"leaky_relu (alpha={leaky_alpha})"
        else:
            y, dy = f(x), df(x)
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.plot(x, y, color="C0", label="f(x)")
        ax.plot(x, dy, color="C3", ls="--", label="f'(x)")
        ax.set_title(title, fontsize=10)
        ax.set(xlabel="input x", ylabel="f(x) and f'(x)")
    axes[0].legend(loc="upper left", fontsize=8)
    fig.suptitle("activation functions (solid) and their derivatives (dashed): "
                 "where f' is near 0, almost no gradient gets through")
    return fig


def softmax_loss(scores: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(scores) against integer labels, and its gradient.

    Inputs:
    - scores: (N, K) float array of class scores.
    - y: (N,) integer labels in [0, K).

    Returns (loss, dscores) with dscores: (N, K), the gradient of the loss w.r.t. scores.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y = np.asarray(y)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (N, K), got shape {scores.shape}")
    if y.shape != (scores.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be ({scores.shape[0]},) integer labels, got {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= scores.shape[1]):
        raise ValueError(f"labels must lie in [0, {scores.shape[1]}), got {y.min()}..{y.max()}")
    shifted = scores - scores.max(axis=1, keepdims=True)  # avoids overflow in exp
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = scores.shape[0]
    loss = float(-log_probs[np.arange(n), y].mean())
    dscores = np.exp(log_probs)
    dscores[np.arange(n), y] -= 1.0
    return loss, dscores / n


def _flat_standardized(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim < 2:
        raise ValueError(f"X must be (N, ...) with at least 2 dimensions, got shape {X.shape}")
    X = X.reshape(X.shape[0], -1)
    return (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)


def hidden_activations(
    X: np.ndarray, activation: str = "sigmoid", widths: Sequence[int] = (100, 100, 100, 100),
    weight_std: float = 1.0, seed: int = 0,
) -> list[np.ndarray]:
    """Activations of each hidden layer of a random fully connected net applied to X.

    X: (N, ...) inputs (flattened and standardised per feature). Weights are drawn
    N(0, weight_std^2 / fan_in) and biases are zero, so weight_std=1 is a reasonable scale and
    larger values push pre-activations into the flat (saturated) parts.
    Returns one (N, width) float64 array per hidden layer.
    """
    f, _ = _lookup(activation)
    if weight_std <= 0:
        raise ValueError(f"weight_std must be positive, got {weight_std}")
    rng = np.random.default_rng(seed)
    h = _flat_standardized(X)
    acts = []
    for width in widths:
        w = rng.normal(0.0, weight_std / np.sqrt(h.shape[1]), size=(h.shape[1], int(width)))
        h = f(h @ w)
        acts.append(h)
    return acts


def plot_activation_histograms(acts: Sequence[np.ndarray], activation: str,
                               bins: int = 40, title: str | None = None) -> Figure:
    """Histogram of each layer's activations (top) and of the local gradient f' there (bottom).

    acts: what :func:`hidden_activations` returned, one ``(N, width)`` array per layer. The
    local gradient is computed from the output (sigmoid: s(1-s), tanh: 1-t^2) so the plot shows
    how much gradient each unit passes. title: the figure's title (says what to look for by
    default).
    """
    if activation not in ("sigmoid", "tanh"):
        raise ValueError(f"activation must be 'sigmoid' or 'tanh', got {activation!r}")
    if not acts:
        raise ValueError("acts must hold at least one layer")
    fig = Figure(figsize=(2.6 * len(acts), 4.4), layout="constrained")
    axes = fig.subplots(2, len(acts), squeeze=False)
    rng = (0.0, 1.0) if activation == "sigmoid" else (-1.0, 1.0)
    for i, a in enumerate(acts):
        local = a * (1 - a) if activation == "sigmoid" else 1 - a**2
        axes[0, i].hist(a.ravel(), bins=bins, range=rng, color="C0")
        axes[0, i].set_title(f"layer {i + 1}", fontsize=9)
        axes[0, i].set_xlabel(f"{activation} output", fontsize=8)
        axes[1, i].hist(local.ravel(), bins=bins, range=(0, 0.25 if activation == "sigmoid" else 1),
                        color="C3")
        axes[1, i].set_xlabel("local gradient f'", fontsize=8)
        for ax in axes[:, i]:
            ax.set_ylabel("units (count)", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(title or f"{activation} outputs (top) and local gradients (bottom) per layer: "
                 "outputs piled at the ends mean gradients near 0", fontsize=10)
    return fig


def dead_relu_fractions(
    X: np.ndarray, y: np.ndarray, big_lrs: Sequence[float] = (0.1, 1.0, 10.0, 100.0),
    hidden: int = 100, warmup_epochs: int = 3, lr: float = 0.1, batch_size: int = 64,
    seed: int = 0,
) -> dict[float, float]:
    """Fraction of dead hidden ReLUs after one SGD step with each learning rate in big_lrs.

    X: (N, ...) images, y: (N,) integer labels; X is flattened and min-max scaled to [0, 1].
    A one-hidden-layer ReLU net (torch, float32, CPU) is first trained briefly with ``lr``; then,
    starting from that same state each time, one mini-batch step is taken with ``big_lr``.
    A unit is *dead* when it outputs 0 for every example of X: no example can send it gradient,
    so plain SGD never revives it. Returns ``{big_lr: dead fraction}``; key ``0.0`` is the
    fraction before the big step.
    """
    import torch

    # Pixels scaled to [0, 1], not standardised, on purpose: with all inputs >= 0 one big step
    # moves a unit's pre-activation the same way for every example, which is how units die.
    Xn = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    span = float(Xn.max() - Xn.min()) or 1.0
    Xf = torch.tensor((Xn - Xn.min()) / span)
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if Xf.shape[0] != yt.shape[0]:
        raise ValueError(f"X has {Xf.shape[0]} examples but y has {yt.shape[0]}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(Xf.shape[1], hidden), torch.nn.ReLU(),
                              torch.nn.Linear(hidden, int(yt.max()) + 1))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(model: torch.nn.Module, idx: torch.Tensor, step_lr: float) -> None:
        model.zero_grad()
        loss_fn(model(Xf[idx]), yt[idx]).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= step_lr * p.grad

    for _ in range(warmup_epochs):
        for idx in torch.randperm(len(Xf), generator=gen).split(batch_size):
            step(net, idx, lr)

    def dead(model: torch.nn.Module) -> float:
        with torch.no_grad():
            h = model[1](model[0](Xf))
        return float((h.max(dim=0).values <= 0).float().mean())

    state = {k: v.clone() for k, v in net.state_dict().items()}
    batch = torch.randperm(len(Xf), generator=gen)[:batch_size]
    out = {0.0: dead(net)}
    for big in big_lrs:
        net.load_state_dict(state)
        step(net, batch, float(big))
        out[float(big)] = dead(net)
    return out


def plot_dead_relu(fractions: dict[float, float]) -> Figure:
    """Bar chart of :func:`dead_relu_fractions`: dead units after one step per learning rate."""
    if not fractions:
        raise ValueError("fractions is empty")
    keys = sorted(fractions)
    labels = ["before" if k == 0 else f"lr={k:g}" for k in keys]
    values = [100.0 * fractions[k] for k in keys]
    fig = Figure(figsize=(1.2 * len(keys) + 1.5, 3.0), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.bar(labels, values, color=["0.6"] + ["C3"] * (len(keys) - 1))
    ax.bar_label(bars, fmt="%.0f%%", fontsize=9)
    ax.set_xlabel("learning rate of the single SGD step")
    ax.set_ylabel("dead hidden ReLUs (%)")
    ax.set_title("dead units after one SGD step: how large must a step be to kill them?",
                 fontsize=10)
    ax.set_ylim(0, max(values + [1.0]) * 1.2)
    return fig
