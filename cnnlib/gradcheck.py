"""Gradient checking: relative error, centred-difference numerical gradients, readable reports
that point at the worst element, and a one-call comparison of a layer with torch.autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "rel_error",
    "numerical_gradient",
    "numerical_gradient_array",
    "GradReport",
    "grad_report",
    "compare_with_autograd",
]


def _same_shape(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{what}: shapes differ, {a.shape} vs {b.shape}")


def rel_error(x: Any, y: Any) -> float:
    """max |x - y| / max(1e-8, |x| + |y|), elementwise then the maximum (arrays of one shape)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _same_shape(x, y, "rel_error")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function by centred differences (f(x+h) - f(x-h)) / 2h.

    x: float array of any shape, modified in place during the evaluation and restored.
    Returns an array of x's shape.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError("x must be a floating-point numpy array (it is perturbed in place)")
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = float(f(x))
        x[i] = old - h
        fm = float(f(x))
        x[i] = old
        grad[i] = (fp - fm) / (2 * h)
        it.iternext()
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of sum(f(x) * df) w.r.t. x: the backward pass of an array function f given the
    upstream gradient df (shape of f(x)). x is perturbed in place and restored.
    """
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError("x must be a floating-point numpy array (it is perturbed in place)")
    df = np.asarray(df, dtype=np.float64)
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[i] = old
        _same_shape(pos, df, "f(x) and df")
        grad[i] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


@dataclass(frozen=True)
class GradReport:
    """How far an analytic gradient is from a reference, and where it is worst."""

    name: str
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic_value: float
    numeric_value: float
    passed: bool
    tol: float

    def __str__(self) -> str:
        verdict = "OK" if self.passed else f"FAILED (tolerance {self.tol:.0e})"
        return (
            f"{self.name}: max relative error {self.max_rel_error:.1e} at index "
            f"{self.worst_index}: analytic {self.analytic_value:.6g}, "
            f"numeric {self.numeric_value:.6g} - {verdict}"
        )

    def __bool__(self) -> bool:
        return self.passed


def grad_report(analytic: Any, numeric: Any, name: str = "dx", tol: float = 1e-7) -> GradReport:
    """Compare an analytic gradient with a numerical (or autograd) one, element by element."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"{name}: analytic gradient has shape {a.shape}, expected {n.shape}")
    if a.size == 0:
        return GradReport(name, 0.0, (), 0.0, 0.0, True, tol)
    rel = np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))
    rel = np.where(np.isfinite(a), rel, np.inf)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(rel)), rel.shape))
    worst = float(rel[idx])
    return GradReport(name, worst, idx, float(a[idx]), float(n[idx]), worst <= tol, tol)


def compare_with_autograd(
    forward: Callable[..., tuple[Any, Any]],
    backward: Callable[[np.ndarray, Any], Any],
    torch_fn: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    extra_args: Sequence[Any] = (),
    seed: int = 0,
    names: Sequence[str] | None = None,
    tol: float = 1e-7,
) -> dict[str, GradReport]:
    """Check a layer written with numpy against torch's own op and autograd, in one call.

    forward(*arrays, *extra_args) -> (out, cache); backward(dout, cache) -> grads, one per array
    (a tuple, or one array for one input). torch_fn(*tensors) is the oracle, run in float64.
    Returns reports for "out" and each gradient ("dx", "dw", "db" for three arrays).
    """
    import torch

    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    if names is None:
        names = {1: ["dx"], 2: ["dx", "dw"], 3: ["dx", "dw", "db"]}.get(
            len(arrays), [f"d{i}" for i in range(len(arrays))]
        )
    if len(names) != len(arrays):
        raise ValueError(f"got {len(names)} names for {len(arrays)} arrays")
    out, cache = forward(*[a.copy() for a in arrays], *extra_args)
    out = np.asarray(out, dtype=np.float64)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward(dout.copy(), cache)
    if len(arrays) == 1 and not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(arrays):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(arrays)} inputs")
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = torch_fn(*tensors)
    ref.backward(torch.tensor(dout))
    reports = {"out": grad_report(out, ref.detach().numpy(), "out", tol)}
    for name, g, t in zip(names, grads, tensors):
        reports[name] = grad_report(g, t.grad.numpy(), name, tol)
    return reports
