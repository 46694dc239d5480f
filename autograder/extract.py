"""Take the student's code out of a submitted notebook, trusting only the source notebook.

Students can edit anything in their copy, metadata included, so the *source* notebook decides
which cells are solution cells (by ``grade_id``) and what locked cells must contain. From the
solution cells only top-level ``import``, ``from ... import``, ``def`` and ``class`` are kept:
top-level statements (prints, IPython hooks, monkeypatches, demo calls) never run at grading time.
Everything odd about the submission is reported as a *problem* (plain words), never raised.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAGIC = re.compile(r"^(\s*)(%|!)")
_HIDDEN = re.compile(r"^\s*### BEGIN HIDDEN TESTS.*?^\s*### END HIDDEN TESTS[^\n]*\n?",
                     re.MULTILINE | re.DOTALL)


@dataclass
class ExtractedCode:
    """Code to run in the sandbox plus what was wrong with the submission.

    code:        imports of the source notebook's setup cells, then the top-level
                 ``import``/``def``/``class`` of each solution cell (source-notebook order).
    problems:    plain-words problems (unreadable file, deleted/duplicated/renamed grade cells,
                 edited locked cells, syntax errors), sorted in notebook order.
    test_points: ``{grade_id: points}`` the *submission* claims for its autograded test cells.
    """

    code: str
    problems: list[str] = field(default_factory=list)
    test_points: dict[str, float] = field(default_factory=dict)


def _nbgrader(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {}) if isinstance(cell, dict) else {}
    nbg = meta.get("nbgrader", {}) if isinstance(meta, dict) else {}
    return nbg if isinstance(nbg, dict) else {}


def _grade_id(cell: Any) -> str | None:
    gid = _nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def read_notebook(nb_or_path: NotebookNode | str | Path) -> tuple[NotebookNode | None, list[str]]:
    """Read a notebook robustly: ``(notebook, [])`` or ``(None, [problem])``, never raises."""
    if isinstance(nb_or_path, dict):
        return nbformat.from_dict(nb_or_path), []
    path = Path(nb_or_path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [f"the notebook could not be read ({exc.strerror or exc})"]
    if not raw.strip():
        return None, ["the notebook file is empty"]
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, [f"the notebook is not valid JSON ({str(exc)[:120]}): was it saved properly?"]
    if not isinstance(doc, dict) or not isinstance(doc.get("cells", doc.get("worksheets")), list):
        return None, ["the file is JSON but not a Jupyter notebook (no list of cells)"]
    major = doc.get("nbformat")
    if major not in (3, 4):
        return None, [f"unsupported notebook format version {major!r} (expected 4)"]
    try:
        nb = nbformat.reads(json.dumps(doc), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on broken files
        return None, [f"the notebook could not be parsed ({type(exc).__name__}: {exc})"[:200]]
    if not all(isinstance(c, dict) and isinstance(c.get("source", ""), str) for c in nb.cells):
        return None, ["the notebook has malformed cells"]
    return nb, []


def strip_magics(source: str) -> str:
    """Replace IPython magics and shell lines (``%...``, ``!...``) by ``pass`` (same indent)."""
    return "\n".join(
        (m.group(1) + "pass") if (m := _MAGIC.match(line)) else line
        for line in source.splitlines()
    )


def released_source(source: str) -> str:
    """A locked cell's source as nbgrader releases it (hidden-test regions removed)."""
    return _HIDDEN.sub("", source)


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def top_level(source: str, label: str, problems: list[str],
              kinds: tuple[type, ...] = KEEP) -> list[str]:
    """Source segments of the top-level statements of ``kinds`` (decorators included)."""
    try:
        tree = ast.parse(strip_magics(source))
    except SyntaxError as exc:
        problems.append(f"{label} has a syntax error (line {exc.lineno}: {exc.msg}); "
                        "its code was not graded")
        return []
    except ValueError:  # null bytes (Python < 3.12 raises ValueError, not SyntaxError)
        problems.append(f"{label} has a syntax error (it contains null bytes); "
                        "its code was not graded")
        return []
    lines = strip_magics(source).splitlines()
    out = []
    for node in tree.body:
        if isinstance(node, kinds):
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            out.append("\n".join(lines[start - 1: node.end_lineno]))
    return out


def _names(code: str) -> set[str]:
    """Every identifier the code loads (``np`` in ``np.zeros``)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _bound(import_src: str) -> set[str]:
    """Names an import statement binds (``import torch.nn as nn`` -> ``{"nn"}``)."""
    out = set()
    for node in ast.parse(import_src).body:
        for alias in getattr(node, "names", []):
            out.add(alias.asname or alias.name.split(".")[0])
    return out


def solution_code(nb_or_path: NotebookNode | str | Path,
                  source_nb: NotebookNode | str | Path | None = None) -> ExtractedCode:
    """Extract the gradable code of a submission.

    nb_or_path: the submitted notebook (node or path; may be broken in any way).
    source_nb:  the instructor's source notebook. When given, solution cells are chosen by its
                grade_ids and locked cells are compared with it; without it, the submission's
                own metadata is used (and that is reported).
    Returns an :class:`ExtractedCode`; never raises on a bad submission.
    """
    nb, problems = read_notebook(nb_or_path)
    if nb is None:
        return ExtractedCode("", problems)
    sub_cells: dict[str, list[Any]] = {}
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid is not None:
            sub_cells.setdefault(gid, []).append(cell)
    test_points = {}
    for gid, cells in sorted(sub_cells.items()):
        nbg = _nbgrader(cells[0])
        if nbg.get("grade") and not nbg.get("solution"):
            try:
                test_points[gid] = float(nbg.get("points", 0))
            except (TypeError, ValueError):
                test_points[gid] = 0.0

    if source_nb is None:
        problems.append("no source notebook given: solution cells were taken from the "
                        "submission's own metadata")
        solution_ids = [g for g, cs in sub_cells.items() if _nbgrader(cs[0]).get("solution")]
        setup = [c for c in nb.cells if c.get("cell_type") == "code" and _grade_id(c) is None]
        locked: list[Any] = []
    else:
        src, src_problems = read_notebook(source_nb)
        if src is None:
            raise ValueError(f"the source notebook is unreadable: {src_problems[0]}")
        solution_ids = [_grade_id(c) for c in src.cells
                        if _nbgrader(c).get("solution") and c.get("cell_type") == "code"]
        setup = [c for c in src.cells if c.get("cell_type") == "code" and _grade_id(c) is None]
        locked = [c for c in src.cells if _nbgrader(c).get("locked") and _grade_id(c)]
        known = {_grade_id(c) for c in src.cells if _grade_id(c)}
        for gid in sorted(set(sub_cells) - known):
            problems.append(f"cell with unknown grade_id {gid!r} (a renamed grade cell?): "
                            "it was ignored")
        for cell in src.cells:
            gid = _grade_id(cell)
            if gid is None:
                continue
            n = len(sub_cells.get(gid, []))
            if n == 0:
                problems.append(f"grade cell {gid!r} is missing (deleted or renamed)")
            elif n > 1:
                problems.append(f"grade cell {gid!r} appears {n} times (duplicated): "
                                "only the first copy was used")
        for cell in locked:
            gid = _grade_id(cell)
            got = sub_cells.get(gid)
            if not got:
                continue
            if _norm(got[0].get("source", "")) != _norm(released_source(cell.source)):
                problems.append(f"locked cell {gid!r} was edited")
            sp, gp = _nbgrader(cell).get("points"), _nbgrader(got[0]).get("points")
            if sp is not None and str(sp) != str(gp):
                problems.append(f"the points of cell {gid!r} were changed from {sp} to {gp}")

    parts = []
    for gid in solution_ids:
        cells = sub_cells.get(gid)
        if not cells or cells[0].get("cell_type") != "code":
            continue
        segs = top_level(cells[0].get("source", ""), f"cell {gid!r}", problems)
        if segs:
            parts.append(f"# --- cell {gid} ---\n" + "\n\n".join(segs))
    # The notebook's setup imports that the solutions use (``np``, ``torch``...): importing
    # torch or matplotlib costs the sandbox seconds, so unused ones are left out.
    used = _names("\n\n".join(parts))
    header = [seg for c in setup for seg in top_level(
        c.get("source", ""), "a setup cell", [], (ast.Import, ast.ImportFrom))
        if _bound(seg) & used]
    if header:
        parts.insert(0, "# --- setup imports ---\n" + "\n".join(header))
    code = "\n\n".join(parts) + ("\n" if parts else "")
    return ExtractedCode(code, problems, test_points)
