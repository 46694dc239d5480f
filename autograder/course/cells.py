"""The one reader of notebook files and of nbgrader cell metadata.

Everything that needs to know what a cell is (the extractor, the self-check, the course's point
totals, the gradebook) asks :func:`cell_info`; nothing else reads ``metadata.nbgrader``. Reading
is safe on hostile files: a size cap, a nesting-depth cap before the JSON parser runs, and every
problem returned as a :class:`~autograder.results.Problem`, never raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from autograder.course.discover import MAX_NOTEBOOK_BYTES, read_submission_bytes
from autograder.results import Problem, ProblemKind
from autograder.sandbox.protocol import json_depth

#: Deepest JSON nesting accepted (a notebook needs about 10).
MAX_JSON_DEPTH = 64

_HIDDEN = re.compile(r"^\s*### BEGIN HIDDEN TESTS.*?^\s*### END HIDDEN TESTS[^\n]*\n?",
                     re.MULTILINE | re.DOTALL)


class CellKind(StrEnum):
    """What nbgrader makes of a cell."""

    SOLUTION = "solution"    # student code (autograded through the test cells)
    TEST = "test"            # autograded test cell with points
    MANUAL = "manual"        # written answer graded by a person (solution + grade)
    TASK = "task"            # a manually graded task cell
    LOCKED = "locked"        # read-only prose or code
    PLAIN = "plain"          # anything else (setup code, prose)


@dataclass(frozen=True)
class CellInfo:
    """nbgrader's view of one cell. ``points`` is 0 when the cell has none or a bad value."""

    kind: CellKind
    grade_id: str | None
    points: float
    cell_type: str
    locked: bool


def cell_info(cell: Any) -> CellInfo:
    """The nbgrader role of ``cell`` (a dict-like notebook cell); junk metadata reads as plain."""
    cell = cell if isinstance(cell, dict) else {}
    meta = cell.get("metadata")
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    nbg = nbg if isinstance(nbg, dict) else {}
    gid = nbg.get("grade_id") if isinstance(nbg.get("grade_id"), str) else None
    ctype = cell.get("cell_type") if isinstance(cell.get("cell_type"), str) else "raw"
    points = _points(nbg.get("points"))
    solution, grade, task = (bool(nbg.get(k)) for k in ("solution", "grade", "task"))
    if task:
        kind = CellKind.TASK
    elif grade and solution:
        kind = CellKind.MANUAL
    elif grade and ctype == "code":
        kind = CellKind.TEST
    elif solution:
        kind = CellKind.SOLUTION
    elif nbg.get("locked"):
        kind = CellKind.LOCKED
    else:
        kind = CellKind.PLAIN
    return CellInfo(kind, gid, points, ctype, bool(nbg.get("locked")))


def _points(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return 0.0
    try:
        x = float(v)
    except ValueError:
        return 0.0
    return x if 0 <= x < 1e6 else 0.0


def cells_of(nb: NotebookNode, *kinds: CellKind) -> Iterator[tuple[int, Any, CellInfo]]:
    """``(index, cell, info)`` of the cells of ``kinds`` (all cells when none is given)."""
    for i, cell in enumerate(nb.cells):
        info = cell_info(cell)
        if not kinds or info.kind in kinds:
            yield i, cell, info


def points_of(nb: NotebookNode, kind: CellKind = CellKind.TEST) -> dict[str, float]:
    """``{grade_id: points}`` of the cells of ``kind``, in notebook order (first copy wins)."""
    out: dict[str, float] = {}
    for _i, _cell, info in cells_of(nb, kind):
        if info.grade_id is not None and info.grade_id not in out:
            out[info.grade_id] = info.points
    return out


def released_source(source: str) -> str:
    """A locked cell's source as nbgrader releases it (hidden-test regions removed)."""
    return _HIDDEN.sub("", source)


# --------------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------------


def read_notebook(source: NotebookNode | dict | bytes | str | Path
                  ) -> tuple[NotebookNode | None, list[Problem]]:
    """A notebook from a path, raw bytes or a dict: ``(notebook, [])`` or ``(None, [problem])``;
    never raises on bad input."""
    if isinstance(source, dict):
        raw = json.dumps(source).encode()
    elif isinstance(source, bytes):
        raw = source[: MAX_NOTEBOOK_BYTES + 1]
    else:
        try:
            raw = read_submission_bytes(source)
        except ValueError as exc:
            return None, [Problem(ProblemKind.UNREADABLE, str(exc))]
    return _parse(raw)


def _parse(raw: bytes) -> tuple[NotebookNode | None, list[Problem]]:
    def bad(text: str) -> tuple[None, list[Problem]]:
        return None, [Problem(ProblemKind.UNREADABLE, text)]

    if len(raw) > MAX_NOTEBOOK_BYTES:
        return bad(f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    if not raw.strip():
        return bad("the notebook file is empty")
    if json_depth(raw, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        return bad("the notebook is not valid JSON (nested too deeply): was it saved properly?")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return bad(f"the notebook is not valid JSON ({str(exc)[:80]}): was it saved properly?")
    if not isinstance(doc, dict) or not isinstance(doc.get("cells", doc.get("worksheets")), list):
        return bad("the file is JSON but not a Jupyter notebook (no list of cells)")
    if doc.get("nbformat") not in (3, 4):
        return bad(f"unsupported notebook format version {str(doc.get('nbformat'))[:20]} "
                   "(expected 4)")
    try:
        nb = nbformat.reads(json.dumps(doc), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds on broken files
        return bad(f"the notebook could not be parsed ({type(exc).__name__})")
    if not all(isinstance(c, dict) and isinstance(c.get("source", ""), str) for c in nb.cells):
        return bad("the notebook has malformed cells")
    return nb, []
