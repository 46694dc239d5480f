"""The deployment files (Dockerfile, binder/, docs/DEPLOY.md, the README's "Running a course")
stay in step with the environment and the CLI. No Docker or repo2docker here: what can be
checked without them is."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _yaml_items(path: Path) -> list[str]:
    """The ``- item`` lines of an environment file (comments dropped), in order."""
    return [m.group(1) for line in path.read_text().splitlines()
            if (m := re.match(r"^\s*-\s+([^#\s][^#]*?)\s*$", line))]


def test_the_dockerfile_and_binder_install_the_same_dependency_file() -> None:
    assert re.search(r"^COPY .*\benvironment\.yml\b", DOCKERFILE, re.M)
    assert "env update --name base --file environment.yml" in DOCKERFILE
    root_env, binder_env = (_yaml_items(ROOT / p) for p in ("environment.yml",
                                                             "binder/environment.yml"))
    assert "--editable ." in root_env, "the kit is installed by environment.yml's pip section"
    assert binder_env == [i for i in root_env if i != "--editable ."]
    postbuild = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps --editable ." in postbuild, "binder installs the kit itself"
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "environment.yml").read_text().splitlines()]
    assert [ln for ln in lines if ln.startswith(("name:", "channels:"))] == [
        ln.split("#")[0].strip() for ln in (ROOT / "binder/environment.yml").read_text()
        .splitlines() if ln.startswith(("name:", "channels:"))]


def test_binder_postbuild_is_valid_executable_bash() -> None:
    path = ROOT / "binder" / "postBuild"
    proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert path.read_text().startswith("#!/usr/bin/env bash\n") and os.access(path, os.X_OK)
    assert "set -euo pipefail" in path.read_text()
    assert "python -m cnnlib.workspace notebooks work" in path.read_text(), "as make lab does"


def test_every_way_of_opening_the_course_gets_the_same_jupyterlab_defaults() -> None:
    """binder/overrides.json: settings that JupyterLab's own schema knows, installed where
    JupyterLab reads them by make (the venv), Binder and the Docker image."""
    import json

    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
    schemas = Path(sys.prefix) / "share" / "jupyter" / "lab" / "schemas"
    for plugin, settings in overrides.items():
        package, _, name = plugin.partition(":")
        schema = json.loads((schemas / package / f"{name}.json").read_text())
        assert set(settings) <= set(schema["properties"]), (plugin, sorted(settings))
    target = "share/jupyter/lab/settings/overrides.json"
    makefile = (ROOT / "Makefile").read_text()
    assert f"LAB_SETTINGS  := $(VENV)/{target}" in makefile
    assert re.search(r"^setup: .*\$\(LAB_SETTINGS\)", makefile, re.M)
    assert "\tcp binder/overrides.json $@" in makefile
    assert f'cp binder/overrides.json "${{NB_PYTHON_PREFIX:-$CONDA_PREFIX}}/{target}"' in \
        (ROOT / "binder" / "postBuild").read_text()
    assert re.search(rf"^COPY .*binder/overrides\.json /opt/conda/{target}$", DOCKERFILE, re.M)
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():  # made by make setup
        assert json.loads((Path(sys.prefix) / target).read_text()) == overrides


def test_the_image_has_bubblewrap_a_cpu_torch_and_no_course_folder() -> None:
    assert "bubblewrap" in (ROOT / "binder" / "apt.txt").read_text().split()
    assert re.search(r"apt-get install .*--no-install-recommends bubblewrap", DOCKERFILE)
    assert 'CONDA_OVERRIDE_CUDA=""' in DOCKERFILE and "assert not torch.version.cuda" in DOCKERFILE
    froms = re.findall(r"^FROM (\S+)", DOCKERFILE, re.M)
    assert froms and all(":" in f and not f.endswith(":latest") for f in froms), froms
    copied = [w for line in re.findall(r"^COPY (.*)$", DOCKERFILE, re.M)
              for w in shlex.split(line) if not w.startswith("--")]
    assert "." not in copied[:-1] and "course" not in copied, "never the course folder"
    assert all((ROOT / w).exists() for line in re.findall(r"^COPY (.*)$", DOCKERFILE, re.M)
               for w in shlex.split(line)[1:-1]), "every copied path exists"


@pytest.mark.parametrize("extension", ["@jupyter/nbgrader:formgrader",
                                       "@jupyter/nbgrader:create-assignment"])
def test_students_images_have_no_formgrader(extension: str) -> None:
    assert f"labextension disable --level=sys_prefix {extension}" in DOCKERFILE
    labext = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "@jupyter" / "nbgrader"
    if not labext.is_dir():
        pytest.skip("nbgrader's lab extension is not installed here")
    assert any(extension.encode() in p.read_bytes() for p in labext.rglob("*.js")), \
        f"nbgrader has no plugin called {extension}: the Dockerfile disables nothing"


def _cnnkit_commands(text: str) -> list[list[str]]:
    """Every ``cnnkit ...`` command of the indented code lines (env assignments dropped)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("    "):
            continue
        line = line.split("#", 1)[0].strip()
        words = shlex.split(line) if "cnnkit " in line else []
        while words and re.match(r"^[A-Z_]+=", words[0]):
            words.pop(0)
        if words[:1] == ["cnnkit"]:
            out.append(words[1:])
    return out


def test_every_cnnkit_command_in_the_docs_parses() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running a course", 1)[1].split("\n## ", 1)[0]
    commands = _cnnkit_commands((ROOT / "docs" / "DEPLOY.md").read_text()) + \
        _cnnkit_commands(section)
    used = {c[0] for c in commands}
    assert {"grade", "release", "collect", "release-feedback", "gradescope"} <= used, used
    parser = build_parser()
    for words in commands:
        words = [w.replace("~", "/home/x") for w in words]
        if "A" in words:  # the docs' placeholder for an assignment id
            words = ["01_conv_arithmetic" if w == "A" else w for w in words]
        args = parser.parse_args(words)
        assert args.func is not None, words


def test_the_running_a_course_section_follows_for_instructors() -> None:
    heads = re.findall(r"^## (.+)$", (ROOT / "README.md").read_text(), re.M)
    assert heads.index("Running a course") == heads.index("For instructors") + 1
