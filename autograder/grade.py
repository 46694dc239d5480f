"""Score submissions with the hidden checks: extract -> sandbox -> judge (here, trusted) -> score.

The hidden checks of an assignment (``autograder/checks/<name>.py``) describe steps; the student's
code runs them only in the sandbox child; the checks' judges compare the returned data with
their oracles in *this* process, which alone computes scores. Cases are drawn from
``np.random.default_rng`` seeded by a hash of (secret seed, assignment id), so regrading with the
same seed gives the same cases and the same grade.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from autograder import checks as checks_pkg
from autograder.checkkit import Check
from autograder.extract import ExtractedCode, read_notebook, solution_code
from autograder.sandbox import (
    CheckFailure,
    Limits,
    SandboxError,
    SandboxFailure,
    SandboxRun,
    run_in_sandbox,
)

SEED_FILE = ".cnnkit_secret_seed"
_INTEGRITY = ("locked cell", "points of cell", "duplicated", "deleted or renamed",
              "renamed grade cell")


@dataclass(frozen=True)
class CheckResult:
    """Score of one hidden check: ``points`` of ``max_points`` with a plain-words ``message``."""

    name: str
    points: float
    max_points: float
    message: str


@dataclass
class SubmissionResult:
    """Everything graded about one student's notebook.

    problems: what is wrong with the submission itself (shown to the student).
    flags:    what an instructor should review (e.g. edited locked cells, nbgrader gave more).
    """

    student: str
    assignment: str
    results: list[CheckResult]
    problems: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return round(sum(r.points for r in self.results), 6)

    @property
    def max_total(self) -> float:
        return round(sum(r.max_points for r in self.results), 6)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total"], d["max_total"] = self.total, self.max_total
        return d


# --------------------------------------------------------------------------------------------
# Checks and seeds
# --------------------------------------------------------------------------------------------


def checks_module(assignment: str | ModuleType) -> ModuleType:
    """The hidden-check module of ``assignment`` (an id like ``"01_conv_arithmetic"``, a dotted
    module name containing a ``.``, or the module itself)."""
    if isinstance(assignment, ModuleType):
        return assignment
    if assignment in sys.modules:
        return sys.modules[assignment]
    if "." in assignment:
        return importlib.import_module(assignment)
    return checks_pkg.load(assignment)


def assignment_id(assignment: str | ModuleType) -> str:
    mod = checks_module(assignment)
    return str(getattr(mod, "ASSIGNMENT", mod.__name__))


def case_rng(seed: int | str, assignment: str) -> np.random.Generator:
    """Generator of the hidden cases: a hash of (seed, assignment id), stable across runs."""
    digest = hashlib.sha256(f"cnnkit-cases:{seed}:{assignment}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def build_checks(assignment: str | ModuleType, seed: int | str) -> list[Check]:
    mod = checks_module(assignment)
    checks = list(mod.build_checks(case_rng(seed, assignment_id(mod))))
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate check names in {mod.__name__}: {sorted(names)}")
    return checks


def course_seed(course_root: Path | str) -> str:
    """The course's secret seed: created once (``secrets.token_hex``, mode 0600) and reused.

    It lives in the course folder, never in ``release/``, so students cannot know their cases.
    """
    path = Path(course_root) / SEED_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        seed = path.read_text(encoding="ascii").strip()
        if not seed:
            raise ValueError(f"{path} is empty: delete it to create a new seed") from None
        return seed
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip()


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


def score(checks: Sequence[Check],
          outcome: Mapping[str, Any] | SandboxFailure) -> list[CheckResult]:
    """Judge each check's results in this (trusted) process and turn verdicts into points."""
    out = []
    for c in checks:
        if isinstance(outcome, SandboxFailure):
            out.append(CheckResult(c.name, 0.0, float(c.points), outcome.reason))
            continue
        res = outcome.get(c.name)
        if isinstance(res, CheckFailure) or res is None:
            reason = res.reason if res is not None else "no result for this check"
            out.append(CheckResult(c.name, 0.0, float(c.points), reason))
            continue
        try:
            verdict = c.judge(res)
            frac, msg = float(verdict.fraction), str(verdict.message)
        except Exception as exc:  # noqa: BLE001 - a judge meeting unexpected student data
            frac, msg = 0.0, f"your result could not be checked ({type(exc).__name__}: {exc})"
        out.append(CheckResult(c.name, round(frac * float(c.points), 6), float(c.points), msg))
    return out


def grade_code(assignment: str | ModuleType, code: str, seed: int | str,
               limits: Limits | None = None, hide: Sequence[str] = (),
               run: SandboxRun | None = None,
               checks: Sequence[Check] | None = None) -> list[CheckResult]:
    """Grade extracted ``code`` against the hidden checks of ``assignment`` (in check order).

    checks: the already built checks for this seed (built here when not given).
    """
    checks = checks if checks is not None else build_checks(assignment, seed)
    outcome = run_in_sandbox(code, {c.name: c.steps for c in checks}, limits,
                             {c.name: c.timeout for c in checks}, hide=hide, run=run)
    return score(checks, outcome)


def nbgrader_points(autograded_nb: Path | str) -> dict[str, float]:
    """Points nbgrader's own autograde gave each test cell (from the autograded notebook)."""
    from nbgrader.utils import determine_grade, is_grade

    nb, _ = read_notebook(autograded_nb)
    out: dict[str, float] = {}
    if nb is None:
        return out
    for cell in nb.cells:
        if cell.cell_type == "code" and is_grade(cell):
            got, _max = determine_grade(cell)
            if got is not None:
                out[cell.metadata.nbgrader["grade_id"]] = float(got)
    return out


def grade_notebook(
    assignment: str | ModuleType,
    path: Path | str,
    seed: int | str,
    source_nb: Path | str | None = None,
    student: str | None = None,
    autograded_nb: Path | str | None = None,
    limits: Limits | None = None,
    hide: Sequence[str] = (),
) -> SubmissionResult:
    """Grade one submitted notebook.

    source_nb:     the instructor's source notebook (decides solution cells, locked contents).
    autograded_nb: nbgrader's autograded copy, if it ran: cells it scored higher are flagged.
    student:       id used in reports (default: the folder or file name).
    """
    path = Path(path)
    mod = checks_module(assignment)
    student = student or (path.parent.name if path.parent.name else path.stem)
    extracted: ExtractedCode = solution_code(path, source_nb)
    checks = build_checks(mod, seed)
    problems = list(extracted.problems)
    run = SandboxRun()
    if not extracted.code.strip():
        reason = problems[0] if problems else "no solution code found in the notebook"
        results = score(checks, SandboxFailure(reason))
    else:
        results = grade_code(mod, extracted.code, seed, limits, hide, run, checks)
        problems += [f"your code raised an error while being loaded: {e}"
                     for e in run.load_errors]
    flags = [f"review: {p}" for p in problems if any(k in p for k in _INTEGRITY)]
    # the sandbox could not isolate the code on this machine: its results may be forged
    flags += [f"grader: sandbox isolation incomplete ({n}): review" for n in run.notes]
    by_name = {r.name: r for r in results}
    claimed = sum(extracted.test_points.get(n, 0.0) for n in by_name)
    if claimed > sum(r.max_points for r in results) + 1e-9:
        flags.append("notebook test cells claim more points than the hidden checks give: review")
    if autograded_nb is not None and Path(autograded_nb).is_file():
        for gid, pts in sorted(nbgrader_points(autograded_nb).items()):
            if gid in by_name and pts > by_name[gid].points + 1e-9:
                flags.append(f"nbgrader gave {gid} {pts:g} points but the hidden check gives "
                             f"{by_name[gid].points:g}: review")
    return SubmissionResult(student, assignment_id(mod), results, problems, flags)


# --------------------------------------------------------------------------------------------
# A whole assignment
# --------------------------------------------------------------------------------------------


def notebook_name(assignment: str | ModuleType) -> str:
    mod = checks_module(assignment)
    return str(getattr(mod, "NOTEBOOK", checks_pkg.module_name(assignment_id(mod))))


def collect_submissions(submissions: Path | str, notebook: str) -> dict[str, Path]:
    """``{student: notebook path}`` from ``<student>/<nb>.ipynb``, ``<student>/<A>/<nb>.ipynb``
    or ``<student>.ipynb`` (sorted by student id)."""
    root = Path(submissions)
    if not root.is_dir():
        raise ValueError(f"submissions folder not found: {root}")
    found: dict[str, Path] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            found[entry.stem] = entry
        elif entry.is_dir():
            hits = sorted(entry.glob(f"{notebook}.ipynb")) or sorted(
                entry.glob(f"*/{notebook}.ipynb")) or sorted(entry.glob("*.ipynb"))
            if hits:
                found[entry.name] = hits[0]
    return dict(sorted(found.items()))


def _grade_one(args: tuple) -> SubmissionResult:
    (assignment, path, seed, source_nb, student, autograded, limits, hide) = args
    try:
        return grade_notebook(assignment, path, seed, source_nb, student, autograded, limits,
                              hide)
    except SandboxError:
        raise  # the grader itself is broken: stop rather than give everyone zero
    except Exception as exc:  # noqa: BLE001 - one odd submission must not stop the batch
        why = f"{type(exc).__name__}: {exc}"[:300]
        checks = build_checks(assignment, seed)
        return SubmissionResult(
            student, assignment_id(assignment),
            score(checks, SandboxFailure("the grader failed on this notebook; your instructor "
                                         "will look at it")),
            flags=[f"grader error, grade by hand: {why}"])


def grade_assignment(
    assignment: str | ModuleType,
    submissions: Path | str,
    out_dir: Path | str,
    jobs: int = 1,
    seed: int | str | None = None,
    course: Any = None,
    source_nb: Path | str | None = None,
    gradebook: Path | str | None = None,
    limits: Limits | None = None,
    progress: bool = True,
) -> list[SubmissionResult]:
    """Grade every submission of ``assignment``; write feedback, results.json, grades.csv.

    submissions: folder of ``<student>/<nb>.ipynb`` or ``<student>.ipynb`` (with ``course``,
                 anything ``Course.collect`` accepts; it is collected into the course first).
    out_dir:     ``<student>/feedback.html``, ``<student>/results.json``, ``grades.csv``,
                 ``grades.json`` (byte-identical when regraded with the same seed).
    jobs:        worker processes (each starts its own sandboxes).
    seed:        overrides the course's secret seed (``course_seed``).
    course:      an ``autograder.course.Course``: submissions are collected into it, the source
                 notebook and gradebook are its own, nbgrader's autograded copies are compared.
    gradebook:   path of an nbgrader gradebook to write scores to when there is no ``course``.
    Returns the results sorted by student id.
    """
    from autograder import export, report

    mod = checks_module(assignment)
    aid, nb_name = assignment_id(mod), notebook_name(mod)
    mod_ref = mod.__name__
    out_dir = Path(out_dir)
    autograded: dict[str, Path] = {}
    if course is not None:
        if Path(submissions).resolve() == Path(course.submitted_dir).resolve():
            students = course.submitted_students(aid)  # already collected
        else:
            students = course.collect(aid, submissions)
        if os.geteuid() == 0:
            # second layer behind the sandbox's mount namespace: the sandbox uid cannot even
            # enter the course folder (gradebook, sources with solutions, secret seed)
            os.chmod(course.root, 0o700)
        paths = {s: course.submitted_dir / s / aid / f"{nb_name}.ipynb" for s in students}
        autograded = {s: course.autograded_dir / s / aid / f"{nb_name}.ipynb" for s in students}
        if source_nb is None:
            for cand in (course.notebooks_dir / aid / f"{nb_name}.ipynb",
                         course.source_dir / aid / f"{nb_name}.ipynb"):
                if cand.is_file():
                    source_nb = cand
                    break
        seed_root = course.root
        gradebook = gradebook or course.gradebook_path
    else:
        paths = collect_submissions(submissions, nb_name)
        seed_root = Path(submissions).resolve().parent
    if seed is None:
        seed = course_seed(seed_root)
    hide = sorted({str(Path(p).resolve()) for p in (
        submissions, out_dir, seed_root / ".cnnkit_secret_seed",
        *([gradebook] if gradebook else []), *([source_nb] if source_nb else []))})
    hide += [str(course.root)] if course is not None else []
    tasks = [(mod_ref, str(p), seed, None if source_nb is None else str(source_nb), s,
              str(autograded[s]) if s in autograded else None, limits, hide)
             for s, p in sorted(paths.items())]
    results: dict[str, SubmissionResult] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    bar = _progress(len(tasks), f"grading {aid}", progress)

    def done(r: SubmissionResult) -> None:
        # each student's pages are written while the workers grade the next submissions
        results[r.student] = r
        report.write_feedback(r, out_dir / r.student)
        bar.update(1)

    try:
        if jobs <= 1:
            for t in tasks:
                done(_grade_one(t))
        else:
            with cf.ProcessPoolExecutor(max_workers=jobs) as pool:
                for fut in cf.as_completed([pool.submit(_grade_one, t) for t in tasks]):
                    done(fut.result())
    finally:
        bar.close()
    ordered = GradedBatch(results[s] for s in sorted(results))
    export.write_grades(ordered, out_dir)
    if gradebook is not None and source_nb is not None:
        export.write_gradebook(gradebook, aid, nb_name, source_nb, ordered,
                               course_id=getattr(course, "course_id", "default_course"))
    return ordered


class GradedBatch(list):
    """The results of ``grade_assignment`` (a list); printing it shows the summary table."""

    def __str__(self) -> str:
        from autograder.export import summary

        return summary(self)


def _progress(total: int, desc: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="submission", disable=not enabled)
