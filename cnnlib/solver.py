"""Train a numpy model with an update rule: the classic assignment's Solver, with a progress bar.

The model is anything with

- ``model.params``: a dict ``name -> array`` of every learnable parameter, and
- ``model.loss(X, y=None)``: class scores ``(N, K)`` when ``y`` is None (test mode), else
  ``(loss, grads)`` with ``grads[name]`` of ``params[name]``'s shape (train mode).

The update rule follows the same convention: ``update_rule(w, dw, config) -> (next_w, config)``,
one ``config`` per parameter (a copy of ``optim_config`` at the start, then whatever the rule
returns: velocities, moments, step counts)::

    solver = Solver(model, data, update_rule=adam, optim_config={"learning_rate": 1e-3},
                    num_epochs=5, batch_size=50)
    solver.train()            # progress bar, then one plain-text summary line
    solver.plot()             # loss per iteration, accuracies per epoch

``data`` holds ``X_train, y_train, X_val, y_val`` (``X: (N, C, H, W)``, ``y: (N,)`` int).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from cnnlib._validate import check_int

__all__ = ["Solver", "UpdateRule"]

UpdateRule = Callable[[np.ndarray, np.ndarray, dict | None], tuple[np.ndarray, dict]]


class Solver:
    """Mini-batch training of ``model`` on ``data`` with ``update_rule`` (see the module doc).

    optim_config: the first config of every parameter (e.g. ``{"learning_rate": 1e-3}``).
    lr_decay:     after each epoch every config's ``learning_rate`` is multiplied by this.
    batch_size, num_epochs: the mini-batches (shuffled each epoch, the last one may be smaller).
    num_train_samples: training examples on which the training accuracy is measured after each
                  epoch (None: all); validation accuracy always uses all of X_val.
    seed:         the shuffling and the training-accuracy subset are repeatable.
    progress:     show a progress bar and print the summary line at the end.
    keep_best:    end with the parameters of the epoch with the best validation accuracy (the
                  classic Solver does this), instead of the last ones.

    After :meth:`train`: ``loss_history`` (one loss per iteration), ``train_acc_history`` and
    ``val_acc_history`` (one per epoch), ``best_val_acc``, ``epoch_time`` (seconds per epoch),
    ``total_time``.
    """

    def __init__(self, model: Any, data: Mapping[str, np.ndarray], update_rule: UpdateRule,
                 optim_config: Mapping[str, Any] | None = None, lr_decay: float = 1.0,
                 batch_size: int = 100, num_epochs: int = 10,
                 num_train_samples: int | None = 1000, seed: int = 0, progress: bool = True,
                 keep_best: bool = True) -> None:
        missing = [k for k in ("X_train", "y_train", "X_val", "y_val") if k not in data]
        if missing:
            raise ValueError(f"data has no {', '.join(missing)}")
        if not callable(update_rule):
            raise TypeError(f"update_rule must be a function (w, dw, config) -> (next_w, config)"
                            f", got {type(update_rule).__name__}")
        if not isinstance(getattr(model, "params", None), dict):
            raise TypeError("model must have a dict model.params of its parameters")
        self.model, self.update_rule = model, update_rule
        self.X_train, self.y_train = data["X_train"], data["y_train"]
        self.X_val, self.y_val = data["X_val"], data["y_val"]
        if len(self.X_train) != len(self.y_train) or len(self.X_val) != len(self.y_val):
            raise ValueError("every X must have as many examples as its y")
        self.lr_decay = float(lr_decay)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.num_epochs = check_int("num_epochs", num_epochs, 0)
        self.num_train_samples = None if num_train_samples is None else check_int(
            "num_train_samples", num_train_samples, 1)
        self.progress, self.keep_best = progress, keep_best
        self._rng = np.random.default_rng(check_int("seed", seed, 0))
        self.optim_configs = {k: dict(optim_config or {}) for k in model.params}
        self.loss_history: list[float] = []
        self.train_acc_history: list[float] = []
        self.val_acc_history: list[float] = []
        self.epoch_time: list[float] = []
        self.best_val_acc = -math.inf
        self.best_params: dict[str, np.ndarray] = {}
        self.total_time = 0.0

    @property
    def iterations_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.X_train) / self.batch_size))

    def step(self, idx: np.ndarray) -> float:
        """One update of every parameter on the examples ``idx``; returns the batch's loss."""
        loss, grads = self.model.loss(self.X_train[idx], self.y_train[idx])
        loss = float(loss)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss} at iteration "
                                     f"{len(self.loss_history) + 1}: lower the learning rate")
        for name, w in self.model.params.items():
            if name not in grads:
                raise KeyError(f"model.loss returned no gradient for parameter {name!r}")
            next_w, self.optim_configs[name] = self.update_rule(w, grads[name],
                                                                self.optim_configs[name])
            self.model.params[name] = next_w
        self.loss_history.append(loss)
        return loss

    def check_accuracy(self, X: np.ndarray, y: np.ndarray, num_samples: int | None = None,
                       batch_size: int = 200) -> float:
        """Fraction of ``X`` (or of ``num_samples`` of them, drawn once per call) whose highest
        score ``model.loss(X)`` is the label ``y``."""
        if num_samples is not None and len(X) > num_samples:
            pick = self._rng.choice(len(X), num_samples, replace=False)
            X, y = X[pick], y[pick]
        preds = [np.argmax(self.model.loss(X[i:i + batch_size]), axis=1)
                 for i in range(0, len(X), batch_size)]
        return float(np.mean(np.concatenate(preds) == y)) if len(X) else math.nan

    def train(self) -> Solver:
        """Run ``num_epochs`` epochs; returns the solver (its histories filled in)."""
        from tqdm.auto import tqdm

        start = time.perf_counter()
        bar = tqdm(total=self.num_epochs * self.iterations_per_epoch, unit="it",
                   desc="training", disable=not self.progress)
        try:
            for epoch in range(self.num_epochs):
                t0 = time.perf_counter()
                for idx in np.array_split(self._rng.permutation(len(self.X_train)),
                                          self.iterations_per_epoch):
                    loss = self.step(idx)
                    bar.update(1)
                    bar.set_postfix(epoch=f"{epoch + 1}/{self.num_epochs}", loss=f"{loss:.3f}")
                self._end_epoch(t0)
        finally:
            bar.close()
        if self.keep_best and self.best_params:
            self.model.params.update(self.best_params)
        self.total_time = time.perf_counter() - start
        if self.progress:
            # plain text too: a notebook exported without widgets shows the bar at 0 %
            print(self.summary(), flush=True)
        return self

    def _end_epoch(self, t0: float) -> None:
        for config in self.optim_configs.values():
            if "learning_rate" in config:
                config["learning_rate"] *= self.lr_decay
        self.train_acc_history.append(self.check_accuracy(self.X_train, self.y_train,
                                                          self.num_train_samples))
        self.val_acc_history.append(self.check_accuracy(self.X_val, self.y_val))
        if self.val_acc_history[-1] > self.best_val_acc:
            self.best_val_acc = self.val_acc_history[-1]
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        self.epoch_time.append(time.perf_counter() - t0)

    def summary(self) -> str:
        """``trained 5 epochs (145 iterations) in 9.8 s: loss 0.083, train acc 0.992, val acc
        0.978 (best 0.983, kept)``."""
        n, its = len(self.epoch_time), len(self.loss_history)
        line = (f"trained {n} epoch{'s' if n != 1 else ''} ({its} iterations) in "
                f"{self.total_time:.1f} s")
        if not n:
            return line
        recent = self.loss_history[-self.iterations_per_epoch:]
        line += (f": loss {np.mean(recent):.3f}, train acc {self.train_acc_history[-1]:.3f}, "
                 f"val acc {self.val_acc_history[-1]:.3f}")
        if self.keep_best:
            line += f" (best {self.best_val_acc:.3f}, kept)"
        return line

    @property
    def history(self) -> dict[str, list[float]]:
        """Per-epoch curves as ``cnnlib.viz.plot_history`` reads them: ``train_loss`` (mean
        loss of the epoch's iterations), ``train_acc``, ``val_acc``."""
        k = self.iterations_per_epoch
        losses = [float(np.mean(self.loss_history[i * k:(i + 1) * k]))
                  for i in range(len(self.epoch_time))]
        return {"train_loss": losses, "train_acc": list(self.train_acc_history),
                "val_acc": list(self.val_acc_history)}

    def plot(self, title: str | None = None) -> Figure:
        """Loss of every iteration (left) and accuracies after every epoch (right)."""
        fig = Figure(figsize=(11, 3.6))
        ax_loss, ax_acc = fig.subplots(1, 2)
        its = np.arange(1, len(self.loss_history) + 1)
        ax_loss.plot(its, self.loss_history, lw=0.8, alpha=0.6, label="one mini-batch")
        k = self.iterations_per_epoch
        ax_loss.plot(np.arange(1, len(self.epoch_time) + 1) * k, self.history["train_loss"],
                     marker="o", ms=3, label="mean of the epoch")
        ax_loss.set(xlabel="iteration", ylabel="training loss")
        epochs = np.arange(1, len(self.epoch_time) + 1)
        ax_acc.plot(epochs, self.train_acc_history, marker="o", ms=3, label="train")
        ax_acc.plot(epochs, self.val_acc_history, marker="o", ms=3, label="validation")
        ax_acc.set(xlabel="epoch", ylabel="accuracy")
        for ax in (ax_loss, ax_acc):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.suptitle(title or "training: the loss should fall, validation accuracy should rise "
                     "and stay close to training accuracy")
        fig.tight_layout()
        return fig

