"""``cnnkit``: release, collect, grade and self-check the CNN course assignments."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EPILOG = """\
examples:
  cnnkit list                                        assignments, titles, points
  cnnkit check notebooks/01_conv_arithmetic/conv_arithmetic.ipynb
                                                     student: which of my tests pass, and why not
  cnnkit release 01_conv_arithmetic                  instructor: make the student version
  cnnkit autograde 01_conv_arithmetic --submissions downloads/submissions.zip
                                                     nbgrader autograde (visible + hidden tests)
  cnnkit grade 01_conv_arithmetic --submissions course/submitted --jobs 2
                                                     sandboxed hidden checks, reports, CSV export

The course folder (nbgrader's source/, release/, submitted/, autograded/, feedback/ and
gradebook.db) is ./course in the repository unless --course DIR or $CNNKIT_COURSE says otherwise.
"""


class UsageError(Exception):
    """Printed as one line; exit status 2."""


def _course(args: argparse.Namespace):
    from autograder.course import Course

    return Course(args.course, notebooks_dir=args.notebooks)


def _existing(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"{what} not found: {p}")
    return p


def cmd_list(args: argparse.Namespace) -> int:
    course = _course(args)
    names = course.assignments()
    if not names:
        print(f"no assignments in {course.notebooks_dir}")
        return 0
    infos = [course.info(a) for a in names]
    width = max(len(i.id) for i in infos)
    for i in infos:
        print(f"{i.id:<{width}}  {i.points:>5g} pts  {i.title}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    course = _course(args)
    course.validate(args.assignment)
    out = course.release(args.assignment)
    print(f"released {args.assignment} to {out}")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"  {p.relative_to(out)}")
    print("Hand out that folder: solutions are stubbed and hidden tests removed.")
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    course = _course(args)
    course.validate(args.assignment)
    subs = _existing(args.submissions, "submissions")
    students = course.collect(args.assignment, subs)
    print(f"collected {len(students)} submission(s) of {args.assignment}; autograding ...")
    scores = course.autograde(args.assignment, students)
    top = course.max_score(args.assignment)
    width = max(len(s) for s in scores) if scores else 7
    for student, score in sorted(scores.items()):
        line = f"  {student:<{width}}  {score:g} / {top:g}"
        err = course.autograde_errors.get(student)
        print(f"{line}  ({err})" if err else line)
    if args.feedback:
        print(f"feedback written to {course.feedback(args.assignment)}")
    print(f"gradebook: {course.gradebook_path}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    course = _course(args)
    course.validate(args.assignment)
    subs = _existing(args.submissions, "submissions")
    try:
        from autograder.grade import grade_assignment
    except ImportError as exc:
        raise UsageError(f"the grading engine is not available ({exc})") from exc
    out = Path(args.out) if args.out else course.root / "graded" / args.assignment
    from autograder.sandbox import can_isolate

    if not can_isolate():
        print("warning: this machine gives the sandbox no private mount/network namespace (not "
              "root, and user namespaces are disabled): submissions could read or change your "
              "files, so every grade is flagged for review", file=sys.stderr)
    result = grade_assignment(
        args.assignment, subs, out, jobs=args.jobs, seed=args.seed, course=course
    )
    rows = list(result) if isinstance(result, (list, tuple)) else []
    if rows and all(hasattr(r, "student") and hasattr(r, "total") for r in rows):
        width = max(len(r.student) for r in rows)
        for r in rows:
            issues = [*getattr(r, "problems", []), *getattr(r, "flags", [])]
            more = f"; +{len(issues) - 2} more" if len(issues) > 2 else ""
            notes = "; ".join(issues[:2]) + more
            line = f"  {r.student:<{width}}  {r.total:g} / {getattr(r, 'max_total', 0):g}"
            print(f"{line}  {notes}" if notes else line)
    elif result is not None:
        print(result)
    print(f"grading results written to {out}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from autograder.selfcheck import check

    nb = _existing(args.notebook, "notebook")
    if nb.suffix != ".ipynb":
        raise UsageError(f"expected a .ipynb notebook, got {nb}")
    try:
        report = check(nb, timeout=args.timeout)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(report)
    return 0 if report is not None and report.all_passed else 1


def build_parser() -> argparse.ArgumentParser:
    """The ``cnnkit`` argument parser (subcommands list, release, autograde, grade, check)."""
    parser = argparse.ArgumentParser(
        prog="cnnkit",
        description="Release, grade and self-check the assignments of the CNN course.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--course",
        metavar="DIR",
        default=os.environ.get("CNNKIT_COURSE"),
        help="nbgrader course folder (default: $CNNKIT_COURSE or ./course in the repository)",
    )
    parser.add_argument(
        "--notebooks",
        metavar="DIR",
        default=os.environ.get("CNNKIT_NOTEBOOKS"),
        help="folder of source assignments NN_name/ (default: notebooks/ in the repository)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        return p

    p = add("list", "List the assignments with their titles and autograded points.", "cnnkit list")
    p.set_defaults(func=cmd_list)

    p = add(
        "release",
        "Make the student version of an assignment (solutions stubbed, hidden tests removed).",
        "cnnkit release 01_conv_arithmetic",
    )
    p.add_argument("assignment", help="assignment id, e.g. 01_conv_arithmetic (see `cnnkit list`)")
    p.set_defaults(func=cmd_release)

    p = add(
        "autograde",
        "Collect submissions and run nbgrader autograde on them (visible + hidden test cells).",
        "cnnkit autograde 01_conv_arithmetic --submissions downloads/submissions.zip --feedback",
    )
    p.add_argument("assignment", help="assignment id, e.g. 01_conv_arithmetic")
    p.add_argument(
        "--submissions",
        required=True,
        metavar="DIR",
        help="folder of <student>/<notebook>.ipynb or <student>.ipynb, or an LMS zip",
    )
    p.add_argument("--feedback", action="store_true", help="also write HTML feedback per student")
    p.set_defaults(func=cmd_autograde)

    p = add(
        "grade",
        "Grade submissions with the sandboxed hidden checks (secret inputs, plain-words reasons).",
        "cnnkit grade 01_conv_arithmetic --submissions course/submitted --jobs 2 --out grades/",
    )
    p.add_argument("assignment", help="assignment id, e.g. 01_conv_arithmetic")
    p.add_argument("--submissions", required=True, metavar="DIR",
                   help="folder of <student>/<notebook>.ipynb or <student>.ipynb, or an LMS zip "
                        "(collected into the course first)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="submissions graded at once, one process each (default 1; use the "
                        "number of CPU cores)")
    p.add_argument("--seed", type=int, default=None, metavar="S",
                   help="seed of the hidden test cases (default: the course's secret seed, made "
                        "once and kept in the course folder, so regrading gives the same grades)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where grades.csv and each student's results.json and feedback.html go "
                        "(default: COURSE/graded/ASSIGNMENT)")
    p.set_defaults(func=cmd_grade)

    p = add(
        "check",
        "Self-check a notebook: run it in a fresh kernel and say which tests pass, and why not.",
        "cnnkit check notebooks/01_conv_arithmetic/conv_arithmetic.ipynb",
    )
    p.add_argument("notebook", help="path to your .ipynb (saved)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    p.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnkit`` console script; returns the exit status."""
    from autograder.course import CourseError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (UsageError, CourseError) as exc:
        print(f"cnnkit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
