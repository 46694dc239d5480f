"""Helpers of notebook 6, the capstone: your own layers, composed, trained, and checked.

- Carrying your layers over: :func:`load_student_layers` finds your working copies of notebooks
  2-4 (next to this notebook's folder: ``make lab`` puts them all in ``work/``), takes the
  functions you wrote there, tries each on a tiny input against ``cnnlib.layers``, and keeps
  yours wherever it works; where one is missing, not written yet, raises or gives other numbers,
  it prints a notice and uses ``cnnlib.layers``' instead. Only the imports, functions and
  classes of those notebooks run (as the grader reads a notebook), never their other cells.
- Data for the numpy network: :func:`digits_data` and :func:`cifar10_data` (float64, mean
  image subtracted, train/validation/test), for ``cnnlib.solver.Solver``.
- The same network in torch: :func:`torch_twin` copies a ``ThreeLayerConvNet``'s ``params``
  into an ``nn.Module``; :func:`compare_training_steps` takes the same steps with both and
  reports the largest difference per step.
- :func:`skip_if_not_written` lets a cell of the student version say "not written yet" instead
  of failing when it needs an exercise that is still a stub.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnlib import layers as reference

__all__ = [
    "LAYER_SOURCES",
    "StepDiff",
    "StudentLayers",
    "TorchThreeLayerConvNet",
    "cifar10_data",
    "compare_training_steps",
    "digits_data",
    "load_student_layers",
    "notebook_functions",
    "skip_if_not_written",
    "torch_twin",
]

#: Where each layer of the capstone comes from: (notebook under the course folder, its name).
LAYER_SOURCES: dict[str, tuple[str, str]] = {
    "conv_forward": ("02_convolution/convolution.ipynb", "conv_forward_im2col"),
    "conv_backward": ("03_backprop/backprop.ipynb", "conv_backward_naive"),
    "max_pool_forward": ("02_convolution/convolution.ipynb", "max_pool_forward_naive"),
    "max_pool_backward": ("03_backprop/backprop.ipynb", "max_pool_backward_naive"),
    "affine_forward": ("03_backprop/backprop.ipynb", "affine_forward"),
    "affine_backward": ("03_backprop/backprop.ipynb", "affine_backward"),
    "relu_forward": ("03_backprop/backprop.ipynb", "relu_forward"),
    "relu_backward": ("03_backprop/backprop.ipynb", "relu_backward"),
    "spatial_batchnorm_forward": ("04_normalization/normalization.ipynb",
                                  "spatial_batchnorm_forward"),
    "spatial_batchnorm_backward": ("04_normalization/normalization.ipynb",
                                   "spatial_batchnorm_backward"),
}
#: The forward/backward pairs (a backward reads its forward's cache).
PAIRS = (("conv_forward", "conv_backward"), ("max_pool_forward", "max_pool_backward"),
         ("affine_forward", "affine_backward"), ("relu_forward", "relu_backward"),
         ("spatial_batchnorm_forward", "spatial_batchnorm_backward"))
_MAGIC = re.compile(r"^(\s*)(%|!)")
_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


# --------------------------------------------------------------------------------------------
# Reading a notebook's functions
# --------------------------------------------------------------------------------------------


def _cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            src = cell.get("source", "")
            out.append("".join(src) if isinstance(src, list) else str(src))
    return out


def notebook_functions(path: str | Path) -> tuple[dict[str, Any], list[str]]:
    """Run the top-level imports, functions and classes of every code cell of the notebook at
    ``path`` (nothing else: no cell's other statements) in a fresh namespace.

    Returns ``(namespace, problems)``: a statement that fails (a syntax error, an import that is
    not there) is left out and described in ``problems``; the rest still runs.
    """
    path = Path(path)
    ns: dict[str, Any] = {"__name__": f"notebook:{path.stem}"}
    problems: list[str] = []
    for i, source in enumerate(_cells(path)):
        text = "\n".join(m.group(1) + "pass" if (m := _MAGIC.match(line)) else line
                         for line in source.splitlines())
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            problems.append(f"code cell {i + 1} of {path.name} has a syntax error (line "
                            f"{exc.lineno}): its functions were skipped")
            continue
        for node in tree.body:
            if not isinstance(node, _KEEP):
                continue
            try:
                code = compile(ast.Module([node], []), f"<{path.name} cell {i + 1}>", "exec")
                exec(code, ns)  # noqa: S102 - the student's own notebook, on their machine
            except Exception as exc:  # noqa: BLE001 - whatever the cell does
                problems.append(f"code cell {i + 1} of {path.name}: {type(exc).__name__}: {exc}")
    return ns, problems


# --------------------------------------------------------------------------------------------
# Trying a layer on a tiny input
# --------------------------------------------------------------------------------------------


def _trial_inputs() -> dict[str, tuple[tuple, Any]]:
    """Per forward: its arguments, and an upstream gradient for the backward pass."""
    rng = np.random.default_rng(2024)
    x = rng.normal(size=(2, 3, 4, 4))
    pool_x = rng.permutation(2 * 3 * 4 * 4).reshape(2, 3, 4, 4) / 10.0  # no ties
    bn = {"mode": "train", "running_mean": np.zeros(3), "running_var": np.ones(3)}
    return {
        "conv_forward": ((x, rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2),
                          {"stride": 1, "pad": 1}), rng.normal(size=(2, 2, 4, 4))),
        "max_pool_forward": ((pool_x, {"pool_height": 2, "pool_width": 2, "stride": 2}),
                             rng.normal(size=(2, 3, 2, 2))),
        "affine_forward": ((x, rng.normal(size=(48, 5)), rng.normal(size=5)),
                           rng.normal(size=(2, 5))),
        "relu_forward": ((x,), rng.normal(size=x.shape)),
        "spatial_batchnorm_forward": ((x * 2 + 1, rng.normal(size=3), rng.normal(size=3), bn),
                                      rng.normal(size=x.shape)),
    }


class _Unusable(Exception):
    """Why a function cannot be used: ``which`` layer is at fault, ``reason`` in words."""

    def __init__(self, which: str, reason: str) -> None:
        super().__init__(reason)
        self.which, self.reason = which, reason


def _label(fn: Callable, name: str) -> str:
    """``your conv_forward_im2col`` or ``cnnlib's conv_forward``: who wrote ``fn``."""
    if fn is getattr(reference, name):
        return f"cnnlib's {name}"
    return f"your {LAYER_SOURCES[name][1]}"


def _run(fn: Callable, args: tuple, name: str) -> Any:
    try:
        return fn(*copy.deepcopy(args))
    except NotImplementedError:
        raise _Unusable(name, f"{_label(fn, name)} is not written yet") from None
    except Exception as exc:  # noqa: BLE001 - a student's function may raise anything
        raise _Unusable(name, f"{_label(fn, name)} raised {type(exc).__name__}: "
                        f"{str(exc)[:80]}") from None


def _same(got: Any, expected: Any) -> bool:
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return arr.shape == np.shape(expected) and bool(np.allclose(arr, expected, rtol=1e-6,
                                                                atol=1e-8))


def _grads(out: Any) -> tuple:
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _try_forward(fwd: Callable, fname: str, args: tuple) -> Any:
    """The cache of ``fwd`` on ``args``, or :class:`_Unusable` when its output is not the
    reference's (a batch-norm forward is tried in test mode too)."""
    ref_fwd = getattr(reference, fname)
    got = _run(fwd, args, fname)
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        raise _Unusable(fname, f"{_label(fwd, fname)} does not return (out, cache)")
    if not _same(got[0], ref_fwd(*copy.deepcopy(args))[0]):
        raise _Unusable(fname, f"{_label(fwd, fname)} gives other numbers than cnnlib.layers "
                        "on a small input")
    if fname == "spatial_batchnorm_forward":
        test_args = (*args[:3], {"mode": "test", "running_mean": np.ones(3),
                                 "running_var": np.full(3, 2.0)})
        if not _same(_run(fwd, test_args, fname)[0], ref_fwd(*copy.deepcopy(test_args))[0]):
            raise _Unusable(fname, f"{_label(fwd, fname)} gives other numbers than "
                            "cnnlib.layers in test mode")
    return got[1]


def _try_pair(fwd: Callable, bwd: Callable, fname: str, bname: str) -> None:
    """Raise :class:`_Unusable` unless ``fwd`` then ``bwd`` give the reference's numbers on the
    tiny input of ``fname``."""
    args, dout = _trial_inputs()[fname]
    cache = _try_forward(fwd, fname, args)
    ref_cache = getattr(reference, fname)(*copy.deepcopy(args))[1]
    expected = _grads(getattr(reference, bname)(dout.copy(), ref_cache))
    own_cache_for_reference = bwd is getattr(reference, bname) and \
        fwd is not getattr(reference, fname)
    try:
        grads = _grads(_run(bwd, (dout, cache), bname))
        right = len(grads) == len(expected) and all(_same(g, e) for g, e in zip(grads,
                                                                                  expected))
    except _Unusable:
        if not own_cache_for_reference:
            raise
        right = False
    if not right and own_cache_for_reference:
        raise _Unusable(fname, f"the cache of {_label(fwd, fname)} does not suit cnnlib's "
                        f"{bname}")
    if not right:
        raise _Unusable(bname, f"{_label(bwd, bname)} gives other gradients than "
                        "cnnlib.layers on a small input")


# --------------------------------------------------------------------------------------------
# Choosing yours or the reference, per pair
# --------------------------------------------------------------------------------------------


@dataclass
class StudentLayers:
    """The layers of the capstone, one attribute per name of :data:`LAYER_SOURCES`.

    ``origin[name]`` says where each came from; ``notices`` why a layer is cnnlib's.
    """

    functions: dict[str, Callable] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Callable:
        functions = self.__dict__.get("functions", {})
        if name in functions:
            return functions[name]
        raise AttributeError(name)

    @property
    def yours(self) -> list[str]:
        """Names of the layers that are your own."""
        return [n for n, o in self.origin.items() if o.startswith("your ")]

    def __str__(self) -> str:
        width = max(map(len, self.origin), default=0)
        lines = [f"{len(self.yours)} of {len(self.origin)} layers are your own:"]
        lines += [f"  {name:<{width}}  {where}" for name, where in self.origin.items()]
        return "\n".join(lines)


def _find(ns_by_nb: Mapping[str, dict], name: str) -> tuple[Callable | None, str]:
    """The student's function for layer ``name`` and where it is, or None and why not."""
    notebook, func = LAYER_SOURCES[name]
    ns = ns_by_nb.get(notebook)
    if ns is None:
        return None, f"{notebook} was not found"
    fn = ns.get(func)
    if not callable(fn):
        return None, f"{notebook} defines no {func}"
    return fn, f"your {func} ({notebook})"


def _choose_pair(ns_by_nb: Mapping[str, dict], fname: str, bname: str, out: StudentLayers
                 ) -> None:
    """Yours for both, else yours for one of them, else the reference's: the first choice whose
    forward and backward give the reference's numbers together."""
    (sf, f_where), (sb, b_where) = _find(ns_by_nb, fname), _find(ns_by_nb, bname)
    rf, rb = getattr(reference, fname), getattr(reference, bname)
    why = {name: where for name, fn, where in ((fname, sf, f_where), (bname, sb, b_where))
           if fn is None}
    for f, b in ((sf, sb), (sf, rb), (rf, sb)):
        if f is None or b is None:
            continue
        try:
            _try_pair(f, b, fname, bname)
        except _Unusable as exc:
            why.setdefault(exc.which, exc.reason)
            continue
        _record(out, fname, f, f_where if f is sf else None, why.get(fname))
        _record(out, bname, b, b_where if b is sb else None, why.get(bname))
        return
    _record(out, fname, rf, None, why.get(fname))
    _record(out, bname, rb, None, why.get(bname))


def _record(out: StudentLayers, name: str, fn: Callable, yours: str | None,
            why: str | None) -> None:
    out.functions[name] = fn
    if yours is not None:
        out.origin[name] = yours
        return
    reason = why or (f"your {LAYER_SOURCES[name][1]} works, but not with the other half of "
                     "its pair")
    out.origin[name] = f"cnnlib.layers ({reason})"
    out.notices.append(f"notice: {name} comes from cnnlib.layers: {reason}")


def load_student_layers(course_dir: str | Path | None = None,
                        notebooks: Mapping[str, str | Path] | None = None,
                        verbose: bool = True) -> StudentLayers:
    """Your layers from notebooks 2-4, with ``cnnlib.layers``' where yours cannot be used.

    course_dir: the folder holding the course's notebook folders (``02_convolution/``, ...);
                default: the folder above the current one, i.e. next to this notebook's folder
                (``work/`` after ``make lab``).
    notebooks:  explicit paths instead, by the keys of :data:`LAYER_SOURCES`' notebooks
                (``{"03_backprop/backprop.ipynb": "my/backprop.ipynb"}``); others are looked
                for in ``course_dir``.
    verbose:    print a notice for every layer that comes from ``cnnlib.layers`` and why.
    """
    base = Path(course_dir) if course_dir is not None else Path.cwd().parent
    given = {k: Path(v) for k, v in (notebooks or {}).items()}
    unknown = set(given) - {nb for nb, _ in LAYER_SOURCES.values()}
    if unknown:
        raise ValueError(f"unknown notebooks {sorted(unknown)}; expected keys among "
                         f"{sorted({nb for nb, _ in LAYER_SOURCES.values()})}")
    ns_by_nb: dict[str, dict] = {}
    out = StudentLayers()
    for nb in dict.fromkeys(nb for nb, _ in LAYER_SOURCES.values()):
        path = given.get(nb, base / nb)
        if path.is_file():
            ns_by_nb[nb], problems = notebook_functions(path)
            out.notices += [f"notice: {p}" for p in problems]
    for fname, bname in PAIRS:
        _choose_pair(ns_by_nb, fname, bname, out)
    out.functions = {n: out.functions[n] for n in LAYER_SOURCES}
    out.origin = {n: out.origin[n] for n in LAYER_SOURCES}
    if verbose:
        for line in out.notices:
            print(line)
    return out


# --------------------------------------------------------------------------------------------
# Data for the numpy network
# --------------------------------------------------------------------------------------------


def _centred(parts: Mapping[str, np.ndarray], dtype: Any) -> dict[str, np.ndarray]:
    """Every X minus the training set's mean image, as ``dtype``; labels as int64."""
    mean = parts["X_train"].astype(np.float64).mean(axis=0)
    return {k: ((v.astype(np.float64) - mean).astype(dtype) if k.startswith("X_") else
                v.astype(np.int64)) for k, v in parts.items()}


def digits_data(seed: int = 0, val_fraction: float = 0.1, dtype: Any = np.float64
                ) -> dict[str, np.ndarray]:
    """scikit-learn's digits for the Solver: ``X_train, y_train, X_val, y_val, X_test,
    y_test``, X ``(N, 1, 8, 8)`` in [0, 1] minus the training mean image.

    The test set is ``cnnlib.data.load_digits``' (20 %); ``val_fraction`` of the rest is held
    out for validation.
    """
    from cnnlib import data

    X_train, y_train, X_test, y_test = data.load_digits(seed=seed)
    n_val = round(len(X_train) * val_fraction)
    return _centred({"X_train": X_train[n_val:], "y_train": y_train[n_val:],
                     "X_val": X_train[:n_val], "y_val": y_train[:n_val],
                     "X_test": X_test, "y_test": y_test}, dtype)


def cifar10_data(root: str | Path, num_train: int = 5000, num_val: int = 500,
                 num_test: int = 1000, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """The first examples of a local CIFAR-10 copy (``cnnlib.data.load_cifar10``), scaled to
    [0, 1] minus the training mean image: ``X_train, y_train, X_val, y_val, X_test, y_test``."""
    from cnnlib import data

    X, y = data.load_cifar10(root, train=True)
    X_test, y_test = data.load_cifar10(root, train=False)
    X, X_test = X / np.float32(255), X_test / np.float32(255)
    return _centred({"X_train": X[:num_train], "y_train": y[:num_train],
                     "X_val": X[num_train:num_train + num_val],
                     "y_val": y[num_train:num_train + num_val],
                     "X_test": X_test[:num_test], "y_test": y_test[:num_test]}, dtype)


# --------------------------------------------------------------------------------------------
# The same network in torch
# --------------------------------------------------------------------------------------------


class TorchThreeLayerConvNet(nn.Module):
    """conv - [BatchNorm2d] - ReLU - 2x2 max pool - linear - ReLU - linear, in float64, with the
    weights of a numpy ``ThreeLayerConvNet``'s ``params`` (see :func:`torch_twin`)."""

    def __init__(self, params: Mapping[str, np.ndarray], bn_eps: float = 1e-5,
                 bn_momentum: float = 0.9) -> None:
        super().__init__()
        f, c, fs, _ = params["W1"].shape
        hidden, classes = params["W3"].shape
        self.conv = nn.Conv2d(c, f, fs, padding=(fs - 1) // 2)
        # torch's momentum is the weight of the NEW value: 1 minus the course's
        self.bn = nn.BatchNorm2d(f, eps=bn_eps, momentum=1 - bn_momentum) \
            if "gamma1" in params else nn.Identity()
        self.fc1 = nn.Linear(params["W2"].shape[0], hidden)
        self.fc2 = nn.Linear(hidden, classes)
        self.double()
        with torch.no_grad():
            for tensor, value in zip(self._tensors(), self._values(params)):
                tensor.copy_(torch.as_tensor(np.asarray(value, dtype=np.float64)))

    def _tensors(self) -> list[torch.Tensor]:
        bn = [self.bn.weight, self.bn.bias] if isinstance(self.bn, nn.BatchNorm2d) else []
        return [self.conv.weight, self.conv.bias, *bn, self.fc1.weight, self.fc1.bias,
                self.fc2.weight, self.fc2.bias]

    def _values(self, params: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        bn = [params["gamma1"], params["beta1"]] if isinstance(self.bn, nn.BatchNorm2d) else []
        return [params["W1"], params["b1"], *bn, params["W2"].T, params["b2"], params["W3"].T,
                params["b3"]]

    def named_like_numpy(self, grads: bool = False) -> dict[str, np.ndarray]:
        """The weights (or their gradients) under the numpy network's names and shapes."""
        names = ["W1", "b1", *(["gamma1", "beta1"] if isinstance(self.bn, nn.BatchNorm2d)
                               else []), "W2", "b2", "W3", "b3"]
        out = {}
        for name, t in zip(names, self._tensors()):
            v = t.grad if grads else t
            arr = np.zeros(tuple(t.shape)) if v is None else v.detach().numpy().copy()
            out[name] = arr.T if name in ("W2", "W3") else arr
        return out

    def adam(self, lr: float, reg: float) -> torch.optim.Adam:
        """Adam on every parameter, with L2 weight decay ``reg`` on the three weight tensors
        only: the gradient of ``0.5 * reg * sum of squared weights``, as in the numpy net."""
        weights = [self.conv.weight, self.fc1.weight, self.fc2.weight]
        others = [p for p in self.parameters() if all(p is not w for w in weights)]
        return torch.optim.Adam([{"params": weights, "weight_decay": reg},
                                 {"params": others, "weight_decay": 0.0}], lr=lr)

    def l2(self) -> torch.Tensor:
        """Sum of the squared weights (not biases, not gamma/beta)."""
        return sum((w ** 2).sum() for w in (self.conv.weight, self.fc1.weight, self.fc2.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2, 2)
        return self.fc2(torch.relu(self.fc1(h.flatten(1))))


def torch_twin(params: Mapping[str, np.ndarray]) -> TorchThreeLayerConvNet:
    """The torch version of a numpy ``ThreeLayerConvNet`` with a copy of its weights
    (``W1 (F, C, k, k)``, ``b1``, optional ``gamma1``/``beta1``, ``W2 (D, H)``, ``b2``,
    ``W3 (H, K)``, ``b3``), in float64."""
    return TorchThreeLayerConvNet(params)


@dataclass(frozen=True)
class StepDiff:
    """One training step taken by both networks: their losses and the largest absolute
    differences between their gradients (before the step) and weights (after it)."""

    step: int
    loss: float
    torch_loss: float
    grad_diff: float
    weight_diff: float

    @property
    def largest(self) -> float:
        return max(abs(self.loss - self.torch_loss), self.grad_diff, self.weight_diff)

    def __str__(self) -> str:
        return (f"step {self.step}: loss {self.loss:.12f} (torch {self.torch_loss:.12f}), "
                f"largest difference {self.largest:.1e} (gradients {self.grad_diff:.1e}, "
                f"weights {self.weight_diff:.1e})")


def _torch_optimizer(name: str, params: Any, config: Mapping[str, Any]
                     ) -> torch.optim.Optimizer:
    if name == "sgd_momentum":
        return torch.optim.SGD(params, lr=config.get("learning_rate", 1e-2),
                               momentum=config.get("momentum", 0.9))
    if name == "adam":
        return torch.optim.Adam(params, lr=config.get("learning_rate", 1e-3),
                                betas=(config.get("beta1", 0.9), config.get("beta2", 0.999)),
                                eps=config.get("epsilon", 1e-8))
    raise ValueError(f"optimizer must be 'sgd_momentum' or 'adam', got {name!r}")


def _max_diff(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(np.asarray(a[k]) - b[k]))) for k in b)


def compare_training_steps(model: Any, X: np.ndarray, y: np.ndarray, update_rule: Callable,
                           optimizer: str = "sgd_momentum",
                           config: Mapping[str, Any] | None = None, steps: int = 5,
                           batch_size: int = 20, reg: float | None = None, seed: int = 0
                           ) -> list[StepDiff]:
    """Take ``steps`` training steps with a copy of ``model`` (numpy, ``update_rule``) and with
    its torch twin (``torch.optim.SGD`` with momentum, or ``Adam``: ``optimizer`` names the rule
    ``update_rule`` implements) on the same mini-batches, from the same weights.

    Both minimise the mean cross-entropy plus ``0.5 * reg * sum of squared weights`` (``reg``:
    the model's own ``reg`` by default). Returns one :class:`StepDiff` per step.
    """
    numpy_net = copy.deepcopy(model)
    reg = float(getattr(model, "reg", 0.0) if reg is None else reg)
    twin = torch_twin(numpy_net.params)
    opt = _torch_optimizer(optimizer, twin.parameters(), dict(config or {}))
    configs = {k: copy.deepcopy(dict(config or {})) for k in numpy_net.params}
    rng = np.random.default_rng(seed)
    out = []
    for step in range(1, steps + 1):
        idx = rng.choice(len(X), min(batch_size, len(X)), replace=False)
        loss, grads = numpy_net.loss(X[idx], y[idx])
        for k in numpy_net.params:
            numpy_net.params[k], configs[k] = update_rule(numpy_net.params[k], grads[k],
                                                          configs[k])
        twin.train()
        opt.zero_grad()
        scores = twin(torch.as_tensor(np.asarray(X[idx], dtype=np.float64)))
        torch_loss = nn.functional.cross_entropy(scores, torch.as_tensor(y[idx])) \
            + 0.5 * reg * twin.l2()
        torch_loss.backward()
        grad_diff = _max_diff(grads, twin.named_like_numpy(grads=True))
        opt.step()
        out.append(StepDiff(step, float(loss), float(torch_loss.detach()), grad_diff,
                            _max_diff(numpy_net.params, twin.named_like_numpy())))
    return out


@contextlib.contextmanager
def skip_if_not_written(what: str) -> Iterator[None]:
    """Run the block; if it meets an exercise stub (NotImplementedError), print that ``what`` is
    not written yet instead of failing (the student version's cells keep running)."""
    try:
        yield
    except NotImplementedError:
        print(f"{what} not written yet: this step is skipped.")
