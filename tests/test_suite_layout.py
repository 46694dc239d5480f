"""How the suite is split between xdist workers stays in step with what the modules do."""

from __future__ import annotations

import re

from xdist_groups import ROOT, SANDBOX_MODULES

# What starts sandbox children: the sandbox itself, the grading pipeline, `cnnkit grade`.
_STARTS_SANDBOXES = re.compile(r"run_in_sandbox\(|grade_assignment\(|\[\s*\"grade\",")


def test_sandbox_modules_exist() -> None:
    assert all((ROOT / m).is_file() for m in SANDBOX_MODULES), SANDBOX_MODULES


def test_every_module_that_starts_sandboxes_shares_the_sandbox_group() -> None:
    users = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
             if _STARTS_SANDBOXES.search(p.read_text())}
    assert users, "the pattern no longer finds any sandbox user: update it"
    assert users <= SANDBOX_MODULES, sorted(users - SANDBOX_MODULES)
