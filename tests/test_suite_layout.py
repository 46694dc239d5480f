"""How the suite is split between xdist workers stays in step with what the modules do."""

from __future__ import annotations

import re

import pytest
from xdist_groups import PIPELINE, ROOT, SANDBOX_MODULES, scope_of

# What starts sandbox children: the sandbox itself, the grading pipeline, `cnnkit grade`.
_STARTS_SANDBOXES = re.compile(r"run_in_sandbox\(|grade_assignment\(|\[\s*\"grade\",")


def test_sandbox_modules_exist() -> None:
    assert all((ROOT / m).is_file() for m in SANDBOX_MODULES), SANDBOX_MODULES
    assert (ROOT / PIPELINE).is_file()


def test_every_module_that_starts_sandboxes_shares_the_sandbox_scope() -> None:
    users = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
             if _STARTS_SANDBOXES.search(p.read_text())}
    assert users, "the pattern no longer finds any sandbox user: update it"
    assert users <= SANDBOX_MODULES, sorted(users - SANDBOX_MODULES)


@pytest.mark.parametrize(("nodeid", "scope"), [
    ("tests/adversarial/test_adversarial.py::test_attack_gets_exact_grade_and_reason[os_exit]",
     "sandbox"),
    ("tests/pipeline/test_cli.py::test_help", "sandbox"),
    (f"{PIPELINE}::test_source_earns_full_points[02_convolution]",
     f"{PIPELINE}::02_convolution"),
    (f"{PIPELINE}::test_untouched_release_earns_zero[02_convolution]",
     f"{PIPELINE}::02_convolution"),
    ("tests/notebooks/test_backprop_notebook.py::test_runs[x]",
     "tests/notebooks/test_backprop_notebook.py"),
    ("tests/unit/test_ops.py::test_conv2d[3-1]", "tests/unit/test_ops.py::test_conv2d[3-1]"),
])
def test_scope_of(nodeid: str, scope: str) -> None:
    assert scope_of(nodeid) == scope


def test_pipeline_ids_carry_only_the_assignment() -> None:
    """scope_of reads the assignment from the test id: the module must keep it the only param."""
    text = (ROOT / PIPELINE).read_text()
    assert 'pytestmark = pytest.mark.parametrize("assignment", ASSIGNMENTS)' in text
    assert text.count("parametrize(") == 1
