"""Hidden checks of 04_normalization that only this assignment has.

Mutants of each normalization (cnnlib is not importable in the sandbox, so the reference drops
its import, see _common.py) must lose points on the named check with a message that names the
mistake; hard-coded answers earn nothing, any random generator is fine for dropout, and the
notebook keeps its nbgrader structure. What every assignment's checks must do is in
test_all_assignments.py.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
from _common import ASSIGNMENTS, assert_loses_points, mutate

from autograder.checks import normalization

A = ASSIGNMENTS["normalization"]  # also the assignment of the `reference` fixture


def test_same_seed_same_cases_and_verdicts(reference: str) -> None:
    a, b, c = A.build(5), A.build(5), A.build(6)
    xa, xb, xc = (chk[2].steps[1].args[0] for chk in (a, b, c))
    assert np.array_equal(xa, xb)
    assert xa.shape != xc.shape or not np.allclose(xa, xc)


# (what is replaced, by what, check that must lose points, words the feedback must contain)
MUTANTS: dict[str, tuple[str, str, str, str]] = {
    "test set centred with its own mean image": (
        "return X_train - mean_image, X_test - mean_image, mean_image",
        "return X_train - mean_image, X_test - X_test.mean(axis=0), mean_image",
        "test_subtract_mean_image", "their own mean"),
    "channel mean replaced by the mean image": (
        "m = channel_mean[None, :, None, None]", "m = X_train.mean(axis=0)",
        "test_subtract_channel_mean", "mean image was subtracted"),
    "unbiased variance (1/(m-1))": (
        "var = (xc**2).mean(axis=0)", "var = (xc**2).sum(axis=0) / (N - 1)",
        "test_batchnorm_forward", "unbiased"),
    "running averages not updated": (
        "running_mean = momentum * running_mean + (1 - momentum) * mu\n"
        "        running_var = momentum * running_var + (1 - momentum) * var",
        "pass", "test_batchnorm_forward", "not updated"),
    "momentum convention reversed": (
        "running_mean = momentum * running_mean + (1 - momentum) * mu\n"
        "        running_var = momentum * running_var + (1 - momentum) * var",
        "running_mean = (1 - momentum) * running_mean + momentum * mu\n"
        "        running_var = (1 - momentum) * running_var + momentum * var",
        "test_batchnorm_forward", "momentum convention is reversed"),
    "batch statistics at test time": (
        "x_hat = (x - running_mean) / np.sqrt(running_var + eps)",
        "x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)",
        "test_batchnorm_forward", "batch statistics are used at test time"),
    "eps outside the square root": (
        "std = np.sqrt(var + eps)", "std = np.sqrt(var) + eps",
        "test_batchnorm_forward", "outside the square root"),
    "BN backward treats mean and variance as constants": (
        "dx = dxc + dmu / N", "dx = dx_hat / std",
        "test_batchnorm_backward", "treated as constants"),
    "BN closed-form backward treats mean and variance as constants": (
        "dx = gamma / (N * std) * (N * dout - dbeta - x_hat * dgamma)", "dx = gamma / std * dout",
        "test_batchnorm_backward_alt", "treated as constants"),
    "spatial BN reshaped without moving the channel axis": (
        "x2 = x.transpose(0, 2, 3, 1).reshape(-1, C)  # channels last, then every pixel is a "
        "sample\n    out2, cache = batchnorm_forward(x2, gamma, beta, bn_param)\n"
        "    out = out2.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
        "x2 = x.reshape(-1, C)\n    out2, cache = batchnorm_forward(x2, gamma, beta, bn_param)\n"
        "    out = out2.reshape(N, C, H, W)",
        "test_spatial_batchnorm", "without moving the channel axis"),
    "layer norm over the batch axis": (
        "    mu = x.mean(axis=1, keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=1, keepdims=True) + eps)",
        "    mu = x.mean(axis=0, keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=0, keepdims=True) + eps)",
        "test_layernorm", "batch axis"),
    "instance norm over batch-norm axes": (
        "    mu = x.mean(axis=(2, 3), keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=(2, 3), keepdims=True) + eps)",
        "    mu = x.mean(axis=(0, 2, 3), keepdims=True)\n    xc = x - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=(0, 2, 3), keepdims=True) + eps)",
        "test_instancenorm_forward", "that is batch norm"),
    "group norm with one statistic per channel": (
        "xg = x.reshape(N, G, -1)", "xg = x.reshape(N, C, -1)",
        "test_spatial_groupnorm", "instance norm"),
    "group norm over all channels": (
        "xg = x.reshape(N, G, -1)", "xg = x.reshape(N, 1, -1)",
        "test_spatial_groupnorm", "layer norm"),
    "group norm with strided groups": (
        "xg = x.reshape(N, G, -1)  # (N, G, C//G * H * W): channels of a group are neighbours\n"
        "    mu = xg.mean(axis=2, keepdims=True)\n    xc = xg - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=2, keepdims=True) + eps)\n"
        "    x_hat = (xc / std).reshape(N, C, H, W)",
        "xg = x.reshape(N, C // G, G, H * W).transpose(0, 2, 1, 3).reshape(N, G, -1)\n"
        "    mu = xg.mean(axis=2, keepdims=True)\n    xc = xg - mu\n"
        "    std = np.sqrt((xc**2).mean(axis=2, keepdims=True) + eps)\n"
        "    x_hat = (xc / std).reshape(N, G, C // G, H * W).transpose(0, 2, 1, 3)"
        ".reshape(N, C, H, W)",
        "test_spatial_groupnorm", "strided"),
    "dropout not rescaled": (
        "mask = (rng.random(x.shape) >= p) / (1 - p)", "mask = (rng.random(x.shape) >= p) * 1.0",
        "test_dropout", "not rescaled"),
    "dropout active at test time": (
        "        out = x\n", "        out = x * (rng.random(x.shape) >= p) / (1 - p)\n",
        "test_dropout", "active at test time"),
    "dropout keeps with probability p": (
        "mask = (rng.random(x.shape) >= p) / (1 - p)", "mask = (rng.random(x.shape) < p) / p",
        "test_dropout", "probability of KEEPING"),
    "dropout ignores the seed": (
        'rng = np.random.default_rng(dropout_param.get("seed"))', "rng = np.random.default_rng()",
        "test_dropout", "same seed"),
    "folding forgets the running mean": (
        "(b - running_mean) * scale + beta", "b * scale + beta",
        "test_fold_batchnorm", "running mean was not subtracted"),
    "folding with eps outside the square root": (
        "scale = gamma / np.sqrt(running_var + eps)",
        "scale = gamma / (np.sqrt(running_var) + eps)",
        "test_fold_batchnorm", "outside the square root"),
}


@pytest.mark.parametrize("mistake", list(MUTANTS))
def test_mutant_loses_points_and_is_named(reference: str, mistake: str) -> None:
    old, new, check, words = MUTANTS[mistake]
    assert_loses_points(A, mutate(reference, (old, new)), check, words, seeds=(0, 1), only=True)


def test_hard_coded_visible_answers_earn_nothing(reference: str) -> None:
    """The visible test of Exercise 2 answered with constants instead of computing."""
    fake = '''
import nbformat
import numpy as np

def subtract_channel_mean(X_train, X_test):
    cm = np.array([1.5, 2.0, 3.0])
    return X_train - cm[None, :, None, None], X_test - cm[None, :, None, None], cm
'''
    verdict = A.grade(fake, 0, only="test_subtract_channel_mean")["test_subtract_channel_mean"]
    assert verdict.fraction == 0.0
    assert "channel_mean" in verdict.message


def test_dropout_check_accepts_any_random_generator(reference: str) -> None:
    """Masks from the legacy np.random.seed are fine too: the check tests properties."""
    legacy = reference.replace(
        'rng = np.random.default_rng(dropout_param.get("seed"))',
        'np.random.seed(dropout_param.get("seed"))\n    rng = np.random')
    assert legacy != reference
    for seed in (0, 1, 2):
        assert A.grade(legacy, seed, only="test_dropout")["test_dropout"].fraction == 1.0


def test_notebook_is_stored_clean_with_nbgrader_structure() -> None:
    nb = nbformat.read(A.notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1
    solutions = [c for c in code if c.metadata.get("nbgrader", {}).get("solution")]
    tests = [c for c in code if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(solutions) == len(tests) == len(normalization.POINTS)
    for c in solutions:
        assert c.source.count("### BEGIN SOLUTION") == c.source.count("### END SOLUTION") >= 1
        assert not c.metadata["nbgrader"]["locked"]
    for c in tests:
        assert c.metadata["nbgrader"]["locked"] and c.metadata["nbgrader"]["schema_version"] == 3
        assert "### BEGIN HIDDEN TESTS" in c.source and "### END HIDDEN TESTS" in c.source
    statements = [c for c in nb.cells if c.cell_type == "markdown"
                  and c.source.lstrip("#").lstrip().startswith(("Exercise", "5. Batch norm"))]
    assert statements and all(c.metadata["nbgrader"]["locked"] for c in statements)


@pytest.mark.slow
def test_source_notebook_scores_full_marks_through_the_sandbox() -> None:
    from autograder.grade import grade_notebook

    result = grade_notebook(normalization.ASSIGNMENT, A.notebook, seed=3, source_nb=A.notebook)
    assert result.total == result.max_total == sum(normalization.POINTS.values()) == 28, [
        (r.name, r.message) for r in result.results if r.points < r.max_points]
