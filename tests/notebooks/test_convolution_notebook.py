"""The source notebook of 02_convolution runs top to bottom and shows the right numbers."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbrun import code_errors, execute_notebook, figure_audit

NOTEBOOK = (Path(__file__).resolve().parents[2] / "notebooks" / "02_convolution"
            / "convolution.ipynb")
FAST = dict(SHOW_ANIMATION=False, BENCH_BATCH=4, BENCH_REPEAT=2, EPOCHS=1, TRAIN_SUBSET=500)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    # run time is measured by bench/bench_notebooks.py, not asserted here
    return execute_notebook(NOTEBOOK, FAST, timeout=300, audit_figures=True)


def _text(nb: nbformat.NotebookNode) -> str:
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.get("outputs", []) if out.get("output_type") == "stream")


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" for out in cell.get("outputs", []))


def test_runs_without_errors(executed) -> None:
    assert code_errors(executed) == []


def test_one_dimensional_edge_detector(executed) -> None:
    text = _text(executed)
    assert "channel 0, light-to-dark: [0. 1. 0.]" in text
    assert "channel 1, dark-to-light: [0. 0. 0.]" in text
    assert re.search(r"convolution\s+:\s+1,998 multiply-adds,\s+2 weights", text)


def test_convolution_vs_correlation_and_template_match(executed) -> None:
    text = _text(executed)
    sobel = re.search(r"Sobel x\s+symmetric: False .* max \|conv \+ corr\| = (\S+)", text)
    gauss = re.search(r"Gaussian blur\s+symmetric: True\s+max \|conv - corr\| = (\S+)", text)
    assert sobel and float(sobel.group(1)) < 1e-9  # antisymmetric kernel: conv == -corr
    assert gauss and float(gauss.group(1)) < 1e-9  # symmetric kernel: conv == corr
    assert "cut from (30, 70) found at (30, 70)" in text


def test_equivariance_and_pooling_demo(executed) -> None:
    text = _text(executed)
    inner = re.findall(r"error away from borders (\S+), everywhere (\S+)", text)
    assert len(inner) == 2 and all(float(a) < 1e-9 < float(b) for a, b in inner)
    change = dict(re.findall(r"(shift 1 px, (?:edge map|pooled 8x8))\s+relative change (\S+)",
                             text))
    assert float(change["shift 1 px, pooled 8x8"]) < 0.6 * float(change["shift 1 px, edge map"])


def test_parameter_count_table(executed) -> None:
    text = _text(executed)
    for name, count in [("fully connected", "38,547,712"), ("locally connected", "953,344"),
                        ("tiled (2x2 = 4 weight sets)", "4,864"), ("convolutional", "1,216")]:
        assert re.search(re.escape(name) + r"\s+" + count, text), name


def test_speed_table_lists_all_four_methods(executed) -> None:
    text = _text(executed)
    rows = re.findall(r"^(naive \(numpy, CPU\)|im2col \(numpy, CPU\)|cnnlib\.ops\.conv2d|"
                      r"torch conv2d)\s+([\d.]+)\s+([\d.]+)$", text, re.MULTILINE)
    assert [r[0] for r in rows] == ["naive (numpy, CPU)", "im2col (numpy, CPU)",
                                    "cnnlib.ops.conv2d", "torch conv2d"]
    assert float(rows[-1][2]) == 1.0
    assert float(rows[0][2]) > float(rows[1][2])  # the loop is slower than im2col


def test_sequence_and_volume_sections(executed) -> None:
    text = _text(executed)
    assert "7 samples, filter 3, stride 1 -> 5" in text
    assert "7 samples, filter 3, stride 2 -> 3" in text
    params = dict(re.findall(r"(1D convnet|MLP): ([\d,]+) parameters", text))
    conv, mlp = (int(params[k].replace(",", "")) for k in ("1D convnet", "MLP"))
    assert abs(conv - mlp) <= 0.2 * conv  # a fair comparison
    accuracies = re.findall(r"(1D convnet|MLP|multi-width)\s+final test accuracy ([\d.]+)", text)
    assert [name for name, _ in accuracies] == ["1D convnet", "MLP", "multi-width"]
    assert all(0.0 <= float(acc) <= 1.0 for _, acc in accuracies)
    assert "clip (8, 31, 31) -> predicted (8, 16, 16) torch (8, 16, 16)" in text
    # ConvNet1D's sizes floor (20.5, 10.5), but only padding is left over
    assert "real samples the stride-2 layers never read: 0 and 0" in text


def test_figures_are_drawn(executed) -> None:
    assert _images(executed) >= 10


def test_every_figure_has_a_title_and_labelled_axes(executed) -> None:
    figures = figure_audit(executed)
    assert len(figures) >= 10
    assert [f for f in figures if f["problems"]] == []
