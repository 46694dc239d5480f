"""Run a student's code in a locked-down child process and bring back plain data only.

``run_in_sandbox(code, steps_by_check, limits, timeouts)`` starts one child per submission
(importing torch costs 1-2 s, so all checks share it) and starts a fresh child only for the checks
left after one killed the process. The child:

- runs ``python -I -S _child.py`` from a fresh temporary directory holding only the child runner
  and a copy of ``checkkit.py``; ``sys.path`` is the standard library + site-packages without
  ``.pth`` files, so this repository, ``autograder.checks`` and the course are not importable;
- gets a clean environment (no HOME of the grader, nothing that says it is being graded);
- gets rlimits (CPU, address space, file size, processes, no core files) and its own session;
- when the grader is root: runs as a dedicated unprivileged uid from a small pool (so
  RLIMIT_NPROC and "kill everything of that uid" concern this sandbox only), in a new network
  namespace (no network) and a new mount namespace where the hidden checks, notebooks with
  solutions, course folder and gradebook are covered by empty tmpfs and /tmp is private;
- when the grader is not root: the same namespaces inside an unprivileged user namespace (the
  child keeps the grader's uid, then drops the namespace's capabilities so the covers stay);
  where the kernel refuses user namespaces, every grade is flagged for review.

Results come back as JSON + npz files (``allow_pickle=False``) and are validated strictly; the
child's stdout/stderr are capped and never parsed. Scores are computed by the caller (grade.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import json
import os
import secrets
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autograder import _child, checkkit

_PKG = Path(__file__).resolve().parent
REPO_ROOT = _PKG.parent

#: uids handed to sandboxes when the grader is root (none of them is in /etc/passwd).
UID_POOL = range(62000, 62064)
LOCK_DIR = Path(tempfile.gettempdir())


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox child.

    cpu_seconds:  RLIMIT_CPU (whole child, all checks).
    memory_bytes: RLIMIT_AS; torch needs ~1 GiB of address space just to import.
    file_bytes:   RLIMIT_FSIZE (largest file the child may write).
    nproc:        RLIMIT_NPROC (processes + threads of the sandbox uid).
    startup_seconds: wall-clock allowance to start Python and import numpy/torch.
    output_cap:   characters of stdout/stderr kept (the rest is dropped).
    max_result_bytes: largest result file the parent reads.
    work_bytes:   size of the tmpfs working dir (root only; elsewhere only file_bytes applies).
    """

    cpu_seconds: int = 300
    memory_bytes: int = 4 * 2**30
    file_bytes: int = 16 * 2**20
    nproc: int = 64
    startup_seconds: float = 60.0
    output_cap: int = 64 * 1024
    max_result_bytes: int = 256 * 2**20
    work_bytes: int = 256 * 2**20


@dataclass(frozen=True)
class CheckFailure:
    """A check that produced no usable results; ``reason`` is shown to the student."""

    reason: str


@dataclass(frozen=True)
class SandboxFailure:
    """The sandbox could not run at all (e.g. the interpreter failed to start)."""

    reason: str
    stderr: str = ""


class SandboxError(RuntimeError):
    """The grader's own sandbox failed (not the student's fault): grading must stop."""


@dataclass
class SandboxRun:
    """What one ``run_in_sandbox`` call observed, besides the results (for reports and tests)."""

    load_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    children: int = 0
    output: str = ""


Result = list[Any] | CheckFailure


# --------------------------------------------------------------------------------------------
# Environment of the child
# --------------------------------------------------------------------------------------------


def child_sys_path() -> list[str]:
    """Standard library + site-packages of this interpreter, without this repository.

    ``.pth`` files are not processed in the child (``-S``), so the editable install of this repo
    (a ``.pth`` finder) does not apply; entries inside the repo, except its virtualenv, are dropped.
    """
    paths = [p for p in sys.path if p and os.path.isabs(p)]
    paths += site.getsitepackages()
    venv = os.path.realpath(sys.prefix)
    roots = (venv + os.sep, os.path.realpath(sys.base_prefix) + os.sep)
    out: list[str] = []
    for p in paths:
        rp = os.path.realpath(p)
        if os.path.exists(rp) and rp not in out and rp.startswith(roots):
            out.append(rp)
    return out


def child_env(workdir: str) -> dict[str, str]:
    """A minimal environment: nothing of the grader's, nothing that says "graded"."""
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
    }


def default_hidden_paths() -> list[str]:
    """Paths the child must not see: the grader package (hidden checks) and source notebooks."""
    return [str(_PKG), str(REPO_ROOT / "notebooks"), str(REPO_ROOT / "tests"),
            str(REPO_ROOT / "bench")]


@contextlib.contextmanager
def _sandbox_uid() -> Iterator[int | None]:
    """A uid of :data:`UID_POOL` locked for this sandbox (``None`` when not root)."""
    if os.geteuid() != 0:
        yield None
        return
    for uid in UID_POOL:
        fd = os.open(LOCK_DIR / f"cnnkit-sandbox-uid-{uid}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        try:
            kill_uid(uid)  # leftovers of an earlier grader that died
            yield uid
        finally:
            kill_uid(uid)
            os.close(fd)
        return
    raise RuntimeError(f"all {len(UID_POOL)} sandbox uids are busy")


def _proc_entries() -> list[str]:
    """Entries of /proc; none where there is no /proc (macOS): process sweeps then find nothing
    and the sandbox relies on its process group alone."""
    try:
        return os.listdir("/proc")
    except FileNotFoundError:
        return []


def processes_of_uid(uid: int) -> list[int]:
    """Live pids whose real or effective uid is ``uid`` (from /proc; zombies are dead already)."""
    pids: list[int] = []
    for entry in _proc_entries():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as f:
                state = ""
                for line in f:
                    if line.startswith("State:"):
                        state = line.split()[1]
                    elif line.startswith("Uid:"):
                        real, eff = line.split()[1:3]
                        if uid in (int(real), int(eff)) and state not in ("Z", "X"):
                            pids.append(int(entry))
                        break
        except (OSError, IndexError, ValueError):
            continue
    return pids


def processes_with_marker(marker: str) -> list[int]:
    """Pids whose command line contains ``marker`` (the sandbox dir; forks inherit it)."""
    pids: list[int] = []
    for entry in _proc_entries():
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


@functools.cache
def can_isolate() -> bool:
    """Whether sandboxes get their own mount and network namespaces here: always as root (plus
    a uid of its own), otherwise when the kernel allows unprivileged user namespaces."""
    if not sys.platform.startswith("linux"):
        return False  # the child notes the same and isolates nothing
    if os.geteuid() == 0:
        return True
    probe = f"import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare({_child.CLONE_NEWUSER}) != 0)"
    return subprocess.run([sys.executable, "-S", "-c", probe], timeout=60).returncode == 0


def kill_uid(uid: int) -> None:
    """SIGKILL every process of ``uid``, including ones that left the session (setsid/daemons).

    A helper that becomes ``uid`` and calls ``kill(-1, SIGKILL)`` reaches all of them at once,
    even a fork bomb; repeated until /proc shows none.
    """
    for attempt in range(100):
        if not processes_of_uid(uid):
            return
        if attempt % 5:  # SIGKILL is not instant: look again before sending another round
            time.sleep(0.02)
            continue
        pid = os.fork()
        if pid == 0:  # pragma: no cover - forked helper
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.02)


def _kill_marker(marker: str) -> None:
    for _ in range(20):
        pids = processes_with_marker(marker)
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _describe_exit(rc: int | None, timed_out: bool, limits: Limits) -> str:
    if timed_out:
        return "ran past its time limit (an infinite loop?) and was stopped"
    if rc is not None and rc < 0:
        sig = -rc
        names = {
            signal.SIGSEGV: "segmentation fault",
            signal.SIGBUS: "bus error",
            signal.SIGABRT: "abort",
            signal.SIGFPE: "floating point exception",
            signal.SIGILL: "illegal instruction",
            signal.SIGXCPU: f"used more than {limits.cpu_seconds} s of CPU time",
            signal.SIGKILL: "killed, e.g. out of memory",
        }
        what = names.get(sig, signal.Signals(sig).name if sig in signal.Signals._value2member_map_
                         else f"signal {sig}")
        return f"crashed the Python process ({what})"
    return f"ended the Python process (exit code {rc}, e.g. os._exit or a crash)"


def _read_capped(path: Path, cap: int) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(cap).decode("utf-8", "replace")
    except OSError:
        return ""


def _read_result(out: Path, index: int, name: str, n_steps: int, nonce: str,
                 limits: Limits) -> Result | None:
    """Decode one check's result files; ``None`` if absent, CheckFailure if malformed."""
    jpath, npath = out / f"{index:03d}.json", out / f"{index:03d}.npz"
    if not jpath.is_file() or jpath.is_symlink():
        return None
    bad = CheckFailure("the sandbox returned malformed results for this check")
    try:
        if jpath.stat().st_size > limits.max_result_bytes or (
            npath.exists() and (npath.is_symlink() or npath.stat().st_size
                                > limits.max_result_bytes)
        ):
            return CheckFailure("your code returned more data than the grader accepts")
        with open(jpath, encoding="utf-8") as f:
            doc = json.load(f)
        if isinstance(doc, dict) and doc.get("nonce") != nonce:
            return None  # not written by this run's child: a planted file counts as no result
        if not (isinstance(doc, dict) and set(doc) == {"nonce", "check", "results"}
                and doc["check"] == name
                and isinstance(doc["results"], list) and len(doc["results"]) == n_steps):
            return bad
        arrays: dict[str, np.ndarray] = {}
        if npath.exists():
            with np.load(npath, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        return [_scrub(_child.decode(r, arrays, checkkit), str(out.parent))
                for r in doc["results"]]
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError, TypeError,
            RecursionError):
        return bad


def _scrub(value: Any, sbx: str) -> Any:
    """Replace the (random) sandbox path in exception messages: same grade, same bytes."""
    if isinstance(value, checkkit.Raised) and sbx in value.message:
        return checkkit.Raised(value.type, value.message.replace(sbx, "<sandbox>"))
    return value


def _prepare(sbx: Path, uid: int | None) -> None:
    runner = sbx / "runner"
    runner.mkdir()
    shutil.copyfile(_PKG / "_child.py", runner / "_child.py")
    shutil.copyfile(_PKG / "checkkit.py", runner / "checkkit.py")
    # cnnlib is public course code the notebooks import; it is not on the child's sys.path
    # (the editable install is a .pth), so a copy goes next to the runner.
    spec = importlib.util.find_spec("cnnlib")
    if spec is not None and spec.submodule_search_locations:
        shutil.copytree(next(iter(spec.submodule_search_locations)), runner / "cnnlib",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for dirpath, _dirs, filenames in os.walk(runner / "cnnlib"):
            os.chmod(dirpath, 0o755)
            for fn in filenames:
                os.chmod(os.path.join(dirpath, fn), 0o644)
    for d in ("work", "out"):
        (sbx / d).mkdir()
        if uid is not None:
            os.chown(sbx / d, uid, uid)
        os.chmod(sbx / d, 0o700)
    for p in runner.iterdir():
        if p.is_file():
            os.chmod(p, 0o644)
    os.chmod(runner, 0o755)
    os.chmod(sbx, 0o711)  # the uid may enter work/ and out/, not list or read plan.*


def _run_child(code: str, checks: list[tuple[int, str, list[checkkit.Call], float]],
               limits: Limits, hide: Sequence[str], uid: int | None,
               ) -> tuple[dict[str, Result], str | None, dict[str, Any] | None, str]:
    """One child over ``checks``; returns (results, crash description, loaded doc, output)."""
    sbx = Path(tempfile.mkdtemp(prefix="cnnkit-sbx-"))
    try:
        _prepare(sbx, uid)
        nonce = secrets.token_hex(16)
        arrays: dict[str, np.ndarray] = {}
        plan = {
            "code": code,
            "nonce": nonce,
            "uid": uid,
            "gid": uid,
            "isolate": True,
            "sys_path": child_sys_path(),
            "hide": [str(Path(h).resolve()) for h in hide if os.path.exists(h)],
            "tmpfs": ["/tmp", "/var/tmp", "/dev/shm"],
            "keep": [str(sbx), os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix),
                     *child_sys_path()],
            "output_cap": limits.output_cap,
            "workdir": str(sbx / "work"),
            "work_bytes": int(limits.work_bytes),
            "limits": {
                "RLIMIT_CPU": int(limits.cpu_seconds),
                "RLIMIT_AS": int(limits.memory_bytes),
                "RLIMIT_FSIZE": int(limits.file_bytes),
                "RLIMIT_NPROC": _nproc_limit(limits, uid),
                "RLIMIT_CORE": 0,
            },
            "checks": [
                {"index": i, "name": name, "timeout": t,
                 "steps": [_child.encode_call(s, arrays, checkkit) for s in steps]}
                for i, name, steps, t in checks
            ],
        }
        steps_text = json.dumps(plan["checks"])
        plan["needs_torch"] = "torch" in code or '"__tensor__"' in steps_text or '"@' in steps_text
        with open(sbx / "plan.json", "w", encoding="utf-8", opener=_private) as f:
            json.dump(plan, f)
        with open(sbx / "plan.npz", "wb", opener=_private) as f:
            np.savez(f, **arrays)
        budget = limits.startup_seconds + sum(t + GRACE for *_, t in checks)
        log = open(sbx / "log.txt", "wb", opener=_private)  # noqa: SIM115
        try:
            proc = subprocess.Popen(
                [os.path.realpath(sys.executable), "-I", "-S", str(sbx / "runner" / "_child.py"),
                 str(sbx)],
                cwd=sbx / "work", env=child_env(str(sbx / "work")), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True, close_fds=True,
            )
        finally:
            log.close()
        rc, timed_out = _watch(proc, sbx / "out", checks, limits, budget)
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if uid is not None:
            kill_uid(uid)
        _kill_marker(str(sbx))
        out = sbx / "out"
        results: dict[str, Result] = {}
        for i, name, steps, _t in checks:
            r = _read_result(out, i, name, len(steps), nonce, limits)
            if r is not None:
                results[name] = r
        ready = sbx / "ready"
        if not ready.is_file() and not results and not (out / "loaded.json").exists():
            raise SandboxError("the sandbox child failed before running any student code:\n"
                               + _read_capped(sbx / "log.txt", 4000))
        loaded = None
        lpath = out / "loaded.json"
        if lpath.is_file() and not lpath.is_symlink() and lpath.stat().st_size < 2**20:
            try:
                doc = json.loads(lpath.read_text(encoding="utf-8"))
                if isinstance(doc, dict) and doc.get("nonce") == nonce:
                    loaded = doc
            except (ValueError, OSError):
                loaded = None
        output = _read_capped(sbx / "log.txt", limits.output_cap)
        crash = None
        if timed_out or rc != 0:
            crash = _describe_exit(rc, timed_out, limits)
        return results, crash, loaded, output
    finally:
        shutil.rmtree(sbx, ignore_errors=True)


GRACE = 2.0


def _watch(proc: subprocess.Popen, out: Path, checks: list, limits: Limits,
           budget: float) -> tuple[int | None, bool]:
    """Wait for the child with a deadline that follows its progress.

    Until ``loaded.json`` appears the child has ``startup_seconds``; then each check has its own
    timeout (+ grace) from the moment the previous result appeared, so an infinite loop that
    ignores SIGALRM costs its check's budget, not the whole run's. ``budget`` caps the total.
    """
    start = time.monotonic()
    seen, last = -1, start
    while True:
        rc = proc.poll()
        if rc is not None:
            return rc, False
        now = time.monotonic()
        done = (out / "loaded.json").exists() + sum(
            (out / f"{i:03d}.json").exists() for i, *_ in checks)
        if done != seen:
            seen, last = done, now
        if done == 0:
            deadline = start + limits.startup_seconds
        else:
            k = min(done - 1, len(checks) - 1)
            deadline = last + checks[k][3] + GRACE
        if now > min(deadline, start + budget):
            return None, True
        time.sleep(0.02)


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _nproc_limit(limits: Limits, uid: int | None) -> int:
    if uid is not None:
        return limits.nproc
    # Same uid as the grader: RLIMIT_NPROC counts all of its processes, so allow headroom.
    if not os.path.isdir("/proc"):  # cannot count them (macOS): keep the current limit
        import resource

        return int(resource.getrlimit(resource.RLIMIT_NPROC)[0])
    return len(processes_of_uid(os.getuid())) * 4 + limits.nproc + 256


def run_in_sandbox(
    code: str,
    steps_by_check: Mapping[str, list[checkkit.Call]],
    limits: Limits | None = None,
    timeouts: Mapping[str, float] | None = None,
    hide: Sequence[str] = (),
    run: SandboxRun | None = None,
) -> dict[str, Result] | SandboxFailure:
    """Run every check's steps against ``code`` in sandbox children.

    code:           the student's extracted code (top-level def/class/import).
    steps_by_check: ``{check name: [Call, ...]}``; run in this order.
    timeouts:       wall-clock seconds per check (default 20).
    hide:           extra paths the child must not see (course folder, gradebook, outputs),
                    on top of :func:`default_hidden_paths`.
    run:            filled with load errors, notes and captured output when given.

    Returns ``{check name: results}`` with one decoded entry per step, or a
    :class:`CheckFailure` for a check whose child crashed, timed out or returned malformed data;
    or a :class:`SandboxFailure` when the code could not even be loaded (e.g. it exits or
    segfaults while its classes are defined).
    """
    limits = limits or Limits()
    timeouts = timeouts or {}
    run = run if run is not None else SandboxRun()
    pending = [(i, name, list(steps), float(timeouts.get(name, 20.0)))
               for i, (name, steps) in enumerate(steps_by_check.items())]
    hidden = [*default_hidden_paths(), *hide]
    results: dict[str, Result] = {}
    with _sandbox_uid() as uid:
        while pending:
            got, crash, loaded, output = _run_child(code, pending, limits, hidden, uid)
            run.children += 1
            if run.children == 1:
                run.output = output
            if loaded is not None and run.children == 1:
                run.load_errors = [str(e) for e in loaded.get("errors", [])][:50]
                run.load_errors = [e.replace(str(Path(tempfile.gettempdir())), "<tmp>")
                                   for e in run.load_errors]
                run.notes = [str(n) for n in loaded.get("notes", [])][:10]
            results.update(got)
            missing = [c for c in pending if c[1] not in got]
            if crash is None and missing:
                crash = _describe_exit(0, False, limits)
            if loaded is None:
                if not got:
                    return SandboxFailure(f"your code {crash} while it was being loaded", output)
            if not missing:
                break
            # Checks run in order: the first one without a result is the one that was running.
            culprit = missing[0]
            results[culprit[1]] = CheckFailure(f"your code {crash} during this check")
            pending = missing[1:]
    return {name: results[name] for name in steps_by_check}
