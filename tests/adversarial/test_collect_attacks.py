"""Collect, attacked by a student who has read autograder/ (issue 10, "Collect").

One test per break: each builds the download an instructor would get with the attack in it and
asserts exactly who is found with which file, and what is skipped with which reason. Before the
rewrite, ids came from the innermost folder, the newest file won, links were followed and one
bad entry stopped collect for everybody.
"""

from __future__ import annotations

import os
import stat
import threading
import zipfile
from pathlib import Path

import pytest

from autograder.course.discover import (
    MAX_NOTEBOOK_BYTES,
    Discovered,
    Reason,
    discover,
    extract_zip,
    read_submission_bytes,
)

NB, A = ["conv_arithmetic"], "01_conv_arithmetic"
FILE = "conv_arithmetic.ipynb"
HONEST = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def put(path: Path, data: bytes = HONEST) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def outcome(d: Discovered, root: Path) -> tuple[dict, list[tuple[str, Reason]]]:
    """(who -> {notebook: file under root}, [(skipped entry, Reason)])."""
    who = {s: {nb: p.relative_to(root).as_posix() for nb, p in f.items()}
           for s, f in d.submissions.items()}
    return who, [(s.entry, next(r for r in Reason if s.reason.startswith(r))) for s in d.skipped]


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """Two honest students, alice and bob."""
    put(tmp_path / "alice" / FILE, HONEST + b" ")
    put(tmp_path / "bob" / FILE)
    return tmp_path


HONEST_FOUND = {"alice": {"conv_arithmetic": f"alice/{FILE}"},
                "bob": {"conv_arithmetic": f"bob/{FILE}"}}


def test_symlink_to_a_classmates_notebook_is_refused(course: Path) -> None:
    (course / "mallory").mkdir()
    (course / "mallory" / FILE).symlink_to(course / "alice" / FILE)
    (course / "trudy").symlink_to(course / "bob")  # a whole folder
    (course / "eve.ipynb").symlink_to(course / "alice" / FILE)
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        ("eve.ipynb", Reason.SYMLINK),
        (f"mallory/{FILE}", Reason.SYMLINK), ("mallory", Reason.NO_NOTEBOOK),
        ("trudy", Reason.SYMLINK)])


def test_symlink_to_the_reference_solution_via_proc_self_cwd_is_refused(course: Path) -> None:
    target = f"/proc/self/cwd/notebooks/{A}/{FILE}"
    (course / "mallory").mkdir()
    (course / "mallory" / FILE).symlink_to(target)
    (course / "mallory" / "sub").symlink_to(f"/proc/self/cwd/notebooks/{A}")
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        (f"mallory/{FILE}", Reason.SYMLINK), ("mallory/sub", Reason.SYMLINK),
        ("mallory", Reason.NO_NOTEBOOK)])


def test_a_file_in_s2_named_like_s1_never_replaces_s1(tmp_path: Path) -> None:
    s1 = put(tmp_path / "s1" / FILE)
    os.utime(s1, (0, 0))  # s1 submitted long ago; the planted file is newer
    put(tmp_path / "s2" / FILE, HONEST + b"  ")
    put(tmp_path / "s2" / "s1" / FILE, b"{}")
    put(tmp_path / "s2" / "s1" / A / FILE, b"{}")
    put(tmp_path / "s3" / "s4" / FILE, b"{}")  # s3's only file; s4 does not exist
    d = discover(tmp_path, NB, A)
    assert outcome(d, tmp_path) == ({"s1": {"conv_arithmetic": f"s1/{FILE}"},
                                     "s2": {"conv_arithmetic": f"s2/{FILE}"},
                                     "s3": {"conv_arithmetic": f"s3/s4/{FILE}"}}, [])
    assert d.duplicates == {"s2": f"3 files for conv_arithmetic: graded '{FILE}' (exact name "
                                  "first, then the shortest path, then name)"}


def test_the_newest_file_does_not_win(course: Path) -> None:
    os.utime(course / "alice" / FILE, (0, 0))
    for name in ("conv_arithmetic-1.ipynb", "conv_arithmetic-Copy1.ipynb"):
        os.utime(put(course / "alice" / name, b"{}"), (2**31, 2**31))
    d = discover(course, NB, A)
    assert outcome(d, course) == (HONEST_FOUND, [])
    assert d.duplicates == {"alice": "3 files for conv_arithmetic: graded 'conv_arithmetic.ipynb' "
                                     "(exact name first, then the shortest path, then name)"}


def test_fifo_as_a_notebook_is_refused_without_blocking(course: Path) -> None:
    (course / "mallory").mkdir()
    os.mkfifo(course / "mallory" / FILE)
    os.mkfifo(course / "trudy.ipynb")
    result: list = []
    t = threading.Thread(target=lambda: result.append(discover(course, NB, A)), daemon=True)
    t.start()
    t.join(10)
    assert result, "discover blocked on a FIFO"
    assert outcome(result[0], course) == (HONEST_FOUND, [
        (f"mallory/{FILE}", Reason.NOT_REGULAR), ("mallory", Reason.NO_NOTEBOOK),
        ("trudy.ipynb", Reason.NOT_REGULAR)])
    with pytest.raises(ValueError, match="not a regular file"):
        read_submission_bytes(course / "mallory" / FILE)


def test_directory_named_like_a_notebook_is_refused(course: Path) -> None:
    put(course / "mallory" / FILE / "x.ipynb")
    put(course / "trudy.ipynb" / FILE)
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        (f"mallory/{FILE}", Reason.FOLDER_NOTEBOOK), ("mallory", Reason.NO_NOTEBOOK),
        ("trudy.ipynb", Reason.FOLDER_NOTEBOOK)])


def test_symlink_to_dev_zero_is_refused(course: Path) -> None:
    (course / "mallory").mkdir()
    (course / "mallory" / FILE).symlink_to("/dev/zero")
    (course / "trudy.ipynb").symlink_to("/dev/zero")
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        (f"mallory/{FILE}", Reason.SYMLINK), ("mallory", Reason.NO_NOTEBOOK),
        ("trudy.ipynb", Reason.SYMLINK)])
    with pytest.raises(ValueError, match="symbolic link"):
        read_submission_bytes(course / "trudy.ipynb")


def test_one_badly_named_extra_file_stops_nobody(course: Path) -> None:
    put(course / "Mallory Smith" / FILE)
    put(course / "mallory's notes.ipynb")
    put(course / "\x1b[31mred.pdf", b"%PDF")
    put(course / "bob" / "notes.txt", b"hi")
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        ("[31mred.pdf", Reason.NOT_NOTEBOOK), ("Mallory Smith", Reason.BAD_ID),
        ("mallory's notes.ipynb", Reason.BAD_ID)])


def test_huge_notebook_is_skipped_by_size(course: Path) -> None:
    big = course / "mallory" / FILE
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(50 * MAX_NOTEBOOK_BYTES)  # sparse: 1 GiB that costs no disk
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        (f"mallory/{FILE}", Reason.TOO_LARGE), ("mallory", Reason.NO_NOTEBOOK)])


def test_thousands_of_nested_folders_stop_at_the_depth_limit(course: Path) -> None:
    deep = course / "mallory"
    for _ in range(200):
        deep = deep / "d"
    put(deep / FILE)
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        ("mallory/d/d/d", Reason.TOO_DEEP), ("mallory", Reason.NO_NOTEBOOK)])


def test_thousands_of_files_skip_only_their_owner(course: Path) -> None:
    for i in range(1100):
        (course / "aaron").mkdir(exist_ok=True)
        (course / "aaron" / f"{i}.ipynb").touch()
    assert outcome(discover(course, NB, A), course) == (HONEST_FOUND, [
        ("aaron", Reason.TOO_MANY)])


def test_canvas_prefix_inside_the_students_own_file_name_is_not_an_id(tmp_path: Path) -> None:
    put(tmp_path / f"smithalice_111_222_{FILE}")
    put(tmp_path / f"malloryx_666_777_smithalice_111_999_{FILE}", b"{}")
    d = discover(tmp_path, NB, A)
    assert outcome(d, tmp_path)[0] == {
        "malloryx_666": {"conv_arithmetic": f"malloryx_666_777_smithalice_111_999_{FILE}"},
        "smithalice_111": {"conv_arithmetic": f"smithalice_111_222_{FILE}"}}


def test_a_later_blackboard_attempt_in_a_file_name_is_not_an_attempt(tmp_path: Path) -> None:
    put(tmp_path / f"A1_alice_attempt_2024-03-01-09-00-00_{FILE}")
    put(tmp_path / f"A1_mallory_attempt_2024-03-01-10-00-00_A1_alice_attempt_2099-01-01-00-00-00_"
                   f"{FILE}", b"{}")
    d = discover(tmp_path, NB, A)
    assert outcome(d, tmp_path)[0]["alice"] == {
        "conv_arithmetic": f"A1_alice_attempt_2024-03-01-09-00-00_{FILE}"}
    assert sorted(d.submissions) == ["alice", "mallory"] and "alice" not in d.duplicates


def test_gradescope_sid_copied_from_a_classmate_grades_neither(tmp_path: Path) -> None:
    put(tmp_path / "submission_metadata.yml", b"""\
submission_1:
  :submitters:
  - {':name': Alice, ':sid': '100', ':email': alice@uni.edu}
submission_2:
  :submitters:
  - {':name': Mallory, ':sid': '100', ':email': mallory@uni.edu}
submission_3:
  :submitters:
  - {':name': Bob, ':sid': '200', ':email': bob@uni.edu}
""")
    for i in (1, 2, 3):
        put(tmp_path / f"submission_{i}" / FILE)
    assert outcome(discover(tmp_path, NB, A), tmp_path) == (
        {"200": {"conv_arithmetic": f"submission_3/{FILE}"}},
        [("submission_1", Reason.ID_CONFLICT), ("submission_2", Reason.ID_CONFLICT)])


def test_billion_laughs_metadata_is_not_expanded(tmp_path: Path) -> None:
    lol = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi"))
    put(tmp_path / "submission_metadata.yml", lol.encode())
    put(tmp_path / "submission_1" / FILE)
    d = discover(tmp_path, NB, A)
    assert outcome(d, tmp_path) == ({}, [("submission_1", Reason.NOT_IN_METADATA)])


# --- zips --------------------------------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes], link: tuple[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link[0])
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, link[1])
    return path


def _extract_then_discover(tmp_path: Path, z: Path) -> tuple[tuple, list[tuple[str, str]]]:
    out = tmp_path / "out"
    skipped = extract_zip(z, out)
    return outcome(discover(out, NB, A), out), [(s.entry, s.reason) for s in skipped]


def test_zip_bomb_is_skipped_and_the_class_extracted(tmp_path: Path) -> None:
    z = _zip(tmp_path / "subs.zip", {f"alice/{FILE}": HONEST, f"bob/{FILE}": HONEST,
                                     f"mallory/{FILE}": b" " * (4 * 2**30 // 64)})
    assert z.stat().st_size < 1_000_000
    got, skipped = _extract_then_discover(tmp_path, z)
    assert got == (HONEST_FOUND, [])
    assert skipped == [(f"mallory/{FILE}",
                        f"{Reason.ZIP_BOMB} (declares {4 * 2**30 // 64} bytes)")]
    assert not (tmp_path / "out" / "mallory").exists()


def test_zip_with_a_symlink_member_is_refused(tmp_path: Path) -> None:
    z = _zip(tmp_path / "subs.zip", {f"alice/{FILE}": HONEST, f"bob/{FILE}": HONEST},
             link=(f"mallory/{FILE}", f"../alice/{FILE}"))
    got, skipped = _extract_then_discover(tmp_path, z)
    assert got == (HONEST_FOUND, [])
    assert skipped == [(f"mallory/{FILE}", str(Reason.SYMLINK))]
    assert not (tmp_path / "out" / "mallory").exists()


def test_zip_slip_writes_nothing_outside(tmp_path: Path) -> None:
    z = _zip(tmp_path / "subs.zip", {f"alice/{FILE}": HONEST, f"bob/{FILE}": HONEST,
                                     f"../../mallory/{FILE}": HONEST, f"/tmp/x/{FILE}": HONEST})
    got, skipped = _extract_then_discover(tmp_path, z)
    assert got == (HONEST_FOUND, [])
    assert sorted(skipped) == sorted([(f"../../mallory/{FILE}", str(Reason.ZIP_SLIP)),
                                      (f"/tmp/x/{FILE}", str(Reason.ZIP_SLIP))])
    assert not (tmp_path.parent / "mallory").exists()


def test_corrupt_zip_is_a_clear_error(tmp_path: Path) -> None:
    bad = put(tmp_path / "subs.zip", b"PK\x03\x04 this is not really a zip")
    with pytest.raises(ValueError, match="subs.zip is not a readable zip file"):
        extract_zip(bad, tmp_path / "out")
