"""Per-student feedback: an HTML page and a Gradescope-style ``results.json``.

Everything that comes from a student (ids, messages quoting their values or exceptions) is
HTML-escaped. Only check names, points and messages are shown, never hidden test source.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from autograder.grade import SubmissionResult

_CSS = """body{font-family:sans-serif;max-width:52em;margin:2em auto;line-height:1.4}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.4em;
text-align:left;vertical-align:top}.ok{background:#e8f5e9}.part{background:#fff8e1}
.bad{background:#ffebee}.num{text-align:right;white-space:nowrap}"""


def _fmt(x: float) -> str:
    return f"{x:g}"


def feedback_html(result: SubmissionResult) -> str:
    """A self-contained HTML page: total, one row per hidden check, problems with the notebook."""
    e = html.escape
    rows = []
    for r in result.results:
        cls = "ok" if r.points >= r.max_points else ("part" if r.points > 0 else "bad")
        rows.append(f'<tr class="{cls}"><td>{e(r.name)}</td>'
                    f'<td class="num">{_fmt(r.points)} / {_fmt(r.max_points)}</td>'
                    f"<td>{e(r.message)}</td></tr>")
    problems = "".join(f"<li>{e(p)}</li>" for p in result.problems)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{e(result.assignment)}: feedback for {e(result.student)}</title>"
        f"<style>{_CSS}</style></head><body>\n"
        f"<h1>{e(result.assignment)}</h1>\n<p>Student: <b>{e(result.student)}</b></p>\n"
        f"<p>Score from the hidden checks: <b>{_fmt(result.total)} / "
        f"{_fmt(result.max_total)}</b></p>\n"
        "<table><tr><th>Test</th><th>Points</th><th>What we found</th></tr>\n"
        + "\n".join(rows) + "\n</table>\n"
        + (f"<h2>Problems with the notebook</h2><ul>{problems}</ul>\n" if problems else "")
        + "</body></html>\n"
    )


def gradescope_json(result: SubmissionResult) -> dict[str, Any]:
    """Gradescope autograder ``results.json``: total score and one entry per test."""
    out: dict[str, Any] = {
        "score": result.total,
        "tests": [
            {"name": r.name, "score": r.points, "max_score": r.max_points, "output": r.message,
             "visibility": "visible"}
            for r in result.results
        ],
    }
    if result.problems:
        out["output"] = "Problems with the notebook:\n" + "\n".join(
            f"- {p}" for p in result.problems)
    return out


def write_feedback(result: SubmissionResult, folder: Path | str) -> None:
    """Write ``feedback.html`` and ``results.json`` for one student into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "feedback.html").write_text(feedback_html(result), encoding="utf-8")
    (folder / "results.json").write_text(
        json.dumps(gradescope_json(result), indent=2, sort_keys=True) + "\n", encoding="utf-8")
