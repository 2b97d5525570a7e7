"""Cells and notebooks for the fixture generators (``tests/**/make_fixture*.py``).

The fixture notebooks are nbgrader source notebooks laid out like the course's: kernel
``python3``, nbgrader metadata schema 3, no outputs. The generators are scripts
(``python make_fixture.py``); each puts ``tests/`` on ``sys.path`` to import this module.
"""

from __future__ import annotations

import nbformat

__all__ = ["code", "markdown", "nbgrader_metadata", "notebook"]


def nbgrader_metadata(grade_id, *, grade=False, solution=False, locked=False, points=None):
    """A cell's ``metadata`` holding nbgrader's fields (schema 3).

    Parameters
    ----------
    grade_id : str
        The cell's nbgrader id.
    grade, solution, locked : bool, default=False
        nbgrader's flags: a graded cell, an answer cell, a cell students cannot edit.
    points : float, optional
        The points of a graded cell.

    Returns
    -------
    dict
        ``{"nbgrader": {...}}``.
    """
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def code(cell_id, source, tags=None, **nbgrader):
    """A code cell; nbgrader metadata when nbgrader flags are given (see
    :func:`nbgrader_metadata`), ``tags`` such as ``["parameters"]``."""
    metadata = nbgrader_metadata(cell_id, **nbgrader) if nbgrader else {}
    if tags:
        metadata["tags"] = tags
    return nbformat.v4.new_code_cell(source, id=cell_id, metadata=metadata)


def markdown(cell_id, source, **nbgrader):
    """A Markdown cell; nbgrader metadata when nbgrader flags are given."""
    metadata = nbgrader_metadata(cell_id, **nbgrader) if nbgrader else {}
    return nbformat.v4.new_markdown_cell(source, id=cell_id, metadata=metadata)


def notebook(cells) -> nbformat.NotebookNode:
    """A validated nbformat 4 notebook of ``cells`` with the ``python3`` kernel, no outputs.

    Parameters
    ----------
    cells : list
        The cells.

    Returns
    -------
    nbformat.NotebookNode
        The notebook.
    """
    nb = nbformat.v4.new_notebook(
        cells=list(cells),
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"},
        },
    )
    nbformat.validate(nb)
    return nb
