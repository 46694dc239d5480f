"""The ``cnnkit`` command line: help texts, list, release, autograde, grade, check, errors."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from fixtures.nbtools import FIXTURE_ASSIGNMENT, copy_assignments, write_submission

from autograder.cli import build_parser, main
from autograder.selfcheck import NOT_WRITTEN, _current_notebook, check, reason_from_error

A = FIXTURE_ASSIGNMENT
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    nbs = copy_assignments(tmp_path / "nbs", [A])
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
    assert "Release, grade and self-check the assignments of the CNN course." in out
    for cmd in ("list", "release", "autograde", "grade", "check"):
        assert f"\n    {cmd} " in out, f"subcommand {cmd} missing from --help"
    assert "examples:" in out and "cnnkit release 01_conv_arithmetic" in out
    assert "--course DIR" in out and "CNNKIT_COURSE" in out


@pytest.mark.parametrize(
    ("cmd", "needle"),
    [
        ("release", "solutions stubbed, hidden tests removed"),
        ("autograde", "--submissions DIR"),
        ("grade", "--jobs N"),
        ("check", "which tests pass, and why not"),
        ("list", "titles and autograded points"),
    ],
)
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
    if not script.exists():
        pytest.skip("cnnkit console script not installed in this environment")
    res = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "usage: cnnkit" in res.stdout


def test_list_shows_ids_titles_points(env, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["list"], capsys)
    assert code == 0
    assert out.splitlines() == [f"{A}      5 pts  Fixture assignment"]


def test_list_real_notebooks_folder(capsys: pytest.CaptureFixture, monkeypatch) -> None:
    monkeypatch.delenv("CNNKIT_NOTEBOOKS", raising=False)
    code, out, _ = run(["list"], capsys)
    assert code == 0
    from autograder.course import list_assignments

    names = list_assignments(ROOT / "notebooks")
    assert [ln.split()[0] for ln in out.splitlines() if ln.strip()] == (names or ["no"])


def test_unknown_assignment_is_one_line_exit_2(env, capsys: pytest.CaptureFixture) -> None:
    for argv in (["release", "01_nope"], ["autograde", "01_nope", "--submissions", "."],
                 ["grade", "01_nope", "--submissions", "."]):
        code, out, err = run(argv, capsys)
        assert code == 2, argv
        assert err.count("\n") == 1, err
        assert f"unknown assignment '01_nope'; valid assignments: {A}" in err


def test_missing_paths_are_one_line_exit_2(env, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(["autograde", A, "--submissions", str(env["tmp"] / "nowhere")], capsys)
    assert code == 2 and "submissions not found" in err and err.count("\n") == 1
    code, _, err = run(["check", str(env["tmp"] / "missing.ipynb")], capsys)
    assert code == 2 and "notebook not found" in err
    (env["tmp"] / "a.txt").write_text("x")
    code, _, err = run(["check", str(env["tmp"] / "a.txt")], capsys)
    assert code == 2 and "expected a .ipynb notebook" in err


def test_grade_without_engine_says_so(env, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "autograder.grade", None)  # import fails
    (env["tmp"] / "subs").mkdir()
    code, _, err = run(["grade", A, "--submissions", str(env["tmp"] / "subs")], capsys)
    assert code == 2 and "grading engine is not available" in err


def test_grade_passes_arguments_to_engine(env, capsys, monkeypatch) -> None:
    calls = []
    fake = types.ModuleType("autograder.grade")

    def grade_assignment(assignment, submissions, out_dir, jobs=1, seed=None, course=None):
        calls.append((assignment, submissions, out_dir, jobs, seed, course))
        return "3 submissions graded"

    fake.grade_assignment = grade_assignment
    monkeypatch.setitem(sys.modules, "autograder.grade", fake)
    subs = env["tmp"] / "subs"
    subs.mkdir()
    argv = ["grade", A, "--submissions", str(subs), "--jobs", "3", "--seed", "7",
            "--out", str(env["tmp"] / "out")]
    code, out, _ = run(argv, capsys)
    assert code == 0 and "3 submissions graded" in out
    (a, s, o, jobs, seed, course), = calls
    assert (a, s, o, jobs, seed) == (A, subs, env["tmp"] / "out", 3, 7)
    assert course.root == env["course"].resolve()


def test_grade_prints_one_line_per_student(env, capsys, monkeypatch) -> None:
    rows = [types.SimpleNamespace(student="ann", total=7.0, max_total=10.0, problems=[],
                                  flags=["edited a locked cell"]),
            types.SimpleNamespace(student="bo", total=10.0, max_total=10.0, problems=[], flags=[])]
    fake = types.ModuleType("autograder.grade")
    fake.grade_assignment = lambda *a, **k: rows
    monkeypatch.setitem(sys.modules, "autograder.grade", fake)
    (env["tmp"] / "subs").mkdir()
    code, out, _ = run(["grade", A, "--submissions", str(env["tmp"] / "subs")], capsys)
    assert code == 0
    assert "  ann  7 / 10  edited a locked cell\n  bo   10 / 10\n" in out
    assert f"grading results written to {env['course'].resolve() / 'graded' / A}" in out


def test_parser_types() -> None:
    args = build_parser().parse_args(["grade", A, "--submissions", "x"])
    assert (args.jobs, args.seed, args.out) == (1, None, None)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", A, "--submissions", "x", "--jobs", "many"])


@pytest.mark.slow
def test_release_autograde_and_check(env, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(["release", A], capsys)
    rel = env["course"] / "release" / A / "fixture.ipynb"
    assert code == 0 and rel.is_file() and str(rel.parent) in out
    assert "### BEGIN SOLUTION" not in rel.read_text()

    subs = env["tmp"] / "subs"
    write_submission(env["nbs"] / A / "fixture.ipynb", subs / "ann.ipynb", {})
    write_submission(rel, subs / "ben.ipynb", {})
    code, out, _ = run(["autograde", A, "--submissions", str(subs), "--feedback"], capsys)
    assert code == 0
    assert "ann  5 / 5" in out and "ben  0 / 5" in out
    assert (env["course"] / "feedback" / "ann" / A / "fixture.html").is_file()

    code, out, _ = run(["check", str(env["nbs"] / A / "fixture.ipynb")], capsys)
    assert code == 0 and "Total: 5 / 5 points (2 of 2 test cells pass)" in out
    code, out, _ = run(["check", str(rel)], capsys)
    assert code == 1 and "Total: 0 / 5 points" in out
    assert "FAIL  test_receptive_field" in out and "you have not written this yet" in out


@pytest.mark.slow
def test_check_reports_assertion_message_and_other_errors(env, capsys) -> None:
    nb = nbformat.read(env["nbs"] / A / "fixture.ipynb", as_version=4)
    sol = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    sol[0].source = "def conv_output_size(n, f, stride=1, pad=0):\n    return n - f"
    sol[1].source = "def receptive_field(layers):\n    return 1 / 0"
    path = env["tmp"] / "mine.ipynb"
    nbformat.write(nb, path)
    code, out, _ = run(["check", str(path)], capsys)
    assert code == 1
    assert "a 3-wide filter over 7 inputs gives 5 outputs" in out
    assert "ZeroDivisionError: division by zero" in out
    assert "Total: 0 / 5 points" in out


# ---------------------------------------------------------------------------------------------
# the self-check behind `cnnkit check`
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ({"ename": "NotImplementedError", "evalue": ""}, NOT_WRITTEN),
        ({"ename": "AssertionError", "evalue": "stride 2 should give 3\nmore"},
         "stride 2 should give 3"),
        ({"ename": "AssertionError", "evalue": "",
          "traceback": ["\x1b[0;31m----> 3\x1b[0m \x1b[38;5;28;01massert\x1b[39;00m f(1) == 2"]},
         "this check failed: assert f(1) == 2"),
        ({"ename": "TypeError", "evalue": "bad operand\nsecond line"}, "TypeError: bad operand"),
        ({"ename": "KeyError", "evalue": ""}, "KeyError"),
    ],
)
def test_reason_from_error(output: dict, reason: str) -> None:
    assert reason_from_error(output) == reason


def test_check_inside_a_selfcheck_run_does_nothing(monkeypatch, capsys) -> None:
    monkeypatch.setenv("CNNKIT_SELFCHECK_RUNNING", "1")
    assert check("does-not-matter.ipynb") is None
    assert "skipped" in capsys.readouterr().out


def test_check_finds_the_calling_notebook(monkeypatch, tmp_path: Path) -> None:
    nb = tmp_path / "mine.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb)
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    assert _current_notebook() == nb
    monkeypatch.delenv("JPY_SESSION_NAME")
    monkeypatch.chdir(tmp_path)
    assert _current_notebook().resolve() == nb.resolve()  # the only notebook in the folder
    nbformat.write(nbformat.v4.new_notebook(), tmp_path / "other.ipynb")
    with pytest.raises(ValueError, match="call check\\('path/to/notebook.ipynb'\\)"):
        _current_notebook()


def test_check_rejects_broken_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check(tmp_path / "none.ipynb")
    (tmp_path / "bad.ipynb").write_text("{ not json")
    with pytest.raises(ValueError, match="is not a readable notebook"):
        check(tmp_path / "bad.ipynb")


@pytest.mark.slow
def test_check_survives_loops_and_dying_kernels(env, tmp_path: Path) -> None:
    nb = nbformat.read(env["nbs"] / A / "fixture.ipynb", as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    tests[0].source = "while True:\n    pass"
    loop = tmp_path / "loop.ipynb"
    nbformat.write(nb, loop)
    report = check(loop, timeout=5)
    first, second = report.results
    assert not first.passed and "ran longer than 5 s" in first.reason
    assert second.passed, "cells after a stopped one still run"
    assert report.points == 3 and report.problem is None

    tests[0].source = "import os\nos._exit(1)"
    dies = tmp_path / "dies.ipynb"
    nbformat.write(nb, dies)
    report = check(dies, timeout=60)
    assert report.problem and "kernel died" in report.problem
    assert [r.passed for r in report.results] == [False, False]
    assert [r.reason for r in report.results] == [
        "the kernel died while running this cell", "this cell did not run"]
    assert "PROBLEM: the kernel died" in str(report)


@pytest.mark.slow
def test_check_from_a_notebook_cell(env, tmp_path: Path) -> None:
    """``check()`` in the student's last cell checks the saved notebook, without recursing."""
    from nbrun import execute_notebook

    nb = nbformat.read(env["nbs"] / A / "fixture.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from autograder.selfcheck import check\nreport = check()\nprint(report.total_line())"))
    folder = tmp_path / "student"
    folder.mkdir()
    nbformat.write(nb, folder / "fixture.ipynb")
    done = execute_notebook(folder / "fixture.ipynb", timeout=300)
    text = "".join(o.get("text", "") for o in done.cells[-1].outputs)
    assert "Total: 5 / 5 points (2 of 2 test cells pass)" in text
