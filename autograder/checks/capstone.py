"""Hidden checks of assignment 06_capstone (the student's own ConvNet, end to end).

One :class:`~autograder.checks.kit.Check` per autograded test cell of
``notebooks/06_capstone/capstone.ipynb`` (same name; points come from the cell).

The capstone's network composes the layers of notebooks 2-4. In the sandbox the student's code
gets them from ``cnnlib.layers`` (the notebook's setup cell imports them under the names the
network calls; the cell that swaps in the student's own copies is not graded code), so a mistake
in an earlier notebook never costs points twice. ``LIBRARY`` makes the grader copy that module
for this assignment only: notebooks 2-4 never see it (``autograder.engine.library``).

Oracles are computed here, in the trusted parent, in float64, from the same cases the student's
code sees, never from the student's results:

- ``softmax_loss``: ``torch.nn.functional.cross_entropy`` (mean over the batch) and autograd.
- ``sgd_momentum`` / ``adam``: ``torch.optim.SGD`` (momentum, no dampening) and
  ``torch.optim.Adam`` stepped on the same gradients; equal to the classic update rules for a
  constant learning rate (``v = mu v - lr dw`` is ``-lr`` times torch's buffer; Adam's
  ``lr m_hat / (sqrt(v_hat) + eps)`` is torch's form).
- ``ThreeLayerConvNet``: ``F.conv2d`` (pad ``(k - 1) // 2``), ``F.batch_norm`` (training, eps
  1e-5; test mode with the course's running averages ``0.9 old + 0.1 batch``, biased variance),
  ``relu``, ``max_pool2d(2, 2)``, matrix products, ``cross_entropy`` plus ``0.5 reg sum W^2``
  over W1, W2, W3; every gradient by autograd, on grader-chosen weights assigned to the
  student's ``params`` (``Call("__setattr__", ("params", ...), on="net")``).
- overfitting: the ``@train_sgd`` probe trains the student's network on the grader's 40 digits
  with the grader's own momentum steps; the accuracy is that of the returned weights under the
  float64 oracle above (never the model's own predictions), which must be 100 %.

Tolerances: losses and scores :data:`F64` (rtol 1e-6, atol 1e-8), gradients :data:`GRAD`,
update rules: each step's update ``next_w - w`` (not ``next_w``, next to which a wrong
epsilon or momentum is invisible) rtol 1e-6 / atol 1e-12; initial weights: the standard
deviation of each array (300+ values) within 25 % of ``weight_scale`` and its mean within 0.3
``weight_scale`` (more than 5 standard errors for a correct draw).

Named mistakes (no max subtraction is visible as an overflow; the loss summed, dx not divided
by N, the velocity subtracted, no bias correction, epsilon inside the square root, the
regularisation gradient missing, doubled or put on the biases, gradients not averaged, batch
statistics at test time, ...) are computed on the same inputs and named only when the result
matches them better than the right answer (the kit's fingerprint rule).
"""

from __future__ import annotations

import pkgutil
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
    expect_close,
    expect_equal,
    fail,
    np64,
    ok,
    t64,
    unpack,
    value,
)

ASSIGNMENT = "06_capstone"
#: cnnlib modules this assignment's graded code may import on top of the tool modules.
LIBRARY = ("layers",)
#: numpy exercises: no ready-made loss or optimizer from torch, the course library, scipy...
BANS = ("torch", "cnnlib", "scipy", "sklearn", "jax")
#: the update next_w - w of one step (a few float64 operations away from torch's)
STEP = Tol(1e-6, 1e-12)
NET = "ThreeLayerConvNet"
WEIGHTS = ("W1", "W2", "W3")


def _net_bans() -> tuple[str, ...]:
    """The network may use ``cnnlib.layers`` (that is the point) and nothing else of cnnlib."""
    import cnnlib

    others = sorted(m.name for m in pkgutil.iter_modules(cnnlib.__path__) if m.name != "layers")
    return ("torch", "scipy", "sklearn", "jax", *(f"cnnlib.{m}" for m in others))


# Mistake names: the feedback a student reads.
LOSS_SUMMED = "the loss is summed over the batch; it is the mean over the N examples"
DX_NOT_AVERAGED = "dx is not divided by N (the loss is a mean, so is its gradient)"
DX_SIGN = "dx has the wrong sign: it is (softmax - one-hot) / N"
DX_NO_ONEHOT = "dx is softmax / N: subtract 1 at each example's true class"
UPHILL = ("the velocity is applied with the wrong sign: w moves uphill (v = momentum * v - "
          "learning_rate * dw, then next_w = w + v)")
NO_MEMORY = ("the velocity is not kept between steps (store it in config['velocity'] and read "
             "it back): this is plain SGD")
DAMPENED = "the gradient is weighted by (1 - momentum) in the velocity: use v = mu v - lr dw"
NO_BIAS_CORRECTION = "the bias correction is missing (divide m by 1 - beta1^t, v by 1 - beta2^t)"
M_ONLY = "only m is bias-corrected: v_hat = v / (1 - beta2^t) too"
EPS_INSIDE = "epsilon is added inside the square root: use sqrt(v_hat) + epsilon"
T_FROZEN = ("t is not counted up in config: every step uses t = 1 (config['t'] counts the "
            "updates made so far)")
REG_MISSING = "the regularisation gradient reg * W is missing"
REG_DOUBLED = "the regularisation gradient is doubled: the gradient of 0.5 * reg * W^2 is reg * W"
REG_ON_BIAS = "the bias is regularised too: only W1, W2 and W3 are"
NOT_AVERAGED = "the gradients are not averaged over the batch (they are N times too large)"
LOSS_NO_REG = "the regularisation term 0.5 * reg * sum(W^2) is missing from the loss"
LOSS_REG_NO_HALF = "the regularisation term lacks the 1/2: it is 0.5 * reg * sum(W^2)"
BATCH_AT_TEST = ("batch norm used the batch's statistics in test mode (y is None): set "
                 "bn_param['mode'] = 'test' so it uses the running averages")
NEVER_UPDATED = ("batch norm's running averages were never updated in train mode (keep one "
                 "bn_param for the network: self.bn_param)")
PROBABILITIES = "loss(X) returned probabilities; it returns the raw scores"


def _F() -> Any:
    import torch.nn.functional as F

    return F


# --------------------------------------------------------------------------------------------
# Exercise 1: softmax_loss
# --------------------------------------------------------------------------------------------


def _softmax_oracle(x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    xt = t64(x, grad=True)
    loss = _F().cross_entropy(xt, t64(y).long())
    loss.backward()
    return float(loss.detach()), np64(xt.grad)


def _judge_item(got: Any, n: int, func: str, index: int, what: str, expected: Any, tol: Tol,
                variants: Mapping[str, Any] | None = None) -> Verdict:
    parts, bad = unpack(got, n, func)
    return bad or expect_close(parts[index], expected, what, tol, variants)


def _softmax_cases(x: np.ndarray, y: np.ndarray, label: str) -> list[Case]:
    """The loss and dx of one call, as two cases."""
    loss, dx = _softmax_oracle(x, y)
    n = x.shape[0]
    probs = dx * n + np.eye(x.shape[1])[y]
    call = (Call("softmax_loss", (x, y)),)
    func = f"softmax_loss({label})"
    return [
        Case(call, lambda r: _judge_item(r[0], 2, func, 0, f"the loss ({label})", loss, F64,
                                         {LOSS_SUMMED: n * loss} if n > 1 else None)),
        Case(call, lambda r: _judge_item(r[0], 2, func, 1, f"dx ({label})", dx, GRAD, {
            **({DX_NOT_AVERAGED: dx * n} if n > 1 else {}), DX_SIGN: -dx,
            DX_NO_ONEHOT: probs / n})),
    ]


def check_softmax_loss(rng: np.random.Generator) -> Check:
    """Moderate scores, huge positive scores, rows thousands apart (per-row maximum), a true
    class 800 below its row's maximum (log-softmax, not log of a probability), a batch of one."""
    def labels(n: int, c: int) -> np.ndarray:
        return rng.integers(0, c, size=n)

    n, c = int(rng.integers(3, 9)), int(rng.integers(3, 8))
    cases = _softmax_cases(rng.normal(size=(n, c)) * rng.uniform(1, 3), labels(n, c),
                           f"scores {n}x{c}")
    n = int(rng.integers(3, 7))
    huge = rng.normal(size=(n, 4)) * 3 + rng.uniform(800, 2000, size=(n, 1))
    cases += _softmax_cases(huge, labels(n, 4), "scores near +1000")
    apart = rng.normal(size=(4, 5)) + np.array([[-1500.0], [1500.0], [0.0], [-3000.0]])
    cases += _softmax_cases(apart, labels(4, 5), "rows 1000s apart")
    far = rng.normal(size=(3, 6))
    far_y = labels(3, 6)
    far[np.arange(3), far_y] -= 800.0
    cases += _softmax_cases(far, far_y, "true class 800 below the maximum")
    one = rng.normal(size=(1, int(rng.integers(2, 6))))
    cases += _softmax_cases(one, labels(1, one.shape[1]), "a batch of one")
    return Check("test_softmax_loss", ("softmax_loss",), cases, BANS)


# --------------------------------------------------------------------------------------------
# Exercises 2 and 3: update rules, over several steps
# --------------------------------------------------------------------------------------------


def _chain(func: str, w: np.ndarray, grads: Sequence[np.ndarray],
           config: dict[str, Any] | None) -> tuple[Call, ...]:
    """``func`` stepped once per gradient, each step fed the previous ``(next_w, config)``."""
    steps = [Call(func, (w, grads[0], config), save="s0")]
    for i, g in enumerate(grads[1:], start=1):
        steps.append(Call(func, (Ref(f"s{i - 1}", 0), g, Ref(f"s{i - 1}", 1)), save=f"s{i}"))
    return tuple(steps)


def _torch_steps(make_opt: Callable[[Any], Any], w: np.ndarray,
                 grads: Sequence[np.ndarray]) -> list[np.ndarray]:
    wt = t64(w, grad=True)
    opt = make_opt([wt])
    out = []
    for g in grads:
        wt.grad = t64(g)
        opt.step()
        out.append(np64(wt).copy())  # np64 shares memory with the tensor
    return out


def _judge_chain(results: list[Any], func: str, w0: np.ndarray,
                 expected: Sequence[np.ndarray], variants: Sequence[Mapping[str, np.ndarray]],
                 label: str) -> Verdict:
    """Every step ``next_w - w`` (the update itself, so a slip small next to ``w`` shows); the
    first wrong one is said, with the mistake it looks like."""
    prev, n = w0, len(expected)
    for i, (got, exp, var) in enumerate(zip(results, expected, variants), start=1):
        parts, bad = unpack(got, 2, func)
        if bad is not None:
            return bad
        try:
            arr = np.asarray(parts[0], dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
        if arr is None or arr.shape != exp.shape:  # the shape policy judges next_w itself
            verdict = expect_close(parts[0], exp, f"next_w after step {i} of {n} ({label})",
                                   STEP, var)
        else:
            verdict = expect_close(arr - prev, exp - prev, f"the update next_w - w of step {i} "
                                   f"of {n} ({label})", STEP,
                                   {k: v - prev for k, v in var.items()})
        if verdict.fraction < 1.0:
            return verdict
        prev = exp
    return ok(f"{func}: {n} steps right ({label})")


def _momentum_paths(w: np.ndarray, grads: Sequence[np.ndarray], lr: float, mu: float
                    ) -> dict[str, list[np.ndarray]]:
    """Trajectories of the classic slips, step by step."""
    paths: dict[str, list[np.ndarray]] = {UPHILL: [], NO_MEMORY: [], DAMPENED: []}
    up, damp, plain = w.copy(), w.copy(), w.copy()
    v_up, v_damp = np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        v_up = mu * v_up - lr * g
        up = up - v_up
        v_damp = mu * v_damp - (1 - mu) * lr * g
        damp = damp + v_damp
        plain = plain - lr * g
        paths[UPHILL].append(up.copy())
        paths[DAMPENED].append(damp.copy())
        paths[NO_MEMORY].append(plain.copy())
    return paths


def _per_step(paths: Mapping[str, list[np.ndarray]], n: int) -> list[dict[str, np.ndarray]]:
    return [{name: path[i] for name, path in paths.items()} for i in range(n)]


def _grads_seq(rng: np.random.Generator, shape: tuple[int, ...], n: int) -> list[np.ndarray]:
    # gradients that keep a direction (so momentum builds up) plus noise
    base = rng.normal(size=shape)
    return [base * rng.uniform(0.5, 1.5) + 0.5 * rng.normal(size=shape) for _ in range(n)]


def _sgd_case(rng: np.random.Generator, config: dict[str, Any] | None, n: int,
              label: str) -> list[Case]:
    import torch

    lr = (config or {}).get("learning_rate", 1e-2)
    mu = (config or {}).get("momentum", 0.9)
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
    w, grads = rng.normal(size=shape), _grads_seq(rng, shape, n)
    expected = _torch_steps(lambda p: torch.optim.SGD(p, lr=lr, momentum=mu), w, grads)
    variants = _per_step(_momentum_paths(w, grads, lr, mu), n)
    steps = _chain("sgd_momentum", w, grads, None if config is None else dict(config))
    velocity = (expected[-1] - expected[-2]) if n > 1 else expected[0] - w
    return [
        Case(steps, lambda r: _judge_chain(r, "sgd_momentum", w, expected, variants, label)),
        Case(steps, lambda r: _judge_config_entry(r[-1], "sgd_momentum", "velocity", velocity,
                                                  label), 0.5),
    ]


def _judge_config_entry(got: Any, func: str, key: str, expected: Any, label: str) -> Verdict:
    parts, bad = unpack(got, 2, func)
    if bad is not None:
        return bad
    config = parts[1]
    if not isinstance(config, dict) or key not in config:
        return fail(f"{func} should keep {key!r} in the config it returns ({label})")
    what = f"config[{key!r}] after the last step ({label})"
    if isinstance(expected, int):
        return expect_equal(config[key], expected, what)
    return expect_close(config[key], expected, what, STEP)


def check_sgd_momentum(rng: np.random.Generator) -> Check:
    """Chains of steps: from config=None (defaults), with a learning rate and a momentum, and
    with a learning rate only (momentum's default); each with config['velocity'] afterwards."""
    cases = _sgd_case(rng, None, 3, "config=None: the defaults")
    lr, mu = float(rng.uniform(0.02, 0.3)), float(rng.uniform(0.5, 0.8))
    cases += _sgd_case(rng, {"learning_rate": lr, "momentum": mu}, 4,
                       f"learning_rate={lr:.3g}, momentum={mu:.3g}")
    lr = float(rng.uniform(0.02, 0.3))
    cases += _sgd_case(rng, {"learning_rate": lr}, 3, f"learning_rate={lr:.3g} only")
    return Check("test_sgd_momentum", ("sgd_momentum",), cases, BANS)


@dataclass(frozen=True)
class AdamConfig:
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8


def _adam_path(w: np.ndarray, grads: Sequence[np.ndarray], c: AdamConfig, *, correct_m: bool,
               correct_v: bool, eps_inside: bool = False, frozen_t: bool = False
               ) -> list[np.ndarray]:
    """Adam's trajectory, or one of its classic slips."""
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        t = 1 if frozen_t else t
        m = c.beta1 * m + (1 - c.beta1) * g
        v = c.beta2 * v + (1 - c.beta2) * g * g
        m_hat = m / (1 - c.beta1 ** t) if correct_m else m
        v_hat = v / (1 - c.beta2 ** t) if correct_v else v
        denom = np.sqrt(v_hat + c.eps) if eps_inside else np.sqrt(v_hat) + c.eps
        w = w - c.lr * m_hat / denom
        out.append(w.copy())
    return out


def _adam_case(rng: np.random.Generator, c: AdamConfig, config: dict[str, Any] | None, n: int,
               label: str, scale: float = 1.0) -> list[Case]:
    import torch

    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 5)))
    w, grads = rng.normal(size=shape), [g * scale for g in _grads_seq(rng, shape, n)]
    expected = _torch_steps(lambda p: torch.optim.Adam(p, lr=c.lr, betas=(c.beta1, c.beta2),
                                                       eps=c.eps), w, grads)
    paths = {
        NO_BIAS_CORRECTION: _adam_path(w, grads, c, correct_m=False, correct_v=False),
        M_ONLY: _adam_path(w, grads, c, correct_m=True, correct_v=False),
        EPS_INSIDE: _adam_path(w, grads, c, correct_m=True, correct_v=True, eps_inside=True),
        T_FROZEN: _adam_path(w, grads, c, correct_m=True, correct_v=True, frozen_t=True),
    }
    variants = _per_step(paths, n)
    steps = _chain("adam", w, grads, config)
    return [Case(steps, lambda r: _judge_chain(r, "adam", w, expected, variants, label)),
            Case(steps, lambda r: _judge_config_entry(r[-1], "adam", "t", n, label), 0.5)]


def check_adam(rng: np.random.Generator) -> Check:
    """Chains of steps: from config=None (defaults), with other betas and learning rate, and
    with gradients near 1e-6 (epsilon outside the square root); config['t'] after each."""
    cases = _adam_case(rng, AdamConfig(), None, 3, "config=None: the defaults")
    c = AdamConfig(lr=float(rng.uniform(0.01, 0.1)), beta1=float(rng.uniform(0.6, 0.85)),
                   beta2=float(rng.uniform(0.9, 0.99)))
    cases += _adam_case(rng, c, {"learning_rate": c.lr, "beta1": c.beta1, "beta2": c.beta2}, 5,
                        f"learning_rate={c.lr:.3g}, beta1={c.beta1:.3g}, beta2={c.beta2:.3g}")
    cases += _adam_case(rng, AdamConfig(), {}, 3, "gradients near 1e-6, defaults", scale=1e-6)
    return Check("test_adam", ("adam",), cases, BANS)


# --------------------------------------------------------------------------------------------
# Exercise 4: the network
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NetSpec:
    """A network the grader builds: its constructor arguments and matching random weights."""

    C: int
    H: int
    W: int
    F: int
    k: int
    hidden: int
    classes: int
    batchnorm: bool
    reg: float

    def kwargs(self, seed: int, weight_scale: float = 1e-2) -> dict[str, Any]:
        return {"input_dim": (self.C, self.H, self.W), "num_filters": self.F,
                "filter_size": self.k, "hidden_dim": self.hidden, "num_classes": self.classes,
                "weight_scale": weight_scale, "reg": self.reg, "batchnorm": self.batchnorm,
                "seed": seed}

    def shapes(self) -> dict[str, tuple[int, ...]]:
        d = self.F * (self.H // 2) * (self.W // 2)
        bn = {"gamma1": (self.F,), "beta1": (self.F,)} if self.batchnorm else {}
        return {"W1": (self.F, self.C, self.k, self.k), "b1": (self.F,), **bn,
                "W2": (d, self.hidden), "b2": (self.hidden,), "W3": (self.hidden, self.classes),
                "b3": (self.classes,)}

    def weights(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        out = {k: rng.normal(size=s) * (0.6 if k in WEIGHTS else 0.3)
               for k, s in self.shapes().items()}
        if self.batchnorm:
            out["gamma1"] = rng.uniform(0.5, 1.5, self.F) * rng.choice([-1, 1], self.F)
        return out


def _spec(rng: np.random.Generator, batchnorm: bool, reg: float) -> NetSpec:
    return NetSpec(C=int(rng.integers(1, 4)), H=int(rng.choice([4, 6, 8])),
                   W=int(rng.choice([4, 6])), F=int(rng.integers(2, 5)),
                   k=int(rng.choice([1, 3, 5])), hidden=int(rng.integers(3, 8)),
                   classes=int(rng.integers(2, 6)), batchnorm=batchnorm, reg=reg)


def _features(spec: NetSpec, t: Mapping[str, Any], X: Any, bn: str = "train",
              running: tuple[Any, Any] | None = None) -> Any:
    """The oracle's conv - [BN] - ReLU - pool on tensors ``t``; ``bn`` "train" or "test"."""
    F = _F()
    h = F.conv2d(X, t["W1"], t["b1"], padding=(spec.k - 1) // 2)
    if spec.batchnorm:
        rm, rv = running if running is not None else (None, None)
        h = F.batch_norm(h, rm, rv, t["gamma1"], t["beta1"], training=bn == "train",
                         eps=1e-5)
    return F.max_pool2d(F.relu(h), 2, 2)


def _scores(spec: NetSpec, t: Mapping[str, Any], X: Any, **bn: Any) -> Any:
    h = _features(spec, t, X, **bn).flatten(1)
    return _F().relu(h @ t["W2"] + t["b2"]) @ t["W3"] + t["b3"]


@dataclass(frozen=True)
class NetOracle:
    """Loss and gradients of the grader's network on one batch, with the named slips."""

    loss: float
    grads: dict[str, np.ndarray]
    loss_variants: dict[str, float]
    grad_variants: dict[str, dict[str, np.ndarray]]


def net_oracle(spec: NetSpec, params: Mapping[str, np.ndarray], X: np.ndarray,
               y: np.ndarray) -> NetOracle:
    import torch

    t = {k: t64(v, grad=True) for k, v in params.items()}
    data = _F().cross_entropy(_scores(spec, t, t64(X)), t64(y).long())
    names = list(t)
    g_data = dict(zip(names, (np64(g) for g in torch.autograd.grad(data, [t[k] for k in names]))))
    penalty = 0.5 * spec.reg * sum(float(np.sum(params[w] ** 2)) for w in WEIGHTS)
    n, reg = X.shape[0], spec.reg
    grads = {k: g + (reg * params[k] if k in WEIGHTS else 0.0) for k, g in g_data.items()}
    variants: dict[str, dict[str, np.ndarray]] = {}
    for k, g in g_data.items():
        extra = reg * params[k] if k in WEIGHTS else 0.0
        v = {NOT_AVERAGED: n * g + extra} if n > 1 else {}
        if reg and k in WEIGHTS:
            v.update({REG_MISSING: g, REG_DOUBLED: g + 2 * reg * params[k]})
        elif reg:
            v[REG_ON_BIAS] = g + reg * params[k]
        variants[k] = v
    data_loss = float(data.detach())
    loss_variants = {LOSS_SUMMED: n * data_loss + penalty} if n > 1 else {}
    if reg:
        loss_variants.update({LOSS_NO_REG: data_loss, LOSS_REG_NO_HALF: data_loss + 2 * penalty})
    return NetOracle(data_loss + penalty, grads, loss_variants, variants)


def _net_steps(spec: NetSpec, params: Mapping[str, np.ndarray], seed: int,
               *calls: Call) -> tuple[Call, ...]:
    return (Call(NET, kwargs=spec.kwargs(seed), save="net", ret=False),
            Call("__setattr__", ("params", dict(params)), on="net", ret=False), *calls)


def _judge_grad(got: Any, name: str, expected: np.ndarray, variants: Mapping[str, Any],
                label: str) -> Verdict:
    parts, bad = unpack(got, 2, f"loss(X, y) ({label})")
    if bad is not None:
        return bad
    grads = parts[1]
    if not isinstance(grads, dict):
        return fail(f"loss(X, y) should return (loss, grads) with grads a dict, got a "
                    f"{type(grads).__name__} ({label})")
    if name not in grads:
        return fail(f"grads has no {name!r}: every parameter needs its gradient ({label})")
    return expect_close(grads[name], expected, f"grads[{name!r}] ({label})", GRAD, variants)


def net_loss_cases(rng: np.random.Generator, spec: NetSpec, label: str) -> list[Case]:
    """Train mode on grader weights: the loss (weight 2) and every gradient, one case each."""
    params = spec.weights(rng)
    N = int(rng.integers(2, 6))
    X, y = rng.normal(size=(N, spec.C, spec.H, spec.W)), rng.integers(0, spec.classes, size=N)
    o = net_oracle(spec, params, X, y)
    steps = _net_steps(spec, params, int(rng.integers(0, 2**31)),
                       Call("loss", (X, y), on="net"))
    label = f"{label}, {N} inputs {spec.C}x{spec.H}x{spec.W}"
    cases = [Case(steps, lambda r: _judge_item(r[-1], 2, f"loss(X, y) ({label})", 0,
                                               f"the loss ({label})", o.loss, F64,
                                               o.loss_variants), 2)]
    # in front of batch norm b1's gradient is 0 whatever the network: no case of its own
    graded = [k for k in params if not (spec.batchnorm and k == "b1")]
    cases += [Case(steps, lambda r, k=k: _judge_grad(r[-1], k, o.grads[k], o.grad_variants[k],
                                                     label)) for k in graded]
    return cases


def scores_cases(rng: np.random.Generator) -> list[Case]:
    """loss(X) returns the scores; with batch norm, after one train call, it uses the running
    averages that call left (momentum 0.9 from zeros and ones, biased variance)."""
    import torch

    spec = _spec(rng, False, 0.0)
    params = spec.weights(rng)
    X = rng.normal(size=(int(rng.integers(2, 6)), spec.C, spec.H, spec.W))
    t = {k: t64(v) for k, v in params.items()}
    scores = np64(_scores(spec, t, t64(X)))
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    plain = Case(_net_steps(spec, params, 1, Call("loss", (X,), on="net")),
                 lambda r: expect_close(r[-1], scores, "the scores loss(X) returns", F64,
                                        {PROBABILITIES: e / e.sum(axis=1, keepdims=True)}))
    spec = _spec(rng, True, 0.0)
    params = spec.weights(rng)
    X1, X2 = (rng.normal(size=(int(rng.integers(3, 6)), spec.C, spec.H, spec.W)) + 0.5
              for _ in range(2))
    y1 = rng.integers(0, spec.classes, size=X1.shape[0])
    t = {k: t64(v) for k, v in params.items()}
    with torch.no_grad():
        conv = _F().conv2d(t64(X1), t["W1"], t["b1"], padding=(spec.k - 1) // 2)
    mean, var = conv.mean(dim=(0, 2, 3)), conv.var(dim=(0, 2, 3), unbiased=False)
    running = (0.1 * mean, 0.9 + 0.1 * var)
    expected = np64(_scores(spec, t, t64(X2), bn="test", running=running))
    variants = {BATCH_AT_TEST: np64(_scores(spec, t, t64(X2))),
                NEVER_UPDATED: np64(_scores(spec, t, t64(X2), bn="test", running=(
                    torch.zeros(spec.F, dtype=torch.float64),
                    torch.ones(spec.F, dtype=torch.float64))))}
    steps = _net_steps(spec, params, 2, Call("loss", (X1, y1), on="net", ret=False),
                       Call("loss", (X2,), on="net"))
    bn = Case(steps, lambda r: expect_close(r[-1], expected, "the scores of loss(X) with batch "
                                            "norm, after a training call", F64, variants))
    return [plain, bn]


def _judge_params(got: Any, spec: NetSpec, scale: float | None) -> Verdict:
    """Names, shapes and starting values of ``params``; with ``scale``, the spread of the
    weights too."""
    params, bad = value(got, f"{NET}(...).params")
    if bad is not None:
        return bad
    expected = spec.shapes()
    if not isinstance(params, dict) or set(params) != set(expected):
        keys = sorted(params) if isinstance(params, dict) else type(params).__name__
        return fail(f"params should hold exactly {sorted(expected)} (batchnorm="
                    f"{spec.batchnorm}), got {keys}")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            return fail(f"params[{k!r}] should have shape {shape}, got {arrays[k].shape}")
    starts = {"b1": 0.0, "b2": 0.0, "b3": 0.0, "gamma1": 1.0, "beta1": 0.0}
    for k, start in starts.items():
        if k in arrays and not np.all(arrays[k] == start):
            return fail(f"params[{k!r}] should start at {start:g} everywhere")
    for k in WEIGHTS:
        if arrays[k].size > 1 and np.ptp(arrays[k]) == 0:
            return fail(f"params[{k!r}] should be random (weight_scale * "
                        "rng.standard_normal(shape)); all its values are equal")
    if scale is not None:
        for k in WEIGHTS:
            std, mean = float(arrays[k].std()), float(arrays[k].mean())
            if abs(std - scale) > 0.25 * scale or abs(mean) > 0.3 * scale:
                return fail(f"params[{k!r}] should be drawn with mean 0 and standard deviation "
                            f"weight_scale = {scale:.3g}; its mean is {mean:.3g}, its standard "
                            f"deviation {std:.3g}")
    return ok("params are initialised as asked")


def init_cases(rng: np.random.Generator) -> list[Case]:
    """The parameters a new network holds: names and shapes (with and without batch norm), and
    the spread of the weights of a larger one (300+ values per weight array)."""
    cases = []
    for batchnorm in (False, True):
        spec = _spec(rng, batchnorm, 0.0)
        steps = (Call(NET, kwargs=spec.kwargs(int(rng.integers(0, 2**31))), save="net",
                      ret=False), Call("__getattribute__", ("params",), on="net"))
        cases.append(Case(steps, lambda r, spec=spec: _judge_params(r[-1], spec, None)))
    spec = NetSpec(C=3, H=8, W=8, F=int(rng.integers(8, 12)), k=5, hidden=int(rng.integers(30, 40)),
                   classes=10, batchnorm=False, reg=0.0)
    scale = float(10 ** rng.uniform(-2.5, -0.5))
    steps = (Call(NET, kwargs=spec.kwargs(int(rng.integers(0, 2**31)), scale), save="net",
                  ret=False), Call("__getattribute__", ("params",), on="net"))
    cases.append(Case(steps, lambda r: _judge_params(r[-1], spec, scale)))
    return cases


def check_convnet(rng: np.random.Generator) -> Check:
    """Initial parameters; the loss and every gradient on grader weights without batch norm and
    reg = 0, with reg > 0, with batch norm and reg > 0; the scores of loss(X), also in batch
    norm's test mode."""
    cases = init_cases(rng)
    for batchnorm, reg in ((False, 0.0), (False, float(rng.uniform(0.05, 0.5))),
                           (True, float(rng.uniform(0.05, 0.5)))):
        label = f"{'with' if batchnorm else 'no'} batch norm, reg={reg:.3g}"
        cases += net_loss_cases(rng, _spec(rng, batchnorm, reg), label)
    cases += scores_cases(rng)
    return Check("test_convnet", (NET,), cases, _net_bans())


# --------------------------------------------------------------------------------------------
# Overfitting the grader's own small set
# --------------------------------------------------------------------------------------------

OVERFIT = NetSpec(C=1, H=8, W=8, F=8, k=3, hidden=50, classes=10, batchnorm=False, reg=0.0)
OVERFIT_EXAMPLES, OVERFIT_STEPS, OVERFIT_LR, OVERFIT_SCALE = 40, 60, 0.05, 0.2


def _digits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` of scikit-learn's digits drawn by ``rng``, in [0, 1] minus their mean image."""
    from sklearn.datasets import load_digits

    d = load_digits()
    pick = rng.choice(len(d.target), n, replace=False)
    X = d.images[pick][:, None] / 16.0
    return X - X.mean(axis=0), d.target[pick].astype(np.int64)


def _judge_overfit(got: Any, X: np.ndarray, y: np.ndarray) -> Verdict:
    out, bad = value(got, "training your network")
    if bad is not None:
        return bad
    params = out.get("params") if isinstance(out, dict) else None
    shapes = OVERFIT.shapes()
    if not isinstance(params, dict) or any(
            np.shape(params.get(k)) != s for k, s in shapes.items()):
        return fail("after training, params no longer hold the arrays of the table")
    losses = np.asarray(out.get("losses", []), dtype=np.float64)
    t = {k: t64(params[k]) for k in shapes}
    right = int(np.sum(np.argmax(np64(_scores(OVERFIT, t, t64(X))), axis=1) == y))
    if right == len(y):
        return ok(f"your network learned all {len(y)} training examples")
    trend = (f"the loss went from {losses[0]:.3g} to {losses[-1]:.3g}" if losses.size and
             np.all(np.isfinite(losses)) else "the loss is not finite")
    return fail(f"after {OVERFIT_STEPS} SGD steps on the grader's {len(y)} digits your network "
                f"gets {right} of them right, not all ({trend})")


def check_overfit(rng: np.random.Generator) -> Check:
    """The student's network (without batch norm, weight_scale 0.2), trained on 40 random
    digits with the grader's momentum steps, then judged by the float64 oracle on its weights."""
    X, y = _digits(rng, OVERFIT_EXAMPLES)
    steps = (Call(NET, kwargs=OVERFIT.kwargs(int(rng.integers(0, 2**31)), OVERFIT_SCALE),
                  save="net", ret=False),
             Call("@train_sgd", (X, y, OVERFIT_STEPS, OVERFIT_LR, 0.9), on="net"))
    return Check("test_overfit", (NET,), [Case(steps, lambda r: _judge_overfit(r[-1], X, y))],
                 _net_bans(), timeout=30.0)


def build_checks(rng: np.random.Generator) -> list[Check]:
    """One check per autograded test cell, in notebook order, with cases drawn from ``rng``."""
    return [check_softmax_loss(rng), check_sgd_momentum(rng), check_adam(rng),
            check_convnet(rng), check_overfit(rng)]
