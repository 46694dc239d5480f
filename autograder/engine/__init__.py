"""The trusted grading pipeline, in run order: ``extract`` (the student's code out of a notebook)
-> ``score`` (checks run in the sandbox, judged here) -> ``batch`` (many submissions, one warm
sandbox per worker) -> ``feedback`` (per student) -> ``export`` (per batch); ``library`` is the
student-facing copy of cnnlib the sandbox may import."""
