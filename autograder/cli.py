"""``cnnkit``: release, collect, grade and self-check the CNN course assignments (thin: parse,
call ``course``/``engine``, print)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from autograder.engine.feedback import VISIBILITY as _VISIBILITY  # Gradescope's values

EPILOG = """\
examples:
  cnnkit list                                        assignments, titles, points
  cnnkit check notebooks/01_conv_arithmetic/conv_arithmetic.ipynb
                                                     student: what would the grader say?
  cnnkit release 01_conv_arithmetic                  instructor: make the student version
  cnnkit grade 01_conv_arithmetic --submissions downloads/submissions.zip --jobs 2
                                                     sandboxed hidden checks, feedback, grades.csv
  cnnkit autograde 01_conv_arithmetic --submissions downloads/submissions.zip
                                                     plain nbgrader autograde (not sandboxed)
  cnnkit lab                                         instructor: JupyterLab with the formgrader
  cnnkit collect 01_conv_arithmetic --exchange       JupyterHub: the latest submissions, exchange
  cnnkit release-feedback 01_conv_arithmetic         JupyterHub: feedback through the exchange
  cnnkit gradescope 01_conv_arithmetic               autograder.zip for Gradescope

A JupyterHub course sets $CNNKIT_EXCHANGE (nbgrader's exchange folder) and $CNNKIT_COURSE_ID;
`cnnkit release` then also releases to the exchange (docs/DEPLOY.md).

The course folder (nbgrader's source/, release/, submitted/, autograded/, feedback/,
gradebook.db, and graded/ for `cnnkit grade`) is ./course in the repository unless --course DIR
or $CNNKIT_COURSE says otherwise.
"""


class UsageError(Exception):
    """Printed as one line; exit status 2."""


def _course(args: argparse.Namespace):  # -> Course
    from autograder.course.course import Course

    return Course(args.course, notebooks_dir=args.notebooks)


def _existing(path: str, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"{what} not found: {p}")
    return p


def cmd_list(args: argparse.Namespace) -> int:
    course = _course(args)
    infos = [course.info(a) for a in course.assignments()]
    if not infos:
        print(f"no assignments in {course.notebooks_dir}")
        return 0
    width = max(len(i.id) for i in infos)
    for i in infos:
        manual = f" + {i.manual_points:g} written" if i.manual_points else ""
        print(f"{i.id:<{width}}  {i.points:>4g} pts{manual:<14}  {i.title}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from autograder.course import settings

    course = _course(args)
    out = course.release(course.validate(args.assignment))
    print(f"released {args.assignment} to {out}")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"  {p.relative_to(out)}")
    if settings.exchange_root() is None:
        print("Hand out that folder: solutions are stubbed and hidden tests removed.")
        return 0
    from autograder.course import exchange

    where = exchange.release(course, args.assignment)
    print(f"released to the exchange: {where} (course {course.course_id}): students fetch it "
          "from JupyterLab's Assignments tab")
    return 0


def cmd_autograde(args: argparse.Namespace) -> int:
    course = _course(args)
    course.validate(args.assignment)
    collected = course.collect(args.assignment, _existing(args.submissions, "submissions"))
    print(f"collected {len(collected.students)} submission(s) of {args.assignment}; "
          "nbgrader autograde runs each notebook with its tests in one process (not sandboxed: "
          "`cnnkit grade` is the grade to trust) ...")
    scores = course.autograde(args.assignment, collected.students)
    top = course.max_score(args.assignment)
    width = max((len(s) for s in scores), default=7)
    for student, score in sorted(scores.items()):
        err = course.autograde_errors.get(student)
        print(f"  {student:<{width}}  {score:g} / {top:g}" + (f"  ({err})" if err else ""))
    for s in collected.skipped:
        print(f"  not collected: {s.entry}: {s.reason}")
    if args.feedback:
        print(f"feedback (hidden tests removed) written to {course.feedback(args.assignment)}")
    print(f"gradebook: {course.gradebook_path}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.engine import export
    from autograder.engine.batch import grade_assignment
    from autograder.sandbox.run import isolation

    course = _course(args)
    course.validate(args.assignment)
    subs = _existing(args.submissions, "submissions")
    out = Path(args.out) if args.out else course.graded_dir / args.assignment
    iso = isolation()
    for note in iso.missing:
        print(f"warning: {note.text}; every grade is flagged for review", file=sys.stderr)
    batch = grade_assignment(args.assignment, subs, out, jobs=args.jobs, seed=args.seed,
                             course=course, progress=not args.quiet,
                             visibility=args.visibility)
    print(export.summary(batch.results, batch.skipped), end="")
    print(f"grading results written to {out}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    course = _course(args)
    course.validate(args.assignment)
    if args.exchange:
        from autograder.course import exchange

        got = exchange.collect(course, args.assignment, check_owner=not args.no_owner_check)
        source = f"the exchange ({exchange.course_path(course)})"
        then = exchange.collected_dir(course, args.assignment)
    else:
        got = course.collect(args.assignment, _existing(args.submissions, "submissions"))
        source, then = str(args.submissions), Path(args.submissions)
    print(f"collected {len(got.students)} submission(s) of {args.assignment} from {source} "
          f"into {course.submitted_dir}")
    for student in got.students:
        print(f"  {student}")
    for s in got.skipped:
        print(f"  not collected: {s.entry}: {s.reason}")
    print(f"next: cnnkit grade {args.assignment} --submissions {then}")
    return 0


def cmd_release_feedback(args: argparse.Namespace) -> int:
    from autograder.course import exchange

    course = _course(args)
    done = exchange.release_feedback(course, course.validate(args.assignment),
                                     nbgrader=args.nbgrader)
    kind = "nbgrader's feedback (hidden tests removed)" if args.nbgrader else \
        "cnnkit grade's feedback pages"
    print(f"released {kind} on {args.assignment} to {len(done.students)} student(s) through "
          f"{exchange.course_path(course)}: they fetch it from the Assignments tab")
    for s in done.skipped:
        print(f"  not released: {s.entry}: {s.reason}")
    return 0


def cmd_gradescope(args: argparse.Namespace) -> int:
    from autograder.engine.gradescope import bundle

    course = _course(args)
    course.validate(args.assignment)
    out = Path(args.out) if args.out else course.root / "gradescope" / args.assignment / \
        "autograder.zip"
    try:
        made = bundle.build(course, args.assignment, out, visibility=args.visibility,
                            seed=args.seed)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(f"wrote {made.path} ({made.size / 1024:.0f} KiB, {len(made.names)} files; it holds the "
          "course's secret seed: share it with Gradescope only)")
    print("Gradescope: a Programming Assignment -> Configure Autograder -> Zip file upload, base "
          "image Ubuntu 22.04 or newer, memory 2 GB or more; written answers: add manually "
          "graded questions (docs/DEPLOY.md)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from autograder.selfcheck import check

    nb = _existing(args.notebook, "notebook")
    if nb.suffix != ".ipynb":
        raise UsageError(f"expected a .ipynb notebook, got {nb}")
    try:
        report = check(nb, run_notebook=args.run_notebook, timeout=args.timeout,
                       progress=not args.quiet)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    print(report)
    return 0 if report is not None and report.all_passed else 1


def cmd_lab(args: argparse.Namespace) -> int:
    """JupyterLab in the course folder, where nbgrader's formgrader finds the course."""
    course = _course(args)
    course.sync_sources()
    cmd = [str(Path(sys.executable).parent / "jupyter"), "lab", f"--notebook-dir={course.root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and cloud VMs run as root on purpose
    cmd += [a for a in args.lab_args if a != "--"]
    print(f"course folder: {course.root} (the Formgrader is under the Nbgrader menu)")
    if args.dry_run:
        print(" ".join(cmd))
        return 0
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).exists():
        raise UsageError("jupyter is not installed next to this Python (make setup)")
    return subprocess.call(cmd, cwd=course.root)


_SEED_HELP = ("seed of the hidden cases (default: the course's secret seed, made once and kept "
              "in the course folder, so regrading gives the same grades)")


def _assignment(p: argparse.ArgumentParser) -> None:
    p.add_argument("assignment", help="assignment id, e.g. 01_conv_arithmetic (see cnnkit list)")


def _args_autograde(p: argparse.ArgumentParser) -> None:
    _assignment(p)
    p.add_argument("--submissions", required=True, metavar="DIR",
                   help="a folder or an LMS zip as downloaded (Canvas, Moodle, Blackboard, "
                        "Gradescope export, or <student>/<notebook>.ipynb)")
    p.add_argument("--feedback", action="store_true",
                   help="also write nbgrader's HTML feedback (hidden tests removed)")


def _args_grade(p: argparse.ArgumentParser) -> None:
    _assignment(p)
    p.add_argument("--submissions", required=True, metavar="DIR",
                   help="a folder or an LMS zip as downloaded (collected into the course first)")
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="submissions graded at once, one warm sandbox each (default 1; use "
                        "the number of CPU cores)")
    p.add_argument("--seed", default=None, metavar="S", help=_SEED_HELP)
    p.add_argument("--out", default=None, metavar="DIR",
                   help="where grades.csv and each student's feedback go "
                        "(default: COURSE/graded/ASSIGNMENT)")
    p.add_argument("--visibility", default="visible", choices=_VISIBILITY,
                   help="visibility of the tests in each results.json (Gradescope's values)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _args_collect(p: argparse.ArgumentParser) -> None:
    _assignment(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--exchange", action="store_true",
                     help="from the exchange ($CNNKIT_EXCHANGE, course $CNNKIT_COURSE_ID)")
    src.add_argument("--submissions", metavar="DIR", help="a folder or an LMS zip")
    p.add_argument("--no-owner-check", action="store_true",
                   help="accept exchange submissions not owned by the user they name (hubs "
                        "where every user has one uid)")


def _args_release_feedback(p: argparse.ArgumentParser) -> None:
    _assignment(p)
    p.add_argument("--nbgrader", action="store_true",
                   help="release nbgrader's feedback (cnnkit autograde --feedback) instead of "
                        "cnnkit grade's pages")


def _args_gradescope(p: argparse.ArgumentParser) -> None:
    _assignment(p)
    p.add_argument("--out", metavar="ZIP", default=None,
                   help="where to write it (default: COURSE/gradescope/ASSIGNMENT/autograder.zip)")
    p.add_argument("--visibility", default="after_published", choices=_VISIBILITY,
                   help="when students see the tests and their scores (Gradescope's values; "
                        "default after_published: when you publish the grades)")
    p.add_argument("--seed", default=None, metavar="S", help=_SEED_HELP)


def _args_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("notebook", help="path to your .ipynb (saved)")
    p.add_argument("--run-notebook", action="store_true",
                   help="also run the whole notebook in a fresh kernel (minutes)")
    p.add_argument("--timeout", type=int, default=600,
                   help="seconds per cell with --run-notebook (default 600)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _args_lab(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print the command, start nothing")
    p.add_argument("lab_args", nargs=argparse.REMAINDER,
                   help="more arguments for jupyter lab (after --)")


#: name, help, example, handler, arguments
COMMANDS = [
    ("list", "List the assignments with their titles and points.", "cnnkit list", cmd_list,
     None),
    ("release", "Make the student version of an assignment (solutions stubbed, hidden tests "
     "removed).", "cnnkit release 01_conv_arithmetic", cmd_release, _assignment),
    ("autograde", "Collect submissions and run plain nbgrader autograde on them (not "
     "sandboxed; `cnnkit grade` is the grade to trust).",
     "cnnkit autograde 01_conv_arithmetic --submissions downloads/submissions.zip",
     cmd_autograde, _args_autograde),
    ("grade", "Grade submissions with the sandboxed hidden checks (secret cases, plain-words "
     "reasons, feedback pages, grades.csv).",
     "cnnkit grade 01_conv_arithmetic --submissions downloads/submissions.zip --jobs 2",
     cmd_grade, _args_grade),
    ("collect", "Collect submissions into the course: the latest of each student from "
     "nbgrader's exchange (a JupyterHub course), or a folder / LMS zip.",
     "cnnkit collect 01_conv_arithmetic --exchange", cmd_collect, _args_collect),
    ("release-feedback", "Release each student's feedback through nbgrader's exchange (never "
     "the hidden tests).", "cnnkit release-feedback 01_conv_arithmetic", cmd_release_feedback,
     _args_release_feedback),
    ("gradescope", "Write autograder.zip: grade this assignment on Gradescope with the "
     "sandboxed hidden checks.", "cnnkit gradescope 01_conv_arithmetic --visibility "
     "after_published", cmd_gradescope, _args_gradescope),
    ("check", "Self-check a notebook: the grader's checks on public cases, in seconds.",
     "cnnkit check notebooks/01_conv_arithmetic/conv_arithmetic.ipynb", cmd_check, _args_check),
    ("lab", "Open JupyterLab on the course folder, with nbgrader's formgrader.", "cnnkit lab",
     cmd_lab, _args_lab),
]


def build_parser() -> argparse.ArgumentParser:
    """The ``cnnkit`` argument parser: one subcommand per row of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="cnnkit", description="Release, grade and self-check the CNN course assignments.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", metavar="DIR", default=os.environ.get("CNNKIT_COURSE"),
                        help="nbgrader course folder (default: $CNNKIT_COURSE or ./course)")
    parser.add_argument("--notebooks", metavar="DIR", default=os.environ.get("CNNKIT_NOTEBOOKS"),
                        help="folder of source assignments NN_name/ (default: notebooks/)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_, example, handler, arguments in COMMANDS:
        p = sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        if arguments is not None:
            arguments(p)
        p.set_defaults(func=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cnnkit`` console script; returns the exit status."""
    # jsonschema (through nbformat) imports this optional IRI-syntax checker when installed: its
    # grammar takes 1.5 s to build, and nothing cnnkit validates has an IRI
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    from autograder.course.course import CourseError

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
