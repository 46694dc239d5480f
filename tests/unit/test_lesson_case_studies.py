"""cnnlib.lessons.case_studies: the charts carry the right content; bad input gets a clear
error."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlib.lessons import case_studies as lesson


def test_plot_error_curves_plots_one_minus_accuracy():
    fig = lesson.plot_error_curves({"plain-8": {"train_acc": [0.5, 0.9]},
                                     "resnet-8": {"train_acc": [0.6, 1.0]}})
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), [50, 10])
    assert lines[0].get_linestyle() == "--" and lines[1].get_linestyle() == "-"
    with pytest.raises(ValueError, match="no 'train_acc'"):
        lesson.plot_error_curves({"a": {"val_acc": [1.0]}})


def test_plot_ilsvrc_and_accuracy_vs_ops():
    fig = lesson.plot_ilsvrc(["a", "b"], [28.2, 16.4], human=5.1)
    ax = fig.axes[0]
    assert [round(p.get_height(), 1) for p in ax.patches] == [28.2, 16.4]
    assert any(line.get_ydata()[0] == 5.1 for line in ax.get_lines())
    fig2 = lesson.plot_accuracy_vs_ops([{"name": "A", "top1": 57, "gops": 0.7, "params_m": 61}])
    assert fig2.axes[0].texts[0].get_text() == "A"


def test_plot_budget_draws_millions_per_layer():
    rows = [{"layer": "conv3-64", "activations": 3_211_264, "params": 1_792},
            {"layer": "fc6", "activations": 4_096, "params": 102_764_544}]
    fig = lesson.plot_budget(rows, title="budget")
    act, par = fig.axes
    np.testing.assert_allclose([p.get_height() for p in act.patches], [3.211264, 0.004096])
    np.testing.assert_allclose([p.get_height() for p in par.patches], [0.001792, 102.764544])
    assert [t.get_text() for t in par.get_xticklabels()] == ["conv3-64", "fc6"]
    with pytest.raises(ValueError, match="empty"):
        lesson.plot_budget([])
