"""Take the student's code out of a submitted notebook, trusting only the source notebook.

Students can edit anything in their copy, metadata included, so the instructor's *source*
notebook decides which cells are solution cells (by grade id) and what locked cells must say.
From each solution cell only the top-level ``import``, ``def`` and ``class`` statements are kept,
cut at their exact extent (``import x; stmt`` keeps ``import x`` only), and placed on the cell's
own line numbers, so a traceback or syntax error points at the student's cell and line. Setup
imports come from the source notebook's own setup cells. Everything odd about the submission is
a :class:`~autograder.results.Problem`, never an exception.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from autograder.course.cells import CellKind, cell_info, read_notebook, released_source
from autograder.results import Problem, ProblemKind

KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAGIC = re.compile(r"^(\s*)(%|!)")
SETUP = "setup"


@dataclass
class Extracted:
    """What the grader takes from one submission.

    units:          ``(cell, code)`` to load in the sandbox, in source-notebook order; the
                    code keeps the cell's line numbers (dropped lines are blank).
    problems:       what is wrong with the submission, in notebook order.
    claimed_points: ``{grade_id: points}`` the submission's own test cells claim.
    broken:         ``{cell: problem}`` of solution cells whose code could not be used.
    defined_in:     ``{name: cell}``: where the source notebook defines each top-level name.
    """

    units: list[tuple[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    claimed_points: dict[str, float] = field(default_factory=dict)
    broken: dict[str, Problem] = field(default_factory=dict)
    defined_in: dict[str, str] = field(default_factory=dict)

    @property
    def has_code(self) -> bool:
        return any(cell != SETUP for cell, _ in self.units)


def strip_magics(source: str) -> str:
    """IPython magics and shell lines (``%...``, ``!...``) become ``pass`` (same indent)."""
    return "\n".join((m.group(1) + "pass") if (m := _MAGIC.match(line)) else line
                     for line in source.splitlines())


def kept_code(source: str, kinds: tuple[type, ...] = KEEP) -> str:
    """The top-level statements of ``kinds`` of ``source`` at their own line numbers, everything
    else blank. Raises SyntaxError/ValueError when ``source`` does not parse."""
    text = strip_magics(source)
    tree = ast.parse(text)
    lines = text.splitlines()
    out = [""] * len(lines)
    for node in tree.body:
        if not isinstance(node, kinds):
            continue
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        col = node.col_offset if start == node.lineno else 0  # decorators start the line
        end, end_col = node.end_lineno or node.lineno, node.end_col_offset
        if start == end:
            seg = [lines[start - 1][col:end_col]]
        else:
            seg = [lines[start - 1][col:], *lines[start: end - 1], lines[end - 1][:end_col]]
        for k, line in enumerate(seg):
            i = start - 1 + k
            out[i] = f"{out[i]}; {line}" if out[i] and k == 0 else line
    code = "\n".join(out) + "\n"
    ast.parse(code)  # a cut that does not parse would be a bug here, not the student's
    return code


def _bound_names(code: str) -> set[str]:
    out = set()
    for node in ast.parse(code).body:
        for alias in getattr(node, "names", []):
            out.add(alias.asname or alias.name.split(".")[0])
    return out


def _loaded_names(code: str) -> set[str]:
    return {n.id for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Name)}


def _defined_names(code: str) -> list[str]:
    try:
        return [n.name for n in ast.parse(strip_magics(code)).body
                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    except (SyntaxError, ValueError):
        return []


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def extract(submission: NotebookNode | dict | bytes | str | Path,
            source: NotebookNode | dict | str | Path) -> Extracted:
    """The gradable code of ``submission`` (any file, however broken), read with the solution
    cells, setup imports and locked texts of the instructor's ``source`` notebook."""
    src, src_problems = read_notebook(source)
    if src is None:
        raise ValueError(f"the source notebook is unreadable: {src_problems[0].text}")
    out = Extracted()
    out.defined_in = {name: info.grade_id for _i, cell, info in _cells(src, CellKind.SOLUTION)
                      if cell.get("cell_type") == "code"
                      for name in _defined_names(cell.get("source", ""))}
    nb, out.problems = read_notebook(submission)
    if nb is None:
        return out
    by_id = _by_grade_id(nb)
    out.claimed_points = {gid: cells[0][1].points for gid, cells in by_id.items()
                          if cells[0][1].kind == CellKind.TEST}
    out.problems += _integrity(src, by_id)
    for _i, cell, info in _cells(src, CellKind.SOLUTION):
        if cell.get("cell_type") != "code":
            continue
        got = by_id.get(info.grade_id)
        if not got or got[0][0].get("cell_type") != "code":
            continue
        gid, source = info.grade_id, got[0][0].get("source", "")
        try:
            if "\x00" in source:  # SyntaxError or ValueError, depending on the Python
                raise ValueError("null bytes")
            code = kept_code(source)
        except SyntaxError as exc:
            out.broken[gid] = Problem(ProblemKind.SYNTAX, f"cell {gid} has a syntax error (line "
                                      f"{exc.lineno}: {exc.msg}); its code was not graded", gid)
            continue
        except ValueError:
            out.broken[gid] = Problem(ProblemKind.SYNTAX, f"cell {gid} contains null bytes; its "
                                      "code was not graded", gid)
            continue
        out.units.append((gid, code))
    out.problems += list(out.broken.values())
    setup = _setup_imports(src, "\n".join(code for _, code in out.units))
    if setup:
        out.units.insert(0, (SETUP, setup))
    return out


def _cells(nb: NotebookNode, kind: CellKind) -> list[tuple[int, Any, Any]]:
    return [(i, c, info) for i, c in enumerate(nb.cells)
            if (info := cell_info(c)).kind == kind and info.grade_id is not None]


def _by_grade_id(nb: NotebookNode) -> dict[str, list[tuple[Any, Any]]]:
    out: dict[str, list[tuple[Any, Any]]] = {}
    for cell in nb.cells:
        info = cell_info(cell)
        if info.grade_id is not None:
            out.setdefault(info.grade_id, []).append((cell, info))
    return out


def _integrity(src: NotebookNode, by_id: dict[str, list[tuple[Any, Any]]]) -> list[Problem]:
    """Deleted, duplicated, renamed and edited grade cells, compared with the source."""
    problems: list[Problem] = []
    known = set()
    for cell in src.cells:
        info = cell_info(cell)
        gid = info.grade_id
        if gid is None:
            continue
        known.add(gid)
        got = by_id.get(gid, [])
        if not got:
            problems.append(Problem(ProblemKind.CELL_MISSING,
                                    f"grade cell {gid} is missing (deleted or renamed)", gid))
            continue
        if len(got) > 1:
            problems.append(Problem(ProblemKind.CELL_DUPLICATED, f"grade cell {gid} appears "
                                    f"{len(got)} times (duplicated): the first copy was used", gid))
        # compared as released: a self-learner's walkthrough still holds the hidden tests
        if info.locked and _norm(released_source(got[0][0].get("source", ""))) != \
                _norm(released_source(cell.get("source", ""))):
            problems.append(Problem(ProblemKind.LOCKED_EDITED, f"locked cell {gid} was edited",
                                    gid))
        if info.kind == CellKind.TEST and got[0][1].points != info.points:
            problems.append(Problem(ProblemKind.POINTS_CHANGED, f"the points of cell {gid} were "
                                    f"changed from {info.points:g} to {got[0][1].points:g}", gid))
    for gid in sorted(set(by_id) - known):
        problems.append(Problem(ProblemKind.CELL_UNKNOWN, f"a cell has the unknown grade id "
                                f"{gid!r} (a renamed grade cell?): it was ignored", gid))
    return problems


def _setup_imports(src: NotebookNode, code: str) -> str:
    """The source notebook's setup imports that the student's code uses (``np``, ``torch``):
    importing unused ones (torch, matplotlib) would only cost the sandbox time."""
    used = _loaded_names(code) if code.strip() else set()
    lines: list[str] = []
    for cell in src.cells:
        if cell.get("cell_type") != "code" or cell_info(cell).kind != CellKind.PLAIN:
            continue
        try:
            kept = kept_code(cell.get("source", ""), (ast.Import, ast.ImportFrom))
        except (SyntaxError, ValueError):
            continue
        for stmt in ast.parse(kept).body:
            seg = ast.unparse(stmt)
            if _bound_names(seg) & used and seg not in lines:
                lines.append(seg)
    return "\n".join(lines) + "\n" if lines else ""
