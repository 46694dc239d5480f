"""What leaves the engine (feedback.html, results.json, grades.csv, the terminal summary): only
cleaned, capped, escaped text, whatever path built the results."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.engine import export, feedback
from autograder.results import (
    CheckResult,
    Flag,
    FlagKind,
    ManualItem,
    Problem,
    ProblemKind,
    Skipped,
    SubmissionResult,
    check_student_id,
    clean_text,
)

HOSTILE = "\x1b[2J\x1b[31m=HYPERLINK(\"http://x\")\u202e<script>alert(1)</script>" + "x" * 5000


def _result(student: str = "ann") -> SubmissionResult:
    return SubmissionResult(
        student, "99_fixture",
        [CheckResult("test_a", 1.0, 2.0, HOSTILE), CheckResult("test_b", 3.0, 3.0, "right")],
        problems=[Problem(ProblemKind.LOCKED_EDITED, "locked cell <x> was edited")],
        flags=[Flag(FlagKind.ISOLATION, "no cgroup")],
        manual=[ManualItem("q_why", 2.0)])


def test_student_text_is_cleaned_and_capped_when_it_enters_the_model() -> None:
    r = _result()
    msg = r.results[0].message
    assert "\x1b" not in msg and "\u202e" not in msg and len(msg) == 300 and msg.endswith("…")


@pytest.mark.parametrize("bad", ["=cmd|' /C calc'!A0", "a\nb", "", "x" * 65, "../etc", "-x",
                                 "ann\x1b[2J", "+1", "@sum"])
def test_unusable_student_ids_are_refused_on_every_path(bad: str) -> None:
    with pytest.raises(ValueError, match="not a usable student id"):
        check_student_id(bad)
    with pytest.raises(ValueError):
        SubmissionResult(bad, "a", [])


def test_csv_has_manual_columns_notes_and_skipped_rows_with_formulas_neutralised() -> None:
    rows = list(csv.reader(io.StringIO(export.grades_csv(
        [_result("bo"), _result("ann")], [Skipped("=evil.ipynb", "a symbolic link", "SYMLINK")]))))
    assert rows[0] == ["student", "test_a", "test_b", "q_why (manual)", "total", "max_total",
                       "manual_max", "notes"]
    assert rows[1][:7] == ["ann", "1", "3", "", "4", "5", "2"]
    assert rows[1][7] == "locked cell <x> was edited; review: no cgroup"
    assert rows[3][0] == "'=evil.ipynb" and rows[3][-1] == "not graded: a symbolic link"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=400))
def test_no_cell_of_the_csv_can_hold_a_formula_or_a_control_character(text: str) -> None:
    r = SubmissionResult("ann", "a", [CheckResult(text or "t", 0.0, 1.0, text)],
                         problems=[Problem(ProblemKind.SYNTAX, text)])
    out = export.grades_csv([r], [Skipped(text, text)])
    for row in csv.reader(io.StringIO(out)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
            assert not any(ord(ch) < 32 for ch in cell)


def test_summary_is_one_clean_line_per_student() -> None:
    text = export.summary([_result()], [Skipped("bad\x1b[0m", "a FIFO")])
    assert "\x1b" not in text
    assert text.splitlines()[0].startswith("  ann  4 / 5  locked cell <x> was edited (+1 more)")
    assert text.splitlines()[1] == "  not graded: bad[0m: a FIFO"


def test_feedback_page_escapes_everything_and_hides_the_flags() -> None:
    page = feedback.feedback_html(_result())
    assert "<script>" not in page and "&lt;script&gt;" in page and "\x1b" not in page
    assert "1 / 2" in page and "4 / 5" in page and "? / 2" in page
    assert "no cgroup" not in page, "flags are for the instructor"
    assert len(page) < 10_000


def test_results_json_follows_gradescopes_format() -> None:
    doc = feedback.gradescope_json(_result(), visibility="after_published")
    assert doc["score"] == 4.0 and doc["visibility"] == "after_published"
    assert doc["tests"][0]["status"] == "failed" and doc["tests"][1]["status"] == "passed"
    assert doc["tests"][0]["max_score"] == 2.0 and len(doc["tests"][0]["output"]) == 300
    assert "q_why" in doc["output"] and "graded by hand" in doc["output"]
    with pytest.raises(ValueError, match="visibility must be one of"):
        feedback.gradescope_json(_result(), visibility="public")


def test_written_files_are_small_and_byte_stable(tmp_path) -> None:
    for _ in range(2):
        feedback.write(_result(), tmp_path / "ann")
        export.write_grades([_result()], tmp_path, [Skipped("x", "y")])
    first = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    feedback.write(_result(), tmp_path / "ann")
    export.write_grades([_result()], tmp_path, [Skipped("x", "y")])
    again = {p.name: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert first == again and all(len(b) < 16_000 for b in first.values())
    doc = json.loads((tmp_path / "grades.json").read_text())
    assert doc["not_graded"] == [{"entry": "x", "reason": "y"}]


def test_clean_text_keeps_ordinary_text() -> None:
    assert clean_text("conv output is wrong: it looks like the kernel is flipped (é, ∑)") == \
        "conv output is wrong: it looks like the kernel is flipped (é, ∑)"
    assert clean_text("a\n\tb") == "a b"
