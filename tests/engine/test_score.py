"""engine.score: how the sandbox's plain data become points, in the trusted grader."""

from __future__ import annotations

from fixtures import fixture_checks as fc
from fixtures.fixture_notebook import CONV, RELU, SIZE
from fixtures.inprocess import grade_code, load_inprocess

from autograder.checks.kit import (
    Call,
    Case,
    Check,
    NoLoopOverPositions,
    expect_close,
    expect_raises,
)
from autograder.engine.extract import Extracted
from autograder.engine.score import build_checks, case_rng, child_seed, score
from autograder.results import Problem, ProblemKind
from autograder.sandbox.protocol import NotRun, NotRunKind, Raised
from autograder.sandbox.run import LoadError, Outcome
from autograder.sandbox.steps import execute_case

POINTS = {"test_relu_forward": 2.0, "test_conv_output_size": 1.0, "test_conv_forward_naive": 4.0}
CODE = "import numpy as np\n" + RELU + SIZE + CONV


def _grades(code: str, checks=None) -> dict:
    return grade_code(code, checks or build_checks(fc, 0), POINTS)


def test_the_fixture_solution_gets_full_marks() -> None:
    assert {n: g.fraction for n, g in _grades(CODE).items()} == {n: 1.0 for n in POINTS}


def test_cases_depend_on_the_seed_and_the_assignment_only() -> None:
    a = case_rng("s", "01_x").integers(0, 2**32, 4)
    assert list(a) == list(case_rng("s", "01_x").integers(0, 2**32, 4))
    assert list(a) != list(case_rng("t", "01_x").integers(0, 2**32, 4))
    assert list(a) != list(case_rng("s", "02_x").integers(0, 2**32, 4))
    assert child_seed("s", "01_x", "test_a") != child_seed("s", "01_x", "test_b")


RAISES = '''
import numpy as np
def checked(n):
    if n < 0:
        raise ValueError("n must be >= 0")
    return n
def helper_raises(n):
    _validate(n)
    return n
def _validate(n):
    assert n >= 0, "negative"
def lucky(n):
    return np.ones(3) + np.ones(n + 10)
'''


def _raise_check(func: str, exc: str = "ValueError") -> Check:
    return Check(f"test_{func}", (func,),
                 [Case(Call(func, (-1,)), lambda r: expect_raises(r[0], (exc,), f"{func}(-1)"))])


def test_an_expected_exception_counts_only_from_a_raise_of_the_students() -> None:
    checks = [_raise_check("checked"), _raise_check("helper_raises", "AssertionError"),
              _raise_check("lucky")]
    g = grade_code(RAISES, checks, {c.name: 1.0 for c in checks})
    assert g["test_checked"].fraction == 1.0
    assert g["test_helper_raises"].fraction == 1.0
    assert g["test_lucky"].fraction == 0.0
    assert "from a numpy operation (line 13 of cell solution)" in g["test_lucky"].message


def test_a_banned_call_costs_the_check_with_the_reason() -> None:
    code = CODE.replace("    s, p = conv_param[\"stride\"], conv_param[\"pad\"]",
                        "    import torch.nn.functional as F\n"
                        "    return F.conv2d(torch.tensor(x), torch.tensor(w)).numpy(), None")
    g = _grades(code)["test_conv_forward_naive"]
    assert g.fraction == 0.0
    assert g.message.startswith("conv_forward_naive uses torch.nn.functional.conv2d (line ")
    assert "which this exercise may not use" in g.message


def test_a_structural_rule_is_judged_from_the_source() -> None:
    checks = [Check(c.name, c.exercise, c.cases, c.bans, (NoLoopOverPositions(
        ("conv_forward_naive",)),)) if c.name == "test_conv_forward_naive" else c
        for c in build_checks(fc, 0)]
    g = _grades(CODE, checks)["test_conv_forward_naive"]
    assert g.fraction == 0.0 and "loops over range(ho)" in g.message


def test_a_crash_costs_only_its_case() -> None:
    checks = build_checks(fc, 0)
    ns, _ = load_inprocess(CODE)
    outcome = Outcome(results={c.name: [execute_case(ns, list(k.steps), 5) for k in c.cases]
                               for c in checks})
    outcome.results["test_conv_forward_naive"][0] = [NotRun(NotRunKind.CRASHED,
                                                            "killed by SIGKILL")]
    results, _ = score(checks, POINTS, Extracted(units=[("solution", CODE)]), outcome)
    conv = next(r for r in results if r.name == "test_conv_forward_naive")
    assert conv.points == 2.0 and conv.message == "1 of 2 cases wrong: this case: killed by " \
                                                   "SIGKILL"
    assert sum(r.points for r in results) == 5.0


def test_load_and_syntax_errors_appear_in_the_row_of_every_exercise_they_break() -> None:
    checks = build_checks(fc, 0)
    extracted = Extracted(units=[("conv_output_size_impl", SIZE)],
                          defined_in={"relu_forward": "relu_forward_impl",
                                      "conv_output_size": "conv_output_size_impl",
                                      "conv_forward_naive": "conv_forward_naive_impl"})
    extracted.broken["conv_forward_naive_impl"] = Problem(
        ProblemKind.SYNTAX, "cell conv_forward_naive_impl has a syntax error (line 3: invalid "
        "syntax); its code was not graded", "conv_forward_naive_impl")
    undefined = {c.name: [[NotRun(NotRunKind.UNDEFINED, c.exercise[0])]] * len(c.cases)
                 for c in checks}
    undefined["test_conv_output_size"] = [[3], [4], [5]]
    outcome = Outcome(results=undefined, load_errors=[
        LoadError("relu_forward_impl", 4, "NameError", "name 'scipy' is not defined")])
    results, load = score(checks, POINTS, extracted, outcome)
    by = {r.name: r.message for r in results}
    assert [p.kind for p in load] == [ProblemKind.LOAD_ERROR]
    assert by["test_relu_forward"].startswith("cell relu_forward_impl, line 4: NameError: "
                                              "name 'scipy' is not defined")
    assert by["test_conv_forward_naive"].startswith("cell conv_forward_naive_impl has a syntax "
                                                    "error (line 3")
    assert "is not defined in your notebook" in by["test_conv_forward_naive"]
    assert by["test_conv_forward_naive"].count("not defined in your notebook") == 1


def test_object_addresses_are_removed_from_messages() -> None:
    checks = [Check("test_a", ("f",), [Case(Call("f"), lambda r: expect_close(r[0], 1, "f()"))])]
    outcome = Outcome(results={"test_a": [[Raised("TypeError", "bad <object at 0x7f3a2b1c9d40>",
                                                  "c", 1, True)]]})
    results, _ = score(checks, {"test_a": 1.0}, Extracted(units=[("c", "def f(): pass\n")]),
                       outcome)
    assert "0x7f3a2b1c9d40" not in results[0].message and "0x..." in results[0].message


def test_no_code_scores_zero_and_says_so() -> None:
    checks = build_checks(fc, 0)
    results, _ = score(checks, POINTS, Extracted(), None)
    assert {r.message for r in results} == {"no solution code found in the notebook"}
    assert sum(r.points for r in results) == 0


def test_points_come_from_the_notebook() -> None:
    g = grade_code(CODE, build_checks(fc, 0), {**POINTS, "test_relu_forward": 7.0})
    assert g["test_relu_forward"].fraction == 1.0
    results, _ = score(build_checks(fc, 0), {"test_relu_forward": 7.0}, Extracted(), None)
    assert [r.max_points for r in results] == [7.0, 0.0, 0.0]


def test_reference_arrays_never_reach_messages() -> None:
    wrong = CODE.replace(") + b", ") + 2 * b")
    msg = _grades(wrong)["test_conv_forward_naive"].message
    assert "[" not in msg and "array" not in msg and len(msg) <= 300


def test_an_exercise_bound_by_an_import_is_not_the_students_own() -> None:
    code = "import numpy as np\nfrom operator import neg as relu_forward\n" + SIZE + CONV
    g = _grades(code)["test_relu_forward"]
    assert g.fraction == 0.0
    assert g.message == ("relu_forward is imported (operator.neg), not written: write it "
                         "yourself in its exercise cell")
    assert _grades(code)["test_conv_output_size"].fraction == 1.0
