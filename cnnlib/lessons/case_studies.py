"""Pictures of what a trained classifier does, and of how architectures compare.

All plotting functions return a matplotlib ``Figure`` (never ``plt.show()``), so a notebook
cell displays it and a test can inspect it.

- :func:`show_topk_predictions`  test images with their top-k classes and probabilities
- :func:`plot_confusion_matrix`  counts of (true, predicted) classes
- :func:`plot_error_curves`      training (or validation) error per epoch of several runs
- :func:`plot_ilsvrc`            ImageNet challenge top-5 error by year, with the human line
- :func:`plot_accuracy_vs_ops`   accuracy against operations, bubble area ~ parameters
- :func:`activation_maps`        the output of one layer for one image, via a forward hook
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

__all__ = [
    "show_topk_predictions",
    "plot_confusion_matrix",
    "plot_budget",
    "plot_error_curves",
    "plot_ilsvrc",
    "plot_accuracy_vs_ops",
    "activation_maps",
]


def _image_for_display(img: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``(C, H, W)`` or ``(H, W)`` -> something ``imshow`` takes, with a colormap for gray."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3 and img.shape[0] in (1, 3):
        img = img[0] if img.shape[0] == 1 else np.transpose(img, (1, 2, 0))
    if img.ndim not in (2, 3):
        raise ValueError(f"an image must be (C, H, W) with C in (1, 3) or (H, W), got {img.shape}")
    lo, hi = float(img.min()), float(img.max())
    img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    return img, ("gray" if img.ndim == 2 else None)


def show_topk_predictions(images: Any, probs: np.ndarray, idx: np.ndarray,
                          class_names: Sequence[str], labels: Sequence[int] | None = None,
                          ncols: int = 4) -> Figure:
    """Each image beside a bar chart of its top-k classes.

    Inputs: ``images: (N, C, H, W)`` (or ``(N, H, W)``); ``probs, idx: (N, k)`` from
    :func:`cnnlib.train.predict_topk`; ``class_names[i]`` names class ``i``; ``labels: (N,)``
    true classes (optional): the bar of the true class is green, others gray, and the title
    says the truth.
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    images = np.asarray(images)
    probs, idx = np.asarray(probs), np.asarray(idx)
    if probs.shape != idx.shape or probs.ndim != 2 or len(probs) != len(images):
        raise ValueError(f"probs and idx must both be (N, k) with N = len(images) = {len(images)}; "
                         f"got {probs.shape} and {idx.shape}")
    if idx.size and int(idx.max()) >= len(class_names):
        raise ValueError(f"class index {int(idx.max())} has no name ({len(class_names)} names)")
    n, k = probs.shape
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(3.2 * ncols, 1.6 * nrows + 0.2 * k * nrows))
    gs = fig.add_gridspec(nrows, 2 * ncols, width_ratios=[1, 1.3] * ncols)
    for i in range(n):
        r, c = divmod(i, ncols)
        ax_img = fig.add_subplot(gs[r, 2 * c])
        img, cmap = _image_for_display(images[i])
        ax_img.imshow(img, cmap=cmap)
        ax_img.set_axis_off()
        if labels is not None:
            ok = int(idx[i, 0]) == int(labels[i])
            ax_img.set_title(f"true: {class_names[int(labels[i])]}", fontsize=8,
                             color="green" if ok else "red")
        ax_bar = fig.add_subplot(gs[r, 2 * c + 1])
        colors = ["tab:green" if labels is not None and int(j) == int(labels[i]) else "tab:gray"
                  for j in idx[i]]
        ax_bar.barh(range(k)[::-1], probs[i], color=colors)
        ax_bar.set_yticks(range(k)[::-1])
        ax_bar.set_yticklabels([str(class_names[int(j)]) for j in idx[i]], fontsize=8)
        ax_bar.set_xlim(0, 1)
        ax_bar.set_xlabel("probability", fontsize=7)
        ax_bar.set_ylabel(f"top-{k} classes", fontsize=7)
        ax_bar.tick_params(axis="x", labelsize=7)
    fig.suptitle(f"top-{k} predictions: green bar = the true class" if labels is not None
                 else f"top-{k} predictions")
    fig.tight_layout()
    return fig


def plot_confusion_matrix(cm: np.ndarray, class_names: Sequence[str],
                          normalize: bool = False) -> Figure:
    """Heat map of ``cm: (K, K)`` (row = true class, column = predicted), counts written in.

    ``normalize=True`` divides each row by its total (per-class recall on the diagonal).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"cm must be (K, K) with K = len(class_names) = {len(class_names)}, "
                         f"got {cm.shape}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    k = cm.shape[0]
    fig = Figure(figsize=(1.0 + 0.5 * k, 0.8 + 0.5 * k))
    ax = fig.add_subplot()
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xticks(range(k), [str(c) for c in class_names], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(c) for c in class_names])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    thresh = shown.max() / 2 if shown.size else 0
    for i in range(k):
        for j in range(k):
            txt = f"{shown[i, j]:.2f}" if normalize else str(int(cm[i, j]))
            ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                    color="white" if shown[i, j] > thresh else "black")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"confusion matrix (accuracy {acc:.1%})")
    fig.tight_layout()
    return fig


def plot_budget(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Activations (left) and parameters (right) per layer, in millions, as bar charts.

    rows: dicts with ``layer``, ``activations`` and ``params`` (a VGG budget, one per layer).
    """
    if not rows:
        raise ValueError("rows is empty")
    names = [str(r["layer"]) for r in rows]
    fig = Figure(figsize=(12, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, key, color in zip(axes, ("activations", "params"), ("tab:blue", "tab:orange"),
                              strict=True):
        ax.bar(range(len(rows)), [r[key] / 1e6 for r in rows], color=color)
        ax.set_xticks(range(len(rows)), names, rotation=90, fontsize=7)
        ax.set_xlabel("layer")
        ax.set_ylabel(f"{'activations per image' if key == 'activations' else 'parameters'} "
                      "(millions)")
        ax.set_title("activations (memory per image)" if key == "activations" else "parameters")
    fig.suptitle(title or "where the memory and the parameters are")
    return fig


def plot_error_curves(histories: Mapping[str, Mapping[str, Sequence[float]]],
                      key: str = "train_acc", title: str = "training error") -> Figure:
    """Error (1 - accuracy) per epoch, one line per run: ``{"plain-32": history, ...}``.

    Runs whose name contains "plain" are dashed, so plain/residual pairs read at a glance.
    """
    if not histories:
        raise ValueError("histories is empty")
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, h in histories.items():
        if key not in h:
            raise ValueError(f"history {name!r} has no {key!r} (keys: {sorted(h)})")
        err = 100 * (1 - np.asarray(h[key], dtype=float))
        ax.plot(np.arange(1, len(err) + 1), err, "--" if "plain" in name.lower() else "-",
                marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("error (%)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_ilsvrc(labels: Sequence[str], top5_error: Sequence[float], human: float | None = 5.1,
                depths: Sequence[int | None] | None = None) -> Figure:
    """Bar chart of ILSVRC top-5 error (%) per winner, with a dashed line at human error."""
    if len(labels) != len(top5_error):
        raise ValueError("labels and top5_error must have the same length")
    fig = Figure(figsize=(9, 4.2))
    ax = fig.add_subplot()
    bars = ax.bar(range(len(labels)), top5_error, color="tab:blue")
    for b, e in zip(bars, top5_error, strict=True):
        ax.annotate(f"{e:g}", (b.get_x() + b.get_width() / 2, e), ha="center", va="bottom",
                    fontsize=8)
    if human is not None:
        # drawn under the bars' numbers, and the depths live in the tick labels: a two-line
        # note on a bar just below the human level ("3.57 / 152 layers") was crossed by it
        ax.axhline(human, color="tab:red", ls="--", lw=1, zorder=0,
                   label=f"human (about {human:g}%)")
        ax.legend()
    # "2012 AlexNet" -> year, name and depth on lines of their own: no rotated labels to overlap
    ticks = [str(lb).replace(" ", "\n", 1) + (f"\n{depths[i]} layers" if depths and depths[i]
                                               else "") for i, lb in enumerate(labels)]
    ax.set_xticks(range(len(labels)), ticks, fontsize=8)
    ax.set_xlabel("year and winner (depth in layers)")
    ax.set_ylabel("top-5 error (%)")
    ax.set_title("ImageNet (ILSVRC) winners: the error fell below the human level in 2015")
    fig.tight_layout()
    return fig


def plot_accuracy_vs_ops(rows: Sequence[Mapping[str, Any]], acc_key: str = "top1",
                         ops_key: str = "gops", params_key: str = "params_m") -> Figure:
    """Accuracy (%) against operations (G-ops per image); bubble area ~ parameters (M).

    ``rows``: dicts with ``name`` and the three keys, e.g. one row per network of Canziani et
    al. 2017.
    """
    if not rows:
        raise ValueError("rows is empty")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    for r in rows:
        ax.scatter(r[ops_key], r[acc_key], s=8 * float(r[params_key]) + 10, alpha=0.5)
        ax.annotate(str(r["name"]), (r[ops_key], r[acc_key]), fontsize=8,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("operations per image (G-ops)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("accuracy vs operations (bubble area ~ parameters)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@torch.no_grad()
def activation_maps(model: nn.Module, x: Any, layer: str | nn.Module) -> np.ndarray:
    """Output of ``layer`` (a module or its dotted name) for one image ``x: (C, H, W)``.

    Returns ``(C_out, H_out, W_out)`` float32, computed in eval mode on the model's device.
    """
    if isinstance(layer, str):
        modules = dict(model.named_modules())
        if layer not in modules:
            raise ValueError(f"model has no layer {layer!r}; some names: {list(modules)[1:8]}")
        layer = modules[layer]
    x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if x.ndim != 3:
        raise ValueError(f"x must be one image (C, H, W), got shape {tuple(x.shape)}")
    param = next(model.parameters(), None)
    dev = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    grabbed: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda m, i, o: grabbed.append(o.detach()))
    was_training = model.training
    model.eval()
    try:
        model(x[None].to(dev, dtype))
    finally:
        handle.remove()
        model.train(was_training)
    if not grabbed:
        raise ValueError("the layer was not called in the forward pass")
    out = grabbed[0]
    if out.ndim != 4:
        raise ValueError(f"layer output has shape {tuple(out.shape)}; pick a conv-like layer")
    return out[0].float().cpu().numpy()
