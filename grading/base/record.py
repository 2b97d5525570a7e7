"""Recording graded submissions: the single writer's side of the gradebook.

The grader's parent process is the only writer of the master gradebook (why:
:mod:`grading.base.gradebook`). Before a run it copies each assignment's definitions in
with :func:`sync_assignment`; after each submission it merges what the worker returned with
:func:`record_result`, nbgrader's rows and our log row in one transaction;
:func:`graded_submissions` tells a rerun what is already done.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from grading.base.gradebook import log_table
from grading.errors import GradebookError

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

__all__ = ["graded_submissions", "record_result", "sync_assignment"]


def graded_submissions(gradebook: Gradebook) -> dict[tuple[str, str], tuple[str, str]]:
    """What the log says is graded.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        An open gradebook.

    Returns
    -------
    dict
        ``(assignment, student) -> (submission_hash, status)`` for every log row.
    """
    from sqlalchemy import select

    table = log_table()
    rows = gradebook.db.execute(
        select(table.c.assignment, table.c.student, table.c.submission_hash, table.c.status)
    ).all()
    gradebook.db.commit()  # end the read transaction (PostgreSQL keeps it open otherwise)
    return {(a, s): (h, status) for a, s, h, status in rows}


def _upsert_log_row(session, values: dict[str, Any]) -> None:
    from sqlalchemy import insert, select, update

    table = log_table()
    key = (table.c.assignment == values["assignment"]) & (table.c.student == values["student"])
    attempts = session.execute(select(table.c.attempts).where(key)).scalar_one_or_none()
    if attempts is None:
        session.execute(insert(table).values(**values, attempts=1))
    else:
        session.execute(update(table).where(key).values(**values, attempts=attempts + 1))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _log_values(result) -> dict[str, Any]:
    from nbgrader.utils import parse_utc

    timestamp = parse_utc(result.timestamp) if result.timestamp else None
    if timestamp is not None and timestamp.tzinfo is not None:
        timestamp = timestamp.astimezone(dt.UTC).replace(tzinfo=None)
    scored = [c for c in result.cells if c.max_score is not None]
    return {
        "assignment": result.assignment,
        "student": result.student,
        "submission_timestamp": timestamp,
        "submission_hash": result.submission_hash,
        "status": result.status,
        "reasons": json.dumps(list(result.reasons)),
        "score": float(sum(c.score or 0.0 for c in scored)) if result.cells else None,
        "max_score": float(sum(c.max_score for c in scored)) if result.cells else None,
        "seconds": float(result.seconds),
        "worker_host": result.worker_host,
        "worker_pid": int(result.worker_pid) if result.worker_pid is not None else None,
        "network_isolated": result.network_isolated,
        "graded_at": _utc_now(),
    }


# --------------------------------------------------------------------------- writing


def sync_assignment(gradebook: Gradebook, template_db_url: str, assignment: str) -> None:
    """Copy an assignment's definitions (notebooks and cells) into the master gradebook.

    Follows nbgrader's own rule (``SaveCells``): cells may change (source, points) at any
    time, but the set of cells of a notebook may change only while it has no submissions.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        The master gradebook, open.
    template_db_url : str
        The private gradebook ``generate_assignment`` wrote for this run.
    assignment : str
        The assignment's name.

    Raises
    ------
    GradebookError
        If the source notebook gained or lost graded cells after submissions were recorded.
    """
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(template_db_url, course_id=gradebook.course_id) as template:
        source = template.find_assignment(assignment)
        notebooks = [
            {
                "name": nb.name,
                "kernelspec": nb.kernelspec,
                "grade": {c.name: (c.max_score, c.cell_type) for c in nb.grade_cells},
                "solution": sorted(c.name for c in nb.solution_cells),
                "task": {c.name: (c.max_score, c.cell_type) for c in nb.task_cells},
                "source": {
                    c.name: (c.cell_type, c.locked, c.source, c.checksum) for c in nb.source_cells
                },
            }
            for nb in source.notebooks
        ]
    gradebook.update_or_create_assignment(assignment)
    for spec in notebooks:
        try:
            existing = gradebook.find_notebook(spec["name"], assignment)
        except MissingEntry:
            existing = None
        if existing is not None:
            old = (
                {c.name for c in existing.grade_cells},
                {c.name for c in existing.solution_cells},
                {c.name for c in existing.task_cells},
                {c.name for c in existing.source_cells},
            )
            new = (
                set(spec["grade"]),
                set(spec["solution"]),
                set(spec["task"]),
                set(spec["source"]),
            )
            if old != new:
                if existing.submissions:
                    added = set().union(*new) - set().union(*old)
                    removed = set().union(*old) - set().union(*new)
                    raise GradebookError(
                        f"The graded cells of {assignment}/{spec['name']}.ipynb changed after "
                        f"submissions were graded (added: {sorted(added) or 'none'}; removed: "
                        f"{sorted(removed) or 'none'}). Restore the cells, or remove the "
                        f"assignment's submissions from the gradebook (nbgrader db "
                        f"assignment remove {assignment}) and grade again with --force."
                    )
                gradebook.remove_notebook(spec["name"], assignment)
                existing = None
        if existing is None:
            gradebook.add_notebook(spec["name"], assignment, kernelspec=spec["kernelspec"])
        for name, (max_score, cell_type) in spec["grade"].items():
            gradebook.update_or_create_grade_cell(
                name, spec["name"], assignment, max_score=max_score, cell_type=cell_type
            )
        for name in spec["solution"]:
            gradebook.update_or_create_solution_cell(name, spec["name"], assignment)
        for name, (max_score, cell_type) in spec["task"].items():
            gradebook.update_or_create_task_cell(
                name, spec["name"], assignment, max_score=max_score, cell_type=cell_type
            )
        for name, (cell_type, locked, text, checksum) in spec["source"].items():
            gradebook.update_or_create_source_cell(
                name,
                spec["name"],
                assignment,
                cell_type=cell_type,
                locked=locked,
                source=text,
                checksum=checksum,
            )


def _submission(session, assignment_row, student_row):
    """The student's submission of the assignment, created (with every grade and comment
    row nbgrader expects) when missing. Adds to the session; does not commit."""
    from nbgrader.api import Comment, Grade, SubmittedAssignment, SubmittedNotebook

    submission = (
        session.query(SubmittedAssignment)
        .filter(
            SubmittedAssignment.assignment_id == assignment_row.id,
            SubmittedAssignment.student_id == student_row.id,
        )
        .one_or_none()
    )
    with session.no_autoflush:  # build the whole tree, then flush it at once
        if submission is None:
            submission = SubmittedAssignment(assignment=assignment_row, student=student_row)
            session.add(submission)
        present = {nb.notebook_id for nb in submission.notebooks}
        for notebook in assignment_row.notebooks:
            if notebook.id in present:
                continue
            grade_cells, solution_cells = notebook.grade_cells, notebook.solution_cells
            task_cells = notebook.task_cells
            submitted = SubmittedNotebook(notebook=notebook, assignment=submission)
            session.add(submitted)
            for cell in grade_cells:
                session.add(Grade(cell_id=cell.id, notebook=submitted))
            for cell in solution_cells:
                session.add(Comment(cell_id=cell.id, notebook=submitted))
            for cell in task_cells:
                session.add(Comment(cell_id=cell.id, notebook=submitted))
                session.add(Grade(cell_id=cell.id, notebook=submitted))
    session.flush()
    return submission


def record_result(gradebook: Gradebook, result) -> None:
    """Merge one graded submission into the gradebook, in ONE transaction.

    nbgrader's rows (student, submission, notebooks, grades, comments) are created or updated
    in place, exactly as ``nbgrader autograde`` would (a manual score a grader gave is kept,
    and then the cell is marked for review), and the log row is written in the same
    transaction: after a crash either all of it is there or none.

    Parameters
    ----------
    gradebook : nbgrader.api.Gradebook
        The master gradebook, open; its assignment definitions are current
        (:func:`sync_assignment`).
    result : grading.autograde.task.GradingResult
        What the worker returned. A result with status ``"error"`` writes only the log row
        (the grader failed, so nbgrader's grades are left as they were).

    Raises
    ------
    sqlalchemy.exc.SQLAlchemyError
        If the database refuses the transaction (it is rolled back first).
    """
    from nbgrader.api import Assignment, Student
    from nbgrader.utils import parse_utc
    from sqlalchemy.exc import IntegrityError

    session = gradebook.db
    for attempt in range(2):  # a concurrent writer may insert the same student first
        try:
            if result.status != "error":
                student = session.get(Student, result.student)
                if student is None:
                    student = Student(id=result.student)
                    session.add(student)
                assignment = (
                    session.query(Assignment).filter(Assignment.name == result.assignment).one()
                )
                submission = _submission(session, assignment, student)
                if result.timestamp:
                    submission.timestamp = parse_utc(result.timestamp)
                by_notebook = {nb.notebook.name: nb for nb in submission.notebooks}
                for cell in result.cells:
                    submitted = by_notebook[cell.notebook]
                    grade = next(g for g in submitted.grades if g.cell.name == cell.grade_id)
                    grade.auto_score = cell.score
                    # nbgrader's rule (SaveAutoGrades), plus our own review requests
                    grade.needs_manual_grade = (
                        grade.manual_score is not None
                        or cell.score is None
                        or bool(cell.needs_review)
                    )
                for notebook, grade_id, text in result.comments:
                    submitted = by_notebook[notebook]
                    comment = next(c for c in submitted.comments if c.cell.name == grade_id)
                    comment.auto_comment = text
                for notebook in result.flagged_notebooks:
                    by_notebook[notebook].flagged = True
            _upsert_log_row(session, _log_values(result))
            session.commit()
            return
        except IntegrityError:
            session.rollback()
            if attempt:
                raise
        except BaseException:
            session.rollback()
            raise
