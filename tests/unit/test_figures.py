"""Every figure cnnlib draws has a title that says what to look at and labelled axes on every
chart panel (issue 13), checked with the same rule the notebook tests apply to every figure a
notebook displays (``nbrun.figure_problems``)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure
from nbrun import figure_problems

from cnnlib import activations, evalviz, graph, norm, viz

RNG = np.random.default_rng(0)
HIST = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "train_acc": [0.5, 0.8],
        "val_acc": [0.4, 0.7]}
SWEEP = [{"batch_norm": bn, "lr": lr, "history": None if lr > 1 else HIST}
         for bn in (False, True) for lr in (0.1, 10.0)]

FIGURES = {
    "viz.show_images": lambda: viz.show_images(RNG.random((3, 8, 8)), suptitle="three images"),
    "viz.show_filters": lambda: viz.show_filters(RNG.normal(size=(4, 3, 3, 3))),
    "viz.show_activation_maps": lambda: viz.show_activation_maps(RNG.random((4, 6, 6))),
    "viz.plot_signals": lambda: viz.plot_signals(RNG.normal(size=(3, 1, 40)), [1, 2, 3]),
    "viz.plot_history": lambda: viz.plot_history(HIST),
    "viz.plot_bars": lambda: viz.plot_bars(["a", "b"], [1, 2], "t", "y", xlabel="x"),
    "viz.plot_lines": lambda: viz.plot_lines([1, 2], {"a": [1, 2]}, "t", "x", "y"),
    "viz.draw_conv_geometry": lambda: viz.draw_conv_geometry(7, 3, 2, 1),
    "activations.plot_activations": lambda: activations.plot_activations(),
    "activations.plot_activation_histograms": lambda: activations.plot_activation_histograms(
        [RNG.random((20, 5))] * 2, "sigmoid"),
    "activations.plot_dead_relu": lambda: activations.plot_dead_relu({0.0: 0.04, 1.0: 0.3}),
    "graph.draw_circuit_xyz": lambda: graph.draw_circuit_xyz(),
    "graph.draw_gate_patterns": lambda: graph.draw_gate_patterns(),
    "graph.draw_sigmoid_neuron": lambda: graph.draw_sigmoid_neuron(),
    "norm.plot_activation_statistics": lambda: norm.plot_activation_statistics(
        [norm.activation_statistics(s, "tanh", depth=3, width=16, n_samples=32)
         for s in ("xavier", "he")]),
    "norm.draw_norm_axes": lambda: norm.draw_norm_axes(),
    "norm.plot_pixel_histograms": lambda: norm.plot_pixel_histograms(
        {"a": RNG.random((4, 1, 8, 8)), "b": RNG.random((4, 1, 8, 8))}),
    "norm.plot_sweep": lambda: norm.plot_sweep(SWEEP),
    "norm.plot_dropout_maps": lambda: norm.plot_dropout_maps(RNG.random((3, 6, 6))),
    "evalviz.show_topk_predictions": lambda: evalviz.show_topk_predictions(
        RNG.random((2, 1, 8, 8)), np.array([[0.7, 0.3], [0.6, 0.4]]),
        np.array([[0, 1], [1, 0]]), ["a", "b"], labels=[0, 0]),
    "evalviz.plot_confusion_matrix": lambda: evalviz.plot_confusion_matrix(
        np.array([[3, 1], [0, 4]]), ["a", "b"]),
    "evalviz.plot_error_curves": lambda: evalviz.plot_error_curves({"plain-8": HIST}),
    "evalviz.plot_ilsvrc": lambda: evalviz.plot_ilsvrc(["2012 AlexNet", "2015 ResNet"],
                                                       [16.4, 3.57], depths=[8, 152]),
    "evalviz.plot_accuracy_vs_ops": lambda: evalviz.plot_accuracy_vs_ops(
        [{"name": "a", "top1": 70.0, "gops": 1.0, "params_m": 5}]),
    "evalviz.plot_budget": lambda: evalviz.plot_budget(
        [{"layer": "conv", "activations": 3e6, "params": 1792},
         {"layer": "fc", "activations": 4096, "params": 1e8}]),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_has_a_title_and_labelled_axes(name: str) -> None:
    fig = FIGURES[name]()
    assert isinstance(fig, Figure)
    assert figure_problems(fig) == []


def test_figure_problems_names_what_is_missing() -> None:
    fig = Figure()
    a, b = fig.subplots(1, 2)
    a.plot([1, 2])
    b.imshow(np.zeros((2, 2)))
    b.axis("off")
    assert figure_problems(fig) == ["no title (a figure title, or the title of its only panel)",
                                    "'panel 0': no x and no y axis label"]
    a.set(xlabel="epoch", ylabel="loss")
    fig.suptitle("loss")
    assert figure_problems(fig) == []


def test_ilsvrc_numbers_are_single_lines_and_depths_sit_in_the_tick_labels() -> None:
    # a two-line "3.57 / 152 layers" note above a bar just under the human line was crossed by it
    fig = evalviz.plot_ilsvrc(["2014 VGG", "2015 ResNet"], [7.3, 3.57], human=5.1,
                              depths=[19, 152])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["7.3", "3.57"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2014\nVGG\n19 layers",
                                                             "2015\nResNet\n152 layers"]


def test_activation_statistics_ticks_do_not_crowd_tiny_ranges() -> None:
    stats = [norm.activation_statistics("small", "relu", depth=6, width=16, n_samples=32)]
    fig = norm.plot_activation_statistics(stats)
    for ax in fig.axes[1:]:
        lo, hi = ax.get_xlim()
        assert len([t for t in ax.get_xticks() if lo <= t <= hi]) <= 4


def test_norm_cubes_label_every_axis_in_words() -> None:
    fig = norm.draw_norm_axes()
    labels = {(ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()) for ax in fig.axes}
    assert labels == {("C (channels)", "N (batch)", "H, W (positions)")}
