"""What the notebooks say in words: corrected facts stay corrected (issue 13), and every
notebook tells how to run it. Static checks on the stored notebooks; nothing is executed."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*/*.ipynb"))


def _prose(path: Path) -> str:
    """All markdown of a notebook with line breaks folded, plus the code (for docstrings)."""
    nb = nbformat.read(path, as_version=4)
    return re.sub(r"\s+", " ", "\n".join(c.source for c in nb.cells))


def _notebook(name: str) -> str:
    return _prose(next(p for p in PATHS if p.stem == name))


def test_there_are_six_notebooks() -> None:
    assert [p.parent.name[:2] for p in PATHS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_first_cell_says_how_to_run_the_notebook(path: Path) -> None:
    first = re.sub(r"\s+", " ", nbformat.read(path, as_version=4).cells[0].source)
    assert "one cell at a time" in first
    assert "*Run All* stops at the first test cell" in first
    assert "from autograder.selfcheck import check; check()" in first


WRONG = {  # statements the notebooks made and must not make again
    "conv_arithmetic": [
        "Weight sharing makes the cost of a layer independent",
        "then the same computation as an animation",
        "in this course such a configuration is an **error** you must notice",
    ],
    "convolution": [
        "the smallest border where padding",
        "the maximum of a $4\\times4$ window",
    ],
    "backprop": [
        "(left)", "(right)",
        "A single bad step is enough to kill a good part of the layer",
    ],
    "normalization": [
        "one of the lecture decks",
        "Train on MNIST-like digits and test on natural photographs",
        "Dividing by the standard deviation, PCA or whitening",
        "With tanh, Xavier keeps a healthy spread",
    ],
    "case_studies": [
        "weight decay 1e-5 and no dropout",
        "VGG costs an order of magnitude more arithmetic",
        "only about 5 million parameters",
        "about 61 MB", "528 MB",
        "LeNet-5 (LeCun et al., 1998) read handwritten ZIP codes",
        "doubles after each pool",
        "Everything else is identical",
    ],
}
RIGHT = {  # the corrections, in the notebooks' words
    "conv_arithmetic": ["makes the **parameter count** independent of $W_1$ and $H_1$",
                        "**harmless** when the cells left over are only padding"],
    "convolution": ["not the smallest one: max(|dy|, |dx|, KH // 2, KW // 2) is already enough",
                    "the maximum of an $8\\times8$ window"],
    "backprop": ["In the first figure", "In the second figure",
                 "only a step a thousand times too large (lr = 100) kills about a quarter"],
    "normalization": ["**covariate shift**", "*not* be an example",
                      "What is rarely used for images is **PCA or whitening**",
                      "Xavier's activations *shrink* slowly"],
    "case_studies": ["weight decay $10^{-4}$ (He et al. 2015",
                     "VGG-16 costs about 4 times the arithmetic of ResNet-50",
                     "about 58 MiB", "another 528 MiB",
                     "Reading handwritten ZIP codes was the work of its predecessor, LeCun et "
                     "al., 1989",
                     "doubles after each of the first three pools",
                     "torchvision's GoogLeNet has 6.6 million",
                     "the *projection*"],
}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_corrected_statements_stay_corrected(name: str) -> None:
    text = _notebook(name)
    assert [w for w in WRONG[name] if w in text] == []
    assert [r for r in RIGHT[name] if r not in text] == []
