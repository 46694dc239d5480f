"""The sandbox child: isolation, limits, crash recovery (each test starts real children)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder import sandbox
from autograder.checkkit import Call, Raised
from autograder.sandbox import CheckFailure, Limits, SandboxFailure, SandboxRun, run_in_sandbox

pytestmark = pytest.mark.slow
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="uid drop and namespaces need root")
ISOLATED = pytest.mark.skipif(not sandbox.can_isolate(),
                              reason="needs root or unprivileged user namespaces")

PROBE = '''
import os, sys
def probe(paths):
    readable = []
    for p in paths:
        try:
            if os.path.isdir(p):
                if os.listdir(p):
                    readable.append(p)
            else:
                open(p, "rb").read(1)
                readable.append(p)
        except OSError:
            pass
    try:
        import autograder
        importable = True
    except ImportError:
        importable = False
    import socket
    import cnnlib  # public course code: importable
    import torch
    return {"cnnlib": cnnlib.__version__, "torch": float(torch.ones(2).sum()),
            "uid": os.getuid(), "readable": readable,
            "autograder": importable,
            "ifaces": [n for _, n in socket.if_nameindex()], "env": sorted(os.environ),
            "home": os.environ.get("HOME", ""), "cwd_files": os.listdir("."),
            "tmp": os.listdir("/tmp"), "path": list(sys.path)}
'''


def test_child_sees_no_grader_files_and_no_network(tmp_path) -> None:
    course = tmp_path / "course"
    course.mkdir()
    (course / "gradebook.db").write_text("secret")
    targets = [str(course / "gradebook.db"), str(course),
               str(sandbox.REPO_ROOT / "autograder" / "checkkit.py"),
               str(sandbox.REPO_ROOT / "notebooks")]
    out = run_in_sandbox(PROBE, {"p": [Call("probe", (targets + ["/etc/shadow"],))]},
                         hide=[str(course)])
    info = out["p"][0]
    assert info["cnnlib"] == "0.1.0" and info["torch"] == 2.0
    assert info["autograder"] is False
    assert not any(str(sandbox.REPO_ROOT) in p and ".venv" not in p for p in info["path"])
    assert info["cwd_files"] == []
    assert info["home"] != os.environ.get("HOME")
    assert not any(k.startswith(("CNNKIT", "PYTEST", "NBGRADER")) for k in info["env"])
    if os.geteuid() == 0:
        assert info["uid"] in sandbox.UID_POOL
    else:
        assert info["uid"] == os.geteuid()  # a user namespace keeps the grader's uid
    if sandbox.can_isolate():
        assert info["readable"] == []
        assert info["ifaces"] == ["lo"]
        # /tmp is private: the child's own dir, plus the path down to the interpreter and
        # packages when those live under /tmp (a checkout in a temporary folder).
        sbx = [t for t in info["tmp"] if t.startswith("cnnkit-sbx-")]
        kept = {Path(p).resolve().parts[2] for p in (sys.prefix, sandbox.REPO_ROOT)
                if Path(p).resolve().parts[1:2] == ("tmp",)}
        assert len(sbx) == 1 and set(info["tmp"]) - set(sbx) == kept, info["tmp"]


def test_a_crash_costs_only_the_check_that_crashed() -> None:
    code = ("import ctypes\nimport numpy as np\n"
            "def ok(x):\n    return x * 2\n"
            "def boom():\n    ctypes.string_at(0)\n")
    run = SandboxRun()
    out = run_in_sandbox(code, {"a": [Call("ok", (np.ones(2),))], "b": [Call("boom")],
                                "c": [Call("ok", (3,))]}, run=run)
    assert np.array_equal(out["a"][0], [2.0, 2.0])
    assert out["b"] == CheckFailure(
        "your code crashed the Python process (segmentation fault) during this check")
    assert out["c"] == [6]
    assert run.children == 2


def test_time_budget_per_check_and_the_next_check_still_runs() -> None:
    code = "def spin():\n    while True:\n        pass\ndef one():\n    return 1\n"
    run = SandboxRun()
    out = run_in_sandbox(code, {"slow": [Call("spin"), Call("one")], "fast": [Call("one")]},
                         timeouts={"slow": 1.0, "fast": 5.0}, run=run)
    assert out["slow"][0] == Raised("TimeLimitExceeded", "took longer than 1 s (an infinite loop?)")
    assert out["slow"][1].reason == "not run because spin raised TimeLimitExceeded"
    assert out["fast"] == [1] and run.children == 1


def test_load_errors_do_not_hide_later_functions_and_output_is_capped() -> None:
    code = ("class Broken:\n    raise ValueError('class body')\n"
            "def talk():\n    print('x' * 5_000_000)\n    return 'done'\n")
    run = SandboxRun()
    out = run_in_sandbox(code, {"t": [Call("talk")]}, limits=Limits(output_cap=1000), run=run)
    assert out["t"] == ["done"]
    assert run.load_errors == ["line 1: ValueError: class body"]
    assert len(run.output) <= 1000


def test_exit_while_loading_is_a_sandbox_failure() -> None:
    out = run_in_sandbox("import os\nclass A:\n    os._exit(4)\n", {"x": [Call("f")]})
    assert isinstance(out, SandboxFailure)
    assert out.reason == ("your code ended the Python process (exit code 4, e.g. os._exit or a "
                          "crash) while it was being loaded")


@ROOT_ONLY
def test_memory_and_process_limits() -> None:
    code = ("import os\nimport numpy as np\n"
            "def alloc():\n    return np.ones(8 * 2**30 // 8).sum()\n"
            "def forks():\n    pids = []\n    for _ in range(100):\n"
            "        pids.append(os.fork())\n        if pids[-1] == 0:\n"
            "            import time; time.sleep(30)\n    return len(pids)\n")
    out = run_in_sandbox(code, {"m": [Call("alloc")], "f": [Call("forks")]},
                         limits=Limits(nproc=16))
    assert out["m"][0].type == "MemoryError"
    assert out["f"][0].type == "BlockingIOError"
    for uid in sandbox.UID_POOL:
        assert sandbox.processes_of_uid(uid) == []


@ISOLATED
def test_working_dir_is_a_small_private_tmpfs() -> None:
    # bounded at 32 MiB so that a broken sandbox fails this test without filling the disk
    code = ("import os\ndef fill():\n    n = 0\n    try:\n        while n < 32:\n"
            "            with open(f'f{n}', 'wb') as f:\n                f.write(b'x' * 2**20)\n"
            "            n += 1\n    except OSError as e:\n        return n, e.errno\n"
            "    return n, None\n")
    out = run_in_sandbox(code, {"f": [Call("fill")]}, limits=Limits(work_bytes=8 * 2**20))
    n, errno = out["f"][0]
    assert n <= 8 and errno == 28  # ENOSPC after 8 MiB, on the tmpfs, not the real disk


@ISOLATED
def test_student_code_cannot_unmount_the_covers() -> None:
    """The covers over hidden paths stay: the child holds no capability to unmount them."""
    notebooks = sandbox.REPO_ROOT / "notebooks"  # hidden by default: solutions inside
    # a checkout under /tmp disappears with the child's private /tmp: that cover is peeled then
    cover = "/tmp" if notebooks.is_relative_to("/tmp") else str(notebooks)
    code = ("import ctypes, os\n"
            "def peel(cover, path):\n"
            "    libc = ctypes.CDLL(None, use_errno=True)\n"
            "    rc = libc.umount2(cover.encode(), 2)\n"  # MNT_DETACH
            "    errno = ctypes.get_errno()\n"
            "    try:\n"
            "        return rc, errno, os.listdir(path)\n"
            "    except OSError:\n"
            "        return rc, errno, None\n")
    out = run_in_sandbox(code, {"u": [Call("peel", (cover, str(notebooks)))]})
    rc, errno, listing = out["u"][0]
    assert (rc, errno) == (-1, 1)  # EPERM
    assert listing in ([], None)  # an empty cover, or not there at all
