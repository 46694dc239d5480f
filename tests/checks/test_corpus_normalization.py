"""The grader against a corpus of real-code styles (corpus_normalization.py).

Whether an implementation is right is decided here, independently of the hidden checks: a
float64 torch oracle (``F.batch_norm``, ``layer_norm``, ``instance_norm``, ``group_norm``,
autograd, ``conv2d``) on a few fixed inputs, with exact shapes, every rule of the notebook
(running averages, test mode, a batch of one, default parameters, the G = 1 and G = C ends) and
dropout's properties. The grader must give full marks exactly to what the oracle finds right,
and less to the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _common import ASSIGNMENTS, OracleCorpus
from corpus_normalization import CORPUS

A = ASSIGNMENTS["normalization"]
T = torch.tensor
RNG_SEED = 20240


def same(got: Any, ref: Any, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """``got`` has ``ref``'s exact shape and values (ref: a tensor or an array)."""
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    return isinstance(got, np.ndarray) and got.shape == ref.shape and bool(
        np.allclose(got, ref, rtol=rtol, atol=atol))


def grads(fn: Callable[..., torch.Tensor], arrays: list[np.ndarray], dout: np.ndarray
          ) -> list[np.ndarray]:
    ts = [T(a, requires_grad=True) for a in arrays]
    (fn(*ts) * T(dout)).sum().backward()
    return [t.grad.numpy() for t in ts]


def features(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    lead = (1, shape[1]) + (1,) * (len(shape) - 2)
    return rng.uniform(-2, 2, lead) + rng.uniform(0.1, 3, lead) * rng.normal(size=shape)


# --------------------------------------------------------------------------------------------
# Oracles, one per check: True when every fixed input gives the right answer
# --------------------------------------------------------------------------------------------


def ok_means(ns: dict, func: str) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    Xa, Xb = features(rng, (6, 3, 4, 5)) + 1.0, features(rng, (3, 3, 4, 5))
    tr, te, mean = ns[func](Xa.copy(), Xb.copy())
    axes = (0,) if func == "subtract_mean_image" else (0, 2, 3)
    m = T(Xa).mean(dim=axes)
    mb = m if func == "subtract_mean_image" else m[None, :, None, None]
    return same(mean, m) and same(tr, T(Xa) - mb) and same(te, T(Xb) - mb)


def bn_forward_ok(f: Callable, x: np.ndarray, eps: float | None, m: float | None) -> bool:
    """Train step (output, running averages in place), then test mode (running averages used,
    not changed) on two batches, one of them a single example."""
    rng = np.random.default_rng(RNG_SEED + x.shape[0])
    C = x.shape[1]
    g, b = rng.normal(size=C), rng.normal(size=C)
    rm, rv = rng.normal(size=C), rng.uniform(0.5, 2, C)
    p: dict[str, Any] = {"mode": "train", "running_mean": rm.copy(), "running_var": rv.copy()}
    p.update({} if eps is None else {"eps": eps})
    p.update({} if m is None else {"momentum": m})
    e, mom = 1e-5 if eps is None else eps, 0.9 if m is None else m
    out, _ = f(x.copy(), g, b, p)
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    xt = T(x)
    if not (same(out, F.batch_norm(xt, None, None, T(g), T(b), training=True, eps=e))
            and same(p["running_mean"], mom * T(rm) + (1 - mom) * xt.mean(dim=axes))
            and same(p["running_var"], mom * T(rv) + (1 - mom) * xt.var(dim=axes,
                                                                         unbiased=False))):
        return False
    for xs in (x * 1.5 - 0.3, x[:1] + 0.2):
        q = {"mode": "test", "eps": e, "running_mean": rm.copy(), "running_var": rv.copy()}
        out, _ = f(xs.copy(), g, b, q)
        ref = F.batch_norm(T(xs), T(rm), T(rv), T(g), T(b), training=False, eps=e)
        if not (same(out, ref) and same(q["running_mean"], rm) and same(q["running_var"], rv)):
            return False
    return True


def ok_batchnorm_forward(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    f = ns["batchnorm_forward"]
    constant = features(rng, (7, 4))
    constant[:, 2] = 0.7
    return (bn_forward_ok(f, features(rng, (6, 4)), 1e-2, 0.8)
            and bn_forward_ok(f, features(rng, (9, 3)), None, None)
            and bn_forward_ok(f, constant, 1e-3, 0.7))


def bn_backward_ok(ns: dict, fwd: str, bwd: str, shape: tuple[int, ...]) -> bool:
    rng = np.random.default_rng(RNG_SEED + sum(shape))
    x, dout = features(rng, shape), rng.normal(size=shape)
    g, b = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    _, cache = ns[fwd](x.copy(), g, b, {"mode": "train", "eps": 1e-3})
    got = ns[bwd](dout.copy(), cache)
    ref = grads(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-3),
                [x, g, b], dout)
    return len(got) == 3 and all(same(a, r, 1e-5, 1e-7) for a, r in zip(got, ref))


def ok_backward(ns: dict, bwd: str) -> bool:
    return all(bn_backward_ok(ns, "batchnorm_forward", bwd, s) for s in ((2, 5), (8, 3)))


def ok_spatial(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    return (bn_forward_ok(ns["spatial_batchnorm_forward"], features(rng, (3, 4, 2, 5)), 1e-2,
                          0.8)
            and all(bn_backward_ok(ns, "spatial_batchnorm_forward",
                                   "spatial_batchnorm_backward", s)
                    for s in ((2, 3, 4, 5), (3, 2, 3, 3))))


def fwd_bwd_ok(ns: dict, func: str, fn: Callable[..., torch.Tensor], args: tuple,
               x: np.ndarray, g: np.ndarray, b: np.ndarray, dout: np.ndarray) -> bool:
    """``func_forward(x, g, b, *args)`` equals ``fn``, ``func_backward`` its autograd."""
    out, cache = ns[f"{func}_forward"](x.copy(), g, b, *args)
    got = ns[f"{func}_backward"](dout.copy(), cache)
    return same(out, fn(T(x), T(g), T(b))) and len(got) == 3 and all(
        same(a, r, 1e-5, 1e-7) for a, r in zip(got, grads(fn, [x, g, b], dout)))


def ok_layernorm(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    for N, param in ((5, {"eps": 1e-3}), (1, {"eps": 1e-2}), (3, {})):
        D = 6
        x = rng.uniform(-2, 2, (N, 1)) + rng.uniform(0.1, 3, (N, 1)) * rng.normal(size=(N, D))
        g, b, dout = rng.normal(size=D), rng.normal(size=D), rng.normal(size=(N, D))
        eps = param.get("eps", 1e-5)
        fn = lambda x, g, b, D=D, eps=eps: F.layer_norm(x, (D,), g, b, eps)  # noqa: E731
        if not fwd_bwd_ok(ns, "layernorm", fn, (dict(param),), x, g, b, dout):
            return False
    return True


def ok_instancenorm(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    f = ns["instancenorm_forward"]
    for shape, eps in (((2, 3, 4, 5), 1e-3), ((1, 2, 3, 3), 1e-2), ((3, 2, 4, 4), None)):
        x = rng.uniform(-2, 2, shape[:2] + (1, 1)) + rng.normal(size=shape)
        g, b = rng.normal(size=shape[1]), rng.normal(size=shape[1])
        out, _ = f(x.copy(), g, b) if eps is None else f(x.copy(), g, b, eps)
        ref = F.instance_norm(T(x), weight=T(g), bias=T(b), eps=1e-5 if eps is None else eps)
        if not same(out, ref):
            return False
    return True


def ok_groupnorm(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    for C, G in ((6, 2), (6, 3), (4, 1), (4, 4)):
        shape = (3, C, 3, 4)
        x = rng.uniform(-2, 2, (3, C, 1, 1)) + rng.normal(size=shape)
        g, b = rng.normal(size=(1, C, 1, 1)), rng.normal(size=(1, C, 1, 1))
        fn = lambda x, g, b, C=C, G=G: F.group_norm(  # noqa: E731
            x, G, g.reshape(C), b.reshape(C), 1e-3)
        if not fwd_bwd_ok(ns, "spatial_groupnorm", fn, (G, {"eps": 1e-3}), x, g, b,
                          rng.normal(size=shape)):
            return False
    return True


def ok_fold(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    for eps in (1e-2, None):
        w, b = rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)
        gamma, beta, rm = rng.normal(size=4), rng.normal(size=4), rng.normal(size=4)
        rv = rng.uniform(0.1, 2, 4)
        args = (w, b, gamma, beta, rm, rv) + (() if eps is None else (eps,))
        wf, bf = ns["fold_batchnorm"](*args)
        x = T(rng.normal(size=(2, 3, 6, 7)))
        ref = F.batch_norm(F.conv2d(x, T(w), T(b), padding=1), T(rm), T(rv), T(gamma),
                           T(beta), training=False, eps=1e-5 if eps is None else eps)
        if np.shape(wf) != w.shape or np.shape(bf) != b.shape:
            return False
        if not same(F.conv2d(x, T(wf), T(bf), padding=1).numpy(), ref):
            return False
    return True


def ok_dropout(ns: dict) -> bool:
    fwd, bwd = ns["dropout_forward"], ns["dropout_backward"]
    rng = np.random.default_rng(RNG_SEED)
    x = rng.uniform(0.5, 2, (300, 200)) * rng.choice([-1, 1], (300, 200))
    dout = rng.normal(size=x.shape)
    for p in (0.3, 0.75):
        out, cache = fwd(x.copy(), {"p": p, "mode": "train", "seed": 7})
        again, _ = fwd(x.copy(), {"p": p, "mode": "train", "seed": 7})
        other, _ = fwd(x.copy(), {"p": p, "mode": "train", "seed": 8})
        kept = out != 0
        if not (out.shape == x.shape and abs(1 - kept.mean() - p) < 0.01
                and np.allclose(out[kept], x[kept] / (1 - p), rtol=1e-12, atol=0)
                and np.array_equal(out, again) and not np.array_equal(out, other)
                and same(bwd(dout.copy(), cache), dout * out / x, 1e-12, 0)):
            return False
    out, cache = fwd(x.copy(), {"p": 0.3, "mode": "test", "seed": 7})
    return same(out, x, 1e-12, 0) and same(bwd(dout.copy(), cache), dout, 1e-12, 0)


ORACLES: dict[str, Callable[[dict], bool]] = {
    "test_subtract_mean_image": lambda ns: ok_means(ns, "subtract_mean_image"),
    "test_subtract_channel_mean": lambda ns: ok_means(ns, "subtract_channel_mean"),
    "test_batchnorm_forward": ok_batchnorm_forward,
    "test_batchnorm_backward": lambda ns: ok_backward(ns, "batchnorm_backward"),
    "test_batchnorm_backward_alt": lambda ns: ok_backward(ns, "batchnorm_backward_alt"),
    "test_spatial_batchnorm": ok_spatial,
    "test_layernorm": ok_layernorm,
    "test_instancenorm_forward": ok_instancenorm,
    "test_spatial_groupnorm": ok_groupnorm,
    "test_fold_batchnorm": ok_fold,
    "test_dropout": ok_dropout,
}


class TestCorpus(OracleCorpus):
    assignment, corpus, oracles = A, CORPUS, ORACLES
