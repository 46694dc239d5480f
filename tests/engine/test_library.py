"""The student-facing copy of cnnlib the sandbox may import holds no graded exercise."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import autograder.checks
from autograder.engine.library import student_library, student_modules


def _exercise_names() -> set[str]:
    names: set[str] = set()
    for info in pkgutil.iter_modules(autograder.checks.__path__):
        if info.name in ("kit", "structure"):
            continue
        mod = importlib.import_module(f"autograder.checks.{info.name}")
        if hasattr(mod, "build_checks"):
            import numpy as np

            names |= {n for c in mod.build_checks(np.random.default_rng(0)) for n in c.exercise}
    return names


def _defined(path: Path) -> set[str]:
    return {n.name for n in ast.parse(path.read_text()).body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_no_module_of_the_copy_defines_a_graded_exercise(tmp_path: Path) -> None:
    copied = student_library(tmp_path)
    exercises = _exercise_names()
    assert "conv_forward_naive" in exercises and "ResidualBlock" in exercises
    for m in copied:
        assert not _defined(tmp_path / "cnnlib" / f"{m}.py") & exercises, m
    assert {"models", "ops", "arith"}.isdisjoint(copied)
    assert sorted(p.stem for p in (tmp_path / "cnnlib").glob("*.py")) == sorted(
        [*copied, "__init__"])


def test_a_module_is_kept_only_with_the_modules_it_imports(tmp_path: Path) -> None:
    lib = tmp_path / "src"
    lib.mkdir()
    (lib / "device.py").write_text("import torch\n")
    (lib / "viz.py").write_text("from cnnlib import arith\n")
    (lib / "data.py").write_text("from . import device\n")
    (lib / "arith.py").write_text("def conv_output_size(): pass\n")
    assert student_modules(lib) == ["data", "device"]
