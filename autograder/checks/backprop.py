"""Hidden checks of assignment 03_backprop (gates, layer backward passes, activations).

One :class:`~autograder.checks.kit.Check` per autograded test cell of
``notebooks/03_backprop/backprop.ipynb`` (same name; points come from the cell). Every case is
drawn from ``rng``; the oracle is PyTorch autograd in float64, computed here, in the trusted
parent, from the same inputs. Known wrong implementations are recomputed here too (numpy) and
passed as ``variants``, so the feedback names the mistake only when the result matches it.

Cases are independent: one per input configuration (a crash on pad 0 costs only that case).
A backward pass shares its case with the forward pass whose cache it needs; when the forward
fails the case says so once and does not judge the backward. The forward counts as one part of
such a case, each returned gradient as one more (the case earns the mean of its parts).

Cache layouts (documented in the notebook; built here from plain data, so these checks do not
depend on the student's forward passes):
- ``conv_backward_naive(dout, cache)``: ``cache = (x, w, b, conv_param)``.
- ``max_pool_backward_naive(dout, cache)``: ``cache = (x, pool_param)``.
The affine, ReLU, activation and maxout backward passes receive the cache returned by the
student's own forward pass (any layout they chose).

Rules the notebook states, and the cases that grade them:
- ReLU's gradient at exactly 0 is 0 (PyTorch's convention); leaky ReLU and ELU take the
  x <= 0 branch there (alpha; PyTorch agrees): activation inputs hold exact zeros.
- ``MaxGate``: ties send the gradient to x: one case with x == y (oracle: the rule; torch
  would split it).
- Max pooling with tied maxima gives the window's gradient to one of them only: cases with
  ties (small integers), overlapping windows included, and upstream gradients ``±2**k`` (one
  power of two per window) so the window each share came from can be read off ``dx``; any
  choice of one maximum per window is accepted.
- Overlapping pooling windows accumulate; non-square inputs, kernels and pools everywhere
  (index arithmetic right only for squares fails); conv pads 0, 1 and 2 (``pad:-pad``
  cropping fails at 0); strides 1 to 3.
- The default alphas (0.01 leaky ReLU, 1.0 ELU) and an alpha passed to the forward pass
  reaching the backward pass.
- Structural, judged from the source: ``staged_circuit`` computes dfdx and dfdy from its
  dfdq (:class:`UsesUpstream`); ``sigmoid_neuron`` is built from the student's gates
  (:class:`BuiltFrom`); no exercise may use torch, scipy, jax, autograd, tensorflow, sympy or
  the course library (:data:`BANS`: none may compute a gradient for them).

Every case draws its numbers from ``rng``: a constant answer (the visible test's values
included) earns nothing.

Tolerance: :data:`~autograder.checks.kit.F64` (rtol 1e-6, atol 1e-8) for every value (naive
loops and torch agree to ~1e-14 here; the margin absorbs summation order and float32 inputs
upcast by the student). Tie cases are exact sums of powers of two.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.checks.kit import (
    F64,
    Call,
    Case,
    Check,
    NotRun,
    Opaque,
    Raised,
    Ref,
    Verdict,
    autograd,
    describe,
    expect_close,
    fail,
    ok,
    t64,
    unpack,
    value,
)

ASSIGNMENT = "03_backprop"
#: Numpy exercises graded against autograd: nothing that computes a gradient (or the layer)
#: for the student may be used.
BANS = ("torch", "cnnlib", "scipy", "jax", "autograd", "tensorflow", "sympy")
TOL = F64
GATES = ("AddGate", "MultiplyGate", "MaxGate", "SigmoidGate")


def _torch() -> Any:
    import torch

    return torch


# --------------------------------------------------------------------------------------------
# Structural rules (judged from the student's source in the grader)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltFrom:
    """``function`` must use each of ``parts`` (directly or through functions it calls)."""

    function: str
    parts: tuple[str, ...]

    def violations(self, view: Any) -> list[str]:
        if self.function not in view.defs or _is_stub(view.defs[self.function][1]):
            return []
        used = view.reachable([self.function])
        missing = [p for p in self.parts if p not in used]
        if not missing:
            return []
        return [f"{self.function} does not use your {', '.join(missing)}: the exercise builds "
                f"it from your {', '.join(self.parts)}"]


@dataclass(frozen=True)
class UsesUpstream:
    """The entries ``downstream`` of the dict ``function`` returns must be computed from the
    variable that holds its ``upstream`` entry (the staged backward pass), not written in
    closed form. Only clear violations count: code whose dict cannot be found passes."""

    function: str
    upstream: str
    downstream: tuple[str, ...]

    def violations(self, view: Any) -> list[str]:
        node = view.defs.get(self.function, (None, None))[1]
        if not isinstance(node, ast.FunctionDef):
            return []
        cell = view.defs[self.function][0]
        entries = _dict_entries(node)
        if self.upstream not in entries:
            return []
        flow = _assignments(node)
        up = entries[self.upstream]
        stage = {n for n in _names(up, flow) if n in flow} | _same_as(up, flow)
        out = []
        for key in self.downstream:
            if key not in entries:
                continue
            expr = entries[key]
            if _reads_key(expr, flow, self.upstream) or _names(expr, flow) & stage:
                continue
            out.append(f"{self.function} computes '{key}' without the upstream gradient "
                       f"'{self.upstream}' (line {expr.lineno} of cell {cell}): multiply the "
                       "local gradient by the upstream one, as the exercise asks")
        return out


def _is_stub(fn: ast.AST) -> bool:
    """The release's stub: a body that only raises NotImplementedError (after a docstring)."""
    body = [b for b in getattr(fn, "body", []) if not (
        isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], ast.Raise) and \
        "NotImplementedError" in ast.unparse(body[0])


def _dict_entries(fn: ast.FunctionDef) -> dict[str, ast.expr]:
    """String-keyed entries of dict literals, ``dict(k=...)`` calls and ``d["k"] = ...``."""
    out: dict[str, ast.expr] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    out[k.value] = v
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "dict":
            out.update({k.arg: k.value for k in node.keywords if k.arg})
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Subscript) and isinstance(t.slice, ast.Constant) and \
                        isinstance(t.slice.value, str):
                    out[t.slice.value] = node.value
    return out


def _assignments(fn: ast.FunctionDef) -> dict[str, list[ast.expr]]:
    """Every value assigned to each local name (tuple targets get the whole value)."""
    flow: dict[str, list[ast.expr]] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            pairs = [(node.target, node.value)]
        else:
            continue
        for target, val in pairs:
            for n in ast.walk(target):
                if isinstance(n, ast.Name):
                    flow.setdefault(n.id, []).append(val)
    return flow


def _names(expr: ast.AST, flow: Mapping[str, list[ast.expr]]) -> set[str]:
    """Names ``expr`` reads, directly or through the local names it reads."""
    seen: set[str] = set()
    todo = [expr]
    while todo:
        for n in ast.walk(todo.pop()):
            if isinstance(n, ast.Name) and n.id not in seen:
                seen.add(n.id)
                todo += flow.get(n.id, [])
    return seen


def _same_as(expr: ast.expr, flow: Mapping[str, list[ast.expr]]) -> set[str]:
    """Local names assigned exactly ``expr`` (``dq = z`` when the dict says ``"dfdq": z``)."""
    text = ast.dump(expr)
    return {name for name, values in flow.items() if any(ast.dump(v) == text for v in values)}


def _reads_key(expr: ast.expr, flow: Mapping[str, list[ast.expr]], key: str) -> bool:
    """``expr`` reads ``something["key"]``, directly or through local names."""
    todo, seen = [expr], set()
    while todo:
        for n in ast.walk(todo.pop()):
            if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.Constant) and \
                    n.slice.value == key:
                return True
            if isinstance(n, ast.Name) and n.id not in seen:
                seen.add(n.id)
                todo += flow.get(n.id, [])
    return False


# --------------------------------------------------------------------------------------------
# Judging helpers
# --------------------------------------------------------------------------------------------


def _parts(label: str, parts: Sequence[Verdict], strict: bool = False) -> Verdict:
    """One case from the verdicts of its outputs: the mean of their fractions (all or nothing
    when ``strict``), and the failing outputs' messages after the case's call."""
    bad = list(dict.fromkeys(p.message for p in parts if p.fraction < 1.0))
    if not bad:
        return ok(f"{label} is right")
    frac = 0.0 if strict else sum(p.fraction for p in parts) / len(parts)
    return Verdict(frac, f"{label}: " + "; ".join(bad))


def _forward_failed(bad: Verdict, backward: str, needs: str) -> Verdict:
    """The case of a backward pass whose forward pass gave nothing usable: said once."""
    return fail(f"{bad.message}; {backward} was not checked (it needs {needs})")


@dataclass(frozen=True)
class Grad:
    """One returned gradient: its name, the oracle's value, and named wrong values."""

    name: str
    expected: Any
    variants: Mapping[str, Any] | None = None
    hints: Mapping[tuple[int, ...], str] | None = None

    def judge(self, got: Any) -> Verdict:
        return expect_close(got, self.expected, self.name, TOL, self.variants, self.hints)


def _judge_grads(got: Any, grads: Sequence[Grad], what: str
                 ) -> tuple[list[Verdict], Verdict | None]:
    """One verdict per gradient of a backward pass that returns ``dx`` or a tuple of them; or
    the one verdict saying why there is nothing to compare (a raise, a wrong tuple)."""
    if len(grads) == 1:
        v, bad = value(got, what)
        return ([] if bad else [grads[0].judge(v)]), bad
    items, bad = unpack(got, len(grads), what)
    if bad is not None:
        return [], bad
    return [g.judge(item) for g, item in zip(grads, items, strict=True)], None


def _grads_case(step: Call, label: str, grads: Sequence[Grad]) -> Case:
    """One call returning the gradients ``grads`` (no forward step needed)."""
    def judge(results: list[Any]) -> Verdict:
        parts, bad = _judge_grads(results[0], grads, label)
        return bad or _parts(label, parts)

    return Case(step, judge)


def _pair_case(forward: str, args: tuple, kwargs: Mapping[str, Any], out: np.ndarray,
               backward: str, dout: np.ndarray, grads: Sequence[Grad]) -> Case:
    """``out, cache = forward(*args, **kwargs)`` then ``backward(dout, cache)``, one case."""
    call = f"{forward}({describe(*args, **kwargs)})"
    steps = (Call(forward, args, dict(kwargs), save="fwd"),
             Call(backward, (dout, Ref("fwd", 1))))

    def judge(results: list[Any]) -> Verdict:
        pair, bad = unpack(results[0], 2, call)
        if bad is not None:
            return _forward_failed(bad, backward, f"what {forward} returns")
        parts, bad = _judge_grads(results[1], grads, backward)
        parts = [expect_close(pair[0], out, "out", TOL), *(parts or [bad] * len(grads))]
        return _parts(f"{call}, then {backward}", parts)

    return Case(steps, judge)


def _signed(rng: np.random.Generator, shape: Sequence[int], scale: float = 1.0) -> np.ndarray:
    """Values at least 0.05 away from 0, except about a fifth (at least one) exactly 0: the
    kink of ReLU-like functions is graded by the convention the notebook states."""
    x = rng.choice([-1.0, 1.0], size=shape) * (0.05 + np.abs(rng.normal(0.0, scale, shape)))
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, size=max(1, flat.size // 5), replace=False)] = 0.0
    return x


def _scalar(rng: np.random.Generator, lo: float = -3.0, hi: float = 3.0) -> float:
    return float(np.round(rng.uniform(lo, hi), 3))


def _dout_scalar(rng: np.random.Generator) -> float:
    # Never 1: an implementation that forgets the upstream gradient must differ.
    return float(np.round(rng.choice([-1.0, 1.0]) * rng.uniform(1.5, 3.0), 3))


def _dims(rng: np.random.Generator, k: int, lo: int = 2, hi: int = 5) -> tuple[int, ...]:
    return tuple(int(d) for d in rng.integers(lo, hi, size=k))


# --------------------------------------------------------------------------------------------
# Exercise 1: the staged circuit
# --------------------------------------------------------------------------------------------


def staged_oracle(x: float, y: float, z: float) -> dict[str, float]:
    """q, f and the gradients of f = (x + y) z by autograd (q kept as an intermediate)."""
    xt, yt, zt = (t64(v, grad=True) for v in (x, y, z))
    q = xt + yt
    q.retain_grad()
    f = q * zt
    f.backward()
    values = {"q": q, "f": f, "dfdq": q.grad, "dfdz": zt.grad, "dfdx": xt.grad,
              "dfdy": yt.grad}
    return {k: float(v.detach()) for k, v in values.items()}


def _staged_case(x: float, y: float, z: float) -> Case:
    want = staged_oracle(x, y, z)
    q = want["q"]
    label = f"staged_circuit({x:g}, {y:g}, {z:g})"
    wrong = {
        "dfdx": {"the local gradient dq/dx = 1 without the upstream df/dq": 1.0,
                 "df/dx = q (the mul gate was not switched)": q},
        "dfdy": {"the local gradient dq/dy = 1 without the upstream df/dq": 1.0,
                 "df/dy = q (the mul gate was not switched)": q},
        "dfdz": {"df/dz = z (the mul gate was not switched: it should be q)": z},
        "dfdq": {"df/dq = q (the mul gate was not switched: it should be z)": q},
    }

    def judge(results: list[Any]) -> Verdict:
        got, bad = value(results[0], label)
        if bad is not None:
            return bad
        if not isinstance(got, dict):
            return fail(f"{label} should return a dict, got {type(got).__name__}")
        missing = sorted(set(want) - set(got))
        if missing:
            return fail(f"{label} is missing the key(s) {missing}")
        return _parts(label, [expect_close(got[k], v, f"'{k}'", TOL, wrong.get(k))
                              for k, v in want.items()])

    return Case(Call("staged_circuit", (x, y, z)), judge)


def check_staged(rng: np.random.Generator) -> Check:
    """Three random circuits (not the visible one); dfdx and dfdy must use dfdq."""
    cases = [_staged_case(_scalar(rng), _scalar(rng), _scalar(rng)) for _ in range(3)]
    return Check("test_staged_circuit", ("staged_circuit",), cases, BANS,
                 rules=(UsesUpstream("staged_circuit", "dfdq", ("dfdx", "dfdy")),))


# --------------------------------------------------------------------------------------------
# Exercise 2: gates
# --------------------------------------------------------------------------------------------


def gate_oracle(kind: str, inputs: tuple[float, ...], dout: float
                ) -> tuple[float, Any, dict[str, Any]]:
    """(forward value, backward value, named wrong backward values) of one gate."""
    torch = _torch()
    if kind == "MaxGate" and inputs[0] == inputs[1]:
        # the notebook's rule (torch would split the gradient between tied inputs)
        return inputs[0], [dout, 0.0], {
            "ties send the gradient to y (the docstring says: to x)": [0.0, dout],
            "the gradient was split between the tied inputs (ties send it all to x)":
                [dout / 2, dout / 2],
            "both tied inputs got the gradient (ties send it to x only)": [dout, dout]}
    ops = {"AddGate": torch.add, "MultiplyGate": torch.mul, "MaxGate": torch.maximum,
           "SigmoidGate": torch.sigmoid}
    out, grads = autograd(ops[kind], list(inputs), dout)
    g = [float(v) for v in grads]
    if kind == "AddGate":
        wrong = {"the local gradients (1, 1) without the upstream gradient": [1.0, 1.0],
                 "the gradient split in half between the inputs": [dout / 2, dout / 2]}
    elif kind == "MultiplyGate":
        x, y = inputs
        wrong = {"the mul gate is not switched (each input got upstream times its own value)":
                 [dout * x, dout * y],
                 "the local gradients (y, x) without the upstream gradient": [y, x]}
    elif kind == "MaxGate":
        wrong = {"the gradient routed to the smaller input": g[::-1],
                 "the gradient sent to both inputs (max routes it to the larger one only)":
                     [dout, dout],
                 "the local gradient without the upstream gradient": [float(v != 0) for v in g]}
    else:
        s = float(out)
        wrong = {"dout * out, missing the factor (1 - out)": dout * s,
                 "sigmoid'(x) = s(1-s) without the upstream gradient": s * (1 - s),
                 "x(1-x) of the input instead of out(1-out) of the output":
                     dout * inputs[0] * (1 - inputs[0])}
        return s, g[0], wrong
    return float(out), g, wrong


def _gate_case(kind: str, inputs: tuple[float, ...], dout: float, weight: float) -> Case:
    out, grads, wrong = gate_oracle(kind, inputs, dout)
    label = f"{kind}().forward({', '.join(f'{v:g}' for v in inputs)})"
    steps = (Call(kind, save="g", ret=False), Call("forward", inputs, on="g"),
             Call("backward", (dout,), on="g"))

    def judge(results: list[Any]) -> Verdict:
        for r, what in ((results[0], f"{kind}()"), (results[1], label)):
            _, bad = value(r, what)
            if bad is not None:
                return _forward_failed(bad, "backward", "what forward stored")
        # a gate counts only when both passes are right
        return _parts(label, [expect_close(results[1], out, "the output", TOL),
                              expect_close(results[2], grads, f"backward({dout:g})", TOL,
                                           wrong)], strict=True)

    return Case(steps, judge, weight)


def check_gates(rng: np.random.Generator) -> Check:
    """Two cases per gate (weight 1/2 each: one wrong gate costs a quarter); MaxGate also has
    a tie, so its three cases weigh 1/3 each."""
    cases = []
    for kind in GATES:
        for _ in range(2):
            if kind == "SigmoidGate":
                inputs: tuple[float, ...] = (_scalar(rng, -4, 4),)
            else:
                x, y = _scalar(rng), _scalar(rng)
                while kind == "MaxGate" and abs(x - y) < 0.1:
                    y = _scalar(rng)
                inputs = (x, y)
            cases.append(_gate_case(kind, inputs, _dout_scalar(rng),
                                    1 / 3 if kind == "MaxGate" else 1 / 2))
        if kind == "MaxGate":
            v = _scalar(rng)
            cases.append(_gate_case(kind, (v, v), _dout_scalar(rng), 1 / 3))
    return Check("test_gates", GATES, cases, BANS)


# --------------------------------------------------------------------------------------------
# Exercise 3: the sigmoid neuron
# --------------------------------------------------------------------------------------------


def _neuron_case(w: np.ndarray, x: np.ndarray, as_lists: bool) -> Case:
    """One neuron; ``as_lists``: w and x passed as lists, which the docstring allows."""
    torch = _torch()
    label = f"sigmoid_neuron(w={np.round(w, 3).tolist()}, x={np.round(x, 3).tolist()})"
    f_val, (dw, dx) = autograd(
        lambda wt, xt: torch.sigmoid(wt[0] * xt[0] + wt[1] * xt[1] + wt[2]), [w, x], 1.0)
    ds = float(f_val) * (1 - float(f_val))
    grads = [
        Grad("f", f_val),
        Grad("dw", dw, {"dw without the sigmoid's local gradient s(1-s)": [x[0], x[1], 1.0],
                        "dw holds the gradient w.r.t. the other factor (w instead of x)":
                            [w[0] * ds, w[1] * ds, ds]}),
        Grad("dx", dx, {"dx without the sigmoid's local gradient s(1-s)": w[:2],
                        "dx holds x * s(1-s) (the mul gate was not switched)": x * ds}),
    ]

    args = (w.tolist(), x.tolist()) if as_lists else (w, x)
    return _grads_case(Call("sigmoid_neuron", args), label, grads)


def check_sigmoid_neuron(rng: np.random.Generator) -> Check:
    """Three random neurons (one given as lists), built from the student's gates."""
    cases = [_neuron_case(np.round(rng.normal(0, 1.5, 3), 3), np.round(rng.normal(0, 1.5, 2), 3),
                          as_lists=i == 0) for i in range(3)]
    return Check("test_sigmoid_neuron", ("sigmoid_neuron",), cases, BANS,
                 rules=(BuiltFrom("sigmoid_neuron", ("MultiplyGate", "AddGate",
                                                     "SigmoidGate")),))


# --------------------------------------------------------------------------------------------
# Exercises 4 and 5: affine and ReLU
# --------------------------------------------------------------------------------------------


def _affine_case(rng: np.random.Generator, k: int) -> Case:
    n, dims, m = int(rng.integers(2, 5)), _dims(rng, k), int(rng.integers(2, 6))
    d = int(np.prod(dims))
    x, w, b = rng.normal(size=(n, *dims)), rng.normal(size=(d, m)), rng.normal(size=m)
    dout = rng.normal(size=(n, m))
    out, (dx, dw, db) = autograd(lambda xt, wt, bt: xt.reshape(n, -1) @ wt + bt, [x, w, b], dout)
    xf = x.reshape(n, -1)
    grads = [
        Grad("dx", dx),
        Grad("dw", dw, {"dw uses only the first example (not summed over the batch)":
                        xf[:1].T @ dout[:1],
                        "dw is averaged over the batch instead of summed": dw / n,
                        "dw is transposed": dw.T}),
        Grad("db", db, {"db uses only the first example (not summed over the batch)": dout[0],
                        "db is averaged over the batch instead of summed": db / n,
                        "db is not summed over the batch": dout}),
    ]
    return _pair_case("affine_forward", (x, w, b), {}, out, "affine_backward", dout, grads)


def check_affine(rng: np.random.Generator) -> Check:
    """x with 1, 2 and 3 feature axes: forward, then backward on the student's cache."""
    cases = [_affine_case(rng, k) for k in (1, 2, 3)]
    return Check("test_affine", ("affine_forward", "affine_backward"), cases, BANS)


def _relu_case(rng: np.random.Generator, shape: tuple[int, ...]) -> Case:
    x, dout = _signed(rng, shape), rng.normal(size=shape)
    out, (dx,) = autograd(_torch().relu, [x], dout)
    grads = [Grad("dx", dx, {
        "the gradient passes where x < 0 (no mask)": dout,
        "the mask is inverted (gradient passes where x < 0)": dout * (x < 0),
        "the gradient passes at x == 0 (use 0 there, as PyTorch does)": dout * (x >= 0),
        "dout is multiplied by the activation instead of the 0/1 mask": dout * out})]
    return _pair_case("relu_forward", (x,), {}, out, "relu_backward", dout, grads)


def check_relu(rng: np.random.Generator) -> Check:
    """Inputs of 2, 4 and 1 axes with exact zeros (the gradient there is 0)."""
    shapes = [(int(rng.integers(3, 7)), int(rng.integers(3, 7))), (2, *_dims(rng, 3)),
              (int(rng.integers(5, 12)),)]
    return Check("test_relu", ("relu_forward", "relu_backward"),
                 [_relu_case(rng, s) for s in shapes], BANS)


# --------------------------------------------------------------------------------------------
# Exercise 6: convolution backward
# --------------------------------------------------------------------------------------------


def _conv_config(rng: np.random.Generator, stride: int, pad: int, hh: int, ww: int) -> dict:
    """A conv case that fits exactly, with H != W (square-only index arithmetic fails)."""
    n, c, f = int(rng.integers(2, 4)), int(rng.integers(1, 4)), int(rng.integers(2, 4))
    while True:
        h_out, w_out = (int(v) for v in rng.integers(2, 5, size=2))
        h, w = (h_out - 1) * stride + hh - 2 * pad, (w_out - 1) * stride + ww - 2 * pad
        if h >= 1 and w >= 1 and h != w:
            break
    return {"x": rng.normal(size=(n, c, h, w)), "w": rng.normal(size=(f, c, hh, ww)),
            "b": rng.normal(size=f), "dout": rng.normal(size=(n, f, h_out, w_out)),
            "conv_param": {"stride": stride, "pad": pad}}


def conv_backward_np(dout: np.ndarray, x: np.ndarray, w: np.ndarray, stride: int, pad: int,
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


def conv_grads(c: dict) -> list[Grad]:
    """The oracle's dx, dw, db of one conv case, with the classic mistakes as variants."""
    torch = _torch()
    x, w, b, dout = c["x"], c["w"], c["b"], c["dout"]
    s, p = c["conv_param"]["stride"], c["conv_param"]["pad"]
    conv = torch.nn.functional.conv2d
    _, (dx, dw, db) = autograd(lambda xt, wt, bt: conv(xt, wt, bt, stride=s, padding=p),
                               [x, w, b], dout)
    _, (dx_flip, _, _) = autograd(
        lambda xt, wt, bt: conv(xt, torch.flip(wt, (2, 3)), bt, stride=s, padding=p),
        [x, w, b], dout)
    (n, ch, h, wd), (ho, wo), (hh, ww) = x.shape, dout.shape[2:], w.shape[2:]
    dxp, _ = conv_backward_np(dout, x, w, s, p)
    dxp1, dw_nostride = conv_backward_np(dout, x, w, s, p, index_stride=1) if s > 1 \
        else (None, None)
    _, dw_first = conv_backward_np(dout[:1], x[:1], w, s, p)
    last = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))[
        :, :, (ho - 1) * s:(ho - 1) * s + hh, (wo - 1) * s:(wo - 1) * s + ww]
    stride_ignored = "the stride was ignored (windows placed one pixel apart)"
    overwritten = "is overwritten in the loop instead of accumulated (only the last position " \
                  "counts)"
    return [
        Grad("dx", dx, {
            "the padding gradient was not cropped (dx has the padded shape)": dxp,
            stride_ignored: None if dxp1 is None else dxp1[:, :, p:p + h, p:p + wd],
            "the kernel is flipped (true convolution instead of cross-correlation)": dx_flip},
            {(n, ch, 0, 0): "the padding was cropped with [pad:-pad], which is empty when "
                            "pad = 0 (crop with [pad:pad + H])"}),
        Grad("dw", dw, {
            "dw uses only the first example (not summed over the batch)": dw_first,
            "dw is averaged over the batch instead of summed": dw / n,
            stride_ignored: dw_nostride,
            f"dw {overwritten}": np.tensordot(dout[:, :, -1, -1], last, axes=([0], [0]))}),
        Grad("db", db, {
            "db uses only the first example (not summed over the batch)":
                dout[0].sum(axis=(1, 2)),
            "db is not summed over the batch": dout.sum(axis=(2, 3)),
            "db is not summed over output positions": dout.sum(axis=0),
            "db is averaged instead of summed": dout.mean(axis=(0, 2, 3)),
            f"db {overwritten}": dout[:, :, -1, -1].sum(axis=0)}),
    ]


def _conv_case(c: dict) -> Case:
    x, w = c["x"], c["w"]
    s, p = c["conv_param"]["stride"], c["conv_param"]["pad"]
    label = f"conv_backward_naive with x {x.shape}, w {w.shape}, stride {s}, pad {p}"
    step = Call("conv_backward_naive", (c["dout"], (x, w, c["b"], c["conv_param"])))
    return _grads_case(step, label, conv_grads(c))


def check_conv_backward(rng: np.random.Generator) -> Check:
    """One case per configuration: each stride/pad/kernel shape earns its own credit."""
    configs = [
        _conv_config(rng, 1, 1, 3, 3),
        _conv_config(rng, 2, int(rng.integers(1, 3)), 3, 3),
        _conv_config(rng, int(rng.integers(2, 4)), int(rng.integers(0, 2)), 2, 3),
        _conv_config(rng, 1, 0, int(rng.integers(2, 4)), int(rng.integers(1, 3))),
        _conv_config(rng, int(rng.integers(1, 3)), 2, 3, int(rng.integers(2, 4))),
    ]
    return Check("test_conv_backward", ("conv_backward_naive",),
                 [_conv_case(c) for c in configs], BANS, timeout=30.0)


# --------------------------------------------------------------------------------------------
# Exercise 7: max pooling backward
# --------------------------------------------------------------------------------------------


def _pool_shape(rng: np.random.Generator, ph: int, pw: int, stride: int,
                max_windows: int = 9) -> tuple[int, int, int, int, int, int]:
    """(N, C, H, W, H_out, W_out) that fit exactly, with H != W."""
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 4))
    while True:
        h_out, w_out = (int(v) for v in rng.integers(2, 5, size=2))
        h, w = (h_out - 1) * stride + ph, (w_out - 1) * stride + pw
        if h != w and h_out * w_out <= max_windows:
            return n, c, h, w, h_out, w_out


def pool_variant(dout: np.ndarray, x: np.ndarray, ph: int, pw: int, stride: int,
                 mode: str) -> np.ndarray:
    """Wrong pool backward passes: 'all', 'avg', 'nostride' (max, windows 1 apart), 'assign'
    (overwrite), 'ties' (every tied maximum), 'split' (shared among tied maxima)."""
    dx = np.zeros_like(x)
    s = 1 if mode == "nostride" else stride
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            g = dout[:, :, i, j][:, :, None, None]
            mask = win == win.max(axis=(2, 3), keepdims=True)
            upd = {"all": np.ones_like(win), "avg": np.ones_like(win) / (ph * pw),
                   "split": mask / mask.sum(axis=(2, 3), keepdims=True)}.get(mode, mask) * g
            if mode == "assign":
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw] = upd
            else:
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += upd
    return dx


def _pool_variants(dout: np.ndarray, x: np.ndarray, ph: int, pw: int, s: int,
                   ties: bool) -> dict[str, np.ndarray]:
    v = {"the gradient was sent to every element of the window (max routes it to the "
         "largest only)": pool_variant(dout, x, ph, pw, s, "all"),
         "the gradient was averaged over the window (that is average-pool backward)":
             pool_variant(dout, x, ph, pw, s, "avg")}
    if s > 1:
        v["the stride was ignored (windows placed one pixel apart)"] = pool_variant(
            dout, x, ph, pw, s, "nostride")
    if s < ph or s < pw:
        v["windows overlap, and dx was overwritten instead of accumulated"] = pool_variant(
            dout, x, ph, pw, s, "assign")
    if ties:
        v["every tied maximum of a window got its gradient (give it to one of them only)"] = \
            pool_variant(dout, x, ph, pw, s, "ties")
        v["the gradient was split among tied maxima (give it all to one of them)"] = \
            pool_variant(dout, x, ph, pw, s, "split")
    return v


def _pool_torch(x: np.ndarray, dout: np.ndarray, ph: int, pw: int, s: int) -> np.ndarray:
    torch = _torch()
    _, (dx,) = autograd(lambda xt: torch.nn.functional.max_pool2d(xt, (ph, pw), stride=s),
                        [x], dout)
    return dx


def _pool_case(rng: np.random.Generator, ph: int, pw: int, stride: int) -> Case:
    """Distinct values: the max of every window is unique, torch's gradient is the answer."""
    n, c, h, w, h_out, w_out = _pool_shape(rng, ph, pw, stride)
    x = (rng.permutation(n * c * h * w).reshape(n, c, h, w) + rng.uniform(0, 0.5)) / 10.0
    dout = rng.normal(size=(n, c, h_out, w_out))
    pp = {"pool_height": ph, "pool_width": pw, "stride": stride}
    dx = _pool_torch(x, dout, ph, pw, stride)
    variants = _pool_variants(dout, x, ph, pw, stride, ties=False)
    what = f"dx of max_pool_backward_naive with x {x.shape}, pool {ph}x{pw}, stride {stride}"
    return Case(Call("max_pool_backward_naive", (dout, (x, pp))),
                lambda r: expect_close(r[0], dx, what, TOL, variants))


def tie_inputs(rng: np.random.Generator, ph: int, pw: int, stride: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """(x, dout) for a tie case: x of small integers (windows with tied maxima, at least one
    per channel), dout = ±2**k with a different k for each window of a channel, so a sum of
    shares in dx tells which windows it came from."""
    n, c, h, w, h_out, w_out = _pool_shape(rng, ph, pw, stride)
    while True:
        x = rng.integers(-1, 2, size=(n, c, h, w)).astype(np.float64)
        if all(_tied_windows(x[i, j], ph, pw, stride) for i in range(n) for j in range(c)):
            break
    k = h_out * w_out
    exps = np.stack([rng.permutation(k) for _ in range(n * c)]).reshape(n, c, h_out, w_out)
    sign = rng.choice([-1.0, 1.0], size=(n, c, 1, 1))
    return x, sign * 2.0 ** exps


def _tied_windows(x: np.ndarray, ph: int, pw: int, s: int) -> int:
    """How many windows of one channel have more than one maximum."""
    h_out, w_out = (x.shape[0] - ph) // s + 1, (x.shape[1] - pw) // s + 1
    return sum(int(np.sum(win == win.max()) > 1) for win in
               (x[i * s:i * s + ph, j * s:j * s + pw] for i in range(h_out)
                for j in range(w_out)))


def tie_answer(got: np.ndarray, x: np.ndarray, dout: np.ndarray, ph: int, pw: int,
               s: int) -> np.ndarray:
    """The right dx closest to ``got``: each window's gradient on the one maximum ``got``
    gave it to, when ``got`` gave it to exactly one maximum; else on its first maximum."""
    ans = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        win = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
        g = float(dout[n, c, i, j])
        chosen = np.argwhere(_holds_share(got[n, c, i * s:i * s + ph, j * s:j * s + pw], g))
        if len(chosen) == 1 and win[tuple(chosen[0])] == win.max():
            r, q = chosen[0]
        else:
            r, q = np.unravel_index(int(np.argmax(win)), win.shape)
        ans[n, c, i * s + r, j * s + q] += g
    return ans


def _holds_share(got: np.ndarray, g: float) -> np.ndarray:
    """Where ``got`` (sums of shares ``sign * 2**e``, one ``e`` per window of a channel)
    holds the share ``g``: bit ``e`` of ``got / sign``, where that is a whole number."""
    e = round(float(np.log2(abs(g))))
    with np.errstate(invalid="ignore", over="ignore"):
        units = got * np.sign(g)
        whole = np.isfinite(units) & (np.abs(units - np.round(units)) < 1e-9) \
            & (units >= 0) & (units < 2.0 ** 52)
        bits = np.where(whole, np.round(units), 0).astype(np.int64)
    return whole & ((bits >> e) & 1).astype(bool)


def _as_float_array(got: Any) -> np.ndarray | None:
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _tie_case(rng: np.random.Generator, ph: int, pw: int, stride: int) -> Case:
    """Any one maximum per window is right: the answer compared with is the right dx closest
    to the student's (so the kit's shape policy and named variants apply as everywhere)."""
    x, dout = tie_inputs(rng, ph, pw, stride)
    pp = {"pool_height": ph, "pool_width": pw, "stride": stride}
    variants = _pool_variants(dout, x, ph, pw, stride, ties=True)
    what = (f"dx of max_pool_backward_naive with tied maxima, x {x.shape}, pool {ph}x{pw}, "
            f"stride {stride}")

    def judge(results: list[Any]) -> Verdict:
        got = results[0]
        arr = None if isinstance(got, (Raised, NotRun, Opaque)) else _as_float_array(got)
        fit = arr.reshape(x.shape) if arr is not None and arr.size == x.size \
            else np.zeros_like(x)
        return expect_close(got, tie_answer(fit, x, dout, ph, pw, stride), what, TOL,
                            variants)

    return Case(Call("max_pool_backward_naive", (dout, (x, pp))), judge)


def check_max_pool_backward(rng: np.random.Generator) -> Check:
    """Three cases without ties (square, overlapping, any pool with stride 1) and two with
    tied maxima (apart, and a 3x2 pool that may overlap)."""
    cases = [_pool_case(rng, 2, 2, 2), _pool_case(rng, 3, 3, 2),
             _pool_case(rng, int(rng.integers(2, 4)), int(rng.integers(2, 4)), 1),
             _tie_case(rng, 2, 2, 2), _tie_case(rng, 3, 2, int(rng.integers(1, 3)))]
    return Check("test_max_pool_backward", ("max_pool_backward_naive",), cases, BANS,
                 timeout=30.0)


# --------------------------------------------------------------------------------------------
# Exercise 8: activations
# --------------------------------------------------------------------------------------------


def activation_oracle(name: str, alpha: float | None, x: np.ndarray, dout: np.ndarray
                      ) -> tuple[np.ndarray, Grad]:
    """Output and the graded dx of one activation (``alpha=None``: the default), with the
    classic mistakes, the x == 0 convention among them, as variants."""
    torch = _torch()
    F = torch.nn.functional
    a = {"leaky_relu": 0.01, "elu": 1.0}.get(name, 0.0) if alpha is None else alpha
    fns: dict[str, Callable[[Any], Any]] = {
        "sigmoid": torch.sigmoid, "tanh": torch.tanh,
        "leaky_relu": lambda t: F.leaky_relu(t, a), "elu": lambda t: F.elu(t, a)}
    out, (dx,) = autograd(fns[name], [x], dout)
    expm = np.exp(np.minimum(x, 0))
    wrong = {
        "sigmoid": {"dout * out, missing the factor (1 - out)": dout * out,
                    "the local gradient without dout": out * (1 - out)},
        "tanh": {"1 - x^2 of the input instead of 1 - tanh(x)^2": dout * (1 - x**2),
                 "the local gradient without dout": 1 - out**2},
        "leaky_relu": {
            "alpha is ignored in backward (plain ReLU mask)": dout * (x > 0),
            "the gradient passes unchanged where x < 0": dout,
            "at x == 0 the slope is 1: use alpha there (the x <= 0 side), as PyTorch does":
                dout * np.where(x >= 0, 1.0, a)},
        "elu": {
            "the gradient for x <= 0 misses the factor alpha (is alpha in your cache?)":
                dout * np.where(x > 0, 1.0, expm),
            "the gradient for x <= 0 is taken as the output alpha(e^x - 1)":
                dout * np.where(x > 0, 1.0, out),
            "the gradient is zero where x <= 0 (plain ReLU mask)": dout * (x > 0),
            "at x == 0 the slope is 1: use alpha (the x <= 0 side), as PyTorch does":
                dout * np.where(x >= 0, 1.0, a * expm)},
    }[name]
    if name == "leaky_relu" and alpha is not None:
        wrong["the default alpha=0.01 was used instead of the given alpha"] = (
            dout * np.where(x > 0, 1.0, 0.01))
    return out, Grad("dx", dx, wrong)


def _activation_case(rng: np.random.Generator, name: str, alpha: float | None) -> Case:
    shape = _dims(rng, int(rng.integers(1, 4)), 2, 6)
    x, dout = _signed(rng, shape, scale=1.5), rng.normal(size=shape)
    out, grad = activation_oracle(name, alpha, x, dout)
    kwargs = {} if alpha is None else {"alpha": alpha}
    return _pair_case(f"{name}_forward", (x,), kwargs, out, f"{name}_backward", dout, [grad])


def check_activations(rng: np.random.Generator) -> Check:
    """Each activation once; leaky ReLU and ELU with their default and a drawn alpha."""
    leaky = float(np.round(rng.uniform(0.05, 0.3), 3))
    elu = float(np.round(rng.choice([rng.uniform(0.3, 0.8), rng.uniform(1.2, 2.5)]), 3))
    specs = [("sigmoid", None), ("tanh", None), ("leaky_relu", None), ("leaky_relu", leaky),
             ("elu", None), ("elu", elu)]
    names = tuple(f"{n}_{d}" for n in ("sigmoid", "tanh", "leaky_relu", "elu")
                  for d in ("forward", "backward"))
    return Check("test_activations", names,
                 [_activation_case(rng, n, a) for n, a in specs], BANS)


# --------------------------------------------------------------------------------------------
# Exercise 9: maxout
# --------------------------------------------------------------------------------------------


def _maxout_grads(x: np.ndarray, w1: np.ndarray, w2: np.ndarray, d1: np.ndarray,
                  d2: np.ndarray) -> list[np.ndarray]:
    """(dx, dw1, db1, dw2, db2) when d1/d2 reach the two pieces' outputs."""
    return [d1 @ w1.T + d2 @ w2.T, x.T @ d1, d1.sum(0), x.T @ d2, d2.sum(0)]


def _maxout_case(rng: np.random.Generator) -> Case:
    torch = _torch()
    n, d, m = _dims(rng, 3, 2, 6)
    args = (rng.normal(size=(n, d)), rng.normal(size=(d, m)), rng.normal(size=m),
            rng.normal(size=(d, m)), rng.normal(size=m))
    x, w1, b1, w2, b2 = args
    dout = rng.normal(size=(n, m))
    out, grads = autograd(lambda *t: torch.maximum(t[0] @ t[1] + t[2], t[0] @ t[3] + t[4]),
                          list(args), dout)
    first = (x @ w1 + b1) > (x @ w2 + b2)
    both = _maxout_grads(x, w1, w2, dout, dout)
    swapped = _maxout_grads(x, w1, w2, dout * ~first, dout * first)
    return _pair_case("maxout_forward", args, {}, out, "maxout_backward", dout, [
        Grad(name, grads[j], {
            "the gradient was sent to both linear pieces (only the larger one gets it)":
                both[j],
            "the gradient was sent to the smaller piece": swapped[j]})
        for j, name in enumerate(("dx", "dw1", "db1", "dw2", "db2"))])


def check_maxout(rng: np.random.Generator) -> Check:
    """Three random maxout layers: forward, then backward on the student's cache."""
    return Check("test_maxout", ("maxout_forward", "maxout_backward"),
                 [_maxout_case(rng) for _ in range(3)], BANS)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell of the backprop notebook, cases drawn from rng."""
    return [
        check_staged(rng),
        check_gates(rng),
        check_sigmoid_neuron(rng),
        check_affine(rng),
        check_relu(rng),
        check_conv_backward(rng),
        check_max_pool_backward(rng),
        check_activations(rng),
        check_maxout(rng),
    ]
