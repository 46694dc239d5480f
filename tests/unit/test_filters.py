"""cnnlib.filters: kernels do what their names say, apply_filter is cross-correlation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from cnnlib import filters


def _ramp(h=8, w=10):
    # Brightness grows by 1 per column and 10 per row.
    return np.add.outer(10.0 * np.arange(h), np.arange(w, dtype=float))


def test_derivatives_measure_the_slope_of_a_ramp():
    img = _ramp()
    dx = filters.apply_filter(img, filters.derivative_x(), padding="valid")
    dy = filters.apply_filter(img, filters.derivative_y(), padding="valid")
    assert dx.shape == (8, 8) and dy.shape == (6, 10)
    np.testing.assert_allclose(dx, 1.0)
    np.testing.assert_allclose(dy, 10.0)
    np.testing.assert_allclose(filters.apply_filter(img, filters.sobel_x(), "valid"), 8.0)
    np.testing.assert_allclose(filters.apply_filter(img, filters.sobel_y(), "valid"), 80.0)


def test_apply_filter_is_cross_correlation_not_convolution():
    rng = np.random.default_rng(0)
    img, k = rng.normal(size=(9, 11)), rng.normal(size=(3, 5))
    for padding, mode in (("reflect", "mirror"), ("zeros", "constant")):
        out = filters.apply_filter(img, k, padding=padding)
        assert out.shape == img.shape
        # scipy's "mirror" is numpy's "reflect" (edge pixel not repeated).
        np.testing.assert_allclose(out, ndimage.correlate(img, k, mode=mode), atol=1e-12)
    assert not np.allclose(filters.apply_filter(img, k), ndimage.convolve(img, k, mode="mirror"))


@pytest.mark.parametrize("kernel", [filters.box_blur(5), filters.gaussian_blur(7, 1.5)])
def test_blurs_keep_a_constant_image_and_smooth_noise(kernel):
    np.testing.assert_allclose(kernel.sum(), 1.0)
    np.testing.assert_allclose(filters.apply_filter(np.full((12, 12), 0.3), kernel), 0.3)
    noise = np.random.default_rng(1).normal(size=(40, 40))
    assert filters.apply_filter(noise, kernel).std() < 0.5 * noise.std()


def test_gaussian_is_symmetric_and_peaks_in_the_centre():
    k = filters.gaussian_blur(5, 1.0)
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(k, k[::-1, ::-1])
    assert np.unravel_index(k.argmax(), k.shape) == (2, 2)


def test_sharpen_keeps_flat_regions_and_boosts_a_step():
    k = filters.sharpen(1.0)
    np.testing.assert_allclose(k.sum(), 1.0)
    step = np.zeros((7, 8))
    step[:, 4:] = 1.0
    out = filters.apply_filter(step, k)
    assert out[:, 4].min() > 1.0 and out[:, 3].max() < 0.0  # overshoot on both sides
    np.testing.assert_allclose(out[:, 0], 0.0)


@pytest.mark.parametrize(
    "image, kernel, padding, words",
    [
        (np.zeros((3, 4, 5)), np.ones((3, 3)), "reflect", "grey (H, W)"),
        (np.zeros((5, 5)), np.ones((2, 3)), "reflect", "odd sizes"),
        (np.zeros((5, 5)), np.ones((3, 3)), "wrap", "padding must be one of"),
    ],
)
def test_apply_filter_errors(image, kernel, padding, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        filters.apply_filter(image, kernel, padding=padding)


def test_box_blur_rejects_even_size():
    with pytest.raises(ValueError, match="odd"):
        filters.box_blur(4)


def test_strongest_patches_of_an_edge_filter_look_like_an_edge():
    img = np.zeros((20, 20))
    img[:, 10:] = 1.0  # one vertical dark-to-bright edge
    patches, centres = filters.strongest_patches(img, filters.sobel_x(), count=2)
    assert patches.shape == (2, 3, 3)
    for p in patches:
        assert p[:, 0].max() < p[:, 2].min()  # dark left, bright right, like the kernel
    assert all(c in (9, 10) for _, c in centres)


def test_filter_puzzle_maps_come_from_the_answer_kernels():
    image, maps, cands, answer = filters.filter_puzzle(seed=3, n_maps=3)
    assert image.shape == (64, 64) and maps.shape == (3, 64, 64)
    assert len(set(answer)) == 3 and set(answer) <= set(cands)
    for m, name in zip(maps, answer, strict=True):
        np.testing.assert_allclose(m, filters.apply_filter(image, cands[name]))
        others = [n for n in cands if n != name and cands[n].shape == cands[name].shape]
        for o in others:
            assert not np.allclose(m, filters.apply_filter(image, cands[o]))
    again = filters.filter_puzzle(seed=3, n_maps=3)
    assert again[3] == answer and np.array_equal(again[1], maps)
