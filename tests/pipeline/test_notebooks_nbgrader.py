"""Every assignment survives the nbgrader round trip: release, autograde, self-check.

Parametrised over the fixture assignment (tests/fixtures/00_fixture) and every
``notebooks/NN_name/`` folder. nbgrader works in a temporary course folder per test session, so
``<repo>/course`` is never touched.

(a) the source, submitted as is, earns full points under nbgrader autograde;
(b) the release holds no solution code and no hidden tests;
(c) the untouched release runs to the end (kernel alive) and earns 0;
(d) a submission with one exercise wrong earns partial points;
(e) written answers are manually graded cells: nbgrader never auto-scores them;
(f) the self-check gives the source full marks and every test of the release "not written yet"
    (real assignments: the fixture has no hidden checks).
Fast checks of the nbgrader metadata come first: they name the cell at fault in seconds.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from fixtures.nbtools import (
    BEGIN_HID,
    BEGIN_SOL,
    END_SOL,
    FAST_PARAMS,
    FIXTURE_ASSIGNMENT,
    FIXTURE_DIR,
    copy_assignments,
    is_graded,
    is_solution,
    nbgrader_meta,
    secret_lines,
    write_submission,
)
from nbrun import execute_notebook

from autograder.course.cells import CellKind, cells_of
from autograder.course.course import Course, assignment_info, list_assignments
from autograder.selfcheck import NOT_WRITTEN, check

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENTS = [FIXTURE_ASSIGNMENT, *list_assignments(ROOT / "notebooks")]
STUDENTS = {"solution": False, "untouched": None, "wrong": True}  # name -> broken? (None: release)

pytestmark = pytest.mark.parametrize("assignment", ASSIGNMENTS)
slow = pytest.mark.slow


class Pipeline:
    """One temporary course for the session; each assignment released and autograded once."""

    def __init__(self, base: Path) -> None:
        self.notebooks = copy_assignments(base / "notebooks", ASSIGNMENTS)
        self.course = Course(base / "course", notebooks_dir=self.notebooks)
        self.base = base
        self._released: dict[str, Path] = {}
        self._scores: dict[str, dict[str, float]] = {}
        self._broken: dict[str, str] = {}
        self._checks: dict[tuple[str, str], object] = {}

    def source(self, a: str) -> Path:
        return self.notebooks / a / f"{self.course.notebook_names(a)[0]}.ipynb"

    def released(self, a: str) -> Path:
        if a not in self._released:
            self._released[a] = self.course.release(a)
        return self._released[a] / self.source(a).name

    def scores(self, a: str) -> dict[str, float]:
        if a not in self._scores:
            subs = self.base / "submissions" / a
            params = FAST_PARAMS.get(a, {})
            for student, broken in STUDENTS.items():
                src = self.released(a) if broken is None else self.source(a)
                dest = subs / student / self.source(a).name
                gid = write_submission(src, dest, params, broken=bool(broken))
                if broken:
                    self._broken[a] = gid
            assert self.course.collect(a, subs).students == sorted(STUDENTS)
            self._scores[a] = self.course.autograde(a, sorted(STUDENTS))
        return self._scores[a]

    def selfcheck(self, a: str, which: str):
        if a == FIXTURE_ASSIGNMENT:
            pytest.skip("the fixture assignment has no hidden checks to self-check with")
        key = (a, which)
        if key not in self._checks:
            path = self.source(a) if which == "source" else self.released(a)
            self._checks[key] = check(path, progress=False)
        return self._checks[key]

    def executed_release(self, a: str) -> nbformat.NotebookNode:
        key = (a, "executed")
        if key not in self._checks:
            self._checks[key] = execute_notebook(self.released(a), FAST_PARAMS.get(a),
                                                 allow_errors=True)
        return self._checks[key]


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return Pipeline(tmp_path_factory.mktemp("nbgrader-course"))


def _source(assignment: str) -> nbformat.NotebookNode:
    folder = FIXTURE_DIR if assignment == FIXTURE_ASSIGNMENT else ROOT / "notebooks" / assignment
    (path,) = sorted(folder.glob("*.ipynb"))
    return nbformat.read(path, as_version=4)


def test_nbgrader_regions_only_in_matching_cells(assignment: str) -> None:
    """nbgrader refuses a solution region outside a solution cell (even in prose)."""
    for i, cell in enumerate(_source(assignment).cells):
        text = cell.source
        if "BEGIN SOLUTION" in text or "END SOLUTION" in text:
            assert nbgrader_meta(cell).get("solution"), (
                f"cell {i} ({cell.cell_type}) mentions BEGIN/END SOLUTION but is not a solution "
                "cell: nbgrader generate_assignment fails on it (reword the prose)"
            )
        if "HIDDEN TESTS" in text:
            assert is_graded(cell), f"cell {i} mentions HIDDEN TESTS but is not a graded cell"


def test_nbgrader_metadata_is_consistent(assignment: str) -> None:
    nb = _source(assignment)
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), f"duplicate grade_ids: {ids}"
    graded = [c for c in nb.cells if is_graded(c)]
    assert graded, "no autograded test cells"
    for c in graded:
        meta = nbgrader_meta(c)
        assert meta.get("schema_version") == 3 and meta.get("locked") is True, meta
        assert float(meta.get("points", 0)) > 0, f"{meta['grade_id']} has no points"
        assert not meta.get("solution"), f"{meta['grade_id']} is both graded and a solution"
    sols = [c for c in nb.cells if is_solution(c)]
    assert sols and all(BEGIN_SOL in c.source and END_SOL in c.source for c in sols)
    for _i, cell, info in cells_of(nb, CellKind.MANUAL):  # written answers
        assert cell.cell_type == "markdown" and info.points > 0, info
        assert BEGIN_SOL in cell.source and END_SOL in cell.source, info.grade_id
    for c in nb.cells:
        if c.cell_type == "code":
            assert c.outputs == [] and c.execution_count is None, "stored with outputs"


@slow
def test_source_earns_full_points(pipeline: Pipeline, assignment: str) -> None:
    scores = pipeline.scores(assignment)
    info = assignment_info(pipeline.notebooks / assignment)
    # nbgrader's maximum counts the written answers, which autograde leaves for a person
    assert pipeline.course.max_score(assignment) == info.points + info.manual_points
    assert info.points > 0
    assert scores["solution"] == pytest.approx(info.points), (
        f"the source notebook of {assignment} should earn {info.points} points under "
        f"autograde, got {scores['solution']}"
    )


@slow
def test_untouched_release_earns_zero(pipeline: Pipeline, assignment: str) -> None:
    assert pipeline.scores(assignment)["untouched"] == 0.0


@slow
def test_one_wrong_exercise_earns_partial_points(pipeline: Pipeline, assignment: str) -> None:
    scores = pipeline.scores(assignment)
    top = assignment_info(pipeline.notebooks / assignment).points
    assert 0 < scores["wrong"] < top, (
        f"breaking {pipeline._broken[assignment]} should cost some points but not all: "
        f"got {scores['wrong']} of {top}"
    )


@slow
def test_release_has_no_solutions_or_hidden_tests(pipeline: Pipeline, assignment: str) -> None:
    source = nbformat.read(pipeline.source(assignment), as_version=4)
    release = nbformat.read(pipeline.released(assignment), as_version=4)
    text = "\n".join(c.source for c in release.cells)
    for marker in (BEGIN_SOL, END_SOL, BEGIN_HID, "END HIDDEN TESTS", "BEGIN SOLUTION"):
        assert marker not in text
    secrets = secret_lines(source)
    assert secrets["solution"], "the source should have solution lines to hide"
    released_lines = {ln.strip() for ln in text.splitlines()}
    leaked = (secrets["solution"] | secrets["hidden"]) & released_lines
    assert not leaked, f"the release of {assignment} leaks: {sorted(leaked)[:5]}"
    if assignment == FIXTURE_ASSIGNMENT:
        assert secrets["hidden"], "the fixture has hidden asserts"


@slow
def test_release_keeps_graded_cells_and_stubs_solutions(
    pipeline: Pipeline, assignment: str
) -> None:
    source = nbformat.read(pipeline.source(assignment), as_version=4)
    release = nbformat.read(pipeline.released(assignment), as_version=4)

    def graded(nb):
        return [(nbgrader_meta(c)["grade_id"], nbgrader_meta(c).get("points")) for c in nb.cells
                if is_graded(c)]

    assert graded(release) == graded(source) != []
    stubs = [c.source for c in release.cells if is_solution(c)]
    assert stubs and all("raise NotImplementedError()" in s for s in stubs)


@slow
def test_untouched_release_runs_to_the_end(pipeline: Pipeline, assignment: str) -> None:
    nb = pipeline.executed_release(assignment)
    not_run = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
               and c.execution_count is None]
    assert not not_run, f"cells {not_run} of the release did not run"
    for i, cell in enumerate(nb.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            assert is_graded(cell), f"cell {i} (not a test cell) raised {errors[0]['ename']}"
            assert errors[0]["ename"] in ("NotImplementedError", "AssertionError")


@slow
def test_written_answers_wait_for_a_person(pipeline: Pipeline, assignment: str) -> None:
    pipeline.scores(assignment)
    with pipeline.course.gradebook() as gb:
        sub = gb.find_submission_notebook(pipeline.source(assignment).stem, assignment,
                                          "solution")
        manual = [(g.name, g.auto_score, g.needs_manual_grade) for g in sub.grades
                  if g.name.startswith("q_")]
    assert all(auto is None and needs for _n, auto, needs in manual), manual


@slow
def test_selfcheck_gives_the_source_full_marks(pipeline: Pipeline, assignment: str) -> None:
    report = pipeline.selfcheck(assignment, "source")
    assert report.all_passed, str(report)
    assert report.points == report.max_points == assignment_info(
        pipeline.notebooks / assignment).points
    assert "Total:" in str(report) and "FAIL" not in str(report)


@slow
def test_selfcheck_fails_every_test_of_release(pipeline: Pipeline, assignment: str) -> None:
    report = pipeline.selfcheck(assignment, "release")
    assert report.results, "no graded cells found"
    assert report.points == 0
    for r in report.results:
        assert not r.passed and r.message == NOT_WRITTEN, r
        assert r.visible == (False, NOT_WRITTEN), r
    assert "Total: 0 /" in str(report)
    assert NOT_WRITTEN in report._repr_html_()
