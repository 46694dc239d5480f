"""Every figure cnnlib draws follows the library's plotting convention (a new Figure built
without pyplot, returned, never shown) and has a title that says what to look at and labelled
axes on every chart panel, by the same rule the notebook tests apply to every figure a notebook
displays (``nbrun.figure_problems``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from nbrun import figure_problems

from cnnlib import viz
from cnnlib.lessons import backprop, case_studies, normalization

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
    "backprop.plot_activations": lambda: backprop.plot_activations(),
    "backprop.plot_activation_histograms": lambda: backprop.plot_activation_histograms(
        [RNG.random((20, 5))] * 2, "sigmoid"),
    "backprop.plot_dead_relu": lambda: backprop.plot_dead_relu({0.0: 0.04, 1.0: 0.3}),
    "backprop.draw_circuit_xyz": lambda: backprop.draw_circuit_xyz(),
    "backprop.draw_gate_patterns": lambda: backprop.draw_gate_patterns(),
    "backprop.draw_sigmoid_neuron": lambda: backprop.draw_sigmoid_neuron(),
    "normalization.plot_activation_statistics": lambda: normalization.plot_activation_statistics(
        [normalization.activation_statistics(s, "tanh", depth=3, width=16, n_samples=32)
         for s in ("xavier", "he")]),
    "normalization.draw_norm_axes": lambda: normalization.draw_norm_axes(),
    "normalization.plot_pixel_histograms": lambda: normalization.plot_pixel_histograms(
        {"a": RNG.random((4, 1, 8, 8)), "b": RNG.random((4, 1, 8, 8))}),
    "normalization.plot_sweep": lambda: normalization.plot_sweep(SWEEP),
    "normalization.plot_dropout_maps": lambda: normalization.plot_dropout_maps(
        RNG.random((3, 6, 6))),
    "viz.show_topk_predictions": lambda: viz.show_topk_predictions(
        RNG.random((2, 1, 8, 8)), np.array([[0.7, 0.3], [0.6, 0.4]]),
        np.array([[0, 1], [1, 0]]), ["a", "b"], labels=[0, 0]),
    "viz.plot_confusion_matrix": lambda: viz.plot_confusion_matrix(
        np.array([[3, 1], [0, 4]]), ["a", "b"]),
    "case_studies.plot_error_curves": lambda: case_studies.plot_error_curves({"plain-8": HIST}),
    "case_studies.plot_ilsvrc": lambda: case_studies.plot_ilsvrc(["2012 AlexNet", "2015 ResNet"],
                                                       [16.4, 3.57], depths=[8, 152]),
    "case_studies.plot_accuracy_vs_ops": lambda: case_studies.plot_accuracy_vs_ops(
        [{"name": "a", "top1": 70.0, "gops": 1.0, "params_m": 5}]),
    "case_studies.plot_budget": lambda: case_studies.plot_budget(
        [{"layer": "conv", "activations": 3e6, "params": 1792},
         {"layer": "fc", "activations": 4096, "params": 1e8}]),
}


@pytest.mark.parametrize("name", list(FIGURES))
def test_figure_has_a_title_and_labelled_axes(name: str) -> None:
    before = plt.get_fignums()
    fig = FIGURES[name]()
    assert isinstance(fig, Figure)
    # the convention: built without pyplot, so nothing is left open or shown twice
    assert fig.canvas.manager is None and plt.get_fignums() == before
    assert figure_problems(fig) == []


@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")
def test_animation_and_explorer_follow_the_convention() -> None:
    before = plt.get_fignums()
    anim = viz.animate_convolution(5, 3, 2, 1)
    assert isinstance(anim._fig, Figure) and anim._fig.canvas.manager is None
    assert "<img" in anim.to_jshtml()  # renders without pyplot
    viz.conv_explorer(n=7, f=3)
    assert plt.get_fignums() == before


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
    fig = case_studies.plot_ilsvrc(["2014 VGG", "2015 ResNet"], [7.3, 3.57], human=5.1,
                              depths=[19, 152])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["7.3", "3.57"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2014\nVGG\n19 layers",
                                                             "2015\nResNet\n152 layers"]


def test_activation_statistics_ticks_do_not_crowd_tiny_ranges() -> None:
    stats = [normalization.activation_statistics("small", "relu", depth=6, width=16, n_samples=32)]
    fig = normalization.plot_activation_statistics(stats)
    for ax in fig.axes[1:]:
        lo, hi = ax.get_xlim()
        assert len([t for t in ax.get_xticks() if lo <= t <= hi]) <= 4


def test_norm_cubes_label_every_axis_in_words() -> None:
    fig = normalization.draw_norm_axes()
    labels = {(ax.get_xlabel(), ax.get_ylabel(), ax.get_zlabel()) for ax in fig.axes}
    assert labels == {("C (channels)", "N (batch)", "H, W (positions)")}
