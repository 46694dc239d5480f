"""A batch's grades out: ``grades.csv`` (for an LMS), ``grades.json`` (everything), and the
terminal summary.

Texts were cleaned when they entered :mod:`autograder.results`; the CSV writer also neutralises
spreadsheet formulas (a cell starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading
``'``), so no path, CLI or Python API, can put a live formula or an escape sequence in a file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from autograder.results import SubmissionResult, clean_text

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: object) -> str:
    s = clean_text(text, 1000)
    return "'" + s if s.startswith(_FORMULA) else s


def _columns(results: Iterable[SubmissionResult]) -> tuple[list[str], list[str]]:
    auto: list[str] = []
    manual: list[str] = []
    for r in results:
        auto += [c.name for c in r.results if c.name not in auto]
        manual += [m.name for m in r.manual if m.name not in manual]
    return auto, manual


def notes(result: SubmissionResult) -> str:
    """One line for the notes column: the problems, then what to review."""
    parts = [p.text for p in result.problems] + [f"review: {f.text}" for f in result.flags]
    return clean_text("; ".join(parts), 500)


def grades_table(results: Sequence[SubmissionResult], skipped: Sequence = ()
                 ) -> tuple[list[str], list[list[str]]]:
    """Header and rows: a row per student (sorted) with each autograded cell, each written
    answer (empty: to be graded by hand), the autograded total and maximum, the maximum of the
    written answers, and notes; then a row per entry that was not graded."""
    auto, manual = _columns(results)
    header = ["student", *auto, *(f"{m} (manual)" for m in manual), "total", "max_total",
              "manual_max", "notes"]
    rows = []
    for r in sorted(results, key=lambda r: r.student):
        pts = {c.name: c.points for c in r.results}
        rows.append([r.student, *(f"{pts[n]:g}" if n in pts else "" for n in auto),
                     *("" for _ in manual), f"{r.total:g}", f"{r.max_total:g}",
                     f"{r.manual_max:g}", notes(r)])
    for s in skipped:
        rows.append([s.entry, *("" for _ in auto), *("" for _ in manual), "", "", "",
                     f"not graded: {s.reason}"])
    return [_cell(h) for h in header], [[_cell(x) for x in row] for row in rows]


def grades_csv(results: Sequence[SubmissionResult], skipped: Sequence = ()) -> str:
    header, rows = grades_table(results, skipped)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def summary(results: Sequence[SubmissionResult], skipped: Sequence = ()) -> str:
    """The terminal table: student, points, and the first problem or flag."""
    lines = []
    width = max((len(r.student) for r in results), default=7)
    for r in sorted(results, key=lambda r: r.student):
        issues = [p.text for p in r.problems] + [f"review: {f.text}" for f in r.flags]
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        note = f"  {clean_text(issues[0], 100)}{more}" if issues else ""
        lines.append(f"  {r.student:<{width}}  {r.total:g} / {r.max_total:g}{note}")
    for s in skipped:
        lines.append(f"  not graded: {s.entry}: {s.reason}")
    return "\n".join(lines) + "\n"


def write_grades(results: Sequence[SubmissionResult], out_dir: Path | str,
                 skipped: Sequence = ()) -> None:
    """``grades.csv`` and ``grades.json`` into ``out_dir`` (same bytes when regraded)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "grades.csv").write_text(grades_csv(results, skipped), encoding="utf-8")
    doc = {"students": [r.to_dict() for r in sorted(results, key=lambda r: r.student)],
           "not_graded": [{"entry": s.entry, "reason": s.reason} for s in skipped]}
    (out_dir / "grades.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n",
                                         encoding="utf-8")
