"""A small self-contained assignment for testing the grading engine (checkkit format).

Three exercises: ``relu_forward`` (2 points), ``conv_output_size`` (1 point) and
``conv_forward_naive`` (4 points, compared with ``torch.nn.functional.conv2d`` in float64, with
diagnosis of a flipped kernel and a missing bias). Tolerance: rtol 1e-6 (float64 loops vs torch).
"""

from __future__ import annotations

import numpy as np
import torch

from autograder.checkkit import (
    Call,
    Check,
    Verdict,
    all_of,
    expect_close,
    expect_equal,
    first_error,
)

ASSIGNMENT = "99_fixture"
NOTEBOOK = "fixture"


def _conv_oracle(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: int,
                 pad: int) -> np.ndarray:
    out = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w),
        None if b is None else torch.from_numpy(b), stride=stride, padding=pad)
    return out.numpy()


def _first(result: object) -> object:
    """``out`` of an ``(out, cache)`` pair; the value itself when it is not a pair."""
    return result[0] if isinstance(result, tuple) and len(result) == 2 else result


def _relu_check(rng: np.random.Generator) -> Check:
    shape = tuple(int(s) for s in rng.integers(2, 5, size=3))
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5  # no kinks at 0

    def judge(results: list) -> Verdict:
        err = first_error(results)
        if err:
            return err
        return expect_close(_first(results[0]), np.maximum(x, 0), "relu output",
                            variants={"you returned the input unchanged": x,
                                      "the sign is reversed (you kept the negative part)":
                                      np.minimum(x, 0)})

    return Check("test_relu_forward", 2, [Call("relu_forward", (x,))], judge, timeout=5)


def _size_check(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(3):
        f = int(rng.integers(1, 4)) * 2 + 1
        s = int(rng.integers(1, 3))
        p = int(rng.integers(0, 3))
        k = int(rng.integers(2, 6))
        n = f + s * k
        cases.append((n, f, s, p))
    steps = [Call("conv_output_size", (n, f), {"stride": s, "pad": p}) for n, f, s, p in cases]

    def judge(results: list) -> Verdict:
        err = first_error(results)
        if err:
            return err
        return all_of(*[
            expect_equal(r, (n + 2 * p - f) // s + 1, f"conv_output_size{(n, f, s, p)}")
            for r, (n, f, s, p) in zip(results, cases, strict=True)])

    return Check("test_conv_output_size", 1, steps, judge, timeout=5)


def _conv_check(rng: np.random.Generator) -> Check:
    cases = []
    for stride, pad in ((1, 1), (2, 0)):
        n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
        hh = ww = 3
        h, w_ = (int(v) for v in rng.integers(5, 8, size=2))
        if (h + 2 * pad - hh) % stride:
            h += 1
        if (w_ + 2 * pad - ww) % stride:
            w_ += 1
        x = rng.standard_normal((n, c, h, w_))
        w = rng.standard_normal((f, c, hh, ww))
        b = rng.standard_normal(f)
        cases.append((x, w, b, {"stride": stride, "pad": pad}))
    steps = [Call("conv_forward_naive", (x, w, b, cp)) for x, w, b, cp in cases]

    def judge(results: list) -> Verdict:
        err = first_error(results)
        if err:
            return err
        verdicts = []
        for r, (x, w, b, cp) in zip(results, cases, strict=True):
            s, p = cp["stride"], cp["pad"]
            verdicts.append(expect_close(
                _first(r), _conv_oracle(x, w, b, s, p), f"conv output (stride {s}, pad {p})",
                variants={
                    "the kernel is flipped (true convolution, not cross-correlation)":
                        _conv_oracle(x, w[:, :, ::-1, ::-1].copy(), b, s, p),
                    "the bias is missing": _conv_oracle(x, w, None, s, p),
                }))
        return all_of(*verdicts)

    return Check("test_conv_forward_naive", 4, steps, judge, timeout=10)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """The fixture's hidden checks, cases drawn from ``rng``."""
    return [_relu_check(rng), _size_check(rng), _conv_check(rng)]
