"""cnnlib.activations: reference activations, derivatives, softmax loss and the demos."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib import activations as A

_TORCH = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
    "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.01),
    "elu": torch.nn.functional.elu,
}

# Inputs away from the kink at 0, where ReLU-like derivatives are not defined.
_away_from_zero = st.floats(0.01, 30.0) | st.floats(-30.0, -0.01)


@settings(max_examples=40, deadline=None)
@given(x=_away_from_zero, name=st.sampled_from(sorted(A.ACTIVATIONS)))
def test_activation_and_derivative_match_torch(x: float, name: str) -> None:
    f, df = A.ACTIVATIONS[name]
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = _TORCH[name](t)
    out.backward()
    assert float(f(np.array(x))) == pytest.approx(out.item(), rel=1e-12, abs=1e-15)
    assert float(df(np.array(x))) == pytest.approx(t.grad.item(), rel=1e-9, abs=1e-15)


def test_hyperparameters_are_used() -> None:
    x = np.array([-2.0, 3.0])
    np.testing.assert_allclose(A.leaky_relu(x, 0.2), [-0.4, 3.0])
    np.testing.assert_allclose(A.leaky_relu_grad(x, 0.2), [0.2, 1.0])
    np.testing.assert_allclose(A.elu(x, 2.0), [2.0 * (np.exp(-2.0) - 1), 3.0])
    np.testing.assert_allclose(A.elu_grad(x, 2.0), [2.0 * np.exp(-2.0), 1.0])


def test_sigmoid_is_stable_for_huge_inputs() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = A.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    np.testing.assert_allclose(s, [0.0, 0.5, 1.0])
    assert A.sigmoid_grad(np.array(0.0)) == pytest.approx(0.25)


def test_softmax_loss_matches_torch_cross_entropy() -> None:
    rng = np.random.default_rng(0)
    scores, y = rng.normal(size=(5, 7)) * 10, rng.integers(0, 7, size=5)
    loss, dscores = A.softmax_loss(scores, y)
    t = torch.tensor(scores, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    np.testing.assert_allclose(dscores, t.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_softmax_loss_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="must be \\(N, K\\)"):
        A.softmax_loss(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="integer labels"):
        A.softmax_loss(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="must lie in"):
        A.softmax_loss(np.zeros((3, 2)), np.array([0, 1, 2]))


def test_plot_activations_one_panel_each_and_unknown_names() -> None:
    fig = A.plot_activations(["sigmoid", "relu"])
    assert [ax.get_title() for ax in fig.axes] == ["sigmoid", "relu"]
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        A.plot_activations(["swish"])


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images[:600, None] / 16.0).astype(np.float32), d.target[:600]


def test_large_weights_saturate_sigmoid_units() -> None:
    X, _ = _digits()
    small = A.hidden_activations(X, "sigmoid", widths=(50, 50), weight_std=1.0)
    large = A.hidden_activations(X, "sigmoid", widths=(50, 50), weight_std=4.0)
    assert [a.shape for a in small] == [(600, 50), (600, 50)]

    def saturated(acts: list[np.ndarray]) -> float:
        return float(np.mean([((a < 0.05) | (a > 0.95)).mean() for a in acts]))

    assert saturated(small) < 0.05 < 0.1 < saturated(large)
    fig = A.plot_activation_histograms(large, "sigmoid")
    assert len(fig.axes) == 4
    with pytest.raises(ValueError, match="'sigmoid' or 'tanh'"):
        A.plot_activation_histograms(large, "relu")
    with pytest.raises(ValueError, match="weight_std must be positive"):
        A.hidden_activations(X, weight_std=0.0)


def test_one_huge_step_kills_relu_units() -> None:
    X, y = _digits()
    dead = A.dead_relu_fractions(X, y, big_lrs=(0.1, 100.0), hidden=50, warmup_epochs=1)
    assert set(dead) == {0.0, 0.1, 100.0}
    assert dead[0.1] == pytest.approx(dead[0.0], abs=0.05)
    assert dead[100.0] > dead[0.0] + 0.1
    fig = A.plot_dead_relu(dead)
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["before", "lr=0.1", "lr=100"]
    with pytest.raises(ValueError, match="examples but y has"):
        A.dead_relu_fractions(X, y[:10])
