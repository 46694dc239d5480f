"""What one case's steps mean (``sandbox.steps.execute_case``), run in this process."""

from __future__ import annotations

import ast

import numpy as np
import pytest
import torch

from autograder.sandbox.protocol import AsTensor, Call, NotRun, NotRunKind, Opaque, Raised, Ref
from autograder.sandbox.steps import CELL_FILENAME, PROBES, execute_case, needs_torch, to_plain

CODE = '''
import numpy as np

def forward(x):
    return 2 * x, {"x": x}

def backward(dout, cache):
    return dout * 2

def validate(x):
    if x.ndim != 2:
        raise ValueError(f"expected 2 dims, got {x.ndim}")
    return x

def broadcast(x):
    return x + np.ones(7)

def mutate(x):
    x[...] = 0
    return x

def loop():
    while True:
        pass
'''


def _ns() -> dict:
    ns: dict = {}
    for node in ast.parse(CODE).body:
        exec(compile(ast.Module([node], []), CELL_FILENAME.format("c"), "exec"), ns)
    return ns


def test_a_later_step_uses_an_earlier_ones_value() -> None:
    x = np.arange(3.0)
    out = execute_case(_ns(), [Call("forward", (x,), save="fwd"),
                               Call("backward", (np.ones(3), Ref("fwd", 1)))], 5)
    assert np.array_equal(out[0][0], 2 * x) and out[0][1]["x"].tolist() == [0, 1, 2]
    assert np.array_equal(out[1], [2.0, 2.0, 2.0])


def test_a_step_that_needs_a_failed_step_is_not_run_and_says_which() -> None:
    out = execute_case(_ns(), [Call("validate", (np.zeros(3),), save="v"),
                               Call("backward", (1.0, Ref("v")))], 5)
    assert isinstance(out[0], Raised) and out[0].type == "ValueError"
    assert out[1] == NotRun(NotRunKind.DEPENDENCY, "validate raised ValueError")


def test_an_undefined_function_is_said_by_name() -> None:
    assert execute_case(_ns(), [Call("conv_forward")], 5) == [
        NotRun(NotRunKind.UNDEFINED, "conv_forward")]


def test_raised_records_where_and_whether_the_students_line_raised_it() -> None:
    own, inside = execute_case(_ns(), [Call("validate", (np.zeros(3),)),
                                       Call("broadcast", (np.zeros(3),))], 5)
    assert (own.type, own.cell, own.line, own.own) == ("ValueError", "c", 12, True)
    assert "expected 2 dims" in own.message
    # numpy's broadcasting error comes from C code called on the student's line
    assert (inside.type, inside.cell, inside.line) == ("ValueError", "c", 16)
    assert inside.deliberate is False  # only the grader decides that, from the source


def test_a_students_exception_class_reports_its_builtin_base() -> None:
    ns = _ns()
    exec("class Oops(KeyError):\n    pass\ndef f():\n    raise Oops('k')\n", ns)
    (r,) = execute_case(ns, [Call("f")], 5)
    assert r.type == "KeyError"


def test_arguments_are_fresh_copies_per_step() -> None:
    x = np.ones(3)
    out = execute_case(_ns(), [Call("mutate", (x,)), Call("forward", (x,))], 5)
    assert np.array_equal(out[1][0], [2, 2, 2]) and np.array_equal(x, [1, 1, 1])


def test_a_case_past_its_time_stops_and_the_rest_is_not_run() -> None:
    out = execute_case(_ns(), [Call("loop"), Call("forward", (1,))], 0.2)
    assert out == [NotRun(NotRunKind.TIMEOUT, "0.2 s")] * 2


def test_return_values_become_plain_data() -> None:
    t = torch.arange(4, dtype=torch.float32).reshape(2, 2)
    assert to_plain(t).dtype == np.float32 and to_plain(t).shape == (2, 2)
    assert to_plain(torch.Size([2, 3])) == (2, 3)
    assert to_plain(np.float64(1.5)) == 1.5 and type(to_plain(np.int64(3))) is int
    assert to_plain(np.array(1.0)).shape == ()
    assert to_plain(x for x in [1]) == Opaque("generator")
    assert to_plain(np.array(["a"])) == Opaque("array of dtype <U1")
    assert to_plain({1.5: 2}) == Opaque("dict")
    nested: list = []
    for _ in range(20):
        nested = [nested]
    assert "nested too deeply" in str(to_plain(nested))


def test_every_probe_declares_whether_it_needs_torch() -> None:
    assert set(PROBES) >= {"@value", "@param_count", "@state_shapes", "@load_state",
                           "@forward_backward", "@run_cell", "@train_sgd"}
    assert not needs_torch([Call("f", (np.ones(2),)), Call("@value", on="p")])
    assert needs_torch([Call("@param_count", on="m")])
    assert not needs_torch([Call("@train_sgd", (np.ones(2), np.ones(2), 1, 0.1), on="m")])
    assert needs_torch([Call("f", ([{"x": AsTensor(np.ones(2))}],))])


def test_grader_weights_are_loaded_and_every_gradient_comes_back() -> None:
    ns = {"Net": lambda: torch.nn.Linear(3, 2)}
    w, b = np.arange(6.0).reshape(2, 3), np.array([1.0, -1.0])
    x = np.ones((4, 3))
    load, fb = execute_case(ns, [
        Call("Net", save="m", ret=False),
        Call("@load_state", ({"weight": w, "bias": b},), on="m"),
        Call("@forward_backward", (AsTensor(x, True), np.ones((4, 2))), on="m")], 5)[1:]
    assert load is None
    assert np.allclose(fb["out"], x @ w.T + b) and fb["out"].dtype == np.float64
    assert np.allclose(fb["param_grads"]["weight"], np.ones((2, 3)) * 4)
    assert np.allclose(fb["input_grad"], np.ones((4, 2)) @ w)


def test_load_state_refuses_wrong_names() -> None:
    ns = {"Net": lambda: torch.nn.Linear(3, 2)}
    out = execute_case(ns, [Call("Net", save="m", ret=False),
                            Call("@load_state", ({"w": np.ones((2, 3))},), on="m")], 5)
    assert isinstance(out[1], Raised) and out[1].type == "RuntimeError"
    assert "Missing key(s)" in out[1].message


@pytest.mark.parametrize(("source", "passed"), [("assert f(2) == 4", True),
                                                ("assert f(2) == 5, 'nope'", False)])
def test_run_cell_runs_a_visible_test_against_the_students_functions(source: str,
                                                                     passed: bool) -> None:
    (r,) = execute_case({"f": lambda v: 2 * v}, [
        Call("@run_cell", ("import math\nfrom nowhere import x", source, "visible"))], 5)
    assert (r is None) == passed
    if not passed:
        assert r.type == "AssertionError" and r.message == "nope"


class _Quadratic:
    """A numpy "model" with the loss 0.5 * |w - y|^2, smallest at w = y."""

    def __init__(self) -> None:
        self.params = {"w": np.zeros(3)}

    def loss(self, X, y):
        diff = self.params["w"] - y
        return 0.5 * float(diff @ diff), {"w": diff}


def test_train_sgd_trains_the_students_model_with_the_graders_momentum_steps() -> None:
    y = np.array([1.0, -2.0, 3.0])
    out = execute_case({"Model": _Quadratic}, [
        Call("Model", save="m", ret=False),
        Call("@train_sgd", (np.zeros((1, 1)), y, 2, 0.5, 0.9), on="m")], 5)[1]
    # v1 = -0.5 * (0 - y) = y / 2; v2 = 0.9 * v1 - 0.5 * (y / 2 - y) = 0.7 y; w = 1.2 y
    assert out["losses"] == [0.5 * float(y @ y), 0.5 * float((y / 2 - y) @ (y / 2 - y))]
    assert np.allclose(out["params"]["w"], 1.2 * y)
    many = execute_case({"Model": _Quadratic}, [
        Call("Model", save="m", ret=False),
        Call("@train_sgd", (np.zeros((1, 1)), y, 200, 0.1), on="m")], 5)[1]
    assert np.allclose(many["params"]["w"], y) and many["losses"][-1] < 1e-8


def test_train_sgd_says_when_the_model_gives_no_gradient_for_a_parameter() -> None:
    class Partial(_Quadratic):
        def loss(self, X, y):
            return 1.0, {}

    (_, out) = execute_case({"Model": Partial}, [
        Call("Model", save="m", ret=False),
        Call("@train_sgd", (np.zeros((1, 1)), np.ones(3), 3, 0.1), on="m")], 5)
    assert isinstance(out, Raised) and out.type == "KeyError"
