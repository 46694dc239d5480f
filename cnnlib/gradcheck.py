"""Gradient checking: relative error, centred-difference numerical gradients, readable reports
that point at the worst element, and a one-call comparison of a layer with torch.autograd.

Typical use in a notebook::

    num = numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)
    print(grad_report(dx, num, "dx"))   # dx: max relative error 3.2e-10 at index (1, 2) ... OK
"""

from __future__ import annotations

import html
import numbers
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
    "check_gradients",
]


def _check_step(h: Any) -> float:
    if isinstance(h, bool) or not isinstance(h, numbers.Real) or not np.isfinite(h) or h <= 0:
        raise ValueError(f"step h must be a positive finite number, got {h!r}")
    return float(h)


def _check_perturbable(x: Any) -> np.ndarray:
    # The perturbation happens in place, so a copy made by np.asarray would be useless.
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        got = type(x).__name__ if not isinstance(x, np.ndarray) else f"ndarray of {x.dtype}"
        raise TypeError(
            "x must be a floating-point numpy array (it is perturbed in place), got " + got
        )
    if not x.flags.writeable:
        raise ValueError("x must be writeable (it is perturbed in place); pass x.copy()")
    return x


def rel_error(x: Any, y: Any) -> float:
    """Maximum elementwise relative error, max |x - y| / max(1e-8, |x| + |y|).

    x, y: arrays (or scalars) of one shape. Returns a Python float; 0.0 for empty arrays.
    Below about 1e-7 a gradient is right; 1e-2 and above it is almost surely wrong.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function by centred differences, (f(x + h e_i) - f(x - h e_i)) / 2h.

    f: takes x, returns a scalar.
    x: float array of any shape (use float64: a float32 step of 1e-5 loses most of its digits);
       perturbed in place one element at a time and restored, even if f raises.
    Returns dx: float64 array of x's shape.
    """
    x = _check_perturbable(x)
    h = _check_step(h)
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i].copy()
        try:
            x[i] = old + h
            fp = f(x)
            x[i] = old - h
            fm = f(x)
        finally:
            x[i] = old
        if np.ndim(fp) != 0 and np.size(fp) != 1:
            raise ValueError(
                f"f must return a scalar, got an array of shape {np.shape(fp)}; "
                "use numerical_gradient_array for array-valued functions"
            )
        grad[i] = (float(np.asarray(fp).item()) - float(np.asarray(fm).item())) / (2 * h)
    return grad


def numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: Any, h: float = 1e-5
) -> np.ndarray:
    """Backward pass of an array function by centred differences, given the upstream gradient.

    grad[i] = sum((f(x + h e_i) - f(x - h e_i)) * df) / 2h, i.e. the gradient of sum(f(x) * df).

    f: takes x, returns an array of df's shape (e.g. ``lambda v: affine_forward(v, w, b)[0]``).
    x: float array of any shape, perturbed in place and restored (use float64).
    df: upstream gradient dout, shape of f(x).
    Returns dx: float64 array of x's shape.
    """
    x = _check_perturbable(x)
    h = _check_step(h)
    df = np.asarray(df, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for i in np.ndindex(x.shape):
        old = x[i].copy()
        try:
            x[i] = old + h
            # copy: f may return a view of x or of a buffer it reuses
            pos = np.array(f(x), dtype=np.float64, copy=True)
            x[i] = old - h
            neg = np.array(f(x), dtype=np.float64, copy=True)
        finally:
            x[i] = old
        if pos.shape != df.shape:
            raise ValueError(f"f(x) has shape {pos.shape} but df has shape {df.shape}")
        grad[i] = np.sum((pos - neg) * df) / (2 * h)
    return grad


@dataclass(frozen=True)
class GradReport:
    """How far an analytic gradient is from a reference, and where it is worst.

    worst_index: the multi-index (into the gradient's shape) of the largest relative error.
    ``bool(report)`` is ``report.passed``.
    """

    name: str
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic_value: float
    numeric_value: float
    passed: bool
    tol: float

    def _verdict(self) -> str:
        return "OK" if self.passed else f"FAILED (tolerance {self.tol:.0e})"

    def __str__(self) -> str:
        return (
            f"{self.name}: max relative error {self.max_rel_error:.1e} at index "
            f"{self.worst_index}: analytic {self.analytic_value:.6g}, "
            f"numeric {self.numeric_value:.6g} \u2014 {self._verdict()}"
        )

    def __bool__(self) -> bool:
        return self.passed

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        return (
            f"<span style='font-family:monospace'><b>{html.escape(self.name)}</b>: "
            f"max relative error {self.max_rel_error:.1e} at index {self.worst_index}: "
            f"analytic {self.analytic_value:.6g}, numeric {self.numeric_value:.6g} \u2014 "
            f"<b style='color:{colour}'>{html.escape(self._verdict())}</b></span>"
        )


def grad_report(analytic: Any, numeric: Any, name: str = "dx", tol: float = 1e-7) -> GradReport:
    """Compare an analytic gradient with a numerical (or autograd) one, element by element.

    analytic, numeric: arrays of one shape. NaN or inf in either counts as an infinite error.
    Returns a GradReport; passed is max relative error <= tol.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"{name}: analytic gradient has shape {a.shape}, numeric has {n.shape}")
    if a.size == 0:
        return GradReport(name, 0.0, (), 0.0, 0.0, True, float(tol))
    with np.errstate(invalid="ignore"):
        rel = np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))
    rel = np.where(np.isfinite(a) & np.isfinite(n) & np.isfinite(rel), rel, np.inf)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(rel)), rel.shape))
    worst = float(rel[idx])
    return GradReport(name, worst, idx, float(a[idx]), float(n[idx]), worst <= tol, float(tol))


def _default_names(k: int) -> list[str]:
    return {1: ["dx"], 2: ["dx", "dw"], 3: ["dx", "dw", "db"]}.get(k, [f"d{i}" for i in range(k)])


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
    (a tuple in the order of ``arrays``, or one array for one input). dout is standard normal
    from ``np.random.default_rng(seed)``, of out's shape. torch_fn(*tensors) -> out_t is the
    oracle, run on float64 tensors with requires_grad; out_t.backward(dout) gives the reference.
    Returns {"out": ..., "dx": ..., "dw": ..., "db": ...} (names for three arrays; ("dx",) for
    one; "d0", "d1", ... otherwise, or ``names``).
    """
    import torch

    if isinstance(arrays, np.ndarray):
        raise TypeError("arrays must be a list of arrays, e.g. [x, w, b] (or [x] for one input)")
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    names = _default_names(len(arrays)) if names is None else list(names)
    if len(names) != len(arrays):
        raise ValueError(f"got {len(names)} names for {len(arrays)} arrays")
    # copies: a forward/backward that writes into its inputs must not corrupt the oracle's
    out, cache = forward(*[a.copy() for a in arrays], *extra_args)
    out = np.asarray(out, dtype=np.float64)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    grads = backward(dout.copy(), cache)
    if not isinstance(grads, (tuple, list)):
        grads = (grads,)
    if len(grads) != len(arrays):
        raise ValueError(f"backward returned {len(grads)} gradients for {len(arrays)} inputs")
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    ref = torch_fn(*tensors)
    ref.backward(torch.tensor(dout, dtype=ref.dtype))
    reports = {"out": grad_report(out, ref.detach().numpy(), "out", tol)}
    for name, g, t in zip(names, grads, tensors):
        ref_grad = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        reports[name] = grad_report(g, ref_grad, name, tol)
    return reports


def check_gradients(
    f: Callable[[np.ndarray], Any],
    x: np.ndarray,
    analytic: Any,
    df: Any = None,
    name: str = "dx",
    tol: float = 1e-7,
    h: float = 1e-5,
) -> GradReport:
    """Numerical gradient of f at x, compared with ``analytic`` in one call.

    f scalar-valued when df is None, else array-valued with upstream gradient df (f(x)'s shape).
    x: float64 array, perturbed in place and restored. Returns a GradReport.
    """
    if df is None:
        numeric = numerical_gradient(f, x, h)
    else:
        numeric = numerical_gradient_array(f, x, df, h)
    return grad_report(analytic, numeric, name, tol)
