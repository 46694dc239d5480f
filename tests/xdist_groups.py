"""How ``make test`` splits the suite between xdist workers (``--dist loadgroup``)."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def xdist_group_of(item: pytest.Item, slow_modules: set[Path]) -> str | None:
    """Which xdist worker group a test joins under ``--dist loadgroup`` (``make test``).

    Slow modules build costly module/session fixtures (an executed notebook, a graded batch, an
    nbgrader course), so each stays on one worker; the nbgrader pipeline is split by assignment
    so the assignments run in parallel. Tests of fast modules (None) spread freely.
    """
    group = item.path.relative_to(ROOT).as_posix()
    if group in SANDBOX_MODULES:
        return "sandbox"
    if item.path not in slow_modules:
        return None
    callspec = getattr(item, "callspec", None)
    if item.path.name == "test_notebooks_nbgrader.py" and callspec is not None:
        group += f"::{callspec.params.get('assignment')}"
    return group
