"""The grading data model, at the bottom of the engine: what a grade is made of.

Everything a student can influence (ids from file names, exception messages, grade ids and
points from notebook metadata, values quoted in messages) is cleaned *when it enters* this model:
control characters and bidirectional overrides are dropped and the length is capped
(:func:`clean_text`). Every output (terminal, CSV, JSON, HTML, gradebook) is written from these
objects, so none of them can receive raw student text, whichever path (CLI or Python API) built
them. Problems and flags carry a ``kind``: decisions read the kind, never the wording.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

#: Longest message a student or instructor sees for one check, problem or flag.
MAX_TEXT = 300
#: Longest student id.
MAX_ID = 64

# Student ids become folder names, gradebook keys and CSV cells: path- and formula-safe.
_STUDENT_ID = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_.@+-]{{0,{MAX_ID - 1}}}$")
# Bidirectional overrides and isolates can make a terminal or a page show text reordered.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F,
                          0x061C)}


def clean_text(text: object, cap: int = MAX_TEXT) -> str:
    """``text`` as one safe line: no control characters (``\\n`` and ``\\t`` become spaces), no
    bidi overrides, at most ``cap`` characters (an ellipsis marks a cut)."""
    s = str(text)
    if len(s) > 4 * cap:  # cheap bound before the per-character pass
        s = s[: 4 * cap]
    out = []
    for ch in s:
        if ch in "\n\t\r":
            out.append(" ")
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(ch)
    s = re.sub(r" {2,}", " ", "".join(out)).strip()
    return s if len(s) <= cap else s[: cap - 1].rstrip() + "…"


def check_student_id(student: object) -> str:
    """``student`` when it is a usable id (letters, digits, ``_.@+-``, at most 64 characters,
    starting with a letter or digit); otherwise ValueError saying what is expected."""
    if not isinstance(student, str) or not _STUDENT_ID.match(student):
        raise ValueError(
            f"{clean_text(repr(student), 80)} is not a usable student id: expected 1-{MAX_ID} "
            "letters, digits or _.@+- characters, starting with a letter or digit")
    return student


def is_student_id(student: object) -> bool:
    return isinstance(student, str) and bool(_STUDENT_ID.match(student))


class ProblemKind(StrEnum):
    """What is wrong with a submitted notebook (shown to the student)."""

    UNREADABLE = "unreadable"            # missing, empty, not JSON, not a notebook, too large
    NO_SOURCE = "no_source"              # graded without the instructor's source notebook
    SYNTAX = "syntax"                    # a solution cell does not parse
    LOAD_ERROR = "load_error"            # a solution cell raised while its code was loaded
    CELL_MISSING = "cell_missing"        # a grade cell was deleted (or its id changed)
    CELL_DUPLICATED = "cell_duplicated"  # a grade cell appears more than once
    CELL_UNKNOWN = "cell_unknown"        # a cell carries a grade id the source does not have
    LOCKED_EDITED = "locked_edited"      # a locked cell's text was changed
    POINTS_CHANGED = "points_changed"    # a test cell's points were changed

    @property
    def needs_review(self) -> bool:
        """Integrity problems: the instructor should look, whatever the score."""
        return self in (ProblemKind.CELL_MISSING, ProblemKind.CELL_DUPLICATED,
                        ProblemKind.CELL_UNKNOWN, ProblemKind.LOCKED_EDITED,
                        ProblemKind.POINTS_CHANGED)


class FlagKind(StrEnum):
    """Why an instructor should review a grade (never shown as the student's fault)."""

    INTEGRITY = "integrity"            # see ProblemKind.needs_review
    ISOLATION = "isolation"            # the sandbox could not isolate the code completely
    LIMITS = "limits"                  # no cgroup: memory/pids/CPU limits are rlimits only
    GRADER_ERROR = "grader_error"      # the grader failed on this submission: grade by hand
    CLAIMED_POINTS = "claimed_points"  # the notebook claims more points than the checks give
    NBGRADER_HIGHER = "nbgrader_higher"  # nbgrader's own run scored a cell higher
    DUPLICATE = "duplicate"            # several files of one student: which one was graded


@dataclass(frozen=True)
class Problem:
    """Something wrong with the submission, in plain words; ``cell`` is the grade id it is
    about (when it is about one)."""

    kind: ProblemKind
    text: str
    cell: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ProblemKind(self.kind))
        object.__setattr__(self, "text", clean_text(self.text))
        if self.cell is not None:
            object.__setattr__(self, "cell", clean_text(self.cell, 80))


@dataclass(frozen=True)
class Flag:
    """A reason for the instructor to review a grade."""

    kind: FlagKind
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FlagKind(self.kind))
        object.__setattr__(self, "text", clean_text(self.text))


@dataclass(frozen=True)
class CheckResult:
    """Score of one autograded test cell: ``points`` of ``max_points`` and why."""

    name: str
    points: float
    max_points: float
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_text(self.name, 80))
        object.__setattr__(self, "message", clean_text(self.message))
        pts, top = float(self.points), float(self.max_points)
        if not 0.0 <= pts <= top:
            raise ValueError(f"points {pts} outside [0, {top}] for {self.name}")
        object.__setattr__(self, "points", round(pts, 6))
        object.__setattr__(self, "max_points", top)


@dataclass(frozen=True)
class ManualItem:
    """A manually graded answer cell: it waits for a person, it is never auto-scored."""

    name: str
    max_points: float


@dataclass
class SubmissionResult:
    """Everything graded about one student's notebook.

    results:  one entry per autograded test cell, in notebook order.
    manual:   manually graded cells (written answers): counted apart, never auto-scored.
    problems: what is wrong with the submission itself (shown to the student).
    flags:    what the instructor should review.
    """

    student: str
    assignment: str
    results: list[CheckResult]
    problems: list[Problem] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    manual: list[ManualItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_student_id(self.student)
        self.assignment = clean_text(self.assignment, 80)

    @property
    def total(self) -> float:
        return round(sum(r.points for r in self.results), 6)

    @property
    def max_total(self) -> float:
        return round(sum(r.max_points for r in self.results), 6)

    @property
    def manual_max(self) -> float:
        return round(sum(m.max_points for m in self.manual), 6)

    @property
    def needs_review(self) -> bool:
        return bool(self.flags)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["total"], d["max_total"], d["manual_max"] = self.total, self.max_total, self.manual_max
        return d


@dataclass(frozen=True)
class Skipped:
    """A submission entry that was not graded (a symlink, a file too large, a bad name...).

    entry: the entry's name as found (cleaned); reason: plain words; kind: the reason's
    identifier (``autograder.course.discover.Reason`` names), for code to decide on.
    """

    entry: str
    reason: str
    kind: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry", clean_text(self.entry, 120))
        object.__setattr__(self, "reason", clean_text(self.reason))
