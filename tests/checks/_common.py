"""What the hidden-check tests of every assignment share.

Each assignment's reference solution is extracted from its source notebook exactly as the grader
extracts a submission, and graded here through the grader's own scoring path
(``engine.score.score``), with the sandbox's step runner (``sandbox.steps.execute_case``) run in
this process instead of a sandbox: fast, and the same verdicts. Mutants are that code with one
classic mistake put in by text replacement; they must lose points with a message that names the
mistake (:func:`assert_loses_points`).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import ModuleType

import nbformat
import numpy as np
from fixtures.inprocess import Grade, grade_code, load_inprocess
from fixtures.nbtools import stub_solutions

from autograder.checks.kit import LOOKS_LIKE, Check
from autograder.course.cells import CellKind, points_of
from autograder.engine.extract import Extracted, extract
from autograder.engine.score import build_checks
from autograder.results import ProblemKind

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2)
__all__ = ["ASSIGNMENTS", "SEEDS", "Assignment", "Grade", "OracleCorpus",
           "assert_grader_agrees", "assert_loses_points", "assert_no_named_mistake", "mutate",
           "oracle_verdict", "span"]


@dataclass(frozen=True)
class Assignment:
    """One notebook and its hidden checks (``autograder.checks.<name>``).

    folder:       the notebook's folder under notebooks/, e.g. ``"01_conv_arithmetic"``.
    defines:      texts the extracted reference must contain (a sign the extraction worked).
    """

    folder: str
    defines: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.folder.split("_", 1)[1]

    @property
    def notebook(self) -> Path:
        return ROOT / "notebooks" / self.folder / f"{self.name}.ipynb"

    @property
    def checks(self) -> ModuleType:
        return importlib.import_module(f"autograder.checks.{self.name}")

    @cached_property
    def source(self) -> nbformat.NotebookNode:
        return nbformat.read(self.notebook, as_version=4)

    def points(self) -> dict[str, float]:
        """``{grade_id: points}`` of the autograded test cells, in notebook order."""
        return points_of(self.source, CellKind.TEST)

    def build(self, seed: int) -> list[Check]:
        return build_checks(self.checks, seed)

    def grade(self, code: str, seed: int = 0, only: str | None = None) -> dict[str, Grade]:
        """Grades of all checks built from ``seed``, or of the check named ``only``."""
        checks = self.build(seed)
        if only is not None:
            checks = [c for c in checks if c.name == only]
            assert checks, f"no check named {only}"
        return grade_code(code, checks, self.points())

    @staticmethod
    def _joined(extracted: Extracted) -> str:
        return "\n".join(code for _cell, code in extracted.units)

    @cached_property
    def reference(self) -> str:
        """The source notebook's solution, as the grader would extract it (one piece)."""
        extracted = extract(self.notebook, self.notebook)
        # The source compared with itself differs from its *released* locked cells (hidden
        # tests are still in): those "edited" problems are expected, nothing else is.
        assert [p for p in extracted.problems if p.kind != ProblemKind.LOCKED_EDITED] == []
        code = self._joined(extracted)
        for text in self.defines:
            assert text in code, f"{text!r} not in the extracted reference"
        return code

    def released(self) -> str:
        """The code extracted from the untouched release: every solution region raises."""
        return self._joined(extract(stub_solutions(self.source)[0], self.source))


ASSIGNMENTS: dict[str, Assignment] = {a.name: a for a in (
    Assignment("01_conv_arithmetic", ("def convnetjs_table(",)),
    Assignment("02_convolution", ("def conv_forward_im2col(",)),
    Assignment("03_backprop", ("def conv_backward_naive",)),
    Assignment("04_normalization", ("def batchnorm_forward(",)),
    Assignment("05_case_studies", ("def vgg_budget(", "class InceptionModule(",
                                   "class ResidualBlock(")),
    Assignment("06_capstone", ("def softmax_loss(", "class ThreeLayerConvNet:")),
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


def oracle_verdict(oracle: Callable[[dict], bool], code: str) -> bool:
    """What an independent oracle says of trusted ``code`` loaded in-process: right or wrong on
    its fixed inputs (a crash there is wrong)."""
    ns, errors = load_inprocess(code)
    assert errors == [], errors
    try:
        with np.errstate(all="ignore"):
            return bool(oracle(ns))
    except Exception:  # noqa: BLE001 - a crash on a fixed input is a wrong implementation
        return False


def assert_grader_agrees(assignment: Assignment, code: str, check: str, right: bool) -> None:
    """For every seed, ``check`` gives ``code`` full marks exactly when the oracle said right."""
    for seed in SEEDS:
        grade = assignment.grade(code, seed, only=check)[check]
        assert (grade.fraction == 1.0) == right, (seed, grade.fraction, grade.message)


class OracleCorpus:
    """The corpus tests of one assignment: a subclass sets ``assignment``, ``corpus`` (name ->
    entry with ``.code`` and ``.checks``) and ``oracles`` (check name -> independent oracle)."""

    assignment: Assignment
    corpus: dict
    oracles: dict[str, Callable[[dict], bool]]

    def pytest_generate_tests(self, metafunc) -> None:  # noqa: ANN001 - pytest's hook
        if "pair" in metafunc.fixturenames:
            pairs = [(n, c) for n, e in self.corpus.items() for c in e.checks]
            metafunc.parametrize("pair", pairs, ids=[f"{n}: {c}" for n, c in pairs])

    def right(self, code: str, check: str) -> bool:
        return oracle_verdict(self.oracles[check], code)

    def test_the_corpus_is_large_and_mixed(self) -> None:
        verdicts = [self.right(e.code, c) for e in self.corpus.values() for c in e.checks]
        assert len(self.corpus) >= 8
        assert sum(verdicts) >= 5 and len(verdicts) - sum(verdicts) >= 5, verdicts
        assert set(self.oracles) == set(self.assignment.points())

    def test_the_oracle_accepts_the_reference_solution(self) -> None:
        for check in self.oracles:
            assert self.right(self.assignment.reference, check), check

    def test_grader_agrees_with_the_independent_oracle(self, pair: tuple[str, str]) -> None:
        name, check = pair
        code = self.corpus[name].code
        assert_grader_agrees(self.assignment, code, check, self.right(code, check))


def assert_loses_points(assignment: Assignment, code: str, check: str, words: str,
                        seeds: Iterable[int], *, only: bool = False,
                        named_by_every_seed: bool = True) -> None:
    """``check`` gives ``code`` less than full marks for every seed, with ``words`` in its message
    for every seed (or, unless ``named_by_every_seed``, for at least one: some seeds draw cases
    where the mistake cannot show). ``only`` grades that check alone."""
    messages = []
    for seed in seeds:
        grade = assignment.grade(code, seed, only=check if only else None)[check]
        assert grade.fraction < 1.0, f"{check}: full marks with seed {seed}"
        assert words in grade.message or not named_by_every_seed, \
            f"{check}, seed {seed}: {grade.message}"
        messages.append(grade.message)
    assert any(words in m for m in messages), messages


def assert_no_named_mistake(assignment: Assignment, code: str, check: str,
                            shape_hint_allowed: bool = True) -> None:
    """``check`` gives ``code`` less than full marks for every seed, and names no mistake:
    ``code`` is wrong in a way no variant of the check fingerprints (and, unless
    ``shape_hint_allowed``, no shape slip either: its shapes are right)."""
    for seed in SEEDS:
        grade = assignment.grade(code, seed, only=check)[check]
        assert grade.fraction < 1.0, f"{check}: full marks with seed {seed}"
        assert LOOKS_LIKE not in grade.message, (check, seed, grade.message)
        if not shape_hint_allowed:
            assert "but the shape is" not in grade.message and " has shape " not in \
                grade.message, (check, seed, grade.message)
