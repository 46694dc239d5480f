"""Hidden checks of 02_convolution: convolution from scratch.

One :class:`~autograder.checks.kit.Check` per autograded test cell of
``notebooks/02_convolution/convolution.ipynb`` (same name; points come from the cell). Every case
is drawn from the grader's ``rng`` (shapes, strides, pads, values) and every oracle is computed
here, in the trusted parent, with torch's own ops in float64 (``conv1d``, ``conv2d``, ``unfold``,
``max_pool2d``) or plain numpy indexing, never from the student's results.

Tolerances (inputs are float64 draws of order 1): :data:`~autograder.checks.kit.F64`
(rtol 1e-6, atol 1e-8) for every array: exact up to summation order, and a float32
implementation still passes at these sizes. match_template: the exact (row, col).
shift_equivariance_error: within 1e-8 of 0 where the answer is 0, else F64.

Rules of the notebook graded here, each by its own cases:

- windows that do not tile the (padded) input, and kernels larger than it, raise ValueError
  (conv1d, conv_forward_naive, conv_forward_im2col, max_pool_forward_naive): graded next to the
  nearest configuration that fits, so a function that always raises earns nothing there;
- conv1d's ``pad`` is an int or a ``(left, right)`` pair;
- match_template guards windows with zero variance (a flat region must not become NaN);
- shift_equivariance_error: zero fill (no wrap), the default border, ``border=0``, and
  ValueError when the border leaves nothing; every case also asks for a value that is not 0, so
  a constant answer earns nothing;
- the layers return ``(out, cache)`` with the cache the notebook states;
- im2col's column layout, and no Python loop over output positions in im2col and
  conv_forward_im2col (from the source, :class:`NoLoopOverPositions`);
- numpy only: every exercise bans torch, scipy, cnnlib, skimage and ready-made convolutions
  (``numpy.convolve``, ``numpy.correlate``); ``sliding_window_view`` is allowed.

Diagnosis: each comparison carries the outputs of the classic wrong implementations on the same
inputs (kernel flipped, stride ignored or off by one, bias missing or added per tap, padding
missing or one-sided, average instead of max, ...); the kit names one only when the result
matches it, and shape hints only when the shape is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autograder.checks.kit import (
    F64,
    Call,
    Case,
    Check,
    NoLoopOverPositions,
    NotRun,
    Opaque,
    Raised,
    Verdict,
    describe,
    expect_close,
    expect_equal,
    expect_raises,
    fail,
    looks_like,
    np64,
    ok,
    t64,
    unpack,
    value,
)

ASSIGNMENT = "02_convolution"
#: The notebook's exercises are written with numpy only (sliding_window_view is allowed).
BANS = ("torch", "scipy", "cnnlib", "skimage", "cv2", "tensorflow", "keras", "jax",
        "numpy.convolve", "numpy.correlate")
NOT_TILED = "the windows do not tile the input: raise instead of flooring"


def _F() -> Any:
    import torch.nn.functional

    return torch.nn.functional


# --------------------------------------------------------------------------------------------
# Sizes, and judging helpers shared by the checks
# --------------------------------------------------------------------------------------------


def _fits(n: int, f: int, s: int, p: int) -> bool:
    return n + 2 * p >= f and (n + 2 * p - f) % s == 0


def _fitting_size(rng: np.random.Generator, f: int, s: int, p: int, lo: int, hi: int) -> int:
    return int(rng.choice([n for n in range(max(lo, 1), hi + 1) if _fits(n, f, s, p)]))


def _misfit_size(rng: np.random.Generator, f: int, s: int, p: int, lo: int, hi: int) -> int:
    """A size the kernel covers but whose windows do not tile it."""
    return int(rng.choice([n for n in range(lo, hi + 1)
                           if n + 2 * p >= f and not _fits(n, f, s, p)]))


def _crop(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The leading corner of ``a`` with ``shape``, or None when ``a`` is smaller."""
    if a.ndim != len(shape) or any(n < m for n, m in zip(a.shape, shape, strict=True)):
        return None
    return a[tuple(slice(0, m) for m in shape)]


def _judge_refusal(fitting: Any, misfit: Any, what_fit: str, what_misfit: str,
                   hint: str = NOT_TILED) -> Verdict:
    """The misfit call raises ValueError deliberately while the nearest configuration that
    fits does not raise at all (its value is graded by the other cases)."""
    _, bad = value(fitting, what_fit)
    if bad is not None:
        return fail(f"{bad.message} (it fits: raise only when the windows do not tile)")
    return _expect_value_error(misfit, what_misfit, hint)


def _expect_value_error(got: Any, what: str, hint: str) -> Verdict:
    """:func:`expect_raises` for ValueError; a value returned instead is shown by its shape."""
    if isinstance(got, (Raised, NotRun, Opaque)):
        return expect_raises(got, ("ValueError",), what, hint)
    return fail(f"{what} should raise ValueError, but returned {_shape_of(got)} ({hint})")


def _shape_of(v: Any) -> str:
    """A returned value in a few words: arrays (also inside a tuple) by shape."""
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    if isinstance(v, (tuple, list)):
        return f"a {type(v).__name__} (" + ", ".join(
            f"array {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            for x in v[:4]) + ")"
    return describe(v)


def _refusal_case(func: str, fit_args: tuple, bad_args: tuple, kwargs: dict | None = None,
                  weight: float = 1.0, hint: str = NOT_TILED) -> Case:
    """``func`` on a configuration that fits, then on one that does not (same kwargs)."""
    kwargs = kwargs or {}

    def say(*args: Any) -> str:
        return f"{func}({describe(*args, **kwargs)})"

    return Case((Call(func, fit_args, kwargs), Call(func, bad_args, kwargs)),
                lambda r: _judge_refusal(r[0], r[1], say(*fit_args), say(*bad_args), hint),
                weight)


#: An oracle: the right output, the named wrong outputs (computed only when needed: most
#: results are right), and likely causes of wrong shapes.
Expected = tuple[np.ndarray, Callable[[], dict[str, Any]], dict[tuple[int, ...], str]]


def _judge_close(got: Any, expected: Callable[[], Expected], what: str) -> Verdict:
    """:func:`expect_close` against the oracle; the wrong outputs are computed for wrong
    results only."""
    ref, wrongs, hints = expected()
    right = expect_close(got, ref, what, F64, None, hints)
    if right.fraction == 1.0 or isinstance(got, (Raised, NotRun, Opaque)):
        return right
    return expect_close(got, ref, what, F64, wrongs(), hints)


def _judge_layer(got: Any, expected: Callable[[], Expected], what: str) -> Verdict:
    """``out`` of an ``(out, cache)`` pair against the oracle."""
    items, bad = unpack(got, 2, what)
    if bad is not None:
        return bad
    return _judge_close(items[0], expected, what)


def _judge_cache(got: Any, inputs: tuple, names: tuple[str, ...], what: str) -> Verdict:
    """The cache of an ``(out, cache)`` pair is ``inputs`` (arrays by value, dicts equal)."""
    items, bad = unpack(got, 2, what)
    if bad is not None:
        return bad
    cache, layout = items[1], "(" + ", ".join(names) + ")"
    if not isinstance(cache, (tuple, list)) or len(cache) != len(inputs):
        kind = f"a {type(cache).__name__} of length {len(cache)}" \
            if isinstance(cache, (tuple, list)) \
            else f"a {type(cache).__name__}"
        return fail(f"{what}: the cache should be {layout} as the notebook states (later "
                    f"backward passes read it), got {kind}")
    for name, g, e in zip(names, cache, inputs, strict=True):
        right = expect_equal(g, e, name) if isinstance(e, dict) else \
            expect_close(g, e, name, F64)
        if right.fraction < 1.0:
            return fail(f"{what}: the cache should be {layout}, but its item {name!r} is not "
                        f"the {name} passed in")
    return ok(f"the cache of {what} is right")


# --------------------------------------------------------------------------------------------
# conv1d
# --------------------------------------------------------------------------------------------


def _conv1d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, s: int, left: int,
            right: int) -> np.ndarray:
    F = _F()
    xp = F.pad(t64(x)[None], (left, right))
    return np64(F.conv1d(xp, t64(w), None if b is None else t64(b), stride=s)[0])


def _conv1d_expected(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, pad: Any
                     ) -> Expected:
    lt, rt = (pad, pad) if isinstance(pad, int) else pad
    ref = _conv1d(x, w, b, s, lt, rt)
    return ref, lambda: _conv1d_variants(x, w, b, s, lt, rt, ref), {}


def _conv1d_variants(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, lt: int, rt: int,
                     ref: np.ndarray) -> dict[str, Any]:
    variants: dict[str, Any] = {
        "the kernel is flipped (true convolution, not cross-correlation)":
            _conv1d(x, w[:, :, ::-1].copy(), b, s, lt, rt),
        "the bias is missing": _conv1d(x, w, None, s, lt, rt),
        "the bias is added at every tap of the window instead of once":
            ref + b[:, None] * (w.shape[1] * w.shape[2] - 1),
    }
    if s > 1:
        dense = _conv1d(x, w, b, 1, lt, rt)
        variants["the stride is ignored (windows one sample apart)"] = dense
        variants["the stride is ignored when placing windows (start i, not i*stride)"] = \
            _crop(dense, ref.shape)
    if lt != rt:
        variants["pad=(left, right) was applied as left on both ends"] = \
            _conv1d(x, w, b, s, lt, lt)
        variants["pad=(left, right) was applied the wrong way round"] = \
            _conv1d(x, w, b, s, rt, lt)
    return variants


def _conv1d_draw(rng: np.random.Generator, pad_kind: str) -> tuple:
    """(x, w, b, stride, pad) that fit; ``pad_kind``: ``int`` (> 0), ``pair`` (left != right,
    stride > 1) or ``any``."""
    c_in, c_out, k = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 5))
    s = int(rng.integers(2, 4)) if pad_kind == "pair" else int(rng.integers(1, 4))
    if pad_kind == "pair":
        left, right = (int(v) for v in rng.choice(3, size=2, replace=False))
        pad: Any = (left, right)
    else:
        left = right = pad = int(rng.integers(1 if pad_kind == "int" else 0, 3))
    length = int(rng.choice([n for n in range(k, 20) if (n + left + right - k) % s == 0]))
    return (rng.normal(size=(c_in, length)), rng.normal(size=(c_out, c_in, k)),
            rng.normal(size=c_out), s, pad)


def _conv1d_case(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, pad: Any) -> Case:
    what = f"conv1d({describe(x, w, b, stride=s, pad=pad)})"
    return Case(Call("conv1d", (x, w, b), {"stride": s, "pad": pad}),
                lambda r: _judge_close(r[0], lambda: _conv1d_expected(x, w, b, s, pad), what))


def check_conv1d(rng: np.random.Generator) -> Check:
    # a light-to-dark step at a random place, found by the lesson's [+1, -1] detector
    step = int(rng.integers(2, 7))
    signal = np.where(np.arange(9) < step, 1.0, 0.0)[None]
    cases = [_conv1d_case(signal, np.array([[[1.0, -1.0]]]), np.zeros(1), 1, (0, 1))]
    cases += [_conv1d_case(*_conv1d_draw(rng, kind)) for kind in ("int", "pair", "any")]
    # kernel 3, stride 2: a length of 7 fits, 6 does not (whatever the pad)
    p = int(rng.integers(0, 2))
    w, b = rng.normal(size=(2, 1, 3)), rng.normal(size=2)
    cases.append(_refusal_case("conv1d", (rng.normal(size=(1, 7)), w, b),
                               (rng.normal(size=(1, 6)), w, b), {"stride": 2, "pad": p}))
    # a kernel longer than the padded signal: nothing fits at all
    n = int(rng.integers(2, 5))
    cases.append(_refusal_case("conv1d", (rng.normal(size=(1, n)), rng.normal(size=(1, 1, n)),
                                          np.zeros(1)),
                               (rng.normal(size=(1, n)), rng.normal(size=(1, 1, n + 2)),
                                np.zeros(1)), {"stride": 1, "pad": 0}, weight=0.5,
                               hint="the kernel is longer than the signal"))
    return Check("test_conv1d", ("conv1d",), cases, BANS)


# --------------------------------------------------------------------------------------------
# true convolution
# --------------------------------------------------------------------------------------------


def _xcorr_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np64(_F().conv2d(t64(image)[None, None], t64(kernel)[None, None])[0, 0])


def _true_conv_expected(image: np.ndarray, k: np.ndarray) -> Expected:
    def wrongs() -> dict[str, Any]:
        return {
            "the kernel is not flipped (that is cross-correlation)": _xcorr_valid(image, k),
            "the kernel is flipped up-down only": _xcorr_valid(image, k[::-1].copy()),
            "the kernel is flipped left-right only": _xcorr_valid(image, k[:, ::-1].copy()),
            "the kernel is transposed instead of flipped":
                _xcorr_valid(image, k.T.copy()) if k.shape[0] == k.shape[1] else None,
        }
    (h, w), (kh, kw) = image.shape, k.shape
    hints = {(h + kh - 1, w + kw - 1): "the 'full' output: keep only the 'valid' part",
             (h, w): "a 'same' output: keep only the 'valid' part (no padding)"}
    return _xcorr_valid(image, k[::-1, ::-1].copy()), wrongs, hints


def _true_conv_case(image: np.ndarray, k: np.ndarray) -> Case:
    what = f"true_convolution2d({describe(image, k)})"
    return Case(Call("true_convolution2d", (image, k)),
                lambda r: _judge_close(r[0], lambda: _true_conv_expected(image, k), what))


def check_true_convolution2d(rng: np.random.Generator) -> Check:
    cases = []
    for i in range(3):
        kh = int(rng.integers(2, 5))
        kw = kh if i == 0 else int(rng.integers(2, 5))  # one square kernel: transposed shows
        h, w = int(rng.integers(kh + 1, 12)), int(rng.integers(kw + 1, 12))
        cases.append(_true_conv_case(rng.normal(size=(h, w)), rng.normal(size=(kh, kw))))
    return Check("test_true_convolution2d", ("true_convolution2d",), cases, BANS)


# --------------------------------------------------------------------------------------------
# template matching
# --------------------------------------------------------------------------------------------


def _best(image: np.ndarray, patch: np.ndarray, kind: str) -> tuple[int, int]:
    """Where a wrong score peaks (for naming the mistake)."""
    windows = np.lib.stride_tricks.sliding_window_view(image, patch.shape)
    if kind == "plain":  # sum(window * patch): favours bright windows
        s = np.einsum("ijuv,uv->ij", windows, patch)
    elif kind == "centred":  # mean removed, no division by the window's norm
        s = np.einsum("ijuv,uv->ij", windows, patch - patch.mean())
    else:  # cosine: divided by the norms, but no mean removal
        norms = np.sqrt(np.einsum("ijuv,ijuv->ij", windows, windows))
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.einsum("ijuv,uv->ij", windows, patch) / norms
    r, c = np.unravel_index(np.nanargmax(s), s.shape)
    return int(r), int(c)


def _pair(v: Any) -> tuple[tuple | None, bool]:
    """``(row, col)`` read from a result, and whether it is two plain ints in a tuple/list."""
    if isinstance(v, np.ndarray) and v.shape == (2,):
        return tuple(v.tolist()), False
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return tuple(v), all(isinstance(x, int) for x in v)
    return None, False


def _values(v: Any) -> str:
    return str(tuple(v.tolist()) if isinstance(v, np.ndarray) else tuple(v))


def _judge_position(got: Any, image: np.ndarray, patch: np.ndarray, at: tuple[int, int],
                    flat: tuple[int, int] | None) -> Verdict:
    what = f"match_template({describe(image, patch)})"
    v, bad = value(got, what)
    if bad is not None:
        return bad
    pos, plain = _pair(v)
    if pos == at:
        if plain:
            return ok(f"{what} is right")
        return fail(f"{what} returned the right place as {type(v).__name__} "
                    f"{_values(v)}: return a tuple of plain ints", 0.5)
    r, c = at
    wrong = {
        "(col, row) instead of (row, col)": (c, r),
        "the centre of the patch, not its top-left corner":
            (r + patch.shape[0] // 2, c + patch.shape[1] // 2),
        "plain correlation (no mean removal, no normalisation) picks the brightest window":
            _best(image, patch, "plain"),
        "the window's norm is not divided out, so high-contrast windows win":
            _best(image, patch, "centred"),
        "the means are not subtracted (cosine similarity, not NCC)":
            _best(image, patch, "cosine"),
    }
    if flat is not None:
        wrong["a window with zero variance gives 0/0 = NaN and np.argmax returns the first "
              "NaN: guard flat windows"] = flat
    shown = f"{pos}" if pos is not None else f"a {type(v).__name__}"
    hint = next((m for m, p in wrong.items() if p == pos and p != at), None)
    return fail(f"{what} should return {at}, got {shown}" + looks_like(hint))


def _scene(rng: np.random.Generator, h: int, w: int, ph: int, pw: int, top: int
           ) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """A textured image, a patch cut from it below row ``top``, and a bright, high-contrast
    band in the bottom half: plain correlation is drawn to its brightness, correlation without
    the division by the window's norm to its contrast."""
    image = rng.uniform(0.0, 1.0, size=(h, w))
    r, c = int(rng.integers(top, h // 2 - ph)), int(rng.integers(0, w - pw + 1))
    patch = image[r:r + ph, c:c + pw].copy()
    image[h // 2 + 2:, :] = 4.0 + 1.5 * rng.normal(size=(h - h // 2 - 2, w))
    return image, patch, (r, c)


def _match_case(image: np.ndarray, patch: np.ndarray, at: tuple[int, int],
                flat: tuple[int, int] | None = None) -> Case:
    return Case(Call("match_template", (image, patch)),
                lambda r: _judge_position(r[0], image, patch, at, flat))


def check_match_template(rng: np.random.Generator) -> Check:
    cases = []
    for i in range(3):
        h, w = int(rng.integers(30, 41)), int(rng.integers(30, 41))
        ph, pw = int(rng.integers(5, 9)), int(rng.integers(5, 9))
        image, patch, at = _scene(rng, h, w, ph, pw, 0)
        if i == 2:  # darker and lower-contrast: NCC does not care, the other scores do
            image = 0.5 * image + 0.2
        cases.append(_match_case(image, patch, at))
    # a flat black band on top (zero variance: 0/0 without a guard) above the patch
    h, w, ph, pw = int(rng.integers(34, 41)), int(rng.integers(30, 41)), 5, 6
    band = ph + int(rng.integers(1, 3))
    image, patch, at = _scene(rng, h, w, ph, pw, band + 1)
    image[:band] = 0.0
    cases.append(_match_case(image, patch, at, flat=(0, 0)))
    return Check("test_match_template", ("match_template",), cases, BANS)


# --------------------------------------------------------------------------------------------
# shift equivariance
# --------------------------------------------------------------------------------------------


def _translate(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    h, w = img.shape
    out = np.zeros_like(img)
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = \
        img[max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def _roll(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    return np.roll(img, (dy, dx), axis=(0, 1))


def _same_conv(img: np.ndarray, k: np.ndarray) -> np.ndarray:
    pad = (k.shape[0] // 2, k.shape[1] // 2)
    return np64(_F().conv2d(t64(img)[None, None], t64(k)[None, None], padding=pad)[0, 0])


def _eq_error(img: np.ndarray, k: np.ndarray, dy: int, dx: int, border: int,
              shift: Callable = _translate) -> float:
    diff = _same_conv(shift(img, dy, dx), k) - shift(_same_conv(img, k), dy, dx)
    h, w = img.shape
    return float(np.abs(diff[border:h - border, border:w - border]).max())


def _default_border(k: np.ndarray, dy: int, dx: int) -> int:
    return max(abs(dy), abs(dx)) + max(k.shape) // 2


def _eq_variants(img: np.ndarray, k: np.ndarray, dy: int, dx: int, border: int) -> dict:
    return {
        "the shift wraps around (np.roll) instead of filling with zeros":
            _eq_error(img, k, dy, dx, border, _roll),
        "the shift goes the wrong way (positive dy/dx move content down/right)":
            _eq_error(img, k, -dy, -dx, border),
        "the kernel is flipped (true convolution, not cross-correlation)":
            _eq_error(img, k[::-1, ::-1].copy(), dy, dx, border),
        "the border is ignored (the error is measured everywhere)": _eq_error(img, k, dy, dx, 0),
        "the error is 0 even where the zero padding and the zeros shifted in break "
        "equivariance": 0.0,
    }


def _eq_expected(img: np.ndarray, k: np.ndarray, dy: int, dx: int, border: int) -> Expected:
    return (np.float64(_eq_error(img, k, dy, dx, border)),
            lambda: _eq_variants(img, k, dy, dx, border), {})


def _judge_equivariance(r: list[Any], img: np.ndarray, k: np.ndarray, shift: tuple[int, int],
                        border: int) -> Verdict:
    """The default border gives 0; ``border=0`` and ``border`` give the oracle's non-zero
    errors. The 0 counts only next to a right non-zero answer: a constant earns nothing."""
    dy, dx = shift
    call = f"shift_equivariance_error({describe(img, k, shift)}"
    away = _judge_close(r[0], lambda: _eq_expected(img, k, dy, dx, _default_border(k, dy, dx)),
                        call + ")")
    nonzero = [_judge_close(got, lambda b=b: _eq_expected(img, k, dy, dx, b),
                            f"{call}, border={b})") for got, b in ((r[1], 0), (r[2], border))]
    parts = [away, *nonzero]
    wrong = [p.message for p in parts if p.fraction < 1.0]
    if all(p.fraction == 0.0 for p in nonzero):
        return fail("; ".join(wrong))
    frac = sum(p.fraction for p in parts) / len(parts)
    return ok(f"{call}) is right") if not wrong else fail("; ".join(wrong), frac)


def _equivariance_case(rng: np.random.Generator) -> Case:
    while True:
        h, w = int(rng.integers(16, 25)), int(rng.integers(16, 25))
        k = rng.normal(size=(int(rng.choice([1, 3, 5])), int(rng.choice([3, 5]))))
        shift = (int(rng.integers(-3, 4)), int(rng.integers(2, 4)) * int(rng.choice([-1, 1])))
        img = rng.normal(size=(h, w))
        border = int(rng.integers(1, max(abs(shift[0]), abs(shift[1]))))
        if _eq_error(img, k, *shift, border) > 1e-3:  # an answer that is not 0
            break
    steps = (Call("shift_equivariance_error", (img, k, shift)),
             Call("shift_equivariance_error", (img, k, shift), {"border": 0}),
             Call("shift_equivariance_error", (img, k, shift), {"border": border}))
    return Case(steps, lambda r: _judge_equivariance(r, img, k, shift, border))


def _judge_border_limit(r: list[Any], fit: tuple, bad: tuple, expected: float) -> Verdict:
    """The largest border that leaves something gives its value; one more raises."""
    def what(args: tuple) -> str:
        extra = f", border={args[3]}" if len(args) > 3 else ""
        return f"shift_equivariance_error({describe(*args[:3])}{extra})"
    first = expect_close(r[0], expected, what(fit), F64)
    if first.fraction < 1.0:
        return fail(first.message + " (this border still leaves positions to compare)")
    h, w = bad[0].shape
    border = bad[3] if len(bad) > 3 else f"max(|dy|, |dx|) + max(KH, KW) // 2 = " \
        f"{_default_border(bad[1], *bad[2])}"
    return _expect_value_error(r[1], what(bad), f"a border of {border} leaves nothing of a "
                                                f"{h}x{w} image")


def _border_limit_case(rng: np.random.Generator, explicit: bool) -> Case:
    """Explicit: border (m-1)//2 fits an image of smallest side m, one more does not. Default:
    an image whose side is 2*border+1 fits, 2*border does not."""
    k = rng.normal(size=(3, int(rng.choice([3, 5]))))
    shift = (int(rng.integers(-2, 3)), int(rng.integers(1, 3)))
    if explicit:
        m = int(rng.integers(9, 15))
        img = rng.normal(size=(m, m + int(rng.integers(1, 4))))
        fit, bad = (img, k, shift, (m - 1) // 2), (img, k, shift, (m - 1) // 2 + 1)
        expected = _eq_error(img, k, *shift, (m - 1) // 2)
    else:
        b = _default_border(k, *shift)
        wide = int(rng.integers(1, 4))
        fit = (rng.normal(size=(2 * b + 1, 2 * b + 1 + wide)), k, shift)
        bad = (rng.normal(size=(2 * b, 2 * b + wide)), k, shift)
        expected = _eq_error(fit[0], k, *shift, b)
    steps = tuple(Call("shift_equivariance_error", a[:3], {"border": a[3]} if len(a) > 3
                       else {}) for a in (fit, bad))
    return Case(steps, lambda r: _judge_border_limit(r, fit, bad, expected), 0.5)


def check_shift_equivariance_error(rng: np.random.Generator) -> Check:
    cases = [_equivariance_case(rng) for _ in range(3)]
    cases += [_border_limit_case(rng, explicit=True), _border_limit_case(rng, explicit=False)]
    return Check("test_shift_equivariance_error", ("shift_equivariance_error",), cases, BANS)


# --------------------------------------------------------------------------------------------
# conv forward (naive and im2col)
# --------------------------------------------------------------------------------------------


def _conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, s: int, p: int | tuple
            ) -> np.ndarray:
    return np64(_F().conv2d(t64(x), t64(w), None if b is None else t64(b), stride=s,
                            padding=p))


def _conv2d_expected(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, p: int
                     ) -> Expected:
    ref = _conv2d(x, w, b, s, p)
    return ref, lambda: _conv2d_variants(x, w, b, s, p, ref), _conv2d_hints(ref, p)


def _conv2d_variants(x: np.ndarray, w: np.ndarray, b: np.ndarray, s: int, p: int,
                     ref: np.ndarray) -> dict[str, Any]:
    variants: dict[str, Any] = {
        "the kernel is flipped (true convolution, not cross-correlation)":
            _conv2d(x, w[:, :, ::-1, ::-1].copy(), b, s, p),
        "the bias is missing": _conv2d(x, w, None, s, p),
        "the bias is added at every tap of the window instead of once per output":
            ref + b[None, :, None, None] * (w[0].size - 1),
        "the last row and column are missing (output size off by one)": ref[:, :, :-1, :-1],
        "the stride is off by one (windows stride + 1 apart)": _conv2d(x, w, b, s + 1, p),
    }
    if s > 1:
        dense = _conv2d(x, w, b, 1, p)
        variants["the stride is ignored (windows one pixel apart)"] = dense
        variants["the stride is ignored when placing windows (start i, not i*stride)"] = \
            _crop(dense, ref.shape)
    sizes = list(zip(x.shape[2:], w.shape[2:], strict=True))
    if p > 0 and all(_fits(n, k, s, 0) for n, k in sizes):
        variants["the padding is missing"] = _conv2d(x, w, b, s, 0)
    if p > 0 and all(n + p >= k for n, k in sizes):
        one_side = np64(_F().pad(t64(x), (0, p, 0, p)))
        variants["the padding was added on one side only"] = _conv2d(one_side, w, b, s, 0)
    if ref.shape[-1] == w.shape[0]:
        variants["the bias is added along the width axis instead of per filter"] = \
            ref - b[None, :, None, None] + b[None, None, None, :]
    return variants


def _conv2d_hints(ref: np.ndarray, p: int) -> dict[tuple[int, ...], str]:
    n, f, ho, wo = ref.shape
    hints = {}
    if p > 0:
        hints[(n + 2 * p, f, ho, wo)] = "the batch axis was padded too: pad only H and W"
    if ho != wo:
        hints[(n, f, ho, ho)] = "the output width was computed from the height (square inputs " \
                                "only?)"
        hints[(n, f, wo, wo)] = "the output height was computed from the width (square " \
                                "inputs only?)"
    return hints


def _conv2d_draw(rng: np.random.Generator, kind: str) -> tuple:
    """(x, w, b, conv_param): ``lecture`` 3x3/2 pad 1; ``valid`` pad 0 on a non-square input;
    ``any`` random, non-square filters allowed."""
    n, c, f = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 5))
    if kind == "lecture":
        n, c, hh, ww, s, p = 2, max(c, 2), 3, 3, 2, 1
    else:
        hh, ww = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        s, p = int(rng.integers(1, 4)), (0 if kind == "valid" else int(rng.integers(0, 3)))
    while True:
        h = _fitting_size(rng, hh, s, p, hh - 2 * p + 1, 11)
        wd = _fitting_size(rng, ww, s, p, ww - 2 * p + 1, 11)
        if h != wd or kind == "any":
            break
    return (rng.normal(size=(n, c, h, wd)), rng.normal(size=(f, c, hh, ww)),
            rng.normal(size=f), {"stride": s, "pad": p})


def _layer_case(func: str, x: np.ndarray, w: np.ndarray, b: np.ndarray, cp: dict) -> Case:
    what = f"{func}({describe(x, w, b, cp)})"
    return Case(Call(func, (x, w, b, cp)), lambda r: _judge_layer(
        r[0], lambda: _conv2d_expected(x, w, b, cp["stride"], cp["pad"]), what))


def _conv_shared_cases(rng: np.random.Generator, func: str) -> list[Case]:
    """Values, refusals and the cache: what naive and im2col have in common."""
    cases = [_layer_case(func, *_conv2d_draw(rng, k)) for k in ("lecture", "valid", "any",
                                                                 "any")]
    c, p = int(rng.integers(1, 3)), int(rng.integers(0, 2))
    w, b, cp = rng.normal(size=(2, c, 3, 3)), rng.normal(size=2), {"stride": 2, "pad": p}
    h_bad = _misfit_size(rng, 3, 2, p, 6, 12)
    cases.append(_refusal_case(func, (rng.normal(size=(1, c, h_bad + 1, 7)), w, b, cp),
                               (rng.normal(size=(1, c, h_bad, 7)), w, b, cp)))
    # a filter taller than the padded input: nothing fits at all
    tall, cp1 = rng.normal(size=(2, c, 5, 3)), {"stride": 1, "pad": 1}
    cases.append(_refusal_case(func, (rng.normal(size=(1, c, 3, 5)), tall, b, cp1),
                               (rng.normal(size=(1, c, 2, 5)), tall, b, cp1), weight=0.5,
                               hint="the filter is larger than the padded input"))
    x, w, b, cp = _conv2d_draw(rng, "lecture")  # padded: a cache of xp is not x
    cases.append(Case(Call(func, (x, w, b, cp)), lambda r: _judge_cache(
        r[0], (x, w, b, cp), ("x", "w", "b", "conv_param"), f"{func}({describe(x, w, b, cp)})"),
        0.5))
    return cases


def check_conv_forward_naive(rng: np.random.Generator) -> Check:
    return Check("test_conv_forward_naive", ("conv_forward_naive",),
                 _conv_shared_cases(rng, "conv_forward_naive"), BANS)


def _unfold(x: np.ndarray, hh: int, ww: int, s: int, p: int) -> np.ndarray:
    """(N, C*HH*WW, L) columns of torch's unfold: rows in (c, u, v) order, L = i*W' + j."""
    return np64(_F().unfold(t64(x), (hh, ww), padding=p, stride=s))


def _im2col_expected(x: np.ndarray, hh: int, ww: int, s: int, p: int) -> Expected:
    u = _unfold(x, hh, ww, s, p)
    n, rows, positions = u.shape
    c = x.shape[1]
    ref = u.transpose(1, 0, 2).reshape(rows, n * positions)
    def wrongs() -> dict[str, Any]:  # reorderings of the same columns
        return {
            "the columns are ordered (i, j, n) (batch last) instead of (n, i, j)":
                u.transpose(1, 2, 0).reshape(rows, -1),
            "each column is in (u, v, c) order instead of (c, u, v)":
                ref.reshape(c, hh * ww, -1).transpose(1, 0, 2).reshape(rows, -1),
            "cols is transposed: it should be (C*HH*WW, N*H'*W')": ref.T,
        }
    dense = _unfold(x, hh, ww, 1, p).shape[2] * n
    hints = {(rows, dense): "the stride is ignored (windows one pixel apart)"}
    if p > 0 and all(_fits(m, k, s, 0) for m, k in zip(x.shape[2:], (hh, ww), strict=True)):
        hints[(rows, n * _unfold(x, hh, ww, s, 0).shape[2])] = "the padding is missing"
    return ref, wrongs, hints


def _im2col_case(rng: np.random.Generator) -> Case:
    x, w, _, cp = _conv2d_draw(rng, "lecture" if rng.random() < 0.5 else "any")
    hh, ww = w.shape[2:]
    args = (x, hh, ww, cp["stride"], cp["pad"])
    what = f"im2col({describe(x, HH=hh, WW=ww, stride=cp['stride'], pad=cp['pad'])})"
    return Case(Call("im2col", args),
                lambda r: _judge_close(r[0], lambda: _im2col_expected(*args), what))


def check_conv_forward_im2col(rng: np.random.Generator) -> Check:
    cases = _conv_shared_cases(rng, "conv_forward_im2col")
    cases += [_im2col_case(rng) for _ in range(2)]
    return Check("test_conv_forward_im2col", ("im2col", "conv_forward_im2col"), cases,
                 (*BANS, "conv_forward_naive"),
                 rules=(NoLoopOverPositions(("im2col", "conv_forward_im2col")),))


# --------------------------------------------------------------------------------------------
# max pool
# --------------------------------------------------------------------------------------------


def _pool(x: np.ndarray, ph: int, pw: int, s: int, op: str = "max_pool2d") -> np.ndarray:
    return np64(getattr(_F(), op)(t64(x), (ph, pw), stride=s))


def _pool_loop(x: np.ndarray, ho: int, wo: int, s: int, ph: int, pw: int) -> np.ndarray:
    """A loop with numpy slicing semantics (windows cut short at the edge), for variants."""
    out = np.empty((*x.shape[:2], ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out


def _pool_expected(x: np.ndarray, ph: int, pw: int, s: int) -> Expected:
    ref = _pool(x, ph, pw, s)
    n, c, ho, wo = ref.shape
    hints = {(n, 1, ho, wo): "the maximum was also taken across channels: pool each channel "
                             "alone"} if c > 1 else {}
    return ref, lambda: _pool_variants(x, ph, pw, s, ref), hints


def _pool_variants(x: np.ndarray, ph: int, pw: int, s: int, ref: np.ndarray
                   ) -> dict[str, Any]:
    ho, wo = ref.shape[2:]
    variants: dict[str, Any] = {
        "it averages instead of taking the maximum": _pool(x, ph, pw, s, "avg_pool2d"),
        "it takes the minimum instead of the maximum": -_pool(-x, ph, pw, s),
        "the last row and column are missing (output size off by one)": ref[:, :, :-1, :-1],
    }
    if s > 1:
        variants["the stride is ignored (windows one pixel apart)"] = _pool(x, ph, pw, 1)
        variants["the stride is ignored when placing windows (start i, not i*stride)"] = \
            _pool_loop(x, ho, wo, 1, ph, pw)
    if ph != pw:
        variants["pool_height and pool_width are swapped"] = (
            _pool(x, pw, ph, s) if _fits(x.shape[2], pw, s, 0) and _fits(x.shape[3], ph, s, 0)
            else None)
        variants["pool_height and pool_width are swapped in the window"] = \
            _pool_loop(x, ho, wo, s, pw, ph)
    return variants


def _pool_draw(rng: np.random.Generator, i: int) -> tuple[np.ndarray, dict]:
    if i in (0, 4):  # 2x3: swapped height and width show; 2x2/2: the classic, for ties
        ph, pw, s = (2, 3, int(rng.integers(1, 4))) if i == 0 else (2, 2, 2)
    else:
        ph, pw, s = (int(v) for v in rng.integers(1, 4, size=3))
    h = _fitting_size(rng, ph, s, 0, ph, 11)
    w = _fitting_size(rng, pw, s, 0, pw, 11)
    shape = (int(rng.integers(1, 3)), int(rng.integers(2, 4)), h, w)
    if i == 4:  # ties: 2x2 windows of 1, 2, 3 (any of the tied values is the maximum)
        x = rng.integers(1, 4, size=shape).astype(float)
    else:  # a permutation: distinct values, so a wrong window never matches by chance
        x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0 - 1.0
    return x, {"pool_height": ph, "pool_width": pw, "stride": s}


def _pool_case(x: np.ndarray, pp: dict) -> Case:
    what = f"max_pool_forward_naive({describe(x, pp)})"
    return Case(Call("max_pool_forward_naive", (x, pp)), lambda r: _judge_layer(
        r[0], lambda: _pool_expected(x, pp["pool_height"], pp["pool_width"], pp["stride"]),
        what))


def check_max_pool_forward_naive(rng: np.random.Generator) -> Check:
    cases = [_pool_case(*_pool_draw(rng, i)) for i in range(5)]
    bad_h = _misfit_size(rng, 2, 2, 0, 5, 11)
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    cases.append(_refusal_case("max_pool_forward_naive", (rng.normal(size=(1, 2, bad_h + 1, 6)),
                                                          pp),
                               (rng.normal(size=(1, 2, bad_h, 6)), pp)))
    x, pp = _pool_draw(rng, 1)
    cases.append(Case(Call("max_pool_forward_naive", (x, pp)), lambda r: _judge_cache(
        r[0], (x, pp), ("x", "pool_param"), f"max_pool_forward_naive({describe(x, pp)})"),
        0.5))
    return Check("test_max_pool_forward_naive", ("max_pool_forward_naive",), cases, BANS)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell of convolution.ipynb, in notebook order."""
    return [
        check_conv1d(rng),
        check_true_convolution2d(rng),
        check_match_template(rng),
        check_shift_equivariance_error(rng),
        check_conv_forward_naive(rng),
        check_conv_forward_im2col(rng),
        check_max_pool_forward_naive(rng),
    ]
