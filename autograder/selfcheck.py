"""Student self-check: run your notebook in a fresh kernel and say which tests pass, and why not.

From a terminal::

    cnnkit check notebooks/01_conv_arithmetic/conv_arithmetic.ipynb

From the last cell of the notebook itself (save first: the saved file is what gets checked)::

    from autograder.selfcheck import check
    check()

It needs no instructor setup (no course folder, no gradebook). It runs only the tests that are
in your notebook (the visible ones); the grader runs more, hidden ones, on new inputs.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Set in the kernel that runs the notebook, so a ``check()`` cell inside it does not recurse.
_GUARD_ENV = "CNNKIT_SELFCHECK_RUNNING"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
NOT_WRITTEN = "NotImplementedError: you have not written this yet"


@dataclass(frozen=True)
class TestResult:
    """Outcome of one autograded test cell.

    grade_id: nbgrader id of the test cell (``test_conv_forward``).
    passed:   the cell ran without an error.
    points:   points earned (``max_points`` when passed, else 0).
    reason:   plain words: "all tests in this cell pass", the assertion message,
              :data:`NOT_WRITTEN`, or the first line of any other error.
    """

    grade_id: str
    passed: bool
    points: float
    max_points: float
    reason: str


@dataclass
class SelfCheckReport:
    """Per-test-cell results of one run of a notebook; ``print(report)`` or display it."""

    notebook: Path
    results: list[TestResult] = field(default_factory=list)
    #: set when the run stopped early (kernel died, cell timed out badly, invalid notebook).
    problem: str | None = None
    #: the executed notebook (outputs included), for callers that want to look further.
    executed: Any = None

    @property
    def points(self) -> float:
        return sum(r.points for r in self.results)

    @property
    def max_points(self) -> float:
        return sum(r.max_points for r in self.results)

    @property
    def all_passed(self) -> bool:
        return self.problem is None and bool(self.results) and all(r.passed for r in self.results)

    def total_line(self) -> str:
        n_pass = sum(r.passed for r in self.results)
        return (
            f"Total: {_fmt(self.points)} / {_fmt(self.max_points)} points "
            f"({n_pass} of {len(self.results)} test cells pass)"
        )

    def __str__(self) -> str:
        lines = [f"Self-check of {self.notebook.name}"]
        if not self.results:
            lines.append("  (no autograded test cells found in this notebook)")
        width = max((len(r.grade_id) for r in self.results), default=0)
        for r in self.results:
            mark = "PASS" if r.passed else "FAIL"
            pts = f"{_fmt(r.points)}/{_fmt(r.max_points)}"
            line = f"  {mark}  {r.grade_id:<{width}}  {pts:>7}"
            lines.append(line if r.passed else f"{line}  {r.reason}")
        if self.problem:
            lines.append(f"  PROBLEM: {self.problem}")
        lines.append(self.total_line())
        lines.append("(Visible tests only: the grader also runs hidden tests on new inputs.)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = []
        for r in self.results:
            color = "#1a7f37" if r.passed else "#cf222e"
            rows.append(
                "<tr>"
                f"<td style='color:{color};font-weight:bold'>{'PASS' if r.passed else 'FAIL'}</td>"
                f"<td><code>{html.escape(r.grade_id)}</code></td>"
                f"<td>{_fmt(r.points)} / {_fmt(r.max_points)}</td>"
                f"<td>{'' if r.passed else html.escape(r.reason)}</td>"
                "</tr>"
            )
        problem = (
            f"<p style='color:#cf222e'><b>Problem:</b> {html.escape(self.problem)}</p>"
            if self.problem
            else ""
        )
        return (
            f"<div><b>Self-check of {html.escape(self.notebook.name)}</b>"
            "<table><thead><tr><th></th><th>test</th><th>points</th><th>reason</th></tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{problem}"
            f"<p><b>{html.escape(self.total_line())}</b><br>"
            "<small>Visible tests only: the grader also runs hidden tests on new inputs.</small>"
            "</p></div>"
        )

    def __repr__(self) -> str:
        return str(self)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _graded_cells(nb: Any) -> list[tuple[int, str, float]]:
    """``(cell index, grade_id, points)`` of the autograded test cells (code, ``grade: true``)."""
    out = []
    for i, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade"):
            out.append((i, str(meta.get("grade_id", f"cell-{i}")), float(meta.get("points", 0))))
    return out


def reason_from_error(output: dict[str, Any]) -> str:
    """Plain-words reason for an nbformat ``error`` output (``ename``, ``evalue``, ``traceback``).

    >>> reason_from_error({"ename": "AssertionError", "evalue": "stride 2 gives 3"})
    'stride 2 gives 3'
    """
    ename = str(output.get("ename", "Error"))
    evalue = str(output.get("evalue", "")).strip()
    if ename == "NotImplementedError":
        return NOT_WRITTEN
    if ename == "AssertionError":
        if evalue:
            return evalue.splitlines()[0]
        # A bare ``assert``: show the failing line, which IPython marks with an arrow.
        for tb in output.get("traceback", []):
            for line in _ANSI.sub("", str(tb)).splitlines():
                m = re.match(r"^\s*-+>\s*\d+\s+(.*)$", line)
                if m:
                    return f"this check failed: {m.group(1).strip()}"
        return "an assert failed (no message)"
    first = evalue.splitlines()[0] if evalue else ""
    return f"{ename}: {first}" if first else ename


def _cell_verdict(cell: Any, grade_id: str, points: float, timeout: int) -> TestResult:
    if cell.get("execution_count") is None:
        return TestResult(grade_id, False, 0.0, points, "this cell did not run")
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            # nobody presses Ctrl+C in a headless run: an interrupt is nbclient's timeout
            reason = (
                f"this cell ran longer than {timeout} s and was stopped"
                if out.get("ename") == "KeyboardInterrupt"
                else reason_from_error(out)
            )
            return TestResult(grade_id, False, 0.0, points, reason)
    return TestResult(grade_id, True, points, points, "all tests in this cell pass")


def _inject_parameters(nb: Any, params: dict[str, Any]) -> None:
    import nbformat

    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "\n".join(f"{k} = {v!r}" for k, v in params.items())
            nb.cells.insert(i + 1, nbformat.v4.new_code_cell(src, metadata={"tags": ["injected"]}))
            return
    raise ValueError("params given, but the notebook has no cell tagged 'parameters'")


def _current_notebook() -> Path:
    """Path of the notebook whose kernel calls us (jupyter_server sets JPY_SESSION_NAME)."""
    name = os.environ.get("JPY_SESSION_NAME")
    if name and name.endswith(".ipynb") and Path(name).is_file():
        return Path(name)
    here = sorted(Path.cwd().glob("*.ipynb"))
    if len(here) == 1:
        return here[0]
    raise ValueError(
        "could not tell which notebook to check: call check('path/to/notebook.ipynb')"
    )


def check(
    notebook_path: Path | str | None = None,
    timeout: int = 600,
    params: dict[str, Any] | None = None,
    kernel_name: str = "python3",
) -> SelfCheckReport | None:
    """Run ``notebook_path`` top to bottom in a fresh kernel and report every autograded test cell.

    notebook_path: the ``.ipynb`` to check; default: the notebook this is called from.
    timeout:       seconds any one cell may run before it is interrupted (and fails).
    params:        values overriding the cell tagged ``parameters`` (e.g. fewer epochs).
    Returns a :class:`SelfCheckReport` (``print`` it, or let Jupyter display it), or ``None``
    when called from inside a notebook that is itself being self-checked.
    Raises FileNotFoundError / ValueError for a missing path or a file that is not a notebook.
    """
    if os.environ.get(_GUARD_ENV):
        print("(self-check cell skipped while the self-check runs this notebook)")
        return None
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    path = Path(notebook_path) if notebook_path is not None else _current_notebook()
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several types for broken JSON
        raise ValueError(f"{path} is not a readable notebook: {str(exc).splitlines()[0]}") from exc
    for cell in nb.cells:  # a stale output must never count as a pass
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if params:
        _inject_parameters(nb, params)
    report = SelfCheckReport(notebook=path.resolve())
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        allow_errors=True,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "TimeoutError",
            "evalue": f"this cell ran longer than {timeout} s and was stopped",
            "traceback": [],
        },
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    died = False
    current = {"index": -1}  # the cell being run, to know where a dying kernel stopped

    def _started(cell: Any, cell_index: int) -> None:
        current["index"] = cell_index

    client.on_cell_start = _started
    old = os.environ.get(_GUARD_ENV)
    os.environ[_GUARD_ENV] = "1"  # inherited by the kernel process
    try:
        # the kernel process's own stderr is launcher noise (e.g. ipykernel's TCP warning);
        # what the student's cells print still arrives as cell output
        client.execute(stderr=subprocess.DEVNULL)
    except DeadKernelError as exc:
        died = True
        report.problem = f"the kernel died while running your notebook ({exc})"
    except Exception as exc:  # noqa: BLE001 - report any runner failure in words
        report.problem = f"the notebook could not be run: {type(exc).__name__}: {exc}"
    finally:
        if old is None:
            os.environ.pop(_GUARD_ENV, None)
        else:
            os.environ[_GUARD_ENV] = old
    report.executed = nb
    report.results = [
        _cell_verdict(nb.cells[i], gid, pts, timeout) for i, gid, pts in _graded_cells(nb)
    ]
    if died:
        # the last cell that started is where the kernel died: it did not pass, whatever
        # output it managed to send before dying
        last = current["index"]
        for k, (i, gid, pts) in enumerate(_graded_cells(nb)):
            if i == last:
                report.results[k] = TestResult(
                    gid, False, 0.0, pts, "the kernel died while running this cell"
                )
            elif i > last:
                report.results[k] = TestResult(gid, False, 0.0, pts, "this cell did not run")
    return report
