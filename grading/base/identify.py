"""Which assignment a submitted notebook is, from the nbgrader cell ids it carries.

A student who saves notebook 01 under notebook 02's file name submits 01's work as 02's.
Graded as 02, every test cell would be "missing". :func:`wrong_assignment` compares the
submission's ``grade_id`` s with those of the source notebook it claims to be and with every
other source notebook of the course, so ``cnnlab collect`` can refuse it with one line naming
the assignment it seems to be.

Reads JSON only (no nbformat), so it is cheap for a whole class.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from grading.paths import CoursePaths

__all__ = ["grade_ids", "wrong_assignment"]

#: A submission keeping fewer than this share of its own notebook's cell ids is not it.
MIN_SHARE = 0.5


def grade_ids(content: dict) -> set[str]:
    """The nbgrader ``grade_id`` s of a notebook's cells.

    Parameters
    ----------
    content : dict
        The notebook, as parsed JSON.

    Returns
    -------
    set of str
        Every non-empty ``metadata.nbgrader.grade_id``.
    """
    found = set()
    for cell in content.get("cells") or []:
        nbgrader = (cell.get("metadata") or {}).get("nbgrader") if isinstance(cell, dict) else None
        value = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        if isinstance(value, str) and value:
            found.add(value)
    return found


@functools.cache
def _source_ids(notebook: Path, modified_ns: int) -> frozenset[str]:
    del modified_ns  # part of the cache key only: an edited source is read again
    return frozenset(grade_ids(json.loads(notebook.read_text(encoding="utf-8"))))


def _course_ids(paths: CoursePaths) -> dict[str, frozenset[str]]:
    """``<assignment>/<notebook stem>`` -> the grade ids of that source notebook."""
    return {
        f"{source.parent.name}/{source.stem}": _source_ids(source, source.stat().st_mtime_ns)
        for source in paths.source_notebooks()
    }


def wrong_assignment(paths: CoursePaths, assignment: str, notebook: str, data: bytes) -> str | None:
    """Why a submitted notebook is not the one it is filed as, or ``None`` when it is.

    Parameters
    ----------
    paths : CoursePaths
        The course (its source notebooks).
    assignment, notebook : str
        What the submission is filed as: ``"02_mnist"`` and ``"mnist_cnn"``.
    data : bytes
        The submitted notebook (already known to be a valid notebook).

    Returns
    -------
    str or None
        One line such as ``"its cells are those of 01_cnn_theory/cnn_theory (12 of 12 cell
        ids), not of 02_mnist/mnist_cnn (0 of 15): the student submitted the wrong
        notebook; ask for 02_mnist/mnist_cnn.ipynb"``. ``None`` when the submission keeps
        at least half of its notebook's ids, when it carries no ids at all (the grader
        restores stripped metadata), or when the source is unknown.
    """
    claimed = f"{assignment}/{notebook}"
    if not paths.notebooks.is_dir():
        return None
    course = _course_ids(paths)
    expected = course.get(claimed)
    submitted = grade_ids(json.loads(data.decode("utf-8-sig")))
    if not expected or not submitted:
        return None
    share = len(submitted & expected) / len(expected)
    if share >= MIN_SHARE:
        return None
    shares = {
        name: len(submitted & ids) / len(ids)
        for name, ids in course.items()
        if ids and name != claimed
    }
    best = max(shares, key=shares.get, default=None)
    own = f"{len(submitted & expected)} of {len(expected)}"
    ask = f"ask for {claimed}.ipynb"
    if best is None or shares[best] <= share:
        return (
            f"its cells are not those of {claimed} ({own} cell ids) nor of any notebook of "
            f"this course: the student submitted another notebook; {ask}"
        )
    theirs = f"{len(submitted & course[best])} of {len(course[best])}"
    return (
        f"its cells are those of {best} ({theirs} cell ids), not of {claimed} ({own}): the "
        f"student submitted the wrong notebook; {ask}"
    )
