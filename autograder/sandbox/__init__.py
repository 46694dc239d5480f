"""The ONLY code that runs beside student code (copied whole into the child); it imports
nothing else of ``autograder``.

- ``protocol`` plain-data steps and results, and the size-capped codec both sides use
- ``steps``    running one case's steps against the student's code; probes
- ``child``    the program inside the sandbox: a warm zygote, one isolated process per submission
- ``run``      the grader's side: bubblewrap and cgroup launch, limits, the clock, the outcome
- ``cgroup``   a cgroup per warm sandbox (v2, v1, or a systemd user scope)
"""
