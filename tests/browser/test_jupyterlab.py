"""The course opens in a real JupyterLab, in a real (headless) Chromium, and its first cells run.

Starts JupyterLab the way ``make lab`` does (``.venv/bin/jupyter lab`` on the notebooks folder),
opens notebook 1, runs its first cells with Shift+Enter and reads the rendered output.

The server serves a *copy* of ``notebooks/`` in a temporary folder: JupyterLab autosaves open
notebooks, and the repository's notebooks must stay stored without outputs.

Needs Chromium at /usr/bin/chromium (installed with apt-get when missing and running as root);
skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
NB1 = Path("01_conv_arithmetic/conv_arithmetic.ipynb")
FIXTURE = ROOT / "tests" / "fixtures" / "00_fixture"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def ensure_chromium() -> Path:
    """Path of Chromium; installs the Debian package when missing (root + apt-get only)."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"{CHROMIUM} is missing and apt-get cannot install it here (not root)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if res.returncode != 0:
            tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
            pytest.skip(f"could not install chromium ({' '.join(cmd)}: {tail[0]})")
    if not CHROMIUM.exists():
        pytest.skip(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_executable() -> Path:
    exe = Path(sys.executable).parent / "jupyter"
    if not exe.exists():
        pytest.skip(f"no jupyter next to {sys.executable}")
    return exe


def wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter lab exited early:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    tail = log.read_text()[-2000:]
    raise AssertionError(f"jupyter lab did not answer within {timeout} s:\n{tail}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    """A running JupyterLab on a copy of notebooks/: yields (base_url, token, root_dir).

    The fixture notebook is added as ``00_fixture/`` so the browser machinery is tested even
    before (or when) notebook 1 cannot run.
    """
    tmp_path = tmp_path_factory.mktemp("lab")
    root_dir = tmp_path / "notebooks"
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    shutil.copytree(ROOT / "notebooks", root_dir, ignore=ignore)
    shutil.copytree(FIXTURE, root_dir / "00_fixture", ignore=ignore)
    token, port = secrets.token_hex(16), free_port()
    env = {
        **os.environ,
        # fresh settings and workspaces: nothing of a user's JupyterLab state leaks in
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "OMP_NUM_THREADS": "1",
    }
    # no autosave: a test that leaves an edit unsaved must find it still unsaved
    docmanager = (tmp_path / "jupyter_config" / "lab" / "user-settings" / "@jupyterlab" /
                  "docmanager-extension" / "plugin.jupyterlab-settings")
    docmanager.parent.mkdir(parents=True)
    docmanager.write_text('{"autosave": false}')
    log = tmp_path / "jupyter.log"
    cmd = [
        str(jupyter_executable()), "lab", "--no-browser",
        f"--ServerApp.token={token}", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.root_dir={root_dir}",
    ]
    if os.geteuid() == 0:  # containers and CI often run as root; Jupyter refuses without this
        cmd.append("--allow-root")
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(f"{base}/api/status?token={token}", proc, log)
        yield base, token, root_dir
    finally:
        # the server and its kernels share one process group: end them all
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


@contextlib.contextmanager
def notebook_page(lab, notebook: Path, shot: Path) -> Iterator[Any]:
    """Chromium on ``notebook`` in the running JupyterLab, its kernel idle, the first cell
    selected in command mode; yields ``(page, notebook panel)``."""
    chromium = ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    base, token, _ = lab
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(shot.parent / f"chromium-profile-{shot.stem}"),
            executable_path=str(chromium),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        page = browser.pages[0] if browser.pages else browser.new_page()
        try:
            page.set_default_timeout(120_000)
            page.goto(f"{base}/lab/tree/{notebook.as_posix()}?reset&token={token}")
            panel = page.locator(".jp-NotebookPanel:visible")  # the tab in front
            panel.locator(".jp-Cell").first.wait_for()
            # the kernel has started and is idle before we run anything (keys sent earlier are
            # lost: JupyterLab does not queue executions for a kernel that is not yet connected)
            page.locator(".jp-StatusBar-Widget").filter(has_text="| Idle").first.wait_for(
                timeout=180_000)
            panel.locator(".jp-Cell").first.click()
            page.keyboard.press("Escape")  # command mode: Shift+Enter runs and moves on
            yield page, panel
        finally:
            page.screenshot(path=str(shot))  # look at it when this test fails
            browser.close()


def run_first_cells(lab, notebook: Path, presses: int, expected: list[str], shot: Path) -> str:
    """Open ``notebook`` in JupyterLab, press Shift+Enter ``presses`` times from the top, wait
    for every ``expected`` text in the outputs; returns all rendered output text."""
    with notebook_page(lab, notebook, shot) as (page, panel):
        for _ in range(presses):
            page.keyboard.press("Shift+Enter")
        outputs = panel.locator(".jp-OutputArea-output")
        for text in expected:
            _wait_for_output(panel, text, notebook)
        return "\n".join(outputs.all_inner_texts())


def _wait_for_output(panel, text: str, notebook: Path, timeout_ms: int = 120_000) -> None:
    """Until an output shows ``text``; fails at once when a cell raised instead (JupyterLab
    stops running queued cells after an error)."""
    error = panel.locator(".jp-OutputArea-output[data-mime-type*='stderr']")
    panel.locator(".jp-OutputArea-output").filter(has_text=text).first.or_(
        error.first).wait_for(timeout=timeout_ms)
    if error.count():
        raise AssertionError(f"a cell of {notebook} raised:\n{error.first.inner_text()}")


def _shot(tmp_path: Path, name: str) -> Path:
    return Path(os.environ.get("CNNKIT_SCREENSHOT_DIR", tmp_path)) / name


def test_fixture_notebook_runs_in_jupyterlab(lab, tmp_path: Path) -> None:
    expected = ["fixture ready: math.pi = 3.1416"]
    rendered = run_first_cells(lab, Path("00_fixture/fixture.ipynb"), 2, expected,
                               _shot(tmp_path, "jupyterlab-fixture.png"))
    assert expected[0] in rendered
    assert "Traceback" not in rendered and "Error" not in rendered, rendered[-1500:]


def test_notebook1_first_cells_run_in_jupyterlab(lab, tmp_path: Path) -> None:
    if not (lab[2] / NB1).exists():
        pytest.skip(f"notebooks/{NB1} does not exist yet")
    # markdown, imports (prints the title and the device), markdown, the "stretched image" cell
    expected = ["Notebook 1: convolution arithmetic", "stretched image: 3072 numbers",
                "FC weight matrix W: (10, 3072)"]
    rendered = run_first_cells(lab, NB1, 4, expected, _shot(tmp_path, "jupyterlab-nb1.png"))
    for text in expected:
        assert text in rendered
    assert "Traceback" not in rendered and "Error" not in rendered, rendered[-1500:]


def test_the_self_check_from_a_cell_says_when_unsaved_edits_were_not_checked(
        lab, tmp_path: Path) -> None:
    """A student breaks a solution in the browser and runs it without saving: ``check()`` in a
    new cell grades the saved notebook and says so; after Ctrl+S the same call grades the edit."""
    if not (lab[2] / NB1).exists():
        pytest.skip(f"notebooks/{NB1} does not exist yet")
    source = nbformat.read(lab[2] / NB1, as_version=4)
    [index] = [i for i, c in enumerate(source.cells)
               if c.metadata.get("nbgrader", {}).get("grade_id") == "conv_output_size_impl"]
    warning = ("cell conv_output_size_impl: what you ran differs from the saved notebook; the "
               "saved version was checked")
    with notebook_page(lab, NB1, _shot(tmp_path, "jupyterlab-selfcheck.png")) as (page, panel):
        cell = panel.locator(".jp-Cell").nth(index)
        cell.locator(".cm-content").click()
        page.keyboard.press("Control+a")
        page.keyboard.type("def conv_output_size(n, f, stride=1, pad=0): return -1")
        page.keyboard.press("Shift+Enter")  # run it, not saved
        page.keyboard.press("Escape")
        page.keyboard.press("b")  # a new cell below, where the student calls the self-check
        page.keyboard.press("Enter")
        page.keyboard.type("from autograder.selfcheck import check; check()")
        page.keyboard.press("Shift+Enter")
        _wait_for_output(panel, "Total:", NB1)
        first = panel.locator(".jp-OutputArea-output").filter(has_text="Self-check of").first
        text = first.inner_text()
        assert warning in text, text
        max_points = float(re.search(r"Total: \S+ / (\S+) points", text).group(1))
        assert f"Total: {max_points:g} / {max_points:g} points" in text, text

        page.keyboard.press("Control+s")
        check_cell = panel.locator(".jp-CodeCell").filter(
            has=page.locator(".cm-content", has_text="import check; check()"))
        check_cell.locator(".cm-content").click()
        page.keyboard.press("Shift+Enter")  # the same check() again, now on the saved edit
        page.locator(".jp-OutputArea-output", has_text="Self-check of").filter(
            has_not_text=warning).first.wait_for()
        text = panel.locator(".jp-OutputArea-output").filter(has_text="Self-check of").first \
            .inner_text()
        # binder/overrides.json, installed by make setup: JupyterLab asks nobody about its news
        assert page.get_by_text("Jupyter news").count() == 0
    saved = nbformat.read(lab[2] / NB1, as_version=4).cells[index].source
    assert saved.endswith("return -1"), saved
    assert warning not in text and "FAIL" in text, text
    got = float(re.search(r"Total: (\S+) /", text).group(1))
    assert got < max_points, text
