"""The regression corpus of notebook 3: the grader gives full marks exactly to the student-style
implementations that an independent float64 torch oracle, computed here on fixed inputs (pad 0,
non-square shapes, overlapping windows, tied maxima, exact zeros), finds correct.

The oracle shares nothing with ``autograder.checks.backprop``: it runs each entry's functions
directly and compares with torch autograd (exact shapes, rtol 1e-6, atol 1e-8); for tied maxima
it checks the rule itself, window by window, on windows that do not overlap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from _common import ASSIGNMENTS, assert_grader_agrees
from corpus_backprop import ENTRIES, Entry

A = ASSIGNMENTS["backprop"]
F = torch.nn.functional
SEEDS = (0, 1, 2)


def _same(got: object, want: np.ndarray) -> bool:
    arr = np.asarray(got, dtype=np.float64)
    return arr.shape == want.shape and bool(np.allclose(arr, want, rtol=1e-6, atol=1e-8))


def _torch_grads(fn: Callable, arrays: list[np.ndarray], dout: np.ndarray) -> list[np.ndarray]:
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    fn(*ts).backward(torch.tensor(dout, dtype=torch.float64))
    return [t.grad.numpy() for t in ts]


def conv_ok(ns: dict) -> bool:
    rng = np.random.default_rng(7)
    for n, c, f, h, w, hh, ww, s, p in [(2, 3, 2, 5, 7, 3, 3, 1, 1), (2, 2, 3, 4, 9, 2, 3, 2, 0),
                                       (1, 2, 2, 6, 3, 3, 2, 3, 2), (3, 1, 2, 5, 6, 1, 2, 1, 0)]:
        x, wt, b = rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, hh, ww)), rng.normal(
            size=f)
        ho, wo = (h + 2 * p - hh) // s + 1, (w + 2 * p - ww) // s + 1
        dout = rng.normal(size=(n, f, ho, wo))
        want = _torch_grads(lambda a, k, bb, s=s, p=p: F.conv2d(a, k, bb, stride=s, padding=p),
                            [x, wt, b], dout)
        got = ns["conv_backward_naive"](dout, (x, wt, b, {"stride": s, "pad": p}))
        if len(got) != 3 or not all(_same(g, e) for g, e in zip(got, want, strict=True)):
            return False
    return True


def pool_ok(ns: dict) -> bool:
    rng = np.random.default_rng(8)
    back = ns["max_pool_backward_naive"]
    for ph, pw, s, h, w in [(2, 2, 2, 4, 6), (3, 3, 2, 7, 5), (2, 3, 1, 4, 5), (3, 2, 2, 5, 6)]:
        x = rng.permutation(2 * 2 * h * w).reshape(2, 2, h, w) / 7.0  # no ties
        dout = rng.normal(size=(2, 2, (h - ph) // s + 1, (w - pw) // s + 1))
        (want,) = _torch_grads(lambda a, ph=ph, pw=pw, s=s: F.max_pool2d(a, (ph, pw), s),
                               [x], dout)
        if not _same(back(dout, (x, {"pool_height": ph, "pool_width": pw, "stride": s})), want):
            return False
    return all(_ties_ok(back, k, rng) for k in (2, 3))


def _ties_ok(back: Callable, k: int, rng: np.random.Generator) -> bool:
    """Windows (k x k, stride k: apart) full of ties: one maximum per window gets all of its
    gradient, the other inputs nothing."""
    x = rng.integers(0, 2, size=(2, 2, 2 * k, 3 * k)).astype(float)
    dout = rng.uniform(1.0, 2.0, size=(2, 2, 2, 3))
    dx = np.asarray(back(dout, (x, {"pool_height": k, "pool_width": k, "stride": k})),
                    dtype=float)
    if dx.shape != x.shape:
        return False
    for n, c, i, j in np.ndindex(*dout.shape):
        win, got = (a[n, c, i * k:(i + 1) * k, j * k:(j + 1) * k] for a in (x, dx))
        hit = np.argwhere(got != 0)
        if len(hit) != 1 or win[tuple(hit[0])] != win.max() or \
                not np.isclose(got[tuple(hit[0])], dout[n, c, i, j]):
            return False
    return True


def _pair_ok(ns: dict, name: str, op: Callable, kwargs: dict, x: np.ndarray) -> bool:
    dout = np.random.default_rng(9).normal(size=x.shape)
    out, cache = ns[f"{name}_forward"](x.copy(), **kwargs)
    (want,) = _torch_grads(op, [x], dout)
    ref = op(torch.tensor(x)).numpy()
    return _same(out, ref) and _same(ns[f"{name}_backward"](dout, cache), want)


def _with_zeros(shape: tuple[int, ...]) -> np.ndarray:
    x = np.random.default_rng(10).normal(0.0, 1.5, size=shape)
    x.reshape(-1)[::4] = 0.0
    return x


def relu_ok(ns: dict) -> bool:
    return all(_pair_ok(ns, "relu", torch.relu, {}, _with_zeros(s)) for s in [(4, 5), (2, 3, 4)])


def affine_ok(ns: dict) -> bool:
    rng = np.random.default_rng(11)
    for shape, m in [((3, 4), 5), ((2, 3, 2, 2), 3)]:
        x = rng.normal(size=shape)
        w, b = rng.normal(size=(int(np.prod(shape[1:])), m)), rng.normal(size=m)
        dout = rng.normal(size=(shape[0], m))
        out, cache = ns["affine_forward"](x, w, b)
        want = _torch_grads(lambda a, k, bb: a.reshape(a.shape[0], -1) @ k + bb, [x, w, b],
                            dout)
        got = ns["affine_backward"](dout, cache)
        if not _same(out, x.reshape(shape[0], -1) @ w + b) or len(got) != 3 or \
                not all(_same(g, e) for g, e in zip(got, want, strict=True)):
            return False
    return True


def activations_ok(ns: dict) -> bool:
    x = _with_zeros((3, 6))
    pairs = [("sigmoid", torch.sigmoid, {}), ("tanh", torch.tanh, {}),
             ("leaky_relu", lambda t: F.leaky_relu(t, 0.01), {}),
             ("leaky_relu", lambda t: F.leaky_relu(t, 0.2), {"alpha": 0.2}),
             ("elu", F.elu, {}), ("elu", lambda t: F.elu(t, 1.7), {"alpha": 1.7})]
    return all(_pair_ok(ns, name, op, kw, x) for name, op, kw in pairs)


ORACLES = {"test_conv_backward": conv_ok, "test_max_pool_backward": pool_ok,
           "test_relu": relu_ok, "test_affine": affine_ok, "test_activations": activations_ok}


def independent_verdict(entry: Entry, reference: str) -> bool:
    """Whether the entry (over the reference, as the grader sees it) is right on fixed inputs."""
    ns: dict = {}
    exec(compile(reference + "\n\n" + entry.code, f"<{entry.name}>", "exec"), ns)  # noqa: S102
    try:
        return ORACLES[entry.check](ns)
    except Exception:  # noqa: BLE001 - a crash on a fixed input is a wrong implementation
        return False


def test_the_corpus_has_right_and_wrong_entries_of_every_check() -> None:
    assert len(ENTRIES) >= 8
    assert len({e.name for e in ENTRIES}) == len(ENTRIES)
    for check in ORACLES:
        assert {e.correct for e in ENTRIES if e.check == check} == {True, False}, check


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_full_marks_exactly_where_the_independent_oracle_says_correct(
        reference: str, entry: Entry) -> None:
    right = independent_verdict(entry, reference)
    assert right == entry.correct, f"the oracle disagrees with the entry's author: {right}"
    assert_grader_agrees(A, reference + "\n\n" + entry.code, entry.check, right)
