"""cnnlib.solver.Solver: mini-batch training of a numpy model with an update rule."""

from __future__ import annotations

import re

import numpy as np
import pytest
from matplotlib.figure import Figure
from nbrun import figure_problems

from cnnlib.solver import Solver


class Softmax:
    """A linear softmax classifier on flattened inputs: the smallest model the Solver trains."""

    def __init__(self, d: int, k: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.params = {"W": 0.01 * rng.normal(size=(d, k)), "b": np.zeros(k)}
        self.calls = 0

    def loss(self, X, y=None):
        self.calls += 1
        x = X.reshape(len(X), -1)
        scores = x @ self.params["W"] + self.params["b"]
        if y is None:
            return scores
        p = np.exp(scores - scores.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y]).mean()
        d = p.copy()
        d[np.arange(len(y)), y] -= 1
        d /= len(y)
        return loss, {"W": x.T @ d, "b": d.sum(axis=0)}


def sgd(w, dw, config=None):
    config = config or {}
    config.setdefault("learning_rate", 0.5)
    config["steps"] = config.get("steps", 0) + 1
    return w - config["learning_rate"] * dw, config


def blobs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    return (centres[y] + 0.5 * rng.normal(size=(n, 4))).reshape(n, 1, 2, 2), y


def data() -> dict[str, np.ndarray]:
    X, y = blobs(200)
    Xv, yv = blobs(60, seed=1)
    return {"X_train": X, "y_train": y, "X_val": Xv, "y_val": yv}


def test_training_learns_and_records_every_iteration_and_epoch(capsys) -> None:
    model = Softmax(4, 3)
    solver = Solver(model, data(), sgd, batch_size=32, num_epochs=4, progress=True).train()
    assert solver.iterations_per_epoch == 7
    assert len(solver.loss_history) == 28 and len(solver.val_acc_history) == 4
    assert len(solver.train_acc_history) == len(solver.epoch_time) == 4
    assert solver.loss_history[-1] < solver.loss_history[0] and solver.best_val_acc > 0.9
    # one config per parameter, passed back at every step
    assert {k: c["steps"] for k, c in solver.optim_configs.items()} == {"W": 28, "b": 28}
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(r"trained 4 epochs \(28 iterations\) in [\d.]+ s: loss [\d.]+, train "
                        r"acc [\d.]+, val acc [\d.]+ \(best [\d.]+, kept\)", line), line
    assert solver.history["train_loss"] == pytest.approx(
        [np.mean(solver.loss_history[i * 7:(i + 1) * 7]) for i in range(4)])


def test_the_best_epoch_is_kept_and_lr_decays() -> None:
    model = Softmax(4, 3)
    solver = Solver(model, data(), sgd, {"learning_rate": 2.0}, lr_decay=0.5, batch_size=200,
                    num_epochs=3, progress=False)
    best = {}

    def remember(t0: float, end=solver._end_epoch) -> None:
        end(t0)
        best[len(solver.val_acc_history)] = {k: v.copy() for k, v in model.params.items()}

    solver._end_epoch = remember
    solver.train()
    epoch = int(np.argmax(solver.val_acc_history)) + 1
    assert all(np.array_equal(model.params[k], best[epoch][k]) for k in model.params)
    assert solver.optim_configs["W"]["learning_rate"] == pytest.approx(2.0 * 0.5 ** 3)


def test_same_seed_same_run() -> None:
    runs = [Solver(Softmax(4, 3), data(), sgd, batch_size=16, num_epochs=2, seed=3,
                   progress=False).train().loss_history for _ in range(2)]
    assert runs[0] == runs[1]


def test_accuracy_is_measured_in_test_mode_on_a_subset() -> None:
    model = Softmax(4, 3)
    solver = Solver(model, data(), sgd, num_train_samples=50, progress=False)
    X, y = blobs(120)
    calls = model.calls
    acc = solver.check_accuracy(X, y, num_samples=50, batch_size=20)
    assert 0.0 <= acc <= 1.0 and model.calls - calls == 3


def test_plot_draws_loss_and_accuracy_with_labels() -> None:
    solver = Solver(Softmax(4, 3), data(), sgd, batch_size=50, num_epochs=2,
                    progress=False).train()
    fig = solver.plot()
    assert isinstance(fig, Figure) and figure_problems(fig) == []
    assert [ax.get_xlabel() for ax in fig.axes] == ["iteration", "epoch"]


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"data": {"X_train": np.ones((2, 1)), "y_train": np.ones(2)}}, ValueError, "X_val"),
    ({"update_rule": "sgd"}, TypeError, "update_rule"),
    ({"model": object()}, TypeError, "model.params"),
    ({"batch_size": 0}, ValueError, "batch_size"),
])
def test_bad_arguments_are_said(kwargs: dict, error: type, words: str) -> None:
    args = {"model": Softmax(4, 3), "data": data(), "update_rule": sgd, **kwargs}
    with pytest.raises(error, match=words):
        Solver(**args)


def test_a_diverging_loss_and_a_missing_gradient_are_said() -> None:
    model = Softmax(4, 3)
    model.params["W"][:] = np.nan
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        Solver(model, data(), sgd, progress=False, num_epochs=1).train()
    model = Softmax(4, 3)
    model.params["extra"] = np.zeros(2)
    with pytest.raises(KeyError, match="extra"):
        Solver(model, data(), sgd, progress=False, num_epochs=1).train()
