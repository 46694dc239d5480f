"""The student-facing copy of ``cnnlib`` that the sandbox may import.

The full library holds reference implementations of graded exercises (fast convolutions, the
residual block, batch norm...), so a submission could import its way to full marks. The sandbox
gets only the tool modules below, which implement no exercise (a test checks that no graded
exercise name is defined in them), and only those whose own ``cnnlib`` imports are in the copy.

An assignment whose graded code is built on reference code of *other* assignments (the
capstone composes the layers of notebooks 2-4) declares the extra modules in its checks module,
``LIBRARY = ("layers",)``; they are copied for that assignment only (:func:`library_of`).
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: Tool modules a student's graded code may use.
STUDENT_FACING = ("device", "gradcheck", "data", "viz", "_validate")


def _cnnlib_dir() -> Path | None:
    spec = importlib.util.find_spec("cnnlib")
    locs = list(spec.submodule_search_locations or []) if spec else []
    return Path(locs[0]) if locs else None


def _cnnlib_imports(path: Path) -> set[str]:
    """The ``cnnlib`` modules ``path`` imports (``from cnnlib import x``, ``from . import x``,
    ``import cnnlib.x``, ``from cnnlib.x import y``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level or mod == "cnnlib" or mod.startswith("cnnlib."):
                sub = mod.removeprefix("cnnlib").lstrip(".") if not node.level else mod
                if sub:
                    out.add(sub.split(".")[0])
                else:
                    out |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names
                    if a.name.startswith("cnnlib.")}
    return out


def library_of(module: ModuleType) -> tuple[str, ...]:
    """The extra ``cnnlib`` modules an assignment's checks module declares (``LIBRARY``)."""
    return tuple(getattr(module, "LIBRARY", ()))


def student_modules(src: Path, extra: Sequence[str] = ()) -> list[str]:
    """The modules of :data:`STUDENT_FACING` (and ``extra``) present in ``src`` whose ``cnnlib``
    imports are all in the copy too."""
    keep = {m for m in (*STUDENT_FACING, *extra) if (src / f"{m}.py").is_file()}
    changed = True
    while changed:
        changed = False
        for m in sorted(keep):
            if not _cnnlib_imports(src / f"{m}.py") <= keep:
                keep.discard(m)
                changed = True
    return sorted(keep)


def student_library(dest: Path, extra: Sequence[str] = ()) -> list[str]:
    """Write ``dest/cnnlib/`` (the student-facing modules, ``extra`` ones of one assignment, and
    a bare ``__init__``); returns the module names copied."""
    src = _cnnlib_dir()
    pkg = Path(dest) / "cnnlib"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text('"""cnnlib as graded code sees it: tool modules only."""\n')
    if src is None:
        return []
    mods = student_modules(src, extra)
    for m in mods:
        shutil.copyfile(src / f"{m}.py", pkg / f"{m}.py")
    return mods
