"""Hidden checks of assignment 01_conv_arithmetic (convolution arithmetic).

One :class:`~autograder.checkkit.Check` per autograded test cell of
``notebooks/01_conv_arithmetic/conv_arithmetic.ipynb`` (same name, same points).

Oracles are computed here, in the trusted parent, from the same random cases the student's code
sees, and never from the student's results:

- output sizes and volumes: the shape torch's own ``conv2d`` / ``max_pool2d`` produce on ``meta``
  tensors (shape inference without arithmetic on data), cross-checked against the exact formula
  (N - F + 2P)/S + 1 computed with :class:`fractions.Fraction`; a configuration "fits" only when
  that fraction is a whole number (torch would silently floor it, the course says: error).
- parameter counts: ``sum(p.numel())`` of torch ``Conv2d``/``Linear`` layers built on ``meta``.
- receptive field: autograd of a stack of all-ones convolutions in float64; the receptive field is
  the extent of the input pixels with a non-zero gradient of one output pixel.
- max pooling: ``torch.nn.functional.max_pool2d`` in float64 on inputs without ties.
- layer tables: the shapes and parameter counts of torch layers with the syllabus settings,
  also at random input sizes that fit (so a table copied from the lecture earns only part).

Tolerances: sizes, shapes and parameter counts are integers and compared exactly (a float such as
``5.0`` is not accepted where an int is asked); max pooling only selects input values, so its
output is compared with rtol=1e-12, atol=0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from autograder.checkkit import Call, Check, Raised, Skipped, Verdict, expect_close

ASSIGNMENT = "01_conv_arithmetic"

#: name -> points; must equal the notebook's autograded test cells (a test keeps them in step).
POINTS: dict[str, int] = {
    "test_conv_output_size": 3,
    "test_conv_layer_params": 2,
    "test_conv_output_volume": 2,
    "test_pool_output_volume": 2,
    "test_max_pool_2d": 3,
    "test_stacked_layers": 2,
    "test_alexnet_table": 3,
    "test_convnetjs_table": 3,
}

#: Simplified AlexNet of the lecture: (name, kind, config).
ALEXNET_SPEC: list[tuple[str, str, tuple[int, ...]]] = [
    ("CONV1", "conv", (96, 11, 4, 0)),
    ("POOL1", "pool", (3, 2)),
    ("NORM1", "norm", ()),
    ("CONV2", "conv", (256, 5, 1, 2)),
    ("POOL2", "pool", (3, 2)),
    ("NORM2", "norm", ()),
    ("CONV3", "conv", (384, 3, 1, 1)),
    ("CONV4", "conv", (384, 3, 1, 1)),
    ("CONV5", "conv", (256, 3, 1, 1)),
    ("POOL3", "pool", (3, 2)),
    ("FC6", "fc", (4096,)),
    ("FC7", "fc", (4096,)),
    ("FC8", "fc", (1000,)),
]

#: The small CIFAR-10 net of the ConvNetJS demo.
CONVNETJS_SPEC: list[tuple[str, str, tuple[int, ...]]] = [
    ("conv1", "conv", (16, 5, 1, 2)),
    ("pool1", "pool", (2, 2)),
    ("conv2", "conv", (20, 5, 1, 2)),
    ("pool2", "pool", (2, 2)),
    ("conv3", "conv", (20, 5, 1, 2)),
    ("pool3", "pool", (2, 2)),
    ("fc", "fc", (10,)),
]

# Input sizes at which every conv and pool of the simplified AlexNet fits exactly (227 is the
# lecture's): n = 4a + 11 with a/2 odd and (a/2 - 1)/2 odd.
ALEXNET_SIZES = (67, 99, 131, 163, 195, 259, 291)
CONVNETJS_SIZES = (8, 16, 24, 40, 48, 56, 64, 72, 96)


# --------------------------------------------------------------------------------------------
# Oracles (parent only)
# --------------------------------------------------------------------------------------------


def _torch():
    import torch

    return torch


def exact_output_size(n: int, f: int, stride: int, pad: int) -> Fraction:
    """(n - f + 2 pad) / stride + 1 as an exact fraction."""
    return Fraction(n - f + 2 * pad, stride) + 1


def torch_conv_shape(
    w: int, h: int, d: int, k: int, f: int, stride: int, pad: int
) -> tuple[int, int, int]:
    """(W2, H2, K) of torch's conv2d on a (1, d, h, w) meta input: shape inference only."""
    torch = _torch()
    x = torch.empty(1, d, h, w, device="meta")
    wt = torch.empty(k, d, f, f, device="meta")
    out = torch.nn.functional.conv2d(x, wt, stride=stride, padding=pad)
    return int(out.shape[3]), int(out.shape[2]), int(out.shape[1])


def torch_pool_shape(w: int, h: int, d: int, f: int, stride: int) -> tuple[int, int, int]:
    """(W2, H2, D) of torch's max_pool2d on a (1, d, h, w) meta input."""
    torch = _torch()
    out = torch.nn.functional.max_pool2d(torch.empty(1, d, h, w, device="meta"), f, stride)
    return int(out.shape[3]), int(out.shape[2]), int(out.shape[1])


def torch_conv_params(f: int, in_depth: int, k: int, bias: bool = True) -> int:
    torch = _torch()
    with torch.device("meta"):
        layer = torch.nn.Conv2d(in_depth, k, f, bias=bias)
    return int(sum(p.numel() for p in layer.parameters()))


def torch_receptive_field(num_layers: int, f: int) -> int:
    """Extent of the input pixels that one output pixel of ``num_layers`` f x f convs sees."""
    torch = _torch()
    size = num_layers * (f - 1) + 1 + 4  # a margin so the field cannot touch the border
    x = torch.zeros(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    w = torch.ones(1, 1, f, f, dtype=torch.float64)
    y = x
    for _ in range(num_layers):
        y = torch.nn.functional.conv2d(y, w)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    cols = torch.nonzero(x.grad[0, 0].abs().sum(dim=0)).flatten()
    return int(cols.max() - cols.min() + 1)


def torch_table(spec: Sequence[tuple[str, str, tuple[int, ...]]], size: int) -> list[dict]:
    """Rows ``{"name", "output_shape": (H, W, D), "params"}`` from torch layers on meta."""
    torch = _torch()
    nn = torch.nn
    rows = []
    with torch.device("meta"):
        x = torch.empty(1, 3, size, size)
        for name, kind, cfg in spec:
            if kind == "conv":
                k, f, s, p = cfg
                layer: Any = nn.Conv2d(x.shape[1], k, f, stride=s, padding=p)
            elif kind == "pool":
                layer = nn.MaxPool2d(cfg[0], cfg[1])
            elif kind == "norm":
                layer = nn.LocalResponseNorm(5)
            else:
                x = x.reshape(1, -1, 1, 1)
                layer = nn.Conv2d(x.shape[1], cfg[0], 1)  # == Linear(x.numel(), K) on a 1x1
                assert sum(p.numel() for p in layer.parameters()) == sum(
                    p.numel() for p in nn.Linear(x.shape[1], cfg[0]).parameters()
                )
            x = layer(x)
            params = int(sum(p.numel() for p in layer.parameters()))
            rows.append({"name": name, "output_shape": (x.shape[2], x.shape[3], x.shape[1]),
                         "params": params})
    return [{**r, "output_shape": tuple(int(v) for v in r["output_shape"])} for r in rows]


# --------------------------------------------------------------------------------------------
# Judging helpers
# --------------------------------------------------------------------------------------------


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _combine(verdicts: Sequence[Verdict], weights: Sequence[float] | None = None) -> Verdict:
    """Weighted mean fraction (equal weights by default); the failing cases' messages."""
    weights = [1.0] * len(verdicts) if weights is None else list(weights)
    frac = sum(w * v.fraction for w, v in zip(weights, verdicts, strict=True)) / sum(weights)
    frac = min(1.0, max(0.0, frac))
    failing = [v.message for v in verdicts if v.fraction < 1.0]
    if not failing:
        return Verdict(1.0, f"all {len(verdicts)} cases correct")
    mistakes = {m.partition(": it looks like ")[2] for m in failing}
    if len(failing) > 1 and len(mistakes) == 1 and "" not in mistakes:
        return Verdict(frac, f"{failing[0]} (the same in {len(failing)} of {len(verdicts)} "
                             "cases)")
    msgs: list[str] = []
    for m in failing:
        if m not in msgs:
            msgs.append(m)
    more = f" (and {len(msgs) - 3} more problems)" if len(msgs) > 3 else ""
    return Verdict(frac, "; ".join(msgs[:3]) + more)


def _failed_step(got: Any, what: str) -> Verdict | None:
    if isinstance(got, Raised):
        return Verdict(0.0, f"{what} raised {got.type}: {got.message}")
    if isinstance(got, Skipped):
        return Verdict(0.0, f"{what}: {got.reason}")
    return None


def judge_int(got: Any, expected: int, what: str, variants: dict[str, float]) -> Verdict:
    """Exact int; a float equal to ``expected`` earns half; variants name the mistake."""
    bad = _failed_step(got, what)
    if bad is not None:
        return bad
    if _is_int(got) and got == expected:
        return Verdict(1.0, f"{what} is correct")
    if isinstance(got, float) and got == expected:
        return Verdict(0.5, f"{what} returned the float {got!r}: return an int (use //)")
    mistake = _matching_variant(got, variants)
    if mistake is not None:
        return Verdict(0.0, f"{what} returned {got!r}, expected {expected}: "
                            f"it looks like {mistake}")
    return Verdict(0.0, f"{what} returned {got!r}, expected {expected}")


def _matching_variant(got: Any, variants: dict[str, float]) -> str | None:
    """The first variant equal to ``got``; failing that, the first whose floor (//) equals it."""
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return None
    for mistake, wrong in variants.items():
        if abs(float(got) - wrong) < 1e-9:
            return mistake
    for mistake, wrong in variants.items():
        if _is_int(got) and math.isfinite(wrong) and got == math.floor(wrong):
            return mistake
    return None


def consistent_mistake(results: Sequence[Any], variant_sets: Sequence[dict[str, float]]
                       ) -> str | None:
    """The one variant that explains every wrong result (exactly or as its floor), if any."""
    wrong = [(got, vs) for got, vs in zip(results, variant_sets, strict=False) if vs is not None]
    if not wrong:
        return None
    for mistake in wrong[0][1]:
        if all(isinstance(g, (int, float)) and not isinstance(g, bool)
               and (abs(float(g) - vs[mistake]) < 1e-9
                    or (_is_int(g) and math.isfinite(vs[mistake])
                        and g == math.floor(vs[mistake])))
               for g, vs in wrong):
            return mistake
    return None


def judge_triple(got: Any, expected: tuple[int, ...], what: str,
                 variants: dict[str, tuple]) -> Verdict:
    """A tuple (or list) of ints equal to ``expected``; variants name the mistake."""
    bad = _failed_step(got, what)
    if bad is not None:
        return bad
    if isinstance(got, (tuple, list)) and len(got) == len(expected):
        if all(_is_int(g) for g in got) and tuple(got) == tuple(expected):
            return Verdict(1.0, f"{what} is correct")
        if all(isinstance(g, (int, float)) for g in got) and tuple(got) == tuple(expected):
            return Verdict(0.5, f"{what} returned {got!r}: the sizes should be ints (use //)")
        for mistake, wrong in variants.items():
            if all(isinstance(g, (int, float)) for g in got) and tuple(got) == tuple(wrong):
                return Verdict(0.0, f"{what} returned {tuple(got)}, expected {expected}: "
                                    f"it looks like {mistake}")
    return Verdict(0.0, f"{what} returned {got!r}, expected {expected}")


def judge_raises(got: Any, what: str, floor_value: int, exact: Fraction,
                 floor_shape: tuple[int, ...] | None = None) -> Verdict:
    """Full marks for a ValueError; otherwise say whether the size was silently floored."""
    if isinstance(got, Raised) and got.type == "ValueError":
        return Verdict(1.0, f"{what} raises ValueError as it should")
    head = f"{what} does not fit ((N-F+2P)/S+1 = {float(exact):.3g}) and should raise ValueError"
    if isinstance(got, Raised):
        return Verdict(0.0, f"{head}, but raised {got.type}: {got.message}")
    if isinstance(got, Skipped):
        return Verdict(0.0, f"{what}: {got.reason}")
    values = got if isinstance(got, (tuple, list)) else [got]
    shown = f"an array of shape {got.shape}" if isinstance(got, np.ndarray) else repr(got)
    hint = ""
    if isinstance(got, np.ndarray):
        if got.shape == floor_shape:
            hint = ": it looks like the windows that do not fit are silently dropped"
    elif any(_is_int(v) and v == floor_value for v in values):
        hint = ": it looks like the result is silently floored instead of raising an error"
    elif any(isinstance(v, float) and abs(v - float(exact)) < 1e-9 for v in values):
        hint = ": it returns the fraction instead of raising an error"
    return Verdict(0.0, f"{head}, but returned {shown}{hint}")


def _div(a: int, b: int) -> float:
    return a / b if b else float("nan")


# --------------------------------------------------------------------------------------------
# Case generators
# --------------------------------------------------------------------------------------------


def _fitting_case(rng: np.random.Generator, distinct: bool = False
                  ) -> tuple[int, int, int, int]:
    """(n, f, stride, pad) with a whole output size >= 1.

    distinct: every known wrong formula gives a different value (exactly and rounded down) from
    the right one and from each other, so a wrong result points at one mistake only.
    """
    while True:
        f = int(rng.choice([1, 2, 3, 5, 7, 11]))
        s = int(rng.integers(1, 5))
        p = int(rng.integers(0, f // 2 + 2))
        m = int(rng.integers(2, 30))
        n = (m - 1) * s + f - 2 * p
        if n < 2:
            continue
        if distinct:
            sigs = [{v, math.floor(v)} for v in _conv_size_variants(n, f, s, p).values()]
            if any(m in sig for sig in sigs) or any(
                    a & b for i, a in enumerate(sigs) for b in sigs[i + 1:]):
                continue
        return n, f, s, p


def _non_fitting_case(rng: np.random.Generator) -> tuple[int, int, int, int]:
    while True:
        f = int(rng.choice([2, 3, 5, 7]))
        s = int(rng.integers(2, 5))
        p = int(rng.integers(0, f // 2 + 1))
        n = int(rng.integers(f + 1, 64))
        if (n - f + 2 * p) % s != 0:
            return n, f, s, p


def _conv_size_variants(n: int, f: int, s: int, p: int) -> dict[str, Any]:
    return {
        "the +1 is missing from (N - F + 2P)/S + 1": _div(n - f + 2 * p, s),
        "the padding is counted once (P) instead of on both sides (2P)": _div(n - f + p, s) + 1,
        "the stride is ignored": n - f + 2 * p + 1,
        "the padding is ignored": _div(n - f, s) + 1,
    }


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def check_conv_output_size(rng: np.random.Generator) -> Check:
    fits = [_fitting_case(rng, distinct=i < 4) for i in range(6)]
    bad = _non_fitting_case(rng)
    expected = []
    for n, f, s, p in fits:
        w2, _, _ = torch_conv_shape(n, n, 1, 1, f, s, p)
        assert exact_output_size(n, f, s, p) == w2  # the two oracles agree on fitting cases
        expected.append(w2)
    # a case that does not fit goes last: a step that raises skips the steps after it
    steps = [Call("conv_output_size", (n, f), {"stride": s, "pad": p}) for n, f, s, p in fits]
    steps.append(Call("conv_output_size", (bad[0], bad[1]), {"stride": bad[2], "pad": bad[3]}))

    def judge(results: list[Any]) -> Verdict:
        vs, wrong = [], []
        for (n, f, s, p), exp, got in zip(fits, expected, results, strict=False):
            what = f"conv_output_size({n}, {f}, stride={s}, pad={p})"
            variants = _conv_size_variants(n, f, s, p)
            vs.append(judge_int(got, exp, what, variants))
            wrong.append(variants if vs[-1].fraction == 0.0 else None)
        # one mistake explaining every wrong size is a better diagnosis than case-by-case guesses
        mistake = consistent_mistake(results, wrong)
        if mistake is not None:
            first = next(i for i, w in enumerate(wrong) if w is not None)
            vs[first] = Verdict(0.0, f"{vs[first].message.split(': it looks like')[0]}: "
                                     f"it looks like {mistake}")
            vs = [v if w is None or i == first else Verdict(0.0, vs[first].message)
                  for i, (v, w) in enumerate(zip(vs, wrong, strict=False))]
        n, f, s, p = bad
        exact = exact_output_size(n, f, s, p)
        floor_value = torch_conv_shape(n, n, 1, 1, f, s, p)[0]
        vs.append(judge_raises(results[-1], f"conv_output_size({n}, {f}, stride={s}, pad={p})",
                               floor_value, exact))
        # refusing a configuration that does not fit is a third of this exercise
        return _combine(vs, [2 / len(fits)] * len(fits) + [1.0])

    return Check("test_conv_output_size", POINTS["test_conv_output_size"], steps, judge)


def check_conv_layer_params(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(5):
        f = int(rng.choice([1, 3, 5, 7, 11]))
        d = int(rng.integers(2, 257))
        k = int(rng.integers(2, 513))
        if d == k:
            k += 1  # keeps "depth not spanned" distinguishable from other mistakes
        cases.append((f, d, k))
    expected = [torch_conv_params(f, d, k) for f, d, k in cases]
    steps = [Call("conv_layer_params", c) for c in cases]

    def judge(results: list[Any]) -> Verdict:
        vs = []
        for (f, d, k), exp, got in zip(cases, expected, results, strict=False):
            variants = {
                "the K biases are forgotten (F*F*D*K without + K)": f * f * d * k,
                "the filter does not span the input depth (F*F*K + K)": f * f * k + k,
                "the filter does not span the input depth and biases are forgotten (F*F*K)":
                    f * f * k,
                "there is one bias for the whole layer instead of one per filter":
                    f * f * d * k + 1,
                "the filter is counted as F*D instead of F*F*D": f * d * k + k,
            }
            vs.append(judge_int(got, exp, f"conv_layer_params({f}, {d}, {k})", variants))
        return _combine(vs)

    return Check("test_conv_layer_params", POINTS["test_conv_layer_params"], steps, judge)


def check_conv_output_volume(rng: np.random.Generator) -> Check:
    cases = []
    while len(cases) < 4:
        nw, f, s, p = _fitting_case(rng)
        # a second, different height that also fits the same filter, stride and pad
        mh = int(rng.integers(2, 30))
        nh = (mh - 1) * s + f - 2 * p
        if nh < 2 or nh == nw:
            continue
        d = int(rng.integers(1, 65))
        k = int(rng.integers(1, 129))
        if k == d:
            k += 1
        cases.append(((nw, nh, d), k, f, s, p))
    bad_n, bad_f, bad_s, bad_p = _non_fitting_case(rng)
    bad = ((bad_n, bad_n + bad_s, 3), 8, bad_f, bad_s, bad_p)
    expected = [torch_conv_shape(w, h, d, k, f, s, p) for (w, h, d), k, f, s, p in cases]
    steps = [Call("conv_output_volume", (shape, k, f), {"stride": s, "pad": p})
             for shape, k, f, s, p in cases]
    steps.append(Call("conv_output_volume", (bad[0], bad[1], bad[2]),
                      {"stride": bad[3], "pad": bad[4]}))

    def judge(results: list[Any]) -> Verdict:
        vs = []
        for ((w, h, d), k, f, s, p), exp, got in zip(cases, expected, results, strict=False):
            w2, h2, _ = exp
            what = f"conv_output_volume(({w}, {h}, {d}), {k}, {f}, stride={s}, pad={p})"
            variants = {
                "the output depth is the input depth D1 instead of the number of filters K":
                    (w2, h2, d),
                "width and height are swapped": (h2, w2, k),
                "the shape is in channels-first order (K, H2, W2) instead of (W2, H2, K)":
                    (k, h2, w2),
                "the padding is counted once (P) instead of on both sides (2P)":
                    (_div(w - f + p, s) + 1, _div(h - f + p, s) + 1, k),
                "the +1 is missing from (N - F + 2P)/S + 1":
                    (_div(w - f + 2 * p, s), _div(h - f + 2 * p, s), k),
            }
            vs.append(judge_triple(got, exp, what, variants))
        (w, h, d), k, f, s, p = bad
        exact = exact_output_size(w, f, s, p)
        floor_value = torch_conv_shape(w, h, d, k, f, s, p)[0]
        vs.append(judge_raises(results[-1], f"conv_output_volume(({w}, {h}, {d}), {k}, {f}, "
                                            f"stride={s}, pad={p})", floor_value, exact))
        return _combine(vs)

    return Check("test_conv_output_volume", POINTS["test_conv_output_volume"], steps, judge)


def _pool_cases(rng: np.random.Generator, count: int) -> list[tuple[int, int, int, int]]:
    """(W, H, f, stride) that fit, with W != H."""
    cases = []
    while len(cases) < count:
        f, s = [(2, 2), (3, 2), (2, 1), (3, 3), (4, 2)][int(rng.integers(0, 5))]
        mw, mh = (int(v) for v in rng.integers(1, 20, size=2))
        if mw == mh:
            continue
        cases.append(((mw - 1) * s + f, (mh - 1) * s + f, f, s))
    return cases


def check_pool_output_volume(rng: np.random.Generator) -> Check:
    cases = [(w, h, int(rng.integers(1, 257)), f, s) for w, h, f, s in _pool_cases(rng, 4)]
    bw = 2 * int(rng.integers(4, 30)) + 1  # odd width: a 2x2/2 window does not tile it
    bad = ((bw, bw + 1, 16), 2, 2)
    expected = [torch_pool_shape(w, h, d, f, s) for w, h, d, f, s in cases]
    steps = [Call("pool_output_volume", ((w, h, d), f, s)) for w, h, d, f, s in cases]
    steps.append(Call("pool_output_volume", bad))

    def judge(results: list[Any]) -> Verdict:
        vs = []
        for (w, h, d, f, s), exp, got in zip(cases, expected, results, strict=False):
            w2, h2, _ = exp
            variants = {
                "the +1 is missing from (W1 - F)/S + 1": (_div(w - f, s), _div(h - f, s), d),
                "width and height are swapped": (h2, w2, d),
                "the shape is in channels-first order (D, H2, W2)": (d, h2, w2),
                "the depth is pooled too (pooling works on each depth slice separately)":
                    (w2, h2, _div(d - f, s) + 1),
                "the stride is ignored": (w - f + 1, h - f + 1, d),
            }
            vs.append(judge_triple(got, exp, f"pool_output_volume(({w}, {h}, {d}), {f}, {s})",
                                   variants))
        (w, h, d), f, s = bad
        vs.append(judge_raises(results[-1], f"pool_output_volume(({w}, {h}, {d}), {f}, {s})",
                               torch_pool_shape(w, h, d, f, s)[0], exact_output_size(w, f, s, 0)))
        return _combine(vs)

    return Check("test_pool_output_volume", POINTS["test_pool_output_volume"], steps, judge)


def _no_ties(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Distinct values (a shuffled grid, negative ones included) so the max is unique."""
    return (rng.permutation(h * w).reshape(h, w) - h * w / 3) * 0.25


def check_max_pool_2d(rng: np.random.Generator) -> Check:
    torch = _torch()
    cases = []
    for w, h, f, s in _pool_cases(rng, 3) + [(6, 4, 2, 2)]:
        cases.append((_no_ties(rng, h, w), f, s))
    bad_x = _no_ties(rng, 5, 7)  # 2x2/2 does not tile 5x7
    expected = [
        torch.nn.functional.max_pool2d(torch.from_numpy(x)[None, None], f, s)[0, 0].numpy()
        for x, f, s in cases
    ]
    steps = [Call("max_pool_2d", (x,), {"f": f, "stride": s}) for x, f, s in cases[:-1]]
    steps.append(Call("max_pool_2d", (cases[-1][0],)))  # the defaults: 2x2 windows, stride 2
    steps.append(Call("max_pool_2d", (bad_x,)))

    def pooled(x: np.ndarray, f: int, s: int, reduce) -> np.ndarray:
        h2, w2 = (x.shape[0] - f) // s + 1, (x.shape[1] - f) // s + 1
        return np.array([[reduce(x[i * s:i * s + f, j * s:j * s + f]) for j in range(w2)]
                         for i in range(h2)])

    def judge(results: list[Any]) -> Verdict:
        vs = []
        for (x, f, s), exp, got in zip(cases, expected, results, strict=False):
            what = f"max_pool_2d of a {x.shape[0]}x{x.shape[1]} input with {f}x{f}/{s} windows"
            bad = _failed_step(got, what)
            if bad is not None:
                vs.append(bad)
                continue
            variants = {
                "average pooling instead of max pooling": pooled(x, f, s, np.mean),
                "min pooling instead of max pooling": pooled(x, f, s, np.min),
                "sum pooling instead of max pooling": pooled(x, f, s, np.sum),
                "the windows ignore the stride (stride 1)": pooled(x, f, 1, np.max),
            }
            vs.append(expect_close(got, exp, what, rtol=1e-12, atol=0.0, variants=variants))
        vs.append(judge_raises(results[-1], "max_pool_2d of a 5x7 input with 2x2/2 windows",
                               2, exact_output_size(5, 2, 2, 0), floor_shape=(2, 3)))
        return _combine(vs)

    return Check("test_max_pool_2d", POINTS["test_max_pool_2d"], steps, judge)


def check_stacked_layers(rng: np.random.Generator) -> Check:
    rf_cases = [(int(rng.integers(1, 9)), int(rng.choice([3, 5, 7]))) for _ in range(3)]
    rf_default = int(rng.integers(2, 9))
    p_cases = [(int(rng.integers(1, 9)), int(rng.choice([1, 3, 5, 7])),
                int(rng.choice([8, 16, 32, 64, 96, 128, 256, 512]))) for _ in range(3)]
    rf_expected = [torch_receptive_field(n, f) for n, f in rf_cases]
    rf_default_expected = torch_receptive_field(rf_default, 3)
    p_expected = [n * torch_conv_params(f, c, c, bias=False) for n, f, c in p_cases]
    steps = [Call("stacked_receptive_field", (n,), {"f": f}) for n, f in rf_cases]
    steps.append(Call("stacked_receptive_field", (rf_default,)))
    steps += [Call("stacked_params", c) for c in p_cases]

    def judge(results: list[Any]) -> Verdict:
        vs = []
        for (n, f), exp, got in zip(rf_cases + [(rf_default, 3)],
                                    rf_expected + [rf_default_expected], results, strict=False):
            variants = {
                "the fields of the layers are added (L*F) without counting their overlap": n * f,
                "the fields are multiplied (F**L)": f ** n,
                "the +1 of the first layer's centre pixel is missing (L*(F-1))": n * (f - 1),
                "each layer adds F pixels instead of F-1": 1 + n * f,
            }
            vs.append(judge_int(got, exp, f"stacked_receptive_field({n}, f={f})", variants))
        p_results = results[len(rf_cases) + 1:]
        for (n, f, c), exp, got in zip(p_cases, p_expected, p_results, strict=True):
            variants = {
                "biases are counted (the exercise asks for weights only)":
                    n * (f * f * c * c + c),
                "each filter does not span the C input channels (C instead of C*C)": n * f * f * c,
                "only one layer is counted": f * f * c * c,
                "the filter is F*C*C instead of F*F*C*C": n * f * c * c,
            }
            vs.append(judge_int(got, exp, f"stacked_params({n}, {f}, {c})", variants))
        return _combine(vs)

    return Check("test_stacked_layers", POINTS["test_stacked_layers"], steps, judge)


def judge_table(got: Any, expected: list[dict], what: str) -> Verdict:
    """Fraction of rows whose name, output_shape (H, W, D) and params all match."""
    bad = _failed_step(got, what)
    if bad is not None:
        return bad
    if not isinstance(got, list) or not all(isinstance(r, dict) for r in got):
        return Verdict(0.0, f"{what} should be a list of dicts, got {type(got).__name__}")
    if len(got) != len(expected):
        names = [e["name"] for e in expected]
        return Verdict(0.0, f"{what} has {len(got)} rows, expected {len(expected)}: {names}")
    good = 0
    problems: dict[str, list[str]] = {}  # kind of problem -> [first detailed message, rows...]

    def problem(kind: str, row: str, detail: str) -> None:
        problems.setdefault(kind, [detail]).append(row)

    for row, exp in zip(got, expected, strict=False):
        name = exp["name"]
        missing = {"name", "output_shape", "params"} - set(row)
        if missing:
            problem("keys", name, f"row {name} lacks the keys {sorted(missing)}")
            continue
        shape = row["output_shape"]
        shape = tuple(shape) if isinstance(shape, (list, tuple)) else shape
        h, w, d = exp["output_shape"]
        row_ok = True
        if str(row["name"]).strip().lower() != name.lower():
            problem("name", name, f"row {name} is named {row['name']!r}")
            row_ok = False
        if shape != exp["output_shape"] or not all(_is_int(v) for v in shape):
            row_ok = False
            if shape == (d, h, w):
                problem("order", name, f"{name} output_shape is in (D, H, W) order; use (H, W, D)")
            else:
                problem("shape", name, f"{name} output_shape should be {exp['output_shape']}, "
                                       f"got {row['output_shape']!r}")
        if not (_is_int(row["params"]) and row["params"] == exp["params"]):
            row_ok = False
            got_p = row["params"]
            if exp["params"] == 0:
                problem("zero", name, f"{name} has no parameters, got {got_p!r}")
            elif got_p == exp["params"] - d:
                problem("bias", name, f"{name} params {got_p!r} forget the {d} biases "
                                      f"(expected {exp['params']})")
            else:
                problem("params", name, f"{name} params should be {exp['params']}, got {got_p!r}")
        good += row_ok
    if good == len(expected):
        return Verdict(1.0, f"{what} is correct")
    parts = [detail + (f" (the same in {', '.join(others)})" if others else "")
             for detail, _first, *others in problems.values()]
    return Verdict(good / len(expected), f"{what}: " + "; ".join(parts))


def _table_check(name: str, func: str, spec: list, default: int, sizes: Sequence[int],
                 rng: np.random.Generator) -> Check:
    others = [int(v) for v in rng.choice([s for s in sizes if s != default], 2, replace=False)]
    expected = [torch_table(spec, default)] + [torch_table(spec, s) for s in others]
    steps = [Call(func)] + [Call(func, (s,)) for s in others]

    def judge(results: list[Any]) -> Verdict:
        vs = [judge_table(results[0], expected[0], f"{func}()")]
        for s, exp, got in zip(others, expected[1:], results[1:], strict=False):
            v = judge_table(got, exp, f"{func}({s})")
            if v.fraction < 1.0 and isinstance(got, list) and got == results[0]:
                v = Verdict(0.0, f"{func}({s}) returned the same table as {func}(): compute every "
                                 f"row from input_size with your functions, do not copy numbers")
            vs.append(v)
        frac = sum(v.fraction for v in vs) / len(vs)
        failing = [v.message for v in vs if v.fraction < 1.0]
        if not failing:
            return Verdict(1.0, f"all {len(vs)} tables correct")
        # the same mistake usually shows in every table: name it once
        also = [f"{func}({s})" for s, v in zip(others, vs[1:], strict=False) if v.fraction < 1.0]
        also = [a for a in also if not failing[0].startswith(a)]
        tail = f" (also wrong: {', '.join(also)})" if also else ""
        return Verdict(frac, failing[0] + tail)

    return Check(name, POINTS[name], steps, judge)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell, cases drawn from ``rng``."""
    return [
        check_conv_output_size(rng),
        check_conv_layer_params(rng),
        check_conv_output_volume(rng),
        check_pool_output_volume(rng),
        check_max_pool_2d(rng),
        check_stacked_layers(rng),
        _table_check("test_alexnet_table", "alexnet_table", ALEXNET_SPEC, 227, ALEXNET_SIZES,
                     rng),
        _table_check("test_convnetjs_table", "convnetjs_table", CONVNETJS_SPEC, 32,
                     CONVNETJS_SIZES, rng),
    ]
