"""Submission discovery: what an instructor downloaded -> ``{student id: {notebook: file}}``.

Trust model: every name and file below ``root`` may have been chosen by a student who has read
this module. So:

* A student id comes **only** from a top-level entry of ``root`` (a folder name, an LMS file
  name, or Gradescope's metadata for a top-level ``submission_<n>/`` folder), never from deeper
  paths: ``s2/s1/<nb>.ipynb`` is one more file of s2, never s1's.
* Nothing is followed or opened while discovering: entries are read with ``os.scandir`` and
  ``lstat`` only; symbolic links (at any level) and anything but a regular file are refused and
  reported. The one file opened is Gradescope's ``submission_metadata.yml``, through
  :func:`read_submission_bytes` (no symlink, regular file, size capped). Callers read notebooks
  the same way.
* Walks are bounded: :data:`MAX_DEPTH` folder levels and :data:`MAX_FOLDER_ENTRIES` entries inside
  one top-level entry, :data:`MAX_ENTRIES` top-level entries; notebooks over
  :data:`MAX_NOTEBOOK_BYTES` are skipped.
* A bad entry is skipped with a plain-words reason (:class:`Reason`) and everybody else is still
  found. Only a missing or unreadable ``root`` raises (ValueError).
* Choices never depend on modification times (zips give arbitrary ones): see "Which file".

Layouts, and the id each yields (ids must be unique within a download and stable across the
assignments of a course, so grades can be joined and uploaded back):

* **Plain folders** ``<student>/<nb>.ipynb`` or ``<student>/<assignment>/<nb>.ipynb``: the folder
  name, as given by the instructor.
* **Plain files** ``<student>.ipynb`` (single-notebook assignments only): the file stem.
* **Canvas** "Download Submissions" (canvas-lms ``ContentZipper``): flat files
  ``<name>[_LATE]_<user id>_<attachment id>_<original name>``, where ``<name>`` is the sortable
  name lower-cased with non-word characters removed; ``<original name>`` may carry Canvas's
  re-upload suffix (``-1``) or a browser's ``" (2)"``. Id: ``<name>_<user id>`` with the name
  folded to ASCII letters and digits (just ``<user id>`` when nothing is left): Canvas's user id
  is global and permanent, so the id is unique and stable; the name part keeps grades.csv
  readable. Anonymous grading (``[LATE_]anon_<anonymous id>_...``) gives ``anon_<anonymous id>``.
* **Moodle** "Download all submissions" (mod_assign: ``StudentName_StudentID_PluginType_Plugin_
  FilePathAndName``): folders ``<Full Name>_<participant id>_assignsubmission_file_/`` (or the
  same prefix on flat file names). Id: the participant id, the number Moodle itself maps back to
  the student when a grading worksheet or a feedback zip is uploaded. Moodle keeps it per
  assignment, so joining grades of several assignments goes through the worksheet's email
  column. Other plugins' folders (``_onlinetext_``, comments) are ignored.
* **Blackboard** "Assignment File Download" (as nbgrader's zip_collect docs show):
  ``<Assignment>_<username>_attempt_<YYYY-MM-DD-HH-MM-SS>_<original name>`` plus one
  ``<Assignment>_<username>_attempt_<timestamp>.txt`` receipt per attempt (ignored). Id: the
  institution username (the segment before ``_attempt_``). With several attempts only the files
  of the latest timestamp are graded (Blackboard's clock, not the file's), noted in
  ``duplicates``.
* **Gradescope** "Export Submissions": ``submission_metadata.yml`` beside ``submission_<n>/``
  folders (maybe inside one ``assignment_<n>_export/`` folder); the YAML maps each folder to
  ``:submitters:`` with ``:name:``, ``:sid:`` and ``:email:``. Id: the SID when it is a usable
  id, else the email (both course-wide; the SID is what rosters join on). Every member of a
  group submission gets its files. An id claimed by two different submission folders is skipped
  for all of them (a student could set an SID equal to a classmate's).

A download wrapped in one extra folder (named as the assignment, or a Gradescope export) is
unwrapped once; only a single-entry root is unwrapped, so a student folder never is.

Which file: among one student's ``.ipynb`` files, for each notebook ``<nb>``, the exact name
``<nb>.ipynb`` wins; then a variant of it (``<nb>-Copy1``, ``<nb>-1``, ``<nb> (2)``,
``<nb> - Copy``); ties go to the shortest path inside the student's entry, then the
lexicographically smallest. If exactly one notebook of the assignment is still unmatched, the
student's other notebooks (none of them a variant of another notebook) are candidates for it by
the same shortest-then-lexicographic rule. Every choice other than a lone exact name is
explained in ``duplicates``. ``.ipynb_checkpoints`` and all dot-entries are never looked at.

:func:`extract_zip` unpacks an LMS zip for :func:`discover`: only ``.ipynb``, ``.yml`` and
``.txt`` members, no zip slip, no links, capped sizes (read in chunks, never trusting the
declared size), dot-files and ``__MACOSX`` ignored.
"""

from __future__ import annotations

import os
import re
import stat
import unicodedata
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import yaml

from autograder.results import Skipped, check_student_id, clean_text, is_student_id

MiB = 2**20
#: A notebook larger than this is skipped (and extract_zip stops reading it there).
MAX_NOTEBOOK_BYTES = 20 * MiB
#: Folder levels looked at inside one top-level entry (files at ``s/a/b/x.ipynb`` at most).
MAX_DEPTH = 3
#: Top-level entries looked at.
MAX_ENTRIES = 10_000
#: Entries looked at inside one top-level folder; past that the folder is skipped whole.
MAX_FOLDER_ENTRIES = 1_000
#: Size cap of Gradescope's submission_metadata.yml.
MAX_METADATA_BYTES = 5 * MiB
#: Size cap of an extracted ``.txt`` (Blackboard receipts are a few hundred bytes).
MAX_TEXT_BYTES = 1 * MiB
#: Members extracted from one zip, and their total uncompressed size.
MAX_ZIP_MEMBERS = 10_000
MAX_ZIP_TOTAL_BYTES = 4 * 2**30
#: Submitters read per Gradescope submission (groups are small).
MAX_SUBMITTERS = 20

METADATA_NAME = "submission_metadata.yml"
_CHUNK = 64 * 1024
_ZIP_KEEP = {".ipynb": MAX_NOTEBOOK_BYTES, ".yml": MAX_METADATA_BYTES, ".txt": MAX_TEXT_BYTES}


class Reason(StrEnum):
    """Why an entry was skipped: the start of every ``Skipped.reason`` (details may follow)."""

    SYMLINK = "a symbolic link (links are never followed)"
    NOT_REGULAR = "not a regular file (a FIFO, device or socket)"
    FOLDER_NOTEBOOK = "a folder named like a notebook"
    TOO_LARGE = f"larger than {MAX_NOTEBOOK_BYTES // MiB} MiB"
    NOT_NOTEBOOK = "not a notebook (.ipynb)"
    BAD_ID = "no usable student id in this name"
    NO_NOTEBOOK = "no notebook of this assignment found"
    TOO_DEEP = f"more than {MAX_DEPTH} folder levels deep: not looked at"
    TOO_MANY = "too many entries: not looked at"
    UNREADABLE = "could not be read"
    NOT_IN_METADATA = f"not listed in a usable {METADATA_NAME}"
    BAD_METADATA = f"{METADATA_NAME} is not usable"
    ID_CONFLICT = "the same student id is claimed by several submissions: grade by hand"
    ZIP_SLIP = "a path outside the archive (absolute or ..)"
    ZIP_BOMB = "expands beyond its size limit (zip bomb?): not extracted"
    ZIP_TOTAL = f"the archive's {MAX_ZIP_TOTAL_BYTES // 2**30} GiB limit was reached: not extracted"
    ZIP_CORRUPT = "a corrupt, encrypted or unsupported member: not extracted"
    ZIP_DUPLICATE = "a second member with the same name: not extracted"


@dataclass(frozen=True)
class Discovered:
    """What :func:`discover` found.

    submissions: student id -> {notebook stem: file}, sorted by id, notebooks in assignment order.
    skipped:     entries not graded, each with a plain-words reason (starting with a Reason).
    duplicates:  student id -> plain words on which of several files was taken, and why.
    """

    submissions: dict[str, dict[str, Path]]
    skipped: list[Skipped] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)


# --- reading one file safely ---------------------------------------------------------------------


def read_submission_bytes(path: Path | str, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of the regular file ``path``; ValueError (in plain words) when it is a symlink,
    not a regular file, unreadable or larger than ``limit``.

    Opened with O_NOFOLLOW (a link planted after discovery is refused) and O_NONBLOCK (a FIFO
    cannot block the grader); at most ``limit + 1`` bytes are read, whatever the size says.
    """
    name = clean_text(os.fsdecode(Path(path).name), 120)
    flags = (os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0)
             | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise ValueError(f"{name}: cannot be opened (a symbolic link, missing or unreadable: "
                         f"{exc.strerror})") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{name}: {Reason.NOT_REGULAR}")
        if st.st_size > limit:
            raise ValueError(f"{name}: larger than {limit} bytes")
        data = _read_at_most(fd, limit + 1)  # the size may change: read no more regardless
    except OSError as exc:
        raise ValueError(f"{name}: {Reason.UNREADABLE} ({exc.strerror})") from exc
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"{name}: larger than {limit} bytes")
    return data


def _read_at_most(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left > 0:
        chunk = os.read(fd, min(_CHUNK * 16, left))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# --- names: which layout, which id ---------------------------------------------------------------

_CANVAS_ANON = re.compile(
    r"^(?:late_)?(?P<anon>anon_[A-Za-z0-9]+)_(?P<attachment>\d+)_(?P<file>.+)$", re.IGNORECASE)
_CANVAS = re.compile(
    r"^(?P<name>\w+?)(?:_late)?_(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)$", re.IGNORECASE)
_MOODLE = re.compile(r"^(?P<name>[^_]+)_(?P<pid>\d+)_assignsubmission_(?P<plugin>[a-z]+)_"
                     r"(?P<file>.*)$", re.DOTALL)
_BLACKBOARD = re.compile(r"^(?P<assignment>.+?)_(?P<user>[^_]+)_attempt_"
                         r"(?P<stamp>\d{4}(?:-\d\d){5})(?P<rest>.*)$", re.DOTALL)
_GRADESCOPE_EXPORT = re.compile(r"^assignment_\d+_export$")
# One re-download / copy suffix at the end of a stem: Jupyter's -Copy1, Canvas's -1, a
# browser's " (2)", Windows' " - Copy".
_VARIANT_SUFFIX = re.compile(r"(?:-Copy\d*| \(\d+\)|-\d+| - Copy(?: \(\d+\))?)$", re.IGNORECASE)


@dataclass(frozen=True)
class _Entry:
    """What a top-level name says: the student, and for a flat LMS file the student's own file
    name (``file``) and Blackboard's attempt stamp."""

    student: str
    file: str | None = None
    attempt: str = ""


def _ascii_slug(text: str, cap: int = 40) -> str:
    """``text`` folded to lower-case ASCII letters and digits (accents dropped)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())[:cap]


def _canvas(name: str) -> _Entry | None:
    if m := _CANVAS_ANON.match(name):
        return _Entry(m["anon"], m["file"])
    if m := _CANVAS.match(name):
        slug = _ascii_slug(m["name"])
        return _Entry(f"{slug}_{m['user']}" if slug else m["user"], m["file"])
    return None


def _blackboard(name: str) -> _Entry | None:
    m = _BLACKBOARD.match(name)
    if not m:
        return None
    if m["rest"].lower() == ".txt":  # the attempt's receipt
        return _Entry(m["user"], None, m["stamp"])
    if m["rest"].startswith("_") and len(m["rest"]) > 1:
        return _Entry(m["user"], m["rest"][1:], m["stamp"])
    return None


def _moodle(name: str) -> tuple[_Entry, str] | None:
    """The entry and Moodle's plugin name (``file``, ``onlinetext``...)."""
    m = _MOODLE.match(name)
    return (_Entry(m["pid"], m["file"] or None), m["plugin"]) if m else None


def _is_ignored(name: str) -> bool:
    """Dot-entries (.ipynb_checkpoints, .DS_Store...) and macOS zip residue: never looked at."""
    return name.startswith(".") or name == "__MACOSX"


def _is_notebook_name(name: str) -> bool:
    return name.lower().endswith(".ipynb") and len(name) > len(".ipynb")


def _match_class(name: str, notebook: str) -> int | None:
    """0: exactly ``<notebook>.ipynb``; 1: a copy or re-download of it; None: something else."""
    if name == f"{notebook}.ipynb":
        return 0
    if not _is_notebook_name(name):
        return None
    stem = name[: -len(".ipynb")]
    for _ in range(3):  # "conv-Copy1 (2)": at most three suffixes
        stripped = _VARIANT_SUFFIX.sub("", stem)
        if stripped == stem:
            return None
        stem = stripped
        if stem == notebook:
            return 1
    return None


# --- walking -------------------------------------------------------------------------------------


class _TooMany(Exception):
    """A top-level folder has more than MAX_FOLDER_ENTRIES entries."""


@dataclass(frozen=True)
class _Candidate:
    """One regular ``.ipynb`` file of a student.

    name: the file name as the student gave it (an LMS prefix removed); matched against notebooks.
    rel:  its path inside the student's top-level entry (the name, for a flat LMS file): ranks.
    """

    student: str
    name: str
    rel: str
    path: Path
    source: str  # the top-level entry it came from
    attempt: str = ""

    def rank(self) -> tuple[int, str, str]:
        return len(self.rel), self.rel, str(self.path)


@dataclass
class _Walk:
    """The state of one discover() call: what was found and what was skipped."""

    root: Path
    notebooks: list[str]
    candidates: list[_Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def skip(self, path: Path | str, reason: Reason, detail: str = "") -> None:
        self.skipped.append(Skipped(self.rel(path), f"{reason} ({detail})" if detail else reason,
                                    reason.name))

    def rel(self, path: Path | str) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return os.fsdecode(path)


def _scan(path: Path, limit: int) -> tuple[list[os.DirEntry], bool]:
    """At most ``limit`` entries of ``path``, sorted by name, and whether more were left."""
    found: list[os.DirEntry] = []
    with os.scandir(path) as it:
        for entry in it:
            if len(found) == limit:
                return sorted(found, key=lambda e: e.name), True
            found.append(entry)
    return sorted(found, key=lambda e: e.name), False


def _kind(entry: os.DirEntry) -> str:
    """``link``, ``dir``, ``file`` (regular) or ``other``, without following anything."""
    if entry.is_symlink():
        return "link"
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    if entry.is_file(follow_symlinks=False):
        return "file"
    return "other"


def _size_ok(walk: _Walk, entry: os.DirEntry) -> bool:
    """Whether a regular file is small enough to grade (skipped with a reason if not)."""
    size = entry.stat(follow_symlinks=False).st_size
    if size > MAX_NOTEBOOK_BYTES:
        walk.skip(entry.path, Reason.TOO_LARGE, f"{size / MiB:.1f} MiB")
        return False
    return True


def _walk_folder(walk: _Walk, folder: Path, depth: int, budget: list[int]) -> list[Path]:
    """Regular ``.ipynb`` files under ``folder`` (a student's), depth-first in name order.

    Links, special files and folders named ``*.ipynb`` are skipped with a reason; ``budget``
    counts the entries still allowed for this top-level entry (_TooMany when spent).
    """
    entries, more = _scan(folder, budget[0])
    if more:
        raise _TooMany
    budget[0] -= len(entries)
    found: list[Path] = []
    for entry in entries:
        if _is_ignored(entry.name):
            continue
        try:
            found.extend(_walk_one(walk, entry, depth, budget))
        except OSError as exc:
            walk.skip(entry.path, Reason.UNREADABLE, exc.strerror or type(exc).__name__)
    return found


def _refused(kind: str, name: str) -> Reason | None:
    """Why an entry is refused at any level: a link, a special file, a folder named *.ipynb."""
    if kind == "link":
        return Reason.SYMLINK
    if kind == "other":
        return Reason.NOT_REGULAR
    if kind == "dir" and _is_notebook_name(name):
        return Reason.FOLDER_NOTEBOOK
    return None


def _walk_one(walk: _Walk, entry: os.DirEntry, depth: int, budget: list[int]) -> list[Path]:
    kind = _kind(entry)
    if refused := _refused(kind, entry.name):
        walk.skip(entry.path, refused)
    elif kind == "dir" and depth + 1 >= MAX_DEPTH:
        walk.skip(entry.path, Reason.TOO_DEEP)
    elif kind == "dir":
        return _walk_folder(walk, Path(entry.path), depth + 1, budget)
    elif _is_notebook_name(entry.name) and _size_ok(walk, entry):
        return [Path(entry.path)]
    return []


def _add_folder(walk: _Walk, entry: os.DirEntry, students: list[str]) -> None:
    """All notebooks of a top-level folder become candidates of its student(s)."""
    try:
        files = _walk_folder(walk, Path(entry.path), 0, [MAX_FOLDER_ENTRIES])
    except _TooMany:
        walk.skip(entry.path, Reason.TOO_MANY, f"more than {MAX_FOLDER_ENTRIES} in this folder")
        return
    if not files:
        walk.skip(entry.path, Reason.NO_NOTEBOOK)
    top = Path(entry.path)
    for student in students:
        walk.candidates.extend(_Candidate(student, f.name, f.relative_to(top).as_posix(), f,
                                          entry.name) for f in files)


def _add_file(walk: _Walk, entry: os.DirEntry, parsed: _Entry) -> None:
    """A flat LMS file (or ``<student>.ipynb``) becomes a candidate of ``parsed.student``."""
    name = parsed.file or ""
    if not is_student_id(parsed.student):
        walk.skip(entry.path, Reason.BAD_ID)
    elif not _is_notebook_name(name):
        walk.skip(entry.path, Reason.NOT_NOTEBOOK)
    elif _size_ok(walk, entry):
        walk.candidates.append(_Candidate(parsed.student, name, name, Path(entry.path),
                                          entry.name, parsed.attempt))


def _top_level(walk: _Walk, entry: os.DirEntry, gradescope: dict[str, list[str]] | None) -> None:
    """Read one top-level entry: which student, which files."""
    kind = _kind(entry)
    moodle = _moodle(entry.name)
    if refused := _refused(kind, entry.name):
        walk.skip(entry.path, refused)
    elif gradescope is not None:
        _top_gradescope(walk, entry, kind, gradescope)
    elif moodle is not None:
        _top_moodle(walk, entry, kind, *moodle)
    elif kind == "dir" and not is_student_id(entry.name):
        walk.skip(entry.path, Reason.BAD_ID)
    elif kind == "dir":
        _add_folder(walk, entry, [entry.name])
    else:
        _top_file(walk, entry)


def _top_moodle(walk: _Walk, entry: os.DirEntry, kind: str, parsed: _Entry, plugin: str) -> None:
    """A Moodle folder or flat file; other plugins than ``file`` (online text...) are ignored."""
    if plugin == "file" and kind == "dir":
        _add_folder(walk, entry, [parsed.student])
    elif plugin == "file":
        _add_file(walk, entry, parsed)


def _top_file(walk: _Walk, entry: os.DirEntry) -> None:
    """A regular file at the top: Blackboard, Canvas, or ``<student>.ipynb``."""
    parsed = _blackboard(entry.name) or _canvas(entry.name)
    stem = entry.name[: -len(".ipynb")]
    if parsed is not None and parsed.file is None:
        pass  # a Blackboard receipt
    elif parsed is not None:
        _add_file(walk, entry, parsed)
    elif not _is_notebook_name(entry.name):
        walk.skip(entry.path, Reason.NOT_NOTEBOOK)
    elif len(walk.notebooks) != 1:
        walk.skip(entry.path, Reason.BAD_ID, "a notebook at the top: expected a folder per student")
    elif stem in walk.notebooks:
        walk.skip(entry.path, Reason.BAD_ID, "named like the assignment's notebook")
    else:
        _add_file(walk, entry, _Entry(stem, f"{walk.notebooks[0]}.ipynb"))


# --- Gradescope ----------------------------------------------------------------------------------


def _top_gradescope(walk: _Walk, entry: os.DirEntry, kind: str,
                    ids: dict[str, list[str]]) -> None:
    """A ``submission_<n>/`` folder, for every submitter the metadata names."""
    if kind == "file" and entry.name == METADATA_NAME:
        pass
    elif kind != "dir" or entry.name not in ids:
        walk.skip(entry.path, Reason.NOT_IN_METADATA)
    elif not ids[entry.name]:
        walk.skip(entry.path, Reason.BAD_ID, "no submitter with a usable SID or email")
    else:
        _add_folder(walk, entry, ids[entry.name])


def _gradescope_ids(walk: _Walk, meta: Path) -> dict[str, list[str]]:
    """{submission folder: student ids} from Gradescope's metadata ({} if unusable)."""
    try:
        doc = yaml.safe_load(read_submission_bytes(meta, MAX_METADATA_BYTES))
    except (ValueError, yaml.YAMLError, RecursionError) as exc:
        walk.skip(meta, Reason.BAD_METADATA, type(exc).__name__)
        return {}
    if not isinstance(doc, dict):
        walk.skip(meta, Reason.BAD_METADATA, "not a mapping of submissions")
        return {}
    ids: dict[str, list[str]] = {}
    for folder, info in list(doc.items())[:MAX_ENTRIES]:
        if isinstance(folder, str) and isinstance(info, dict):
            ids[folder] = _submitter_ids(info.get(":submitters"))
    return ids


def _submitter_ids(submitters: object) -> list[str]:
    """Each submitter's SID if usable, else email; submitters with neither are dropped."""
    if not isinstance(submitters, list):
        return []
    found: list[str] = []
    for person in submitters[:MAX_SUBMITTERS]:
        if not isinstance(person, dict):
            continue
        for key in (":sid", ":email"):
            value = person.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if is_student_id(value) and value not in found:
                found.append(value)
                break
    return found


def _drop_conflicts(walk: _Walk) -> None:
    """An id that two different Gradescope submissions claim goes to nobody (see module doc)."""
    sources: dict[str, set[str]] = defaultdict(set)
    for c in walk.candidates:
        sources[c.student].add(c.source)
    bad = {s for s, src in sources.items() if len(src) > 1}
    for student in sorted(bad):
        for source in sorted(sources[student]):
            walk.skip(walk.root / source, Reason.ID_CONFLICT, clean_text(student, 64))
    walk.candidates = [c for c in walk.candidates if c.student not in bad]


# --- choosing ------------------------------------------------------------------------------------


def _latest_attempt(walk: _Walk, student: str, cands: list[_Candidate]) -> list[_Candidate]:
    """Blackboard: only the latest attempt's files (by Blackboard's timestamp) are graded."""
    stamps = sorted({c.attempt for c in cands if c.attempt})
    if len(stamps) < 2:
        return cands
    walk.notes[student].append(f"{len(stamps)} attempts: graded the latest ({stamps[-1]})")
    return [c for c in cands if not c.attempt or c.attempt == stamps[-1]]


def _choose(walk: _Walk, student: str, cands: list[_Candidate]) -> dict[str, Path]:
    """{notebook: file} for one student, by the rule of the module docstring."""
    chosen: dict[str, _Candidate] = {}
    claimed: set[_Candidate] = set()
    for nb in walk.notebooks:
        scored = [(cls, c) for c in cands if (cls := _match_class(c.name, nb)) is not None]
        claimed.update(c for _, c in scored)
        if scored:
            cls, best = min(scored, key=lambda t: (t[0], t[1].rank()))
            chosen[nb] = best
            if cls or len(scored) > 1:
                walk.notes[student].append(_why(nb, best, len(scored)))
    missing = [nb for nb in walk.notebooks if nb not in chosen]
    others = sorted((c for c in cands if c not in claimed), key=_Candidate.rank)
    if len(missing) == 1 and others:
        chosen[missing[0]] = others[0]
        walk.notes[student].append(
            f"no {missing[0]}.ipynb: graded '{others[0].rel}', "
            + ("the only other notebook" if len(others) == 1
               else f"the first of {len(others)} other notebooks (shortest path, then name)"))
    return {nb: chosen[nb].path for nb in walk.notebooks if nb in chosen}


def _why(nb: str, best: _Candidate, count: int) -> str:
    if count == 1:
        return f"no {nb}.ipynb: graded '{best.rel}', a copy of it"
    return (f"{count} files for {nb}: graded '{best.rel}' (exact name first, then the shortest "
            "path, then name)")


def _result(walk: _Walk) -> Discovered:
    by_student: dict[str, list[_Candidate]] = defaultdict(list)
    for c in walk.candidates:
        by_student[c.student].append(c)
    submissions: dict[str, dict[str, Path]] = {}
    for student in sorted(by_student):
        cands = _latest_attempt(walk, student, by_student[student])
        files = _choose(walk, student, cands)
        if files:
            submissions[check_student_id(student)] = files
        else:
            names = ", ".join(sorted({c.rel for c in cands}))
            walk.skip(walk.root / cands[0].source, Reason.NO_NOTEBOOK, f"found: {names}")
    duplicates = {s: clean_text("; ".join(n), 600) for s, n in sorted(walk.notes.items())
                  if n and s in submissions}
    return Discovered(submissions, walk.skipped, duplicates)


# --- entry points --------------------------------------------------------------------------------


def _list_root(root: Path) -> tuple[list[os.DirEntry], bool]:
    try:
        return _scan(root, MAX_ENTRIES)
    except OSError as exc:
        raise ValueError(f"submissions folder {clean_text(os.fsdecode(root), 200)} cannot be "
                         f"read: {exc.strerror or exc}") from exc


def _unwrap(root: Path, entries: list[os.DirEntry], assignment: str) -> Path | None:
    """The inner folder when the whole download is wrapped in one (see module docstring)."""
    visible = [e for e in entries if not _is_ignored(e.name)]
    if len(visible) != 1 or _kind(visible[0]) != "dir":
        return None
    inner = Path(visible[0].path)
    if visible[0].name == assignment or _GRADESCOPE_EXPORT.match(visible[0].name):
        return inner
    return inner if _regular_file(inner / METADATA_NAME) else None


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def discover(root: Path, notebooks: Sequence[str], assignment: str) -> Discovered:
    """Find every student's notebooks under ``root`` (a folder as downloaded).

    notebooks:  the assignment's notebook stems (e.g. ``["conv_arithmetic"]``).
    assignment: the assignment id (e.g. ``"01_conv_arithmetic"``).
    Raises ValueError only when ``root`` is missing or unreadable; every bad entry under it is
    reported in ``skipped`` instead.
    """
    notebooks = list(notebooks)
    if not notebooks or not all(isinstance(nb, str) and nb and "/" not in nb for nb in notebooks):
        raise ValueError(f"notebooks must be non-empty stems, got {notebooks!r}")
    root = Path(root)
    entries, more = _list_root(root)
    if (inner := _unwrap(root, entries, assignment)) is not None:
        root = inner
        entries, more = _list_root(root)
    walk = _Walk(root, notebooks)
    if more:
        walk.skip(root, Reason.TOO_MANY, f"only the first {MAX_ENTRIES} entries were looked at")
    gradescope = None
    if any(e.name == METADATA_NAME for e in entries):
        gradescope = _gradescope_ids(walk, root / METADATA_NAME)
    for entry in entries:
        if _is_ignored(entry.name):
            continue
        try:
            _top_level(walk, entry, gradescope)
        except OSError as exc:
            walk.skip(entry.path, Reason.UNREADABLE, exc.strerror or type(exc).__name__)
    if gradescope is not None:
        _drop_conflicts(walk)
    return _result(walk)


# --- zips ----------------------------------------------------------------------------------------


@dataclass
class _Unzip:
    """The state of one extract_zip() call."""

    zf: zipfile.ZipFile
    dest: Path
    skipped: list[Skipped] = field(default_factory=list)
    total: int = 0  # bytes written so far
    full: bool = False  # MAX_ZIP_TOTAL_BYTES reached: nothing more is extracted

    def skip(self, name: str, reason: Reason, detail: str = "") -> None:
        self.skipped.append(Skipped(name, f"{reason} ({detail})" if detail else reason,
                                    reason.name))


def _member_parts(name: str) -> list[str] | None:
    """The path parts of a member name, or None when it points outside the archive."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or "\0" in name:
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    return None if ".." in parts else parts


def _member_kind(info: zipfile.ZipInfo) -> str:
    """``dir``, ``link``, ``other`` or ``file``, from the name and the Unix mode bits."""
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "file" if stat.S_IFMT(mode) in (0, stat.S_IFREG) else "other"


def _overlapping(infos: Sequence[zipfile.ZipInfo]) -> set[int]:
    """ids of the members whose data overlaps an earlier member's: the trick of non-recursive
    zip bombs (many entries inflating the same compressed bytes)."""
    bad, end = set(), 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset < end:
            bad.add(id(info))
        end = max(end, info.header_offset + info.compress_size)
    return bad


def _wanted(unzip: _Unzip, infos: Sequence[zipfile.ZipInfo]) -> list[tuple[zipfile.ZipInfo,
                                                                          list[str]]]:
    """The members to extract, in name order; refusals are reported, the rest ignored."""
    wanted: list[tuple[zipfile.ZipInfo, list[str]]] = []
    per_folder: dict[str, int] = defaultdict(int)
    excess: dict[str, int] = defaultdict(int)
    overlapping = _overlapping(infos)
    for info in sorted(infos, key=lambda i: i.filename):
        parts, kind = _member_parts(info.filename), _member_kind(info)
        if parts is None:
            unzip.skip(info.filename, Reason.ZIP_SLIP)
        elif not parts or kind == "dir" or any(_is_ignored(p) for p in parts):
            continue
        elif kind != "file":
            unzip.skip(info.filename, Reason.SYMLINK if kind == "link" else Reason.NOT_REGULAR)
        elif Path(parts[-1]).suffix.lower() not in _ZIP_KEEP:
            if len(parts) == 1:  # an LMS entry (a PDF, a zip...): the instructor should know
                unzip.skip(info.filename, Reason.NOT_NOTEBOOK, "not extracted")
        elif id(info) in overlapping:
            unzip.skip(info.filename, Reason.ZIP_BOMB, "its data overlaps another member's")
        elif len(wanted) >= MAX_ZIP_MEMBERS:
            excess["(archive)"] += 1
        elif len(parts) > 1 and per_folder[parts[0]] >= MAX_FOLDER_ENTRIES:
            excess[parts[0]] += 1  # one crowded folder must not crowd out its classmates
        else:
            per_folder[parts[0]] += len(parts) > 1
            wanted.append((info, parts))
    for folder, n in sorted(excess.items()):
        unzip.skip(folder, Reason.TOO_MANY, f"{n} members not extracted")
    return wanted


def _make_dirs(dest: Path, parts: list[str]) -> Path:
    """``dest/parts...`` as real folders (OSError if any exists as something else)."""
    here = dest
    for part in parts:
        here = here / part
        try:
            os.mkdir(here, 0o700)
        except FileExistsError:
            pass
        if not stat.S_ISDIR(os.lstat(here).st_mode):
            raise NotADirectoryError(f"{part} exists and is not a folder")
    return here


def _extract_one(unzip: _Unzip, info: zipfile.ZipInfo, parts: list[str]) -> None:
    """Write one member as a new regular file below dest, or report why not."""
    cap = _ZIP_KEEP[Path(parts[-1]).suffix.lower()]
    if info.file_size > cap:
        unzip.skip(info.filename, Reason.ZIP_BOMB, f"declares {info.file_size} bytes")
        return
    try:
        target = _make_dirs(unzip.dest, parts[:-1]) / parts[-1]
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                     | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        unzip.skip(info.filename, Reason.ZIP_DUPLICATE)
        return
    except OSError as exc:
        unzip.skip(info.filename, Reason.UNREADABLE, exc.strerror or type(exc).__name__)
        return
    why = _copy_member(unzip, info, fd, cap)
    if why is not None:
        os.unlink(target)
        unzip.skip(info.filename, *why)


def _copy_member(unzip: _Unzip, info: zipfile.ZipInfo, fd: int,
                 cap: int) -> tuple[Reason, str] | None:
    """Copy one member in chunks, stopping at its cap or the archive's; why it failed, if so."""
    written = 0
    try:
        with os.fdopen(fd, "wb") as out, unzip.zf.open(info) as src:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > cap:
                    return Reason.ZIP_BOMB, f"more than {cap} bytes"
                if unzip.total + written > MAX_ZIP_TOTAL_BYTES:
                    unzip.full = True
                    return Reason.ZIP_TOTAL, ""
                out.write(chunk)
    except Exception as exc:  # any decoder error (bad CRC, zlib, encrypted) is this member's
        return Reason.ZIP_CORRUPT, type(exc).__name__
    unzip.total += written
    return None


def _open_zip(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except Exception as exc:  # whatever the central directory does wrong: not readable
        raise ValueError(f"{clean_text(os.fsdecode(archive.name), 120)} is not a readable zip "
                         f"file: {clean_text(exc, 200) or type(exc).__name__}") from exc


def extract_zip(archive: Path, dest: Path) -> list[Skipped]:
    """Unpack an LMS zip safely into ``dest`` (then call :func:`discover` on ``dest``).

    Only ``.ipynb``, ``.yml`` and ``.txt`` members are written, as new regular files below
    ``dest``; zip slip, links, special files and overlapping members are refused; each member is
    read in chunks up to its cap, and all of them up to MAX_ZIP_TOTAL_BYTES. Returns what was
    not extracted and why; ValueError when ``archive`` is missing or not a readable zip.
    """
    archive, dest = Path(archive), Path(dest)
    with _open_zip(archive) as zf:
        dest.mkdir(parents=True, exist_ok=True)
        unzip = _Unzip(zf, dest)
        left = 0
        for info, parts in _wanted(unzip, zf.infolist()):
            if unzip.full:
                left += 1
            else:
                _extract_one(unzip, info, parts)
        if left:
            unzip.skip("(archive)", Reason.ZIP_TOTAL, f"{left} more members")
    return unzip.skipped
