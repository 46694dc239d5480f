"""A regression corpus of notebook 2 solutions written the way real students write them.

Each entry is the code of one or two exercise functions in a style seen in real submissions of
the classic assignment (Python-2-era nested loops with ``xrange`` turned into ``range``, ``assert``
instead of ``raise``, ``pad:-pad`` cropping, square-only index arithmetic, ``int()`` of a float
division, sizes from an array row, cs231n-style im2col loops, vectorised NCC without a guard,
...). Whether an entry is right is *not* decided by the hidden checks: the corpus test computes
it with its own float64 torch oracle on fixed inputs; ``correct`` below is what the author
meant, and the test checks that the oracle agrees.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One real-code style: ``func`` (the graded function, or ``im2col`` for Exercise 6) and its
    ``code`` (plus ``numpy as np``)."""

    name: str
    func: str
    style: str
    correct: bool
    code: str


_PY2_LOOPS = '''
def conv_forward_naive(x, w, b, conv_param):
    out = None
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    {check}
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = 1 + (W + 2 * pad - WW) // stride
    x_pad = np.pad(x, ((0,), (0,), (pad,), (pad,)), mode='constant', constant_values=0)
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, f, i, j] = np.sum(
                        x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                        * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    return out, cache
'''

_ASSERTS = ("assert (H + 2 * pad - HH) % stride == 0, 'width does not work'\n"
            "    assert (W + 2 * pad - WW) % stride == 0, 'height does not work'")
_RAISES = ("if H + 2 * pad < HH or W + 2 * pad < WW or (H + 2 * pad - HH) % stride or \\\n"
           "            (W + 2 * pad - WW) % stride:\n"
           "        raise ValueError('the filters do not tile the padded input')")

CONV_ENTRIES = [
    Entry("py2 loops, assert", "conv_forward_naive",
          "four nested loops over n, f, i, j; sizes checked with assert (AssertionError)",
          False, _PY2_LOOPS.format(check=_ASSERTS)),
    Entry("py2 loops, ValueError", "conv_forward_naive",
          "four nested loops over n, f, i, j; sizes checked with a raise", True,
          _PY2_LOOPS.format(check=_RAISES)),
    Entry("pad:-pad cropping", "conv_forward_naive",
          "padded copy made by assigning into x_pad[:, :, pad:-pad, pad:-pad]", False, '''
def conv_forward_naive(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, C, HH, WW = w.shape
    S, P = conv_param['stride'], conv_param['pad']
    if H + 2 * P < HH or W + 2 * P < WW or (H + 2 * P - HH) % S or (W + 2 * P - WW) % S:
        raise ValueError('bad conv_param')
    Ho, Wo = (H + 2 * P - HH) // S + 1, (W + 2 * P - WW) // S + 1
    x_pad = np.zeros((N, C, H + 2 * P, W + 2 * P))
    x_pad[:, :, P:-P, P:-P] = x
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            field = x_pad[:, :, i * S:i * S + HH, j * S:j * S + WW].reshape(N, -1)
            out[:, :, i, j] = field @ w.reshape(F, -1).T + b
    return out, (x, w, b, conv_param)
'''),
    Entry("square-only sizes", "conv_forward_naive",
          "the output width taken from the height (tested on square images only)", False, '''
def conv_forward_naive(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    if H + 2 * pad < HH or (H + 2 * pad - HH) % stride:
        raise ValueError('filter does not fit')
    H_out = 1 + (H + 2 * pad - HH) // stride
    W_out = H_out
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            win = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            for f in range(F):
                out[:, f, i, j] = np.sum(win * w[f], axis=(1, 2, 3)) + b[f]
    return out, (x, w, b, conv_param)
'''),
    Entry("int() of a float division", "conv_forward_naive",
          "H_out = int(1 + (H + 2P - HH) / S): a silent floor, never an error", False, '''
def conv_forward_naive(x, w, b, conv_param):
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    stride, pad = conv_param['stride'], conv_param['pad']
    H_out = int(1 + (H + 2 * pad - HH) / stride)
    W_out = int(1 + (W + 2 * pad - WW) / stride)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), 'constant')
    out = np.zeros((N, F, H_out, W_out))
    for n in range(N):
        for i in range(H_out):
            for j in range(W_out):
                win = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                out[n, :, i, j] = np.sum(win[None] * w, axis=(1, 2, 3)) + b
    return out, (x, w, b, conv_param)
'''),
    Entry("sizes from an array row", "conv_forward_naive",
          "output sizes computed on np.array rows, checked with np.any, then int() of each",
          True, '''
def conv_forward_naive(x, w, b, conv_param):
    s, p = conv_param['stride'], conv_param['pad']
    sizes = (np.array(x.shape[2:]) + 2 * p - np.array(w.shape[2:])) / s + 1
    if np.any(sizes < 1) or np.any(sizes != np.floor(sizes)):
        raise ValueError(f'output size {sizes} is not a whole number')
    Ho, Wo = int(sizes[0]), int(sizes[1])
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    kh, kw = w.shape[2:]
    out = np.empty((x.shape[0], w.shape[0], Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = np.einsum('nchw,fchw->nf',
                                        xp[:, :, i * s:i * s + kh, j * s:j * s + kw], w) + b
    return out, (x, w, b, conv_param)
'''),
    Entry("vectorised windows", "conv_forward_naive",
          "sliding_window_view over H and W, strided, one einsum", True, '''
def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param['stride'], conv_param['pad']
    hh, ww = w.shape[2:]
    span_h, span_w = x.shape[2] + 2 * pad - hh, x.shape[3] + 2 * pad - ww
    if min(span_h, span_w) < 0 or span_h % stride or span_w % stride:
        raise ValueError('the filters do not tile the padded input')
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (hh, ww), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]
    out = np.einsum('nchwuv,fcuv->nfhw', win, w, optimize=True) + b[None, :, None, None]
    return out, (x, w, b, conv_param)
'''),
    Entry("textbook convolution", "conv_forward_naive",
          "the kernel flipped as in the signal-processing definition", False, '''
def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    if H + 2 * pad < HH or W + 2 * pad < WW or (H + 2 * pad - HH) % stride or \\
            (W + 2 * pad - WW) % stride:
        raise ValueError('does not fit')
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    flipped = w[:, :, ::-1, ::-1]
    out = np.zeros((N, F, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            win = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            out[:, :, i, j] = np.tensordot(win, flipped, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)
'''),
]

POOL_ENTRIES = [
    Entry("py2 pool loops", "max_pool_forward_naive",
          "loops over n, c, i, j and np.max of each window, checked with a raise", True, '''
def max_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    if (H - ph) % s != 0 or (W - pw) % s != 0 or H < ph or W < pw:
        raise ValueError('pooling does not fit')
    H_out, W_out = (H - ph) // s + 1, (W - pw) // s + 1
    out = np.zeros((N, C, H_out, W_out))
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, c, i, j] = np.max(x[n, c, i * s:i * s + ph, j * s:j * s + pw])
    return out, (x, pool_param)
'''),
    Entry("reshape trick", "max_pool_forward_naive",
          "reshape into (ph, pw) blocks: right only when the stride equals the window", False,
          '''
def max_pool_forward_naive(x, pool_param):
    N, C, H, W = x.shape
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    if H % ph or W % pw:
        raise ValueError('pooling does not fit')
    out = x.reshape(N, C, H // ph, ph, W // pw, pw).max(axis=(3, 5))
    return out, (x, pool_param)
'''),
    Entry("vectorised with keepdims", "max_pool_forward_naive",
          "a loop over output positions, max over the window with keepdims=True, squeezed",
          True, '''
def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param['pool_height'], pool_param['pool_width'], pool_param['stride']
    N, C, H, W = x.shape
    if H < ph or W < pw or (H - ph) % s or (W - pw) % s:
        raise ValueError('pool windows do not tile the input')
    Ho, Wo = 1 + (H - ph) // s, 1 + (W - pw) // s
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            m = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3), keepdims=True)
            out[:, :, i:i + 1, j:j + 1] = m
    return out, (x, pool_param)
'''),
]

CONV1D_ENTRIES = [
    Entry("int pad only", "conv1d",
          "np.pad with (pad, pad): a (left, right) pair is never split", False, '''
def conv1d(x, w, b, stride=1, pad=0):
    C_in, L = x.shape
    C_out, _, K = w.shape
    if (L + 2 * pad - K) % stride != 0 or L + 2 * pad < K:
        raise ValueError('kernel does not fit')
    xp = np.pad(x, ((0, 0), (pad, pad)))
    L_out = (L + 2 * pad - K) // stride + 1
    out = np.zeros((C_out, L_out))
    for f in range(C_out):
        for i in range(L_out):
            out[f, i] = np.sum(xp[:, i * stride:i * stride + K] * w[f]) + b[f]
    return out
'''),
    Entry("per-channel loops", "conv1d",
          "loops over filters, positions, channels and taps; pad pairs unpacked", True, '''
def conv1d(x, w, b, stride=1, pad=0):
    if isinstance(pad, int):
        pad = (pad, pad)
    left, right = pad
    C_in, L = x.shape
    C_out, _, K = w.shape
    total = L + left + right
    if total < K or (total - K) % stride != 0:
        raise ValueError('the windows do not tile the padded signal')
    xp = np.concatenate([np.zeros((C_in, left)), x, np.zeros((C_in, right))], axis=1)
    L_out = (total - K) // stride + 1
    out = np.zeros((C_out, L_out))
    for f in range(C_out):
        for i in range(L_out):
            acc = b[f]
            for c in range(C_in):
                for k in range(K):
                    acc += w[f, c, k] * xp[c, i * stride + k]
            out[f, i] = acc
    return out
'''),
]

_IM2COL_FORWARD = '''
def conv_forward_im2col(x, w, b, conv_param):
    stride, pad = conv_param['stride'], conv_param['pad']
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    cols = im2col(x, HH, WW, stride, pad)
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    out = (w.reshape(F, -1) @ cols + b[:, None]).reshape(F, N, Ho, Wo).transpose(1, 0, 2, 3)
    return out, (x, w, b, conv_param)
'''

_IM2COL_CHECK = '''
    N, C, H, W = x.shape
    if H + 2 * pad < HH or W + 2 * pad < WW or (H + 2 * pad - HH) % stride or \\
            (W + 2 * pad - WW) % stride:
        raise ValueError('the filters do not tile the padded input')
    Ho, Wo = 1 + (H + 2 * pad - HH) // stride, 1 + (W + 2 * pad - WW) // stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
'''

IM2COL_ENTRIES = [
    Entry("im2col, loop over positions", "im2col",
          "cs231n-style: one column per output position, filled in a double loop", False,
          "def im2col(x, HH, WW, stride, pad):" + _IM2COL_CHECK + '''
    cols = np.zeros((C * HH * WW, N * Ho * Wo))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
            cols[:, i * Wo + j::Ho * Wo] = patch.reshape(N, -1).T
    return cols
''' + _IM2COL_FORWARD),
    Entry("im2col, loop over kernel offsets", "im2col",
          "one strided slice per kernel offset (HH*WW iterations), then a reshape", True,
          "def im2col(x, HH, WW, stride, pad):" + _IM2COL_CHECK + '''
    cols = np.zeros((C, HH, WW, N, Ho, Wo))
    for u in range(HH):
        for v in range(WW):
            part = xp[:, :, u:u + stride * Ho:stride, v:v + stride * Wo:stride]
            cols[:, u, v] = part.transpose(1, 0, 2, 3)
    return cols.reshape(C * HH * WW, N * Ho * Wo)
''' + _IM2COL_FORWARD),
]

MATCH_ENTRIES = [
    Entry("NCC without a guard", "match_template",
          "vectorised NCC; a flat window divides 0 by 0", False, '''
def match_template(image, patch):
    win = np.lib.stride_tricks.sliding_window_view(image, patch.shape)
    wz = win - win.mean(axis=(2, 3), keepdims=True)
    pz = patch - patch.mean()
    num = (wz * pz).sum(axis=(2, 3))
    den = np.sqrt((wz ** 2).sum(axis=(2, 3)) * (pz ** 2).sum())
    score = num / den
    r, c = np.unravel_index(np.argmax(score), score.shape)
    return int(r), int(c)
'''),
    Entry("NCC loops with a guard", "match_template",
          "a double loop over placements; flat windows skipped", True, '''
def match_template(image, patch):
    ph, pw = patch.shape
    H, W = image.shape
    p = patch - patch.mean()
    best, where = -np.inf, (0, 0)
    for r in range(H - ph + 1):
        for c in range(W - pw + 1):
            win = image[r:r + ph, c:c + pw]
            win = win - win.mean()
            den = np.sqrt((win * win).sum() * (p * p).sum())
            if den == 0:
                continue
            score = (win * p).sum() / den
            if score > best:
                best, where = score, (r, c)
    return where
'''),
]

_SHIFT_HEAD = '''
def shift_equivariance_error(image, kernel, shift, border=None):
    dy, dx = shift
    H, W = image.shape
    kh, kw = kernel.shape
    if border is None:
        border = max(abs(dy), abs(dx)) + max(kh, kw) // 2
    if H - 2 * border <= 0 or W - 2 * border <= 0:
        raise ValueError('nothing left to compare')

    def conv(img):
        p = np.pad(img, ((kh // 2, kh // 2), (kw // 2, kw // 2)))
        out = np.zeros_like(img)
        for i in range(H):
            for j in range(W):
                out[i, j] = np.sum(p[i:i + kh, j:j + kw] * kernel)
        return out
'''

SHIFT_ENTRIES = [
    Entry("np.roll", "shift_equivariance_error",
          "the shift done with np.roll: content wraps around instead of zeros", False,
          _SHIFT_HEAD + '''
    def move(img):
        return np.roll(img, (dy, dx), axis=(0, 1))

    diff = conv(move(image)) - move(conv(image))
    return float(np.max(np.abs(diff[border:H - border, border:W - border])))
'''),
    Entry("zero-filled shift by loops", "shift_equivariance_error",
          "loops for the convolution and for a zero-filled shift", True, _SHIFT_HEAD + '''
    def move(img):
        out = np.zeros_like(img)
        for i in range(H):
            for j in range(W):
                if 0 <= i - dy < H and 0 <= j - dx < W:
                    out[i, j] = img[i - dy, j - dx]
        return out

    diff = conv(move(image)) - move(conv(image))
    return float(np.max(np.abs(diff[border:H - border, border:W - border])))
'''),
]

TRUE_CONV_ENTRIES = [
    Entry("true convolution by index arithmetic", "true_convolution2d",
          "loops with image[i + KH - 1 - u, j + KW - 1 - v]", True, '''
def true_convolution2d(image, kernel):
    H, W = image.shape
    KH, KW = kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            for u in range(KH):
                for v in range(KW):
                    out[i, j] += kernel[u, v] * image[i + KH - 1 - u, j + KW - 1 - v]
    return out
'''),
    Entry("flip one axis", "true_convolution2d",
          "np.flipud only: the kernel flipped up-down but not left-right", False, '''
def true_convolution2d(image, kernel):
    k = np.flipud(kernel)
    win = np.lib.stride_tricks.sliding_window_view(image, k.shape)
    return (win * k).sum(axis=(2, 3))
'''),
]

ENTRIES: list[Entry] = [*CONV_ENTRIES, *POOL_ENTRIES, *CONV1D_ENTRIES, *IM2COL_ENTRIES,
                        *MATCH_ENTRIES, *SHIFT_ENTRIES, *TRUE_CONV_ENTRIES]
