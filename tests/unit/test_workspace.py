"""``make lab`` works on copies in a git-ignored folder and never overwrites a student's work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cnnlib import workspace

ROOT = Path(__file__).resolve().parents[2]


def _course(tmp_path: Path) -> Path:
    src = tmp_path / "notebooks"
    for rel, text in {"01_a/a.ipynb": "A", "02_b/b.ipynb": "B", "02_b/data/x.csv": "1,2"}.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    (src / "01_a" / ".ipynb_checkpoints").mkdir()
    (src / "01_a" / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("old")
    return src


def test_first_run_copies_every_course_file(tmp_path: Path) -> None:
    src, dst = _course(tmp_path), tmp_path / "work"
    report = workspace.copy_course(src, dst)
    files = sorted(p.relative_to(dst).as_posix() for p in dst.rglob("*") if p.is_file())
    assert files == ["01_a/a.ipynb", "02_b/b.ipynb", "02_b/data/x.csv"]  # no checkpoints
    assert (dst / "02_b" / "b.ipynb").read_text() == "B"
    assert [p.as_posix() for p in report.copied] == files and report.kept == []
    assert str(report) == "3 files copied, 0 existing copies kept"


def test_second_run_never_overwrites_a_students_copy(tmp_path: Path) -> None:
    src, dst = _course(tmp_path), tmp_path / "work"
    workspace.copy_course(src, dst)
    (dst / "01_a" / "a.ipynb").write_text("my answers")
    (dst / "02_b" / "b.ipynb").unlink()                  # deleted: the course's version returns
    (src / "03_c").mkdir()
    (src / "03_c" / "c.ipynb").write_text("C")           # a new assignment appears
    (src / "01_a" / "a.ipynb").write_text("A, corrected")
    old = (dst / "01_a" / "a.ipynb").stat().st_mtime
    os.utime(src / "01_a" / "a.ipynb", (old + 60, old + 60))  # the course changed later
    report = workspace.copy_course(src, dst)
    assert (dst / "01_a" / "a.ipynb").read_text() == "my answers"
    assert (dst / "02_b" / "b.ipynb").read_text() == "B"
    assert (dst / "03_c" / "c.ipynb").read_text() == "C"
    assert sorted(p.as_posix() for p in report.copied) == ["02_b/b.ipynb", "03_c/c.ipynb"]
    assert sorted(p.as_posix() for p in report.kept) == ["01_a/a.ipynb", "02_b/data/x.csv"]
    assert [p.as_posix() for p in report.changed] == ["01_a/a.ipynb"]
    assert "01_a/a.ipynb: the course's version has changed since your copy was made" in str(report)


def test_the_copy_must_lie_outside_the_course(tmp_path: Path) -> None:
    src = _course(tmp_path)
    with pytest.raises(ValueError, match="must lie outside the course folder"):
        workspace.copy_course(src, src / "work")
    with pytest.raises(FileNotFoundError, match="no course folder"):
        workspace.copy_course(tmp_path / "missing", tmp_path / "work")


def test_command_line_prints_what_it_did(tmp_path: Path, capsys) -> None:
    src = _course(tmp_path)
    assert workspace.main([str(src), str(tmp_path / "w")]) == 0
    assert capsys.readouterr().out.strip().endswith("3 files copied, 0 existing copies kept")
    assert workspace.main(["--help"]) == 2


def _lab_recipe() -> list[str]:
    text = (ROOT / "Makefile").read_text()
    block = re.search(r"^lab:.*\n((?:\t.*\n)+)", text, flags=re.M)
    assert block, "Makefile has no lab target with a recipe"
    return [line.strip() for line in block.group(1).splitlines()]


def test_make_lab_opens_a_git_ignored_copy_of_the_notebooks(tmp_path: Path) -> None:
    recipe = _lab_recipe()
    copy = next(line for line in recipe if "-m cnnlib.workspace" in line).split()
    source, dest = copy[copy.index("cnnlib.workspace") + 1:][:2]
    assert source == "notebooks"
    lab = next(line for line in recipe if "jupyter lab" in line).split()
    assert lab[lab.index("lab") + 1].rstrip("/") == dest  # JupyterLab opens the copy
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for probe in (f"{dest}/", f"{dest}/01_conv_arithmetic/conv_arithmetic.ipynb"):
        ignored = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT)
        assert ignored.returncode == 0, f"{probe} is not git-ignored"
    # and the copying does the same there as in the tests above
    report = workspace.copy_course(ROOT / source, tmp_path / dest)
    assert {p.parts[0] for p in report.copied} == {p.name for p in (ROOT / source).iterdir()
                                                    if p.is_dir()}
