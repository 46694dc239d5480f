"""A few attacks on the real assignment 1 (01_conv_arithmetic), graded as one batch.

Each attack is planted at the start of ``max_pool_2d`` (no other exercise calls it), so it must
cost exactly test_max_pool_2d's 3 points, and nothing else, of the 20.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from autograder.course.cells import released_source
from autograder.engine.batch import grade_assignment

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
NB1 = ROOT / "notebooks" / "01_conv_arithmetic" / "conv_arithmetic.ipynb"
CHECKS = ROOT / "autograder" / "checks" / "conv_arithmetic.py"

ATTACKS = {
    # name: (code run first in max_pool_2d, expected total, reason substring)
    "honest": ("", 20.0, ""),
    "os_exit": ("import os\nos._exit(0)", 17.0, "the Python process exited (exit code 0"),
    "segfault": ("import ctypes\nctypes.string_at(0)", 17.0, "segmentation fault"),
    "sys_exit": ("import sys\nsys.exit(1)", 17.0, "SystemExit"),
    "alloc_50gb": ("np.ones(50 * 2**30 // 8)", 17.0, "MemoryError"),
    "monkeypatch_and_wrong": (
        "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
        "return np.zeros((1, 1))", 17.0, "max_pool_2d"),
    "read_secrets": (
        f"for p in {[str(CHECKS), str(NB1)]!r}:\n"
        "    try:\n        open(p).read(1)\n        return None\n"
        "    except OSError:\n        pass", 20.0, ""),
}


def _submission(body: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NB1, as_version=4)
    for cell in nb.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if nbg.get("locked"):
            cell.source = released_source(cell.source)
        if nbg.get("grade_id") == "max_pool_2d_impl" and body:
            m = re.search(r'^def max_pool_2d[^\n]*\n\s*"""[\s\S]*?"""\n', cell.source,
                          re.MULTILINE)
            inject = "".join(f"    {line}\n" for line in body.splitlines())
            cell.source = cell.source[:m.end()] + inject + cell.source[m.end():]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if not NB1.exists() or not CHECKS.exists():
        pytest.skip("notebook 1 or its hidden checks not written yet")
    root = tmp_path_factory.mktemp("nb1")
    for name, (body, _total, _reason) in ATTACKS.items():
        path = root / "submitted" / name / "conv_arithmetic.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(_submission(body), path)
    results = grade_assignment("01_conv_arithmetic", root / "submitted", root / "out", jobs=2,
                               seed="nb1-adversarial", source_nb=NB1, progress=False)
    return {r.student: r for r in results}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_on_notebook_1(graded: dict, name: str) -> None:
    _body, total, reason = ATTACKS[name]
    r = graded[name]
    pts = {c.name: c.points for c in r.results}
    assert r.total == total, ([c.message for c in r.results], r.problems)
    assert all(p == c.max_points for c in r.results if c.name != "test_max_pool_2d"
               for p in [pts[c.name]])
    if reason:
        mp = next(c for c in r.results if c.name == "test_max_pool_2d")
        assert mp.points == 0.0 and reason in mp.message, mp.message
    assert r.problems == []
