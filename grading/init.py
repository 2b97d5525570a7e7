"""``cnnlab init DIR``: start a new course that every ``cnnlab`` command works on.

::

    cnnlab init DIR [--assignment NAME] [--title TITLE]

writes

``DIR/cnnlab.toml``
    The course file (:mod:`grading.base.settings`): id, title, time zone, the late policy and
    the example assignment's table, with the other settings commented.
``DIR/notebooks/<NAME>/<NAME>.ipynb``
    One example assignment for nbgrader: a solution cell, a test cell with a visible and a
    hidden test (2 points), and a manually graded written answer (1 point).
``DIR/.gitignore``
    ``build/`` (everything the commands generate).

Then, inside ``DIR`` (or with ``CNNLAB_ROOT=DIR``): ``cnnlab release``, ``cnnlab collect``,
``cnnlab autograde``, ``cnnlab export`` (see ``docs/your-own-course.md``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from grading.errors import BadInput
from grading.paths import COURSE_FILE, assignment_name_problem

__all__ = ["add_arguments", "init_course", "main"]

_SOLUTION = '''def squares(n):
    """The squares of 0, 1, ..., n - 1, as a list."""
    ### BEGIN SOLUTION
    return [i * i for i in range(n)]
    ### END SOLUTION'''
_TESTS = """assert squares(3) == [0, 1, 4], "squares(3) should be [0, 1, 4]"
### BEGIN HIDDEN TESTS
assert squares(0) == []
assert squares(5) == [0, 1, 4, 9, 16]
### END HIDDEN TESTS"""
_WRITTEN = """Why does `squares(0)` return an empty list?

YOUR ANSWER HERE"""


def _cell(cell_type: str, source: str, **nbgrader) -> dict:
    cell_id = nbgrader.get("grade_id", "introduction").replace("_", "-")
    cell = {"cell_type": cell_type, "id": cell_id, "metadata": {}, "source": source}
    if cell_type == "code":
        cell |= {"execution_count": None, "outputs": []}
    if nbgrader:
        cell["metadata"]["nbgrader"] = {
            "grade": False,
            "locked": False,
            "schema_version": 3,
            "solution": False,
            "task": False,
        } | nbgrader
    return cell


def example_notebook(title: str) -> dict:
    """The example assignment's notebook (an nbgrader source, no outputs).

    Parameters
    ----------
    title : str
        Its heading.

    Returns
    -------
    dict
        nbformat 4 JSON.
    """
    cells = [
        _cell(
            "markdown",
            f"# {title}\n\nWrite the function, run the test cell to check it, then answer "
            "the question. Hidden tests run when the assignment is graded.",
        ),
        _cell("code", _SOLUTION, grade_id="squares", solution=True),
        _cell("code", _TESTS, grade_id="test_squares", grade=True, locked=True, points=2),
        _cell(
            "markdown",
            _WRITTEN,
            grade_id="empty_range",
            grade=True,
            solution=True,
            points=1,
        ),
    ]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _course_file(course_id: str, title: str, assignment: str) -> str:
    return f'''# The course file of `cnnlab` (all settings optional; see docs/your-own-course.md).

[course]
id = "{course_id}"
title = "{title}"
timezone = "UTC"                 # of due dates written without a zone
# header = "notebooks/header.ipynb"  # put at the top of every released notebook
# roster = "roster.csv"          # written by `cnnlab roster import FILE.csv`
# missing_score = 0              # a roster student without a submission; or "blank"
# conventions = []               # "python3-kernel", "parameters-cell", "solution-delimiters"

# [limits]
# cell_timeout_s = 120
# notebook_timeout_s = 1800
# memory_mb = 2048

[late]
method = "none"                  # "none", "zero", "per_hour" or "per_day"
# points = 1                     # points off per started hour/day late
# grace_minutes = 5

[assignments.{assignment}]
title = "{assignment}"
# due = "2030-03-01 23:59"       # in [course] timezone, or "... Europe/Berlin"
# lms_id = "12345"               # the assignment's id in Canvas (export --format canvas)
'''


def init_course(
    folder: Path | str, assignment: str = "ps1", title: str | None = None
) -> list[Path]:
    """Write a new course with one example assignment.

    Parameters
    ----------
    folder : pathlib.Path or str
        The new course root (created; it may exist but must not hold a course yet).
    assignment : str, optional
        The example assignment's name (any name nbgrader accepts).
    title : str, optional
        The course title; default the folder's name.

    Returns
    -------
    list of pathlib.Path
        The files written.

    Raises
    ------
    ValueError
        If ``folder`` already holds ``notebooks/`` or ``cnnlab.toml``, or the assignment
        name is not one nbgrader accepts.
    """
    folder = Path(folder).expanduser().resolve()
    problem = assignment_name_problem(assignment)
    if problem:
        raise BadInput(f"Assignment name {assignment!r} cannot be used: it has {problem}.")
    for existing in (folder / COURSE_FILE, folder / "notebooks"):
        if existing.exists():
            raise BadInput(f"{existing} exists: {folder} is a course already; choose a new folder.")
    title = title or folder.name
    course_id = re.sub(r"[^a-z0-9_-]+", "-", folder.name.lower()).strip("-") or "course"
    notebook = folder / "notebooks" / assignment / f"{assignment}.ipynb"
    notebook.parent.mkdir(parents=True)
    notebook.write_text(
        json.dumps(example_notebook(f"{title}: {assignment}"), indent=1) + "\n", encoding="utf-8"
    )
    course_file = folder / COURSE_FILE
    course_file.write_text(
        _course_file(course_id, title.replace('"', "'"), assignment), encoding="utf-8"
    )
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("build/\n", encoding="utf-8")
    return [course_file, notebook, ignore]


def add_arguments(parser) -> None:
    """Add ``cnnlab init`` arguments."""
    parser.add_argument("folder", metavar="DIR", help="the new course's folder")
    parser.add_argument(
        "--assignment",
        dest="example_assignment",  # not a course assignment: `cnnlab` must not look it up
        default="ps1",
        metavar="NAME",
        help="example assignment's name (ps1)",
    )
    parser.add_argument("--title", default=None, help="course title (default: DIR's name)")


def main(args) -> int:
    """Run ``cnnlab init``.

    Returns 0 on success. A folder that is a course already (exit status 2) is raised for
    :mod:`grading.cli`.
    """
    written = init_course(args.folder, args.example_assignment, args.title)
    for path in written:
        print(f"wrote {path}")
    root = written[0].parent
    print(
        f"next: cd {root} && cnnlab check && cnnlab release "
        "(see docs/your-own-course.md for collect, autograde and export)"
    )
    return 0
