"""How ``make test`` splits the suite between xdist workers (``-n 2 --dist loadscope``).

xdist's own ``--dist loadgroup`` does not work with this pytest (it renames nodes through an
attribute pytest 9 no longer reads), so ``conftest.py`` hands xdist :class:`GroupedScheduling`,
whose scopes come from :func:`scope_of`: a scope's tests run on one worker, in order.
"""

from __future__ import annotations

import re
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

ROOT = Path(__file__).resolve().parents[1]

# Modules that start sandbox children share one worker: some assert that no sandbox process is
# left anywhere on the machine, which a sandbox of the other worker would break.
SANDBOX_MODULES = {
    "tests/adversarial/test_adversarial.py",
    "tests/adversarial/test_notebook1.py",
    "tests/grading/test_grade.py",
    "tests/grading/test_sandbox.py",
    "tests/pipeline/test_cli.py",
}
# Folders whose modules build costly module/session fixtures (an executed notebook, a graded
# batch, an nbgrader course, a JupyterLab server): each module stays on one worker.
HEAVY_FOLDERS = ("tests/adversarial/", "tests/browser/", "tests/grading/", "tests/notebooks/",
                 "tests/pipeline/")
# The nbgrader round trip of every assignment: one scope per assignment, so they run side by side.
PIPELINE = "tests/pipeline/test_notebooks_nbgrader.py"


def scope_of(nodeid: str) -> str:
    """The scope of a test id such as ``tests/pipeline/x.py::test_y[01_conv_arithmetic]``."""
    path, _, name = nodeid.partition("::")
    if path in SANDBOX_MODULES:
        return "sandbox"
    if path == PIPELINE:
        param = re.search(r"\[([^\]]+)\]$", name)
        return f"{path}::{param.group(1) if param else name}"
    if path.startswith(HEAVY_FOLDERS):
        return path
    return nodeid  # fast tests spread freely


class GroupedScheduling(LoadScopeScheduling):
    """xdist's load-by-scope scheduler with the scopes of :func:`scope_of`."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)
