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
