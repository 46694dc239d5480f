"""Hidden checks of 03_backprop that only this assignment has.

Named mistakes lose points and are named (and only they are: an unrelated wrong output gets no
diagnosis); every rule the notebook states has a mutant that breaks only that rule; a crash on
one case costs only that case, and a forward pass that fails is said once per case; constant
answers and banned libraries earn nothing; harmless variants (another tied maximum, masking on
out > 0) keep full marks. What every assignment's checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from _common import ASSIGNMENTS, assert_loses_points, mutate

from autograder.checks import backprop as checks
from autograder.checks.kit import LOOKS_LIKE

A = ASSIGNMENTS["backprop"]  # also the assignment of the `reference` fixture
SEEDS = (0, 1)


def grade(code: str, check: str, seed: int = 0):
    return A.grade(code, seed, only=check)[check]


# --------------------------------------------------------------------------------------------
# Named mistakes, and the stated rules (each mutant breaks one thing)
# --------------------------------------------------------------------------------------------

# (check, [(old, new)], words the feedback must contain); each old text occurs exactly once
# (in the function named by WITHIN, where the same line stands in two of them)
MUTANTS = {
    "staged: dfdx without upstream": (
        "test_staged_circuit", [("dfdx = 1.0 * dfdq", "dfdx = 1.0")], "without the upstream"),
    "mul gate not switched": (
        "test_gates",
        [("return dout * self.y, dout * self.x", "return dout * self.x, dout * self.y")],
        "not switched"),
    "max gate sends to both": (
        "test_gates", [("return np.where(self.x_wins, dout, 0.0), np.where(self.x_wins, 0.0, dout)",
                        "return dout, dout")], "both"),
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
    "affine dx not reshaped (shape policy)": (
        "test_affine", [("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T")],
        "every value is right but the shape is"),
    "affine db keepdims (shape policy)": (
        "test_affine", [("db = dout.sum(axis=0)", "db = dout.sum(axis=0, keepdims=True)")],
        "keepdims=True?"),
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

# One mutant per rule the notebook states that no earlier case exercised (issue 11).
RULE_MUTANTS = {
    "relu: gradient 0 at exactly x = 0": (
        "test_relu", [("return dout * (x > 0)", "return dout * (x >= 0)")],
        "the gradient passes at x == 0"),
    "leaky relu: slope alpha at exactly x = 0": (
        "test_activations", [("return dout * np.where(x > 0, 1.0, alpha)",
                              "return dout * np.where(x >= 0, 1.0, alpha)")],
        "at x == 0 the slope is 1"),
    "elu: x <= 0 branch at exactly x = 0": (
        "test_activations", [("np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0)))",
                              "np.where(x >= 0, 1.0, alpha * np.exp(np.minimum(x, 0)))")],
        "at x == 0 the slope is 1"),
    "leaky relu: default alpha 0.01": (
        "test_activations", [("def leaky_relu_forward(x, alpha=0.01):",
                              "def leaky_relu_forward(x, alpha=0.1):")], "out is wrong"),
    "elu: default alpha 1.0": (
        "test_activations", [("def elu_forward(x, alpha=1.0):", "def elu_forward(x, alpha=2.0):")],
        "out is wrong"),
    "max gate: ties send the gradient to x": (
        "test_gates", [("self.x_wins = np.asarray(x) >= np.asarray(y)",
                        "self.x_wins = np.asarray(x) > np.asarray(y)")],
        "ties send the gradient to y"),
    "pool: every tied maximum gets the gradient": (
        "test_max_pool_backward",
        [("route = winner.reshape(N, C, ph, pw) * dout",
          "route = (window == window.max(axis=2, keepdims=True)).reshape(N, C, ph, pw) * dout")],
        "every tied maximum"),
    "pool: gradient split among tied maxima": (
        "test_max_pool_backward",
        [("route = winner.reshape(N, C, ph, pw) * dout",
          "m = window == window.max(axis=2, keepdims=True)\n"
          "            route = (m / m.sum(axis=2, keepdims=True)).reshape(N, C, ph, pw) * dout")],
        "split among tied maxima"),
    "conv: [pad:-pad] cropping (empty at pad 0)": (
        "test_conv_backward", [("dx = dx_pad[:, :, pad:pad + H, pad:pad + W]",
                                "dx = dx_pad[:, :, pad:-pad, pad:-pad]")], "empty when pad = 0"),
    "conv: square-only index arithmetic": (
        "test_conv_backward", [("HH, WW = w.shape[2:]", "HH, WW = w.shape[2], w.shape[2]"),
                               ("dx = dx_pad[:, :, pad:pad + H, pad:pad + W]",
                                "dx = dx_pad[:, :, pad:pad + H, pad:pad + H]")], "shape"),
    "pool: square-only pool windows": (
        "test_max_pool_backward",
        [('ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], '
          'pool_param["stride"]', 'ph = pw = pool_param["pool_height"]; '
          'stride = pool_param["stride"]')], "pool 3x2"),
    "staged: closed form dfdx = z": (
        "test_staged_circuit", [("dfdx = 1.0 * dfdq", "dfdx = z")],
        "computes 'dfdx' without the upstream gradient 'dfdq'"),
    "neuron: w and x may be lists": (
        "test_sigmoid_neuron", [("    w = np.asarray(w, dtype=np.float64)\n"
                                 "    x = np.asarray(x, dtype=np.float64)\n", ""),
                                ("np.array([dx0, dx1])", "w[:2] * ds")], "raised TypeError"),
    "neuron: not built from the gates": (
        "test_sigmoid_neuron", [("def sigmoid_neuron(w, x):", """def sigmoid_neuron(w, x):
    w, x = np.asarray(w, dtype=float), np.asarray(x, dtype=float)
    s = 1 / (1 + np.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))
    return s, s * (1 - s) * np.array([x[0], x[1], 1.0]), s * (1 - s) * w[:2]


def _the_gates_version(w, x):""")], "does not use your MultiplyGate, AddGate, SigmoidGate"),
}

WITHIN = {"conv stride ignored": "conv_backward_naive",
          "pool stride ignored": "max_pool_backward_naive",
          "conv: square-only index arithmetic": "conv_backward_naive"}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_named_mistakes_lose_points_and_are_named(reference: str, name: str) -> None:
    check, edits, words = MUTANTS[name]
    code = mutate(reference, *edits, within=WITHIN.get(name))
    assert_loses_points(A, code, check, words, seeds=SEEDS, only=True)


@pytest.mark.parametrize("name", sorted(RULE_MUTANTS))
def test_every_stated_rule_has_a_mutant_that_loses_points(reference: str, name: str) -> None:
    check, edits, words = RULE_MUTANTS[name]
    code = mutate(reference, *edits, within=WITHIN.get(name))
    assert_loses_points(A, code, check, words, seeds=SEEDS, only=True)


def test_one_wrong_gate_costs_a_quarter_of_the_gate_points(reference: str) -> None:
    code = mutate(reference, ("return dout * self.y, dout * self.x",
                              "return dout * self.x, dout * self.y"))
    assert grade(code, "test_gates", 3).fraction == pytest.approx(0.75)


def test_a_max_gate_wrong_only_on_ties_loses_only_the_tie_case(reference: str) -> None:
    code = mutate(reference, *RULE_MUTANTS["max gate: ties send the gradient to x"][1])
    assert grade(code, "test_gates").fraction == pytest.approx(1 - 1 / 12)


# --------------------------------------------------------------------------------------------
# Credit per independent case; a failed forward is said once
# --------------------------------------------------------------------------------------------


def _pads(seed: int) -> list[int]:
    conv = next(c for c in A.build(seed) if c.name == "test_conv_backward")
    return [case.steps[0].args[1][3]["pad"] for case in conv.cases]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_crash_at_pad_0_costs_only_the_pad_0_cases(reference: str, seed: int) -> None:
    code = mutate(reference, ("dx = dx_pad[:, :, pad:pad + H, pad:pad + W]",
                              "assert pad > 0\n    dx = dx_pad[:, :, pad:-pad, pad:-pad]"))
    pads = _pads(seed)
    assert 0 < pads.count(0) < len(pads)
    g = grade(code, "test_conv_backward", seed)
    assert g.fraction == pytest.approx(1 - pads.count(0) / len(pads))
    assert "AssertionError" in g.message and "pad 0" in g.message


def test_a_forward_that_fails_costs_its_case_and_is_named_once(reference: str) -> None:
    code = mutate(reference, ("    return np.maximum(0, x), x\n",
                              "    if x.ndim != 2:\n        raise ValueError('2-D only')\n"
                              "    return np.maximum(0, x), x\n"))
    cases = next(c for c in A.build(0) if c.name == "test_relu").cases
    two_d = sum(case.steps[0].args[0].ndim == 2 for case in cases)
    g = grade(code, "test_relu")
    assert g.fraction == pytest.approx(two_d / len(cases))
    failing = len(cases) - two_d
    assert failing and g.message.startswith(f"{failing} of {len(cases)} cases wrong: ")
    # each failing case: the forward's error, then the backward's dependency, said once
    first = g.message.split(": ", 1)[1].split("; ")[:2]
    assert "raised ValueError: 2-D only" in first[0], first
    assert first[1] == "relu_backward was not checked (it needs what relu_forward returns)"


def test_a_forward_without_a_cache_is_said_once_per_case(reference: str) -> None:
    code = mutate(reference, ("return np.where(x > 0, x, alpha * x), (x, alpha)",
                              "return np.where(x > 0, x, alpha * x)"))
    g = grade(code, "test_activations")
    assert g.fraction == pytest.approx(4 / 6)
    assert "leaky_relu_forward" in g.message and "should return a tuple of 2 items" in g.message
    assert "leaky_relu_backward was not checked" in g.message


# --------------------------------------------------------------------------------------------
# Ties: any one maximum per window is right
# --------------------------------------------------------------------------------------------


def test_the_last_tied_maximum_is_as_good_as_the_first(reference: str) -> None:
    code = mutate(reference, ("window.argmax(axis=2)",
                              "(ph * pw - 1 - window[:, :, ::-1].argmax(axis=2))"))
    for seed in SEEDS:
        assert grade(code, "test_max_pool_backward", seed).fraction == 1.0


@pytest.mark.parametrize(("ph", "pw", "stride"), [(2, 2, 2), (3, 2, 1), (3, 2, 2), (3, 3, 2)])
@pytest.mark.parametrize("seed", range(6))
def test_tie_cases_have_ties_and_accept_torch_and_no_wrong_routing(
        ph: int, pw: int, stride: int, seed: int) -> None:
    x, dout = checks.tie_inputs(np.random.default_rng(seed), ph, pw, stride)
    torch_dx = checks._pool_torch(x, dout, ph, pw, stride)
    assert np.array_equal(checks.tie_answer(torch_dx, x, dout, ph, pw, stride), torch_dx)
    for mode in ("ties", "split", "all", "avg"):
        wrong = checks.pool_variant(dout, x, ph, pw, stride, mode)
        assert not np.allclose(checks.tie_answer(wrong, x, dout, ph, pw, stride), wrong), mode


# --------------------------------------------------------------------------------------------
# Harmless variants, no false diagnoses, no free points, bans
# --------------------------------------------------------------------------------------------


def test_out_gt_zero_mask_is_as_good_as_x_gt_zero(reference: str) -> None:
    # Caching the output and masking on out > 0 is equivalent, exact zeros included.
    code = mutate(reference, ("return np.maximum(0, x), x",
                              "return np.maximum(0, x), np.maximum(0, x)"))
    assert grade(code, "test_relu").fraction == 1.0


# A wrong output that is none of the named mistakes, for each check.
UNRELATED = {
    "test_staged_circuit": ("dfdx = 1.0 * dfdq", "dfdx = 1.5 * dfdq"),
    "test_gates": ("return dout, dout", "return 1.5 * dout, dout"),
    "test_sigmoid_neuron": ("np.array([dw0, dw1, dw2])", "1.5 * np.array([dw0, dw1, dw2])"),
    "test_affine": ("return dx, dw, db\n", "return 1.5 * dx, 1.5 * dw, 1.5 * db\n"),
    "test_relu": ("return dout * (x > 0)", "return 1.5 * dout * (x > 0)"),
    "test_conv_backward": ("return dx, dw, db\n", "return 1.5 * dx, 1.5 * dw, 1.5 * db\n"),
    "test_max_pool_backward": ("    return dx\n", "    return 1.5 * dx\n"),
    "test_activations": ("return dout * np.where(x > 0, 1.0, alpha)\n",
                         "return 1.5 * dout * np.where(x > 0, 1.0, alpha)\n"),
    "test_maxout": ("return dx, x.T @ da1", "return 1.5 * dx, 1.5 * x.T @ da1"),
}
UNRELATED_WITHIN = {"test_affine": "affine_backward", "test_conv_backward": "conv_backward_naive",
                    "test_max_pool_backward": "max_pool_backward_naive"}


@pytest.mark.parametrize("check", sorted(UNRELATED))
@pytest.mark.parametrize("seed", SEEDS)
def test_no_diagnosis_fires_on_an_unrelated_wrong_output(reference: str, check: str,
                                                         seed: int) -> None:
    code = mutate(reference, UNRELATED[check], within=UNRELATED_WITHIN.get(check))
    g = grade(code, check, seed)
    assert g.fraction < 1.0
    assert LOOKS_LIKE not in g.message and "every value is right" not in g.message, \
        g.message


CONSTANT = """
def staged_circuit(x, y, z):
    return {"q": 3, "f": -12, "dfdq": -4, "dfdz": 3, "dfdx": -4, "dfdy": -4}


class AddGate:
    def forward(self, x, y):
        return -1.0

    def backward(self, dout):
        return 2.0, 2.0


class MultiplyGate(AddGate):
    pass


class MaxGate(AddGate):
    pass


class SigmoidGate:
    def forward(self, x):
        return 0.5

    def backward(self, dout):
        return 0.5


def sigmoid_neuron(w, x):
    MultiplyGate, AddGate, SigmoidGate
    return 0.7310585786, np.array([-0.19661193, -0.39322387, 0.19661193]), \\
        np.array([0.39322387, -0.5898358])


def affine_forward(x, w, b):
    return np.ones((3, 5)), None


def affine_backward(dout, cache):
    return np.ones((3, 2, 2, 3)), np.ones((12, 5)), np.ones(5)


def relu_forward(x):
    return np.zeros((2, 3)), None


def relu_backward(dout, cache):
    return np.zeros((2, 3))


def conv_backward_naive(dout, cache):
    return 0.0, 0.0, 0.0


def max_pool_backward_naive(dout, cache):
    return np.zeros((1, 1, 4, 4))


def _const(*args, **kwargs):
    return np.zeros(4), None


def _const_backward(dout, cache):
    return np.ones(4)


sigmoid_forward = tanh_forward = leaky_relu_forward = elu_forward = _const
sigmoid_backward = tanh_backward = leaky_relu_backward = elu_backward = _const_backward


def maxout_forward(x, w1, b1, w2, b2):
    return np.zeros((5, 3)), None


def maxout_backward(dout, cache):
    return np.zeros((5, 4)), np.zeros((4, 3)), np.zeros(3), np.zeros((4, 3)), np.zeros(3)
"""


@pytest.mark.parametrize("seed", SEEDS)
def test_constant_answers_score_zero(seed: int) -> None:
    code = "import numpy as np\n" + CONSTANT
    grades = A.grade(code, seed)
    assert {n: g.fraction for n, g in grades.items()} == {n: 0.0 for n in A.points()}


def test_zero_gradients_of_the_right_shape_score_zero(reference: str) -> None:
    code = reference + """

def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    return np.zeros_like(x), np.zeros_like(w), np.zeros_like(b)


def max_pool_backward_naive(dout, cache):
    return np.zeros_like(cache[0])
"""
    assert grade(code, "test_conv_backward").fraction == 0.0
    assert grade(code, "test_max_pool_backward").fraction == 0.0


BANNED = {
    "torch autograd in relu_backward": ("test_relu", """
def relu_backward(dout, cache):
    import torch
    t = torch.tensor(cache, requires_grad=True)
    torch.relu(t).backward(torch.tensor(dout))
    return t.grad.numpy()
""", "torch"),
    "torch's conv2d in conv_backward_naive": ("test_conv_backward", """
import torch.nn.functional as F
import torch


def conv_backward_naive(dout, cache):
    x, w, b, conv_param = cache
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    out = F.conv2d(*ts, stride=conv_param["stride"], padding=conv_param["pad"])
    out.backward(torch.tensor(dout))
    return tuple(t.grad.numpy() for t in ts)
""", "torch.nn.functional.conv2d"),
    "scipy's expit in sigmoid_forward": ("test_activations", """
from scipy.special import expit


def sigmoid_forward(x):
    out = expit(x)
    return out, out
""", "scipy.special.expit"),
    "the course library's activations": ("test_activations", """
from cnnlib.lessons import backprop as lesson


def elu_backward(dout, cache):
    x, alpha = cache
    return dout * np.where(x > 0, 1.0, alpha * lesson.ACTIVATIONS["elu"][1](np.minimum(x, 0)))
""", "cnnlib.lessons.backprop.ACTIVATIONS"),
    "sympy in the gates": ("test_gates", """
import sympy


class SigmoidGate:
    def forward(self, x):
        self.x = x
        return float(1 / (1 + sympy.exp(-x)))

    def backward(self, dout):
        s = sympy.Symbol("s")
        return dout * float(sympy.diff(1 / (1 + sympy.exp(-s)), s).subs(s, self.x))
""", "sympy"),
}


@pytest.mark.parametrize("name", sorted(BANNED))
def test_banned_libraries_cost_the_points_with_a_reason(reference: str, name: str) -> None:
    check, override, words = BANNED[name]
    g = grade(reference + "\n\n" + override, check)
    assert g.fraction == 0.0
    assert words in g.message and "may not use" in g.message, g.message


# --------------------------------------------------------------------------------------------
# The staged-circuit rule accepts the ways students write stages
# --------------------------------------------------------------------------------------------

STAGED_STYLES = {
    "dict built by keys": ("""
    out = {"q": x + y}
    out["f"] = out["q"] * z
    out["dfdq"] = z
    out["dfdz"] = out["q"]
    out["dfdx"] = 1.0 * out["dfdq"]
    out["dfdy"] = out["dfdq"] * 1
    return out
""", True),
    "a helper for the add gate": ("""
    def add_backward(d):
        return d, d
    q = x + y
    f = q * z
    dq, dz = z, q
    dx, dy = add_backward(dq)
    return dict(q=q, f=f, dfdq=dq, dfdz=dz, dfdx=dx, dfdy=dy)
""", True),
    "an alias of the upstream gradient": ("""
    q, f = x + y, (x + y) * z
    up = z
    grad_q = up
    return {"q": q, "f": f, "dfdq": grad_q, "dfdz": q, "dfdx": 1 * up, "dfdy": up * 1}
""", True),
    "the dict repeats z, the stages use their variable": ("""
    q = x + y
    dq = z
    return {"q": q, "f": q * z, "dfdq": z, "dfdz": q, "dfdx": dq * 1, "dfdy": 1 * dq}
""", True),
    "closed form for both": ("""
    q = x + y
    return {"q": q, "f": q * z, "dfdq": z, "dfdz": q, "dfdx": z, "dfdy": z}
""", False),
    "closed form times one": ("""
    q = x + y
    dfdq = z
    return {"q": q, "f": q * z, "dfdq": dfdq, "dfdz": q, "dfdx": 1.0 * z, "dfdy": dfdq}
""", False),
}


@pytest.mark.parametrize("style", sorted(STAGED_STYLES))
def test_the_staged_rule_judges_the_flow_not_the_spelling(reference: str, style: str) -> None:
    body, staged = STAGED_STYLES[style]
    g = grade(reference + "\n\ndef staged_circuit(x, y, z):" + body, "test_staged_circuit")
    assert (g.fraction == 1.0) == staged, g.message
    assert staged or "without the upstream gradient" in g.message


def test_a_neuron_built_through_a_helper_still_uses_the_gates(reference: str) -> None:
    code = reference + """

def _mul_backward(a, b, d):
    g = MultiplyGate()
    g.forward(a, b)
    return g.backward(d)


def sigmoid_neuron(w, x):
    add0, add1, sig = AddGate(), AddGate(), SigmoidGate()
    f = sig.forward(add1.forward(add0.forward(w[0] * x[0], w[1] * x[1]), w[2]))
    ds = sig.backward(1.0)
    dw0, dx0 = _mul_backward(w[0], x[0], ds)
    dw1, dx1 = _mul_backward(w[1], x[1], ds)
    return float(f), np.array([dw0, dw1, ds]), np.array([dx0, dx1])
"""
    assert grade(code, "test_sigmoid_neuron").fraction == 1.0


def test_cases_depend_on_the_seed() -> None:
    def conv_inputs(seed: int) -> list:
        conv = next(c for c in A.build(seed) if c.name == "test_conv_backward")
        return [case.steps[0].args[0] for case in conv.cases]

    a, b = conv_inputs(0), conv_inputs(1)
    assert any(x.shape != y.shape or not np.allclose(x, y) for x, y in zip(a, b, strict=True))


def test_empty_submission_scores_zero_with_a_clear_message() -> None:
    grades = A.grade("import numpy as np\n", 0)
    assert all(g.fraction == 0.0 for g in grades.values())
    assert "is not defined in your notebook" in grades["test_conv_backward"].message
