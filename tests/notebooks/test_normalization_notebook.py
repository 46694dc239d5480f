"""Notebook 4 (normalization and regularization) runs top to bottom and shows its numbers."""

from __future__ import annotations

import re
import time
from pathlib import Path

import nbformat
import pytest
from fixtures.nbtools import stub_solutions
from nbrun import code_errors, errors_by_cell, execute_notebook, figure_audit, graded_cell_ids

pytestmark = pytest.mark.slow

NOTEBOOK = (Path(__file__).resolve().parents[2] / "notebooks" / "04_normalization"
            / "normalization.ipynb")
PARAMS = {"EPOCHS": 2, "LRS": [0.05, 1.0], "TRAIN_SUBSET": None, "DEPTH": 8, "WIDTH": 128,
          "N_SAMPLES": 256}


def _text(cell: nbformat.NotebookNode) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif "data" in o:
            out.append(o["data"].get("text/markdown", o["data"].get("text/plain", "")))
    return "\n".join(out)


def _cell_with(nb: nbformat.NotebookNode, snippet: str) -> nbformat.NotebookNode:
    cells = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    assert len(cells) == 1, f"expected one code cell containing {snippet!r}"
    return cells[0]


@pytest.fixture(scope="module")
def executed() -> tuple[nbformat.NotebookNode, float]:
    start = time.perf_counter()
    nb = execute_notebook(NOTEBOOK, PARAMS, timeout=300, audit_figures=True)
    return nb, time.perf_counter() - start


def test_runs_without_errors_and_every_visible_test_passes(executed) -> None:
    nb, seconds = executed
    assert code_errors(nb) == []
    text = "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert text.count("visible tests passed") == 11
    print(f"notebook 4 executed in {seconds:.1f} s")


def test_figures_are_drawn(executed) -> None:
    nb, _ = executed
    pngs = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))
    # mean face, 2 init plots, pixel histograms, norm cubes, sweep curves, dropout maps
    assert pngs >= 7
    figures = figure_audit(nb)
    assert len(figures) >= 7
    assert [f for f in figures if f["problems"]] == []


def test_initialization_table(executed) -> None:
    nb, _ = executed
    text = _text(_cell_with(nb, "std of the activations of the last layer"))
    rows = {m[0]: tuple(float(v.rstrip("%")) for v in m[1:])
            for m in re.findall(r"^(\w+)\s+(\S+)\s+(\S+) -> (\S+)\s+(\S+)%$", text, flags=re.M)}
    assert set(rows) == {"zero", "small", "xavier", "he"}
    assert rows["zero"] == (0.0, 0.0, 0.0, 0.0)
    assert rows["small"][0] < 1e-6 and rows["small"][2] < 1e-6
    assert 0.4 < rows["he"][0] < 1.5                 # He keeps the ReLU signal
    assert rows["xavier"][0] < 0.2                   # Xavier fades with ReLU
    # tanh, what the prose says: Xavier shrinks slowly (0.63 -> 0.26 at the test's depth of 8)
    # without saturating; He levels off near 0.56 with more units saturated
    xavier_first, xavier_last = rows["xavier"][1:3]
    assert 0.55 < xavier_first < 0.7 and 0.2 < xavier_last < 0.5 * xavier_first
    assert 0.45 < rows["he"][2] < 0.65
    assert rows["xavier"][3] < 1.0 < rows["he"][3]


def test_covariate_shift_costs_accuracy_unless_each_image_is_standardised(executed) -> None:
    nb, _ = executed
    text = _text(_cell_with(nb, "lesson.covariate_shift_accuracy("))
    acc = {m[0]: (float(m[1]), float(m[2])) for m in re.findall(
        r"^(raw pixels|each image standardised)\s+test accuracy ([\d.]+), on the washed-out "
        r"digits ([\d.]+)$", text, flags=re.M)}
    assert acc["raw pixels"][0] > 0.9 and acc["raw pixels"][1] < acc["raw pixels"][0] - 0.15
    assert acc["each image standardised"][1] == acc["each image standardised"][0] > 0.9


def test_identity_recovery_and_bn_statistics(executed) -> None:
    nb, _ = executed
    text = _text(_cell_with(nb, "gamma = sigma, beta = mu"))
    err = float(re.search(r"max \|out - x\| = (\S+)", text).group(1))
    assert err < 1e-8
    stds = re.search(r"stds: \[([^\]]+)\]", text).group(1).split()
    assert [round(float(s), 2) for s in stds] == [1.0, 2.0, 0.5]


def test_sweep_table_and_mode_mixup(executed) -> None:
    nb, _ = executed
    table = _text(_cell_with(nb, "lesson.sweep_table(rows)"))
    assert "| 0.05 |" in table and "| 1 |" in table
    # batch norm rescues lr = 1: the plain net learns nothing there, the BN net does
    row = re.search(r"^\| 1 \| (.*) \| (.*) \|$", table, flags=re.M)
    assert "no better than chance" in row.group(1) or "NaN" in row.group(1), row.group(0)
    assert float(row.group(2).split(" / ")[0]) > 0.5, row.group(0)
    text = _text(_cell_with(nb, "lesson.mode_mixup("))
    rows = [tuple(map(float, m)) for m in
            re.findall(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)$", text, flags=re.M)]
    assert [int(r[0]) for r in rows] == [1, 4, 32, 256]
    assert len({r[1] for r in rows}) == 1           # eval mode: batch size does not matter
    assert rows[0][2] <= 0.2 < rows[0][1]            # batch of one in train mode: about chance


def test_folding_and_dropout_outputs(executed) -> None:
    nb, _ = executed
    text = _text(_cell_with(nb, "fold_bn_into_conv"))
    assert float(re.search(r"max \|folded - original\|.*: (\S+)", text).group(1)) < 1e-4
    assert "batch-norm layers left: 0" in text
    text = _text(_cell_with(nb, "for p in (0.1, 0.5, 0.9)"))
    dropped = [float(x) for x in re.findall(r"dropped ([\d.]+)%", text)]
    assert [round(d, -1) for d in dropped] == [10.0, 50.0, 90.0]
    means = [float(x) for x in re.findall(r"after ([\d.]+)", text)]
    assert all(abs(m - 3.0) < 0.1 for m in means)


def test_unsolved_notebook_fails_only_in_its_test_cells(tmp_path: Path) -> None:
    nb, _ = stub_solutions(nbformat.read(NOTEBOOK, as_version=4))
    path = tmp_path / NOTEBOOK.name
    nbformat.write(nb, path)
    done = execute_notebook(path, PARAMS, timeout=300, allow_errors=True, cwd=NOTEBOOK.parent)
    failing = errors_by_cell(done)
    assert set(failing) == graded_cell_ids(nb)  # every test cell fails, nothing else does
    assert all(e == ["NotImplementedError"] for e in failing.values()), failing
    text = "".join(_text(c) for c in done.cells if c.cell_type == "code")
    assert "Exercise 3 is not written yet." in text and "Exercise 11 is not written yet." in text


def test_backward_timing_compares_equal_gradients(executed) -> None:
    nb, _ = executed
    text = _text(_cell_with(nb, "best_time(batchnorm_backward_alt"))
    assert re.search(r"speed-up [\d.]+x, same dx: True\)", text), text
