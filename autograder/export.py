"""Grades out of the engine: grades.csv / grades.json, a summary table, the nbgrader gradebook.

The gradebook gets the authoritative automatic score of each autograded test cell: the hidden
check's score replaces nbgrader's ``auto_score`` (nbgrader's own run is compared and flagged in
``grade.grade_notebook``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autograder.extract import read_notebook
from autograder.grade import SubmissionResult


def grades_table(results: Sequence[SubmissionResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per student (sorted), one column per check + total + max."""
    names: list[str] = []
    for r in results:
        for c in r.results:
            if c.name not in names:
                names.append(c.name)
    header = ["student", *names, "total", "max_total"]
    rows = []
    for r in sorted(results, key=lambda r: r.student):
        pts = {c.name: c.points for c in r.results}
        rows.append([r.student, *(f"{pts[n]:g}" if n in pts else "" for n in names),
                     f"{r.total:g}", f"{r.max_total:g}"])
    return header, rows


def grades_csv(results: Sequence[SubmissionResult]) -> str:
    header, rows = grades_table(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def summary(results: Sequence[SubmissionResult]) -> str:
    """A fixed-width table (student, total, flags) for the terminal."""
    header, rows = grades_table(results)
    flags = {r.student: len(r.flags) for r in results}
    cols = [header[0], header[-2], header[-1], "flags"]
    table = [[row[0], row[-2], row[-1], str(flags[row[0]])] for row in rows]
    widths = [max(len(x) for x in col) for col in zip(cols, *table, strict=True)]
    lines = ["  ".join(x.ljust(wd) for x, wd in zip(line, widths, strict=True))
             for line in [cols, *table]]
    return "\n".join(lines) + "\n"


def write_grades(results: Sequence[SubmissionResult], out_dir: Path | str) -> None:
    """``grades.csv`` (LMS) and ``grades.json`` (everything, incl. problems and flags)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grades.csv").write_text(grades_csv(results), encoding="utf-8")
    doc = [r.to_dict() for r in sorted(results, key=lambda r: r.student)]
    (out_dir / "grades.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n",
                                         encoding="utf-8")


def write_gradebook(gradebook: Path | str, assignment: str, notebook: str,
                    source_nb: Path | str, results: Sequence[SubmissionResult],
                    course_id: str = "default_course") -> None:
    """Set each student's ``auto_score`` of every checked grade cell to the hidden-check score.

    Creates the assignment, notebook, grade cells (from the source notebook), students and
    submissions when nbgrader has not. Cells without a hidden check keep nbgrader's score.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    src, problems = read_notebook(source_nb)
    if src is None:
        raise ValueError(f"source notebook unreadable: {problems[0]}")
    grade_cells = {}
    for cell in src.cells:
        nbg = cell.get("metadata", {}).get("nbgrader", {})
        if nbg.get("grade") and nbg.get("grade_id"):
            grade_cells[nbg["grade_id"]] = (float(nbg.get("points", 0)), cell.cell_type)
    if shutil.which("alembic") is None:  # nbgrader's Gradebook runs the alembic script
        os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]
    gb = Gradebook(f"sqlite:///{Path(gradebook).resolve()}", course_id=course_id)
    try:
        with warnings.catch_warnings():
            # nbgrader's add_submission trips SQLAlchemy's autoflush warnings: harmless noise
            warnings.simplefilter("ignore", SAWarning)
            _fill_gradebook(gb, assignment, notebook, grade_cells, results)
    finally:
        gb.close()
    os.chmod(gradebook, 0o600)


def _fill_gradebook(gb: Any, assignment: str, notebook: str,
                    grade_cells: dict[str, tuple[float, str]],
                    results: Sequence[SubmissionResult]) -> None:
    """Write the scores into an open gradebook (one commit per student)."""
    from nbgrader.api import Grade, MissingEntry

    gb.update_or_create_assignment(assignment)
    gb.update_or_create_notebook(notebook, assignment)
    for gid, (pts, ctype) in grade_cells.items():
        gb.update_or_create_grade_cell(gid, notebook, assignment, max_score=pts,
                                       cell_type=ctype)
    for r in sorted(results, key=lambda r: r.student):
        gb.update_or_create_student(r.student)
        gb.update_or_create_submission(assignment, r.student)
        for c in r.results:
            if c.name not in grade_cells:
                continue
            try:
                grade = gb.find_grade(c.name, notebook, assignment, r.student)
            except MissingEntry:
                # the cell was added after nbgrader created this submission
                sub = gb.find_submission_notebook(notebook, assignment, r.student)
                cell = gb.find_grade_cell(c.name, notebook, assignment)
                grade = Grade(cell_id=cell.id, notebook=sub)
                gb.db.add(grade)
            grade.auto_score = min(c.points, grade_cells[c.name][0])
        gb.db.commit()
