"""``cnnlab check``: committed notebooks are clean nbgrader sources.

A committed notebook must be valid JSON and nbformat 4; carry no outputs and no execution
counts (``pre-commit`` strips them); and have valid nbgrader metadata: schema version 3
(checked with nbgrader's own validator), a unique ``grade_id`` per cell, points above zero
on every graded cell, consistent solution / grade / locked flags, well-formed solution
delimiters, and well-formed ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` blocks in
test cells only.

CNN Lab's own conventions apply only where a course file declares them (``[course]
conventions`` in ``cnnlab.toml``, :mod:`grading.base.settings`); CNN Lab's ``cnnlab.toml``
declares all three: the ``python3`` kernel (``python3-kernel``); exactly one
``parameters``-tagged code cell, after which papermill injects ``PROFILE``
(``parameters-cell``); ``### BEGIN SOLUTION`` / ``### END SOLUTION`` in every solution code
cell (``solution-delimiters``; without them nbgrader replaces the whole cell with the stub).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.nbgraderformat.common import SchemaMismatchError, ValidationError
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3

from grading.base.settings import CONVENTIONS, course_settings
from grading.options import add_check_arguments as add_arguments
from grading.paths import find_notebooks

__all__ = ["Problem", "add_arguments", "check_notebook", "check_notebooks", "main"]

KERNEL_NAME = "python3"
PARAMETERS_TAG = "parameters"
SOLUTION_DELIMITERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_TEST_DELIMITERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


@dataclass(frozen=True)
class Problem:
    """One thing to fix in a committed notebook.

    Attributes
    ----------
    path : pathlib.Path
        The notebook.
    message : str
        What is wrong and how to fix it.
    cell_index : int or None
        The cell's index (``None`` for the notebook as a whole).
    grade_id : str or None
        The cell's nbgrader ``grade_id``, if it has one.
    """

    path: Path
    message: str
    cell_index: int | None = None
    grade_id: str | None = None

    def __str__(self) -> str:
        where = ""
        if self.cell_index is not None:
            where = f" cell {self.cell_index}" + (f" ({self.grade_id})" if self.grade_id else "")
        return f"{self.path}:{where} {self.message}"


def _delimiter_problem(source: str, delimiters: tuple[str, str]) -> str | None:
    """Check that BEGIN/END lines alternate, start with BEGIN and close; describe the fault."""
    begin, end = delimiters
    is_open = False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == begin:
            if is_open:
                return f"line {number}: {begin} inside an open block: close it with {end} first"
            is_open = True
        elif stripped == end:
            if not is_open:
                return f"line {number}: {end} without a {begin} before it"
            is_open = False
        elif begin in stripped or end in stripped:
            return f"line {number}: put {begin!r} / {end!r} alone on their own line"
    if is_open:
        return f"{begin} is never closed: add a line {end}"
    return None


def _check_nbgrader_cell(
    index: int, cell, validator: MetadataValidatorV3, report, conventions=CONVENTIONS
) -> None:
    meta = cell.metadata["nbgrader"]
    grade_id = meta.get("grade_id")
    try:
        validator.validate_cell(cell)
    except SchemaMismatchError as error:
        report(
            index,
            grade_id,
            f"nbgrader metadata: {error}; set metadata.nbgrader.schema_version to 3 "
            "(open the notebook with the nbgrader 0.9 Create Assignment toolbar and save).",
        )
        return
    except ValidationError as error:  # nbgrader's checks and its JSON schema
        report(index, grade_id, f"nbgrader metadata is invalid: {error.message}.")
        return
    grade, solution = meta.get("grade", False), meta.get("solution", False)
    locked, task = meta.get("locked", False), meta.get("task", False)
    if grade and meta.get("points", 0) <= 0:
        report(index, grade_id, "graded cell has no points: give it points > 0.")
    if not grade and not task and meta.get("points", 0) > 0:
        report(index, grade_id, "points on a cell that is not graded: remove them or grade it.")
    if solution and locked:
        report(index, grade_id, "a solution cell is locked: students could not answer; unlock it.")
    if grade and not solution and not locked:
        report(index, grade_id, "autograded test cell is not locked: set locked to true.")
    for key in ("checksum", "cell_type"):
        if key in meta:
            report(
                index,
                grade_id,
                f"metadata.nbgrader.{key} belongs to released copies, not sources: remove it.",
            )
    source = cell.source
    is_code = cell.cell_type == "code"
    delimited = any(d in source for d in SOLUTION_DELIMITERS)
    if "solution-delimiters" in conventions and is_code and solution and not delimited:
        report(
            index,
            grade_id,
            "solution code cell lacks ### BEGIN SOLUTION / ### END SOLUTION: nbgrader "
            "replaces the whole cell with the stub, so students lose the code around the "
            "answer; wrap only the answer in them.",
        )
    if any(delimiter in source for delimiter in SOLUTION_DELIMITERS):
        if not solution:
            report(index, grade_id, "### BEGIN SOLUTION in a cell not marked as a solution.")
        fault = _delimiter_problem(source, SOLUTION_DELIMITERS)
        if fault:
            report(index, grade_id, f"solution delimiters: {fault}.")
    if any(delimiter in source for delimiter in HIDDEN_TEST_DELIMITERS):
        if not (grade and not solution and is_code):
            report(
                index,
                grade_id,
                "hidden tests outside an autograded test code cell: move them into one.",
            )
        fault = _delimiter_problem(source, HIDDEN_TEST_DELIMITERS)
        if fault:
            report(index, grade_id, f"hidden tests: {fault}.")


def check_notebook(path: str | Path, conventions: Iterable[str] = CONVENTIONS) -> list[Problem]:
    """Check one committed notebook.

    Parameters
    ----------
    path : str or pathlib.Path
        An ``.ipynb`` file.
    conventions : iterable of str, optional
        Which of the course conventions (:data:`grading.base.settings.CONVENTIONS`) apply;
        default all (this course's).

    Returns
    -------
    list of Problem
        Every problem found, in cell order; empty when the notebook is clean.
    """
    path = Path(path)
    problems: list[Problem] = []

    def report(cell_index: int | None, grade_id: str | None, message: str) -> None:
        problems.append(Problem(path, message, cell_index, grade_id))

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        return [Problem(path, f"cannot be read: {error}")]
    except json.JSONDecodeError as error:
        return [
            Problem(
                path,
                f"is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                "restore it from git or re-save it in Jupyter.",
            )
        ]
    if raw.get("nbformat") != 4:
        return [Problem(path, f"is nbformat {raw.get('nbformat')!r}, not 4: re-save in Jupyter.")]
    notebook = nbformat.from_dict(raw)
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        report(None, None, f"is not a valid notebook: {error.message}.")
        return problems
    for cell in notebook.cells:  # on disk, sources may be lists of lines
        if isinstance(cell.source, list):
            cell.source = "".join(cell.source)

    conventions = frozenset(conventions)
    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    if "python3-kernel" in conventions and kernel != KERNEL_NAME:
        report(
            None,
            None,
            f"kernel is {kernel!r}, not {KERNEL_NAME!r}: choose the 'Python 3 (ipykernel)' "
            "kernel and save, or set metadata.kernelspec.name.",
        )

    validator = MetadataValidatorV3()
    parameter_cells = []
    grade_ids: dict[str, int] = {}
    for index, cell in enumerate(notebook.cells):
        nbgrader = cell.metadata.get("nbgrader")
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        if cell.cell_type == "code":
            if cell.outputs:
                report(
                    index,
                    grade_id,
                    f"has {len(cell.outputs)} output(s): clear outputs before committing "
                    "(pre-commit's nbstripout does it).",
                )
            if cell.execution_count is not None:
                report(index, grade_id, "has an execution count: clear outputs before committing.")
        if PARAMETERS_TAG in cell.metadata.get("tags", []):
            parameter_cells.append(index)
            if cell.cell_type != "code":
                report(index, grade_id, "the parameters tag is on a non-code cell: move it.")
        if nbgrader is None:
            continue
        if not isinstance(nbgrader, dict):
            report(index, None, "metadata.nbgrader is not an object: recreate the cell metadata.")
            continue
        _check_nbgrader_cell(index, cell, validator, report, conventions)
        if grade_id:
            if grade_id in grade_ids:
                report(
                    index,
                    grade_id,
                    f"grade_id {grade_id!r} is also used by cell {grade_ids[grade_id]}: "
                    "grade ids must be unique within a notebook.",
                )
            else:
                grade_ids[grade_id] = index

    if "parameters-cell" not in conventions:
        parameter_cells = [None]  # not this course's convention: nothing to report
    if not parameter_cells:
        report(
            None,
            None,
            "has no cell tagged 'parameters': tag the code cell that defines PROFILE = None "
            "(papermill injects parameters after it).",
        )
    elif len(parameter_cells) > 1:
        report(
            None,
            None,
            f"has {len(parameter_cells)} cells tagged 'parameters' (cells "
            f"{', '.join(map(str, parameter_cells))}): keep exactly one.",
        )
    return sorted(problems, key=lambda p: -1 if p.cell_index is None else p.cell_index)


def course_conventions() -> frozenset[str]:
    """The conventions the current course declares (all of them outside any course).

    Notebooks checked outside any course are checked as CNN Lab's.

    Returns
    -------
    frozenset of str
        From ``[course] conventions`` of ``cnnlab.toml`` (:mod:`grading.base.settings`).
    """
    try:
        return course_settings().conventions
    except FileNotFoundError:
        return frozenset(CONVENTIONS)


def check_notebooks(
    paths: Iterable[str | Path] | None = None, conventions: Iterable[str] | None = None
) -> list[Problem]:
    """Check committed notebooks.

    Parameters
    ----------
    paths : iterable of str or pathlib.Path, optional
        Notebook files, folders (searched recursively, checkpoints skipped) or assignment
        names, as :func:`grading.paths.find_notebooks` finds them (``cnnlab run`` too);
        default every source notebook of the course.
    conventions : iterable of str, optional
        Which course conventions apply; default those the course declares
        (:func:`course_conventions`).

    Returns
    -------
    list of Problem
        Every problem in every notebook; empty when all are clean (or there are none).

    Raises
    ------
    FileNotFoundError
        If a given path does not exist or a folder holds no notebooks.
    grading.errors.UnknownAssignment
        For a name that is neither a path nor an assignment.
    """
    conventions = course_conventions() if conventions is None else frozenset(conventions)
    return [
        problem for path in find_notebooks(paths) for problem in check_notebook(path, conventions)
    ]


def main(args: argparse.Namespace) -> int:
    """Run ``cnnlab check``: print every problem.

    Returns 0 when every notebook is clean, 1 when there are problems. A missing path (exit
    status 2) is raised for :mod:`grading.cli`.
    """
    files = find_notebooks(args.notebooks)
    problems = check_notebooks(files)
    for problem in problems:
        print(problem)
    print(f"{len(files)} notebook(s) checked, {len(problems)} problem(s).")
    return 1 if problems else 0
