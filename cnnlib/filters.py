"""Hand-made filters for the convolution lesson: edges, blur, sharpen, and a guessing puzzle.

Every kernel is a float64 numpy array of shape (KH, KW) meant for cross-correlation (what deep
learning frameworks call convolution): a kernel "looks like" the pattern it responds to, e.g.
:func:`derivative_x` is dark on the left and bright on the right, so it fires on left-to-right
brightening.
"""

from __future__ import annotations

import numpy as np
import torch

from cnnlib import ops

__all__ = [
    "derivative_x", "derivative_y", "sobel_x", "sobel_y", "box_blur", "gaussian_blur",
    "sharpen", "identity", "classic_kernels", "apply_filter", "strongest_patches",
    "filter_puzzle",
]


def derivative_x() -> np.ndarray:
    """Central difference d/dx, shape (1, 3): (I[x+1] - I[x-1]) / 2."""
    return np.array([[-0.5, 0.0, 0.5]])


def derivative_y() -> np.ndarray:
    """Central difference d/dy (rows grow downwards), shape (3, 1)."""
    return derivative_x().T.copy()


def sobel_x() -> np.ndarray:
    """Sobel d/dx, shape (3, 3): the derivative smoothed across rows by (1, 2, 1)."""
    return np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def sobel_y() -> np.ndarray:
    """Sobel d/dy, shape (3, 3)."""
    return sobel_x().T.copy()


def _check_size(size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        raise ValueError(f"size must be a positive odd int (a kernel needs a centre), got {size!r}")


def box_blur(size: int = 3) -> np.ndarray:
    """Mean of a size x size neighbourhood, shape (size, size), entries sum to 1."""
    _check_size(size)
    return np.full((size, size), 1.0 / size**2)


def gaussian_blur(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    """Sampled 2-D Gaussian, shape (size, size), normalised to sum 1."""
    _check_size(size)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    r = np.arange(size) - size // 2
    g = np.exp(-(r**2) / (2.0 * sigma**2))
    k = np.outer(g, g)
    return k / k.sum()


def identity(size: int = 3) -> np.ndarray:
    """The kernel that changes nothing: a 1 in the centre."""
    _check_size(size)
    k = np.zeros((size, size))
    k[size // 2, size // 2] = 1.0
    return k


def sharpen(amount: float = 1.0) -> np.ndarray:
    """identity + amount * (identity - box blur), shape (3, 3): boosts what blur removes."""
    return identity(3) + amount * (identity(3) - box_blur(3))


def classic_kernels() -> dict[str, np.ndarray]:
    """All the kernels above by name, in a fixed order (for grids and the puzzle)."""
    return {
        "d/dx": derivative_x(),
        "d/dy": derivative_y(),
        "Sobel x": sobel_x(),
        "Sobel y": sobel_y(),
        "box blur 5": box_blur(5),
        "Gaussian blur": gaussian_blur(7, 1.5),
        "sharpen": sharpen(1.0),
    }


def apply_filter(image: np.ndarray, kernel: np.ndarray, padding: str = "reflect") -> np.ndarray:
    """Cross-correlate a grey image with a kernel, keeping the image size.

    Inputs:
    - image: (H, W) array (any real dtype)
    - kernel: (KH, KW) array with odd KH and KW (so it has a centre pixel)
    - padding: "reflect" (mirror the border, no dark frame), "zeros", or "valid" (no padding;
      output (H - KH + 1, W - KW + 1))

    Returns:
    - out: (H, W) float64 array,
      out[i, j] = sum_uv kernel[u, v] * image[i + u - KH//2, j + v - KW//2]
    """
    image = np.asarray(image, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be a grey (H, W) array, got shape {image.shape}")
    if kernel.ndim != 2 or kernel.shape[0] % 2 == 0 or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be (KH, KW) with odd sizes, got shape {kernel.shape}")
    modes = {"reflect": "reflect", "zeros": "constant", "valid": None}
    if padding not in modes:
        raise ValueError(f"padding must be one of {sorted(modes)}, got {padding!r}")
    ph, pw = kernel.shape[0] // 2, kernel.shape[1] // 2
    if padding != "valid":
        if padding == "reflect" and (ph >= image.shape[0] or pw >= image.shape[1]):
            raise ValueError(f"image {image.shape} is too small to reflect-pad for {kernel.shape}")
        image = np.pad(image, ((ph, ph), (pw, pw)), mode=modes[padding])
    x = torch.from_numpy(image)[None, None]
    out = ops.conv2d(x, torch.from_numpy(kernel)[None, None])
    return out[0, 0].numpy()


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
