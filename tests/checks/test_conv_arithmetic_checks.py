"""Hidden checks of 01_conv_arithmetic that only this assignment has.

Mutants of the output-size formula and of each exercise, tables copied from the lecture, a
missing function, and the torch oracles behind the checks (AlexNet, ConvNetJS, receptive field).
What every assignment's checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

import ast
import math
import re

import pytest
from _common import ASSIGNMENTS, SEEDS, assert_loses_points, mutate, span
from fixtures.nbtools import nbgrader_meta, stub_solutions
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.checks import conv_arithmetic as checks

A = ASSIGNMENTS["conv_arithmetic"]  # also the assignment of the `reference` fixture


def replace_body(code: str, func: str, body: str) -> str:
    """Replace the definition of ``func`` by one with the same signature line and ``body``."""
    lines = code.splitlines(keepends=True)
    a, b = span(code, func)
    assert lines[a].rstrip().endswith(":"), "signature must fit on one line"
    return "".join(lines[: a + 1]) + body + "".join(lines[b:])


def test_cases_change_with_the_seed() -> None:
    a = [case.steps[0].args for case in A.build(0)[0].cases]
    b = [case.steps[0].args for case in A.build(1)[0].cases]
    assert a != b


CONV_OUTPUT_SIZE_MUTANTS = {
    "silent floor": ("    return (n - f + 2 * pad) // stride + 1\n", "silently floored"),
    "no +1": ("    return (n - f + 2 * pad) // stride\n", "the +1 is missing"),
    "pad once": ("    return (n - f + pad) // stride + 1\n", "counted once"),
    "stride ignored": ("    return n - f + 2 * pad + 1\n", "stride is ignored"),
    "float result": ("    return (n - f + 2 * pad) / stride + 1\n", "float"),
    "hard-coded visible tests": (
        "    return {(7, 3, 1, 0): 5, (7, 3, 2, 0): 3, (32, 5, 1, 0): 28}.get("
        "(n, f, stride, pad), 1)\n", "expected"),
}


@pytest.mark.parametrize("mutant", sorted(CONV_OUTPUT_SIZE_MUTANTS))
@pytest.mark.parametrize("seed", SEEDS)
def test_conv_output_size_mutants(reference: str, mutant: str, seed: int) -> None:
    body, message = CONV_OUTPUT_SIZE_MUTANTS[mutant]
    code = replace_body(reference, "conv_output_size", body)
    assert_loses_points(A, code, "test_conv_output_size", message, seeds=(seed,))


@pytest.mark.parametrize(
    ("check", "old", "new", "message"),
    [
        ("test_conv_layer_params", "return f * f * in_depth * num_filters + num_filters",
         "return f * f * in_depth * num_filters", "biases are forgotten"),
        ("test_conv_layer_params", "return f * f * in_depth * num_filters + num_filters",
         "return f * f * num_filters + num_filters", "does not span the input depth"),
        ("test_conv_output_volume", "            num_filters)\n", "            _)\n",
         "input depth D1"),
        ("test_conv_output_volume", "return (conv_output_size(w1, f, stride, pad), "
         "conv_output_size(h1, f, stride, pad)",
         "return (conv_output_size(h1, f, stride, pad), conv_output_size(w1, f, stride, pad)",
         "swapped"),
        ("test_pool_output_volume",
         "return conv_output_size(w1, f, stride), conv_output_size(h1, f, stride), d1",
         "return d1, conv_output_size(h1, f, stride), conv_output_size(w1, f, stride)",
         "channels-first"),
        ("test_pool_output_volume",
         "return conv_output_size(w1, f, stride), conv_output_size(h1, f, stride), d1",
         "return (w1 - f) // stride, (h1 - f) // stride, d1", "the +1 is missing"),
        ("test_max_pool_2d", "stride + f].max()", "stride + f].mean()", "average pooling"),
        ("test_max_pool_2d", "    h2 = conv_output_size(x.shape[0], f, stride)\n"
         "    w2 = conv_output_size(x.shape[1], f, stride)\n",
         "    h2 = (x.shape[0] - f) // stride + 1\n    w2 = (x.shape[1] - f) // stride + 1\n",
         "silently dropped"),
        ("test_stacked_layers", "return 1 + num_layers * (f - 1)", "return num_layers * f",
         "overlap"),
        ("test_stacked_layers", "return num_layers * f * f * channels * channels",
         "return num_layers * (f * f * channels * channels + channels)", "biases are counted"),
        ("test_alexnet_table", '"output_shape": (h, w, d)', '"output_shape": (d, h, w)',
         "(D, H, W) order"),
        ("test_alexnet_table", "params = conv_layer_params(f, volume[2], k)",
         "params = f * f * volume[2] * k", "biases"),
        ("test_convnetjs_table", "params = conv_layer_params(5, volume[2], k)",
         "params = 5 * 5 * k + k", "params should be"),
    ],
    ids=["params: biases forgotten",
         "params: depth not spanned",
         "volume: depth kept",
         "volume: W and H swapped",
         "pool volume: channels first",
         "pool volume: no +1",
         "max pool: average",
         "max pool: silent floor",
         "receptive field: no overlap",
         "stacked params: biases counted",
         "alexnet: (D, H, W) order",
         "alexnet: biases forgotten",
         "convnetjs: depth not spanned"],
)
@pytest.mark.parametrize("seed", SEEDS)
def test_mutants_lose_points_with_a_diagnosis(
    reference: str, check: str, old: str, new: str, message: str, seed: int
) -> None:
    within = check.removeprefix("test_")
    within = {"test_stacked_layers": None}.get(check, within)
    code = mutate(reference, (old, new), within=within)
    assert_loses_points(A, code, check, message, seeds=(seed,))


def _hard_coded(func: str, size: int) -> str:
    rows = checks.torch_table(
        checks.ALEXNET_SPEC if func == "alexnet_table" else checks.CONVNETJS_SPEC, size)
    return f"def {func}(input_size={size}):\n    return {rows!r}\n"


@pytest.mark.parametrize(("func", "size"), [("alexnet_table", 227), ("convnetjs_table", 32)])
def test_tables_copied_from_the_lecture_earn_only_the_default_case(
    reference: str, func: str, size: int
) -> None:
    code = reference + "\n\n" + _hard_coded(func, size)  # the later definition wins
    v = A.grade(code)[f"test_{func}"]
    assert v.fraction == pytest.approx(1 / 3)
    assert "compute every row from input_size" in v.message


@pytest.mark.parametrize("func", ["alexnet_table", "convnetjs_table"])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_table_built_on_a_broken_helper_is_not_called_copied(reference: str, func: str,
                                                                seed: int) -> None:
    """A constant conv_output_size makes every table the same whatever input_size: the rows are
    computed, just wrong, so the grader names the wrong shape, not copying."""
    code = replace_body(reference, "conv_output_size", "    return -1\n")
    v = A.grade(code, seed)[f"test_{func}"]
    assert v.fraction < 1.0 and "should be" in v.message, v.message
    assert "compute every row from input_size" not in v.message, v.message


HELPER_NOTE = ("it uses your conv_output_size, which loses points in test_conv_output_size: fix "
               "that first")


@pytest.mark.parametrize("body", ["    return -1\n", "    raise NotImplementedError()\n"])
def test_checks_built_on_a_broken_helper_say_which_to_fix_first(reference: str,
                                                                 body: str) -> None:
    grades = A.grade(replace_body(reference, "conv_output_size", body))
    assert grades["test_conv_output_size"].fraction == 0
    assert not grades["test_conv_output_size"].message.startswith("it uses your")
    for check in ("test_conv_output_volume", "test_pool_output_volume", "test_max_pool_2d",
                  "test_alexnet_table", "test_convnetjs_table"):  # root helper only, once
        g = grades[check]
        assert g.fraction < 1 and g.message.startswith(HELPER_NOTE), (check, g.message)
        assert g.message.count("it uses your") == 1, g.message
        assert "not written yet" not in g.message, "the exercise is written; its helper is not"
    for check in ("test_conv_layer_params", "test_stacked_layers"):  # do not call it
        assert grades[check].fraction == 1.0


def test_a_check_that_fails_on_its_own_names_no_helper(reference: str) -> None:
    g = A.grade(mutate(reference, ("stride + f].max()", "stride + f].mean()")))["test_max_pool_2d"]
    assert g.fraction < 1 and "it uses your" not in g.message, g.message


def test_missing_function_scores_zero(reference: str) -> None:
    code = mutate(reference, ("def stacked_params(", "def stacked_paramz("))
    assert_loses_points(A, code, "test_stacked_layers", "stacked_params is not defined", seeds=(0,))


def test_raising_not_implemented_scores_zero(reference: str) -> None:
    code = replace_body(reference, "conv_layer_params", "    raise NotImplementedError()\n")
    v = A.grade(code)["test_conv_layer_params"]
    assert v.fraction == 0.0
    assert v.message == "not written yet"


def test_alexnet_oracle_matches_the_lecture_numbers() -> None:
    rows = checks.torch_table(checks.ALEXNET_SPEC, 227)
    shapes = {r["name"]: r["output_shape"] for r in rows}
    params = {r["name"]: r["params"] for r in rows}
    assert shapes["CONV1"] == (55, 55, 96) and params["CONV1"] == 34944
    assert shapes["POOL1"] == (27, 27, 96) and params["POOL1"] == 0
    assert shapes["NORM1"] == (27, 27, 96) and params["NORM1"] == 0
    assert shapes["CONV2"] == (27, 27, 256) and shapes["POOL2"] == (13, 13, 256)
    assert shapes["CONV3"] == (13, 13, 384) and shapes["CONV5"] == (13, 13, 256)
    assert shapes["POOL3"] == (6, 6, 256) and shapes["FC8"] == (1, 1, 1000)
    assert params["FC6"] == 6 * 6 * 256 * 4096 + 4096


def test_convnetjs_oracle_matches_the_lecture_numbers() -> None:
    rows = checks.torch_table(checks.CONVNETJS_SPEC, 32)
    assert [r["params"] for r in rows] == [1216, 0, 8020, 0, 10020, 0, 3210]
    assert [r["output_shape"] for r in rows] == [
        (32, 32, 16), (16, 16, 16), (16, 16, 20), (8, 8, 20), (8, 8, 20), (4, 4, 20), (1, 1, 10)]


@pytest.mark.parametrize("size", checks.ALEXNET_SIZES)
def test_alexnet_sizes_all_fit(size: int) -> None:
    n = size
    for f, s, p in [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 2, 0)]:
        out = checks.exact_output_size(n, f, s, p)
        assert out.denominator == 1 and out >= 1
        n = int(out)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), f=st.integers(1, 9), s=st.integers(1, 5), p=st.integers(0, 4))
def test_exact_formula_agrees_with_torch_when_it_fits(n: int, f: int, s: int, p: int) -> None:
    exact = checks.exact_output_size(n, f, s, p)
    if n + 2 * p < f:
        return
    torch_w = checks.torch_conv_shape(n, n, 1, 1, f, s, p)[0]
    assert torch_w == math.floor(exact)
    assert (exact.denominator == 1) == (torch_w == exact)


@settings(max_examples=15, deadline=None)
@given(layers=st.integers(1, 6), f=st.sampled_from([1, 3, 5, 7]))
def test_receptive_field_oracle(layers: int, f: int) -> None:
    assert checks.torch_receptive_field(layers, f) == 1 + layers * (f - 1)


#: Exercises 2 and 6 are one formula each: their docstrings (which survive the release, outside
#: the solution regions) must say what is returned, never how to compute it.
FORMULA_EXERCISES = {"conv_layer_params_impl": ("conv_layer_params",),
                     "stacked_impl": ("stacked_receptive_field", "stacked_params")}


def released_docstrings(nb) -> dict[str, str]:
    """``{function: docstring}`` of the formula exercises as nbgrader's release shows them."""
    released, _ = stub_solutions(nb)
    out = {}
    for cell in released.cells:
        if nbgrader_meta(cell).get("grade_id") in FORMULA_EXERCISES:
            assert "raise NotImplementedError()" in cell.source
            for node in ast.parse(cell.source).body:
                if isinstance(node, ast.FunctionDef):
                    out[node.name] = ast.get_docstring(node) or ""
    return out


def test_released_docstrings_do_not_state_the_answers() -> None:
    docs = released_docstrings(A.source)
    assert set(docs) == {n for names in FORMULA_EXERCISES.values() for n in names}
    for name, doc in docs.items():
        assert "Returns an int" in doc, (name, doc)
        # no arithmetic: "F * F * D1 * K + K", "1 + L * (F - 1)", "L * F * F * C * C", ...
        assert not re.search(r"[*+^]|\(\s*[A-Za-z]\w*\s*-\s*1\s*\)", doc), (name, doc)
