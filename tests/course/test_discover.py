"""autograder.course.discover: LMS layouts, which file is graded, limits, safe reads and zips."""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import tempfile
import time
import unicodedata
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.course import discover as dm
from autograder.course.discover import (
    MAX_NOTEBOOK_BYTES,
    Discovered,
    Reason,
    discover,
    extract_zip,
    read_submission_bytes,
)
from autograder.results import is_student_id

NB = ["conv"]
A = "01_conv"
CONTROL = ("Cc", "Cf", "Cs")


def put(path: Path, data: bytes = b"{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def kinds(d: Discovered) -> list[tuple[str, Reason]]:
    """Each skipped entry with the Reason its text starts with."""
    return [(s.entry, next(r for r in Reason if s.reason.startswith(r))) for s in d.skipped]


def found(d: Discovered, root: Path) -> dict[str, dict[str, str]]:
    return {s: {nb: p.relative_to(root).as_posix() for nb, p in f.items()}
            for s, f in d.submissions.items()}


# --- plain layouts -----------------------------------------------------------------------------


def test_plain_folders_nested_assignment_folder_and_single_files(tmp_path: Path) -> None:
    put(tmp_path / "alice" / "conv.ipynb")
    put(tmp_path / "bob" / A / "conv.ipynb")
    put(tmp_path / "carol.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"alice": {"conv": "alice/conv.ipynb"},
                                  "bob": {"conv": f"bob/{A}/conv.ipynb"},
                                  "carol": {"conv": "carol.ipynb"}}
    assert d.skipped == [] and d.duplicates == {}
    assert list(d.submissions) == sorted(d.submissions)


def test_multi_notebook_folders_keep_assignment_order(tmp_path: Path) -> None:
    put(tmp_path / "alice" / "p2.ipynb")
    put(tmp_path / "alice" / "p1.ipynb")
    put(tmp_path / "bob.ipynb")
    d = discover(tmp_path, ["p1", "p2"], "ps1")
    assert list(d.submissions["alice"]) == ["p1", "p2"]
    assert kinds(d) == [("bob.ipynb", Reason.BAD_ID)]  # <student>.ipynb needs one notebook


def test_unusable_names_are_skipped_and_the_rest_found(tmp_path: Path) -> None:
    put(tmp_path / "Jane Doe" / "conv.ipynb")
    put(tmp_path / "conv.ipynb")
    put(tmp_path / "grades.csv", b"a,b")
    put(tmp_path / "ok" / "conv.ipynb")
    (tmp_path / "empty").mkdir()
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"ok": {"conv": "ok/conv.ipynb"}}
    assert kinds(d) == [("Jane Doe", Reason.BAD_ID), ("conv.ipynb", Reason.BAD_ID),
                        ("empty", Reason.NO_NOTEBOOK), ("grades.csv", Reason.NOT_NOTEBOOK)]


def test_a_download_wrapped_in_the_assignment_folder_is_unwrapped(tmp_path: Path) -> None:
    put(tmp_path / A / "alice" / "conv.ipynb")
    put(tmp_path / ".DS_Store")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"alice": {"conv": f"{A}/alice/conv.ipynb"}}


def test_a_single_student_folder_is_not_unwrapped(tmp_path: Path) -> None:
    put(tmp_path / "alice" / "conv.ipynb")
    assert found(discover(tmp_path, NB, A), tmp_path) == {"alice": {"conv": "alice/conv.ipynb"}}


def test_missing_or_unreadable_root_and_bad_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        discover(tmp_path / "nope", NB, A)
    with pytest.raises(ValueError, match="cannot be read"):
        discover(put(tmp_path / "f"), NB, A)
    with pytest.raises(ValueError, match="non-empty stems"):
        discover(tmp_path, [], A)


# --- LMS layouts -------------------------------------------------------------------------------


def test_canvas_names_late_markers_suffixes_and_anonymous(tmp_path: Path) -> None:
    put(tmp_path / "doejane_12345_67890_conv.ipynb")
    put(tmp_path / "smithjohn_LATE_222_333_conv-1.ipynb")
    put(tmp_path / "leekim_late_444_555_conv (2).ipynb")
    put(tmp_path / "josé_777_888_conv.ipynb")
    put(tmp_path / "李华_999_1000_conv.ipynb")
    put(tmp_path / "LATE_anon_Xy12z_1001_conv.ipynb")
    put(tmp_path / "doejane_12345_67891_report.pdf")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {
        "999": {"conv": "李华_999_1000_conv.ipynb"},
        "anon_Xy12z": {"conv": "LATE_anon_Xy12z_1001_conv.ipynb"},
        "doejane_12345": {"conv": "doejane_12345_67890_conv.ipynb"},
        "jose_777": {"conv": "josé_777_888_conv.ipynb"},
        "leekim_444": {"conv": "leekim_late_444_555_conv (2).ipynb"},
        "smithjohn_222": {"conv": "smithjohn_LATE_222_333_conv-1.ipynb"}}
    assert kinds(d) == [("doejane_12345_67891_report.pdf", Reason.NOT_NOTEBOOK)]
    assert d.duplicates["smithjohn_222"] == "no conv.ipynb: graded 'conv-1.ipynb', a copy of it"


def test_canvas_exact_name_beats_a_resubmitted_copy(tmp_path: Path) -> None:
    put(tmp_path / "doejane_1_10_conv-1.ipynb")
    put(tmp_path / "doejane_1_11_conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"doejane_1": {"conv": "doejane_1_11_conv.ipynb"}}
    assert d.duplicates["doejane_1"].startswith("2 files for conv: graded 'conv.ipynb'")


def test_moodle_folders_flat_files_and_ignored_online_text(tmp_path: Path) -> None:
    put(tmp_path / "Jane Doe_1234_assignsubmission_file_" / "conv.ipynb")
    put(tmp_path / "Jane Doe_1234_assignsubmission_onlinetext_" / "onlinetext.html", b"<p/>")
    put(tmp_path / "Bo Li_77_assignsubmission_file_" / "work" / "conv.ipynb")
    put(tmp_path / "Participant_88_assignsubmission_file_conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {
        "1234": {"conv": "Jane Doe_1234_assignsubmission_file_/conv.ipynb"},
        "77": {"conv": "Bo Li_77_assignsubmission_file_/work/conv.ipynb"},
        "88": {"conv": "Participant_88_assignsubmission_file_conv.ipynb"}}
    assert d.skipped == []


def test_blackboard_latest_attempt_wins_and_receipts_are_ignored(tmp_path: Path) -> None:
    early, late = "2024-03-01-09-00-00", "2024-03-02-08-00-00"
    put(tmp_path / f"HW_1_jdoe_attempt_{early}_conv.ipynb")
    put(tmp_path / f"HW_1_jdoe_attempt_{early}.txt", b"Name: J Doe (jdoe)")
    put(tmp_path / f"HW_1_jdoe_attempt_{late}_conv.ipynb")
    put(tmp_path / f"HW_1_jdoe_attempt_{late}.txt", b"Name: J Doe (jdoe)")
    put(tmp_path / f"HW_1_amy_attempt_{early}_conv-Copy1.ipynb")
    put(tmp_path / f"HW_1_amy_attempt_{early}_notes.txt", b"hi")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"amy": {"conv": f"HW_1_amy_attempt_{early}_conv-Copy1.ipynb"},
                                  "jdoe": {"conv": f"HW_1_jdoe_attempt_{late}_conv.ipynb"}}
    assert d.duplicates["jdoe"] == f"2 attempts: graded the latest ({late})"
    assert kinds(d) == [(f"HW_1_amy_attempt_{early}_notes.txt", Reason.NOT_NOTEBOOK)]


GRADESCOPE_YML = """\
submission_1:
  :submitters:
  - :name: Solo Student
    :sid: '100'
    :email: solo@uni.edu
  :created_at: 2024-03-01 10:00:00.000000000 -08:00
  :score: 7.0
submission_2:
  :submitters:
  - :name: Pair One
    :sid: ''
    :email: one@uni.edu
  - :name: Pair Two
    :sid: 201
    :email: two@uni.edu
submission_3:
  :submitters:
  - :name: No Id
    :sid: 'a b'
"""


def test_gradescope_export_sid_then_email_and_groups(tmp_path: Path) -> None:
    root = tmp_path / "assignment_42_export"
    put(root / "submission_metadata.yml", GRADESCOPE_YML.encode())
    put(root / "submission_1" / "conv.ipynb")
    put(root / "submission_2" / "hw" / "conv.ipynb")
    put(root / "submission_3" / "conv.ipynb")
    put(root / "submission_4" / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, root) == {"100": {"conv": "submission_1/conv.ipynb"},
                              "201": {"conv": "submission_2/hw/conv.ipynb"},
                              "one@uni.edu": {"conv": "submission_2/hw/conv.ipynb"}}
    assert kinds(d) == [("submission_3", Reason.BAD_ID), ("submission_4", Reason.NOT_IN_METADATA)]


@pytest.mark.parametrize("yml", [
    b"[" * 5000 + b"]" * 5000,  # deep nesting
    b"- just\n- a list\n",
    b"a: &x [1]\nb: !!python/object/apply:os.system ['true']\n",
    b"\xff\xfe not yaml \x00",
])
def test_unusable_gradescope_metadata_skips_its_folders_without_raising(tmp_path: Path,
                                                                        yml: bytes) -> None:
    put(tmp_path / "submission_metadata.yml", yml)
    put(tmp_path / "submission_1" / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert d.submissions == {}
    assert kinds(d) == [("submission_metadata.yml", Reason.BAD_METADATA),
                        ("submission_1", Reason.NOT_IN_METADATA)]


def test_oversized_gradescope_metadata_is_not_parsed(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dm, "MAX_METADATA_BYTES", 100)
    put(tmp_path / "submission_metadata.yml", GRADESCOPE_YML.encode())
    put(tmp_path / "submission_1" / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert d.submissions == {} and kinds(d)[0] == ("submission_metadata.yml", Reason.BAD_METADATA)


# --- which file --------------------------------------------------------------------------------


def _age(path: Path, seconds_ago: float) -> None:
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_exact_name_beats_newer_copies_and_checkpoints(tmp_path: Path) -> None:
    real = put(tmp_path / "alice" / "conv.ipynb")
    _age(real, 10_000)
    put(tmp_path / "alice" / "conv-Copy1.ipynb")
    put(tmp_path / "alice" / ".ipynb_checkpoints" / "conv-checkpoint.ipynb")
    put(tmp_path / "alice" / "deep" / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"alice": {"conv": "alice/conv.ipynb"}}
    assert d.duplicates == {"alice": "3 files for conv: graded 'conv.ipynb' (exact name first, "
                                     "then the shortest path, then name)"}


def test_among_copies_the_shortest_name_wins_whatever_the_mtimes(tmp_path: Path) -> None:
    short = put(tmp_path / "bob" / "conv-1.ipynb")
    _age(short, 10_000)
    put(tmp_path / "bob" / "conv (2).ipynb")
    put(tmp_path / "bob" / "conv - Copy.ipynb")
    put(tmp_path / "bob" / "conv-Copy2.ipynb")
    assert found(discover(tmp_path, NB, A), tmp_path) == {"bob": {"conv": "bob/conv-1.ipynb"}}


def test_a_lone_other_notebook_is_taken_and_said(tmp_path: Path) -> None:
    put(tmp_path / "carol" / "my_work.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"carol": {"conv": "carol/my_work.ipynb"}}
    assert d.duplicates["carol"] == "no conv.ipynb: graded 'my_work.ipynb', the only other notebook"


def test_several_other_notebooks_shortest_then_lexicographic(tmp_path: Path) -> None:
    for name in ("zz.ipynb", "bb.ipynb", "aaa.ipynb", "sub/a.ipynb"):
        put(tmp_path / "dan" / name)
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"dan": {"conv": "dan/bb.ipynb"}}
    assert "first of 4 other notebooks" in d.duplicates["dan"]


def test_other_notebooks_never_fill_two_missing_notebooks(tmp_path: Path) -> None:
    put(tmp_path / "eve" / "x.ipynb")
    put(tmp_path / "eve" / "p1-Copy1.ipynb")
    put(tmp_path / "fay" / "p1.ipynb")
    put(tmp_path / "fay" / "p1-Copy1.ipynb")
    d = discover(tmp_path, ["p1", "p2", "p3"], "ps")
    assert found(d, tmp_path) == {"eve": {"p1": "eve/p1-Copy1.ipynb"},
                                  "fay": {"p1": "fay/p1.ipynb"}}


def test_a_copy_of_one_notebook_is_never_taken_for_another(tmp_path: Path) -> None:
    put(tmp_path / "gil" / "p1.ipynb")
    put(tmp_path / "gil" / "p1-Copy1.ipynb")
    d = discover(tmp_path, ["p1", "p2"], "ps")
    assert found(d, tmp_path) == {"gil": {"p1": "gil/p1.ipynb"}}


def test_variant_matching_is_per_suffix_not_a_prefix_match() -> None:
    assert dm._match_class("lab-2.ipynb", "lab-2") == 0
    assert dm._match_class("lab-2-Copy1.ipynb", "lab-2") == 1
    assert dm._match_class("lab-3.ipynb", "lab-2") is None
    assert dm._match_class("conv-Copy1 (2).ipynb", "conv") == 1
    assert dm._match_class("conv_extra.ipynb", "conv") is None


# --- limits ------------------------------------------------------------------------------------


def test_depth_limit(tmp_path: Path) -> None:
    put(tmp_path / "s" / "a" / "b" / "conv.ipynb")
    put(tmp_path / "t" / "a" / "b" / "c" / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"s": {"conv": "s/a/b/conv.ipynb"}}
    assert kinds(d) == [("t/a/b/c", Reason.TOO_DEEP), ("t", Reason.NO_NOTEBOOK)]


def test_a_crowded_folder_is_skipped_whole_and_classmates_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dm, "MAX_FOLDER_ENTRIES", 5)
    for i in range(6):
        put(tmp_path / "aaa" / f"f{i}.txt", b"")
    put(tmp_path / "aaa" / "conv.ipynb")
    put(tmp_path / "bob" / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"bob": {"conv": "bob/conv.ipynb"}}
    assert kinds(d) == [("aaa", Reason.TOO_MANY)]


def test_top_level_entry_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dm, "MAX_ENTRIES", 3)
    for s in "abcd":
        put(tmp_path / s / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert len(d.submissions) == 3
    assert kinds(d) == [(".", Reason.TOO_MANY)]


def test_oversized_notebook_is_skipped_by_its_size_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "big" / "conv.ipynb"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: costs no disk
    put(tmp_path / "ok" / "conv.ipynb")
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"ok": {"conv": "ok/conv.ipynb"}}
    assert kinds(d) == [("big/conv.ipynb", Reason.TOO_LARGE), ("big", Reason.NO_NOTEBOOK)]


def test_an_unreadable_folder_is_skipped_and_the_rest_found(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    put(tmp_path / "locked" / "conv.ipynb")
    put(tmp_path / "ok" / "conv.ipynb")
    put(tmp_path / "ok" / "private" / "conv-1.ipynb")
    real_scan = dm._scan

    def scan(path: Path, limit: int):  # what chmod 000 does for a non-root grader
        if path.name in ("locked", "private"):
            raise PermissionError(13, "Permission denied")
        return real_scan(path, limit)

    monkeypatch.setattr(dm, "_scan", scan)
    d = discover(tmp_path, NB, A)
    assert found(d, tmp_path) == {"ok": {"conv": "ok/conv.ipynb"}}
    assert [(s.entry, s.reason) for s in d.skipped] == [
        ("locked", f"{Reason.UNREADABLE} (Permission denied)"),
        ("ok/private", f"{Reason.UNREADABLE} (Permission denied)")]


# --- read_submission_bytes ---------------------------------------------------------------------


def test_read_submission_bytes_reads_regular_files_only(tmp_path: Path) -> None:
    nb = put(tmp_path / "a.ipynb", b'{"cells": []}')
    assert read_submission_bytes(nb) == b'{"cells": []}'
    (tmp_path / "link.ipynb").symlink_to(nb)
    with pytest.raises(ValueError, match="symbolic link"):
        read_submission_bytes(tmp_path / "link.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")
    with pytest.raises(ValueError, match="not a regular file"):
        read_submission_bytes(tmp_path / "fifo.ipynb")
    with pytest.raises(ValueError, match="not a regular file"):
        read_submission_bytes("/dev/zero")
    with pytest.raises(ValueError, match="not a regular file"):
        read_submission_bytes(tmp_path)
    with pytest.raises(ValueError, match="cannot be opened"):
        read_submission_bytes(tmp_path / "missing.ipynb")


def test_read_submission_bytes_caps_the_size(tmp_path: Path) -> None:
    nb = put(tmp_path / "a.ipynb", b"x" * 11)
    assert read_submission_bytes(nb, limit=11) == b"x" * 11
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        read_submission_bytes(nb, limit=10)
    with open(nb, "wb") as f:
        f.truncate(3 * MAX_NOTEBOOK_BYTES)  # sparse
    with pytest.raises(ValueError, match=f"larger than {MAX_NOTEBOOK_BYTES} bytes"):
        read_submission_bytes(nb)
    # A regular file whose size says 0 is still read no further than the cap.
    assert os.stat("/proc/self/maps").st_size == 0
    with pytest.raises(ValueError, match="larger than 10 bytes"):
        read_submission_bytes("/proc/self/maps", limit=10)


# --- zips --------------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are a test case
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)
            for name, target in (links or {}).items():
                info = zipfile.ZipInfo(name)
                info.create_system = 3
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, target)
    return path


def test_canvas_zip_round_trip(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "subs.zip", {
        "doejane_1_2_conv.ipynb": b"{}", "leekim_3_4_report.pdf": b"%PDF",
        "__MACOSX/._doejane_1_2_conv.ipynb": b"", ".hidden.ipynb": b"{}",
        "smithjo_5_6_conv.ipynb": b"{}"})
    skipped = extract_zip(z, tmp_path / "out")
    assert [(s.entry, s.reason) for s in skipped] == [
        ("leekim_3_4_report.pdf", f"{Reason.NOT_NOTEBOOK} (not extracted)")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "doejane_1_2_conv.ipynb", "smithjo_5_6_conv.ipynb"]
    assert list(discover(tmp_path / "out", NB, A).submissions) == ["doejane_1", "smithjo_5"]


def test_moodle_zip_keeps_folders_and_drops_other_types(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "m.zip", {
        "Jane Doe_12_assignsubmission_file_/conv.ipynb": b"{}",
        "Jane Doe_12_assignsubmission_file_/data.npz": b"x",
        "Jane Doe_12_assignsubmission_file_/.ipynb_checkpoints/conv-checkpoint.ipynb": b"{}"})
    assert extract_zip(z, tmp_path / "out") == []
    files = sorted(p.relative_to(tmp_path / "out").as_posix()
                   for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert files == ["Jane Doe_12_assignsubmission_file_/conv.ipynb"]


def test_zip_slip_links_and_duplicates_are_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip", {
        "../evil.ipynb": b"{}", "/abs.ipynb": b"{}", "a/../../x.ipynb": b"{}",
        "C:\\win.ipynb": b"{}", "ok/conv.ipynb": b"{}", "dup/conv.ipynb": b"1"},
        links={"ln/conv.ipynb": "../../../etc/passwd"})
    with zipfile.ZipFile(z, "a") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zf.writestr("dup/conv.ipynb", b"2")
    skipped = extract_zip(z, tmp_path / "out")
    got = sorted((s.entry, next(r for r in Reason if s.reason.startswith(r))) for s in skipped)
    assert got == sorted([("../evil.ipynb", Reason.ZIP_SLIP), ("/abs.ipynb", Reason.ZIP_SLIP),
                          ("a/../../x.ipynb", Reason.ZIP_SLIP), ("C:\\win.ipynb", Reason.ZIP_SLIP),
                          ("ln/conv.ipynb", Reason.SYMLINK),
                          ("dup/conv.ipynb", Reason.ZIP_DUPLICATE)])
    assert not (tmp_path / "evil.ipynb").exists() and not (tmp_path / "x.ipynb").exists()
    assert (tmp_path / "out" / "dup" / "conv.ipynb").read_bytes() == b"1"
    assert not (tmp_path / "out" / "ln").exists()


def test_extraction_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "alice").symlink_to(outside)
    z = make_zip(tmp_path / "z.zip", {"alice/conv.ipynb": b"{}"})
    assert [s.entry for s in extract_zip(z, tmp_path / "out")] == ["alice/conv.ipynb"]
    assert list(outside.iterdir()) == []


def test_zip_bomb_by_declared_and_by_real_size(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    z = make_zip(tmp_path / "z.zip", {"bomb/conv.ipynb": b"\0" * (MAX_NOTEBOOK_BYTES + 1),
                                      "ok/conv.ipynb": b"{}"})
    assert z.stat().st_size < 100_000
    skipped = extract_zip(z, tmp_path / "out")
    assert [(s.entry, s.reason.startswith(Reason.ZIP_BOMB)) for s in skipped] == [
        ("bomb/conv.ipynb", True)]
    assert not (tmp_path / "out" / "bomb" / "conv.ipynb").exists()
    # The chunked copy stops at the cap itself, whatever the header declared.
    with zipfile.ZipFile(z) as zf:
        unzip = dm._Unzip(zf, tmp_path)
        fd = os.open(tmp_path / "partial", os.O_WRONLY | os.O_CREAT, 0o600)
        why = dm._copy_member(unzip, zf.getinfo("bomb/conv.ipynb"), fd, cap=dm._CHUNK)
    assert why == (Reason.ZIP_BOMB, f"more than {dm._CHUNK} bytes")
    assert (tmp_path / "partial").stat().st_size <= dm._CHUNK and unzip.total == 0


def _lie_about_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size of member ``name`` in both of its headers."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = out.find(sig)
        while at != -1:
            name_at = at + (30 if sig == b"PK\x03\x04" else 46)
            if out[name_at:name_at + len(name)] == name:
                struct.pack_into("<I", out, at + off, size)
            at = out.find(sig, at + 1)
    return bytes(out)


def test_zip_member_that_lies_about_its_size_is_not_extracted_past_it(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip", {"bomb/conv.ipynb": b"\0" * (MAX_NOTEBOOK_BYTES + 1),
                                      "ok/conv.ipynb": b"{}"})
    z.write_bytes(_lie_about_size(z.read_bytes(), b"bomb/conv.ipynb", 100))
    skipped = extract_zip(z, tmp_path / "out")
    assert [s.entry for s in skipped] == ["bomb/conv.ipynb"]
    assert skipped[0].reason.startswith((Reason.ZIP_BOMB, Reason.ZIP_CORRUPT))
    assert not (tmp_path / "out" / "bomb" / "conv.ipynb").exists()
    assert (tmp_path / "out" / "ok" / "conv.ipynb").read_bytes() == b"{}"


def _duplicate_central_entry(data: bytes) -> bytes:
    """The same zip with its first central-directory entry listed twice (same local data)."""
    eocd = data.rfind(b"PK\x05\x06")
    count, size, start = struct.unpack_from("<HIL", data, eocd + 10)
    entry_len = 46 + sum(struct.unpack_from("<HHH", data, start + 28))
    entry = data[start:start + entry_len]
    tail = bytearray(data[eocd:])
    struct.pack_into("<HHIL", tail, 8, count + 1, count + 1, size + entry_len, start)
    return data[:start + size] + entry + bytes(tail)


def test_zip_members_sharing_data_are_refused(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip", {"a/conv.ipynb": b"{}"})
    z.write_bytes(_duplicate_central_entry(z.read_bytes()))
    with zipfile.ZipFile(z) as zf:
        assert [i.filename for i in zf.infolist()] == ["a/conv.ipynb", "a/conv.ipynb"]
    skipped = extract_zip(z, tmp_path / "out")
    assert [(s.entry, s.reason) for s in skipped] == [
        ("a/conv.ipynb", f"{Reason.ZIP_BOMB} (its data overlaps another member's)")]
    assert (tmp_path / "out" / "a" / "conv.ipynb").read_bytes() == b"{}"


def test_zip_member_count_and_total_size_caps(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    z = make_zip(tmp_path / "z.zip", {f"s{i}/conv.ipynb": b"x" * 100 for i in range(5)})
    monkeypatch.setattr(dm, "MAX_ZIP_MEMBERS", 3)
    assert [(s.entry, s.reason) for s in extract_zip(z, tmp_path / "a")] == [
        ("(archive)", f"{Reason.TOO_MANY} (2 members not extracted)")]
    monkeypatch.setattr(dm, "MAX_ZIP_MEMBERS", 10)
    monkeypatch.setattr(dm, "MAX_ZIP_TOTAL_BYTES", 250)
    skipped = extract_zip(z, tmp_path / "b")
    assert [s.entry for s in skipped] == ["s2/conv.ipynb", "(archive)"]
    assert all(s.reason.startswith(Reason.ZIP_TOTAL) for s in skipped)
    assert sorted(p.parent.name for p in (tmp_path / "b").rglob("*.ipynb")) == ["s0", "s1"]


def test_one_crowded_zip_folder_does_not_crowd_out_classmates(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dm, "MAX_FOLDER_ENTRIES", 2)
    members = {f"aaa/{i}.ipynb": b"{}" for i in range(4)} | {"bob/conv.ipynb": b"{}"}
    skipped = extract_zip(make_zip(tmp_path / "z.zip", members), tmp_path / "out")
    assert [(s.entry, s.reason) for s in skipped] == [
        ("aaa", f"{Reason.TOO_MANY} (2 members not extracted)")]
    assert (tmp_path / "out" / "bob" / "conv.ipynb").is_file()


def test_corrupt_member_is_skipped_and_corrupt_archive_raises(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip", {"a/conv.ipynb": os.urandom(5000), "b/conv.ipynb": b"{}"})
    data = bytearray(z.read_bytes())
    data[500] ^= 0xFF  # inside a/conv.ipynb's compressed data
    z.write_bytes(bytes(data))
    skipped = extract_zip(z, tmp_path / "out")
    assert [s.entry for s in skipped] == ["a/conv.ipynb"]
    assert skipped[0].reason.startswith(Reason.ZIP_CORRUPT)
    assert not (tmp_path / "out" / "a" / "conv.ipynb").exists()
    for bad in (b"not a zip at all", z.read_bytes()[:-30]):
        (tmp_path / "bad.zip").write_bytes(bad)
        with pytest.raises(ValueError, match="bad.zip is not a readable zip file"):
            extract_zip(tmp_path / "bad.zip", tmp_path / "o2")
    with pytest.raises(ValueError, match="not a readable zip file"):
        extract_zip(tmp_path / "missing.zip", tmp_path / "o3")


def test_encrypted_member_is_skipped(tmp_path: Path) -> None:
    z = make_zip(tmp_path / "z.zip", {"a/conv.ipynb": b"{}"})
    data = bytearray(z.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + off] |= 0x01  # the "encrypted" flag bit
    z.write_bytes(bytes(data))
    skipped = extract_zip(z, tmp_path / "out")
    assert [(s.entry, s.reason) for s in skipped] == [
        ("a/conv.ipynb", f"{Reason.ZIP_CORRUPT} (RuntimeError)")]


# --- property: hostile names never break discovery ----------------------------------------------

_PREFIXES = [b"", b"doe_12_34_", b"LATE_anon_ab1_5_", b"Jo Li_7_assignsubmission_file_",
             b"A1_jd_attempt_2024-01-01-10-00-00_", b"submission_", b".", b"__MACOSX"]
_NAME = st.one_of(
    st.binary(min_size=1, max_size=30),
    st.text(min_size=1, max_size=30).map(os.fsencode),
    st.tuples(st.sampled_from(_PREFIXES), st.sampled_from([b"conv.ipynb", b"x", b"conv-1.ipynb",
                                                           b"a b.ipynb", b"conv"]))
    .map(b"".join),
).filter(lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..") and len(b) < 200)
_KIND = st.sampled_from(["file", "dir", "dir_nb", "link", "fifo", "deep"])


def _plant(root: bytes, name: bytes, kind: str, inner: bytes) -> None:
    path = os.path.join(root, name)
    if kind == "file":
        with open(path, "wb") as f:
            f.write(b"{}")
    elif kind == "link":
        os.symlink(b"/dev/zero", path)
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        os.mkdir(path)
        here = os.path.join(path, b"d", b"e", b"f") if kind == "deep" else path
        os.makedirs(here, exist_ok=True)
        if kind != "dir":
            with open(os.path.join(here, inner), "wb") as f:
                f.write(b"{}")
            with contextlib.suppress(FileExistsError):  # a link back to the folder itself
                os.symlink(os.path.join(root, name), os.path.join(path, b"loop.ipynb"))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_NAME, _KIND, _NAME), max_size=8, unique_by=lambda t: t[0]),
       st.lists(st.sampled_from(["conv", "p2", "a b"]), min_size=1, max_size=2, unique=True))
def test_discover_never_raises_and_ids_come_from_top_level_names(entries, notebooks) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = os.fsencode(tmp)
        for name, kind, inner in entries:
            _plant(root, name, kind, inner)
        d = discover(Path(tmp), notebooks, "01_conv")
        owner: dict[str, str] = {}
        for student, files in d.submissions.items():
            assert is_student_id(student)
            assert set(files) <= set(notebooks)
            for path in files.values():
                rel = path.relative_to(tmp)
                top = os.fsencode(rel.parts[0])
                assert any(top == name for name, _, _ in entries)
                assert student.rsplit("_", 1)[-1] in os.fsdecode(top)
                assert owner.setdefault(rel.parts[0], student) == student
                assert stat.S_ISREG(os.lstat(path).st_mode)
                for depth in range(1, len(rel.parts)):
                    assert not os.path.islink(Path(tmp, *rel.parts[:depth]))
        for s in d.skipped:
            assert s.reason and not [c for c in s.entry if unicodedata.category(c) in CONTROL]


def test_skipped_entries_are_printable_whatever_the_name(tmp_path: Path) -> None:
    put(tmp_path / "\x1b[2J\u202eevil" / "conv.ipynb")
    put(tmp_path / os.fsdecode(b"bad\xff\xfe.pdf"))
    assert kinds(discover(tmp_path, NB, A)) == [("[2Jevil", Reason.BAD_ID),
                                                ("bad.pdf", Reason.NOT_NOTEBOOK)]


def test_reasons_are_distinct_prefixes() -> None:
    texts = [str(r) for r in Reason]
    assert not [(a, b) for a in texts for b in texts if a != b and b.startswith(a)]
