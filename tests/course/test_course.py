"""autograder.course: the nbgrader course folder, collecting submissions, the gradebook."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import nbformat
import pytest
from fixtures.nbtools import FIXTURE_ASSIGNMENT, FIXTURE_DIR, copy_assignments, write_submission

from autograder.course.course import (
    DEFAULT_ROOT,
    Course,
    CourseError,
    assignment_info,
    list_assignments,
)

A = FIXTURE_ASSIGNMENT
NB = "fixture"


@pytest.fixture
def course(tmp_path: Path) -> Course:
    return Course(tmp_path / "course", notebooks_dir=copy_assignments(tmp_path / "nbs", [A]))


def _nb_file(path: Path, text: str = "x") -> Path:
    """A small valid notebook whose first cell says ``text`` (to tell copies apart)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(text)]), path)
    return path


def _first_cell(path: Path) -> str:
    return nbformat.read(path, as_version=4).cells[0].source


# ---------------------------------------------------------------------------------------------
# layout, assignments, errors (fast)
# ---------------------------------------------------------------------------------------------


def test_default_root_and_env_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CNNKIT_COURSE", raising=False)
    c = Course()
    assert c.root == DEFAULT_ROOT and DEFAULT_ROOT.name == "course"
    monkeypatch.setenv("CNNKIT_COURSE", str(tmp_path / "elsewhere"))
    c = Course()
    assert c.root == (tmp_path / "elsewhere").resolve()
    assert c.release_dir == c.root / "release"
    assert c.submitted_dir == c.root / "submitted"
    assert c.autograded_dir == c.root / "autograded"
    assert c.feedback_dir == c.root / "feedback"
    assert c.source_dir == c.root / "source"
    assert c.gradebook_path == c.root / "gradebook.db"
    assert not c.root.exists(), "constructing a Course must not create folders"


def test_assignments_are_nn_name_folders_with_a_notebook(tmp_path: Path) -> None:
    nbs = copy_assignments(tmp_path / "nbs", [A])
    (nbs / "not_an_assignment").mkdir()
    _nb_file(nbs / "not_an_assignment" / "x.ipynb")
    (nbs / "07_empty").mkdir()
    _nb_file(nbs / "02_second" / "second.ipynb")
    assert list_assignments(nbs) == [A, "02_second"]
    assert list_assignments(tmp_path / "missing") == []


def test_unknown_assignment_error_lists_valid_ones(course: Course) -> None:
    msg = r"unknown assignment '01_nope'.*valid assignments: 00_fixture"
    with pytest.raises(CourseError, match=msg):
        course.release("01_nope")
    with pytest.raises(CourseError, match="unknown assignment"):
        course.collect("../etc", course.root)


def test_assignment_info_reads_title_and_points() -> None:
    info = assignment_info(FIXTURE_DIR)
    assert info.id == A
    assert info.title == "Fixture assignment"
    assert info.notebooks == (NB,)
    assert info.points == 5.0


def test_sync_sources_writes_config_and_registers_assignment(course: Course) -> None:
    assert course.sync_sources() == [A]
    assert (course.source_dir / A / f"{NB}.ipynb").read_bytes() == (
        course.notebooks_dir / A / f"{NB}.ipynb"
    ).read_bytes()
    cfg = (course.root / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.course_id = 'cnn-course'" in cfg
    assert f"c.CourseDirectory.db_url = 'sqlite:///{course.gradebook_path}'" in cfg
    assert f"#   {A}" in cfg
    # the written file is valid nbgrader config: load it with traitlets
    from traitlets.config.loader import PyFileConfigLoader

    loaded = PyFileConfigLoader("nbgrader_config.py", path=str(course.root)).load_config()
    assert loaded.CourseDirectory.root == str(course.root)
    with course.gradebook() as gb:
        assert [a.name for a in gb.assignments] == [A]


# ---------------------------------------------------------------------------------------------
# collecting submissions (fast: no kernel)
# ---------------------------------------------------------------------------------------------


def test_collect_folder_of_student_folders(course: Course, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    _nb_file(subs / "alice" / f"{NB}.ipynb", "alice's")
    _nb_file(subs / "bob" / A / f"{NB}.ipynb", "bob's")  # nbgrader's own layout
    assert course.collect(A, subs).students == ["alice", "bob"]
    assert _first_cell(course.submitted_dir / "alice" / A / f"{NB}.ipynb") == "alice's"
    assert _first_cell(course.submitted_dir / "bob" / A / f"{NB}.ipynb") == "bob's"
    with course.gradebook() as gb:
        assert sorted(s.id for s in gb.students) == ["alice", "bob"]


def test_collect_a_canvas_zip(course: Course, tmp_path: Path) -> None:
    files = {f"doejane_12345_678_{NB}.ipynb": "jane v1",
             f"roeric_LATE_4_5_{NB}-1.ipynb": "ric re-upload",
             "__MACOSX/._junk.ipynb": "junk", "notes.txt": "ignored"}
    zpath = tmp_path / "canvas.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name, text in files.items():
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(text)])
            zf.writestr(name, nbformat.writes(nb) if name.endswith(".ipynb") else text)
    got = course.collect(A, zpath)
    assert got.students == ["doejane_12345", "roeric_4"]
    assert _first_cell(course.submitted_dir / "roeric_4" / A / f"{NB}.ipynb") == "ric re-upload"
    assert not (course.submitted_dir / "__MACOSX").exists()


def test_a_bad_entry_is_skipped_and_the_others_collected(course: Course, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    _nb_file(subs / "alice" / f"{NB}.ipynb", "alice's")
    _nb_file(subs / "al ice" / f"{NB}.ipynb", "space")
    (subs / "carl.ipynb").symlink_to(subs / "alice" / f"{NB}.ipynb")
    got = course.collect(A, subs)
    assert got.students == ["alice"]
    assert sorted((s.entry, s.kind) for s in got.skipped) == [("al ice", "BAD_ID"),
                                                              ("carl.ipynb", "SYMLINK")]


def test_collect_errors_are_clear(course: Course, tmp_path: Path) -> None:
    with pytest.raises(CourseError, match="submissions not found"):
        course.collect(A, tmp_path / "missing")
    (tmp_path / "notzip.zip").write_text("hello")
    with pytest.raises(CourseError, match="zip"):
        course.collect(A, tmp_path / "notzip.zip")


def test_collect_keeps_broken_json_to_grade_it(course: Course, tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "mallory.ipynb").write_text("{ not json")
    assert course.collect(A, subs).students == ["mallory"]
    assert (course.submitted_dir / "mallory" / A / f"{NB}.ipynb").read_text() == "{ not json"


def test_autograde_without_submissions_says_so(course: Course) -> None:
    with pytest.raises(CourseError, match="nothing to autograde"):
        course.autograde(A)
    with pytest.raises(CourseError, match="nothing to give feedback on"):
        course.feedback(A)


# ---------------------------------------------------------------------------------------------
# nbgrader round trip (slow)
# ---------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_release_autograde_feedback_round_trip(course: Course, tmp_path: Path) -> None:
    rel = course.release(A)
    assert rel == course.release_dir / A
    assert (rel / f"{NB}.ipynb").is_file()
    assert course.release(A) == rel, "releasing again (--force) must work"
    subs = tmp_path / "subs"
    write_submission(course.notebooks_dir / A / f"{NB}.ipynb", subs / "ann" / f"{NB}.ipynb", {})
    write_submission(rel / f"{NB}.ipynb", subs / "ben" / f"{NB}.ipynb", {})
    # one exercise deliberately wrong: test_receptive_field (3 points) is lost
    write_submission(course.notebooks_dir / A / f"{NB}.ipynb", subs / "cat" / f"{NB}.ipynb", {},
                     broken=True)
    (subs / "dee").mkdir()
    (subs / "dee" / f"{NB}.ipynb").write_text("{ not json")
    course.collect(A, subs)
    scores = course.autograde(A, ["ann", "ben", "cat"])
    assert scores == {"ann": 5.0, "ben": 0.0, "cat": 2.0}
    assert course.max_score(A) == 5.0
    with course.gradebook() as gb:
        sub = gb.find_submission(A, "cat")
        by_cell = {g.name: g.score for g in sub.notebooks[0].grades}
    assert by_cell == {"test_conv_output_size": 2.0, "test_receptive_field": 0.0}
    # the source's hidden asserts ran during autograde (restored from the gradebook)
    graded = nbformat.read(course.autograded_dir / "ben" / A / f"{NB}.ipynb", as_version=4)
    assert any("stride 2 should give 3 outputs" in c.source for c in graded.cells)
    # an unreadable notebook scores 0 with nbgrader's reason; the rest of the batch is graded
    assert course.autograde(A, ["dee", "ann"]) == {"dee": 0.0, "ann": 5.0}
    assert list(course.autograde_errors) == ["dee"]
    assert course.autograde_errors["dee"].startswith("nbgrader Autograde failed: ")
    out = course.feedback(A)
    html = (out / "cat" / A / f"{NB}.html").read_text()
    assert "test_receptive_field" in html or "receptive_field" in html
    assert json.loads(json.dumps(scores)) == scores
    assert os.path.exists(course.gradebook_path)


@pytest.mark.slow
def test_release_failure_names_nbgrader_reason(course: Course) -> None:
    path = course.notebooks_dir / A / f"{NB}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].source += (
        "\n\nWrite your code between the `### BEGIN SOLUTION` and\n`### END SOLUTION` lines."
    )
    nbformat.write(nb, path)
    with pytest.raises(CourseError) as exc:
        course.release(A)
    assert str(exc.value) == (
        "nbgrader GenerateAssignment failed: RuntimeError: Solution region detected in a "
        "non-solution cell; please make sure all solution regions are within solution cells."
    )


def test_scores_reach_cells_nbgrader_had_no_grade_for(course: Course) -> None:
    """A submission nbgrader created before a test cell existed gets a grade for that cell;
    scores above a cell's points are capped; cells outside the notebook are ignored."""
    from autograder.course import gradebook
    from autograder.results import CheckResult, SubmissionResult

    with course.gradebook() as gb:  # nbgrader's state: only the first test cell is known
        gb.update_or_create_assignment(A)
        gb.update_or_create_notebook(NB, A)
        gb.update_or_create_grade_cell("test_conv_output_size", NB, A, max_score=2.0,
                                       cell_type="code")
        for student in ("ann", "bo"):
            gb.update_or_create_student(student)
            gb.update_or_create_submission(A, student)

    def result(student: str, first: float, second: float) -> SubmissionResult:
        return SubmissionResult(student, A, [
            CheckResult("test_conv_output_size", first, 2.0, ""),
            CheckResult("test_receptive_field", second, 4.0, ""),  # more than the cell's 3
            CheckResult("test_not_in_the_notebook", 1.0, 1.0, "")])

    course.record_grades(A, [result("bo", 0.0, 1.5), result("ann", 2.0, 4.0)])
    course.record_grades(A, [result("bo", 1.0, 2.5)])  # a regrade updates, never duplicates
    with gradebook.open_gradebook(course.gradebook_path, course.course_id) as gb:
        scores = {s: sorted((g.name, g.auto_score) for g in
                            gb.find_submission_notebook(NB, A, s).grades) for s in ("ann", "bo")}
    assert scores == {"ann": [("test_conv_output_size", 2.0), ("test_receptive_field", 3.0)],
                      "bo": [("test_conv_output_size", 1.0), ("test_receptive_field", 2.5)]}
