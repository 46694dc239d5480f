"""The student's self-check: the grader's own checks on public cases, in the same sandbox.

From a terminal::

    cnnkit check notebooks/01_conv_arithmetic/conv_arithmetic.ipynb

From a cell of the notebook itself::

    from autograder.selfcheck import check
    check()

It runs the hidden checks of the assignment with a *public* seed (the grader's seed is secret, so
its cases differ) and the notebook's visible tests, and reports per test cell the points and the
words ``cnnkit grade`` would give. It takes seconds: the notebook is not re-run unless asked
(``run_notebook=True``, ``--run-notebook``), which executes it top to bottom in a fresh kernel.
It grades the notebook as saved; called from a cell, it says when what you ran differs from the
saved file (unsaved edits).
"""

from __future__ import annotations

import ast
import html
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.checks import load as load_checks
from autograder.checks.kit import Call
from autograder.course.cells import CellKind, cells_of, read_notebook, released_source
from autograder.course.course import NOTEBOOKS_DIR, list_assignments
from autograder.engine.batch import load_assignment, notebook_name
from autograder.engine.extract import extract, kept_code
from autograder.engine.library import library_of, student_library
from autograder.engine.score import build_checks, child_seed, score
from autograder.results import clean_text
from autograder.sandbox.protocol import NotRun, Raised
from autograder.sandbox.run import CheckPlan, Sandbox

#: The seed of the self-check's cases (the grader's is a secret of the course).
PUBLIC_SEED = "public"
#: Set in the kernel that runs the notebook, so a ``check()`` cell inside it does nothing.
_GUARD_ENV = "CNNKIT_SELFCHECK_RUNNING"
NOT_WRITTEN = "not written yet"
_VISIBLE = "visible:"


@dataclass(frozen=True)
class TestResult:
    """One autograded test cell: the grader's verdict on public cases, and its visible tests.

    visible: None when they were not run, else (passed, reason).
    """

    grade_id: str
    points: float
    max_points: float
    message: str
    visible: tuple[bool, str] | None = None

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points and (self.visible is None or self.visible[0])


@dataclass
class SelfCheckReport:
    """The self-check of one notebook; ``print(report)`` or let Jupyter display it."""

    notebook: Path
    results: list[TestResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def points(self) -> float:
        return round(sum(r.points for r in self.results), 6)

    @property
    def max_points(self) -> float:
        return round(sum(r.max_points for r in self.results), 6)

    @property
    def all_passed(self) -> bool:
        return not self.problems and bool(self.results) and all(r.passed for r in self.results)

    def total_line(self) -> str:
        return (f"Total: {self.points:g} / {self.max_points:g} points on the public cases "
                f"({sum(r.passed for r in self.results)} of {len(self.results)} test cells pass)")

    def lines(self) -> list[tuple[str, str, str, str]]:
        """``(mark, grade id, points, reason)`` per test cell."""
        out = []
        for r in self.results:
            reason = "" if r.points >= r.max_points else r.message
            if r.visible is not None and not r.visible[0]:
                reason = "; ".join(x for x in (reason, f"visible test: {r.visible[1]}") if x)
            out.append(("PASS" if r.passed else "FAIL", r.grade_id,
                        f"{r.points:g}/{r.max_points:g}", reason))
        return out

    def __str__(self) -> str:
        width = max((len(r.grade_id) for r in self.results), default=0)
        lines = [f"Self-check of {self.notebook.name}"]
        lines += [f"  WARNING: {w}" for w in self.warnings]
        lines += [f"  PROBLEM: {p}" for p in self.problems]
        for mark, gid, pts, reason in self.lines():
            lines.append(f"  {mark}  {gid:<{width}}  {pts:>7}" + (f"  {reason}" if reason else ""))
        if not self.results:
            lines.append("  (no autograded test cells found in this notebook)")
        lines.append(self.total_line())
        lines.append("(The grader runs the same checks on other, secret cases.)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td style='color:{'#1a7f37' if m == 'PASS' else '#cf222e'};font-weight:bold'>"
            f"{m}</td><td><code>{e(g)}</code></td><td>{e(p)}</td><td>{e(r)}</td></tr>"
            for m, g, p, r in self.lines())
        notes = "".join(f"<p style='color:#9a6700'><b>Warning:</b> {e(w)}</p>"
                        for w in self.warnings)
        notes += "".join(f"<p style='color:#cf222e'><b>Problem:</b> {e(p)}</p>"
                         for p in self.problems)
        return (f"<div><b>Self-check of {e(self.notebook.name)}</b>{notes}<table><thead><tr>"
                "<th></th><th>test</th><th>points</th><th>reason</th></tr></thead>"
                f"<tbody>{rows}</tbody></table><p><b>{e(self.total_line())}</b><br><small>The "
                "grader runs the same checks on other, secret cases.</small></p></div>")


def assignment_of(path: Path) -> tuple[str, Path]:
    """The assignment a notebook belongs to (by file name) and its source notebook, from the
    course's notebooks folder (``$CNNKIT_NOTEBOOKS`` or notebooks/ of this kit)."""
    notebooks = Path(os.environ.get("CNNKIT_NOTEBOOKS") or NOTEBOOKS_DIR)
    for a in list_assignments(notebooks):
        candidate = notebooks / a / path.name
        if candidate.is_file():
            return a, candidate
    raise ValueError(f"{path.name} is not a notebook of this course (expected one of the "
                     f"notebooks in {notebooks}/NN_name/)")


def check(notebook_path: Path | str | None = None, run_notebook: bool = False,
          timeout: int = 600, progress: bool = True) -> SelfCheckReport | None:
    """Self-check ``notebook_path`` (default: the notebook this is called from).

    run_notebook: also run the whole notebook in a fresh kernel (slow) and take the visible
                  tests' results from that run.
    Returns the report, or None inside a notebook that is itself being run by the self-check.
    """
    if os.environ.get(_GUARD_ENV):
        print("(self-check cell skipped while the self-check runs this notebook)")
        return None
    path = Path(notebook_path) if notebook_path is not None else _current_notebook()
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    nb, problems = read_notebook(path)
    if nb is None:
        raise ValueError(f"{path} is not a readable notebook: {problems[0].text}")
    aid, source = assignment_of(path)
    report = SelfCheckReport(path.resolve())
    report.warnings += unsaved_changes(nb) if notebook_path is None else []
    visible = _run_visible(path, timeout) if run_notebook else None
    results, report.problems = _grade_public(aid, source, path, visible is None, progress)
    report.results = [_merge(r, visible) for r in results] if visible is not None else results
    return report


def _grade_public(aid: str, source: Path, path: Path, with_visible: bool,
                  progress: bool) -> tuple[list[TestResult], list[str]]:
    """The grader's checks on the public cases (and the visible tests in the same sandbox)."""
    from tqdm.auto import tqdm

    module = load_checks(aid)
    with tempfile.TemporaryDirectory(prefix="cnnkit-check-") as lib:
        student_library(Path(lib), library_of(module))
        # the sandbox imports numpy and torch while this process builds the checks
        with Sandbox(library=Path(lib), torch=True) as box:
            box.start()
            a = load_assignment(module, source)
            checks = build_checks(module, PUBLIC_SEED)
            extracted = extract(path, a.source)
            plans = [CheckPlan(c.name, tuple(case.steps for case in c.cases), c.timeout,
                               child_seed(PUBLIC_SEED, aid, c.name)) for c in checks]
            plans += _visible_plans(path) if with_visible else []
            bar = tqdm(total=len(plans), desc=f"checking {notebook_name(module)}",
                       unit="test", disable=not progress, leave=False)
            outcome = box.run(extracted.units, plans, lambda name: bar.update(1)) \
                if extracted.has_code else None
            bar.close()
    results, load = score(checks, a.points, extracted, outcome)
    vis = {name[len(_VISIBLE):]: cases for name, cases in (outcome.results.items()
           if outcome else []) if name.startswith(_VISIBLE)}
    out = [TestResult(r.name, r.points, r.max_points, r.message,
                      _visible_verdict(vis[r.name]) if r.name in vis else None)
           for r in results]
    return out, [p.text for p in [*extracted.problems, *load]]


def _visible_plans(path: Path) -> list[CheckPlan]:
    """One plan per test cell: its visible part, run after what it uses of the notebook's own
    code cells (their imports, functions and classes: setup, code given to students)."""
    nb, _ = read_notebook(path)
    if nb is None:
        return []
    provided: list[ast.stmt] = []
    for _i, cell, _info in cells_of(nb, CellKind.PLAIN, CellKind.LOCKED):
        if cell.get("cell_type") == "code":
            try:
                provided += ast.parse(kept_code(cell.source)).body
            except (SyntaxError, ValueError):
                continue
    plans = []
    for _i, c, info in cells_of(nb, CellKind.TEST):
        source = released_source(c.source)
        plans.append(CheckPlan(f"{_VISIBLE}{info.grade_id}", ((Call("@run_cell", (
            _needed(provided, source), source, f"visible test {info.grade_id}")),),), 30.0, 0))
    return plans


def _names(node: ast.AST | str) -> set[str]:
    try:
        tree = ast.parse(node) if isinstance(node, str) else node
    except (SyntaxError, ValueError):
        return set()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _needed(provided: list[ast.stmt], source: str) -> str:
    """The provided statements ``source`` uses, directly or through provided functions (a
    visible test need not pay for the notebook's matplotlib or torch imports when it does not
    use them)."""
    def binds(stmt: ast.stmt) -> set[str]:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            return {a.asname or a.name.split(".")[0] for a in stmt.names}
        return {getattr(stmt, "name", "")}
    used, keep = _names(source), set()
    changed = True
    while changed:
        changed = False
        for i, stmt in enumerate(provided):
            if i not in keep and binds(stmt) & used:
                keep.add(i)
                used |= _names(stmt)
                changed = True
    return "\n".join(ast.unparse(provided[i]) for i in sorted(keep))


def _visible_verdict(cases: list) -> tuple[bool, str]:
    r = cases[0][0] if cases and cases[0] else None
    if r is None:
        return True, "passes"
    if isinstance(r, Raised):
        if r.type == "NotImplementedError":
            return False, NOT_WRITTEN
        return False, clean_text(f"{r.type}: {r.message}" if r.message else r.type, 200)
    if isinstance(r, NotRun):
        return False, clean_text(r.detail, 200)
    return True, "passes"


def _merge(r: TestResult, visible: dict[str, tuple[bool, str]]) -> TestResult:
    return TestResult(r.grade_id, r.points, r.max_points, r.message, visible.get(r.grade_id))


# --------------------------------------------------------------------------------------------
# Where am I, and what did I run?
# --------------------------------------------------------------------------------------------


def _current_notebook() -> Path:
    """The notebook whose kernel calls us (jupyter_server sets JPY_SESSION_NAME)."""
    name = os.environ.get("JPY_SESSION_NAME")
    if name and name.endswith(".ipynb") and Path(name).is_file():
        return Path(name)
    here = sorted(Path.cwd().glob("*.ipynb"))
    if len(here) == 1:
        return here[0]
    raise ValueError("could not tell which notebook to check: call check('path/to/notebook.ipynb')")


def _norm(code: str) -> str:
    return "\n".join(line.rstrip() for line in code.strip().splitlines())


def unsaved_changes(nb: Any) -> list[str]:
    """Called from a notebook's kernel: solution cells whose saved text differs from what this
    kernel ran last (edits not saved, or saved and not run)."""
    try:
        ip = get_ipython()  # type: ignore[name-defined]  # noqa: F821
    except NameError:
        return []
    ran = [_norm(src) for src in ip.user_ns.get("In", []) if isinstance(src, str)]
    out = []
    for _i, cell, info in cells_of(nb, CellKind.SOLUTION):
        names = set(re.findall(r"^def (\w+)|^class (\w+)", cell.source, re.M)) if cell else set()
        defines = {n for pair in names for n in pair if n}
        if _norm(cell.source) in ran or not defines:
            continue
        if any(re.search(rf"^(def|class) {re.escape(n)}\b", src, re.M) for src in ran
               for n in defines):
            out.append(f"cell {info.grade_id}: what you ran differs from the saved notebook; "
                       "the saved version was checked (save with Ctrl+S and check again)")
    return out


# --------------------------------------------------------------------------------------------
# --run-notebook: the visible tests as the notebook runs them
# --------------------------------------------------------------------------------------------


def _run_visible(path: Path, timeout: int) -> dict[str, tuple[bool, str]]:
    """Run the notebook top to bottom in a fresh kernel; ``{grade_id: (passed, reason)}``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:  # a stale output must never count as a pass
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    old = os.environ.get(_GUARD_ENV)
    os.environ[_GUARD_ENV] = "1"  # inherited by the kernel: its check() cell does nothing
    died = None
    try:
        client.execute(stderr=subprocess.DEVNULL)
    except DeadKernelError:
        died = "the kernel died while running your notebook"
    except Exception as exc:  # noqa: BLE001 - any runner failure, in words
        died = f"the notebook could not be run ({type(exc).__name__})"
    finally:
        if old is None:
            os.environ.pop(_GUARD_ENV, None)
        else:
            os.environ[_GUARD_ENV] = old
    out = {}
    for _i, cell, info in cells_of(nb, CellKind.TEST):
        out[info.grade_id] = _cell_outcome(cell, died)
    return out


def _cell_outcome(cell: Any, died: str | None) -> tuple[bool, str]:
    if cell.get("execution_count") is None:
        return False, died or "this cell did not run"
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            if o.get("ename") == "NotImplementedError":
                return False, NOT_WRITTEN
            evalue = str(o.get("evalue", "")).strip().splitlines()
            return False, clean_text(f"{o.get('ename')}: {evalue[0]}" if evalue
                                     else str(o.get("ename")), 200)
    return True, "passes"


