"""The case-studies source notebook runs top to bottom with turned-down parameters."""

from __future__ import annotations

import pickle
import re
import time
from pathlib import Path

import numpy as np
import pytest
from nbrun import code_errors, execute_notebook

NOTEBOOK = (Path(__file__).resolve().parents[2] / "notebooks" / "05_case_studies"
            / "case_studies.ipynb")
FAST = {
    "DIGITS_EPOCHS": 3,
    "DEGRADATION_DEPTHS": (8, 14),
    "DEGRADATION_EPOCHS": 1,
    "DEGRADATION_WIDTH": 4,
    "FACES_EPOCHS": 2,
    "CIFAR_EPOCHS": 1,
    "CIFAR_SUBSET": 60,
    "COST_TABLE_AT_224": False,
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
    nb = execute_notebook(NOTEBOOK, {**FAST, "CIFAR_ROOT": str(tmp_path)}, timeout=300)
    elapsed = time.perf_counter() - t0
    print(f"case_studies notebook ran in {elapsed:.0f} s")
    assert code_errors(nb) == []
    text = "\n".join(_text(c) for c in nb.cells if c.cell_type == "code")
    # the VGG16 budget totals, printed from the student's (here: the solution's) function
    assert "15,237,608 activations" in text
    assert "138,357,544 parameters" in text
    # the AlexNet table: CONV1 has 34,944 parameters, the net 62,378,344
    assert re.search(r"AlexNet CONV1: output .*55, 55.*34,944 parameters; whole net: "
                     r"62,378,344", text)
    # the degradation experiment trained all four nets and printed their errors
    assert len(re.findall(r"final training error", text)) == 4
    # real data was learned from even with 3 epochs: digits accuracy well above chance (10%)
    acc = float(re.search(r"digits test accuracy: ([0-9.]+)", text).group(1))
    assert acc > 0.5
    assert "faces test accuracy" in text
    # the CIFAR-10 branch ran on the local (here: fake) copy with the ConvNetJS net
    assert "CIFAR-10 not found" not in text and "'top3'" in text
    # charts: ILSVRC, budget, degradation curves, Canziani, history, confusion, top-k x2,
    # filters x2, activation maps, and CIFAR top-k + filters
    assert _n_images(nb) >= 13
