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

# Folders whose modules build costly module/session fixtures (an executed notebook, a graded
# batch, an nbgrader course, a warm sandbox, a JupyterLab server): each module stays on one
# worker. (No test asserts anything about sandboxes it did not start: they run side by side.)
HEAVY_FOLDERS = ("tests/adversarial/", "tests/browser/", "tests/course/test_course.py",
                 "tests/engine/test_batch.py", "tests/notebooks/", "tests/pipeline/",
                 "tests/sandbox/test_sandbox.py")
# The nbgrader round trip of every assignment: one scope per assignment, so they run side by side.
PIPELINE = "tests/pipeline/test_notebooks_nbgrader.py"


def scope_of(nodeid: str) -> str:
    """The scope of a test id such as ``tests/pipeline/x.py::test_y[01_conv_arithmetic]``."""
    path, _, name = nodeid.partition("::")
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
