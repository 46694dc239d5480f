"""The check authors' vocabulary (checks/kit.py): the rules every check shares."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from autograder.checks.kit import (
    F64,
    LOOKS_LIKE,
    SHAPE_SLIP_CREDIT,
    Call,
    Case,
    NotRun,
    Opaque,
    Raised,
    Status,
    Verdict,
    combine,
    describe,
    expect_close,
    expect_equal,
    expect_raises,
    judge_case,
    unpack,
    value,
)
from autograder.sandbox.protocol import NotRunKind

REF = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]])
FLIPPED = REF[:, ::-1].copy()
VARIANTS = {"the kernel is flipped": FLIPPED}


def test_right_within_tolerance() -> None:
    assert expect_close(REF + 1e-10, REF, "out") == Verdict(1.0, "out is right")


def test_a_variant_is_named_on_its_fingerprint() -> None:
    v = expect_close(FLIPPED + 1e-10, REF, "out", variants=VARIANTS)
    assert v.fraction == 0 and v.message == "out is wrong: it looks like the kernel is flipped"


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, REF.shape, elements=st.floats(-10, 10)))
def test_a_variant_is_never_named_for_an_unrelated_wrong_output(got: np.ndarray) -> None:
    v = expect_close(got, REF, "out", variants=VARIANTS)
    named = LOOKS_LIKE in v.message
    assert named == (np.allclose(got, FLIPPED, rtol=F64.rtol, atol=F64.atol)
                     and not np.allclose(got, REF, rtol=F64.rtol, atol=F64.atol))


def test_a_variant_equal_to_the_right_answer_is_never_named() -> None:
    same = {"the kernel is flipped": REF}
    assert expect_close(REF * 2, REF, "out", variants=same).message.startswith("out is wrong: at")


def test_shape_slip_with_every_value_right_earns_the_documented_credit() -> None:
    d = np.arange(4.0)
    v = expect_close(d[None, :], d, "mean")
    assert v.fraction == SHAPE_SLIP_CREDIT
    assert v.message == ("mean: every value is right but the shape is (1, 4), expected (4,) "
                         "(keepdims=True?)")
    v = expect_close(REF.reshape(3, 2), REF, "out")
    assert v.fraction == SHAPE_SLIP_CREDIT and "keepdims" not in v.message


def test_a_shape_hint_fires_only_on_its_shape() -> None:
    hints = {(2, 4): "the channel axis was padded too"}
    assert expect_close(np.zeros((2, 4)), REF, "out", hints=hints).message.endswith(
        "it looks like the channel axis was padded too")
    assert "padded" not in expect_close(np.zeros((2, 3)), REF, "out", hints=hints).message
    assert "padded" not in expect_close(np.zeros((3, 3)), REF, "out", hints=hints).message


def test_mismatch_messages_show_one_element_never_the_arrays() -> None:
    got = REF.copy()
    got[1, 2] = 7.0
    msg = expect_close(got, REF, "out").message
    assert msg == "out is wrong: at index (1, 2) expected -1, got 7 (1 of 6 values differ)"
    big = expect_close(np.zeros((50, 50)), np.ones((50, 50)), "out").message
    assert len(big) < 120 and "[" not in big


def test_nan_and_non_arrays_are_said_plainly() -> None:
    assert "contains nan at index (0, 0)" in expect_close(np.full_like(REF, np.nan), REF,
                                                          "out").message
    assert expect_close("hello", REF, "out").message == \
        "out should be an array of shape (2, 3), got str"
    assert expect_close(Opaque("generator"), REF, "out").message == \
        "out returned a generator, not plain data"


def test_values_that_are_not_results_become_failing_verdicts() -> None:
    assert value(Raised("NotImplementedError", ""), "f")[1].status == Status.NOT_WRITTEN
    bad = value(Raised("IndexError", "index 5 is out of bounds", "c", 12, True), "f(x)")[1]
    assert bad.message == "f(x) raised IndexError: index 5 is out of bounds (line 12 of cell c)"
    dep = value(NotRun(NotRunKind.DEPENDENCY, "forward raised ValueError"), "backward")[1]
    assert dep.message == "backward not checked: forward raised ValueError"


def test_unpack_requires_the_tuple_the_exercise_returns() -> None:
    assert unpack((1, 2), 2, "f") == ([1, 2], None)
    assert unpack(np.ones(2), 2, "f")[1].message == "f should return a tuple of 2 items, got a " \
                                                    "ndarray"
    assert unpack((1, 2, 3), 2, "f")[1].message.endswith("got a tuple of length 3")


def test_only_a_deliberate_raise_counts() -> None:
    deliberate = Raised("ValueError", "does not fit", "c", 3, True, deliberate=True)
    numpy_raised = Raised("ValueError", "operands could not be broadcast", "c", 9, True)
    assert expect_raises(deliberate, ("ValueError",), "f(7, 3, stride=2)").fraction == 1.0
    v = expect_raises(numpy_raised, ("ValueError",), "f(7, 3, stride=2)")
    assert v.fraction == 0.0 and "a numpy operation (line 9 of cell c)" in v.message
    assert "but returned 2" in expect_raises(2, ("ValueError",), "f").message
    shown = expect_raises((np.zeros((4, 4)), None), ("ValueError",), "f").message
    assert shown.endswith("but returned (array (4, 4), None)") and "[" not in shown


def test_expect_equal_is_exact_and_short() -> None:
    assert expect_equal((3, 4), (3, 4), "t").fraction == 1.0
    assert expect_equal(3.0, 3, "t").fraction == 1.0
    assert expect_equal(True, 1, "t").fraction == 0.0
    assert len(expect_equal(list(range(10_000)), [1], "t").message) < 150


def test_combine_weights_cases_and_says_each_message_once() -> None:
    vs = [Verdict(1.0, "ok"), Verdict(0.0, "bias missing"), Verdict(0.0, "bias missing")]
    c = combine(vs, [2.0, 1.0, 1.0])
    assert c.fraction == 0.5 and c.message == "2 of 3 cases wrong: bias missing"
    nw = Verdict(0.0, "not written yet", Status.NOT_WRITTEN)
    assert combine([nw, nw]).message == "not written yet"
    assert combine([Verdict(1.0, "a"), Verdict(1.0, "b")]).message == "all 2 cases right"


def test_judge_case_turns_crashes_and_stubs_into_the_same_words_everywhere() -> None:
    case = Case(Call("f"), lambda r: Verdict(1.0, "fine"))
    assert judge_case(case, [Raised("NotImplementedError", "")]).message == "not written yet"
    crash = judge_case(case, [NotRun(NotRunKind.CRASHED, "killed by a segmentation fault")])
    assert crash.message == "this case: killed by a segmentation fault"
    assert judge_case(Case(Call("f"), lambda r: 1 / 0), [1]).message == \
        "your result could not be checked (ZeroDivisionError)"


@pytest.mark.parametrize(("args", "kwargs", "text"), [
    ((np.zeros((2, 3)),), {"stride": 2}, "array (2, 3), stride=2"),
    ((np.float64(2.5),), {}, "2.5"),
    (({"stride": 1, "pad": np.zeros(3)},), {}, "{'stride': 1, 'pad': array (3,)}"),
])
def test_describe_shows_shapes_and_small_values(args, kwargs, text) -> None:
    assert describe(*args, **kwargs) == text
