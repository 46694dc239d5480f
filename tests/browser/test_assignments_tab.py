"""A hub student's side of the course in a real JupyterLab, in a real (headless) Chromium.

The student clicks through nbgrader's Assignments tab (the JupyterLab extension a JupyterHub
course gives students): Fetch the assignment that ``cnnkit release`` put in the exchange, Submit
their work, and after the instructor's ``cnnkit collect --exchange``, ``grade`` and
``release-feedback``, Fetch Feedback, which must be cnnkit's page for them, without hidden tests.

Real Unix users (an instructor and a student, created by the test) and a real exchange folder,
as in tests/course/test_exchange.py; JupyterLab runs as the student, the instructor's commands
run as the instructor. Root only (useradd); needs Chromium and Playwright like the other browser
tests.
"""

from __future__ import annotations

import csv
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from adversarial import harness as h
from browser.test_jupyterlab import (
    CHROMIUM_ARGS,
    ensure_chromium,
    free_port,
    jupyter_executable,
    wait_for_server,
)
from course.test_exchange import ASSIGNMENT, NB, Hub, _answer, fresh_user, student_config

from autograder.course import exchange

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Users and course of their own: tests/course/test_exchange.py may run at the same time.
TEACHER = "cnnkit-lab-teacher"
STUDENT = "cnnkit-lab-dan"
COURSE_ID = "cnn-lab-test"


def _start_lab(hb: Hub, user: pwd.struct_passwd, log: Path) -> tuple[subprocess.Popen, str]:
    """JupyterLab as ``user`` on their home folder, as a hub's single-user server runs it.
    Returns the server and its base URL with the token."""
    token, port = secrets.token_hex(16), free_port()
    cmd = [str(jupyter_executable()), "lab", "--no-browser", f"--ServerApp.token={token}",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.root_dir={user.pw_dir}"]
    with open(log, "w") as out:
        proc = subprocess.Popen(hb.argv(user.pw_name, cmd, {"OMP_NUM_THREADS": "1"}),
                                cwd=user.pw_dir, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_for_server(f"{base}/api/status?token={token}", proc, log)
    return proc, f"{base}/lab?reset&token={token}"


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=20)
            return
        except ProcessLookupError:
            return
        except subprocess.TimeoutExpired:
            continue


def _row(page, listing: str):
    """The one row of the Assignments tab's ``listing`` (released, fetched, submitted) naming
    the assignment, once the listing has loaded."""
    row = page.locator(f"#{listing}_assignments_list > .list_item").filter(has_text=ASSIGNMENT)
    row.first.wait_for()
    return row.first


def _wait_for_file(pattern: str, folder: Path, timeout: float = 60) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"nothing matching {pattern} under {folder} after {timeout:.0f} s")


def test_a_student_fetches_submits_and_reads_feedback_in_the_assignments_tab(
        tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("creates Unix users (useradd) and runs JupyterLab as one: run it as root")
    for tool in ("useradd", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    chromium = ensure_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    base = Path(tempfile.mkdtemp(prefix="cnnkit-lab-hub-"))
    base.chmod(0o755)
    root = base / "exchange"
    root.mkdir()
    root.chmod(0o777)
    teacher, student = fresh_user(TEACHER), fresh_user(STUDENT)
    student_config(student, root, COURSE_ID)
    hb = Hub(base, root, teacher=TEACHER, course_id=COURSE_ID)
    home = Path(student.pw_dir)
    shot = Path(os.environ.get("CNNKIT_SCREENSHOT_DIR", tmp_path)) / "assignments-tab.png"
    lab = None
    start = time.monotonic()
    try:
        hb.teacher("release", ASSIGNMENT, step="release")
        lab, url = _start_lab(hb, student, tmp_path / "jupyter.log")
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=str(chromium),
                args=CHROMIUM_ARGS, headless=True, viewport={"width": 1400, "height": 1000})
            page = browser.pages[0] if browser.pages else browser.new_page()
            try:
                page.set_default_timeout(120_000)
                page.goto(url)
                page.locator("#jp-menu-panel div.lm-MenuBar-itemLabel",
                             has_text="Nbgrader").click()
                page.locator('#jp-mainmenu-nbgrader li[data-command='
                             '"nbgrader:open-assignment-list"]').click()

                released = _row(page, "released")
                assert COURSE_ID in released.inner_text()
                released.locator(".item_status button", has_text="Fetch").click()
                fetched = _row(page, "fetched")
                notebook = home / ASSIGNMENT / f"{NB}.ipynb"
                assert notebook.stat().st_uid == student.pw_uid
                assert "BEGIN SOLUTION" not in notebook.read_text()
                _answer("correct", notebook, student)  # the work the student saved
                fetched.locator(".item_status button", has_text="Submit").click()
                _row(page, "submitted")

                hb.teacher("collect", ASSIGNMENT, "--exchange", step="collect")
                course = Path(teacher.pw_dir) / "course"
                hb.teacher("grade", ASSIGNMENT, "--submissions",
                           str(course / "collected" / ASSIGNMENT), "--quiet", step="grade")
                rows = list(csv.DictReader(
                    (course / "graded" / ASSIGNMENT / "grades.csv").open()))
                assert [(r["student"], float(r["total"])) for r in rows] == [
                    (STUDENT, h.FULL_MARKS)]
                hb.teacher("release-feedback", ASSIGNMENT, step="release feedback")

                page.locator("#refresh_assignments_list").click()
                _row(page, "submitted").locator("button", has_text="Fetch Feedback").click()
                feedback = _wait_for_file(f"{ASSIGNMENT}/feedback/*/{NB}.html", home)
            finally:
                page.screenshot(path=str(shot))  # look at it when this test fails
                browser.close()
        print(f"\nAssignments tab round trip (release to fetched feedback): "
              f"{time.monotonic() - start:.1f} s")
        text = feedback.read_text()
        assert feedback.stat().st_uid == student.pw_uid
        assert f"Student: <b>{STUDENT}</b>" in text
        assert f"<b>{h.FULL_MARKS:g} / {h.FULL_MARKS:g}</b>" in text
        assert exchange.quoted_hidden_tests(text, exchange.hidden_test_lines(h.SOURCE_NB)) == []
    finally:
        if lab is not None:
            _stop(lab)
        shutil.rmtree(base, ignore_errors=True)
