"""Notebook 03_backprop runs top to bottom (source and unsolved) and shows the right results."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from fixtures.nbtools import stub_solutions
from nbrun import code_errors, errors_by_cell, execute_notebook, figure_audit, graded_cell_ids

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "03_backprop" / "backprop.ipynb"
FAST = {"N_CHECK": 2, "WARMUP_EPOCHS": 1, "BIG_LRS": (1.0, 100.0)}

pytestmark = pytest.mark.slow


def _stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" for out in cell.get("outputs", []))


def test_source_notebook_runs_and_its_results_are_right() -> None:
    start = time.perf_counter()
    nb = execute_notebook(NOTEBOOK, FAST, audit_figures=True)
    elapsed = time.perf_counter() - start
    print(f"backprop notebook (turned down) ran in {elapsed:.1f} s")
    assert code_errors(nb) == []
    text = _stream_text(nb)

    worst = float(re.search(r"largest relative error over all parameters: (\S+)", text).group(1))
    assert worst < 5e-5, f"end-to-end gradient check of the small conv net failed: {worst}"

    # what section 7 says: almost no saturated sigmoid at scale 1, about a quarter at scale 4
    sat = {float(s): int(p) for s, p in re.findall(r"weight scale (\S+): (\d+)% of sigmoid", text)}
    assert set(sat) == {1.0, 4.0}, sat
    assert sat[1.0] <= 5 and 15 <= sat[4.0] <= 40, sat

    # the measured sweep: a step at lr=1 kills no more units than training left dead (about
    # 4%); only the wildly too large lr=100 kills about a quarter of the layer
    before = int(re.search(r"before the big step\s+(\d+)% dead", text).group(1))
    at_1 = int(re.search(r"after one step at lr=1\s+(\d+)% dead", text).group(1))
    at_100 = int(re.search(r"after one step at lr=100\s+(\d+)% dead", text).group(1))
    assert before <= 10 and at_1 <= before + 2, (before, at_1)
    assert 15 <= at_100 <= 40 and at_100 > before + 10, (before, at_100)

    # circuit (x2), gate patterns, neuron, activations, 2 histogram sets, dead ReLU bars
    assert _images(nb) >= 8
    figures = figure_audit(nb)
    assert len(figures) >= 8
    assert [f for f in figures if f["problems"]] == []


def test_unsolved_notebook_fails_only_in_its_test_cells(tmp_path: Path) -> None:
    nb, n_solutions = stub_solutions(nbformat.read(NOTEBOOK, as_version=4))
    assert n_solutions >= 20
    path = tmp_path / "backprop.ipynb"
    nbformat.write(nb, path)

    ran = execute_notebook(path, FAST, allow_errors=True)
    graded = graded_cell_ids(ran)
    assert len(graded) == 9
    assert errors_by_cell(ran) == dict.fromkeys(graded, ["NotImplementedError"])
    text = _stream_text(ran)
    assert "MultiplyGate is not written yet" in text
    assert "finish exercises 4 to 7" in text
