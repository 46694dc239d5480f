"""Whole batches through the real sandbox: same grades every time, one warm sandbox per worker,
the course folder and its gradebook, and one odd submission never stopping the others."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from fixtures import fixture_checks as fc
from fixtures.fixture_notebook import CONV, make_source, make_submission, write
from fixtures.nbtools import stub_solutions

from autograder.engine import batch
from autograder.engine.batch import grade_assignment, grade_notebook, load_assignment
from autograder.engine.library import library_of, student_library
from autograder.results import FlagKind
from autograder.sandbox import run as sbx
from autograder.sandbox.run import Sandbox

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
NB1 = ROOT / "notebooks" / "01_conv_arithmetic" / "conv_arithmetic.ipynb"
SOURCES = {d.name: next(d.glob("*.ipynb")) for d in sorted((ROOT / "notebooks").iterdir())
           if d.is_dir() and any(d.glob("*.ipynb"))}
FLIPPED = CONV.replace("np.tensordot(patch, w,", "np.tensordot(patch, w[:, :, ::-1, ::-1],")


def _folder(root: Path) -> tuple[Path, Path]:
    source = write(make_source(), root / "source" / "fixture.ipynb")
    sub = root / "submitted"
    write(make_submission(), sub / "ann" / "fixture.ipynb")
    write(make_submission({"conv_forward_naive_impl": FLIPPED}), sub / "ben" / "fixture.ipynb")
    (sub / "cat.ipynb").write_text("")
    return source, sub


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_regrading_is_byte_identical_and_parallel_matches_serial(tmp_path: Path) -> None:
    source, sub = _folder(tmp_path)
    run = dict(source_nb=source, seed="s", progress=False)
    r1 = grade_assignment(fc, sub, tmp_path / "o1", jobs=1, **run)
    grade_assignment(fc, sub, tmp_path / "o2", jobs=2, **run)
    grade_assignment(fc, sub, tmp_path / "o3", jobs=1, **run)
    f1 = _files(tmp_path / "o1")
    assert f1 == _files(tmp_path / "o2") == _files(tmp_path / "o3")
    assert sorted(f1) == ["ann/feedback.html", "ann/results.json", "ben/feedback.html",
                          "ben/results.json", "cat/feedback.html", "cat/results.json",
                          "grades.csv", "grades.json"]
    lines = f1["grades.csv"].decode().splitlines()
    assert lines[0] == ("student,test_relu_forward,test_conv_output_size,test_conv_forward_naive,"
                        "total,max_total,manual_max,notes")
    assert lines[1:3] == ["ann,2,1,4,7,7,0,", "ben,2,1,0,3,7,0,"]
    assert lines[3].startswith("cat,0,0,0,0,7,0,the notebook file is empty")
    ben = {r.student: r for r in r1}["ben"]
    assert "kernel is flipped" in ben.results[2].message


@pytest.mark.parametrize("assignment", SOURCES)
def test_twenty_regrades_of_a_source_notebook_are_byte_identical(assignment: str,
                                                                 tmp_path: Path) -> None:
    """Every child seeds numpy and torch from its case seed, so nothing random in a student's
    module (an unlucky init, a dropout mask) changes a grade between regrades."""
    a = load_assignment(assignment, SOURCES[assignment])
    student_library(tmp_path, library_of(a.module))
    with Sandbox(library=tmp_path, torch=True) as box:
        outs = {json.dumps(grade_notebook(a, SOURCES[assignment], "seed", box, "sol").to_dict(),
                           sort_keys=True) for _ in range(20)}
    assert len(outs) == 1
    graded = json.loads(outs.pop())
    assert graded["total"] == graded["max_total"] > 0


def test_notebook_1_release_gets_zero_saying_not_written(tmp_path: Path) -> None:
    released = write(stub_solutions(nbformat.read(NB1, as_version=4))[0], tmp_path / "r.ipynb")
    a = load_assignment("01_conv_arithmetic", NB1)
    with Sandbox(torch=False) as box:
        zero = grade_notebook(a, released, "seed", box, "release")
    assert zero.total == 0.0 and {r.message for r in zero.results} == {"not written yet"}


def test_grading_through_the_course_folder_fills_the_gradebook(tmp_path: Path) -> None:
    from autograder.course.course import Course

    notebooks = tmp_path / "notebooks"
    source = write(make_source(), notebooks / "99_fixture" / "fixture.ipynb")
    nb = nbformat.read(source, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nbecause\n"
                                                  "### END SOLUTION", metadata={"nbgrader": {
                                                      "grade": True, "solution": True,
                                                      "locked": False, "points": 2,
                                                      "grade_id": "q_why",
                                                      "schema_version": 3}}))
    nbformat.write(nb, source)
    course = Course(tmp_path / "course", notebooks_dir=notebooks)
    subs = tmp_path / "downloads"
    write(make_submission(), subs / "ann" / "fixture.ipynb")
    write(make_submission({"relu_forward_impl": "def relu_forward(x):\n    return x, x\n"}),
          subs / "bo" / "fixture.ipynb")
    (subs / "zed.ipynb").symlink_to(subs / "ann" / "fixture.ipynb")
    results = grade_assignment(fc, subs, tmp_path / "out", course=course, progress=False)
    assert [(r.student, r.total) for r in results] == [("ann", 7.0), ("bo", 5.0)]
    assert [(s.entry, s.kind) for s in results.skipped] == [("zed.ipynb", "SYMLINK")]
    assert results[0].manual_max == 2.0
    assert (course.root / ".cnnkit_secret_seed").exists()
    with course.gradebook() as gb:
        bo = {g.name: (g.auto_score, g.manual_score)
              for g in gb.find_submission_notebook("fixture", "99_fixture", "bo").grades}
    assert bo == {"test_relu_forward": (0, None), "test_conv_output_size": (1, None),
                  "test_conv_forward_naive": (4, None), "q_why": (None, None)}
    csv = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert csv[0].split(",")[4:] == ["q_why (manual)", "total", "max_total", "manual_max",
                                     "notes"]
    assert csv[-1].startswith("zed.ipynb,") and "not graded: a symbolic link" in csv[-1]
    again = grade_assignment(fc, course.submitted_dir, tmp_path / "out2", course=course,
                             progress=False)
    assert [r.to_dict() for r in again] == [r.to_dict() for r in results]


def test_more_points_from_nbgrader_than_from_the_hidden_checks_is_flagged(tmp_path) -> None:
    a = load_assignment(fc, make_source())
    path = write(make_submission({"relu_forward_impl": "def relu_forward(x):\n    return x, x\n"}),
                 tmp_path / "s.ipynb")
    with Sandbox(torch=True) as box:
        r = grade_notebook(a, path, "s", box, "s", {"test_relu_forward": 2.0})
    assert r.results[0].points == 0.0
    assert [(f.kind, f.text) for f in r.flags] == [(FlagKind.NBGRADER_HIGHER, "nbgrader gave "
                                                    "test_relu_forward 2 points, the hidden "
                                                    "check 0")]


def test_what_the_sandbox_could_not_isolate_flags_every_grade(tmp_path, monkeypatch) -> None:
    gap = sbx.Isolation("root", "", (sbx.Note(sbx.NoteKind.LIMITS, "no cgroup (test)"),))
    monkeypatch.setattr(sbx, "isolation", lambda limits=None: gap)
    a = load_assignment(fc, make_source())
    path = write(make_submission(), tmp_path / "s.ipynb")
    with Sandbox(torch=True) as box:
        r = grade_notebook(a, path, "s", box, "s")
    assert r.total == r.max_total
    assert [(f.kind, f.text) for f in r.flags] == [(FlagKind.LIMITS, "no cgroup (test)")]


def test_a_grader_error_on_one_notebook_does_not_stop_the_batch(tmp_path, monkeypatch) -> None:
    source, sub = _folder(tmp_path)
    real = batch.grade_notebook

    def sometimes(a, path, seed, box, student, scores=None):  # noqa: ANN001, ANN202
        if student == "ben":
            raise RuntimeError("unexpected")
        return real(a, path, seed, box, student, scores)

    monkeypatch.setattr(batch, "grade_notebook", sometimes)
    results = grade_assignment(fc, sub, tmp_path / "out", source_nb=source, seed="s",
                               progress=False)
    ben = {r.student: r for r in results}["ben"]
    assert ben.total == 0.0 and ben.max_total == 7.0
    assert [(f.kind, f.text) for f in ben.flags] == [(FlagKind.GRADER_ERROR, "grade by hand: "
                                                      "RuntimeError: unexpected")]
    assert {r.student: r.total for r in results} == {"ann": 7.0, "ben": 0.0, "cat": 0.0}


def test_without_a_course_a_seed_is_required(tmp_path: Path) -> None:
    source, sub = _folder(tmp_path)
    with pytest.raises(ValueError, match="give source_nb= and seed="):
        grade_assignment(fc, sub, tmp_path / "out", source_nb=source, progress=False)
