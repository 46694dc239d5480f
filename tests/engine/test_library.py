"""The student-facing copy of cnnlib the sandbox may import holds no graded exercise of the
assignment it is made for; reference code another assignment builds on (the capstone's layers)
is copied for that assignment only."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest

import autograder.checks
from autograder.engine import batch
from autograder.engine.library import library_of, student_library, student_modules

ROOT = Path(__file__).resolve().parents[2]


def _check_modules() -> list[ModuleType]:
    mods = [importlib.import_module(f"autograder.checks.{info.name}")
            for info in pkgutil.iter_modules(autograder.checks.__path__)
            if info.name not in ("kit", "structure")]
    return [m for m in mods if hasattr(m, "build_checks")]


def _exercises_of(mod: ModuleType) -> set[str]:
    return {n for c in mod.build_checks(np.random.default_rng(0)) for n in c.exercise}


def _exercise_names() -> set[str]:
    return set().union(*(_exercises_of(m) for m in _check_modules()))


def _defined(path: Path) -> set[str]:
    return {n.name for n in ast.parse(path.read_text()).body
            if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_no_module_of_the_copy_defines_a_graded_exercise(tmp_path: Path) -> None:
    copied = student_library(tmp_path)
    exercises = _exercise_names()
    assert "conv_forward_naive" in exercises and "ResidualBlock" in exercises
    for m in copied:
        assert not _defined(tmp_path / "cnnlib" / f"{m}.py") & exercises, m
    assert {"models", "ops", "arith", "layers"}.isdisjoint(copied)
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


@pytest.mark.parametrize("mod", _check_modules(), ids=lambda m: m.ASSIGNMENT)
def test_each_assignments_copy_holds_none_of_its_own_exercises(tmp_path: Path,
                                                             mod: ModuleType) -> None:
    copied = student_library(tmp_path, library_of(mod))
    own = _exercises_of(mod)
    for m in copied:
        assert not _defined(tmp_path / "cnnlib" / f"{m}.py") & own, (mod.ASSIGNMENT, m)
    assert set(copied) - set(student_modules(tmp_path / "cnnlib")) <= set(library_of(mod))


def test_only_the_capstone_gets_the_reference_layers(tmp_path: Path) -> None:
    libraries = {m.ASSIGNMENT: library_of(m) for m in _check_modules()}
    assert libraries.pop("06_capstone") == ("layers",)
    assert set(libraries.values()) == {()}
    assert "layers" in student_library(tmp_path / "capstone", ("layers",))
    assert "layers" not in student_library(tmp_path / "other")
    # why: the reference layers are the exercises of notebooks 3 and 4
    layers = _defined(tmp_path / "capstone" / "cnnlib" / "layers.py")
    assert {"affine_forward", "relu_backward", "spatial_batchnorm_forward"} <= layers & \
        _exercise_names()


def test_grading_a_batch_copies_the_assignments_library(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    seen: list[tuple[str, ...]] = []
    monkeypatch.setattr(batch, "student_library", lambda lib, extra=(): seen.append(extra))
    monkeypatch.setattr(batch, "_worker_init", lambda *a: batch._WORKER.update(
        box=SimpleNamespace(close=lambda: None)))
    source = ROOT / "notebooks" / "06_capstone" / "capstone.ipynb"
    batch.grade_batch(batch.load_assignment("06_capstone", source), [], 0)
    source = ROOT / "notebooks" / "04_normalization" / "normalization.ipynb"
    batch.grade_batch(batch.load_assignment("04_normalization", source), [], 0)
    assert seen == [("layers",), ()]
