"""Hidden checks of 03_backprop: the reference solution earns full marks, named mistakes lose."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.checkkit import grade_inprocess
from autograder.checks import backprop
from autograder.extract import solution_code

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_backprop" / "backprop.ipynb"


@pytest.fixture(scope="module")
def reference() -> str:
    extracted = solution_code(NOTEBOOK, NOTEBOOK)
    # The source compared with itself differs from its *released* locked cells (hidden tests
    # are still in): those "edited" notes are expected, anything else is not.
    assert [p for p in extracted.problems if not p.startswith("locked cell")] == []
    assert "def conv_backward_naive" in extracted.code
    return extracted.code


def _grade(code: str, seed: int, only: str | None = None) -> dict:
    checks = backprop.build_checks(np.random.default_rng(seed))
    if only is not None:
        checks = [c for c in checks if c.name == only]
        assert checks, f"no check named {only}"
    return grade_inprocess(code, checks)


def test_check_names_and_points_match_the_notebook_grade_cells() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"]
             for c in nb.cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    checks = backprop.build_checks(np.random.default_rng(0))
    assert {c.name: c.points for c in checks} == cells
    assert backprop.ASSIGNMENT == NOTEBOOK.parent.name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reference_solution_gets_full_marks(reference: str, seed: int) -> None:
    verdicts = _grade(reference, seed)
    assert {k: v.fraction for k, v in verdicts.items()} == {k: 1.0 for k in verdicts}, {
        k: v.message for k, v in verdicts.items() if v.fraction < 1}


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_reference_full_marks_for_any_seed(reference: str, seed: int) -> None:
    verdicts = _grade(reference, seed)
    assert all(v.fraction == 1.0 for v in verdicts.values()), {
        k: v.message for k, v in verdicts.items() if v.fraction < 1}


def test_one_wrong_gate_costs_a_quarter_of_the_gate_points(reference: str) -> None:
    code = reference.replace("return dout * self.y, dout * self.x",
                             "return dout * self.x, dout * self.y")
    assert _grade(code, 3, "test_gates")["test_gates"].fraction == pytest.approx(0.75)


def test_cases_depend_on_the_seed() -> None:
    a = backprop.build_checks(np.random.default_rng(0))
    b = backprop.build_checks(np.random.default_rng(1))
    conv_a = [c for c in a if c.name == "test_conv_backward"][0].steps[1].args[0]
    conv_b = [c for c in b if c.name == "test_conv_backward"][0].steps[1].args[0]
    assert conv_a.shape != conv_b.shape or not np.allclose(conv_a, conv_b)


def test_empty_submission_scores_zero_with_a_clear_message() -> None:
    verdicts = _grade("import numpy as np\n", 0)
    assert all(v.fraction == 0.0 for v in verdicts.values())
    assert "is not defined in your notebook" in verdicts["test_conv_backward"].message


def test_out_gt_zero_mask_is_as_good_as_x_gt_zero(reference: str) -> None:
    # Caching the output and masking on out > 0 is equivalent away from x == 0.
    code = reference.replace("return np.maximum(0, x), x",
                             "return np.maximum(0, x), np.maximum(0, x)")
    assert code != reference
    assert _grade(code, 0, "test_relu")["test_relu"].fraction == 1.0


# (check, [(old, new, count)], words the feedback must contain)
MUTANTS = {
    "staged: dfdx without upstream": (
        "test_staged_circuit", [("dfdx = 1.0 * dfdq", "dfdx = 1.0", 1)], "without the upstream"),
    "staged: hard-coded visible answer": (
        "test_staged_circuit",
        [("    q = x + y\n    f = q * z\n",
          "    return {'q': 3, 'f': -12, 'dfdq': -4, 'dfdz': 3, 'dfdx': -4, 'dfdy': -4}\n", 1)],
        "should be"),
    "mul gate not switched": (
        "test_gates",
        [("return dout * self.y, dout * self.x", "return dout * self.x, dout * self.y", 1)],
        "not switched"),
    "max gate sends to both": (
        "test_gates", [("return np.where(self.x_wins, dout, 0.0), np.where(self.x_wins, 0.0, dout)",
                        "return dout, dout", 1)], "both inputs"),
    "add gate forgets upstream": (
        "test_gates", [("return dout, dout", "return 1.0, 1.0", 1)], "without the upstream"),
    "sigmoid gate misses (1 - out)": (
        "test_gates", [("return dout * self.out * (1.0 - self.out)", "return dout * self.out", 1)],
        "missing the factor (1 - out)"),
    "neuron misses sigmoid local gradient": (
        "test_sigmoid_neuron", [("ds = sig.backward(1.0)", "ds = 1.0", 1)],
        "without the sigmoid's local gradient"),
    "affine dw first example only": (
        "test_affine", [("dw = x.reshape(x.shape[0], -1).T @ dout",
                         "dw = x.reshape(x.shape[0], -1)[:1].T @ dout[:1]", 1)],
        "only the first example"),
    "affine db averaged": (
        "test_affine", [("db = dout.sum(axis=0)", "db = dout.mean(axis=0)", 1)], "averaged"),
    "affine dx not reshaped": (
        "test_affine", [("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T", 1)],
        "not reshaped"),
    "relu no mask": (
        "test_relu", [("return dout * (x > 0)", "return dout * 1.0", 1)], "no mask"),
    "relu multiplies by activation": (
        "test_relu", [("return dout * (x > 0)", "return dout * np.maximum(0, x)", 1)],
        "multiplied by the activation"),
    "conv dw not summed over batch": (
        "test_conv_backward", [("dw += np.tensordot(g, window, axes=([0], [0]))",
                                "dw += np.tensordot(g[:1], window[:1], axes=([0], [0]))", 1)],
        "dw uses only the first example"),
    "conv dw overwritten": (
        "test_conv_backward", [("dw += np.tensordot(g, window", "dw = np.tensordot(g, window", 1)],
        "dw is overwritten in the loop"),
    "conv db not summed over positions": (
        "test_conv_backward", [("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=0)", 1)],
        "db is not summed over output positions"),
    "conv db first example": (
        "test_conv_backward",
        [("db = dout.sum(axis=(0, 2, 3))", "db = dout[0].sum(axis=(1, 2))", 1)],
        "db uses only the first example"),
    "conv padding not cropped": (
        "test_conv_backward", [("dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad", 1)],
        "padding gradient was not cropped"),
    "conv stride ignored": (
        "test_conv_backward", [("top, left = i * stride, j * stride", "top, left = i, j", 1)],
        "stride was ignored"),
    "conv kernel flipped": (
        "test_conv_backward", [("np.tensordot(g, w, axes=([1], [0]))",
                                "np.tensordot(g, w[:, :, ::-1, ::-1], axes=([1], [0]))", 1)],
        "kernel is flipped"),
    "pool gradient to every element": (
        "test_max_pool_backward",
        [("route = winner.reshape(N, C, ph, pw) * dout",
          "route = np.ones((N, C, ph, pw)) * dout", 1)],
        "every element of the window"),
    "pool gradient averaged": (
        "test_max_pool_backward",
        [("route = winner.reshape(N, C, ph, pw) * dout",
          "route = np.ones((N, C, ph, pw)) / (ph * pw) * dout", 1)], "averaged"),
    "pool overwrite instead of accumulate": (
        "test_max_pool_backward", [("left:left + pw] += route", "left:left + pw] = route", 1)],
        "overwritten instead of accumulated"),
    "sigmoid backward misses (1 - out)": (
        "test_activations", [("return dout * out * (1.0 - out)", "return dout * out", 1)],
        "missing the factor (1 - out)"),
    "leaky relu ignores alpha": (
        "test_activations", [("return dout * np.where(x > 0, 1.0, alpha)",
                              "return dout * np.where(x > 0, 1.0, 0.0)", 1)], "alpha is ignored"),
    "elu misses alpha": (
        "test_activations", [("np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))",
                              "np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))", 1)],
        "misses the factor alpha"),
    "maxout gradient to both pieces": (
        "test_maxout",
        [("da1 = dout * first", "da1 = dout", 1), ("da2 = dout * ~first", "da2 = dout", 1)],
        "both linear pieces"),
}


def _pool_stride_ignored(code: str) -> str:
    # The same line opens the conv and the pool loops: mutate the pool's (second) one only.
    head, sep, tail = code.partition("def max_pool_backward_naive")
    return head + sep + tail.replace("top, left = i * stride, j * stride", "top, left = i, j")


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_named_mistakes_lose_points_and_are_named(reference: str, name: str) -> None:
    check, edits, words = MUTANTS[name]
    code = reference
    for old, new, count in edits:
        assert code.count(old) >= count, f"mutation anchor {old!r} not found"
        code = code.replace(old, new, count)
    for seed in (0, 1):
        verdict = _grade(code, seed, check)[check]
        assert verdict.fraction < 1.0, f"{name}: seed {seed} still full marks"
        assert words in verdict.message, f"{name}: {verdict.message}"


def test_pool_stride_ignored_is_named(reference: str) -> None:
    code = _pool_stride_ignored(reference)
    assert code != reference
    for seed in (0, 1):
        verdict = _grade(code, seed, "test_max_pool_backward")["test_max_pool_backward"]
        assert verdict.fraction < 1.0 and "stride was ignored" in verdict.message, verdict.message
