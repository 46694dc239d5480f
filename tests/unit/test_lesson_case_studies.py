"""cnnlib.evalviz: figures carry the right content; bad input gets a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from cnnlib import evalviz


def test_show_topk_predictions_labels_and_colors():
    images = np.random.default_rng(0).random((3, 1, 5, 5))
    probs = np.array([[0.7, 0.2], [0.6, 0.3], [0.9, 0.05]])
    idx = np.array([[1, 0], [2, 1], [0, 2]])
    fig = evalviz.show_topk_predictions(images, probs, idx, ["a", "b", "c"], labels=[1, 1, 2])
    assert isinstance(fig, Figure)
    bar_axes = [ax for ax in fig.axes if ax.patches]
    assert len(bar_axes) == 3
    assert [t.get_text() for t in bar_axes[1].get_yticklabels()] == ["c", "b"]
    green = [p for p in bar_axes[1].patches if p.get_facecolor()[:3] == (0.17254901960784313,
                                                                       0.6274509803921569,
                                                                       0.17254901960784313)]
    assert len(green) == 1 and green[0].get_width() == pytest.approx(0.3)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["true: b", "true: b", "true: c"]
    with pytest.raises(ValueError, match=r"\(N, k\)"):
        evalviz.show_topk_predictions(images, probs[:2], idx, ["a", "b", "c"])
    with pytest.raises(ValueError, match="has no name"):
        evalviz.show_topk_predictions(images, probs, idx, ["a", "b"])


def test_plot_confusion_matrix_writes_counts_and_accuracy():
    cm = np.array([[5, 1], [2, 2]])
    fig = evalviz.plot_confusion_matrix(cm, ["x", "y"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "2", "5"]
    assert "70.0%" in ax.get_title()
    with pytest.raises(ValueError, match="K = len"):
        evalviz.plot_confusion_matrix(cm, ["x"])


def test_plot_error_curves_plots_one_minus_accuracy():
    fig = evalviz.plot_error_curves({"plain-8": {"train_acc": [0.5, 0.9]},
                                     "resnet-8": {"train_acc": [0.6, 1.0]}})
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [50, 10])
    assert lines[0].get_linestyle() == "--" and lines[1].get_linestyle() == "-"
    with pytest.raises(ValueError, match="no 'train_acc'"):
        evalviz.plot_error_curves({"a": {"val_acc": [1.0]}})


def test_plot_ilsvrc_and_accuracy_vs_ops():
    fig = evalviz.plot_ilsvrc(["a", "b"], [28.2, 16.4], human=5.1)
    ax = fig.axes[0]
    assert [round(p.get_height(), 1) for p in ax.patches] == [28.2, 16.4]
    assert any(line.get_ydata()[0] == 5.1 for line in ax.get_lines())
    fig2 = evalviz.plot_accuracy_vs_ops([{"name": "A", "top1": 57, "gops": 0.7, "params_m": 61}])
    assert fig2.axes[0].texts[0].get_text() == "A"


def test_activation_maps_returns_layer_output():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 16, 2)).train()
    x = torch.randn(1, 4, 4)
    maps = evalviz.activation_maps(model, x, "1")
    expected = torch.relu(model[0](x[None]))[0].detach().numpy()
    np.testing.assert_allclose(maps, expected, rtol=1e-6)
    assert model.training
    with pytest.raises(ValueError, match="no layer"):
        evalviz.activation_maps(model, x, "nope")
    with pytest.raises(ValueError, match="conv-like"):
        evalviz.activation_maps(model, x, "3")


def test_plot_budget_draws_millions_per_layer():
    rows = [{"layer": "conv3-64", "activations": 3_211_264, "params": 1_792},
            {"layer": "fc6", "activations": 4_096, "params": 102_764_544}]
    fig = evalviz.plot_budget(rows, title="budget")
    act, par = fig.axes
    np.testing.assert_allclose([p.get_height() for p in act.patches], [3.211264, 0.004096])
    np.testing.assert_allclose([p.get_height() for p in par.patches], [0.001792, 102.764544])
    assert [t.get_text() for t in par.get_xticklabels()] == ["conv3-64", "fc6"]
    with pytest.raises(ValueError, match="empty"):
        evalviz.plot_budget([])
