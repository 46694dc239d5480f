"""nbgrader's exchange (a JupyterHub course): settings, the collect rules, the hidden-test guard
of released feedback, and the whole round trip between real Unix users (slow, root only):
release -> fetch -> submit -> collect -> grade -> release feedback -> fetch feedback.

The round trip creates an instructor and three students with ``useradd`` and runs every step as
that user, the students through nbgrader's own ``fetch_assignment`` / ``submit`` /
``fetch_feedback`` (what JupyterLab's Assignments tab calls), the instructor through ``cnnkit``.
The venv's interpreter may live under /root and the checkout in a 0700 folder, which other
users cannot reach: each command runs in a private mount namespace where such folders are empty
0755 tmpfs with the way to the interpreter, the venv and the kit bound back
(``as_user_argv`` of tests/adversarial/harness.py).
"""

from __future__ import annotations

import csv
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from adversarial import harness as h
from pipeline.test_gradescope import write_answer

from autograder.cli import main
from autograder.course import exchange, settings
from autograder.course.course import Course

ASSIGNMENT = "01_conv_arithmetic"
NB = "conv_arithmetic"
COURSE_ID = "cnn-hub-test"
TEACHER = "cnnkit-hub-teacher"
STUDENTS = ("cnnkit-hub-ann", "cnnkit-hub-ben", "cnnkit-hub-cat")
VENV_BIN = Path(sys.executable).parent
STAMP = "2026-11-30 10:00:00.000000 UTC"


# --------------------------------------------------------------------------------------------
# Settings and rules (fast)
# --------------------------------------------------------------------------------------------


def test_the_exchange_goes_into_the_courses_nbgrader_config(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(settings.EXCHANGE_ENV, raising=False)
    assert "Exchange" not in settings.settings(tmp_path)
    assert settings.exchange_root() is None
    monkeypatch.setenv(settings.EXCHANGE_ENV, "/srv/nbgrader/exchange")
    assert settings.make_config(tmp_path).Exchange.root == "/srv/nbgrader/exchange"
    assert settings.make_config(tmp_path).Autograde.permissions == 644, \
        "Course.feedback rewrites copies of autograded notebooks: the instructor must own them"
    text = settings.config_file_text(tmp_path, "my-course")
    assert "c.Exchange.root = '/srv/nbgrader/exchange'" in text
    assert "c.CourseDirectory.course_id = 'my-course'" in text
    assert settings.exchange_root({settings.EXCHANGE_ENV: " "}) is None


@pytest.mark.parametrize("bad", ["", "a+b", "a/b", "has space", "-x", "x" * 65])
def test_unusable_course_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a usable course id"):
        settings.check_course_id(bad)
    assert settings.check_course_id("cnn-course.2026_fall") == "cnn-course.2026_fall"


def test_without_an_exchange_collect_says_how_to_configure_one(tmp_path, monkeypatch,
                                                               capsys) -> None:
    monkeypatch.delenv(settings.EXCHANGE_ENV, raising=False)
    assert main(["--course", str(tmp_path), "collect", ASSIGNMENT, "--exchange"]) == 2
    assert "set $CNNKIT_EXCHANGE" in capsys.readouterr().err


def test_collect_also_takes_a_download_and_says_what_to_grade_next(tmp_path, capsys) -> None:
    downloads = tmp_path / "downloads"
    (downloads / "ann").mkdir(parents=True)
    h.write_nb(h.honest(), downloads / "ann" / f"{NB}.ipynb")
    (downloads / "bob.ipynb").symlink_to("/etc/passwd")
    course = tmp_path / "course"
    assert main(["--course", str(course), "collect", ASSIGNMENT, "--submissions",
                 str(downloads)]) == 0
    out = capsys.readouterr().out
    assert "collected 1 submission(s)" in out and "  ann\n" in out
    assert "not collected: bob.ipynb: a symbolic link" in out
    assert f"next: cnnkit grade {ASSIGNMENT} --submissions {downloads}" in out
    assert (course / "submitted" / "ann" / ASSIGNMENT / f"{NB}.ipynb").is_file()


def _entry(inbound: Path, name: str, owner: int = 0) -> Path:
    d = inbound / name
    d.mkdir()
    (d / f"{NB}.ipynb").write_text("{}")
    os.chown(d, owner, owner)
    return d


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to own folders as another user")
@pytest.mark.skipif(not any(p.pw_name == "nobody" for p in pwd.getpwall()),
                    reason="no user called nobody")
def test_only_the_latest_submission_owned_by_the_user_it_names_counts(tmp_path) -> None:
    inbound = tmp_path
    nobody = pwd.getpwnam("nobody")
    _entry(inbound, f"root+{ASSIGNMENT}+2026-11-30 10:00:00.000000 UTC+aaa")
    _entry(inbound, f"root+{ASSIGNMENT}+2026-11-30 11:00:00.000000 UTC+bbb")
    _entry(inbound, "root+02_convolution+2026-11-30 12:00:00.000000 UTC+ccc")
    _entry(inbound, f"nobody+{ASSIGNMENT}+2026-11-30 12:00:00.000000 UTC+ddd")  # made by root
    _entry(inbound, f"nobody+{ASSIGNMENT}+2026-11-30 09:00:00.000000 UTC+eee", nobody.pw_uid)
    _entry(inbound, f"root+{ASSIGNMENT}+not a time+fff")
    (inbound / f"root+{ASSIGNMENT}+2026-11-30 13:00:00.000000 UTC+ggg").symlink_to("/etc")
    latest, skipped = exchange._records(inbound, ASSIGNMENT, check_owner=True)
    assert {s: r.name[-3:] for s, r in latest.items()} == {"root": "bbb", "nobody": "eee"}
    why = {s.entry[-3:]: s.reason for s in skipped}
    assert why == {"ddd": "submitted under the name nobody by the user root",
                   "fff": "the time in its name cannot be read",
                   "ggg": "a symbolic link (links are never followed)"}
    latest, _ = exchange._records(inbound, ASSIGNMENT, check_owner=False)
    assert latest["nobody"].name.endswith("ddd")


def test_a_submission_folder_is_read_without_following_links(tmp_path) -> None:
    d = tmp_path / "sub"
    d.mkdir()
    (d / f"{NB}.ipynb").write_text('{"cells": []}')
    (d / "other.ipynb").symlink_to("/etc/passwd")
    (d / exchange.SECRET).write_text("ab" * 32)
    (d / ".hidden.ipynb").write_text("{}")
    notebooks, secret = exchange._read_submission(d)
    assert notebooks == {f"{NB}.ipynb": b'{"cells": []}'} and secret == "ab" * 32
    (d / exchange.SECRET).write_text("not hex; rm -rf /")
    assert exchange._read_submission(d)[1] is None
    (tmp_path / "link").symlink_to(d)
    with pytest.raises(ValueError, match="cannot be opened"):
        exchange._read_submission(tmp_path / "link")


def test_feedback_quoting_a_hidden_test_is_caught_even_inside_highlighting() -> None:
    hidden = exchange.hidden_test_lines(h.SOURCE_NB)
    assert hidden, "assignment 1 has hidden tests"
    released = "\n".join(c.source for c in h.released(h._source()).cells)
    assert exchange.quoted_hidden_tests(released, hidden) == []
    line = hidden[0]
    mid = len(line) // 2
    page = (f"<pre><span class='n'>{line[:mid]}</span><span>"
            f"{line[mid:].replace('<', '&lt;').replace('>', '&gt;')}</span></pre>")
    assert exchange.quoted_hidden_tests(page, hidden) == [line]


def test_nbgrader_feedback_that_quotes_hidden_tests_is_never_released(tmp_path,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv(settings.EXCHANGE_ENV, str(tmp_path / "exchange"))
    course = Course(tmp_path / "course")
    page = course.feedback_dir / "ann" / ASSIGNMENT / f"{NB}.html"
    page.parent.mkdir(parents=True)
    page.write_text(f"<pre>{exchange.hidden_test_lines(h.SOURCE_NB)[0]}</pre>")
    for name, text in ((exchange.SECRET, "ab" * 32), (exchange.TIMESTAMP, STAMP)):
        (page.parent / name).write_text(text)
    with pytest.raises(exchange.CourseError, match="quotes the hidden tests"):
        exchange.release_feedback(course, ASSIGNMENT, nbgrader=True)
    assert not (tmp_path / "exchange").exists(), "nothing was released"


def test_clean_nbgrader_feedback_goes_out_under_the_name_fetch_feedback_looks_for(
        tmp_path, monkeypatch) -> None:
    from nbgrader.utils import notebook_hash

    monkeypatch.setenv(settings.EXCHANGE_ENV, str(tmp_path / "exchange"))
    (tmp_path / "exchange").mkdir(mode=0o777)
    course = Course(tmp_path / "course")
    for student, secret in (("ann", "ab" * 32), ("ben", None)):
        folder = course.feedback_dir / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / f"{NB}.html").write_text(f"<p>feedback for {student}</p>")
        if secret:
            (folder / exchange.SECRET).write_text(secret)
            (folder / exchange.TIMESTAMP).write_text(STAMP)
    done = exchange.release_feedback(course, ASSIGNMENT, nbgrader=True)
    assert done.students == ["ann"]
    assert [(s.entry, s.reason) for s in done.skipped] == [
        ("ben", "not submitted through the exchange")]
    out = tmp_path / "exchange" / course.course_id / "feedback"
    released = out / f"{notebook_hash(secret='ab' * 32, notebook_id=NB)}.html"
    assert [p.name for p in out.iterdir()] == [released.name]
    assert released.read_text() == "<p>feedback for ann</p>"


# --------------------------------------------------------------------------------------------
# The round trip between real users (slow)
# --------------------------------------------------------------------------------------------


def student_config(user: pwd.struct_passwd, exchange_root: Path, course_id: str) -> None:
    """What a hub administrator gives each student: ~/.jupyter/nbgrader_config.py naming the
    exchange and the course."""
    cfg = Path(user.pw_dir) / ".jupyter"
    cfg.mkdir()
    (cfg / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(exchange_root)!r}\n"
        f"c.CourseDirectory.course_id = {course_id!r}\n")
    for p in (cfg, cfg / "nbgrader_config.py"):
        os.chown(p, user.pw_uid, user.pw_gid)


def fresh_user(name: str) -> pwd.struct_passwd:
    """``name`` with an empty home of mode 0700 (created by useradd when missing)."""
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/sh", name], check=True,
                       capture_output=True)
        pw = pwd.getpwnam(name)
    home = Path(pw.pw_dir)
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(mode=0o700)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    return pw


class Hub:
    """Runs commands as the hub's users, timing each step."""

    def __init__(self, base: Path, exchange_root: Path, teacher: str = TEACHER,
                 course_id: str = COURSE_ID) -> None:
        self.stage = base / "stage"
        self.stage.mkdir()
        self.exchange = exchange_root
        self.teacher_name, self.course_id = teacher, course_id
        self.times: dict[str, float] = {}

    def argv(self, user: str, cmd: Sequence[str], env: dict[str, str] | None = None
             ) -> list[str]:
        """``cmd`` as ``user``, with a clean environment, the venv reachable."""
        pw = pwd.getpwnam(user)
        full_env = {"PATH": f"{VENV_BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": pw.pw_dir,
                    "USER": user, "LOGNAME": user, "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                    "PYTHONPATH": str(h.REPO), "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        return h.as_user_argv(self.stage, user, full_env, cmd)

    def run(self, user: str, cmd: Sequence[str], step: str = "",
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        start = time.monotonic()
        proc = subprocess.run(self.argv(user, cmd, env), cwd=pwd.getpwnam(user).pw_dir,
                              capture_output=True, text=True, timeout=600)
        if step:
            self.times[step] = self.times.get(step, 0.0) + time.monotonic() - start
        return proc

    def teacher(self, *args: str, step: str) -> subprocess.CompletedProcess:
        course = Path(pwd.getpwnam(self.teacher_name).pw_dir) / "course"
        proc = self.run(self.teacher_name, [sys.executable, "-m", "autograder.cli", *args], step,
                        {"CNNKIT_COURSE": str(course), "CNNKIT_EXCHANGE": str(self.exchange),
                         "CNNKIT_COURSE_ID": self.course_id})
        assert proc.returncode == 0, f"cnnkit {args}: {proc.stdout[-1500:]}{proc.stderr[-1500:]}"
        return proc

    def nbgrader(self, student: str, *args: str, step: str) -> subprocess.CompletedProcess:
        proc = self.run(student, [str(VENV_BIN / "nbgrader"), *args], step)
        assert proc.returncode == 0, f"{student}: nbgrader {args}: {proc.stderr[-1500:]}"
        return proc


def _answer(kind: str, path: Path, owner: pwd.struct_passwd) -> None:
    """What the student saved in JupyterLab."""
    write_answer(kind, path)
    os.chown(path, owner.pw_uid, owner.pw_gid)


def _round_trip(base: Path) -> dict:
    """Release, fetch, submit (one forgery), collect, grade, release and fetch feedback."""
    if os.geteuid() != 0:
        pytest.skip("the exchange round trip creates Unix users (useradd) and runs commands as "
                    "them: run it as root")
    for tool in ("useradd", "unshare", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs {tool}")
    users = {name: fresh_user(name) for name in (TEACHER, *STUDENTS)}
    root = base / "exchange"
    root.mkdir()
    root.chmod(0o777)  # what an administrator does once: nbgrader's exchange is world-writable
    hb = Hub(base, root)
    ann, ben, cat = STUDENTS
    for s in STUDENTS:
        student_config(users[s], root, COURSE_ID)
    out: dict = {"users": users, "exchange": root, "hub": hb}
    start = time.monotonic()
    out["release"] = hb.teacher("release", ASSIGNMENT, step="release")
    for s in STUDENTS:
        hb.nbgrader(s, "fetch_assignment", ASSIGNMENT, step="fetch")
    for s, kind in ((ann, "correct"), (ben, "partial")):
        _answer(kind, Path(users[s].pw_dir) / ASSIGNMENT / f"{NB}.ipynb", users[s])
        hb.nbgrader(s, "submit", ASSIGNMENT, step="submit")
    # cat first submits her (empty) copy under ann's name, then her own broken notebook
    out["forged"] = hb.nbgrader(cat, "submit", ASSIGNMENT, "--student", ann, step="submit")
    _answer("broken", Path(users[cat].pw_dir) / ASSIGNMENT / f"{NB}.ipynb", users[cat])
    hb.nbgrader(cat, "submit", ASSIGNMENT, step="submit")
    out["collect"] = hb.teacher("collect", ASSIGNMENT, "--exchange", step="collect")
    course = Path(users[TEACHER].pw_dir) / "course"
    out["grade"] = hb.teacher("grade", ASSIGNMENT, "--submissions",
                              str(course / "collected" / ASSIGNMENT), "--jobs", "2", "--quiet",
                              step="grade")
    out["release_feedback"] = hb.teacher("release-feedback", ASSIGNMENT,
                                         step="release feedback")
    for s in STUDENTS:
        hb.nbgrader(s, "fetch_feedback", ASSIGNMENT, step="fetch feedback")
    out["total"] = time.monotonic() - start
    out["course"] = course
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in hb.times.items())
    print(f"\nexchange round trip, 3 students: {out['total']:.1f} s ({steps})")
    return out


@pytest.mark.slow
def test_the_round_trip_between_real_users() -> None:
    """One test (not a module fixture): it creates fixed Unix users, so no two workers may
    run parts of it at once."""
    base = Path(tempfile.mkdtemp(prefix="cnnkit-hub-"))
    base.chmod(0o755)  # reachable by every user (pytest's own folders are not)
    try:
        hub = _round_trip(base)
        _check_the_round_trip(hub)
        _check_nobody_reads_another_students_files(hub)
        _check_nbgrader_list_sees_the_course(hub)
        _check_nbgraders_own_feedback_goes_out_stripped(hub)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _check_the_round_trip(hub: dict) -> None:
    users = hub["users"]
    ann, ben, cat = STUDENTS
    outbound = hub["exchange"] / COURSE_ID / "outbound" / ASSIGNMENT / f"{NB}.ipynb"
    assert "released to the exchange" in hub["release"].stdout
    assert "BEGIN SOLUTION" not in outbound.read_text() and outbound.stat().st_mode & 0o004
    for s in STUDENTS:
        fetched = Path(users[s].pw_dir) / ASSIGNMENT / f"{NB}.ipynb"
        assert fetched.stat().st_uid == users[s].pw_uid
    # collect: three students, the forgery named and refused
    collect = hub["collect"].stdout
    assert "collected 3 submission(s)" in collect, collect
    assert f"submitted under the name {ann} by the user {cat}" in collect, collect
    # grades as cnnkit grade gives them
    rows = {r["student"]: r for r in csv.DictReader(
        (hub["course"] / "graded" / ASSIGNMENT / "grades.csv").open())}
    assert set(rows) == set(STUDENTS)
    assert float(rows[ann]["total"]) == h.FULL_MARKS, "the forgery did not replace ann's work"
    assert 0 < float(rows[ben]["total"]) < h.FULL_MARKS
    assert float(rows[cat]["total"]) == 0
    assert "released cnnkit grade's feedback pages on 01_conv_arithmetic to 3 student(s)" in \
        hub["release_feedback"].stdout
    # each student fetched their own page, naming them, with their score, without hidden tests
    hidden = exchange.hidden_test_lines(h.SOURCE_NB)
    for s in STUDENTS:
        pages = list((Path(users[s].pw_dir) / ASSIGNMENT / "feedback").glob(f"*/{NB}.html"))
        assert len(pages) == 1, (s, pages)
        page = pages[0].read_text()
        assert f"Student: <b>{s}</b>" in page
        assert f"<b>{float(rows[s]['total']):g} / {h.FULL_MARKS:g}</b>" in page
        assert exchange.quoted_hidden_tests(page, hidden) == []
        assert pages[0].stat().st_uid == users[s].pw_uid


def _check_nobody_reads_another_students_files(hub: dict) -> None:
    users, hb = hub["users"], hub["hub"]
    ann, ben, _cat = STUDENTS
    ann_page = next((Path(users[ann].pw_dir) / ASSIGNMENT / "feedback").glob(f"*/{NB}.html"))
    course_dir = hub["exchange"] / COURSE_ID
    for target in (course_dir / "feedback", course_dir / "inbound"):
        proc = hb.run(ben, ["ls", str(target)])
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, target
    for target in (ann_page, hub["course"] / ".cnnkit_secret_seed",
                   hub["course"] / "gradebook.db",
                   Path(users[ann].pw_dir) / ".local/share/jupyter/nbgrader_cache"):
        proc = hb.run(ben, ["cat", str(target)])
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, target
    # what ben fetches is his page only, however often he asks
    hb.nbgrader(ben, "fetch_feedback", ASSIGNMENT, step="")
    pages = list((Path(users[ben].pw_dir) / ASSIGNMENT / "feedback").rglob("*.html"))
    assert len(pages) == 1 and ann not in pages[0].read_text()


def _check_nbgrader_list_sees_the_course(hub: dict) -> None:
    """JupyterLab's Assignments tab lists through ``nbgrader list``: it must see the course."""
    hb = hub["hub"]
    ann = STUDENTS[0]
    proc = hb.nbgrader(ann, "list", "--cached", step="")
    assert f"{COURSE_ID} {ann} {ASSIGNMENT}" in proc.stderr + proc.stdout
    proc = hb.nbgrader(ann, "list", step="")
    assert f"{COURSE_ID} {ASSIGNMENT}" in proc.stderr + proc.stdout



def _check_nbgraders_own_feedback_goes_out_stripped(hub: dict) -> None:
    """``--nbgrader``: nbgrader's feedback (autograde --feedback) goes out, hidden tests removed."""
    hb, users, ann = hub["hub"], hub["users"], STUDENTS[0]
    collected = str(hub["course"] / "collected" / ASSIGNMENT)
    start = time.monotonic()
    hb.teacher("autograde", ASSIGNMENT, "--submissions", collected, "--feedback", step="")
    out = hb.teacher("release-feedback", ASSIGNMENT, "--nbgrader", step="").stdout
    hb.nbgrader(ann, "fetch_feedback", ASSIGNMENT, step="")
    print(f"nbgrader's feedback (autograde, release, one fetch): {time.monotonic() - start:.1f} s")
    assert "released nbgrader's feedback (hidden tests removed)" in out, out
    [page] = (Path(users[ann].pw_dir) / ASSIGNMENT / "feedback").glob(f"*/{NB}.html")
    text = page.read_text()
    assert "hidden tests ran in this cell" in text, "nbgrader's page, with the stub"
    assert exchange.quoted_hidden_tests(text, exchange.hidden_test_lines(h.SOURCE_NB)) == []
