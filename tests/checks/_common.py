"""What the hidden-check tests of every assignment share.

Each assignment's reference solution is extracted from its source notebook exactly as the grader
extracts a submission, and graded in this process against the checks built from a seed. Mutants
are that code with one classic mistake put in by text replacement; they must lose points with a
message that names the mistake (:func:`assert_loses_points`).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

import nbformat
import numpy as np
from fixtures.nbtools import stub_solutions

from autograder.checkkit import Check, Verdict, grade_inprocess
from autograder.extract import solution_code

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2)

@dataclass(frozen=True)
class Assignment:
    """One notebook and its hidden checks (``autograder.checks.<name>``).

    folder:       the notebook's folder under notebooks/, e.g. ``"01_conv_arithmetic"``.
    defines:      texts the extracted reference must contain (a sign the extraction worked).
    total_points: the notebook's autograded points, all cells together.
    drop_lines:   prefixes of lines dropped from extracted code: setup imports the solutions
                  do not use (the grader drops those too), so a check cannot lean on them.
    """

    folder: str
    defines: tuple[str, ...]
    total_points: int
    drop_lines: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.folder.split("_", 1)[1]

    @property
    def notebook(self) -> Path:
        return ROOT / "notebooks" / self.folder / f"{self.name}.ipynb"

    @property
    def checks(self) -> ModuleType:
        return importlib.import_module(f"autograder.checks.{self.name}")

    def build(self, seed: int) -> list[Check]:
        return self.checks.build_checks(np.random.default_rng(seed))

    def grade(self, code: str, seed: int = 0, only: str | None = None) -> dict[str, Verdict]:
        """Verdicts of all checks built from ``seed``, or of the check named ``only``."""
        checks = self.build(seed)
        if only is not None:
            checks = [c for c in checks if c.name == only]
            assert checks, f"no check named {only}"
        return grade_inprocess(code, checks)

    def _kept(self, code: str) -> str:
        return "".join(line for line in code.splitlines(keepends=True)
                       if not (self.drop_lines and line.startswith(self.drop_lines)))

    @cached_property
    def reference(self) -> str:
        """The source notebook's solution, as the grader would extract it."""
        extracted = solution_code(self.notebook, self.notebook)
        # The source compared with itself differs from its *released* locked cells (hidden
        # tests are still in): those "edited" notes are expected, anything else is not.
        assert [p for p in extracted.problems if not p.startswith("locked cell")] == []
        for text in self.defines:
            assert text in extracted.code, f"{text!r} not in the extracted reference"
        return self._kept(extracted.code)

    def released(self) -> str:
        """The code extracted from the untouched release: every solution region raises."""
        source = nbformat.read(self.notebook, as_version=4)
        return self._kept(solution_code(stub_solutions(source)[0], source).code)

    def notebook_points(self) -> dict[str, float]:
        """``{grade_id: points}`` of the autograded test cells, in notebook order."""
        nb = nbformat.read(self.notebook, as_version=4)
        graded = [(c.cell_type, c.metadata["nbgrader"]) for c in nb.cells
                  if c.metadata.get("nbgrader", {}).get("grade")]
        tests = {m["grade_id"]: m["points"] for _, m in graded if not m.get("solution")}
        code = {m["grade_id"]: m["points"] for kind, m in graded if kind == "code"}
        assert tests == code, "graded code cells and autograded test cells differ"
        return tests


ASSIGNMENTS: dict[str, Assignment] = {a.name: a for a in (
    Assignment("01_conv_arithmetic", ("def convnetjs_table(",), 20),
    Assignment("02_convolution", ("def conv_forward_im2col(",), 16,
               drop_lines=("from cnnlib", "import cnnlib")),
    Assignment("03_backprop", ("def conv_backward_naive",), 25),
    Assignment("04_normalization", (), 28, drop_lines=("from cnnlib import",)),
    Assignment("05_case_studies", ("def vgg_budget(", "def vgg16_budget(",
                                   "class InceptionModule(", "class ResidualBlock("), 10),
)}


def span(code: str, name: str) -> tuple[int, int]:
    """Line range [start, end) of the top-level function or class ``name``."""
    for node in ast.parse(code).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name == name:
            return node.lineno - 1, node.end_lineno
    raise AssertionError(f"{name} not found")


def mutate(code: str, *edits: tuple[str, str], within: str | None = None) -> str:
    """Apply ``(old, new)`` replacements, each of a text that occurs exactly once in the code
    (in the top-level function or class ``within`` when given)."""
    for old, new in edits:
        lines = code.splitlines(keepends=True)
        a, b = span(code, within) if within else (0, len(lines))
        segment = "".join(lines[a:b])
        assert segment.count(old) == 1, f"mutation target not found exactly once: {old!r}"
        code = "".join(lines[:a]) + segment.replace(old, new) + "".join(lines[b:])
    return code


def assert_loses_points(assignment: Assignment, code: str, check: str, words: str,
                        seeds: Iterable[int], *, only: bool = False,
                        named_by_every_seed: bool = True) -> None:
    """``check`` gives ``code`` less than full marks for every seed, with ``words`` in its message
    for every seed (or, unless ``named_by_every_seed``, for at least one: some seeds draw cases
    where the mistake cannot show). ``only`` grades that check alone."""
    messages = []
    for seed in seeds:
        verdict = assignment.grade(code, seed, only=check if only else None)[check]
        assert verdict.fraction < 1.0, f"{check}: full marks with seed {seed}"
        assert words in verdict.message or not named_by_every_seed, \
            f"{check}, seed {seed}: {verdict.message}"
        messages.append(verdict.message)
    assert any(words in m for m in messages), messages
