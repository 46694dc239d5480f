from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlib import viz


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
    w.sliders["P"].value = 1
    assert "output size: 3" in w.result_label.value
