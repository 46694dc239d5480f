"""The two ways to install (pip/Makefile and conda) and the README's commands stay in step."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda-forge name, where they differ


def _split(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, f"cannot parse requirement {req!r}"
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"]) + list(
        data["project"]["optional-dependencies"]["dev"]
    )
    return dict(_split(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    """Conda and pip entries of environment.yml (a tiny YAML subset: `- item` lines)."""
    out: dict[str, str] = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"^\s*-\s+([^#\s][^#]*?)\s*$", line)
        if not m or m.group(1).endswith(":") or m.group(1).startswith("--"):
            continue
        name, spec = _split(m.group(1))
        if name in ("python", "pip", "conda-forge"):
            continue
        out[name] = spec
    return out


def test_environment_yml_matches_pyproject() -> None:
    pip_reqs = {CONDA_NAMES.get(k, k): v for k, v in pyproject_requirements().items()}
    assert environment_requirements() == pip_reqs


def test_environment_yml_parser_sees_every_entry() -> None:
    env = environment_requirements()
    assert env["pytorch"] == ">=2.2" and env["mnist1d"] == ">=0.0.2"
    assert "python" not in env


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\s*(make \w+)\s*$", quick, flags=re.M)


def test_readme_quick_start_has_the_two_commands() -> None:
    assert readme_commands()[:2] == ["make lab", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = [
        ln.strip()
        for ln in (ROOT / ".ci" / "run").read_text().splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert readme_commands()[1] in ci


@pytest.mark.parametrize("target", ["lab", "instructor", "test", "setup"])
def test_makefile_targets_create_the_venv_first(target: str) -> None:
    mk = (ROOT / "Makefile").read_text()
    m = re.search(rf"^{target}:(.*)$", mk, flags=re.M)
    assert m, f"Makefile has no {target!r} target"
    assert target == "setup" or "setup" in m.group(1).split()


def test_cpu_only_linux_does_not_pull_cuda_torch() -> None:
    mk = (ROOT / "Makefile").read_text()
    assert "download.pytorch.org/whl/cpu" in mk and "nvidia-smi" in mk


def test_ruff_finds_nothing() -> None:
    """The lint configured in pyproject.toml (code and notebooks) stays clean."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the dev extras)")
    proc = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
