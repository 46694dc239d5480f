"""The nbgrader course folder, built from ``notebooks/``.

``notebooks/<assignment>/`` holds the nbgrader *source* of each assignment (the single source of
truth). :class:`Course` copies it into an nbgrader course folder (default ``<repo>/course``,
git-ignored build output; override with ``Course(root)`` or the environment variable
``CNNKIT_COURSE``) and drives nbgrader's own apps in-process on it::

    course/
      nbgrader_config.py       same settings as autograder/nbgrader_config.py
      gradebook.db             nbgrader's gradebook (sqlite)
      source/<assignment>/     copied from notebooks/<assignment>/
      release/<assignment>/    student version (no solutions, no hidden tests)
      submitted/<student>/<assignment>/<notebook>.ipynb
      autograded/<student>/<assignment>/...
      feedback/<student>/<assignment>/<notebook>.html

Typical use (the ``cnnkit`` CLI does exactly this)::

    course = Course()
    course.release("01_conv_arithmetic")
    course.collect("01_conv_arithmetic", Path("downloads/submissions.zip"))
    scores = course.autograde("01_conv_arithmetic")      # {"alice": 7.0, ...}
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from autograder import nbgrader_config

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = REPO / "notebooks"
DEFAULT_ROOT = REPO / "course"

_ASSIGNMENT_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
# nbgrader uses student ids as folder names and database keys: keep them path-safe.
_STUDENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
_IGNORE = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "*.pyc")


class CourseError(Exception):
    """A course operation could not be done; the message says why in one line."""


@dataclass(frozen=True)
class AssignmentInfo:
    """What ``cnnkit list`` shows: id, title (first heading), notebooks, autograded points."""

    id: str
    title: str
    notebooks: tuple[str, ...]
    points: float


def list_assignments(notebooks_dir: Path | str = NOTEBOOKS_DIR) -> list[str]:
    """Assignment ids, in course order: folders ``NN_name`` of ``notebooks_dir`` with a notebook."""
    d = Path(notebooks_dir)
    if not d.is_dir():
        return []
    return sorted(
        p.name
        for p in d.iterdir()
        if p.is_dir() and _ASSIGNMENT_RE.match(p.name) and any(p.glob("*.ipynb"))
    )


def assignment_info(assignment_dir: Path | str) -> AssignmentInfo:
    """Title and autograded points of the source notebook(s) in ``assignment_dir``."""
    import nbformat

    d = Path(assignment_dir)
    notebooks = sorted(p for p in d.glob("*.ipynb"))
    title, points = d.name, 0.0
    for i, path in enumerate(notebooks):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and cell.cell_type == "code":
                points += float(meta.get("points", 0))
            if i == 0 and title == d.name and cell.cell_type == "markdown":
                m = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
                if m:
                    title = m.group(1).strip()
    return AssignmentInfo(d.name, title, tuple(p.stem for p in notebooks), points)


def _ensure_venv_scripts_on_path() -> None:
    """nbgrader's Gradebook runs the ``alembic`` script by name; make the venv's bin findable.

    Without this, ``.venv/bin/cnnkit`` (venv not activated) fails with "No such file: alembic".
    """
    if shutil.which("alembic") is None:
        bindir = str(Path(sys.executable).parent)
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


def _quiet_capture(app: object) -> dict:
    """nbgrader's ``capture_log(app)``, minus SQLAlchemy warnings from nbgrader's internals."""
    from nbgrader.utils import capture_log
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        return capture_log(app)


def _check_student_id(student: str, where: str) -> str:
    if not _STUDENT_RE.match(student):
        raise CourseError(
            f"{where}: {student!r} is not a usable student id (letters, digits, and _.@+- only)"
        )
    return student


class Course:
    """An nbgrader course folder built from the source notebooks.

    root:          the course folder (created on demand). Default: ``$CNNKIT_COURSE`` or
                   ``<repo>/course``.
    notebooks_dir: where the source assignments live (``<repo>/notebooks``); tests point it at a
                   folder of fixture assignments.
    """

    def __init__(
        self,
        root: Path | str | None = None,
        notebooks_dir: Path | str | None = None,
        course_id: str = nbgrader_config.COURSE_ID,
    ) -> None:
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
        self.gradebook_path = self.root / "gradebook.db"
        #: ``{student: reason}`` of the last :meth:`autograde` call's failed submissions.
        self.autograde_errors: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Course(root={str(self.root)!r}, notebooks_dir={str(self.notebooks_dir)!r})"

    # ----------------------------------------------------------------------------------------
    # assignments
    # ----------------------------------------------------------------------------------------

    def assignments(self) -> list[str]:
        """Valid assignment ids (folder names under ``notebooks_dir``), in course order."""
        return list_assignments(self.notebooks_dir)

    def validate(self, assignment: str) -> str:
        """Return ``assignment`` when it exists; else raise CourseError naming the valid ones."""
        valid = self.assignments()
        if assignment not in valid:
            known = ", ".join(valid) or f"none (no NN_name folders in {self.notebooks_dir})"
            raise CourseError(f"unknown assignment {assignment!r}; valid assignments: {known}")
        return assignment

    def notebook_names(self, assignment: str) -> list[str]:
        """Notebook stems of ``assignment`` (``["conv_arithmetic"]``)."""
        self.validate(assignment)
        return sorted(p.stem for p in (self.notebooks_dir / assignment).glob("*.ipynb"))

    def info(self, assignment: str) -> AssignmentInfo:
        """Title, notebooks and autograded points of ``assignment``."""
        return assignment_info(self.notebooks_dir / self.validate(assignment))

    # ----------------------------------------------------------------------------------------
    # nbgrader plumbing
    # ----------------------------------------------------------------------------------------

    def _config(self):  # -> traitlets Config
        return nbgrader_config.make_config(self.root, self.course_id)

    def _run_app(self, app_cls: type, **attrs: object) -> str:
        """Run one nbgrader converter app in-process; return its log, raise on failure."""
        from nbgrader.coursedir import CourseDirectory

        _ensure_venv_scripts_on_path()
        cfg = self._config()
        cfg.HTMLExporter.template_name = "feedback"  # as NbGraderAPI.generate_feedback sets it
        coursedir = CourseDirectory(config=cfg)
        for key in ("assignment_id", "student_id"):
            if key in attrs:
                setattr(coursedir, key, attrs.pop(key))
        app = app_cls(coursedir=coursedir, config=cfg)
        for key, value in attrs.items():
            setattr(app, key, value)
        result = _quiet_capture(app)
        if not result["success"]:
            log = (result.get("log") or "") + "\n" + (result.get("error") or "")
            # The most useful line is the exception nbgrader hit (e.g. "RuntimeError: Solution
            # region detected in a non-solution cell"); else its last [ERROR] line.
            excs = [
                ln.strip() for ln in log.splitlines()
                if re.match(r"^[A-Za-z_.]*(Error|Exception): ", ln.strip())
                and "NbGraderException" not in ln
            ]
            errors = [ln for ln in log.splitlines() if ln.startswith("[ERROR]")]
            detail = (excs or errors or log.strip().splitlines() or ["no log"])[-1]
            raise CourseError(f"nbgrader {app_cls.__name__} failed: {detail}")
        return result.get("log", "")

    @contextlib.contextmanager
    def gradebook(self) -> Iterator:
        """``with course.gradebook() as gb:`` an open ``nbgrader.api.Gradebook`` (closed after)."""
        from nbgrader.api import Gradebook

        _ensure_venv_scripts_on_path()
        self.root.mkdir(parents=True, exist_ok=True)
        gb = Gradebook(f"sqlite:///{self.gradebook_path}", course_id=self.course_id)
        try:
            yield gb
        finally:
            gb.close()

    def sync_sources(self, assignments: Sequence[str] | None = None) -> list[str]:
        """Copy ``notebooks/<A>/`` to ``source/<A>/``, write nbgrader_config.py, register in DB.

        assignments: ids to copy (default: all). Returns the ids copied.
        """
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
            nbgrader_config.config_file_text(self.root, self.course_id, known)
        )
        with self.gradebook() as gb:
            for a in names:
                gb.update_or_create_assignment(a)
        return names

    def release(self, assignment: str) -> Path:
        """Generate the student version of ``assignment`` (nbgrader generate_assignment --force).

        Returns ``release/<assignment>/``: solutions replaced by ``raise NotImplementedError()``,
        hidden tests removed. Re-running replaces the previous release.
        """
        from nbgrader.converters import GenerateAssignment

        self.sync_sources([assignment])
        self._run_app(
            GenerateAssignment, assignment_id=assignment, force=True, create_assignment=True
        )
        out = self.release_dir / assignment
        if not any(out.glob("*.ipynb")):
            raise CourseError(f"nbgrader wrote no notebook to {out}")
        return out

    def _ensure_released(self, assignment: str) -> None:
        # autograde needs the source notebooks in the gradebook; generate them once if needed.
        from nbgrader.api import MissingEntry

        with self.gradebook() as gb:
            try:
                has_notebooks = bool(gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                has_notebooks = False
        if not has_notebooks:
            self.release(assignment)

    def collect(self, assignment: str, submissions: Path | str) -> list[str]:
        """Place student notebooks into ``submitted/<student>/<assignment>/``; add the students.

        submissions may be
          * a folder of ``<student>/<notebook>.ipynb`` (or ``<student>/<assignment>/...``),
          * a folder of ``<student>.ipynb`` (single-notebook assignments only),
          * a zip from an LMS: files named ``<student>_<anything>_<notebook>.ipynb`` (nbgrader's
            zip_collect / Canvas style; a ``-1`` style suffix from re-uploads is allowed), or
            the folder layouts above zipped.
        Returns the student ids collected (sorted). A student collected twice keeps the newest.
        """
        self.validate(assignment)
        submissions = Path(submissions)
        if not submissions.exists():
            raise CourseError(f"submissions not found: {submissions}")
        notebooks = self.notebook_names(assignment)
        with tempfile.TemporaryDirectory(prefix="cnnkit-collect-") as tmp:
            if submissions.is_file():
                if not zipfile.is_zipfile(submissions):
                    raise CourseError(f"{submissions} is neither a folder nor a zip file")
                with zipfile.ZipFile(submissions) as zf:
                    _safe_extract(zf, Path(tmp))
                found = _find_submissions(Path(tmp), assignment, notebooks, from_zip=True)
            else:
                found = _find_submissions(submissions, assignment, notebooks, from_zip=False)
            if not found:
                raise CourseError(
                    f"no submissions for {assignment} found in {submissions}: expected "
                    f"<student>/{notebooks[0]}.ipynb, <student>.ipynb, or a zip of "
                    f"<student>_..._{notebooks[0]}.ipynb"
                )
            for (student, nb_name), src in sorted(found.items()):
                dest = self.submitted_dir / student / assignment / f"{nb_name}.ipynb"
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dest)
        students = sorted({s for s, _ in found})
        with self.gradebook() as gb:
            gb.update_or_create_assignment(assignment)
            for s in students:
                gb.update_or_create_student(s)
        return students

    def submitted_students(self, assignment: str) -> list[str]:
        """Students with a folder ``submitted/<student>/<assignment>/``."""
        if not self.submitted_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.submitted_dir.iterdir() if (p / assignment).is_dir()
        )

    def autograde(self, assignment: str, students: Sequence[str] | None = None) -> dict[str, float]:
        """nbgrader autograde the collected submissions; return ``{student: total score}``.

        students: ids to grade (default: everyone in ``submitted/`` for this assignment).
        nbgrader restores locked and test cells (hidden tests included) from the gradebook,
        runs each notebook in a fresh kernel, and records the points. A submission nbgrader
        cannot process scores 0 and its reason is kept in ``self.autograde_errors[student]``.
        """
        from nbgrader.converters import Autograde

        self.validate(assignment)
        todo = list(students) if students is not None else self.submitted_students(assignment)
        if not todo:
            raise CourseError(
                f"nothing to autograde: no folder {self.submitted_dir}/<student>/{assignment}/ "
                "(collect submissions first)"
            )
        missing = [s for s in todo if not (self.submitted_dir / s / assignment).is_dir()]
        if missing:
            raise CourseError(f"no submission of {assignment} for: {', '.join(missing)}")
        self._ensure_released(assignment)
        self.autograde_errors = {}
        for s in todo:
            try:
                self._run_app(
                    Autograde, assignment_id=assignment, student_id=s, force=True,
                    create_student=True,
                )
            except CourseError as exc:
                # one broken submission (e.g. not even JSON) must not stop the batch
                self.autograde_errors[s] = str(exc)
        scores = self.scores(assignment, [s for s in todo if s not in self.autograde_errors])
        return {s: scores.get(s, 0.0) for s in todo}

    def scores(self, assignment: str, students: Sequence[str] | None = None) -> dict[str, float]:
        """Total autograded score per student, from the gradebook."""
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
        """Maximum autograded points of ``assignment`` as nbgrader recorded them."""
        with self.gradebook() as gb:
            return float(gb.find_assignment(assignment).max_score)

    def feedback(self, assignment: str) -> Path:
        """nbgrader generate_feedback for every autograded student; returns ``feedback/``."""
        from nbgrader.converters import GenerateFeedback

        self.validate(assignment)
        if not any(self.autograded_dir.glob(f"*/{assignment}")):
            raise CourseError(f"nothing to give feedback on: autograde {assignment} first")
        self._run_app(GenerateFeedback, assignment_id=assignment, force=True)
        return self.feedback_dir


# --------------------------------------------------------------------------------------------
# collecting submissions
# --------------------------------------------------------------------------------------------


def _safe_extract(zf: zipfile.ZipFile, dest: Path) -> None:
    """Extract only ``.ipynb`` members, refusing absolute paths and ``..`` (zip slip)."""
    dest = dest.resolve()
    for member in zf.infolist():
        if member.is_dir() or not member.filename.endswith(".ipynb"):
            continue
        target = (dest / member.filename).resolve()
        if not target.is_relative_to(dest):
            raise CourseError(f"refusing zip member outside the archive: {member.filename}")
        parts = Path(member.filename).parts
        if "__MACOSX" in parts or any(p.startswith(".") for p in parts):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(member) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)


def _looks_like_notebook(path: Path) -> bool:
    # Only the top-level shape: invalid notebooks are still collected and graded (as zero),
    # so that a broken file gets a grade and a reason instead of silently disappearing.
    try:
        return isinstance(json.loads(path.read_text(encoding="utf-8")), dict)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True


def _find_submissions(
    base: Path, assignment: str, notebooks: list[str], from_zip: bool
) -> dict[tuple[str, str], Path]:
    """Map ``(student, notebook)`` to the file to collect under ``base``."""
    found: dict[tuple[str, str], Path] = {}
    mtimes: dict[tuple[str, str], float] = {}

    def add(student: str, nb: str, path: Path) -> None:
        student = _check_student_id(student, str(path))
        key = (student, nb)
        mtime = path.stat().st_mtime
        if key not in found or mtime >= mtimes[key]:
            found[key], mtimes[key] = path, mtime

    # nbgrader/Canvas naming: <student>_<...>_<notebook>[-N].ipynb; notebook names have '_' too.
    nb_alt = "|".join(map(re.escape, notebooks))
    flat = re.compile(r"^(?P<student>[^_]+)(?:_.*)?_(?P<nb>" + nb_alt + r")(?:-\d+)?$")
    for path in sorted(base.rglob("*.ipynb")):
        rel = path.relative_to(base)
        if any(p.startswith(".") for p in rel.parts):
            continue
        if not _looks_like_notebook(path):
            continue
        parts = rel.parts
        stem = re.sub(r"-\d+$", "", path.stem)
        m = flat.match(path.stem)
        if m:
            add(m["student"], m["nb"], path)
        elif len(parts) >= 2 and stem in notebooks:
            # <student>/<nb>.ipynb or <student>/<assignment>/<nb>.ipynb (maybe under a top folder)
            dirs = [d for d in parts[:-1] if d != assignment]
            if dirs:
                add(dirs[-1], stem, path)
        elif len(parts) == 1 and len(notebooks) == 1 and stem not in notebooks:
            add(stem, notebooks[0], path)  # <student>.ipynb
        elif len(parts) == 2 and from_zip and len(notebooks) == 1 and stem not in notebooks:
            add(stem, notebooks[0], path)  # zip of a folder of <student>.ipynb
    return found
