"""The nbgrader course folder, built from ``notebooks/``: release, collect, autograde, feedback.

``notebooks/<assignment>/`` holds the nbgrader *source* of each assignment (the single source of
truth). :class:`Course` copies it into an nbgrader course folder (default ``<repo>/course``,
git-ignored build output; ``Course(root)`` or ``$CNNKIT_COURSE`` say otherwise) and drives
nbgrader's own apps in-process on it::

    course/
      nbgrader_config.py       the settings of autograder/course/settings.py
      gradebook.db             nbgrader's gradebook (sqlite, mode 0600)
      .cnnkit_secret_seed      the secret of the hidden cases (mode 0600)
      source/<assignment>/     copied from notebooks/<assignment>/
      release/<assignment>/    student version (no solutions, no hidden tests)
      submitted/<student>/<assignment>/<notebook>.ipynb
      autograded/<student>/<assignment>/...
      autograded_public/...    the same, hidden tests removed (what feedback is made from)
      feedback/<student>/<assignment>/<notebook>.html
      graded/<assignment>/     ``cnnkit grade``: grades.csv, grades.json, <student>/feedback.html
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.course import discover, gradebook
from autograder.course import settings as nbgrader_settings
from autograder.course.cells import CellKind, cells_of, points_of, read_notebook, released_source
from autograder.results import Skipped, SubmissionResult

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO / "notebooks"
DEFAULT_ROOT = REPO / "course"
PUBLIC_AUTOGRADED = "autograded_public"

_ASSIGNMENT_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


class CourseError(Exception):
    """A course operation could not be done; the message says why in one line."""


@dataclass(frozen=True)
class AssignmentInfo:
    """What ``cnnkit list`` shows: id, title, notebooks, autograded and manual points."""

    id: str
    title: str
    notebooks: tuple[str, ...]
    points: float
    manual_points: float = 0.0


@dataclass(frozen=True)
class Collected:
    """What :meth:`Course.collect` put into ``submitted/``, and what it left out."""

    students: list[str]
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)


def list_assignments(notebooks_dir: Path | str = NOTEBOOKS_DIR) -> list[str]:
    """Assignment ids in course order: the ``NN_name`` folders of ``notebooks_dir`` holding a
    notebook."""
    d = Path(notebooks_dir)
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir()
                  if p.is_dir() and _ASSIGNMENT_RE.match(p.name) and any(p.glob("*.ipynb")))


def plain_title(markdown: str) -> str:
    """A heading as plain text: ``$(x+y)z$`` -> ``(x+y)z``, ``\\times`` -> ``x``, no emphasis."""
    text = re.sub(r"\$([^$]*)\$", lambda m: m.group(1), markdown)
    text = text.replace("\\times", "x").replace("\\cdot", "*")
    text = re.sub(r"\\[a-zA-Z]+\s*", "", text)
    return re.sub(r"[*_`{}]", "", text).strip()


def assignment_info(assignment_dir: Path | str) -> AssignmentInfo:
    """Title and points of the source notebook(s) in ``assignment_dir``."""
    d = Path(assignment_dir)
    notebooks = sorted(d.glob("*.ipynb"))
    title, points, manual = d.name, 0.0, 0.0
    for i, path in enumerate(notebooks):
        nb, _ = read_notebook(path)
        if nb is None:
            continue
        points += sum(points_of(nb, CellKind.TEST).values())
        manual += sum(points_of(nb, CellKind.MANUAL).values())
        manual += sum(points_of(nb, CellKind.TASK).values())
        for cell in nb.cells:
            m = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE) \
                if cell.cell_type == "markdown" else None
            if i == 0 and title == d.name and m:
                title = plain_title(m.group(1))
    return AssignmentInfo(d.name, title, tuple(p.stem for p in notebooks), points, manual)


def _quiet_capture(app: object) -> dict:
    """nbgrader's ``capture_log(app)`` without SQLAlchemy's warnings from nbgrader's internals."""
    import warnings

    from nbgrader.utils import capture_log
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        return capture_log(app)


class Course:
    """An nbgrader course folder built from the source notebooks.

    root:          the course folder (made on demand). Default: ``$CNNKIT_COURSE`` or
                   ``<repo>/course``.
    notebooks_dir: where the source assignments live (``<repo>/notebooks``).
    """

    def __init__(self, root: Path | str | None = None, notebooks_dir: Path | str | None = None,
                 course_id: str = nbgrader_settings.COURSE_ID) -> None:
        if root is None:
            root = os.environ.get("CNNKIT_COURSE") or DEFAULT_ROOT
        self.root = Path(root).expanduser().resolve()
        self.notebooks_dir = Path(notebooks_dir or NOTEBOOKS_DIR).resolve()
        self.course_id = course_id
        self.source_dir = self.root / "source"
        self.release_dir = self.root / "release"
        self.submitted_dir = self.root / "submitted"
        self.autograded_dir = self.root / "autograded"
        self.feedback_dir = self.root / "feedback"
        self.graded_dir = self.root / "graded"
        self.gradebook_path = self.root / "gradebook.db"
        #: ``{student: reason}`` of the last :meth:`autograde` call's failed submissions.
        self.autograde_errors: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Course(root={str(self.root)!r}, notebooks_dir={str(self.notebooks_dir)!r})"

    # -- assignments -----------------------------------------------------------------------------

    def assignments(self) -> list[str]:
        return list_assignments(self.notebooks_dir)

    def validate(self, assignment: str) -> str:
        """``assignment`` when it exists; else CourseError naming the valid ones."""
        valid = self.assignments()
        if assignment not in valid:
            known = ", ".join(valid) or f"none (no NN_name folders in {self.notebooks_dir})"
            raise CourseError(f"unknown assignment {assignment!r}; valid assignments: {known}")
        return assignment

    def notebook_names(self, assignment: str) -> list[str]:
        self.validate(assignment)
        return sorted(p.stem for p in (self.notebooks_dir / assignment).glob("*.ipynb"))

    def source_notebook(self, assignment: str) -> Path:
        """The instructor's source notebook of a single-notebook assignment."""
        return self.notebooks_dir / assignment / f"{self.notebook_names(assignment)[0]}.ipynb"

    def info(self, assignment: str) -> AssignmentInfo:
        return assignment_info(self.notebooks_dir / self.validate(assignment))

    # -- nbgrader plumbing ------------------------------------------------------------------------

    def _run_app(self, app_cls: type, autograded: str | None = None, **attrs: object) -> str:
        """Run one nbgrader converter app in-process; return its log, raise on failure."""
        from nbgrader.coursedir import CourseDirectory

        gradebook.ensure_alembic_on_path()
        cfg = nbgrader_settings.make_config(self.root, self.course_id)
        cfg.HTMLExporter.template_name = "feedback"  # as NbGraderAPI.generate_feedback sets it
        coursedir = CourseDirectory(config=cfg)
        if autograded:
            coursedir.autograded_directory = autograded
        for key in ("assignment_id", "student_id"):
            if key in attrs:
                setattr(coursedir, key, attrs.pop(key))
        app = app_cls(coursedir=coursedir, config=cfg)
        for key, value in attrs.items():
            setattr(app, key, value)
        result = _quiet_capture(app)
        if not result["success"]:
            raise CourseError(f"nbgrader {app_cls.__name__} failed: {_nbgrader_reason(result)}")
        return result.get("log", "")

    @contextlib.contextmanager
    def gradebook(self) -> Iterator:
        """``with course.gradebook() as gb:`` an open ``nbgrader.api.Gradebook``."""
        with gradebook.open_gradebook(self.gradebook_path, self.course_id) as gb:
            yield gb

    def sync_sources(self, assignments: Sequence[str] | None = None) -> list[str]:
        """Copy ``notebooks/<A>/`` to ``source/<A>/``, write nbgrader_config.py, register the
        assignments in the gradebook. Returns the ids copied."""
        names = list(assignments) if assignments is not None else self.assignments()
        for a in names:
            self.validate(a)
        self.root.mkdir(parents=True, exist_ok=True)
        for a in names:
            dest = self.source_dir / a
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(self.notebooks_dir / a, dest, ignore=_IGNORE)
        known = sorted(set(names) | {p.name for p in self.source_dir.iterdir() if p.is_dir()})
        (self.root / "nbgrader_config.py").write_text(
            nbgrader_settings.config_file_text(self.root, self.course_id, known))
        with self.gradebook() as gb:
            for a in names:
                gb.update_or_create_assignment(a)
        return names

    def release(self, assignment: str) -> Path:
        """The student version of ``assignment`` (nbgrader generate_assignment --force) in
        ``release/<assignment>/``: solutions stubbed, hidden tests removed."""
        from nbgrader.converters import GenerateAssignment

        self.sync_sources([assignment])
        self._run_app(GenerateAssignment, assignment_id=assignment, force=True,
                      create_assignment=True)
        out = self.release_dir / assignment
        if not any(out.glob("*.ipynb")):
            raise CourseError(f"nbgrader wrote no notebook to {out}")
        return out

    def _ensure_released(self, assignment: str) -> None:
        from nbgrader.api import MissingEntry

        with self.gradebook() as gb:
            try:
                has_notebooks = bool(gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                has_notebooks = False
        if not has_notebooks:
            self.release(assignment)

    # -- submissions ----------------------------------------------------------------------------

    def submission_path(self, assignment: str, student: str) -> Path:
        return self.submitted_dir / student / assignment / \
            f"{self.notebook_names(assignment)[0]}.ipynb"

    def collect(self, assignment: str, submissions: Path | str) -> Collected:
        """Copy what was downloaded (a folder or an LMS zip, see :mod:`discover`) into
        ``submitted/<student>/<assignment>/``; add the students to the gradebook. Entries that
        cannot be graded are skipped and reported; nothing a student sent stops the batch."""
        self.validate(assignment)
        submissions = Path(submissions)
        if not submissions.exists():
            raise CourseError(f"submissions not found: {submissions}")
        notebooks = self.notebook_names(assignment)
        with tempfile.TemporaryDirectory(prefix="cnnkit-collect-") as tmp:
            skipped: list[Skipped] = []
            root = submissions
            if submissions.is_file():
                try:
                    skipped = discover.extract_zip(submissions, Path(tmp))
                except ValueError as exc:
                    raise CourseError(str(exc)) from None
                root = Path(tmp)
            try:
                found = discover.discover(root, notebooks, assignment)
            except ValueError as exc:
                raise CourseError(str(exc)) from None
            skipped += found.skipped
            copied = self._copy_in(assignment, found.submissions, skipped)
        with self.gradebook() as gb:
            gb.update_or_create_assignment(assignment)
            for s in copied:
                gb.update_or_create_student(s)
        return Collected(copied, skipped, dict(found.duplicates))

    def _copy_in(self, assignment: str, found: dict[str, dict[str, Path]],
                 skipped: list[Skipped]) -> list[str]:
        copied = []
        for student, nbs in sorted(found.items()):
            try:
                data = {nb: discover.read_submission_bytes(p) for nb, p in nbs.items()}
            except ValueError as exc:
                skipped.append(Skipped(student, str(exc)))
                continue
            for nb, raw in data.items():
                dest = self.submitted_dir / student / assignment / f"{nb}.ipynb"
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_suffix(".ipynb.tmp")
                tmp.write_bytes(raw)
                os.replace(tmp, dest)
            copied.append(student)
        return copied

    def submitted_students(self, assignment: str) -> list[str]:
        if not self.submitted_dir.is_dir():
            return []
        return sorted(p.name for p in self.submitted_dir.iterdir()
                      if (p / assignment).is_dir() and not p.is_symlink())

    def nbgrader_scores(self, assignment: str, student: str) -> dict[str, float]:
        """The points nbgrader's own autograde gave, when it ran on this submission."""
        path = self.autograded_dir / student / assignment / \
            f"{self.notebook_names(assignment)[0]}.ipynb"
        return gradebook.nbgrader_scores(path) if path.is_file() else {}

    def record_grades(self, assignment: str, results: Sequence[SubmissionResult]) -> None:
        """The hidden checks' scores into the gradebook (written answers left for a person)."""
        nb = self.notebook_names(assignment)[0]
        gradebook.record(self.gradebook_path, self.course_id, assignment, nb,
                         self.source_notebook(assignment), results)

    # -- nbgrader's autograde and feedback ---------------------------------------------------

    def autograde(self, assignment: str, students: Sequence[str] | None = None
                  ) -> dict[str, float]:
        """nbgrader autograde the collected submissions; ``{student: total}``.

        nbgrader runs the notebook with the student's code in the same process as its tests,
        so these scores can be forged: ``cnnkit grade`` is the grade to trust. A submission
        nbgrader cannot process scores 0 and its reason is kept in ``autograde_errors``.
        """
        from nbgrader.converters import Autograde

        self.validate(assignment)
        todo = list(students) if students is not None else self.submitted_students(assignment)
        if not todo:
            raise CourseError(f"nothing to autograde: no folder {self.submitted_dir}/<student>/"
                              f"{assignment}/ (collect submissions first)")
        missing = [s for s in todo if not (self.submitted_dir / s / assignment).is_dir()]
        if missing:
            raise CourseError(f"no submission of {assignment} for: {', '.join(missing)}")
        self._ensure_released(assignment)
        self.autograde_errors = {}
        for s in todo:
            try:
                self._run_app(Autograde, assignment_id=assignment, student_id=s, force=True,
                              create_student=True)
            except CourseError as exc:
                self.autograde_errors[s] = str(exc)
        scores = self.scores(assignment, [s for s in todo if s not in self.autograde_errors])
        return {s: scores.get(s, 0.0) for s in todo}

    def scores(self, assignment: str, students: Sequence[str] | None = None) -> dict[str, float]:
        """Total score per student, from the gradebook."""
        from nbgrader.api import MissingEntry

        out: dict[str, float] = {}
        with self.gradebook() as gb:
            names = students if students is not None else [s.id for s in gb.students]
            for s in names:
                try:
                    out[s] = float(gb.find_submission(assignment, s).score)
                except MissingEntry:
                    continue
        return out

    def max_score(self, assignment: str) -> float:
        with self.gradebook() as gb:
            return float(gb.find_assignment(assignment).max_score)

    def feedback(self, assignment: str) -> Path:
        """nbgrader's feedback pages for every autograded student, made from copies of the
        autograded notebooks whose hidden tests (source and output) were removed; returns
        ``feedback/``."""
        from nbgrader.converters import GenerateFeedback

        self.validate(assignment)
        graded = sorted(self.autograded_dir.glob(f"*/{assignment}"))
        if not graded:
            raise CourseError(f"nothing to give feedback on: autograde {assignment} first")
        public = self.root / PUBLIC_AUTOGRADED
        for folder in graded:
            dest = public / folder.relative_to(self.autograded_dir)
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(folder, dest, ignore=_IGNORE)
            for nb_path in dest.glob("*.ipynb"):
                _strip_hidden_tests(nb_path)
        self._run_app(GenerateFeedback, autograded=PUBLIC_AUTOGRADED, assignment_id=assignment,
                      force=True)
        return self.feedback_dir


def _strip_hidden_tests(path: Path) -> None:
    """Remove hidden-test regions from the test cells of an autograded notebook, and the outputs
    of those cells (a traceback or assertion message would quote them)."""
    nb = nbformat.read(path, as_version=4)
    for _i, cell, _info in cells_of(nb, CellKind.TEST):
        public = released_source(cell.source)
        if public != cell.source:
            cell.source = public
            cell.outputs = [nbformat.v4.new_output(
                "stream", name="stdout",
                text="(hidden tests ran in this cell: see the grader's feedback page)\n")]
    nbformat.write(nb, path)


def _nbgrader_reason(result: dict) -> str:
    """The most useful line of a failed nbgrader run: the exception it hit (e.g.
    "RuntimeError: Solution region detected in a non-solution cell"), else its last error."""
    log = (result.get("log") or "") + "\n" + (result.get("error") or "")
    excs = [ln.strip() for ln in log.splitlines()
            if re.match(r"^[A-Za-z_.]*(Error|Exception): ", ln.strip())
            and "NbGraderException" not in ln]
    errors = [ln for ln in log.splitlines() if ln.startswith("[ERROR]")]
    return (excs or errors or log.strip().splitlines() or ["no log"])[-1]
