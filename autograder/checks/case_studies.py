"""Hidden checks of 05_case_studies: ResidualBlock, InceptionModule, vgg_budget/vgg16_budget.

Each exercise is built by the student as a torch module or a table; the checks run it in the
sandbox on inputs drawn from ``rng`` and judge in the parent:

- Modules: parameter count (exact, from arithmetic on the channel counts), output shape,
  output values, and that ``out.sum().backward()`` reaches every parameter and the input.
  Values are checked against an oracle recomputed here in float64 from the student's *own*
  freshly initialised weights (returned by ``state_dict()``): convolutions are identified by
  their weight shapes (the channel counts drawn are distinct, so the match is unique; for a
  residual block whose two 3x3 convs share a shape both orders are tried). Batch norm runs in
  training mode (batch statistics, biased variance, eps 1e-5) with PyTorch's default affine
  init (scale 1, shift 0), which the exercise asks to keep; a conv bias before batch norm
  cancels in the normalisation, so only the parameter count sees it.
  Tolerance: rtol 1e-4, atol 1e-4 (the student's module computes in float32).
- vgg_budget: shapes, activation counts and parameter counts are integers: exact equality.

Variants (likely mistakes, named in the feedback): ReLU before the addition, no ReLU after it,
shortcut without BN, no shortcut, stride on the second conv, biased convs before BN (residual
block); no 1x1 bottleneck, branches concatenated in another order, missing ReLU (inception);
conv biases not counted, shape given as (H, W, C), pooling layers given parameters, input row
missing (budget).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from autograder.checkkit import (
    AsTensor,
    Call,
    Check,
    Opaque,
    Raised,
    Skipped,
    Verdict,
    all_of,
    expect_close,
    expect_equal,
)

ASSIGNMENT = "05_case_studies"
POINTS = {"test_vgg_budget": 3, "test_inception_module": 3, "test_residual_block": 4}
RTOL = ATOL = 1e-4
EPS = 1e-5

VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                              512, 512, 512, "M", 512, 512, 512, "M"]


# ------------------------------------------------------------------------------------------
# Oracles (parent side, float64)
# ------------------------------------------------------------------------------------------


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def _bn(z: torch.Tensor) -> torch.Tensor:
    mean = z.mean(dim=(0, 2, 3), keepdim=True)
    var = z.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    return (z - mean) / torch.sqrt(var + EPS)


def _weights(state: Any) -> dict[tuple[int, ...], list[tuple[str, np.ndarray]]]:
    """4-D weights of a state dict grouped by shape."""
    out: dict[tuple[int, ...], list[tuple[str, np.ndarray]]] = {}
    if not isinstance(state, dict):
        return out
    for k, v in state.items():
        if isinstance(v, np.ndarray) and v.ndim == 4 and str(k).endswith("weight"):
            out.setdefault(tuple(v.shape), []).append((str(k), v))
    return out


def _bias(state: dict, weight_key: str) -> np.ndarray | None:
    b = state.get(weight_key[: -len("weight")] + "bias")
    return b if isinstance(b, np.ndarray) and b.ndim == 1 else None


def residual_oracles(x: np.ndarray, state: Any, cin: int, cout: int, stride: int
                     ) -> dict[str, list[np.ndarray]]:
    """Right output and wrong variants, for every consistent assignment of the conv weights."""
    ws = _weights(state)
    c1 = [w for _, w in ws.get((cout, cin, 3, 3), [])]
    c2 = [w for _, w in ws.get((cout, cout, 3, 3), [])]
    proj = [w for _, w in ws.get((cout, cin, 1, 1), [])]
    needs_proj = stride != 1 or cin != cout
    outs: dict[str, list[np.ndarray]] = {}
    pairs = [(a, b) for (i, a), (j, b) in itertools.product(enumerate(c1), enumerate(c2))
             if cin != cout or i != j]
    xt = _t(x)
    for w1, w2 in pairs:
        w1t, w2t = _t(w1), _t(w2)
        h = torch.relu(_bn(F.conv2d(xt, w1t, stride=stride, padding=1)))
        f = _bn(F.conv2d(h, w2t, padding=1))
        h_late = torch.relu(_bn(F.conv2d(xt, w1t, padding=1)))
        f_late = _bn(F.conv2d(h_late, w2t, stride=stride, padding=1))
        if needs_proj:
            if not proj:
                continue
            pt = _t(proj[0])
            sc = _bn(F.conv2d(xt, pt, stride=stride))
            sc_nobn = F.conv2d(xt, pt, stride=stride)
        else:
            sc = sc_nobn = xt
        cand = {
            "right": torch.relu(f + sc),
            "the ReLU is applied before the addition (relu(F(x)) + shortcut)": torch.relu(f) + sc,
            "there is no ReLU after the addition": f + sc,
            "the shortcut is missing (no addition)": torch.relu(f),
            "the stride is on the second 3x3 conv instead of the first": torch.relu(f_late + sc),
        }
        if needs_proj:
            cand["the projection shortcut has no batch norm"] = torch.relu(f + sc_nobn)
        for k, v in cand.items():
            outs.setdefault(k, []).append(v.numpy())
    return outs


def residual_params(cin: int, cout: int, stride: int) -> int:
    proj = stride != 1 or cin != cout
    return 9 * cin * cout + 9 * cout * cout + 4 * cout + proj * (cin * cout + 2 * cout)


def inception_oracles(x: np.ndarray, state: Any, cfg: Sequence[int]
                      ) -> dict[str, list[np.ndarray]]:
    cin, c1, r3, c3, r5, c5, pp = cfg
    if not isinstance(state, dict):
        return {}
    ws = _weights(state)

    def conv(shape: tuple[int, ...], inp: torch.Tensor, pad: int) -> torch.Tensor | None:
        found = ws.get(shape, [])
        if len(found) != 1:
            return None
        key, w = found[0]
        b = _bias(state, key)
        return F.conv2d(inp, _t(w), None if b is None else _t(b), padding=pad)

    xt = _t(x)
    z1 = conv((c1, cin, 1, 1), xt, 0)
    z3r = conv((r3, cin, 1, 1), xt, 0)
    z5r = conv((r5, cin, 1, 1), xt, 0)
    zp = conv((pp, cin, 1, 1), F.max_pool2d(xt, 3, 1, 1), 0)
    if any(z is None for z in (z1, z3r, z5r, zp)):
        return {}
    z3 = conv((c3, r3, 3, 3), torch.relu(z3r), 1)
    z5 = conv((c5, r5, 5, 5), torch.relu(z5r), 2)
    if z3 is None or z5 is None:
        return {}
    br = [torch.relu(z) for z in (z1, z3, z5, zp)]
    out = {"right": [torch.cat(br, 1).numpy()]}
    out["the branches are not followed by ReLU"] = [torch.cat([z1, z3, z5, zp], 1).numpy()]
    for perm in itertools.permutations(range(4)):
        if perm != (0, 1, 2, 3):
            out.setdefault("the branches are concatenated in another order than "
                           "1x1, 3x3, 5x5, pool", []).append(
                torch.cat([br[i] for i in perm], 1).numpy())
    return out


def inception_params(cfg: Sequence[int]) -> int:
    cin, c1, r3, c3, r5, c5, pp = cfg
    return (c1 * (cin + 1) + r3 * (cin + 1) + c3 * (9 * r3 + 1) + r5 * (cin + 1)
            + c5 * (25 * r5 + 1) + pp * (cin + 1))


def inception_params_no_bottleneck(cfg: Sequence[int]) -> int:
    cin, c1, _, c3, _, c5, pp = cfg
    return c1 * (cin + 1) + c3 * (9 * cin + 1) + c5 * (25 * cin + 1) + pp * (cin + 1)


def vgg_budget_rows(cfg: Sequence[int | str], input_size: int = 224, in_channels: int = 3,
                    num_classes: int = 1000, fc_width: int = 4096, bias: bool = True,
                    hwc: bool = False, pool_params: bool = False, input_row: bool = True
                    ) -> list[dict[str, Any]]:
    """Reference budget (and, through the flags, the wrong variants)."""
    rows: list[dict[str, Any]] = []
    c, s = in_channels, input_size

    def shape(c: int, s: int) -> tuple[int, ...]:
        return (s, s, c) if hwc else (c, s, s)

    if input_row:
        rows.append({"shape": shape(c, s), "activations": c * s * s, "params": 0})
    for v in cfg:
        if v == "M":
            p = c * 4 if pool_params else 0
            s //= 2
            rows.append({"shape": shape(c, s), "activations": c * s * s, "params": p})
        else:
            rows.append({"shape": shape(int(v), s), "activations": int(v) * s * s,
                         "params": 9 * c * int(v) + int(v) * bias})
            c = int(v)
    n_in = c * s * s
    for n_out in (fc_width, fc_width, num_classes):
        rows.append({"shape": (n_out,), "activations": n_out,
                     "params": n_in * n_out + n_out * bias})
        n_in = n_out
    return rows


def _norm_rows(got: Any) -> list[dict[str, Any]] | None:
    if not isinstance(got, list) or not all(isinstance(r, dict) for r in got):
        return None
    out = []
    for r in got:
        try:
            out.append({"shape": tuple(int(v) for v in r["shape"]),
                        "activations": int(r["activations"]), "params": int(r["params"])})
        except (KeyError, TypeError, ValueError):
            return None
    return out


def judge_budget(got: Any, expected: list[dict[str, Any]], variants: dict[str, list],
                 what: str) -> Verdict:
    if isinstance(got, (Raised, Skipped)):
        return expect_equal(got, expected, what)
    rows = _norm_rows(got)
    if rows is None:
        return Verdict(0.0, f"{what} should be a list of dicts with keys 'layer', 'shape', "
                            f"'activations', 'params'")
    if rows == expected:
        return Verdict(1.0, f"{what} is correct")
    for mistake, wrong in variants.items():
        if rows == wrong:
            return Verdict(0.0, f"{what} is wrong: it looks like {mistake}")
    if len(rows) != len(expected):
        return Verdict(0.0, f"{what} has {len(rows)} rows, expected {len(expected)} (input, "
                            f"one per conv and pool layer, three FC layers)")
    for i, (r, e) in enumerate(zip(rows, expected, strict=True)):
        for key in ("shape", "activations", "params"):
            if r[key] != e[key]:
                return Verdict(0.0, f"{what}: row {i} has {key} {r[key]}, expected {e[key]}")
    return Verdict(0.0, f"{what} is wrong")  # pragma: no cover - rows differ somewhere above


def _budget_variants(cfg: Sequence[int | str], **kw: Any) -> dict[str, list]:
    return {
        "the biases are not counted": vgg_budget_rows(cfg, bias=False, **kw),
        "shapes are given as (H, W, C) instead of (C, H, W)": vgg_budget_rows(cfg, hwc=True, **kw),
        "pooling layers are given parameters (they have none)": vgg_budget_rows(
            cfg, pool_params=True, **kw),
        "the input row is missing": vgg_budget_rows(cfg, input_row=False, **kw),
    }


# ------------------------------------------------------------------------------------------
# Module judging shared by both module exercises
# ------------------------------------------------------------------------------------------


def _grad_flow(fb: dict[str, Any], what: str) -> Verdict:
    grads = fb.get("param_grad_abs_sum")
    if not isinstance(grads, dict) or not grads:
        return Verdict(0.0, f"{what} has no parameters")
    dead = [k for k, g in grads.items() if g is None or not g > 0]
    if dead:
        return Verdict(0.0, f"{what}: no gradient reaches {', '.join(dead[:4])} (is every layer "
                            f"used in forward?)")
    gin = fb.get("input_grad")
    if not isinstance(gin, np.ndarray) or not np.any(gin != 0):
        return Verdict(0.0, f"{what}: no gradient reaches the input")
    return Verdict(1.0, f"{what}: gradients reach every parameter and the input")


def _judge_output(got: Any, oracles: dict[str, list[np.ndarray]], shape: tuple[int, ...],
                  what: str) -> Verdict:
    if isinstance(got, (Raised, Skipped, Opaque)) or not isinstance(got, np.ndarray):
        return expect_close(got, np.zeros(shape), what)
    if got.shape != shape:
        return Verdict(0.0, f"{what} has shape {got.shape}, expected {shape}")
    if not oracles.get("right"):
        return Verdict(0.0, f"{what}: could not match your layers to the expected ones by their "
                            f"weight shapes (check the layer list and kernel sizes)")
    for right in oracles["right"]:
        if expect_close(got, right, what, RTOL, ATOL).fraction == 1.0:
            return Verdict(1.0, f"{what} is correct")
    for mistake, wrongs in oracles.items():
        if mistake != "right" and any(expect_close(got, w, what, RTOL, ATOL).fraction == 1.0
                                      for w in wrongs):
            return Verdict(0.0, f"{what} is wrong: it looks like {mistake}")
    return expect_close(got, oracles["right"][0], what, RTOL, ATOL)


def _judge_params(got: Any, expected: int, variants: dict[str, int], what: str) -> Verdict:
    if isinstance(got, (int, float)) and not isinstance(got, bool):
        if int(got) == expected:
            return Verdict(1.0, f"{what} is correct")
        for mistake, n in variants.items():
            if int(got) == n:
                return Verdict(0.0, f"{what} is {int(got)}, expected {expected}: it looks like "
                                    f"{mistake}")
    return expect_equal(got, expected, what)


def _module_case_steps(ctor: str, args: tuple, x: np.ndarray, tag: str) -> list[Call]:
    return [
        Call(ctor, args=args, save=tag, ret=False),
        Call("@param_count", on=tag),
        Call("state_dict", on=tag),
        Call("@forward_backward", on=tag, args=(AsTensor(x, requires_grad=True),)),
    ]


def _case_verdict(results: list[Any], what: str, params: Verdict,
                  oracle_fn: Any, shape: tuple[int, ...], raised_hint: str = "") -> Verdict:
    ctor, _, state, fb = results
    if isinstance(ctor, Raised):
        return Verdict(0.0, f"{what}: constructing it raised {ctor.type}: {ctor.message}")
    if isinstance(fb, Raised):
        hint = raised_hint if "size of tensor" in fb.message or "match" in fb.message else ""
        return Verdict(0.0, f"{what}: forward/backward raised {fb.type}: {fb.message}{hint}")
    if isinstance(fb, Skipped) or not isinstance(fb, dict):
        return Verdict(0.0, f"{what}: {getattr(fb, 'reason', 'forward pass did not run')}")
    out = _judge_output(fb.get("out"), oracle_fn(state), shape, f"{what} output")
    return all_of(params, out, _grad_flow(fb, what))


# ------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------


def _residual_check(rng: np.random.Generator) -> Check:
    c_id = int(rng.integers(3, 7))
    cin_p = int(rng.integers(3, 6))
    cout_p = cin_p + int(rng.integers(1, 4))
    cases = [
        (c_id, c_id, 1, int(rng.integers(5, 8))),          # identity shortcut
        (cin_p, cout_p, 2, int(rng.integers(6, 10))),       # projection: channels and stride
        (c_id, c_id, 2, int(rng.integers(6, 9))),           # projection: stride only
    ]
    steps: list[Call] = []
    inputs = []
    for i, (cin, cout, stride, size) in enumerate(cases):
        x = rng.normal(0, 1, (4, cin, size, size)).astype(np.float32)
        inputs.append(x)
        steps += _module_case_steps("ResidualBlock", (cin, cout, stride), x, f"blk{i}")

    def judge(results: list[Any]) -> Verdict:
        verdicts = []
        for i, (cin, cout, stride, size) in enumerate(cases):
            r = results[4 * i: 4 * i + 4]
            what = f"ResidualBlock({cin}, {cout}, stride={stride})"
            proj = stride != 1 or cin != cout
            exp = residual_params(cin, cout, stride)
            variants = {"the convolutions have biases (redundant before batch norm)":
                        exp + 2 * cout + proj * cout}
            if proj:
                variants["the projection shortcut has no batch norm"] = exp - 2 * cout
                variants["the projection shortcut is missing"] = exp - cin * cout - 2 * cout
            params = _judge_params(r[1], exp, variants, f"{what} parameter count")
            out_size = (size + 2 - 3) // stride + 1
            verdicts.append(_case_verdict(
                r, what, params,
                lambda st, x=inputs[i], a=cin, b=cout, s=stride: residual_oracles(x, st, a, b, s),
                (4, cout, out_size, out_size),
                raised_hint=" (when the shape changes, the shortcut must be a 1x1 conv with "
                            "the block's stride, followed by batch norm)"))
        return all_of(*verdicts)

    return Check("test_residual_block", POINTS["test_residual_block"], steps, judge)


def _inception_check(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(2):
        cin = int(rng.integers(3, 9))
        c1, r3, r5, pp = (int(v) for v in rng.choice(np.arange(2, 10), 4, replace=False))
        c3, c5 = int(rng.integers(2, 10)), int(rng.integers(2, 10))
        cases.append(((cin, c1, r3, c3, r5, c5, pp), int(rng.integers(5, 9))))
    steps: list[Call] = []
    inputs = []
    for i, (cfg, size) in enumerate(cases):
        x = rng.normal(0, 1, (2, cfg[0], size, size)).astype(np.float32)
        inputs.append(x)
        steps += _module_case_steps("InceptionModule", cfg, x, f"inc{i}")

    def judge(results: list[Any]) -> Verdict:
        verdicts = []
        for i, (cfg, size) in enumerate(cases):
            r = results[4 * i: 4 * i + 4]
            what = f"InceptionModule{cfg}"
            exp = inception_params(cfg)
            params = _judge_params(
                r[1], exp,
                {"there is no 1x1 bottleneck before the 3x3 and 5x5 convs":
                 inception_params_no_bottleneck(cfg),
                 "the convolutions have no biases": exp - sum(cfg[1:])},
                f"{what} parameter count")
            c_out = cfg[1] + cfg[3] + cfg[5] + cfg[6]
            verdicts.append(_case_verdict(
                r, what, params,
                lambda st, x=inputs[i], c=cfg: inception_oracles(x, st, c),
                (2, c_out, size, size),
                raised_hint=" (every branch must keep H and W: pad 1 for 3x3, pad 2 for 5x5, "
                            "and the pool branch uses a 3x3 max pool with stride 1, pad 1)"))
        return all_of(*verdicts)

    return Check("test_inception_module", POINTS["test_inception_module"], steps, judge)


def _budget_check(rng: np.random.Generator) -> Check:
    stages = int(rng.integers(2, 4))
    cfg: list[int | str] = []
    for _ in range(stages):
        cfg += [int(v) for v in rng.choice([4, 6, 8, 12, 16], int(rng.integers(1, 3)))] + ["M"]
    kw = {"input_size": int(2**stages * rng.integers(1, 4)),
          "in_channels": int(rng.choice([1, 3])),
          "num_classes": int(rng.integers(3, 12)),
          "fc_width": int(rng.integers(8, 33))}
    steps = [Call("vgg_budget", args=(cfg,), kwargs=kw), Call("vgg16_budget")]
    expected = vgg_budget_rows(cfg, **kw)
    expected16 = vgg_budget_rows(VGG16_CFG)

    def judge(results: list[Any]) -> Verdict:
        return all_of(
            judge_budget(results[0], expected, _budget_variants(cfg, **kw),
                         f"vgg_budget({cfg}, {kw})"),
            judge_budget(results[1], expected16, _budget_variants(VGG16_CFG), "vgg16_budget()"),
        )

    return Check("test_vgg_budget", POINTS["test_vgg_budget"], steps, judge)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded cell, in notebook order."""
    return [_budget_check(rng), _inception_check(rng), _residual_check(rng)]
