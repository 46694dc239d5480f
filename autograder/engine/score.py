"""Score one submission: build the seeded checks, run their cases in the sandbox, judge here.

The trusted half of grading. The sandbox returns plain data; this module decides: whether a
raise was deliberate (from the student's source at that line), whether the exercise breaks a
structural rule (from the source, never by running it), each case's verdict, and the points
(read from the source notebook, the one place they live).
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import re
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from autograder.checks.kit import Check, Status, Verdict, combine, judge_case
from autograder.checks.structure import SourceView, ban_violations, imported_exercises
from autograder.engine.extract import Extracted
from autograder.results import CheckResult, Problem, ProblemKind
from autograder.sandbox.protocol import Raised
from autograder.sandbox.run import CheckPlan, Outcome, Sandbox
from autograder.sandbox.steps import needs_torch

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def case_rng(seed: int | str, assignment: str) -> np.random.Generator:
    """The generator of the hidden cases: a hash of (seed, assignment id), stable across runs."""
    digest = hashlib.sha256(f"cnnkit-cases:{seed}:{assignment}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def child_seed(seed: int | str, assignment: str, check: str) -> int:
    """The seed the sandbox gives numpy/torch for one check's cases (reveals nothing of
    ``seed``: a hash)."""
    digest = hashlib.sha256(f"cnnkit-child:{seed}:{assignment}:{check}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def build_checks(module: ModuleType, seed: int | str) -> list[Check]:
    """The checks of ``module`` (``ASSIGNMENT`` + ``build_checks``) with cases drawn for
    ``seed``; same seed, same cases."""
    _one_thread_oracles()
    checks = list(module.build_checks(case_rng(seed, module.ASSIGNMENT)))
    names = [c.name for c in checks]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate check names in {module.__name__}: {sorted(names)}")
    return checks


def _one_thread_oracles() -> None:
    """The oracles are tiny float64 ops: torch's thread pool only slows them (a 4x4 conv takes
    ms instead of us on a busy machine), and workers of a batch share the cores anyway."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


def checks_need_torch(checks: Sequence[Check]) -> bool:
    return any(needs_torch(case.steps) for c in checks for case in c.cases)


def structural_violations(check: Check, view: SourceView) -> list[str]:
    found = imported_exercises(view, check.exercise)
    found += ban_violations(view, check.exercise, check.bans)
    for rule in check.rules:
        found += rule.violations(view)
    return found


def run_checks(sandbox: Sandbox, extracted: Extracted, checks: Sequence[Check],
               assignment: str, seed: int | str) -> Outcome:
    """Run the cases of ``checks`` against the extracted code in ``sandbox``."""
    plans = [CheckPlan(c.name, tuple(case.steps for case in c.cases), c.timeout,
                       child_seed(seed, assignment, c.name)) for c in checks]
    return sandbox.run(extracted.units, plans)


def score(checks: Sequence[Check], points: Mapping[str, float], extracted: Extracted,
          outcome: Outcome | None) -> tuple[list[CheckResult], list[Problem]]:
    """Points of every check, and the load problems of the run.

    outcome: what the sandbox returned; None when there was no code to run.
    """
    view = SourceView(extracted.units)
    raise_lines = _raise_lines(extracted.units)
    load = [Problem(ProblemKind.LOAD_ERROR, f"cell {e.cell}, line {e.line}: {e.type}: "
                    f"{e.message[:150]} (raised while your code was loaded)", e.cell)
            for e in (outcome.load_errors if outcome else []) if e.cell]
    load += [Problem(ProblemKind.LOAD_ERROR, f"{e.type}: {e.message[:150]}")
             for e in (outcome.load_errors if outcome else []) if not e.cell]
    cell_problems = {**{p.cell: p for p in load if p.cell}, **extracted.broken}
    verdicts = [_verdict(check, view, raise_lines, extracted, outcome) for check in checks]
    uses = _broken_helpers(checks, verdicts, view)
    out = []
    for check, verdict in zip(checks, verdicts, strict=True):
        top = float(points.get(check.name, 0.0))
        related = list(dict.fromkeys(
            cell_problems[extracted.defined_in[n]].text for n in check.exercise
            if extracted.defined_in.get(n) in cell_problems))
        helper = [uses[check.name]] if check.name in uses else []
        # "not written yet" would be wrong there: the exercise is written (it calls the
        # helper), the helper's own stub raised NotImplementedError
        said = [] if helper and verdict.status == Status.NOT_WRITTEN else [verdict.message]
        message = "; ".join([*related, *helper, *said]) if verdict.fraction < 1 \
            else verdict.message
        out.append(CheckResult(check.name, round(verdict.fraction * top, 6), top, message))
    return out, load


def _broken_helpers(checks: Sequence[Check], verdicts: Sequence[Verdict], view: SourceView
                    ) -> dict[str, str]:
    """``{check: note}`` for a check that lost points while its exercise calls the student's
    own solution of another exercise that lost points too: fix that one first. Only the
    helpers at the root are named (conv_output_size, not the conv_output_volume built on it)."""
    lost = {name: c.name for c, v in zip(checks, verdicts, strict=True) if v.fraction < 1
            for name in c.exercise}
    used = {c.name: [n for n in view.reachable(c.exercise)
                     if n not in c.exercise and lost.get(n, c.name) != c.name]
            for c, v in zip(checks, verdicts, strict=True) if v.fraction < 1}
    out: dict[str, str] = {}
    for check, helpers in used.items():
        roots = [n for n in helpers if not used.get(lost[n])] or helpers
        if roots:
            tests = list(dict.fromkeys(lost[n] for n in roots))
            verb, which = ("loses", "that") if len(roots) == 1 else ("lose", "those")
            out[check] = (f"it uses your {_and(roots)}, which {verb} points in {_and(tests)}: "
                          f"fix {which} first")
    return out


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _verdict(check: Check, view: SourceView, raise_lines: dict[str, set[int]],
             extracted: Extracted, outcome: Outcome | None) -> Verdict:
    violations = structural_violations(check, view)
    if violations:
        return Verdict(0.0, "; ".join(violations))
    if outcome is None:
        if not extracted.has_code:
            return Verdict(0.0, "no solution code found in the notebook", Status.NOT_RUN)
        return Verdict(0.0, "not run", Status.NOT_RUN)
    per_case = outcome.results.get(check.name) or []
    verdicts = []
    for case, results in zip(check.cases, per_case, strict=False):
        results = [_settle(r, raise_lines) for r in results or []]
        verdicts.append(judge_case(case, results))
    if not verdicts:
        return Verdict(0.0, "no result for this check", Status.NOT_RUN)
    return combine(verdicts, [c.weight for c in check.cases[: len(verdicts)]])


def _settle(r: Any, raise_lines: dict[str, set[int]]) -> Any:
    """A raise is deliberate when the student's own ``raise``/``assert`` statement made it; its
    message loses object addresses (same submission, same words)."""
    if not isinstance(r, Raised):
        return r
    deliberate = bool(r.own and r.cell and r.line and r.line in raise_lines.get(r.cell, ()))
    return dataclasses.replace(r, message=_ADDRESS.sub("0x...", r.message),
                               deliberate=deliberate)


def _raise_lines(units: Sequence[tuple[str, str]]) -> dict[str, set[int]]:
    """``{cell: lines}`` covered by a ``raise`` or ``assert`` statement of the student's."""
    out: dict[str, set[int]] = {}
    for cell, code in units:
        try:
            tree = ast.parse(code)
        except (SyntaxError, ValueError):
            continue
        lines: set[int] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Raise, ast.Assert)):
                lines |= set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        out[cell] = lines
    return out
