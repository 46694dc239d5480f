"""Grade a whole batch: one warm sandbox per worker process, feedback as results arrive.

``grade_notebook`` grades one file (extract -> sandbox -> score -> flags); ``grade_assignment``
grades every submission of an assignment over ``jobs`` processes, writes each student's feedback
as soon as it is graded, then the batch's exports. One odd submission never stops the batch:
whatever goes wrong with it becomes a grade with a reason and a "grade by hand" flag.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import multiprocessing.util
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from nbformat import NotebookNode

from autograder.checks import load as load_checks
from autograder.checks.kit import Check
from autograder.course.cells import CellKind, points_of, read_notebook
from autograder.engine import feedback
from autograder.engine.extract import Extracted, extract
from autograder.engine.library import library_of, student_library
from autograder.engine.score import build_checks, checks_need_torch, run_checks, score
from autograder.results import (
    CheckResult,
    Flag,
    FlagKind,
    ManualItem,
    Problem,
    Skipped,
    SubmissionResult,
)
from autograder.sandbox.run import Limits, NoteKind, Sandbox, SandboxUnavailable

SEED_FILE = ".cnnkit_secret_seed"
_NOTE_FLAGS = {NoteKind.ISOLATION: FlagKind.ISOLATION, NoteKind.LIMITS: FlagKind.LIMITS,
               NoteKind.GRADER: FlagKind.GRADER_ERROR}


@dataclass(frozen=True)
class Assignment:
    """What grading one assignment needs: its checks module and its source notebook."""

    module: ModuleType
    source: NotebookNode

    @property
    def id(self) -> str:
        return str(self.module.ASSIGNMENT)

    @property
    def points(self) -> dict[str, float]:
        return points_of(self.source, CellKind.TEST)

    @property
    def manual(self) -> list[ManualItem]:
        items = {**points_of(self.source, CellKind.MANUAL), **points_of(self.source,
                                                                      CellKind.TASK)}
        return [ManualItem(k, v) for k, v in items.items()]


def load_assignment(module: ModuleType | str, source_nb: Path | str | NotebookNode
                    ) -> Assignment:
    """The checks module (or an assignment id) with its source notebook, checked against each
    other: one check per autograded test cell, same names."""
    mod = load_checks(module) if isinstance(module, str) else module
    nb, problems = read_notebook(source_nb)
    if nb is None:
        raise ValueError(f"the source notebook is unreadable: {problems[0].text}")
    return Assignment(mod, nb)


def check_points_match(a: Assignment, checks: Sequence[Check]) -> None:
    """One check per autograded test cell of the source notebook, and no other."""
    names, cells = [c.name for c in checks], list(a.points)
    if sorted(names) != sorted(cells):
        raise ValueError(f"checks of {a.id} do not match its test cells: checks {sorted(names)}"
                         f", cells {sorted(cells)}")


def course_seed(root: Path | str) -> str:
    """The course's secret seed: made once (``secrets``, mode 0600) in ``root`` and reused, so
    regrading gives the same cases; it never leaves the course folder."""
    path = Path(root) / SEED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        seed = path.read_text(encoding="ascii").strip()
        if not seed:
            raise ValueError(f"{path} is empty: delete it to make a new seed") from None
        return seed
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip()


# --------------------------------------------------------------------------------------------
# One submission
# --------------------------------------------------------------------------------------------


def grade_notebook(a: Assignment, path: Path | str | bytes, seed: int | str, sandbox: Sandbox,
                   student: str, nbgrader_scores: Mapping[str, float] | None = None
                   ) -> SubmissionResult:
    """Grade one submitted notebook (a path or its bytes) in ``sandbox``.

    nbgrader_scores: points nbgrader's own autograde gave each test cell, when it ran: cells it
    scored higher than the hidden checks are flagged.
    """
    checks = _checks(a, seed)
    extracted = extract(path, a.source)
    outcome = run_checks(sandbox, extracted, checks, a.id, seed) if extracted.has_code else None
    results, load_problems = score(checks, a.points, extracted, outcome)
    problems = [*extracted.problems, *load_problems]
    flags = _flags(extracted, problems, results, outcome, nbgrader_scores or {})
    return SubmissionResult(student, a.id, results, problems, flags, a.manual)


@cache
def _checks_cached(module: ModuleType, seed: int | str) -> tuple[Check, ...]:
    return tuple(build_checks(module, seed))


def _checks(a: Assignment, seed: int | str) -> list[Check]:
    checks = list(_checks_cached(a.module, seed))
    check_points_match(a, checks)
    return checks


def _flags(extracted: Extracted, problems: Sequence[Problem], results: Sequence[CheckResult],
           outcome: Any, nbgrader_scores: Mapping[str, float]) -> list[Flag]:
    flags = [Flag(FlagKind.INTEGRITY, p.text) for p in problems if p.kind.needs_review]
    for note in (outcome.notes if outcome is not None else []):
        flags.append(Flag(_NOTE_FLAGS[note.kind], note.text))
    top = sum(r.max_points for r in results)
    claimed = sum(v for k, v in extracted.claimed_points.items()
                  if k in {r.name for r in results})
    if claimed > top + 1e-9:
        flags.append(Flag(FlagKind.CLAIMED_POINTS, f"the notebook's test cells claim {claimed:g}"
                          f" points, the hidden checks give at most {top:g}"))
    for r in results:
        got = nbgrader_scores.get(r.name)
        if got is not None and got > r.points + 1e-9:
            flags.append(Flag(FlagKind.NBGRADER_HIGHER, f"nbgrader gave {r.name} {got:g} "
                              f"points, the hidden check {r.points:g}"))
    return flags


def failed_result(a: Assignment, student: str, why: str) -> SubmissionResult:
    """The grade of a submission the grader itself failed on: zero, and a flag to grade it by
    hand (the student is told the instructor will look at it)."""
    results = [CheckResult(name, 0.0, pts, "the grader failed on this notebook; your "
                           "instructor will grade it by hand") for name, pts in a.points.items()]
    return SubmissionResult(student, a.id, results, [], [Flag(FlagKind.GRADER_ERROR,
                            f"grade by hand: {why}")], a.manual)


# --------------------------------------------------------------------------------------------
# A batch
# --------------------------------------------------------------------------------------------


@dataclass
class GradedBatch:
    """The results of a batch, sorted by student, and the entries that were not graded."""

    results: list[SubmissionResult]
    skipped: list[Skipped] = field(default_factory=list)

    def __iter__(self):  # noqa: ANN204 - iterate over results like a list
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __getitem__(self, i: int) -> SubmissionResult:
        return self.results[i]


@dataclass(frozen=True)
class Task:
    student: str
    path: str
    nbgrader_scores: dict[str, float]


_WORKER: dict[str, Any] = {}


def _worker_init(a: Assignment, seed: int | str, limits: Limits, library: str,
                 torch: bool, name: str) -> None:
    box = Sandbox(limits, Path(library), torch=torch, name=f"{name}-{os.getpid()}")
    box.start()  # its imports overlap with the first submission's extraction
    _WORKER.update(a=a, seed=seed, box=box)
    multiprocessing.util.Finalize(box, box.close, exitpriority=100)


def _grade_task(task: Task) -> SubmissionResult:
    w = _WORKER
    try:
        return grade_notebook(w["a"], task.path, w["seed"], w["box"], task.student,
                              task.nbgrader_scores)
    except SandboxUnavailable as exc:
        return failed_result(w["a"], task.student, str(exc))
    except Exception as exc:  # noqa: BLE001 - one odd submission must not stop the batch
        return failed_result(w["a"], task.student, f"{type(exc).__name__}: {exc}")


def grade_batch(a: Assignment, tasks: Sequence[Task], seed: int | str, jobs: int = 1,
                limits: Limits | None = None, on_result: Callable[[SubmissionResult], None]
                = lambda r: None) -> list[SubmissionResult]:
    """Grade ``tasks`` over ``jobs`` processes (each with its own warm sandbox); ``on_result``
    is called in this process as each result arrives. Returns the results sorted by student."""
    limits = limits or Limits()
    torch = checks_need_torch(_checks(a, seed))
    lib = Path(tempfile.mkdtemp(prefix="cnnkit-lib-"))
    name = f"cnnkit-{os.getpid()}-{secrets.token_hex(3)}"
    results: list[SubmissionResult] = []
    try:
        student_library(lib, library_of(a.module))
        init = (a, seed, limits, str(lib), torch, name)
        if jobs <= 1 or len(tasks) <= 1:
            _worker_init(*init)
            try:
                for t in tasks:
                    results.append(_grade_task(t))
                    on_result(results[-1])
            finally:
                _WORKER.pop("box").close()
        else:
            ctx = multiprocessing.get_context("fork")
            with cf.ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init,
                                        initargs=init) as pool:
                futures = {pool.submit(_grade_task, t): t for t in tasks}
                for fut in cf.as_completed(futures):
                    try:
                        r = fut.result()
                    except Exception as exc:  # noqa: BLE001 - a worker that died
                        r = failed_result(a, futures[fut].student, f"worker failed: {exc}")
                    results.append(r)
                    on_result(r)
    finally:
        shutil.rmtree(lib, ignore_errors=True)
    return sorted(results, key=lambda r: r.student)


def write_feedback_for(out_dir: Path) -> Callable[[SubmissionResult], None]:
    """``on_result`` that writes each student's feedback page and results.json."""
    return lambda r: feedback.write(r, out_dir / r.student)


def notebook_name(module: ModuleType) -> str:
    """The notebook file stem of an assignment (``conv_arithmetic``)."""
    from autograder.checks import module_name

    return str(getattr(module, "NOTEBOOK", module_name(module.ASSIGNMENT)))


def grade_assignment(assignment: str | ModuleType, submissions: Path | str,
                     out_dir: Path | str, *, jobs: int = 1, seed: int | str | None = None,
                     course: Any = None, source_nb: Path | str | None = None,
                     limits: Limits | None = None, progress: bool = True,
                     visibility: str = "visible") -> GradedBatch:
    """Grade every submission of ``assignment``; write feedback, grades.csv and grades.json.

    submissions: a folder or an LMS zip as downloaded (see ``autograder.course.discover``);
                 with ``course``, it is collected into the course first.
    out_dir:     ``<student>/feedback.html``, ``<student>/results.json``, ``grades.csv``,
                 ``grades.json`` (the same bytes when regraded with the same seed).
    seed:        the secret of the hidden cases (default: the course's secret seed; required
                 without a course).
    course:      an ``autograder.course.Course``: its source notebook, gradebook and nbgrader's
                 own autograde results are used.
    """
    module = load_checks(assignment) if isinstance(assignment, str) else assignment
    aid, nb_name = str(module.ASSIGNMENT), notebook_name(module)
    out_dir = Path(out_dir)
    if course is not None:
        collected = course.collect(aid, submissions)
        source_nb = source_nb or course.source_notebook(aid)
        paths = {s: course.submission_path(aid, s) for s in collected.students}
        skipped = collected.skipped
        nbgrader = {s: course.nbgrader_scores(aid, s) for s in collected.students}
        seed = course_seed(course.root) if seed is None else seed
        return _grade(module, source_nb, paths, skipped, nbgrader, seed, out_dir, jobs,
                      limits, progress, visibility, course)
    if source_nb is None or seed is None:
        raise ValueError("without a course, give source_nb= and seed=")
    with _discovered(Path(submissions), nb_name, aid) as found:
        paths = {s: nbs[nb_name] for s, nbs in found.submissions.items()}
        return _grade(module, source_nb, paths, found.skipped, {}, seed, out_dir, jobs,
                      limits, progress, visibility, None)


def _grade(module: ModuleType, source_nb: Any, paths: Mapping[str, Path],
           skipped: Sequence[Skipped], nbgrader: Mapping[str, dict[str, float]],
           seed: int | str, out_dir: Path, jobs: int, limits: Limits | None, progress: bool,
           visibility: str, course: Any) -> GradedBatch:
    from tqdm.auto import tqdm

    from autograder.engine import export

    a = load_assignment(module, source_nb)
    aid = a.id
    tasks = [Task(s, str(p), nbgrader.get(s, {})) for s, p in sorted(paths.items())]
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(tasks), desc=f"grading {aid}", unit="submission", disable=not progress)

    def done(r: SubmissionResult) -> None:
        feedback.write(r, out_dir / r.student, visibility)
        bar.update(1)

    try:
        results = grade_batch(a, tasks, seed, jobs, limits, done)
    finally:
        bar.close()
    batch = GradedBatch(results, list(skipped))
    export.write_grades(batch.results, out_dir, batch.skipped)
    if course is not None:
        course.record_grades(aid, batch.results)
    return batch


@contextlib.contextmanager
def _discovered(root: Path, nb_name: str, aid: str) -> Iterator[Any]:
    """Submissions in a folder, or in a zip unpacked into a temporary folder for the time of
    the grading."""
    from autograder.course import discover

    if not root.is_file():
        yield discover.discover(root, [nb_name], aid)
        return
    with tempfile.TemporaryDirectory(prefix="cnnkit-zip-") as tmp:
        skipped = discover.extract_zip(root, Path(tmp))
        found = discover.discover(Path(tmp), [nb_name], aid)
        found.skipped[:0] = skipped
        yield found
