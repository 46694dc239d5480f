"""The course: the ONLY code that knows nbgrader (settings, cell metadata, submissions, gradebook).

- ``settings``  the nbgrader settings of the course, in one place
- ``cells``     the one reader of notebook files and nbgrader cell metadata
- ``discover``  submissions as downloaded (folders, LMS zips) -> {student: notebook}
- ``gradebook`` scores into nbgrader's gradebook
- ``course``    :class:`Course`: release, collect, autograde, feedback
"""
