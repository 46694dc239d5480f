"""``cnnkit gradescope``: the autograder.zip, and run_autograder in a folder laid out like
Gradescope's /autograder, on real submissions of assignment 1 (correct, partial, broken,
hostile, empty), every results.json validated against Gradescope's format.

Two containers are simulated. "docker": what Gradescope's containers allow under Docker's default
seccomp profile: no new namespaces (unshare, setns, mount and namespace flags of clone refused,
clone3 unavailable) and no writable cgroup file system, so bubblewrap cannot start and the sandbox
runs in its plain mode (student code as an unprivileged uid, rlimits). "bwrap": a container that
allows bubblewrap. Both run as root, as Gradescope does. The grading environment is this
repository's venv (CNNKIT_GRADESCOPE_PYTHON); setup.sh's apt and pip steps are not run here.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import nbformat
import pytest
from adversarial import harness as h

from autograder.course.course import Course
from autograder.course.exchange import hidden_test_lines, quoted_hidden_tests
from autograder.engine.gradescope import SCHEMA_PATH, bundle
from autograder.engine.gradescope.run import pick_notebook
from autograder.sandbox.run import UID_POOL

ASSIGNMENT = "01_conv_arithmetic"
SEED = "0123456789abcdef" * 4
SCHEMA = json.loads(SCHEMA_PATH.read_text())

# Docker's default seccomp profile, as far as namespaces go (x86_64 and aarch64 numbers):
# unshare, setns and mount fail with EPERM, clone with a CLONE_NEW* flag too, clone3 with ENOSYS.
_DOCKER_SECCOMP = r"""
import ctypes, errno, os, platform, sys
arch, unshare, setns, mount, clone, clone3 = {
    "x86_64": (0xC000003E, 272, 308, 165, 56, 435),
    "aarch64": (0xC00000B7, 97, 268, 40, 220, 435)}[platform.machine()]
NEW_NS = 0x7E020000  # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
LD, JEQ, JSET, RET = 0x20, 0x15, 0x45, 0x06
ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x50000 | errno.EPERM, 0x50000 | errno.ENOSYS
prog = [(LD, 0, 0, 4), (JEQ, 0, 11, arch), (LD, 0, 0, 0), (JEQ, 0, 1, clone3),
        (RET, 0, 0, ENOSYS), (JEQ, 6, 0, unshare), (JEQ, 5, 0, setns), (JEQ, 4, 0, mount),
        (JEQ, 0, 4, clone), (LD, 0, 0, 16), (JSET, 1, 0, NEW_NS), (RET, 0, 0, ALLOW),
        (RET, 0, 0, EPERM), (RET, 0, 0, ALLOW)]
class F(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                ("k", ctypes.c_uint32)]
class P(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(F))]
fs = (F * len(prog))(*[F(*x) for x in prog])
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(38, 1, 0, 0, 0)
if libc.prctl(22, 2, ctypes.byref(P(len(prog), ctypes.cast(fs, ctypes.POINTER(F)))), 0, 0):
    sys.exit("cannot install the seccomp filter")
os.execv(sys.argv[1], sys.argv[1:])
"""
# Docker mounts no writable cgroup file system into the container.
_NO_CGROUPS = 'mount -t tmpfs -o ro,size=4k cnnkit-no-cgroups /sys/fs/cgroup && exec "$@"'


#: What the hostile submission leaves on the host: a file and a folder in each world-writable
#: folder, and a SysV shared memory segment (plain mode has no mount or IPC namespace).
LEFT_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
LEFT_NAME = "cnnkit-gradescope-left"
LEFT_SHM_KEY = 0x636E6E6B


def _left_on_the_host() -> list[str]:
    shm = [line.split()[0] for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]]
    return [str(p) for d in LEFT_DIRS for p in Path(d).glob(LEFT_NAME + "*")] + \
        [f"SysV shm key {LEFT_SHM_KEY:#x}" for k in shm if int(k) == LEFT_SHM_KEY]


def _clear_left() -> None:
    """Remove what an earlier run left (so only this run's leftovers count)."""
    for d in LEFT_DIRS:
        for p in Path(d).glob(LEFT_NAME + "*"):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for line in Path("/proc/sysvipc/shm").read_text().splitlines()[1:]:
        key, shmid = (int(x) for x in line.split()[:2])
        if key == LEFT_SHM_KEY:
            ctypes.CDLL(None).shmctl(shmid, 0, None)  # IPC_RMID


def _hostile(root: Path) -> str:
    """A solution cell whose graded function reads the bundle and the seed, overwrites
    results.json and reports its uid and what it got in an exception."""
    return f'''import os


def conv_output_size(n, f, stride=1, pad=0):
    import ctypes
    for d in {LEFT_DIRS!r}:  # leave files in every world-writable host folder, and a SysV segment
        try:
            with open(os.path.join(d, {LEFT_NAME!r}), "w") as fh:
                fh.write("left")
            os.makedirs(os.path.join(d, {LEFT_NAME!r} + "-dir", "deeper"), exist_ok=True)
        except OSError:
            pass
    ctypes.CDLL(None).shmget({LEFT_SHM_KEY}, 4096, 0o1666)
    got = ["uid=%d" % os.getuid()]
    for p in ("source/cnnkit/.cnnkit_secret_seed", "source/cnnkit/gradescope.json", "submission"):
        try:
            with open(os.path.join({str(root)!r}, p)) as fh:
                got.append(fh.read()[:70])
        except OSError as e:
            got.append(type(e).__name__)
    try:
        with open(os.path.join({str(root)!r}, "results", "results.json"), "w") as fh:
            fh.write(\'{{"score": 1000, "tests": []}}\')
        got.append("WROTE-RESULTS")
    except OSError as e:
        got.append(type(e).__name__)
    raise RuntimeError(" ".join(got))
'''


_EXIT = "import os\n\n\ndef conv_layer_params(f, in_depth, num_filters):\n    os._exit(0)\n"


def write_answer(kind: str, path: Path, root: Path | None = None) -> None:
    """A submitted notebook of assignment 1 at ``path``: ``correct``, ``partial`` (a max pool
    that ignores the window), ``broken`` (not JSON) or ``hostile`` (against ``root``)."""
    if kind == "correct":
        h.write_nb(h.honest(), path)
    elif kind == "partial":
        h.write_nb(h.notebook({"max_pool_2d_impl": "def max_pool_2d(x, f=2, stride=2):\n"
                                                   "    return x[::stride, ::stride]\n"},
                              stub=False), path)
    elif kind == "broken":
        path.write_bytes(b'{"cells": [ this is not JSON')
    elif kind == "hostile" and root is not None:
        h.write_nb(h.notebook({"conv_output_size_impl": _hostile(root),
                               "conv_layer_params_impl": _EXIT}), path)
    else:
        raise ValueError(kind)


def _submission(kind: str, folder: Path, root: Path) -> None:
    folder.mkdir(parents=True)
    if kind == "empty":
        (folder / "notes.txt").write_text("I forgot the notebook\n")
    else:
        write_answer(kind, folder / h.NB_FILE, root)


def _layout(zip_path: Path, root: Path, kind: str) -> None:
    """/autograder as Gradescope builds it: the zip in source/, run_autograder copied up, the
    submission in submission/, an empty results/. The worst case for secrecy: every folder on
    the way world-traversable, every file of the zip world-readable (the zip's own modes
    dropped), so only what run_autograder does keeps the student's uid out."""
    root.mkdir(parents=True, mode=0o755)
    (root / "source").mkdir(mode=0o755)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    for p in [root / "source", *(root / "source").rglob("*")]:
        p.chmod(0o755 if p.is_dir() or p.name in ("run_autograder", "setup.sh") else 0o644)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    (root / "results").mkdir(mode=0o755)
    _submission(kind, root / "submission", root)


def _run(root: Path, stage: Path, container: str) -> dict[str, Any]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "HOME": "/root", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
           "CNNKIT_GRADESCOPE_ROOT": str(root), "CNNKIT_GRADESCOPE_PYTHON": sys.executable}
    script = str(root / "run_autograder")
    if container == "docker":
        # as root in a private mount namespace where this venv's Python is reachable by every
        # uid (tests/adversarial/harness.py), so a pool uid can run it as it can run
        # Gradescope's /opt/cnnkit/venv
        stage.mkdir()
        cmd = h.as_user_argv(stage, "root", env, ["sh", "-c", _NO_CGROUPS, "sh", sys.executable,
                                                  "-c", _DOCKER_SECCOMP, script])
        run_env = None
    else:
        cmd, run_env = [script], env
    start = time.monotonic()
    proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=400,
                          cwd=root)
    wall = time.monotonic() - start
    results = root / "results" / "results.json"
    return {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr, "wall": wall,
            "doc": json.loads(results.read_text()) if results.exists() else None,
            "results_mode": results.stat().st_mode & 0o777 if results.exists() else None,
            "root_mode": root.stat().st_mode & 0o777, "root": root}


SCENARIOS = [("docker", k) for k in ("correct", "partial", "broken", "hostile", "empty")] + \
    [("bwrap", k) for k in ("correct", "hostile")]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Course:
    return Course(tmp_path_factory.mktemp("course"))


@pytest.fixture(scope="module")
def zip_path(course: Course, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bundle.build(course, ASSIGNMENT, tmp_path_factory.mktemp("zip") / "autograder.zip",
                        visibility="after_published", seed=SEED).path


@pytest.fixture(scope="module")
def runs(zip_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple, dict]:
    if not h.is_root():
        pytest.skip("Gradescope runs run_autograder as root: run these tests as root")
    if shutil.which("unshare") is None or shutil.which("setpriv") is None:
        pytest.skip("needs util-linux's unshare and setpriv")
    base = Path(tempfile.mkdtemp(prefix="cnnkit-gradescope-"))
    base.chmod(0o755)  # reachable by every uid (pytest's own folders are not)

    def one(scenario: tuple[str, str]) -> dict:
        container, kind = scenario
        (base / f"{container}-{kind}").mkdir(mode=0o755)
        root = base / f"{container}-{kind}" / "autograder"
        _layout(zip_path, root, kind)
        assert os.stat(root / "source/cnnkit/.cnnkit_secret_seed").st_mode & 0o004
        return _run(root, base / f"{container}-{kind}" / "stage", container)

    _clear_left()
    try:
        with cf.ThreadPoolExecutor(2) as pool:
            out = dict(zip(SCENARIOS, pool.map(one, SCENARIOS), strict=True))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    for (container, kind), r in out.items():
        print(f"run_autograder {container:6} {kind:8} {r['wall']:5.1f} s  "
              f"score {r['doc'] and r['doc'].get('score')}")
    return out


# --------------------------------------------------------------------------------------------
# The bundle (fast)
# --------------------------------------------------------------------------------------------


def test_the_zip_has_gradescopes_layout_and_holds_the_secret_only_for_root(zip_path) -> None:
    zf = zipfile.ZipFile(zip_path)
    names = zf.namelist()
    modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "requirements.txt"} <= set(names)
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert zf.read("cnnkit/.cnnkit_secret_seed").decode().strip() == SEED
    assert modes["cnnkit/.cnnkit_secret_seed"] == 0o600
    config = json.loads(zf.read("cnnkit/gradescope.json"))
    assert config["assignment"] == ASSIGNMENT and config["visibility"] == "after_published"
    assert config["notebook"] == h.NB_FILE and f"cnnkit/{config['source']}" in names
    assert "cnnkit/autograder/engine/gradescope/run.py" in names
    assert "cnnkit/autograder/checks/conv_arithmetic.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if n.startswith("cnnkit/notebooks/")
                and not n.startswith(f"cnnkit/notebooks/{ASSIGNMENT}/")], "one assignment only"
    assert zip_path.stat().st_mode & 0o077 == 0


def test_the_zip_is_the_same_bytes_for_the_same_inputs(course, zip_path, tmp_path) -> None:
    again = bundle.build(course, ASSIGNMENT, tmp_path / "again.zip",
                         visibility="after_published", seed=SEED)
    assert again.path.read_bytes() == zip_path.read_bytes()
    other = bundle.build(course, ASSIGNMENT, tmp_path / "other.zip", visibility="hidden",
                         seed=SEED)
    assert other.path.read_bytes() != zip_path.read_bytes()
    with pytest.raises(ValueError, match="visibility must be one of"):
        bundle.build(course, ASSIGNMENT, tmp_path / "x.zip", visibility="public")


def test_without_a_seed_the_bundle_carries_the_courses_own(course, tmp_path) -> None:
    from autograder.engine.batch import course_seed

    made = bundle.build(course, ASSIGNMENT, tmp_path / "a.zip")
    seed = zipfile.ZipFile(made.path).read("cnnkit/.cnnkit_secret_seed").decode().strip()
    assert seed == course_seed(course.root) and len(seed) == 64


@pytest.mark.parametrize("name", ["setup.sh", "run_autograder"])
def test_the_scripts_are_valid_bash(zip_path, tmp_path, name) -> None:
    script = tmp_path / name
    script.write_bytes(zipfile.ZipFile(zip_path).read(name))
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


def test_setup_installs_bubblewrap_a_cpu_torch_and_the_pinned_requirements(zip_path) -> None:
    zf = zipfile.ZipFile(zip_path)
    setup = zf.read("setup.sh").decode()
    reqs = zf.read("requirements.txt").decode().split()
    torch_pin, pins = bundle.pins()
    assert re.search(r"apt_install bubblewrap\b", setup)
    assert "apt-get install -y -q --no-install-recommends" in setup
    assert "https://download.pytorch.org/whl/cpu" in setup and f'"{torch_pin}"' in setup
    assert re.fullmatch(r"torch==\d+\.\d+\.\d+", torch_pin)
    assert 'pip install -r "$here/requirements.txt"' in setup
    assert "python3.11 python3.11-venv" in setup, "Ubuntu 22.04 has no Python 3.11 by default"
    assert 'chmod -R go= "$here"' in setup and 'chmod -R a+rX "$prefix"' in setup
    assert reqs == pins and {r.split("==")[0] for r in reqs} == set(bundle.GRADING_PACKAGES)
    run = zf.read("run_autograder").decode()
    assert 'chmod go= "$root" "$root/results"' in run and 'chmod -R go= "$root/source"' in run
    assert "-m autograder.engine.gradescope.run" in run


def test_the_fallback_results_of_run_autograder_follow_the_schema(zip_path) -> None:
    run = zipfile.ZipFile(zip_path).read("run_autograder").decode()
    fallback = json.loads(re.search(r"printf '%s\\n' '(\{.*\})'", run).group(1))
    jsonschema.validate(fallback, SCHEMA)
    assert fallback["score"] == 0 and "grade it by hand" in fallback["output"]


@pytest.mark.parametrize("breakage", ["no interpreter", "no settings"])
def test_a_grader_that_cannot_run_still_writes_a_results_json(zip_path, tmp_path,
                                                              breakage) -> None:
    root = tmp_path / "autograder"
    _layout(zip_path, root, "correct")
    python = sys.executable
    if breakage == "no interpreter":
        python = "/bin/false"
    else:
        (root / "source" / "cnnkit" / "gradescope.json").unlink()
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "CNNKIT_GRADESCOPE_ROOT": str(root),
           "CNNKIT_GRADESCOPE_PYTHON": python}
    proc = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=120)
    doc = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    assert proc.returncode == 0 and doc["score"] == 0 and doc["tests"] == []
    assert "will grade it by hand" in doc["output"] and doc["stdout_visibility"] == "hidden"
    said = "wrote no results.json" if breakage == "no interpreter" else "FileNotFoundError"
    assert said in proc.stdout, proc.stdout[-1500:]


def _distribution_closure(names: list[str]) -> set[str]:
    """``names`` and what they depend on, optional extras included (a package may import an
    extra's module when it happens to be installed, as jsonschema does)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    todo, seen = list(names), set()
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        extras = ["", *(dist.metadata.get_all("Provides-Extra") or [])]
        for req in dist.requires or []:
            r = Requirement(req)
            if r.marker is None or any(r.marker.evaluate({"extra": e}) for e in extras):
                todo.append(r.name)
    return seen


def test_the_requirements_cover_everything_grading_imports() -> None:
    """What run_autograder imports (engine, every assignment's checks, the sandbox's child)
    comes from the bundle's requirements, torch or the standard library: nothing else is
    installed on Gradescope."""
    code = ("import importlib, pkgutil, sys, autograder.engine.gradescope.run, "
            "autograder.engine.batch, autograder.sandbox.child, autograder.checks as c\n"
            "[importlib.import_module(f'autograder.checks.{m.name}') "
            "for m in pkgutil.iter_modules(c.__path__)]\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=h.REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from importlib import metadata

    owners = metadata.packages_distributions()
    used = {d.lower().replace("_", "-") for m in proc.stdout.split()
            if m not in sys.stdlib_module_names for d in owners.get(m, [])}
    used -= {"cnn-course-kit"}  # autograder and cnnlib: the bundle's own copy
    torch_pin, pins = bundle.pins()
    allowed = _distribution_closure(["torch", *(p.split("==")[0] for p in pins)])
    assert used - allowed == set(), f"imported but not in the bundle: {sorted(used - allowed)}"
    assert "nbgrader" not in proc.stdout.split(), "grading must not need nbgrader"


def test_the_schema_is_a_valid_schema_that_refuses_what_gradescope_does_not_document() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    good = {"score": 1.0, "tests": [{"name": "t", "score": 1, "max_score": 1,
                                     "status": "passed", "visibility": "after_published"}]}
    jsonschema.validate(good, SCHEMA)
    jsonschema.validate({"tests": [{"score": 1.0}]}, SCHEMA)
    for bad in ({"tests": [{"name": "no score anywhere"}]},
                {"score": 1, "visiblity": "hidden"},
                {"score": 1, "visibility": "public"},
                {"score": "1"},
                {"score": 1, "tests": [{"score": 1, "status": "partial"}]},
                {"score": 1, "stdout_visibility": "students"},
                {"score": 1, "execution_time": -1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, SCHEMA)


def test_which_notebook_is_graded(tmp_path) -> None:
    d = tmp_path / "submission"
    (d / "sub").mkdir(parents=True)
    (d / ".ipynb_checkpoints").mkdir()
    (d / ".ipynb_checkpoints" / "conv_arithmetic.ipynb").write_text("{}")
    assert pick_notebook(d, "conv_arithmetic.ipynb") == (
        None, "No notebook in your submission: upload conv_arithmetic.ipynb.")
    (d / "sub" / "mine.ipynb").write_text("{}")
    assert pick_notebook(d, "conv_arithmetic.ipynb") == (
        "sub/mine.ipynb", "Graded sub/mine.ipynb as conv_arithmetic.ipynb.")
    (d / "conv_arithmetic (2).ipynb").write_text("{}")
    chosen, note = pick_notebook(d, "conv_arithmetic.ipynb")
    assert chosen == "conv_arithmetic (2).ipynb" and "1 other notebook(s) ignored" in note
    (d / "conv_arithmetic.ipynb").symlink_to("/etc/passwd")
    assert pick_notebook(d, "conv_arithmetic.ipynb")[0] == "conv_arithmetic (2).ipynb"
    (d / "conv_arithmetic.ipynb").unlink()
    (d / "conv_arithmetic.ipynb").write_text("{}")
    assert pick_notebook(d, "conv_arithmetic.ipynb")[0] == "conv_arithmetic.ipynb"
    (d / "conv_arithmetic (2).ipynb").unlink()
    (d / "sub" / "mine.ipynb").unlink()
    assert pick_notebook(d, "conv_arithmetic.ipynb") == ("conv_arithmetic.ipynb", "")


# --------------------------------------------------------------------------------------------
# run_autograder in the simulated containers (slow)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: "-".join(s))
def test_every_results_json_follows_gradescopes_format(runs, scenario) -> None:
    r = runs[scenario]
    assert r["doc"] is not None, r["stdout"][-2000:] + r["stderr"][-2000:]
    jsonschema.validate(r["doc"], SCHEMA)
    doc = r["doc"]
    assert r["rc"] == 0 and "cnnkit: wrote" in r["stdout"], r["stdout"][-2000:]
    assert doc["stdout_visibility"] == "hidden" and doc["execution_time"] > 0
    assert len(doc["tests"]) == 8 and sum(t["max_score"] for t in doc["tests"]) == h.FULL_MARKS
    assert all(t["visibility"] == "after_published" for t in doc["tests"])
    assert doc["score"] == pytest.approx(sum(t["score"] for t in doc["tests"]))
    assert all((t["status"] == "passed") == (t["score"] == t["max_score"]) for t in doc["tests"])
    assert "q_floor" in doc["output"] and "graded by hand" in doc["output"]
    assert r["results_mode"] == 0o600 and r["root_mode"] & 0o077 == 0
    text = json.dumps(doc)
    assert SEED not in text and SEED not in r["stdout"], "the secret never leaves the grader"
    assert quoted_hidden_tests(text, hidden_test_lines(h.SOURCE_NB)) == []


@pytest.mark.slow
def test_grades_correct_partial_broken_and_empty_submissions(runs) -> None:
    correct, partial, broken, empty = (runs["docker", k]["doc"]
                                       for k in ("correct", "partial", "broken", "empty"))
    assert correct["score"] == h.FULL_MARKS
    pool = next(t for t in partial["tests"] if t["name"] == "test_max_pool_2d")
    assert pool["score"] < pool["max_score"] and pool["status"] == "failed" and pool["output"]
    assert partial["score"] == h.FULL_MARKS - pool["max_score"] + pool["score"]
    assert broken["score"] == 0 and "JSON" in broken["output"], broken["output"]
    assert empty["score"] == 0 and empty["output"].startswith(
        "About your notebook:\n- No notebook in your submission: upload conv_arithmetic.ipynb")


@pytest.mark.slow
def test_a_hostile_submission_reads_nothing_writes_nothing_and_earns_nothing(runs) -> None:
    for container in ("docker", "bwrap"):
        doc = runs[container, "hostile"]["doc"]
        assert doc["score"] == 0 and "extra_data" in doc, "results.json is the grader's own"
        tests = {t["name"]: t for t in doc["tests"]}
        said = re.search(r"RuntimeError: uid=(\d+) (\w+) (\w+) (\w+) (\w+)",
                         tests["test_conv_output_size"]["output"])
        assert said, tests["test_conv_output_size"]["output"]
        assert int(said.group(1)) in UID_POOL, said.group(0)
        refused = "PermissionError" if container == "docker" else "FileNotFoundError"
        assert said.groups()[1:] == (refused,) * 4, said.group(0)
        assert "exited" in tests["test_conv_layer_params"]["output"]
        assert tests["test_conv_layer_params"]["score"] == 0


@pytest.mark.slow
def test_nothing_a_plain_mode_submission_leaves_outlives_it(runs) -> None:
    """Docker-like container, plain mode, as root: what the student's uid left in the host's
    world-writable folders and its SysV objects are removed with its processes."""
    assert runs["docker", "hostile"]["doc"]["score"] == 0
    assert _left_on_the_host() == []


@pytest.mark.slow
def test_the_isolation_is_recorded_where_only_the_instructor_sees_it(runs) -> None:
    docker = runs["docker", "correct"]
    iso = docker["doc"]["extra_data"]["cnnkit"]["isolation"]
    assert iso["mode"] == "plain" and iso["student_code_uid"] == "an unprivileged uid of its own"
    assert iso["cgroups"] == "none (rlimits only)"
    assert any("bubblewrap cannot create namespaces" in m for m in iso["missing"])
    assert docker["doc"]["extra_data"]["cnnkit"]["closed_to_other_uids"] is True
    assert "cnnkit: isolation: plain; student code ran as an unprivileged uid" in docker["stdout"]
    kit = re.search(r"^cnnkit: .* at (\S+)$", docker["stdout"], re.MULTILINE).group(1)
    assert kit == str(runs["docker", "correct"]["root"] / "source/cnnkit/autograder")
    flags = docker["doc"]["extra_data"]["cnnkit"]["review"]
    assert {f["kind"] for f in flags} == {"isolation", "limits"}
    assert "namespaces" not in docker["doc"]["output"], "students never see the flags"
    bwrap = runs["bwrap", "correct"]["doc"]["extra_data"]["cnnkit"]["isolation"]
    assert bwrap["mode"] == "root" and bwrap["missing"] == []


@pytest.mark.slow
def test_the_grade_does_not_depend_on_the_container(runs) -> None:
    for kind in ("correct", "hostile"):
        plain, bwrap = (runs[c, kind]["doc"]["tests"] for c in ("docker", "bwrap"))
        assert [(t["name"], t["score"]) for t in plain] == [(t["name"], t["score"]) for t in bwrap]


def test_cnnkit_gradescope_writes_the_zip_into_the_course(tmp_path, capsys) -> None:
    from autograder.cli import main

    assert main(["--course", str(tmp_path / "c"), "gradescope", ASSIGNMENT, "--seed", SEED,
                 "--visibility", "hidden"]) == 0
    out = capsys.readouterr().out
    made = tmp_path / "c" / "gradescope" / ASSIGNMENT / "autograder.zip"
    assert f"wrote {made}" in out and "share it with Gradescope only" in out
    config = json.loads(zipfile.ZipFile(made).read("cnnkit/gradescope.json"))
    assert config["visibility"] == "hidden"
    nb = nbformat.reads(zipfile.ZipFile(made).read(f"cnnkit/{config['source']}").decode(), 4)
    assert any("BEGIN SOLUTION" in c.source for c in nb.cells), "the source, not the release"
    assert os.stat(made).st_mode & 0o077 == 0


def test_a_read_only_cgroup_file_system_is_said_not_raised(tmp_path, monkeypatch) -> None:
    """Docker mounts the v1 controllers read-only: making the sandbox's cgroup fails at the
    first folder, and the grader must learn why (and go on with rlimits), not crash."""
    from autograder.sandbox import cgroup

    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.setattr(cgroup.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cgroup, "_mounts", lambda: {c: ro / c for c in cgroup.V1_CONTROLLERS})
    monkeypatch.setattr(cgroup, "_own_paths", lambda: {})
    made, why = cgroup.Cgroup.create("cnnkit-test", cgroup.CgroupLimits(2**30, 64))
    assert made is None and why.startswith("could not create a cgroup"), why
