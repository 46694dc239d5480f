"""What every assignment's hidden checks must do, whatever the assignment.

The checks back the notebook's autograded cells point for point, give the reference solution
full marks for any secret seed, build the same cases from the same seed, and give the untouched
release (every solution region a ``raise NotImplementedError()``) nothing, saying why. What only
one assignment does (its mutants, its special cases) is tested in its own module.
"""

from __future__ import annotations

import pickle

import pytest
from _common import ASSIGNMENTS, SEEDS, Assignment
from hypothesis import given, settings
from hypothesis import strategies as st

each_assignment = pytest.mark.parametrize("a", list(ASSIGNMENTS.values()), ids=list(ASSIGNMENTS))


def _assert_full_marks(a: Assignment, seed: int) -> None:
    verdicts = a.grade(a.reference, seed)
    assert {n: v.fraction for n, v in verdicts.items()} == {n: 1.0 for n in a.checks.POINTS}, {
        n: v.message for n, v in verdicts.items() if v.fraction < 1}


@each_assignment
def test_check_names_and_points_match_the_notebook_grade_cells(a: Assignment) -> None:
    cells = a.notebook_points()
    built = [(c.name, c.points) for c in a.build(0)]
    assert built == list(cells.items()) == list(a.checks.POINTS.items())  # notebook order
    assert sum(cells.values()) == a.total_points
    assert a.checks.ASSIGNMENT == a.notebook.parent.name == a.folder


@each_assignment
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_solution_gets_full_marks(a: Assignment, seed: int) -> None:
    _assert_full_marks(a, seed)


@each_assignment
@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reference_full_marks_for_any_secret_seed(a: Assignment, seed: int) -> None:
    _assert_full_marks(a, seed)


@each_assignment
def test_same_seed_same_cases(a: Assignment) -> None:
    def cases(seed: int) -> bytes:
        return pickle.dumps([(c.name, c.points, c.steps) for c in a.build(seed)])

    assert cases(5) == cases(5)
    assert cases(5) != cases(6)


@each_assignment
def test_untouched_release_scores_zero_and_says_why(a: Assignment) -> None:
    released = a.released()
    assert "BEGIN SOLUTION" not in released and "NotImplementedError" in released
    verdicts = a.grade(released)
    assert set(verdicts) == set(a.checks.POINTS)
    for name, verdict in verdicts.items():
        assert verdict.fraction == 0.0, (name, verdict)
        assert "NotImplementedError" in verdict.message, (name, verdict.message)
