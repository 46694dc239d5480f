"""Hidden checks of 05_case_studies against the source notebook's solution and its mutants.

The reference solution is extracted from the source notebook exactly as the grader extracts a
submission; each mutant is that code with one classic mistake put in by text replacement, and
must lose points with a message that names the mistake.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import checkkit
from autograder.checks import case_studies as checks
from autograder.extract import solution_code

NOTEBOOK = (Path(__file__).resolve().parents[2] / "notebooks" / "05_case_studies"
            / "case_studies.ipynb")
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def reference() -> str:
    code = solution_code(NOTEBOOK, NOTEBOOK).code
    for name in ("def vgg_budget(", "def vgg16_budget(", "class InceptionModule(",
                 "class ResidualBlock("):
        assert name in code
    return code


def grade(code: str, seed: int = 0) -> dict[str, checkkit.Verdict]:
    return checkkit.grade_inprocess(code, checks.build_checks(np.random.default_rng(seed)))


def mutate(code: str, *pairs: tuple[str, str]) -> str:
    """Apply replacements, each of a text that occurs exactly once."""
    for old, new in pairs:
        assert code.count(old) == 1, f"mutation target not found exactly once: {old!r}"
        code = code.replace(old, new)
    return code


def test_checks_match_notebook_grade_cells() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points")
             for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")}
    built = checks.build_checks(np.random.default_rng(0))
    assert {c.name: c.points for c in built} == cells == checks.POINTS
    assert [c.name for c in built] == list(cells)  # notebook order
    assert checks.ASSIGNMENT == NOTEBOOK.parent.name


@pytest.mark.parametrize("seed", SEEDS)
def test_reference_solution_gets_full_marks(reference: str, seed: int) -> None:
    verdicts = grade(reference, seed)
    assert {n: v.fraction for n, v in verdicts.items()} == {n: 1.0 for n in checks.POINTS}


def test_cases_depend_on_the_seed() -> None:
    a = checks.build_checks(np.random.default_rng(0))
    b = checks.build_checks(np.random.default_rng(1))
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


@pytest.mark.parametrize("mistake", sorted(RESIDUAL_MUTANTS))
def test_residual_block_mutants_lose_points_with_named_mistake(reference, mistake):
    v = grade(mutate(reference, *RESIDUAL_MUTANTS[mistake]), seed=3)["test_residual_block"]
    assert v.fraction < 1.0
    assert mistake in v.message, v.message


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


@pytest.mark.parametrize("mistake", sorted(INCEPTION_MUTANTS))
def test_inception_mutants_lose_points_with_named_mistake(reference, mistake):
    v = grade(mutate(reference, *INCEPTION_MUTANTS[mistake]), seed=4)["test_inception_module"]
    assert v.fraction < 1.0
    assert mistake in v.message, v.message


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


@pytest.mark.parametrize("mistake", sorted(BUDGET_MUTANTS))
def test_budget_mutants_lose_points_with_named_mistake(reference, mistake):
    v = grade(mutate(reference, *BUDGET_MUTANTS[mistake]), seed=5)["test_vgg_budget"]
    assert v.fraction < 1.0
    assert mistake in v.message, v.message


def _release(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What nbgrader's release does to solution regions: the body becomes a raise."""
    nb = copy.deepcopy(nb)
    region = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION[ \t]*$",
                        re.S | re.M)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = region.sub(lambda m: m.group(1) + "raise NotImplementedError()",
                                     cell.source)
    return nb


def test_unsolved_release_scores_zero_with_reason():
    source = nbformat.read(NOTEBOOK, as_version=4)
    released = solution_code(_release(source), source).code
    assert "BEGIN SOLUTION" not in released and "NotImplementedError" in released
    v = grade(released)
    assert all(x.fraction == 0.0 for x in v.values())
    for name in checks.POINTS:
        assert "NotImplementedError" in v[name].message, v[name].message


def test_wrong_return_types_get_clear_messages(reference):
    code = reference + "\n\ndef vgg_budget(*a, **k):\n    return 42\n"
    v = grade(code)["test_vgg_budget"]
    assert v.fraction <= 0.5 and "list of dicts" in v.message
