"""The hostile corpus graded as one batch (2 workers), then the batch's side effects checked."""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from pathlib import Path

import pytest
from fixtures import fixture_checks as fc
from fixtures.fixture_notebook import make_source, write

from autograder.course.gradebook import record
from autograder.engine.batch import grade_assignment

from .corpus import FULL, LEFTOVER, attacks, write_corpus

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    course = tmp_path_factory.mktemp("course")
    source = write(make_source(), course / "source" / "fixture.ipynb")
    gradebook = course / "gradebook.db"
    record(gradebook, "cnn-course", fc.ASSIGNMENT, fc.NOTEBOOK, source, [])
    canary = Path("/tmp") / f"cnnkit-canary-{secrets.token_hex(6)}"
    targets = {"gradebook": str(gradebook), "checks": fc.__file__, "canary": str(canary),
               "solutions": str(source)}
    secrets_before = {p: _sha(Path(p)) for p in
                      [gradebook, source, fc.__file__, *sorted(
                          (ROOT / "autograder" / "checks").glob("*.py"))]}
    corpus = write_corpus(course / "submitted", targets)
    t0 = time.monotonic()
    results = grade_assignment(fc, course / "submitted", course / "out", jobs=2,
                               seed="adversarial-seed", source_nb=source, progress=False)
    elapsed = time.monotonic() - t0
    time.sleep(4)  # longer than the detached rewriter's sleep: it would have written by now
    return {"results": {r.student: r for r in results}, "corpus": corpus,
            "secrets_before": secrets_before, "canary": canary, "elapsed": elapsed,
            "out": course / "out"}


def test_corpus_covers_the_attacks_of_the_issue() -> None:
    names = {a.name for a in attacks({"gradebook": "g", "checks": "c", "canary": "x",
                                      "solutions": "s"})}
    assert len(names) >= 20
    for required in ("not_json", "empty_file", "deleted_grade_cell", "duplicated_grade_cell",
                     "renamed_grade_cell", "edited_locked_cell", "missing_function",
                     "wrong_signature", "syntax_error", "print_100mb", "sys_exit", "os_exit",
                     "segfault_ctypes", "infinite_loop", "fork_bomb", "alloc_50gb",
                     "read_outside_files", "monkeypatch_numpy", "ipython_input_transformer",
                     "override_showtraceback", "detached_gradebook_rewriter",
                     "print_fake_results", "write_fake_results_file"):
        assert required in names


@pytest.mark.parametrize("attack", [a.name for a in attacks(
    {"gradebook": "g", "checks": "c", "canary": "x", "solutions": "s"})])
def test_attack_gets_exact_grade_and_reason(batch: dict, attack: str) -> None:
    a = batch["corpus"][attack]
    r = batch["results"][attack]
    got = {c.name: c.points for c in r.results}
    assert got == a.scores, (got, [c.message for c in r.results], r.problems)
    assert r.total == a.total
    text = " | ".join([c.message for c in r.results] + [p.text for p in r.problems])
    assert a.reason in text
    if a.flag is not None:
        assert any(a.flag in f.text for f in r.flags), r.flags


def test_honest_students_in_the_same_batch_get_full_marks(batch: dict) -> None:
    for name in ("honest_0", "honest_1"):
        r = batch["results"][name]
        assert {c.name: c.points for c in r.results} == FULL
        assert r.problems == [] and r.flags == []


def test_secrets_unchanged_and_nothing_escaped(batch: dict) -> None:
    after = {p: _sha(Path(p)) for p in batch["secrets_before"]}
    assert after == batch["secrets_before"]
    assert not batch["canary"].exists()


def test_no_process_of_a_submission_left_running(batch: dict) -> None:
    """The detached rewriter named itself LEFTOVER; nothing of that name may survive."""
    names = []
    for entry in os.listdir("/proc"):
        try:
            names.append(Path(f"/proc/{entry}/comm").read_text().strip())
        except OSError:
            continue
    assert LEFTOVER not in names


def test_feedback_escapes_student_text(batch: dict) -> None:
    html = (batch["out"] / "renamed_grade_cell" / "feedback.html").read_text()
    assert "unknown grade id &#x27;mine&#x27;" in html


def test_batch_ran_with_full_isolation(batch: dict) -> None:
    # read_outside_files got full marks only because nothing was readable (see corpus.py)
    assert batch["results"]["read_outside_files"].total == 7
    assert all(not r.flags or all(f.kind.value != "isolation" for f in r.flags)
               for r in batch["results"].values())
