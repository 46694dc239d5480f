"""The case-studies source notebook runs top to bottom with turned-down parameters."""

from __future__ import annotations

import pickle
import re
import time
from pathlib import Path

import numpy as np
import pytest
from nbrun import code_errors, execute_notebook, figure_audit

NOTEBOOK = (Path(__file__).resolve().parents[2] / "notebooks" / "05_case_studies"
            / "case_studies.ipynb")
FAST = {
    "DIGITS_EPOCHS": 3,
    # the smallest setting where the degradation shows clearly (a few seconds)
    "DEGRADATION_DEPTHS": (8, 20),
    "DEGRADATION_EPOCHS": 2,
    "DEGRADATION_WIDTH": 4,
    "FACES_EPOCHS": 2,
    "CIFAR_EPOCHS": 1,
    "CIFAR_SUBSET": 60,
}


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def _n_images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))


def _fake_cifar(root: Path, n: int = 20) -> None:
    """A tiny CIFAR-10 in the standard python-batches format (no download in tests)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)


@pytest.mark.slow
def test_source_notebook_runs_with_fast_parameters(tmp_path):
    _fake_cifar(tmp_path)
    t0 = time.perf_counter()
    nb = execute_notebook(NOTEBOOK, {**FAST, "CIFAR_ROOT": str(tmp_path)}, timeout=300,
                          audit_figures=True)
    elapsed = time.perf_counter() - t0
    print(f"case_studies notebook ran in {elapsed:.0f} s")
    assert code_errors(nb) == []
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    # the VGG16 budget totals, printed from the student's (here: the solution's) function
    assert "15,237,608 activations = 58 MiB per image" in text  # the unit the prose uses
    assert "138,357,544 parameters = 528 MiB" in text
    # GoogLeNet counted on the course's model of the paper's table, as the prose says
    assert ("GoogLeNet, the paper's 22 layers (weights and biases, no auxiliary classifiers): "
            "6,998,552 parameters = 7.0 M") in text
    assert "AlexNet has 8.9x as many, VGG16 19.8x; with the two auxiliary classifiers: 13.4 M" \
        in text
    # VGG-16 costs about 4x the multiply-adds of ResNet-50 (not an order of magnitude)
    ratio = float(re.search(r"VGG-16 needs ([\d.]+)x the multiply-adds of ResNet-50", text)[1])
    assert 3.5 < ratio < 4.5
    # the AlexNet table: CONV1 has 34,944 parameters, the net 62,378,344
    assert re.search(r"AlexNet CONV1: output .*55, 55.*34,944 parameters; whole net: "
                     r"62,378,344", text)
    # the degradation experiment: the deeper plain net trains clearly worse than the shallow
    # one and than the residual net of its depth, while the two residual nets end alike
    err = {m[0]: float(m[1]) for m in re.findall(r"(\w+-\d+): final training error\s+([\d.]+)%",
                                                 text)}
    assert set(err) == {"plain-8", "resnet-8", "plain-20", "resnet-20"}, err
    assert err["plain-20"] > err["plain-8"] + 15 and err["plain-20"] > err["resnet-20"] + 15, err
    assert abs(err["resnet-20"] - err["resnet-8"]) < 10, err
    # the residual nets differ from the plain ones by their 1x1 projections, counted
    params = {m[0]: (int(m[1].replace(",", "")), int((m[2] or "0").replace(",", ""))) for m in
              re.findall(r"^(\w+-\d+): ([\d,]+) parameters(?:, ([\d,]+) of them in its 1x1 "
                         r"projection shortcuts)?$", text, flags=re.M)}
    for depth in (8, 20):
        plain, res = params[f"plain-{depth}"], params[f"resnet-{depth}"]
        assert plain[1] == 0 < res[1] and res[0] - plain[0] == res[1], (plain, res)
    # real data was learned from even with 3 epochs: digits accuracy well above chance (10%)
    acc = float(re.search(r"digits test accuracy: ([0-9.]+)", text).group(1))
    assert acc > 0.5
    assert "faces test accuracy" in text
    # the CIFAR-10 branch ran on the local (here: fake) copy with the ConvNetJS net
    assert "CIFAR-10 not found" not in text and "'top3'" in text
    # charts: ILSVRC, budget, degradation curves, Canziani, history, confusion, top-k x2,
    # filters x2, activation maps, and CIFAR top-k + filters
    assert _n_images(nb) >= 13
    figures = figure_audit(nb)
    assert len(figures) >= 13
    assert [f for f in figures if f["problems"]] == []
