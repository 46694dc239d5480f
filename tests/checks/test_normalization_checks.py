"""Hidden checks of 04_normalization that only this assignment has.

Every rule the notebook states is broken by one mutant of the reference solution, which must
lose points on the check of that exercise with a message that names the mistake; named mistakes
must not fire on unrelated wrong outputs; a shape slip earns the kit's partial credit with both
shapes named; Exercises 4 and 5 are graded apart; banned implementations, copies and constant
answers earn nothing. What every assignment's checks must do is in test_all_assignments.py.
"""

from __future__ import annotations

from dataclasses import replace

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _common import ASSIGNMENTS, SEEDS, assert_loses_points, assert_no_named_mistake, mutate
from fixtures.inprocess import grade_code

from autograder.checks import normalization as checks
from autograder.checks.kit import SHAPE_SLIP_CREDIT

A = ASSIGNMENTS["normalization"]  # also the assignment of the `reference` fixture

BN_UPDATE = ("running_mean = momentum * running_mean + (1 - momentum) * mu\n"
             "        running_var = momentum * running_var + (1 - momentum) * var")
GN_STATS = ("xg = x.reshape(N, G, -1)  # (N, G, C//G * H * W): channels of a group are neighbours\n"
            "    mu = xg.mean(axis=2, keepdims=True)\n    xc = xg - mu\n"
            "    std = np.sqrt((xc**2).mean(axis=2, keepdims=True) + eps)\n"
            "    x_hat = (xc / std).reshape(N, C, H, W)")


def test_cases_change_with_the_seed() -> None:
    def first_input(seed: int) -> np.ndarray:
        check = next(c for c in A.build(seed) if c.name == "test_batchnorm_forward")
        return check.cases[0].steps[1].args[0]

    assert np.array_equal(first_input(5), first_input(5))
    assert first_input(5).shape != first_input(6).shape or not np.allclose(
        first_input(5), first_input(6))


# rule broken -> (function it is in, replaced text, replacement, check, words of the feedback)
MUTANTS: dict[str, tuple[str | None, str, str, str, str]] = {
    # Exercise 1: the mean image, of the training set only
    "test set centred with its own mean image": (
        "subtract_mean_image", "X_test - mean_image, mean_image",
        "X_test - X_test.mean(axis=0), mean_image", "test_subtract_mean_image",
        "their own mean"),
    "per-channel mean instead of the mean image": (
        "subtract_mean_image", "mean_image = X_train.mean(axis=0)",
        "mean_image = X_train.mean(axis=(0, 2, 3), keepdims=True)[0]",
        "test_subtract_mean_image", "per-channel mean was subtracted"),
    # Exercise 2: one mean per channel, of the training set only
    "mean image instead of the channel means": (
        "subtract_channel_mean", "m = channel_mean[None, :, None, None]",
        "m = X_train.mean(axis=0)", "test_subtract_channel_mean", "mean image was subtracted"),
    "test set centred with its own channel means": (
        "subtract_channel_mean", "return X_train - m, X_test - m, channel_mean",
        "return X_train - m, X_test - X_test.mean(axis=(0, 2, 3), keepdims=True), channel_mean",
        "test_subtract_channel_mean", "own channel means"),
    # Exercise 3: batch norm forward
    "unbiased variance (1/(N-1))": (
        "batchnorm_forward", "var = (xc**2).mean(axis=0)", "var = (xc**2).sum(axis=0) / (N - 1)",
        "test_batchnorm_forward", "unbiased"),
    "eps outside the square root": (
        "batchnorm_forward", "std = np.sqrt(var + eps)", "std = np.sqrt(var) + eps",
        "test_batchnorm_forward", "outside the square root"),
    "no eps (a constant feature divides by zero)": (
        "batchnorm_forward", "std = np.sqrt(var + eps)", "std = np.sqrt(var)",
        "test_batchnorm_forward", "eps is missing"),
    "gamma and beta not applied": (
        "batchnorm_forward", "out = gamma * x_hat + beta\n        cache",
        "out = x_hat\n        cache", "test_batchnorm_forward", "gamma and beta were not applied"),
    "running averages not updated": (
        "batchnorm_forward", BN_UPDATE, "pass", "test_batchnorm_forward", "not updated"),
    "momentum convention reversed": (
        "batchnorm_forward", BN_UPDATE,
        "running_mean = (1 - momentum) * running_mean + momentum * mu\n"
        "        running_var = (1 - momentum) * running_var + momentum * var",
        "test_batchnorm_forward", "momentum convention is reversed"),
    "default momentum is not 0.9": (
        "batchnorm_forward", 'bn_param.get("momentum", 0.9)', 'bn_param.get("momentum", 0.99)',
        "test_batchnorm_forward", "the momentum is 0.99 instead of 0.9 (use bn_param's"),
    "momentum of bn_param ignored": (
        "batchnorm_forward", 'momentum = bn_param.get("momentum", 0.9)', "momentum = 0.9",
        "test_batchnorm_forward", "instead of"),
    "batch statistics at test time": (
        "batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
        "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)",
        "test_batchnorm_forward", "batch statistics are used at test time"),
    "eps outside the square root at test time": (
        "batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
        "x_hat = (x - running_mean) / (np.sqrt(running_var) + eps)",
        "test_batchnorm_forward", "outside the square root"),
    "running averages updated in test mode": (
        "batchnorm_forward", '    bn_param["running_mean"] = running_mean\n',
        '    if mode == "test":\n        running_mean = momentum * running_mean + (1 - momentum)'
        ' * x.mean(axis=0)\n    bn_param["running_mean"] = running_mean\n',
        "test_batchnorm_forward", "changed bn_param['running_mean'] in test mode"),
    # Exercise 4: backward through the graph
    "BN backward treats mean and variance as constants": (
        "batchnorm_backward", "dx = dxc + dmu / N", "dx = dx_hat / std",
        "test_batchnorm_backward", "treated as constants"),
    "BN backward without the mean's path": (
        "batchnorm_backward", "dx = dxc + dmu / N", "dx = dxc",
        "test_batchnorm_backward", "path through the mean is missing"),
    "BN backward without the variance's path": (
        "batchnorm_backward", "    dxc += 2 * xc * dvar / N  # var = mean(xc**2)\n", "",
        "test_batchnorm_backward", "path through the variance is missing"),
    "BN backward dgamma from x instead of x_hat": (
        "batchnorm_backward", "dgamma = (dout * x_hat).sum(axis=0)",
        "dgamma = (dout * xc).sum(axis=0)", "test_batchnorm_backward",
        "dout * (x - mu) instead of dout * x_hat"),
    # Exercise 5: the closed form
    "BN closed-form backward treats mean and variance as constants": (
        "batchnorm_backward_alt", "dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)",
        "dx = gamma / std * dout", "test_batchnorm_backward_alt", "treated as constants"),
    "BN closed-form backward without the mean term": (
        "batchnorm_backward_alt", "dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)",
        "dx = gamma / (N * std) * (N * dout - x_hat * dgamma)", "test_batchnorm_backward_alt",
        "path through the mean is missing"),
    # Exercise 6: spatial batch norm
    "spatial BN reshaped without moving the channel axis": (
        "spatial_batchnorm_forward",
        "x2 = x.transpose(0, 2, 3, 1).reshape(-1, C)  # channels last, then every pixel is a "
        "sample\n    out2, cache = batchnorm_forward(x2, gamma, beta, bn_param)\n"
        "    out = out2.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        "x2 = x.reshape(-1, C)\n    out2, cache = batchnorm_forward(x2, gamma, beta, bn_param)\n"
        "    out = out2.reshape(N, C, H, W)",
        "test_spatial_batchnorm", "without moving the channel axis"),
    "spatial BN statistics per channel and position": (
        "spatial_batchnorm_forward",
        "x2 = x.transpose(0, 2, 3, 1).reshape(-1, C)  # channels last, then every pixel is a "
        "sample\n    out2, cache = batchnorm_forward(x2, gamma, beta, bn_param)\n"
        "    out = out2.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        "x2 = x.transpose(0, 2, 3, 1).reshape(-1, C)\n"
        "    _, cache = batchnorm_forward(x2, gamma, beta, bn_param)\n"
        "    g, b, eps = gamma[:, None, None], beta[:, None, None], bn_param.get('eps', 1e-5)\n"
        "    out = g * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + b",
        "test_spatial_batchnorm", "per channel AND position"),
    "spatial BN backward without moving the channel axis": (
        "spatial_batchnorm_backward", "d2 = dout.transpose(0, 2, 3, 1).reshape(-1, C)",
        "d2 = dout.reshape(-1, C)", "test_spatial_batchnorm", "dx of spatial_batchnorm_backward"),
    # Exercise 7: layer norm
    "layer norm over the batch axis": (
        "layernorm_forward",
        "    mu = x.mean(axis=1, keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=1, keepdims=True) + eps)",
        "    mu = x.mean(axis=0, keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=0, keepdims=True) + eps)",
        "test_layernorm", "batch axis"),
    "layer norm breaks for a batch of one (squeeze)": (
        "layernorm_forward", "x_hat = xc / std", "x_hat = xc / std.squeeze()[:, None]",
        "test_layernorm", "for a batch of one"),
    "layer norm without a default eps": (
        "layernorm_forward", 'eps = ln_param.get("eps", 1e-5)', 'eps = ln_param["eps"]',
        "test_layernorm", "default eps"),
    "layer norm backward sums over the batch axis": (
        "layernorm_backward",
        "dx = (D * g - g.sum(axis=1, keepdims=True)\n"
        "          - x_hat * (g * x_hat).sum(axis=1, keepdims=True)) / (D * std)",
        "N = dout.shape[0]\n    dx = (N * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))"
        " / (N * std)", "test_layernorm", "sums run over the batch axis"),
    "layer norm dgamma over the features": (
        "layernorm_backward", "dgamma = (dout * x_hat).sum(axis=0)",
        "dgamma = (dout * x_hat).sum(axis=1)", "test_layernorm", "summed over the features"),
    # Exercise 8: instance norm
    "instance norm over batch-norm axes": (
        "instancenorm_forward",
        "    mu = x.mean(axis=(2, 3), keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=(2, 3), keepdims=True) + eps)",
        "    mu = x.mean(axis=(0, 2, 3), keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=(0, 2, 3), keepdims=True) + eps)",
        "test_instancenorm_forward", "that is batch norm"),
    "instance norm over layer-norm axes": (
        "instancenorm_forward",
        "    mu = x.mean(axis=(2, 3), keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=(2, 3), keepdims=True) + eps)",
        "    mu = x.mean(axis=(1, 2, 3), keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=(1, 2, 3), keepdims=True) + eps)",
        "test_instancenorm_forward", "that is layer norm"),
    "instance norm without eps (a constant map divides by zero)": (
        "instancenorm_forward", "std = np.sqrt((xc**2).mean(axis=(2, 3), keepdims=True) + eps)",
        "std = np.sqrt((xc**2).mean(axis=(2, 3), keepdims=True))",
        "test_instancenorm_forward", "constant"),
    "instance norm with another default eps": (
        None, "def instancenorm_forward(x, gamma, beta, eps=1e-5):",
        "def instancenorm_forward(x, gamma, beta, eps=1e-3):",
        "test_instancenorm_forward", "default eps"),
    # Exercise 9: group norm
    "group norm with one statistic per channel": (
        "spatial_groupnorm_forward", "xg = x.reshape(N, G, -1)", "xg = x.reshape(N, C, -1)",
        "test_spatial_groupnorm", "instance norm"),
    "group norm over all channels": (
        "spatial_groupnorm_forward", "xg = x.reshape(N, G, -1)", "xg = x.reshape(N, 1, -1)",
        "test_spatial_groupnorm", "layer norm"),
    "group norm with strided groups": (
        "spatial_groupnorm_forward", GN_STATS,
        "xg = x.reshape(N, C // G, G, H * W).transpose(0, 2, 1, 3).reshape(N, G, -1)\n"
        "    mu = xg.mean(axis=2, keepdims=True)\n    xc = xg - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=2, keepdims=True) + eps)\n"
        "    x_hat = (xc / std).reshape(N, G, C // G, H * W).transpose(0, 2, 1, 3)"
        ".reshape(N, C, H, W)",
        "test_spatial_groupnorm", "strided"),
    "group norm per pixel": (
        "spatial_groupnorm_forward", GN_STATS,
        "xg = x.reshape(N, G, C // G, H, W)\n"
        "    mu = xg.mean(axis=2, keepdims=True)\n    xc = xg - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=2, keepdims=True) + eps)\n"
        "    x_hat = (xc / std).reshape(N, C, H, W)",
        "test_spatial_groupnorm", "per pixel"),
    "group norm across the batch": (
        "spatial_groupnorm_forward", GN_STATS,
        "xg = x.reshape(N, G, -1)\n"
        "    mu = xg.mean(axis=(0, 2), keepdims=True)\n    xc = xg - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=(0, 2), keepdims=True) + eps)\n"
        "    x_hat = (xc / std).reshape(N, C, H, W)",
        "test_spatial_groupnorm", "include the batch axis"),
    "group norm breaks for G = 1 (squeeze)": (
        "spatial_groupnorm_forward", "xg = x.reshape(N, G, -1)",
        "xg = x.reshape(N, G, -1).squeeze()", "test_spatial_groupnorm", "(G=1)"),
    "group norm backward treats the statistics as constants": (
        "spatial_groupnorm_backward",
        "dx = (M * g - g.sum(axis=2, keepdims=True)\n"
        "          - xh * (g * xh).sum(axis=2, keepdims=True)) / (M * std)",
        "dx = g / std", "test_spatial_groupnorm", "treated as constants"),
    # Exercise 10: folding
    "folding forgets the running mean": (
        "fold_batchnorm", "(b - running_mean) * scale + beta", "b * scale + beta",
        "test_fold_batchnorm", "running mean was not subtracted"),
    "folding with eps outside the square root": (
        "fold_batchnorm", "scale = gamma / np.sqrt(running_var + eps)",
        "scale = gamma / (np.sqrt(running_var) + eps)",
        "test_fold_batchnorm", "outside the square root"),
    "folding does not scale the conv bias": (
        "fold_batchnorm", "(b - running_mean) * scale + beta", "b - running_mean * scale + beta",
        "test_fold_batchnorm", "conv bias was not scaled"),
    "folding with another default eps": (
        None, "def fold_batchnorm(w, b, gamma, beta, running_mean, running_var, eps=1e-5):",
        "def fold_batchnorm(w, b, gamma, beta, running_mean, running_var, eps=1e-3):",
        "test_fold_batchnorm", "default eps"),
    # Exercise 11: dropout
    "dropout not rescaled": (
        "dropout_forward", "mask = (rng.random(x.shape) >= p) / (1 - p)",
        "mask = (rng.random(x.shape) >= p) * 1.0", "test_dropout", "not rescaled"),
    "dropout multiplies by (1 - p)": (
        "dropout_forward", "mask = (rng.random(x.shape) >= p) / (1 - p)",
        "mask = (rng.random(x.shape) >= p) * (1 - p)", "test_dropout", "multiplied by (1 - p)"),
    "dropout keeps with probability p": (
        "dropout_forward", "mask = (rng.random(x.shape) >= p) / (1 - p)",
        "mask = (rng.random(x.shape) < p) / p", "test_dropout", "probability of KEEPING"),
    "dropout active at test time": (
        "dropout_forward", "        out = x\n",
        "        out = x * (rng.random(x.shape) >= p) / (1 - p)\n",
        "test_dropout", "active at test time"),
    "dropout scales at test time": (
        "dropout_forward", "        out = x\n", "        out = x * (1 - p)\n",
        "test_dropout", "test mode scales by (1 - p)"),
    "dropout ignores the seed": (
        "dropout_forward", 'rng = np.random.default_rng(dropout_param.get("seed"))',
        "rng = np.random.default_rng()", "test_dropout", "two different masks"),
    "dropout with a fixed seed": (
        "dropout_forward", 'rng = np.random.default_rng(dropout_param.get("seed"))',
        "rng = np.random.default_rng(0)", "test_dropout", "not from a fixed seed"),
    "dropout backward not rescaled": (
        "dropout_backward", "return dout * mask", "return dout * (mask != 0)",
        "test_dropout", "dx is not rescaled"),
    "dropout backward scales in test mode": (
        "dropout_backward", "    return dout\n", "    return dout / (1 - dropout_param['p'])\n",
        "test_dropout", "dx of dropout_backward in test mode"),
}


@pytest.mark.parametrize("mistake", list(MUTANTS))
def test_mutant_loses_points_and_is_named(reference: str, mistake: str) -> None:
    within, old, new, check, words = MUTANTS[mistake]
    code = mutate(reference, (old, new), within=within)
    assert_loses_points(A, code, check, words, seeds=(0, 1), only=True)


# --------------------------------------------------------------------------------------------
# Diagnoses fire on their fingerprint only
# --------------------------------------------------------------------------------------------

# (function, replaced text, an unrelated slip, check)
UNRELATED: list[tuple[str, str, str, str]] = [
    ("subtract_mean_image", "return X_train - mean_image, X_test - mean_image, mean_image",
     "return 1.01 * X_train - mean_image, X_test - 1.01 * mean_image, 1.01 * mean_image",
     "test_subtract_mean_image"),
    ("subtract_channel_mean", "return X_train - m, X_test - m, channel_mean",
     "return X_train - 0.9 * m, X_test - 0.9 * m, 0.9 * channel_mean",
     "test_subtract_channel_mean"),
    ("batchnorm_forward", "out = gamma * x_hat + beta\n        cache",
     "out = gamma * x_hat + 1.1 * beta\n        cache", "test_batchnorm_forward"),
    ("batchnorm_forward", BN_UPDATE,
     "running_mean = 0.5 * running_mean + 0.4 * mu\n"
     "        running_var = 0.5 * running_var + 0.4 * var", "test_batchnorm_forward"),
    ("batchnorm_forward", "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
     "x_hat = (x - running_mean) / np.sqrt(running_var + 3 * eps + 0.1)",
     "test_batchnorm_forward"),
    ("batchnorm_backward", "dx = dxc + dmu / N", "dx = 1.05 * dxc + dmu / N",
     "test_batchnorm_backward"),
    ("batchnorm_backward_alt", "dx = gamma / (N * std)", "dx = 1.05 * gamma / (N * std)",
     "test_batchnorm_backward_alt"),
    ("layernorm_forward", "out = gamma * x_hat + beta", "out = gamma * x_hat + beta + 0.01",
     "test_layernorm"),
    ("instancenorm_forward", "out = gamma[None, :, None, None] * x_hat",
     "out = 1.1 * gamma[None, :, None, None] * x_hat", "test_instancenorm_forward"),
    ("spatial_groupnorm_forward", "out = gamma * x_hat + beta", "out = gamma * x_hat - beta",
     "test_spatial_groupnorm"),
    ("fold_batchnorm", "(b - running_mean) * scale + beta", "(b - running_mean) * scale - beta",
     "test_fold_batchnorm"),
    ("dropout_forward", "mask = (rng.random(x.shape) >= p) / (1 - p)",
     "mask = (rng.random(x.shape) >= p) / (1 - p) * 1.1", "test_dropout"),
]


@pytest.mark.parametrize(("within", "old", "new", "check"), UNRELATED,
                         ids=[f"{u[0]}: {u[2][:30]}" for u in UNRELATED])
def test_no_named_mistake_on_an_unrelated_wrong_output(reference: str, within: str, old: str,
                                                      new: str, check: str) -> None:
    assert_no_named_mistake(A, mutate(reference, (old, new), within=within), check,
                            shape_hint_allowed=False)


def test_a_constant_feature_alone_catches_a_missing_eps(reference: str) -> None:
    """The zero-variance rule has its own case: NaN where a feature is constant."""
    code = mutate(reference, ("std = np.sqrt(var + eps)", "std = np.sqrt(var)"),
                  within="batchnorm_forward")
    for seed in SEEDS:
        check = next(c for c in A.build(seed) if c.name == "test_batchnorm_forward")
        constant = [case for case in check.cases if case.steps[0].func == "batchnorm_forward"
                    and np.any(case.steps[0].args[0].var(axis=0) == 0)]
        assert len(constant) == 1
        grade = grade_code(code, [replace(check, cases=constant)], A.points())[check.name]
        assert grade.fraction == 0.0
        assert "constant in the batch is wrong: it contains nan" in grade.message


def test_no_shape_hint_on_a_right_shape() -> None:
    """A right-shaped wrong result is never called a shape slip."""
    verdict = checks.expect_close(np.ones(3), np.zeros(3), "dbeta")
    assert "shape" not in verdict.message


# --------------------------------------------------------------------------------------------
# The shape policy: (1, D) for (D,) with every value right
# --------------------------------------------------------------------------------------------


def test_keepdims_in_the_backward_earns_partial_credit_naming_the_shapes(reference: str) -> None:
    code = mutate(reference, ("dbeta = dout.sum(axis=0)",
                              "dbeta = dout.sum(axis=0, keepdims=True)"),
                  ("dgamma = (dout * x_hat).sum(axis=0)",
                   "dgamma = (dout * x_hat).sum(axis=0, keepdims=True)"),
                  within="batchnorm_backward")
    for seed in SEEDS:
        grade = A.grade(code, seed, only="test_batchnorm_backward")["test_batchnorm_backward"]
        # dx (weight 2) right, dgamma and dbeta (weight 1 each) at the slip's credit
        assert grade.fraction == pytest.approx((2 + 2 * SHAPE_SLIP_CREDIT) / 4)
        d = next(c for c in A.build(seed) if c.name == "test_batchnorm_backward").cases[0] \
            .steps[1].args[0].shape[1]
        assert f"the shape is (1, {d}), expected ({d},) (keepdims=True?)" in grade.message


def test_keepdims_running_mean_earns_partial_credit(reference: str) -> None:
    code = mutate(reference, ("mu = x.mean(axis=0)\n", "mu = x.mean(axis=0, keepdims=True)\n"),
                  within="batchnorm_forward")
    grade = A.grade(code, 0, only="test_batchnorm_forward")["test_batchnorm_forward"]
    assert 0.5 < grade.fraction < 1.0
    assert "running_mean after a train step: every value is right but the shape is (1, " \
        in grade.message


def test_groupnorm_dgamma_of_shape_c_earns_partial_credit(reference: str) -> None:
    code = mutate(reference, ("return dx.reshape(N, C, H, W), dgamma, dbeta",
                              "return dx.reshape(N, C, H, W), dgamma.ravel(), dbeta.ravel()"),
                  within="spatial_groupnorm_backward")
    grade = A.grade(code, 0, only="test_spatial_groupnorm")["test_spatial_groupnorm"]
    assert 0.5 < grade.fraction < 1.0
    assert "expected (1, " in grade.message and "every value is right" in grade.message


# --------------------------------------------------------------------------------------------
# Exercises 4 and 5 graded apart; bans
# --------------------------------------------------------------------------------------------


def test_backward_and_alt_have_their_own_cases() -> None:
    built = {c.name: c for c in A.build(0)}
    graph, alt = built["test_batchnorm_backward"], built["test_batchnorm_backward_alt"]
    inputs = [case.steps[0].args[0] for case in graph.cases]
    assert all(not any(x.shape == case.steps[0].args[0].shape and np.allclose(
        x, case.steps[0].args[0]) for x in inputs) for case in alt.cases)
    assert "batchnorm_backward" in alt.bans and "batchnorm_backward_alt" in graph.bans


def _graph_version(reference: str) -> str:
    """The body of batchnorm_backward (after its docstring)."""
    start = reference.index("    ### BEGIN SOLUTION\n    x_hat, xc, std, gamma = cache\n"
                            "    N = dout.shape[0]\n    dbeta = dout.sum(axis=0)\n"
                            "    dgamma = (dout * x_hat).sum(axis=0)\n    dx_hat")
    return reference[start: reference.index("    return dx, dgamma, dbeta\n", start)] + \
        "    return dx, dgamma, dbeta\n"


def test_graph_version_pasted_into_the_alt_earns_nothing_there(reference: str) -> None:
    alt_body = ("    ### BEGIN SOLUTION\n    x_hat, xc, std, gamma = cache\n    N = dout.shape[0]\n"
                "    dbeta = dout.sum(axis=0)\n    dgamma = (dout * x_hat).sum(axis=0)\n"
                "    dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)\n"
                "    return dx, dgamma, dbeta\n")
    pasted = _graph_version(reference).replace("dxc", "d_xc").replace("dmu", "d_mu")
    code = mutate(reference, (alt_body, pasted), within="batchnorm_backward_alt")
    grades = A.grade(code, 0)
    assert grades["test_batchnorm_backward"].fraction == 1.0
    assert grades["test_batchnorm_backward_alt"].fraction == 0.0
    assert "is a copy of batchnorm_backward" in grades["test_batchnorm_backward_alt"].message


@pytest.mark.parametrize(("within", "body", "check", "words"), [
    ("batchnorm_backward_alt", "    return batchnorm_backward(dout, cache)\n",
     "test_batchnorm_backward_alt", "uses batchnorm_backward"),
    ("batchnorm_backward", "    return batchnorm_backward_alt(dout, cache)\n",
     "test_batchnorm_backward", "uses batchnorm_backward_alt"),
])
def test_one_backward_calling_the_other_earns_nothing(reference: str, within: str, body: str,
                                                      check: str, words: str) -> None:
    code = mutate(reference, ("    ### BEGIN SOLUTION\n    x_hat, xc, std, gamma = cache\n",
                              body + "    x_hat, xc, std, gamma = cache\n"), within=within)
    grade = A.grade(code, 0, only=check)[check]
    assert grade.fraction == 0.0 and words in grade.message


READY_MADE = {
    "torch's batch_norm": (
        "batchnorm_forward", "    if mode == \"train\":\n",
        "    if mode == \"train\" and False:\n        pass\n    elif mode == \"train\":\n"
        "        import torch\n        out = torch.nn.functional.batch_norm(torch.tensor(x), "
        "None, None, torch.tensor(gamma), torch.tensor(beta), training=True, eps=eps).numpy()\n"
        "        mu, var = x.mean(0), x.var(0)\n        cache = None\n"
        "        running_mean = momentum * running_mean + (1 - momentum) * mu\n"
        "        running_var = momentum * running_var + (1 - momentum) * var\n"
        "    elif False:\n",
        "test_batchnorm_forward", "torch.nn.functional.batch_norm"),
    "the course library's fold": (
        "fold_batchnorm", "    scale = gamma / np.sqrt(running_var + eps)\n",
        "    from cnnlib.lessons import normalization as lesson\n    lesson.fold_bn_into_conv\n"
        "    scale = gamma / np.sqrt(running_var + eps)\n",
        "test_fold_batchnorm", "cnnlib.lessons"),
    "scipy's zscore": (
        "instancenorm_forward", "    x_hat = xc / std\n",
        "    from scipy import stats\n    x_hat = stats.zscore(x, axis=(2, 3))\n",
        "test_instancenorm_forward", "scipy.stats.zscore"),
    "sklearn's StandardScaler": (
        "subtract_channel_mean", "    channel_mean = X_train.mean(axis=(0, 2, 3))\n",
        "    from sklearn.preprocessing import StandardScaler\n    StandardScaler\n"
        "    channel_mean = X_train.mean(axis=(0, 2, 3))\n",
        "test_subtract_channel_mean", "sklearn.preprocessing.StandardScaler"),
}


@pytest.mark.parametrize("what", list(READY_MADE))
def test_ready_made_implementations_cost_the_points_with_a_reason(reference: str,
                                                                  what: str) -> None:
    within, old, new, check, words = READY_MADE[what]
    code = mutate(reference, (old, new), within=within)
    grade = A.grade(code, 0, only=check)[check]
    assert grade.fraction == 0.0
    assert words in grade.message and "may not use" in grade.message


# --------------------------------------------------------------------------------------------
# No free points
# --------------------------------------------------------------------------------------------

LAZY = '''
import numpy as np

def subtract_mean_image(X_train, X_test):
    return np.zeros_like(X_train), np.zeros_like(X_test), np.zeros(X_train.shape[1:])

def subtract_channel_mean(X_train, X_test):
    return np.zeros_like(X_train), np.zeros_like(X_test), np.zeros(X_train.shape[1])

def batchnorm_forward(x, gamma, beta, bn_param):
    return np.zeros_like(x), None

def batchnorm_backward(dout, cache):
    return np.zeros_like(dout), np.zeros(dout.shape[1]), np.zeros(dout.shape[1])

batchnorm_backward_alt = batchnorm_backward
spatial_batchnorm_forward = batchnorm_forward
spatial_batchnorm_backward = batchnorm_backward
layernorm_forward = batchnorm_forward
layernorm_backward = batchnorm_backward
instancenorm_forward = batchnorm_forward

def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    return np.zeros_like(x), None

def spatial_groupnorm_backward(dout, cache):
    z = np.zeros((1, dout.shape[1], 1, 1))
    return np.zeros_like(dout), z, z

def fold_batchnorm(w, b, gamma, beta, running_mean, running_var, eps=1e-5):
    return np.zeros_like(w), np.zeros_like(b)

def dropout_forward(x, dropout_param):
    return np.zeros_like(x), (dropout_param, None)

def dropout_backward(dout, cache):
    return np.zeros_like(dout)
'''


@pytest.mark.parametrize("fill", ["zeros", "ones"])
def test_constant_answers_score_zero(fill: str) -> None:
    code = LAZY.replace("np.zeros", f"np.{fill}")
    for seed in SEEDS:
        grades = A.grade(code, seed)
        assert {n: g.fraction for n, g in grades.items()} == {n: 0.0 for n in A.points()}, {
            n: g.message for n, g in grades.items() if g.fraction}


def test_hard_coded_visible_answers_earn_nothing() -> None:
    """The visible test of Exercise 2 answered with constants instead of computing."""
    fake = '''
import numpy as np

def subtract_channel_mean(X_train, X_test):
    cm = np.array([1.5, 2.0, 3.0])
    return X_train - cm[None, :, None, None], X_test - cm[None, :, None, None], cm
'''
    verdict = A.grade(fake, 0, only="test_subtract_channel_mean")["test_subtract_channel_mean"]
    assert verdict.fraction == 0.0


# --------------------------------------------------------------------------------------------
# Dropout: any generator, independent cases
# --------------------------------------------------------------------------------------------


def test_dropout_check_accepts_any_random_generator(reference: str) -> None:
    """Masks from the legacy np.random.seed are fine too: the check tests properties."""
    legacy = mutate(reference, (
        'rng = np.random.default_rng(dropout_param.get("seed"))',
        'np.random.seed(dropout_param.get("seed"))\n    rng = np.random'))
    for seed in SEEDS:
        assert A.grade(legacy, seed, only="test_dropout")["test_dropout"].fraction == 1.0


def test_dropout_cases_are_independent(reference: str) -> None:
    """Ignoring the seed costs the same-seed case only, with its own message."""
    code = mutate(reference, ('rng = np.random.default_rng(dropout_param.get("seed"))',
                              "rng = np.random.default_rng()"))
    check = next(c for c in A.build(0) if c.name == "test_dropout")
    total = sum(case.weight for case in check.cases)
    grade = A.grade(code, 0, only="test_dropout")["test_dropout"]
    assert grade.fraction == pytest.approx((total - 0.5) / total)
    assert grade.message.startswith("1 of 9 cases wrong: ")


# --------------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------------


def test_fold_oracle_equals_conv_then_test_mode_batch_norm() -> None:
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
    gamma, beta, rm = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
    rv, eps = rng.uniform(0.1, 2, size=4), 1e-3
    w_f, b_f = checks.fold_oracle(w, b, gamma, beta, rm, rv, eps)
    T = torch.tensor
    x = T(rng.normal(size=(2, 3, 7, 6)))
    ref = F.batch_norm(F.conv2d(x, T(w), T(b), padding=1), T(rm), T(rv), T(gamma), T(beta),
                       training=False, eps=eps)
    assert torch.allclose(F.conv2d(x, T(w_f), T(b_f), padding=1), ref, rtol=1e-10, atol=1e-12)


def test_backward_variants_are_the_gradients_they_name() -> None:
    """Each named wrong dx is the gradient of batch norm with that statistic held constant."""
    rng = np.random.default_rng(1)
    x, g, dout = rng.normal(size=(6, 3)) * 2 + 1, rng.normal(size=3), rng.normal(size=(6, 3))
    eps = 1e-2
    got = checks._dx_variants(x, dout * g, (0,), eps)
    for name, mean_const, var_const in ((checks.CONSTANT_STATS, True, True),
                                        (checks.NO_MEAN_PATH, True, False),
                                        (checks.NO_VAR_PATH, False, True)):
        xt = torch.tensor(x, requires_grad=True)
        mu, var = xt.mean(0), ((xt - xt.mean(0)) ** 2).mean(0)
        mu = mu.detach() if mean_const else mu
        var = var.detach() if var_const else var
        out = torch.tensor(g) * (xt - mu) / (var + eps).sqrt()
        (out * torch.tensor(dout)).sum().backward()
        assert np.allclose(got[name], xt.grad.numpy(), rtol=1e-10, atol=1e-12), name


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
    assert len(solutions) == len(tests) == len(A.points()) == 11
    for c in solutions:
        assert c.source.count("### BEGIN SOLUTION") == c.source.count("### END SOLUTION") >= 1
        assert not c.metadata["nbgrader"]["locked"]
    for c in tests:
        assert c.metadata["nbgrader"]["locked"] and c.metadata["nbgrader"]["schema_version"] == 3
        assert "### BEGIN HIDDEN TESTS" in c.source and "### END HIDDEN TESTS" in c.source
    statements = [c for c in nb.cells if c.cell_type == "markdown"
                  and c.source.lstrip("#").lstrip().startswith(("Exercise", "5. Batch norm"))]
    assert statements and all(c.metadata["nbgrader"]["locked"] for c in statements)


def test_inline_questions_are_manually_graded_with_a_model_answer() -> None:
    nb = nbformat.read(A.notebook, as_version=4)
    cells = nb.cells
    answers = [i for i, c in enumerate(cells)
               if c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("q_")]
    assert len(answers) >= 2
    for i in answers:
        meta, question = cells[i].metadata["nbgrader"], cells[i - 1]
        assert cells[i].cell_type == "markdown" and meta["grade"] and meta["solution"]
        assert not meta["locked"] and meta["points"] in (1, 2)
        assert cells[i].source.startswith("### BEGIN SOLUTION\n")
        assert cells[i].source.rstrip().endswith("### END SOLUTION")
        qmeta = question.metadata["nbgrader"]
        assert question.cell_type == "markdown" and qmeta["locked"] and not qmeta["grade"]
        assert qmeta["grade_id"] == "md_" + meta["grade_id"]


@pytest.mark.slow
def test_source_notebook_scores_full_marks_through_the_sandbox() -> None:
    """The self-check (the same checks, public cases, the real sandbox, the visible tests)."""
    from autograder.selfcheck import check

    report = check(A.notebook, progress=False)
    assert [(r.grade_id, r.message, r.visible) for r in report.results if not r.passed] == []
    assert report.points == sum(A.points().values()) == 28
