"""Hidden checks of assignment 01_conv_arithmetic (convolution arithmetic).

One :class:`~autograder.checks.kit.Check` per autograded test cell of
``notebooks/01_conv_arithmetic/conv_arithmetic.ipynb`` (same name; points come from the cell).

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

from autograder.checks.kit import (
    Call,
    Case,
    Check,
    Raised,
    Tol,
    Verdict,
    expect_close,
    expect_raises,
    fail,
    looks_like,
    ok,
    short,
    value,
)

ASSIGNMENT = "01_conv_arithmetic"
#: Pure arithmetic: graded code may not hand it to torch or the course library.
BANS = ("torch", "cnnlib", "scipy")
EXACT = Tol(1e-12, 0.0)

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
                layer = nn.Identity()  # LRN keeps the shape and has no parameters; running it
                # on the meta device costs a second of torch's lazy set-up for nothing
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


def judge_int(got: Any, expected: int, what: str, variants: dict[str, float]) -> Verdict:
    """Exact int; a float equal to ``expected`` earns half; a variant is named when the result
    equals it (or its floor)."""
    v, bad = value(got, what)
    if bad is not None:
        return bad
    if _is_int(v) and v == expected:
        return ok(f"{what} is right")
    if isinstance(v, float) and v == expected:
        return fail(f"{what} returned the float {v!r}: return an int (use //)", 0.5)
    mistake = _matching_variant(v, variants, expected)
    if mistake is not None:
        return fail(f"{what} returned {v!r}, expected {expected}" + looks_like(mistake))
    return fail(f"{what} returned {short(v, 40)}, expected {expected}")


def _matching_variant(got: Any, variants: dict[str, float], expected: float) -> str | None:
    """The variant equal to ``got`` (or whose floor is), and different from the right value."""
    if not isinstance(got, (int, float)) or isinstance(got, bool):
        return None
    for mistake, wrong in variants.items():
        if abs(float(got) - wrong) < 1e-9 and abs(wrong - expected) > 1e-9:
            return mistake
    for mistake, wrong in variants.items():
        if _is_int(got) and math.isfinite(wrong) and got == math.floor(wrong) \
                and got != expected:
            return mistake
    return None


def judge_triple(got: Any, expected: tuple[int, ...], what: str,
                 variants: dict[str, tuple]) -> Verdict:
    """A tuple (or list) of ints equal to ``expected``; variants name the mistake."""
    v, bad = value(got, what)
    if bad is not None:
        return bad
    if isinstance(v, (tuple, list)) and len(v) == len(expected) and \
            all(isinstance(g, (int, float)) and not isinstance(g, bool) for g in v):
        if tuple(v) == tuple(expected):
            if all(_is_int(g) for g in v):
                return ok(f"{what} is right")
            return fail(f"{what} returned {tuple(v)!r}: the sizes should be ints (use //)", 0.5)
        for mistake, wrong in variants.items():
            if tuple(v) == tuple(wrong) and tuple(wrong) != tuple(expected):
                return fail(f"{what} returned {tuple(v)}, expected {expected}"
                            + looks_like(mistake))
    return fail(f"{what} returned {short(v, 40)}, expected {expected}")


def judge_raises(got: Any, what: str, floor_value: int, exact: Fraction,
                 floor_shape: tuple[int, ...] | None = None) -> Verdict:
    """Full marks for a ValueError raised by the student's own check; otherwise say whether
    the size was silently floored."""
    if isinstance(got, Raised):
        return expect_raises(got, ("ValueError",), what)
    head = f"{what} does not fit ((N-F+2P)/S+1 = {float(exact):.3g}) and should raise ValueError"
    v, bad = value(got, what)
    if bad is not None:
        return bad
    values = v if isinstance(v, (tuple, list)) else [v]
    shown = f"an array of shape {v.shape}" if isinstance(v, np.ndarray) else short(v, 40)
    hint = ""
    if isinstance(v, np.ndarray):
        if v.shape == floor_shape:
            hint = looks_like("the windows that do not fit are silently dropped")
    elif any(_is_int(x) and x == floor_value for x in values):
        hint = looks_like("the result is silently floored instead of raising an error")
    elif any(isinstance(x, float) and abs(x - float(exact)) < 1e-9 for x in values):
        hint = ": it returns the fraction instead of raising an error"
    return fail(f"{head}, but returned {shown}{hint}")


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


def _int_case(func: str, args: tuple, kwargs: dict, expected: int,
              variants: dict[str, float], what: str, weight: float = 1.0) -> Case:
    return Case(Call(func, args, kwargs),
                lambda r: judge_int(r[0], expected, what, variants), weight)


def _raise_case(call: Call, what: str, floor_value: int, exact: Fraction,
                floor_shape: tuple[int, ...] | None = None, weight: float = 1.0) -> Case:
    return Case(call, lambda r: judge_raises(r[0], what, floor_value, exact, floor_shape),
                weight)


def check_conv_output_size(rng: np.random.Generator) -> Check:
    fits = [_fitting_case(rng, distinct=i < 4) for i in range(6)]
    cases = []
    for n, f, s, p in fits:
        w2, _, _ = torch_conv_shape(n, n, 1, 1, f, s, p)
        assert exact_output_size(n, f, s, p) == w2  # the two oracles agree on fitting cases
        cases.append(_int_case("conv_output_size", (n, f), {"stride": s, "pad": p}, w2,
                               _conv_size_variants(n, f, s, p),
                               f"conv_output_size({n}, {f}, stride={s}, pad={p})",
                               weight=2 / len(fits)))
    # refusing a configuration that does not fit is a third of this exercise
    n, f, s, p = _non_fitting_case(rng)
    cases.append(_raise_case(Call("conv_output_size", (n, f), {"stride": s, "pad": p}),
                             f"conv_output_size({n}, {f}, stride={s}, pad={p})",
                             torch_conv_shape(n, n, 1, 1, f, s, p)[0],
                             exact_output_size(n, f, s, p)))
    # a filter larger than the padded input: nothing fits at all
    n = int(rng.integers(2, 6))
    f = n + 2 + int(rng.integers(1, 4))
    cases.append(_raise_case(Call("conv_output_size", (n, f), {"stride": 1, "pad": 0}),
                             f"conv_output_size({n}, {f}) (filter larger than the input)",
                             n - f + 1, exact_output_size(n, f, 1, 0), weight=0.5))
    return Check("test_conv_output_size", ("conv_output_size",), cases, BANS)


def check_conv_layer_params(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(5):
        f = int(rng.choice([1, 3, 5, 7, 11]))
        d = int(rng.integers(2, 257))
        k = int(rng.integers(2, 513))
        if d == k:
            k += 1  # keeps "depth not spanned" distinguishable from other mistakes
        variants = {
            "the K biases are forgotten (F*F*D*K without + K)": f * f * d * k,
            "the filter does not span the input depth (F*F*K + K)": f * f * k + k,
            "the filter does not span the input depth and biases are forgotten (F*F*K)":
                f * f * k,
            "there is one bias for the whole layer instead of one per filter": f * f * d * k + 1,
            "the filter is counted as F*D instead of F*F*D": f * d * k + k,
        }
        cases.append(_int_case("conv_layer_params", (f, d, k), {}, torch_conv_params(f, d, k),
                               variants, f"conv_layer_params({f}, {d}, {k})"))
    return Check("test_conv_layer_params", ("conv_layer_params",), cases, BANS)


def _volume_case(rng: np.random.Generator) -> tuple[tuple[int, int, int], int, int, int, int]:
    while True:
        nw, f, s, p = _fitting_case(rng)
        # a second, different height that also fits the same filter, stride and pad
        mh = int(rng.integers(2, 30))
        nh = (mh - 1) * s + f - 2 * p
        if nh < 2 or nh == nw:
            continue
        d = int(rng.integers(1, 65))
        k = int(rng.integers(1, 129))
        return (nw, nh, d), k + (k == d), f, s, p


def check_conv_output_volume(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(4):
        (w, h, d), k, f, s, p = _volume_case(rng)
        w2, h2, _ = exp = torch_conv_shape(w, h, d, k, f, s, p)
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
        cases.append(Case(Call("conv_output_volume", ((w, h, d), k, f), {"stride": s, "pad": p}),
                          lambda r, exp=exp, what=what, variants=variants:
                          judge_triple(r[0], exp, what, variants)))
    n, f, s, p = _non_fitting_case(rng)
    (w, h, d), k = (n, n + s, 3), 8
    cases.append(_raise_case(Call("conv_output_volume", ((w, h, d), k, f),
                                  {"stride": s, "pad": p}),
                             f"conv_output_volume(({w}, {h}, {d}), {k}, {f}, stride={s}, pad={p})",
                             torch_conv_shape(w, h, d, k, f, s, p)[0],
                             exact_output_size(w, f, s, p)))
    n = int(rng.integers(2, 6))
    f = n + 3
    cases.append(_raise_case(Call("conv_output_volume", ((n, n, 3), 4, f), {"stride": 1,
                                                                           "pad": 0}),
                             f"conv_output_volume(({n}, {n}, 3), 4, {f}) (filter larger than "
                             "the input)", n - f + 1, exact_output_size(n, f, 1, 0), weight=0.5))
    return Check("test_conv_output_volume", ("conv_output_volume",), cases, BANS)


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
    cases = []
    for w, h, f, s in _pool_cases(rng, 4):
        d = int(rng.integers(1, 257))
        w2, h2, _ = exp = torch_pool_shape(w, h, d, f, s)
        variants = {
            "the +1 is missing from (W1 - F)/S + 1": (_div(w - f, s), _div(h - f, s), d),
            "width and height are swapped": (h2, w2, d),
            "the shape is in channels-first order (D, H2, W2)": (d, h2, w2),
            "the depth is pooled too (pooling works on each depth slice separately)":
                (w2, h2, _div(d - f, s) + 1),
            "the stride is ignored": (w - f + 1, h - f + 1, d),
        }
        what = f"pool_output_volume(({w}, {h}, {d}), {f}, {s})"
        cases.append(Case(Call("pool_output_volume", ((w, h, d), f, s)),
                          lambda r, exp=exp, what=what, variants=variants:
                          judge_triple(r[0], exp, what, variants)))
    bw = 2 * int(rng.integers(4, 30)) + 1  # odd width: a 2x2/2 window does not tile it
    (w, h, d), f, s = (bw, bw + 1, 16), 2, 2
    cases.append(_raise_case(Call("pool_output_volume", ((w, h, d), f, s)),
                             f"pool_output_volume(({w}, {h}, {d}), {f}, {s})",
                             torch_pool_shape(w, h, d, f, s)[0], exact_output_size(w, f, s, 0)))
    return Check("test_pool_output_volume", ("pool_output_volume",), cases, BANS)


def _no_ties(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Distinct values (a shuffled grid, negative ones included) so the max is unique."""
    return (rng.permutation(h * w).reshape(h, w) - h * w / 3) * 0.25


def _pooled(x: np.ndarray, f: int, s: int, reduce: Any) -> np.ndarray:
    h2, w2 = (x.shape[0] - f) // s + 1, (x.shape[1] - f) // s + 1
    return np.array([[reduce(x[i * s:i * s + f, j * s:j * s + f]) for j in range(w2)]
                     for i in range(h2)])


def _max_pool_case(x: np.ndarray, f: int, s: int, defaults: bool = False) -> Case:
    torch = _torch()
    exp = torch.nn.functional.max_pool2d(torch.from_numpy(x)[None, None], f, s)[0, 0].numpy()
    what = f"max_pool_2d of a {x.shape[0]}x{x.shape[1]} input with {f}x{f}/{s} windows"
    variants = {
        "average pooling instead of max pooling": _pooled(x, f, s, np.mean),
        "min pooling instead of max pooling": _pooled(x, f, s, np.min),
        "sum pooling instead of max pooling": _pooled(x, f, s, np.sum),
        "the windows ignore the stride (stride 1)": _pooled(x, f, 1, np.max),
    }
    call = Call("max_pool_2d", (x,)) if defaults else Call("max_pool_2d", (x,),
                                                           {"f": f, "stride": s})
    return Case(call, lambda r: expect_close(r[0], exp, what, EXACT, variants))


def check_max_pool_2d(rng: np.random.Generator) -> Check:
    cases = [_max_pool_case(_no_ties(rng, h, w), f, s) for w, h, f, s in _pool_cases(rng, 3)]
    cases.append(_max_pool_case(_no_ties(rng, 4, 6), 2, 2, defaults=True))
    # ties: equal values in a window still give that value (any of them may be taken)
    tied = np.repeat(np.repeat(rng.integers(-3, 4, size=(3, 4)).astype(float), 2, 0), 2, 1)
    cases.append(_max_pool_case(tied, 2, 2))
    bad_x = _no_ties(rng, 5, 7)  # 2x2/2 does not tile 5x7
    cases.append(_raise_case(Call("max_pool_2d", (bad_x,)),
                             "max_pool_2d of a 5x7 input with 2x2/2 windows", 2,
                             exact_output_size(5, 2, 2, 0), floor_shape=(2, 3)))
    return Check("test_max_pool_2d", ("max_pool_2d",), cases, BANS)


def check_stacked_layers(rng: np.random.Generator) -> Check:
    cases = []
    rf = [(int(rng.integers(1, 9)), int(rng.choice([3, 5, 7]))) for _ in range(3)]
    for i, (n, f) in enumerate([*rf, (int(rng.integers(2, 9)), 3)]):
        variants = {
            "the fields of the layers are added (L*F) without counting their overlap": n * f,
            "the fields are multiplied (F**L)": f ** n,
            "the +1 of the first layer's centre pixel is missing (L*(F-1))": n * (f - 1),
            "each layer adds F pixels instead of F-1": 1 + n * f,
        }
        kwargs = {"f": f} if i < len(rf) else {}  # the last one uses the default f=3
        cases.append(_int_case("stacked_receptive_field", (n,), kwargs,
                               torch_receptive_field(n, f), variants,
                               f"stacked_receptive_field({n}, f={f})"))
    for _ in range(3):
        n, f = int(rng.integers(1, 9)), int(rng.choice([1, 3, 5, 7]))
        c = int(rng.choice([8, 16, 32, 64, 96, 128, 256, 512]))
        variants = {
            "biases are counted (the exercise asks for weights only)": n * (f * f * c * c + c),
            "each filter does not span the C input channels (C instead of C*C)": n * f * f * c,
            "only one layer is counted": f * f * c * c,
            "the filter is F*C*C instead of F*F*C*C": n * f * c * c,
        }
        cases.append(_int_case("stacked_params", (n, f, c), {},
                               n * torch_conv_params(f, c, c, bias=False), variants,
                               f"stacked_params({n}, {f}, {c})"))
    return Check("test_stacked_layers", ("stacked_receptive_field", "stacked_params"), cases,
                 BANS)


def judge_table(got: Any, expected: list[dict], what: str) -> Verdict:
    """Fraction of rows whose name, output_shape (H, W, D) and params all match."""
    v, bad = value(got, what)
    if bad is not None:
        return bad
    if not isinstance(v, list) or not all(isinstance(r, dict) for r in v):
        return fail(f"{what} should be a list of dicts, got {type(v).__name__}")
    if len(v) != len(expected):
        return fail(f"{what} has {len(v)} rows, expected {len(expected)} "
                    f"({', '.join(e['name'] for e in expected)})")
    good = 0
    problems: dict[str, list[str]] = {}  # kind of problem -> [first message, rows...]
    for row, exp in zip(v, expected, strict=True):
        kind, detail = _row_problem(row, exp)
        if kind is None:
            good += 1
        else:
            problems.setdefault(kind, [detail]).append(exp["name"])
    if good == len(expected):
        return ok(f"{what} is right")
    parts = [detail + (f" (the same in {', '.join(others)})" if others else "")
             for detail, _first, *others in problems.values()]
    return fail(f"{what}: " + "; ".join(parts), good / len(expected))


def _row_problem(row: dict, exp: dict) -> tuple[str | None, str]:
    """The first thing wrong with one table row, as (kind, message); (None, "") when right."""
    name = exp["name"]
    missing = {"name", "output_shape", "params"} - set(row)
    if missing:
        return "keys", f"row {name} lacks the keys {sorted(missing)}"
    shape = row["output_shape"]
    shape = tuple(shape) if isinstance(shape, (list, tuple)) else shape
    h, w, d = exp["output_shape"]
    if str(row["name"]).strip().lower() != name.lower():
        return "name", f"row {name} is named {short(row['name'], 40)}"
    if shape == (d, h, w) and (d, h, w) != exp["output_shape"]:
        return "order", f"{name} output_shape is in (D, H, W) order; use (H, W, D)"
    if shape != exp["output_shape"] or not all(_is_int(x) for x in shape):
        return "shape", (f"{name} output_shape should be {exp['output_shape']}, got "
                         f"{short(row['output_shape'], 40)}")
    got_p = row["params"]
    if _is_int(got_p) and got_p == exp["params"]:
        return None, ""
    if exp["params"] == 0:
        return "zero", f"{name} has no parameters, got {short(got_p, 40)}"
    if got_p == exp["params"] - d:
        return "bias", f"{name} params {got_p!r} forget the {d} biases (expected {exp['params']})"
    return "params", f"{name} params should be {exp['params']}, got {short(got_p, 40)}"


def _table_check(name: str, func: str, spec: list, default: int, sizes: Sequence[int],
                 rng: np.random.Generator) -> Check:
    others = [int(v) for v in rng.choice([s for s in sizes if s != default], 2, replace=False)]
    expected = {s: torch_table(spec, s) for s in [default, *others]}
    cases = [Case(Call(func, save="default"),
                  lambda r: judge_table(r[0], expected[default], f"{func}()"))]
    for s in others:
        # run with the default table alongside, to tell a copied table from a computed one
        cases.append(Case((Call(func, save="default"), Call(func, (s,))),
                          lambda r, s=s: _judge_other(r, func, s, expected[s],
                                                      expected[default])))
    return Check(name, (func,), cases, BANS)


def _judge_other(results: list[Any], func: str, size: int, expected: list[dict],
                 expected_default: list[dict]) -> Verdict:
    """The table for ``size``; named as copied only when it is the right default table (a
    table that is the same for every size because a helper is broken was computed)."""
    v = judge_table(results[1], expected, f"{func}({size})")
    if v.fraction < 1.0 and isinstance(results[1], list) and results[1] == results[0] and \
            judge_table(results[0], expected_default, func).fraction == 1.0:
        return fail(f"{func}({size}) returned the same table as {func}(): compute every row "
                    "from input_size with your functions, do not copy numbers")
    return v


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
