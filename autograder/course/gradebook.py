"""Scores into nbgrader's gradebook, and nbgrader's own autograde scores out of it.

The hidden checks' score replaces nbgrader's ``auto_score`` of each autograded test cell (the
authoritative automatic score); written-answer cells are created as manually graded cells and
left for a person: never auto-scored, so a missing answer is never a silent 0.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

from autograder.course.cells import CellKind, cells_of, read_notebook
from autograder.results import SubmissionResult


def ensure_alembic_on_path() -> None:
    """nbgrader's Gradebook runs the ``alembic`` script by name: make the interpreter's scripts
    folder findable even when the venv is not activated (``.venv/bin/cnnkit``)."""
    if shutil.which("alembic") is None:
        bindir = str(Path(sys.executable).parent)
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


@contextlib.contextmanager
def open_gradebook(path: Path | str, course_id: str) -> Iterator[Any]:
    """An open ``nbgrader.api.Gradebook`` (closed after), SQLAlchemy's noise silenced."""
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    ensure_alembic_on_path()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    gb = Gradebook(f"sqlite:///{Path(path).resolve()}", course_id=course_id)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            yield gb
    finally:
        gb.close()


def record(gradebook: Path | str, course_id: str, assignment: str, notebook: str,
           source: NotebookNode | Path | str, results: Sequence[SubmissionResult]) -> None:
    """Write each student's hidden-check scores into the gradebook; create the assignment,
    notebook, grade cells (autograded and manual, from the source notebook), students and
    submissions nbgrader has not created yet. Manual cells get no score."""
    src, problems = read_notebook(source)
    if src is None:
        raise ValueError(f"source notebook unreadable: {problems[0].text}")
    cells = {info.grade_id: (info.points, cell.get("cell_type", "code"))
             for _i, cell, info in cells_of(src, CellKind.TEST, CellKind.MANUAL, CellKind.TASK)
             if info.grade_id}
    with open_gradebook(gradebook, course_id) as gb:
        gb.update_or_create_assignment(assignment)
        gb.update_or_create_notebook(notebook, assignment)
        for gid, (pts, ctype) in cells.items():
            gb.update_or_create_grade_cell(gid, notebook, assignment, max_score=pts,
                                           cell_type=ctype)
        cell_ids = {c.name: c.id for c in gb.find_notebook(notebook, assignment).grade_cells}
        for r in sorted(results, key=lambda r: r.student):
            _record_one(gb, assignment, notebook, cells, cell_ids, r)
    os.chmod(gradebook, 0o600)


def _record_one(gb: Any, assignment: str, notebook: str, cells: dict[str, tuple[float, str]],
                cell_ids: dict[str, str], r: SubmissionResult) -> None:
    from nbgrader.api import Grade

    gb.update_or_create_student(r.student)
    gb.update_or_create_submission(assignment, r.student)
    sub = gb.find_submission_notebook(notebook, assignment, r.student)
    grades = {g.cell_id: g for g in sub.grades}  # one query, not one per cell
    for c in r.results:
        if c.name not in cells:
            continue
        grade = grades.get(cell_ids[c.name])
        if grade is None:  # the cell was added after nbgrader made this submission
            grade = Grade(cell_id=cell_ids[c.name], notebook=sub)
            gb.db.add(grade)
        grade.auto_score = min(c.points, cells[c.name][0])
    gb.db.commit()


def nbgrader_scores(autograded_nb: Path | str) -> dict[str, float]:
    """Points nbgrader's own autograde gave each test cell (from its autograded notebook)."""
    from nbgrader.utils import determine_grade

    nb, _ = read_notebook(autograded_nb)
    out: dict[str, float] = {}
    if nb is None:
        return out
    for _i, cell, info in cells_of(nb, CellKind.TEST):
        got, _max = determine_grade(cell)
        if got is not None and info.grade_id:
            out[info.grade_id] = float(got)
    return out
