"""The contract between hidden checks and the grading engine.

A hidden check never calls student code itself. It describes *what to call* as a list of
:class:`Call` steps (plain data: names, numbers, numpy arrays), the engine runs those steps in a
sandboxed child process (see ``autograder.sandbox``), and the check's ``judge`` receives the
results back in the trusted parent, where it compares them with an independent oracle.

Check modules live in ``autograder/checks/<name>.py`` (``<name>`` is the assignment id without
its ``NN_`` prefix) and expose::

    ASSIGNMENT: str                                   # e.g. "01_conv_arithmetic"
    def build_checks(rng: np.random.Generator) -> list[Check]

``build_checks`` draws its cases from ``rng`` (seeded from a per-run secret), so the inputs a
submission sees at grading time are not the ones in the visible tests.

Step semantics (:func:`execute_steps`) are defined here once and used by the sandbox child, so
what a check means does not depend on where it runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --------------------------------------------------------------------------------------------
# Plan: what the sandbox executes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value saved by an earlier step (``Call(save=name)``), optionally indexed.

    ``Ref("fwd", 1)`` is ``saved["fwd"][1]``, e.g. the ``cache`` of ``(out, cache)``.
    """

    name: str
    index: int | str | None = None


@dataclass(frozen=True)
class AsTensor:
    """Ask the child to pass ``array`` as a ``torch.Tensor`` (same dtype), e.g. to a module."""

    array: np.ndarray
    requires_grad: bool = False


@dataclass(frozen=True)
class Call:
    """One step run in the sandbox.

    func:   name of a top-level function or class of the student's code; or, with ``on``, the
            name of a method of a saved object; or a probe name starting with ``@`` (see
            :data:`PROBES`).
    args, kwargs: plain data, numpy arrays, ``Ref`` and ``AsTensor`` (nested in lists, tuples
            and dicts too). The child receives fresh copies, so mutating them affects nothing.
    on:     name of a saved object whose method ``func`` is called.
    save:   keep the return value under this name for later steps.
    ret:    send the (encoded) return value back to the parent.
    """

    func: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    on: str | None = None
    save: str | None = None
    ret: bool = True


@dataclass(frozen=True)
class Raised:
    """Result of a step that raised: exception class name and its message."""

    type: str
    message: str


@dataclass(frozen=True)
class Opaque:
    """Result that is not plain data (e.g. a cache object or a module): only its type name."""

    type: str


@dataclass(frozen=True)
class Skipped:
    """Result of a step that did not run because an earlier step of the same check failed."""

    reason: str


# --------------------------------------------------------------------------------------------
# Verdicts: what the trusted parent decides
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Fraction of the check's points earned (0..1) and a message in plain words."""

    fraction: float
    message: str

    def __post_init__(self) -> None:
        if not 0.0 <= self.fraction <= 1.0 or math.isnan(self.fraction):
            raise ValueError(f"Verdict.fraction must be in [0, 1], got {self.fraction!r}")


Judge = Callable[[list[Any]], Verdict]


@dataclass
class Check:
    """One hidden check, backing exactly one autograded test cell of the notebook.

    name:    the nbgrader ``grade_id`` of that test cell (e.g. ``"test_conv_forward"``).
    points:  must equal that cell's points.
    steps:   what to run in the sandbox.
    judge:   receives one entry per step (the decoded return value, ``Raised``, ``Opaque``,
             ``Skipped``, or ``None`` for ``ret=False``) and returns a :class:`Verdict`.
    timeout: wall-clock seconds the sandbox may spend on these steps.
    """

    name: str
    points: float
    steps: list[Call]
    judge: Judge
    timeout: float = 20.0


def all_of(*verdicts: Verdict) -> Verdict:
    """Combine sub-verdicts with equal weight; messages of the failing parts are kept."""
    if not verdicts:
        raise ValueError("all_of needs at least one verdict")
    frac = sum(v.fraction for v in verdicts) / len(verdicts)
    msgs = [v.message for v in verdicts if v.fraction < 1.0]
    return Verdict(frac, "; ".join(msgs) if msgs else "all cases correct")


def first_error(results: Sequence[Any]) -> Verdict | None:
    """A zero verdict for the first ``Raised``/``Skipped`` result, else ``None``."""
    for r in results:
        if isinstance(r, Raised):
            return Verdict(0.0, f"your code raised {r.type}: {r.message}")
        if isinstance(r, Skipped):
            return Verdict(0.0, r.reason)
    return None


def _as_array(x: Any) -> np.ndarray | None:
    if isinstance(x, (Raised, Opaque, Skipped)) or x is None:
        return None
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def describe_mismatch(got: Any, expected: np.ndarray, what: str = "output") -> str:
    """Plain-words description of how ``got`` differs from ``expected``.

    Says when the value is not an array, when the shape is wrong, and otherwise where the first
    large error is (index, expected, got) and the maximum relative error.
    """
    if isinstance(got, Raised):
        return f"your code raised {got.type}: {got.message}"
    if isinstance(got, Skipped):
        return got.reason
    if isinstance(got, Opaque):
        return f"{what} should be an array of shape {tuple(np.shape(expected))}, got a {got.type}"
    arr = _as_array(got)
    expected = np.asarray(expected, dtype=np.float64)
    if arr is None:
        return f"{what} should be an array of shape {expected.shape}, got {type(got).__name__}"
    if arr.shape != expected.shape:
        return f"{what} has shape {arr.shape}, expected {expected.shape}"
    if not np.all(np.isfinite(arr)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        return f"{what} contains {arr[idx]} at index {idx}"
    err = np.abs(arr - expected)
    scale = np.maximum(np.abs(arr) + np.abs(expected), 1e-12)
    rel = err / scale
    if arr.ndim == 0:
        return f"{what} should be {float(expected):.6g}, got {float(arr):.6g}"
    big = np.flatnonzero(rel.reshape(-1) > 1e-6)
    if big.size == 0:
        return f"{what} is close but outside the tolerance (max relative error {rel.max():.2e})"
    idx = tuple(int(i) for i in np.unravel_index(int(big[0]), rel.shape))
    return (
        f"{what} first differs at index {idx}: expected {expected[idx]:.6g}, got {arr[idx]:.6g} "
        f"(max relative error {rel.max():.2e})"
    )


def is_close(got: Any, expected: Any, rtol: float = 1e-6, atol: float = 1e-8) -> bool:
    """True when ``got`` is array-like of ``expected``'s shape and allclose to it (NaN != NaN)."""
    arr = _as_array(got)
    exp = np.asarray(expected, dtype=np.float64)
    return (
        arr is not None
        and arr.shape == exp.shape
        and bool(np.all(np.isfinite(arr)))
        and bool(np.allclose(arr, exp, rtol=rtol, atol=atol))
    )


def expect_close(
    got: Any,
    expected: Any,
    what: str = "output",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    variants: Mapping[str, Any] | None = None,
) -> Verdict:
    """Full marks when ``got`` matches ``expected``; otherwise name the likely mistake.

    variants: ``{"the kernel is flipped (true convolution, not cross-correlation)": wrong_out,
    ...}``: outputs of known wrong implementations on the same inputs. When ``got`` matches one
    (and not the correct answer) the message says so; otherwise it points at the first large error.
    """
    if is_close(got, expected, rtol, atol):
        return Verdict(1.0, f"{what} is correct")
    for mistake, wrong in (variants or {}).items():
        if wrong is not None and is_close(got, wrong, rtol, atol):
            return Verdict(0.0, f"{what} is wrong: it looks like {mistake}")
    return Verdict(0.0, describe_mismatch(got, expected, what))


def expect_equal(got: Any, expected: Any, what: str = "result") -> Verdict:
    """Exact equality for plain data (ints, strings, tuples, lists, dicts)."""
    if isinstance(got, Raised):
        return Verdict(0.0, f"your code raised {got.type}: {got.message}")
    if isinstance(got, Skipped):
        return Verdict(0.0, got.reason)
    if _plain_equal(got, expected):
        return Verdict(1.0, f"{what} is correct")
    return Verdict(0.0, f"{what} should be {expected!r}, got {got!r}")


def _plain_equal(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_plain_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_plain_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.all(np.asarray(a) == np.asarray(b)))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float, np.integer, np.floating)) and isinstance(
        b, (int, float, np.integer, np.floating)
    ):
        return float(a) == float(b)
    return type(a) is type(b) and a == b


def expect_raises(got: Any, exc_types: Sequence[str], what: str, hint: str = "") -> Verdict:
    """Full marks when the step raised one of ``exc_types`` (class names, e.g. ``"ValueError"``)."""
    if isinstance(got, Raised) and got.type in exc_types:
        return Verdict(1.0, f"{what} raises {got.type} as it should")
    if isinstance(got, Raised):
        return Verdict(0.0, f"{what} should raise {' or '.join(exc_types)}, but raised {got.type}")
    extra = f" ({hint})" if hint else ""
    return Verdict(
        0.0, f"{what} should raise {' or '.join(exc_types)}, but returned {got!r}{extra}"
    )


# --------------------------------------------------------------------------------------------
# Step execution: runs inside the sandbox child (and in tests)
# --------------------------------------------------------------------------------------------


def _probe_param_count(obj: Any) -> int:
    return int(sum(p.numel() for p in obj.parameters()))


def _probe_state_shapes(obj: Any) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in obj.state_dict().items()}


def _probe_forward_backward(obj: Any, x: Any) -> dict[str, Any]:
    """Run ``obj(x)``, backprop ``out.sum()``; report output and which parameters got gradients."""
    import torch

    obj.zero_grad(set_to_none=True)
    out = obj(x)
    out.sum().backward()
    grads = {
        name: (None if p.grad is None else float(p.grad.abs().sum()))
        for name, p in obj.named_parameters()
    }
    input_grad = None if x.grad is None else x.grad.detach().cpu().numpy()
    with torch.no_grad():
        return {"out": out.detach().cpu().numpy(), "param_grad_abs_sum": grads,
                "input_grad": input_grad}


#: Helpers a step may name with ``func="@name"``; the first argument is ``on``'s object.
PROBES: dict[str, Callable[..., Any]] = {
    "@value": lambda obj: obj,  # send back a saved object, e.g. a param dict a layer mutated
    "@param_count": _probe_param_count,
    "@state_shapes": _probe_state_shapes,
    "@forward_backward": _probe_forward_backward,
}


def _resolve(value: Any, saved: Mapping[str, Any]) -> Any:
    if isinstance(value, Ref):
        obj = saved[value.name]
        return obj if value.index is None else obj[value.index]
    if isinstance(value, AsTensor):
        import torch

        return torch.tensor(np.array(value.array), requires_grad=value.requires_grad)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_resolve(v, saved) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, saved) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, saved) for k, v in value.items()}
    return value


def encode_result(value: Any, depth: int = 0) -> Any:
    """Turn a return value into plain data the parent can receive.

    numpy arrays and torch tensors become float/int ndarrays; numbers, strings, None stay;
    lists/tuples/dicts recurse; anything else becomes ``Opaque(type name)``.
    """
    if depth > 6:
        return Opaque("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return Opaque("object array")
        return np.array(value)
    mod = type(value).__module__
    if mod.startswith("torch") and type(value).__name__ in ("Tensor", "Parameter"):
        return value.detach().cpu().numpy().copy()
    if mod.startswith("torch") and type(value).__name__ == "Size":
        return tuple(int(v) for v in value)
    if isinstance(value, (list, tuple)):
        enc = [encode_result(v, depth + 1) for v in value]
        return tuple(enc) if isinstance(value, tuple) else enc
    if isinstance(value, dict) and all(isinstance(k, (str, int)) for k in value):
        return {k: encode_result(v, depth + 1) for k, v in value.items()}
    return Opaque(type(value).__name__)


def execute_steps(namespace: Mapping[str, Any], steps: Sequence[Call]) -> list[Any]:
    """Run ``steps`` against the student's ``namespace``; never raises.

    Returns one entry per step: the encoded return value (``ret=True``), ``None`` (``ret=False``),
    ``Raised`` when the step raised, or ``Skipped`` when an earlier step of the list failed.
    """
    saved: dict[str, Any] = {}
    results: list[Any] = []
    failed: str | None = None
    for step in steps:
        if failed is not None:
            results.append(Skipped(f"not run because {failed}"))
            continue
        try:
            if step.func.startswith("@"):
                fn = PROBES[step.func]
                target = (saved[step.on],) if step.on else ()
                out = fn(*target, *_resolve(step.args, saved), **_resolve(dict(step.kwargs), saved))
            else:
                if step.on is not None:
                    fn = getattr(saved[step.on], step.func)
                elif step.func in namespace:
                    fn = namespace[step.func]
                else:
                    raise NameError(f"{step.func} is not defined in your notebook")
                out = fn(*_resolve(step.args, saved), **_resolve(dict(step.kwargs), saved))
            if step.save:
                saved[step.save] = out
            results.append(encode_result(out) if step.ret else None)
        except BaseException as exc:  # noqa: BLE001 - student code may raise anything
            if isinstance(exc, KeyboardInterrupt):
                raise
            where = f"{step.on}.{step.func}" if step.on else step.func
            msg = str(exc).splitlines()[0][:300] if str(exc) else ""
            results.append(Raised(type(exc).__name__, msg))
            failed = f"{where} raised {type(exc).__name__}"
    return results


def grade_inprocess(code: str, checks: Sequence[Check]) -> dict[str, Verdict]:
    """Run ``checks`` against trusted ``code`` in *this* process: for testing check modules.

    Never use it on a student's code: the grader runs student code only in the sandbox.
    """
    namespace: dict[str, Any] = {"__name__": "submission"}
    exec(compile(code, "<reference>", "exec"), namespace)  # noqa: S102 - trusted test code
    return {c.name: c.judge(execute_steps(namespace, c.steps)) for c in checks}
