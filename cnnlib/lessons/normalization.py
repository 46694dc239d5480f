"""Helpers of notebook 4, normalization and regularization.

- Initialization: :func:`init_std` / :func:`init_weights` (zero, small random, Xavier, He with
  fan-in or fan-out) and :func:`activation_statistics`, which pushes data through a deep
  fully connected net and records the mean, standard deviation and histogram of every layer's
  activations (and of the backward gradients), drawn by :func:`plot_activation_statistics`.
- Which axes each normalization averages over: :func:`norm_axes_mask` and the cube picture
  :func:`draw_norm_axes` (batch, layer, instance, group norm).
- Distribution shift: :func:`change_contrast` (the same digits, washed out),
  :func:`covariate_shift_accuracy`, :func:`pixel_statistics`, :func:`plot_pixel_histograms`.
- Batch norm in a real CNN: :func:`digits_cnn` (conv -> BN -> ReLU blocks), :func:`lr_sweep`
  (the same net trained with and without BN over learning rates), :func:`sweep_table`,
  :func:`plot_sweep`; the train/eval mix-up bug: :func:`mode_mixup`; folding a test-mode BN into
  the conv before it: :func:`fold_bn_into_conv`.
- Dropout on activation maps: :func:`plot_dropout_maps` (``nn.Dropout`` vs ``nn.Dropout2d``).

Shapes follow the course convention: images ``(N, C, H, W)`` float32.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from torch import nn

from cnnlib._validate import check_int, check_positive_ints

__all__ = [
    "INIT_SCHEMES",
    "ActivationStats",
    "activation_statistics",
    "digits_cnn",
    "draw_norm_axes",
    "fold_bn_into_conv",
    "init_std",
    "init_weights",
    "lr_sweep",
    "mode_mixup",
    "norm_axes_mask",
    "pixel_statistics",
    "plot_activation_statistics",
    "plot_dropout_maps",
    "plot_pixel_histograms",
    "change_contrast",
    "covariate_shift_accuracy",
    "random_patches",
    "plot_sweep",
    "sweep_table",
]

#: Weight initialization schemes of :func:`init_std`.
INIT_SCHEMES = ("zero", "small", "xavier", "he", "he_fan_out")
NONLINEARITIES = ("relu", "tanh")


# --------------------------------------------------------------------------------------------
# Initialization and activation statistics
# --------------------------------------------------------------------------------------------


def init_std(scheme: str, fan_in: int, fan_out: int) -> float:
    """Standard deviation of the Gaussian weights of a layer with ``fan_in`` inputs per unit.

    - ``"zero"``: 0 (every unit computes the same thing: symmetry is never broken)
    - ``"small"``: 0.01
    - ``"xavier"``: sqrt(2 / (fan_in + fan_out)) (Glorot and Bengio 2010; sqrt(1 / n) when
      fan_in = fan_out = n), keeps the variance for symmetric units such as tanh
    - ``"he"``: sqrt(2 / fan_in) (He et al. 2015, fan-in form): keeps the variance of the
      *forward* signal through ReLUs, which zero half of it
    - ``"he_fan_out"``: sqrt(2 / fan_out): keeps the variance of the *backward* gradients
    """
    check_positive_ints(fan_in=fan_in, fan_out=fan_out)
    stds = {
        "zero": 0.0,
        "small": 0.01,
        "xavier": math.sqrt(2.0 / (fan_in + fan_out)),
        "he": math.sqrt(2.0 / fan_in),
        "he_fan_out": math.sqrt(2.0 / fan_out),
    }
    if scheme not in stds:
        raise ValueError(f"unknown init scheme {scheme!r}; expected one of {INIT_SCHEMES}")
    return stds[scheme]


def init_weights(scheme: str, fan_in: int, fan_out: int,
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Weights ``(fan_in, fan_out)`` float64 drawn from N(0, init_std(scheme, ...)^2)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    return init_std(scheme, fan_in, fan_out) * rng.standard_normal((fan_in, fan_out))


@dataclass
class ActivationStats:
    """Per-layer statistics of a deep fully connected net at initialization.

    means, stds: (L,) mean and standard deviation of each layer's activations (after the
    non-linearity). grad_stds: (L,) standard deviation of the gradient of a random loss with
    respect to each layer's activations. samples: L flat arrays of activations (for histograms).
    """

    scheme: str
    nonlinearity: str
    widths: list[int]
    means: np.ndarray
    stds: np.ndarray
    grad_stds: np.ndarray
    samples: list[np.ndarray] = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.scheme} / {self.nonlinearity}"


def activation_statistics(scheme: str, nonlinearity: str = "relu", depth: int = 10,
                          width: int = 256, n_samples: int = 512,
                          widths: Sequence[int] | None = None, seed: int = 0) -> ActivationStats:
    """Push unit-Gaussian data through ``depth`` layers ``h = f(h @ W)`` and record statistics.

    Inputs:
    - scheme: one of :data:`INIT_SCHEMES`; nonlinearity: ``"relu"`` or ``"tanh"``
    - depth, width: number of layers and units per layer (ignored when ``widths`` is given)
    - widths: layer sizes ``[input, layer 1, ..., layer L]`` to study fan-in vs fan-out
    - n_samples: rows of the input batch
    Returns :class:`ActivationStats`; the backward pass sends a unit-Gaussian gradient from the
    last layer back to the first.
    """
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
    widths = list(widths) if widths is not None else [width] * (depth + 1)
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"widths needs at least two positive sizes, got {widths}")
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((n_samples, widths[0]))
    Ws, pres, acts = [], [], []
    for fan_in, fan_out in zip(widths[:-1], widths[1:], strict=True):
        W = init_weights(scheme, fan_in, fan_out, rng)
        z = h @ W
        h = np.maximum(z, 0) if nonlinearity == "relu" else np.tanh(z)
        Ws.append(W)
        pres.append(z)
        acts.append(h)
    grad = rng.standard_normal(h.shape)
    grad_stds = np.zeros(len(Ws))
    for i in range(len(Ws) - 1, -1, -1):
        grad_stds[i] = grad.std()
        local = (pres[i] > 0) if nonlinearity == "relu" else 1 - acts[i] ** 2
        grad = (grad * local) @ Ws[i].T
    return ActivationStats(
        scheme, nonlinearity, widths,
        means=np.array([a.mean() for a in acts]),
        stds=np.array([a.std() for a in acts]),
        grad_stds=grad_stds,
        samples=[a.ravel()[:20000].copy() for a in acts],
    )


def plot_activation_statistics(stats: Sequence[ActivationStats],
                               layers: Sequence[int] | None = None) -> Figure:
    """One row per run: mean/std per layer (left) and activation histograms of some layers.

    stats: results of :func:`activation_statistics` (same depth). layers: 0-based indices of
    the layers whose histograms are drawn (default: first, a middle one and the last).
    """
    if not stats:
        raise ValueError("stats is empty: pass the result of activation_statistics(...)")
    L = len(stats[0].stds)
    layers = list(layers) if layers is not None else sorted({0, L // 2, L - 1})
    fig = Figure(figsize=(3.2 * (1 + len(layers)), 2.4 * len(stats) + 0.5), layout="constrained")
    axes = fig.subplots(len(stats), 1 + len(layers), squeeze=False)
    for row, s in zip(axes, stats, strict=True):
        idx = np.arange(1, len(s.stds) + 1)
        row[0].plot(idx, s.means, "o-", label="mean")
        row[0].plot(idx, s.stds, "s-", label="std")
        row[0].set_title(f"{s.label}: per layer", fontsize=9)
        row[0].set_xlabel("layer", fontsize=8)
        row[0].set_ylabel("activation mean / std", fontsize=8)
        row[0].xaxis.set_major_locator(MaxNLocator(integer=True))
        row[0].legend(fontsize=7)
        for ax, li in zip(row[1:], layers, strict=True):
            sample = s.samples[li]
            lo, hi = (-1, 1) if s.nonlinearity == "tanh" else (0, max(float(sample.max()), 1e-3))
            ax.hist(sample, bins=40, range=(lo, hi), color="tab:blue")
            ax.set_title(f"layer {li + 1}: std {s.stds[li]:.2g}", fontsize=9)
            ax.set_xlabel("activation", fontsize=8)
            ax.set_ylabel("units (count)", fontsize=8)
            # few ticks, in scientific notation: the labels of tiny ranges (1e-3) overlapped
            ax.xaxis.set_major_locator(MaxNLocator(nbins=3))
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
            ax.tick_params(labelsize=7)
            ax.set_yticks([])
    fig.suptitle("activations at initialization, one row per scheme: a spike at 0 means the "
                 "signal died, piles at the ends of tanh's range mean saturated units",
                 fontsize=10)
    return fig


# --------------------------------------------------------------------------------------------
# Which axes each normalization averages over
# --------------------------------------------------------------------------------------------

NORM_KINDS = ("batch", "layer", "instance", "group")


def norm_axes_mask(kind: str, N: int = 4, C: int = 6, HW: int = 5, groups: int = 2,
                   sample: int = 0, channel: int = 0) -> np.ndarray:
    """Boolean ``(N, C, HW)`` mask of the values that share ONE mean and variance.

    The set drawn is the one containing value ``(sample, channel, any position)``:
    batch norm -> that channel in every sample; layer norm -> every channel of that sample;
    instance norm -> that channel of that sample; group norm -> the ``C // groups`` consecutive
    channels of that channel's group, in that sample.
    """
    if kind not in NORM_KINDS:
        raise ValueError(f"kind must be one of {NORM_KINDS}, got {kind!r}")
    if C % groups:
        raise ValueError(f"groups={groups} must divide C={C}")
    mask = np.zeros((N, C, HW), dtype=bool)
    if kind == "batch":
        mask[:, channel, :] = True
    elif kind == "layer":
        mask[sample, :, :] = True
    elif kind == "instance":
        mask[sample, channel, :] = True
    else:
        size = C // groups
        start = (channel // size) * size
        mask[sample, start:start + size, :] = True
    return mask


def draw_norm_axes(N: int = 4, C: int = 6, HW: int = 5, groups: int = 2) -> Figure:
    """The four normalizations as cubes (axes N, C and H*W); blue cells share one mean/var."""
    titles = {"batch": "Batch norm", "layer": "Layer norm", "instance": "Instance norm",
              "group": f"Group norm (G={groups})"}
    fig = Figure(figsize=(13, 3.8))
    fig.subplots_adjust(left=0.01, right=0.97, bottom=0.02, top=0.86, wspace=0.08)
    for i, kind in enumerate(NORM_KINDS):
        ax = fig.add_subplot(1, 4, i + 1, projection="3d")
        # shrink the cube inside its box: at full size the "HW" label fell outside the panel
        ax.set_box_aspect(None, zoom=0.8)
        mask = norm_axes_mask(kind, N, C, HW, groups)
        # voxel axes (x, y, z) = (C, N, H*W): channels across, batch in depth, space upwards
        filled = np.ones((C, N, HW), dtype=bool)
        colors = np.empty((C, N, HW, 4))
        colors[:] = (0.92, 0.92, 0.92, 0.25)
        colors[mask.transpose(1, 0, 2)] = (0.15, 0.4, 0.85, 0.9)
        ax.voxels(filled, facecolors=colors, edgecolor=(0.3, 0.3, 0.3, 0.3), linewidth=0.3)
        ax.set_xlabel("C (channels)", labelpad=-10)
        ax.set_ylabel("N (batch)", labelpad=-10)
        ax.set_zlabel("H, W (positions)", labelpad=-10)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.set_title(titles[kind])
        ax.view_init(elev=20, azim=-60)
    fig.suptitle("Blue: the values that share one mean and one variance", y=0.98)
    return fig


# --------------------------------------------------------------------------------------------
# Distribution shift
# --------------------------------------------------------------------------------------------


def pixel_statistics(datasets: dict[str, np.ndarray]) -> list[dict[str, float]]:
    """Mean, std, and fraction of exactly-zero pixels of each image set ``(N, C, H, W)``."""
    rows = []
    for name, X in datasets.items():
        X = np.asarray(X, dtype=np.float64)
        rows.append({"data": name, "mean": float(X.mean()), "std": float(X.std()),
                     "zero_fraction": float(np.mean(X == 0))})
    return rows


def random_patches(image: np.ndarray, n: int, size: int = 32, seed: int = 0) -> np.ndarray:
    """``n`` random ``size`` x ``size`` crops of an image ``(H, W)`` or ``(H, W, C)``.

    Returns ``(n, C, size, size)`` float32 (``C = 1`` for a grey image): a small "data set" of
    natural image patches.
    """
    img = np.asarray(image, dtype=np.float32)
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3:
        raise ValueError(f"image must have shape (H, W) or (H, W, C), got {img.shape}")
    H, W, _ = img.shape
    if size > min(H, W):
        raise ValueError(f"patch size {size} does not fit in an image of {H}x{W}")
    rng = np.random.default_rng(seed)
    ys = rng.integers(0, H - size + 1, size=n)
    xs = rng.integers(0, W - size + 1, size=n)
    patches = np.stack([img[y:y + size, x:x + size] for y, x in zip(ys, xs, strict=True)])
    return np.ascontiguousarray(patches.transpose(0, 3, 1, 2))


def plot_pixel_histograms(datasets: dict[str, np.ndarray], bins: int = 30) -> Figure:
    """Histograms of the pixel values of several image sets ``(N, C, H, W)`` in [0, 1], side by
    side on the same axes scales."""
    fig = Figure(figsize=(3.8 * len(datasets), 2.9), layout="constrained")
    axes = fig.subplots(1, len(datasets), squeeze=False, sharey=True)
    for ax, (name, X) in zip(axes[0], datasets.items(), strict=True):
        ax.hist(np.ravel(X), bins=bins, range=(0, 1), density=True, color="tab:green")
        ax.set_title(name, fontsize=10)
        ax.set(xlabel="pixel value", ylabel="density")
    fig.suptitle("pixel values: the same task, but the inputs no longer look like the "
                 "training data", fontsize=10)
    return fig


def change_contrast(X: np.ndarray, contrast: float, brightness: float) -> np.ndarray:
    """The same images with another contrast and brightness: ``contrast * X + brightness``.

    X: ``(N, C, H, W)`` float in [0, 1]. Returns float32 of X's shape, clipped to [0, 1] (a
    washed-out scan: ``contrast=0.3, brightness=0.6``).
    """
    return np.clip(contrast * np.asarray(X, dtype=np.float32) + brightness, 0, 1).astype(
        np.float32)


def _standardize_each(X: np.ndarray) -> np.ndarray:
    flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    return (flat - flat.mean(1, keepdims=True)) / (flat.std(1, keepdims=True) + 1e-8)


def covariate_shift_accuracy(train: tuple[np.ndarray, np.ndarray],
                             test: tuple[np.ndarray, np.ndarray],
                             shifted_X: np.ndarray) -> dict[str, tuple[float, float]]:
    """Accuracy of one classifier on the test set and on a shifted copy of it.

    train, test: ``(X, y)`` with ``X: (N, C, H, W)`` float and ``y: (N,)`` int labels;
    shifted_X: the test images after the shift (same labels, e.g. :func:`change_contrast`).
    The classifier is a logistic regression on the pixels (scikit-learn, deterministic),
    trained twice: on the raw pixels, and on each image standardised on its own (mean 0, std 1
    per image, the idea of layer and instance norm).
    Returns ``{"raw pixels": (test_acc, shifted_acc), "each image standardised": (...)}``.
    """
    from sklearn.linear_model import LogisticRegression

    (X_tr, y_tr), (X_te, y_te) = train, test
    inputs = {"raw pixels": lambda X: np.asarray(X, dtype=np.float64).reshape(len(X), -1),
              "each image standardised": _standardize_each}
    out = {}
    for name, prep in inputs.items():
        clf = LogisticRegression(max_iter=2000).fit(prep(X_tr), y_tr)
        out[name] = (float(clf.score(prep(X_te), y_te)), float(clf.score(prep(shifted_X), y_te)))
    return out


# --------------------------------------------------------------------------------------------
# Batch norm in a CNN
# --------------------------------------------------------------------------------------------


def digits_cnn(batch_norm: bool = False, channels: Sequence[int] = (16, 32, 32),
               num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """Small CNN for 8x8 digits: [conv3x3 -> (BN) -> ReLU] blocks, a 2x2 pool after the second,
    global average pooling and a linear classifier.

    With ``batch_norm`` every conv has no bias (BN's beta replaces it) and is followed by
    ``BatchNorm2d`` *before* the ReLU. Conv weights use He (fan-in) initialization.
    Input ``(B, in_channels, 8, 8)``, output ``(B, num_classes)``.
    """
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, c_out in enumerate(channels):
        layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
        if i == 1:
            layers.append(nn.MaxPool2d(2))
        c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    net = nn.Sequential(*layers)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):  # He (fan-in) init: a fair start for the net without BN
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
    return net


def lr_sweep(train_data: Any, val_data: Any, lrs: Sequence[float], epochs: int = 5,
             batch_size: int = 64, seed: int = 0, progress: bool = True,
             batch_norm_options: Sequence[bool] = (False, True), num_classes: int = 10
             ) -> list[dict[str, Any]]:
    """Train :func:`digits_cnn` with and without BN at each learning rate (SGD, momentum 0.9).

    Every run starts from the same seed. Returns one row per run: ``batch_norm``, ``lr``,
    ``final_train_loss``, ``final_val_acc``, ``best_val_acc``, ``diverged`` (the loss became
    NaN/inf), ``at_chance`` (final validation accuracy at most twice chance, ``2 /
    num_classes``: the net learned nothing), ``history`` (``cnnlib.train.History``, ``None``
    when training blew up) and ``model`` (the trained net, ``None`` when it blew up).
    """
    from cnnlib.train import fit  # lazily: the lesson's other helpers do not need it

    rows = []
    for bn in batch_norm_options:
        for lr in lrs:
            torch.manual_seed(seed)
            model = digits_cnn(batch_norm=bn, num_classes=num_classes)
            if progress:
                print(f"batch_norm={bn}, lr={lr:g}", flush=True)
            try:
                hist = fit(model, train_data, val_data, epochs=epochs, lr=lr, optimizer="sgd",
                           momentum=0.9, batch_size=batch_size, seed=seed, progress=progress)
            except FloatingPointError:
                rows.append({"batch_norm": bn, "lr": lr, "final_train_loss": float("nan"),
                             "final_val_acc": float("nan"), "best_val_acc": float("nan"),
                             "diverged": True, "at_chance": True, "history": None,
                             "model": None})
                continue
            loss = hist["train_loss"]
            rows.append({"batch_norm": bn, "lr": lr, "final_train_loss": loss[-1],
                         "final_val_acc": hist["val_acc"][-1],
                         "best_val_acc": max(hist["val_acc"]),
                         "diverged": not math.isfinite(loss[-1]),
                         "at_chance": not hist["val_acc"][-1] > 2.0 / num_classes,
                         "history": hist, "model": model})
    return rows


def sweep_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of :func:`lr_sweep` rows: one line per learning rate, BN off vs on."""
    lrs = sorted({r["lr"] for r in rows})
    by = {(r["batch_norm"], r["lr"]): r for r in rows}

    def cell(r: dict[str, Any] | None) -> str:
        if r is None:
            return "-"
        if r["history"] is None:
            return "diverged (NaN)"
        note = " (no better than chance)" if r["at_chance"] else ""
        return f"{r['final_val_acc']:.3f} / {r['final_train_loss']:.3f}{note}"

    lines = ["| lr | without BN: val acc / train loss | with BN: val acc / train loss |",
             "|---:|---|---|"]
    lines += [f"| {lr:g} | {cell(by.get((False, lr)))} | {cell(by.get((True, lr)))} |"
              for lr in lrs]
    return "\n".join(lines)


def plot_sweep(rows: Sequence[dict[str, Any]]) -> Figure:
    """Validation accuracy per epoch for every learning rate, without BN (left) and with BN."""
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, bn in zip(axes, (False, True), strict=True):
        for r in rows:
            if r["batch_norm"] != bn:
                continue
            if r["history"] is None:
                ax.plot([], [], "x", label=f"lr={r['lr']:g} (NaN)")
                continue
            acc = r["history"]["val_acc"]
            ax.plot(range(1, len(acc) + 1), acc, "o-", label=f"lr={r['lr']:g}")
        ax.set_title("with batch norm" if bn else "without batch norm")
        ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=8)
    fig.suptitle("the same CNN at several learning rates: with batch norm the large ones "
                 "still train", fontsize=10)
    return fig


@torch.no_grad()
def mode_mixup(model: nn.Module, X: Any, y: Any, batch_sizes: Sequence[int] = (1, 4, 32, 256)
               ) -> list[dict[str, float]]:
    """Accuracy of a trained model with BN evaluated in eval mode vs (wrongly) in train mode.

    X: ``(N, C, H, W)`` float test images, y: ``(N,)`` int labels.

    For each batch size the test set is fed in batches of that size. In eval mode BN uses its
    running averages, so the answer does not depend on the batch size; in train mode it uses
    the statistics of each batch (a copy of the model is used, so the running averages of
    ``model`` are untouched). Returns rows ``{batch_size, eval_acc, train_mode_acc}``.
    """
    X = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    device = next(model.parameters()).device
    rows = []
    for bs in batch_sizes:
        check_int("batch size", bs, 1)
        accs = {}
        for mode in ("eval", "train"):
            m = copy.deepcopy(model).to(device)
            m.train(mode == "train")
            correct = 0
            for i in range(0, len(X), bs):
                out = m(X[i:i + bs].to(device))
                correct += int((out.argmax(1).cpu() == y[i:i + bs]).sum())
            accs[mode] = correct / len(X)
        rows.append({"batch_size": int(bs), "eval_acc": accs["eval"],
                     "train_mode_acc": accs["train"]})
    return rows


@torch.no_grad()
def fold_bn_into_conv(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new ``Conv2d`` computing ``bn(conv(x))`` with ``bn`` in eval mode (running stats).

    w' = w * gamma / sqrt(running_var + eps) per output channel;
    b' = (b - running_mean) * gamma / sqrt(running_var + eps) + beta.
    """
    if not isinstance(conv, nn.Conv2d) or not isinstance(bn, nn.BatchNorm2d):
        raise TypeError("fold_bn_into_conv expects (nn.Conv2d, nn.BatchNorm2d), got "
                        f"({type(conv).__name__}, {type(bn).__name__})")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"BatchNorm2d has {bn.num_features} channels, conv outputs "
                         f"{conv.out_channels}")
    fused = copy.deepcopy(conv)
    gamma = bn.weight if bn.affine else torch.ones_like(bn.running_mean)
    beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
    scale = gamma / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight.copy_(conv.weight * scale[:, None, None, None])
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + beta)
    return fused


# --------------------------------------------------------------------------------------------
# Dropout on activation maps
# --------------------------------------------------------------------------------------------


@torch.no_grad()
def plot_dropout_maps(maps: np.ndarray, p: float = 0.5, seed: int = 0) -> Figure:
    """Activation maps ``(C, H, W)``: as they are, after ``nn.Dropout`` and after ``nn.Dropout2d``.

    ``Dropout`` zeroes single activations (neighbours still carry the same information);
    ``Dropout2d`` zeroes whole maps, which is what removes a feature from a conv layer.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (C, H, W), got {maps.shape}")
    x = torch.from_numpy(maps)[None]
    torch.manual_seed(seed)
    rows = {"activation maps": x[0],
            f"nn.Dropout(p={p:g})": nn.Dropout(p).train()(x)[0],
            f"nn.Dropout2d(p={p:g})": nn.Dropout2d(p).train()(x)[0]}
    C = maps.shape[0]
    fig = Figure(figsize=(1.6 * C, 5.2), layout="constrained")
    axes = fig.subplots(3, C, squeeze=False)
    # one grey scale per map (shared by its three versions): kept units grow by 1 / (1 - p)
    lo = np.minimum(maps.min(axis=(1, 2)), 0) / (1 - p)
    hi = np.maximum(maps.max(axis=(1, 2)), 1e-12) / (1 - p)
    for r, (name, m) in enumerate(rows.items()):
        for c in range(C):
            ax = axes[r, c]
            ax.imshow(m[c].numpy(), cmap="gray", vmin=lo[c], vmax=hi[c])
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle(f"dropout p={p:g} on {C} activation maps: nn.Dropout zeroes single values, "
                 "nn.Dropout2d whole maps", fontsize=10)
    return fig
