"""Implementations of notebook 3's exercises written the way students write them.

Each entry replaces the functions of one check (the grader sees the reference solution with
these definitions after it; the later definition wins) and says, as its author believes,
whether it is correct. ``test_corpus_backprop.py`` does not trust that belief either: it runs
every entry against its own float64 torch oracle on fixed inputs and requires the grader to
give full marks exactly to the entries that oracle finds correct.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """name: short id; style: how it is written; check: the grade id it answers;
    correct: what its author expects; code: the definitions."""

    name: str
    style: str
    check: str
    correct: bool
    code: str


_CONV_LOOPS = '''
def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride = conv_param['stride']
    pad = conv_param['pad']
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), 'constant')
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.zeros_like(b)
    for n in range(N):
        for f in range(F):
            db[f] += np.sum(dout[n, f])
            for i in range(H_out):
                for j in range(W_out):
                    hs = i * stride
                    ws = j * stride
                    dw[f] += x_pad[n, :, hs:hs + HH, ws:ws + WW] * dout[n, f, i, j]
                    dx_pad[n, :, hs:hs + HH, ws:ws + WW] += w[f] * dout[n, f, i, j]
    CROP
    return dx, dw, db
'''

_POOL_LOOPS = '''
def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    N, C, H, W = x.shape
    ph = pool_param['pool_height']
    pw = pool_param['pool_width']
    stride = pool_param['stride']
    H_out = 1 + (H - ph) // stride
    W_out = 1 + (W - pw) // stride
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * stride, j * stride
                    window = x[n, c, hs:hs + ph, ws:ws + pw]
                    ROUTE
    return dx
'''

ENTRIES = [
    Entry("conv-py2-loops", "Python-2-era loops over n, f, i, j; crop with pad:pad + H",
          "test_conv_backward", True,
          _CONV_LOOPS.replace("CROP", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]")),
    Entry("conv-pad-minus-pad", "the same loops, cropping with [pad:-pad]",
          "test_conv_backward", False,
          _CONV_LOOPS.replace("CROP", "dx = dx_pad[:, :, pad:-pad, pad:-pad]")),
    Entry("conv-square-only", "output size computed from H for both axes",
          "test_conv_backward", False,
          _CONV_LOOPS.replace("W_out = 1 + (W + 2 * pad - WW) // stride", "W_out = H_out")
          .replace("CROP", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]")),
    Entry("conv-einsum", "vectorised over the batch and filters with einsum, int() sizes",
          "test_conv_backward", True, '''
def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    s, p = conv_param["stride"], conv_param["pad"]
    _, _, H, W = x.shape
    _, _, HH, WW = w.shape
    Ho = int((H + 2 * p - HH) / s + 1)
    Wo = int((W + 2 * p - WW) / s + 1)
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    dxp = np.zeros(xp.shape)
    dw = np.zeros(w.shape)
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * s:i * s + HH, j * s:j * s + WW]
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], win)
            dxp[:, :, i * s:i * s + HH, j * s:j * s + WW] += np.einsum(
                "nf,fchw->nchw", dout[:, :, i, j], w)
    return dxp[:, :, p:p + H, p:p + W], dw, dout.sum(axis=(0, 2, 3))
'''),
    Entry("conv-db-keepdims", "correct loops but db summed with keepdims=True",
          "test_conv_backward", False,
          _CONV_LOOPS.replace("CROP", "dx = dx_pad[:, :, pad:pad + H, pad:pad + W]\n"
                              "    db = np.sum(dout, axis=(0, 2, 3), keepdims=True)")),
    Entry("pool-mask-equals-max", "the classic mask window == max (every tied maximum)",
          "test_max_pool_backward", False, _POOL_LOOPS.replace(
              "ROUTE", "mask = (window == np.max(window))\n"
              "                    dx[n, c, hs:hs + ph, ws:ws + pw] += mask * dout[n, c, i, j]")),
    Entry("pool-unravel-argmax", "np.unravel_index of np.argmax per window",
          "test_max_pool_backward", True, _POOL_LOOPS.replace(
              "ROUTE", "r, q = np.unravel_index(np.argmax(window), window.shape)\n"
              "                    dx[n, c, hs + r, ws + q] += dout[n, c, i, j]")),
    Entry("pool-int-of-index", "int() of the flat argmax, divided by the pool width",
          "test_max_pool_backward", True, _POOL_LOOPS.replace(
              "ROUTE", "idx = np.argmax(window)\n"
              "                    dx[n, c, hs + int(idx / pw), ws + int(idx % pw)] += "
              "dout[n, c, i, j]")),
    Entry("pool-square-only", "flat argmax split by the pool height (right for squares only)",
          "test_max_pool_backward", False, _POOL_LOOPS.replace(
              "ROUTE", "r, q = divmod(int(np.argmax(window)), ph)\n"
              "                    dx[n, c, hs + r, ws + q] += dout[n, c, i, j]")),
    Entry("pool-assign", "argmax loops, but = instead of += (windows assumed apart)",
          "test_max_pool_backward", False, _POOL_LOOPS.replace(
              "ROUTE", "r, q = np.unravel_index(np.argmax(window), window.shape)\n"
              "                    dx[n, c, hs:hs + ph, ws:ws + pw] = 0\n"
              "                    dx[n, c, hs + r, ws + q] = dout[n, c, i, j]")),
    Entry("pool-first-of-mask", "vectorised over N, C: mask of maxima, keep the first (cumsum)",
          "test_max_pool_backward", True, '''
def max_pool_backward_naive(dout, cache):
    x, pp = cache
    ph, pw, s = pp["pool_height"], pp["pool_width"], pp["stride"]
    N, C, H, W = x.shape
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw].reshape(N, C, -1)
            mask = win == win.max(axis=2, keepdims=True)
            first = mask & (np.cumsum(mask, axis=2) == 1)
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += (
                first * dout[:, :, i, j][:, :, None]).reshape(N, C, ph, pw)
    return dx
'''),
    Entry("relu-copy-lt-zero", "dx = dout.copy(); dx[x < 0] = 0 (passes at x == 0)",
          "test_relu", False, '''
def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out, x


def relu_backward(dout, cache):
    x = cache
    dx = dout.copy()
    dx[x < 0] = 0
    return dx
'''),
    Entry("relu-copy-le-zero", "dx = dout.copy(); dx[x <= 0] = 0", "test_relu", True, '''
def relu_forward(x):
    out = np.maximum(0, x)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    dx, x = None, cache
    dx = np.array(dout, copy=True)
    dx[x <= 0] = 0
    return dx
'''),
    Entry("affine-own-cache", "own cache layout (rows, original shape, w)", "test_affine",
          True, '''
def affine_forward(x, w, b):
    rows = x.reshape(x.shape[0], np.prod(x.shape[1:]))
    return rows.dot(w) + b, (rows, x.shape, w)


def affine_backward(dout, cache):
    rows, shape, w = cache
    return np.dot(dout, w.T).reshape(shape), rows.T.dot(dout), np.sum(dout, axis=0)
'''),
    Entry("affine-keepdims", "db summed with keepdims=True", "test_affine", False, '''
def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = np.sum(dout, axis=0, keepdims=True)
    return dx, dw, db
'''),
    Entry("leaky-copy-times-alpha", "dx = dout.copy(); dx[x < 0] *= alpha (slope 1 at 0)",
          "test_activations", False, '''
def leaky_relu_forward(x, alpha=0.01):
    out = x.copy()
    out[x < 0] *= alpha
    return out, (x, alpha)


def leaky_relu_backward(dout, cache):
    x, alpha = cache
    dx = dout.copy()
    dx[x < 0] *= alpha
    return dx
'''),
    Entry("elu-from-output", "ELU backward from the cached output: alpha e^x = out + alpha",
          "test_activations", True, '''
def elu_forward(x, alpha=1.0):
    out = np.where(x > 0, x, alpha * (np.exp(np.minimum(x, 0)) - 1))
    return out, (out, alpha)


def elu_backward(dout, cache):
    out, alpha = cache
    return np.where(out > 0, dout, dout * (out + alpha))
'''),
    Entry("sigmoid-from-input", "sigmoid backward recomputed from the cached input",
          "test_activations", True, '''
def sigmoid_forward(x):
    return 1 / (1 + np.exp(-x)), x


def sigmoid_backward(dout, cache):
    s = 1 / (1 + np.exp(-cache))
    return dout * s * (1 - s)
'''),
]
