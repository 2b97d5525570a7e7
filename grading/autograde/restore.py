"""Restoring a submission: its tests and locked cells rebuilt from the source.

Runs before nbgrader sees a submission, before the tamper scan
(:mod:`grading.autograde.tamper`). The graded notebook is rebuilt on the source's skeleton,
cell by cell by ``grade_id`` (:func:`restore`):

- every locked cell (setup, ``parameters``, visible and hidden tests) comes from the source,
  whatever the student did to it (edited, deleted, duplicated, moved, changed its type);
- every solution cell keeps the student's answer but the source's metadata (points, flags,
  ``grade_id``);
- cells the student added stay where they were;
- the notebook's metadata (kernel) is the source's.

Every repair is recorded as a reason (``"restored: ..."``). nbgrader 0.9.6 alone does less:
``OverwriteCells`` restores an edited test cell and resets points, ``DeduplicateIds`` strips
the metadata of earlier copies, but a DELETED test cell is silently dropped
(``OverwriteCells.add_missing_cells`` is off by default): it is never executed, its grade
keeps ``auto_score = None`` and the submission needs manual grading with nothing recorded.
Here every test of the source runs, every time.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter

import nbformat

from grading.autograde.cells import (
    grade_id,
    is_solution_cell,
    is_tracked_cell,
    nbgrader_metadata,
)
from grading.errors import InvalidNotebook

__all__ = ["restore"]


def _kind(cell) -> str:
    meta = nbgrader_metadata(cell)
    if meta.get("task"):
        return "task"
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("solution"):
        return "solution"
    return "locked"


_METADATA_FIELDS = ("grade", "solution", "locked", "task", "points")


def _fresh(cell, cell_type: str, source: str, metadata: dict):
    if cell_type == "code":
        new = nbformat.v4.new_code_cell(source=source, metadata=metadata)
    elif cell_type == "markdown":
        new = nbformat.v4.new_markdown_cell(source=source, metadata=metadata)
    else:
        new = nbformat.v4.new_raw_cell(source=source, metadata=metadata)
    if cell is not None and isinstance(cell.get("id"), str):
        new["id"] = cell["id"]
    return new


def _clean_copy(cell):
    new = copy.deepcopy(cell)
    if new.get("cell_type") == "code":
        new["outputs"] = []
        new["execution_count"] = None
    new.get("metadata", {}).pop("cnnlab", None)
    return new


def _free_cell(cell):
    """A cell the student added (or one that lost its identity): its source, no outputs, and
    of its metadata only the tags (nothing else matters for grading)."""
    tags = cell.get("metadata", {}).get("tags")
    metadata = (
        {"tags": list(tags)}
        if isinstance(tags, list) and all(isinstance(t, str) for t in tags)
        else {}
    )
    return _fresh(cell, cell.get("cell_type", "code"), cell.get("source", ""), metadata)


def restore(submission, reference, release=None) -> tuple[nbformat.NotebookNode, list[str]]:
    """Rebuild a submission on the source's skeleton (see the module docstring).

    Locked cells (setup, parameters, tests, tasks) always come from ``reference``. Solution
    cells keep the student's source with the reference's metadata; earlier copies of a
    duplicated solution cell stay as ordinary cells (as nbgrader's ``DeduplicateIds`` keeps
    them), a deleted one is left out (putting the stub back could only overwrite an answer
    the student moved into another cell). Cells the student added keep their place after the
    nearest tracked cell above them.

    Parameters
    ----------
    submission : nbformat.NotebookNode
        What the student submitted.
    reference : nbformat.NotebookNode
        The graded version of the assignment's notebook: the student version with the
        hidden tests put back (what nbgrader executes), with nbgrader metadata.
    release : nbformat.NotebookNode, optional
        The student version as released, to tell an edited test cell from one that only
        lacks the hidden tests; default ``reference``.

    Returns
    -------
    notebook : nbformat.NotebookNode
        The notebook to grade, without outputs.
    reasons : list of str
        One line per repair, ``"restored: ..."`` (or ``"missing: ..."`` for a solution cell
        that is gone), in notebook order.

    Raises
    ------
    InvalidNotebook
        If the rebuilt notebook is not valid (a damaged submission).
    """
    release = release if release is not None else reference
    released_source = {grade_id(c): c.source for c in release.cells if is_tracked_cell(c)}
    tracked = {grade_id(c): c for c in reference.cells if is_tracked_cell(c)}
    parameters = next(
        (
            c
            for c in reference.cells
            if "parameters" in c.get("metadata", {}).get("tags", []) and not is_tracked_cell(c)
        ),
        None,
    )
    total = Counter(grade_id(c) for c in submission.cells if grade_id(c) in tracked)

    reasons: list[str] = []
    free_after: dict[str | None, list] = {None: []}
    last_copy: dict[str, object] = {}
    seen: Counter = Counter()
    anchor = None
    for cell in submission.cells:
        name = grade_id(cell)
        if name in tracked:
            seen[name] += 1
            is_last = seen[name] == total[name]
            if is_solution_cell(tracked[name]) and not is_last:
                free_after[anchor].append(_free_cell(cell))  # an earlier copy of an answer
                continue
            if is_last:
                last_copy[name] = cell
            anchor = name
            free_after.setdefault(anchor, [])
            continue
        if is_tracked_cell(cell):
            reasons.append(
                f"restored: a cell claims grade_id '{name}', which the source does not have; "
                "graded as an ordinary cell"
            )
        free = _free_cell(cell)
        if (
            parameters is not None
            and "parameters" in free["metadata"].get("tags", [])
            and free.get("source") != parameters.source
        ):
            reasons.append("restored: the parameters cell was edited; restored from the source")
            free = _fresh(free, parameters.cell_type, parameters.source, free["metadata"])
        free_after[anchor].append(free)

    cells = list(free_after[None])
    for ref_cell in reference.cells:
        name = grade_id(ref_cell) if is_tracked_cell(ref_cell) else None
        if name is None:
            continue  # instructions and plain cells: the student's copies are kept above
        kind = _kind(ref_cell)
        submitted = last_copy.get(name)
        if submitted is None and kind == "solution":
            reasons.append(
                f"missing: solution cell '{name}' was deleted or lost its nbgrader metadata; "
                "graded as submitted"
            )
        elif submitted is None:
            reasons.append(f"restored: {kind} cell '{name}' was deleted; restored from the source")
            cells.append(_clean_copy(ref_cell))
        else:
            was, wanted = nbgrader_metadata(submitted), nbgrader_metadata(ref_cell)
            changed = [
                f"{field} {was.get(field)!r} -> {wanted.get(field)!r}"
                for field in _METADATA_FIELDS
                if was.get(field) != wanted.get(field)
            ]
            if submitted.get("cell_type") != ref_cell.cell_type:
                changed.append(f"cell type {submitted.get('cell_type')} -> {ref_cell.cell_type}")
            if changed:
                reasons.append(
                    f"restored: {kind} cell '{name}' had its metadata changed "
                    f"({', '.join(changed)}); reset to the source"
                )
            if kind == "solution":
                metadata = copy.deepcopy(dict(ref_cell.get("metadata", {})))
                source = submitted.get("source", "")
                cells.append(_fresh(submitted, ref_cell.cell_type, source, metadata))
            else:
                if submitted.get("source", "") not in (released_source.get(name), ref_cell.source):
                    reasons.append(
                        f"restored: {kind} cell '{name}' was edited; restored from the source"
                    )
                cells.append(_clean_copy(ref_cell))
        if total[name] > 1:
            kept = "the last copy is graded" if kind == "solution" else "extra copies removed"
            reasons.append(f"restored: {kind} cell '{name}' appears {total[name]} times; {kept}")
        cells.extend(free_after.get(name, []))

    notebook = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(reference.metadata))
    ids: set[str] = set()
    for cell in notebook.cells:
        if not isinstance(cell.get("id"), str) or cell["id"] in ids:
            cell["id"] = uuid.uuid4().hex[:8]
        ids.add(cell["id"])
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise InvalidNotebook(f"the submission cannot be rebuilt as a notebook ({error})") from None
    return notebook, reasons
