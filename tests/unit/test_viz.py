from __future__ import annotations

import gc
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from cnnlib import viz

# the tests inspect animations without rendering them, which matplotlib warns about
pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


@pytest.fixture(autouse=True)
def _free_unrendered_animations():
    """Collect this module's animations here, not in whichever later test the GC runs in."""
    yield
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Animation was deleted without rendering")
        plt.close("all")
        gc.collect()


@pytest.mark.parametrize(
    "shape", [(5, 8, 8), (5, 1, 8, 8), (5, 3, 8, 8), (5, 8, 8, 3)]
)
def test_show_images_draws_one_image_per_item(shape: tuple[int, ...]) -> None:
    fig = viz.show_images(np.random.rand(*shape), ncols=3)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 5
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one empty
    rgb = shape[-1] == 3 or shape[1] == 3
    assert drawn[0].images[0].get_array().ndim == (3 if rgb else 2)


def test_show_images_rejects_bad_shapes_and_titles() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        viz.show_images(np.zeros((2, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match="2 titles for 3 images"):
        viz.show_images(np.zeros((3, 4, 4)), titles=["a", "b"])


def test_show_filters_rescales_each_filter() -> None:
    w = torch.randn(6, 3, 5, 5) * 10
    fig = viz.show_filters(w, ncols=3)
    arrays = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(arrays) == 6
    for a in arrays:
        assert a.shape == (5, 5, 3)
        assert np.isclose(a.min(), 0) and np.isclose(a.max(), 1)
    with pytest.raises(ValueError, match=r"\(K, C, F, F\)"):
        viz.show_filters(np.zeros((3, 5, 5)))


@pytest.mark.parametrize("k", [1, 3, 5, 7, 11])
@pytest.mark.parametrize("c", [1, 3])
def test_show_filters_hands_imshow_each_filter_in_image_layout(monkeypatch, c: int, k: int) -> None:
    # (K, C, k, k) weights must reach imshow as (k, k) grey or (k, k, 3) RGB pictures, each
    # rescaled to [0, 1]; a (3, 3, 3) filter left channels-first is drawn as a strip of 3 pixels
    from matplotlib.axes import Axes

    seen: list[np.ndarray] = []
    real = Axes.imshow

    def spy(self, X, *args, **kwargs):
        seen.append(np.asarray(X))
        return real(self, X, *args, **kwargs)

    monkeypatch.setattr(Axes, "imshow", spy)
    w = np.random.default_rng(k * 10 + c).normal(size=(4, c, k, k))
    viz.show_filters(w)
    assert len(seen) == 4
    for f, got in zip(w, seen, strict=True):
        expected = f.transpose(1, 2, 0) if c == 3 else f[0]
        span = expected.max() - expected.min()
        expected = (expected - expected.min()) / span if span else np.zeros_like(expected)
        assert got.shape == ((k, k, 3) if c == 3 else (k, k))
        np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("images", "channels", "shape"),
    [
        (np.zeros((2, 3, 3, 3)), "auto", (3, 3, 3)),      # NCHW, read as the course's layout
        (np.zeros((2, 3, 3, 3)), "last", (3, 3, 3)),
        (np.zeros((2, 1, 1, 1)), "auto", (1, 1)),
        (np.zeros((2, 3, 1, 1)), "auto", (1, 1, 3)),
        (np.zeros((2, 5, 5, 3)), "auto", (5, 5, 3)),
        ([np.zeros((3, 7, 9))], "auto", (7, 9, 3)),
        ([np.zeros((3, 3, 3))], "first", (3, 3, 3)),
        ([np.zeros((7, 9))], "auto", (7, 9)),
    ],
)
def test_as_image_list_layouts(images, channels: str, shape: tuple[int, ...]) -> None:
    out = viz._as_image_list(images, channels)
    assert all(im.shape == shape for im in out)


def test_as_image_list_channels_first_is_moved_last() -> None:
    x = np.arange(2 * 3 * 2 * 4).reshape(2, 3, 2, 4)
    out = viz._as_image_list(x, "first")
    np.testing.assert_array_equal(out[1], x[1].transpose(1, 2, 0))
    with pytest.raises(ValueError, match="channels must be"):
        viz._as_image_list(x, "middle")


def test_activation_maps_and_history() -> None:
    fig = viz.show_activation_maps(np.random.rand(1, 4, 6, 6), ncols=4)
    assert sum(1 for ax in fig.axes if ax.images) == 4
    hist = {"train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "train_acc": [0.5, 0.8]}
    fig = viz.plot_history(hist)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2 and len(fig.axes[1].lines) == 1
    fig = viz.plot_history([hist, hist], labels=["a", "b"])
    assert len(fig.axes[0].lines) == 4
    with pytest.raises(ValueError, match="1 labels for 2 histories"):
        viz.plot_history([hist, hist], labels=["a"])


def test_bars_and_lines() -> None:
    fig = viz.plot_bars(["fc", "conv"], [3072 * 10, 76], title="params", log=True)
    assert len(fig.axes[0].patches) == 2 and fig.axes[0].get_yscale() == "log"
    fig = viz.plot_lines([1, 2, 3], {"a": [1, 2, 3]}, title="t")
    assert len(fig.axes[0].lines) == 1
    with pytest.raises(ValueError, match="2 labels for 1 values"):
        viz.plot_bars(["a", "b"], [1])


def test_geometry_title_shows_the_arithmetic() -> None:
    fig = viz.draw_conv_geometry(7, 3, 2, 0)
    assert "= 3" in fig.axes[0].get_title()
    fig = viz.draw_conv_geometry(7, 3, 3, 0)
    assert "does not fit" in fig.axes[0].get_title()


@pytest.mark.parametrize(("n", "f", "s", "p", "frames"), [(5, 3, 1, 1, 25), (5, 3, 2, 1, 9)])
def test_animation_has_one_frame_per_output_position(n, f, s, p, frames) -> None:
    anim = viz.animate_convolution(n, f, s, p)
    assert len(list(anim.new_frame_seq())) == frames
    with pytest.raises(ValueError, match="does not fit"):
        viz.animate_convolution(7, 3, 3, 0)


def test_explorer_updates_label_when_sliders_move() -> None:
    w = viz.conv_explorer(n=7, f=3, stride=1, pad=0)
    assert "output size: 5" in w.result_label.value
    w.sliders["S"].value = 2
    assert "output size: 3" in w.result_label.value
    w.sliders["S"].value = 3
    assert "does not fit" in w.result_label.value
    assert "2.33 is not an integer" in w.result_label.value  # arith's own explanation
    assert "try stride" in w.result_label.value
    w.sliders["P"].value = 1
    assert "output size: 3" in w.result_label.value
    w.sliders["F"].value = 11  # wider than the padded input: nothing to draw, still explained
    assert "does not fit a 7-wide input" in w.result_label.value
    w.sliders["dilation"].value = 1
    w.sliders["F"].value = 3
    w.sliders["S"].value = 1
    w.sliders["P"].value = 0
    w.sliders["dilation"].value = 2  # span 5 on 7 -> 3
    assert "output size: 3" in w.result_label.value


def _padding_cells(ax) -> int:
    from matplotlib.colors import to_hex

    return sum(1 for p in ax.patches if to_hex(p.get_facecolor()) == "#dddddd")


@pytest.mark.parametrize(("n", "p"), [(5, 1), (7, 0), (4, 2)])
def test_geometry_shades_exactly_the_padding(n: int, p: int) -> None:
    fig = viz.draw_conv_geometry(n, 3, 1, p)
    assert _padding_cells(fig.axes[0]) == (n + 2 * p) ** 2 - n**2
    assert f"= {n + 2 * p - 2}" in fig.axes[0].get_title()


def test_geometry_draws_into_a_given_axes_and_rejects_bad_ints() -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    assert viz.draw_conv_geometry(5, 3, ax=axes[1]) is fig
    assert axes[1].patches and not axes[0].patches
    assert plt.fignum_exists(fig.number)  # the caller's figure stays open for them to show
    plt.close(fig)
    with pytest.raises(TypeError, match="stride must be an integer"):
        viz.draw_conv_geometry(5, 3, stride="2")
    with pytest.raises(TypeError, match="ncols must be an integer"):
        viz.show_images(np.zeros((2, 4, 4)), ncols=2.5)


def test_animation_defaults_and_dilated_taps() -> None:
    anim = viz.animate_convolution()
    assert anim._interval == 500 and len(list(anim.new_frame_seq())) == 25
    anim = viz.animate_convolution(7, 3, 1, 0, dilation=2)
    assert len(list(anim.new_frame_seq())) == 9
    anim._func(4)  # centre position: 9 taps spread 2 apart
    ax = anim._fig.axes[0]
    taps = [p for p in ax.patches if p.get_alpha() == 0.45]
    xs = sorted({p.get_x() for p in taps})
    assert len(taps) == 9 and xs == [1, 3, 5]


def test_plot_signals_draws_each_signal_with_its_label() -> None:
    x = np.arange(3 * 40, dtype=float).reshape(3, 1, 40)
    fig = viz.plot_signals(x, labels=[7, 1, 4], n=2, title="two signals")
    assert [ax.get_title() for ax in fig.axes] == ["label 7", "label 1"]
    np.testing.assert_array_equal(fig.axes[1].lines[0].get_ydata(), x[1, 0])
    assert fig._suptitle.get_text() == "two signals"
    with pytest.raises(ValueError, match=r"\(N, L\) or \(N, 1, L\)"):
        viz.plot_signals(np.zeros((2, 2, 5)))


def test_show_topk_predictions_labels_and_colors():
    images = np.random.default_rng(0).random((3, 1, 5, 5))
    probs = np.array([[0.7, 0.2], [0.6, 0.3], [0.9, 0.05]])
    idx = np.array([[1, 0], [2, 1], [0, 2]])
    fig = viz.show_topk_predictions(images, probs, idx, ["a", "b", "c"], labels=[1, 1, 2])
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
        viz.show_topk_predictions(images, probs[:2], idx, ["a", "b", "c"])
    with pytest.raises(ValueError, match="has no name"):
        viz.show_topk_predictions(images, probs, idx, ["a", "b"])


def test_plot_confusion_matrix_writes_counts_and_accuracy():
    cm = np.array([[5, 1], [2, 2]])
    fig = viz.plot_confusion_matrix(cm, ["x", "y"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "2", "5"]
    assert "70.0%" in ax.get_title()
    with pytest.raises(ValueError, match="K = len"):
        viz.plot_confusion_matrix(cm, ["x"])


def test_activation_maps_returns_layer_output():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(3 * 16, 2)).train()
    x = torch.randn(1, 4, 4)
    maps = viz.activation_maps(model, x, "1")
    expected = torch.relu(model[0](x[None]))[0].detach().numpy()
    np.testing.assert_allclose(maps, expected, rtol=1e-6)
    assert model.training
    with pytest.raises(ValueError, match="no layer"):
        viz.activation_maps(model, x, "nope")
    with pytest.raises(ValueError, match="conv-like"):
        viz.activation_maps(model, x, "3")
