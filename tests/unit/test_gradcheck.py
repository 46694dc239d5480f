from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlib import gradcheck as gc


def test_rel_error() -> None:
    assert gc.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert np.isclose(gc.rel_error([1.0], [3.0]), 0.5)
    with pytest.raises(ValueError, match="shapes differ"):
        gc.rel_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_of_scalar_and_array_functions() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    before = x.copy()
    g = gc.numerical_gradient(lambda v: float(np.sum(v**2)), x)
    assert np.allclose(g, 2 * x, atol=1e-6) and np.array_equal(x, before)
    df = rng.standard_normal((3, 4))
    g = gc.numerical_gradient_array(np.sin, x, df)
    assert np.allclose(g, np.cos(x) * df, atol=1e-8)
    with pytest.raises(TypeError, match="floating-point"):
        gc.numerical_gradient(np.sum, np.arange(3))


def test_report_points_at_the_planted_error() -> None:
    rng = np.random.default_rng(1)
    good = rng.standard_normal((2, 3, 4))
    bad = good.copy()
    bad[1, 2, 0] += 0.5
    r = gc.grad_report(bad, good, "dw")
    assert not r.passed and r.worst_index == (1, 2, 0)
    assert "dw" in str(r) and "(1, 2, 0)" in str(r) and "FAILED" in str(r)
    assert gc.grad_report(good, good).passed
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\), expected \(3,\)"):
        gc.grad_report(good, np.zeros(3))


def _affine_forward(x, w, b):
    return x @ w + b, (x, w)


def _affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(0)


def _broken_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x[:1].T @ dout[:1], dout.sum(0)  # dw from one example only


def test_compare_with_autograd_passes_a_right_layer_and_catches_a_wrong_one() -> None:
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)]
    oracle = lambda x, w, b: x @ w + b  # noqa: E731
    ok = gc.compare_with_autograd(_affine_forward, _affine_backward, oracle, arrays)
    assert set(ok) == {"out", "dx", "dw", "db"} and all(r.passed for r in ok.values())
    bad = gc.compare_with_autograd(_affine_forward, _broken_backward, oracle, arrays)
    assert bad["dx"].passed and not bad["dw"].passed and bad["db"].passed
    one = gc.compare_with_autograd(lambda x: (np.tanh(x), x), lambda d, x: d / np.cosh(x) ** 2,
                                   torch.tanh, [rng.standard_normal(6)])
    assert one["dx"].passed
