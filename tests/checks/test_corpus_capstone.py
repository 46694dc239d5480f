"""The grader against a corpus of real-code styles (corpus_capstone.py).

Whether an implementation is right is decided here, independently of the hidden checks: a
float64 torch oracle (``F.cross_entropy``, ``torch.optim.SGD``/``Adam``, ``F.conv2d``,
``F.batch_norm``, autograd) on a few fixed inputs, with every rule of the notebook (huge and
far-apart scores, a batch of one, the defaults, ``config['velocity']`` and ``config['t']``,
epsilon outside the square root, the parameters' names, shapes and starting values, L2 on the
weights only, test mode with the running averages, overfitting 40 digits with plain momentum
steps taken here). The grader must give full marks exactly to what the oracle finds right, and
less to the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from _common import ASSIGNMENTS, OracleCorpus
from corpus_capstone import CORPUS
from sklearn.datasets import load_digits

A = ASSIGNMENTS["capstone"]
T = torch.tensor
RNG_SEED = 6006


def same(got: Any, ref: Any, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """``got`` has ``ref``'s exact shape and values (ref: a tensor or an array)."""
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.shape == ref.shape and bool(np.allclose(arr, ref, rtol=rtol, atol=atol))


# --------------------------------------------------------------------------------------------
# Loss and update rules
# --------------------------------------------------------------------------------------------


def ok_softmax(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    far = rng.normal(size=(3, 6))
    far[[0, 1, 2], [1, 4, 0]] -= 800.0
    inputs = [(rng.normal(size=(5, 4)) * 2, rng.integers(0, 4, 5)),
              (rng.normal(size=(3, 4)) + 1200.0, np.array([0, 3, 1])),
              (rng.normal(size=(4, 5)) + np.array([[-1500.0], [1500.0], [0.0], [-2000.0]]),
               np.array([4, 0, 2, 1])),
              (far, np.array([1, 4, 0])),
              (rng.normal(size=(1, 3)), np.array([2]))]
    for x, y in inputs:
        loss, dx = ns["softmax_loss"](x.copy(), y.copy())
        xt = T(x, requires_grad=True)
        ref = F.cross_entropy(xt, T(y))
        ref.backward()
        if not (same(loss, ref) and same(dx, xt.grad, 1e-5, 1e-7)):
            return False
    return True


def _steps(rule: Callable, make_opt: Callable, config: dict | None, grads: list[np.ndarray],
           w: np.ndarray) -> tuple[bool, Any]:
    """Step ``rule`` and the torch optimizer on the same gradients; (all next_w agree, the last
    config)."""
    wt = T(w, requires_grad=True)
    opt = make_opt([wt])
    for g in grads:
        prev = w
        w, config = rule(w.copy(), g.copy(), config)
        wt.grad = T(g)
        opt.step()
        if not same(np.asarray(w) - prev, wt.detach().numpy() - prev, 1e-6, 1e-12):
            return False, config
    return True, config


def _grads(rng: np.random.Generator, scale: float = 1.0) -> tuple[np.ndarray, list[np.ndarray]]:
    base = rng.normal(size=(3, 4))
    return rng.normal(size=(3, 4)), [scale * (base + 0.5 * rng.normal(size=(3, 4)))
                                     for _ in range(4)]


def ok_sgd(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    for config, lr, mu in ((None, 1e-2, 0.9), ({"learning_rate": 0.2, "momentum": 0.6}, 0.2,
                                                0.6), ({"learning_rate": 0.05}, 0.05, 0.9)):
        w, grads = _grads(rng)
        right, last = _steps(ns["sgd_momentum"],
                             lambda p, lr=lr, mu=mu: torch.optim.SGD(p, lr=lr, momentum=mu),
                             config, grads, w)
        # the velocity of the course: v = mu v - lr dw, i.e. the last step itself
        wt = T(w, requires_grad=True)
        opt = torch.optim.SGD([wt], lr=lr, momentum=mu)
        for g in grads:
            before = wt.detach().clone()
            wt.grad = T(g)
            opt.step()
        if not (right and isinstance(last, dict) and same(last.get("velocity"),
                                                          wt.detach() - before, 1e-6, 1e-12)):
            return False
    return True


def ok_adam(ns: dict) -> bool:
    rng = np.random.default_rng(RNG_SEED)
    for config, kw, scale in ((None, {}, 1.0),
                              ({"learning_rate": 0.05, "beta1": 0.7, "beta2": 0.95},
                               {"lr": 0.05, "betas": (0.7, 0.95)}, 1.0),
                              ({}, {}, 1e-6)):
        w, grads = _grads(rng, scale)
        opts = {"lr": 1e-3, **kw}
        right, last = _steps(ns["adam"], lambda p, o=opts: torch.optim.Adam(p, **o), config,
                             grads, w)
        if not (right and isinstance(last, dict) and last.get("t") == len(grads)):
            return False
    return True


# --------------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------------

SHAPES = {"W1": (3, 2, 3, 3), "b1": (3,), "W2": (27, 5), "b2": (5,), "W3": (5, 4), "b3": (4,)}
KW = {"input_dim": (2, 6, 6), "num_filters": 3, "filter_size": 3, "hidden_dim": 5,
      "num_classes": 4}


def torch_net(t: dict, X: torch.Tensor, bn: str | None, running: tuple | None = None
              ) -> torch.Tensor:
    h = F.conv2d(X, t["W1"], t["b1"], padding=1)
    if bn is not None:
        rm, rv = running or (None, None)
        h = F.batch_norm(h, rm, rv, t["gamma1"], t["beta1"], training=bn == "train", eps=1e-5)
    h = F.max_pool2d(F.relu(h), 2)
    return F.relu(h.flatten(1) @ t["W2"] + t["b2"]) @ t["W3"] + t["b3"]


def _params(rng: np.random.Generator, batchnorm: bool) -> dict[str, np.ndarray]:
    shapes = {**SHAPES, **({"gamma1": (3,), "beta1": (3,)} if batchnorm else {})}
    return {k: rng.normal(size=s) * 0.5 for k, s in shapes.items()}


def init_ok(cls: type) -> bool:
    for batchnorm in (False, True):
        params = cls(**KW, weight_scale=0.1, batchnorm=batchnorm, seed=1).params
        expected = {**SHAPES, **({"gamma1": (3,), "beta1": (3,)} if batchnorm else {})}
        if set(params) != set(expected) or any(np.shape(params[k]) != s
                                                for k, s in expected.items()):
            return False
        starts = {"b1": 0, "b2": 0, "b3": 0, "gamma1": 1, "beta1": 0}
        if any(k in params and not np.all(params[k] == v) for k, v in starts.items()):
            return False
    big = cls(input_dim=(3, 8, 8), num_filters=10, filter_size=5, hidden_dim=40,
              num_classes=10, weight_scale=0.03, seed=2).params
    return all(abs(big[w].std() - 0.03) < 0.006 and abs(big[w].mean()) < 0.006
               for w in ("W1", "W2", "W3"))


def train_ok(cls: type, batchnorm: bool, reg: float) -> bool:
    rng = np.random.default_rng(RNG_SEED + batchnorm)
    net = cls(**KW, reg=reg, batchnorm=batchnorm, seed=0)
    net.params = _params(rng, batchnorm)
    X, y = rng.normal(size=(4, 2, 6, 6)), np.array([0, 3, 1, 3])
    t = {k: T(v, requires_grad=True) for k, v in net.params.items()}
    loss = F.cross_entropy(torch_net(t, T(X), "train" if batchnorm else None), T(y))
    loss = loss + 0.5 * reg * sum((t[w] ** 2).sum() for w in ("W1", "W2", "W3"))
    loss.backward()
    got_loss, grads = net.loss(X, y)
    return same(got_loss, loss) and isinstance(grads, dict) and all(
        k in grads and same(grads[k], t[k].grad, 1e-5, 1e-7) for k in t)


def scores_ok(cls: type) -> bool:
    rng = np.random.default_rng(RNG_SEED + 7)
    net = cls(**KW, seed=0)
    net.params = _params(rng, False)
    X = rng.normal(size=(3, 2, 6, 6))
    t = {k: T(v) for k, v in net.params.items()}
    if not same(net.loss(X), torch_net(t, T(X), None)):
        return False
    net = cls(**KW, batchnorm=True, seed=0)
    net.params = _params(rng, True)
    t = {k: T(v) for k, v in net.params.items()}
    X1, X2 = rng.normal(size=(5, 2, 6, 6)) + 1, rng.normal(size=(2, 2, 6, 6))
    net.loss(X1, np.array([0, 1, 2, 3, 0]))
    conv = F.conv2d(T(X1), t["W1"], t["b1"], padding=1)
    running = (0.1 * conv.mean(dim=(0, 2, 3)), 0.9 + 0.1 * conv.var(dim=(0, 2, 3),
                                                                      unbiased=False))
    return same(net.loss(X2), torch_net(t, T(X2), "test", running))


def ok_convnet(ns: dict) -> bool:
    cls = ns["ThreeLayerConvNet"]
    return (init_ok(cls) and train_ok(cls, False, 0.0) and train_ok(cls, False, 0.3)
            and train_ok(cls, True, 0.2) and scores_ok(cls))


def ok_overfit(ns: dict) -> bool:
    """Momentum steps taken here on 40 digits; the weights classify all of them."""
    d = load_digits()
    X = d.images[:40, None] / 16.0
    X, y = X - X.mean(axis=0), d.target[:40]
    net = ns["ThreeLayerConvNet"](num_filters=8, hidden_dim=50, weight_scale=0.2, seed=0)
    velocity: dict[str, Any] = {}
    for _ in range(60):
        _, grads = net.loss(X, y)
        for k in list(net.params):
            velocity[k] = 0.9 * velocity.get(k, 0.0) - 0.05 * grads[k]
            net.params[k] = net.params[k] + velocity[k]
    t = {k: T(np.asarray(v, dtype=np.float64)) for k, v in net.params.items()}
    return bool(np.all(torch_net(t, T(X), None).argmax(dim=1).numpy() == y))


ORACLES: dict[str, Callable[[dict], bool]] = {
    "test_softmax_loss": ok_softmax,
    "test_sgd_momentum": ok_sgd,
    "test_adam": ok_adam,
    "test_convnet": ok_convnet,
    "test_overfit": ok_overfit,
}


class TestCorpus(OracleCorpus):
    assignment, corpus, oracles = A, CORPUS, ORACLES
