"""The hidden checks of 02_convolution against a corpus of real-code styles.

Whether a corpus entry is right is decided here, independently of the checks: its functions
run on fixed inputs and are compared with float64 torch (``conv1d``, ``conv2d``, ``unfold``,
``max_pool2d``, a zero-filled shift made of ``F.pad`` with negative pads), the ValueErrors the
notebook asks for must come from a ``raise`` line of the entry itself, the caches must be the
stated ones, and Exercise 6 must run a number of Python lines that does not grow with the output
positions (counted with ``sys.settrace``, as the notebook's visible test does). The grader must
give full marks to exactly the entries this oracle finds right, for every seed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _common import ASSIGNMENTS, SEEDS, assert_grader_agrees
from corpus_convolution import ENTRIES, Entry

A = ASSIGNMENTS["convolution"]
FILE = "<corpus>"
TEST_OF = {"conv1d": "test_conv1d", "true_convolution2d": "test_true_convolution2d",
           "match_template": "test_match_template",
           "shift_equivariance_error": "test_shift_equivariance_error",
           "conv_forward_naive": "test_conv_forward_naive", "im2col": "test_conv_forward_im2col",
           "max_pool_forward_naive": "test_max_pool_forward_naive"}
RNG = np.random.default_rng(2024)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64))


def load(entry: Entry) -> dict[str, Any]:
    ns: dict[str, Any] = {"np": np}
    exec(compile(entry.code, FILE, "exec"), ns)  # noqa: S102 - the corpus is ours
    return ns


def raises_itself(fn: Callable, *args: Any, **kwargs: Any) -> bool:
    """``fn`` raised ValueError from a ``raise`` line of the corpus entry (not from numpy)."""
    try:
        fn(*args, **kwargs)
    except ValueError as exc:
        tb = exc.__traceback__
        while tb.tb_next is not None:
            tb = tb.tb_next
        if tb.tb_frame.f_code.co_filename != FILE:
            return False
        lines = tb.tb_frame.f_globals["__corpus_lines__"]
        return lines[tb.tb_lineno - 1].strip().startswith("raise ")
    except Exception:  # noqa: BLE001 - any other exception is a wrong answer
        return False
    return False


def close(got: Any, expected: np.ndarray) -> bool:
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.shape == expected.shape and np.allclose(arr, expected, rtol=1e-6, atol=1e-8)


def runs(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - a crash is a wrong answer
        return None


# --------------------------------------------------------------------------------------------
# Independent verdicts, one per exercise
# --------------------------------------------------------------------------------------------

CONV_CASES = [((2, 3, 7, 5), (4, 3, 3, 3), 2, 1), ((2, 2, 6, 8), (3, 2, 3, 2), 1, 0),
              ((1, 3, 9, 9), (2, 3, 3, 3), 3, 0), ((1, 1, 7, 7), (1, 1, 3, 3), 2, 0)]
CONV_MISFITS = [((1, 1, 6, 7), (1, 1, 3, 3), 2, 0), ((1, 1, 2, 5), (1, 1, 5, 3), 1, 1)]


def conv_right(fn: Callable) -> bool:
    """Values, refusals and the cache (x, w, b, conv_param) of a conv forward pass."""
    for xs, ws, s, p in CONV_CASES:
        x, w, b = RNG.normal(size=xs), RNG.normal(size=ws), RNG.normal(size=ws[0])
        cp = {"stride": s, "pad": p}
        got = runs(fn, x, w, b, dict(cp))
        ref = F.conv2d(t(x), t(w), t(b), stride=s, padding=p).numpy()
        if not isinstance(got, tuple) or len(got) != 2 or not close(got[0], ref):
            return False
        cache = got[1]
        if not (isinstance(cache, tuple) and len(cache) == 4 and cache[3] == cp
                and all(close(c, v) for c, v in zip(cache[:3], (x, w, b)))):
            return False
    return all(raises_itself(fn, RNG.normal(size=xs), RNG.normal(size=ws),
                             np.zeros(ws[0]), {"stride": s, "pad": p})
               for xs, ws, s, p in CONV_MISFITS)


def executed_lines(fn: Callable, *args: Any) -> int:
    """Python lines run in the corpus entry's own code during ``fn(*args)``."""
    count = 0

    def local(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += event == "line"
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code.co_filename == FILE else None)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return count


def im2col_right(ns: dict[str, Any]) -> bool:
    """conv_forward_im2col as a conv; im2col's columns as torch's unfold lays them out
    (column n*H'*W' + i*W' + j, rows (c, u, v)); no loop over the 256 output positions."""
    x = RNG.normal(size=(2, 3, 7, 5))
    unfold = F.unfold(t(x), (3, 3), padding=1, stride=2)  # (N, C*9, L)
    expected = unfold.permute(1, 0, 2).reshape(27, -1).numpy()
    if not close(runs(ns["im2col"], x, 3, 3, 2, 1), expected):
        return False
    big = (RNG.normal(size=(2, 3, 16, 16)), RNG.normal(size=(4, 3, 3, 3)), np.zeros(4),
           {"stride": 1, "pad": 1})
    return conv_right(ns["conv_forward_im2col"]) and \
        executed_lines(ns["conv_forward_im2col"], *big) < 200


POOL_CASES = [((2, 3, 6, 9), 2, 3, 2, False), ((1, 2, 7, 7), 3, 3, 2, False),
              ((1, 2, 4, 6), 2, 2, 2, True), ((2, 2, 5, 8), 1, 2, 2, False)]


def pool_right(fn: Callable) -> bool:
    for shape, ph, pw, s, ties in POOL_CASES:
        size = int(np.prod(shape))
        x = (RNG.integers(1, 4, size=shape) if ties else RNG.permutation(size).reshape(shape)
             ).astype(float)
        pp = {"pool_height": ph, "pool_width": pw, "stride": s}
        got = runs(fn, x, dict(pp))
        ref = F.max_pool2d(t(x), (ph, pw), stride=s).numpy()
        if not isinstance(got, tuple) or len(got) != 2 or not close(got[0], ref):
            return False
        cache = got[1]
        if not (isinstance(cache, tuple) and len(cache) == 2 and close(cache[0], x)
                and cache[1] == pp):
            return False
    return raises_itself(fn, RNG.normal(size=(1, 1, 5, 6)),
                         {"pool_height": 2, "pool_width": 2, "stride": 2})


CONV1D_CASES = [((2, 9), (3, 2, 3), 2, 1), ((1, 7), (2, 1, 2), 2, (0, 1)),
                ((3, 10), (2, 3, 4), 1, (2, 0)), ((2, 8), (1, 2, 3), 3, (1, 0))]


def conv1d_right(fn: Callable) -> bool:
    for xs, ws, s, pad in CONV1D_CASES:
        x, w, b = RNG.normal(size=xs), RNG.normal(size=ws), RNG.normal(size=ws[0])
        left, right = (pad, pad) if isinstance(pad, int) else pad
        ref = F.conv1d(F.pad(t(x)[None], (left, right)), t(w), t(b), stride=s)[0].numpy()
        if not close(runs(fn, x, w, b, stride=s, pad=pad), ref):
            return False
    return raises_itself(fn, RNG.normal(size=(1, 6)), RNG.normal(size=(1, 1, 3)), np.zeros(1),
                         stride=2, pad=0) and \
        raises_itself(fn, RNG.normal(size=(1, 3)), RNG.normal(size=(1, 1, 5)), np.zeros(1))


def true_conv_right(fn: Callable) -> bool:
    for hw, k in [((9, 7), (3, 2)), ((6, 6), (3, 3)), ((5, 8), (2, 4))]:
        img, ker = RNG.normal(size=hw), RNG.normal(size=k)
        ref = F.conv2d(t(img)[None, None], torch.flip(t(ker), (0, 1))[None, None])[0, 0]
        if not close(runs(fn, img, ker), ref.numpy()):
            return False
    return True


def _scenes() -> list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    rng = np.random.default_rng(7)
    plain = rng.uniform(size=(30, 40))
    bright = rng.uniform(size=(32, 36))
    bright_patch = bright[20:26, 3:10].copy()
    bright[:12] = 5.0 + 0.05 * rng.normal(size=(12, 36))
    flat = rng.uniform(size=(34, 30))
    flat[:9] = 0.0  # a black band: windows of zero variance
    return [(plain, plain[5:12, 7:15].copy(), (5, 7)),
            (0.5 * bright + 0.1, bright_patch, (20, 3)),
            (flat, flat[15:21, 4:10].copy(), (15, 4))]


def match_right(fn: Callable) -> bool:
    for image, patch, at in _scenes():
        got = runs(fn, image, patch)
        if not (isinstance(got, tuple) and got == at and all(isinstance(v, int) for v in got)):
            return False
    return True


def translate(img: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Content moved down dy, right dx, zeros shifted in: F.pad crops where a pad is < 0."""
    return F.pad(img, (dx, -dx, dy, -dy))


def eq_error(img: np.ndarray, k: np.ndarray, dy: int, dx: int, border: int) -> float:
    def conv(a: torch.Tensor) -> torch.Tensor:
        return F.conv2d(a[None, None], t(k)[None, None],
                        padding=(k.shape[0] // 2, k.shape[1] // 2))[0, 0]
    x = t(img)
    diff = (conv(translate(x, dy, dx)) - translate(conv(x), dy, dx)).numpy()
    h, w = img.shape
    return float(np.abs(diff[border:h - border, border:w - border]).max())


def shift_right(fn: Callable) -> bool:
    sobel = np.array([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    for img, k, (dy, dx) in [(RNG.normal(size=(20, 24)), sobel, (2, -1)),
                             (RNG.normal(size=(16, 18)), RNG.normal(size=(3, 5)), (-3, 2))]:
        default = max(abs(dy), abs(dx)) + max(k.shape) // 2
        for border in (None, 0, 1, default):
            want = eq_error(img, k, dy, dx, default if border is None else border)
            got = runs(fn, img, k, (dy, dx), border=border)
            if not close(got, np.array(want)):
                return False
    k, img = RNG.normal(size=(3, 5)), RNG.normal(size=(9, 10))
    # default border 2 + 2 = 4: a 9-row image fits, 8 rows do not
    return close(runs(fn, img, k, (2, 1)), np.array(eq_error(img, k, 2, 1, 4))) and \
        raises_itself(fn, RNG.normal(size=(8, 9)), k, (2, 1)) and \
        raises_itself(fn, RNG.normal(size=(20, 24)), sobel, (1, 1), border=10)


VERDICTS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "conv_forward_naive": lambda ns: conv_right(ns["conv_forward_naive"]),
    "im2col": im2col_right,
    "max_pool_forward_naive": lambda ns: pool_right(ns["max_pool_forward_naive"]),
    "conv1d": lambda ns: conv1d_right(ns["conv1d"]),
    "true_convolution2d": lambda ns: true_conv_right(ns["true_convolution2d"]),
    "match_template": lambda ns: match_right(ns["match_template"]),
    "shift_equivariance_error": lambda ns: shift_right(ns["shift_equivariance_error"]),
}


def independent_verdict(entry: Entry) -> bool:
    ns = load(entry)
    ns["__corpus_lines__"] = entry.code.splitlines()
    with np.errstate(all="ignore"):
        return VERDICTS[entry.func](ns)


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


def test_the_corpus_is_big_and_mixed() -> None:
    assert len(ENTRIES) >= 8
    assert {e.correct for e in ENTRIES} == {True, False}
    assert {e.func for e in ENTRIES} == set(VERDICTS)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_full_marks_exactly_for_what_the_independent_oracle_finds_right(entry: Entry) -> None:
    right = independent_verdict(entry)
    assert right == entry.correct, f"the oracle finds {entry.name!r} {right=}"
    assert_grader_agrees(A, "import numpy as np\n" + entry.code, TEST_OF[entry.func], right)


def test_a_crash_at_pad_zero_keeps_the_other_cases() -> None:
    entry = next(e for e in ENTRIES if e.name == "pad:-pad cropping")
    for seed in SEEDS:
        g = A.grade("import numpy as np\n" + entry.code, seed, only="test_conv_forward_naive")
        assert 0.0 < g["test_conv_forward_naive"].fraction < 1.0
