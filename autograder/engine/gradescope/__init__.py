"""Grading on Gradescope: ``cnnkit gradescope ASSIGNMENT`` writes an ``autograder.zip`` in
Gradescope's documented layout, and the same kit grades each submission inside Gradescope's
container.

- ``bundle``  the zip: ``setup.sh`` (bubblewrap, a Python >= 3.11, CPU torch and the pinned
              grading dependencies into Gradescope's Ubuntu image), ``run_autograder``, and
              ``cnnkit/`` (a source copy of the kit, the assignment's source notebook, the
              course's secret seed, the instructor's visibility choice)
- ``run``     what ``run_autograder`` runs for one submission: protect the bundle and the
              results from other uids, pick the notebook in ``/autograder/submission``, grade it
              with the sandboxed hidden checks, write ``/autograder/results/results.json``

``results.schema.json`` is Gradescope's results format as a JSON schema, written from its
"Autograder Specifications" page; the tests validate every results.json against it.
"""

from __future__ import annotations

from pathlib import Path

#: Gradescope's results.json format (the documented fields only).
SCHEMA_PATH = Path(__file__).resolve().parent / "results.schema.json"
