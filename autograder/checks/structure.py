"""Structural rules judged from the student's source in the grader (never by running it).

:class:`SourceView` reads the extracted solution cells; :func:`ban_violations` finds uses of
banned names (through any import alias, ``getattr`` with a literal name, or code run by
``exec``/``eval``, which hides what it runs); :class:`NoLoopOverPositions` finds Python loops
whose trip count grows with the batch or spatial size of an input array. Both look into the
exercise's functions and every function or class of the submission they reach.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

#: Calls that run code the grader cannot see.
_DYNAMIC = {"eval", "exec", "compile", "__import__", "importlib", "builtins"}


class SourceView:
    """The student's extracted code: top-level definitions by name, and import aliases.

    units: ``(cell, code)`` pairs whose line numbers are the cells' own.
    """

    def __init__(self, units: Iterable[tuple[str, str]]) -> None:
        self.defs: dict[str, tuple[str, ast.AST]] = {}
        self.aliases: dict[str, str] = {}
        #: top-level names bound by an import, and the cell that imports them
        self.imported: dict[str, str] = {}
        for cell, code in units:
            try:
                tree = ast.parse(code)
            except (SyntaxError, ValueError):
                continue
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    self.defs[node.name] = (cell, node)
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    for a in node.names:
                        self.imported[a.asname or a.name.split(".")[0]] = cell
            for node in ast.walk(tree):
                self._add_aliases(node)

    def _add_aliases(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    self.aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                self.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def reachable(self, names: Iterable[str]) -> list[str]:
        """``names`` and every top-level definition they use, transitively (in order)."""
        todo, seen = [n for n in names if n in self.defs], []
        while todo:
            name = todo.pop(0)
            if name in seen:
                continue
            seen.append(name)
            for node in ast.walk(self.defs[name][1]):
                if isinstance(node, ast.Name) and node.id in self.defs and node.id not in seen:
                    todo.append(node.id)
        return seen

    def dotted(self, node: ast.AST) -> str | None:
        """``torch.nn.functional.conv2d`` for ``F.conv2d`` after ``import torch.nn.functional
        as F``; None for anything that is not a name or attribute chain."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "getattr" and len(node.args) >= 2 and \
                isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str):
            inner = self.dotted(node.args[0])
            return None if inner is None else ".".join([inner, node.args[1].value,
                                                        *reversed(parts)])
        if not isinstance(node, ast.Name):
            return None
        base = self.aliases.get(node.id, node.id)
        return ".".join([base, *reversed(parts)])


def _banned(dotted: str, bans: Iterable[str]) -> str | None:
    return next((b for b in bans if dotted == b or dotted.startswith(b + ".")), None)


def ban_violations(view: SourceView, exercise: Iterable[str], bans: Iterable[str]) -> list[str]:
    """Plain-words uses of banned names inside the exercise (and what it reaches)."""
    bans = tuple(bans)
    if not bans:
        return []
    out: list[str] = []
    for name in view.reachable(exercise):
        cell, tree = view.defs[name]
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                    node.func.id in _DYNAMIC:
                out.append(f"{name} calls {node.func.id} (line {node.lineno} of cell {cell}): "
                           "the grader cannot check code it cannot see")
                continue
            if not isinstance(node, (ast.Name, ast.Attribute, ast.Call)):
                continue
            dotted = view.dotted(node)
            if dotted is None:
                continue
            hit = _banned(dotted, bans) or (_banned(dotted.split(".")[0], _DYNAMIC) and
                                            dotted.split(".")[0])
            if hit:
                out.append(f"{name} uses {dotted} (line {node.lineno} of cell {cell}), "
                           "which this exercise may not use")
    return _dedupe(out)


def imported_exercises(view: SourceView, exercise: Iterable[str]) -> list[str]:
    """An exercise is the student's own ``def``/``class``, never a name imported from a
    library (``from cnnlib.models import BasicBlock as ResidualBlock``)."""
    return [f"{n} is imported ({view.aliases.get(n, n)}), not written: write it yourself in "
            "its exercise cell" for n in exercise if n in view.imported]


def _dedupe(items: list[str]) -> list[str]:
    """Keep the longest text per line: ``torch.nn.functional.conv2d`` over ``torch``."""
    by_line: dict[str, str] = {}
    for item in items:
        key = item.split("(line ", 1)[-1]
        if key not in by_line or len(item) > len(by_line[key]):
            by_line[key] = item
    return list(by_line.values())


class Rule(Protocol):
    """A structural rule: what in the student's source breaks it, in plain words."""

    def violations(self, view: SourceView) -> list[str]: ...


@dataclass(frozen=True)
class NoLoopOverPositions:
    """No Python loop whose trip count grows with the batch or spatial size of an input array.

    functions: the exercise functions judged (and the submission's functions they call).
    array_arg: position of the input array among each function's parameters.
    allowed:   what the notebook allows instead, for the message.

    A name depends on the input when its value is computed from the array, its batch or
    spatial sizes (``x.shape[0]``, ``[2]``, ``[3]``, ``len(x)``) or anything derived from
    those; the channel count ``x.shape[1]`` does not. Looping over such a name, over the array
    itself, or in a ``while`` loop (whose trip count nobody can see) breaks the rule.
    """

    functions: tuple[str, ...]
    array_arg: int = 0
    allowed: str = "a loop over the kernel offsets is fine"

    def violations(self, view: SourceView) -> list[str]:
        out: list[str] = []
        done: set[tuple[str, frozenset[str]]] = set()
        todo = [(f, frozenset({_param(view, f, self.array_arg)} - {None}))
                for f in self.functions if f in view.defs]
        while todo:
            fname, tainted = todo.pop()
            if (fname, tainted) in done:
                continue
            done.add((fname, tainted))
            cell, node = view.defs[fname]
            analysis = _Taint(view, set(tainted))
            analysis.run(node)
            out += [f"{fname} loops over {src} (line {line} of cell {cell}): no Python loop "
                    f"over output positions ({self.allowed})" for line, src in analysis.loops]
            todo += [(g, frozenset(p)) for g, p in analysis.calls if p]
        return list(dict.fromkeys(out))


def _param(view: SourceView, fname: str, index: int) -> str | None:
    node = view.defs[fname][1]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    args = [a.arg for a in node.args.posonlyargs + node.args.args]
    return args[index] if index < len(args) else None


class _Taint:
    """One pass over a function: which names depend on the input, which loops use them."""

    def __init__(self, view: SourceView, tainted: set[str]) -> None:
        self.view, self.tainted = view, tainted
        self.loops: list[tuple[int, str]] = []
        self.calls: list[tuple[str, set[str]]] = []

    def run(self, fn: ast.AST) -> None:
        body = getattr(fn, "body", [])
        for _ in range(3):  # names assigned late in a loop body taint earlier uses next round
            before = set(self.tainted)
            self.loops, self.calls = [], []
            for stmt in body:
                self._stmt(stmt)
            if self.tainted == before:
                break

    def depends(self, node: ast.AST | None) -> bool:
        if node is None:
            return False
        if isinstance(node, ast.Name):
            return node.id in self.tainted
        if isinstance(node, ast.Subscript) and _is_shape(node.value) and \
                isinstance(node.slice, ast.Constant) and node.slice.value == 1:
            return False  # the channel count
        if isinstance(node, ast.Attribute) and node.attr in ("ndim", "dtype"):
            return False
        return any(self.depends(c) for c in ast.iter_child_nodes(node))

    def _assign(self, target: ast.AST, value: ast.AST) -> None:
        if isinstance(target, (ast.Tuple, ast.List)) and _is_shape(value):
            dep = self.depends(value.value)  # type: ignore[attr-defined]
            for i, t in enumerate(target.elts):
                self._mark(t, dep and i != 1)
            return
        self._mark(target, self.depends(value))

    def _mark(self, target: ast.AST, dep: bool) -> None:
        for n in ast.walk(target):
            if isinstance(n, ast.Name) and dep:
                self.tainted.add(n.id)

    def _stmt(self, stmt: ast.AST) -> None:
        for node in _walk_no_defs(stmt):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    self._assign(t, node.value)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                self._assign(node.target, node.value)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
                if self.depends(node.iter):
                    self.loops.append((getattr(node, "lineno", getattr(node.iter, "lineno", 0)),
                                       ast.unparse(node.iter)[:50]))
                    self._mark(node.target, True)
            elif isinstance(node, ast.While):
                self.loops.append((node.lineno, f"a while loop ({ast.unparse(node.test)[:30]})"))
            elif isinstance(node, ast.Call):
                self._call(node)

    def _call(self, node: ast.Call) -> None:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in self.view.defs:
            return
        callee = self.view.defs[name][1]
        if not isinstance(callee, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return
        params = [a.arg for a in callee.args.posonlyargs + callee.args.args]
        hit = {params[i] for i, a in enumerate(node.args) if i < len(params) and self.depends(a)}
        hit |= {k.arg for k in node.keywords if k.arg in params and self.depends(k.value)}
        self.calls.append((name, hit))


def _is_shape(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "shape" or (
        isinstance(node, ast.Subscript) and _is_shape(node.value))


def _walk_no_defs(node: ast.AST) -> Iterator[ast.AST]:
    """``ast.walk`` in source order, not descending into nested functions or classes."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        yield from _walk_no_defs(child)
