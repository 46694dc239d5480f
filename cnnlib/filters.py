"""Hand-made filters: edges, blur, sharpen, and a function that applies one to a grey image.

Every kernel is a float64 numpy array of shape (KH, KW) meant for cross-correlation (what deep
learning frameworks call convolution): a kernel "looks like" the pattern it responds to, e.g.
:func:`derivative_x` is dark on the left and bright on the right, so it fires on left-to-right
brightening.
"""

from __future__ import annotations

import numpy as np
import torch

from cnnlib import ops
from cnnlib._validate import check_int

__all__ = [
    "derivative_x", "derivative_y", "sobel_x", "sobel_y", "box_blur", "gaussian_blur",
    "sharpen", "identity", "classic_kernels", "apply_filter",
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
    if check_int("size", size, 1) % 2 == 0:
        raise ValueError(f"size must be odd (a kernel needs a centre), got {size!r}")


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
