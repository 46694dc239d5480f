"""How the suite is split between xdist workers stays in step with what the modules do."""

from __future__ import annotations

import re

import pytest
from xdist_groups import HEAVY_FOLDERS, PIPELINE, ROOT, scope_of

# What starts sandboxes or kernels: a module of these keeps its costly fixture on one worker.
_HEAVY = re.compile(r"Sandbox\(|grade_assignment\(|execute_notebook\(|\[\s*\"grade\",")


def test_heavy_paths_exist() -> None:
    assert all((ROOT / p).exists() for p in HEAVY_FOLDERS), HEAVY_FOLDERS
    assert (ROOT / PIPELINE).is_file()


def test_every_module_that_starts_sandboxes_or_kernels_is_heavy() -> None:
    users = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
             if _HEAVY.search(p.read_text())}
    assert users, "the pattern no longer finds any: update it"
    light = sorted(u for u in users if not u.startswith(HEAVY_FOLDERS))
    assert light == [], f"give these one worker each (HEAVY_FOLDERS): {light}"


@pytest.mark.parametrize(("nodeid", "scope"), [
    ("tests/adversarial/test_adversarial.py::test_attack_gets_exact_grade_and_reason[os_exit]",
     "tests/adversarial/test_adversarial.py"),
    (f"{PIPELINE}::test_source_earns_full_points[02_convolution]",
     f"{PIPELINE}::02_convolution"),
    ("tests/notebooks/test_backprop_notebook.py::test_runs[x]",
     "tests/notebooks/test_backprop_notebook.py"),
    ("tests/unit/test_ops.py::test_conv2d[3-1]", "tests/unit/test_ops.py::test_conv2d[3-1]"),
    ("tests/engine/test_score.py::test_a", "tests/engine/test_score.py::test_a"),
])
def test_scope_of(nodeid: str, scope: str) -> None:
    assert scope_of(nodeid) == scope


def test_pipeline_ids_carry_only_the_assignment() -> None:
    """scope_of reads the assignment from the test id: the module must keep it the only param."""
    text = (ROOT / PIPELINE).read_text()
    assert 'pytestmark = pytest.mark.parametrize("assignment", ASSIGNMENTS)' in text
    assert text.count("parametrize(") == 1
