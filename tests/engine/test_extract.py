"""engine.extract: which code gets graded, where its lines are, what is reported (no sandbox)."""

from __future__ import annotations

import json

import nbformat
import pytest
from fixtures.fixture_notebook import make_source, make_submission
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.course.cells import read_notebook, released_source
from autograder.engine.extract import SETUP, extract, kept_code, strip_magics
from autograder.results import ProblemKind


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _texts(e) -> list[str]:
    return [p.text for p in e.problems]


def test_correct_submission_gives_setup_imports_then_each_solution_cell() -> None:
    e = extract(make_submission(), make_source())
    assert e.problems == []
    assert [cell for cell, _ in e.units] == [SETUP, "relu_forward_impl", "conv_output_size_impl",
                                             "conv_forward_naive_impl"]
    assert e.units[0][1] == "import numpy as np\n"
    assert e.claimed_points == {"test_relu_forward": 2.0, "test_conv_output_size": 1.0,
                                "test_conv_forward_naive": 4.0}
    assert e.defined_in == {"relu_forward": "relu_forward_impl",
                            "conv_output_size": "conv_output_size_impl",
                            "conv_forward_naive": "conv_forward_naive_impl"}


def test_only_imports_defs_and_classes_are_kept_on_their_own_lines() -> None:
    src = ("import functools\nprint('side effect')\nget_ipython().showtraceback = None\n"
           "%time x = 1\n!rm -rf /\n@functools.lru_cache\ndef relu_forward(x):\n"
           "    %time y = 2\n    return x, x\nclass Layer:\n    pass\nrelu_forward(3)\n")
    e = extract(make_submission({"relu_forward_impl": src}), make_source())
    code = dict(e.units)["relu_forward_impl"]
    assert code.splitlines() == ["import functools", "", "", "", "", "@functools.lru_cache",
                                 "def relu_forward(x):", "    pass", "    return x, x",
                                 "class Layer:", "    pass", ""]


@pytest.mark.parametrize(("src", "kept"), [
    ("import os; os.system('x')\n", "import os\n"),
    ("import numpy as np; np.allclose = lambda *a: True\n", "import numpy as np\n"),
    ("x = 1; import os\n", "import os\n"),
    ("import a; import b\n", "import a; import b\n"),
    ("from m import (a,\n    b); evil()\n", "from m import (a,\n    b)\n"),
])
def test_a_statement_sharing_a_line_with_an_import_is_not_kept(src: str, kept: str) -> None:
    assert kept_code(src) == kept


def test_syntax_error_drops_only_that_cell_and_names_its_line() -> None:
    e = extract(make_submission({"conv_forward_naive_impl": "\n\ndef conv_forward_naive(:\n"}),
                make_source())
    assert _texts(e) == ["cell conv_forward_naive_impl has a syntax error (line 3: invalid "
                         "syntax); its code was not graded"]
    assert [p.kind for p in e.problems] == [ProblemKind.SYNTAX]
    assert "conv_forward_naive_impl" in e.broken and "conv_forward_naive_impl" not in dict(e.units)


@pytest.mark.parametrize(("raw", "problem"), [
    (b"", "the notebook file is empty"),
    (b"   \n", "the notebook file is empty"),
    (b"{oops", "the notebook is not valid JSON"),
    (b"\xff\xfe\x00", "the notebook is not valid JSON"),
    (b"[1, 2]", "not a Jupyter notebook"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
    (json.dumps({"nbformat": 5, "cells": []}).encode(), "unsupported notebook format version 5"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {},
                 "cells": [{"cell_type": "code", "source": 3}]}).encode(), "could not be parsed"),
])
def test_unreadable_files_are_problems_not_crashes(tmp_path, raw: bytes, problem: str) -> None:
    p = tmp_path / "sub.ipynb"
    p.write_bytes(raw)
    e = extract(p, make_source())
    assert e.units == [] and not e.has_code
    assert len(e.problems) == 1 and problem in e.problems[0].text
    assert e.problems[0].kind == ProblemKind.UNREADABLE


@pytest.mark.parametrize("make", ["symlink", "fifo", "dir"])
def test_links_fifos_and_folders_are_never_read(tmp_path, make: str) -> None:
    p = tmp_path / "sub.ipynb"
    if make == "symlink":
        nbformat.write(make_submission(), tmp_path / "classmate.ipynb")
        p.symlink_to(tmp_path / "classmate.ipynb")
    elif make == "fifo":
        import os

        os.mkfifo(p)
    else:
        p.mkdir()
    e = extract(p, make_source())
    assert not e.has_code and e.problems[0].kind == ProblemKind.UNREADABLE


def test_cells_are_matched_by_the_source_grade_ids() -> None:
    nb = make_submission()
    nb.cells.remove(_cell(nb, "relu_forward_impl"))                 # deleted
    _cell(nb, "conv_output_size_impl").metadata.nbgrader["grade_id"] = "mine"   # renamed
    dup = nbformat.from_dict(json.loads(json.dumps(_cell(nb, "conv_forward_naive_impl"))))
    dup.source = "def conv_forward_naive(x, w, b, p):\n    return 'second copy'\n"
    nb.cells.append(dup)                                            # duplicated
    nb.cells[0].metadata.nbgrader["solution"] = True  # the source decides, not the student
    e = extract(nb, make_source())
    assert _texts(e) == [
        "grade cell relu_forward_impl is missing (deleted or renamed)",
        "grade cell conv_output_size_impl is missing (deleted or renamed)",
        "grade cell conv_forward_naive_impl appears 2 times (duplicated): the first copy was used",
        "a cell has the unknown grade id 'mine' (a renamed grade cell?): it was ignored",
    ]
    assert all(p.kind.needs_review for p in e.problems)
    code = "".join(c for _, c in e.units)
    assert "second copy" not in code and "relu_forward" not in code
    assert "conv_output_size" not in code and "def conv_forward_naive" in code


def test_edited_locked_cells_and_points_are_reported() -> None:
    nb = make_submission()
    _cell(nb, "test_relu_forward").source += "\nassert True"
    _cell(nb, "test_conv_output_size").metadata.nbgrader["points"] = 50
    _cell(nb, "md_intro").source = "# my notes"
    e = extract(nb, make_source())
    assert _texts(e) == ["locked cell md_intro was edited", "locked cell test_relu_forward was "
                         "edited", "the points of cell test_conv_output_size were changed from 1 "
                         "to 50"]
    assert e.claimed_points["test_conv_output_size"] == 50.0


def test_student_text_in_problems_is_cleaned_and_capped() -> None:
    nb = make_submission()
    _cell(nb, "conv_output_size_impl").metadata.nbgrader["grade_id"] = "\x1b[2J=cmd" + "x" * 5000
    _cell(nb, "test_conv_output_size").metadata.nbgrader["points"] = "9" * 5_000_000
    e = extract(nb, make_source())
    assert all("\x1b" not in p.text and len(p.text) <= 300 for p in e.problems)


def test_released_locked_cells_without_hidden_tests_are_not_edits() -> None:
    src = "a = 1\n### BEGIN HIDDEN TESTS\nassert a\n### END HIDDEN TESTS\nb = 2"
    assert released_source(src) == "a = 1\nb = 2"
    assert extract(make_submission(), make_source()).problems == []


def test_setup_imports_come_from_the_source_not_the_submission() -> None:
    nb = make_submission()
    nb.cells[1].source = "import os\nos._exit(1)\nimport numpy as np"
    e = extract(nb, make_source())
    assert e.units[0] == (SETUP, "import numpy as np\n")


def test_null_bytes_are_a_syntax_problem() -> None:
    e = extract(make_submission({"relu_forward_impl": "def f():\x00\n"}), make_source())
    assert _texts(e) == ["cell relu_forward_impl contains null bytes; its code was not graded"]


def test_strip_magics_keeps_indentation() -> None:
    assert strip_magics("if x:\n    %timeit f()\n!ls\ny = 1") == "if x:\n    pass\npass\ny = 1"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    nb, problems = read_notebook(raw)
    assert (nb is None) == bool(problems)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_solution_text_never_raises(text: str) -> None:
    e = extract(make_submission({"relu_forward_impl": text}), make_source())
    assert all(p.kind == ProblemKind.SYNTAX for p in e.problems)
    for _cell_name, code in e.units:
        compile(code, "x", "exec")
