"""The ``cnnkit`` command line: help, list, release, autograde (and its feedback), grade, check,
lab, and the errors an instructor or student meets."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from fixtures.nbtools import FIXTURE_ASSIGNMENT, copy_assignments, stub_solutions, write_submission

from autograder.cli import build_parser, main
from autograder.course.course import list_assignments, plain_title

A = FIXTURE_ASSIGNMENT
ROOT = Path(__file__).resolve().parents[2]
NB1 = ROOT / "notebooks" / "01_conv_arithmetic" / "conv_arithmetic.ipynb"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    nbs = copy_assignments(tmp_path / "nbs", [A, "01_conv_arithmetic"])
    monkeypatch.setenv("CNNKIT_NOTEBOOKS", str(nbs))
    monkeypatch.setenv("CNNKIT_COURSE", str(tmp_path / "course"))
    return {"nbs": nbs, "course": tmp_path / "course", "tmp": tmp_path}


def run(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_top_level_help_explains_purpose_and_examples(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("list", "release", "autograde", "grade", "check", "lab"):
        assert f"\n    {cmd} " in out, f"subcommand {cmd} missing from --help"
    assert "examples:" in out and "cnnkit release 01_conv_arithmetic" in out
    assert "--course DIR" in out and "CNNKIT_COURSE" in out and "graded/" in out


@pytest.mark.parametrize(("cmd", "needle"), [
    ("release", "solutions stubbed, hidden tests removed"),
    ("autograde", "not sandboxed"),
    ("grade", "--jobs N"),
    ("check", "the grader's checks on public cases"),
    ("list", "titles and points"),
    ("lab", "formgrader"),
])
def test_subcommand_help(cmd: str, needle: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert needle in out and "example:" in out and f"cnnkit {cmd}" in out


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run([], capsys)
    assert code == 2 and "usage: cnnkit" in out


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "cnnkit"
    assert script.exists(), "make setup installs the cnnkit console script"
    res = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "usage: cnnkit" in res.stdout


def test_list_shows_ids_points_and_plain_titles(env, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["list"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == [A, "5", "pts"] and lines[0].endswith("Fixture assignment")
    assert "$" not in out and "\\" not in out


@pytest.mark.parametrize(("heading", "plain"), [
    ("Backprop through gates: $(x+y)z$", "Backprop through gates: (x+y)z"),
    ("A $3\\times3$ filter", "A 3x3 filter"),
    ("**Bold** and `code`", "Bold and code"),
])
def test_titles_are_shown_without_latex(heading: str, plain: str) -> None:
    assert plain_title(heading) == plain


def test_list_of_the_real_course(capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.delenv("CNNKIT_NOTEBOOKS", raising=False)
    code, out, _ = run(["list"], capsys)
    assert code == 0
    assert [ln.split()[0] for ln in out.splitlines()] == list_assignments(ROOT / "notebooks")


def test_unknown_assignment_is_one_line_exit_2(env, capsys: pytest.CaptureFixture) -> None:
    for argv in (["release", "01_nope"], ["autograde", "01_nope", "--submissions", "."],
                 ["grade", "01_nope", "--submissions", "."]):
        code, _out, err = run(argv, capsys)
        assert code == 2 and err.count("\n") == 1, (argv, err)
        assert "unknown assignment '01_nope'; valid assignments: 00_fixture" in err


def test_missing_paths_are_one_line_exit_2(env, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(["autograde", A, "--submissions", str(env["tmp"] / "nowhere")], capsys)
    assert code == 2 and "submissions not found" in err and err.count("\n") == 1
    code, _, err = run(["check", str(env["tmp"] / "missing.ipynb")], capsys)
    assert code == 2 and "notebook not found" in err
    (env["tmp"] / "a.txt").write_text("x")
    code, _, err = run(["check", str(env["tmp"] / "a.txt")], capsys)
    assert code == 2 and "expected a .ipynb notebook" in err
    nbformat.write(nbformat.v4.new_notebook(), env["tmp"] / "mine.ipynb")
    code, _, err = run(["check", str(env["tmp"] / "mine.ipynb")], capsys)
    assert code == 2 and "mine.ipynb is not a notebook of this course" in err


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["grade", A, "--submissions", "x"])
    assert (args.jobs, args.seed, args.out, args.visibility) == (1, None, None, "visible")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", A, "--submissions", "x", "--jobs", "many"])


def test_lab_opens_the_course_folder_with_its_nbgrader_config(env, capsys) -> None:
    code, out, _ = run(["lab", "--dry-run"], capsys)
    course = env["course"].resolve()
    assert code == 0 and f"--notebook-dir={course}" in out and "Formgrader" in out
    cfg = (course / "nbgrader_config.py").read_text()
    assert f"c.CourseDirectory.root = '{course}'" in cfg
    assert (course / "source" / A / "fixture.ipynb").is_file()


@pytest.mark.slow
def test_release_then_autograde_with_feedback_that_hides_the_hidden_tests(env, capfd) -> None:
    capsys = capfd  # the kernels' own output too
    code, out, _ = run(["release", A], capsys)
    rel = env["course"] / "release" / A / "fixture.ipynb"
    assert code == 0 and rel.is_file() and str(rel.parent) in out
    assert "### BEGIN SOLUTION" not in rel.read_text()
    subs = env["tmp"] / "subs"
    write_submission(env["nbs"] / A / "fixture.ipynb", subs / "ann.ipynb", {})
    write_submission(rel, subs / "ben.ipynb", {})
    (subs / "evil.ipynb").symlink_to(subs / "ann.ipynb")
    code, out, err = run(["autograde", A, "--submissions", str(subs), "--feedback"], capsys)
    assert code == 0 and "not sandboxed" in out
    assert "without encryption" not in err and "No nbgrader_config.py" not in err + out
    assert "ann  5 / 5" in out and "ben  0 / 5" in out
    assert "not collected: evil.ipynb: a symbolic link" in out
    for student in ("ann", "ben"):
        page = (env["course"] / "feedback" / student / A / "fixture.html").read_text()
        assert "stride 2 should give 3 outputs" not in page, "a hidden test was handed out"
        assert "three stacked 3x3 convs see 7 pixels" not in page
        assert "hidden tests ran in this cell" in page
    # nbgrader's own autograded copy (for the formgrader) keeps them
    graded = (env["course"] / "autograded" / "ben" / A / "fixture.ipynb").read_text()
    assert "stride 2 should give 3 outputs" in graded


@pytest.mark.slow
def test_grade_prints_a_clean_summary_and_writes_the_grades(env, capsys) -> None:
    subs = env["tmp"] / "downloads"
    subs.mkdir()
    (subs / "ann.ipynb").write_bytes(NB1.read_bytes())
    nbformat.write(stub_solutions(nbformat.read(NB1, as_version=4))[0], subs / "ben.ipynb")
    (subs / "bad name!.ipynb").write_text("{}")
    code, out, err = run(["grade", "01_conv_arithmetic", "--submissions", str(subs),
                          "--jobs", "2", "--quiet"], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("  ann  20 / 20")
    assert lines[1].startswith("  ben  0 / 20  not written yet") or "ben  0 / 20" in lines[1]
    assert "not graded: bad name!.ipynb: no usable student id" in out
    out_dir = env["course"] / "graded" / "01_conv_arithmetic"
    rows = list(csv.DictReader((out_dir / "grades.csv").open()))
    assert [(r["student"], r["total"]) for r in rows[:2]] == [("ann", "20"), ("ben", "0")]
    assert "\x1b" not in out and "\x1b" not in err


@pytest.mark.slow
def test_check_says_what_the_grader_says(env, capsys) -> None:
    code, out, _ = run(["check", str(NB1), "--quiet"], capsys)
    assert code == 0 and "Total: 20 / 20 points on the public cases" in out
    release = env["tmp"] / "conv_arithmetic.ipynb"
    nbformat.write(stub_solutions(nbformat.read(NB1, as_version=4))[0], release)
    code, out, _ = run(["check", str(release), "--quiet"], capsys)
    assert code == 1 and "Total: 0 / 20" in out
    assert "FAIL  test_conv_output_size" in out and "not written yet" in out
