"""Hidden checks of 05_case_studies: vgg_budget/vgg16_budget, InceptionModule, inception_cost,
ResidualBlock.

One :class:`~autograder.checks.kit.Check` per autograded test cell of
``notebooks/05_case_studies/case_studies.ipynb`` (same name; points come from the cell). Every
oracle is computed here, in the trusted parent, from grader-chosen inputs, never from the
student's objects:

- Modules (``InceptionModule``, ``ResidualBlock``): the grader draws float64 weights, loads them
  into the student's module under the parameter names the exercise prescribes (``@load_state``,
  strict), runs it on its own input and sends its own upstream gradient back
  (``@forward_backward``). The output, the input's gradient and every parameter's gradient are
  compared with torch float64 functional ops and autograd on the same weights (``F.conv2d``,
  ``F.max_pool2d``, ``F.batch_norm`` in training mode: batch statistics, biased variance, eps
  1e-5). The parameter count is exact. The biases of the Inception convs are centred on the
  grader's input, so every ReLU has units on both sides: a missing ReLU always shows, and no
  branch is ever without gradient (the same grade at every seed).
- ``vgg_budget``: output shapes and parameter counts of torch layers on ``meta`` tensors (shape
  inference, no arithmetic), cross-checked against the closed-form count.
- ``inception_cost``: parameters of torch layers on ``meta``, multiply-adds from torch's
  ``FlopCounterMode`` (2 FLOPs per multiply-add), cross-checked against the closed form.

Tolerances: module outputs rtol 1e-6, atol 1e-8 (``F64``: the module runs in float64 once the
weights are loaded); gradients rtol 1e-5, atol 1e-7 (``GRAD``); counts, shapes and sizes are
ints compared exactly (an integral float earns half, like everywhere in the course).

Credit of one module case: nothing unless the parameter count and the state_dict layout are
right and the grader's weights load; then half for the output and half for the gradients
(counted only with a right output). A module that computes nothing earns nothing.

Named mistakes (each only on its fingerprint): ReLU before the addition, no ReLU after it, no
shortcut, stride on the second conv, no ReLU between the convs, batch norm in eval mode, biased
convs, projection without batch norm or missing (residual block); no bottleneck, no biases,
branches without ReLU, reductions without ReLU, branches in another order, pool padded with
zeros, no pool (Inception); FLOPs for multiply-adds, bias adds counted, positions forgotten,
reductions forgotten, ``bottleneck=False`` ignored (cost); biases not counted, (H, W, C)
shapes, pools with parameters, input row missing, ReLU rows (budget).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from autograder.checks.kit import (
    F64,
    GRAD,
    AsTensor,
    Call,
    Case,
    Check,
    Verdict,
    autograd,
    expect_close,
    fail,
    looks_like,
    np64,
    ok,
    short,
    t64,
    value,
)

ASSIGNMENT = "05_case_studies"
#: The modules are the exercise: no ready-made block from the course library or torch's zoo.
MODULE_BANS = ("cnnlib", "torchvision", "torch.hub", "timm")
#: Pure arithmetic: no torch layers or course tables to count with.
ARITH_BANS = ("torch", "cnnlib", "torchvision", "timm")
EPS = 1e-5

VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                              512, 512, 512, "M", 512, 512, 512, "M"]


def _check(name: str, exercise: tuple[str, ...], cases: list[Case], bans: tuple[str, ...]
           ) -> Check:
    # (an exercise name bound by an import costs the check for every assignment: engine.score)
    return Check(name, exercise, cases, bans)


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _call(func: str, args: Sequence[str], kwargs: Mapping[str, Any]) -> str:
    """``f(a, b, k=v)`` for a message (arguments already short)."""
    return f"{func}({', '.join([*args, *(f'{k}={v}' for k, v in kwargs.items())])})"


def _names(items: Sequence[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


# --------------------------------------------------------------------------------------------
# Exercise 1: the VGG budget
# --------------------------------------------------------------------------------------------


def torch_vgg_rows(cfg: Sequence[int | str], input_size: int = 224, in_channels: int = 3,
                   num_classes: int = 1000, fc_width: int = 4096) -> list[dict[str, Any]]:
    """Rows ``{"shape", "activations", "params"}`` of torch layers run on a meta tensor."""
    nn = torch.nn
    rows = []
    with torch.device("meta"):
        x = torch.empty(1, in_channels, input_size, input_size)
        rows.append(_meta_row(x, None))
        for v in cfg:
            layer = nn.MaxPool2d(2, 2) if v == "M" else nn.Conv2d(x.shape[1], int(v), 3,
                                                                  padding=1)
            x = layer(x)
            rows.append(_meta_row(x, layer))
        x = x.flatten(1)
        for n_out in (fc_width, fc_width, num_classes):
            layer = nn.Linear(x.shape[1], n_out)
            x = layer(x)
            rows.append(_meta_row(x, layer))
    return rows


def _meta_row(x: Any, layer: Any) -> dict[str, Any]:
    shape = tuple(int(d) for d in x.shape[1:])
    params = 0 if layer is None else int(sum(p.numel() for p in layer.parameters()))
    return {"shape": shape, "activations": math.prod(shape), "params": params}


def vgg_budget_rows(cfg: Sequence[int | str], input_size: int = 224, in_channels: int = 3,
                    num_classes: int = 1000, fc_width: int = 4096, *, bias: bool = True,
                    hwc: bool = False, pool_params: bool = False, input_row: bool = True
                    ) -> list[dict[str, Any]]:
    """The closed-form budget; the flags give the named mistakes."""
    rows: list[dict[str, Any]] = []
    c, s = in_channels, input_size

    def add(ch: int, size: int, params: int) -> None:
        shape = (size, size, ch) if hwc else (ch, size, size)
        rows.append({"shape": shape, "activations": ch * size * size, "params": params})

    if input_row:
        add(c, s, 0)
    for v in cfg:
        if v == "M":
            s //= 2
            add(c, s, 4 * c if pool_params else 0)
        else:
            add(int(v), s, 9 * c * int(v) + int(v) * bias)
            c = int(v)
    n_in = c * s * s
    for n_out in (fc_width, fc_width, num_classes):
        rows.append({"shape": (n_out,), "activations": n_out,
                     "params": n_in * n_out + n_out * bias})
        n_in = n_out
    return rows


def _budget_variants(cfg: Sequence[int | str], **kw: Any) -> dict[str, list]:
    return {
        "the biases are not counted": vgg_budget_rows(cfg, bias=False, **kw),
        "shapes are given as (H, W, C) instead of (C, H, W)": vgg_budget_rows(cfg, hwc=True, **kw),
        "pooling layers are given parameters (they have none)": vgg_budget_rows(
            cfg, pool_params=True, **kw),
        "the input row is missing": vgg_budget_rows(cfg, input_row=False, **kw),
    }


def _number(v: Any) -> int | float | None:
    """An int, an integral float as itself, anything else None."""
    if _is_int(v):
        return int(v)
    if isinstance(v, float) and math.isfinite(v):
        return v
    return None


def _norm_row(r: Any) -> tuple[dict[str, Any] | None, bool]:
    """``({"shape", "activations", "params"}, has a float)`` of one row, or ``(None, False)``."""
    if not isinstance(r, dict) or not {"shape", "activations", "params"} <= set(r):
        return None, False
    shape = r["shape"]
    if not isinstance(shape, (tuple, list)):
        shape = [shape]
    nums = [_number(v) for v in (*shape, r["activations"], r["params"])]
    if any(n is None for n in nums):
        return None, False
    floats = any(isinstance(n, float) for n in nums)
    row = {"shape": tuple(nums[:-2]) if isinstance(r["shape"], (tuple, list)) else nums[0],
           "activations": nums[-2], "params": nums[-1]}
    return row, floats


def judge_budget(got: Any, expected: list[dict[str, Any]], variants: Mapping[str, list],
                 what: str) -> Verdict:
    """Exact rows; a named mistake when the rows equal one; else the first row that differs."""
    v, bad = value(got, what)
    if bad is not None:
        return bad
    norm = [_norm_row(r) for r in v] if isinstance(v, list) else [(None, False)]
    if any(r is None for r, _ in norm):
        return fail(f"{what} should be a list of dicts with the keys 'layer', 'shape', "
                    "'activations' and 'params' (numbers)")
    rows = [r for r, _ in norm]
    if rows == expected:
        if any(f for _, f in norm):
            return fail(f"{what}: every number is right but some are floats: use ints (//)",
                        0.5)
        if not all(isinstance(r.get("layer"), str) for r in v):
            return fail(f"{what}: every number is right but some rows lack a 'layer' name "
                        "(a str)", 0.5)
        return ok(f"{what} is right")
    for mistake, wrong in variants.items():
        if rows == wrong:
            return fail(f"{what} is wrong" + looks_like(mistake))
    if len(rows) > len(expected) and _without_repeats(rows) == expected:
        return fail(f"{what} is wrong" + looks_like("the ReLUs are listed as rows (they are "
                                                    "applied in place: no rows)"))
    if len(rows) != len(expected):
        return fail(f"{what} has {len(rows)} rows, expected {len(expected)} (the input, one "
                    "per conv and pool, three FC layers)")
    i, key = next((i, k) for i, (r, e) in enumerate(zip(rows, expected, strict=True))
                  for k in ("shape", "activations", "params") if r[k] != e[k])
    return fail(f"{what}: row {i} has {key} {short(rows[i][key], 40)}, expected {expected[i][key]}")


def _without_repeats(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` less every parameter-free row that repeats the output of the row before (what
    a ReLU row looks like)."""
    return [r for i, r in enumerate(rows) if i == 0 or r["params"] != 0 or
            (r["shape"], r["activations"]) != (rows[i - 1]["shape"], rows[i - 1]["activations"])]


def _random_cfg(rng: np.random.Generator, stages: int) -> list[int | str]:
    cfg: list[int | str] = []
    for _ in range(stages):
        cfg += [int(v) for v in rng.choice([4, 6, 8, 12, 16], int(rng.integers(1, 3)))] + ["M"]
    return cfg


def _budget_case(func: str, cfg: Sequence[int | str] | None, kw: dict[str, int]) -> Case:
    args = () if cfg is None else (list(cfg),)
    cfg_ = VGG16_CFG if cfg is None else cfg
    expected = torch_vgg_rows(cfg_, **kw)
    assert expected == vgg_budget_rows(cfg_, **kw)  # the two oracles agree
    what = _call(func, [short(list(cfg), 50)] if cfg is not None else [], kw)
    variants = _budget_variants(cfg_, **kw)
    return Case(Call(func, args, kw), lambda r: judge_budget(r[0], expected, variants, what))


def check_vgg_budget(rng: np.random.Generator) -> Check:
    cases = [_budget_case("vgg16_budget", None, {})]
    for _ in range(3):
        stages = int(rng.integers(2, 4))
        kw = {"input_size": int(2 ** stages * rng.integers(1, 4)),
              "in_channels": int(rng.choice([1, 2, 3])),
              "num_classes": int(rng.integers(3, 12)),
              "fc_width": int(rng.integers(8, 33))}
        cases.append(_budget_case("vgg_budget", _random_cfg(rng, stages), kw))
    # the defaults: 224x224x3 input, 1000 classes, FC width 4096
    cases.append(_budget_case("vgg_budget", _random_cfg(rng, int(rng.integers(2, 4))), {}))
    return _check("test_vgg_budget", ("vgg_budget", "vgg16_budget"), cases, ARITH_BANS)


# --------------------------------------------------------------------------------------------
# Module judging, shared by the Inception module and the residual block
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleSpec:
    """What a module built with one configuration must be and compute on the grader's data."""

    what: str                               # e.g. "ResidualBlock(4, 6, stride=2)"
    count: int                              # exact parameter count
    count_variants: Mapping[str, int]       # named mistakes by their parameter count
    layout: Mapping[str, tuple[int, ...]]   # state_dict name -> shape
    out: np.ndarray
    input_grad: np.ndarray
    param_grads: Mapping[str, np.ndarray]
    out_variants: Mapping[str, np.ndarray] = field(default_factory=dict)


def module_case(ctor: str, args: tuple, kwargs: dict[str, Any], state: Mapping[str, Any],
                x: np.ndarray, dout: np.ndarray, spec: ModuleSpec) -> Case:
    """Build, count, read the layout, load the grader's weights, run forward and backward."""
    steps = (Call(ctor, args, kwargs, save="m", ret=False),
             Call("@param_count", on="m"),
             Call("@state_shapes", on="m"),
             Call("@load_state", (dict(state),), on="m"),
             Call("@forward_backward", (AsTensor(x, requires_grad=True), dout), on="m"))
    return Case(steps, lambda r: judge_module(r, spec, f"a {x.shape} input"))


def judge_module(results: list[Any], spec: ModuleSpec, shown: str) -> Verdict:
    built, count, shapes, loaded, fb = results
    _, bad = value(built, f"building {spec.what}")
    if bad is not None:
        return bad
    for verdict in (_judge_count(count, spec), _judge_layout(shapes, spec)):
        if verdict is not None:
            return verdict
    _, bad = value(loaded, f"loading the grader's weights into {spec.what}")
    if bad is not None:
        return bad
    return _judge_run(fb, spec, f"{spec.what} on {shown}")


def _judge_count(got: Any, spec: ModuleSpec) -> Verdict | None:
    v, bad = value(got, f"the parameter count of {spec.what}")
    if bad is not None:
        return bad
    if _is_int(v) and v == spec.count:
        return None
    mistake = next((m for m, n in spec.count_variants.items() if n == v and n != spec.count),
                   None)
    return fail(f"{spec.what} has {short(v, 40)} parameters, expected {spec.count}"
                + looks_like(mistake))


def _judge_layout(got: Any, spec: ModuleSpec) -> Verdict | None:
    if not isinstance(got, dict):
        return fail(f"the state_dict of {spec.what} could not be read")
    missing = [k for k in spec.layout if k not in got]
    extra = [str(k) for k in got if k not in spec.layout]
    wrong = [k for k in spec.layout if k in got and tuple(got[k]) != spec.layout[k]]
    if not (missing or extra or wrong):
        return None
    parts = ([f"it lacks {_names(missing)}"] if missing else []) + \
        ([f"it has {_names(extra)}, which the exercise does not name"] if extra else []) + \
        ([f"{wrong[0]} has shape {tuple(got[wrong[0]])}, expected {spec.layout[wrong[0]]}"]
         if wrong else [])
    return fail(f"{spec.what}: the grader loads its weights by the names the exercise gives, "
                f"but {'; '.join(parts)}")


def _judge_run(fb: Any, spec: ModuleSpec, what: str) -> Verdict:
    v, bad = value(fb, what)
    if bad is not None:
        return bad
    if not isinstance(v, dict) or "out" not in v:
        return fail(f"{what}: no output came back")
    out = expect_close(v["out"], spec.out, f"the output of {what}", F64, spec.out_variants)
    if out.fraction == 0.0:
        return out
    problems = _gradient_problems(v, spec)
    if not problems:
        return out if out.fraction < 1.0 else ok(f"{what}: output and gradients are right")
    head = out.message if out.fraction < 1.0 else f"the output of {what} is right"
    return fail(f"{head}, but {problems}", 0.5 * out.fraction)


def _gradient_problems(fb: Mapping[str, Any], spec: ModuleSpec) -> str:
    """What is wrong with the gradients, in words ("" when nothing)."""
    if fb.get("backward_error"):
        return (f"the backward pass failed ({short(fb['backward_error'], 90)}): compute the "
                "output with torch operations only")
    grads = fb.get("param_grads") if isinstance(fb.get("param_grads"), dict) else {}
    none = [n for n in spec.param_grads if grads.get(n) is None]
    wrong = [n for n, g in spec.param_grads.items() if grads.get(n) is not None and
             expect_close(grads[n], g, n, GRAD).fraction < 1.0]
    gin = fb.get("input_grad")
    if gin is None:
        none.insert(0, "the input")
    elif expect_close(gin, spec.input_grad, "input", GRAD).fraction < 1.0:
        wrong.insert(0, "the input")
    if none:
        return (f"no gradient reaches {_names(none)} (is every layer used, through torch "
                "operations, in forward?)")
    if wrong:
        return f"the gradient with respect to {_names(wrong)} is wrong"
    return ""


def _grads(forward: Callable[..., Any], x: np.ndarray, params: Mapping[str, np.ndarray],
           dout: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Output, input gradient and parameter gradients of ``forward(x, params)`` (float64)."""
    names = list(params)
    out, grads = autograd(lambda xt, *ps: forward(xt, dict(zip(names, ps, strict=True))),
                          [x, *(params[n] for n in names)], dout)
    return out, grads[0], dict(zip(names, grads[1:], strict=True))


def _eval(forward: Callable[..., Any], x: np.ndarray, params: Mapping[str, np.ndarray],
          **flags: Any) -> np.ndarray:
    with torch.no_grad():
        return np64(forward(t64(x), {k: t64(v) for k, v in params.items()}, **flags))


def _weight(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.normal(0.0, 1.0 / math.sqrt(math.prod(shape[1:])), shape)


# --------------------------------------------------------------------------------------------
# Exercise 2: the Inception module
# --------------------------------------------------------------------------------------------

#: (conv name, index of its output channels in the config, of its input channels, kernel size)
INCEPTION_CONVS = (("conv1x1", 1, 0, 1), ("reduce3x3", 2, 0, 1), ("conv3x3", 3, 2, 3),
                   ("reduce5x5", 4, 0, 1), ("conv5x5", 5, 4, 5), ("pool_proj", 6, 0, 1))
BRANCHES = ("1x1", "3x3", "5x5", "pool")


def inception_layout(cfg: Sequence[int]) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {}
    for name, o, i, k in INCEPTION_CONVS:
        out[f"{name}.weight"] = (cfg[o], cfg[i], k, k)
        out[f"{name}.bias"] = (cfg[o],)
    return out


def inception_params(cfg: Sequence[int], bottleneck: bool = True) -> int:
    cin, c1, r3, c3, r5, c5, pp = cfg
    if not bottleneck:
        r3 = r5 = cin
        return c1 * (cin + 1) + c3 * (9 * cin + 1) + c5 * (25 * cin + 1) + pp * (cin + 1)
    return (c1 * (cin + 1) + r3 * (cin + 1) + c3 * (9 * r3 + 1) + r5 * (cin + 1)
            + c5 * (25 * r5 + 1) + pp * (cin + 1))


def inception_branches(x: Any, p: Mapping[str, Any], *, relu: bool = True,
                       relu_reduce: bool = True, pool: str = "max") -> list[Any]:
    """The four branches' outputs (torch float64), in the exercise's order; the flags give
    the named mistakes."""
    def conv(name: str, z: Any, pad: int = 0) -> Any:
        return F.conv2d(z, p[f"{name}.weight"], p[f"{name}.bias"], padding=pad)

    def act(z: Any, on: bool = True) -> Any:
        return torch.relu(z) if on else z

    pooled = {"max": lambda: F.max_pool2d(x, 3, 1, 1),
              "zeros": lambda: F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 1),
              "none": lambda: x}[pool]()
    return [act(conv("conv1x1", x), relu),
            act(conv("conv3x3", act(conv("reduce3x3", x), relu_reduce), 1), relu),
            act(conv("conv5x5", act(conv("reduce5x5", x), relu_reduce), 2), relu),
            act(conv("pool_proj", pooled), relu)]


def inception_forward(x: Any, p: Mapping[str, Any], **flags: Any) -> Any:
    """The module's output (torch float64): the branches concatenated along channels."""
    return torch.cat(inception_branches(x, p, **flags), 1)


def _centred_bias(rng: np.random.Generator, z: Any) -> np.ndarray:
    """A bias that puts about half of each channel of ``z`` (a pre-activation) above zero."""
    zc = np64(z).transpose(1, 0, 2, 3).reshape(z.shape[1], -1)
    return -np.median(zc, axis=1) + rng.normal(0.0, 0.1, zc.shape[0]) * zc.std(axis=1)


def inception_weights(rng: np.random.Generator, cfg: Sequence[int], x: np.ndarray
                      ) -> dict[str, np.ndarray]:
    """Grader weights whose ReLUs all have units on both sides on the input ``x``."""
    p = {k: _weight(rng, s) for k, s in inception_layout(cfg).items() if k.endswith("weight")}
    xt = t64(x)
    sources = {"conv1x1": xt, "reduce3x3": xt, "reduce5x5": xt,
               "pool_proj": F.max_pool2d(xt, 3, 1, 1)}
    for name, z in sources.items():
        p[f"{name}.bias"] = _centred_bias(rng, F.conv2d(z, t64(p[f"{name}.weight"])))
    for name, reduce, pad in (("conv3x3", "reduce3x3", 1), ("conv5x5", "reduce5x5", 2)):
        h = torch.relu(F.conv2d(xt, t64(p[f"{reduce}.weight"]), t64(p[f"{reduce}.bias"])))
        p[f"{name}.bias"] = _centred_bias(rng, F.conv2d(h, t64(p[f"{name}.weight"]),
                                                         padding=pad))
    return {k: p[k] for k in inception_layout(cfg)}


def _inception_variants(x: np.ndarray, p: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"the branches are not followed by a ReLU": _eval(inception_forward, x, p, relu=False),
           "the 1x1 reductions are not followed by a ReLU": _eval(
               inception_forward, x, p, relu_reduce=False),
           "the max pool pads with zeros (nn.MaxPool2d's padding never wins the max)": _eval(
               inception_forward, x, p, pool="zeros"),
           "the pool branch has no max pool": _eval(inception_forward, x, p, pool="none")}
    with torch.no_grad():
        branches = [np64(b) for b in inception_branches(t64(x), {k: t64(v) for k, v in
                                                                 p.items()})]
    for order in itertools.permutations(range(4)):
        if order != (0, 1, 2, 3):
            out[f"the branches are concatenated in the order "
                f"{', '.join(BRANCHES[i] for i in order)}"] = np.concatenate(
                [branches[i] for i in order], axis=1)
    return out


def _inception_config(rng: np.random.Generator) -> tuple[int, ...]:
    """(in_ch, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj): the four branch widths
    distinct, so every concatenation order has its own fingerprint."""
    c1, c3, c5, pp = (int(v) for v in rng.choice(np.arange(2, 9), 4, replace=False))
    return (int(rng.integers(2, 7)), c1, int(rng.integers(2, 6)), c3, int(rng.integers(1, 5)),
            c5, pp)


def _input(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.normal(0.0, 1.0, shape)
    x[0, :, :2, :2] = -np.abs(x[0, :, :2, :2])  # a corner where zero padding would win the max
    return x


def inception_case(rng: np.random.Generator, cfg: tuple[int, ...], size: tuple[int, int]
                   ) -> Case:
    x = _input(rng, (int(rng.integers(2, 4)), cfg[0], *size))
    p = inception_weights(rng, cfg, x)
    out_shape = (x.shape[0], cfg[1] + cfg[3] + cfg[5] + cfg[6], *size)
    dout = rng.normal(0.0, 1.0, out_shape)
    out, gin, gp = _grads(inception_forward, x, p, dout)
    count = inception_params(cfg)
    spec = ModuleSpec(
        what=f"InceptionModule{cfg}", count=count,
        count_variants={"there is no 1x1 bottleneck before the 3x3 and 5x5 convs":
                        inception_params(cfg, bottleneck=False),
                        "the convolutions have no biases": count - sum(cfg[1:])},
        layout=inception_layout(cfg), out=out, input_grad=gin, param_grads=gp,
        out_variants=_inception_variants(x, p))
    return module_case("InceptionModule", cfg, {}, p, x, dout, spec)


def check_inception_module(rng: np.random.Generator) -> Check:
    sizes = [(int(rng.integers(5, 9)),) * 2, (int(rng.integers(3, 6)), int(rng.integers(6, 9))),
             (2, int(rng.integers(2, 4)))]  # square, not square, smaller than the 5x5 kernel
    cases = [inception_case(rng, _inception_config(rng), s) for s in sizes]
    return _check("test_inception_module", ("InceptionModule",), cases, MODULE_BANS)


# --------------------------------------------------------------------------------------------
# Exercise 3: what the bottlenecks buy
# --------------------------------------------------------------------------------------------


def _cost_convs(cfg: Sequence[int], bottleneck: bool) -> list[tuple[int, int, int]]:
    """(in, out, kernel) of every conv of the module, with or without the 1x1 reductions."""
    cin, c1, r3, c3, r5, c5, pp = cfg
    if bottleneck:
        return [(cin, c1, 1), (cin, r3, 1), (r3, c3, 3), (cin, r5, 1), (r5, c5, 5), (cin, pp, 1)]
    return [(cin, c1, 1), (cin, c3, 3), (cin, c5, 5), (cin, pp, 1)]


def torch_inception_cost(cfg: Sequence[int], size: int, bottleneck: bool = True
                         ) -> dict[str, int]:
    """Parameters of torch convs on meta, multiply-adds from torch's FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        convs = [(torch.nn.Conv2d(i, o, k, padding=k // 2), i)
                 for i, o, k in _cost_convs(cfg, bottleneck)]
        params = sum(int(p.numel()) for c, _ in convs for p in c.parameters())
        with FlopCounterMode(display=False) as counter:
            for conv, i in convs:
                conv(torch.empty(1, i, size, size))
    return {"params": params, "macs": int(counter.get_total_flops()) // 2}


def inception_cost_closed(cfg: Sequence[int], size: int, bottleneck: bool = True, *,
                          bias: bool = True, bias_adds: bool = False, per_position: bool = False,
                          reductions: bool = True, pool_proj: bool = True) -> dict[str, int]:
    """The closed form; the flags give the named mistakes."""
    convs = _cost_convs(cfg, bottleneck)
    if not reductions and bottleneck:
        convs = [c for j, c in enumerate(convs) if j not in (1, 3)]
    if not pool_proj:
        convs = convs[:-1]
    positions = 1 if per_position else size * size
    return {"params": sum(k * k * i * o + o * bias for i, o, k in convs),
            "macs": sum(positions * (k * k * i * o + o * bias_adds) for i, o, k in convs)}


def _cost_variants(cfg: Sequence[int], size: int, bottleneck: bool
                   ) -> dict[str, dict[str, int]]:
    right = inception_cost_closed(cfg, size, bottleneck)
    out = {"FLOPs were counted (2 per multiply-add) instead of multiply-adds":
           {"params": right["params"], "macs": 2 * right["macs"]},
           "the bias additions are counted as multiply-adds":
           inception_cost_closed(cfg, size, bottleneck, bias_adds=True),
           "the multiply-adds are counted for one output position (times H x W is missing)":
           inception_cost_closed(cfg, size, bottleneck, per_position=True),
           "the biases are not counted": inception_cost_closed(cfg, size, bottleneck,
                                                               bias=False)}
    if bottleneck:
        out["the 1x1 reductions are not counted"] = inception_cost_closed(
            cfg, size, reductions=False)
    else:
        out["bottleneck=False is ignored (the 1x1 reductions are still counted)"] = \
            inception_cost_closed(cfg, size, True)
        out["without bottlenecks the pool branch's 1x1 projection is dropped too"] = \
            inception_cost_closed(cfg, size, False, pool_proj=False)
    return out


def judge_cost(got: Any, expected: dict[str, int], variants: Mapping[str, dict[str, int]],
               what: str) -> Verdict:
    """Half for each of "params" and "macs"; a named mistake when the pair matches one."""
    v, bad = value(got, what)
    if bad is not None:
        return bad
    if not isinstance(v, dict) or not {"params", "macs"} <= set(v):
        return fail(f"{what} should return a dict with the keys 'params' and 'macs'")
    nums = {k: _number(v[k]) for k in ("params", "macs")}
    right = [k for k in nums if nums[k] == expected[k]]
    if len(right) == 2:
        if all(_is_int(v[k]) for k in nums):
            return ok(f"{what} is right")
        return fail(f"{what}: the counts are right but should be ints, not floats", 0.5)
    mistake = next((m for m, w in variants.items() if w != expected and
                    all(nums[k] == w[k] for k in nums)), None)
    wrong = "; ".join(f"{k} {short(v[k], 20)}, expected {expected[k]}" for k in nums
                      if k not in right)
    return fail(f"{what}: {wrong}" + looks_like(mistake),
                0.5 * len(right))


def cost_case(cfg: tuple[int, ...], size: int, bottleneck: bool | None) -> Case:
    flag = True if bottleneck is None else bottleneck
    expected = torch_inception_cost(cfg, size, flag)
    assert expected == inception_cost_closed(cfg, size, flag)  # the two oracles agree
    kwargs = {} if bottleneck is None else {"bottleneck": bottleneck}
    what = _call("inception_cost", [str(v) for v in (*cfg, size)], kwargs)
    variants = _cost_variants(cfg, size, flag)
    return Case(Call("inception_cost", (*cfg, size), kwargs),
                lambda r: judge_cost(r[0], expected, variants, what))


def check_inception_cost(rng: np.random.Generator) -> Check:
    cases = []
    for bottleneck in (True, False, None, False):  # None: the default (with bottlenecks)
        cfg = (int(rng.integers(16, 257)), *(int(v) for v in rng.integers(4, 129, 6)))
        cases.append(cost_case(cfg, int(rng.integers(3, 33)), bottleneck))
    return _check("test_inception_cost", ("inception_cost",), cases, ARITH_BANS)


# --------------------------------------------------------------------------------------------
# Exercise 4: the residual block
# --------------------------------------------------------------------------------------------


def _bn_layout(name: str, c: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (c,), f"{name}.bias": (c,), f"{name}.running_mean": (c,),
            f"{name}.running_var": (c,), f"{name}.num_batches_tracked": ()}


def residual_layout(cin: int, cout: int, proj: bool) -> dict[str, tuple[int, ...]]:
    out = {"conv1.weight": (cout, cin, 3, 3), **_bn_layout("bn1", cout),
           "conv2.weight": (cout, cout, 3, 3), **_bn_layout("bn2", cout)}
    if proj:
        out |= {"proj_conv.weight": (cout, cin, 1, 1), **_bn_layout("proj_bn", cout)}
    return out


def residual_params(cin: int, cout: int, proj: bool) -> int:
    return 9 * cin * cout + 9 * cout * cout + 4 * cout + proj * (cin * cout + 2 * cout)


def residual_forward(x: Any, p: Mapping[str, Any], *, stride: int,
                     buffers: Mapping[str, Any], mistake: str = "") -> Any:
    """The block's output (torch float64) in training mode; ``mistake`` gives a named one."""
    def bn(name: str, z: Any) -> Any:
        if mistake == "eval":
            return F.batch_norm(z, buffers[f"{name}.running_mean"],
                                buffers[f"{name}.running_var"], p[f"{name}.weight"],
                                p[f"{name}.bias"], False, 0.1, EPS)
        return F.batch_norm(z, None, None, p[f"{name}.weight"], p[f"{name}.bias"], True, 0.1,
                            EPS)

    s1, s2 = (1, stride) if mistake == "late stride" else (stride, 1)
    h = bn("bn1", F.conv2d(x, p["conv1.weight"], stride=s1, padding=1))
    h = h if mistake == "no middle relu" else torch.relu(h)
    f = bn("bn2", F.conv2d(h, p["conv2.weight"], stride=s2, padding=1))
    sc = bn("proj_bn", F.conv2d(x, p["proj_conv.weight"], stride=stride)) \
        if "proj_conv.weight" in p else x
    return {"relu before add": lambda: torch.relu(f) + sc, "no final relu": lambda: f + sc,
            "no shortcut": lambda: torch.relu(f)}.get(mistake, lambda: torch.relu(f + sc))()


RESIDUAL_MISTAKES = {
    "the ReLU is applied before the addition (relu(F(x)) + shortcut)": "relu before add",
    "there is no ReLU after the addition": "no final relu",
    "the shortcut is missing (no addition)": "no shortcut",
    "there is no ReLU between the two convs": "no middle relu",
    "batch norm uses its running statistics (eval mode) instead of the batch's": "eval",
}


def residual_weights(rng: np.random.Generator, cin: int, cout: int, proj: bool
                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(parameters, buffers) the grader loads: random convs, BN scales around 1, shifts and
    running statistics that differ from the batch's."""
    params, buffers = {}, {}
    for name, shape in residual_layout(cin, cout, proj).items():
        kind = name.rsplit(".", 1)[1]
        if name.startswith(("conv", "proj_conv")):
            params[name] = _weight(rng, shape)
        elif kind == "weight":
            params[name] = rng.normal(1.0, 0.3, shape)
        elif kind == "bias":
            params[name] = rng.normal(0.0, 0.5, shape)
        elif kind == "running_mean":
            buffers[name] = rng.normal(0.0, 0.5, shape)
        elif kind == "running_var":
            buffers[name] = rng.uniform(0.5, 2.0, shape)
        else:
            buffers[name] = np.array(0, dtype=np.int64)
    return params, buffers


def residual_case(rng: np.random.Generator, cin: int, cout: int, stride: int | None,
                  size: tuple[int, int]) -> Case:
    s = 1 if stride is None else stride
    proj = s != 1 or cin != cout
    x = rng.normal(0.0, 1.0, (int(rng.integers(3, 5)), cin, *size))
    params, buffers = residual_weights(rng, cin, cout, proj)
    out_shape = (x.shape[0], cout, (size[0] - 1) // s + 1, (size[1] - 1) // s + 1)
    dout = rng.normal(0.0, 1.0, out_shape)
    bufs = {k: t64(v) for k, v in buffers.items()}

    def forward(xt: Any, p: Mapping[str, Any], mistake: str = "") -> Any:
        return residual_forward(xt, p, stride=s, buffers=bufs, mistake=mistake)

    out, gin, gp = _grads(forward, x, params, dout)
    variants = {m: _eval(forward, x, params, mistake=k) for m, k in RESIDUAL_MISTAKES.items()}
    if s != 1:
        variants["the stride is on the second 3x3 conv instead of the first"] = _eval(
            forward, x, params, mistake="late stride")
    count = residual_params(cin, cout, proj)
    count_variants = {"the convolutions have biases (redundant before batch norm)":
                      count + 2 * cout + proj * cout}
    if proj:
        count_variants |= {"the projection shortcut has no batch norm": count - 2 * cout,
                           "the projection shortcut is missing": count - cin * cout - 2 * cout}
    else:
        count_variants["a projection is used where the shortcut is the identity"] = \
            count + cin * cout + 2 * cout
    what = f"ResidualBlock({cin}, {cout}" + ("" if stride is None else f", stride={s}") + ")"
    spec = ModuleSpec(what, count, count_variants, residual_layout(cin, cout, proj), out, gin,
                      gp, variants)
    kwargs = {} if stride is None else {"stride": stride}
    return module_case("ResidualBlock", (cin, cout), kwargs, {**params, **buffers}, x, dout,
                       spec)


def check_residual_block(rng: np.random.Generator) -> Check:
    c = int(rng.integers(2, 6))
    cin = int(rng.integers(2, 5))
    cout = cin + int(rng.integers(1, 4))

    def odd() -> int:
        return int(rng.integers(2, 5)) * 2 + 1

    cases = [
        residual_case(rng, c, c, None, (int(rng.integers(4, 7)), int(rng.integers(4, 7)))),
        residual_case(rng, cin, cout, 2, (odd(), odd())),   # projection: channels and stride
        residual_case(rng, c, c, 2, (odd(), int(rng.integers(6, 9)))),  # stride only
        residual_case(rng, cin, cout, 1, (int(rng.integers(4, 7)),) * 2),  # channels only
    ]
    return _check("test_residual_block", ("ResidualBlock",), cases, MODULE_BANS)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell, in notebook order."""
    return [check_vgg_budget(rng), check_inception_module(rng), check_inception_cost(rng),
            check_residual_block(rng)]
