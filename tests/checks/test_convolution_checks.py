"""Hidden checks of 02_convolution that only this assignment has.

Mutants of every function (named for at least one seed: some seeds draw cases where a mistake
cannot show), one mutant per stated rule (refusing windows that do not tile, kernels larger than
the input, pad pairs, the zero-variance guard, the border rules, the caches, im2col's layout and
no loop over output positions, numpy only), constant and hard-coded answers, missing functions,
per-case credit, and diagnoses that fire only on their fingerprint. What every assignment's
checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from _common import ASSIGNMENTS, SEEDS, assert_loses_points, assert_no_named_mistake, mutate, span
from corpus_convolution import ENTRIES

from autograder.results import MAX_TEXT

A = ASSIGNMENTS["convolution"]  # also the assignment of the `reference` fixture

TEST_OF = {"conv1d": "test_conv1d", "true_convolution2d": "test_true_convolution2d",
           "match_template": "test_match_template",
           "shift_equivariance_error": "test_shift_equivariance_error",
           "conv_forward_naive": "test_conv_forward_naive", "im2col": "test_conv_forward_im2col",
           "conv_forward_im2col": "test_conv_forward_im2col",
           "max_pool_forward_naive": "test_max_pool_forward_naive"}
NOT_OURS = "not from a check of yours"  # the kit's words for a ValueError numpy raised


def replace_function(code: str, name: str, new: str) -> str:
    """``code`` with the top-level function ``name`` replaced by the source ``new``."""
    lines = code.splitlines(keepends=True)
    a, b = span(code, name)
    return "".join(lines[:a]) + new.rstrip("\n") + "\n" + "".join(lines[b:])


def apply(code: str, func: str, edits: list[tuple[str, str]]) -> str:
    """Each edit within ``func``, or anywhere when its text is not in ``func`` (the second
    function a consistent mutant changes)."""
    for old, new in edits:
        a, b = span(code, func)
        inside = old in "".join(code.splitlines(keepends=True)[a:b])
        code = mutate(code, (old, new), within=func if inside else None)
    return code


def test_cases_change_with_the_seed() -> None:
    a = A.build(0)[4].cases[0].steps[0].args[0]
    b = A.build(1)[4].cases[0].steps[0].args[0]
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_missing_functions_score_zero() -> None:
    grades = A.grade("import numpy as np\n")
    assert all(g.fraction == 0 for g in grades.values())
    assert "not defined in your notebook" in grades["test_conv1d"].message


# --------------------------------------------------------------------------------------------
# No free points
# --------------------------------------------------------------------------------------------

SIGNATURES = {
    "conv1d": "x, w, b, stride=1, pad=0", "true_convolution2d": "image, kernel",
    "match_template": "image, patch",
    "shift_equivariance_error": "image, kernel, shift, border=None",
    "conv_forward_naive": "x, w, b, conv_param", "im2col": "x, HH, WW, stride, pad",
    "conv_forward_im2col": "x, w, b, conv_param", "max_pool_forward_naive": "x, pool_param",
}


@pytest.mark.parametrize("body", ["return 0", "return 0.0", "raise ValueError('does not fit')",
                                  "return np.zeros((1, 1, 1, 1)), None"],
                         ids=["zero", "zero float", "always raises", "zeros array"])
@pytest.mark.parametrize("seed", SEEDS)
def test_constant_answers_score_zero(body: str, seed: int) -> None:
    code = "import numpy as np\n" + "".join(
        f"def {name}({sig}):\n    {body}\n" for name, sig in SIGNATURES.items())
    grades = A.grade(code, seed)
    assert {n: g.fraction for n, g in grades.items()} == {n: 0.0 for n in grades}, grades


def test_shift_equivariance_zero_earns_nothing_and_says_why() -> None:
    code = "def shift_equivariance_error(*a, **k):\n    return 0\n"
    for seed in SEEDS:
        g = A.grade(code, seed)["test_shift_equivariance_error"]
        assert g.fraction == 0.0
        assert "the error is 0 even where the zero padding" in g.message


def test_hard_coded_visible_answers_score_zero() -> None:
    code = (
        "import numpy as np\n"
        "def conv1d(x, w, b, stride=1, pad=0):\n    return np.array([[0.0, 1.0, 0.0]])\n"
        "def true_convolution2d(image, kernel):\n    return np.array([[4.0, 5.0], [7.0, 8.0]])\n"
        "def max_pool_forward_naive(x, p):\n    return np.array([[[[6., 8.], [3., 4.]]]]), None\n"
        "def match_template(image, patch):\n    return (5, 7)\n"
        "def shift_equivariance_error(image, kernel, shift, border=None):\n"
        "    return 0.0 if border is None else 0.5\n"
    )
    for seed in SEEDS:
        grades = A.grade(code, seed)
        for name in ("test_conv1d", "test_true_convolution2d", "test_max_pool_forward_naive",
                     "test_match_template", "test_shift_equivariance_error"):
            assert grades[name].fraction == 0.0, (name, grades[name])


# --------------------------------------------------------------------------------------------
# Mutants: (function, old, new, words the message must contain) for each classic mistake
# --------------------------------------------------------------------------------------------

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
     "np.abs(diff)", "border is ignored"),
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
     "xp = np.pad(x, pad)", "raised ValueError"),
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
    ("true_convolution2d", "windows = np.lib.stride_tricks.sliding_window_view(image, "
     "kernel.shape)", "windows = np.lib.stride_tricks.sliding_window_view(np.pad(image, "
     "((kernel.shape[0] - 1,) * 2, (kernel.shape[1] - 1,) * 2)), kernel.shape)",
     "'full' output"),
    ("shift_equivariance_error", "    dy, dx = shift\n", "    dy, dx = -shift[0], -shift[1]\n",
     "goes the wrong way"),
    ("conv1d", "left, right = (pad, pad) if np.isscalar(pad) else pad",
     "right, left = (pad, pad) if np.isscalar(pad) else pad", "wrong way round"),
]


@pytest.mark.parametrize("func, old, new, words", MUTANTS,
                         ids=[f"{m[0]}:{m[3]}" for m in MUTANTS])
def test_mutant_loses_points_and_is_named(reference: str, func: str, old: str, new: str,
                                          words: str) -> None:
    code = mutate(reference, (old, new), within=func)
    grades = [A.grade(code, seed, only=TEST_OF[func])[TEST_OF[func]] for seed in SEEDS]
    assert all(g.fraction < 1.0 for g in grades), grades
    # The mistake is named for at least one seed (some seeds draw cases where it cannot show).
    assert any(words in g.message for g in grades), [g.message for g in grades]
    for g in grades:  # short, and no array shown
        assert len(g.message) <= MAX_TEXT and "[[" not in g.message and "array(" not in g.message


# --------------------------------------------------------------------------------------------
# One mutant per stated rule, named for every seed
# --------------------------------------------------------------------------------------------

RULE_MUTANTS = {
    # conv1d: "or a kernel longer than the signal" -> numpy's ValueError is not a deliberate one
    "conv1d: kernel longer than the signal": (
        "conv1d", [("if span < 0 or span % stride != 0:", "if span % stride != 0:")], NOT_OURS),
    # conv1d: "pad is either one int or a pair (left, right)"
    "conv1d: pad pair": (
        "conv1d", [("left, right = (pad, pad) if np.isscalar(pad) else pad",
                    "left = right = pad")], "conv1d(array"),
    # match_template: "Guard against windows with zero variance"
    "match_template: zero-variance guard": (
        "match_template", [("np.maximum(var, 1e-12)", "var")], "zero variance"),
    # shift_equivariance_error: "raise ValueError if the border leaves nothing to compare"
    "shift: no ValueError": (
        "shift_equivariance_error", [("    if 2 * border >= min(h, w):\n        raise "
                                      "ValueError(f\"border {border} leaves nothing of a "
                                      "{h}x{w} image to compare\")\n", "")], NOT_OURS),
    "shift: border limit off by one": (
        "shift_equivariance_error", [("if 2 * border >= min(h, w):",
                                      "if 2 * border > min(h, w):")], "should raise ValueError"),
    # shift_equivariance_error: "by default border = max(|dy|, |dx|) + max(KH, KW) // 2"
    "shift: default border": (
        "shift_equivariance_error", [("border = max(abs(dy), abs(dx)) + max(kh, kw) // 2",
                                      "border = max(abs(dy), abs(dx), kh // 2, kw // 2)")],
        "should raise ValueError"),
    # conv_forward_naive: "Raise ValueError when the filters do not tile the padded input"
    "conv: filter larger than the padded input": (
        "conv_forward_naive", [("if min(span_h, span_w) < 0 or span_h % stride or span_w % "
                                "stride:", "if span_h % stride or span_w % stride:")],
        "should raise ValueError"),
    "conv: lucky pass (ceil, no check)": (
        "conv_forward_naive", [("if min(span_h, span_w) < 0 or span_h % stride or span_w % "
                                "stride:", "if False:"),
                               ("ho, wo = 1 + span_h // stride, 1 + span_w // stride",
                                "ho, wo = 1 - (-span_h // stride), 1 - (-span_w // stride)")],
        NOT_OURS),
    # conv_forward_naive: "cache = (x, w, b, conv_param)"
    "conv: cache layout": (
        "conv_forward_naive", [("cache = (x, w, b, conv_param)",
                                "cache = (xp, w, b, conv_param)")], "the cache should be"),
    # max_pool_forward_naive: "cache = (x, pool_param)"
    "pool: cache layout": (
        "max_pool_forward_naive", [("return out, (x, pool_param)", "return out, (x,)")],
        "the cache should be"),
    # Exercise 6: im2col's column layout ((c, u, v) rows, (n, i, j) columns), kept consistent
    # in conv_forward_im2col so that only im2col's own cases can see it
    "im2col: batch last": (
        "im2col", [("windows.transpose(1, 4, 5, 0, 2, 3)", "windows.transpose(1, 4, 5, 2, 3, 0)"),
                   ("out = out.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)",
                    "out = out.reshape(f, ho, wo, n).transpose(3, 0, 1, 2)")], "batch last"),
    "im2col: (u, v, c) rows": (
        "im2col", [("windows.transpose(1, 4, 5, 0, 2, 3)", "windows.transpose(4, 5, 1, 0, 2, 3)"),
                   ("out = w.reshape(f, -1) @ cols", "out = w.transpose(0, 2, 3, 1).reshape(f, "
                                                     "-1) @ cols")], "(u, v, c) order"),
}


@pytest.mark.parametrize("rule", sorted(RULE_MUTANTS))
@pytest.mark.parametrize("seed", SEEDS)
def test_each_stated_rule_has_a_mutant_that_loses_points(reference: str, rule: str,
                                                         seed: int) -> None:
    func, edits, words = RULE_MUTANTS[rule]
    code = apply(reference, func, edits)
    assert_loses_points(A, code, TEST_OF[func], words, seeds=(seed,), only=True)


def test_im2col_layout_costs_only_its_own_cases(reference: str) -> None:
    func, edits, _ = RULE_MUTANTS["im2col: batch last"]
    code = apply(reference, func, edits)
    g = A.grade(code, 0, only="test_conv_forward_im2col")["test_conv_forward_im2col"]
    assert g.fraction == pytest.approx(1 - 2 / 8)  # two im2col cases of weight 1 out of 8


# --------------------------------------------------------------------------------------------
# Structure: no loop over output positions in Exercise 6, numpy only everywhere
# --------------------------------------------------------------------------------------------

def corpus_code(name: str) -> str:
    """A submission made of one entry of the real-code corpus."""
    return "import numpy as np\n" + next(e for e in ENTRIES if e.name == name).code


def test_a_loop_over_output_positions_in_im2col_costs_the_points() -> None:
    code = corpus_code("im2col, loop over positions")
    g = A.grade(code, 0, only="test_conv_forward_im2col")["test_conv_forward_im2col"]
    assert g.fraction == 0.0
    assert "no Python loop over output positions" in g.message and "im2col loops over" in \
        g.message


def test_a_loop_over_kernel_offsets_is_allowed() -> None:
    code = corpus_code("im2col, loop over kernel offsets")
    for seed in SEEDS:
        g = A.grade(code, seed, only="test_conv_forward_im2col")["test_conv_forward_im2col"]
        assert g.fraction == 1.0, g.message


BANNED = [
    ("conv_forward_naive", "def conv_forward_naive(x, w, b, conv_param):\n"
     "    import torch\n    import torch.nn.functional as F\n"
     "    out = F.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), "
     "stride=conv_param['stride'], padding=conv_param['pad'])\n"
     "    return out.numpy(), (x, w, b, conv_param)\n", "torch.nn.functional.conv2d"),
    ("conv1d", "def conv1d(x, w, b, stride=1, pad=0):\n"
     "    left, right = (pad, pad) if np.isscalar(pad) else pad\n"
     "    xp = np.pad(x, ((0, 0), (left, right)))\n"
     "    out = np.array([[sum(np.correlate(xp[c], w[f, c], mode='valid')[::stride] "
     "for c in range(x.shape[0]))] for f in range(w.shape[0])])[:, 0] + b[:, None]\n"
     "    return out\n", "numpy.correlate"),
    ("conv1d", "from numpy import convolve\n\ndef conv1d(x, w, b, stride=1, pad=0):\n"
     "    return convolve(x[0], w[0, 0][::-1], 'valid')[None] + b[:, None]\n",
     "numpy.convolve"),
    ("true_convolution2d", "def true_convolution2d(image, kernel):\n"
     "    from scipy.signal import convolve2d\n"
     "    return convolve2d(image, kernel, mode='valid')\n", "scipy.signal.convolve2d"),
    ("match_template", "def match_template(image, patch):\n"
     "    from skimage.feature import match_template as mt\n"
     "    r, c = np.unravel_index(np.argmax(mt(image, patch)), image.shape)\n"
     "    return int(r), int(c)\n", "skimage.feature.match_template"),
    ("shift_equivariance_error", "def shift_equivariance_error(image, kernel, shift, "
     "border=None):\n    from cnnlib import filters\n"
     "    return float(np.abs(filters.apply_filter(image, kernel)).max())\n", "cnnlib"),
    ("max_pool_forward_naive", "def max_pool_forward_naive(x, pool_param):\n"
     "    import torch\n    out = torch.nn.functional.max_pool2d(torch.tensor(x), "
     "(pool_param['pool_height'], pool_param['pool_width']), pool_param['stride'])\n"
     "    return out.numpy(), (x, pool_param)\n", "torch.nn.functional.max_pool2d"),
    ("conv_forward_im2col", "def conv_forward_im2col(x, w, b, conv_param):\n"
     "    return conv_forward_naive(x, w, b, conv_param)\n", "conv_forward_naive"),
]


@pytest.mark.parametrize("func, new, words", BANNED, ids=[f"{b[0]}:{b[2]}" for b in BANNED])
def test_ready_made_implementations_cost_the_points(reference: str, func: str, new: str,
                                                    words: str) -> None:
    code = replace_function(reference, func, new)
    g = A.grade(code, 0, only=TEST_OF[func])[TEST_OF[func]]
    assert g.fraction == 0.0
    assert words in g.message and "which this exercise may not use" in g.message


# --------------------------------------------------------------------------------------------
# Per-case credit, and diagnoses that fire only on their fingerprint
# --------------------------------------------------------------------------------------------


def test_a_crash_on_one_case_keeps_the_others(reference: str) -> None:
    """``pad:-pad`` cropping crashes at pad 0 only: the cases with padding keep their credit."""
    code = mutate(reference, ("xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
                              "xp = np.zeros((n, c, h + 2 * pad, wd + 2 * pad))\n"
                              "    xp[:, :, pad:-pad, pad:-pad] = x"), within="conv_forward_naive")
    for seed in SEEDS:
        g = A.grade(code, seed, only="test_conv_forward_naive")["test_conv_forward_naive"]
        assert 0.0 < g.fraction < 1.0, g
        assert "raised ValueError" in g.message and "pad': 0}" in g.message


CHANNEL_MAX = [("out = np.empty((n, c, ho, wo))", "out = np.empty((n, 1, ho, wo))"),
               ("out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))",
                "out[:, 0, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(1, 2, "
                "3))")]
ACROSS = "the maximum was also taken across channels"


def test_channel_hint_fires_when_the_channel_axis_is_pooled(reference: str) -> None:
    code = reference
    for edit in CHANNEL_MAX:
        code = mutate(code, edit)
    assert_loses_points(A, code, "test_max_pool_forward_naive", ACROSS, SEEDS, only=True)


@pytest.mark.parametrize("edit", [
    (".max(axis=(2, 3))", ".mean(axis=(2, 3))"),
    (".max(axis=(2, 3))", ".max(axis=(1, 2, 3))[:, None]"),  # right shape, channels mixed
    ("return out, (x, pool_param)", "return out + 1.0, (x, pool_param)"),
], ids=["average", "channels mixed, right shape", "shifted values"])
def test_channel_hint_never_fires_on_a_right_shape(reference: str, edit: tuple) -> None:
    code = mutate(reference, edit)
    for seed in SEEDS:
        g = A.grade(code, seed, only="test_max_pool_forward_naive")["test_max_pool_forward_naive"]
        assert g.fraction < 1.0 and ACROSS not in g.message, g.message


MASK_SUM_POOL = """
def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, h, w = x.shape
    if h < ph or w < pw or (h - ph) % s or (w - pw) % s:
        raise ValueError("does not fit")
    ho, wo = 1 + (h - ph) // s, 1 + (w - pw) // s
    out = np.empty((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            top = win.max(axis=(2, 3), keepdims=True)
            out[:, :, i, j] = (win * (win == top)).sum(axis=(2, 3))
    return out, (x, pool_param)
"""


def test_ties_count_each_maximum_once(reference: str) -> None:
    """Summing the window where it equals its maximum counts a tied maximum twice: only the
    case with ties loses (weight 1 of 6.5)."""
    code = replace_function(reference, "max_pool_forward_naive", MASK_SUM_POOL)
    for seed in SEEDS:
        g = A.grade(code, seed, only="test_max_pool_forward_naive")["test_max_pool_forward_naive"]
        assert g.fraction == pytest.approx(1 - 1 / 6.5), g.message


@pytest.mark.parametrize("edit", [
    ("np.unravel_index(np.argmax(ncc), ncc.shape)", "np.unravel_index(np.argmin(ncc), "
     "ncc.shape)"),
    ("return int(r), int(c)", "return int(r) + 1, int(c)"),
], ids=["worst match", "one row off"])
def test_no_named_mistake_on_an_unrelated_wrong_place(reference: str, edit: tuple) -> None:
    assert_no_named_mistake(A, mutate(reference, edit), "test_match_template")


def test_shape_hints_fire_only_on_a_wrong_shape(reference: str) -> None:
    wrong_values = mutate(reference, ("return np.einsum(\"ijuv,uv->ij\", windows, kernel[::-1, "
                                      "::-1])", "return 2.0 * np.einsum(\"ijuv,uv->ij\", "
                                      "windows, kernel[::-1, ::-1])"))
    for seed in SEEDS:
        g = A.grade(wrong_values, seed, only="test_true_convolution2d")["test_true_convolution2d"]
        assert g.fraction == 0.0 and "'full'" not in g.message and "'same'" not in g.message


def test_match_template_wants_plain_ints(reference: str) -> None:
    code = mutate(reference, ("return int(r), int(c)", "return float(r), float(c)"))
    g = A.grade(code, 0, only="test_match_template")["test_match_template"]
    assert g.fraction == 0.5 and "plain ints" in g.message
