"""The program inside the sandbox: a warm zygote that forks one isolated process per submission.

Started by :mod:`autograder.sandbox.run` through bubblewrap (which builds the read-only root,
the user/pid/net/ipc/uts/cgroup namespaces, and kills everything when the grader goes away).
The zygote imports numpy (and torch when the assignment needs it) once, then for every
submission forks this chain, so no submission pays the imports and none sees another's traces::

    zygote (never runs student code; holds the control socket)
      C1  unshares a pid namespace, reports C2's pid, waits
        C2  pid 1 of that namespace: new mount/ipc/uts namespaces, fresh size-capped tmpfs for
            /tmp, /dev/shm, /work and HOME, a new /proc; reaps orphans; when C3 ends it exits and
            the kernel kills whatever is left in the namespace
          C3  rlimits, all privileges dropped (a uid of its own when the grader is root), then
              the protocol with the grader over two pipes: ready -> plan -> loaded -> checks

Only C1/C2 (trusted) write to the zygote's status pipe; C3 holds nothing but its two pipes. In
"plain" mode (no bubblewrap on this machine) there are no namespaces: C3 gets its own session,
a scratch folder, rlimits and (as root) its own uid, and the grader flags every grade.
"""

from __future__ import annotations

import ast
import ctypes
import json
import os
import select
import signal
import socket
import sys
import types
from typing import Any

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWPID = 0x20000, 0x4000000, 0x8000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x1000, 0x4000, \
    0x40000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
CMD_FD, RES_FD = 3, 4
#: Writable mounts C3 may see; any other writable mount is reported as an isolation gap.
WRITABLE_OK = ("/proc", "/dev/pts", "/dev/null", "/dev/zero", "/dev/full", "/dev/random",
               "/dev/urandom", "/dev/tty")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (src, dst, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {dst}")


# --------------------------------------------------------------------------------------------
# zygote
# --------------------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    config = json.loads(argv[2])
    sys.path[:] = config["sys_path"]
    # what site.py would set in a venv (-S skips it): code that tells library frames from its
    # own by sys.prefix works as in the notebook
    sys.prefix = sys.exec_prefix = config["prefix"]
    import numpy  # noqa: F401 - imported once here, inherited by every submission

    import autograder.sandbox.protocol
    import autograder.sandbox.steps  # noqa: F401

    if config["torch"]:
        import torch

        torch.set_num_threads(1)
        _warm_up(torch)
    ctl = socket.socket(fileno=int(argv[1]))
    ctl.send(json.dumps({"op": "ready"}).encode())
    while True:
        msg, fds = _recv(ctl)
        if msg is None:
            os._exit(0)  # the grader closed the channel
        if msg.get("op") == "spawn" and len(fds) == 2:
            _submission(ctl, msg, fds, config)
        else:
            for fd in fds:
                os.close(fd)


def _warm_up(torch: Any) -> None:
    """Run torch's common ops once: their lazy first-use set-up (a second or more) is then
    inherited by every submission instead of paid by each. Never fatal."""
    try:
        _common_ops(torch)
    except Exception:  # noqa: BLE001 - a warm-up that fails costs speed, nothing else
        pass


def _common_ops(torch: Any) -> None:
    x = torch.zeros(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    conv = torch.nn.Conv2d(2, 2, 3, padding=1).double()
    y = torch.nn.functional.max_pool2d(torch.relu(torch.nn.BatchNorm2d(2).double()(conv(x))), 2)
    torch.nn.Linear(8, 2).double()(y.flatten(1)).sum().backward()


def _recv(ctl: socket.socket) -> tuple[dict | None, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(ctl, 65536, 4)
    return (json.loads(data) if data else None), list(fds)


def _submission(ctl: socket.socket, msg: dict, fds: list[int], config: dict) -> None:
    """Fork the chain for one submission, forward kill requests, report how C3 ended."""
    r, w = os.pipe()
    c1 = os.fork()
    if c1 == 0:
        os.close(r)
        ctl.close()
        _c1(msg, fds, w, config)
    os.close(w)
    for fd in fds:
        os.close(fd)
    c2pid, report, buf = None, None, b""
    while report is None:
        ready, _, _ = select.select([ctl, r], [], [])
        if r in ready:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                doc = json.loads(line)
                c2pid = doc.get("c2", c2pid)
                if "status" in doc and report is None:  # C2's own report comes first
                    report = doc
        if ctl in ready:
            req, extra = _recv(ctl)
            for fd in extra:
                os.close(fd)
            if req is None:
                _kill(c2pid or c1)
                os._exit(0)
            if req.get("op") == "kill":
                _kill(c2pid or c1)
    os.close(r)
    os.waitpid(c1, 0)
    report = report or {"status": None, "notes": ["the submission's init process vanished"]}
    ctl.send(json.dumps({"op": "exited", **report}).encode())


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)  # C2 is pid 1 of its namespace: everything in it dies
    except ProcessLookupError:
        pass


def _c1(msg: dict, fds: list[int], w: int, config: dict) -> None:
    try:
        if config["mode"] != "plain":
            _check(_libc.unshare(CLONE_NEWPID), "unshare pid namespace")
        pid = os.fork()
        if pid == 0:
            _c2(msg, fds, w, config)
        for fd in fds:
            os.close(fd)
        os.write(w, json.dumps({"c2": pid}).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        # C2 reports C3's status itself; this line only matters when C2 died first.
        os.write(w, json.dumps({"status": status, "notes": ["the init process died"]}).encode()
                 + b"\n")
    finally:
        os._exit(0)


# --------------------------------------------------------------------------------------------
# C2: the submission's namespaces and init
# --------------------------------------------------------------------------------------------


def _c2(msg: dict, fds: list[int], w: int, config: dict) -> None:
    notes: list[str] = []
    uid = msg.get("uid")
    scratch = None
    try:
        if config["mode"] == "plain":
            scratch = _scratch_dir(uid)
        else:
            notes += _isolate(config, uid if uid is not None else os.getuid())
    except OSError as exc:
        notes.append(f"isolation failed: {exc}")
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            _c3(msg, fds, config, notes, scratch)
        finally:
            os._exit(1)
    for fd in fds:
        os.close(fd)
    status = None
    while True:
        try:
            p, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if p == pid:
            status = st
            break
    if config["mode"] == "plain":
        _sweep_plain(pid, uid, scratch)
    os.write(w, json.dumps({"status": status, "notes": notes}).encode() + b"\n")
    os._exit(0)  # pid 1 leaving: the kernel kills the rest of the namespace


def _isolate(config: dict, uid: int) -> list[str]:
    """Fresh mount/ipc/uts namespaces: private tmpfs for every writable path, a new /proc.
    Returns notes about what is not as expected."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for path, (size, mode) in config["tmpfs"].items():
        keep = config["keep"].get(path, [])
        # a Python installed under /tmp (a checkout there) must stay visible through the tmpfs
        fds = [os.open(k, os.O_PATH | os.O_DIRECTORY) for k in keep]
        owner = "" if mode == "1777" else f",uid={uid},gid={uid}"
        _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV,
               f"size={size},mode={mode},nr_inodes=65536{owner}")
        for k, fd in zip(keep, fds):
            _mkdirs(path, k)
            # a bind keeps its source's read-only flag; _writable_mounts() would report it
            _mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
            os.close(fd)
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _libc.sethostname(b"sandbox", 7)
    return [f"writable mount visible: {m}" for m in _writable_mounts()
            if m not in WRITABLE_OK and m not in config["tmpfs"]]


def _mkdirs(top: str, path: str) -> None:
    """The folders from ``top`` down to ``path``, owned by root, mode 0755 (no umask)."""
    d = top
    for part in os.path.relpath(path, top).split(os.sep):
        d = os.path.join(d, part)
        if not os.path.isdir(d):
            os.mkdir(d)
            os.chmod(d, 0o755)


def _writable_mounts() -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point, opts = fields[4], fields[5].split(",")
            if "rw" in opts:
                out.append(point)
    return out


def _scratch_dir(uid: int | None) -> str:
    import tempfile

    d = tempfile.mkdtemp(prefix="cnnkit-plain-")
    if uid is not None:
        os.chown(d, uid, uid)
    return d


def _sweep_plain(pid: int, uid: int | None, scratch: str | None) -> None:
    """Without namespaces: kill what the submission left (its session; as root, its uid)."""
    import shutil
    import time

    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for _ in range(50 if uid is not None else 0):
        helper = os.fork()
        if helper == 0:  # become the uid: kill(-1) then reaches every process it owns
            try:
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(helper, 0)
        time.sleep(0.01)
        if not _has_process_of(uid):
            break
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
    if uid is not None:
        _remove_left_by(uid)


#: The host's world-writable folders: without a mount namespace, where a submission's files go.
_SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")


def _remove_left_by(uid: int) -> None:
    """Plain mode as root, once the uid's processes are gone: delete what the uid (held by this
    submission alone) owns in the host's world-writable folders, and its SysV IPC objects."""
    import shutil

    todo = [(d, 0) for d in _SHARED_DIRS]
    while todo:
        folder, depth = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
                if st.st_uid == uid:
                    if e.is_dir(follow_symlinks=False):
                        shutil.rmtree(e.path)  # never follows a link out of the tree
                    else:
                        os.unlink(e.path)
                elif e.is_dir(follow_symlinks=False) and st.st_mode & 0o002 and depth < 3:
                    todo.append((e.path, depth + 1))  # the uid could write only in o+w folders
            except OSError:
                continue
    libc = ctypes.CDLL(None, use_errno=True)
    for kind, remove in (("shm", lambda i: libc.shmctl(i, 0, None)),
                         ("sem", lambda i: libc.semctl(i, 0, 0)),
                         ("msg", lambda i: libc.msgctl(i, 0, None))):  # 0: IPC_RMID
        try:
            with open(f"/proc/sysvipc/{kind}") as f:
                head, *rows = f.read().splitlines()
        except OSError:
            continue
        cols = head.split()
        for row in rows:
            fields = dict(zip(cols, row.split(), strict=False))
            if str(uid) in (fields.get("uid"), fields.get("cuid")):
                remove(int(fields[cols[1]]))  # the id column: shmid, semid or msqid


def _has_process_of(uid: int) -> bool:
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                return True
        except OSError:
            continue
    return False


# --------------------------------------------------------------------------------------------
# C3: the student's process
# --------------------------------------------------------------------------------------------


def _c3(msg: dict, fds: list[int], config: dict, notes: list[str], scratch: str | None) -> None:
    try:
        import fcntl

        # via high numbers first: fds[1] may itself be 3, which the first dup2 would replace
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]
        os.dup2(high[0], CMD_FD, inheritable=False)
        os.dup2(high[1], RES_FD, inheritable=False)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(RES_FD + 1, 65536)
        if scratch is not None:
            os.setsid()
        _oom_first()
        os.chdir(scratch or config["work"])
        os.environ.update(HOME=scratch or config["home"], TMPDIR=scratch or config["work"])
        _set_limits(msg["rlimits"])
        notes = notes + _drop_privileges(msg.get("uid"))
    except BaseException as exc:  # noqa: BLE001 - tell the grader why, before any student code
        import traceback
        os.write(2, traceback.format_exc().encode())
        from autograder.sandbox.protocol import pack

        os.write(RES_FD, pack("broken", {"error": f"{type(exc).__name__}: {exc}"[:500]}))
        os._exit(1)
    # between cases, whatever the student's code left running is killed (kill(-1) spares pid 1
    # and the caller): in a pid namespace, or as a uid of the submission's own, never as the
    # grader's own uid in plain mode
    reap = config["mode"] != "plain" or msg.get("uid") is not None
    try:
        _serve(notes, config, reap)
    except BaseException:  # noqa: BLE001
        import traceback

        from autograder.sandbox.protocol import pack

        os.write(RES_FD, pack("broken", {"error": traceback.format_exc()[-1500:]}))
    finally:
        os._exit(0)


def _oom_first() -> None:
    """Make this process the OOM killer's first choice (the zygote's memory is shared)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def _set_limits(rlimits: dict[str, int]) -> None:
    """``RLIMIT_AS`` comes as the growth allowed on top of what the process holds already
    (the imports inherited from the zygote)."""
    import resource

    with open("/proc/self/status") as f:
        held = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    rlimits = {**rlimits, "RLIMIT_AS": held + rlimits["RLIMIT_AS"]}
    for name, value in rlimits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    # A too-large write fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _drop_privileges(uid: int | None) -> list[str]:
    """No capabilities, no way back (no_new_privs); as root also a uid of the submission's own.
    Returns notes when the result is not what it should be."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except OSError:
        last = 40
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    else:
        _capset_zero()
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    notes = [] if _no_new_user_namespaces() else ["could not forbid new user namespaces"]
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    caps = [k for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
            if int(status.get(k, "0"), 16) != 0]
    return notes + ([f"capabilities left after the drop: {', '.join(caps)}"] if caps else [])


# seccomp: unshare/clone with CLONE_NEWUSER fail with EPERM, clone3 (whose flags a filter
# cannot read) with ENOSYS, so libc falls back to clone; sockets of the internet and packet
# families fail with EPERM. A user namespace would give the student capabilities over new
# namespaces of its own (no use to a grade, but kernel surface); a socket is no use to a grade
# either, and in plain mode (no network namespace) it would reach the network.
_ARCH = {"x86_64": (0xC000003E, 272, 56, 435, 41), "aarch64": (0xC00000B7, 97, 220, 435, 198)}
CLONE_NEWUSER = 0x10000000
AF_INET, AF_INET6, AF_PACKET = 2, 10, 17


def _assemble(prog: list[tuple]) -> list[tuple[int, int, int, int]]:
    """Classic BPF from ``(label,)``, ``("ld", offset)``, ``("ret", value)``,
    ``("jeq"|"jset", k, label_if_true, label_if_false)``: jump offsets computed here."""
    labels, n = {}, 0
    for ins in prog:
        if len(ins) == 1:
            labels[ins[0]] = n
        else:
            n += 1
    out: list[tuple[int, int, int, int]] = []
    for ins in prog:
        if len(ins) == 1:
            continue
        here = len(out)
        if ins[0] == "ld":
            out.append((0x20, 0, 0, ins[1]))  # BPF_LD | BPF_W | BPF_ABS
        elif ins[0] == "ret":
            out.append((0x06, 0, 0, ins[1]))  # BPF_RET | BPF_K
        else:
            code = {"jeq": 0x15, "jset": 0x45}[ins[0]]  # BPF_JMP | JEQ/JSET | BPF_K
            out.append((code, labels[ins[2]] - here - 1, labels[ins[3]] - here - 1, ins[1]))
    return out


def _no_new_user_namespaces() -> bool:
    """Install the seccomp filter above (after no_new_privs); False where it cannot be."""
    import errno
    import platform

    spec = _ARCH.get(platform.machine())
    if spec is None:
        return False
    arch, nr_unshare, nr_clone, nr_clone3, nr_socket = spec
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    prog = _assemble([
        ("ld", 4), ("jeq", arch, "native", "foreign"), ("foreign",), ("ret", kill),
        ("native",), ("ld", 0), ("jeq", nr_clone3, "clone3", "not_clone3"),
        ("clone3",), ("ret", enosys),
        ("not_clone3",), ("jeq", nr_socket, "socket", "not_socket"),
        ("socket",), ("ld", 16), ("jeq", AF_INET, "deny", "not_inet"),
        ("not_inet",), ("jeq", AF_INET6, "deny", "not_inet6"),
        ("not_inet6",), ("jeq", AF_PACKET, "deny", "allow"),
        ("not_socket",), ("jeq", nr_unshare, "flags", "not_unshare"),
        ("not_unshare",), ("jeq", nr_clone, "flags", "allow"),
        ("flags",), ("ld", 16), ("jset", CLONE_NEWUSER, "deny", "allow"),
        ("deny",), ("ret", eperm),
        ("allow",), ("ret", allow),
    ])

    class Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                    ("k", ctypes.c_uint32)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

    filters = (Filter * len(prog))(*[Filter(*f) for f in prog])
    program = Program(len(prog), ctypes.cast(filters, ctypes.POINTER(Filter)))
    return _libc.prctl(22, 2, ctypes.byref(program), 0, 0) == 0  # PR_SET_SECCOMP, FILTER


def _capset_zero() -> None:
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    _check(_libc.capset(ctypes.byref(Header(0x20080522, 0)), (Data * 2)()), "capset")


class _Channel:
    """The child's end of the protocol: blocking reads and writes on its two pipes."""

    def __init__(self, caps: Any) -> None:
        from autograder.sandbox.protocol import FrameReader

        self.reader = FrameReader(caps)

    def send(self, kind: str, body: Any) -> None:
        from autograder.sandbox.protocol import pack

        data = memoryview(pack(kind, body))
        while data:
            data = data[os.write(RES_FD, data):]

    def recv(self) -> tuple[str, Any]:
        while True:
            frame = self.reader.next_frame()
            if frame is not None:
                return frame
            chunk = os.read(CMD_FD, 1 << 20)
            if not chunk:
                os._exit(0)  # the grader is done with us
            self.reader.feed(chunk)


def _serve(notes: list[str], config: dict, reap: bool) -> None:
    from autograder.sandbox.protocol import Caps, Opaque

    chan = _Channel(Caps(**config["caps"]))
    chan.send("ready", {"notes": notes})
    _kind, plan = chan.recv()
    ns, errors = _load(plan["units"], plan["load_timeout"])
    chan.send("loaded", {"errors": errors})
    me = os.getpid()
    while True:
        kind, body = chan.recv()
        if kind != "check":
            return
        from autograder.sandbox.steps import execute_case

        for i, case in enumerate(body["cases"]):
            _seed(body["seed"] + i)
            results = execute_case(ns, case, body["timeout"])
            if os.getpid() != me:
                os._exit(0)  # a fork of the student's that returned here must not answer
            if reap:
                _kill_strays()
            try:
                chan.send("case", {"check": body["check"], "index": body["first"] + i,
                                   "results": results})
            except TypeError as exc:
                chan.send("case", {"check": body["check"], "index": body["first"] + i,
                                   "results": [Opaque(f"unencodable ({exc})")] * len(case)})
        chan.send("done", {"check": body["check"]})


def _kill_strays() -> None:
    """SIGKILL every other process the submission started, and reap those that were ours
    (orphans are reaped by pid 1)."""
    import time

    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:  # nothing to kill
        return
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.005)


def _seed(seed: int) -> None:
    """Same case, same random numbers: a student's code that draws randoms grades the same."""
    import random

    import numpy as np

    s = seed % 2**32
    random.seed(s)
    np.random.seed(s)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(s)


def _load(units: list[list[str]], timeout: float) -> tuple[dict, list]:
    """Run the student's code one top-level statement at a time (a class body that raises does
    not take the functions after it down), each compiled under its cell's name and lines."""
    from autograder.sandbox.steps import CELL_FILENAME, CaseTimeout, _on_alarm, raised

    module = types.ModuleType("submission")
    sys.modules["submission"] = module
    ns = module.__dict__
    errors = []
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        for cell, source in units:
            filename = CELL_FILENAME.format(cell)
            for node in ast.parse(source, filename).body:
                try:
                    exec(compile(ast.Module([node], []), filename, "exec"), ns)  # noqa: S102
                except CaseTimeout:
                    raise
                except BaseException as exc:  # noqa: BLE001 - student code may raise anything
                    r = raised(exc)
                    errors.append([cell, node.lineno, r.type, r.message])
    except CaseTimeout:
        errors.append(["", 0, "TimeoutError", f"loading took longer than {timeout:g} s"])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return ns, errors


if __name__ == "__main__":  # pragma: no cover - runs inside the sandbox
    main(sys.argv)
