"""Helpers of notebook 2, convolution from scratch: what a filter fires on, and a puzzle.

- :func:`strongest_patches`: the image patches a kernel responds to most ("a filter looks like
  what it fires on").
- :func:`filter_puzzle`: a photo, a few filtered versions, and the candidate kernels to match.
"""

from __future__ import annotations

import numpy as np

from cnnlib.filters import apply_filter, classic_kernels

__all__ = ["strongest_patches", "filter_puzzle"]


def strongest_patches(
    image: np.ndarray, kernel: np.ndarray, count: int = 3, min_distance: int | None = None
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The image patches a kernel responds to most ("a filter looks like what it fires on").

    Inputs:
    - image: (H, W) grey image; kernel: (KH, KW), odd sizes
    - count: how many patches; min_distance: keep picks at least this far apart (default KH)

    Returns:
    - patches: (count, KH, KW) array, each cut from the image around a strongest response
    - centres: list of (row, col) of those responses
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    response = apply_filter(image, kernel, padding="valid")
    kh, kw = kernel.shape
    sep = kh if min_distance is None else min_distance
    order = np.argsort(response, axis=None)[::-1]
    picks: list[tuple[int, int]] = []
    for flat in order:
        r, c = np.unravel_index(flat, response.shape)
        if all(max(abs(r - pr), abs(c - pc)) >= sep for pr, pc in picks):
            picks.append((int(r), int(c)))
            if len(picks) == count:
                break
    img = np.asarray(image, dtype=np.float64)
    patches = np.stack([img[r:r + kh, c:c + kw] for r, c in picks])
    return patches, [(r + kh // 2, c + kw // 2) for r, c in picks]


def filter_puzzle(
    seed: int = 0, n_maps: int = 3
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], list[str]]:
    """"Which weights made this map?": a photo, some filtered versions, and the candidates.

    Returns:
    - image: (64, 64) float64 grey crop of scikit-image's camera photograph, values in [0, 1]
    - maps: (n_maps, 64, 64) float64, maps[i] = apply_filter(image, candidates[answer[i]])
    - candidate_kernels: name -> kernel (every classic kernel, see :func:`classic_kernels`)
    - answer: n_maps distinct candidate names, drawn from ``seed``, the one behind each map
    """
    from skimage import data, transform

    rng = np.random.default_rng(seed)
    photo = transform.resize(data.camera().astype(np.float64) / 255.0, (128, 128),
                             anti_aliasing=True)
    r, c = rng.integers(0, 64, size=2)
    image = photo[r:r + 64, c:c + 64]
    candidates = classic_kernels()
    names = list(candidates)
    if not 1 <= n_maps <= len(names):
        raise ValueError(f"n_maps must be between 1 and {len(names)}, got {n_maps}")
    answer = [names[i] for i in rng.choice(len(names), size=n_maps, replace=False)]
    maps = np.stack([apply_filter(image, candidates[a]) for a in answer])
    return image, maps, candidates, answer
