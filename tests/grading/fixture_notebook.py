"""Source notebook and submissions of the fixture assignment (see fixture_checks.py)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.extract import released_source

RELU = '''def relu_forward(x):
    """x: (any shape). Returns (out, cache) with out = max(x, 0), cache = x."""
    ### BEGIN SOLUTION
    out = np.maximum(x, 0)
    ### END SOLUTION
    return out, x
'''

SIZE = '''def conv_output_size(n, f, stride=1, pad=0):
    """Output length of a convolution over n inputs with filter f."""
    ### BEGIN SOLUTION
    return (n + 2 * pad - f) // stride + 1
    ### END SOLUTION
'''

CONV = '''def conv_forward_naive(x, w, b, conv_param):
    """x: (N, C, H, W), w: (F, C, HH, WW), b: (F,). Returns (out, cache)."""
    ### BEGIN SOLUTION
    s, p = conv_param["stride"], conv_param["pad"]
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    ho, wo = (h + 2 * p - hh) // s + 1, (wd + 2 * p - ww) // s + 1
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * s:i * s + hh, j * s:j * s + ww]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    ### END SOLUTION
    return out, (x, w, b, conv_param)
'''

SOLUTIONS = {"relu_forward_impl": RELU, "conv_output_size_impl": SIZE,
             "conv_forward_naive_impl": CONV}

TESTS = {
    "test_relu_forward": ("out, _ = relu_forward(np.array([-1.0, 2.0]))\n"
                          "assert np.allclose(out, [0, 2])\n"
                          "### BEGIN HIDDEN TESTS\n"
                          "assert relu_forward(np.array([3.0]))[0][0] == 3\n"
                          "### END HIDDEN TESTS", 2),
    "test_conv_output_size": ("assert conv_output_size(5, 3) == 3", 1),
    "test_conv_forward_naive": ("x = np.ones((1, 1, 3, 3)); w = np.ones((1, 1, 3, 3))\n"
                                "out, _ = conv_forward_naive(x, w, np.zeros(1), "
                                "{'stride': 1, 'pad': 0})\nassert out[0, 0, 0, 0] == 9", 4),
}


def _meta(gid: str, solution: bool = False, grade: bool = False, locked: bool = False,
          points: float | None = None) -> dict:
    nbg = {"grade": grade, "grade_id": gid, "locked": locked, "schema_version": 3,
           "solution": solution}
    if points is not None:
        nbg["points"] = points
    return {"nbgrader": nbg}


def make_source() -> NotebookNode:
    """The instructor's source notebook (solutions and hidden tests inside)."""
    nb = nbformat.v4.new_notebook()
    cells = [
        nbformat.v4.new_markdown_cell("# Fixture\nWrite three functions.",
                                      metadata=_meta("md_intro", locked=True)),
        nbformat.v4.new_code_cell("import numpy as np\n%matplotlib inline"),
    ]
    for (sid, src), (tid, (test, pts)) in zip(SOLUTIONS.items(), TESTS.items(), strict=True):
        cells.append(nbformat.v4.new_code_cell(src, metadata=_meta(sid, solution=True)))
        cells.append(nbformat.v4.new_code_cell(
            test, metadata=_meta(tid, grade=True, locked=True, points=pts)))
    nb.cells = cells
    for i, c in enumerate(nb.cells):
        c["id"] = f"cell-{i}"
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def make_submission(solutions: dict[str, str] | None = None) -> NotebookNode:
    """A released-and-filled-in notebook: hidden tests removed, solution cells replaced."""
    nb = make_source()
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("locked"):
            cell.source = released_source(cell.source)
        if solutions and gid in solutions:
            cell.source = solutions[gid]
    return nb


def write(nb: NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path
