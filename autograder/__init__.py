"""autograder: the nbgrader course, hidden checks, the sandboxed grading engine and ``cnnkit``.

The grading engine reads as its pipeline: ``extract`` (student code out of a notebook) ->
``sandbox`` (run it in a locked-down child process) -> ``checks`` (hidden checks judge the
returned data against oracles) -> ``score`` -> ``report`` (feedback) -> ``export`` (CSV, JSON,
gradebook).
"""

__version__ = "0.1.0"
