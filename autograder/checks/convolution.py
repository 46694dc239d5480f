"""Hidden checks of 02_convolution: convolution from scratch.

Every case is drawn from the grader's ``rng`` (shapes, strides, pads, values) and every oracle
is computed here, in the trusted parent, with torch's own ops in float64
(``torch.nn.functional.conv1d`` / ``conv2d`` / ``max_pool2d``) or plain numpy indexing.

Tolerances (inputs are float64 draws of order 1):
- conv1d, conv_forward_naive, conv_forward_im2col, true_convolution2d: rtol 1e-6, atol 1e-8
  (exact up to summation order; a float32 implementation still passes at these sizes).
- max_pool_forward_naive: the same (values are copied, not summed; inputs have no ties).
- match_template: exact (row, col).
- shift_equivariance_error: within 1e-8 of 0 away from the borders; the border=0 value within
  rtol 1e-6 of the oracle.

Diagnosis: each comparison carries the outputs of the classic wrong implementations on the
same inputs (kernel flipped, stride ignored or off by one, bias missing or added per tap,
padding on the wrong axes or sides, average instead of max, ...), so the message names the
mistake instead of printing a bare mismatch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from autograder.checkkit import (
    Call,
    Check,
    Raised,
    Skipped,
    Verdict,
    all_of,
    expect_close,
    expect_raises,
)

ASSIGNMENT = "02_convolution"

#: grade_id -> points, in notebook order.
POINTS: dict[str, float] = {
    "test_conv1d": 2,
    "test_true_convolution2d": 2,
    "test_match_template": 2,
    "test_shift_equivariance_error": 2,
    "test_conv_forward_naive": 3,
    "test_conv_forward_im2col": 3,
    "test_max_pool_forward_naive": 2,
}
RTOL, ATOL = 1e-6, 1e-8


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _first_of_pair(got: Any, what: str) -> tuple[Any, Verdict | None]:
    """``out`` of an ``(out, cache)`` return value, or a zero verdict saying what is wrong."""
    if isinstance(got, (Raised, Skipped)):
        return None, expect_close(got, np.zeros(1), what)
    if isinstance(got, tuple) and len(got) == 2:
        return got[0], None
    return None, Verdict(0.0, f"{what}: the function should return a tuple (out, cache), "
                              f"got {type(got).__name__}")


def _shape_hints(got: Any, verdict: Verdict, hints: dict[tuple[int, ...], str]) -> Verdict:
    """Add a likely cause to a shape mismatch (variants whose output shape is all we know)."""
    if verdict.fraction == 1.0 or not isinstance(got, np.ndarray):
        return verdict
    hint = hints.get(tuple(got.shape))
    return Verdict(0.0, f"{verdict.message} (it looks like {hint})") if hint else verdict


def _broadcast_hint(got: Any, verdict: Verdict, pad: int) -> Verdict:
    shape_error = any(w in got.message for w in ("broadcast", "mismatch", "shape")) \
        if isinstance(got, Raised) else False
    if shape_error and pad > 0:
        return Verdict(0.0, verdict.message + " (was the padding applied to the channel axis "
                                              "too? pad only the two spatial axes)")
    return verdict


def _crop(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The leading corner of ``a`` with ``shape``, or None when ``a`` is smaller."""
    if a.ndim != len(shape) or any(n < m for n, m in zip(a.shape, shape, strict=True)):
        return None
    return a[tuple(slice(0, m) for m in shape)]


def _fits(n: int, f: int, s: int, p: int) -> bool:
    return n + 2 * p >= f and (n + 2 * p - f) % s == 0


def _fitting_size(rng: np.random.Generator, f: int, s: int, p: int, lo: int, hi: int) -> int:
    sizes = [n for n in range(lo, hi + 1) if _fits(n, f, s, p)]
    return int(rng.choice(sizes))


def _misfit_size(rng: np.random.Generator, f: int, s: int, p: int, lo: int, hi: int) -> int:
    sizes = [n for n in range(lo, hi + 1) if n + 2 * p >= f and not _fits(n, f, s, p)]
    return int(rng.choice(sizes))


# --------------------------------------------------------------------------------------------
# conv1d
# --------------------------------------------------------------------------------------------


def _conv1d_ref(x, w, b, stride, left, right):
    xp = F.pad(_t(x)[None], (left, right))
    return _np(F.conv1d(xp, _t(w), None if b is None else _t(b), stride=stride)[0])


def _conv1d_case(rng: np.random.Generator) -> dict[str, Any]:
    c_in, c_out, k = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 5))
    stride = int(rng.integers(1, 4))
    left, right = int(rng.integers(0, 3)), int(rng.integers(0, 3))
    if rng.random() < 0.5:
        right = left
    lengths = [n for n in range(k, 20) if (n + left + right - k) % stride == 0]
    length = int(rng.choice(lengths))
    pad = left if left == right else (left, right)
    return dict(x=rng.normal(size=(c_in, length)), w=rng.normal(size=(c_out, c_in, k)),
                b=rng.normal(size=c_out), stride=stride, pad=pad, left=left, right=right)


def _conv1d_check(rng: np.random.Generator) -> Check:
    cases = [_conv1d_case(rng) for _ in range(3)]
    # A light-to-dark step at a random place, found by the [+1, -1] detector of the lesson.
    step = int(rng.integers(2, 7))
    sig = np.where(np.arange(9) < step, 1.0, 0.0)[None]
    cases.append(dict(x=sig, w=np.array([[[1.0, -1.0]]]), b=np.zeros(1), stride=1, pad=(0, 1),
                      left=0, right=1))
    bad_len = 6  # kernel 3, stride 2 on 6 (+0) samples: (6 - 3) / 2 is not whole
    steps = [Call("conv1d", (c["x"], c["w"], c["b"]), {"stride": c["stride"], "pad": c["pad"]})
             for c in cases]
    steps.append(Call("conv1d", (rng.normal(size=(1, bad_len)), rng.normal(size=(1, 1, 3)),
                                 np.zeros(1)), {"stride": 2, "pad": 0}))

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for c, got in zip(cases, results[:-1], strict=True):
            x, w, b, s, lt, rt = c["x"], c["w"], c["b"], c["stride"], c["left"], c["right"]
            ref = _conv1d_ref(x, w, b, s, lt, rt)
            variants = {
                "the kernel is flipped (true convolution, not cross-correlation)":
                    _conv1d_ref(x, w[:, :, ::-1].copy(), b, s, lt, rt),
                "the bias is missing": _conv1d_ref(x, w, None, s, lt, rt),
                "the bias is added at every tap of the window instead of once":
                    ref + b[:, None] * (w.shape[1] * w.shape[2] - 1),
            }
            if s > 1:
                dense = _conv1d_ref(x, w, b, 1, lt, rt)
                variants["the stride is ignored (windows one sample apart)"] = dense
                variants["the stride is ignored when placing windows (start i, not i*stride)"] \
                    = _crop(dense, ref.shape)
            if lt != rt:
                variants["pad=(left, right) was applied as left on both ends"] = \
                    _conv1d_ref(x, w, b, s, lt, lt)
            what = f"conv1d output for x {x.shape}, w {w.shape}, stride {s}, pad {c['pad']}"
            parts.append(expect_close(got, ref, what, RTOL, ATOL, variants))
        parts.append(expect_raises(results[-1], ["ValueError"],
                                   "conv1d with kernel 3, stride 2 on a 6-sample signal",
                                   "the windows do not tile the signal: do not floor"))
        return all_of(*parts)

    return Check("test_conv1d", POINTS["test_conv1d"], steps, judge)


# --------------------------------------------------------------------------------------------
# conv forward (naive and im2col)
# --------------------------------------------------------------------------------------------


def _conv2d_case(rng: np.random.Generator) -> dict[str, Any]:
    n, c, f = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 5))
    hh, ww = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    stride, pad = int(rng.integers(1, 4)), int(rng.integers(0, 3))
    h = _fitting_size(rng, hh, stride, pad, max(1, hh - 2 * pad), 11)
    w = _fitting_size(rng, ww, stride, pad, max(1, ww - 2 * pad), 11)
    return dict(x=rng.normal(size=(n, c, h, w)), w=rng.normal(size=(f, c, hh, ww)),
                b=rng.normal(size=f), stride=stride, pad=pad)


def _conv_forward_check(rng: np.random.Generator, func: str) -> Check:
    cases = [_conv2d_case(rng) for _ in range(4)]
    # Square filters with distinct stride and pad: the setting of the lecture tables.
    cases[0].update(w=rng.normal(size=(3, cases[0]["x"].shape[1], 3, 3)), b=rng.normal(size=3),
                    stride=2, pad=1)
    cases[0]["x"] = rng.normal(size=(2, cases[0]["x"].shape[1],
                                     _fitting_size(rng, 3, 2, 1, 5, 11),
                                     _fitting_size(rng, 3, 2, 1, 5, 11)))
    h_bad = _misfit_size(rng, 3, 2, 0, 6, 12)
    bad = dict(x=rng.normal(size=(1, 2, h_bad, 7)), w=rng.normal(size=(2, 2, 3, 3)),
               b=rng.normal(size=2), conv_param={"stride": 2, "pad": 0})
    steps = [Call(func, (c["x"], c["w"], c["b"], {"stride": c["stride"], "pad": c["pad"]}))
             for c in cases]
    steps.append(Call(func, (bad["x"], bad["w"], bad["b"], bad["conv_param"])))

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for c, got in zip(cases, results[:-1], strict=True):
            x, w, b, s, p = c["x"], c["w"], c["b"], c["stride"], c["pad"]
            what = (f"{func} output for x {x.shape}, w {w.shape}, stride {s}, pad {p}")
            out, fail = _first_of_pair(got, what)
            if fail is not None:
                parts.append(_broadcast_hint(got, fail, p))
                continue
            ref = _np(F.conv2d(_t(x), _t(w), _t(b), stride=s, padding=p))
            variants = {
                "the kernel is flipped (true convolution, not cross-correlation)":
                    _np(F.conv2d(_t(x), _t(w).flip(2, 3), _t(b), stride=s, padding=p)),
                "the bias is missing": _np(F.conv2d(_t(x), _t(w), None, stride=s, padding=p)),
                "the bias is added at every tap of the window instead of once per output":
                    ref + b[None, :, None, None] * (w[0].size - 1),
                "the last row and column are missing (output size off by one)":
                    ref[:, :, :-1, :-1],
            }
            if s > 1:
                dense = _np(F.conv2d(_t(x), _t(w), _t(b), stride=1, padding=p))
                variants["the stride is ignored (windows one pixel apart)"] = dense
                variants["the stride is ignored when placing windows (start i, not i*stride)"] \
                    = _crop(dense, ref.shape)
            variants["the stride is off by one (windows stride + 1 apart)"] = \
                _np(F.conv2d(_t(x), _t(w), _t(b), stride=s + 1, padding=p))
            if p > 0:
                variants["the padding is missing"] = (
                    _np(F.conv2d(_t(x), _t(w), _t(b), stride=s))
                    if all(_fits(n, k, s, 0) for n, k in zip(x.shape[2:], w.shape[2:],
                                                             strict=True)) else None)
                one_side = F.pad(_t(x), (0, p, 0, p))
                variants["the padding was added on one side only"] = (
                    _np(F.conv2d(one_side, _t(w), _t(b), stride=s))
                    if all(n + p >= k for n, k in zip(x.shape[2:], w.shape[2:], strict=True))
                    else None)
            if ref.shape[-1] == w.shape[0]:
                variants["the bias is added along the width axis instead of per filter"] = \
                    ref - b[None, :, None, None] + b[None, None, None, :]
            hints = {}
            if p > 0:
                hints[(x.shape[0] + 2 * p, *ref.shape[1:])] = \
                    "the batch axis was padded too: pad only the two spatial axes"
            verdict = expect_close(out, ref, what, RTOL, ATOL, variants)
            parts.append(_shape_hints(out, verdict, hints))
        parts.append(expect_raises(results[-1], ["ValueError"],
                                   f"{func} with 3x3 filters, stride 2, pad 0 on a "
                                   f"{h_bad}x7 input",
                                   "(H + 2*pad - HH) / stride is not whole: do not floor"))
        return all_of(*parts)

    return Check(f"test_{func}", POINTS[f"test_{func}"], steps, judge)


# --------------------------------------------------------------------------------------------
# max pool
# --------------------------------------------------------------------------------------------


def _pool_ref(x: np.ndarray, ph: int, pw: int, s: int, op: Callable = F.max_pool2d):
    return _np(op(_t(x), (ph, pw), stride=s))


def _pool_loop(x: np.ndarray, ho: int, wo: int, s: int, ph: int, pw: int) -> np.ndarray:
    """A loop with numpy slicing semantics (windows cut short at the edge), for variants."""
    out = np.empty((*x.shape[:2], ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out


def _max_pool_check(rng: np.random.Generator) -> Check:
    cases = []
    for i in range(4):
        ph, pw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if i == 0:
            ph, pw = 2, 3  # non-square, so swapped height/width shows
        s = int(rng.integers(1, 4))
        h = _fitting_size(rng, ph, s, 0, ph, 11)
        w = _fitting_size(rng, pw, s, 0, pw, 11)
        shape = (int(rng.integers(1, 3)), int(rng.integers(1, 4)), h, w)
        # A random permutation: distinct values, so no ties.
        x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0 - 1.0
        cases.append(dict(x=x, ph=ph, pw=pw, s=s))
    bad_h = _misfit_size(rng, 2, 2, 0, 5, 11)
    steps = [Call("max_pool_forward_naive",
                  (c["x"], {"pool_height": c["ph"], "pool_width": c["pw"], "stride": c["s"]}))
             for c in cases]
    steps.append(Call("max_pool_forward_naive",
                      (rng.normal(size=(1, 1, bad_h, 6)),
                       {"pool_height": 2, "pool_width": 2, "stride": 2})))

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for c, got in zip(cases, results[:-1], strict=True):
            x, ph, pw, s = c["x"], c["ph"], c["pw"], c["s"]
            what = f"max_pool_forward_naive output for x {x.shape}, {ph}x{pw} pool, stride {s}"
            out, fail = _first_of_pair(got, what)
            if fail is not None:
                parts.append(fail)
                continue
            ref = _pool_ref(x, ph, pw, s)
            variants = {
                "it averages instead of taking the maximum": _pool_ref(x, ph, pw, s, F.avg_pool2d),
                "it takes the minimum instead of the maximum": -_pool_ref(-x, ph, pw, s),
                "the last row and column are missing (output size off by one)":
                    ref[:, :, :-1, :-1],
            }
            ho, wo = ref.shape[2:]
            if s > 1:
                variants["the stride is ignored (windows one pixel apart)"] = \
                    _pool_ref(x, ph, pw, 1)
                variants["the stride is ignored when placing windows (start i, not i*stride)"] \
                    = _pool_loop(x, ho, wo, 1, ph, pw)
            if ph != pw:
                variants["pool_height and pool_width are swapped"] = (
                    _pool_ref(x, pw, ph, s) if _fits(x.shape[2], pw, s, 0)
                    and _fits(x.shape[3], ph, s, 0) else None)
                variants["pool_height and pool_width are swapped in the window"] = \
                    _pool_loop(x, ho, wo, s, pw, ph)
            hints = {(x.shape[0], 1, *ref.shape[2:]):
                     "the maximum was also taken across channels: pool each channel alone"}
            verdict = expect_close(out, ref, what, RTOL, ATOL, variants)
            parts.append(_shape_hints(out, verdict, hints))
        parts.append(expect_raises(results[-1], ["ValueError"],
                                   f"2x2 pooling with stride 2 on a {bad_h}x6 input",
                                   "the windows do not tile the input: do not floor"))
        return all_of(*parts)

    return Check("test_max_pool_forward_naive", POINTS["test_max_pool_forward_naive"], steps,
                 judge)


# --------------------------------------------------------------------------------------------
# true convolution
# --------------------------------------------------------------------------------------------


def _xcorr_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return _np(F.conv2d(_t(image)[None, None], _t(kernel)[None, None])[0, 0])


def _true_conv_check(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(3):
        kh, kw = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        h, w = int(rng.integers(kh + 1, 12)), int(rng.integers(kw + 1, 12))
        cases.append((rng.normal(size=(h, w)), rng.normal(size=(kh, kw))))
    steps = [Call("true_convolution2d", (img, k)) for img, k in cases]

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for (img, k), got in zip(cases, results, strict=True):
            ref = _xcorr_valid(img, k[::-1, ::-1].copy())
            variants = {
                "the kernel is not flipped (that is cross-correlation)": _xcorr_valid(img, k),
                "the kernel is flipped up-down only": _xcorr_valid(img, k[::-1].copy()),
                "the kernel is flipped left-right only": _xcorr_valid(img, k[:, ::-1].copy()),
                "the kernel is transposed instead of flipped":
                    _xcorr_valid(img, k.T.copy()) if k.shape[0] == k.shape[1] else None,
            }
            what = f"true_convolution2d output for a {img.shape} image and {k.shape} kernel"
            hints = {(img.shape[0] + k.shape[0] - 1, img.shape[1] + k.shape[1] - 1):
                     "the 'full' output: keep only the 'valid' part (no padding)",
                     img.shape: "a 'same' output: keep only the 'valid' part (no padding)"}
            verdict = expect_close(got, ref, what, RTOL, ATOL, variants)
            parts.append(_shape_hints(got, verdict, hints))
        return all_of(*parts)

    return Check("test_true_convolution2d", POINTS["test_true_convolution2d"], steps, judge)


# --------------------------------------------------------------------------------------------
# template matching
# --------------------------------------------------------------------------------------------


def _scores(image: np.ndarray, patch: np.ndarray, kind: str) -> tuple[int, int]:
    windows = np.lib.stride_tricks.sliding_window_view(image, patch.shape)
    if kind == "plain":  # sum(window * patch): favours bright windows
        s = np.einsum("ijuv,uv->ij", windows, patch)
    elif kind == "centred":  # mean removed, no division by the window's norm
        s = np.einsum("ijuv,uv->ij", windows, patch - patch.mean())
    elif kind == "cosine":  # divided by norms, but no mean removal
        norms = np.sqrt(np.einsum("ijuv,ijuv->ij", windows, windows))
        s = np.einsum("ijuv,uv->ij", windows, patch) / norms
    else:
        raise ValueError(kind)
    r, c = np.unravel_index(np.argmax(s), s.shape)
    return int(r), int(c)


def _match_template_check(rng: np.random.Generator) -> Check:
    cases = []
    for i in range(3):
        h, w = int(rng.integers(30, 41)), int(rng.integers(30, 41))
        ph, pw = int(rng.integers(5, 9)), int(rng.integers(5, 9))
        image = rng.uniform(0.0, 1.0, size=(h, w))
        r, c = int(rng.integers(0, h // 2 - ph)), int(rng.integers(0, w - pw + 1))
        patch = image[r:r + ph, c:c + pw].copy()
        # A bright, high-contrast region far from the patch: plain correlation is drawn to its
        # brightness, correlation without the division by the window's norm to its contrast.
        image[h // 2 + 2:, :] = 4.0 + 1.5 * rng.normal(size=(h - h // 2 - 2, w))
        if i == 2:  # darker and lower-contrast copy: NCC does not care, other scores do
            image = 0.5 * image + 0.2
        cases.append((image, patch, (r, c)))
    steps = [Call("match_template", (img, p)) for img, p, _ in cases]

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for (img, patch, (r, c)), got in zip(cases, results, strict=True):
            what = f"match_template on a {img.shape} image with a {patch.shape} patch"
            if isinstance(got, (Raised, Skipped)):
                parts.append(expect_close(got, np.zeros(2), what))
                continue
            try:
                pos = tuple(int(v) for v in got)
            except (TypeError, ValueError):
                pos = None
            if pos == (r, c) and len(pos) == 2:
                parts.append(Verdict(1.0, f"{what} is correct"))
                continue
            wrong = {
                "(col, row) instead of (row, col)": (c, r),
                "the centre of the patch, not its top-left corner":
                    (r + patch.shape[0] // 2, c + patch.shape[1] // 2),
                "plain correlation (no mean removal, no normalisation) picks the brightest "
                "window": _scores(img, patch, "plain"),
                "the window's norm is not divided out, so high-contrast windows win":
                    _scores(img, patch, "centred"),
                "the means are not subtracted (cosine similarity, not NCC)":
                    _scores(img, patch, "cosine"),
            }
            hint = next((m for m, p in wrong.items() if p == pos and p != (r, c)), None)
            msg = f"{what} should return {(r, c)}, got {got!r}"
            parts.append(Verdict(0.0, msg + (f": it looks like {hint}" if hint else "")))
        return all_of(*parts)

    return Check("test_match_template", POINTS["test_match_template"], steps, judge)


# --------------------------------------------------------------------------------------------
# shift equivariance
# --------------------------------------------------------------------------------------------


def _translate(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    h, w = img.shape
    out = np.zeros_like(img)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _same_conv(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    pad = (k.shape[0] // 2, k.shape[1] // 2)
    return _np(F.conv2d(_t(img)[None, None], _t(k)[None, None], padding=pad)[0, 0])


def _equivariance_error(img, k, dy, dx, border, shift=_translate) -> float:
    diff = _same_conv(shift(img, dy, dx), k) - shift(_same_conv(img, k), dy, dx)
    h, w = img.shape
    return float(np.abs(diff[border:h - border, border:w - border]).max())


def _roll(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.roll(img, (dy, dx), axis=(0, 1))


def _shift_equivariance_check(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(3):
        h, w = int(rng.integers(16, 25)), int(rng.integers(16, 25))
        k = rng.normal(size=(int(rng.choice([1, 3, 5])), int(rng.choice([3, 5]))))
        shift = (int(rng.integers(-3, 4)), int(rng.integers(1, 4)) * int(rng.choice([-1, 1])))
        cases.append((rng.normal(size=(h, w)), k, shift))
    steps = []
    for img, k, shift in cases:
        steps.append(Call("shift_equivariance_error", (img, k, shift)))
        steps.append(Call("shift_equivariance_error", (img, k, shift), {"border": 0}))

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for i, (img, k, (dy, dx)) in enumerate(cases):
            default, at_zero = results[2 * i], results[2 * i + 1]
            where = f"a {img.shape} image, {k.shape} kernel, shift {(dy, dx)}"
            everywhere = _equivariance_error(img, k, dy, dx, 0)
            parts.append(expect_close(
                default, 0.0, f"the error away from the borders for {where}", 0.0, 1e-8,
                {"the border is not excluded (the error is measured everywhere)": everywhere,
                 "the shift wraps around (np.roll) instead of filling with zeros":
                     _equivariance_error(img, k, dy, dx, 0, _roll)}))
            parts.append(expect_close(
                at_zero, everywhere, f"the error with border=0 for {where}", RTOL, ATOL,
                {"the shift wraps around (np.roll) instead of filling with zeros":
                     _equivariance_error(img, k, dy, dx, 0, _roll),
                 "the shift goes the wrong way (positive dy/dx move content down/right)":
                     _equivariance_error(img, k, -dy, -dx, 0),
                 "the kernel is flipped (true convolution, not cross-correlation)":
                     _equivariance_error(img, k[::-1, ::-1].copy(), dy, dx, 0),
                 "the answer is always 0": 0.0}))
        return all_of(*parts)

    return Check("test_shift_equivariance_error", POINTS["test_shift_equivariance_error"],
                 steps, judge)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell of convolution.ipynb, in notebook order."""
    return [
        _conv1d_check(rng),
        _true_conv_check(rng),
        _match_template_check(rng),
        _shift_equivariance_check(rng),
        _conv_forward_check(rng, "conv_forward_naive"),
        _conv_forward_check(rng, "conv_forward_im2col"),
        _max_pool_check(rng),
    ]
