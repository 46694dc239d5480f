"""The grader against the corpus of real-code styles (corpus_case_studies.py).

Whether an entry is right is decided here, independently of the grader's checks, by float64
oracles built from cnnlib's own models and layer tables on a few fixed inputs: the grader must
give full marks to exactly the entries these oracles find right, and less to the others.

The oracles read the exercise statements as the grader does: modules must take weights by the
names the statement gives (strict ``load_state_dict``), match cnnlib's ``InceptionModule`` /
``BasicBlock`` with the same random weights in output, input gradient and every parameter's
gradient, and have as many parameters; counts and budgets must be ints equal to what cnnlib's
``arith.layer_table`` reports (a shape may be a tuple or a list).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from _common import ASSIGNMENTS, assert_grader_agrees
from corpus_case_studies import CORPUS

from cnnlib import arith, models

A = ASSIGNMENTS["case_studies"]
SEEDS = (0, 1)
TOL = {"rtol": 1e-7, "atol": 1e-9}


def _namespace(code: str) -> dict[str, Any]:
    ns: dict[str, Any] = {}
    exec(compile(A.reference + "\n\n" + code, "<corpus>", "exec"), ns)  # noqa: S102 - trusted
    return ns


def _int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


# --------------------------------------------------------------------------------------------
# Independent oracles
# --------------------------------------------------------------------------------------------


def _budget_rows(cfg: list, size: int, cin: int, classes: int, width: int) -> list[dict]:
    pools = cfg.count("M")
    with torch.device("meta"):
        net = models.VGG(cfg, num_classes=classes, in_channels=cin, fc_width=width,
                         pool_size=size // 2 ** pools)
    table = arith.layer_table(net, (cin, size, size))
    rows = [{"shape": (cin, size, size), "activations": cin * size * size, "params": 0}]
    return rows + [{"shape": tuple(r.output_shape), "activations": math.prod(r.output_shape),
                    "params": r.params} for r in table.rows
                   if r.kind in ("Conv2d", "MaxPool2d", "Linear")]


def _same_rows(got: Any, expected: list[dict]) -> bool:
    if not isinstance(got, list) or len(got) != len(expected):
        return False
    for r, e in zip(got, expected, strict=True):
        shape = r.get("shape")
        if not isinstance(r.get("layer"), str) or not isinstance(shape, (tuple, list)):
            return False
        values = [*shape, r.get("activations"), r.get("params")]
        if not all(_int(v) for v in values) or \
                [int(v) for v in values] != [*e["shape"], e["activations"], e["params"]]:
            return False
    return True


def budget_right(ns: dict[str, Any]) -> bool:
    inputs = [([8, "M", 16, "M"], 8, 3, 5, 12), ([4, 4, "M", 6, "M", 8, "M"], 16, 1, 3, 9)]
    ok = all(_same_rows(ns["vgg_budget"](cfg, input_size=s, in_channels=c, num_classes=k,
                                         fc_width=w), _budget_rows(cfg, s, c, k, w))
             for cfg, s, c, k, w in inputs)
    vgg16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
             512, 512, 512, "M"]
    return ok and _same_rows(ns["vgg_budget"](vgg16), _budget_rows(vgg16, 224, 3, 1000, 4096))


def _naive_convs(cfg: tuple[int, ...]) -> list[torch.nn.Module]:
    return [torch.nn.Conv2d(cfg[0], c, k, padding=k // 2)
            for c, k in ((cfg[1], 1), (cfg[3], 3), (cfg[5], 5), (cfg[6], 1))]


def cost_right(ns: dict[str, Any]) -> bool:
    f = ns["inception_cost"]
    for cfg, size in [((192, 64, 96, 128, 16, 32, 32), 28), ((5, 3, 2, 4, 3, 6, 2), 7)]:
        table = arith.layer_table(models.InceptionModule(*cfg), (cfg[0], size, size))
        naive = [arith.layer_table(c, (cfg[0], size, size)) for c in _naive_convs(cfg)]
        want = {True: (table.total_params, table.total_macs),
                False: (sum(t.total_params for t in naive), sum(t.total_macs for t in naive))}
        for got, flag in ((f(*cfg, size), True), (f(*cfg, size, bottleneck=True), True),
                          (f(*cfg, size, bottleneck=False), False)):
            if not (_int(got["params"]) and _int(got["macs"])) or \
                    (got["params"], got["macs"]) != want[flag]:
                return False
    return True


def _randomise(module: torch.nn.Module, gen: torch.Generator) -> None:
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if t.is_floating_point():
                r = torch.randn(t.shape, generator=gen, dtype=t.dtype)
                t.copy_(r.abs() + 0.5 if name.endswith("running_var") else r)


def _module_matches(make_mine: Callable[[], Any], ref: torch.nn.Module,
                    rename: Callable[[str], str], x_shape: tuple[int, ...], seed: int) -> bool:
    """The student's module, loaded with the reference's random weights under the statement's
    names, gives the same output and gradients on a random input and upstream gradient."""
    gen = torch.Generator().manual_seed(seed)
    ref = ref.double()
    _randomise(ref, gen)
    try:
        mine = make_mine().double()
        mine.load_state_dict({rename(k): v.clone() for k, v in ref.state_dict().items()},
                             strict=True)
    except Exception:  # noqa: BLE001 - wrong names or shapes: not what the statement asks
        return False
    if sum(p.numel() for p in mine.parameters()) != sum(p.numel() for p in ref.parameters()):
        return False
    x = torch.randn(x_shape, generator=gen, dtype=torch.float64)
    xm, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_m, out_r = mine(xm), ref(xr)
    if not isinstance(out_m, torch.Tensor) or out_m.shape != out_r.shape or \
            not torch.allclose(out_m, out_r, **TOL):
        return False
    g = torch.randn(out_r.shape, generator=gen, dtype=torch.float64)
    try:
        out_m.backward(g)
    except RuntimeError:
        return False
    out_r.backward(g)
    grads_m = dict(mine.named_parameters())
    return xm.grad is not None and torch.allclose(xm.grad, xr.grad, **TOL) and all(
        grads_m[rename(n)].grad is not None and torch.allclose(
            grads_m[rename(n)].grad, p.grad, **TOL) for n, p in ref.named_parameters())


INCEPTION_NAMES = {"branch1.0": "conv1x1", "branch2.0.0": "reduce3x3",
                   "branch2.1.0": "conv3x3", "branch3.0.0": "reduce5x5",
                   "branch3.1.0": "conv5x5", "branch4.1.0": "pool_proj"}


def _inception_name(key: str) -> str:
    layer, what = key.rsplit(".", 1)
    return f"{INCEPTION_NAMES[layer]}.{what}"


def inception_right(ns: dict[str, Any]) -> bool:
    cls = ns["InceptionModule"]
    return all(_module_matches(lambda c=cfg: cls(*c), models.InceptionModule(*cfg),
                               _inception_name, (2, cfg[0], *hw), seed)
               for seed, (cfg, hw) in enumerate([((4, 3, 2, 5, 3, 6, 2), (5, 6)),
                                                 ((3, 2, 4, 3, 1, 2, 4), (2, 3))]))


def _residual_name(key: str) -> str:
    return key.replace("downsample.0.", "proj_conv.").replace("downsample.1.", "proj_bn.")


def residual_right(ns: dict[str, Any]) -> bool:
    cls = ns["ResidualBlock"]
    return all(_module_matches(lambda a=cin, b=cout, s=stride: cls(a, b, s),
                               models.BasicBlock(cin, cout, stride), _residual_name,
                               (3, cin, 7, 6), seed)
               for seed, (cin, cout, stride) in enumerate([(3, 3, 1), (3, 5, 2), (4, 4, 2),
                                                           (2, 5, 1)]))


ORACLES = {"test_vgg_budget": budget_right, "test_inception_cost": cost_right,
           "test_inception_module": inception_right, "test_residual_block": residual_right}


# --------------------------------------------------------------------------------------------
# The grader agrees with the oracles
# --------------------------------------------------------------------------------------------


def test_the_corpus_is_big_enough_and_mixed() -> None:
    assert len(CORPUS) >= 8
    assert {e.check for e in CORPUS.values()} == set(ORACLES)
    assert {e.meant for e in CORPUS.values()} == {True, False}


def test_the_reference_is_right_by_every_oracle() -> None:
    ns = _namespace("")
    assert all(oracle(ns) for oracle in ORACLES.values())


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_full_marks_exactly_for_what_the_oracle_finds_right(name: str) -> None:
    entry = CORPUS[name]
    right = ORACLES[entry.check](_namespace(entry.code))
    assert right == entry.meant, f"the oracle finds {name} {'right' if right else 'wrong'}"
    assert_grader_agrees(A, A.reference + "\n\n" + entry.code, entry.check, right)
