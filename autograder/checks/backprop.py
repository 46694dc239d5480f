"""Hidden checks of assignment 03_backprop (gates, layer backward passes, activations).

Every case is drawn from ``rng``; the oracle is PyTorch autograd in float64 computed here, in
the trusted parent, from the same inputs. Known wrong implementations are recomputed here too
(numpy) and passed as ``variants`` so the feedback names the mistake.

Cache layouts the student's backward passes receive (documented in the notebook, built here
from plain data, so the checks do not depend on the student's forward passes):
- ``conv_backward_naive(dout, cache)``: ``cache = (x, w, b, conv_param)``.
- ``max_pool_backward_naive(dout, cache)``: ``cache = (x, pool_param)``.
The affine, ReLU, activation and maxout backward passes receive the cache returned by the
student's own forward pass (any layout they chose).

Kinks are avoided: ReLU/leaky ReLU/ELU inputs satisfy |x| >= 0.05, max-gate inputs differ by
at least 0.1, pooling windows hold distinct values, maxout pieces are continuous draws.

Tolerances (float64 everywhere): rtol 1e-6, atol 1e-8 for every array (naive loops and torch
agree to ~1e-14 here; the margin absorbs summation order and float32 inputs upcast by the
student). Scalars from the gates use the same tolerance.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograder.checkkit import (
    Call,
    Check,
    Opaque,
    Raised,
    Ref,
    Skipped,
    Verdict,
    all_of,
    expect_close,
)

ASSIGNMENT = "03_backprop"

RTOL = 1e-6
ATOL = 1e-8

# (grade_id, points): the autograded test cells of notebooks/03_backprop/backprop.ipynb.
POINTS = {
    "test_staged_circuit": 2,
    "test_gates": 4,
    "test_sigmoid_neuron": 2,
    "test_affine": 3,
    "test_relu": 2,
    "test_conv_backward": 4,
    "test_max_pool_backward": 3,
    "test_activations": 3,
    "test_maxout": 2,
}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _is_number(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float, np.integer, np.floating)):
        return True
    return isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iuf"


def _close(got: Any, expected: Any, what: str, variants: dict[str, Any] | None = None) -> Verdict:
    verdict = expect_close(got, expected, what, rtol=RTOL, atol=ATOL, variants=variants)
    # checkkit's mismatch description locates errors by index, which a 0-d value lacks:
    # say plainly what the number should have been.
    if verdict.fraction < 1.0 and np.ndim(expected) == 0 and _is_number(got) \
            and "it looks like" not in verdict.message:
        return Verdict(0.0, f"{what} should be {float(expected):.6g}, got {float(got):.6g}")
    return verdict


def _part(res: Any, i: int, n: int, what: str) -> tuple[Any, Verdict | None]:
    """``res[i]`` when ``res`` is a tuple/list of length ``n``; else a zero verdict."""
    if isinstance(res, Raised):
        return None, Verdict(0.0, f"{what}: your code raised {res.type}: {res.message}")
    if isinstance(res, Skipped):
        return None, Verdict(0.0, f"{what}: {res.reason}")
    if not isinstance(res, (tuple, list)) or len(res) != n:
        shown = type(res).__name__ if not isinstance(res, Opaque) else res.type
        return None, Verdict(0.0, f"{what} should return a tuple of {n} values, got {shown}")
    return res[i], None


def _away_from_zero(rng: np.random.Generator, shape: Sequence[int], margin: float = 0.05,
                    scale: float = 1.0) -> np.ndarray:
    sign = rng.choice([-1.0, 1.0], size=shape)
    return sign * (margin + np.abs(rng.normal(0.0, scale, size=shape)))


def _torch():
    import torch

    return torch


def _autograd(fn: Callable[..., Any], arrays: Sequence[np.ndarray], dout: np.ndarray):
    """Forward value and gradients of ``sum(fn(*tensors) * dout)`` in float64."""
    torch = _torch()
    ts = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(torch.tensor(np.asarray(dout, dtype=np.float64)))
    return out.detach().numpy(), [t.grad.numpy().copy() for t in ts]


def _scalar(rng: np.random.Generator, lo: float = -3.0, hi: float = 3.0) -> float:
    return float(np.round(rng.uniform(lo, hi), 3))


def _dout_scalar(rng: np.random.Generator) -> float:
    # Never 1: an implementation that forgets the upstream gradient must differ.
    return float(rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.0))


# --------------------------------------------------------------------------------------------
# staged circuit
# --------------------------------------------------------------------------------------------


def _check_staged(rng: np.random.Generator) -> Check:
    cases = [(-2.0, 5.0, -4.0)] + [(_scalar(rng), _scalar(rng), _scalar(rng)) for _ in range(2)]
    steps = [Call("staged_circuit", args=c) for c in cases]

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for (x, y, z), res in zip(cases, results, strict=True):
            where = f"staged_circuit({x:g}, {y:g}, {z:g})"
            if isinstance(res, (Raised, Skipped)):
                parts.append(_close(res, 0.0, where))
                continue
            if not isinstance(res, dict):
                parts.append(Verdict(0.0, f"{where} should return a dict, got "
                                          f"{getattr(res, 'type', type(res).__name__)}"))
                continue
            q = x + y
            want = {"q": q, "f": q * z, "dfdq": z, "dfdz": q, "dfdx": z, "dfdy": z}
            missing = sorted(set(want) - set(res))
            if missing:
                parts.append(Verdict(0.0, f"{where} is missing key(s) {missing}"))
                continue
            wrong = {
                "dfdx": {"the local gradient dq/dx = 1 without the upstream df/dq": 1.0,
                         "df/dx = q (the mul gate was not switched)": q},
                "dfdy": {"the local gradient dq/dy = 1 without the upstream df/dq": 1.0,
                         "df/dy = q (the mul gate was not switched)": q},
                "dfdz": {"df/dz = z (the mul gate was not switched: it should be q)": z},
                "dfdq": {"df/dq = q (the mul gate was not switched: it should be z)": q},
            }
            parts.extend(_close(res[k], v, f"{where}['{k}']", wrong.get(k))
                         for k, v in want.items())
        return all_of(*parts)

    return Check("test_staged_circuit", POINTS["test_staged_circuit"], steps, judge)


# --------------------------------------------------------------------------------------------
# gates
# --------------------------------------------------------------------------------------------


def _sig(v: float) -> float:
    return float(1.0 / (1.0 + np.exp(-v)))


def _check_gates(rng: np.random.Generator) -> Check:
    cases: list[tuple[str, tuple[float, ...], float]] = []
    for kind in ("AddGate", "MultiplyGate", "MaxGate"):
        for _ in range(2):
            x = _scalar(rng)
            y = _scalar(rng)
            while kind == "MaxGate" and abs(x - y) < 0.1:
                y = _scalar(rng)
            cases.append((kind, (x, y), _dout_scalar(rng)))
    for _ in range(2):
        cases.append(("SigmoidGate", (_scalar(rng, -4, 4),), _dout_scalar(rng)))

    steps = []
    for i, (kind, inputs, dout) in enumerate(cases):
        steps += [Call(kind, save=f"g{i}", ret=False),
                  Call("forward", args=inputs, on=f"g{i}"),
                  Call("backward", args=(dout,), on=f"g{i}")]

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for i, (kind, inputs, dout) in enumerate(cases):
            fwd, bwd = results[3 * i + 1], results[3 * i + 2]
            args = ", ".join(f"{v:g}" for v in inputs)
            label = f"{kind}().forward({args})"
            if kind == "AddGate":
                x, y = inputs
                out, grads = x + y, [dout, dout]
                wrong = {"the local gradients (1, 1) without the upstream gradient": [1.0, 1.0],
                         "the gradient split in half between the inputs": [dout / 2, dout / 2]}
            elif kind == "MultiplyGate":
                x, y = inputs
                out, grads = x * y, [dout * y, dout * x]
                wrong = {"the mul gate is not switched (each input got upstream times its own "
                         "value)": [dout * x, dout * y],
                         "the local gradients (y, x) without the upstream gradient": [y, x]}
            elif kind == "MaxGate":
                x, y = inputs
                out = max(x, y)
                grads = [dout, 0.0] if x > y else [0.0, dout]
                wrong = {"the gradient routed to the smaller input": grads[::-1],
                         "the gradient sent to both inputs (max routes it to the larger one "
                         "only)": [dout, dout],
                         "the local gradient without the upstream gradient":
                             [1.0, 0.0] if x > y else [0.0, 1.0]}
            else:
                (x,) = inputs
                s = _sig(x)
                out, grads = s, dout * s * (1 - s)
                wrong = {"dout * out, missing the factor (1 - out)": dout * s,
                         "sigmoid'(x) = s(1-s) without the upstream gradient": s * (1 - s),
                         "x(1-x) of the input instead of out(1-out) of the output":
                             dout * x * (1 - x)}
            # A gate counts only when both passes are right: 1 of 4 gates wrong loses 1/4.
            v = all_of(_close(fwd, out, label),
                       _close(bwd, grads, f"{kind}.backward({dout:.3g}) after {label}", wrong))
            parts.append(v if v.fraction == 1.0 else Verdict(0.0, v.message))
        return all_of(*parts)

    return Check("test_gates", POINTS["test_gates"], steps, judge)


# --------------------------------------------------------------------------------------------
# sigmoid neuron
# --------------------------------------------------------------------------------------------


def _check_sigmoid_neuron(rng: np.random.Generator) -> Check:
    cases = [(np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0]))]
    cases += [(rng.normal(0, 1.5, 3), rng.normal(0, 1.5, 2)) for _ in range(2)]
    steps = [Call("sigmoid_neuron", args=(w, x)) for w, x in cases]

    def judge(results: list[Any]) -> Verdict:
        torch = _torch()
        parts = []
        for (w, x), res in zip(cases, results, strict=True):
            label = f"sigmoid_neuron(w={np.round(w, 3).tolist()}, x={np.round(x, 3).tolist()})"
            f_val, (dw, dx) = _autograd(
                lambda wt, xt: torch.sigmoid(wt[0] * xt[0] + wt[1] * xt[1] + wt[2]),
                [w, x], np.array(1.0))
            ds = float(f_val) * (1 - float(f_val))
            got = []
            for i in range(3):
                part, bad = _part(res, i, 3, label)
                if bad is not None:
                    parts.append(bad)
                    break
                got.append(part)
            else:
                parts.append(_close(got[0], f_val, f"{label}: f"))
                parts.append(_close(got[1], dw, f"{label}: dw", {
                    "dw without the sigmoid's local gradient s(1-s)": np.array([x[0], x[1], 1.0]),
                    "dw holds the gradient w.r.t. the other factor (w instead of x)":
                        np.array([w[0] * ds, w[1] * ds, ds])}))
                parts.append(_close(got[2], dx, f"{label}: dx", {
                    "dx without the sigmoid's local gradient s(1-s)": w[:2],
                    "dx holds x * s(1-s) (the mul gate was not switched)": x * ds}))
        return all_of(*parts)

    return Check("test_sigmoid_neuron", POINTS["test_sigmoid_neuron"], steps, judge)


# --------------------------------------------------------------------------------------------
# affine and ReLU
# --------------------------------------------------------------------------------------------


def _check_affine(rng: np.random.Generator) -> Check:
    cases = []
    for k in (1, 2, 3):
        n = int(rng.integers(2, 5))
        dims = tuple(int(d) for d in rng.integers(2, 5, size=k))
        d = int(np.prod(dims))
        m = int(rng.integers(2, 6))
        cases.append((rng.normal(size=(n, *dims)), rng.normal(size=(d, m)), rng.normal(size=m),
                      rng.normal(size=(n, m))))
    steps = []
    for i, (x, w, b, dout) in enumerate(cases):
        steps += [Call("affine_forward", args=(x, w, b), save=f"f{i}"),
                  Call("affine_backward", args=(dout, Ref(f"f{i}", 1)))]

    def judge(results: list[Any]) -> Verdict:
        parts = []
        for i, (x, w, b, dout) in enumerate(cases):
            label = f"x of shape {x.shape}"
            out, (dx, dw, db) = _autograd(
                lambda xt, wt, bt: xt.reshape(xt.shape[0], -1) @ wt + bt, [x, w, b], dout)
            fwd, bad = _part(results[2 * i], 0, 2, f"affine_forward ({label})")
            parts.append(bad or _close(fwd, out, f"affine_forward out ({label})"))
            xf = x.reshape(len(x), -1)
            n = len(x)
            got = []
            for j in range(3):
                part, bad = _part(results[2 * i + 1], j, 3, f"affine_backward ({label})")
                if bad is not None:
                    parts.append(bad)
                    break
                got.append(part)
            else:
                parts.append(_close(got[0], dx, f"dx ({label})", {
                    "dx was not reshaped back to x's shape": dout @ w.T}))
                parts.append(_close(got[1], dw, f"dw ({label})", {
                    "dw uses only the first example (not summed over the batch)":
                        xf[:1].T @ dout[:1],
                    "dw is averaged over the batch instead of summed": dw / n,
                    "dw is transposed": dw.T}))
                parts.append(_close(got[2], db, f"db ({label})", {
                    "db uses only the first example (not summed over the batch)": dout[0],
                    "db is averaged over the batch instead of summed": db / n,
                    "db is not summed over the batch": dout}))
        return all_of(*parts)

    return Check("test_affine", POINTS["test_affine"], steps, judge)


def _check_relu(rng: np.random.Generator) -> Check:
    shapes = [(3, 4), (2, 3, 4, 5), (int(rng.integers(2, 6)), int(rng.integers(2, 6)))]
    cases = [(_away_from_zero(rng, s), rng.normal(size=s)) for s in shapes]
    steps = []
    for i, (x, dout) in enumerate(cases):
        steps += [Call("relu_forward", args=(x,), save=f"r{i}"),
                  Call("relu_backward", args=(dout, Ref(f"r{i}", 1)))]

    def judge(results: list[Any]) -> Verdict:
        torch = _torch()
        parts = []
        for i, (x, dout) in enumerate(cases):
            label = f"x of shape {x.shape}"
            out, (dx,) = _autograd(torch.relu, [x], dout)
            fwd, bad = _part(results[2 * i], 0, 2, f"relu_forward ({label})")
            parts.append(bad or _close(fwd, out, f"relu_forward out ({label})"))
            parts.append(_close(results[2 * i + 1], dx, f"relu_backward dx ({label})", {
                "the gradient passes where x < 0 (no mask)": dout,
                "the mask is inverted (gradient passes where x < 0)": dout * (x < 0),
                "dout is multiplied by the activation instead of the 0/1 mask": dout * out}))
        return all_of(*parts)

    return Check("test_relu", POINTS["test_relu"], steps, judge)


# --------------------------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------------------------


def _conv_case(rng: np.random.Generator, stride: int, pad: int, hh: int, ww: int) -> dict:
    n = int(rng.integers(2, 4))
    c = int(rng.integers(1, 4))
    f = int(rng.integers(2, 4))
    h_out, w_out = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    h = (h_out - 1) * stride + hh - 2 * pad
    w = (w_out - 1) * stride + ww - 2 * pad
    # Keep the input at least one pixel and the case exact (no leftover rows).
    h, w = max(h, 1), max(w, 1)
    h_out, w_out = (h + 2 * pad - hh) // stride + 1, (w + 2 * pad - ww) // stride + 1
    return {
        "x": rng.normal(size=(n, c, h, w)), "w": rng.normal(size=(f, c, hh, ww)),
        "b": rng.normal(size=f), "dout": rng.normal(size=(n, f, h_out, w_out)),
        "conv_param": {"stride": stride, "pad": pad},
    }


def _conv_backward_np(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, pad: int,
                      index_stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(d padded x, dw) by loops; index_stride != stride reproduces 'stride ignored'."""
    s = stride if index_stride is None else index_stride
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    hh, ww = w.shape[2:]
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = xp[:, :, i * s:i * s + hh, j * s:j * s + ww]
            g = dout[:, :, i, j]
            dw += np.tensordot(g, win, axes=([0], [0]))
            dxp[:, :, i * s:i * s + hh, j * s:j * s + ww] += np.tensordot(g, w, axes=([1], [0]))
    return dxp, dw


def _check_conv_backward(rng: np.random.Generator) -> Check:
    cases = [
        _conv_case(rng, 1, 1, 3, 3),
        _conv_case(rng, 2, int(rng.integers(1, 3)), 3, 3),
        _conv_case(rng, int(rng.integers(2, 4)), int(rng.integers(0, 2)), 2, 3),
        _conv_case(rng, 1, 0, int(rng.integers(2, 4)), int(rng.integers(1, 3))),
    ]
    steps = [Call("conv_backward_naive",
                  args=(c["dout"], (c["x"], c["w"], c["b"], c["conv_param"]))) for c in cases]

    def judge(results: list[Any]) -> Verdict:
        torch = _torch()
        parts = []
        for c, res in zip(cases, results, strict=True):
            x, w, dout = c["x"], c["w"], c["dout"]
            s, p = c["conv_param"]["stride"], c["conv_param"]["pad"]
            label = f"x {x.shape}, w {w.shape}, stride {s}, pad {p}"
            _, (dx, dw, db) = _autograd(
                lambda xt, wt, bt, s=s, p=p: torch.nn.functional.conv2d(
                    xt, wt, bt, stride=s, padding=p),
                [x, w, c["b"]], dout)
            h, wd = x.shape[2:]
            dxp, _ = _conv_backward_np(dout, x, w, s, p)
            dx_nostride = dw_nostride = None
            if s > 1:
                dxp1, dw_nostride = _conv_backward_np(dout, x, w, s, p, index_stride=1)
                dx_nostride = dxp1[:, :, p:p + h, p:p + wd]
            _, dw_first = _conv_backward_np(dout[:1], x[:1], w, s, p)
            _, (dx_flip, _, _) = _autograd(
                lambda xt, wt, bt, s=s, p=p: torch.nn.functional.conv2d(
                    xt, torch.flip(wt, (2, 3)), bt, stride=s, padding=p),
                [x, w, c["b"]], dout)
            last = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
            ho, wo = dout.shape[2:]
            hh, ww = w.shape[2:]
            dw_last = np.tensordot(dout[:, :, -1, -1],
                                   last[:, :, (ho - 1) * s:(ho - 1) * s + hh,
                                        (wo - 1) * s:(wo - 1) * s + ww], axes=([0], [0]))
            got = []
            for j in range(3):
                part, bad = _part(res, j, 3, f"conv_backward_naive ({label})")
                if bad is not None:
                    parts.append(bad)
                    break
                got.append(part)
            else:
                parts.append(_close(got[0], dx, f"dx ({label})", {
                    "the padding gradient was not cropped (dx has the padded shape)": dxp,
                    "the stride was ignored (windows placed one pixel apart)": dx_nostride,
                    "the kernel is flipped (true convolution instead of cross-correlation)":
                        dx_flip}))
                parts.append(_close(got[1], dw, f"dw ({label})", {
                    "dw uses only the first example (not summed over the batch)": dw_first,
                    "dw is averaged over the batch instead of summed": dw / len(x),
                    "the stride was ignored (windows placed one pixel apart)": dw_nostride,
                    "dw is overwritten in the loop instead of accumulated (only the last "
                    "position counts)": dw_last}))
                parts.append(_close(got[2], db, f"db ({label})", {
                    "db uses only the first example (not summed over the batch)":
                        dout[0].sum(axis=(1, 2)),
                    "db is not summed over the batch": dout.sum(axis=(2, 3)),
                    "db is not summed over output positions": dout.sum(axis=0),
                    "db is averaged instead of summed": dout.mean(axis=(0, 2, 3)),
                    "db is overwritten in the loop instead of accumulated (only the last "
                    "position counts)": dout[:, :, -1, -1].sum(axis=0)}))
        return all_of(*parts)

    return Check("test_conv_backward", POINTS["test_conv_backward"], steps, judge, timeout=30.0)


# --------------------------------------------------------------------------------------------
# max pooling
# --------------------------------------------------------------------------------------------


def _pool_case(rng: np.random.Generator, ph: int, pw: int, stride: int) -> dict:
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    h_out, w_out = int(rng.integers(2, 4)), int(rng.integers(2, 4))
    h, w = (h_out - 1) * stride + ph, (w_out - 1) * stride + pw
    # Distinct values: no ties inside a window, so the max (and its gradient) is unambiguous.
    x = (rng.permutation(n * c * h * w).reshape(n, c, h, w) + rng.uniform(0, 0.5)) / 10.0
    return {"x": x, "dout": rng.normal(size=(n, c, h_out, w_out)),
            "pool_param": {"pool_height": ph, "pool_width": pw, "stride": stride}}


def _pool_backward_np(dout: np.ndarray, x: np.ndarray, ph: int, pw: int, stride: int,
                      mode: str) -> np.ndarray:
    """Wrong pool backward passes: 'all', 'avg', 'nostride' (max, windows 1 apart), 'assign'."""
    dx = np.zeros_like(x)
    s = 1 if mode == "nostride" else stride
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            g = dout[:, :, i, j][:, :, None, None]
            if mode == "all":
                upd = np.broadcast_to(g, win.shape)
            elif mode == "avg":
                upd = np.broadcast_to(g / (ph * pw), win.shape)
            else:
                upd = (win == win.max(axis=(2, 3), keepdims=True)) * g
            if mode == "assign":
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw] = upd
            else:
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += upd
    return dx


def _check_max_pool_backward(rng: np.random.Generator) -> Check:
    cases = [_pool_case(rng, 2, 2, 2), _pool_case(rng, 3, 3, 2),
             _pool_case(rng, int(rng.integers(2, 4)), int(rng.integers(2, 4)), 1)]
    steps = [Call("max_pool_backward_naive", args=(c["dout"], (c["x"], c["pool_param"])))
             for c in cases]

    def judge(results: list[Any]) -> Verdict:
        torch = _torch()
        parts = []
        for c, res in zip(cases, results, strict=True):
            x, dout, pp = c["x"], c["dout"], c["pool_param"]
            ph, pw, s = pp["pool_height"], pp["pool_width"], pp["stride"]
            label = f"x {x.shape}, pool {ph}x{pw}, stride {s}"
            _, (dx,) = _autograd(
                lambda xt, ph=ph, pw=pw, s=s: torch.nn.functional.max_pool2d(
                    xt, (ph, pw), stride=s), [x], dout)
            overlap = s < ph or s < pw
            variants = {
                "the gradient was sent to every element of the window (max routes it to the "
                "largest only)": _pool_backward_np(dout, x, ph, pw, s, "all"),
                "the gradient was averaged over the window (that is average-pool backward)":
                    _pool_backward_np(dout, x, ph, pw, s, "avg"),
            }
            if s > 1:
                variants["the stride was ignored (windows placed one pixel apart)"] = (
                    _pool_backward_np(dout, x, ph, pw, s, "nostride"))
            if overlap:
                variants["windows overlap, and dx was overwritten instead of accumulated"] = (
                    _pool_backward_np(dout, x, ph, pw, s, "assign"))
            parts.append(_close(res, dx, f"dx ({label})", variants))
        return all_of(*parts)

    return Check("test_max_pool_backward", POINTS["test_max_pool_backward"], steps, judge,
                 timeout=30.0)


# --------------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------------


def _check_activations(rng: np.random.Generator) -> Check:
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 6)))
    leaky_alpha = float(np.round(rng.uniform(0.05, 0.3), 3))
    elu_alpha = float(np.round(rng.uniform(0.3, 2.5), 3))
    if abs(elu_alpha - 1.0) < 0.2:
        elu_alpha += 0.5
    # (name, kwargs): each forward/backward pair is called as name_forward(x, **kwargs).
    specs = [("sigmoid", {}), ("tanh", {}), ("leaky_relu", {}),
             ("leaky_relu", {"alpha": leaky_alpha}), ("elu", {}), ("elu", {"alpha": elu_alpha})]
    cases = [(name, kw, _away_from_zero(rng, shape, scale=1.5), rng.normal(size=shape))
             for name, kw in specs]
    steps = []
    for i, (name, kw, x, dout) in enumerate(cases):
        steps += [Call(f"{name}_forward", args=(x,), kwargs=kw, save=f"a{i}"),
                  Call(f"{name}_backward", args=(dout, Ref(f"a{i}", 1)))]

    def judge(results: list[Any]) -> Verdict:
        torch = _torch()
        F = torch.nn.functional
        parts = []
        for i, (name, kw, x, dout) in enumerate(cases):
            call = f"{name}_forward(x{''.join(f', {k}={v}' for k, v in kw.items())})"
            if name == "sigmoid":
                out, (dx,) = _autograd(torch.sigmoid, [x], dout)
                wrong = {"dout * out, missing the factor (1 - out)": dout * out,
                         "the local gradient without dout": out * (1 - out)}
            elif name == "tanh":
                out, (dx,) = _autograd(torch.tanh, [x], dout)
                wrong = {"1 - x^2 of the input instead of 1 - tanh(x)^2": dout * (1 - x**2),
                         "the local gradient without dout": 1 - out**2}
            elif name == "leaky_relu":
                a = kw.get("alpha", 0.01)
                out, (dx,) = _autograd(lambda t, a=a: F.leaky_relu(t, a), [x], dout)
                wrong = {"alpha is ignored in backward (plain ReLU mask)": dout * (x > 0),
                         "the gradient passes unchanged where x < 0": dout}
                if "alpha" in kw:
                    wrong["the default alpha=0.01 was used instead of the given alpha"] = (
                        dout * np.where(x > 0, 1.0, 0.01))
            else:
                a = kw.get("alpha", 1.0)
                out, (dx,) = _autograd(lambda t, a=a: F.elu(t, a), [x], dout)
                wrong = {"the gradient for x <= 0 misses the factor alpha (e^x)":
                             dout * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
                         "the gradient for x <= 0 is taken as the output alpha(e^x - 1)":
                             dout * np.where(x > 0, 1.0, out),
                         "the gradient is zero where x <= 0 (plain ReLU mask)": dout * (x > 0)}
                if "alpha" in kw:
                    wrong["the default alpha=1.0 was used instead of the given alpha"] = (
                        dout * np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))))
            fwd, bad = _part(results[2 * i], 0, 2, call)
            parts.append(bad or _close(fwd, out, f"{call} out"))
            parts.append(_close(results[2 * i + 1], dx, f"{name}_backward dx after {call}", wrong))
        return all_of(*parts)

    return Check("test_activations", POINTS["test_activations"], steps, judge)


def _maxout_grads(x: np.ndarray, w1: np.ndarray, w2: np.ndarray, d1: np.ndarray,
                  d2: np.ndarray) -> list[np.ndarray]:
    """(dx, dw1, db1, dw2, db2) when d1/d2 reach the two pieces' outputs."""
    return [d1 @ w1.T + d2 @ w2.T, x.T @ d1, d1.sum(0), x.T @ d2, d2.sum(0)]


def _check_maxout(rng: np.random.Generator) -> Check:
    cases = []
    for _ in range(2):
        n, d, m = (int(v) for v in rng.integers(2, 6, size=3))
        cases.append([rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m),
                      rng.normal(size=(d, m)), rng.normal(size=m), rng.normal(size=(n, m))])
    steps = []
    for i, (x, w1, b1, w2, b2, dout) in enumerate(cases):
        steps += [Call("maxout_forward", args=(x, w1, b1, w2, b2), save=f"m{i}"),
                  Call("maxout_backward", args=(dout, Ref(f"m{i}", 1)))]

    def judge(results: list[Any]) -> Verdict:
        torch = _torch()
        parts = []
        names = ("dx", "dw1", "db1", "dw2", "db2")
        for i, (x, w1, b1, w2, b2, dout) in enumerate(cases):
            label = f"x {x.shape}, w1 {w1.shape}"
            out, grads = _autograd(lambda *t: torch.maximum(t[0] @ t[1] + t[2], t[0] @ t[3] + t[4]),
                                   [x, w1, b1, w2, b2], dout)
            first = (x @ w1 + b1) > (x @ w2 + b2)

            both = _maxout_grads(x, w1, w2, dout, dout)
            swapped = _maxout_grads(x, w1, w2, dout * ~first, dout * first)
            fwd, bad = _part(results[2 * i], 0, 2, f"maxout_forward ({label})")
            parts.append(bad or _close(fwd, out, f"maxout_forward out ({label})"))
            got = []
            for j in range(5):
                part, bad = _part(results[2 * i + 1], j, 5, f"maxout_backward ({label})")
                if bad is not None:
                    parts.append(bad)
                    break
                got.append(part)
            else:
                for j, name in enumerate(names):
                    parts.append(_close(got[j], grads[j], f"{name} ({label})", {
                        "the gradient was sent to both linear pieces (only the larger one "
                        "gets it)": both[j],
                        "the gradient was sent to the smaller piece": swapped[j]}))
        return all_of(*parts)

    return Check("test_maxout", POINTS["test_maxout"], steps, judge)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell of the backprop notebook, cases drawn from rng."""
    return [
        _check_staged(rng),
        _check_gates(rng),
        _check_sigmoid_neuron(rng),
        _check_affine(rng),
        _check_relu(rng),
        _check_conv_backward(rng),
        _check_max_pool_backward(rng),
        _check_activations(rng),
        _check_maxout(rng),
    ]
