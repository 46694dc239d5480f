from __future__ import annotations

import numpy as np

from autograder.checkkit import (
    Call,
    Check,
    Raised,
    Ref,
    Skipped,
    Verdict,
    expect_close,
    expect_equal,
    expect_raises,
    first_error,
    grade_inprocess,
)

CODE = """
import numpy as np
def double(x): return 2 * x
def fail(x): raise ValueError("bad input")
def layer(x, param):
    param["seen"] = param.get("seen", 0) + 1
    return x + 1, {"x": x}
def back(dout, cache): return dout * cache["x"]
def new_param(): return {}
"""


def test_scalar_mismatch_is_not_called_correct() -> None:
    v = expect_close(3.0, -12.0, "f")
    assert v.fraction == 0 and "should be -12" in v.message and "got 3" in v.message
    assert expect_close(-12.0, -12.0, "f").fraction == 1


def test_array_mismatch_points_at_first_error_and_names_variants() -> None:
    exp = np.arange(6.0).reshape(2, 3)
    got = exp.copy()
    got[1, 1] = 99
    v = expect_close(got, exp, "out")
    assert v.fraction == 0 and "(1, 1)" in v.message
    v = expect_close(exp[::-1], exp, "out", variants={"rows swapped": exp[::-1]})
    assert "rows swapped" in v.message
    assert "shape (3,)" in expect_close(np.zeros(3), exp).message


def test_steps_refs_probes_and_failures() -> None:
    x = np.ones(3)
    checks = [
        Check("fwd_bwd", 2, [Call("layer", (x, {}), save="f"),
                              Call("back", (np.full(3, 2.0), Ref("f", 1)))],
              lambda r: expect_close(r[1], 2 * x)),
        Check("probe", 1, [Call("new_param", save="p", ret=False),
                            Call("layer", (x, Ref("p"))), Call("@value", on="p")],
              lambda r: expect_equal(r[2], {"seen": 1})),
        Check("raises", 1, [Call("fail", (x,)), Call("double", (x,))],
              lambda r: first_error(r) or Verdict(1, "ok")),
        Check("missing", 1, [Call("nope", ())],
              lambda r: expect_raises(r[0], ["ValueError"], "nope")),
    ]
    out = grade_inprocess(CODE, checks)
    assert out["fwd_bwd"].fraction == 1
    assert out["probe"].fraction == 1
    assert out["raises"].fraction == 0 and "ValueError: bad input" in out["raises"].message
    assert out["missing"].fraction == 0 and "NameError" in out["missing"].message


def test_first_error_reports_skips() -> None:
    assert first_error([1, Skipped("not run because x")]).message == "not run because x"
    assert first_error([Raised("KeyError", "k")]).fraction == 0
    assert first_error([1, 2]) is None
