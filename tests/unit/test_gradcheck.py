from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cnnlib import gradcheck as gc


def test_rel_error() -> None:
    assert gc.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert np.isclose(gc.rel_error([1.0], [3.0]), 0.5)
    assert np.isclose(gc.rel_error([0.0, 1.0], [0.0, 1.1]), 0.1 / 2.1)  # max over elements
    with pytest.raises(ValueError, match=r"shapes differ, \(2,\) vs \(3,\)"):
        gc.rel_error(np.zeros(2), np.zeros(3))


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 4)),
              elements=st.floats(-3, 3)))
def test_numerical_gradient_of_a_cubic_matches_calculus(x: np.ndarray) -> None:
    before = x.copy()
    g = gc.numerical_gradient(lambda v: float(np.sum(v**3 + 2 * v)), x)
    assert g.dtype == np.float64 and g.shape == x.shape
    assert np.allclose(g, 3 * before**2 + 2, atol=1e-5)
    assert np.array_equal(x, before)  # perturbations undone


def test_numerical_gradient_of_scalar_and_array_functions() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    before = x.copy()
    g = gc.numerical_gradient(lambda v: float(np.sum(v**2)), x)
    assert np.allclose(g, 2 * x, atol=1e-6) and np.array_equal(x, before)
    df = rng.standard_normal((3, 4))
    g = gc.numerical_gradient_array(np.sin, x, df)
    assert np.allclose(g, np.cos(x) * df, atol=1e-8) and np.array_equal(x, before)
    # f that changes shape: d/dx of sum((x @ w) * df) = df @ w.T
    w = rng.standard_normal((4, 2))
    df2 = rng.standard_normal((3, 2))
    g = gc.numerical_gradient_array(lambda v: v @ w, x, df2)
    assert gc.rel_error(g, df2 @ w.T) < 1e-8


def test_numerical_gradient_bad_input_messages() -> None:
    with pytest.raises(TypeError, match="floating-point"):
        gc.numerical_gradient(np.sum, np.arange(3))
    with pytest.raises(TypeError, match="floating-point"):
        gc.numerical_gradient(np.sum, [1.0, 2.0])
    with pytest.raises(ValueError, match="must return a scalar.*numerical_gradient_array"):
        gc.numerical_gradient(lambda v: v * 2, np.ones(3))
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(3,\) but df has shape \(2,\)"):
        gc.numerical_gradient_array(lambda v: v, np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="positive"):
        gc.numerical_gradient(np.sum, np.ones(3), h=0.0)


def test_x_is_restored_when_f_raises() -> None:
    x = np.array([1.0, 2.0])

    def boom(v: np.ndarray) -> float:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        gc.numerical_gradient(boom, x)
    assert np.array_equal(x, [1.0, 2.0])


def test_report_points_at_the_planted_error() -> None:
    rng = np.random.default_rng(1)
    good = rng.standard_normal((2, 3, 4))
    bad = good.copy()
    bad[1, 2, 0] += 0.5
    r = gc.grad_report(bad, good, "dw")
    assert not r.passed and not r and r.worst_index == (1, 2, 0)
    assert r.analytic_value == pytest.approx(bad[1, 2, 0])
    assert r.numeric_value == pytest.approx(good[1, 2, 0])
    text = str(r)
    assert text.startswith("dw: max relative error") and "at index (1, 2, 0)" in text
    assert text.endswith("\u2014 FAILED (tolerance 1e-07)")
    assert "FAILED" in r._repr_html_()
    ok = gc.grad_report(good, good)
    assert ok.passed and str(ok).endswith("\u2014 OK") and ok.name == "dx"
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\), numeric has \(3,\)"):
        gc.grad_report(good, np.zeros(3))


def test_report_treats_nan_as_the_worst_element() -> None:
    a = np.array([1.0, np.nan, 1.0])
    r = gc.grad_report(a, np.ones(3))
    assert not r.passed and r.worst_index == (1,) and r.max_rel_error == np.inf


def test_check_gradients_end_to_end() -> None:
    x = np.random.default_rng(3).standard_normal(5)
    assert gc.check_gradients(lambda v: float(np.sum(v**2)), x, 2 * x).passed
    wrong = 2 * x
    wrong[3] = 0.0
    r = gc.check_gradients(lambda v: v**2, x, wrong * 0.5, df=0.5 * np.ones(5), name="dz")
    # d/dx sum(x**2 * 0.5) = x, and wrong * 0.5 = x except element 3
    assert not r.passed and r.worst_index == (3,) and r.name == "dz"


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
    arrays_ = [rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal(3)]
    oracle = lambda x, w, b: x @ w + b  # noqa: E731
    ok = gc.compare_with_autograd(_affine_forward, _affine_backward, oracle, arrays_)
    assert list(ok) == ["out", "dx", "dw", "db"] and all(r.passed for r in ok.values())
    bad = gc.compare_with_autograd(_affine_forward, _broken_backward, oracle, arrays_)
    assert bad["out"].passed and bad["dx"].passed and bad["db"].passed
    assert not bad["dw"].passed and bad["dw"].max_rel_error > 1e-3
    one = gc.compare_with_autograd(lambda x: (np.tanh(x), x), lambda d, x: d / np.cosh(x) ** 2,
                                   torch.tanh, [rng.standard_normal(6)])
    assert list(one) == ["out", "dx"] and one["dx"].passed
    # extra_args reach forward only; custom names are used
    scaled = gc.compare_with_autograd(
        lambda x, s: (x * s, s), lambda d, s: d * s, lambda x: x * 3.0,
        [rng.standard_normal(4)], extra_args=(3.0,), names=["dinput"])
    assert list(scaled) == ["out", "dinput"] and scaled["dinput"].passed
    with pytest.raises(ValueError, match="backward returned 2 gradients for 3 inputs"):
        gc.compare_with_autograd(_affine_forward, lambda d, c: (d, d), oracle, arrays_)
