"""Execute course notebooks in tests, with their parameters turned down."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


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


def execute_notebook(
    path: Path | str,
    params: dict[str, Any] | None = None,
    timeout: int = 600,
    allow_errors: bool = False,
    cwd: Path | str | None = None,
) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a fresh kernel and return it with outputs.

    Raises nbclient's CellExecutionError on the first failing cell unless ``allow_errors``.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, params or {})
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
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
