"""What ``run_autograder`` runs for one submission inside Gradescope's container.

``python -m autograder.engine.gradescope.run --root /autograder`` (from the kit's copy in
``/autograder/source/cnnkit``):

1. closes ``/autograder`` (the bundle, the secret seed, the submission, the results) to every uid
   but root, and checks that it is closed;
2. picks the notebook in ``/autograder/submission`` (the exact name first, then a copy or
   re-download of it, then a lone notebook; never a link or a special file);
3. grades it with the sandboxed hidden checks, exactly as ``cnnkit grade`` does (the same seed,
   the same checks, one warm sandbox);
4. writes ``/autograder/results/results.json``: one test per autograded cell (score, max_score,
   status, the same diagnosis text as feedback.html), the instructor's visibility, the execution
   time, the overall score; written answers are left to Gradescope's manual grading.

What only the instructor may see (how the student's code was isolated, the review flags) goes to
standard output, which Gradescope shows to instructors only (``stdout_visibility`` is
``hidden``), and into ``extra_data`` (stored, not displayed). Whatever fails, a results.json is
written; the student is told the instructor will grade by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT_ENV = "CNNKIT_GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
#: The id graded submissions carry in the feedback (Gradescope knows who submitted).
STUDENT = "submission"
#: Folder levels looked at below /autograder/submission, and entries in all.
MAX_DEPTH, MAX_ENTRIES = 3, 1000
FAILED_OUTPUT = ("The autograder failed on this submission (not because of your code): your "
                 "instructor has been told and will grade it by hand.")


@dataclass(frozen=True)
class Layout:
    """Gradescope's /autograder folder (or a copy of its layout for a trial)."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def kit(self) -> Path:
        from autograder.engine.gradescope.bundle import KIT_DIR

        return self.source / KIT_DIR

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def results(self) -> Path:
        return self.root / "results"


# --------------------------------------------------------------------------------------------
# 1. Nothing of the grader for other uids
# --------------------------------------------------------------------------------------------


def protect(layout: Layout) -> list[str]:
    """Close the root, the bundle and the results to group and others (root-owned files stay
    root's); returns what is still open to another uid (empty when all is closed)."""
    layout.results.mkdir(parents=True, exist_ok=True)
    for top in (layout.root, layout.results):
        os.chmod(top, stat.S_IMODE(os.lstat(top).st_mode) & 0o700)
    for dirpath, dirs, files in os.walk(layout.source):
        for name in [*dirs, *files, ""]:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(p, stat.S_IMODE(st.st_mode) & 0o700)
    from autograder.engine.batch import SEED_FILE

    open_to_others = []
    for p in (layout.root, layout.source, layout.results, layout.kit / SEED_FILE):
        st = os.lstat(p)
        if st.st_mode & 0o077 or (os.geteuid() == 0 and st.st_uid != 0):
            open_to_others.append(f"{p} (mode {stat.S_IMODE(st.st_mode):o}, uid {st.st_uid})")
    return open_to_others


# --------------------------------------------------------------------------------------------
# 2. Which notebook
# --------------------------------------------------------------------------------------------


def _regular_notebooks(folder: Path) -> list[str]:
    """Relative paths of the regular ``.ipynb`` files below ``folder`` (no links followed, no
    dot-entries, bounded depth and count)."""
    found: list[str] = []
    todo = [(folder, 0)]
    seen = 0
    while todo:
        d, depth = todo.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            seen += 1
            if seen > MAX_ENTRIES:
                return sorted(found)
            if e.name.startswith(".") or e.name == "__MACOSX" or e.is_symlink():
                continue
            if e.is_dir(follow_symlinks=False) and depth + 1 < MAX_DEPTH:
                todo.append((Path(e.path), depth + 1))
            elif e.is_file(follow_symlinks=False) and e.name.lower().endswith(".ipynb"):
                found.append(Path(e.path).relative_to(folder).as_posix())
    return sorted(found)


def pick_notebook(folder: Path, notebook: str) -> tuple[str | None, str]:
    """The submitted file to grade as ``notebook`` (relative to ``folder``), and a note for the
    student when the choice was not the obvious one (empty otherwise)."""
    from autograder.course.discover import _match_class
    from autograder.results import clean_text

    stem = notebook[: -len(".ipynb")]
    files = _regular_notebooks(folder)
    ranked = sorted((cls, len(rel), rel) for rel in files
                    if (cls := _match_class(rel.rsplit("/", 1)[-1], stem)) is not None)
    if ranked:
        chosen = ranked[0][2]
    elif len(files) == 1:
        chosen = files[0]
    else:
        names = ", ".join(clean_text(f, 60) for f in files[:5])
        return None, (f"No {notebook} in your submission (found: {names}): upload the notebook "
                      f"under its own name." if files else
                      f"No notebook in your submission: upload {notebook}.")
    if chosen == notebook and len(files) == 1:
        return chosen, ""
    others = len(files) - 1
    return chosen, (f"Graded {clean_text(chosen, 80)} as {notebook}"
                    + (f" ({others} other notebook(s) ignored)." if others else "."))


# --------------------------------------------------------------------------------------------
# 3. and 4. Grade, and results.json
# --------------------------------------------------------------------------------------------


def _isolation_record() -> dict[str, Any]:
    from autograder.sandbox.run import isolation

    iso = isolation()
    as_uid = os.geteuid() == 0 and iso.mode in ("root", "plain")
    return {"mode": iso.mode, "cgroups": iso.cgroups or "none (rlimits only)",
            "student_code_uid": "an unprivileged uid of its own" if as_uid else
            ("the grader's uid inside a user namespace" if iso.mode == "user"
             else "the grader's uid"),
            "missing": [n.text for n in iso.missing]}


def grade(layout: Layout) -> tuple[dict[str, Any], list[str]]:
    """results.json for the submission in ``layout``, and lines for the instructor."""
    from autograder.engine import feedback
    from autograder.engine.batch import SEED_FILE, Task, grade_batch, load_assignment
    from autograder.results import Problem, ProblemKind

    config = json.loads((layout.kit / "gradescope.json").read_text(encoding="utf-8"))
    seed = (layout.kit / SEED_FILE).read_text(encoding="ascii").strip()
    still_open = protect(layout)
    a = load_assignment(config["assignment"], layout.kit / config["source"])
    chosen, note = pick_notebook(layout.submission, config["notebook"])
    iso = _isolation_record()
    import autograder

    log = [f"cnnkit: {a.id}, kit {config['kit'].get('version')} "
           f"{config['kit'].get('commit', '')[:12]} at {Path(autograder.__file__).parent}",
           f"cnnkit: graded file: {chosen or '(none)'}",
           f"cnnkit: isolation: {iso['mode']}; student code ran as {iso['student_code_uid']}; "
           f"limits: {iso['cgroups']}"]
    log += [f"cnnkit: missing: {m}" for m in iso["missing"]]
    log += [f"cnnkit: WARNING still readable by other uids: {p}" for p in still_open]
    work = Path(tempfile.mkdtemp(prefix="cnnkit-gs-"))
    try:
        path = work / config["notebook"]
        if chosen is not None:
            from autograder.course.discover import read_submission_bytes

            try:
                path.write_bytes(read_submission_bytes(layout.submission / chosen))
            except ValueError as exc:
                note = f"{note} {exc}".strip()
                path.write_bytes(b"")
        else:
            path.write_bytes(b"")
        [result] = grade_batch(a, [Task(STUDENT, str(path), {})], seed, jobs=1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if chosen is None:  # not "the notebook is empty": there is none
        result.problems[:] = [Problem(ProblemKind.UNREADABLE, note)]
        note = ""
    doc = feedback.gradescope_json(result, config["visibility"])
    if note:
        doc["output"] = (note + "\n" + doc.get("output", "")).strip()
    flags = [{"kind": str(f.kind), "text": f.text} for f in result.flags]
    doc["extra_data"] = {"cnnkit": {"assignment": a.id, "kit": config["kit"],
                                    "graded_file": chosen, "isolation": iso,
                                    "closed_to_other_uids": not still_open,
                                    "review": flags}}
    log.append(f"cnnkit: score {result.total:g} / {result.max_total:g}"
               + (f" (+ {result.manual_max:g} written, graded by hand)" if result.manual else ""))
    log += [f"cnnkit: review ({f['kind']}): {f['text']}" for f in flags]
    return doc, log


def write_results(layout: Layout, doc: dict[str, Any]) -> Path:
    """results.json, written whole or not at all (a temporary file renamed over it)."""
    layout.results.mkdir(parents=True, exist_ok=True)
    dest = layout.results / "results.json"
    fd, tmp = tempfile.mkstemp(prefix=".results-", dir=layout.results)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, dest)
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of run_autograder; always writes results.json, returns 0 when graded."""
    parser = argparse.ArgumentParser(prog="run_autograder", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.environ.get(ROOT_ENV) or DEFAULT_ROOT,
                        help=f"Gradescope's folder (default: ${ROOT_ENV} or {DEFAULT_ROOT})")
    args = parser.parse_args(argv)
    layout = Layout(Path(args.root).absolute())
    start = time.monotonic()
    status = 0
    try:
        doc, log = grade(layout)
    except Exception:  # noqa: BLE001 - the student must get a results.json whatever happens
        traceback.print_exc(file=sys.stdout)  # stdout: instructors only
        doc, log, status = {"score": 0.0, "tests": [], "output": FAILED_OUTPUT}, [], 1
    doc["execution_time"] = round(time.monotonic() - start, 3)
    doc["stdout_visibility"] = "hidden"
    dest = write_results(layout, doc)
    for line in log:
        print(line)
    print(f"cnnkit: wrote {dest} in {doc['execution_time']:.1f} s")
    return status


if __name__ == "__main__":
    sys.exit(main())
