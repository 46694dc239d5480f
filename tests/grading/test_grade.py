"""Scoring, seeds, collection, reports, exports; the whole pipeline (slow) on the fixture and
on notebook 1 when it exists."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from pathlib import Path

import nbformat
import numpy as np
import pytest
from fixtures.nbtools import stub_solutions

from autograder import export, report
from autograder.checkkit import Call, Check, Verdict
from autograder.grade import (
    CheckResult,
    SubmissionResult,
    case_rng,
    collect_submissions,
    course_seed,
    grade_assignment,
    grade_notebook,
    score,
)
from autograder.sandbox import CheckFailure, SandboxFailure
from grading import fixture_checks as fc
from grading.fixture_notebook import CONV, make_source, make_submission, write

ROOT = Path(__file__).resolve().parents[2]
NB1 = ROOT / "notebooks" / "01_conv_arithmetic" / "conv_arithmetic.ipynb"


def test_cases_depend_on_seed_and_assignment_only() -> None:
    a = case_rng("s1", "99_fixture").standard_normal(4)
    assert np.array_equal(a, case_rng("s1", "99_fixture").standard_normal(4))
    assert not np.array_equal(a, case_rng("s2", "99_fixture").standard_normal(4))
    assert not np.array_equal(a, case_rng("s1", "02_convolution").standard_normal(4))


def test_course_seed_is_private_and_stable(tmp_path) -> None:
    s1 = course_seed(tmp_path)
    assert re.fullmatch(r"[0-9a-f]{64}", s1)
    assert stat.S_IMODE((tmp_path / ".cnnkit_secret_seed").stat().st_mode) == 0o600
    assert course_seed(tmp_path) == s1
    assert course_seed(tmp_path / "other") != s1


def _check(name: str, points: float, judge) -> Check:
    return Check(name, points, [Call("f")], judge)


def test_score_turns_verdicts_and_failures_into_points() -> None:
    def boom(results):
        raise TypeError("unexpected")

    checks = [_check("half", 4, lambda r: Verdict(0.5, "half right")),
              _check("crash", 2, lambda r: Verdict(1.0, "never")),
              _check("judge_error", 1, boom)]
    got = score(checks, {"half": [1], "crash": CheckFailure("it crashed"), "judge_error": [1]})
    assert got == [CheckResult("half", 2.0, 4.0, "half right"),
                   CheckResult("crash", 0.0, 2.0, "it crashed"),
                   CheckResult("judge_error", 0.0, 1.0,
                               "your result could not be checked (TypeError: unexpected)")]
    assert [r.points for r in score(checks, SandboxFailure("no"))] == [0.0, 0.0, 0.0]


def test_collect_submissions_layouts(tmp_path) -> None:
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "fixture.ipynb").write_text("{}")
    (tmp_path / "amy" / "99_fixture").mkdir(parents=True)
    (tmp_path / "amy" / "99_fixture" / "fixture.ipynb").write_text("{}")
    (tmp_path / "cid.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / "empty").mkdir()
    got = collect_submissions(tmp_path, "fixture")
    assert list(got) == ["amy", "bob", "cid"]
    assert got["amy"] == tmp_path / "amy" / "99_fixture" / "fixture.ipynb"


def _result() -> SubmissionResult:
    return SubmissionResult(
        "<script>alert(1)</script>", "99_fixture",
        [CheckResult("test_a", 1.0, 2.0, "expected 1, got '<b>x</b>'"),
         CheckResult("test_b", 3.0, 3.0, "correct")],
        problems=["locked cell 'x' was edited"], flags=["review: locked cell 'x' was edited"])


def test_feedback_html_escapes_everything_from_students() -> None:
    page = report.feedback_html(_result())
    assert "<script>" not in page and "<b>x</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "1 / 2" in page and "4 / 5" in page and "locked cell &#x27;x&#x27; was edited" in page
    assert "review:" not in page  # flags are for the instructor


def test_gradescope_results_json() -> None:
    doc = report.gradescope_json(_result())
    assert doc["score"] == 4.0
    assert doc["tests"][0] == {"name": "test_a", "score": 1.0, "max_score": 2.0,
                               "output": "expected 1, got '<b>x</b>'", "visibility": "visible"}
    assert doc["output"].startswith("Problems with the notebook:\n- locked cell")


def test_grades_csv_one_row_per_student_sorted() -> None:
    r1, r2 = _result(), _result()
    r2.student = "0aa"
    r2.results = r2.results[:1]
    rows = list(csv.reader(io.StringIO(export.grades_csv([r1, r2]))))
    assert rows[0] == ["student", "test_a", "test_b", "total", "max_total"]
    assert rows[1] == ["0aa", "1", "", "1", "2"]
    assert rows[2] == ["<script>alert(1)</script>", "1", "3", "4", "5"]
    table = export.summary([r1, r2])
    assert table.splitlines()[0].split() == ["student", "total", "max_total", "flags"]
    assert table.splitlines()[2].split()[-1] == "1"


# ------------------------------------------------------------------------------------------
# The pipeline (starts sandboxes)
# ------------------------------------------------------------------------------------------


def _folder(root: Path) -> tuple[Path, Path]:
    source = write(make_source(), root / "source" / "fixture.ipynb")
    sub = root / "submitted"
    write(make_submission(), sub / "ann" / "fixture.ipynb")
    write(make_submission({"conv_forward_naive_impl": CONV.replace(
        "np.tensordot(patch, w,", "np.tensordot(patch, w[:, :, ::-1, ::-1],")}),
        sub / "ben" / "fixture.ipynb")
    (sub / "cat.ipynb").write_text("")
    return source, sub


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.slow
def test_regrading_is_byte_identical_and_parallel_matches_serial(tmp_path) -> None:
    source, sub = _folder(tmp_path)
    r1 = grade_assignment(fc, sub, tmp_path / "o1", jobs=1, source_nb=source, progress=False)
    grade_assignment(fc, sub, tmp_path / "o2", jobs=2, source_nb=source, progress=False)
    grade_assignment(fc, sub, tmp_path / "o3", jobs=1, source_nb=source, progress=False)
    f1 = _files(tmp_path / "o1")
    assert f1 == _files(tmp_path / "o2") == _files(tmp_path / "o3")
    assert sorted(f1) == ["ann/feedback.html", "ann/results.json", "ben/feedback.html",
                          "ben/results.json", "cat/feedback.html", "cat/results.json",
                          "grades.csv", "grades.json"]
    assert f1["grades.csv"].decode() == (
        "student,test_relu_forward,test_conv_output_size,test_conv_forward_naive,total,"
        "max_total\nann,2,1,4,7,7\nben,2,1,0,3,7\ncat,0,0,0,0,7\n")
    ben = {r.student: r for r in r1}["ben"]
    assert "kernel is flipped" in ben.results[2].message
    assert (tmp_path / ".cnnkit_secret_seed").exists()  # created once, next to submitted/


@pytest.mark.slow
def test_gradebook_gets_the_hidden_scores(tmp_path) -> None:
    from nbgrader.api import Gradebook

    source, sub = _folder(tmp_path)
    gb_path = tmp_path / "gradebook.db"
    grade_assignment(fc, sub, tmp_path / "out", source_nb=source, gradebook=gb_path,
                     seed="s", progress=False)
    gb = Gradebook(f"sqlite:///{gb_path}")
    try:
        got = {s: {g.name: g.auto_score for g in
                   gb.find_submission_notebook("fixture", "99_fixture", s).grades}
               for s in ("ann", "ben", "cat")}
    finally:
        gb.close()
    assert got == {"ann": {"test_relu_forward": 2, "test_conv_output_size": 1,
                           "test_conv_forward_naive": 4},
                   "ben": {"test_relu_forward": 2, "test_conv_output_size": 1,
                           "test_conv_forward_naive": 0},
                   "cat": {"test_relu_forward": 0, "test_conv_output_size": 0,
                           "test_conv_forward_naive": 0}}


@pytest.mark.slow
def test_more_points_from_nbgrader_than_hidden_checks_is_flagged(tmp_path) -> None:
    source = write(make_source(), tmp_path / "fixture.ipynb")
    wrong = make_submission({"relu_forward_impl": "def relu_forward(x):\n    return x, x\n"})
    path = write(wrong, tmp_path / "s" / "fixture.ipynb")
    autograded = write(wrong, tmp_path / "autograded.ipynb")  # test cells without errors
    r = grade_notebook(fc, path, "s", source, student="s", autograded_nb=autograded)
    assert r.results[0].points == 0.0
    assert r.flags == ["nbgrader gave test_relu_forward 2 points but the hidden check gives 0: "
                       "review"]


@pytest.mark.slow
def test_incomplete_isolation_flags_the_grade_for_review(tmp_path, monkeypatch) -> None:
    """What the child could not set up (e.g. no user namespaces) reaches the instructor."""
    from autograder import grade

    real = grade.grade_code

    def without_namespaces(*args, **kwargs):
        results = real(*args, **kwargs)
        args[5].notes.append("no user namespace")  # the SandboxRun the child reports into
        return results

    monkeypatch.setattr(grade, "grade_code", without_namespaces)
    source = write(make_source(), tmp_path / "fixture.ipynb")
    path = write(make_submission(), tmp_path / "s" / "fixture.ipynb")
    r = grade_notebook(fc, path, "s", source, student="s")
    assert r.total == r.max_total  # the grade itself is computed as usual
    assert r.flags == ["grader: sandbox isolation incomplete (no user namespace): review"]

@pytest.mark.slow
@pytest.mark.skipif(not NB1.exists(), reason="notebook 1 not written yet")
def test_notebook_1_solution_gets_full_marks_and_release_gets_zero(tmp_path) -> None:
    full = grade_notebook("01_conv_arithmetic", NB1, "seed", NB1, student="solution")
    assert full.total == full.max_total > 0, [r.message for r in full.results]
    released = write(stub_solutions(nbformat.read(NB1, as_version=4))[0], tmp_path / "r.ipynb")
    zero = grade_notebook("01_conv_arithmetic", released, "seed", NB1, student="release")
    assert zero.total == 0.0
    assert all("NotImplementedError" in r.message for r in zero.results)
    assert json.dumps(zero.to_dict())  # serialisable


@pytest.mark.slow
def test_grading_through_the_course_folder(tmp_path) -> None:
    from autograder.course import Course

    notebooks = tmp_path / "notebooks"
    write(make_source(), notebooks / "99_fixture" / "fixture.ipynb")
    course = Course(tmp_path / "course", notebooks_dir=notebooks)
    subs = tmp_path / "downloads"
    write(make_submission(), subs / "ann" / "fixture.ipynb")
    write(make_submission({"relu_forward_impl": "def relu_forward(x):\n    return x, x\n"}),
          subs / "bo" / "fixture.ipynb")
    results = grade_assignment(fc, subs, tmp_path / "out", course=course, progress=False)
    assert [(r.student, r.total) for r in results] == [("ann", 7.0), ("bo", 5.0)]
    seed_file = course.root / ".cnnkit_secret_seed"
    assert seed_file.exists() and not list(course.root.glob("release/**/.cnnkit_secret_seed"))
    with course.gradebook() as gb:
        bo = {g.name: g.auto_score
              for g in gb.find_submission_notebook("fixture", "99_fixture", "bo").grades}
    assert bo == {"test_relu_forward": 0, "test_conv_output_size": 1,
                  "test_conv_forward_naive": 4}
    if os.geteuid() == 0:
        assert stat.S_IMODE(course.root.stat().st_mode) == 0o700
        assert stat.S_IMODE(course.gradebook_path.stat().st_mode) == 0o600
    # regrading from the collected folder gives the same grades (same secret seed)
    again = grade_assignment(fc, course.submitted_dir, tmp_path / "out2", course=course,
                             progress=False)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in results]


def test_a_grader_error_on_one_notebook_does_not_stop_the_batch(tmp_path, monkeypatch) -> None:
    from autograder import grade

    def broken(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr(grade, "grade_notebook", broken)
    r = grade._grade_one((fc, str(tmp_path / "x.ipynb"), "s", None, "zed", None, None, []))
    assert r.student == "zed" and r.total == 0.0 and r.max_total == 7.0
    assert r.flags == ["grader error, grade by hand: RuntimeError: unexpected"]
    assert r.results[0].message.startswith("the grader failed on this notebook")
