"""Hidden checks of 05_case_studies that only this assignment has: mutants of the residual
block, the inception module and the VGG budget, and wrong return types. What every assignment's
checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

import pytest
from _common import ASSIGNMENTS, assert_loses_points, mutate

A = ASSIGNMENTS["case_studies"]  # also the assignment of the `reference` fixture


def test_cases_depend_on_the_seed() -> None:
    a = A.build(0)
    b = A.build(1)
    assert [s.args for s in a[2].steps[::4]] != [s.args for s in b[2].steps[::4]]


RESIDUAL_MUTANTS = {
    "the ReLU is applied before the addition": (
        ("return torch.relu(out + self.shortcut(x))", "return torch.relu(out) + self.shortcut(x)"),
    ),
    "there is no ReLU after the addition": (
        ("return torch.relu(out + self.shortcut(x))", "return out + self.shortcut(x)"),
    ),
    "the shortcut is missing": (
        ("return torch.relu(out + self.shortcut(x))", "return torch.relu(out)"),
    ),
    "the projection shortcut has no batch norm": (
        ("nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),\n"
         "                nn.BatchNorm2d(out_channels))",
         "nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False))"),
    ),
    "the stride is on the second 3x3 conv": (
        ("nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)",
         "nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)"),
        ("nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)",
         "nn.Conv2d(out_channels, out_channels, 3, stride=stride, padding=1, bias=False)"),
    ),
    "the convolutions have biases": (
        ("stride=stride, padding=1, bias=False)", "stride=stride, padding=1)"),
        ("3, padding=1, bias=False)", "3, padding=1)"),
        ("1, stride=stride, bias=False)", "1, stride=stride)"),
    ),
    "1x1 conv with the block's stride": (  # no projection at all: the addition fails
        ("if stride != 1 or in_channels != out_channels:", "if False:"),
    ),
}


INCEPTION_MUTANTS = {
    "no 1x1 bottleneck": (
        ("nn.Sequential(nn.Conv2d(in_ch, ch3x3red, 1), nn.ReLU(),\n" + " " * 37
         + "nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU())",
         "nn.Sequential(nn.Conv2d(in_ch, ch3x3, 3, padding=1), nn.ReLU())"),
        ("nn.Sequential(nn.Conv2d(in_ch, ch5x5red, 1), nn.ReLU(),\n" + " " * 37
         + "nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU())",
         "nn.Sequential(nn.Conv2d(in_ch, ch5x5, 5, padding=2), nn.ReLU())"),
    ),
    "concatenated in another order": (
        ("[self.branch1(x), self.branch3(x), self.branch5(x),",
         "[self.branch3(x), self.branch1(x), self.branch5(x),"),
    ),
    "not followed by ReLU": (
        ("nn.Conv2d(in_ch, ch1x1, 1), nn.ReLU())", "nn.Conv2d(in_ch, ch1x1, 1))"),
        ("nn.Conv2d(ch3x3red, ch3x3, 3, padding=1), nn.ReLU())",
         "nn.Conv2d(ch3x3red, ch3x3, 3, padding=1))"),
        ("nn.Conv2d(ch5x5red, ch5x5, 5, padding=2), nn.ReLU())",
         "nn.Conv2d(ch5x5red, ch5x5, 5, padding=2))"),
        ("nn.Conv2d(in_ch, pool_proj, 1), nn.ReLU())", "nn.Conv2d(in_ch, pool_proj, 1))"),
    ),
    "stride 1, pad 1": (  # pool branch without padding: the concatenation fails
        ("nn.MaxPool2d(3, stride=1, padding=1)", "nn.MaxPool2d(3, stride=1)"),
    ),
    "have no biases": (
        ("nn.Conv2d(in_ch, ch1x1, 1)", "nn.Conv2d(in_ch, ch1x1, 1, bias=False)"),
        ("nn.Conv2d(in_ch, ch3x3red, 1)", "nn.Conv2d(in_ch, ch3x3red, 1, bias=False)"),
        ("nn.Conv2d(ch3x3red, ch3x3, 3, padding=1)",
         "nn.Conv2d(ch3x3red, ch3x3, 3, padding=1, bias=False)"),
        ("nn.Conv2d(in_ch, ch5x5red, 1)", "nn.Conv2d(in_ch, ch5x5red, 1, bias=False)"),
        ("nn.Conv2d(ch5x5red, ch5x5, 5, padding=2)",
         "nn.Conv2d(ch5x5red, ch5x5, 5, padding=2, bias=False)"),
        ("nn.Conv2d(in_ch, pool_proj, 1)", "nn.Conv2d(in_ch, pool_proj, 1, bias=False)"),
    ),
}


BUDGET_MUTANTS = {
    "the biases are not counted": (
        ('"params": 3 * 3 * c * v + v}', '"params": 3 * 3 * c * v}'),
        ('"params": n_in * n_out + n_out}', '"params": n_in * n_out}'),
    ),
    "(H, W, C) instead of (C, H, W)": (
        ('"shape": (c, s, s), "activations": c * s * s, "params": 0}]',
         '"shape": (s, s, c), "activations": c * s * s, "params": 0}]'),
        ('rows.append({"layer": "pool", "shape": (c, s, s)',
         'rows.append({"layer": "pool", "shape": (s, s, c)'),
        ('"shape": (v, s, s)', '"shape": (s, s, v)'),
    ),
    "the input row is missing": (
        ('rows = [{"layer": "input", "shape": (c, s, s), "activations": c * s * s, "params": 0}]',
         "rows = []"),
    ),
    "row ": (  # hard-wired FC width: right for VGG16, wrong on the random config
        ('(("fc6", fc_width), ("fc7", fc_width)', '(("fc6", 4096), ("fc7", 4096)'),
    ),
}


# check: (seed, its mutants); each mutant's name is the mistake its feedback must name
MUTANTS = {"test_residual_block": (3, RESIDUAL_MUTANTS),
           "test_inception_module": (4, INCEPTION_MUTANTS),
           "test_vgg_budget": (5, BUDGET_MUTANTS)}


@pytest.mark.parametrize(("check", "mistake"),
                         [(c, m) for c, (_, table) in MUTANTS.items() for m in sorted(table)])
def test_mutants_lose_points_with_named_mistake(reference, check, mistake):
    seed, table = MUTANTS[check]
    assert_loses_points(A, mutate(reference, *table[mistake]), check, mistake, seeds=(seed,))


def test_wrong_return_types_get_clear_messages(reference):
    code = reference + "\n\ndef vgg_budget(*a, **k):\n    return 42\n"
    v = A.grade(code)["test_vgg_budget"]
    assert v.fraction <= 0.5 and "list of dicts" in v.message
