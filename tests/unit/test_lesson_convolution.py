"""cnnlib.lessons.convolution: what a filter fires on, and the which-kernel puzzle."""

from __future__ import annotations

import numpy as np

from cnnlib import filters
from cnnlib.lessons import convolution as lesson


def test_strongest_patches_of_an_edge_filter_look_like_an_edge():
    img = np.zeros((20, 20))
    img[:, 10:] = 1.0  # one vertical dark-to-bright edge
    patches, centres = lesson.strongest_patches(img, filters.sobel_x(), count=2)
    assert patches.shape == (2, 3, 3)
    for p in patches:
        assert p[:, 0].max() < p[:, 2].min()  # dark left, bright right, like the kernel
    assert all(c in (9, 10) for _, c in centres)


def test_filter_puzzle_maps_come_from_the_answer_kernels():
    image, maps, cands, answer = lesson.filter_puzzle(seed=3, n_maps=3)
    assert image.shape == (64, 64) and maps.shape == (3, 64, 64)
    assert len(set(answer)) == 3 and set(answer) <= set(cands)
    for m, name in zip(maps, answer, strict=True):
        np.testing.assert_allclose(m, filters.apply_filter(image, cands[name]))
        others = [n for n in cands if n != name and cands[n].shape == cands[name].shape]
        for o in others:
            assert not np.allclose(m, filters.apply_filter(image, cands[o]))
    again = lesson.filter_puzzle(seed=3, n_maps=3)
    assert again[3] == answer and np.array_equal(again[1], maps)
