"""Reference numpy layers of the course, forward and backward, fast enough to train with.

The layers students write in notebooks 2-4, in the same convention, so that notebook 6 can
compose them into a ConvNet and fall back to these where a student's own layer is missing:

- every array is ``x: (N, C, H, W)`` (or ``(N, D)`` for affine inputs after flattening);
- every forward returns ``(out, cache)``, every backward takes ``(dout, cache)`` and returns the
  gradient of each input with exactly that input's shape;
- the caches are the ones the notebooks document, so a student's backward works with the
  reference forward's cache and the other way round: convolution ``(x, w, b, conv_param)``,
  max pooling ``(x, pool_param)``, affine ``(x, w, b)``, ReLU ``x``; spatial batch norm's cache
  is private (use its forward and backward together);
- ``conv_param = {'stride': S, 'pad': P}``, ``pool_param = {'pool_height', 'pool_width',
  'stride'}``, ``bn_param = {'mode', 'eps', 'momentum', 'running_mean', 'running_var'}`` with
  ``running = momentum * running + (1 - momentum) * batch`` (momentum 0.9, eps 1e-5 by default).

Convolution and pooling use ``sliding_window_view`` (im2col without a copy per window) and loop
only over kernel offsets in the backward pass, never over output positions.

These are reference solutions of graded exercises: the grader's sandbox never lets notebooks
2-4 import this module (see ``autograder.engine.library``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "affine_backward",
    "affine_forward",
    "conv_backward",
    "conv_forward",
    "max_pool_backward",
    "max_pool_forward",
    "relu_backward",
    "relu_forward",
    "spatial_batchnorm_backward",
    "spatial_batchnorm_forward",
]

Cache = Any


def _out_size(size: int, window: int, stride: int, pad: int, what: str) -> int:
    """``1 + (size + 2 pad - window) / stride``; ValueError when the windows do not tile."""
    span = size + 2 * pad - window
    if stride < 1 or span < 0 or span % stride:
        raise ValueError(f"{what}: a window of {window} with stride {stride} and pad {pad} does "
                         f"not tile an input of size {size}")
    return 1 + span // stride


def _windows(xp: np.ndarray, hh: int, ww: int, stride: int) -> np.ndarray:
    """``(N, C, H', W', hh, ww)`` view of every window of ``xp`` (no copy)."""
    return sliding_window_view(xp, (hh, ww), axis=(2, 3))[:, :, ::stride, ::stride]


def _scatter_windows(dwin: np.ndarray, shape: tuple[int, ...], stride: int) -> np.ndarray:
    """The adjoint of :func:`_windows`: add every window's gradient ``dwin (N, C, H', W', hh,
    ww)`` back into an array of ``shape``, one loop step per kernel offset."""
    out = np.zeros(shape, dtype=dwin.dtype)
    _, _, ho, wo, hh, ww = dwin.shape
    for i in range(hh):
        for j in range(ww):
            out[:, :, i:i + stride * (ho - 1) + 1:stride,
                j:j + stride * (wo - 1) + 1:stride] += dwin[:, :, :, :, i, j]
    return out


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


def conv_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict
                 ) -> tuple[np.ndarray, Cache]:
    """Convolution (cross-correlation, as in PyTorch) of a batch, by im2col.

    x: (N, C, H, W); w: (F, C, HH, WW); b: (F,); conv_param: {'stride': S, 'pad': P} (zeros on
    the four sides of every image). Returns (out, cache): out (N, F, H', W') with
    H' = 1 + (H + 2P - HH) / S, W' likewise; cache = (x, w, b, conv_param).
    Raises ValueError when the filters do not tile the padded input or the channels differ.
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    _n, c, h, wd = x.shape
    _f, cw, hh, ww = w.shape
    if cw != c:
        raise ValueError(f"conv_forward: x has {c} channels but the filters expect {cw}")
    _out_size(h, hh, stride, pad, "conv_forward (height)")
    _out_size(wd, ww, stride, pad, "conv_forward (width)")
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.tensordot(_windows(xp, hh, ww, stride), w, axes=([1, 4, 5], [1, 2, 3]))
    out = out + b  # (N, H', W', F)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2)), (x, w, b, conv_param)


def conv_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`conv_forward`.

    dout: (N, F, H', W'); cache: (x, w, b, conv_param). Returns (dx, dw, db) with the shapes of
    x, w and b: dw and db summed over the batch and every position.
    """
    x, w, _b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    hh, ww = w.shape[2:]
    h, wd = x.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    db = dout.sum(axis=(0, 2, 3))
    dw = np.tensordot(dout, _windows(xp, hh, ww, stride), axes=([0, 2, 3], [0, 2, 3]))
    dwin = np.tensordot(dout, w, axes=([1], [0]))  # (N, H', W', C, HH, WW)
    dxp = _scatter_windows(dwin.transpose(0, 3, 1, 2, 4, 5), xp.shape, stride)
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw, db


# --------------------------------------------------------------------------------------------
# Max pooling
# --------------------------------------------------------------------------------------------


def _pool_windows(x: np.ndarray, pool_param: dict) -> np.ndarray:
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    _out_size(x.shape[2], ph, s, 0, "max_pool_forward (height)")
    _out_size(x.shape[3], pw, s, 0, "max_pool_forward (width)")
    return _windows(x, ph, pw, s)


def max_pool_forward(x: np.ndarray, pool_param: dict) -> tuple[np.ndarray, Cache]:
    """Max pooling of every channel on its own.

    x: (N, C, H, W); pool_param: {'pool_height', 'pool_width', 'stride'}. Returns (out, cache):
    out (N, C, H', W') with H' = 1 + (H - pool_height) / stride; cache = (x, pool_param).
    Raises ValueError when the windows do not tile the input.
    """
    return _pool_windows(x, pool_param).max(axis=(4, 5)), (x, pool_param)


def max_pool_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`max_pool_forward`: each window's gradient goes to its maximum
    only (the first one in row-major order when values tie, as ``argmax`` and PyTorch do);
    overlapping windows add up. Returns dx of x's shape."""
    x, pool_param = cache
    win = _pool_windows(x, pool_param)
    n, c, ho, wo, ph, pw = win.shape
    first = win.reshape(n, c, ho, wo, ph * pw).argmax(axis=4)
    onehot = np.arange(ph * pw) == first[..., None]  # (N, C, H', W', ph * pw)
    dwin = (onehot * dout[..., None]).reshape(n, c, ho, wo, ph, pw)
    return _scatter_windows(dwin.astype(np.result_type(dout, x)), x.shape,
                            pool_param["stride"])


# --------------------------------------------------------------------------------------------
# Affine and ReLU
# --------------------------------------------------------------------------------------------


def affine_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Cache]:
    """Fully connected layer: every example of x (N, d_1, ..., d_k) flattened to a row of
    D = d_1 * ... * d_k values, times w (D, M), plus b (M,). Returns (out (N, M), (x, w, b))."""
    return x.reshape(x.shape[0], -1) @ w + b, (x, w, b)


def affine_backward(dout: np.ndarray, cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`affine_forward`: (dx, dw, db) with the shapes of x, w, b."""
    x, w, _b = cache
    return ((dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout,
            dout.sum(axis=0))


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Cache]:
    """max(0, x) elementwise, any shape. Returns (out, x)."""
    return np.maximum(x, 0), x


def relu_backward(dout: np.ndarray, cache: Cache) -> np.ndarray:
    """Backward pass of :func:`relu_forward`: dout where x > 0, else 0 (0 at x == 0 too)."""
    return dout * (cache > 0)


# --------------------------------------------------------------------------------------------
# Spatial batch norm
# --------------------------------------------------------------------------------------------


def _running(bn_param: dict, c: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    return (bn_param.get("running_mean", np.zeros(c, dtype=dtype)),
            bn_param.get("running_var", np.ones(c, dtype=dtype)))


def spatial_batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                              bn_param: dict) -> tuple[np.ndarray, Cache]:
    """Batch norm of every channel over the batch and all positions (PyTorch's BatchNorm2d).

    x: (N, C, H, W); gamma, beta: (C,); bn_param: 'mode' ('train' or 'test', required), 'eps'
    (1e-5), 'momentum' (0.9: the weight of the old running value), 'running_mean' (zeros) and
    'running_var' (ones), both (C,). Train mode normalises with the batch mean and the biased
    (1/m) variance of each channel and updates the running averages in ``bn_param``; test mode
    normalises with the running averages and changes nothing.
    Returns (out (N, C, H, W), cache for :func:`spatial_batchnorm_backward`).
    """
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    c = x.shape[1]
    mean, var = _running(bn_param, c, x.dtype)
    if mode == "train":
        batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
        bn_param["running_mean"] = momentum * mean + (1 - momentum) * batch_mean
        bn_param["running_var"] = momentum * var + (1 - momentum) * batch_var
        mean, var = batch_mean, batch_var
    elif mode != "test":
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', got {mode!r}")
    std = np.sqrt(var + eps)[None, :, None, None]
    x_hat = (x - mean[None, :, None, None]) / std
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return out, (x_hat, std, gamma, mode)


def spatial_batchnorm_backward(dout: np.ndarray, cache: Cache
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward pass of :func:`spatial_batchnorm_forward` (train mode: the batch statistics
    depend on x; test mode: a fixed affine map). Returns (dx, dgamma, dbeta)."""
    x_hat, std, gamma, mode = cache
    axes = (0, 2, 3)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    g = gamma[None, :, None, None] / std
    if mode == "test":
        return dout * g, dgamma, dbeta
    m = dout.size / dout.shape[1]
    dx = g / m * (m * dout - dbeta[None, :, None, None] - x_hat * dgamma[None, :, None, None])
    return dx, dgamma, dbeta
