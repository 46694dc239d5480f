"""Black-box harness for the attacks on ``cnnkit grade`` (tests/adversarial/test_grader_attacks.py).

Everything here drives the real CLI in a subprocess and looks only at what an instructor sees:
the exit status, the terminal output, ``OUT/grades.csv``, ``OUT/<student>/{results.json,
feedback.html}``, the wall time, the peak memory, and what is left on the machine afterwards
(processes, SysV IPC objects, files in /tmp, /run/lock, /dev/shm, the venv, the repository and
HOME). Nothing imports the grader, so the same tests run against any kit with that CLI:

* the kit under test is the repository holding this file, or ``$CNNKIT_UNDER_TEST`` (e.g. a
  worktree of an older commit): it is put first on ``PYTHONPATH`` and used as the working dir;
* ``as_user=True`` runs the grader as the normal user :data:`GRADER_USER` (created when the tests
  run as root; when they already run as a normal user, the grader runs as that user);
* the test process becomes a child subreaper, so every process the grader starts, even one that
  left its session, stays a descendant: leftovers are found and killed by pid.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import ctypes
import functools
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[2]
KIT = Path(os.environ.get("CNNKIT_UNDER_TEST") or REPO).resolve()
PYTHON = Path(sys.executable)
VENV = Path(sys.prefix)
SITE = Path(sysconfig.get_paths()["purelib"])
ASSIGNMENT = "01_conv_arithmetic"
NOTEBOOKS = KIT / "notebooks"
SOURCE_NB = NOTEBOOKS / ASSIGNMENT / "conv_arithmetic.ipynb"
NB_FILE = "conv_arithmetic.ipynb"
FULL_MARKS = 20.0
GRADER_USER = "cnnkit-student-grader"
#: Unique to this test session: names of planted files and IPC keys, a marker in every notebook.
TOKEN = secrets.token_hex(6)
IPC_KEY = 0x43000000 | (zlib.crc32(TOKEN.encode()) & 0xFFFFFF)
TROJAN = SITE / "numpy" / "_distributor_init_local.py"
#: C0 and C1 control characters except tab and newline (ESC is \x1b).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$",
                       re.MULTILINE | re.DOTALL)
_HIDDEN = re.compile(r"^\s*### BEGIN HIDDEN TESTS.*?^\s*### END HIDDEN TESTS[^\n]*\n?",
                     re.MULTILINE | re.DOTALL)
_SUBREAPER = 36  # prctl PR_SET_CHILD_SUBREAPER
#: Caches the grader's own libraries keep in $TMPDIR (torch's compiler cache): not leftovers
#: (nor are the grader's own empty ``*.lock`` files, see :func:`_empty_lock`).
_TOOL_CACHES = ("torchinductor_",)


# --------------------------------------------------------------------------------------------
# Notebooks
# --------------------------------------------------------------------------------------------


@functools.cache
def _read_source() -> nbformat.NotebookNode:
    return nbformat.read(SOURCE_NB, as_version=4)


def _source() -> nbformat.NotebookNode:
    """A fresh copy of the kit's source notebook of assignment 1."""
    return copy.deepcopy(_read_source())


def _gid(cell: Any) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solution_ids() -> list[str]:
    """Grade ids of the solution cells, in notebook order (the last one's code runs last)."""
    return [_gid(c) for c in _source().cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def released(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Locked cells as students receive them (hidden tests removed), so no integrity problem."""
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("locked"):
            cell.source = _HIDDEN.sub("", cell.source)
    return nb


def honest(comment: str = "") -> nbformat.NotebookNode:
    """The reference solutions as a student would submit them: full marks. ``comment`` is added
    to the first solution (e.g. one mentioning torch, which makes the old child import it)."""
    nb = released(_source())
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    cell.source = _token_comment(cell.source, comment)
    return nb


def notebook(cells: Mapping[str, str] | None = None, *, stub: bool = True,
             points: Mapping[str, Any] | None = None) -> nbformat.NotebookNode:
    """A submission built from the source notebook.

    cells:  grade id -> the whole new source of that solution cell (the attack).
    stub:   every other solution region becomes ``raise NotImplementedError()`` (what the
            student received): the submission's honest code earns 0. False keeps them correct.
    points: grade id -> value written into that test cell's nbgrader ``points`` metadata.
    """
    cells = dict(cells or {})
    nb = released(_source())
    marked = False
    for cell in nb.cells:
        gid, nbg = _gid(cell), cell.metadata.get("nbgrader", {})
        if nbg.get("solution") and cell.cell_type == "code":
            if gid in cells:
                cell.source = cells.pop(gid)
            elif stub:
                cell.source = _SOLUTION.sub(lambda m: f"{m.group(1)}raise NotImplementedError()",
                                            cell.source)
            if not marked:
                cell.source = _token_comment(cell.source)
                marked = True
        if points and gid in points:
            nbg["points"] = points[gid]
    if cells:
        raise KeyError(f"no solution cells {sorted(cells)} in {SOURCE_NB}")
    return nb


def _token_comment(source: str, extra: str = "") -> str:
    """The session token as a comment inside the first function body of ``source`` (extraction
    keeps it, so it reaches the sandbox), or at the end when the cell defines no function."""
    line = f"# cnnkit-adv {TOKEN} {extra}".rstrip()
    m = re.search(r'^def [^\n]*:\n(?:[ \t]+"""[\s\S]*?"""\n)?', source, re.MULTILINE)
    if m is None:
        return f"{source}\n{line}\n"
    return f"{source[:m.end()]}    {line}\n{source[m.end():]}"


def reference_code() -> str:
    """The source notebook's solution cells, as one module (what an unlocked attack execs)."""
    parts = ["import numpy as np"]
    parts += [c.source for c in _source().cells
              if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    return "\n\n".join(parts) + "\n"


def write_nb(nb: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------------------------


def _become_subreaper() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_SUBREAPER, 1, 0, 0, 0)


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, state) of every process in /proc."""
    table: dict[int, tuple[int, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        with contextlib.suppress(IndexError, ValueError):
            table[int(entry)] = (int(rest[1]), rest[0])
    return table


def descendants(root: int | None = None, zombies: bool = False) -> list[int]:
    """Pids below ``root`` (default: this process); orphans come back here as we are a
    subreaper, so this finds even processes that left their session."""
    root = os.getpid() if root is None else root
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _state) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if zombies or table.get(pid, (0, "Z"))[1] not in ("Z", "X"):
            out.append(pid)
        todo += children.get(pid, [])
    return out


def describe(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        uid = Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]
    except (OSError, IndexError):
        return f"pid {pid} (gone)"
    return f"pid {pid} uid {uid}: {cmd.strip()[:120]}"


def _rss_kib(pids: Iterable[int]) -> int:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * (
                os.sysconf("SC_PAGE_SIZE") // 1024)
        except (OSError, IndexError, ValueError):
            continue
    return total


def _uids(pids: Iterable[int]) -> set[int]:
    out = set()
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            out.add(int(Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split()[0]))
    return out


def reap() -> None:
    """Collect zombies that were reparented to this process."""
    me = os.getpid()
    for pid, (ppid, state) in _proc_table().items():
        if ppid == me and state in ("Z", "X"):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)


def kill_descendants() -> list[str]:
    """SIGKILL every process below this one, by pid (stopped ones included); returns what was
    found alive."""
    found: list[str] = []
    for _ in range(200):
        pids = descendants()
        if not pids:
            break
        for pid in pids:
            if len(found) < 50:
                found.append(describe(pid))
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        reap()
    reap()
    return list(dict.fromkeys(found))


# --------------------------------------------------------------------------------------------
# Running the CLI
# --------------------------------------------------------------------------------------------


class CnnkitRun(subprocess.CompletedProcess):
    """A finished (or killed) ``python -m autograder.cli`` run.

    wall_s: seconds it ran. timed_out: killed at the timeout. memory_killed: killed because the
    process tree used more than the memory cap. maxrss_kib: the largest RSS of any process of
    the run (wait4). peak_tree_kib: the largest sampled sum of RSS over the process tree.
    uids: the (real) uids its processes were seen running as (sandbox uids included).
    """

    def __init__(self, args: Sequence[str], returncode: int, stdout: str, stderr: str,
                 wall_s: float, timed_out: bool, memory_killed: bool, maxrss_kib: int,
                 peak_tree_kib: int, uids: set[int]) -> None:
        super().__init__(list(args), returncode, stdout, stderr)
        self.wall_s, self.timed_out, self.memory_killed = wall_s, timed_out, memory_killed
        self.maxrss_kib, self.peak_tree_kib, self.uids = maxrss_kib, peak_tree_kib, uids

    def why(self) -> str:
        """One paragraph for assertion messages."""
        state = ("killed at the timeout" if self.timed_out else
                 "killed by the memory cap" if self.memory_killed else f"exit {self.returncode}")
        tail = (self.stderr or "").strip().splitlines()[-3:]
        return f"{state} after {self.wall_s:.0f} s; stderr tail: {' | '.join(tail)[-600:]}"


def is_root() -> bool:
    return os.geteuid() == 0


def grader_user() -> pwd.struct_passwd:
    """The normal user the ``as_user`` runs use: created (once) when running as root."""
    if not is_root():
        return pwd.getpwuid(os.getuid())
    try:
        return pwd.getpwnam(GRADER_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", GRADER_USER],
                       check=False, capture_output=True)
        return pwd.getpwnam(GRADER_USER)


_AS_USER_SH = r"""
set -e
stage="$1"; reach="$2"; user="$3"; numpy_copy="$4"; numpy_dir="$5"; shift 5
eval "$reach"
if [ -n "$numpy_copy" ]; then mount --bind "$numpy_copy" "$numpy_dir"; fi
exec setpriv --reuid="$user" --regid="$user" --init-groups -- env -i "$@"
"""


def _covers() -> dict[Path, list[Path]]:
    """``{folder other uids cannot traverse: [its child on the way to what they must reach]}``
    for the interpreter, the venv and the kit under test (``/root`` holding ``/root/.pyenv``;
    a ``mktemp -d`` folder holding a clone), and always ``/root``."""
    out: dict[Path, list[Path]] = {Path("/root"): []}
    for target in {Path(os.path.realpath(PYTHON)), VENV.resolve(), KIT, REPO}:
        for parent in reversed(target.parents):
            if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
                child = target.relative_to(parent).parts[0]
                keeps = out.setdefault(parent, [])
                if parent / child not in keeps:
                    keeps.append(parent / child)
                break
    return out


def _reach_script(stage: Path) -> str:
    """Shell lines for the private mount namespace: each folder of :func:`_covers` becomes an
    empty 0755 tmpfs with the children on the way bound back (set aside under ``stage``)."""
    q = shlex.quote
    covers = _covers()
    keeps = [k for ks in covers.values() for k in ks]
    aside = [stage / str(i) for i in range(len(keeps))]
    lines = [f"mkdir -p {q(str(a))}; mount --bind {q(str(k))} {q(str(a))}"
             for k, a in zip(keeps, aside, strict=True)]
    lines += [f"mount -t tmpfs -o mode=0755,size=16m cnnkit-adv-cover {q(str(c))}"
              for c in covers]
    lines += [f"mkdir -p {q(str(k))}; mount --bind {q(str(a))} {q(str(k))}; umount -l {q(str(a))}"
              for k, a in zip(keeps, aside, strict=True)]
    return "\n".join(lines)


def as_user_argv(stage: Path, user: str, env: dict[str, str], cmd: Sequence[str],
                 numpy_copy: Path | None = None) -> list[str]:
    """``cmd`` run by root as ``user`` (a name or ``root``) in a private mount namespace where
    the interpreter, the venv and the kit are reachable by every uid, with only ``env``;
    ``numpy_copy`` (a copy owned by that user) is bound over the venv's numpy."""
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", _AS_USER_SH,
            "sh", str(stage), _reach_script(stage), user, str(numpy_copy or ""),
            str(SITE / "numpy"), *(f"{k}={v}" for k, v in env.items()), *cmd]


def run_cnnkit(args: Sequence[str], *, as_user: bool = False, timeout: float,
               tmpdir: Path | None = None, cpus: set[int] | None = None,
               memory_cap_gib: float = 8.0, stage: Path | None = None,
               numpy_copy: Path | None = None) -> CnnkitRun:
    """Run ``python -m autograder.cli ARGS`` of the kit under test and wait for it.

    as_user:   run the grader as a normal user (see the module docstring): as root, inside a
               private mount namespace where every folder other uids cannot traverse on the way
               to the interpreter, the venv and the kit is an empty 0755 tmpfs with the way
               bound back (:func:`as_user_argv`), and ``numpy_copy`` (a copy owned by that
               user) bound over the venv's numpy, so the user owns that part of the venv as an
               instructor owns theirs.
    timeout:   seconds; past it the whole process tree is killed and ``timed_out`` is set.
    tmpdir:    $TMPDIR of the grader. cpus: CPU affinity of the grader and all it starts.
    memory_cap_gib: the process tree is killed past this (sampled) RSS: a runaway read of
               /dev/zero must not take the machine down.
    stage:     an empty folder the as-user mount setup may use (required as root).
    """
    _become_subreaper()
    cmd = [str(PYTHON), "-m", "autograder.cli", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CNNKIT_"))}
    env.update(PYTHONPATH=str(KIT), PYTHONDONTWRITEBYTECODE="1", LANG="C.UTF-8")
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    if as_user and is_root():
        user = grader_user()
        if stage is None:
            raise ValueError("as_user as root needs a stage folder")
        uenv = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": user.pw_dir,
                "USER": user.pw_name, "LOGNAME": user.pw_name, "LANG": "C.UTF-8",
                "PYTHONPATH": str(KIT), "PYTHONDONTWRITEBYTECODE": "1"}
        if tmpdir is not None:
            uenv["TMPDIR"] = str(tmpdir)
        cmd = as_user_argv(stage, user.pw_name, uenv, cmd, numpy_copy)
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()

    def preexec() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=KIT, env=env, stdin=subprocess.DEVNULL, stdout=out_f,
                            stderr=err_f, preexec_fn=preexec)
    timed_out = memory_killed = False
    peak = 0
    uids: set[int] = set()
    rusage = None
    status = 0
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            break
        tree = [proc.pid, *descendants(proc.pid)]
        uids |= _uids(tree)
        rss = _rss_kib(tree)
        peak = max(peak, rss)
        if rss > memory_cap_gib * 2**20:
            memory_killed = True
        elif time.monotonic() - start > timeout:
            timed_out = True
        if timed_out or memory_killed:
            for p in tree:
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.1)
    wall = time.monotonic() - start
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    out_f.seek(0)
    err_f.seek(0)
    stdout = out_f.read().decode("utf-8", "replace")
    stderr = err_f.read().decode("utf-8", "replace")
    out_f.close()
    err_f.close()
    return CnnkitRun(cmd, rc, stdout, stderr, wall, timed_out, memory_killed,
                     int(rusage.ru_maxrss) if rusage else 0, peak, uids)


# --------------------------------------------------------------------------------------------
# What is left on the machine
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watch:
    """A folder whose new entries after a batch are leftovers.

    depth: how deep to list (0 = only the folder's entries). exclusive: the folder is this
    test's own (everything new counts); otherwise only entries that are ours count: owned by a
    uid other than the grader's, or naming or containing this session's token.
    """

    path: Path
    depth: int = 0
    exclusive: bool = False
    skip: tuple[str, ...] = ()


def _listing(w: Watch) -> dict[str, tuple[int, int]]:
    """relative path -> (uid, mtime_ns) of the entries down to ``w.depth`` levels below."""
    out: dict[str, tuple[int, int]] = {}
    if not w.path.is_dir():
        return out
    base = len(str(w.path).rstrip("/")) + 1
    for dirpath, dirs, files in os.walk(w.path):
        rel_dir = dirpath[base:]
        depth = rel_dir.count("/") + 1 if rel_dir else 0
        for name in [*dirs, *files]:
            full = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(full)
                out[full[base:]] = (st.st_uid, st.st_mtime_ns)
        dirs[:] = [d for d in dirs if d not in w.skip] if depth < w.depth else []
    return out


def _mentions_token(path: Path) -> bool:
    if TOKEN in path.name:
        return True
    try:
        if path.is_symlink() or not (path.is_file() or path.is_dir()):
            return False
        files = [path] if path.is_file() else [p for _, p in zip(range(200), path.rglob("*"))
                                                if p.is_file() and not p.is_symlink()]
        return any(TOKEN.encode() in f.read_bytes()[:1 << 16] for f in files)
    except (OSError, RecursionError):
        return False


def _empty_lock(path: Path) -> bool:
    """An empty ``*.lock`` file: the grader's own uid locks (reused by the next run), not
    something a submission left."""
    try:
        return path.name.endswith(".lock") and path.is_file() and not path.is_symlink() and (
            path.stat().st_size == 0)
    except OSError:
        return False


def ipc_objects() -> set[tuple[str, int, int, int]]:
    """SysV IPC objects on the machine: (kind, key, id, creator uid)."""
    out: set[tuple[str, int, int, int]] = set()
    for kind in ("shm", "sem", "msg"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        head = lines[0].split() if lines else []
        for line in lines[1:]:
            row = dict(zip(head, line.split(), strict=False))
            ident = row.get("shmid") or row.get("semid") or row.get("msqid") or "-1"
            with contextlib.suppress(ValueError):
                out.add((kind, int(row["key"]), int(ident), int(row.get("cuid", "0"))))
    return out


@dataclass
class Snapshot:
    files: dict[Watch, dict[str, tuple[int, int]]]
    ipc: set[tuple[str, int, int, int]]
    trojan: bool

    @classmethod
    def take(cls, watches: Sequence[Watch]) -> Snapshot:
        return cls({w: _listing(w) for w in watches}, ipc_objects(), TROJAN.exists())


@dataclass
class Leftovers:
    """What a batch left: processes (descriptions), IPC objects, new or changed files."""

    processes: list[str] = field(default_factory=list)
    ipc: list[tuple[str, int, int, int]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.processes or self.ipc or self.files)


def leftovers(before: Snapshot, ours: set[int]) -> Leftovers:
    """Compare the machine with ``before``: processes still below this one, new IPC objects and
    new files that are ours (created by a uid in ``ours``, or carrying this session's key or
    token; in an exclusive folder, anything new or changed)."""
    left = Leftovers(processes=[describe(p) for p in descendants()])
    left.ipc = sorted(o for o in ipc_objects() - before.ipc if o[1] == IPC_KEY or o[3] in ours)
    for w, old in before.files.items():
        for rel, (uid, mtime) in sorted(_listing(w).items()):
            path = w.path / rel
            if rel.split("/")[0].startswith(_TOOL_CACHES) or (
                    uid not in ours and _empty_lock(path)):
                continue
            if rel in old and (not w.exclusive or old[rel][1] == mtime or path.is_dir()):
                continue
            if w.exclusive or uid in ours or _mentions_token(path):
                left.files.append(path)
    if not before.trojan and TROJAN.exists():
        left.files.append(TROJAN)
    return left


def clean(left: Leftovers) -> None:
    """Undo what a batch left (by pid, by IPC id, by path); the venv trojan in any case."""
    kill_descendants()
    for kind, _key, ident, _uid in left.ipc:
        flag = {"shm": "-m", "sem": "-s", "msg": "-q"}[kind]
        subprocess.run(["ipcrm", flag, str(ident)], capture_output=True, check=False)
    for path in sorted(left.files, key=lambda p: -len(str(p))):
        remove(path)


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)


# --------------------------------------------------------------------------------------------
# A graded batch
# --------------------------------------------------------------------------------------------


@dataclass
class Batch:
    """One ``cnnkit grade`` run over a folder of submissions and what it left behind."""

    name: str
    run: CnnkitRun
    out: Path
    rows: dict[str, dict[str, str]]
    left: Leftovers
    feedback_sizes: dict[str, int]
    long_texts: dict[str, int]
    csv_text: str
    reports: dict[str, Any]

    def total(self, student: str) -> float | None:
        """The student's total in grades.csv (None: no row; an empty cell counts as 0)."""
        row = self.rows.get(student)
        if row is None:
            return None
        try:
            return float(row.get("total") or 0.0)
        except ValueError:
            return None

    def earned(self, student: str) -> float:
        """Points a student got; no row (a skipped entry) earns nothing."""
        return self.total(student) or 0.0

    def stdout_totals(self) -> list[tuple[str, float]]:
        """(student, total) of every terminal line that starts with an id and "X / Y"."""
        pat = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.@+-]*):?\s+(-?\d+(?:\.\d+)?)\s*/\s*\d")
        return [(m.group(1), float(m.group(2)))
                for line in self.run.stdout.splitlines() if (m := pat.match(line))]

    def explain(self, student: str) -> str:
        """The student's row and messages, for assertion messages."""
        doc = self.reports.get(student, {})
        msgs = [str(t.get("output", ""))[:160] for t in doc.get("tests", [])
                if isinstance(t, dict) and t.get("score") != t.get("max_score")][:3]
        if doc.get("output"):
            msgs.insert(0, str(doc["output"])[:300])
        return (f"{student}: total {self.total(student)}; {' | '.join(msgs)}; "
                f"run: {self.run.why()}")


def grade_batch(name: str, build: Callable[[Path], object], *, jobs: int = 1, seed: int = 1234,
                as_user: bool = False, timeout: float = 300.0, cpus: set[int] | None = None,
                memory_cap_gib: float = 8.0) -> Batch:
    """Build submissions with ``build(submissions_dir)``, grade them with the CLI, record the
    outcome and the leftovers, then clean up everything the run left on the machine."""
    user = grader_user() if as_user else pwd.getpwuid(os.getuid())
    root = Path(tempfile.mkdtemp(prefix=f"cnnkit-adv-{name}-"))
    subs, out, tmp, stage = root / "submissions", root / "out", root / "tmp", root / "stage"
    for d in (subs, tmp, stage):
        d.mkdir()
    build(subs)
    numpy_copy = None
    if as_user and is_root():
        numpy_copy = root / "numpy"
        shutil.copytree(SITE / "numpy", numpy_copy, symlinks=True)
        subprocess.run(["chown", "-R", f"{user.pw_uid}:{user.pw_gid}", str(root)], check=True)
        os.chmod(root, 0o755)
    home = Path(user.pw_dir)
    watches = [
        Watch(Path("/tmp"), skip=(root.name,)), Watch(Path("/var/tmp")),
        Watch(Path("/run/lock"), depth=2), Watch(Path("/dev/shm"), depth=2),
        Watch(tmp, depth=3, exclusive=True),
        Watch(home, depth=6, exclusive=as_user and is_root(),
              skip=(".cache", ".npm", ".cargo", ".rustup", ".pyenv", ".m2")),
        Watch(VENV, depth=12, skip=("__pycache__",)),
        Watch(KIT, depth=12, skip=(".git", ".venv", "__pycache__", "node_modules")),
    ]
    if VENV.parent != KIT:
        watches.append(Watch(VENV.parent, depth=12,
                             skip=(".git", ".venv", "__pycache__", "node_modules")))
    if numpy_copy is not None:
        watches.append(Watch(numpy_copy, depth=8, exclusive=True, skip=("__pycache__",)))
    before = Snapshot.take(watches)
    ours = {user.pw_uid} if as_user else set()
    try:
        run = run_cnnkit(
            ["--course", str(root / "course"), "--notebooks", str(NOTEBOOKS), "grade",
             ASSIGNMENT, "--submissions", str(subs), "--jobs", str(jobs), "--seed", str(seed),
             "--out", str(out)],
            as_user=as_user, timeout=timeout, tmpdir=tmp, cpus=cpus,
            memory_cap_gib=memory_cap_gib, stage=stage, numpy_copy=numpy_copy)
        time.sleep(0.5)  # let a process that is exiting anyway go
        reap()
        # files of the sandbox uids (or of the normal user) are the batch's; root's only by token
        ours |= run.uids - {0, os.getuid()}
        left = leftovers(before, ours)
        csv_text = ""
        with contextlib.suppress(OSError):
            csv_text = (out / "grades.csv").read_text(encoding="utf-8")
        # rows of graded students (entries that were not graded have an empty total and a
        # "not graded" note: they are reported, not graded)
        rows = {r["student"]: r for r in csv.DictReader(csv_text.splitlines())
                if r.get("total", "x") != "" or not r.get("notes", "").startswith("not graded")}
        sizes, texts, reports = {}, {}, {}
        for path in out.rglob("*") if out.is_dir() else []:
            if path.is_file() and path.name != "grades.json":
                sizes[str(path.relative_to(out))] = path.stat().st_size
            if path.name == "results.json" and path.stat().st_size < 64 << 20:
                with contextlib.suppress(ValueError, OSError):
                    doc = json.loads(path.read_text(encoding="utf-8"))
                    reports[path.parent.name] = doc
                    key = str(path.relative_to(out))
                    texts[key] = max(len(t) for t in [*strings(doc), ""])
        return Batch(name, run, out, rows, left, sizes, texts, csv_text, reports)
    finally:
        clean(leftovers(before, ours))
        remove(root)
        if root.exists():
            shutil.rmtree(root, ignore_errors=True)


def strings(doc: Any) -> Iterable[str]:
    """Every string in a JSON document."""
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from strings(v)
