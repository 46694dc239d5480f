"""Hidden checks, one module per assignment (never released to students).

Each module exposes ``ASSIGNMENT`` and ``build_checks(rng) -> list[Check]``; see
``autograder.checkkit`` for the contract.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def module_name(assignment: str) -> str:
    """``"02_convolution"`` -> ``"convolution"``: the check module of an assignment id."""
    head, sep, rest = assignment.partition("_")
    return rest if sep and head.isdigit() else assignment


def load(assignment: str) -> ModuleType:
    """Import the hidden-check module of ``assignment``; a clear error when there is none."""
    name = module_name(assignment)
    try:
        return importlib.import_module(f"autograder.checks.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"autograder.checks.{name}":
            raise ValueError(
                f"no hidden checks for assignment {assignment!r} "
                f"(expected autograder/checks/{name}.py)"
            ) from None
        raise
