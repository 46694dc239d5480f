"""Per-student feedback: an HTML page and a Gradescope-format ``results.json``.

Only check names, points, messages and notebook problems are shown, never hidden inputs, check
sources or instructor flags. Every text comes from :mod:`autograder.results`, where it was
cleaned and capped; here it is HTML-escaped as well.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from autograder.results import SubmissionResult

_CSS = """body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.4}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;
text-align:left;vertical-align:top}.ok{background:#e8f5e9}.part{background:#fff8e1}
.bad{background:#ffebee}.num{text-align:right;white-space:nowrap}"""

#: Gradescope visibility values (when students see a test).
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")


def _fmt(x: float) -> str:
    return f"{x:g}"


def feedback_html(result: SubmissionResult) -> str:
    """A self-contained page: the total, one row per test cell, written answers awaiting a
    person, problems with the notebook."""
    e = html.escape
    rows = []
    for r in result.results:
        cls = "ok" if r.points >= r.max_points else ("part" if r.points > 0 else "bad")
        rows.append(f'<tr class="{cls}"><td>{e(r.name)}</td>'
                    f'<td class="num">{_fmt(r.points)} / {_fmt(r.max_points)}</td>'
                    f"<td>{e(r.message)}</td></tr>")
    for m in result.manual:
        rows.append(f'<tr><td>{e(m.name)}</td><td class="num">? / {_fmt(m.max_points)}</td>'
                    "<td>a written answer: your instructor grades it by hand</td></tr>")
    problems = "".join(f"<li>{e(p.text)}</li>" for p in result.problems)
    manual = (f" (+ up to {_fmt(result.manual_max)} for written answers, graded by hand)"
              if result.manual else "")
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{e(result.assignment)}: feedback for {e(result.student)}</title>"
        f"<style>{_CSS}</style></head><body>\n"
        f"<h1>{e(result.assignment)}</h1>\n<p>Student: <b>{e(result.student)}</b></p>\n"
        f"<p>Score from the hidden checks: <b>{_fmt(result.total)} / "
        f"{_fmt(result.max_total)}</b>{e(manual)}</p>\n"
        "<table><tr><th>Test</th><th>Points</th><th>What we found</th></tr>\n"
        + "\n".join(rows) + "\n</table>\n"
        + (f"<h2>Problems with the notebook</h2><ul>{problems}</ul>\n" if problems else "")
        + "</body></html>\n"
    )


def gradescope_json(result: SubmissionResult, visibility: str = "visible") -> dict[str, Any]:
    """Gradescope's autograder ``results.json``: the overall score and one test per autograded
    cell (score, max_score, status, output). Written answers are left to Gradescope's manual
    grading and only mentioned in the overall output."""
    if visibility not in VISIBILITY:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITY)}, got {visibility!r}")
    out: dict[str, Any] = {
        "score": result.total,
        "visibility": visibility,
        "stdout_visibility": "hidden",
        "tests": [
            {"name": r.name, "score": r.points, "max_score": r.max_points,
             "status": "passed" if r.points >= r.max_points else "failed",
             "output": r.message, "visibility": visibility}
            for r in result.results
        ],
    }
    lines = [f"- {p.text}" for p in result.problems]
    if result.manual:
        lines.append(f"- written answers ({', '.join(m.name for m in result.manual)}) are "
                     "graded by hand")
    if lines:
        out["output"] = "About your notebook:\n" + "\n".join(lines)
    return out


def write(result: SubmissionResult, folder: Path | str, visibility: str = "visible") -> None:
    """``feedback.html`` and ``results.json`` of one student, into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feedback.html").write_text(feedback_html(result), encoding="utf-8")
    (folder / "results.json").write_text(
        json.dumps(gradescope_json(result, visibility), indent=2, sort_keys=True) + "\n",
        encoding="utf-8")
