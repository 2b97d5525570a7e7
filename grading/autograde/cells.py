"""The cells of an nbgrader notebook: which is which, how reasons name them, reading one.

Shared by restoring (:mod:`grading.autograde.restore`), the tamper scan
(:mod:`grading.autograde.tamper`) and the grading program
(:mod:`grading.autograde.grade_in_sandbox`). A cell is *tracked* when the source defines it
by ``grade_id`` (a graded, solution, locked or task cell); a *test* is a graded code cell that
is not a solution; *locked code* (setup and test cells) always comes from the source.
"""

from __future__ import annotations

import ast
import functools
import json
import threading

import nbformat

# at the top, so the warm grading server has it imported before it forks a grading program
from IPython.core.inputtransformer2 import TransformerManager

from grading.errors import InvalidNotebook

__all__ = [
    "InvalidNotebook",
    "cell_label",
    "grade_id",
    "is_locked_code",
    "is_solution_cell",
    "is_test_cell",
    "is_tracked_cell",
    "locked_sources",
    "nbgrader_metadata",
    "parse_cell",
    "read_notebook",
]


def nbgrader_metadata(cell) -> dict:
    """The cell's ``nbgrader`` metadata, or an empty dict.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A notebook cell.

    Returns
    -------
    dict
        The metadata nbgrader reads (``grade``, ``solution``, ``locked``, ``points``...).
    """
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's nbgrader ``grade_id``, or ``None``.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A notebook cell.

    Returns
    -------
    str or None
        The id when the cell carries nbgrader metadata with one.
    """
    value = nbgrader_metadata(cell).get("grade_id")
    return value if isinstance(value, str) and value else None


def is_tracked_cell(cell) -> bool:
    """Whether nbgrader tracks the cell (graded, solution, locked or task cell with an id).

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A notebook cell.

    Returns
    -------
    bool
        ``True`` for cells the source defines by ``grade_id``.
    """
    meta = nbgrader_metadata(cell)
    flags = any(meta.get(k) for k in ("grade", "solution", "locked", "task"))
    return bool(flags and grade_id(cell))


def is_solution_cell(cell) -> bool:
    """Whether the student writes this cell (an nbgrader solution cell).

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A notebook cell.

    Returns
    -------
    bool
        ``True`` for solution cells.
    """
    return bool(nbgrader_metadata(cell).get("solution"))


def is_locked_code(cell) -> bool:
    """Whether a code cell comes from the source as it is (setup and test cells).

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A notebook cell.

    Returns
    -------
    bool
        ``True`` for tracked code cells that are not solution cells.
    """
    return cell.get("cell_type") == "code" and is_tracked_cell(cell) and not is_solution_cell(cell)


def locked_sources(notebook) -> list[str]:
    """The sources of a notebook's locked code cells (setup and tests), in order.

    Parameters
    ----------
    notebook : nbformat.NotebookNode
        A notebook.

    Returns
    -------
    list of str
        The source of every code cell :func:`is_locked_code` accepts.
    """
    return [
        cell.source for cell in notebook.cells if cell.cell_type == "code" and is_locked_code(cell)
    ]


def is_test_cell(cell) -> bool:
    """Whether the cell is an autograded test (a graded code cell that is not a solution).

    Parameters
    ----------
    cell : nbformat.NotebookNode
        A notebook cell.

    Returns
    -------
    bool
        ``True`` for autograder test cells.
    """
    meta = nbgrader_metadata(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def cell_label(cell, index: int) -> str:
    """How reasons name a cell: its ``grade_id``, else its position.

    Parameters
    ----------
    cell : nbformat.NotebookNode
        The cell.
    index : int
        Its position in the notebook (0-based).

    Returns
    -------
    str
        ``"'test_square'"`` or ``"#7"`` (1-based).
    """
    name = grade_id(cell)
    return f"'{name}'" if name else f"#{index + 1}"


def read_notebook(data: bytes | str, name: str = "notebook") -> nbformat.NotebookNode:
    """Parse a submitted file as a notebook (nbformat 4).

    Parameters
    ----------
    data : bytes or str
        The file's content.
    name : str
        The file's name, for the error.

    Returns
    -------
    nbformat.NotebookNode
        The notebook, converted to nbformat 4.

    Raises
    ------
    InvalidNotebook
        If it is not JSON, not a notebook, or a notebook nbformat cannot read.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        raw = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidNotebook(f"{name} is not a JSON file ({error})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells", raw.get("worksheets")), list):
        raise InvalidNotebook(f"{name} is JSON but not a Jupyter notebook (no list of cells)")
    try:
        nb = nbformat.reads(text, as_version=4)
        for cell in nb.cells:
            cell.setdefault("metadata", {})
            cell.setdefault("source", "")
            if cell.get("cell_type") not in ("code", "markdown", "raw"):
                raise ValueError(f"unknown cell type {cell.get('cell_type')!r}")
    except Exception as error:  # nbformat raises many kinds for damaged notebooks
        raise InvalidNotebook(f"{name} is not a readable notebook ({error})") from None
    return nb


# CPython 3.11 counts the AST builder's recursion per interpreter, not per thread, so two
# threads parsing at once can fail with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython#106905). The grader works on several submissions in threads, so
# every parse of a cell goes through this lock.
_PARSE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4096)
def parse_cell(source: str) -> ast.Module:
    """Parse a code cell as IPython runs it (magics and ``!`` lines turned into Python).

    Safe to call from several threads at once: the parse itself runs one thread at a time.
    The tree is cached by source (every submission has the same locked cells) and shared
    by the callers: read it, never change it.

    Parameters
    ----------
    source : str
        The cell's source.

    Returns
    -------
    ast.Module
        The cell's syntax tree.

    Raises
    ------
    SyntaxError, ValueError
        If the cell is not valid Python (``ValueError`` for null bytes).
    """
    python = TransformerManager().transform_cell(source)
    with _PARSE_LOCK:
        return ast.parse(python)
