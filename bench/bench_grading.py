"""Benchmark: seconds per submission of ``cnnkit grade`` (warm bubblewrap sandbox per worker).

For each assignment, N submissions are made from nbgrader's release filled in like students do
(60 % correct, 30 % partly done, 10 % hostile: os._exit, segfault, sys.exit, a 10 MB print,
an exit while loading) and graded through the course folder, as ``cnnkit grade`` does, with
``--jobs 1`` and ``--jobs 2``. It prints seconds per submission, the jobs-2 speed-up, and
optionally:

  --old DIR        the same notebook-1 batch graded by an older kit (a git worktree, e.g. of
                   commit 50e9e4b), for the per-submission ratio new / old
  --cpu-hog        notebook 1 with two submissions that leave 60 busy processes in sessions of
                   their own, graded with --jobs 2: total time, and whether every honest
                   student still gets full marks
  --nbgrader       plain ``nbgrader autograde`` of the same notebook-1 batch, for the ratio

Goals (issue 10): <= 1 s per submission for every assignment, jobs 2 >= 1.7x faster than
jobs 1 on two cores, new / old per submission <= 1.2x. Timings depend on the machine's load:
the first line prints the machine and its load average; report figures from an idle machine.

    .venv/bin/python bench/bench_grading.py                       # every assignment, 50 each
    .venv/bin/python bench/bench_grading.py --assignments 01_conv_arithmetic --old /tmp/oldkit
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import nbformat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NB1 = "01_conv_arithmetic"
HOSTILE = {
    "os_exit": "import os\nos._exit(1)",
    "segfault": "import ctypes\nctypes.string_at(0)",
    "sys_exit": "import sys\nsys.exit(3)",
    "print_10mb": "print('x' * 10_000_000)",
}
CPU_HOG = ("import os, time\nfor _ in range(60):\n    if os.fork() == 0:\n        os.setsid()\n"
           "        while True:\n            pass\n")


def _solution_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")
            and c.cell_type == "code"]


def _inject(cell: nbformat.NotebookNode, body: str) -> None:
    """Run ``body`` at the start of the first function of the cell."""
    m = re.search(r'^(?:def|class) [^\n]*\n((?:\s*"""[\s\S]*?"""\n)?)', cell.source, re.M)
    if m is None:
        return
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    cell.source = cell.source[:m.end()] + indented + cell.source[m.end():]


def make_submission(release: nbformat.NotebookNode, source: nbformat.NotebookNode, kind: str,
                    i: int) -> nbformat.NotebookNode:
    """The release filled in like a student would: ``kind`` is correct, partial or hostile."""
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in _solution_cells(source)}
    nb = nbformat.from_dict(release)
    sols = _solution_cells(nb)
    for j, cell in enumerate(sols):
        if kind != "partial" or j % 2 == i % 2:  # partial: every other exercise left undone
            cell.source = answers[cell.metadata["nbgrader"]["grade_id"]]
    if kind == "hostile":
        names = [*sorted(HOSTILE), "exit_while_loading"]
        name = names[i % len(names)]
        if name == "exit_while_loading":
            sols[0].source = "import os\nclass Boom:\n    os._exit(2)\n" + sols[0].source
        else:
            _inject(sols[i % len(sols)], HOSTILE[name])
    if kind == "cpu_hog":
        _inject(sols[0], CPU_HOG)
    return nb


def kinds(n: int) -> list[str]:
    """60 % correct, 30 % partial, 10 % hostile, interleaved."""
    pattern = ["correct", "partial", "correct", "hostile", "correct", "partial", "correct",
               "partial", "correct", "correct"]
    return [pattern[i % 10] for i in range(n)]


def write_batch(course: object, assignment: str, work: Path, mix: list[str]) -> Path:
    nb_name = course.notebook_names(assignment)[0]
    source = nbformat.read(course.source_notebook(assignment), as_version=4)
    release = nbformat.read(course.release(assignment) / f"{nb_name}.ipynb", as_version=4)
    subs = work / f"downloads-{assignment}"
    for i, kind in enumerate(mix):
        path = subs / f"s{i:03d}_{kind}" / f"{nb_name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(make_submission(release, source, kind, i), path)
    return subs


def grade_timed(assignment: str, subs: Path, course: object, out: Path, jobs: int
                ) -> tuple[float, object]:
    from autograder.engine.batch import grade_assignment

    t0 = time.perf_counter()
    batch = grade_assignment(assignment, subs, out, jobs=jobs, seed="bench", course=course,
                             progress=False)
    return time.perf_counter() - t0, batch


def old_kit_seconds(old: Path, subs: Path, work: Path) -> float:
    """Wall time of an older kit's ``cnnkit grade`` on the same notebook-1 submissions."""
    env = {**os.environ, "PYTHONPATH": str(old)}
    cmd = [sys.executable, "-m", "autograder.cli", "--course", str(work / "old-course"),
           "--notebooks", str(old / "notebooks"), "grade", NB1, "--submissions", str(subs),
           "--seed", "7", "--out", str(work / "old-out")]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=old, env=env, check=True, capture_output=True, timeout=3600)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=50, help="submissions per assignment (default 50)")
    ap.add_argument("--assignments", nargs="*", default=None,
                    help="assignment ids (default: every assignment of the course)")
    ap.add_argument("--old", type=Path, default=None, help="an older kit's folder (notebook 1)")
    ap.add_argument("--cpu-hog", action="store_true", help="the CPU-hog batch of notebook 1")
    ap.add_argument("--nbgrader", action="store_true", help="plain nbgrader autograde (nb 1)")
    args = ap.parse_args()
    from autograder.course.course import Course
    from autograder.sandbox.run import isolation

    iso = isolation()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; sandbox: {iso.mode} bubblewrap, "
          f"{iso.cgroups or 'no cgroup'}")
    work = Path(tempfile.mkdtemp(prefix="cnnkit-bench-"))
    try:
        course = Course(work / "course")
        names = args.assignments or course.assignments()
        print(f"{'assignment':22s} {'n':>4s} {'jobs 1 s/sub':>13s} {'jobs 2 s/sub':>13s} "
              f"{'speed-up':>9s} {'same':>5s}")
        ok = True
        for a in names:
            subs = write_batch(course, a, work, kinds(args.n))
            warm = work / f"warm-{a}"
            for entry in sorted(subs.iterdir())[:2]:
                shutil.copytree(entry, warm / entry.name)
            grade_timed(a, warm, course, work / f"warm-out-{a}", 1)  # untimed: imports
            t1, b1 = grade_timed(a, subs, course, work / f"out1-{a}", 1)
            t2, b2 = grade_timed(a, subs, course, work / f"out2-{a}", 2)
            same = [r.to_dict() for r in b1] == [r.to_dict() for r in b2]
            ok &= same
            print(f"{a:22s} {args.n:4d} {t1 / args.n:13.2f} {t2 / args.n:13.2f} "
                  f"{t1 / t2:8.2f}x {str(same):>5s}")
            if a == NB1 and args.old:
                told = old_kit_seconds(args.old, subs, work)
                print(f"  notebook 1, old kit: {told / args.n:.2f} s/submission; new / old = "
                      f"{t1 / told:.2f}x (goal <= 1.2x)")
            if a == NB1 and args.nbgrader:
                t0 = time.perf_counter()
                course.autograde(a)
                tn = time.perf_counter() - t0
                print(f"  notebook 1, nbgrader autograde: {tn / args.n:.2f} s/submission; "
                      f"cnnkit grade / nbgrader = {t1 / tn:.2f}x")
        if args.cpu_hog:
            ok &= cpu_hog(course, work, args.n)
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cpu_hog(course: object, work: Path, n: int) -> bool:
    """Two submissions leave 60 busy processes each; --jobs 2 must still grade everyone."""
    mix = ["cpu_hog" if i in (1, 2) else "correct" for i in range(max(n // 5, 6))]
    subs = write_batch(course, NB1, work, mix)
    t, batch = grade_timed(NB1, subs, course, work / "out-hog", 2)
    honest = [r for r in batch if r.student.endswith("correct")]
    full = all(r.total == r.max_total for r in honest)
    print(f"CPU hog (2 of {len(mix)} submissions fork 60 busy processes), --jobs 2: {t:.1f} s "
          f"in all; every honest student full marks: {full}")
    return full


if __name__ == "__main__":
    raise SystemExit(main())
