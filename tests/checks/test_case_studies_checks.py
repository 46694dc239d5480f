"""Hidden checks of 05_case_studies that only this assignment has.

One mutant per rule the notebook states (each must lose points, and name the mistake where the
check has a name for it), the calls each exercise bans, modules that compute nothing or ignore
the grader's weights, the shape policy, no diagnosis without its fingerprint, the oracles
against cnnlib's own models and tables, and the same full marks at every seed. What every
assignment's checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import torch
from _common import ASSIGNMENTS, assert_loses_points, assert_no_named_mistake, mutate

from autograder.checks import case_studies as checks
from autograder.checks.kit import F64, SHAPE_SLIP_CREDIT, t64
from cnnlib import arith, models

A = ASSIGNMENTS["case_studies"]  # also the assignment of the `reference` fixture
SEEDS = (0, 1)


class Mutant(NamedTuple):
    check: str
    within: str            # the class or function the edits apply to
    words: str             # what the feedback must say (the named mistake, where there is one)
    edits: tuple[tuple[str, str], ...]


def _m(check: str, within: str, words: str, *edits: tuple[str, str]) -> Mutant:
    return Mutant(f"test_{check}", within, words, edits)


RES, INC, COST, VGG = "ResidualBlock", "InceptionModule", "inception_cost", "vgg_budget"
RES_OUT = "return torch.relu(out + shortcut)"
CONV1 = "nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)"
CONV2 = "nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)"
PROJ = "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)"
FIRST = "        out = torch.relu(self.bn1(self.conv1(x)))\n"
SHORTCUT = "shortcut = x if self.proj_conv is None else self.proj_bn(self.proj_conv(x))"
NEEDS_PROJ = "if stride != 1 or in_channels != out_channels:"

RESIDUAL_MUTANTS = {
    "relu before add": _m("residual_block", RES, "ReLU is applied before the addition",
                          (RES_OUT, "return torch.relu(out) + shortcut")),
    "no relu after add": _m("residual_block", RES, "no ReLU after the addition",
                            (RES_OUT, "return out + shortcut")),
    "no shortcut": _m("residual_block", RES, "the shortcut is missing",
                      (RES_OUT, "return torch.relu(out)")),
    "no relu between convs": _m("residual_block", RES, "no ReLU between the two convs",
                                (FIRST, "        out = self.bn1(self.conv1(x))\n")),
    "stride on conv2": _m("residual_block", RES, "stride is on the second 3x3 conv",
                          (CONV1, CONV1.replace("stride=stride, ", "")),
                          (CONV2, CONV2.replace("3, padding", "3, stride=stride, padding"))),
    "bn in eval mode": _m("residual_block", RES, "running statistics (eval mode)",
                          (FIRST, "        self.eval()\n" + FIRST)),
    "bn eps 1e-3": _m("residual_block", RES, "the output of ResidualBlock",
                      ("self.bn1 = nn.BatchNorm2d(out_channels)",
                       "self.bn1 = nn.BatchNorm2d(out_channels, eps=1e-3)")),
    "no bn after conv1": _m("residual_block", RES, "parameters, expected",
                            ("self.bn1 = nn.BatchNorm2d(out_channels)",
                             "self.bn1 = nn.Identity()")),
    "conv biases": _m("residual_block", RES, "the convolutions have biases",
                      (CONV1, CONV1.replace(", bias=False", "")),
                      (CONV2, CONV2.replace(", bias=False", "")),
                      (PROJ, PROJ.replace(", bias=False", ""))),
    "conv1 unpadded": _m("residual_block", RES, "raised RuntimeError",
                         (CONV1, CONV1.replace("padding=1", "padding=0"))),
    "projection without bn": _m(
        "residual_block", RES, "projection shortcut has no batch norm",
        ("            self.proj_bn = nn.BatchNorm2d(out_channels)\n", ""),
        (SHORTCUT, "shortcut = x if self.proj_conv is None else self.proj_conv(x)")),
    "projection only for a stride": _m("residual_block", RES, "projection shortcut is missing",
                                       (NEEDS_PROJ, "if stride != 1:")),
    "projection only for new channels": _m("residual_block", RES,
                                           "projection shortcut is missing",
                                           (NEEDS_PROJ, "if in_channels != out_channels:")),
    "projection always": _m("residual_block", RES, "a projection is used where the shortcut is",
                            (NEEDS_PROJ, "if True:")),
    "layers named otherwise": _m(
        "residual_block", RES, "the grader loads its weights by the names",
        ("self.proj_conv = nn.Conv2d", "self.shortcut_conv = nn.Conv2d"),
        ("self.proj_conv = self.proj_bn = None", "self.shortcut_conv = self.proj_bn = None"),
        (SHORTCUT, SHORTCUT.replace("proj_conv", "shortcut_conv"))),
    "output detached": _m("residual_block", RES, "the backward pass failed",
                          (RES_OUT, RES_OUT + ".detach()")),
}

INCEPTION_CONVS = ("nn.Conv2d(in_ch, ch1x1, 1", "nn.Conv2d(in_ch, ch3x3red, 1",
                   "nn.Conv2d(ch3x3red, ch3x3, 3, padding=1", "nn.Conv2d(in_ch, ch5x5red, 1",
                   "nn.Conv2d(ch5x5red, ch5x5, 5, padding=2", "nn.Conv2d(in_ch, pool_proj, 1")
INCEPTION_MUTANTS = {
    "no relu after the branches": _m(
        "inception_module", INC, "branches are not followed by a ReLU",
        ("b1 = torch.relu(self.conv1x1(x))", "b1 = self.conv1x1(x)"),
        ("b3 = torch.relu(self.conv3x3(torch.relu(self.reduce3x3(x))))",
         "b3 = self.conv3x3(torch.relu(self.reduce3x3(x)))"),
        ("b5 = torch.relu(self.conv5x5(torch.relu(self.reduce5x5(x))))",
         "b5 = self.conv5x5(torch.relu(self.reduce5x5(x)))"),
        ("bp = torch.relu(self.pool_proj(self.pool(x)))", "bp = self.pool_proj(self.pool(x))")),
    "one branch without relu": _m("inception_module", INC, "the output of InceptionModule",
                                  ("b1 = torch.relu(self.conv1x1(x))", "b1 = self.conv1x1(x)")),
    "no relu after the reductions": _m(
        "inception_module", INC, "1x1 reductions are not followed by a ReLU",
        ("self.conv3x3(torch.relu(self.reduce3x3(x)))", "self.conv3x3(self.reduce3x3(x))"),
        ("self.conv5x5(torch.relu(self.reduce5x5(x)))", "self.conv5x5(self.reduce5x5(x))")),
    "branches in another order": _m("inception_module", INC,
                                    "concatenated in the order 3x3, 1x1, 5x5, pool",
                                    ("torch.cat([b1, b3, b5, bp]", "torch.cat([b3, b1, b5, bp]")),
    "pool padded with zeros": _m(
        "inception_module", INC, "the max pool pads with zeros",
        ("self.pool_proj(self.pool(x))",
         "self.pool_proj(nn.functional.max_pool2d(nn.functional.pad(x, (1, 1, 1, 1)), 3, 1))")),
    "no pool": _m("inception_module", INC, "the pool branch has no max pool",
                  ("self.pool_proj(self.pool(x))", "self.pool_proj(x)")),
    "average pool": _m("inception_module", INC, "the output of InceptionModule",
                       ("nn.MaxPool2d(3, stride=1, padding=1)",
                        "nn.AvgPool2d(3, stride=1, padding=1)")),
    "pool unpadded": _m("inception_module", INC, "raised RuntimeError",
                        ("nn.MaxPool2d(3, stride=1, padding=1)", "nn.MaxPool2d(3, stride=1)")),
    "3x3 unpadded": _m("inception_module", INC, "raised RuntimeError",
                       ("nn.Conv2d(ch3x3red, ch3x3, 3, padding=1)",
                        "nn.Conv2d(ch3x3red, ch3x3, 3)")),
    "5x5 padded by 1": _m("inception_module", INC, "raised RuntimeError",
                          ("nn.Conv2d(ch5x5red, ch5x5, 5, padding=2)",
                           "nn.Conv2d(ch5x5red, ch5x5, 5, padding=1)")),
    "no bottleneck": _m(
        "inception_module", INC, "no 1x1 bottleneck before the 3x3 and 5x5 convs",
        ("        self.reduce3x3 = nn.Conv2d(in_ch, ch3x3red, 1)\n", ""),
        ("        self.reduce5x5 = nn.Conv2d(in_ch, ch5x5red, 1)\n", ""),
        ("nn.Conv2d(ch3x3red, ch3x3, 3", "nn.Conv2d(in_ch, ch3x3, 3"),
        ("nn.Conv2d(ch5x5red, ch5x5, 5", "nn.Conv2d(in_ch, ch5x5, 5"),
        ("torch.relu(self.reduce3x3(x))", "x"), ("torch.relu(self.reduce5x5(x))", "x")),
    "no biases": _m("inception_module", INC, "the convolutions have no biases",
                    *((f"{a})\n", f"{a}, bias=False)\n") for a in INCEPTION_CONVS)),
    "an extra layer": _m("inception_module", INC, "parameters, expected",
                         ("        self.pool = nn", "        self.norm = nn.BatchNorm2d(in_ch)\n"
                                                  "        self.pool = nn")),
    "convs in nn.Sequential branches": _m(
        "inception_module", INC, "the grader loads its weights by the names",
        ("        self.conv1x1 = nn.Conv2d(in_ch, ch1x1, 1)\n",
         "        self.branch1 = nn.Sequential(nn.Conv2d(in_ch, ch1x1, 1))\n"),
        ("self.conv1x1(x)", "self.branch1(x)")),
    "output detached": _m("inception_module", INC, "the backward pass failed",
                          ("torch.cat([b1, b3, b5, bp], dim=1)",
                           "torch.cat([b1, b3, b5, bp], dim=1).detach()")),
}

MACS = "macs = sum(k * k * c_in * c_out * size * size"
PARAMS = "params = sum(k * k * c_in * c_out + c_out"
COST_MUTANTS = {
    "flops": _m("inception_cost", COST, "FLOPs were counted", (MACS, "macs = sum(2 * k * k * "
                                                               "c_in * c_out * size * size")),
    "bias adds": _m("inception_cost", COST, "bias additions are counted",
                    (MACS, "macs = sum((k * k * c_in + 1) * c_out * size * size")),
    "one position": _m("inception_cost", COST, "for one output position",
                       (MACS, "macs = sum(k * k * c_in * c_out")),
    "biases not counted": _m("inception_cost", COST, "the biases are not counted",
                             (PARAMS, "params = sum(k * k * c_in * c_out")),
    "reductions not counted": _m(
        "inception_cost", COST, "the 1x1 reductions are not counted",
        ("(in_ch, ch3x3red, 1), (ch3x3red", "(ch3x3red"),
        ("(in_ch, ch5x5red, 1), (ch5x5red", "(ch5x5red")),
    "bottleneck flag ignored": _m("inception_cost", COST, "bottleneck=False is ignored",
                                  ("    if bottleneck:\n", "    if True:\n")),
    "naive module without pool projection": _m(
        "inception_cost", COST, "pool branch's 1x1 projection is dropped too",
        ("(in_ch, ch5x5, 5), (in_ch, pool_proj, 1)]", "(in_ch, ch5x5, 5)]")),
    "float counts": _m("inception_cost", COST, "should be ints, not floats",
                       ('"macs": macs}', '"macs": macs / 1}')),
    "default without bottlenecks": _m("inception_cost", COST, "macs",
                                      ("bottleneck=True) -> dict:", "bottleneck=False) -> dict:")),
}

FC = '(("fc6", fc_width), ("fc7", fc_width), ("fc8", num_classes))'
CONV_ROW = '"params": 3 * 3 * c * v + v}'
FC_ROW = '"params": n_in * n_out + n_out}'
INPUT_ROW = '[{"layer": "input", "shape": (c, s, s), "activations": c * s * s, "params": 0}]'
VGG_MUTANTS = {
    "conv biases not counted": _m("vgg_budget", VGG, "params",
                                  (CONV_ROW, '"params": 3 * 3 * c * v}')),
    "fc biases not counted": _m("vgg_budget", VGG, "params",
                                (FC_ROW, '"params": n_in * n_out}')),
    "no biases": _m("vgg_budget", VGG, "the biases are not counted",
                    (CONV_ROW, '"params": 3 * 3 * c * v}'), (FC_ROW, '"params": n_in * n_out}')),
    "(H, W, C) shapes": _m("vgg_budget", VGG, "(H, W, C) instead of (C, H, W)",
                           ('"shape": (c, s, s), "activations": c * s * s, "params": 0}]',
                            '"shape": (s, s, c), "activations": c * s * s, "params": 0}]'),
                           ('"layer": "pool", "shape": (c, s, s)',
                            '"layer": "pool", "shape": (s, s, c)'),
                           ('"shape": (v, s, s)', '"shape": (s, s, v)')),
    "no input row": _m("vgg_budget", VGG, "the input row is missing", (INPUT_ROW, "[]")),
    "fc width hard-wired": _m("vgg_budget", VGG, "has shape (4096,)",
                              (FC, '(("fc6", 4096), ("fc7", 4096), ("fc8", num_classes))')),
    "classes hard-wired": _m("vgg_budget", VGG, "has shape (1000,)",
                             (FC, '(("fc6", fc_width), ("fc7", fc_width), ("fc8", 1000))')),
    "fc6 sees the channels only": _m("vgg_budget", VGG, "params",
                                     ("    n_in = c * s * s\n", "    n_in = c\n")),
    "activations of one row": _m("vgg_budget", VGG, "activations",
                                 ('"activations": v * s * s', '"activations": v * s')),
    "pool keeps the size": _m("vgg_budget", VGG, "shape", ("            s //= 2\n", "")),
    "float sizes": _m("vgg_budget", VGG, "some are floats", ("s //= 2", "s /= 2")),
    "no layer names": _m("vgg_budget", VGG, "lack a 'layer' name",
                         ('rows.append({"layer": name, ', "rows.append({")),
    "relu rows": _m("vgg_budget", VGG, "ReLUs are listed as rows",
                    ("            c = v\n",
                     '            rows.append(dict(rows[-1], layer="relu", params=0))\n'
                     "            c = v\n")),
    "pools with parameters": _m("vgg_budget", VGG, "pooling layers are given parameters",
                                ('"activations": c * s * s,\n                         "params": 0}',
                                 '"activations": c * s * s,\n'
                                 '                         "params": 4 * c}')),
    "other defaults": _m("vgg_budget", VGG, "expected (3, 224, 224)",
                         ("input_size=224, in_channels=3", "input_size=32, in_channels=3")),
    "vgg16 config wrong": _m("vgg_budget", "vgg16_budget", "vgg16_budget()",
                             ('512, 512, 512, "M"]', '512, 512, "M"]')),
}

MUTANTS = {**{f"residual: {k}": v for k, v in RESIDUAL_MUTANTS.items()},
           **{f"inception: {k}": v for k, v in INCEPTION_MUTANTS.items()},
           **{f"cost: {k}": v for k, v in COST_MUTANTS.items()},
           **{f"budget: {k}": v for k, v in VGG_MUTANTS.items()}}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_each_stated_rule_broken_loses_points(reference: str, name: str) -> None:
    m = MUTANTS[name]
    code = mutate(reference, *m.edits, within=m.within)
    assert_loses_points(A, code, m.check, m.words, seeds=SEEDS, only=True)


def test_cases_depend_on_the_seed() -> None:
    def args(seed: int) -> list:
        return [[s.args for s in case.steps[:1]] for c in A.build(seed) for case in c.cases]

    assert args(0) != args(1)


def test_reference_gets_full_marks_at_20_seeds(reference: str) -> None:
    """Grader-chosen weights: no unlucky initialisation can take a point (issue 10, point 6)."""
    for seed in range(100, 120):
        grades = A.grade(reference, seed)
        assert {k: g.fraction for k, g in grades.items()} == dict.fromkeys(grades, 1.0), \
            (seed, {k: g.message for k, g in grades.items() if g.fraction < 1})


def test_same_submission_same_grade(reference: str) -> None:
    m = RESIDUAL_MUTANTS["stride on conv2"]
    code = mutate(reference, *m.edits, within=m.within)
    assert A.grade(code, 7) == A.grade(code, 7)


# --------------------------------------------------------------------------------------------
# No free points: bans, modules that compute nothing, constants
# --------------------------------------------------------------------------------------------

BANNED = {
    "cnnlib's Inception module imported": (
        "\nfrom cnnlib.models import InceptionModule\n", "test_inception_module",
        "InceptionModule is imported (cnnlib.models.InceptionModule)"),
    "cnnlib's BasicBlock imported as the exercise": (
        "\nfrom cnnlib.models import BasicBlock as ResidualBlock\n", "test_residual_block",
        "ResidualBlock is imported (cnnlib.models.BasicBlock)"),
    "a subclass of cnnlib's BasicBlock": (
        "\nfrom cnnlib import models\n\n\nclass ResidualBlock(models.BasicBlock):\n    pass\n",
        "test_residual_block", "uses cnnlib.models.BasicBlock"),
    "torchvision's block": (
        "\nclass ResidualBlock(nn.Module):\n    def __init__(self, a, b, stride=1):\n"
        "        super().__init__()\n        from torchvision.models.resnet import BasicBlock\n"
        "        self.b = BasicBlock(a, b, stride)\n", "test_residual_block",
        "uses torchvision.models.resnet.BasicBlock"),
    "torch.hub": (
        "\nclass InceptionModule(nn.Module):\n    def __init__(self, *cfg):\n"
        "        super().__init__()\n"
        "        self.net = torch.hub.load('pytorch/vision', 'googlenet')\n",
        "test_inception_module", "uses torch.hub.load"),
    "cnnlib's layer table for the cost": (
        "\nfrom cnnlib import arith, models\n\n\ndef inception_cost(*cfg, bottleneck=True):\n"
        "    t = arith.layer_table(models.InceptionModule(*cfg[:-1]), "
        "(cfg[0], cfg[-1], cfg[-1]))\n    return {'params': t.total_params, "
        "'macs': t.total_macs}\n", "test_inception_cost", "which this exercise may not use"),
    "torch layers for the budget": (
        "\n\ndef vgg_budget(cfg, input_size=224, in_channels=3, num_classes=1000, "
        "fc_width=4096):\n    return [{'shape': tuple(torch.empty(in_channels).shape)}]\n",
        "test_vgg_budget", "uses torch.empty"),
}


@pytest.mark.parametrize("name", sorted(BANNED))
def test_ready_made_implementations_are_refused(reference: str, name: str) -> None:
    tail, check, words = BANNED[name]
    grade = A.grade(reference + tail, 0, only=check)[check]
    assert grade.fraction == 0.0 and words in grade.message, grade


FREE = {
    "a module that outputs zeros": (INC, "torch.cat([b1, b3, b5, bp], dim=1)",
                                    "torch.zeros_like(torch.cat([b1, b3, b5, bp], dim=1), "
                                    "requires_grad=True)", "test_inception_module"),
    "a module that uses its own weights": (
        RES, "        out = torch.relu(self.bn1", "        torch.manual_seed(0)\n"
        "        for m in (self.conv1, self.conv2, self.bn1, self.bn2):\n"
        "            m.reset_parameters()\n        out = torch.relu(self.bn1",
        "test_residual_block"),
    "a module that returns its input": (RES, RES_OUT, "return x * 1.0", "test_residual_block"),
}


@pytest.mark.parametrize("name", sorted(FREE))
def test_modules_that_do_not_compute_the_exercise_earn_nothing(reference: str,
                                                               name: str) -> None:
    within, old, new, check = FREE[name]
    code = mutate(reference, (old, new), within=within)
    for seed in SEEDS:
        grade = A.grade(code, seed, only=check)[check]
        assert grade.fraction == 0.0, (seed, grade)


def test_constant_counts_earn_nothing(reference: str) -> None:
    code = reference + "\n\ndef inception_cost(*args, **kwargs):\n" \
        "    return {'params': 163696, 'macs': 128049152}\n"
    assert A.grade(code, 0, only="test_inception_cost")["test_inception_cost"].fraction == 0.0
    code = reference + "\n\ndef vgg_budget(*args, **kwargs):\n    return vgg16_budget()\n" \
        "\n\ndef vgg16_budget():\n    return " + repr(checks.vgg_budget_rows(checks.VGG16_CFG))
    grade = A.grade(code, 0, only="test_vgg_budget")["test_vgg_budget"]
    assert grade.fraction == pytest.approx(0.1)  # the VGG16 case, at half: no 'layer' names


# --------------------------------------------------------------------------------------------
# Feedback: the shape policy, no diagnosis without its fingerprint, return types
# --------------------------------------------------------------------------------------------


def test_module_output_with_every_value_right_but_flattened_earns_the_shape_slip(
        reference: str) -> None:
    code = mutate(reference, ("torch.cat([b1, b3, b5, bp], dim=1)",
                              "torch.cat([b1, b3, b5, bp], dim=1).flatten(1)"), within=INC)
    grade = A.grade(code, 0, only="test_inception_module")["test_inception_module"]
    assert grade.fraction == pytest.approx(SHAPE_SLIP_CREDIT)
    assert "every value is right but the shape is" in grade.message


UNRELATED = {  # wrong in a way no named mistake describes
    "residual output scaled": (RES, RES_OUT, "return 1.5 * torch.relu(out + shortcut)",
                               "test_residual_block"),
    "inception output shifted": (INC, "return torch.cat([b1, b3, b5, bp], dim=1)",
                                 "return torch.cat([b1, b3, b5, bp], dim=1) + 0.1",
                                 "test_inception_module"),
    "cost off by one": (COST, 'return {"params": params, "macs": macs}',
                        'return {"params": params + 1, "macs": macs + 1}', "test_inception_cost"),
    "budget params off by one": (VGG, FC_ROW, '"params": n_in * n_out + n_out + 1}',
                                 "test_vgg_budget"),
    "one residual parameter too many": (RES, "        self.bn2 = nn.BatchNorm2d(out_channels)\n",
                                        "        self.bn2 = nn.BatchNorm2d(out_channels)\n"
                                        "        self.gain = nn.Parameter(torch.ones(1))\n",
                                        "test_residual_block"),
}


@pytest.mark.parametrize("name", sorted(UNRELATED))
def test_no_named_mistake_without_its_fingerprint(reference: str, name: str) -> None:
    within, old, new, check = UNRELATED[name]
    assert_no_named_mistake(A, mutate(reference, (old, new), within=within), check)


@pytest.mark.parametrize(("tail", "check", "words"), [
    ("\n\ndef vgg_budget(*a, **k):\n    return 42\n", "test_vgg_budget", "list of dicts"),
    ("\n\ndef inception_cost(*a, **k):\n    return (1, 2)\n", "test_inception_cost",
     "a dict with the keys 'params' and 'macs'"),
    ("\n\nclass ResidualBlock(nn.Module):\n    def __init__(self, a, b, stride=1):\n"
     "        raise ValueError('no')\n", "test_residual_block",
     "raised ValueError"),
])
def test_wrong_return_types_get_clear_messages(reference: str, tail: str, check: str,
                                               words: str) -> None:
    grade = A.grade(reference + tail, 3, only=check)[check]
    assert grade.fraction == 0.0
    assert words in grade.message, grade.message


# --------------------------------------------------------------------------------------------
# The oracles, against cnnlib's own models and tables (run in the notebook, never graded)
# --------------------------------------------------------------------------------------------


def _random_state(module: torch.nn.Module, seed: int) -> None:
    """Random weights, biases and running statistics (variances positive)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in [*module.named_parameters(), *module.named_buffers()]:
            if t.is_floating_point():
                r = torch.randn(t.shape, generator=g, dtype=t.dtype)
                t.copy_(r.abs() + 0.5 if name.endswith("running_var") else r)


@pytest.mark.parametrize(("cin", "cout", "stride"), [(3, 3, 1), (3, 5, 2), (4, 4, 2), (2, 5, 1)])
def test_residual_oracle_is_cnnlibs_basic_block(cin: int, cout: int, stride: int) -> None:
    block = models.BasicBlock(cin, cout, stride).double()
    _random_state(block, cin + cout + stride)
    state = {k.replace("downsample.0.", "proj_conv.").replace("downsample.1.", "proj_bn."):
             v.numpy() for k, v in block.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in state.items()} == checks.residual_layout(
        cin, cout, (cin, stride) != (cout, 1))
    x = np.random.default_rng(0).normal(size=(3, cin, 7, 6))
    params = {k: t64(v) for k, v in state.items() if "running" not in k and "num_b" not in k}
    got = checks.residual_forward(t64(x), params, stride=stride, buffers={})
    np.testing.assert_allclose(got.numpy(), block(t64(x)).detach().numpy(), rtol=F64.rtol,
                               atol=F64.atol)
    assert checks.residual_params(cin, cout, (cin, stride) != (cout, 1)) == \
        models.count_params(block)


def test_inception_oracle_is_cnnlibs_module() -> None:
    cfg = (4, 3, 2, 5, 3, 6, 2)
    module = models.InceptionModule(*cfg).double()
    _random_state(module, 3)
    names = {"conv1x1": "branch1.0", "reduce3x3": "branch2.0.0", "conv3x3": "branch2.1.0",
             "reduce5x5": "branch3.0.0", "conv5x5": "branch3.1.0", "pool_proj": "branch4.1.0"}
    ref = module.state_dict()
    p = {f"{a}.{k}": ref[f"{b}.{k}"] for a, b in names.items() for k in ("weight", "bias")}
    assert {k: tuple(v.shape) for k, v in p.items()} == checks.inception_layout(cfg)
    x = t64(np.random.default_rng(1).normal(size=(2, 4, 5, 3)))
    np.testing.assert_allclose(checks.inception_forward(x, p).numpy(),
                               module(x).detach().numpy(), rtol=F64.rtol, atol=F64.atol)
    assert checks.inception_params(cfg) == models.count_params(module)


@pytest.mark.parametrize("seed", range(10))
def test_grader_weights_give_every_parameter_a_gradient(seed: int) -> None:
    """Centred biases: every ReLU of the Inception module has units on both sides on the
    grader's input, so no branch is ever without gradient (the cause of the 9.5/10 a correct
    notebook 5 sometimes got) and a missing ReLU always shows."""
    rng = np.random.default_rng(seed)
    cfg = checks._inception_config(rng)
    x = checks._input(rng, (2, cfg[0], 3, 4))
    p = checks.inception_weights(rng, cfg, x)
    pre = checks.inception_branches(t64(x), {k: t64(v) for k, v in p.items()}, relu=False)
    assert all(0.2 < float((b > 0).double().mean()) < 0.8 for b in pre)
    dout = rng.normal(size=(2, cfg[1] + cfg[3] + cfg[5] + cfg[6], 3, 4))
    _, gin, grads = checks._grads(checks.inception_forward, x, p, dout)
    assert np.abs(gin).max() > 0 and all(np.abs(g).max() > 0 for g in grads.values())


def test_cost_oracle_is_cnnlibs_layer_table() -> None:
    cfg, size = (16, 8, 4, 8, 2, 4, 4), 7
    table = arith.layer_table(models.InceptionModule(*cfg), (cfg[0], size, size))
    assert checks.torch_inception_cost(cfg, size) == {"params": table.total_params,
                                                      "macs": table.total_macs}
    assert checks.torch_inception_cost((192, 64, 96, 128, 16, 32, 32), 28, False) == {
        "params": 393_472, "macs": 308_281_344}


def test_budget_oracle_gives_the_lecture_totals() -> None:
    rows = checks.torch_vgg_rows(checks.VGG16_CFG)
    assert sum(r["params"] for r in rows) == 138_357_544 == models.count_params(models.VGG(16))
    assert sum(r["activations"] for r in rows) == 15_237_608
    assert len(rows) == 22 and rows[1] == {"shape": (64, 224, 224), "activations": 3_211_264,
                                           "params": 1_792}
