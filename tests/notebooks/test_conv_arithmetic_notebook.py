"""Notebook 1 (convolution arithmetic) runs top to bottom and shows the syllabus numbers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from fixtures.nbtools import stub_solutions
from nbrun import code_errors, errors_by_cell, execute_notebook, figure_audit, graded_cell_ids

pytestmark = pytest.mark.slow

NOTEBOOK = (Path(__file__).resolve().parents[2] / "notebooks" / "01_conv_arithmetic"
            / "conv_arithmetic.ipynb")
PARAMS = {"SHOW_ANIMATION": True, "ANIMATION_N": 5}


def _text(cell: nbformat.NotebookNode) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif "data" in o:
            out.append(o["data"].get("text/plain", ""))
    return "".join(out)


def _mimes(nb: nbformat.NotebookNode) -> list[str]:
    return [mime for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            for mime in o.get("data", {})]


@pytest.fixture(scope="module")
def executed() -> tuple[nbformat.NotebookNode, float]:
    start = time.perf_counter()
    nb = execute_notebook(NOTEBOOK, PARAMS, timeout=300, audit_figures=True)
    return nb, time.perf_counter() - start


def test_runs_without_errors(executed: tuple[nbformat.NotebookNode, float]) -> None:
    nb, seconds = executed
    assert code_errors(nb) == []
    print(f"notebook 1 executed in {seconds:.1f} s")


def test_first_cells_print_recognisable_text(
    executed: tuple[nbformat.NotebookNode, float],
) -> None:
    nb, _ = executed
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert _text(code[0]).startswith("Notebook 1: convolution arithmetic\n")
    # the banner names the torch threads that device.configure() chose for this machine
    assert re.search(r"^cpu: \d+ cores?, \d+ torch threads? \[.+\] \(torch ", _text(code[0]),
                     re.M)
    assert _text(code[1]) == ("stretched image: 3072 numbers\nFC weight matrix W: (10, 3072)\n"
                              "one score = a dot product of length 3072\n")
    assert _text(code[2]) == "one filter: (3, 5, 5) -> 75 weights + 1 bias per position\n"


@pytest.mark.parametrize(
    "expected",
    [
        "6 filters 5x5x3  (6, 28, 28)",
        "10 filters 5x5x6 (10, 24, 24)",
        "sizes after each 5x5 layer without padding: [32, 28, 24, 20, 16, 12, 8, 4]",
        "torch, N=7 F=3 S=3: (2, 2)",
        "conv_output_size: filter 3 with stride 3 and pad 0 does not fit an input of 7",
        "F=3: P=1, 7x7 input -> 7x7",
        "F=7: P=3, 7x7 input -> 7x7",
        "params: 760 | output: (10, 32, 32)",
        "1x1 conv: (64, 56, 56) -> (32, 56, 56) | params: 2080",
        "same as a Linear(64, 32) at every pixel: True",
        "MaxPool2d(2, 2) params: 0",
        "activation volume (D, H, W): (5, 28, 28)",
        "neurons: 3920 | distinct parameters: 380",
        "total params 62,378,344",
        "total params 22,466",
        # flooring: harmless when only padding is left over, a bug when real pixels are dropped
        "N=7, F=3, S=3                          2.33 -> 2, real cells never read: 1",
        "3x3, stride 2, pad 1 on 8 (ResNet)     4.5 -> 4, real cells never read: 0",
        "3, stride 2, pad 1 on 40 (notebook 2)  20.5 -> 20, real cells never read: 0",
        "1x1, stride 2 on 8 (subsamples)        4.5 -> 4, real cells never read: 4",
        # weight sharing fixes the parameter count, not the compute or the memory
        "3x3 conv 64 -> 64 on 32x32: 36,928 parameters, 37,748,736 multiply-adds, "
        "0.25 MiB of output",
        "3x3 conv 64 -> 64 on 224x224: 36,928 parameters, 1,849,688,064 multiply-adds, "
        "12.25 MiB of output",
    ],
)
def test_key_numbers_are_printed(executed: tuple[nbformat.NotebookNode, float],
                                 expected: str) -> None:
    nb, _ = executed
    assert expected in "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")


def test_conv2d_knobs_table(executed: tuple[nbformat.NotebookNode, float]) -> None:
    nb, _ = executed
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    rows = {m.group(1).strip(): (m.group(2), int(m.group(3))) for m in
            re.finditer(r"^(.{32}) (\(\d+, \d+, \d+\))\s+(\d+)$", text, re.MULTILINE)}
    assert rows["stride=2, padding=1"] == ("(16, 8, 8)", 16 * 8 * 9 + 16)
    assert rows["padding='valid'"] == ("(16, 14, 14)", 1168)
    assert rows["padding='same'"] == ("(16, 16, 16)", 1168)
    assert rows["dilation=2"] == ("(16, 12, 12)", 1168)
    assert rows["groups=2"] == ("(16, 16, 16)", 16 * 4 * 9 + 16)
    assert rows["groups=8 (depthwise)"] == ("(8, 16, 16)", 8 * 9 + 8)


def test_pictures_animation_and_explorer_are_shown(
    executed: tuple[nbformat.NotebookNode, float],
) -> None:
    nb, _ = executed
    mimes = _mimes(nb)
    assert mimes.count("image/png") >= 9  # geometry x5, pooling, receptive field, maps, bars
    assert "application/vnd.jupyter.widget-view+json" in mimes
    html = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "text/html" in o.get("data", {})]
    assert any("<img" in h and "anim" in h.lower() for h in html)


def test_every_figure_has_a_title_and_labelled_axes(
    executed: tuple[nbformat.NotebookNode, float],
) -> None:
    nb, _ = executed
    figures = figure_audit(nb)
    assert len(figures) >= 10
    assert [f for f in figures if f["problems"]] == []


def test_stored_without_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_unsolved_notebook_fails_only_in_test_cells(tmp_path: Path) -> None:
    nb, _ = stub_solutions(nbformat.read(NOTEBOOK, as_version=4))
    path = tmp_path / NOTEBOOK.name
    nbformat.write(nb, path)
    ran = execute_notebook(path, {"SHOW_ANIMATION": False}, timeout=300, allow_errors=True,
                           cwd=NOTEBOOK.parent)
    assert set(errors_by_cell(ran)) == graded_cell_ids(ran)  # test cells fail, nothing else
    assert set(code_errors(ran)) == {"NotImplementedError"}
