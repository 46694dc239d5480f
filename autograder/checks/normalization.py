"""Hidden checks of assignment 04_normalization (normalization and regularization).

One :class:`~autograder.checks.kit.Check` per autograded test cell of
``notebooks/04_normalization/normalization.ipynb`` (same name; points come from the cell).

Every output of a function is its own case (``out``, ``running_mean``, ``running_var``; ``dx``,
``dgamma``, ``dbeta``; ...), so one wrong output costs only its share, and every comparison goes
through :func:`~autograder.checks.kit.expect_close` (a ``(1, D)`` result where ``(D,)`` is asked,
every value right, earns the kit's shape-slip credit with a message naming both shapes).

Oracles are computed here, in the trusted parent, in float64 from the same random cases the
student's code sees, never from the student's results:

- batch / layer / instance / group norm outputs: ``torch.nn.functional.batch_norm``,
  ``layer_norm``, ``instance_norm``, ``group_norm``; their gradients by torch autograd of
  ``(out * dout).sum()``.
- running averages: the course convention ``running = momentum * running + (1 - momentum) *
  batch`` with the *biased* batch variance (torch's ``momentum`` is ``1 - ours`` and torch keeps
  the unbiased variance in ``running_var``, so these two are computed with numpy). The student's
  in-place update of ``bn_param`` is read back with the ``@value`` probe.
- mean subtraction: numpy means of the training images.
- folding: torch's test-mode ``batch_norm`` applied to the conv bias (``b'``) and, minus its
  value at 0, to every weight (``w'``): a test-mode batch norm is affine, so this is the fold
  without the fold's formula.
- dropout: the mask is the student's (any generator is fine), so each case tests one property
  of it: the dropped fraction is p within 6 binomial standard deviations (at least 0.04), kept
  units equal x / (1 - p), the same seed gives the same mask and another seed another one,
  dx = dout * out / x, and test mode is the identity, forward and backward.

Tolerances: forward outputs, running averages, means and folded parameters :data:`F64`
(rtol 1e-6, atol 1e-8); gradients :data:`GRAD` (rtol 1e-5, atol 1e-7); dropout values and
test-mode identities rtol 1e-12, atol 0 (they only select and scale input values).

Named mistakes (unbiased variance, eps outside the square root or missing, running averages
never updated, the momentum convention reversed, batch statistics at test time, statistics over
the wrong axes, dropout not rescaled, ...) are computed on the same inputs and named only when
the result matches them better than the right answer (the kit's fingerprint rule).
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.checks.kit import (
    F64,
    GRAD,
    Call,
    Case,
    Check,
    Ref,
    Tol,
    Verdict,
    autograd,
    expect_close,
    fail,
    looks_like,
    np64,
    ok,
    t64,
    unpack,
    value,
)

ASSIGNMENT = "04_normalization"
#: numpy exercises: no ready-made normalization from torch, the course library, scipy, sklearn.
BANS = ("torch", "cnnlib", "scipy", "sklearn")
EXACT = Tol(1e-12, 0.0)

# Mistake names: the feedback a student reads.
UNBIASED = "the variance is unbiased (divided by N - 1); normalization uses the biased 1/N variance"
EPS_OUTSIDE = "eps is added outside the square root: use sqrt(var + eps), not sqrt(var) + eps"
NO_EPS = "eps is missing: divide by sqrt(var + eps)"
NO_AFFINE = "gamma and beta were not applied (out = gamma * x_hat + beta)"
NOT_UPDATED = "the running averages were not updated in train mode (write them into bn_param)"
REVERSED = ("the momentum convention is reversed: the course uses running = momentum * running "
            "+ (1 - momentum) * batch (torch's momentum is 1 minus ours)")
BATCH_AT_TEST = "batch statistics are used at test time instead of the running averages"
CONSTANT_STATS = ("the batch mean and variance were treated as constants in the backward pass "
                  "(they depend on x too)")
NO_MEAN_PATH = "the gradient path through the mean is missing (mu depends on every x)"
NO_VAR_PATH = "the gradient path through the variance is missing (var depends on every x)"
DGAMMA_X = "dgamma sums dout * x instead of dout * x_hat"
DGAMMA_XC = "dgamma sums dout * (x - mu) instead of dout * x_hat (divide by the std too)"


# --------------------------------------------------------------------------------------------
# Oracles and wrong variants (trusted parent, float64)
# --------------------------------------------------------------------------------------------


def _F() -> Any:
    import torch.nn.functional as F

    return F


def _norm_over(x: np.ndarray, axes: tuple[int, ...], eps: float, ddof: int = 0,
               eps_at: str = "inside") -> np.ndarray:
    """x normalised over ``axes``; ``eps_at`` "outside" or "none" gives the classic slips."""
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = {"inside": lambda: np.sqrt(var + eps), "outside": lambda: np.sqrt(var) + eps,
           "none": lambda: np.sqrt(var)}[eps_at]()
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x - mu) / std


def _slips(x: np.ndarray, axes: tuple[int, ...], eps: float,
           affine: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
    """The wrong outputs every normalization shares: variance, eps and gamma/beta slips."""
    return {
        UNBIASED: affine(_norm_over(x, axes, eps, ddof=1)),
        EPS_OUTSIDE: affine(_norm_over(x, axes, eps, eps_at="outside")),
        NO_EPS: affine(_norm_over(x, axes, eps, eps_at="none")),
        NO_AFFINE: _norm_over(x, axes, eps),
    }


def _dx_variants(xg: np.ndarray, gg: np.ndarray, axes: tuple[int, ...],
                 eps: float) -> dict[str, np.ndarray]:
    """Wrong ``dx`` of a normalization over ``axes`` (``gg`` = dout * gamma, same layout):
    a pass that forgets the mean's path, the variance's path, or both."""
    xh = _norm_over(xg, axes, eps)
    std = np.sqrt(xg.var(axis=axes, keepdims=True) + eps)

    def mean(a: np.ndarray) -> np.ndarray:
        return a.mean(axis=axes, keepdims=True)

    return {
        CONSTANT_STATS: gg / std,
        NO_MEAN_PATH: (gg - xh * mean(gg * xh)) / std,
        NO_VAR_PATH: (gg - mean(gg)) / std,
    }


def _dgamma_variants(dout: np.ndarray, x: np.ndarray, xc: np.ndarray,
                     axes: tuple[int, ...], keepdims: bool = False) -> dict[str, np.ndarray]:
    """Wrong ``dgamma``: the sum over ``axes`` of dout times x, or times the centred x."""
    return {DGAMMA_X: (dout * x).sum(axis=axes, keepdims=keepdims),
            DGAMMA_XC: (dout * xc).sum(axis=axes, keepdims=keepdims)}


def _unbiased_norm(axes: tuple[int, ...], eps: float, bshape: tuple[int, ...]) -> Callable:
    """A torch function (x, gamma, beta) -> normalization with the unbiased variance."""
    def fn(x: Any, g: Any, b: Any) -> Any:
        mu = x.mean(dim=axes, keepdim=True)
        var = x.var(dim=axes, keepdim=True, unbiased=True)
        return g.reshape(bshape) * (x - mu) / (var + eps).sqrt() + b.reshape(bshape)
    return fn


# --------------------------------------------------------------------------------------------
# Judging helpers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """One output of a call, judged as its own case: item ``index`` of an ``n``-tuple."""

    index: int
    what: str
    expected: Any
    tol: Tol = F64
    variants: Mapping[str, Any] | None = None
    weight: float = 1.0


def _judge_part(got: Any, n: int, func: str, part: Part) -> Verdict:
    parts, bad = unpack(got, n, func)
    if bad is not None:
        return bad
    return expect_close(parts[part.index], part.expected, part.what, part.tol, part.variants)


def part_cases(steps: Sequence[Call], n: int, parts: Sequence[Part], label: str = ""
               ) -> list[Case]:
    """One case per output of the last step (an ``n``-tuple), each running ``steps`` anew;
    ``label`` tells this call from the others in messages (" for a batch of one")."""
    func = steps[-1].func + label
    return [Case(tuple(steps), lambda r, p=p: _judge_part(r[-1], n, func, p), p.weight)
            for p in parts]


def _dict_entry(got: Any, key: str, what: str) -> tuple[Any, Verdict | None]:
    v, bad = value(got, what)
    if bad is not None:
        return None, bad
    if not isinstance(v, dict) or key not in v:
        return None, fail(f"bn_param has no {key!r} {what}")
    return v[key], None


@dataclass(frozen=True)
class NotACopyOf:
    """Structural rule: ``function`` is not ``original`` again under another name (the same
    statements, whatever the variable names): each exercise asks for its own computation."""

    function: str
    original: str
    asked: str

    def violations(self, view: Any) -> list[str]:
        """The copy, in plain words; ``view`` is the grader's view of the student's source."""
        if self.function not in view.defs or self.original not in view.defs:
            return []
        cell, node = view.defs[self.function]
        body = _body(node)
        if all(isinstance(st, (ast.Raise, ast.Pass)) for st in body) or \
                _skeleton(node) != _skeleton(view.defs[self.original][1]):
            return []  # the release's stubs (raise NotImplementedError) are alike, not copies
        return [f"{self.function} (cell {cell}) is a copy of {self.original}: this exercise "
                f"asks for {self.asked}"]


def _body(fn: ast.AST) -> list[ast.stmt]:
    """A function's statements without its docstring."""
    body = list(getattr(fn, "body", []))
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    return body


def _skeleton(fn: ast.AST) -> str:
    """A function's body without its docstring, every local name replaced by its order of first
    appearance: equal for copies that only rename variables."""
    body = _body(fn)
    names: dict[str, str] = {}
    args = getattr(fn, "args", None)
    for a in (args.posonlyargs + args.args + args.kwonlyargs) if args else []:
        names.setdefault(a.arg, f"v{len(names)}")
    module = copy.deepcopy(ast.Module(body=body, type_ignores=[]))
    for node in ast.walk(module):
        if isinstance(node, ast.Name):
            node.id = names.setdefault(node.id, f"v{len(names)}")
    return ast.dump(module, annotate_fields=False)


# --------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------


def _images(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    N, M = int(rng.integers(5, 12)), int(rng.integers(2, 8))
    C, H, W = int(rng.choice([1, 3])), int(rng.integers(4, 9)), int(rng.integers(4, 9))
    # Pixel- and channel-dependent means so the mean image and the channel means differ.
    loc = rng.uniform(-2, 2, size=(C, H, W)) + rng.uniform(-3, 3, size=(C, 1, 1))
    X_train = loc + rng.normal(size=(N, C, H, W))
    X_test = loc + 0.7 + rng.normal(size=(M, C, H, W))  # a shifted test set: own mean differs
    return X_train, X_test


def check_subtract_mean_image(rng: np.random.Generator) -> Check:
    """Two image sets; each output is a case: the mean image of the training set only, shape
    (C, H, W), subtracted from both sets."""
    cases = []
    for _ in range(2):
        X_train, X_test = _images(rng)
        mean_image = X_train.mean(axis=0)
        chan = X_train.mean(axis=(0, 2, 3), keepdims=True)
        cases += part_cases([Call("subtract_mean_image", (X_train, X_test))], 3, [
            Part(0, "X_train_centered", X_train - mean_image, variants={
                "the per-channel mean was subtracted instead of the mean image": X_train - chan,
                "one global mean was subtracted instead of the mean image":
                    X_train - X_train.mean()}),
            Part(1, "X_test_centered", X_test - mean_image, variants={
                "the test images were centred with their own mean; use the TRAINING mean image":
                    X_test - X_test.mean(axis=0),
                "the mean image of training and test images together was used; use the "
                "TRAINING mean image only": X_test - np.concatenate([X_train, X_test]).mean(0)}),
            Part(2, "mean_image (shape (C, H, W))", mean_image),
        ])
    return Check("test_subtract_mean_image", ("subtract_mean_image",), cases, BANS)


def check_subtract_channel_mean(rng: np.random.Generator) -> Check:
    """Two image sets; each output is a case: one training mean per channel, shape (C,)."""
    cases = []
    for _ in range(2):
        X_train, X_test = _images(rng)
        chan = X_train.mean(axis=(0, 2, 3))
        c4 = chan[None, :, None, None]
        cases += part_cases([Call("subtract_channel_mean", (X_train, X_test))], 3, [
            Part(0, "X_train_centered", X_train - c4, variants={
                "the mean image was subtracted instead of one mean per channel":
                    X_train - X_train.mean(axis=0),
                "one global mean was subtracted instead of one mean per channel":
                    X_train - X_train.mean(),
                "the mean was taken per image (over H, W) instead of over the training set":
                    X_train - X_train.mean(axis=(2, 3), keepdims=True)}),
            Part(1, "X_test_centered", X_test - c4, variants={
                "the test images were centred with their own channel means; use the TRAINING "
                "means": X_test - X_test.mean(axis=(0, 2, 3), keepdims=True)}),
            Part(2, "channel_mean (shape (C,))", chan),
        ])
    return Check("test_subtract_channel_mean", ("subtract_channel_mean",), cases, BANS)


# --------------------------------------------------------------------------------------------
# Batch norm: inputs, oracles
# --------------------------------------------------------------------------------------------


def _bn_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
    C = shape[1]
    bshape = (1, C) + (1,) * (len(shape) - 2)
    return {
        # Features with different offsets and scales so eps matters and the variants differ.
        "x": rng.uniform(-3, 3, size=bshape) + rng.uniform(0.05, 3, size=bshape)
        * rng.normal(size=shape),
        "gamma": rng.uniform(0.5, 2.0, size=C) * rng.choice([-1, 1], size=C),
        "beta": rng.normal(size=C),
        "eps": float(10 ** rng.uniform(-3, -1.5)),
        "momentum": float(rng.uniform(0.7, 0.95)),
        "rm": rng.normal(size=C),
        "rv": rng.uniform(0.5, 2.0, size=C),
        "dout": rng.normal(size=shape),
    }


def _axes(ndim: int) -> tuple[int, ...]:
    return (0,) if ndim == 2 else (0, 2, 3)


def _bshape(x: np.ndarray) -> tuple[int, ...]:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _param(c: Mapping[str, Any], mode: str) -> dict[str, Any]:
    return {"mode": mode, "eps": c["eps"], "momentum": c["momentum"],
            "running_mean": c["rm"].copy(), "running_var": c["rv"].copy()}


def bn_train_oracle(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """Train-mode batch norm (batch mean, biased variance) by torch, per channel of axis 1."""
    F = _F()
    return np64(F.batch_norm(t64(x), None, None, t64(g), t64(b), training=True, eps=eps))


def bn_test_oracle(x: np.ndarray, g: np.ndarray, b: np.ndarray, rm: np.ndarray,
                   rv: np.ndarray, eps: float) -> np.ndarray:
    F = _F()
    return np64(F.batch_norm(t64(x), t64(rm), t64(rv), t64(g), t64(b), training=False,
                             eps=eps))


def _train_variants(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float
                    ) -> dict[str, np.ndarray]:
    bs, C = _bshape(x), x.shape[1]

    def affine(xh: np.ndarray) -> np.ndarray:
        return g.reshape(bs) * xh + b.reshape(bs)

    variants = _slips(x, _axes(x.ndim), eps, affine)
    if x.ndim == 4:
        # what a bare x.reshape(-1, C) gives: columns that mix channels and positions
        mixed = _norm_over(x.reshape(-1, C), (0,), eps) * g + b
        variants["x was reshaped to (N*H*W, C) without moving the channel axis last"] = (
            mixed.reshape(x.shape))
        variants["the statistics were taken over the batch axis only, per channel AND "
                 "position (use one mean per channel, over N, H and W)"] = (
            affine(_norm_over(x, (0,), eps)))
    return variants


@dataclass(frozen=True)
class Running:
    """One running average after a train step: ``momentum * old + (1 - momentum) * batch``."""

    key: str
    old: np.ndarray
    batch: np.ndarray
    momentum: float
    variants: Mapping[str, np.ndarray]

    @property
    def expected(self) -> np.ndarray:
        """The course's update."""
        return self.momentum * self.old + (1 - self.momentum) * self.batch

    def other_momentum(self, got: Any) -> dict[str, np.ndarray]:
        """The same update with the momentum that fits ``got`` best (least squares): named when
        the student's update has the right form but not bn_param's momentum."""
        arr = np.asarray(got, dtype=np.float64) if isinstance(got, np.ndarray) else None
        step = self.old - self.batch
        if arr is None or arr.size != step.size or not np.any(step):
            return {}
        m = float(np.dot(arr.ravel() - self.batch, step) / np.dot(step, step))
        return {f"the momentum is {m:.6g} instead of {self.momentum:.6g} (use bn_param's "
                "momentum, default 0.9)": m * self.old + (1 - m) * self.batch}


def _running_oracles(x: np.ndarray, m: float, rm: np.ndarray, rv: np.ndarray
                     ) -> list[Running]:
    """The running averages after one train step, with their named slips."""
    axes = _axes(x.ndim)
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    return [
        Running("running_mean", rm, mu, m, {NOT_UPDATED: rm, REVERSED: (1 - m) * rm + m * mu}),
        Running("running_var", rv, var, m, {
            NOT_UPDATED: rv, REVERSED: (1 - m) * rv + m * var,
            UNBIASED: m * rv + (1 - m) * x.var(axis=axes, ddof=1)}),
    ]


# --------------------------------------------------------------------------------------------
# Batch norm: forward cases
# --------------------------------------------------------------------------------------------


def _judge_running(results: list[Any], func: str, run: Running, what: str) -> Verdict:
    _, bad = value(results[1], func)
    if bad is not None:
        return bad
    got, bad = _dict_entry(results[2], run.key, what)
    return bad or expect_close(got, run.expected, f"{run.key} {what}", F64,
                               {**run.variants, **run.other_momentum(got)})


def bn_train_cases(func: str, c: Mapping[str, Any], param: dict[str, Any], label: str = "",
                   weight: float = 1.0) -> list[Case]:
    """Train mode on ``c["x"]``: the output, then each running average read back from the
    ``bn_param`` the student's function updated in place (three cases)."""
    x, g, b = c["x"], c["gamma"], c["beta"]
    eps, m = param.get("eps", 1e-5), param.get("momentum", 0.9)
    C = x.shape[1]
    rm, rv = param.get("running_mean", np.zeros(C)), param.get("running_var", np.ones(C))
    steps = (Call("@value", (param,), save="p", ret=False),
             Call(func, (x, g, b, Ref("p"))),
             Call("@value", on="p"))
    out = Part(0, f"train-mode output of {func}{label}", bn_train_oracle(x, g, b, eps),
               variants=_train_variants(x, g, b, eps))
    cases = [Case(steps, lambda r: _judge_part(r[1], 2, func + label, out), 2 * weight)]
    for run in _running_oracles(x, m, rm, rv):
        cases.append(Case(steps, lambda r, run=run: _judge_running(
            r, func + label, run, f"after a train step{label}"), weight))
    return cases


def _judge_test_mode(results: list[Any], func: str, part: Part, rm: np.ndarray,
                     rv: np.ndarray) -> Verdict:
    verdict = _judge_part(results[1], 2, f"{func} in test mode", part)
    if verdict.fraction < 1.0:
        return verdict
    after = results[2] if isinstance(results[2], dict) else {}
    for key, before in (("running_mean", rm), ("running_var", rv)):
        arr = np.asarray(after.get(key, before), dtype=np.float64)
        if arr.shape != before.shape or not np.allclose(arr, before, rtol=1e-12, atol=0):
            return fail(f"{func} changed bn_param[{key!r}] in test mode: test mode only uses "
                        "the running averages, it never updates them")
    return verdict


def bn_test_case(func: str, c: Mapping[str, Any], x: np.ndarray, what: str,
                 weight: float = 1.0) -> Case:
    """Test mode on ``x``: the output with the running averages, which stay unchanged."""
    g, b, eps, rm, rv = c["gamma"], c["beta"], c["eps"], c["rm"], c["rv"]
    bs = _bshape(x)
    variants = {
        EPS_OUTSIDE: g.reshape(bs) * (x - rm.reshape(bs)) / (np.sqrt(rv.reshape(bs)) + eps)
        + b.reshape(bs),
        NO_EPS: g.reshape(bs) * (x - rm.reshape(bs)) / np.sqrt(rv.reshape(bs)) + b.reshape(bs),
    }
    if x.size // x.shape[1] > 1:  # values per feature
        variants[BATCH_AT_TEST] = bn_train_oracle(x, g, b, eps)
    else:  # a batch of one: its own statistics give x_hat = 0, out = beta
        variants[BATCH_AT_TEST] = np.broadcast_to(b.reshape(bs), x.shape)
    part = Part(0, what, bn_test_oracle(x, g, b, rm, rv, eps), variants=variants)
    steps = (Call("@value", (_param(c, "test"),), save="p", ret=False),
             Call(func, (x, g, b, Ref("p"))),
             Call("@value", on="p"))
    return Case(steps, lambda r: _judge_test_mode(r, func, part, rm, rv), weight)


def _constant_feature(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
    c = _bn_inputs(rng, shape)
    j = int(rng.integers(0, shape[1]))
    c["x"][:, j] = float(rng.normal())  # var 0: only eps keeps the division finite
    return c


def check_batchnorm_forward(rng: np.random.Generator, D: int) -> Check:
    """Train steps (output, running averages in place: momentum convention, biased variance), the
    default bn_param, a constant feature (eps inside the sqrt), and test mode (running averages,
    unchanged, also for a batch of one)."""
    func = "batchnorm_forward"
    cases: list[Case] = []
    for N in (int(rng.integers(4, 9)), int(rng.integers(9, 16))):
        c = _bn_inputs(rng, (N, D))
        cases += bn_train_cases(func, c, _param(c, "train"))
    c = _bn_inputs(rng, (int(rng.integers(4, 12)), D))
    # the defaults: momentum 0.9, eps 1e-5, running averages from 0 and 1
    cases += bn_train_cases(func, c, {"mode": "train"}, " with the default bn_param", weight=0.5)
    c = _constant_feature(rng, (int(rng.integers(4, 12)), D))
    const = " with a feature that is constant in the batch"
    cases += part_cases([Call(func, (c["x"], c["gamma"], c["beta"], _param(c, "train")))], 2, [
        Part(0, f"train-mode output{const}",
             bn_train_oracle(c["x"], c["gamma"], c["beta"], c["eps"]))], const)
    c = _bn_inputs(rng, (int(rng.integers(4, 12)), D))
    cases.append(bn_test_case(func, c, c["x"] * 1.3 + 0.4, "test-mode output", weight=2))
    cases.append(bn_test_case(func, c, c["x"][:1] - 0.5, "test-mode output of a batch of one"))
    return Check("test_batchnorm_forward", (func,), cases, BANS)


# --------------------------------------------------------------------------------------------
# Batch norm: backward cases
# --------------------------------------------------------------------------------------------


def bn_backward_cases(rng: np.random.Generator, fwd: str, bwd: str,
                      shape: tuple[int, ...]) -> list[Case]:
    """``fwd`` in train mode, then ``bwd`` on its cache: dx, dgamma and dbeta as three cases."""
    c = _bn_inputs(rng, shape)
    x, g, b, eps, dout = c["x"], c["gamma"], c["beta"], c["eps"], c["dout"]
    axes, bs = _axes(x.ndim), _bshape(x)
    F = _F()
    _, grads = autograd(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True,
                                                     eps=eps), [x, g, b], dout)
    _, unbiased = autograd(_unbiased_norm(axes, eps, bs), [x, g, b], dout)
    dx_variants = {**_dx_variants(x, dout * g.reshape(bs), axes, eps), UNBIASED: unbiased[0]}
    dgamma_variants = _dgamma_variants(dout, x, x - x.mean(axis=axes, keepdims=True), axes)
    steps = [Call(fwd, (x, g, b, _param(c, "train")), save="f", ret=False),
             Call(bwd, (dout, Ref("f", 1)))]
    return part_cases(steps, 3, [
        Part(0, f"dx of {bwd}", grads[0], GRAD, dx_variants, weight=2),
        Part(1, f"dgamma of {bwd} (shape (C,))", grads[1], GRAD, dgamma_variants),
        Part(2, f"dbeta of {bwd} (shape (C,))", grads[2], GRAD),
    ])


def check_batchnorm_backward(rng: np.random.Generator, D: int) -> Check:
    """Exercise 4 on its own inputs (a batch of 2 to 4, and a larger one)."""
    cases = [case for N in (int(rng.integers(2, 5)), int(rng.integers(5, 12)))
             for case in bn_backward_cases(rng, "batchnorm_forward", "batchnorm_backward",
                                           (N, D))]
    # node by node: handing the work to the closed form is Exercise 5, not this one
    return Check("test_batchnorm_backward", ("batchnorm_backward",), cases,
                 BANS + ("batchnorm_backward_alt",))


def check_batchnorm_backward_alt(rng: np.random.Generator, D: int) -> Check:
    """Exercise 5 on other inputs than Exercise 4; it may not call the graph version nor be a copy
    of it."""
    cases = [case for N in (int(rng.integers(2, 5)), int(rng.integers(5, 12)))
             for case in bn_backward_cases(rng, "batchnorm_forward", "batchnorm_backward_alt",
                                           (N, D + int(rng.integers(1, 3))))]
    return Check("test_batchnorm_backward_alt", ("batchnorm_backward_alt",), cases,
                 BANS + ("batchnorm_backward",),
                 rules=(NotACopyOf("batchnorm_backward_alt", "batchnorm_backward",
                                   "the simplified closed form, not the graph version again"),))


def check_spatial_batchnorm(rng: np.random.Generator) -> Check:
    """One statistic per channel over (N, H, W): a train step, test mode, and two backward cases."""
    def shape() -> tuple[int, int, int, int]:
        N, C = int(rng.integers(2, 5)), int(rng.integers(2, 5))
        return N, C, int(rng.integers(2, 5)), int(rng.integers(2, 5)) + 1

    fwd = "spatial_batchnorm_forward"
    c = _bn_inputs(rng, shape())
    cases = bn_train_cases(fwd, c, _param(c, "train"))
    t = _bn_inputs(rng, shape())
    cases.append(bn_test_case(fwd, t, t["x"] * 1.3 + 0.4, f"test-mode output of {fwd}"))
    for _ in range(2):
        cases += bn_backward_cases(rng, fwd, "spatial_batchnorm_backward", shape())
    return Check("test_spatial_batchnorm", (fwd, "spatial_batchnorm_backward"), cases, BANS)


# --------------------------------------------------------------------------------------------
# Layer, instance and group norm
# --------------------------------------------------------------------------------------------


def _norm_inputs(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Per-sample (and per-channel) offsets and scales, so the statistics' axes matter."""
    lead = shape[:2] + (1,) * (len(shape) - 2) if len(shape) == 4 else (shape[0], 1)
    return rng.uniform(-2, 2, size=lead) + rng.uniform(0.05, 3, size=lead) * rng.normal(
        size=shape)


def _layernorm_cases(rng: np.random.Generator, N: int, ln_param: dict[str, Any],
                     what: str) -> list[Case]:
    D = int(rng.integers(4, 12))
    x, g, b, dout = (_norm_inputs(rng, (N, D)), rng.normal(size=D), rng.normal(size=D),
                     rng.normal(size=(N, D)))
    eps = ln_param.get("eps", 1e-5)
    F = _F()
    out, grads = autograd(lambda x, g, b: F.layer_norm(x, (D,), g, b, eps), [x, g, b], dout)
    variants = _slips(x, (1,), eps, lambda xh: g * xh + b)
    variants["the statistics were taken over the batch axis (that is batch norm); layer norm "
             "uses one mean and variance per sample, over its features"] = (
        g * _norm_over(x, (0,), eps) + b)
    xh = _norm_over(x, (1,), eps)
    std = np.sqrt(x.var(axis=1, keepdims=True) + eps)
    gg = dout * g
    dx_variants = {**_dx_variants(x, gg, (1,), eps),
                   "the sums run over the batch axis as in batch norm; layer norm sums over "
                   "the features (axis 1)": (N * gg - gg.sum(0) - xh * (gg * xh).sum(0))
                   / (N * std)}
    fwd = Call("layernorm_forward", (x, g, b, ln_param), save="f")
    cases = part_cases([fwd], 2, [Part(0, f"layernorm_forward output{what}", out,
                                       variants=variants, weight=2)], what)
    return cases + part_cases([fwd, Call("layernorm_backward", (dout, Ref("f", 1)))], 3, [
        Part(0, f"dx of layernorm_backward{what}", grads[0], GRAD, dx_variants, weight=2),
        Part(1, f"dgamma of layernorm_backward{what} (shape (D,))", grads[1], GRAD,
             {**_dgamma_variants(dout, x, x - x.mean(axis=1, keepdims=True), (0,)),
              "dgamma was summed over the features (axis 1) instead of the batch":
                  (dout * xh).sum(axis=1)}),
        Part(2, f"dbeta of layernorm_backward{what} (shape (D,))", grads[2], GRAD,
             {"dbeta was summed over the features (axis 1) instead of the batch":
                  dout.sum(axis=1)}),
    ], what)


def check_layernorm(rng: np.random.Generator) -> Check:
    """Forward and backward on a batch, on a batch of one, and with the default eps."""
    eps = float(10 ** rng.uniform(-3, -1.5))
    cases = _layernorm_cases(rng, int(rng.integers(4, 10)), {"eps": eps}, "")
    # a batch of one must work: layer norm never looks across the batch
    cases += _layernorm_cases(rng, 1, {"eps": eps}, " for a batch of one")
    cases += [Case(k.steps, k.judge, k.weight / 2) for k in _layernorm_cases(
        rng, int(rng.integers(2, 6)), {}, " with the default eps (ln_param={})")]
    return Check("test_layernorm", ("layernorm_forward", "layernorm_backward"), cases, BANS)


def _instance_case(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float | None,
                   label: str = "") -> Case:
    e = 1e-5 if eps is None else eps
    F = _F()
    out = np64(F.instance_norm(t64(x), weight=t64(g), bias=t64(b), eps=e))
    g4, b4 = g[None, :, None, None], b[None, :, None, None]
    variants = _slips(x, (2, 3), e, lambda xh: g4 * xh + b4)
    variants.update({
        "the statistics were taken over (N, H, W) per channel (that is batch norm); instance "
        "norm uses one mean per sample and channel": g4 * _norm_over(x, (0, 2, 3), e) + b4,
        "the statistics were taken over (C, H, W) per sample (that is layer norm); instance "
        "norm uses one mean per sample and channel": g4 * _norm_over(x, (1, 2, 3), e) + b4,
    })
    args = (x, g, b) if eps is None else (x, g, b, eps)
    return part_cases([Call("instancenorm_forward", args)], 2,
                      [Part(0, f"output{label}", out, variants=variants)], label)[0]


def check_instancenorm(rng: np.random.Generator) -> Check:
    """One statistic per (sample, channel): two batches, a batch of one, a constant channel map
    (eps inside the sqrt) and the default eps."""
    def inputs(N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        C, H, W = int(rng.integers(2, 5)), int(rng.integers(3, 7)), int(rng.integers(3, 7))
        return _norm_inputs(rng, (N, C, H, W)), rng.normal(size=C), rng.normal(size=C)

    def eps() -> float:
        return float(10 ** rng.uniform(-3, -1.5))

    cases = [_instance_case(*inputs(int(rng.integers(2, 5))), eps()) for _ in range(2)]
    cases.append(_instance_case(*inputs(1), eps(), " for a batch of one"))
    x, g, b = inputs(int(rng.integers(2, 5)))
    x[int(rng.integers(0, x.shape[0])), int(rng.integers(0, x.shape[1]))] = float(rng.normal())
    cases.append(_instance_case(x, g, b, eps(), " with a channel map that is constant"))
    cases.append(_instance_case(*inputs(int(rng.integers(2, 5))), None,
                                " with the default eps"))
    return Check("test_instancenorm_forward", ("instancenorm_forward",), cases, BANS)


def _groupnorm_variants(x: np.ndarray, G: int, eps: float, gamma: np.ndarray,
                        beta: np.ndarray) -> dict[str, np.ndarray]:
    N, C, H, W = x.shape

    def grouped(xg: np.ndarray, **kw: Any) -> np.ndarray:  # (N, G, ...) normalised per (n, g)
        return _norm_over(xg.reshape(N, G, -1), (2,), eps, **kw)

    def affine(xh: np.ndarray) -> np.ndarray:
        return gamma * xh.reshape(x.shape) + beta

    strided = grouped(x.reshape(N, C // G, G, H, W).transpose(0, 2, 1, 3, 4)).reshape(
        N, G, C // G, H, W).transpose(0, 2, 1, 3, 4)
    variants = {k: affine(v) for k, v in _slips(x.reshape(N, G, -1), (2,), eps,
                                                  lambda a: a).items()}
    variants[NO_AFFINE] = grouped(x).reshape(x.shape)
    variants.update({
        "the groups are strided (channel c in group c % G); group norm uses G blocks of C // G "
        "consecutive channels": affine(strided),
        "one statistic per channel (that is instance norm): the group axis is wrong":
            affine(_norm_over(x, (2, 3), eps)),
        "one statistic per sample over all channels (that is layer norm): the group axis is "
        "wrong": affine(_norm_over(x, (1, 2, 3), eps)),
        "the statistics include the batch axis: group norm normalises each sample separately":
            affine(_norm_over(x.reshape(N, G, C // G, H, W), (0, 2, 3, 4), eps)),
        "the statistics are taken per pixel (over the group's channels only); they must cover "
        "every position of the group's channels too":
            affine(_norm_over(x.reshape(N, G, C // G, H, W), (2,), eps)),
    })
    return variants


def groupnorm_cases(rng: np.random.Generator, C: int, G: int, what: str) -> list[Case]:
    """Forward output, then dx, dgamma and dbeta (shape (1, C, 1, 1)) for C channels in G groups."""
    N, H, W = int(rng.integers(2, 5)), int(rng.integers(3, 6)), int(rng.integers(3, 6))
    x = _norm_inputs(rng, (N, C, H, W))
    gamma, beta = rng.normal(size=(1, C, 1, 1)), rng.normal(size=(1, C, 1, 1))
    eps, dout = float(10 ** rng.uniform(-3, -1.5)), rng.normal(size=(N, C, H, W))
    F = _F()
    out, grads = autograd(lambda x, g, b: F.group_norm(x, G, g.reshape(C), b.reshape(C), eps),
                          [x, gamma, beta], dout)
    dx_variants = {k: v.reshape(x.shape) for k, v in _dx_variants(
        x.reshape(N, G, -1), (dout * gamma).reshape(N, G, -1), (2,), eps).items()}
    fwd = Call("spatial_groupnorm_forward", (x, gamma, beta, G, {"eps": eps}), save="f")
    cases = part_cases([fwd], 2, [Part(0, f"group norm output{what}", out,
                                       variants=_groupnorm_variants(x, G, eps, gamma, beta),
                                       weight=2)], what)
    return cases + part_cases([fwd, Call("spatial_groupnorm_backward", (dout, Ref("f", 1)))], 3, [
        Part(0, f"dx of spatial_groupnorm_backward{what}", grads[0], GRAD, dx_variants, 2),
        Part(1, f"dgamma (shape (1, C, 1, 1)){what}", grads[1], GRAD,
             _dgamma_variants(dout, x, x - x.reshape(N, G, -1).mean(axis=2, keepdims=True)
                              .repeat(C // G * H * W, axis=2).reshape(x.shape), (0, 2, 3),
                              keepdims=True)),
        Part(2, f"dbeta (shape (1, C, 1, 1)){what}", grads[2], GRAD),
    ], what)


def check_groupnorm(rng: np.random.Generator) -> Check:
    """Two group counts between the ends, and the ends: G = 1 (layer norm), G = C (instance
    norm)."""
    configs = [(6, 2), (6, 3), (8, 2), (8, 4), (12, 3), (12, 4)]
    cases = []
    for i in rng.choice(len(configs), size=2, replace=False):
        C, G = configs[int(i)]
        cases += groupnorm_cases(rng, C, G, f" (C={C}, G={G})")
    # the ends of the range: G = 1 is layer norm, G = C is instance norm
    cases += groupnorm_cases(rng, int(rng.integers(2, 6)), 1, " (G=1)")
    C = int(rng.integers(2, 6))
    cases += groupnorm_cases(rng, C, C, " (G=C)")
    return Check("test_spatial_groupnorm",
                 ("spatial_groupnorm_forward", "spatial_groupnorm_backward"), cases, BANS)


# --------------------------------------------------------------------------------------------
# Folding batch norm into a conv
# --------------------------------------------------------------------------------------------


def fold_oracle(w: np.ndarray, b: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                rm: np.ndarray, rv: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """(w', b') from torch's test-mode batch norm, an affine map per channel f:
    b' = BN(b), w'[f] = BN(w[f]) - BN(0)."""
    F = _F()

    def bn(z: np.ndarray) -> np.ndarray:  # z: (M, F)
        return np64(F.batch_norm(t64(z), t64(rm), t64(rv), t64(gamma), t64(beta),
                                 training=False, eps=eps))

    Fo = w.shape[0]
    cols = w.reshape(Fo, -1).T
    w_f = (bn(cols) - bn(np.zeros((1, Fo)))).T.reshape(w.shape)
    return w_f, bn(b[None])[0]


def _fold_case(rng: np.random.Generator, eps: float | None) -> list[Case]:
    Fo, C, k = int(rng.integers(2, 6)), int(rng.integers(1, 4)), int(rng.choice([1, 3]))
    Fo += Fo == C  # scaling the wrong axis must fail to broadcast or differ
    w, b = rng.normal(size=(Fo, C, k, k)), rng.normal(size=Fo)
    gamma = rng.uniform(0.5, 2, size=Fo) * rng.choice([-1, 1], size=Fo)
    beta, rm, rv = rng.normal(size=Fo), rng.normal(size=Fo), rng.uniform(0.05, 2, size=Fo)
    e = 1e-5 if eps is None else eps
    w_f, b_f = fold_oracle(w, b, gamma, beta, rm, rv, e)
    scale = gamma / np.sqrt(rv + e)
    s_out = gamma / (np.sqrt(rv) + e)
    args = (w, b, gamma, beta, rm, rv) + (() if eps is None else (eps,))
    extra = " (default eps)" if eps is None else ""
    return part_cases([Call("fold_batchnorm", args)], 2, [
        Part(0, f"w_folded{extra}", w_f, variants={
            EPS_OUTSIDE: w * s_out[:, None, None, None],
            "the weights were divided by gamma / sqrt(var + eps) instead of multiplied":
                w / scale[:, None, None, None],
            "the weights were scaled by gamma only (divide by sqrt(var + eps) too)":
                w * gamma[:, None, None, None]}),
        Part(1, f"b_folded{extra}", b_f, variants={
            "the running mean was not subtracted from the bias": b * scale + beta,
            "the conv bias was not scaled by gamma / sqrt(var + eps)": b - rm * scale + beta,
            "beta was not added to the folded bias": (b - rm) * scale,
            EPS_OUTSIDE: (b - rm) * s_out + beta}),
    ], extra)


def check_fold(rng: np.random.Generator) -> Check:
    """w_folded and b_folded as cases, for two eps and the default eps; F != C so that scaling the
    wrong axis shows."""
    cases = [c for _ in range(2) for c in _fold_case(rng, float(10 ** rng.uniform(-3, -1)))]
    cases += _fold_case(rng, None)
    return Check("test_fold_batchnorm", ("fold_batchnorm",), cases, BANS)


# --------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------


def _dropout_out(got: Any, x: np.ndarray, what: str) -> tuple[np.ndarray | None, Verdict | None]:
    """The student's train-mode output as an array of x's size (any layout), or why not."""
    parts, bad = unpack(got, 2, what)
    if bad is not None:
        return None, bad
    try:
        arr = np.asarray(parts[0], dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.size != x.size:
        shape = "nothing usable" if arr is None else f"shape {arr.shape}"
        return None, fail(f"{what} should return an array of shape {x.shape}, got {shape}")
    return arr, None


def _plausible_mask(arr: np.ndarray, what: str) -> Verdict | None:
    """A verdict when the output drops none or all of the units (nothing to check)."""
    dropped = float(np.mean(arr == 0))
    if dropped < 0.02:
        return fail(f"{what}: no unit was dropped in train mode ({dropped:.1%} zeros)")
    if dropped > 0.98:
        return fail(f"{what}: every unit was dropped in train mode ({dropped:.1%} zeros)")
    return None


def _judge_fraction(got: Any, x: np.ndarray, p: float) -> Verdict:
    what = f"dropout_forward in train mode (p={p:.3f})"
    arr, bad = _dropout_out(got, x, what)
    if bad is not None:
        return bad
    frac = float(np.mean(arr == 0))
    tol = max(0.04, 6 * np.sqrt(p * (1 - p) / x.size))
    if abs(frac - p) < tol:
        return ok(f"{what} drops {frac:.1%} of the units")
    if abs(frac - (1 - p)) < tol:
        return fail(f"{what} dropped {frac:.1%} of the units" + looks_like(
            "p is used as the probability of KEEPING a unit; p is the probability of dropping "
            "it"))
    return fail(f"{what} dropped {frac:.1%} of the units, expected about {p:.1%}")


def _judge_rescale(got: Any, x: np.ndarray, p: float) -> Verdict:
    what = f"train-mode output of dropout_forward (p={p:.3f})"
    arr, bad = _dropout_out(got, x, what)
    if bad is not None:
        return bad
    bad = _plausible_mask(arr, what)
    if bad is not None:
        return bad
    kept = arr.reshape(x.shape) != 0
    return expect_close(arr, np.where(kept, x / (1 - p), 0.0), what, EXACT, variants={
        "dropout is not rescaled: kept units must be divided by (1 - p) so that nothing is "
        "needed at test time": np.where(kept, x, 0.0),
        "kept units were multiplied by (1 - p); inverted dropout divides by it":
            np.where(kept, x * (1 - p), 0.0),
        "kept units were divided by p; divide by (1 - p), the keep probability":
            np.where(kept, x / p, 0.0)})


def _judge_seeds(results: list[Any], x: np.ndarray, same: bool) -> Verdict:
    what = "dropout_forward called " + ("twice with the same seed" if same
                                        else "with two different seeds")
    a, bad = _dropout_out(results[0], x, what)
    b, bad2 = _dropout_out(results[1], x, what)
    bad = bad or bad2 or _plausible_mask(a, what)
    if bad is not None:
        return bad
    equal = a.shape == b.shape and bool(np.array_equal(a, b))
    if equal == same:
        return ok(f"{what} gives {'the same' if same else 'another'} mask")
    if same:
        return fail(f"{what} gave two different masks: draw the mask from "
                    "np.random.default_rng(dropout_param['seed'])")
    return fail(f"{what} gave the same mask: the mask must come from dropout_param['seed'], "
                "not from a fixed seed")


def _judge_backward(results: list[Any], x: np.ndarray, dout: np.ndarray, p: float) -> Verdict:
    what = f"dx of dropout_backward (p={p:.3f})"
    arr, bad = _dropout_out(results[0], x, "dropout_forward in train mode")
    bad = bad or _plausible_mask(arr, what)
    if bad is not None:
        return bad
    out = arr.reshape(x.shape)
    return expect_close(results[1], dout * out / x, what, EXACT, variants={
        "dx is not rescaled: multiply by the same mask / (1 - p) as the forward pass":
            dout * (out != 0)})


def _judge_test_identity(v: Any, expected: np.ndarray, p: float, what: str) -> Verdict:
    """Test mode returns its input unchanged; an output with zeros that the input does not have
    means dropout is still active."""
    arr = np.asarray(v, dtype=np.float64) if isinstance(v, np.ndarray) else None
    if arr is not None and arr.size == expected.size and float(np.mean(arr == 0)) > 0.05:
        return fail(f"{what}: dropout is still active at test time; test mode must return x "
                    "unchanged")
    return expect_close(v, expected, what, EXACT, variants={
        "test mode scales by (1 - p); with inverted dropout test mode is the identity":
            expected * (1 - p),
        "test mode divides by (1 - p); with inverted dropout test mode is the identity":
            expected / (1 - p)})


def _dropout_test_cases(x: np.ndarray, dout: np.ndarray, p: float, seed: int) -> list[Case]:
    test = {"p": p, "mode": "test", "seed": seed}

    def forward(r: list[Any]) -> Verdict:
        parts, bad = unpack(r[0], 2, "dropout_forward in test mode")
        return bad or _judge_test_identity(parts[0], x, p,
                                           "output of dropout_forward in test mode")

    def backward(r: list[Any]) -> Verdict:
        dx, bad = value(r[1], "dropout_backward in test mode")
        return bad or _judge_test_identity(dx, dout, p, "dx of dropout_backward in test mode")

    return [Case(Call("dropout_forward", (x, test)), forward),
            Case((Call("dropout_forward", (x, test), save="f", ret=False),
                  Call("dropout_backward", (dout, Ref("f", 1)))), backward, 0.5)]


def check_dropout(rng: np.random.Generator) -> Check:
    """Independent cases, one property each: dropped fraction and rescaling for p < 0.5 and p > 0.5,
    the backward, the same seed, another seed, test mode forward and backward."""
    # p away from 0.5 so "keep with probability p" is told apart from "drop with probability p"
    ps = (float(rng.uniform(0.15, 0.35)), float(rng.uniform(0.65, 0.85)))
    shape = (int(rng.integers(40, 60)), int(rng.integers(40, 60)))
    x = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1, 1], size=shape)  # never 0
    dout = rng.normal(size=shape)
    s1, s2 = (int(s) for s in rng.choice(2**31, size=2, replace=False))
    cases = []
    for p in ps:
        train = Call("dropout_forward", (x, {"p": p, "mode": "train", "seed": s1}))
        cases += [Case(train, lambda r, p=p: _judge_fraction(r[0], x, p)),
                  Case(train, lambda r, p=p: _judge_rescale(r[0], x, p))]
    p = ps[int(rng.integers(0, 2))]
    train = {"p": p, "mode": "train", "seed": s1}
    cases += [
        Case((Call("dropout_forward", (x, train), save="f"),
              Call("dropout_backward", (dout, Ref("f", 1)))),
             lambda r: _judge_backward(r, x, dout, p)),
        Case((Call("dropout_forward", (x, train)), Call("dropout_forward", (x, train))),
             lambda r: _judge_seeds(r, x, same=True), 0.5),
        Case((Call("dropout_forward", (x, train)),
              Call("dropout_forward", (x, {**train, "seed": s2}))),
             lambda r: _judge_seeds(r, x, same=False), 0.5),
    ]
    cases += _dropout_test_cases(x, dout, p, s1)
    return Check("test_dropout", ("dropout_forward", "dropout_backward"), cases, BANS)


# --------------------------------------------------------------------------------------------


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell, in notebook order, with cases drawn from ``rng``."""
    D = int(rng.integers(3, 8))
    return [
        check_subtract_mean_image(rng),
        check_subtract_channel_mean(rng),
        check_batchnorm_forward(rng, D),
        check_batchnorm_backward(rng, D),
        check_batchnorm_backward_alt(rng, D),
        check_spatial_batchnorm(rng),
        check_layernorm(rng),
        check_instancenorm(rng),
        check_groupnorm(rng),
        check_fold(rng),
        check_dropout(rng),
    ]
