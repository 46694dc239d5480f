"""extract.solution_code: which code gets graded, and what is reported about the submission."""

from __future__ import annotations

import json

import nbformat
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.extract import read_notebook, released_source, solution_code, strip_magics
from grading.fixture_notebook import CONV, RELU, make_source, make_submission


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def test_correct_submission_keeps_setup_imports_and_functions_only() -> None:
    e = solution_code(make_submission(), make_source())
    assert e.problems == []
    assert e.code.startswith("# --- setup imports ---\nimport numpy as np\n")
    assert "%matplotlib" not in e.code
    for fn in ("def relu_forward", "def conv_output_size", "def conv_forward_naive"):
        assert e.code.count(fn) == 1
    assert e.test_points == {"test_conv_forward_naive": 4.0, "test_conv_output_size": 1.0,
                             "test_relu_forward": 2.0}
    compile(e.code, "x", "exec")


def test_top_level_statements_are_dropped_and_decorators_kept() -> None:
    src = ("import functools\nprint('side effect')\nget_ipython().showtraceback = None\n"
           "%time x = 1\n!rm -rf /\n@functools.lru_cache\ndef relu_forward(x):\n"
           "    %time y = 2\n    return x, x\nclass Layer:\n    pass\nrelu_forward(3)\n")
    e = solution_code(make_submission({"relu_forward_impl": src}), make_source())
    assert e.problems == []
    body = e.code.split("# --- cell relu_forward_impl ---\n")[1].split("# --- cell")[0]
    assert body.strip() == ("import functools\n\n@functools.lru_cache\ndef relu_forward(x):\n"
                            "    pass\n    return x, x\n\nclass Layer:\n    pass")


def test_syntax_error_drops_only_that_cell() -> None:
    e = solution_code(make_submission({"conv_forward_naive_impl": "def conv_forward_naive(:\n"}),
                      make_source())
    assert e.problems == ["cell 'conv_forward_naive_impl' has a syntax error (line 1: "
                          "invalid syntax); its code was not graded"]
    assert "def relu_forward" in e.code and "conv_forward_naive" not in e.code


@pytest.mark.parametrize(("raw", "problem"), [
    (b"", "the notebook file is empty"),
    (b"   \n", "the notebook file is empty"),
    (b"{oops", "the notebook is not valid JSON"),
    (b"\xff\xfe\x00", "the notebook is not valid JSON"),
    (b"[1, 2]", "not a Jupyter notebook"),
    (json.dumps({"nbformat": 5, "cells": []}).encode(), "unsupported notebook format version 5"),
    (json.dumps({"nbformat": 4, "nbformat_minor": 4, "metadata": {},
                 "cells": [{"cell_type": "code", "source": 3}]}).encode(), "could not be parsed"),
])
def test_unreadable_files_are_problems_not_crashes(tmp_path, raw, problem) -> None:
    p = tmp_path / "sub.ipynb"
    p.write_bytes(raw)
    e = solution_code(p, make_source())
    assert e.code == ""
    assert len(e.problems) == 1 and problem in e.problems[0]


def test_missing_file_is_a_problem(tmp_path) -> None:
    e = solution_code(tmp_path / "nope.ipynb", make_source())
    assert e.code == "" and "could not be read" in e.problems[0]


def test_cells_are_matched_by_the_source_grade_ids() -> None:
    nb = make_submission()
    nb.cells.remove(_cell(nb, "relu_forward_impl"))                 # deleted
    _cell(nb, "conv_output_size_impl").metadata.nbgrader["grade_id"] = "mine"   # renamed
    dup = nbformat.from_dict(json.loads(json.dumps(_cell(nb, "conv_forward_naive_impl"))))
    dup.source = "def conv_forward_naive(x, w, b, p):\n    return 'second copy'\n"
    nb.cells.append(dup)                                            # duplicated
    # a student marks a markdown cell as a solution: ignored, the source decides
    nb.cells[0].metadata.nbgrader["solution"] = True
    e = solution_code(nb, make_source())
    assert e.problems == [
        "cell with unknown grade_id 'mine' (a renamed grade cell?): it was ignored",
        "grade cell 'relu_forward_impl' is missing (deleted or renamed)",
        "grade cell 'conv_output_size_impl' is missing (deleted or renamed)",
        "grade cell 'conv_forward_naive_impl' appears 2 times (duplicated): only the first "
        "copy was used",
    ]
    assert "second copy" not in e.code and "relu_forward" not in e.code
    assert "conv_output_size" not in e.code and "def conv_forward_naive" in e.code


def test_edited_locked_cells_and_points_are_reported() -> None:
    nb = make_submission()
    _cell(nb, "test_relu_forward").source += "\nassert True"
    _cell(nb, "test_conv_output_size").metadata.nbgrader["points"] = 50
    _cell(nb, "md_intro").source = "# my notes"
    e = solution_code(nb, make_source())
    assert e.problems == [
        "locked cell 'md_intro' was edited",
        "locked cell 'test_relu_forward' was edited",
        "the points of cell 'test_conv_output_size' were changed from 1 to 50",
    ]
    assert e.test_points["test_conv_output_size"] == 50.0


def test_released_locked_cells_without_hidden_tests_are_not_edits() -> None:
    src = "a = 1\n### BEGIN HIDDEN TESTS\nassert a\n### END HIDDEN TESTS\nb = 2"
    assert released_source(src) == "a = 1\nb = 2"
    assert solution_code(make_submission(), make_source()).problems == []


def test_without_source_notebook_the_submission_metadata_is_used() -> None:
    e = solution_code(make_submission())
    assert e.problems == ["no source notebook given: solution cells were taken from the "
                          "submission's own metadata"]
    assert "def relu_forward" in e.code and "import numpy as np" in e.code


def test_null_bytes_are_a_syntax_problem() -> None:
    e = solution_code(make_submission({"relu_forward_impl": "def f():\x00\n"}), make_source())
    assert len(e.problems) == 1
    assert e.problems[0].startswith("cell 'relu_forward_impl' has a syntax error")
    assert "null bytes" in e.problems[0] and "relu_forward" not in e.code


def test_strip_magics_keeps_indentation() -> None:
    assert strip_magics("if x:\n    %timeit f()\n!ls\ny = 1") == "if x:\n    pass\npass\ny = 1"


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(tmp_path_factory, raw: bytes) -> None:
    p = tmp_path_factory.mktemp("h") / "x.ipynb"
    p.write_bytes(raw)
    nb, problems = read_notebook(p)
    assert (nb is None) == bool(problems)


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_solution_text_never_raises(text: str) -> None:
    e = solution_code(make_submission({"relu_forward_impl": text}), make_source())
    assert isinstance(e.code, str)
    assert all(p.startswith("cell 'relu_forward_impl' has a syntax error") for p in e.problems)


def test_fixture_sources_are_plain_functions() -> None:
    assert RELU.startswith("def relu_forward") and CONV.startswith("def conv_forward_naive")
