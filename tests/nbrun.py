"""Execute course notebooks in tests, with their parameters turned down."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def figure_problems(fig: Any) -> list[str]:
    """What a reader would miss in a matplotlib figure: a title saying what to look at (the
    figure's own, or the title of its only panel) and both axis labels on every chart panel.

    Panels drawn without axes (``axis("off")``, or no ticks on either axis: pictures such as
    photographs and filters) need no axis labels; colour bars are not panels.
    """
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"
              and (ax.lines or ax.patches or ax.collections or ax.images or ax.texts)]
    suptitle = fig._suptitle.get_text().strip() if fig._suptitle is not None else ""
    problems = []
    if not suptitle and not (len(panels) == 1 and panels[0].get_title().strip()):
        problems.append("no title (a figure title, or the title of its only panel)")
    for i, ax in enumerate(panels):
        picture = not ax.axison or (len(ax.get_xticks()) == 0 and len(ax.get_yticks()) == 0)
        if picture:
            continue
        missing = [a for a, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel()))
                   if not label.strip()]
        if missing:
            name = ax.get_title() or f"panel {i}"
            problems.append(f"{name!r}: no {' and no '.join(missing)} axis label")
    return problems


# Runs in the kernel, after the cell tagged ``parameters``: every figure the notebook displays
# (returned, display()ed, or drawn with pyplot) passes through IPython's PNG formatter, which
# this wraps to record the figure's problems with the execution count of its cell.
_AUDIT_SETUP = """
import matplotlib.figure as _audit_mfig
from IPython import get_ipython as _audit_ip
_AUDIT_LOG = []
_audit_png = _audit_ip().display_formatter.formatters["image/png"]
_audit_draw = _audit_png.lookup_by_type(_audit_mfig.Figure)


def _audited(fig, *args, **kwargs):
    _AUDIT_LOG.append({"cell": _audit_ip().execution_count, "problems": figure_problems(fig),
                       "title": fig._suptitle.get_text() if fig._suptitle else
                       next((a.get_title() for a in fig.axes if a.get_title()), "")})
    return _audit_draw(fig, *args, **kwargs)


_audit_png.for_type(_audit_mfig.Figure, _audited)
"""
_AUDIT_REPORT = "import json as _audit_json\nprint('FIGURE-AUDIT ' + _audit_json.dumps(_AUDIT_LOG))"


def figure_audit(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """The figures of a notebook run with ``audit_figures=True``: one entry per displayed figure,
    ``{"cell": execution count, "title": ..., "problems": [...]}``."""
    for cell in reversed(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            if text.startswith("FIGURE-AUDIT "):
                return json.loads(text[len("FIGURE-AUDIT "):])
    raise ValueError("the notebook was not run with audit_figures=True")


def inject_parameters(nb: nbformat.NotebookNode, params: dict[str, Any]) -> None:
    """Insert a cell assigning ``params`` right after the cell tagged ``parameters``.

    Raises ValueError when params are given but the notebook has no such cell.
    """
    if not params:
        return
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            src = "\n".join(f"{k} = {v!r}" for k, v in params.items())
            nb.cells.insert(i + 1, nbformat.v4.new_code_cell(src, metadata={"tags": ["injected"]}))
            return
    raise ValueError("notebook has no cell tagged 'parameters' to override")


def _inject_audit(nb: nbformat.NotebookNode) -> None:
    at = next((i for i, c in enumerate(nb.cells)
               if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if at is None:
        raise ValueError("notebook has no cell tagged 'parameters' to audit figures after")
    setup = "from typing import Any\n\n\n" + inspect.getsource(figure_problems) + _AUDIT_SETUP
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(setup, metadata={"tags": ["injected"]}))
    nb.cells.append(nbformat.v4.new_code_cell(_AUDIT_REPORT, metadata={"tags": ["injected"]}))


def execute_notebook(
    path: Path | str,
    params: dict[str, Any] | None = None,
    timeout: int = 600,
    allow_errors: bool = False,
    cwd: Path | str | None = None,
    audit_figures: bool = False,
) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel and return it with outputs.

    audit_figures: record every displayed figure's problems (:func:`figure_problems`); read
    them with :func:`figure_audit`.
    Raises nbclient's CellExecutionError on the first failing cell unless ``allow_errors``.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, params or {})
    if audit_figures:
        _inject_audit(nb)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        # ipykernel's loopback-TCP warning would otherwise fill test and benchmark logs
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        allow_errors=allow_errors,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    client.execute()
    return nb


def code_errors(nb: nbformat.NotebookNode) -> list[str]:
    """Names of the errors raised by code cells of an executed notebook."""
    return [
        out.get("ename", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]


def errors_by_cell(nb: nbformat.NotebookNode) -> dict[str, list[str]]:
    """``{grade id (or the first 60 characters of an ungraded cell): error names}`` of the code
    cells of an executed notebook that raised."""
    out = {}
    for cell in nb.cells:
        errors = [o.get("ename", "") for o in cell.get("outputs", [])
                  if o.get("output_type") == "error"]
        if cell.cell_type == "code" and errors:
            out[cell.metadata.get("nbgrader", {}).get("grade_id", cell.source[:60])] = errors
    return out


def graded_cell_ids(nb: nbformat.NotebookNode) -> set[str]:
    """Grade ids of the autograded test cells (written answers are markdown: they do not run)."""
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("grade")}
