"""Hidden checks of 02_convolution that only this assignment has.

Mutants of every function (named for at least one seed: some seeds draw cases where a mistake
cannot show), an empty submission and hard-coded visible answers. What every assignment's
checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from _common import ASSIGNMENTS, SEEDS, assert_loses_points, mutate

A = ASSIGNMENTS["convolution"]  # also the assignment of the `reference` fixture


def test_cases_change_with_the_seed() -> None:
    a = A.build(0)[4].steps[0].args[0]
    b = A.build(1)[4].steps[0].args[0]
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_missing_functions_score_zero() -> None:
    verdicts = A.grade("import numpy as np\n")
    assert all(v.fraction == 0 for v in verdicts.values())
    assert "not defined in your notebook" in verdicts["test_conv1d"].message


def test_hard_coded_visible_answers_score_zero() -> None:
    code = (
        "import numpy as np\n"
        "def conv1d(x, w, b, stride=1, pad=0):\n    return np.array([[0.0, 1.0, 0.0]])\n"
        "def max_pool_forward_naive(x, p):\n    return np.array([[[[6., 8.], [3., 4.]]]]), None\n"
        "def match_template(image, patch):\n    return (5, 7)\n"
        "def shift_equivariance_error(image, kernel, shift, border=None):\n    return 0.0\n"
    )
    verdicts = A.grade(code)
    for name in ("test_conv1d", "test_max_pool_forward_naive", "test_match_template"):
        assert verdicts[name].fraction < 0.5, (name, verdicts[name])
    eq = verdicts["test_shift_equivariance_error"]
    assert eq.fraction == 0.5 and "always 0" in eq.message


# (function, old, new, words the message must contain) for each classic mistake.
MUTANTS = [
    ("conv1d", "np.tensordot(w, window", "np.tensordot(w[:, :, ::-1], window",
     "kernel is flipped"),
    ("conv1d", ") + b\n", ")\n", "bias is missing"),
    ("conv1d", "window = xp[:, i * stride:i * stride + k]", "window = xp[:, i:i + k]",
     "stride is ignored"),
    ("conv1d", "left, right = (pad, pad) if np.isscalar(pad) else pad",
     "left, right = (pad, pad) if np.isscalar(pad) else (pad[0], pad[0])", "left on both ends"),
    ("conv1d", "if span < 0 or span % stride != 0:", "if span < 0:", "should raise ValueError"),
    ("true_convolution2d", "kernel[::-1, ::-1]", "kernel", "not flipped"),
    ("true_convolution2d", "kernel[::-1, ::-1]", "kernel[::-1]", "up-down only"),
    ("true_convolution2d", "kernel[::-1, ::-1]", "kernel[:, ::-1]", "left-right only"),
    ("match_template", "return int(r), int(c)", "return int(c), int(r)", "(col, row)"),
    ("match_template", "ncc = num / np.sqrt(np.maximum(var, 1e-12) * (p**2).sum())",
     "ncc = np.einsum('ijuv,uv->ij', windows, patch)", "brightest"),
    ("match_template", "ncc = num / np.sqrt(np.maximum(var, 1e-12) * (p**2).sum())",
     "ncc = num", "norm is not divided out"),
    ("shift_equivariance_error", "np.abs(diff[border:h - border, border:w - border])",
     "np.abs(diff)", "border is not excluded"),
    ("shift_equivariance_error", "diff = conv(translate(image)) - translate(conv(image))",
     "diff = conv(np.roll(image, (dy, dx), (0, 1))) - np.roll(conv(image), (dy, dx), (0, 1))",
     "np.roll"),
    ("conv_forward_naive", "np.tensordot(window, w,", "np.tensordot(window, w[:, :, ::-1, ::-1],",
     "kernel is flipped"),
    ("conv_forward_naive", "axes=([1, 2, 3], [1, 2, 3])) + b", "axes=([1, 2, 3], [1, 2, 3]))",
     "bias is missing"),
    ("conv_forward_naive", "axes=([1, 2, 3], [1, 2, 3])) + b",
     "axes=([1, 2, 3], [1, 2, 3])) + b * w[0].size", "bias is added at every tap"),
    ("conv_forward_naive", "ho, wo = 1 + span_h // stride, 1 + span_w // stride",
     "ho, wo = span_h // stride, span_w // stride", "off by one"),
    ("conv_forward_naive",
     "window = xp[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]",
     "window = xp[:, :, i:i + hh, j:j + ww]", "stride"),
    ("conv_forward_naive",
     "window = xp[:, :, i * stride:i * stride + hh, j * stride:j * stride + ww]",
     "window = xp[:, :, i * (stride + 1):i * (stride + 1) + hh, "
     "j * (stride + 1):j * (stride + 1) + ww]", "stride"),
    ("conv_forward_naive", "xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
     "xp = np.pad(x, pad)", "channel axis too"),
    ("conv_forward_naive", "if min(span_h, span_w) < 0 or span_h % stride or span_w % stride:",
     "if min(span_h, span_w) < 0:", "should raise ValueError"),
    ("im2col", "windows = windows[:, :, ::stride, ::stride]", "windows = windows",
     "stride"),
    ("conv_forward_im2col", "out = w.reshape(f, -1) @ cols + b[:, None]",
     "out = w[:, :, ::-1, ::-1].reshape(f, -1) @ cols + b[:, None]", "kernel is flipped"),
    ("conv_forward_im2col", "out = w.reshape(f, -1) @ cols + b[:, None]",
     "out = w.reshape(f, -1) @ cols", "bias is missing"),
    ("max_pool_forward_naive", ".max(axis=(2, 3))", ".mean(axis=(2, 3))", "averages"),
    ("max_pool_forward_naive", ".max(axis=(2, 3))", ".min(axis=(2, 3))", "minimum"),
    ("max_pool_forward_naive", "x[:, :, i * s:i * s + ph, j * s:j * s + pw]",
     "x[:, :, i:i + ph, j:j + pw]", "stride is ignored"),
    ("max_pool_forward_naive", "x[:, :, i * s:i * s + ph, j * s:j * s + pw]",
     "x[:, :, i * s:i * s + pw, j * s:j * s + ph]", "swapped"),
    ("max_pool_forward_naive", "if h < ph or w < pw or (h - ph) % s or (w - pw) % s:",
     "if h < ph or w < pw:", "should raise ValueError"),
]

TEST_OF = {"conv1d": "test_conv1d", "true_convolution2d": "test_true_convolution2d",
           "match_template": "test_match_template",
           "shift_equivariance_error": "test_shift_equivariance_error",
           "conv_forward_naive": "test_conv_forward_naive", "im2col": "test_conv_forward_im2col",
           "conv_forward_im2col": "test_conv_forward_im2col",
           "max_pool_forward_naive": "test_max_pool_forward_naive"}


@pytest.mark.parametrize("func, old, new, words", MUTANTS,
                         ids=[f"{m[0]}:{m[3]}" for m in MUTANTS])
def test_mutant_loses_points_and_is_named(reference: str, func: str, old: str, new: str,
                                          words: str) -> None:
    code = mutate(reference, (old, new), within=func)
    # The mistake is named for at least one seed (some seeds draw cases where it cannot show).
    assert_loses_points(A, code, TEST_OF[func], words, SEEDS, named_by_every_seed=False)
