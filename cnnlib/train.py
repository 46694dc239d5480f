"""A small, honest training loop: fit / evaluate / top-k / confusion matrix / augmentation.

Everything the notebooks need to *train for real* without re-writing the loop each time:

- :func:`fit` trains a classifier on ``(X, y)`` arrays/tensors or a torch ``Dataset``, with
  progress bars (ETA, loss, accuracy), a device banner, per-epoch validation, seeding that makes
  runs repeatable, an optional learning-rate scheduler and a resumable checkpoint.
- :func:`evaluate` returns the mean loss and top-k accuracies; :func:`predict_topk` and
  :func:`confusion_matrix` look at individual predictions.
- :func:`random_flip_shift` is the augmentation of the ConvNetJS CIFAR-10 demo (random horizontal
  flips and shifts of up to 2 pixels with zero fill), applied to whole batches.

Shapes follow the course convention: images are ``(N, C, H, W)`` float32, labels ``(N,)`` int64,
model outputs (logits) ``(N, num_classes)``.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from cnnlib._validate import check_int
from cnnlib.device import describe_device, get_device

__all__ = [
    "History",
    "fit",
    "evaluate",
    "predict_topk",
    "confusion_matrix",
    "random_flip_shift",
    "set_seed",
]

HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "epoch_time")
#: Weight of auxiliary-classifier losses when a model returns ``(main, aux1, ...)`` in training
#: mode (GoogLeNet used 0.3).
AUX_LOSS_WEIGHT = 0.3


class History(dict):
    """Per-epoch training record: a ``dict`` of lists, one entry per epoch.

    Keys: ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc`` (NaN when there is no
    validation data), ``epoch_time`` (seconds). Attributes: ``device`` (str), ``seed``,
    ``lr`` (learning rate used in each epoch), ``resumed_epochs`` (epochs loaded from a
    checkpoint rather than run now), ``total_time`` (seconds spent in this call).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for key in HISTORY_KEYS:
            self.setdefault(key, [])
        self.device: str = ""
        self.seed: int | None = None
        self.lr: list[float] = []
        self.resumed_epochs: int = 0
        self.total_time: float = 0.0

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self["train_loss"])

    @property
    def best_val_acc(self) -> float:
        """Highest validation accuracy seen (NaN without validation data)."""
        vals = [v for v in self["val_acc"] if not math.isnan(v)]
        return max(vals) if vals else float("nan")

    def __repr__(self) -> str:
        last = {k: (round(v[-1], 4) if v else None) for k, v in self.items()}
        return f"History(epochs={self.epochs}, last={last}, device={self.device!r})"


# ------------------------------------------------------------------------------------------
# Seeding, devices, data
# ------------------------------------------------------------------------------------------


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device)."""
    seed = check_int("seed", seed)
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


def _resolve_device(device: Any) -> torch.device:
    return torch.device(device) if device is not None else get_device()


def _model_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def _as_dataset(data: Any, dtype: torch.dtype, what: str) -> Dataset:
    """``(X, y)`` arrays/tensors or a ``Dataset`` -> ``Dataset`` (X cast to ``dtype``)."""
    if isinstance(data, Dataset):
        return data
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(
            f"{what} must be a torch Dataset or a pair (X, y) of arrays/tensors, "
            f"got {type(data).__name__}"
        )
    X, y = (torch.as_tensor(np.asarray(a)) if not isinstance(a, torch.Tensor) else a for a in data)
    if X.ndim < 2:
        raise ValueError(f"{what}: X must have a batch axis first, e.g. (N, C, H, W); "
                         f"got {tuple(X.shape)}")
    if len(X) != len(y):
        raise ValueError(f"{what}: X has {len(X)} examples but y has {len(y)} labels")
    if len(X) == 0:
        raise ValueError(f"{what} is empty")
    if X.is_floating_point():
        X = X.to(dtype)
    if not y.is_floating_point():
        y = y.long()
    return TensorDataset(X, y)


def _loader(ds: Dataset, batch_size: int, shuffle: bool, generator: torch.Generator | None,
            device: torch.device) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=0, pin_memory=device.type == "cuda")


def _main_output(out: Any) -> torch.Tensor:
    """Models with auxiliary heads return ``(main, aux, ...)``; the first is the prediction."""
    return out[0] if isinstance(out, (tuple, list)) else out


def _loss(out: Any, y: torch.Tensor, loss_fn: Callable) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        main, *aux = out
        return loss_fn(main, y) + AUX_LOSS_WEIGHT * sum(loss_fn(a, y) for a in aux)
    return loss_fn(out, y)


def _n_correct(logits: torch.Tensor, y: torch.Tensor) -> int:
    if y.is_floating_point() or logits.ndim != 2:
        return 0
    return int((logits.argmax(dim=1) == y).sum())


def _make_optimizer(model: nn.Module, optimizer: Any, lr: float, momentum: float,
                    weight_decay: float) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if not isinstance(optimizer, str):
        raise TypeError(
            "optimizer must be 'sgd', 'adam' or a torch.optim.Optimizer, "
            f"got {type(optimizer).__name__}"
        )
    name = optimizer.lower()
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                               weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'sgd', 'adam' or 'adamw', got {optimizer!r}")


def _make_scheduler(scheduler: Any, opt: torch.optim.Optimizer, epochs: int) -> Any:
    if scheduler is None:
        return None
    if isinstance(scheduler, str):
        if scheduler == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
        if scheduler == "plateau":  # AlexNet/ResNet recipe: divide by 10 when val loss stalls
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.1, patience=2)
        raise ValueError(f"scheduler must be 'cosine', 'plateau', a callable or a scheduler, "
                         f"got {scheduler!r}")
    if hasattr(scheduler, "step") and hasattr(scheduler, "state_dict"):
        return scheduler
    if callable(scheduler):  # factory: scheduler(optimizer) -> LRScheduler
        return scheduler(opt)
    raise TypeError(f"scheduler must be a string, a callable or an LR scheduler, got "
                    f"{type(scheduler).__name__}")


def _epoch_seed(seed: int, epoch: int) -> int:
    # One seed per epoch (not one stream for the run) so a resumed run replays exactly the same
    # shuffles, augmentations and dropout masks as an uninterrupted one.
    return (int(seed) * 1_000_003 + epoch * 7919) % (2**63 - 1)


def _progress(iterable: Iterable, **kwargs: Any) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, **kwargs)


# ------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------


def _save_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                     history: History) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict() if sched is not None else None,
        "history": {k: list(v) for k, v in history.items()},
        "lr": list(history.lr),
        "seed": history.seed,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a run killed mid-save leaves the previous checkpoint intact


def _load_checkpoint(path: Path, model: nn.Module, opt: torch.optim.Optimizer, sched: Any,
                     history: History, device: torch.device) -> None:
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if sched is not None and state.get("scheduler") is not None:
        sched.load_state_dict(state["scheduler"])
    for k, v in state["history"].items():
        history[k] = list(v)
    history.lr = list(state.get("lr", []))
    history.resumed_epochs = history.epochs


# ------------------------------------------------------------------------------------------
# fit / evaluate
# ------------------------------------------------------------------------------------------


# fit is long only by its docstring (every argument explained): its steps are the named
# helpers below it (_start_history, _train_epoch, _record_epoch).
def fit(
    model: nn.Module,
    train_data: Any,
    val_data: Any = None,
    epochs: int = 1,
    lr: float = 1e-2,
    optimizer: str | torch.optim.Optimizer = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    batch_size: int = 64,
    device: Any = None,
    seed: int = 0,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: bool = True,
    scheduler: Any = None,
    checkpoint: str | os.PathLike | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> History:
    """Train ``model`` with mini-batch SGD/Adam and return the per-epoch :class:`History`.

    Inputs:
    - model: ``nn.Module`` mapping ``x: (B, C, H, W)`` to logits ``(B, num_classes)``; in training
      mode it may return ``(main, aux, ...)`` (auxiliary heads add ``0.3 * loss`` each).
    - train_data, val_data: ``(X, y)`` with ``X: (N, C, H, W)`` float and ``y: (N,)`` int class
      labels (numpy arrays or tensors), or a torch ``Dataset`` yielding ``(x, y)``.
    - epochs: total number of epochs; with ``checkpoint`` the epochs already stored count.
    - optimizer: ``"sgd"`` (with ``momentum``), ``"adam"``, ``"adamw"`` or a ready
      ``torch.optim.Optimizer`` over ``model``'s parameters (then ``lr``, ``momentum`` and
      ``weight_decay`` are ignored).
    - device: where to train; ``None`` picks cuda > mps > cpu. The model is moved there.
    - seed: makes shuffling, augmentation and dropout repeatable (one derived seed per epoch).
      The model's initial weights are *not* touched: seed before building the model.
      (Each epoch re-seeds torch's global RNG, so draws after ``fit`` are seeded too.)
    - augment: batch transform ``x: (B, C, H, W) -> (B, C, H, W)`` applied to training batches
      on the device, e.g. :func:`random_flip_shift`.
    - progress: show tqdm bars (ETA, loss, accuracy) and a banner naming the device.
    - scheduler: ``None``, ``"cosine"``, ``"plateau"`` (divide lr by 10 when validation loss
      stalls), a factory ``f(optimizer) -> scheduler``, or a scheduler; stepped once per epoch.
    - checkpoint: path; after every epoch the model, optimizer, scheduler and history are saved
      there, and when the file exists training resumes from it.
    - loss_fn: defaults to ``nn.CrossEntropyLoss()`` (mean over the batch).

    Returns: :class:`History` with one entry per epoch in each list (accuracies in [0, 1]).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    epochs = check_int("epochs", epochs, 0)
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    dev = _resolve_device(device)
    model.to(dev)
    dtype = _model_dtype(model)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    run = _Run(
        model=model, device=dev, opt=opt, sched=_make_scheduler(scheduler, opt, epochs),
        train_ds=_as_dataset(train_data, dtype, "train_data"),
        val_ds=_as_dataset(val_data, dtype, "val_data") if val_data is not None else None,
        loss_fn=loss_fn if loss_fn is not None else nn.CrossEntropyLoss(), augment=augment,
        batch_size=check_int("batch_size", batch_size, 1), seed=check_int("seed", seed),
        progress=progress,
    )
    ckpt = Path(checkpoint) if checkpoint is not None else None
    history = _start_history(run, ckpt)

    t_start = time.perf_counter()
    epoch_bar = _progress(range(history.epochs, epochs), desc="epochs", unit="epoch",
                          initial=history.epochs, total=epochs, disable=not progress)
    for epoch in epoch_bar:
        t0 = time.perf_counter()
        train_loss, train_acc = _train_epoch(run, epoch, epochs)
        _record_epoch(run, history, train_loss, train_acc, t0)
        epoch_bar.set_postfix(_epoch_postfix(history))
        if ckpt is not None:
            _save_checkpoint(ckpt, model, opt, run.sched, history)
    epoch_bar.close()
    history.total_time = time.perf_counter() - t_start
    if progress:
        # plain text as well as the bar: a notebook exported to HTML (or any viewer without
        # widgets) shows progress bars frozen at 0 %, and this line is what it can show instead
        print(_summary_line(history), flush=True)
    model.eval()
    return history


@dataclass
class _Run:
    """What one :func:`fit` call trains with, as the epoch steps below need it."""

    model: nn.Module
    device: torch.device
    opt: torch.optim.Optimizer
    sched: Any
    train_ds: Dataset
    val_ds: Dataset | None
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    augment: Callable[[torch.Tensor], torch.Tensor] | None
    batch_size: int
    seed: int
    progress: bool


def _start_history(run: _Run, ckpt: Path | None) -> History:
    """A new History, or the one stored in the checkpoint (model, optimizer and scheduler are
    restored with it); the banner naming the device is printed when progress is on."""
    history = History()
    history.seed = run.seed
    history.device = describe_device(run.device)
    if ckpt is not None and ckpt.exists():
        _load_checkpoint(ckpt, run.model, run.opt, run.sched, history, run.device)
    if run.progress:
        msg = f"Training on {history.device}"
        if history.epochs:
            msg += f" (resuming after epoch {history.epochs} from {ckpt})"
        print(msg, flush=True)
    return history


def _train_epoch(run: _Run, epoch: int, epochs: int) -> tuple[float, float]:
    """One pass over the training data; returns the mean loss and the accuracy over it."""
    torch.manual_seed(_epoch_seed(run.seed, epoch))
    gen = torch.Generator().manual_seed(_epoch_seed(run.seed, epoch) + 1)
    loader = _loader(run.train_ds, run.batch_size, True, gen, run.device)
    run.model.train()
    sum_loss, n_correct, n_seen = 0.0, 0, 0
    batch_bar = _progress(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch",
                          leave=False, disable=not run.progress)
    for xb, yb in batch_bar:
        xb = xb.to(run.device, non_blocking=True)
        yb = yb.to(run.device, non_blocking=True)
        if run.augment is not None:
            xb = run.augment(xb)
        out = run.model(xb)
        loss = _loss(out, yb, run.loss_fn)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss.item()} in epoch {epoch + 1}: lower the learning rate "
                f"(lr={run.opt.param_groups[0]['lr']:g})"
            )
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        sum_loss += float(loss.detach()) * len(yb)
        n_correct += _n_correct(_main_output(out).detach(), yb)
        n_seen += len(yb)
        batch_bar.set_postfix(loss=f"{sum_loss / n_seen:.3f}", acc=f"{n_correct / n_seen:.3f}")
    return sum_loss / n_seen, n_correct / n_seen


def _record_epoch(run: _Run, history: History, train_loss: float, train_acc: float,
                  t0: float) -> None:
    """Append one epoch to ``history`` (validation included), then step the scheduler."""
    history["train_loss"].append(train_loss)
    history["train_acc"].append(train_acc)
    history.lr.append(float(run.opt.param_groups[0]["lr"]))
    if run.val_ds is not None:
        res = evaluate(run.model, run.val_ds, device=run.device, loss_fn=run.loss_fn)
        history["val_loss"].append(res["loss"])
        history["val_acc"].append(res["acc"])
    else:
        history["val_loss"].append(float("nan"))
        history["val_acc"].append(float("nan"))
    if isinstance(run.sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        metric = history["val_loss"][-1]
        run.sched.step(train_loss if math.isnan(metric) else metric)
    elif run.sched is not None:
        run.sched.step()
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)  # honest epoch times: wait for queued kernels
    history["epoch_time"].append(time.perf_counter() - t0)


def _epoch_postfix(history: History) -> dict[str, str]:
    post = {"loss": f"{history['train_loss'][-1]:.3f}", "acc": f"{history['train_acc'][-1]:.3f}"}
    if not math.isnan(history["val_acc"][-1]):
        post["val_acc"] = f"{history['val_acc'][-1]:.3f}"
    return post


def _summary_line(history: History) -> str:
    """``trained 3 epochs in 1.2 s: loss 0.412, acc 0.875, val_acc 0.850`` (last epoch)."""
    ran = history.epochs - history.resumed_epochs
    line = f"trained {ran} epoch{'s' if ran != 1 else ''} in {history.total_time:.1f} s"
    if history.resumed_epochs:
        line += f" (after {history.resumed_epochs} loaded from the checkpoint)"
    if not history.epochs:
        return line
    line += f": loss {history['train_loss'][-1]:.3f}, acc {history['train_acc'][-1]:.3f}"
    if not math.isnan(history["val_acc"][-1]):
        line += f", val_acc {history['val_acc'][-1]:.3f}"
    return line


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Any,
    device: Any = None,
    topk: Sequence[int] = (1,),
    batch_size: int = 256,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> dict[str, float]:
    """Mean loss and top-k accuracies of ``model`` on ``data`` (in eval mode).

    Inputs:
    - data: ``(X, y)`` with ``X: (N, C, H, W)``, ``y: (N,)`` int, or a ``Dataset``.
    - topk: the k's to report, e.g. ``(1, 5)``; each must be <= the number of classes.

    Returns: ``{"loss": float, "acc": top-1 accuracy, "top1": ..., "top5": ..., "n": N}``
    (accuracies are fractions in [0, 1]). The model's train/eval mode is restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    ks = tuple(check_int("topk", k, 1) for k in topk)
    if not ks:
        raise ValueError(f"topk must be a non-empty sequence of positive ints, got {topk!r}")
    dev = _resolve_device(device) if device is not None else _module_device(model)
    model.to(dev)
    ds = _as_dataset(data, _model_dtype(model), "data")
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    sum_loss, n = 0.0, 0
    correct = dict.fromkeys(ks, 0)
    try:
        for xb, yb in _loader(ds, int(batch_size), False, None, dev):
            xb, yb = xb.to(dev), yb.to(dev)
            logits = _main_output(model(xb))
            sum_loss += float(loss_fn(logits, yb)) * len(yb)
            n += len(yb)
            if max(ks) > logits.shape[1]:
                raise ValueError(f"topk={ks} asks for more classes than the model has "
                                 f"({logits.shape[1]})")
            top = logits.topk(max(ks), dim=1).indices
            hit = top == yb[:, None]
            for k in ks:
                correct[k] += int(hit[:, :k].any(dim=1).sum())
    finally:
        model.train(was_training)
    out: dict[str, float] = {"loss": sum_loss / n, "n": n}
    for k in ks:
        out[f"top{k}"] = correct[k] / n
    out["acc"] = out["top1"] if 1 in ks else float("nan")
    return out


def _module_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


@torch.no_grad()
def predict_topk(model: nn.Module, X: Any, k: int = 3, batch_size: int = 256
                 ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most probable classes of each image.

    Inputs: ``X: (N, C, H, W)`` (or one image ``(C, H, W)``), numpy or tensor.
    Returns: ``(probs, idx)``, both ``(N, k)``: softmax probabilities (float32, descending)
    and class indices (int64).
    """
    X = X if isinstance(X, torch.Tensor) else torch.as_tensor(np.asarray(X))
    if X.ndim == 3:
        X = X[None]
    if X.ndim != 4:
        raise ValueError(f"X must be (N, C, H, W) or (C, H, W), got shape {tuple(X.shape)}")
    dev = _module_device(model)
    X = X.to(dev, _model_dtype(model))
    was_training = model.training
    model.eval()
    probs, idx = [], []
    try:
        for i in range(0, len(X), batch_size):
            p = torch.softmax(_main_output(model(X[i:i + batch_size])), dim=1)
            if k > p.shape[1]:
                raise ValueError(f"k={k} is more than the number of classes ({p.shape[1]})")
            top = p.topk(k, dim=1)
            probs.append(top.values.float().cpu())
            idx.append(top.indices.cpu())
    finally:
        model.train(was_training)
    return torch.cat(probs).numpy(), torch.cat(idx).numpy().astype(np.int64)


@torch.no_grad()
def confusion_matrix(model: nn.Module, data: Any, num_classes: int, batch_size: int = 256
                     ) -> np.ndarray:
    """Counts of (true class, predicted class) over ``data``.

    Returns: ``(num_classes, num_classes)`` int64; row ``i`` = true class ``i``, column ``j`` =
    predicted class ``j``; the diagonal holds the correct predictions.
    """
    num_classes = check_int("num_classes", num_classes, 1)
    dev = _module_device(model)
    ds = _as_dataset(data, _model_dtype(model), "data")
    cm = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    was_training = model.training
    model.eval()
    try:
        for xb, yb in _loader(ds, batch_size, False, None, dev):
            pred = _main_output(model(xb.to(dev))).argmax(dim=1).cpu()
            yb = yb.long().cpu()
            if int(yb.max()) >= num_classes or int(pred.max()) >= num_classes:
                raise ValueError(f"labels or predictions exceed num_classes={num_classes}")
            cm += torch.bincount(yb * num_classes + pred,
                                 minlength=num_classes * num_classes).view(num_classes, -1)
    finally:
        model.train(was_training)
    return cm.numpy()


# ------------------------------------------------------------------------------------------
# Augmentation
# ------------------------------------------------------------------------------------------


def random_flip_shift(max_shift: int = 2, flip: bool = True
                      ) -> Callable[[torch.Tensor], torch.Tensor]:
    """Batch augmentation of the ConvNetJS CIFAR-10 demo: random flips and small shifts.

    Returns ``augment(x)`` with ``x: (B, C, H, W)`` -> same shape and dtype: each image is
    independently flipped left-right with probability 1/2 (when ``flip``) and shifted by
    ``dx, dy`` drawn uniformly from ``{-max_shift, ..., max_shift}``; pixels shifted in are 0.
    Uses torch's global RNG (seeded per epoch by :func:`fit`).
    """
    s = check_int("max_shift", max_shift, 0)

    def augment(x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4:
            raise ValueError("augment expects a tensor of shape (B, C, H, W)")
        B, C, H, W = x.shape
        if flip:
            mask = torch.rand(B, device=x.device) < 0.5
            x = torch.where(mask[:, None, None, None], x.flip(-1), x)
        if s == 0:
            return x
        padded = torch.nn.functional.pad(x, (s, s, s, s))
        dy = torch.randint(0, 2 * s + 1, (B,), device=x.device)
        dx = torch.randint(0, 2 * s + 1, (B,), device=x.device)
        rows = torch.arange(H, device=x.device)[None, :] + dy[:, None]  # (B, H)
        cols = torch.arange(W, device=x.device)[None, :] + dx[:, None]  # (B, W)
        b = torch.arange(B, device=x.device)[:, None, None]
        # Advanced indexing with the channel slice in the middle puts channels last: (B, H, W, C).
        out = padded.permute(0, 2, 3, 1)[b, rows[:, :, None], cols[:, None, :]]
        return out.permute(0, 3, 1, 2).contiguous()

    return augment
