"""Hostile and broken submissions, generated from the correct fixture solution + one edit each.

Each :class:`Attack` names what it tries, builds the submitted file, and states the exact grade
the engine must give (per check) and a substring of the reason the student is shown. Scores of
the fixture: test_relu_forward 2, test_conv_output_size 1, test_conv_forward_naive 4 (total 7).

``targets`` (paths the attacks aim at: gradebook, hidden checks, a canary file outside the
sandbox) are baked into the attack code at generation time.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from fixtures.fixture_notebook import CONV, RELU, SIZE, make_submission

#: The name a detached attack process gives itself: none may be alive after the batch.
LEFTOVER = "cnnkit-leftover"
FULL = {"test_relu_forward": 2.0, "test_conv_output_size": 1.0, "test_conv_forward_naive": 4.0}


@dataclass
class Attack:
    """One hostile submission and the grade it must get."""

    name: str
    build: Callable[[dict[str, str]], bytes]
    scores: dict[str, float]
    reason: str  # substring of a check message or a problem
    flag: str | None = None  # substring expected in the flags
    slow: bool = False
    tags: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.scores.values())


def _nb(solutions: dict[str, str] | None = None, edit: Callable | None = None) -> bytes:
    nb = make_submission(solutions)
    if edit is not None:
        edit(nb)
    return nbformat.writes(nb).encode()


def _relu(body: str, prelude: str = "") -> dict[str, str]:
    """relu_forward with ``body`` run first (then the correct computation)."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return {"relu_forward_impl": f"{prelude}\ndef relu_forward(x):\n{indented}\n"
                                 "    return np.maximum(x, 0), x\n"}


def _conv(body: str) -> dict[str, str]:
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    return {"conv_forward_naive_impl": f"def conv_forward_naive(x, w, b, conv_param):\n"
                                       f"{indented}\n"}


def _cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def _delete(gid):
    def edit(nb):
        nb.cells.remove(_cell(nb, gid))
    return edit


def _duplicate(gid, second_source):
    def edit(nb):
        cell = _cell(nb, gid)
        copy = nbformat.from_dict(json.loads(json.dumps(cell)))
        copy.source = second_source
        copy["id"] = "dup-cell"
        nb.cells.insert(nb.cells.index(cell) + 1, copy)
    return edit


def _rename(gid, new):
    def edit(nb):
        _cell(nb, gid).metadata.nbgrader["grade_id"] = new
    return edit


def _edit_locked(nb):
    cell = _cell(nb, "test_relu_forward")
    cell.source = "pass  # nothing to see"
    cell.metadata.nbgrader["points"] = 100


WRONG_RELU = {"relu_forward_impl": "def relu_forward(x):\n    return x, x\n"}
NO_BIAS = CONV.replace(") + b", ")")
ZERO = {"test_relu_forward": 0.0}


def attacks(targets: dict[str, str]) -> list[Attack]:
    """The corpus; ``targets``: ``gradebook``, ``checks`` (hidden check file), ``canary``."""
    spy_paths = [targets["gradebook"], targets["checks"], "/etc/shadow", targets["solutions"]]
    return [
        Attack("not_json", lambda t: b"{this is not json", {k: 0.0 for k in FULL},
               "not valid JSON"),
        Attack("empty_file", lambda t: b"", {k: 0.0 for k in FULL}, "the notebook file is empty"),
        Attack("wrong_nbformat", lambda t: json.dumps(
            {"nbformat": 5, "nbformat_minor": 0, "cells": [], "metadata": {}}).encode(),
            {k: 0.0 for k in FULL}, "unsupported notebook format version 5"),
        Attack("deleted_grade_cell", lambda t: _nb(edit=_delete("relu_forward_impl")),
               {**FULL, **ZERO}, "grade cell relu_forward_impl is missing",
               flag="deleted or renamed"),
        Attack("duplicated_grade_cell",
               lambda t: _nb(edit=_duplicate("conv_forward_naive_impl", NO_BIAS)),
               dict(FULL), "appears 2 times", flag="duplicated"),
        Attack("renamed_grade_cell", lambda t: _nb(edit=_rename("conv_forward_naive_impl", "mine")),
               {**FULL, "test_conv_forward_naive": 0.0}, "unknown grade id 'mine'",
               flag="renamed"),
        Attack("edited_locked_cell", lambda t: _nb(edit=_edit_locked), dict(FULL),
               "locked cell test_relu_forward was edited",
               flag="claim 105 points, the hidden checks give at most 7"),
        Attack("missing_function",
               lambda t: _nb({"conv_output_size_impl": "def output_size(n, f):\n    return n\n"}),
               {**FULL, "test_conv_output_size": 0.0},
               "conv_output_size is not defined in your notebook"),
        Attack("wrong_signature",
               lambda t: _nb({"conv_output_size_impl":
                              "def conv_output_size(n, f):\n    return n - f + 1\n"}),
               {**FULL, "test_conv_output_size": 0.0}, "TypeError"),
        Attack("syntax_error",
               lambda t: _nb({"conv_forward_naive_impl": CONV.replace("for j in", "for j inn")}),
               {**FULL, "test_conv_forward_naive": 0.0},
               "cell conv_forward_naive_impl has a syntax error"),
        Attack("print_100mb", lambda t: _nb(_relu("print('x' * 100_000_000)")), dict(FULL),
               "all 2 cases right"),
        Attack("sys_exit", lambda t: _nb(_relu("import sys\nsys.exit(0)")), {**FULL, **ZERO},
               "SystemExit"),
        Attack("os_exit", lambda t: _nb(_relu("import os\nos._exit(0)")), {**FULL, **ZERO},
               "the Python process exited"),
        Attack("segfault_ctypes", lambda t: _nb(_conv("import ctypes\nctypes.string_at(0)")),
               {**FULL, "test_conv_forward_naive": 0.0}, "segmentation fault"),
        Attack("exit_while_loading",
               lambda t: _nb({"relu_forward_impl": "import os\nclass Boom:\n    os._exit(3)\n"
                              + RELU}),
               {k: 0.0 for k in FULL}, "could not be loaded"),
        Attack("infinite_loop", lambda t: _nb(_conv("while True:\n    pass")),
               {**FULL, "test_conv_forward_naive": 0.0}, "ran out of time (10 s)", slow=True),
        Attack("infinite_loop_ignoring_alarm",
               lambda t: _nb(_conv("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)"
                                   "\nwhile True:\n    pass")),
               {**FULL, "test_conv_forward_naive": 0.0}, "ran out of time (10 s)", slow=True),
        Attack("fork_bomb", lambda t: _nb(_relu("import os\nwhile True:\n    os.fork()")),
               {**FULL, **ZERO}, "BlockingIOError", slow=True),
        Attack("alloc_50gb", lambda t: _nb(_conv("big = np.ones(50 * 2**30 // 8)\nreturn big")),
               {**FULL, "test_conv_forward_naive": 0.0}, "MemoryError"),
        # Reading secrets: any success makes the function return garbage, so full marks prove
        # nothing was readable.
        Attack("read_outside_files", lambda t: _nb(_relu(
            "import os\nleaked = []\n"
            f"for p in {spy_paths!r}:\n"
            "    try:\n        open(p, 'rb').read(1)\n        leaked.append(p)\n"
            "    except OSError:\n        pass\n"
            "try:\n    import autograder.checks\n    leaked.append('autograder')\n"
            "except ImportError:\n    pass\n"
            "if leaked:\n    return x, x")), dict(FULL), "all 2 cases right"),
        Attack("write_outside_files", lambda t: _nb(_relu(
            f"for p in {[targets['gradebook'], targets['checks'], targets['canary']]!r}:\n"
            "    try:\n        open(p, 'ab').write(b'pwned')\n"
            "    except OSError:\n        pass")), dict(FULL), "all 2 cases right"),
        Attack("monkeypatch_numpy", lambda t: _nb({"relu_forward_impl": (
            "import numpy\nimport numpy.testing\n"
            "class _Patch:\n"
            "    numpy.allclose = lambda *a, **k: True\n"
            "    numpy.testing.assert_allclose = lambda *a, **k: None\n"
            "    numpy.isclose = lambda a, b, *r, **k: numpy.ones(numpy.shape(a), bool)\n"
            "def relu_forward(x):\n    return x, x\n")}),
            {**FULL, **ZERO}, "returned the input unchanged"),
        Attack("ipython_input_transformer", lambda t: _nb({"relu_forward_impl": (
            "ip = get_ipython()\n"
            "ip.input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"
            "def relu_forward(x):\n    return x, x\n")}),
            {**FULL, **ZERO}, "returned the input unchanged"),
        Attack("override_showtraceback", lambda t: _nb({"conv_forward_naive_impl": (
            "get_ipython().showtraceback = lambda *a, **k: None\n" + NO_BIAS)}),
            {**FULL, "test_conv_forward_naive": 0.0}, "the bias is missing"),
        Attack("detached_gradebook_rewriter", lambda t: _nb(_relu(
            "import ctypes, os, time\n"
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        ctypes.CDLL(None).prctl(15, {LEFTOVER!r}.encode())\n"
            "        time.sleep(3)\n"
            f"        for p in {[targets['gradebook'], targets['canary']]!r}:\n"
            "            try:\n                open(p, 'wb').write(b'pwned')\n"
            "            except OSError:\n                pass\n"
            "        while True:\n            time.sleep(1)\n"
            "    os._exit(0)")), dict(FULL), "all 2 cases right", slow=True),
        Attack("print_fake_results", lambda t: _nb({"relu_forward_impl": (
            "import json\n"
            "def relu_forward(x):\n"
            "    print(json.dumps({'score': 7, 'tests': [{'name': 'test_relu_forward', "
            "'score': 2, 'max_score': 2}]}))\n"
            "    print('test_relu_forward PASSED 2/2')\n"
            "    return x, x\n")}), {**FULL, **ZERO}, "returned the input unchanged"),
        Attack("write_fake_results_file", lambda t: _nb({"relu_forward_impl": (
            "import json, os\n"
            "def relu_forward(x):\n"
            "    for d in ('.', '../out'):\n"
            "        for i in range(3):\n"
            "            try:\n"
            "                with open(os.path.join(d, f'{i:03d}.json'), 'w') as f:\n"
            "                    json.dump({'nonce': 'guess', 'check': 'test_relu_forward',"
            " 'results': [{'__tuple__': [1.0, 1.0]}], 'score': 2}, f)\n"
            "            except OSError:\n"
            "                pass\n"
            "    os._exit(0)\n")}), {**FULL, **ZERO}, "the Python process exited"),
        Attack("returns_opaque_object",
               lambda t: _nb({"relu_forward_impl":
                              "def relu_forward(x):\n    return (v for v in x), x\n"}),
               {**FULL, **ZERO}, "returned a generator"),
        # Removing the sandbox's own markers must neither help nor stop the batch.
        Attack("delete_sandbox_markers", lambda t: _nb(_relu(
            "import os\nfor p in ('../ready', '../out/loaded.json', '../plan.json'):\n"
            "    try:\n        os.remove(p)\n    except OSError:\n        pass")),
            dict(FULL), "all 2 cases right"),
        Attack("setup_cell_hijack", lambda t: _nb(edit=_hijack_setup), dict(FULL),
               "all 2 cases right"),
    ]


def _hijack_setup(nb):
    # The setup cell is not a grade cell: its (edited) contents are never used, the source
    # notebook's imports are.
    nb.cells[1].source = "import os\nos._exit(1)\nimport numpy as np"


def write_corpus(folder: Path, targets: dict[str, str], include_slow: bool = True,
                 honest: int = 2) -> dict[str, Attack]:
    """Write ``<attack>.ipynb`` (+ ``honest_N.ipynb`` correct ones) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    chosen = {a.name: a for a in attacks(targets) if include_slow or not a.slow}
    for name, a in chosen.items():
        (folder / f"{name}.ipynb").write_bytes(a.build(targets))
    for i in range(honest):
        (folder / f"honest_{i}.ipynb").write_bytes(_nb())
    return chosen


__all__ = ["Attack", "attacks", "write_corpus", "FULL", "LEFTOVER", "RELU", "SIZE", "CONV"]
