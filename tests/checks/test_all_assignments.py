"""What every assignment's hidden checks must do, whatever the assignment.

The checks back the notebook's autograded cells one for one, give the reference solution full
marks for any secret seed, build the same cases from the same seed, give the untouched release
nothing (saying "not written yet" once), and keep within the feedback rules (short messages, no
arrays printed). What only one assignment does (its mutants) is tested in its own module.
"""

from __future__ import annotations

import pickle

import pytest
from _common import ASSIGNMENTS, SEEDS, Assignment
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.checks.kit import DEFAULT_TIMEOUT
from autograder.results import MAX_TEXT

each_assignment = pytest.mark.parametrize("a", list(ASSIGNMENTS.values()), ids=list(ASSIGNMENTS))


def _assert_full_marks(a: Assignment, seed: int) -> None:
    grades = a.grade(a.reference, seed)
    assert {n: g.fraction for n, g in grades.items()} == {n: 1.0 for n in a.points()}, {
        n: g.message for n, g in grades.items() if g.fraction < 1}


@each_assignment
def test_one_check_per_autograded_cell_in_notebook_order(a: Assignment) -> None:
    assert [c.name for c in a.build(0)] == list(a.points())
    assert a.checks.ASSIGNMENT == a.notebook.parent.name == a.folder
    assert not hasattr(a.checks, "POINTS"), "points live in the notebook only"


@each_assignment
def test_every_check_names_the_functions_it_grades(a: Assignment) -> None:
    for c in a.build(0):
        assert c.exercise and all(any(f"{kw} {n}{end}" in a.reference for kw, end in
                                      (("def", "("), ("class", "("), ("class", ":")))
                                  for n in c.exercise), (c.name, c.exercise)
        assert c.cases and all(case.weight > 0 for case in c.cases)
        assert c.timeout <= 6 * DEFAULT_TIMEOUT


@each_assignment
@pytest.mark.parametrize("seed", SEEDS)
def test_reference_solution_gets_full_marks(a: Assignment, seed: int) -> None:
    _assert_full_marks(a, seed)


@each_assignment
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reference_full_marks_for_any_secret_seed(a: Assignment, seed: int) -> None:
    _assert_full_marks(a, seed)


@each_assignment
def test_same_seed_same_cases(a: Assignment) -> None:
    def cases(seed: int) -> bytes:
        return pickle.dumps([(c.name, [case.steps for case in c.cases]) for c in a.build(seed)])

    assert cases(5) == cases(5)
    assert cases(5) != cases(6)


@each_assignment
def test_untouched_release_scores_zero_and_says_not_written_once(a: Assignment) -> None:
    released = a.released()
    assert "BEGIN SOLUTION" not in released and "NotImplementedError" in released
    grades = a.grade(released)
    assert set(grades) == set(a.points())
    for name, g in grades.items():
        assert g.fraction == 0.0, (name, g)
        assert g.message.count("not written yet") == 1, (name, g.message)


@each_assignment
def test_messages_are_short_and_print_no_arrays(a: Assignment) -> None:
    """Whatever a mutant does, a message fits the cap and shows shapes, not array contents."""
    code = a.reference.replace("return ", "return 1.5 * ", 3)
    for g in a.grade(code, 1).values():
        assert len(g.message) <= MAX_TEXT
        assert "array([" not in g.message and "\n" not in g.message
