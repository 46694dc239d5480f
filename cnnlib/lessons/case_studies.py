"""Helpers of notebook 5, case studies: the charts that compare architectures.

- :func:`plot_ilsvrc`            ImageNet challenge top-5 error by year, with the human level
- :func:`plot_budget`            activations and parameters per layer of a VGG budget
- :func:`plot_error_curves`      training (or validation) error per epoch, plain vs residual
- :func:`plot_accuracy_vs_ops`   accuracy against operations, bubble area ~ parameters

Predictions, confusion matrices and activation maps of a trained net are tools of
:mod:`cnnlib.viz`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_budget", "plot_error_curves", "plot_ilsvrc", "plot_accuracy_vs_ops"]


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
