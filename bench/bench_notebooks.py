"""Benchmark: wall time of each course notebook, top to bottom in a fresh kernel.

Run: ``.venv/bin/python bench/bench_notebooks.py [--only 01_conv_arithmetic ...] [--mode both]``

Each notebook runs with its defaults (what a student runs) and with the turned-down parameters
its test uses (``FAST``/``PARAMS`` of ``tests/notebooks/test_<name>_notebook.py``), and the
script prints seconds and the ratio to the goal of its issue:

  01 convolution arithmetic  defaults  <= 60 s
  02 convolution from scratch defaults  <= 120 s
  03 backprop through gates   defaults  <= 120 s
  04 normalization            defaults  <= 180 s
  05 case studies             test parameters <= 180 s (the defaults train for longer)
  06 capstone                 defaults  <= 180 s

Kernel start-up is included (it is part of what a student waits for). Without CIFAR-10 on the
machine, notebook 5 skips its CIFAR-10 section (its test runs it on a small fake batch file).
Times depend on the load of the machine; the script names the device, the torch threads the
notebooks choose (``cnnlib.device.configure``; ``--threads N`` sets ``CNNLIB_THREADS`` to compare)
and the load average, and prints what it measured, nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "notebooks")]

from nbrun import execute_notebook  # noqa: E402

from cnnlib.device import THREADS_ENV, choose_threads, describe_device  # noqa: E402

# assignment -> (goal in seconds, which run the goal is about)
GOALS: dict[str, tuple[float, str]] = {
    "01_conv_arithmetic": (60.0, "default"),
    "02_convolution": (120.0, "default"),
    "03_backprop": (120.0, "default"),
    "04_normalization": (180.0, "default"),
    "05_case_studies": (180.0, "test"),
    "06_capstone": (180.0, "default"),
}


def test_params(assignment: str) -> dict:
    """The parameters the notebook's test runs it with."""
    name = assignment.split("_", 1)[1]
    mod = importlib.import_module(f"test_{name}_notebook")
    return dict(getattr(mod, "FAST", None) or getattr(mod, "PARAMS", None) or {})


def run(assignment: str, params: dict) -> float:
    name = assignment.split("_", 1)[1]
    path = ROOT / "notebooks" / assignment / f"{name}.ipynb"
    t0 = time.perf_counter()
    execute_notebook(path, params, timeout=1800)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=list(GOALS), metavar="ASSIGNMENT")
    ap.add_argument("--mode", choices=("default", "test", "both"), default="both")
    ap.add_argument("--threads", type=int, default=None,
                    help=f"torch threads in the notebooks (sets {THREADS_ENV}; default: "
                         "what cnnlib.device chooses for this machine)")
    args = ap.parse_args(argv)
    if args.threads is not None:
        os.environ[THREADS_ENV] = str(args.threads)  # the kernels inherit it
    print(f"device: {describe_device()}; os.cpu_count() = {os.cpu_count()}; "
          f"load average {os.getloadavg()[0]:.1f}; the notebooks use {choose_threads()}")
    print(f"{'notebook':<20} {'run':<8} {'seconds':>8}  goal")
    missed = 0
    for a in args.only:
        goal, goal_mode = GOALS[a]
        modes = ("default", "test") if args.mode == "both" else (args.mode,)
        for mode in modes:
            params = {} if mode == "default" else test_params(a)
            secs = run(a, params)
            verdict = ""
            if mode == goal_mode:
                ok = secs <= goal
                missed += not ok
                verdict = f"<= {goal:.0f} s: ratio {secs / goal:.2f} ({'met' if ok else 'MISSED'})"
            print(f"{a:<20} {mode:<8} {secs:8.1f}  {verdict} (load {os.getloadavg()[0]:.1f})",
                  flush=True)
    print(f"goals missed: {missed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
