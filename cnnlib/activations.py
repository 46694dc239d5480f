"""Reference activation functions, their derivatives, and the experiments that show them.

The notebook on backpropagation asks students to write the forward/backward pairs themselves;
this module holds trusted versions for plotting and for the demos that are not the exercise:

- :data:`ACTIVATIONS`: ``name -> (f, df)`` elementwise numpy functions (``df`` is the
  derivative with respect to the input, evaluated at the input).
- :func:`plot_activations`: each activation beside its derivative.
- :func:`softmax_loss`: the usual classifier loss with its gradient, for end-to-end checks.
- :func:`hidden_activations` / :func:`plot_activation_histograms`: saturation of deep sigmoid
  or tanh stacks on real data.
- :func:`dead_relu_fractions`: how one too-large learning-rate step kills ReLU units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure

ArrayFn = Callable[[np.ndarray], np.ndarray]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + e^-x), computed without overflow for large |x|."""
    x = np.asarray(x, dtype=np.float64)
    # exp of a non-positive number never overflows; pick the form per sign.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """d sigmoid / dx = s (1 - s); at most 0.25, at x = 0."""
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent (zero-centred, range (-1, 1))."""
    return np.tanh(np.asarray(x, dtype=np.float64))


def tanh_grad(x: np.ndarray) -> np.ndarray:
    """d tanh / dx = 1 - tanh(x)^2; at most 1, at x = 0."""
    return 1.0 - np.tanh(np.asarray(x, dtype=np.float64)) ** 2


def relu(x: np.ndarray) -> np.ndarray:
    """max(0, x)."""
    return np.maximum(0.0, np.asarray(x, dtype=np.float64))


def relu_grad(x: np.ndarray) -> np.ndarray:
    """1 where x > 0, else 0 (the kink at 0 gets 0, as in PyTorch)."""
    return (np.asarray(x, dtype=np.float64) > 0).astype(np.float64)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """max(alpha x, x) for 0 <= alpha < 1."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * x)


def leaky_relu_grad(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    """1 where x > 0, else alpha."""
    return np.where(np.asarray(x, dtype=np.float64) > 0, 1.0, alpha)


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """x for x > 0, alpha (e^x - 1) for x <= 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """1 for x > 0, alpha e^x for x <= 0."""
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
