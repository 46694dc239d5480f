"""Hidden checks of 06_capstone that only this assignment has.

Every rule the notebook states is broken by one mutant of the reference solution, which must
lose points on the check of that exercise with a message that names the mistake; named mistakes
must not fire on unrelated wrong outputs; a shape slip earns the kit's partial credit; banned
implementations and constant answers earn nothing; the overfitting check judges the weights the
student's network ends with (never its own predictions) within its time budget. What every
assignment's checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

from dataclasses import replace

import nbformat
import numpy as np
import pytest
from _common import ASSIGNMENTS, SEEDS, assert_loses_points, assert_no_named_mistake, mutate
from fixtures.inprocess import grade_code

from autograder.checks import capstone as checks
from autograder.checks.kit import SHAPE_SLIP_CREDIT
from autograder.engine.extract import extract

A = ASSIGNMENTS["capstone"]  # also the assignment of the `reference` fixture
NET = "ThreeLayerConvNet"
REG_GRAD = "            grads[w] = grads[w] + self.reg * p[w]"
REG_LOSS = '        loss += 0.5 * self.reg * sum(np.sum(p[w] ** 2) for w in ("W1", "W2", "W3"))'
BIAS_CORRECTION = ('    m_hat = config["m"] / (1 - beta1 ** config["t"])\n'
                   '    v_hat = config["v"] / (1 - beta2 ** config["t"])')


def test_cases_change_with_the_seed() -> None:
    def first_input(seed: int) -> np.ndarray:
        return A.build(seed)[0].cases[0].steps[0].args[0]

    assert np.array_equal(first_input(5), first_input(5))
    assert not np.array_equal(first_input(5), first_input(6))


# rule broken -> (function it is in, replaced text, replacement, check, words of the feedback)
MUTANTS: dict[str, tuple[str | None, str, str, str, str]] = {
    # Exercise 1: softmax_loss
    "no max subtraction (overflow)": (
        "softmax_loss", "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x",
        "test_softmax_loss", "scores near +1000) is wrong: it contains"),
    "one maximum for the whole batch (underflow)": (
        "softmax_loss", "shifted = x - x.max(axis=1, keepdims=True)", "shifted = x - x.max()",
        "test_softmax_loss", "rows 1000s apart) is wrong: it contains"),
    "log of a probability that underflows": (
        "softmax_loss",
        "log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))",
        "log_probs = np.log(np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True))",
        "test_softmax_loss", "800 below the maximum) is wrong: it contains"),
    "loss summed over the batch": (
        "softmax_loss", "loss = -log_probs[np.arange(n), y].mean()",
        "loss = -log_probs[np.arange(n), y].sum()", "test_softmax_loss", "summed over the batch"),
    "dx not divided by N": (
        "softmax_loss", "return float(loss), dx / n", "return float(loss), dx",
        "test_softmax_loss", "dx is not divided by N"),
    "dx with the wrong sign": (
        "softmax_loss", "return float(loss), dx / n", "return float(loss), -dx / n",
        "test_softmax_loss", "dx has the wrong sign"),
    "dx without the one-hot": (
        "softmax_loss", "    dx[np.arange(n), y] -= 1.0\n", "", "test_softmax_loss",
        "subtract 1 at each example's true class"),
    # Exercise 2: sgd_momentum
    "momentum sign: the velocity subtracted": (
        "sgd_momentum", "next_w = w + v", "next_w = w - v", "test_sgd_momentum", "moves uphill"),
    "velocity not kept between steps": (
        "sgd_momentum", 'v = config.get("velocity", np.zeros_like(w))', "v = np.zeros_like(w)",
        "test_sgd_momentum", "not kept between steps"),
    "dampened momentum": (
        "sgd_momentum", 'v = config["momentum"] * v - config["learning_rate"] * dw',
        'v = config["momentum"] * v - (1 - config["momentum"]) * config["learning_rate"] * dw',
        "test_sgd_momentum", "weighted by (1 - momentum)"),
    "another default learning rate": (
        "sgd_momentum", 'config.setdefault("learning_rate", 1e-2)',
        'config.setdefault("learning_rate", 1e-3)', "test_sgd_momentum",
        "(config=None: the defaults) is wrong"),
    "another default momentum": (
        "sgd_momentum", 'config.setdefault("momentum", 0.9)', 'config.setdefault("momentum", 0.5)',
        "test_sgd_momentum", "(config=None: the defaults) is wrong"),
    "momentum of the config ignored": (
        "sgd_momentum", 'v = config["momentum"] * v', "v = 0.9 * v", "test_sgd_momentum",
        ", momentum="),
    # Exercise 3: adam
    "no bias correction": (
        "adam", BIAS_CORRECTION, '    m_hat = config["m"]\n    v_hat = config["v"]',
        "test_adam", "bias correction is missing"),
    "bias correction of m only": (
        "adam", '    v_hat = config["v"] / (1 - beta2 ** config["t"])',
        '    v_hat = config["v"]', "test_adam", "only m is bias-corrected"),
    "epsilon inside the square root": (
        "adam", '(np.sqrt(v_hat) + config["epsilon"])', 'np.sqrt(v_hat + config["epsilon"])',
        "test_adam", "epsilon is added inside the square root"),
    "t counted after the update (t = 0 at the first step)": (
        "adam", '    config["t"] += 1\n', "", "test_adam", "contains"),
    "t not counted up": (
        "adam", 'config["t"] += 1', 'config["t"] = 1', "test_adam", "t is not counted up"),
    "another default epsilon": (
        "adam", 'config.setdefault("epsilon", 1e-8)', 'config.setdefault("epsilon", 1e-4)',
        "test_adam", "(config=None: the defaults) is wrong"),
    "another default learning rate (adam)": (
        "adam", 'config.setdefault("learning_rate", 1e-3)',
        'config.setdefault("learning_rate", 1e-2)', "test_adam",
        "(config=None: the defaults) is wrong"),
    # Exercise 4: the network
    "regularisation gradient missing": (
        NET, REG_GRAD, "            grads[w] = grads[w]", "test_convnet",
        "regularisation gradient reg * W is missing"),
    "regularisation gradient doubled": (
        NET, REG_GRAD, "            grads[w] = grads[w] + 2 * self.reg * p[w]", "test_convnet",
        "regularisation gradient is doubled"),
    "biases regularised": (
        NET, '        for w in ("W1", "W2", "W3"):\n            grads[w]',
        "        for w in p:\n            grads[w]", "test_convnet", "the bias is regularised too"),
    "regularisation missing from the loss": (
        NET, REG_LOSS, "        pass", "test_convnet", "missing from the loss"),
    "regularisation term without the 1/2": (
        NET, REG_LOSS, REG_LOSS.replace("0.5 * ", ""), "test_convnet", "lacks the 1/2"),
    "gradients not averaged over the batch": (
        NET, "        loss, d = softmax_loss(scores, y)\n",
        "        loss, d = softmax_loss(scores, y)\n        d = d * X.shape[0]\n", "test_convnet",
        "not averaged over the batch"),
    "batch statistics at test time": (
        NET, 'self.bn_param["mode"] = "test" if y is None else "train"',
        'self.bn_param["mode"] = "train"', "test_convnet", "statistics in test mode"),
    "running averages never kept": (
        NET, 'p["beta1"],\n                                                      self.bn_param)',
        'p["beta1"], {"mode": self.bn_param["mode"]})', "test_convnet", "never updated"),
    "probabilities at test time": (
        NET, "        if y is None:\n            return scores\n",
        "        if y is None:\n            e = np.exp(scores - scores.max(axis=1, keepdims="
        "True))\n            return e / e.sum(axis=1, keepdims=True)\n", "test_convnet",
        "returned probabilities"),
    "no gradient for b1": (
        NET, '_, grads["W1"], grads["b1"] = conv_backward(d, conv_cache)',
        '_, grads["W1"], _ = conv_backward(d, conv_cache)', "test_convnet", "grads has no 'b1'"),
    "biases start at one": (
        NET, 'self.params["b2"] = np.zeros(hidden_dim)',
        'self.params["b2"] = np.ones(hidden_dim)', "test_convnet", "'b2'] should start at 0"),
    "gamma starts at zero": (
        NET, 'self.params["gamma1"] = np.ones(F)', 'self.params["gamma1"] = np.zeros(F)',
        "test_convnet", "'gamma1'] should start at 1"),
    "weight_scale not applied": (
        NET, 'self.params["W3"] = weight_scale * rng', 'self.params["W3"] = rng', "test_convnet",
        "standard deviation"),
    "W2 transposed": (
        NET, "rng.standard_normal((F * (H // 2) * (W // 2),\n"
        "                                                                hidden_dim))",
        "rng.standard_normal((hidden_dim, F * (H // 2) * (W // 2))).T.T", "test_convnet",
        "'W2'] should have shape"),
    "batch-norm parameters without batch norm": (
        NET, "        if batchnorm:\n            self.params[\"gamma1\"]",
        "        if True:\n            self.params[\"gamma1\"]", "test_convnet",
        "params should hold exactly"),
    "weights read from a copy made at init": (
        NET, "        p = self.params\n        out, conv_cache",
        "        p = self.initial\n        out, conv_cache", "test_convnet", "the loss ("),
    # the overfitting test: a network that cannot learn
    "weights start at zero": (
        NET, "        for name, value in self.params.items():\n",
        "        self.params.update({w: 0 * self.params[w] for w in ('W1', 'W2', 'W3')})\n"
        "        for name, value in self.params.items():\n", "test_overfit", "not all"),
}


# a second edit some mutants need
ALSO = {"weights read from a copy made at init": (
    "            self.params[name] = value.astype(dtype)\n",
    "            self.params[name] = value.astype(dtype)\n        self.initial = self.params\n")}


@pytest.mark.parametrize("mistake", list(MUTANTS))
def test_mutant_loses_points_and_is_named(reference: str, mistake: str) -> None:
    within, old, new, check, words = MUTANTS[mistake]
    code = mutate(reference, (old, new), *([ALSO[mistake]] if mistake in ALSO else []),
                  within=within)
    assert_loses_points(A, code, check, words, seeds=(0, 1), only=True)


def test_a_class_that_cannot_learn_fails_the_overfitting_test_too(reference: str) -> None:
    code = mutate(reference, (REG_GRAD, "            grads[w] = 0 * grads[w]"),
                  ('_, grads["W1"], grads["b1"] = conv_backward(d, conv_cache)',
                   '_, grads["W1"], grads["b1"] = conv_backward(0 * d, conv_cache)'),
                  within=NET)
    assert_loses_points(A, code, "test_overfit", "gets", seeds=(0,), only=True)


# --------------------------------------------------------------------------------------------
# Diagnoses fire on their fingerprint only
# --------------------------------------------------------------------------------------------

# (function, replaced text, an unrelated slip, check)
UNRELATED: list[tuple[str, str, str, str]] = [
    ("softmax_loss", "return float(loss), dx / n", "return 1.01 * float(loss), 1.05 * dx / n",
     "test_softmax_loss"),
    ("sgd_momentum", "next_w = w + v", "next_w = w + 1.2 * v", "test_sgd_momentum"),
    ("adam", 'next_w = w - config["learning_rate"]', 'next_w = w - 1.1 * config["learning_rate"]',
     "test_adam"),
    (NET, REG_GRAD, "            grads[w] = grads[w] + 1.4 * self.reg * p[w] + 0.01",
     "test_convnet"),
    (NET, REG_LOSS, REG_LOSS + " + 0.01", "test_convnet"),
    (NET, "        if y is None:\n            return scores\n",
     "        if y is None:\n            return 1.1 * scores\n", "test_convnet"),
]


@pytest.mark.parametrize(("within", "old", "new", "check"), UNRELATED,
                         ids=[f"{u[0]}: {u[2].strip()[:30]}" for u in UNRELATED])
def test_no_named_mistake_on_an_unrelated_wrong_output(reference: str, within: str, old: str,
                                                      new: str, check: str) -> None:
    assert_no_named_mistake(A, mutate(reference, (old, new), within=within), check,
                            shape_hint_allowed=False)


def test_loss_as_a_one_element_array_earns_the_shape_slip_credit(reference: str) -> None:
    code = mutate(reference, ("return float(loss), dx / n", "return np.array([loss]), dx / n"),
                  within="softmax_loss")
    grade = A.grade(code, 0, only="test_softmax_loss")["test_softmax_loss"]
    assert grade.fraction == pytest.approx((5 * SHAPE_SLIP_CREDIT + 5) / 10)
    assert "every value is right but the shape is (1,), expected ()" in grade.message


# --------------------------------------------------------------------------------------------
# Bans, constant answers, the overfitting test's trust and time
# --------------------------------------------------------------------------------------------

READY_MADE = {
    "scipy's logsumexp": (
        "softmax_loss", "    n = x.shape[0]\n",
        "    from scipy.special import logsumexp\n    logsumexp\n    n = x.shape[0]\n",
        "test_softmax_loss", "scipy.special.logsumexp"),
    "torch's cross_entropy": (
        "softmax_loss", "    n = x.shape[0]\n",
        "    import torch\n    torch.nn.functional.cross_entropy\n    n = x.shape[0]\n",
        "test_softmax_loss", "torch.nn.functional.cross_entropy"),
    "torch's SGD": (
        "sgd_momentum", "    v = config.get",
        "    import torch\n    torch.optim.SGD\n    v = config.get", "test_sgd_momentum",
        "torch.optim.SGD"),
    "the course's torch twin": (
        NET, "        p = self.params\n",
        "        from cnnlib.lessons import capstone\n        capstone.torch_twin\n"
        "        p = self.params\n", "test_convnet", "cnnlib.lessons"),
    "torch's conv2d in the network": (
        NET, "        p = self.params\n",
        "        import torch.nn.functional as TF\n        TF.conv2d\n        p = self.params\n",
        "test_overfit", "torch.nn.functional.conv2d"),
}


@pytest.mark.parametrize("what", list(READY_MADE))
def test_ready_made_implementations_cost_the_points_with_a_reason(reference: str,
                                                                  what: str) -> None:
    within, old, new, check, words = READY_MADE[what]
    code = mutate(reference, (old, new), within=within)
    grade = A.grade(code, 0, only=check)[check]
    assert grade.fraction == 0.0
    assert words in grade.message and "may not use" in grade.message


def test_the_reference_layers_are_allowed_in_the_network_only() -> None:
    built = {c.name: c for c in A.build(0)}
    for name in ("test_convnet", "test_overfit"):
        assert "cnnlib.layers" not in built[name].bans and "cnnlib.lessons" in built[name].bans
        assert "torch" in built[name].bans
    assert "cnnlib" in built["test_softmax_loss"].bans
    assert checks.LIBRARY == ("layers",)


LAZY = '''
import numpy as np

def softmax_loss(x, y):
    return 0.0, np.zeros_like(x)

def sgd_momentum(w, dw, config=None):
    return np.zeros_like(w), config or {}

adam = sgd_momentum

class ThreeLayerConvNet:
    def __init__(self, input_dim=(1, 8, 8), num_filters=16, filter_size=3, hidden_dim=100,
                 num_classes=10, weight_scale=1e-2, reg=0.0, batchnorm=False,
                 dtype=np.float64, seed=None):
        C, H, W = input_dim
        F, k = num_filters, filter_size
        shapes = {"W1": (F, C, k, k), "b1": (F,), "W2": (F * (H // 2) * (W // 2), hidden_dim),
                  "b2": (hidden_dim,), "W3": (hidden_dim, num_classes), "b3": (num_classes,)}
        if batchnorm:
            shapes.update(gamma1=(F,), beta1=(F,))
        self.params = {k: np.zeros(s) for k, s in shapes.items()}

    def loss(self, X, y=None):
        if y is None:
            return np.zeros((X.shape[0], self.params["b3"].shape[0]))
        return 0.0, {k: np.zeros_like(v) for k, v in self.params.items()}
'''


@pytest.mark.parametrize("fill", ["zeros", "ones"])
def test_constant_answers_score_zero(fill: str) -> None:
    code = LAZY.replace("np.zeros", f"np.{fill}")
    for seed in SEEDS:
        grades = A.grade(code, seed)
        assert {n: g.fraction for n, g in grades.items()} == {n: 0.0 for n in A.points()}, {
            n: g.message for n, g in grades.items() if g.fraction}


def test_overfitting_is_judged_on_the_weights_not_on_the_models_own_predictions(
        reference: str) -> None:
    """A model that learns nothing but, at test time, answers the labels it last saw."""
    cheat = mutate(reference, (
        "        if y is None:\n            return scores\n",
        "        if y is None:\n            return np.eye(10)[self.__dict__['_y']] * 100\n"
        "        self._y = y\n"), (REG_GRAD, "            grads[w] = 0 * grads[w]"),
        within=NET)
    grade = A.grade(cheat, 0, only="test_overfit")["test_overfit"]
    assert grade.fraction == 0.0 and "gets" in grade.message


def test_a_slow_network_runs_out_of_the_overfitting_tests_time(reference: str) -> None:
    slow = mutate(reference, ("        X = X.astype(self.dtype)\n",
                              "        import time\n        time.sleep(0.2)\n"
                              "        X = X.astype(self.dtype)\n"), within=NET)
    check = next(c for c in A.build(0) if c.name == "test_overfit")
    assert check.timeout == 30.0  # honest solutions: about 0.3 s (60 steps of a small net)
    grade = grade_code(slow, [replace(check, timeout=2.0)], A.points())["test_overfit"]
    assert grade.fraction == 0.0 and "ran out of time" in grade.message


def test_overfit_oracle_classifies_with_the_returned_weights() -> None:
    """The judge's forward pass is the network of the table (a hand-made check of one input)."""
    rng = np.random.default_rng(0)
    spec = checks.OVERFIT
    params = spec.weights(rng)
    X = rng.normal(size=(1, 1, 8, 8))
    xp = np.pad(X[0, 0], 1)
    conv = np.array([[[np.sum(xp[i:i + 3, j:j + 3] * params["W1"][f, 0]) + params["b1"][f]
                       for j in range(8)] for i in range(8)] for f in range(spec.F)])
    pooled = np.maximum(conv, 0).reshape(spec.F, 4, 2, 4, 2).max(axis=(2, 4))
    hidden = np.maximum(pooled.reshape(-1) @ params["W2"] + params["b2"], 0)
    scores = hidden @ params["W3"] + params["b3"]
    t = {k: checks.t64(v) for k, v in params.items()}
    assert np.allclose(checks.np64(checks._scores(spec, t, checks.t64(X)))[0], scores)


# --------------------------------------------------------------------------------------------
# The notebook
# --------------------------------------------------------------------------------------------


def test_notebook_is_stored_clean_with_nbgrader_structure() -> None:
    nb = nbformat.read(A.notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    solutions = [c for c in code if c.metadata.get("nbgrader", {}).get("solution")]
    tests = [c for c in code if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(solutions) == 4 and len(tests) == len(A.points()) == 5
    for c in solutions:
        assert c.source.count("### BEGIN SOLUTION") == c.source.count("### END SOLUTION") >= 1
        assert not c.metadata["nbgrader"]["locked"]
    for c in tests:
        assert c.metadata["nbgrader"]["locked"] and c.metadata["nbgrader"]["schema_version"] == 3
    statements = [c for c in nb.cells if c.cell_type == "markdown" and "### Exercise" in c.source]
    assert len(statements) == 4 and all(c.metadata["nbgrader"]["locked"] for c in statements)


def test_inline_questions_are_manually_graded_with_a_model_answer() -> None:
    cells = nbformat.read(A.notebook, as_version=4).cells
    answers = [i for i, c in enumerate(cells)
               if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("q_")]
    assert len(answers) == 3
    for i in answers:
        meta, question = cells[i].metadata["nbgrader"], cells[i - 1]
        assert cells[i].cell_type == "markdown" and meta["grade"] and meta["solution"]
        assert not meta["locked"] and meta["points"] in (1, 2)
        assert cells[i].source.startswith("### BEGIN SOLUTION\n")
        assert cells[i].source.rstrip().endswith("### END SOLUTION")
        qmeta = question.metadata["nbgrader"]
        assert question.cell_type == "markdown" and qmeta["locked"] and not qmeta["grade"]
        assert qmeta["grade_id"] == "md_" + meta["grade_id"]


def test_the_graded_network_gets_the_reference_layers_from_the_setup_imports() -> None:
    """In the sandbox the network's layer names come from the setup cell's import of
    cnnlib.layers; the cell that swaps in the student's own copies is not graded code."""
    units = dict(extract(A.notebook, A.notebook).units)
    assert "from cnnlib.layers import" in units["setup"]
    assert "conv_forward" in units["setup"] and "spatial_batchnorm_backward" in units["setup"]
    assert not any("load_student_layers" in code for code in units.values())
