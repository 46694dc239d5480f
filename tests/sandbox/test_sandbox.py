"""The real sandbox: what a submission can see and touch, its limits, its clock, what it leaves.

Every test starts real children of a warm bubblewrap sandbox. In CI bubblewrap is installed
(.ci/run), so these tests fail, never skip, when the sandbox cannot start there.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import run as sbx
from autograder.sandbox.protocol import Call, NotRun, NotRunKind, Raised
from autograder.sandbox.run import CheckPlan, Limits, NoteKind, Sandbox

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
IN_CI = bool(os.environ.get("CI"))


def plan(name: str, *calls: Call, timeout: float = 5.0, seed: int = 1) -> CheckPlan:
    """One case per call."""
    return CheckPlan(name, tuple((c,) for c in calls), timeout, seed)


def first(outcome: sbx.Outcome, name: str, case: int = 0):  # noqa: ANN201
    return outcome.results[name][case][0]


@pytest.fixture(scope="module")
def box():  # noqa: ANN201
    iso = sbx.isolation()
    if iso.mode == "plain" and (IN_CI or os.geteuid() == 0):
        pytest.fail(f"the sandbox cannot isolate here: {iso.missing}")
    with Sandbox(torch=True) as b:
        yield b


PROBE = '''
import os, socket, sys, ctypes
def probe(paths, targets):
    readable, writable = {}, []
    for p in paths:
        try:
            if os.path.isdir(p):
                readable[p] = sorted(os.listdir(p))
            else:
                open(p, "rb").read(1)
                readable[p] = "file"
        except OSError:
            pass
    for p in targets:
        try:
            with open(os.path.join(p, "cnnkit-probe"), "w") as f:
                f.write("x")
            writable.append(p)
        except OSError:
            pass
    status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    mods = {}
    for m in ("autograder.checks", "autograder.engine", "cnnlib.models", "cnnlib.ops",
              "cnnlib.device"):
        try:
            __import__(m)
            mods[m] = True
        except Exception:
            mods[m] = False
    try:
        userns = ctypes.CDLL(None).unshare(0x10000000) == 0
    except Exception:
        userns = False
    return {"uid": os.getuid(), "readable": readable, "writable": writable,
            "ifaces": [n for _, n in socket.if_nameindex()],
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
            "env": sorted(os.environ), "cwd": os.getcwd(), "home": os.environ.get("HOME"),
            "caps": [status[k].strip() for k in ("CapEff", "CapPrm", "CapBnd")],
            "nonewprivs": status["NoNewPrivs"].strip(), "modules": mods, "userns": userns,
            "hostname": socket.gethostname()}
'''


def test_the_submission_sees_nothing_of_the_grader(box: Sandbox) -> None:
    secret_paths = [str(ROOT), str(ROOT / ".git"), str(ROOT / "notebooks"),
                    str(ROOT / "autograder" / "checks" / "conv_arithmetic.py"),
                    str(ROOT / "course"), "/root", "/etc/shadow", "/home", "/var/tmp",
                    "/run", str(Path.home())]
    out = box.run([("c", PROBE)], [plan("p", Call("probe", (secret_paths, [
        sys.prefix + "/lib", "/opt/cnnkit/lib", "/usr", "/", "/run/lock", "/dev",
        "/sandbox/work", "/tmp", "/dev/shm", "/sandbox/home"])))])
    seen = first(out, "p")
    assert isinstance(seen, dict), seen
    # only the folders above the bound interpreter exist, holding nothing but the path to it
    venv, pyenv = Path(sys.prefix), Path(os.path.realpath(sys.base_prefix))
    allowed = {str(a): [c.name] for p in (venv, pyenv) for a, c in zip(p.parents, [p, *p.parents])
               if str(a) != "/"}
    assert {p: v for p, v in seen["readable"].items() if allowed.get(p) != v} == {}
    assert sorted(seen["writable"]) == ["/dev/shm", "/sandbox/home", "/sandbox/work", "/tmp"]
    assert seen["ifaces"] == ["lo"]
    assert seen["pids"] == [1, 2], "a pid namespace of its own: init and itself"
    assert seen["caps"] == ["0000000000000000"] * 3 and seen["nonewprivs"] == "1"
    assert seen["modules"] == {"autograder.checks": False, "autograder.engine": False,
                               "cnnlib.models": False, "cnnlib.ops": False,
                               "cnnlib.device": False}  # no library given to this sandbox
    assert seen["env"] == sorted([*sbx._child_env(), "PWD"])
    assert (seen["cwd"], seen["home"], seen["hostname"]) == ("/sandbox/work", "/sandbox/home",
                                                             "sandbox")
    if box.isolation.mode == "root":
        assert seen["uid"] in sbx.UID_POOL
    assert seen["userns"] is False, "no nested user namespaces for the student"


def test_an_interpreter_beneath_a_private_tmpfs_stays_reachable_and_read_only() -> None:
    """A checkout under /tmp (CI's clean clone may be one) puts the venv beneath the child's
    fresh /tmp: the child binds it back read-only, and the rest of the tmpfs stays writable.
    Here a tmpfs is laid over the top folder of this venv, wherever the checkout is."""
    prefix = os.path.realpath(sys.prefix)
    top = "/" + Path(prefix).parts[1]
    if top == "/usr":
        pytest.skip("this interpreter lives under /usr, which is never a tmpfs")
    tmpfs = {path: (path, size, mode) for path, size, mode in Limits().tmpfs}
    tmpfs[top] = (top, 16 * 2**20, "1777")
    code = PROBE + "\ndef fresh_import():\n    import tqdm\n    return tqdm.__file__\n"
    with Sandbox(Limits(tmpfs=tuple(tmpfs.values())), torch=False) as b:
        out = b.run([("c", code)], [plan("p", Call("probe", ([prefix], [top, prefix]))),
                                    plan("i", Call("fresh_import", ()))])
    seen = first(out, "p")
    assert isinstance(seen, dict), seen
    assert "lib" in seen["readable"][prefix]
    assert seen["writable"] == [top]
    assert first(out, "i").startswith(prefix)
    assert out.notes == [], out.notes


TRACES = '''
import ctypes, os, time
libc = ctypes.CDLL(None, use_errno=True)
KEY = 0x6e6b6974
def leave():
    shm = libc.shmget(KEY, 1 << 20, 0o1666)
    open("/dev/shm/left", "w").write("x")
    open("/tmp/left", "w").write("x")
    open("/sandbox/home/.bashrc", "w").write("x")
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(600)
        os._exit(0)
    time.sleep(0.2)
    return shm
def look():
    return {"shm": libc.shmget(KEY, 0, 0o666), "dev_shm": os.listdir("/dev/shm"),
            "tmp": os.listdir("/tmp"), "home": os.listdir("/sandbox/home"),
            "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
'''


NETWORK = '''
import os, socket, time
def inet():
    socket.socket(socket.AF_INET, socket.SOCK_STREAM)
def unix():
    a, b = socket.socketpair()
    return a.family == socket.AF_UNIX
def stray():
    if os.fork() == 0:
        os.setsid()
        time.sleep(600)
    return os.getpid()
def pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
'''


def test_no_internet_sockets_and_no_stray_process_between_cases(box: Sandbox) -> None:
    out = box.run([("c", NETWORK)], [plan("n", Call("inet"), Call("unix"), Call("stray"),
                                          Call("pids"))])
    inet = first(out, "n")
    assert isinstance(inet, Raised) and inet.type == "PermissionError"
    assert first(out, "n", 1) is True
    assert first(out, "n", 3) == [1, first(out, "n", 2)], "the stray of case 3 was killed"


def _host_shm() -> set[str]:
    return {line.split()[1] for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]}


def test_nothing_a_submission_leaves_outlives_it(box: Sandbox, tmp_path: Path) -> None:
    shm_before, tmp_before = _host_shm(), set(os.listdir("/tmp"))
    left = box.run([("c", TRACES)], [plan("leave", Call("leave"))])
    assert isinstance(first(left, "leave"), int) and first(left, "leave") >= 0
    later = box.run([("c", TRACES)], [plan("look", Call("look"))])
    seen = first(later, "look")
    assert seen["shm"] == -1, "the shared memory of the earlier submission is gone"
    # a checkout under /tmp leaves only the read-only path to its interpreter there
    to_python = sorted({Path(p).parts[2] for p in map(os.path.realpath, (sys.prefix,
                        sys.base_prefix)) if p.startswith("/tmp/")})
    assert seen["dev_shm"] == seen["home"] == [] and seen["tmp"] == to_python
    assert seen["pids"] == [1, 2], "the earlier submission's daemon is gone"
    assert _host_shm() <= shm_before
    assert set(os.listdir("/tmp")) - tmp_before <= {p for p in os.listdir("/tmp")
                                                    if p.startswith("cnnkit-")}
    assert not any("sleep" in _cmdline(pid) and _in_sandbox(pid) for pid in _pids())


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _in_sandbox(pid: int) -> bool:
    try:
        return "cnnkit" in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


CRASHES = '''
import os, signal, ctypes, time
def ok(x):
    return x + 1
def exit_now():
    os._exit(3)
def segfault():
    ctypes.string_at(0)
def loop():
    while True:
        pass
def stubborn():
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    while True:
        try:
            time.sleep(1)
        except BaseException:
            pass
def garble():
    os.write(4, b"\\x07\\x00\\x00\\x00garbage")
    time.sleep(30)
def huge_frame():
    os.write(4, (2**32 - 1).to_bytes(4, "little"))
    time.sleep(30)
'''


def test_each_crash_costs_only_its_case_and_says_what_happened(box: Sandbox) -> None:
    out = box.run([("c", CRASHES)], [
        plan("a", Call("ok", (1,)), Call("exit_now"), Call("ok", (2,)), Call("segfault"),
             Call("ok", (3,)), timeout=3),
        plan("b", Call("stubborn"), Call("ok", (4,)), Call("garble"), Call("huge_frame"),
             Call("ok", (5,)), timeout=1)])
    a, b = out.results["a"], out.results["b"]
    assert [a[0][0], a[2][0], a[4][0], b[1][0], b[4][0]] == [2, 3, 4, 5, 6]
    assert a[1][0] == NotRun(NotRunKind.CRASHED, "the Python process exited (exit code 3: "
                                                  "sys.exit, os._exit or a crash)")
    assert a[3][0] == NotRun(NotRunKind.CRASHED, "the Python process was killed by a "
                                                  "segmentation fault")
    assert b[0][0].kind == NotRunKind.TIMEOUT
    assert b[2][0].kind == b[3][0].kind == NotRunKind.GARBLED
    assert out.children == 6


def test_the_clock_is_the_graders_and_a_restart_does_not_renew_the_budget() -> None:
    limits = Limits(submission_seconds=9)
    with Sandbox(limits, torch=False) as b:
        b.run([("c", "def f():\n    return 1\n")], [plan("warm", Call("f"))])
        t0 = time.monotonic()
        out = b.run([("c", CRASHES)], [plan("x", *[Call("stubborn")] * 2, timeout=2),
                                       plan("y", *[Call("stubborn")] * 2, timeout=2)])
        took = time.monotonic() - t0
    # x: 2 s, then the grace the ignored alarm leaves, then a fresh child for its second case
    assert [c[0].kind for c in out.results["x"]] == [NotRunKind.TIMEOUT] * 2
    assert [c[0].kind for c in out.results["y"]] == [NotRunKind.BUDGET] * 2
    assert took < 9 + 3, f"the budget of 9 s was renewed: {took:.1f} s"


def test_code_that_loops_in_every_case_costs_one_checks_budget() -> None:
    with Sandbox(torch=False) as b:
        b.run([("c", "def f():\n    return 1\n")], [plan("warm", Call("f"))])
        t0 = time.monotonic()
        out = b.run([("c", CRASHES)], [plan("x", *[Call("stubborn")] * 8, timeout=1),
                                       plan("ok", Call("ok", (1,)))])
        took = time.monotonic() - t0
    kinds = [c[0].kind for c in out.results["x"]]
    assert kinds == [NotRunKind.TIMEOUT] * 8
    assert out.results["x"][-1][0].detail == "the 2 s of this test were spent"
    assert first(out, "ok") == 2
    assert took < 2 * 1 + 2 + 3, f"{took:.1f} s: each looping case cost a timeout"


def test_memory_is_limited_by_the_cgroup_and_the_batch_goes_on() -> None:
    if not sbx.isolation().cgroups.startswith("cgroup"):
        pytest.skip("no cgroup here (a normal user without systemd): rlimits only")
    code = "import numpy as np\ndef hog():\n    return float(np.ones(745 * 2**20 // 8).sum())\n" \
           "def ok():\n    return 1\n"
    with Sandbox(Limits(memory_bytes=768 * 2**20), torch=False) as b:
        out = b.run([("c", code)], [plan("m", Call("hog"), Call("ok"), timeout=20)])
    assert first(out, "m") == NotRun(NotRunKind.CRASHED, "the process ran out of memory "
                                                         "(the limit is 0.75 GiB)")
    assert first(out, "m", 1) == 1


def test_address_space_rlimit_refuses_a_50_gb_array(box: Sandbox) -> None:
    out = box.run([("c", "import numpy as np\ndef big():\n    return np.ones(50 * 2**30 // 8)\n")],
                  [plan("big", Call("big"))])
    r = first(out, "big")
    assert isinstance(r, Raised) and r.type == "MemoryError"


def test_a_fork_bomb_hits_the_process_limit(box: Sandbox) -> None:
    code = "import os\ndef bomb():\n    while True:\n        os.fork()\ndef ok():\n    return 1\n"
    out = box.run([("c", code)], [plan("f", Call("bomb"), Call("ok"), timeout=10)])
    r = first(out, "f")
    assert (isinstance(r, Raised) and r.type == "BlockingIOError") or \
        (isinstance(r, NotRun) and r.kind in (NotRunKind.CRASHED, NotRunKind.TIMEOUT)), r
    assert first(out, "f", 1) == 1


def test_same_case_same_random_numbers(box: Sandbox) -> None:
    code = ("import random, numpy as np, torch\n"
            "def draw():\n    return [random.random(), float(np.random.rand()), "
            "float(torch.rand(1))]\n")
    runs = [first(box.run([("c", code)], [plan("r", Call("draw"), seed=7)]), "r")
            for _ in range(2)]
    with Sandbox(torch=True) as other:
        runs.append(first(other.run([("c", code)], [plan("r", Call("draw"), seed=7)]), "r"))
    assert runs[0] == runs[1] == runs[2]
    assert first(box.run([("c", code)], [plan("r", Call("draw"), seed=8)]), "r") != runs[0]


def test_code_that_dies_while_loading_gets_every_case_marked() -> None:
    with Sandbox(torch=False) as b:
        out = b.run([("c", "import os\nclass Boom:\n    os._exit(5)\n")],
                    [plan("a", Call("f"), Call("g"))])
    assert [c[0].kind for c in out.results["a"]] == [NotRunKind.NOT_LOADED] * 2
    assert "exit code 5" in out.results["a"][0][0].detail


def test_load_errors_point_at_the_students_cell_and_line(box: Sandbox) -> None:
    out = box.run([("cell_a", "\n\nimport nonexistent_module\ndef f():\n    return 1\n")],
                  [plan("a", Call("f"))])
    assert [(e.cell, e.line, e.type) for e in out.load_errors] == [
        ("cell_a", 3, "ModuleNotFoundError")]
    assert first(out, "a") == 1


def test_a_sandbox_that_cannot_start_grades_by_hand_and_says_so() -> None:
    with Sandbox(Limits(start_seconds=0.01), torch=True) as b:
        out = b.run([("c", "def f():\n    return 1\n")], [plan("a", Call("f"))])
    assert first(out, "a").kind == NotRunKind.NO_SANDBOX
    assert [n.kind for n in out.notes][-1] == NoteKind.GRADER


def test_plain_mode_still_grades_and_flags_every_run(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = sbx.Isolation("plain", "", (sbx.Note(NoteKind.ISOLATION, "no bubblewrap"),))
    monkeypatch.setattr(sbx, "isolation", lambda limits=None: plain)
    with Sandbox(torch=False) as b:
        out = b.run([("c", "import os\ndef f():\n    return os.getcwd()\n")],
                    [plan("a", Call("f"))])
    if os.geteuid() == 0 and not all(sbx._world_reachable(p) for p in (sys.prefix,
                                                                       sys.base_prefix)):
        # as root the student's code would run as root: refused, graded by hand
        assert first(out, "a").kind == NotRunKind.NO_SANDBOX
        assert "install bubblewrap" in first(out, "a").detail
    else:
        assert "cnnkit-plain-" in first(out, "a")
    assert out.notes[0] == sbx.Note(NoteKind.ISOLATION, "no bubblewrap")


def test_closing_removes_the_cgroup_and_the_files() -> None:
    b = Sandbox(torch=False)
    b.run([("c", "def f():\n    return 1\n")], [plan("a", Call("f"))])
    cg, tmp = b._cgroup, b._tmp
    b.close()
    assert not tmp.exists()
    if cg is not None:
        assert not any(d.exists() for d in cg.dirs.values())


def test_results_arrive_in_order_with_progress(box: Sandbox) -> None:
    seen: list[str] = []
    box.run([("c", "def f(x):\n    return x\n")],
            [plan("one", Call("f", (1,))), plan("two", Call("f", (np.ones(2),)))], seen.append)
    assert seen == ["one", "two"]


_HOLD_A_UID = """
import sys, time
from autograder.sandbox import run
with run._uid_for_submission("root") as uid:
    print(uid, flush=True)
    time.sleep(30)
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid pool is used by a root grader only")
def test_two_graders_never_share_a_submission_uid_whatever_their_tmpdir(tmp_path: Path) -> None:
    """Each running submission holds a uid of the pool that no other grader on the machine may
    use at the same time: a plain-mode sweep (kill(-1) as that uid) would kill the other's
    student processes. Graders with different TMPDIRs (pam_tmpdir, systemd's PrivateTmp, a test
    per folder) must still see each other's claims."""
    import subprocess

    holders, uids = [], []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            env = {**os.environ, "TMPDIR": str(tmp_path / name)}
            p = subprocess.Popen([sys.executable, "-c", _HOLD_A_UID], env=env, text=True,
                                 stdout=subprocess.PIPE, cwd=Path(sbx.__file__).parents[2])
            holders.append(p)
            uids.append(int(p.stdout.readline()))
        assert uids[0] != uids[1], uids
        assert all(u in sbx.UID_POOL for u in uids)
    finally:
        for p in holders:
            p.kill()
            p.wait()
