"""Hidden checks of 03_backprop that only this assignment has: named mistakes lose points,
harmless variants (masking on out > 0) do not, one wrong gate costs a quarter of its points."""

from __future__ import annotations

import numpy as np
import pytest
from _common import ASSIGNMENTS, assert_loses_points, mutate

A = ASSIGNMENTS["backprop"]  # also the assignment of the `reference` fixture


def test_one_wrong_gate_costs_a_quarter_of_the_gate_points(reference: str) -> None:
    code = reference.replace("return dout * self.y, dout * self.x",
                             "return dout * self.x, dout * self.y")
    assert A.grade(code, 3, "test_gates")["test_gates"].fraction == pytest.approx(0.75)


def test_cases_depend_on_the_seed() -> None:
    a = A.build(0)
    b = A.build(1)
    conv_a = [c for c in a if c.name == "test_conv_backward"][0].steps[1].args[0]
    conv_b = [c for c in b if c.name == "test_conv_backward"][0].steps[1].args[0]
    assert conv_a.shape != conv_b.shape or not np.allclose(conv_a, conv_b)


def test_empty_submission_scores_zero_with_a_clear_message() -> None:
    verdicts = A.grade("import numpy as np\n", 0)
    assert all(v.fraction == 0.0 for v in verdicts.values())
    assert "is not defined in your notebook" in verdicts["test_conv_backward"].message


def test_out_gt_zero_mask_is_as_good_as_x_gt_zero(reference: str) -> None:
    # Caching the output and masking on out > 0 is equivalent away from x == 0.
    code = reference.replace("return np.maximum(0, x), x",
                             "return np.maximum(0, x), np.maximum(0, x)")
    assert code != reference
    assert A.grade(code, 0, "test_relu")["test_relu"].fraction == 1.0


# (check, [(old, new)], words the feedback must contain); each old text occurs exactly once
# (in the function named by WITHIN, where the same line stands in two of them)
MUTANTS = {
    "staged: dfdx without upstream": (
        "test_staged_circuit", [("dfdx = 1.0 * dfdq", "dfdx = 1.0")], "without the upstream"),
    "staged: hard-coded visible answer": (
        "test_staged_circuit",
        [("    q = x + y\n    f = q * z\n",
          "    return {'q': 3, 'f': -12, 'dfdq': -4, 'dfdz': 3, 'dfdx': -4, 'dfdy': -4}\n")],
        "should be"),
    "mul gate not switched": (
        "test_gates",
        [("return dout * self.y, dout * self.x", "return dout * self.x, dout * self.y")],
        "not switched"),
    "max gate sends to both": (
        "test_gates", [("return np.where(self.x_wins, dout, 0.0), np.where(self.x_wins, 0.0, dout)",
                        "return dout, dout")], "both inputs"),
    "add gate forgets upstream": (
        "test_gates", [("return dout, dout", "return 1.0, 1.0")], "without the upstream"),
    "sigmoid gate misses (1 - out)": (
        "test_gates", [("return dout * self.out * (1.0 - self.out)", "return dout * self.out")],
        "missing the factor (1 - out)"),
    "neuron misses sigmoid local gradient": (
        "test_sigmoid_neuron", [("ds = sig.backward(1.0)", "ds = 1.0")],
        "without the sigmoid's local gradient"),
    "affine dw first example only": (
        "test_affine", [("dw = x.reshape(x.shape[0], -1).T @ dout",
                         "dw = x.reshape(x.shape[0], -1)[:1].T @ dout[:1]")],
        "only the first example"),
    "affine db averaged": (
        "test_affine", [("db = dout.sum(axis=0)", "db = dout.mean(axis=0)")], "averaged"),
    "affine dx not reshaped": (
        "test_affine", [("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")],
        "not reshaped"),
    "relu no mask": (
        "test_relu", [("return dout * (x > 0)", "return dout * 1.0")], "no mask"),
    "relu multiplies by activation": (
        "test_relu", [("return dout * (x > 0)", "return dout * np.maximum(0, x)")],
        "multiplied by the activation"),
    "conv dw not summed over batch": (
        "test_conv_backward", [("dw += np.tensordot(g, window, axes=([0], [0]))",
                                "dw += np.tensordot(g[:1], window[:1], axes=([0], [0]))")],
        "dw uses only the first example"),
    "conv dw overwritten": (
        "test_conv_backward", [("dw += np.tensordot(g, window", "dw = np.tensordot(g, window")],
        "dw is overwritten in the loop"),
    "conv db not summed over positions": (
        "test_conv_backward", [("db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=0)")],
        "db is not summed over output positions"),
    "conv db first example": (
        "test_conv_backward",
        [("db = dout.sum(axis=(0, 2, 3))", "db = dout[0].sum(axis=(1, 2))")],
        "db uses only the first example"),
    "conv padding not cropped": (
        "test_conv_backward", [("dx = dx_pad[:, :, pad:pad + H, pad:pad + W]", "dx = dx_pad")],
        "padding gradient was not cropped"),
    "conv stride ignored": (
        "test_conv_backward", [("top, left = i * stride, j * stride", "top, left = i, j")],
        "stride was ignored"),
    "conv kernel flipped": (
        "test_conv_backward", [("np.tensordot(g, w, axes=([1], [0]))",
                                "np.tensordot(g, w[:, :, ::-1, ::-1], axes=([1], [0]))")],
        "kernel is flipped"),
    "pool gradient to every element": (
        "test_max_pool_backward",
        [("route = winner.reshape(N, C, ph, pw) * dout",
          "route = np.ones((N, C, ph, pw)) * dout")],
        "every element of the window"),
    "pool gradient averaged": (
        "test_max_pool_backward",
        [("route = winner.reshape(N, C, ph, pw) * dout",
          "route = np.ones((N, C, ph, pw)) / (ph * pw) * dout")], "averaged"),
    "pool stride ignored": (
        "test_max_pool_backward", [("top, left = i * stride, j * stride", "top, left = i, j")],
        "stride was ignored"),
    "pool overwrite instead of accumulate": (
        "test_max_pool_backward", [("left:left + pw] += route", "left:left + pw] = route")],
        "overwritten instead of accumulated"),
    "sigmoid backward misses (1 - out)": (
        "test_activations", [("return dout * out * (1.0 - out)", "return dout * out")],
        "missing the factor (1 - out)"),
    "leaky relu ignores alpha": (
        "test_activations", [("return dout * np.where(x > 0, 1.0, alpha)",
                              "return dout * np.where(x > 0, 1.0, 0.0)")], "alpha is ignored"),
    "elu misses alpha": (
        "test_activations", [("np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))",
                              "np.where(x > 0, 1.0, np.exp(np.minimum(x, 0)))")],
        "misses the factor alpha"),
    "maxout gradient to both pieces": (
        "test_maxout",
        [("da1 = dout * first", "da1 = dout"), ("da2 = dout * ~first", "da2 = dout")],
        "both linear pieces"),
}


WITHIN = {"conv stride ignored": "conv_backward_naive",
          "pool stride ignored": "max_pool_backward_naive"}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_named_mistakes_lose_points_and_are_named(reference: str, name: str) -> None:
    check, edits, words = MUTANTS[name]
    code = mutate(reference, *edits, within=WITHIN.get(name))
    assert_loses_points(A, code, check, words, seeds=(0, 1), only=True)
