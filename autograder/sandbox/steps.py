"""Running one case's steps against the student's code, inside the sandbox child.

A case is a short list of :class:`~autograder.sandbox.protocol.Call` steps that may depend on
each other (``backward`` needs ``forward``'s cache); cases never depend on each other, so one
failing case costs only itself. Every step gets a result: the return value as plain data, a
``Raised``, an ``Opaque``, or a ``NotRun`` naming the step it depended on.

Probes (``Call("@name")``) are small helpers the grader may call on a saved object; each one
declares whether it needs torch, so the grader knows without guessing whether a child must have
torch imported.
"""

from __future__ import annotations

import ast
import builtins
import re
import signal
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.sandbox.protocol import (
    AsTensor,
    Call,
    NotRun,
    NotRunKind,
    Opaque,
    Raised,
    Ref,
)

#: Filename under which a solution cell's code is compiled: tracebacks then name the cell.
CELL_FILENAME = "<cell {}>"
_CELL_RE = re.compile(r"^<cell (.+)>$")
MAX_MESSAGE = 500
MAX_STRING = 100_000
MAX_DEPTH = 8


@dataclass(frozen=True)
class Probe:
    """A helper the grader may call: ``needs_torch`` says whether the child must have torch,
    ``needs_ns`` whether it receives the student's namespace as its first argument."""

    run: Callable[..., Any]
    needs_torch: bool
    needs_ns: bool = False


PROBES: dict[str, Probe] = {}


def probe(name: str, *, needs_torch: bool, needs_ns: bool = False
          ) -> Callable[[Callable], Callable]:
    def register(fn: Callable) -> Callable:
        PROBES[name] = Probe(fn, needs_torch, needs_ns)
        return fn
    return register


@probe("@value", needs_torch=False)
def _value(obj: Any) -> Any:
    """A saved object itself, e.g. the ``bn_param`` dict a layer updated in place."""
    return obj


@probe("@param_count", needs_torch=True)
def _param_count(module: Any) -> int:
    return int(sum(p.numel() for p in module.parameters()))


@probe("@state_shapes", needs_torch=True)
def _state_shapes(module: Any) -> dict[str, tuple[int, ...]]:
    return {k: tuple(int(n) for n in v.shape) for k, v in module.state_dict().items()}


@probe("@load_state", needs_torch=True)
def _load_state(module: Any, state: Mapping[str, np.ndarray]) -> None:
    """Load the grader's weights (float64) into the student's module, names checked strictly."""
    import torch

    module.double()
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()},
                           strict=True)


@probe("@forward_backward", needs_torch=True)
def _forward_backward(module: Any, x: Any, dout: np.ndarray) -> dict[str, Any]:
    """``out = module(x)``, then ``out.backward(dout)``: output, input gradient and every
    parameter's gradient by name (``None`` where a parameter got none).

    When the backward pass cannot run (the output is not a tensor, has another number of
    values than ``dout``, or is not part of the graph), the output still comes back and
    ``backward_error`` says why, so the grader can judge the output on its own. With as many
    values as ``dout`` but another shape, ``dout`` is reshaped (the shape policy judges the
    output's shape)."""
    import torch

    module.zero_grad(set_to_none=True)
    out = module(x)
    error = None
    try:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the output is a {type(out).__name__}, not a tensor")
        g = torch.from_numpy(np.array(dout))
        if g.numel() != out.numel():
            raise ValueError(f"the output has {out.numel()} values, expected {g.numel()}")
        out.backward(g.to(out.dtype).reshape(out.shape))
    except Exception as exc:  # noqa: BLE001 - whatever the student's graph does
        error = f"{type(exc).__name__}: {BaseException.__str__(exc)[:200]}"
    return {"out": out.detach() if isinstance(out, torch.Tensor) else out,
            "input_grad": None if x.grad is None else x.grad.detach(),
            "param_grads": {n: None if p.grad is None else p.grad.detach()
                            for n, p in module.named_parameters()},
            "backward_error": error}


@probe("@train_sgd", needs_torch=False)
def _train_sgd(model: Any, X: np.ndarray, y: np.ndarray, iterations: int,
               learning_rate: float, momentum: float = 0.9) -> dict[str, Any]:
    """Train a numpy model (``model.params``, ``model.loss(X, y) -> (loss, grads)``) on the
    grader's data with the grader's own update rule, SGD with momentum on the whole set, for
    ``iterations`` steps. Returns the losses and the final parameters: the grader judges what
    those parameters compute with its own oracle, never the model's own predictions."""
    velocity: dict[str, Any] = {}
    losses = []
    for _ in range(int(iterations)):
        loss, grads = model.loss(X, y)
        losses.append(float(loss))
        for name, w in list(model.params.items()):
            velocity[name] = momentum * velocity.get(name, 0.0) - learning_rate * grads[name]
            model.params[name] = w + velocity[name]
    return {"losses": losses, "params": dict(model.params)}


@probe("@run_cell", needs_torch=False, needs_ns=True)
def _run_cell(ns: Mapping[str, Any], setup: str, source: str, label: str) -> None:
    """Run a notebook cell (a visible test) against a copy of the student's namespace, after
    the notebook's setup imports (those that import here)."""
    scope = dict(ns)
    for stmt in ast.parse(setup).body:
        try:
            exec(compile(ast.Module([stmt], []), "<setup>", "exec"), scope)  # noqa: S102
        except Exception:  # noqa: BLE001 - e.g. a course module graded code cannot import
            pass
    exec(compile(source, f"<{label}>", "exec"), scope)  # noqa: S102


def needs_torch(steps: Iterable[Call]) -> bool:
    """Whether running ``steps`` needs torch: a probe that says so, or a tensor argument."""
    def has_tensor(v: Any) -> bool:
        if isinstance(v, AsTensor):
            return True
        if isinstance(v, (list, tuple)):
            return any(has_tensor(x) for x in v)
        if isinstance(v, Mapping):
            return any(has_tensor(x) for x in v.values())
        return False
    return any((s.func in PROBES and PROBES[s.func].needs_torch)
               or has_tensor(s.args) or has_tensor(dict(s.kwargs)) for s in steps)


# --------------------------------------------------------------------------------------------
# Results as plain data
# --------------------------------------------------------------------------------------------


def to_plain(value: Any, depth: int = 0) -> Any:
    """A return value as data the protocol can carry; anything else becomes ``Opaque``.

    (This runs in the student's process: nothing here needs protecting from the student's
    objects, only the grader's decoder does.)
    """
    if depth > MAX_DEPTH:
        return Opaque("value nested too deeply")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else Opaque(f"str of {len(value)} characters")
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    if isinstance(value, np.ndarray):
        return _array(value)
    tensor = _tensor_array(value)
    if tensor is not None:
        return tensor
    if isinstance(value, (list, tuple)):
        items = [to_plain(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict) and all(type(k) in (str, int) for k in value):
        return {k: to_plain(v, depth + 1) for k, v in value.items()}
    return Opaque(type(value).__name__)


def _array(value: np.ndarray) -> Any:
    arr = np.array(value, order="C", copy=True)  # (ascontiguousarray turns 0-d into 1-d)
    if arr.dtype.kind not in "biufc" or not arr.dtype.isnative or arr.dtype.itemsize > 16:
        return Opaque(f"array of dtype {arr.dtype}")
    if arr.dtype == np.longdouble and arr.dtype.itemsize > 8:
        arr = arr.astype(np.float64)
    return arr


def _tensor_array(value: Any) -> Any:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(value, torch.Tensor):
        t = torch.Tensor.detach(value).cpu()
        if t.is_complex() or t.dtype in (torch.bfloat16,):
            t = t.to(torch.complex128 if t.is_complex() else torch.float64)
        return _array(t.numpy())
    if isinstance(value, torch.Size):
        return tuple(int(n) for n in value)
    return None


def _plain_or_opaque(value: Any) -> Any:
    try:
        return to_plain(value)
    except CaseTimeout:
        raise
    except BaseException as exc:  # noqa: BLE001 - e.g. a tensor that cannot leave its device
        return Opaque(f"{type(value).__name__} (unreadable: {type(exc).__name__})")


def raised(exc: BaseException) -> Raised:
    """What the grader needs of an exception: built-in class, text, and where in whose code."""
    builtin = next((k.__name__ for k in type(exc).__mro__
                    if getattr(builtins, k.__name__, None) is k), "Exception")
    try:
        text = BaseException.__str__(exc)
    except Exception:  # noqa: BLE001 - a broken exception object
        text = ""
    cell, line, own = None, None, False
    tb = exc.__traceback__
    while tb is not None:
        m = _CELL_RE.match(tb.tb_frame.f_code.co_filename)
        if m:
            cell, line = m.group(1), tb.tb_lineno
        own = bool(m)
        tb = tb.tb_next
    return Raised(builtin, text[:MAX_MESSAGE], cell, line, own)


# --------------------------------------------------------------------------------------------
# Running a case
# --------------------------------------------------------------------------------------------


class CaseTimeout(BaseException):
    """Raised by SIGALRM when a case runs past its time (a BaseException: ``except Exception``
    in the student's code does not swallow it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CaseTimeout()


class _Missing(Exception):
    """The step cannot run: a Ref to a step that failed, or a function that is not there."""

    def __init__(self, detail: str, kind: NotRunKind = NotRunKind.DEPENDENCY) -> None:
        super().__init__(detail)
        self.kind = kind


def _resolve(value: Any, saved: Mapping[str, Any], failed: Mapping[str, str]) -> Any:
    if isinstance(value, Ref):
        if value.name in failed:
            raise _Missing(failed[value.name])
        if value.name not in saved:
            raise _Missing(f"no earlier step saved {value.name!r}")
        obj = saved[value.name]
        if value.index is None:
            return obj
        try:
            return obj[value.index]
        except Exception:  # noqa: BLE001 - the student's return value has no such item
            raise _Missing(f"the value of {value.name} has no item {value.index!r}") from None
    if isinstance(value, AsTensor):
        import torch

        return torch.tensor(np.array(value.array), requires_grad=value.requires_grad)
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_resolve(v, saved, failed) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, saved, failed) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, saved, failed) for k, v in value.items()}
    return value


def _target(step: Call, ns: Mapping[str, Any], saved: Mapping[str, Any],
            failed: Mapping[str, str]) -> tuple[Callable, tuple]:
    """The callable of ``step`` and the leading arguments it gets (a probe's object)."""
    if step.func.startswith("@"):
        target = (_resolve(Ref(step.on), saved, failed),) if step.on else ()
        if PROBES[step.func].needs_ns:
            target = (ns, *target)
        return PROBES[step.func].run, target
    if step.on is not None:
        return getattr(_resolve(Ref(step.on), saved, failed), step.func), ()
    if step.func not in ns:
        raise _Missing(step.func, NotRunKind.UNDEFINED)
    return ns[step.func], ()


def execute_case(ns: Mapping[str, Any], steps: list[Call], timeout: float) -> list[Any]:
    """Run ``steps`` against the student's namespace ``ns``; never raises.

    One result per step. A step whose ``Ref`` points at a step that failed is ``NotRun``
    (dependency); once ``timeout`` seconds pass, the running step and the rest are ``NotRun``
    (timeout).
    """
    saved: dict[str, Any] = {}
    failed: dict[str, str] = {}
    results: list[Any] = []
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(timeout, 0.001))
    try:
        for step in steps:
            try:
                fn, target = _target(step, ns, saved, failed)
                args = _resolve(step.args, saved, failed)
                kwargs = _resolve(dict(step.kwargs), saved, failed)
                out = fn(*target, *args, **kwargs)
            except _Missing as why:
                results.append(NotRun(why.kind, str(why)))
                if step.save:
                    failed[step.save] = str(why)
                continue
            except CaseTimeout:
                raise
            except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                results.append(raised(exc))
                if step.save:
                    failed[step.save] = f"{step.func} raised {type(exc).__name__}"
                continue
            if step.save:
                saved[step.save] = out
            results.append(_plain_or_opaque(out) if step.ret else None)
    except CaseTimeout:
        results += [NotRun(NotRunKind.TIMEOUT, f"{timeout:g} s")] * (len(steps) - len(results))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return results
