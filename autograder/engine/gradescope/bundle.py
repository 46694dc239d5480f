"""``autograder.zip``: what Gradescope needs to grade one assignment with this kit.

Layout (Gradescope's "Autograder Specifications": ``setup.sh`` and ``run_autograder`` at the root
of the zip; the zip is unpacked into ``/autograder/source``)::

    setup.sh            run once, as root, when Gradescope builds the image
    run_autograder      run for every submission (Gradescope copies it to /autograder/)
    requirements.txt    the grading dependencies, pinned to the versions that made the bundle
    cnnkit/             a source copy of the kit: autograder/, cnnlib/,
                        notebooks/<assignment>/<notebook>.ipynb (the source, with solutions),
                        gradescope.json (assignment, notebook, visibility, kit version) and
                        .cnnkit_secret_seed (the course's secret: the hidden cases)

The secret seed and the hidden checks travel inside the zip and nowhere else a student can see:
``setup.sh`` and ``run_autograder`` close ``/autograder`` to every uid but root, and the sandbox
runs the student's code as another uid (or in bubblewrap, where the folder is not even mounted).
The zip is byte-identical for the same inputs (fixed timestamps, sorted entries).
"""

from __future__ import annotations

import json
import re
import subprocess
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from autograder.engine.batch import SEED_FILE, course_seed, notebook_name
from autograder.engine.feedback import VISIBILITY
from autograder.engine.gradescope.run import FAILED_OUTPUT

REPO = Path(__file__).resolve().parents[3]
KIT_DIR = "cnnkit"
CONFIG_NAME = "gradescope.json"
#: PyTorch's own index of CPU-only wheels (it serves torch's dependencies too).
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
#: What grading imports besides torch (the engine, the checks, the sandbox), by distribution.
GRADING_PACKAGES = ("numpy", "nbformat", "tqdm", "PyYAML")
#: Where setup.sh puts the grading environment (readable by every uid).
PREFIX = "/opt/cnnkit"
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP = re.compile(r"(^|/)(__pycache__|\.ipynb_checkpoints)(/|$)|\.py[co]$")

SETUP_SH = r"""#!/usr/bin/env bash
# cnnkit: Gradescope runs this once, as root, while it builds the autograder image.
# It installs bubblewrap (the grader's sandbox), a Python >= 3.11 with a CPU build of torch and
# the kit's pinned grading dependencies in $prefix/venv (readable by every uid: the sandbox runs
# the student's code as an unprivileged one), then closes this folder (the kit, the hidden
# checks, the course's secret seed) to everyone but root.
# For a trial outside Gradescope: CNNKIT_PREFIX=/tmp/x CNNKIT_SKIP_APT=1 bash setup.sh
# (CNNKIT_TORCH_INDEX: a mirror of PyTorch's CPU wheel index, where that one is out of reach).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${CNNKIT_PREFIX:-__PREFIX__}"
torch_index="${CNNKIT_TORCH_INDEX:-__TORCH_INDEX__}"
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

apt_install() {
  if [ "${CNNKIT_SKIP_APT:-0}" = 1 ]; then
    echo "cnnkit: CNNKIT_SKIP_APT=1, not installing: $*"
    return 0
  fi
  apt-get install -y -q --no-install-recommends "$@"
}

[ "${CNNKIT_SKIP_APT:-0}" = 1 ] || apt-get update -q
apt_install bubblewrap

# Ubuntu 22.04 (Gradescope's default image) has Python 3.10; the kit needs 3.11 or newer.
python=""
for v in python3.13 python3.12 python3.11; do
  if command -v "$v" >/dev/null 2>&1; then python="$(command -v "$v")"; break; fi
done
if [ -z "$python" ]; then
  apt_install python3.11 python3.11-venv
  python="$(command -v python3.11)"
fi
if ! "$python" -m venv "$prefix/venv"; then
  rm -rf "$prefix/venv"
  apt_install "$(basename "$python")-venv"
  "$python" -m venv "$prefix/venv"
fi
pip() { "$prefix/venv/bin/python" -m pip -q "$@"; }
pip install --upgrade pip
pip install --index-url "$torch_index" "__TORCH__"
pip install -r "$here/requirements.txt"

chmod -R a+rX "$prefix"
chmod -R go= "$here"
"$prefix/venv/bin/python" -c 'import numpy, torch, nbformat, yaml, tqdm
print("cnnkit: grading environment ready: torch", torch.__version__, "numpy", numpy.__version__)'
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# cnnkit: Gradescope runs this as root for every submission (working directory /autograder).
# The student's code runs as another uid (or inside bubblewrap when the container allows it),
# so the bundle, the secret seed and the results are closed to every uid but root first.
# CNNKIT_GRADESCOPE_ROOT and CNNKIT_GRADESCOPE_PYTHON replace /autograder and the interpreter
# for a trial outside Gradescope.
set -u
root="${CNNKIT_GRADESCOPE_ROOT:-/autograder}"
python="${CNNKIT_GRADESCOPE_PYTHON:-__PREFIX__/venv/bin/python}"
mkdir -p "$root/results"
chmod go= "$root" "$root/results"
chmod -R go= "$root/source"
status=0
if cd "$root/source/__KIT__"; then
  "$python" -s -B -m autograder.engine.gradescope.run --root "$root" || status=$?
else
  status=1
fi
if [ ! -s "$root/results/results.json" ]; then
  echo "cnnkit: the grader exited with status $status and wrote no results.json"
  printf '%s\n' '__FALLBACK__' > "$root/results/results.json"
fi
exit 0
"""


@dataclass(frozen=True)
class Bundle:
    """What :func:`build` wrote: the zip, its size, and its entries."""

    path: Path
    size: int
    names: tuple[str, ...]


def pins() -> tuple[str, list[str]]:
    """``torch==X`` (for PyTorch's CPU index) and the other grading packages as ``name==X``,
    at the versions installed here, so Gradescope grades with what the instructor graded with."""
    torch = "torch==" + metadata.version("torch").split("+")[0]
    return torch, [f"{name}=={metadata.version(name)}" for name in GRADING_PACKAGES]


def scripts(torch_pin: str) -> dict[str, str]:
    """The two scripts of the zip's root, filled in."""
    fallback = json.dumps({"score": 0, "stdout_visibility": "hidden", "tests": [],
                           "output": FAILED_OUTPUT})
    assert "'" not in fallback  # it is quoted for bash with '...'
    fill = {"__PREFIX__": PREFIX, "__TORCH_INDEX__": TORCH_INDEX, "__TORCH__": torch_pin,
            "__KIT__": KIT_DIR, "__FALLBACK__": fallback}
    out = {}
    for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
        for key, value in fill.items():
            text = text.replace(key, value)
        out[name] = text
    return out


def _kit_files(repo: Path) -> list[tuple[str, Path]]:
    """The kit's packages (code and data files), as ``(name in the zip, file)``."""
    out = []
    for pkg in ("autograder", "cnnlib"):
        for path in sorted((repo / pkg).rglob("*")):
            rel = path.relative_to(repo).as_posix()
            if path.is_file() and not path.is_symlink() and not _SKIP.search(rel):
                out.append((f"{KIT_DIR}/{rel}", path))
    return out


def _kit_version(repo: Path) -> dict[str, Any]:
    try:
        version = metadata.version("cnn-course-kit")
    except metadata.PackageNotFoundError:
        version = "unknown"
    commit = ""
    if (repo / ".git").exists():
        proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                              text=True, check=False)
        commit = proc.stdout.strip() if proc.returncode == 0 else ""
    return {"version": version, "commit": commit}


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
    zf.writestr(info, data)


def build(course: Any, assignment: str, out: Path | str, *, visibility: str = "visible",
          seed: str | None = None) -> Bundle:
    """Write ``out`` (the zip) for ``assignment`` of ``course`` (an ``autograder.course.Course``).

    visibility: when students see the tests (Gradescope's values; ``after_published`` keeps
                everything back until the instructor publishes the grades).
    seed:       the secret of the hidden cases (default: the course's, so Gradescope and
                ``cnnkit grade`` give the same grades).
    """
    from autograder.checks import load as load_checks

    if visibility not in VISIBILITY:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITY)}, got {visibility!r}")
    course.validate(assignment)
    source = Path(course.source_notebook(assignment))
    nb = notebook_name(load_checks(assignment))
    if source.stem != nb:
        raise ValueError(f"the checks of {assignment} grade {nb}.ipynb, the source is {source}")
    seed = seed if seed is not None else course_seed(course.root)
    torch_pin, reqs = pins()
    config = {"assignment": assignment, "notebook": f"{nb}.ipynb",
              "source": f"notebooks/{assignment}/{nb}.ipynb", "visibility": visibility,
              "kit": _kit_version(REPO), "torch": torch_pin, "requirements": reqs}
    entries: dict[str, tuple[bytes, int]] = {
        name: (text.encode(), 0o755) for name, text in scripts(torch_pin).items()}
    entries["requirements.txt"] = ("\n".join(reqs).encode() + b"\n", 0o644)
    for name, path in _kit_files(REPO):
        entries[name] = (path.read_bytes(), 0o644)
    entries[f"{KIT_DIR}/{config['source']}"] = (source.read_bytes(), 0o600)
    entries[f"{KIT_DIR}/{CONFIG_NAME}"] = (
        (json.dumps(config, indent=2, sort_keys=True) + "\n").encode(), 0o600)
    entries[f"{KIT_DIR}/{SEED_FILE}"] = (f"{seed}\n".encode(), 0o600)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for name in sorted(entries):
            data, mode = entries[name]
            _add(zf, name, data, mode)
    tmp.chmod(0o600)  # it holds the secret seed
    tmp.replace(out)
    return Bundle(out, out.stat().st_size, tuple(sorted(entries)))
