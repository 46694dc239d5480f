"""Benchmark: sandboxed hidden-check grading vs plain ``nbgrader autograde``.

Generates N submissions of notebook 1 (01_conv_arithmetic; ``--fixture`` uses the grading
tests' small fixture assignment instead) -- 60 % correct, 30 % partly wrong (some functions left
as ``raise NotImplementedError()``), 10 % hostile (os._exit, segfault, sys.exit, 10 MB print,
exit while loading) -- and times, in one run, on the same submissions:

  grade --jobs 1     ``autograder.grade.grade_assignment(..., jobs=1)`` (what ``cnnkit grade`` runs)
  grade --jobs 2     the same with two worker processes
  nbgrader autograde ``Course.autograde`` (what ``cnnkit autograde`` runs), one kernel per notebook

and prints seconds per submission and the ratios against the goals
(sandboxed <= 1.5x nbgrader per submission; jobs 2 >= 1.7x faster than jobs 1).
Timings depend on the machine's load: run it on an idle machine for figures you report.

    .venv/bin/python bench/bench_grading.py            # notebook 1, 50 submissions
    .venv/bin/python bench/bench_grading.py --n 10 --fixture --skip-nbgrader
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import nbformat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


HOSTILE = {
    "os_exit": "import os\nos._exit(1)",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "sys_exit": "import sys\nsys.exit(3)",
    "print_10mb": "print('x' * 10_000_000)",
}


def _solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
            and c.cell_type == "code"]


def _inject(cell: nbformat.NotebookNode, body: str) -> None:
    """Run ``body`` at the start of the first function of the cell."""
    m = re.search(r'^def [^\n]*\n((?:\s*"""[\s\S]*?"""\n)?)', cell.source, re.MULTILINE)
    if m is None:
        return
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    cell.source = cell.source[:m.end()] + indented + cell.source[m.end():]


def make_submission(release: nbformat.NotebookNode, source: nbformat.NotebookNode, kind: str,
                    i: int) -> nbformat.NotebookNode:
    """nbgrader's release filled in like a student would: ``kind`` is correct, partial, hostile."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in _solution_cells(source)}
    nb = nbformat.from_dict(release)
    sols = _solution_cells(nb)
    for j, cell in enumerate(sols):
        if kind != "partial" or j % 2 == i % 2:  # partial: every other function left undone
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    if kind == "hostile":
        names = [*sorted(HOSTILE), "exit_while_loading"]
        name = names[i % len(names)]
        if name == "exit_while_loading":
            sols[0].source = "import os\nclass Boom:\n    os._exit(2)\n" + sols[0].source
        else:
            _inject(sols[i % len(sols)], HOSTILE[name])
    return nb


def kinds(n: int) -> list[str]:
    """60 % correct, 30 % partial, 10 % hostile, interleaved."""
    pattern = ["correct", "partial", "correct", "hostile", "correct", "partial", "correct",
               "partial", "correct", "correct"]
    return [pattern[i % 10] for i in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="number of submissions (default 50)")
    ap.add_argument("--fixture", action="store_true",
                    help="use the grading tests' fixture assignment instead of notebook 1")
    ap.add_argument("--skip-nbgrader", action="store_true", help="do not run nbgrader autograde")
    ap.add_argument("--keep", action="store_true", help="keep (and print) the work folder")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cnnkit-bench-"))
    try:
        return run(args, work)
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    """Generate, grade three ways, print the table; 0 when jobs 1 and jobs 2 agree."""
    from autograder.course import Course
    from autograder.export import summary
    from autograder.grade import grade_assignment

    if args.fixture:
        from grading import fixture_checks as checks
        from grading.fixture_notebook import make_source, write

        assignment, nb_name = checks.ASSIGNMENT, checks.NOTEBOOK
        notebooks = work / "notebooks"
        write(make_source(), notebooks / assignment / f"{nb_name}.ipynb")
        spec: object = checks
    else:
        assignment, nb_name = "01_conv_arithmetic", "conv_arithmetic"
        spec = assignment
        original = ROOT / "notebooks" / assignment / f"{nb_name}.ipynb"
        if not original.exists():
            print(f"{original} not found: run with --fixture", file=sys.stderr)
            return 2
        # nbgrader refuses to release a notebook whose prose *mentions* the solution markers;
        # the benchmark works on a copy with such mentions defused (grading is unaffected).
        notebooks = work / "notebooks"
        nb = nbformat.read(original, as_version=4)
        for cell in nb.cells:
            if not cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = cell.source.replace("BEGIN SOLUTION", "BEGIN-SOLUTION").replace(
                    "END SOLUTION", "END-SOLUTION")
        (notebooks / assignment).mkdir(parents=True)
        nbformat.write(nb, notebooks / assignment / f"{nb_name}.ipynb")
    source = nbformat.read(notebooks / assignment / f"{nb_name}.ipynb", as_version=4)
    course = Course(work / "course", notebooks_dir=notebooks)
    release = nbformat.read(course.release(assignment) / f"{nb_name}.ipynb", as_version=4)
    subs = work / "downloads"
    mix = kinds(args.n)
    for i, kind in enumerate(mix):
        path = subs / f"s{i:03d}_{kind}" / f"{nb_name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(make_submission(release, source, kind, i), path)
    print(f"{args.n} submissions of {assignment}: " + ", ".join(
        f"{mix.count(k)} {k}" for k in ("correct", "partial", "hostile")))
    course.collect(assignment, subs)
    # Warm-up, untimed: the first grading in a process pays for imports (torch, the checks)
    # that every later one, and the forked --jobs 2 workers, get for free.
    warm = work / "warmup_subs"
    for student in sorted(subs.iterdir())[:2]:
        shutil.copytree(student, warm / student.name)
    grade_assignment(spec, warm, work / "warmup_out", jobs=1, seed="bench",
                     source_nb=notebooks / assignment / f"{nb_name}.ipynb", progress=False)
    times: dict[str, float] = {}
    results = {}
    for jobs in (1, 2):
        t0 = time.perf_counter()
        results[jobs] = grade_assignment(spec, course.submitted_dir, work / f"graded_j{jobs}",
                                         jobs=jobs, seed="bench", course=course, progress=True)
        times[f"grade --jobs {jobs}"] = time.perf_counter() - t0
    same = [r.to_dict() for r in results[1]] == [r.to_dict() for r in results[2]]
    if not args.skip_nbgrader:
        t0 = time.perf_counter()
        course.autograde(assignment)
        times["nbgrader autograde"] = time.perf_counter() - t0

    print(summary(results[1]))
    print(f"{'mode':22s} {'total s':>9s} {'s/submission':>13s}")
    for mode, t in times.items():
        print(f"{mode:22s} {t:9.1f} {t / args.n:13.2f}")
    j1, j2 = times["grade --jobs 1"], times["grade --jobs 2"]
    print(f"jobs 2 speed-up over jobs 1: {j1 / j2:.2f}x (goal >= 1.7x; cores: {os.cpu_count()})")
    if "nbgrader autograde" in times:
        print(f"sandboxed (jobs 1) / plain nbgrader per submission: "
              f"{j1 / times['nbgrader autograde']:.2f}x (goal <= 1.5x)")
    print(f"jobs 1 and jobs 2 grades identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
