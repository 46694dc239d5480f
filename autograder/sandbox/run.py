"""Parent side of the sandbox: launch a warm bubblewrap sandbox, run submissions in it, time them.

:class:`Sandbox` is one warm sandbox (a worker holds one for a whole batch). Its zygote
(:mod:`autograder.sandbox.child`) has imported numpy and torch once; each :meth:`Sandbox.run`
forks a fresh, isolated process for one submission and talks to it over two pipes this process
created. Everything is timed on this process's clock: a start-up window for the sandbox (the
grader's problem, never the student's), a load window, a per-case timeout, and a total budget
per submission that a crash-and-restart does not renew. Whatever goes wrong with one child
(timeout, crash, out of memory, garbled or oversized output) becomes a ``NotRun`` result for the
case it hit, and the remaining cases go on in a new child.

Where bubblewrap or cgroups are missing the sandbox still runs (``plain`` mode: rlimits, a
session of its own, a uid of its own when root) and says so in :attr:`Sandbox.isolation`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import importlib.util
import json
import os
import resource
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from autograder.sandbox.cgroup import Cgroup, CgroupLimits, systemd_scope_prefix
from autograder.sandbox.protocol import (
    Call,
    Caps,
    FrameReader,
    NotRun,
    NotRunKind,
    ProtocolError,
    pack,
)

SANDBOX_DIR = Path(__file__).resolve().parent
#: Where the child sees its code and the student-facing library.
LIB_MOUNT = "/opt/cnnkit/lib"
#: The submission's working folder and HOME (fresh tmpfs each time; paths no host tree uses).
WORK_DIR, HOME_DIR = "/sandbox/work", "/sandbox/home"
#: uids handed to submissions when the grader is root (none of them is in /etc/passwd).
UID_POOL = range(61000, 61256)
#: Where root graders claim pool uids: one place for the whole machine, whatever a grader's
#: TMPDIR (two graders holding one uid could kill each other's students' processes).
LOCK_DIRS = (Path("/run/cnnkit"), Path("/var/lock/cnnkit"), Path("/tmp/cnnkit-root"))


@dataclass(frozen=True)
class Limits:
    """Resource and time limits of the sandbox; one place for all of them.

    memory_bytes:  cgroup memory (process memory, tmpfs and shared memory together) of one
                   warm sandbox; also the address-space rlimit added on top of the zygote's.
    pids:          processes and threads of one sandbox (cgroup), ``nproc`` the rlimit floor.
    tmpfs:         size of each private tmpfs a submission gets.
    file_bytes:    largest file a submission may write.
    case_seconds:  default time of one case (a check may set its own).
    load_seconds:  time to load the student's code (top-level def/class/import).
    submission_seconds: total budget of one submission, restarts included.
    start_seconds: start-up window of the warm sandbox (imports on a loaded machine).
    spawn_seconds: start-up window of one submission's process.
    """

    memory_bytes: int = 3 * 2**30
    pids: int = 256
    nproc: int = 64
    tmpfs: tuple[tuple[str, int, str], ...] = (
        ("/tmp", 256 * 2**20, "1777"), ("/dev/shm", 64 * 2**20, "1777"),
        (WORK_DIR, 256 * 2**20, "0700"), (HOME_DIR, 64 * 2**20, "0700"))
    file_bytes: int = 64 * 2**20
    case_seconds: float = 10.0
    load_seconds: float = 15.0
    submission_seconds: float = 120.0
    start_seconds: float = 120.0
    spawn_seconds: float = 30.0
    caps: Caps = Caps()

    @property
    def cgroup(self) -> CgroupLimits:
        return CgroupLimits(self.memory_bytes, self.pids)


GRACE = 2.0  # the child's own alarm fires first; this is the hard stop behind it
#: A check's cases together may take this many of its case timeouts (restarts included).
CHECK_BUDGET = 2


class NoteKind(StrEnum):
    ISOLATION = "isolation"  # the submission could see or touch more than it should
    LIMITS = "limits"        # memory/pids/CPU limited by rlimits only
    GRADER = "grader"        # the sandbox itself failed: grade by hand


@dataclass(frozen=True)
class Note:
    kind: NoteKind
    text: str


@dataclass(frozen=True)
class CheckPlan:
    """One check as the sandbox sees it: independent cases of dependent steps."""

    name: str
    cases: tuple[tuple[Call, ...], ...]
    timeout: float
    seed: int


@dataclass(frozen=True)
class LoadError:
    """A top-level statement of a solution cell that raised while the code was loaded."""

    cell: str
    line: int
    type: str
    message: str


@dataclass
class Outcome:
    """What one submission's run produced.

    results:     check name -> one list per case -> one result per step.
    load_errors: statements that raised while the student's code was loaded.
    notes:       what was not as it should be (isolation, limits, the sandbox failing).
    children:    processes started (1 unless cases crashed or timed out).
    """

    results: dict[str, list[list[Any]]] = field(default_factory=dict)
    load_errors: list[LoadError] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    children: int = 0


class SandboxUnavailable(RuntimeError):
    """The warm sandbox could not be started (the grader's problem, not the student's)."""


# --------------------------------------------------------------------------------------------
# What this machine allows
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Isolation:
    """How submissions are isolated here. ``mode``: ``root`` (bubblewrap as root, a uid per
    submission), ``user`` (bubblewrap in a user namespace), ``plain`` (no bubblewrap)."""

    mode: str
    cgroups: str  # "cgroup v1", "cgroup v2", "systemd user scope" or "" (rlimits only)
    missing: tuple[Note, ...]


@functools.cache
def isolation(limits: Limits = Limits()) -> Isolation:
    """What this machine gives the sandbox; the missing parts are the review flags every grade
    will carry. Tries bubblewrap once for real."""
    missing: list[Note] = []
    mode = "root" if os.geteuid() == 0 else "user"
    bwrap = shutil.which("bwrap")
    if not sys.platform.startswith("linux"):
        mode = "plain"
        missing.append(Note(NoteKind.ISOLATION, f"no bubblewrap sandbox on {sys.platform}: the "
                            "submission could read and write every file the grader can"))
    elif bwrap is None:
        mode = "plain"
        missing.append(Note(NoteKind.ISOLATION, "bubblewrap (bwrap) is not installed: the "
                            "submission could read every file the grader can read "
                            "(apt-get install bubblewrap)"))
    elif not _bwrap_works(bwrap, mode):
        mode = "plain"
        missing.append(Note(NoteKind.ISOLATION, "bubblewrap cannot create namespaces here (user "
                            "namespaces disabled, or a container's seccomp profile)"))
    cg = ""
    if os.geteuid() == 0:
        probe, why = Cgroup.create(f"cnnkit-probe-{os.getpid()}", limits.cgroup)
        if probe is not None:
            cg = f"cgroup v{probe.version}"
            probe.remove()
    elif systemd_scope_prefix(limits.cgroup) is not None:
        cg, why = "systemd user scope", ""
    else:
        why = "not root and no systemd user instance"
    if not cg:
        missing.append(Note(NoteKind.LIMITS, f"no cgroup ({why}): memory, processes and CPU "
                            "are limited per process only"))
    return Isolation(mode, cg, tuple(missing))


def _bwrap_works(bwrap: str, mode: str) -> bool:
    args = [bwrap, *_NAMESPACES[mode], "--ro-bind", "/", "/", "--", "/bin/true"]
    try:
        return subprocess.run(args, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_NAMESPACES = {
    # Root: bwrap needs no user namespace, and without one C3 can drop to a real uid.
    "root": ("--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
             "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-add", "ALL"),
    # Normal user: everything inside a user namespace; no nested ones for the student.
    "user": ("--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
             "--new-session", "--cap-add", "ALL"),
}


# --------------------------------------------------------------------------------------------
# The child's file system
# --------------------------------------------------------------------------------------------


def child_sys_path() -> list[str]:
    """The standard library and site-packages of this interpreter (nothing of a repository)."""
    roots = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix})
    out = [LIB_MOUNT]
    for p in sys.path:
        rp = os.path.realpath(p) if p else ""
        if rp and os.path.isdir(rp) and rp.startswith(roots) and rp not in out:
            out.append(rp)
    return out


def _prefix_binds() -> list[str]:
    """Read-only binds of the interpreter and its environment (outermost paths only)."""
    paths = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)})
    paths = [p for p in paths if not p.startswith("/usr/")]
    paths = [p for p in paths if not any(p != q and p.startswith(q + os.sep) for q in paths)]
    args: list[str] = []
    for p in paths:
        args += ["--ro-bind", p, p]
    return args


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return args


def _traversable_dirs(binds: list[str], mount_points: list[str]) -> list[str]:
    """``--dir`` with mode 0755 for every folder above a bind or mount point: bwrap would make
    them 0700, and the submission's uid could not reach its own interpreter."""
    dests = [binds[i + 2] for i, a in enumerate(binds) if a in ("--ro-bind", "--symlink")]
    wanted: set[str] = set(mount_points)
    for d in dests:
        parts = d.strip("/").split("/")
        wanted |= {"/" + "/".join(parts[:k]) for k in range(1, len(parts))}
    wanted -= set(dests)
    args: list[str] = []
    for d in sorted(wanted, key=lambda p: (p.count("/"), p)):
        args += ["--perms", "0755", "--dir", d]
    return args


def _hidden_packages(empty: str) -> list[str]:
    """Cover installed copies of the grader and the course library inside the bound prefix:
    the child gets only its own code and the student-facing library."""
    args: list[str] = []
    roots = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix})
    for name in ("autograder", "cnnlib"):
        spec = importlib.util.find_spec(name)
        for loc in (spec.submodule_search_locations or []) if spec else []:
            rp = os.path.realpath(loc)
            if rp.startswith(roots):
                args += ["--ro-bind", empty, rp]
    return args


def prepare_library(library: Path | None, dest: Path) -> None:
    """``dest``: what the child sees at :data:`LIB_MOUNT`: a copy of this sandbox package (and
    an empty ``autograder`` package around it), plus the student-facing library folders."""
    pkg = dest / "autograder"
    shutil.copytree(SANDBOX_DIR, pkg / "sandbox",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (pkg / "__init__.py").write_text('"""The sandbox\'s own copy of its code."""\n')
    if library is not None:
        for entry in sorted(library.iterdir()):
            shutil.copytree(entry, dest / entry.name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for dirpath, _dirs, files in os.walk(dest):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)


# --------------------------------------------------------------------------------------------
# The warm sandbox
# --------------------------------------------------------------------------------------------


class Sandbox:
    """One warm sandbox; :meth:`run` grades one submission in a fresh child of it.

    library: a folder whose entries (e.g. a student-facing ``cnnlib/``) the child may import.
    torch:   import torch in the zygote (the checks or most submissions need it).
    """

    def __init__(self, limits: Limits | None = None, library: Path | None = None,
                 torch: bool = True, name: str | None = None) -> None:
        self.limits = limits or Limits()
        self.isolation = isolation(self.limits)
        self._torch = torch
        self._name = name or f"cnnkit-{os.getpid()}-{id(self):x}"
        self._tmp = Path(tempfile.mkdtemp(prefix="cnnkit-sandbox-"))
        os.chmod(self._tmp, 0o755)
        prepare_library(library, self._tmp / "lib")
        (self._tmp / "empty").mkdir(mode=0o555)
        self._proc: subprocess.Popen | None = None
        self._ctl: socket.socket | None = None
        self._cgroup: Cgroup | None = None
        self._ready = False
        self._log: Path = self._tmp / "zygote.log"

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the warm sandbox and remove everything it made (processes, cgroup, files)."""
        self._stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def _stop(self) -> None:
        if self._ctl is not None:
            with contextlib.suppress(OSError):
                self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            with contextlib.suppress(OSError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
            self._proc = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    def start(self) -> None:
        """Start the warm sandbox now, without waiting for it (its imports then overlap with
        the caller's work; the first run waits until it is ready)."""
        if self._proc is None:
            self._launch()

    def _ensure_ready(self) -> None:
        """A running zygote that has imported what it needs (started or restarted here)."""
        if self._proc is None or self._proc.poll() is not None or self._ctl is None:
            self._launch()
        if self._ready:
            return
        msg = self._ctl_recv(time.monotonic() + self.limits.start_seconds)
        if msg is None or msg.get("op") != "ready":
            log_text = self._log.read_bytes()[:2000].decode("utf-8", "replace")
            self._stop()
            raise SandboxUnavailable(f"the sandbox did not start: {log_text.strip()}")
        self._ready = True

    def _launch(self) -> None:
        """Start the zygote process (it signals "ready" once its imports are done)."""
        self._stop()
        if self.isolation.mode == "plain" and os.geteuid() == 0:
            unreachable = [p for p in {sys.prefix, sys.base_prefix} if not _world_reachable(p)]
            if unreachable:  # the drop to a pool uid would leave it unable to run Python
                raise SandboxUnavailable(
                    "as root without bubblewrap the submission would have to run as root "
                    f"(another uid cannot reach {unreachable[0]}): install bubblewrap")
        if self.isolation.cgroups.startswith("cgroup"):
            self._cgroup, _ = Cgroup.create(self._name, self.limits.cgroup)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        config = {"sys_path": child_sys_path() if self.isolation.mode != "plain"
                  else [str(self._tmp / "lib"), *child_sys_path()[1:]],
                  "torch": self._torch, "mode": self.isolation.mode,
                  "tmpfs": {p: [size, mode] for p, size, mode in self.limits.tmpfs},
                  "keep": self._kept(),
                  "work": WORK_DIR, "home": HOME_DIR, "prefix": sys.prefix,
                  "caps": {"frame_bytes": self.limits.caps.frame_bytes,
                           "depth": self.limits.caps.depth, "arrays": self.limits.caps.arrays,
                           "elements": self.limits.caps.elements}}
        argv = [*self._launcher(), sys.executable, "-I", "-S", "-B",
                self._child_script(), str(theirs.fileno()), json.dumps(config)]
        cgroup = self._cgroup
        with open(self._log, "wb") as log:
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                pass_fds=[theirs.fileno()], env=_child_env(), cwd=self._tmp,
                start_new_session=True, preexec_fn=cgroup.enter if cgroup else None)
        theirs.close()
        self._ctl = ours
        self._ready = False

    def _launcher(self) -> list[str]:
        """bwrap and its arguments (nothing in plain mode)."""
        mode = self.isolation.mode
        if mode == "plain":
            return []
        prefix = list(systemd_scope_prefix(self.limits.cgroup) or []) \
            if self.isolation.cgroups == "systemd user scope" else []
        env: list[str] = ["--clearenv"]
        for key, value in _child_env().items():
            env += ["--setenv", key, value]
        binds = [*_system_binds(), *_prefix_binds(),
                 *_hidden_packages(str(self._tmp / "empty")),
                 "--ro-bind", str(self._tmp / "lib"), LIB_MOUNT]
        mount_points = [p for p, _s, _m in self.limits.tmpfs if not p.startswith("/dev/")]
        return [*prefix, shutil.which("bwrap") or "bwrap", *_NAMESPACES[mode],
                *_traversable_dirs(binds, mount_points), *binds,
                "--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",
                "--remount-ro", "/", *env, "--chdir", WORK_DIR, "--"]

    def _kept(self) -> dict[str, list[str]]:
        """Per tmpfs mount, the interpreter's folders beneath it (a checkout under /tmp): the
        child binds them back, read-only, over its fresh tmpfs."""
        prefixes = sorted({os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)})
        prefixes = [p for p in prefixes
                    if not any(p != q and p.startswith(q + os.sep) for q in prefixes)]
        kept = {t: [p for p in prefixes if p.startswith(t + "/")]
                for t, _s, _m in self.limits.tmpfs}
        return {t: ps for t, ps in kept.items() if ps}

    def _child_script(self) -> str:
        if self.isolation.mode == "plain":
            return str(self._tmp / "lib" / "autograder" / "sandbox" / "child.py")
        return f"{LIB_MOUNT}/autograder/sandbox/child.py"

    def _ctl_recv(self, deadline: float) -> dict | None:
        """The next control message from the zygote; None when it is gone or too slow."""
        assert self._ctl is not None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._ctl], [], [], left)
            if ready:
                try:
                    data = self._ctl.recv(65536)
                except OSError:
                    return None
                return json.loads(data) if data else None

    # -- one submission -----------------------------------------------------------------------

    def run(self, units: Sequence[tuple[str, str]], checks: Sequence[CheckPlan],
            on_check: Callable[[str], None] | None = None) -> Outcome:
        """Grade one submission: ``units`` are ``(cell, code)`` pairs of the student's code,
        ``checks`` the plans to run against it; ``on_check(name)`` is called as each check
        ends (a progress bar). Never raises for anything the student did."""
        return _Run(self, units, checks, on_check).go()

    def _spawn(self, uid: int | None) -> _Child:
        """A fresh child of the warm zygote (restarted once when it is gone)."""
        for attempt in (1, 2):
            self._ensure_ready()
            assert self._ctl is not None
            cmd_r, cmd_w = os.pipe()
            res_r, res_w = os.pipe()
            rlimits = _rlimits(self.limits, uid, self.isolation.mode)
            try:
                socket.send_fds(self._ctl, [json.dumps({"op": "spawn", "uid": uid,
                                                        "rlimits": rlimits}).encode()],
                                [cmd_r, res_w])
            except OSError:
                for fd in (cmd_r, cmd_w, res_r, res_w):
                    os.close(fd)
                self._stop()
                if attempt == 2:
                    raise SandboxUnavailable("the sandbox stopped answering") from None
                continue
            os.close(cmd_r)
            os.close(res_w)
            return _Child(self, cmd_w, res_r)
        raise AssertionError("unreachable")

    def _exit_status(self, child: _Child, kill: bool) -> tuple[int | None, list[str]]:
        """Kill ``child`` if asked, then wait for the zygote's report of how it ended."""
        if self._ctl is None:
            return None, []
        if kill:
            with contextlib.suppress(OSError):
                self._ctl.send(json.dumps({"op": "kill"}).encode())
        msg = self._ctl_recv(time.monotonic() + (10 if kill else 3))
        if msg is None and not kill and self._ctl is not None:
            # it closed its pipe but lives on (a student's process holding it): stop it
            with contextlib.suppress(OSError):
                self._ctl.send(json.dumps({"op": "kill"}).encode())
            msg = self._ctl_recv(time.monotonic() + 10)
        if msg is None or msg.get("op") != "exited":
            self._stop()  # a zygote that does not answer is not trusted with the next one
            return None, ["the sandbox did not report how the submission ended"]
        notes = [str(n) for n in msg.get("notes", [])]
        return msg.get("status"), notes

    def oom_killed(self) -> bool:
        return self._cgroup is not None and self._cgroup.had_oom_kill()


def _world_reachable(path: str) -> bool:
    """Whether any uid can traverse to ``path`` (every folder on the way has o+x)."""
    p = Path(os.path.realpath(path))
    return all(os.stat(d).st_mode & 0o001 for d in [p, *p.parents])


def _child_env() -> dict[str, str]:
    """Nothing of the grader's environment; nothing that says "graded"."""
    return {"PATH": "/usr/bin:/bin", "HOME": HOME_DIR, "TMPDIR": WORK_DIR,
            "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg"}


def _rlimits(limits: Limits, uid: int | None, mode: str) -> dict[str, int]:
    """The rlimit floor of one submission's process."""
    nproc = limits.nproc
    if mode == "plain" and uid is None:  # same uid as the grader: count its processes too
        nproc += sum(1 for p in os.listdir("/proc") if p.isdigit()) if os.path.isdir("/proc") \
            else resource.getrlimit(resource.RLIMIT_NPROC)[0]
    return {"RLIMIT_AS": limits.memory_bytes,  # the child adds what it holds already
            "RLIMIT_CPU": int(limits.submission_seconds) + 10,
            "RLIMIT_FSIZE": limits.file_bytes, "RLIMIT_NPROC": nproc, "RLIMIT_CORE": 0,
            "RLIMIT_NOFILE": 256}


@contextlib.contextmanager
def _uid_for_submission(mode: str) -> Any:
    """A uid of :data:`UID_POOL`, held by a lock while one submission runs (root only)."""
    if mode == "user" or os.geteuid() != 0:
        yield None
        return
    locks = _lock_dir()
    for uid in UID_POOL:
        fd = os.open(locks / f"uid-{uid}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)
        return
    raise SandboxUnavailable(f"all {len(UID_POOL)} sandbox uids are in use")


def _lock_dir() -> Path:
    """The first of :data:`LOCK_DIRS` that is (or can be made) a root-owned 0700 folder."""
    for d in LOCK_DIRS:
        with contextlib.suppress(OSError):
            d.mkdir(mode=0o700, exist_ok=True)
            st = os.lstat(d)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and not st.st_mode & 0o077:
                return d
    raise SandboxUnavailable("no root-owned folder for the sandbox uid locks: tried "
                             + ", ".join(map(str, LOCK_DIRS)))


class _Child:
    """The grader's ends of one child's two pipes, with deadlines on every read and write."""

    def __init__(self, box: Sandbox, cmd_w: int, res_r: int) -> None:
        self.box, self.cmd_w, self.res_r = box, cmd_w, res_r
        os.set_blocking(cmd_w, False)
        os.set_blocking(res_r, False)
        self.reader = FrameReader(box.limits.caps)
        self.eof = False

    def close(self) -> None:
        for fd in (self.cmd_w, self.res_r):
            with contextlib.suppress(OSError):
                os.close(fd)

    def send(self, kind: str, body: Any, deadline: float) -> bool:
        data = memoryview(pack(kind, body))
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _, ready, _ = select.select([], [self.cmd_w], [], left)
            if ready:
                try:
                    data = data[os.write(self.cmd_w, data):]
                except BlockingIOError:
                    continue
                except OSError:  # EPIPE: the child is gone
                    return False
        return True

    def recv(self, deadline: float) -> tuple[str, Any] | str:
        """The next frame, or ``"timeout"``, ``"eof"``, ``"garbled"``."""
        while True:
            try:
                frame = self.reader.next_frame()
            except ProtocolError:
                return "garbled"
            if frame is not None:
                return frame
            if self.eof:
                return "eof"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            ready, _, _ = select.select([self.res_r], [], [], left)
            if not ready:
                continue
            try:
                chunk = os.read(self.res_r, 1 << 20)
            except BlockingIOError:
                continue
            except OSError as exc:
                if exc.errno != errno.EAGAIN:
                    self.eof = True
                continue
            if not chunk:
                self.eof = True
                continue
            try:
                self.reader.feed(chunk)
            except ProtocolError:
                return "garbled"


class _Run:
    """The state of one submission's run: which cases are done, the clock, the children."""

    def __init__(self, box: Sandbox, units: Sequence[tuple[str, str]],
                 checks: Sequence[CheckPlan], on_check: Callable[[str], None] | None) -> None:
        self.box, self.units, self.checks = box, list(units), list(checks)
        self.on_check = on_check or (lambda name: None)
        self.limits = box.limits
        self.out = Outcome(results={c.name: [None] * len(c.cases) for c in checks})  # type: ignore[misc]
        self.out.notes += list(box.isolation.missing)
        self.deadline = time.monotonic() + self.limits.submission_seconds
        self.check_deadlines: dict[str, float] = {}

    def todo(self) -> list[tuple[CheckPlan, int]]:
        return [(c, i) for c in self.checks for i, r in enumerate(self.out.results[c.name])
                if r is None]

    def go(self) -> Outcome:
        mode = self.box.isolation.mode
        try:
            with _uid_for_submission(mode) as uid:
                while self.todo():
                    if time.monotonic() >= self.deadline:
                        self._fill(NotRunKind.BUDGET, f"{self.limits.submission_seconds:g} s "
                                   "for the whole notebook were spent")
                        break
                    if not self._one_child(uid):
                        break
        except SandboxUnavailable as exc:
            self._fill(NotRunKind.NO_SANDBOX, str(exc))
            self.out.notes.append(Note(NoteKind.GRADER, f"grade by hand: {exc}"))
        return self.out

    def _fill(self, kind: NotRunKind, detail: str) -> None:
        for check, i in self.todo():
            self.out.results[check.name][i] = [NotRun(kind, detail)] * len(check.cases[i])

    def _one_child(self, uid: int | None) -> bool:
        """Start a child, load the code, run pending cases until one kills the child. Returns
        False when nothing more can be run (the code does not load)."""
        child = self.box._spawn(uid)
        self.out.children += 1
        first = self.out.children == 1
        try:
            ready = child.recv(time.monotonic() + self.limits.spawn_seconds)
            if not (isinstance(ready, tuple) and ready[0] == "ready"):
                status, _ = self.box._exit_status(child, kill=True)
                why = ready[1].get("error") if isinstance(ready, tuple) and \
                    isinstance(ready[1], dict) else describe_exit(status)
                raise SandboxUnavailable(f"a submission process did not start ({why})")
            self._isolation_notes(ready[1].get("notes", []), first)
            if not self._load(child, first):
                return False
            for check in self.checks:
                pending = [i for i, r in enumerate(self.out.results[check.name]) if r is None]
                if pending and not self._run_check(child, check, pending[0]):
                    return True  # the child died or hung: the next one takes the rest
                if pending:
                    self.on_check(check.name)
            child.send("end", None, time.monotonic() + 1)
            _status, notes = self.box._exit_status(child, kill=False)
            self._isolation_notes(notes, first)
            return True
        finally:
            child.close()

    def _isolation_notes(self, notes: list, first: bool) -> None:
        if first:
            self.out.notes += [Note(NoteKind.ISOLATION, str(n)[:300]) for n in notes[:10]]

    def _load(self, child: _Child, first: bool) -> bool:
        """Send the code; True when it loaded (maybe with errors in some statements)."""
        deadline = min(self.deadline, time.monotonic() + self.limits.load_seconds + GRACE)
        sent = child.send("plan", {"units": [list(u) for u in self.units],
                                   "load_timeout": self.limits.load_seconds}, deadline)
        got = child.recv(deadline) if sent else "timeout"
        if isinstance(got, tuple) and got[0] == "loaded" and _load_errors_ok(got[1]):
            if first:
                self.out.load_errors = [LoadError(*e) for e in got[1]["errors"][:50]]
            return True
        why = self._death(child, got, f"loading took longer than "
                                      f"{self.limits.load_seconds:g} s")
        self._fill(NotRunKind.NOT_LOADED, why)
        return False

    def _check_deadline(self, check: CheckPlan) -> float:
        """A check's cases share CHECK_BUDGET timeouts, restarts included: code that loops in
        every case costs one check's budget, not one timeout per case."""
        if check.name not in self.check_deadlines:
            self.check_deadlines[check.name] = time.monotonic() + CHECK_BUDGET * check.timeout \
                + GRACE
        return min(self.deadline, self.check_deadlines[check.name])

    def _run_check(self, child: _Child, check: CheckPlan, first: int) -> bool:
        """Run ``check`` from case ``first`` on; False when the child had to be given up."""
        budget = self._check_deadline(check)
        sent = child.send("check", {"check": check.name, "first": first, "seed": check.seed,
                                    "timeout": check.timeout,
                                    "cases": [list(c) for c in check.cases[first:]]},
                          min(budget, time.monotonic() + check.timeout + GRACE))
        for i in range(first, len(check.cases)):
            if time.monotonic() >= budget:
                self._fill_check(check, i, budget)
                self._death(child, "timeout", "")
                return False
            got = child.recv(min(budget, time.monotonic() + check.timeout + GRACE)) \
                if sent else "timeout"
            if (isinstance(got, tuple) and got[0] == "case"
                    and got[1].get("check") == check.name and got[1].get("index") == i
                    and isinstance(got[1].get("results"), list)
                    and len(got[1]["results"]) == len(check.cases[i])):
                self.out.results[check.name][i] = got[1]["results"]
                continue
            kind = NotRunKind.TIMEOUT if got == "timeout" else (
                NotRunKind.GARBLED if got == "garbled" or isinstance(got, tuple)
                else NotRunKind.CRASHED)
            if got == "timeout" and time.monotonic() >= self.deadline:
                kind = NotRunKind.BUDGET
            why = self._death(child, got, f"{check.timeout:g} s")
            self.out.results[check.name][i] = [NotRun(kind, why)] * len(check.cases[i])
            if time.monotonic() >= budget:
                self._fill_check(check, i + 1, budget)
            return False
        done = child.recv(min(self.deadline, time.monotonic() + GRACE))
        if not (isinstance(done, tuple) and done[0] == "done"):
            self._death(child, done, "")
            return False
        return True

    def _fill_check(self, check: CheckPlan, first: int, budget: float) -> None:
        """The cases of ``check`` from ``first`` on, once its budget is spent."""
        kind = NotRunKind.BUDGET if budget >= self.deadline else NotRunKind.TIMEOUT
        why = (f"{self.limits.submission_seconds:g} s for the whole notebook were spent"
               if kind == NotRunKind.BUDGET else
               f"the {CHECK_BUDGET * check.timeout:g} s of this test were spent")
        for i in range(first, len(check.cases)):
            if self.out.results[check.name][i] is None:
                self.out.results[check.name][i] = [NotRun(kind, why)] * len(check.cases[i])

    def _death(self, child: _Child, got: Any, timeout_text: str) -> str:
        """End ``child`` and say in plain words what happened to it."""
        # a child that closed its pipe is ending by itself: let it, to learn its exit status
        status, _notes = self.box._exit_status(child, kill=got != "eof")
        if got == "timeout":
            return timeout_text
        if got == "garbled" or isinstance(got, tuple):
            return "what the code sent back was not a well-formed result (printed to the " \
                   "grader's channel? too large?)"
        if self.box.oom_killed():
            return (f"the process ran out of memory (the limit is "
                    f"{self.limits.memory_bytes / 2**30:g} GiB)")
        return describe_exit(status)


def _load_errors_ok(body: Any) -> bool:
    errs = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errs, list) and all(
        isinstance(e, list) and len(e) == 4 and isinstance(e[0], str) and isinstance(e[1], int)
        and isinstance(e[2], str) and isinstance(e[3], str) for e in errs)


def describe_exit(status: int | None) -> str:
    """Plain words for a wait status of the student's process."""
    if status is None:
        return "the process ended and the sandbox could not tell how"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        names = {signal.SIGSEGV: "a segmentation fault", signal.SIGBUS: "a bus error",
                 signal.SIGABRT: "an abort", signal.SIGFPE: "a floating point exception",
                 signal.SIGILL: "an illegal instruction",
                 signal.SIGXCPU: "too much CPU time", signal.SIGKILL: "SIGKILL"}
        try:
            name = names.get(signal.Signals(sig), signal.Signals(sig).name)
        except ValueError:
            name = f"signal {sig}"
        return f"the Python process was killed by {name}"
    if os.WIFEXITED(status):
        return (f"the Python process exited (exit code {os.WEXITSTATUS(status)}: "
                "sys.exit, os._exit or a crash)")
    return "the Python process stopped"
