"""The boundaries of autograder/ as folders (shared/DESIGN.md, "Target layout"): who may import
what, and no decision reading the wording of a message."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "autograder"


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def _ours(names: set[str]) -> set[str]:
    return {n for n in names if n == "autograder" or n.startswith("autograder.")}


def _rel(p: Path) -> str:
    return p.relative_to(PKG).as_posix()


@pytest.mark.parametrize("path", [p for p in _modules() if _rel(p).startswith("sandbox/")],
                         ids=_rel)
def test_the_sandbox_imports_nothing_else_of_autograder(path: Path) -> None:
    bad = {n for n in _ours(_imports(path)) if not n.startswith("autograder.sandbox")}
    assert not bad, f"{_rel(path)} imports {sorted(bad)}: it is copied alone into the child"


@pytest.mark.parametrize("path", [p for p in _modules() if _rel(p).startswith("checks/")
                                  and p.name not in ("kit.py", "structure.py", "__init__.py")],
                         ids=_rel)
def test_check_modules_import_only_the_kit(path: Path) -> None:
    allowed = ("autograder.checks.kit", "autograder.sandbox.protocol")
    bad = {n for n in _ours(_imports(path)) if not n.startswith(allowed)}
    assert not bad, f"{_rel(path)} imports {sorted(bad)}"


def test_the_kit_imports_only_its_structure_rules_and_the_protocol() -> None:
    for name in ("kit.py", "structure.py"):
        bad = {n for n in _ours(_imports(PKG / "checks" / name))
               if not n.startswith(("autograder.checks.structure", "autograder.sandbox.protocol"))}
        assert not bad, (name, bad)


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_only_course_imports_nbgrader(path: Path) -> None:
    uses = {n for n in _imports(path) if n == "nbgrader" or n.startswith("nbgrader.")}
    assert not uses or _rel(path).startswith("course/"), f"{_rel(path)} imports {sorted(uses)}"


def test_the_data_model_is_at_the_bottom() -> None:
    assert _ours(_imports(PKG / "results.py")) == set()
    for p in _modules():
        assert "autograder.cli" not in _imports(p), f"{_rel(p)} imports the CLI"
        if _rel(p).startswith(("engine/", "course/", "checks/", "sandbox/")):
            assert "autograder.selfcheck" not in _imports(p), _rel(p)


_TEXT_FIELDS = {"message", "text", "reason", "detail", "evalue"}


def _reads_wording(node: ast.AST) -> bool:
    """``"words" in x.message``, ``x.message.startswith(...)``, ``x.message == "..."``."""
    def is_text(n: ast.AST) -> bool:
        return isinstance(n, ast.Attribute) and n.attr in _TEXT_FIELDS
    if isinstance(node, ast.Compare):
        return any(is_text(c) for c in [node.left, *node.comparators]) and any(
            isinstance(c, ast.Constant) and isinstance(c.value, str)
            for c in [node.left, *node.comparators])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("startswith", "endswith", "find", "index") and \
            is_text(node.func.value)
    return False


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_no_decision_reads_the_wording_of_a_message(path: Path) -> None:
    hits = [n.lineno for n in ast.walk(ast.parse(path.read_text())) if _reads_wording(n)]
    assert not hits, f"{_rel(path)} decides on message text at lines {hits}: use a kind"


def test_the_rule_finds_what_it_looks_for() -> None:
    assert _reads_wording(ast.parse('"mount namespace" in note.text').body[0].value)
    assert _reads_wording(ast.parse('p.message.startswith("locked cell")').body[0].value)
    assert not _reads_wording(ast.parse('p.kind == Kind.X').body[0].value)
