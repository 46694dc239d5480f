"""The check authors' vocabulary: everything a hidden-check module uses, and nothing more.

A check module (``autograder/checks/<name>.py``) defines::

    ASSIGNMENT = "02_convolution"
    def build_checks(rng: np.random.Generator) -> list[Check]

One :class:`Check` per autograded test cell (``Check.name`` is the cell's grade id; its points
are read from the source notebook by the engine, never written here). A check is a list of
independent :class:`Case` s; a case is a few :class:`Call` steps run in the sandbox (later steps
may use earlier ones' values through :class:`Ref`) and a ``judge`` that receives one result per
step in the trusted grader and returns a :class:`Verdict`, comparing with an oracle computed
here from the same inputs (torch's own ops and autograd, float64: :func:`t64`, :func:`autograd`).
A case that crashes, times out or is not written costs only itself: the check's score is the
weighted mean of its cases (:func:`combine`).

Rules every check shares, so a student meets the same grader everywhere:

- **Named mistakes fire on their fingerprint only**: :func:`expect_close` names a variant when the
  result matches that wrong output within tolerance *and* is closer to it than to the right one.
- **Shape policy**: a result whose every value is right but whose shape differs (``(1, D)`` for
  ``(D,)``, a transposed layout with the same element order) earns :data:`SHAPE_SLIP_CREDIT` of
  the case, with a message naming both shapes. Any other wrong shape earns nothing.
- **Expected exceptions** count only when raised deliberately by the student's code (a ``raise``
  or ``assert`` statement of theirs), never when numpy happens to raise the same class.
- **Messages** show calls with shapes and small scalars (:func:`describe`), never whole arrays,
  and stay short (the engine caps them at 300 characters).
- **Structure**: ``Check.bans`` lists calls the exercise may not use (``"torch"`` bans all of
  torch; a name of the submission such as ``"batchnorm_backward"`` bans calling that function),
  ``Check.rules`` structural rules such as :class:`NoLoopOverPositions`; both are judged from
  the student's source in the grader, and a violation costs the check's points with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

import numpy as np

from autograder.checks.structure import NoLoopOverPositions, Rule
from autograder.sandbox.protocol import (
    AsTensor,
    Call,
    NotRun,
    NotRunKind,
    Opaque,
    Raised,
    Ref,
)

__all__ = [
    "F32", "F64", "GRAD", "SHAPE_SLIP_CREDIT", "AsTensor", "Call", "Case", "Check",
    "NoLoopOverPositions", "NotRun", "Opaque", "Raised", "Ref", "Rule", "Status", "Tol",
    "Verdict", "autograd", "combine", "describe", "expect_close", "expect_equal",
    "expect_raises", "fail", "judge_case", "np64", "ok", "t64", "unpack", "value",
]

#: Seconds one case may run in the sandbox unless a check says otherwise.
DEFAULT_TIMEOUT = 10.0
#: Fraction of a case earned when every value is right but the shape is not.
SHAPE_SLIP_CREDIT = 0.5


class Tol(NamedTuple):
    rtol: float
    atol: float


#: float64 results of exact arithmetic (sums in another order).
F64 = Tol(1e-6, 1e-8)
#: gradients (finite sums of products, compared with autograd).
GRAD = Tol(1e-5, 1e-7)
#: results a student's torch module computes in float32.
F32 = Tol(1e-4, 1e-4)


class Status(StrEnum):
    PASS = "pass"
    PARTIAL = "partial"
    FAIL = "fail"
    NOT_WRITTEN = "not_written"  # the release stub's NotImplementedError
    NOT_RUN = "not_run"          # crashed, timed out, no time left


@dataclass(frozen=True)
class Verdict:
    """Fraction of a case (or check) earned, in [0, 1], and why in plain words."""

    fraction: float
    message: str
    status: Status | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0 or math.isnan(self.fraction):
            raise ValueError(f"Verdict.fraction must be in [0, 1], got {self.fraction!r}")
        if self.status is None:
            object.__setattr__(self, "status", Status.PASS if self.fraction == 1.0 else
                               Status.PARTIAL if self.fraction > 0 else Status.FAIL)


def ok(message: str) -> Verdict:
    return Verdict(1.0, message)


def fail(message: str, fraction: float = 0.0) -> Verdict:
    return Verdict(fraction, message)


#: The words that introduce every named mistake (tests look for them to tell a diagnosis).
LOOKS_LIKE = "it looks like"


def looks_like(mistake: str | None) -> str:
    """``": it looks like <mistake>"``, to follow what is wrong; "" when no mistake is named."""
    return f": {LOOKS_LIKE} {mistake}" if mistake else ""


Judge = Callable[[list[Any]], Verdict]


@dataclass(frozen=True)
class Case:
    """Steps run together in the sandbox, and how to judge their results."""

    steps: tuple[Call, ...]
    judge: Judge
    weight: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.steps, Call):
            object.__setattr__(self, "steps", (self.steps,))
        object.__setattr__(self, "steps", tuple(self.steps))


@dataclass
class Check:
    """The hidden check behind one autograded test cell.

    name:     the test cell's grade id (its points come from the notebook).
    exercise: the top-level names of the student's code this check grades (load errors and
              "not written yet" are reported against them; bans and rules look inside them).
    cases:    independent cases.
    bans:     dotted names the exercise may not use (prefixes ban whole packages).
    rules:    structural rules judged from the source.
    timeout:  seconds per case.
    """

    name: str
    exercise: tuple[str, ...]
    cases: list[Case]
    bans: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    timeout: float = DEFAULT_TIMEOUT
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Turning results into verdicts
# --------------------------------------------------------------------------------------------


def _where(r: Raised) -> str:
    return f" (line {r.line} of cell {r.cell})" if r.cell and r.line else ""


def value(got: Any, what: str) -> tuple[Any, Verdict | None]:
    """``(got, None)`` for a plain value; ``(None, failing verdict)`` for a raise, a step not
    run, or an object that is not data, with the message a student can act on."""
    if isinstance(got, Raised):
        if got.type == "NotImplementedError":
            return None, Verdict(0.0, "not written yet", Status.NOT_WRITTEN)
        text = f": {got.message}" if got.message else ""
        return None, fail(f"{what} raised {got.type}{text[:120]}{_where(got)}")
    if isinstance(got, NotRun):
        return None, Verdict(0.0, not_run_message(got, what), Status.NOT_RUN)
    if isinstance(got, Opaque):
        return None, fail(f"{what} returned a {got.type}, not plain data")
    return got, None


def not_run_message(r: NotRun, what: str) -> str:
    detail = r.detail[:160]
    return {
        NotRunKind.DEPENDENCY: f"{what} not checked: {detail}",
        NotRunKind.CRASHED: f"{what}: {detail}",
        NotRunKind.TIMEOUT: f"{what} ran out of time ({detail}): an infinite loop?",
        NotRunKind.BUDGET: f"{what} not run: {detail}",
        NotRunKind.GARBLED: f"{what}: {detail}",
        NotRunKind.NO_SANDBOX: f"{what} not run: the grader failed ({detail}); your "
                               "instructor will grade it by hand",
        NotRunKind.NOT_LOADED: f"your code could not be loaded: {detail}",
        NotRunKind.UNDEFINED: f"{detail} is not defined in your notebook (is its cell named "
                              "as in the exercise, without errors?)",
    }[r.kind]


def unpack(got: Any, n: int, what: str) -> tuple[list[Any] | None, Verdict | None]:
    """``got`` as a list of ``n`` items (e.g. ``(out, cache)``), or a failing verdict."""
    v, bad = value(got, what)
    if bad is not None:
        return None, bad
    if isinstance(v, (tuple, list)) and len(v) == n:
        return list(v), None
    kind = f"a {type(v).__name__} of length {len(v)}" if isinstance(v, (tuple, list)) \
        else f"a {type(v).__name__}"
    return None, fail(f"{what} should return a tuple of {n} items, got {kind}")


def _as_array(v: Any) -> np.ndarray | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        arr = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def _close(a: np.ndarray, b: np.ndarray, tol: Tol) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(
        np.allclose(a, b, rtol=tol.rtol, atol=tol.atol))


def _err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / (np.abs(b) + 1e-12), initial=0.0))


def expect_close(got: Any, expected: Any, what: str, tol: Tol = F64,
                 variants: Mapping[str, Any] | None = None,
                 hints: Mapping[tuple[int, ...], str] | None = None) -> Verdict:
    """Full marks when ``got`` matches ``expected`` within ``tol``; else say what is wrong.

    variants: ``{"the kernel is flipped (...)": wrong output on the same inputs}``: named
              only when ``got`` matches that output better than the right one.
    hints:    ``{wrong shape: likely cause}``: said only when ``got`` has that shape.
    """
    v, bad = value(got, what)
    if bad is not None:
        return bad
    exp = np.asarray(expected, dtype=np.float64)
    arr = _as_array(v)
    if arr is None:
        return fail(f"{what} should be an array of shape {exp.shape}, got {type(v).__name__}")
    if arr.shape != exp.shape:
        return _shape_verdict(arr, exp, what, tol, variants or {}, hints or {})
    if _close(arr, exp, tol):
        return ok(f"{what} is right")
    for mistake, wrong in (variants or {}).items():
        w = None if wrong is None else np.asarray(wrong, dtype=np.float64)
        if w is not None and _close(arr, w, tol) and _err(arr, w) < _err(arr, exp):
            return fail(f"{what} is wrong" + looks_like(mistake))
    return fail(f"{what} is wrong: {_mismatch(arr, exp)}")


def _shape_verdict(arr: np.ndarray, exp: np.ndarray, what: str, tol: Tol,
                   variants: Mapping[str, Any], hints: Mapping[tuple[int, ...], str]) -> Verdict:
    if arr.size == exp.size and _close(arr.reshape(exp.shape), exp, tol):
        slip = " (keepdims=True?)" if arr.squeeze().shape == exp.squeeze().shape else ""
        return Verdict(SHAPE_SLIP_CREDIT, f"{what}: every value is right but the shape is "
                       f"{arr.shape}, expected {exp.shape}{slip}")
    for mistake, wrong in variants.items():
        w = None if wrong is None else np.asarray(wrong, dtype=np.float64)
        if w is not None and w.shape == arr.shape and _close(arr, w, tol):
            return fail(f"{what} is wrong" + looks_like(mistake))
    hint = hints.get(arr.shape)
    return fail(f"{what} has shape {arr.shape}, expected {exp.shape}"
                + looks_like(hint))


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _mismatch(arr: np.ndarray, exp: np.ndarray) -> str:
    if not np.all(np.isfinite(arr)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        return f"it contains {arr[idx]} at index {idx}"
    if arr.ndim == 0:
        return f"expected {_fmt(float(exp))}, got {_fmt(float(arr))}"
    rel = np.abs(arr - exp) / np.maximum(np.abs(arr) + np.abs(exp), 1e-12)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(rel)), rel.shape))
    return (f"at index {idx} expected {_fmt(exp[idx])}, got {_fmt(arr[idx])} "
            f"({int(np.sum(~np.isclose(arr, exp)))} of {arr.size} values differ)")


def short(x: Any, n: int = 60) -> str:
    """``repr(x)``, cut to ``n`` characters with "..." (for a value shown in a message)."""
    r = repr(x)
    return r if len(r) <= n else r[: n - 3] + "..."


def expect_equal(got: Any, expected: Any, what: str) -> Verdict:
    """Exact equality of plain data (ints, strings, tuples, lists, dicts; 3 == 3.0)."""
    v, bad = value(got, what)
    if bad is not None:
        return bad
    if _plain_equal(v, expected):
        return ok(f"{what} is right")
    return fail(f"{what} should be {short(expected)}, got {short(v)}")


def _plain_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_plain_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.all(np.asarray(a) == np.asarray(b)))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def _shown(v: Any) -> str:
    """A returned value for a message: arrays (also inside tuples and lists) by shape."""
    if isinstance(v, np.ndarray):
        return f"an array of shape {v.shape}"
    if isinstance(v, (tuple, list)) and any(isinstance(x, np.ndarray) for x in v):
        return f"({describe(*v)})"
    return short(v, 40)


def expect_raises(got: Any, types: Sequence[str], what: str, hint: str = "") -> Verdict:
    """Full marks when the student's code raised one of ``types`` deliberately."""
    names = " or ".join(types)
    extra = f" ({hint})" if hint else ""
    if isinstance(got, Raised) and got.type in types and got.deliberate:
        return ok(f"{what} raises {got.type} as it should")
    if isinstance(got, Raised) and got.type == "NotImplementedError":
        return Verdict(0.0, "not written yet", Status.NOT_WRITTEN)
    if isinstance(got, Raised) and got.type in types:
        return fail(f"{what} should raise {names} itself; the {got.type} came from "
                    f"{'a numpy operation' if got.cell else 'a library'}{_where(got)}, "
                    f"not from a check of yours{extra}")
    if isinstance(got, Raised):
        return fail(f"{what} should raise {names}, but raised {got.type}{_where(got)}{extra}")
    if isinstance(got, NotRun):
        return Verdict(0.0, not_run_message(got, what), Status.NOT_RUN)
    shown = f"a {got.type}" if isinstance(got, Opaque) else _shown(got)
    return fail(f"{what} should raise {names}, but returned {shown}{extra}")


# --------------------------------------------------------------------------------------------
# Cases and checks
# --------------------------------------------------------------------------------------------


def judge_case(case: Case, results: list[Any]) -> Verdict:
    """The verdict of one case: the process dying or the release stub are said the same way in
    every check; everything else is the case's judge. A judge that fails on odd data gives 0."""
    for r in results:
        if isinstance(r, Raised) and r.type == "NotImplementedError":
            return Verdict(0.0, "not written yet", Status.NOT_WRITTEN)
        if isinstance(r, NotRun) and r.kind != NotRunKind.DEPENDENCY:
            return Verdict(0.0, not_run_message(r, "this case"), Status.NOT_RUN)
    try:
        return case.judge(results)
    except Exception as exc:  # noqa: BLE001 - a judge meeting data nobody foresaw
        return fail(f"your result could not be checked ({type(exc).__name__})")


def combine(verdicts: Sequence[Verdict], weights: Sequence[float] | None = None) -> Verdict:
    """One verdict from several: the weighted mean of the fractions; the messages of the cases
    that lost points, each said once, in order."""
    if not verdicts:
        raise ValueError("combine needs at least one verdict")
    weights = list(weights) if weights is not None else [1.0] * len(verdicts)
    frac = sum(v.fraction * w for v, w in zip(verdicts, weights)) / sum(weights)
    frac = min(1.0, max(0.0, frac))
    if all(v.status == Status.NOT_WRITTEN for v in verdicts):
        return Verdict(0.0, "not written yet", Status.NOT_WRITTEN)
    lost = [v for v in verdicts if v.fraction < 1.0]
    if not lost:
        return Verdict(frac, f"all {len(verdicts)} cases right" if len(verdicts) > 1
                       else verdicts[0].message)
    seen: list[str] = []
    for v in lost:
        if v.message not in seen:
            seen.append(v.message)
    head = f"{len(lost)} of {len(verdicts)} cases wrong: " if len(verdicts) > 1 else ""
    return Verdict(frac, head + "; ".join(seen))


# --------------------------------------------------------------------------------------------
# Oracles and descriptions
# --------------------------------------------------------------------------------------------


def t64(a: Any, grad: bool = False) -> Any:
    """``a`` as a float64 torch tensor (a fresh copy)."""
    import torch

    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def np64(t: Any) -> np.ndarray:
    """A torch tensor as a float64 numpy array."""
    return t.detach().cpu().double().numpy()


def autograd(fn: Callable[..., Any], arrays: Sequence[Any], dout: Any
             ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Output of ``fn(*tensors)`` and the gradients of ``(out * dout).sum()`` with respect to
    every input, all float64."""
    ts = [t64(a, grad=True) for a in arrays]
    out = fn(*ts)
    (out * t64(dout)).sum().backward()
    return np64(out), [np64(t.grad) for t in ts]


def describe(*args: Any, **named: Any) -> str:
    """A call's arguments for a message: arrays by shape, short values as they are.

    >>> describe(np.zeros((2, 3)), stride=2)
    'array (2, 3), stride=2'
    """
    def one(v: Any) -> str:
        if isinstance(v, np.generic):
            v = v.item()
        if isinstance(v, np.ndarray):
            return f"array {v.shape}" if v.ndim else short(v.item(), 20)
        if isinstance(v, AsTensor):
            return f"tensor {v.array.shape}"
        if isinstance(v, Mapping):
            return "{" + ", ".join(f"{k!r}: {one(x)}" for k, x in v.items()) + "}"
        if isinstance(v, (list, tuple)) and any(isinstance(x, np.ndarray) for x in v):
            return "(" + ", ".join(one(x) for x in v) + ")"
        return short(v, 30)
    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in named.items()]
    return ", ".join(parts)


def cases_of(calls: Iterable[tuple[Call, Judge]]) -> list[Case]:
    """``[Case((call,), judge), ...]`` for one-step cases."""
    return [Case((c,), j) for c, j in calls]
