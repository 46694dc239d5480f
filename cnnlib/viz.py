"""Pictures for the course: image and filter grids, activation maps, predictions, curves, and
the geometry of a convolution (a picture, an animation, an interactive explorer).

Plotting convention (all of cnnlib): every plotting function builds a new
``matplotlib.figure.Figure`` without pyplot and returns it (or an animation or widget built on
one). Nothing is shown, nothing is left in pyplot's list of open figures: a notebook displays
the returned figure once (last line of a cell, or ``display(fig)``), a script saves it with
``fig.savefig``. Single-panel drawings also take ``ax=`` to draw into a caller's Axes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from cnnlib._validate import check_int


def _figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.8),
            **subplots: Any) -> tuple[Figure, Any]:
    """A new Figure (not registered with pyplot) and its axes, as pyplot's subplots gives."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **subplots)

__all__ = [
    "show_images",
    "show_filters",
    "show_activation_maps",
    "activation_maps",
    "show_topk_predictions",
    "plot_confusion_matrix",
    "plot_signals",
    "plot_history",
    "plot_bars",
    "plot_lines",
    "draw_conv_geometry",
    "animate_convolution",
    "conv_explorer",
]


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _as_image_list(images: Any, channels: str = "auto") -> list[np.ndarray]:
    """Images as a list of ``(H, W)`` grey or ``(H, W, 3)`` colour arrays, ready for imshow.

    images: an array ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` with C in {1, 3}, or a
    list of ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` images.
    channels: where the channel axis is: ``"first"`` (NCHW / CHW), ``"last"`` (NHWC / HWC) or
    ``"auto"``. Auto decides once for a 4-D array: channels first when axis 1 has size 1 or 3
    (the course's NCHW), so a (K, 3, 3, 3) stack of 3x3 RGB filters is read as NCHW; for a list
    item, CHW only when its first axis is 1 or 3 and its last is not.
    """
    if channels not in ("auto", "first", "last"):
        raise ValueError(f"channels must be 'auto', 'first' or 'last', got {channels!r}")
    if isinstance(images, (list, tuple)):
        items = [_to_numpy(im) for im in images]
        first = [im.ndim == 3 and (channels == "first" or (
            channels == "auto" and im.shape[0] in (1, 3) and im.shape[-1] not in (1, 3)))
            for im in items]
    else:
        arr = _to_numpy(images)
        if arr.ndim not in (2, 3, 4):
            raise ValueError(
                "images must be (N, H, W), (N, 1, H, W), (N, 3, H, W) or (N, H, W, 3); "
                f"got an array of shape {arr.shape}"
            )
        items = [arr] if arr.ndim == 2 else list(arr)
        batch_first = arr.ndim == 4 and (channels == "first" or (
            channels == "auto" and arr.shape[1] in (1, 3)))
        first = [batch_first] * len(items)
    out = []
    for im, chw in zip(items, first, strict=True):
        if chw:
            im = np.moveaxis(im, 0, -1)
        if im.ndim == 3 and im.shape[-1] == 1:
            im = im[..., 0]
        if im.ndim == 2 or (im.ndim == 3 and im.shape[-1] == 3):
            out.append(im)
            continue
        raise ValueError(f"each image must be (H, W), (H, W, 3) or (3, H, W), got {im.shape}")
    return out


def _grid(
    n: int, ncols: int, cell: float = 1.6, figsize: tuple[float, float] | None = None
) -> tuple[Figure, Any]:
    if n == 0:
        raise ValueError("nothing to show: got 0 images")
    ncols = max(1, min(check_int("ncols", ncols, 1), n))
    nrows = math.ceil(n / ncols)
    fig, axes = _figure(nrows, ncols, figsize=figsize or (cell * ncols, cell * nrows + 0.3),
                        squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes.flat


def show_images(
    images: Any,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str | None = "gray",
    figsize: tuple[float, float] | None = None,
    suptitle: str | None = None,
    channels: str = "auto",
) -> Figure:
    """Show images in a grid (one panel per image, axes off).

    images: ``(N, H, W)``, ``(N, 1, H, W)``, ``(N, 3, H, W)``, ``(N, H, W, 3)``, or a list of
    ``(H, W)`` / ``(H, W, 3)`` / ``(3, H, W)`` arrays or tensors; floats are shown as they are
    (grey images scaled to their own min and max by imshow).
    titles: optional, one per image. suptitle: the figure's title: say what to look at.
    channels: ``"first"``, ``"last"`` or ``"auto"`` (see :func:`_as_image_list`).
    """
    ims = _as_image_list(images, channels)
    if titles is not None and len(titles) != len(ims):
        raise ValueError(f"got {len(titles)} titles for {len(ims)} images")
    fig, axes = _grid(len(ims), ncols, figsize=figsize)
    for i, (ax, im) in enumerate(zip(axes, ims)):
        ax.imshow(im, cmap=cmap if im.ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_filters(weights: Any, ncols: int = 8, title: str | None = None) -> Figure:
    """Show conv filters as small pictures, each rescaled to [0, 1] on its own.

    weights: ``(K, C, F, F)`` array or tensor (a conv layer's ``weight``); drawn in colour when
    C == 3 (channels in RGB order), else channel 0 in grey. Dark is a filter's most negative
    weight, bright its most positive one.
    title: the figure's title; by default it says how to read the pictures.
    """
    w = _to_numpy(weights).astype(np.float64)
    if w.ndim != 4:
        raise ValueError(f"weights must be (K, C, F, F), got shape {w.shape}")
    k, c, fh, fw = w.shape
    w = w if c == 3 else w[:, :1]
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    w = (w - lo) / np.maximum(hi - lo, 1e-12)
    if title is None:
        shown = "RGB" if c == 3 else ("channel 0 of " if c > 1 else "") + "grey"
        title = (f"{k} filters {c}x{fh}x{fw} ({shown}): dark = most negative weight, "
                 "bright = most positive")
    return show_images(w, titles=[f"#{i}" for i in range(k)], ncols=ncols, suptitle=title,
                       channels="first")


def show_activation_maps(
    maps: Any, ncols: int = 8, title: str | None = None, cmap: str = "viridis"
) -> Figure:
    """Show the activation maps of one example, one panel per channel.

    maps: ``(C, H, W)`` or ``(1, C, H, W)`` array or tensor. title: the figure's title (by
    default it says how to read the colours).
    """
    m = _to_numpy(maps)
    if m.ndim == 4 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 3:
        raise ValueError(f"maps must be (C, H, W) or (1, C, H, W), got shape {m.shape}")
    fig, axes = _grid(len(m), ncols)
    for c, (ax, im) in enumerate(zip(axes, m)):
        ax.imshow(im, cmap=cmap)
        ax.set_title(f"map {c}", fontsize=8)
    fig.suptitle(title or f"{len(m)} activation maps: bright = strong response of that filter")
    fig.tight_layout()
    return fig


def plot_signals(
    signals: Any, labels: Sequence[Any] | None = None, n: int = 5, title: str | None = None,
) -> Figure:
    """The first ``n`` 1-D signals side by side, one panel each (e.g. MNIST-1D digits).

    signals: ``(N, 1, L)`` or ``(N, L)`` array or tensor; labels: optional ``(N,)`` class of
    each, shown in the panel titles. title: the figure's title (say what to look at).
    """
    x = _to_numpy(signals)
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 2:
        raise ValueError(f"signals must be (N, L) or (N, 1, L), got shape {x.shape}")
    n = min(check_int("n", n, 1), len(x))
    fig, axes = _figure(1, n, figsize=(2.6 * n, 2.4), sharey=True, squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.plot(np.arange(x.shape[1]), x[i], lw=1.2)
        ax.set_title(f"label {labels[i]}" if labels is not None else f"signal {i}", fontsize=9)
        ax.set_xlabel("position (time step)", fontsize=8)
        ax.set_ylabel("value", fontsize=8)
    fig.suptitle(title or f"{n} signals of length {x.shape[1]}")
    fig.tight_layout()
    return fig


def _unit_range(im: np.ndarray) -> np.ndarray:
    lo, hi = float(im.min()), float(im.max())
    return (im - lo) / (hi - lo) if hi > lo else np.zeros_like(im, dtype=np.float64)


def show_topk_predictions(images: Any, probs: np.ndarray, idx: np.ndarray,
                          class_names: Sequence[str], labels: Sequence[int] | None = None,
                          ncols: int = 4) -> Figure:
    """Each image beside a bar chart of its top-k classes.

    Inputs: ``images: (N, C, H, W)`` with C in {1, 3} (or ``(N, H, W)``), each shown rescaled
    to [0, 1]; ``probs, idx: (N, k)`` from :func:`cnnlib.train.predict_topk`;
    ``class_names[i]`` names class ``i``; ``labels: (N,)`` true classes (optional): the bar of
    the true class is green, others grey, and the image's title says the truth.
    """
    ims = [_unit_range(im.astype(np.float64)) for im in _as_image_list(images)]
    probs, idx = np.asarray(probs), np.asarray(idx)
    if probs.shape != idx.shape or probs.ndim != 2 or len(probs) != len(ims):
        raise ValueError(f"probs and idx must both be (N, k) with N = len(images) = {len(ims)}; "
                         f"got {probs.shape} and {idx.shape}")
    if idx.size and int(idx.max()) >= len(class_names):
        raise ValueError(f"class index {int(idx.max())} has no name ({len(class_names)} names)")
    n, k = probs.shape
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig = Figure(figsize=(3.2 * ncols, 1.6 * nrows + 0.2 * k * nrows))
    gs = fig.add_gridspec(nrows, 2 * ncols, width_ratios=[1, 1.3] * ncols)
    for i, img in enumerate(ims):
        r, c = divmod(i, ncols)
        ax_img = fig.add_subplot(gs[r, 2 * c])
        ax_img.imshow(img, cmap="gray" if img.ndim == 2 else None)
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
    """Heat map of ``cm: (K, K)`` int counts (row = true class, column = predicted, as from
    :func:`cnnlib.train.confusion_matrix`), each cell's count written in.

    ``normalize=True`` divides each row by its total (per-class recall on the diagonal).
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"cm must be (K, K) with K = len(class_names) = {len(class_names)}, "
                         f"got {cm.shape}")
    shown = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalize else cm
    k = cm.shape[0]
    fig, ax = _figure(figsize=(1.0 + 0.5 * k, 0.8 + 0.5 * k))
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


def activation_maps(model: Any, x: Any, layer: Any) -> np.ndarray:
    """Output of ``layer`` (a module of ``model`` or its dotted name, e.g. ``"features.2"``)
    for one image ``x: (C, H, W)``, computed in eval mode on the model's device.

    Returns ``(C_out, H_out, W_out)`` float32, ready for :func:`show_activation_maps`.
    """
    import torch

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
        with torch.no_grad():
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


def plot_history(
    history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Sequence[float]]],
    keys: Sequence[str] | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Figure:
    """Loss curves (left) and accuracy curves (right) per epoch.

    history: a dict of lists (``train_loss``, ``val_loss``, ``train_acc``, ``val_acc``, ...) or a
    list of such dicts, labelled by ``labels``. title: the figure's title (a generic one by
    default).
    """
    runs = [history] if isinstance(history, Mapping) else list(history)
    if not runs:
        raise ValueError("plot_history needs at least one history")
    if labels is None:
        labels = [""] * len(runs) if len(runs) == 1 else [f"run {i}" for i in range(len(runs))]
    if len(labels) != len(runs):
        raise ValueError(f"got {len(labels)} labels for {len(runs)} histories")
    all_keys = keys or sorted({k for r in runs for k, v in r.items() if _is_curve(v)})
    loss_keys = [k for k in all_keys if "loss" in k]
    acc_keys = [k for k in all_keys if "acc" in k]
    groups = [g for g in (loss_keys, acc_keys) if g] or [list(all_keys)]
    fig, axes = _figure(1, len(groups), figsize=(5.5 * len(groups), 3.6), squeeze=False)
    for ax, group in zip(axes.flat, groups):
        for run, label in zip(runs, labels):
            for k in group:
                if k in run and _is_curve(run[k]):
                    ys = list(run[k])
                    ax.plot(range(1, len(ys) + 1), ys, marker="o", ms=3,
                            label=f"{label} {k}".strip())
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if group is loss_keys else "accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "training curves: the loss should fall and the accuracy rise")
    fig.tight_layout()
    return fig


def _is_curve(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray)) and len(v) > 0 and np.isscalar(v[0])


def plot_bars(
    labels: Sequence[str],
    values: Sequence[float],
    title: str = "",
    ylabel: str = "",
    log: bool = False,
    annotate: bool = True,
    xlabel: str = "",
) -> Figure:
    """A bar chart: one bar per label, its value written on top.

    labels, values: one per bar. title, xlabel (what the bars are), ylabel (what their height
    means): give all three. log: a log scale for counts spanning orders of magnitude.
    """
    if len(labels) != len(values):
        raise ValueError(f"got {len(labels)} labels for {len(values)} values")
    fig, ax = _figure(figsize=(max(4.0, 1.2 * len(labels)), 3.6))
    bars = ax.bar([str(lb) for lb in labels], values, color="tab:blue")
    if log:
        ax.set_yscale("log")
    if annotate:
        for b, v in zip(bars, values):
            ax.annotate(f"{v:,.4g}" if isinstance(v, float) else f"{v:,}",
                        (b.get_x() + b.get_width() / 2, b.get_height()),
                        ha="center", va="bottom", fontsize=8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.tick_params(axis="x", rotation=20)
    fig.tight_layout()
    return fig


def plot_lines(
    x: Sequence[float],
    ys: Mapping[str, Sequence[float]],
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    logy: bool = False,
) -> Figure:
    """Several named curves over the same x: ``x: (n,)`` values, ``ys: name -> (n,)`` values."""
    fig, ax = _figure(figsize=(5.5, 3.6))
    for name, y in ys.items():
        if len(y) != len(x):
            raise ValueError(f"curve {name!r} has {len(y)} points for {len(x)} x values")
        ax.plot(x, y, marker="o", ms=3, label=name)
    if logy:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Convolution geometry
# --------------------------------------------------------------------------------------------


def _geometry(n: int, f: int, stride: int, pad: int, dilation: int) -> tuple[int | None, str]:
    """Output size (or None) and the line of arithmetic that explains it (arith's full message
    when the configuration does not fit)."""
    from cnnlib import arith

    eff = dilation * (f - 1) + 1
    fsym = f"{f}" if dilation == 1 else f"{eff} (F={f}, dilation {dilation})"
    try:
        out = arith.conv_output_size(n, f, stride=stride, pad=pad, dilation=dilation)
    except ValueError as exc:
        return None, str(exc)
    return out, f"({n} - {fsym} + 2*{pad})/{stride} + 1 = {out}"


def _short(text: str) -> str:
    """First clause of a does-not-fit message, short enough for a figure title."""
    head = text.split(":")[0].split(" (padded")[0]
    return head if "does not fit" in head else head + ": does not fit"


def _draw_grid(ax: Axes, x0: float, size: int, pad: int, label: str) -> None:
    total = size + 2 * pad
    for i in range(total):
        for j in range(total):
            is_pad = i < pad or j < pad or i >= size + pad or j >= size + pad
            ax.add_patch(Rectangle((x0 + j, total - 1 - i), 1, 1, facecolor="#dddddd" if is_pad
                                   else "white", edgecolor="#888888", lw=0.6))
    ax.text(x0 + total / 2, total + 0.4, label, ha="center", va="bottom", fontsize=10)


def _draw_taps(ax: Axes, x0: float, total: int, row: int, col: int, f: int, dilation: int,
               color: str, alpha: float = 0.45) -> list[Rectangle]:
    patches = []
    for a in range(f):
        for b in range(f):
            i, j = row + a * dilation, col + b * dilation
            p = Rectangle((x0 + j, total - 1 - i), 1, 1, facecolor=color, alpha=alpha,
                          edgecolor=color, lw=1.2)
            ax.add_patch(p)
            patches.append(p)
    return patches


def draw_conv_geometry(
    n: int, f: int, stride: int = 1, pad: int = 0, dilation: int = 1, ax: Axes | None = None
) -> Figure:
    """Picture of one conv layer along one spatial axis pair (square input).

    Shows the padded n x n input (padding shaded), the first kernel window (orange) and the
    second one, one stride to the right (blue; dilation shows spaced taps), the output grid, and
    the output-size arithmetic in the title (or why the configuration does not fit).

    ax: draw into this Axes (its figure is returned and left open); default a new figure.
    Raises ValueError only when the filter is wider than the padded input (nothing to draw).
    """
    from cnnlib import arith

    arith.conv_output_size(n, f, stride, pad, dilation, allow_floor=True)  # validates the ints
    out, text = _geometry(n, f, stride, pad, dilation)
    total = n + 2 * pad
    own = ax is None
    if ax is None:
        fig, ax = _figure(figsize=(6.5, 3.6))
    else:
        fig = ax.figure
    _draw_grid(ax, 0, n, pad, f"input {n}x{n}, pad {pad}")
    _draw_taps(ax, 0, total, 0, 0, f, dilation, "tab:orange")
    if (dilation * (f - 1) + 1) + stride <= total:
        _draw_taps(ax, 0, total, 0, stride, f, dilation, "tab:blue", alpha=0.3)
    if out is not None:
        x0 = total + 2
        off = (total - out) / 2
        for i in range(out):
            for j in range(out):
                first = i == 0 and j <= 1 and (j == 0 or out > 1)
                color = ("tab:orange" if j == 0 else "tab:blue") if first else "white"
                ax.add_patch(Rectangle((x0 + j, off + out - 1 - i), 1, 1, facecolor=color,
                                       alpha=0.6 if first else 1, edgecolor="#888888", lw=0.6))
        ax.text(x0 + out / 2, off + out + 0.4, f"output {out}x{out}", ha="center", fontsize=10)
        ax.set_xlim(-0.5, x0 + out + 0.5)
    else:
        ax.set_xlim(-0.5, total + 0.5)
    ax.set_ylim(-0.5, total + 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    title = text if out is not None else _short(text)
    ax.set_title(f"F={f}, S={stride}, P={pad}, dilation={dilation}:  {title}", fontsize=10)
    if own:  # a caller's figure is theirs to lay out
        fig.tight_layout()
    return fig


def animate_convolution(
    n: int = 5, f: int = 3, stride: int = 1, pad: int = 1, dilation: int = 1, interval: int = 500
) -> animation.FuncAnimation:
    """A kernel sliding over the padded input, filling the output one position per frame.

    n: input width and height; f: filter size; interval: milliseconds per frame.
    One frame per output position, (H' * W') frames in row-major order. Show it in a notebook
    with ``IPython.display.HTML(anim.to_jshtml())``. Raises ValueError (from
    ``arith.conv_output_size``) when the configuration does not fit.
    """
    from cnnlib import arith

    out = arith.conv_output_size(n, f, stride, pad, dilation)
    total = n + 2 * pad
    fig, ax = _figure(figsize=(6.5, 3.6))
    _draw_grid(ax, 0, n, pad, f"input {n}x{n}, pad {pad}")
    x0, off = total + 2, (total - out) / 2
    cells = {}
    for i in range(out):
        for j in range(out):
            r = Rectangle((x0 + j, off + out - 1 - i), 1, 1, facecolor="white",
                          edgecolor="#888888", lw=0.6)
            ax.add_patch(r)
            cells[i, j] = r
    ax.text(x0 + out / 2, off + out + 0.4, f"output {out}x{out}", ha="center", fontsize=10)
    ax.set_xlim(-0.5, x0 + out + 0.5)
    ax.set_ylim(-0.5, total + 1.5)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(f"F={f}, stride {stride}, pad {pad}, dilation {dilation}", fontsize=10)
    taps: list = []
    positions = [(i, j) for i in range(out) for j in range(out)]

    def update(k: int):
        for p in taps:
            p.remove()
        taps.clear()
        i, j = positions[k]
        taps.extend(_draw_taps(ax, 0, total, i * stride, j * stride, f, dilation, "tab:orange"))
        for (a, b), r in cells.items():
            r.set_facecolor("tab:orange" if (a, b) == (i, j) else
                            ("#f6c89f" if a * out + b < k else "white"))
        return taps

    anim = animation.FuncAnimation(fig, update, frames=len(positions), interval=interval,
                                   blit=False, repeat=True)
    return anim


def conv_explorer(
    n: int = 7, f: int = 3, stride: int = 1, pad: int = 0, dilation: int = 1
) -> Any:
    """Interactive explorer: sliders for N, F, S, P and dilation redraw the geometry picture and
    show the output size, or why the configuration does not fit.

    Returns an ``ipywidgets.VBox`` with attributes ``sliders`` (dict by name) and
    ``result_label`` (an ``ipywidgets.HTML``) so it can be driven from code.
    """
    import ipywidgets as widgets
    from IPython.display import display

    sliders = {
        "N": widgets.IntSlider(value=n, min=1, max=32, description="N (input)"),
        "F": widgets.IntSlider(value=f, min=1, max=11, description="F (filter)"),
        "S": widgets.IntSlider(value=stride, min=1, max=5, description="S (stride)"),
        "P": widgets.IntSlider(value=pad, min=0, max=5, description="P (pad)"),
        "dilation": widgets.IntSlider(value=dilation, min=1, max=4, description="dilation"),
    }
    label = widgets.HTML()
    picture = widgets.Output()

    def redraw(_change: Any = None) -> None:
        v = {k: s.value for k, s in sliders.items()}
        out, text = _geometry(v["N"], v["F"], v["S"], v["P"], v["dilation"])
        label.value = (f"<b>output size: {out}</b> &nbsp; {html.escape(text)}" if out is not None
                       else f"<b style='color:#b00'>{html.escape(text)}</b>")
        picture.clear_output(wait=True)
        with picture:
            if (v["dilation"] * (v["F"] - 1) + 1) <= v["N"] + 2 * v["P"]:
                display(draw_conv_geometry(v["N"], v["F"], v["S"], v["P"], v["dilation"]))

    for s in sliders.values():
        s.observe(redraw, names="value")
    box = widgets.VBox([widgets.HBox(list(sliders.values())[:3]),
                        widgets.HBox(list(sliders.values())[3:]), label, picture])
    box.sliders = sliders
    box.result_label = label
    redraw()
    return box
