"""nbgrader's exchange: the course on a JupyterHub, between real Unix users.

The exchange is a folder every user of the hub can reach (``$CNNKIT_EXCHANGE``, nbgrader's
``Exchange.root``, e.g. ``/srv/nbgrader/exchange``, mode 0777). With the course id
(``$CNNKIT_COURSE_ID``, default ``cnn-course``) a course goes round like this::

    instructor  cnnkit release A               course/release/A -> exchange/<course>/outbound/A
    student     Assignments tab: Fetch, Submit (nbgrader fetch_assignment / submit)
                                               -> exchange/<course>/inbound/<user>+A+<time>+<rnd>
    instructor  cnnkit collect A --exchange    -> course/collected/A/<user>/<nb>.ipynb and
                                                  course/submitted/<user>/A/ (as from an LMS zip)
    instructor  cnnkit grade A --submissions course/collected/A
    instructor  cnnkit release-feedback A      graded/A/<user>/feedback.html
                                               -> exchange/<course>/feedback/<hash>.html
    student     Assignments tab: Fetch Feedback (nbgrader fetch_feedback)

Release and release-feedback are nbgrader's own exchange code, so JupyterLab's Assignments tab
and ``nbgrader list`` see exactly what they expect. Collect is this module's, because nbgrader's
follows symbolic links and only warns when a submission is not owned by the user it names; here:

* a submission counts only when its folder is owned by the user whose name it carries (``nbgrader
  submit --student alice`` run by bob is skipped and reported); ``check_owner=False`` is for hubs
  where every user has the same uid (Zero to JupyterHub's default ``jovyan``), and says so;
* nothing is followed: the folder is opened with O_NOFOLLOW and its files through that handle,
  regular files only, size-capped; then the usual collect (``Course.collect``) checks the
  notebooks as it does an LMS download;
* the latest submission of each user is taken, by the time nbgrader wrote in its name.

Feedback released through the exchange never carries hidden tests: by default it is
``cnnkit grade``'s own page (sandboxed checks, plain-words reasons, no test source at all);
``nbgrader=True`` releases nbgrader's feedback made by ``Course.feedback`` from copies of the
autograded notebooks with the hidden tests removed. Either way every page is checked for lines
of the source notebook's hidden tests before anything is released, and refused if it quotes one.
A student can fetch only their own page: the exchange's feedback folder cannot be listed, and
each page is named by a hash keyed with that submission's secret, which only the student (in
their nbgrader cache) and the instructor hold.
"""

from __future__ import annotations

import html
import logging
import os
import pwd
import re
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.course import settings as nbgrader_settings
from autograder.course.cells import CellKind, cells_of, read_notebook, released_source
from autograder.course.course import Collected, Course, CourseError
from autograder.course.discover import MAX_ENTRIES, read_submission_bytes
from autograder.results import Skipped, clean_text, is_student_id

#: ``course/collected/<assignment>/<student>/<notebook>.ipynb``: the latest exchange submission
#: of each student, laid out for ``cnnkit grade --submissions``.
COLLECTED_DIR = "collected"
#: ``course/feedback_exchange/<student>/<assignment>/<notebook>.html``: cnnkit grade's pages laid
#: out for nbgrader's release_feedback.
FEEDBACK_DIR = "feedback_exchange"
#: What nbgrader's submit writes beside the notebooks; feedback is keyed with the secret.
TIMESTAMP, SECRET = "timestamp.txt", "submission_secret.txt"
_SECRET_RE = re.compile(r"^[0-9a-fA-F]{16,256}$")
#: A hidden-test line shorter than this is too common to tell anything ("assert ok").
MIN_HIDDEN_LINE = 12


@dataclass(frozen=True)
class Released:
    """Feedback released through the exchange: to whom, and who was left out (and why)."""

    students: list[str]
    skipped: list[Skipped] = field(default_factory=list)


def exchange_root() -> Path:
    """The configured exchange folder; CourseError saying how to configure one otherwise."""
    root = nbgrader_settings.exchange_root()
    if root is None:
        raise CourseError(f"no nbgrader exchange configured: set ${nbgrader_settings.EXCHANGE_ENV}"
                          " to the exchange folder (e.g. /srv/nbgrader/exchange, mode 0777)")
    return root


def course_path(course: Course) -> Path:
    """``<exchange>/<course id>``."""
    try:
        course_id = nbgrader_settings.check_course_id(course.course_id)
    except ValueError as exc:
        raise CourseError(str(exc)) from None
    return exchange_root() / course_id


def collected_dir(course: Course, assignment: str) -> Path:
    return course.root / COLLECTED_DIR / assignment


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(clean_text(record.getMessage(), 300))


def _run_exchange(exchange_cls: type, course: Course, assignment: str,
                  coursedir: dict[str, Any] | None = None, **attrs: Any) -> list[str]:
    """Run one of nbgrader's exchange operations in-process; its warnings, or CourseError."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError

    course_path(course)  # the id and the exchange are usable
    cfg = nbgrader_settings.make_config(course.root, course.course_id)
    cfg.Exchange.root = str(exchange_root())
    cd = CourseDirectory(config=cfg)
    cd.assignment_id = assignment
    for key, value in (coursedir or {}).items():
        setattr(cd, key, value)
    ex = exchange_cls(coursedir=cd, authenticator=Authenticator(config=cfg), config=cfg)
    for key, value in attrs.items():
        setattr(ex, key, value)
    messages = _Messages()
    ex.log.addHandler(messages)
    try:
        ex.start()
    except ExchangeError as exc:
        raise CourseError(f"nbgrader's exchange: {clean_text(exc, 300)}") from None
    finally:
        ex.log.removeHandler(messages)
    return messages.lines


# --------------------------------------------------------------------------------------------
# Release
# --------------------------------------------------------------------------------------------


def release(course: Course, assignment: str) -> Path:
    """Publish ``release/<assignment>/`` (made by ``Course.release``) in the exchange, replacing
    an earlier release; returns ``<exchange>/<course>/outbound/<assignment>``."""
    from nbgrader.exchange.default import ExchangeReleaseAssignment

    course.validate(assignment)
    if not any((course.release_dir / assignment).glob("*.ipynb")):
        course.release(assignment)
    _run_exchange(ExchangeReleaseAssignment, course, assignment, force=True)
    return course_path(course) / "outbound" / assignment


# --------------------------------------------------------------------------------------------
# Collect
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    student: str
    name: str
    stamp: str
    when: Any  # datetime


def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _records(inbound: Path, assignment: str, check_owner: bool
             ) -> tuple[dict[str, _Record], list[Skipped]]:
    """The latest submission of each student in ``inbound``, and the entries refused."""
    from nbgrader.utils import parse_utc

    latest: dict[str, _Record] = {}
    skipped: list[Skipped] = []
    with os.scandir(inbound) as it:
        entries = sorted((e for _, e in zip(range(MAX_ENTRIES), it, strict=False)),
                         key=lambda e: e.name)
    for e in entries:
        parts = e.name.rsplit("+", 3)  # <user>+<assignment>+<timestamp>[+<random>]
        if len(parts) < 3 or parts[1] != assignment:
            continue
        student, stamp = parts[0], parts[2]
        st = e.stat(follow_symlinks=False)
        why = ("a symbolic link (links are never followed)" if stat.S_ISLNK(st.st_mode) else
               "not a folder" if not stat.S_ISDIR(st.st_mode) else
               "no usable student id in this name" if not is_student_id(student) else
               f"submitted under the name {student} by the user {_owner(st.st_uid)}"
               if check_owner and _owner(st.st_uid) != student else "")
        try:
            when = parse_utc(stamp)
        except (ValueError, OverflowError):
            why = why or "the time in its name cannot be read"
        if why:
            skipped.append(Skipped(e.name, why, "exchange"))
            continue
        rec = _Record(student, e.name, stamp, when)
        if student not in latest or (when, e.name) > (latest[student].when,
                                                      latest[student].name):
            latest[student] = rec
    return latest, skipped


def _read_submission(folder: Path) -> tuple[dict[str, bytes], str | None]:
    """The regular top-level ``.ipynb`` files of a submission folder and its secret, read
    through a handle on the folder (opened without following a link); ValueError if the folder
    cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as exc:
        raise ValueError(f"cannot be opened ({exc.strerror})") from None
    try:
        base = f"/proc/self/fd/{fd}" if os.path.isdir(f"/proc/self/fd/{fd}") else str(folder)
        notebooks: dict[str, bytes] = {}
        secret = None
        with os.scandir(fd) as it:
            names = sorted(e.name for _, e in zip(range(MAX_ENTRIES), it, strict=False)
                           if e.is_file(follow_symlinks=False))
        for name in names:
            if name.endswith(".ipynb") and not name.startswith("."):
                try:
                    notebooks[name] = read_submission_bytes(f"{base}/{name}")
                except ValueError:
                    continue  # Course.collect reports a missing notebook
            elif name == SECRET:
                try:
                    text = read_submission_bytes(f"{base}/{name}", 1024).decode("ascii").strip()
                except (ValueError, UnicodeDecodeError):
                    continue
                secret = text if _SECRET_RE.match(text) else None
        return notebooks, secret
    finally:
        os.close(fd)


def collect(course: Course, assignment: str, *, check_owner: bool = True) -> Collected:
    """The latest exchange submission of every student into ``collected/<assignment>/`` and
    ``submitted/`` (with the timestamp and secret feedback needs); refused entries are skipped
    and reported, never stop the others."""
    course.validate(assignment)
    inbound = course_path(course) / "inbound"
    if not inbound.is_dir():
        raise CourseError(f"no inbound folder {inbound}: release {assignment} to the exchange "
                          "first (cnnkit release)")
    try:
        latest, skipped = _records(inbound, assignment, check_owner)
    except OSError as exc:
        raise CourseError(f"cannot read {inbound}: {exc.strerror} (collect as the instructor "
                          "who released the course)") from None
    stage = collected_dir(course, assignment)
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    secrets: dict[str, tuple[str, str]] = {}
    for student, rec in sorted(latest.items()):
        try:
            notebooks, secret = _read_submission(inbound / rec.name)
        except ValueError as exc:
            skipped.append(Skipped(rec.name, str(exc), "exchange"))
            continue
        (stage / student).mkdir()
        for name, data in notebooks.items():
            (stage / student / name).write_bytes(data)
        if secret:
            secrets[student] = (rec.stamp, secret)
    got = course.collect(assignment, stage)
    for student in got.students:
        if student in secrets:
            folder = course.submitted_dir / student / assignment
            stamp, secret = secrets[student]
            (folder / TIMESTAMP).write_text(stamp)
            (folder / SECRET).write_text(secret)
    note = [] if check_owner else [Skipped(
        "(owner check)", "off: a submission was credited to the name it carries, whoever made it",
        "exchange")]
    return Collected(got.students, [*skipped, *got.skipped, *note], got.duplicates)


# --------------------------------------------------------------------------------------------
# Feedback
# --------------------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Page text without tags or entities, whitespace collapsed (code in nbgrader's pages is
    split into highlighting spans)."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]*>", "", text)))


def hidden_test_lines(source_nb: Path | str) -> list[str]:
    """The lines of the source notebook's hidden tests that appear nowhere in what students
    get (long enough to tell): what released feedback must never contain."""
    nb, problems = read_notebook(source_nb)
    if nb is None:
        raise CourseError(f"the source notebook is unreadable: {problems[0].text}")
    public: set[str] = set()
    hidden: list[str] = []
    for cell in nb.cells:
        src = cell.get("source", "")
        public |= {ln.strip() for ln in released_source(src).splitlines()}
    for _i, cell, _info in cells_of(nb, CellKind.TEST):
        public_src = released_source(cell.source)
        if public_src == cell.source:
            continue
        kept = set(public_src.splitlines())
        hidden += [re.sub(r"\s+", " ", ln.strip()) for ln in cell.source.splitlines()
                   if ln not in kept and len(ln.strip()) >= MIN_HIDDEN_LINE
                   and "HIDDEN TESTS" not in ln and ln.strip() not in public]
    return sorted(set(hidden))


def quoted_hidden_tests(page: str, hidden: Sequence[str]) -> list[str]:
    """The hidden-test lines that ``page`` (HTML) quotes."""
    text = _plain(page)
    return [ln for ln in hidden if ln in text]


def _stage_cnnkit_feedback(course: Course, assignment: str, notebook: str
                           ) -> tuple[list[Path], list[Skipped]]:
    """``graded/A/<student>/feedback.html`` -> ``feedback_exchange/<student>/A/<nb>.html``
    with the submission's timestamp and secret beside it (students who submitted through the
    exchange only)."""
    graded = course.graded_dir / assignment
    out = course.root / FEEDBACK_DIR
    if out.exists():
        shutil.rmtree(out)
    pages, skipped = [], []
    students = sorted(p.name for p in graded.iterdir() if (p / "feedback.html").is_file()) \
        if graded.is_dir() else []
    if not students:
        raise CourseError(f"nothing to release: grade {assignment} first (cnnkit grade)")
    for student in students:
        sub = course.submitted_dir / student / assignment
        if not (sub / SECRET).is_file() or not (sub / TIMESTAMP).is_file():
            skipped.append(Skipped(student, "not submitted through the exchange", "exchange"))
            continue
        dest = out / student / assignment
        dest.mkdir(parents=True)
        shutil.copyfile(graded / student / "feedback.html", dest / f"{notebook}.html")
        for name in (TIMESTAMP, SECRET):
            shutil.copyfile(sub / name, dest / name)
        pages.append(dest / f"{notebook}.html")
    return pages, skipped


def release_feedback(course: Course, assignment: str, *, nbgrader: bool = False) -> Released:
    """Release each student's feedback on ``assignment`` through the exchange.

    Default: ``cnnkit grade``'s page (graded/<A>/<student>/feedback.html). ``nbgrader=True``:
    nbgrader's feedback pages in ``feedback/`` as ``Course.feedback`` made them (hidden tests
    removed). Refused (CourseError, nothing released) if any page quotes a hidden test.
    """
    from nbgrader.exchange.default import ExchangeReleaseFeedback

    course.validate(assignment)
    notebook = course.notebook_names(assignment)[0]
    if nbgrader:
        folder = "feedback"
        pages = sorted(course.feedback_dir.glob(f"*/{assignment}/{notebook}.html"))
        if not pages:
            raise CourseError(f"no nbgrader feedback for {assignment}: run cnnkit autograde "
                              f"{assignment} --feedback first")
        through = [p for p in pages if (p.parent / SECRET).is_file()
                   and (p.parent / TIMESTAMP).is_file()]
        skipped = [Skipped(p.parents[1].name, "not submitted through the exchange", "exchange")
                   for p in pages if p not in through]
        pages = through
    else:
        folder = FEEDBACK_DIR
        pages, skipped = _stage_cnnkit_feedback(course, assignment, notebook)
    hidden = hidden_test_lines(course.source_notebook(assignment))
    for page in pages:
        quoted = quoted_hidden_tests(page.read_text(encoding="utf-8", errors="replace"), hidden)
        if quoted:
            raise CourseError(f"{page} quotes the hidden tests ({clean_text(quoted[0], 80)}): "
                              "nothing was released; make feedback with cnnkit autograde "
                              "--feedback (it removes them)")
    if pages:
        _run_exchange(ExchangeReleaseFeedback, course, assignment,
                      coursedir={"feedback_directory": folder,
                                 "student_id": "*", "student_id_exclude": ",".join(
                                     s.entry for s in skipped)})
    return Released(sorted(p.parents[1].name for p in pages), skipped)
