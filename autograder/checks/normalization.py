"""Hidden checks of assignment 04_normalization (normalization and regularization).

One :class:`~autograder.checkkit.Check` per autograded test cell of
``notebooks/04_normalization/normalization.ipynb`` (same name, same points).

Oracles are computed here, in the trusted parent, in float64 from the same random cases the
student's code sees, never from the student's results:

- batch / layer / instance / group norm outputs: ``torch.nn.functional.batch_norm``,
  ``layer_norm``, ``instance_norm``, ``group_norm``; their gradients by torch autograd of
  ``(out * dout).sum()``.
- running averages: the course convention ``running = momentum * running + (1 - momentum) *
  batch`` with the *biased* batch variance (torch's ``momentum`` is ``1 - ours`` and torch keeps
  the unbiased variance in ``running_var``, so these two numbers are computed with numpy).
  The student's in-place update of ``bn_param`` is read back with the ``@value`` probe: the
  dict is saved in the sandbox, passed to the student's function, then sent back as it is.
- mean subtraction: numpy means of the training images.
- dropout: the mask is the student's (any RNG is fine), so the checks test properties: every
  output is 0 or x / (1 - p), the dropped fraction is p within 6 binomial standard deviations
  (at least 0.04), the same seed gives the same mask, dx = dout * out / x, test mode is the
  identity.
- folding: the folded conv against ``F.batch_norm(F.conv2d(x, w, b), training=False)``.

Tolerances: forward outputs, running averages, means and folded weights rtol=1e-6, atol=1e-8;
gradients rtol=1e-5, atol=1e-7; dropout values rtol=1e-9; folded conv output rtol=1e-6,
atol=1e-7. Known wrong implementations are computed on the same inputs and named when matched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

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
    first_error,
    is_close,
)

ASSIGNMENT = "04_normalization"

#: name -> points; must equal the notebook's autograded test cells (a test keeps them in step).
POINTS: dict[str, int] = {
    "test_subtract_mean_image": 1,
    "test_subtract_channel_mean": 1,
    "test_batchnorm_forward": 4,
    "test_batchnorm_backward": 3,
    "test_batchnorm_backward_alt": 2,
    "test_spatial_batchnorm": 3,
    "test_layernorm": 3,
    "test_instancenorm_forward": 2,
    "test_spatial_groupnorm": 4,
    "test_fold_batchnorm": 2,
    "test_dropout": 3,
}

GRAD_TOL = {"rtol": 1e-5, "atol": 1e-7}

# Mistake names: the feedback a student reads.
UNBIASED = "the variance is unbiased (divided by m - 1); batch norm uses the biased 1/m variance"
EPS_OUTSIDE = "eps is added outside the square root (sqrt(var) + eps instead of sqrt(var + eps))"
NOT_UPDATED = "the running averages were not updated in train mode"
REVERSED = ("the momentum convention is reversed: the course uses running = momentum * running "
            "+ (1 - momentum) * batch (torch's momentum is 1 minus ours)")
BATCH_AT_TEST = "batch statistics are used at test time instead of the running averages"
CONSTANT_STATS = ("the batch mean and variance were treated as constants in the backward pass "
                  "(they depend on x too)")


# --------------------------------------------------------------------------------------------
# Oracles (trusted parent, float64)
# --------------------------------------------------------------------------------------------


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _autograd(fn: Callable[..., torch.Tensor], arrays: Sequence[np.ndarray],
              dout: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output of ``fn(*arrays)`` and the gradients of ``(out * dout).sum()`` w.r.t. every array."""
    ts = [_t(a, grad=True) for a in arrays]
    out = fn(*ts)
    (out * _t(dout)).sum().backward()
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def _norm_over(x: np.ndarray, axes: tuple[int, ...], eps: float, ddof: int = 0,
               eps_outside: bool = False) -> np.ndarray:
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return (x - mu) / std


def _bn_train(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    return F.batch_norm(_t(x), None, None, _t(g), _t(b), training=True, eps=eps).numpy()


# --------------------------------------------------------------------------------------------
# Judging helpers
# --------------------------------------------------------------------------------------------


def _parts(got: Any, n: int, what: str) -> tuple[list[Any] | None, Verdict | None]:
    """``got`` as a list of ``n`` items, or a zero verdict saying what was returned instead."""
    if isinstance(got, Raised):
        return None, Verdict(0.0, f"{what} raised {got.type}: {got.message}")
    if isinstance(got, Skipped):
        return None, Verdict(0.0, got.reason)
    if not isinstance(got, (tuple, list)) or len(got) != n:
        kind = got.type if isinstance(got, Opaque) else type(got).__name__
        size = f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""
        return None, Verdict(0.0, f"{what} should return a tuple of {n} items, got a {kind}{size}")
    return list(got), None


def _array_or_none(got: Any) -> np.ndarray | None:
    if isinstance(got, np.ndarray) and got.dtype.kind in "biuf":
        return got.astype(np.float64)
    return None


def _dict_entry(got: Any, key: str, what: str) -> tuple[Any, Verdict | None]:
    if isinstance(got, (Raised, Skipped)):
        return None, first_error([got])
    if not isinstance(got, dict) or key not in got:
        return None, Verdict(0.0, f"{what}: bn_param has no {key!r} after the call")
    return got[key], None


# --------------------------------------------------------------------------------------------
# Preprocessing
# --------------------------------------------------------------------------------------------


def _images(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    N, M = int(rng.integers(5, 12)), int(rng.integers(3, 8))
    C, H, W = int(rng.choice([1, 3])), int(rng.integers(4, 9)), int(rng.integers(4, 9))
    # Pixel- and channel-dependent means so the mean image and the channel means differ.
    loc = rng.uniform(-2, 2, size=(C, H, W)) + rng.uniform(-3, 3, size=(C, 1, 1))
    X_train = loc + rng.normal(size=(N, C, H, W))
    X_test = loc + 0.7 + rng.normal(size=(M, C, H, W))  # a shifted test set: own mean differs
    return X_train, X_test


def _check_subtract_mean_image(rng: np.random.Generator) -> Check:
    X_train, X_test = _images(rng)
    mean_image = X_train.mean(axis=0)
    chan = X_train.mean(axis=(0, 2, 3), keepdims=True)

    def judge(results: list[Any]) -> Verdict:
        parts, bad = _parts(results[0], 3, "subtract_mean_image")
        if bad:
            return bad
        tr, te, mean = parts
        return all_of(
            expect_close(tr, X_train - mean_image, "X_train_centered", variants={
                "the per-channel mean was subtracted instead of the mean image": X_train - chan,
                "one global mean was subtracted instead of the mean image":
                    X_train - X_train.mean()}),
            expect_close(te, X_test - mean_image, "X_test_centered", variants={
                "the test images were centred with their own mean; use the TRAINING mean image":
                    X_test - X_test.mean(axis=0)}),
            expect_close(mean, mean_image, "mean_image"),
        )

    return Check("test_subtract_mean_image", POINTS["test_subtract_mean_image"],
                 [Call("subtract_mean_image", (X_train, X_test))], judge)


def _check_subtract_channel_mean(rng: np.random.Generator) -> Check:
    X_train, X_test = _images(rng)
    chan = X_train.mean(axis=(0, 2, 3))
    c4 = chan[None, :, None, None]

    def judge(results: list[Any]) -> Verdict:
        parts, bad = _parts(results[0], 3, "subtract_channel_mean")
        if bad:
            return bad
        tr, te, mean = parts
        return all_of(
            expect_close(tr, X_train - c4, "X_train_centered", variants={
                "the mean image was subtracted instead of one mean per channel":
                    X_train - X_train.mean(axis=0),
                "one global mean was subtracted instead of one mean per channel":
                    X_train - X_train.mean(),
                "the mean was taken per image (over H, W) instead of over the training set":
                    X_train - X_train.mean(axis=(2, 3), keepdims=True)}),
            expect_close(te, X_test - c4, "X_test_centered", variants={
                "the test images were centred with their own channel means; use the TRAINING "
                "means": X_test - X_test.mean(axis=(0, 2, 3), keepdims=True)}),
            expect_close(mean, chan, "channel_mean"),
        )

    return Check("test_subtract_channel_mean", POINTS["test_subtract_channel_mean"],
                 [Call("subtract_channel_mean", (X_train, X_test))], judge)


# --------------------------------------------------------------------------------------------
# Batch norm
# --------------------------------------------------------------------------------------------


def _bn_case(rng: np.random.Generator, shape: tuple[int, ...]) -> dict[str, Any]:
    C = shape[1]
    bshape = (1, C) + (1,) * (len(shape) - 2)
    return {
        # Features with different scales so eps matters and all variants are told apart.
        "x": rng.uniform(-3, 3, size=bshape) + rng.uniform(0.05, 3, size=bshape)
        * rng.normal(size=shape),
        "gamma": rng.uniform(0.5, 2.0, size=C) * rng.choice([-1, 1], size=C),
        "beta": rng.normal(size=C),
        "eps": float(10 ** rng.uniform(-3, -1.5)),
        "momentum": float(rng.uniform(0.7, 0.95)),
        "rm": rng.normal(size=C),
        "rv": rng.uniform(0.5, 2.0, size=C),
    }


def _running_oracles(c: dict[str, Any], axes: tuple[int, ...]) -> dict[str, np.ndarray]:
    x, m = c["x"], c["momentum"]
    mu, var = x.mean(axis=axes), x.var(axis=axes)
    var_unb = x.var(axis=axes, ddof=1)
    return {
        "rm": m * c["rm"] + (1 - m) * mu,
        "rv": m * c["rv"] + (1 - m) * var,
        "rm_rev": (1 - m) * c["rm"] + m * mu,
        "rv_rev": (1 - m) * c["rv"] + m * var,
        "rv_unb": m * c["rv"] + (1 - m) * var_unb,
    }


def _bn_forward_check(rng: np.random.Generator, name: str, func: str, shape: tuple[int, ...],
                      points: int) -> Check:
    """Train output, running averages (read back from the mutated bn_param) and test output."""
    c = _bn_case(rng, shape)
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    C = shape[1]
    bc = (1, C) + (1,) * (len(shape) - 2)
    g, b, eps = c["gamma"].reshape(bc), c["beta"].reshape(bc), c["eps"]
    x_test = c["x"][: max(2, shape[0] // 2)] * 1.3 + 0.4
    train_param = {"mode": "train", "eps": eps, "momentum": c["momentum"],
                   "running_mean": c["rm"].copy(), "running_var": c["rv"].copy()}
    test_param = {"mode": "test", "eps": eps, "momentum": c["momentum"],
                  "running_mean": c["rm"].copy(), "running_var": c["rv"].copy()}
    steps = [
        Call("@value", (train_param,), save="p", ret=False),
        Call(func, (c["x"], c["gamma"], c["beta"], Ref("p")), save="fwd"),
        Call("@value", on="p"),
        Call(func, (x_test, c["gamma"], c["beta"], test_param)),
    ]
    out_train = _bn_train(c["x"], c["gamma"], c["beta"], eps)
    out_test = F.batch_norm(_t(x_test), _t(c["rm"]), _t(c["rv"]), _t(c["gamma"]),
                            _t(c["beta"]), training=False, eps=eps).numpy()
    run = _running_oracles(c, axes)
    train_variants = {
        UNBIASED: g * _norm_over(c["x"], axes, eps, ddof=1) + b,
        EPS_OUTSIDE: g * _norm_over(c["x"], axes, eps, eps_outside=True) + b,
    }
    if len(shape) == 4:
        # what a bare x.reshape(-1, C) gives: columns that mix channels and positions
        wrong = c["gamma"] * _norm_over(c["x"].reshape(-1, C), (0,), eps) + c["beta"]
        train_variants["x was reshaped to (N*H*W, C) without moving the channel axis last"] = (
            wrong.reshape(shape))
        train_variants["statistics were taken over the batch axis only, per channel AND "
                       "position (use one mean per channel, over N, H and W)"] = (
            g * _norm_over(c["x"], (0,), eps) + b)
    test_variants = {
        BATCH_AT_TEST: g * _norm_over(x_test, axes, eps) + b,
        EPS_OUTSIDE: g * (x_test - c["rm"].reshape(bc)) / (np.sqrt(c["rv"].reshape(bc)) + eps)
        + b,
    }

    def judge(results: list[Any]) -> Verdict:
        _, fwd, after, test = results
        parts, bad = _parts(fwd, 2, f"{func} in train mode")
        if bad:
            return bad
        v_out = expect_close(parts[0], out_train, "train-mode output", variants=train_variants)
        rm, bad_rm = _dict_entry(after, "running_mean", "train mode")
        rv, bad_rv = _dict_entry(after, "running_var", "train mode")
        v_rm = bad_rm or expect_close(rm, run["rm"], "running_mean after one train step",
                                      variants={NOT_UPDATED: c["rm"], REVERSED: run["rm_rev"]})
        v_rv = bad_rv or expect_close(rv, run["rv"], "running_var after one train step",
                                      variants={NOT_UPDATED: c["rv"], REVERSED: run["rv_rev"],
                                                UNBIASED: run["rv_unb"]})
        tparts, tbad = _parts(test, 2, f"{func} in test mode")
        v_test = tbad or expect_close(tparts[0], out_test, "test-mode output",
                                      variants=test_variants)
        return all_of(v_out, v_rm, v_rv, v_test)

    return Check(name, points, steps, judge)


def _bn_backward_check(rng: np.random.Generator, name: str, fwd: str, bwd: str,
                       shape: tuple[int, ...], points: int) -> Check:
    cases = []
    for s in (shape, (int(rng.integers(3, 9)),) + shape[1:]):
        c = _bn_case(rng, s)
        c["dout"] = rng.normal(size=s)
        cases.append(c)
    steps: list[Call] = []
    for i, c in enumerate(cases):
        param = {"mode": "train", "eps": c["eps"], "momentum": c["momentum"],
                 "running_mean": c["rm"], "running_var": c["rv"]}
        steps += [Call(fwd, (c["x"], c["gamma"], c["beta"], param), save=f"f{i}", ret=False),
                  Call(bwd, (c["dout"], Ref(f"f{i}", 1)))]

    def unbiased_bn(x: torch.Tensor, g: torch.Tensor, b: torch.Tensor, eps: float
                    ) -> torch.Tensor:
        axes = (0,) if x.dim() == 2 else (0, 2, 3)
        shp = (1, -1) + (1,) * (x.dim() - 2)
        mu = x.mean(dim=axes, keepdim=True)
        var = x.var(dim=axes, keepdim=True, unbiased=True)
        return g.reshape(shp) * (x - mu) / torch.sqrt(var + eps) + b.reshape(shp)

    oracles = []
    for c in cases:
        eps = c["eps"]
        _, grads = _autograd(
            lambda x, g, b, eps=eps: F.batch_norm(x, None, None, g, b, training=True, eps=eps),
            [c["x"], c["gamma"], c["beta"]], c["dout"])
        _, ugrads = _autograd(lambda x, g, b, eps=eps: unbiased_bn(x, g, b, eps),
                              [c["x"], c["gamma"], c["beta"]], c["dout"])
        axes = (0,) if c["x"].ndim == 2 else (0, 2, 3)
        bc = (1, -1) + (1,) * (c["x"].ndim - 2)
        const = c["dout"] * c["gamma"].reshape(bc) / np.sqrt(c["x"].var(axis=axes, keepdims=True)
                                                             + eps)
        oracles.append((grads, {CONSTANT_STATS: const, UNBIASED: ugrads[0]}))

    def judge(results: list[Any]) -> Verdict:
        err = first_error(results)
        if err:
            return err
        verdicts = []
        for got, (grads, dx_variants) in zip(results[1::2], oracles, strict=True):
            parts, bad = _parts(got, 3, bwd)
            if bad:
                return bad
            verdicts += [
                expect_close(parts[0], grads[0], "dx", variants=dx_variants, **GRAD_TOL),
                expect_close(parts[1], grads[1], "dgamma", **GRAD_TOL),
                expect_close(parts[2], grads[2], "dbeta", **GRAD_TOL),
            ]
        return all_of(*verdicts)

    return Check(name, points, steps, judge)


# --------------------------------------------------------------------------------------------
# Layer, instance, group norm
# --------------------------------------------------------------------------------------------


def _check_layernorm(rng: np.random.Generator) -> Check:
    cases = []
    for N in (int(rng.integers(4, 10)), 1):  # batch size 1 must work: no batch statistics
        D = int(rng.integers(4, 12))
        x = rng.uniform(-2, 2, size=(N, 1)) + rng.uniform(0.05, 3, size=(N, 1)) * rng.normal(
            size=(N, D))
        cases.append({"x": x, "gamma": rng.normal(size=D), "beta": rng.normal(size=D),
                      "eps": float(10 ** rng.uniform(-3, -1.5)), "dout": rng.normal(size=(N, D))})
    steps: list[Call] = []
    oracles = []
    for i, c in enumerate(cases):
        steps += [Call("layernorm_forward", (c["x"], c["gamma"], c["beta"], {"eps": c["eps"]}),
                       save=f"f{i}"),
                  Call("layernorm_backward", (c["dout"], Ref(f"f{i}", 1)))]
        D, eps = c["x"].shape[1], c["eps"]
        out, grads = _autograd(lambda x, g, b, D=D, eps=eps: F.layer_norm(x, (D,), g, b, eps),
                               [c["x"], c["gamma"], c["beta"]], c["dout"])
        g, b = c["gamma"], c["beta"]
        variants = {
            "the statistics were taken over the batch axis (that is batch norm); layer norm "
            "uses one mean and variance per sample, over its features":
                g * _norm_over(c["x"], (0,), eps) + b if c["x"].shape[0] > 1 else None,
            UNBIASED.replace("batch norm", "layer norm"): g * _norm_over(c["x"], (1,), eps, 1)
            + b,
            EPS_OUTSIDE: g * _norm_over(c["x"], (1,), eps, eps_outside=True) + b,
        }
        oracles.append((out, grads, variants))

    def judge(results: list[Any]) -> Verdict:
        verdicts = []
        for i, (out, grads, variants) in enumerate(oracles):
            n = cases[i]["x"].shape[0]
            fparts, bad = _parts(results[2 * i], 2, f"layernorm_forward (batch size {n})")
            if bad:
                return bad
            verdicts.append(expect_close(fparts[0], out, f"output (batch size {n})",
                                         variants=variants))
            bparts, bad = _parts(results[2 * i + 1], 3, f"layernorm_backward (batch size {n})")
            if bad:
                return bad
            verdicts += [expect_close(p, gr, f"{w} (batch size {n})", **GRAD_TOL)
                         for p, gr, w in zip(bparts, grads, ("dx", "dgamma", "dbeta"), strict=True)]
        return all_of(*verdicts)

    return Check("test_layernorm", POINTS["test_layernorm"], steps, judge)


def _check_instancenorm(rng: np.random.Generator) -> Check:
    N, C = int(rng.integers(2, 5)), int(rng.integers(2, 5))
    H, W = int(rng.integers(3, 7)), int(rng.integers(3, 7))
    x = rng.uniform(-2, 2, size=(N, C, 1, 1)) + rng.uniform(0.1, 3, size=(N, C, 1, 1)) * (
        rng.normal(size=(N, C, H, W)))
    gamma, beta = rng.normal(size=C), rng.normal(size=C)
    eps = float(10 ** rng.uniform(-3, -1.5))
    out = F.instance_norm(_t(x), weight=_t(gamma), bias=_t(beta), eps=eps).numpy()
    g4, b4 = gamma[None, :, None, None], beta[None, :, None, None]
    variants = {
        "the statistics were taken over (N, H, W) per channel (that is batch norm); instance "
        "norm uses one mean per sample and channel": g4 * _norm_over(x, (0, 2, 3), eps) + b4,
        "the statistics were taken over (C, H, W) per sample (that is layer norm); instance "
        "norm uses one mean per sample and channel": g4 * _norm_over(x, (1, 2, 3), eps) + b4,
        UNBIASED.replace("batch norm", "instance norm"): g4 * _norm_over(x, (2, 3), eps, 1) + b4,
        EPS_OUTSIDE: g4 * _norm_over(x, (2, 3), eps, eps_outside=True) + b4,
    }

    def judge(results: list[Any]) -> Verdict:
        parts, bad = _parts(results[0], 2, "instancenorm_forward")
        if bad:
            return bad
        return expect_close(parts[0], out, "output", variants=variants)

    return Check("test_instancenorm_forward", POINTS["test_instancenorm_forward"],
                 [Call("instancenorm_forward", (x, gamma, beta, eps))], judge)


def _check_groupnorm(rng: np.random.Generator) -> Check:
    C, G = [(6, 2), (6, 3), (8, 2), (8, 4), (12, 3), (12, 4)][int(rng.integers(0, 6))]
    N, H, W = int(rng.integers(2, 5)), int(rng.integers(3, 6)), int(rng.integers(3, 6))
    x = rng.uniform(-2, 2, size=(N, C, 1, 1)) + rng.uniform(0.1, 3, size=(N, C, 1, 1)) * (
        rng.normal(size=(N, C, H, W)))
    gamma, beta = rng.normal(size=(1, C, 1, 1)), rng.normal(size=(1, C, 1, 1))
    eps = float(10 ** rng.uniform(-3, -1.5))
    dout = rng.normal(size=x.shape)
    out, grads = _autograd(
        lambda x, g, b: F.group_norm(x, G, g.reshape(C), b.reshape(C), eps),
        [x, gamma, beta], dout)

    def grouped(xg: np.ndarray) -> np.ndarray:  # (N, G, ...) -> normalised per (n, g)
        flat = xg.reshape(N, G, -1)
        return _norm_over(flat, (2,), eps)

    strided = grouped(x.reshape(N, C // G, G, H, W).transpose(0, 2, 1, 3, 4)).reshape(
        N, G, C // G, H, W).transpose(0, 2, 1, 3, 4).reshape(x.shape)
    across_batch = _norm_over(x.reshape(N, G, C // G, H, W), (0, 2, 3, 4), eps).reshape(x.shape)
    variants = {
        "the groups are strided (channel c in group c % G); group norm uses G blocks of C // G "
        "consecutive channels": gamma * strided + beta,
        "one statistic per channel (that is instance norm): the group axis is wrong":
            gamma * _norm_over(x, (2, 3), eps) + beta,
        "one statistic per sample over all channels (that is layer norm): the group axis is "
        "wrong": gamma * _norm_over(x, (1, 2, 3), eps) + beta,
        "the statistics include the batch axis: group norm normalises each sample separately":
            gamma * across_batch + beta,
        UNBIASED.replace("batch norm", "group norm"):
            gamma * (_norm_over(x.reshape(N, G, -1), (2,), eps, 1).reshape(x.shape)) + beta,
        EPS_OUTSIDE: gamma * _norm_over(x.reshape(N, G, -1), (2,), eps, eps_outside=True)
        .reshape(x.shape) + beta,
    }
    steps = [Call("spatial_groupnorm_forward", (x, gamma, beta, G, {"eps": eps}), save="f"),
             Call("spatial_groupnorm_backward", (dout, Ref("f", 1)))]

    def judge(results: list[Any]) -> Verdict:
        fparts, bad = _parts(results[0], 2, "spatial_groupnorm_forward")
        if bad:
            return bad
        v_out = expect_close(fparts[0], out, "output", variants=variants)
        bparts, bad = _parts(results[1], 3, "spatial_groupnorm_backward")
        if bad:
            return all_of(v_out, bad)
        return all_of(v_out, *[expect_close(p, gr, w, **GRAD_TOL) for p, gr, w in
                               zip(bparts, grads, ("dx", "dgamma (shape (1, C, 1, 1))",
                                                   "dbeta (shape (1, C, 1, 1))"), strict=True)])

    return Check("test_spatial_groupnorm", POINTS["test_spatial_groupnorm"], steps, judge)


# --------------------------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------------------------


def _check_dropout(rng: np.random.Generator) -> Check:
    # p away from 0.5 so "keep with probability p" is told apart from "drop with probability p".
    p = float(rng.choice([rng.uniform(0.15, 0.35), rng.uniform(0.65, 0.85)]))
    shape = (int(rng.integers(40, 60)), int(rng.integers(40, 60)))
    x = rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1, 1], size=shape)  # never 0
    dout = rng.normal(size=shape)
    seed = int(rng.integers(0, 2**31))
    train = {"p": p, "mode": "train", "seed": seed}
    steps = [
        Call("dropout_forward", (x, train), save="f"),
        Call("dropout_forward", (x, train)),
        Call("dropout_backward", (dout, Ref("f", 1))),
        Call("dropout_forward", (x, {"p": p, "mode": "test", "seed": seed})),
    ]
    n = x.size
    tol = max(0.04, 6 * np.sqrt(p * (1 - p) / n))

    def train_verdict(out: np.ndarray) -> Verdict:
        dropped = np.isclose(out, 0.0, rtol=0, atol=1e-12)
        frac = float(dropped.mean())
        if abs(frac - (1 - p)) < tol and abs(frac - p) >= tol:
            return Verdict(0.0, f"with p={p:.3f} you dropped {frac:.1%} of the units: it looks "
                           "like p is used as the probability of KEEPING a unit; p is the "
                           "probability of dropping it")
        if abs(frac - p) >= tol:
            return Verdict(0.0, f"with p={p:.3f} you dropped {frac:.1%} of the units, expected "
                           f"about {p:.1%}")
        kept = out[~dropped] / x[~dropped]
        for factor, msg in (
            (1 / (1 - p), None),
            (1.0, "dropout is not rescaled: kept units must be divided by (1 - p) so that "
                  "nothing is needed at test time"),
            (1 - p, "kept units were multiplied by (1 - p); inverted dropout divides by it"),
            (1 / p, "kept units were divided by p; divide by (1 - p), the keep probability"),
        ):
            if np.allclose(kept, factor, rtol=1e-9, atol=0):
                return Verdict(1.0, "train-mode output is correct") if msg is None else (
                    Verdict(0.0, msg))
        return Verdict(0.0, "kept units should equal x / (1 - p); some do not")

    def judge(results: list[Any]) -> Verdict:
        out1, out2, dx, test = results
        parts, bad = _parts(out1, 2, "dropout_forward in train mode")
        if bad:
            return bad
        out = _array_or_none(parts[0])
        if out is None or out.shape != x.shape:
            shape_got = None if out is None else out.shape
            return Verdict(0.0, f"train-mode output should have shape {x.shape}, got {shape_got}")
        v_train = train_verdict(out)
        parts2, bad = _parts(out2, 2, "dropout_forward called again with the same seed")
        v_seed = bad or (
            Verdict(1.0, "the same seed gives the same mask")
            if is_close(parts2[0], out, rtol=0, atol=0)
            else Verdict(0.0, "the same seed gave a different mask: draw the mask from "
                         "np.random.default_rng(dropout_param['seed'])"))
        v_back = (first_error([dx]) or expect_close(
            dx, dout * out / x, "dx", rtol=1e-9, atol=1e-12, variants={
                "dx is not rescaled: multiply by the same mask / (1 - p) as the forward pass":
                    dout * (out != 0)}))
        tparts, bad = _parts(test, 2, "dropout_forward in test mode")
        t = None if bad else _array_or_none(tparts[0])
        active = t is not None and t.shape == x.shape and float(np.mean(t == 0)) > 0.05
        v_test = bad or (Verdict(0.0, "dropout is still active at test time: test mode must "
                                 "return x unchanged") if active else expect_close(
            tparts[0], x, "test-mode output", rtol=1e-12, atol=0, variants={
                "test mode scales by (1 - p); with inverted dropout test mode is the identity":
                    x * (1 - p)}))
        return all_of(v_train, v_seed, v_back, v_test)

    return Check("test_dropout", POINTS["test_dropout"], steps, judge)


# --------------------------------------------------------------------------------------------
# Folding batch norm into a conv
# --------------------------------------------------------------------------------------------


def _check_fold(rng: np.random.Generator) -> Check:
    Fo, C, k = int(rng.integers(2, 6)), int(rng.integers(1, 4)), int(rng.choice([1, 3]))
    if Fo == C:
        Fo += 1  # scaling the wrong axis must fail to broadcast or differ
    w, b = rng.normal(size=(Fo, C, k, k)), rng.normal(size=Fo)
    gamma, beta = rng.uniform(0.5, 2, size=Fo) * rng.choice([-1, 1], size=Fo), rng.normal(size=Fo)
    rm, rv = rng.normal(size=Fo), rng.uniform(0.2, 2, size=Fo)
    eps = float(10 ** rng.uniform(-3, -1.5))
    x = rng.normal(size=(2, C, 6, 6))
    ref = F.batch_norm(F.conv2d(_t(x), _t(w), _t(b), padding=k // 2), _t(rm), _t(rv),
                       _t(gamma), _t(beta), training=False, eps=eps).numpy()
    scale = gamma / np.sqrt(rv + eps)
    w_f, b_f = w * scale[:, None, None, None], (b - rm) * scale + beta
    s_out = gamma / (np.sqrt(rv) + eps)
    b_variants = {
        "the running mean was not subtracted from the bias": b * scale + beta,
        "the conv bias was not scaled by gamma / sqrt(var + eps)": b - rm * scale + beta,
        EPS_OUTSIDE: (b - rm) * s_out + beta,
    }
    w_variants = {EPS_OUTSIDE: w * s_out[:, None, None, None],
                  "the weights were divided by gamma / sqrt(var + eps) instead of multiplied":
                      w / scale[:, None, None, None]}

    def judge(results: list[Any]) -> Verdict:
        parts, bad = _parts(results[0], 2, "fold_batchnorm")
        if bad:
            return bad
        v_w = expect_close(parts[0], w_f, "w_folded", variants=w_variants)
        v_b = expect_close(parts[1], b_f, "b_folded", variants=b_variants)
        if v_w.fraction == 1.0 and v_b.fraction == 1.0:
            fused = F.conv2d(_t(x), _t(parts[0]), _t(parts[1]), padding=k // 2).numpy()
            return expect_close(fused, ref, "the folded conv's output against conv + batch norm",
                                rtol=1e-6, atol=1e-7)
        return all_of(v_w, v_b)

    return Check("test_fold_batchnorm", POINTS["test_fold_batchnorm"],
                 [Call("fold_batchnorm", (w, b, gamma, beta, rm, rv, eps))], judge)


# --------------------------------------------------------------------------------------------


def build_checks(rng: np.random.Generator) -> list[Check]:
    """All hidden checks of 04_normalization, in notebook order, with cases drawn from ``rng``."""
    D = int(rng.integers(3, 8))
    spatial = (int(rng.integers(2, 5)), int(rng.integers(2, 5)), int(rng.integers(2, 5)),
               int(rng.integers(2, 5)))
    checks = [
        _check_subtract_mean_image(rng),
        _check_subtract_channel_mean(rng),
        _bn_forward_check(rng, "test_batchnorm_forward", "batchnorm_forward",
                          (int(rng.integers(6, 16)), D), POINTS["test_batchnorm_forward"]),
        _bn_backward_check(rng, "test_batchnorm_backward", "batchnorm_forward",
                           "batchnorm_backward", (int(rng.integers(4, 12)), D),
                           POINTS["test_batchnorm_backward"]),
        _bn_backward_check(rng, "test_batchnorm_backward_alt", "batchnorm_forward",
                           "batchnorm_backward_alt", (int(rng.integers(4, 12)), D),
                           POINTS["test_batchnorm_backward_alt"]),
        _spatial_bn_check(rng, spatial),
        _check_layernorm(rng),
        _check_instancenorm(rng),
        _check_groupnorm(rng),
        _check_fold(rng),
        _check_dropout(rng),
    ]
    assert [c.name for c in checks] == list(POINTS), "checks out of step with POINTS"
    return checks


def _spatial_bn_check(rng: np.random.Generator, shape: tuple[int, int, int, int]) -> Check:
    """Forward (train, running averages, test) and backward of spatial batch norm, one check."""
    fwd = _bn_forward_check(rng, "fwd", "spatial_batchnorm_forward", shape, 1)
    bwd = _bn_backward_check(rng, "bwd", "spatial_batchnorm_forward",
                             "spatial_batchnorm_backward", shape, 1)
    k = len(fwd.steps)
    # Backward steps refer to saves "f0"/"f1", forward steps to "p"/"fwd": no clash.

    def judge(results: list[Any]) -> Verdict:
        return all_of(fwd.judge(results[:k]), bwd.judge(results[k:]))

    return Check("test_spatial_batchnorm", POINTS["test_spatial_batchnorm"],
                 fwd.steps + bwd.steps, judge)
