"""The working copy of the course that ``make lab`` opens: ``notebooks/`` copied to ``work/``.

JupyterLab saves a notebook with its outputs. Saved into the git-tracked ``notebooks/``, every run
would change the course's own files and the next ``git pull`` would conflict. So students and
self-learners work on copies in a git-ignored folder: :func:`copy_course` copies each file that
has no copy yet and never overwrites one that exists (it is the student's work). A notebook the
course has changed since is named, so its owner can rename the copy to get the new version.

Run: ``python -m cnnlib.workspace [SOURCE] [DEST]`` (default ``notebooks work``).
"""

from __future__ import annotations

import filecmp
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CopyReport", "copy_course", "main"]

#: Folders that are editor or interpreter state, not course material.
SKIPPED_DIRS = frozenset({".ipynb_checkpoints", "__pycache__"})


@dataclass
class CopyReport:
    """What :func:`copy_course` did; paths are relative to the source (and destination) root.

    copied: files that had no copy and were copied. kept: files whose copy already existed and
    was left alone. changed: those of ``kept`` whose course version is newer and different.
    """

    copied: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)
    changed: list[Path] = field(default_factory=list)

    def __str__(self) -> str:
        n, k = len(self.copied), len(self.kept)
        lines = [f"{n} file{'' if n == 1 else 's'} copied, "
                 f"{k} existing cop{'y' if k == 1 else 'ies'} kept"]
        for rel in self.changed:
            lines.append(f"  {rel}: the course's version has changed since your copy was made; "
                         "your copy is kept (rename it to get the new one)")
        return "\n".join(lines)


def _course_files(source: Path) -> list[Path]:
    files = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if any(part in SKIPPED_DIRS for part in rel.parts):
            continue
        if path.is_file() and not path.is_symlink():  # a link could point anywhere
            files.append(rel)
    return files


def copy_course(source: str | Path, dest: str | Path) -> CopyReport:
    """Copy every file under ``source`` to the same place under ``dest`` unless a copy exists.

    Existing files in ``dest`` are never modified or deleted; missing folders are created.
    Raises FileNotFoundError when ``source`` is not a folder, and ValueError when ``dest`` is
    ``source`` itself or lies inside it (students would be editing the course's own files).
    """
    source, dest = Path(source).resolve(), Path(dest).resolve()
    if not source.is_dir():
        raise FileNotFoundError(f"no course folder at {source}")
    if dest == source or source in dest.parents:
        raise ValueError(f"the working copy {dest} must lie outside the course folder {source}")
    report = CopyReport()
    for rel in _course_files(source):
        src, dst = source / rel, dest / rel
        if dst.exists():
            report.kept.append(rel)
            if src.stat().st_mtime > dst.stat().st_mtime and not filecmp.cmp(src, dst, False):
                report.changed.append(rel)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        report.copied.append(rel)
    return report


def main(argv: list[str] | None = None) -> int:
    """``python -m cnnlib.workspace [SOURCE] [DEST]``: copy, then print what happened."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 2 or any(a.startswith("-") for a in args):
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    source, dest = (list(args) + ["notebooks", "work"][len(args):])[:2]
    report = copy_course(source, dest)
    print(f"working copy of {source}/ in {dest}/: {report}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
